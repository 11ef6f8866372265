"""Recovering damaged images with a trained generative model as the prior (``genimg recover``).

Original O -> degraded N = A(O) + noise -> recovered R, for denoising, inpainting,
super-resolution, deblurring and colorization, with latent optimisation (VAE, DCGAN), DPS,
RePaint and SDEdit (diffusion), and classical baselines beside them. ``run_recovery`` takes a
run directory, degrades the first n images of a split, runs the methods and writes
RUN/recover/<task>/figure.png (one row per image: O | N | R per method), metrics.json and
metrics.csv (MSE, RMSE, PSNR, SSIM as mean +- std over images, N vs O and R vs O).
Everything is deterministic given the seed.

The operators A live in ``operators``, the solvers in ``baselines``, ``latent_optimisation`` and
``diffusion_solvers``, their knobs in ``options``, and the task, method table, scores, figure and
entry points in ``run``.
"""

from genimg.tasks.recover.diffusion_solvers import diffusion_posterior_sampling, repaint, repaint_schedule, sdedit
from genimg.tasks.recover.latent_optimisation import LatentFit, latent_optimisation
from genimg.tasks.recover.operators import (
    AveragePool,
    Degradation,
    GaussianBlur,
    Greyscale,
    Identity,
    LinearOperator,
    Mask,
)
from genimg.tasks.recover.options import SolverOptions
from genimg.tasks.recover.run import (
    EDIT_TASK,
    METHODS,
    METRIC_NAMES,
    TASKS,
    Method,
    MethodResult,
    Recovery,
    TaskSpec,
    available_methods,
    load_input_image,
    make_degradation,
    recover,
    recovery_figure,
    resolve_methods,
    run_edit,
    run_recovery,
    score,
)

__all__ = [
    "EDIT_TASK",
    "METHODS",
    "METRIC_NAMES",
    "TASKS",
    "AveragePool",
    "Degradation",
    "GaussianBlur",
    "Greyscale",
    "Identity",
    "LatentFit",
    "LinearOperator",
    "Mask",
    "Method",
    "MethodResult",
    "Recovery",
    "SolverOptions",
    "TaskSpec",
    "available_methods",
    "diffusion_posterior_sampling",
    "latent_optimisation",
    "load_input_image",
    "make_degradation",
    "recover",
    "recovery_figure",
    "repaint",
    "repaint_schedule",
    "resolve_methods",
    "run_edit",
    "run_recovery",
    "score",
    "sdedit",
]
