"""Recovering damaged images with a trained generative model as the prior (``genimg recover``).

Original O -> degraded N = A(O) + noise -> recovered R, for denoising, inpainting,
super-resolution, deblurring and colorization, and for what medical scanners measure: undersampled
MRI k-space and sparse-view CT sinograms. With latent optimisation (VAE, DCGAN), DPS, RePaint,
data-consistent sampling and SDEdit (diffusion), and classical baselines beside them (for the
scanners: zero-filled inverse FFT, filtered back-projection, SART, TV compressed sensing). ``run_recovery`` takes a
run directory, degrades the first n images of a split, runs the methods and writes
RUN/recover/<task>/figure.png (one row per image: O | N | R per method), metrics.json and
metrics.csv (MSE, RMSE, PSNR, SSIM as mean +- std over images, N vs O and R vs O).
Everything is deterministic given the seed.

What a task damages lives in ``damage``, the operators A in ``operators`` and
``scanner_operators``, the solvers in ``baselines``,
``latent_optimisation`` and ``diffusion_solvers``, their knobs in ``options``, and the task, method
table, scores, figure and entry points in ``run``.
"""

from genimg.tasks.recover.damage import (
    EDIT_TASK,
    IMAGE_TASKS,
    SCANNER_TASKS,
    TASKS,
    TaskSpec,
    make_degradation,
)
from genimg.tasks.recover.diffusion_solvers import (
    data_consistent_sampling,
    diffusion_posterior_sampling,
    repaint,
    repaint_schedule,
    sdedit,
)
from genimg.tasks.recover.latent_optimisation import LatentFit, latent_optimisation
from genimg.tasks.recover.operators import (
    AveragePool,
    Degradation,
    GaussianBlur,
    Greyscale,
    Identity,
    LinearOperator,
    Mask,
    consistent_in_range,
    regularised_least_squares,
)
from genimg.tasks.recover.options import SolverOptions
from genimg.tasks.recover.run import (
    METHODS,
    METRIC_NAMES,
    Method,
    MethodResult,
    Recovery,
    available_methods,
    load_input_image,
    recover,
    recovery_figure,
    resolve_methods,
    run_edit,
    run_recovery,
    score,
)
from genimg.tasks.recover.scanner_operators import (
    MRI_MASKS,
    KSpaceSampling,
    ParallelBeamRadon,
    filtered_back_projection,
    kspace_mask,
    radon_matrix,
)

__all__ = [
    "EDIT_TASK",
    "IMAGE_TASKS",
    "METHODS",
    "METRIC_NAMES",
    "MRI_MASKS",
    "SCANNER_TASKS",
    "TASKS",
    "AveragePool",
    "Degradation",
    "GaussianBlur",
    "Greyscale",
    "Identity",
    "KSpaceSampling",
    "LatentFit",
    "LinearOperator",
    "Mask",
    "Method",
    "MethodResult",
    "ParallelBeamRadon",
    "Recovery",
    "SolverOptions",
    "TaskSpec",
    "available_methods",
    "consistent_in_range",
    "data_consistent_sampling",
    "diffusion_posterior_sampling",
    "filtered_back_projection",
    "kspace_mask",
    "latent_optimisation",
    "load_input_image",
    "make_degradation",
    "radon_matrix",
    "recover",
    "recovery_figure",
    "regularised_least_squares",
    "repaint",
    "repaint_schedule",
    "resolve_methods",
    "run_edit",
    "run_recovery",
    "score",
    "sdedit",
]
