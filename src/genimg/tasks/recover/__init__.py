"""Recovering damaged images with a trained generative model as the prior (``genimg recover``).

Original O -> degraded N = A(O) + noise -> recovered R, for denoising, inpainting,
super-resolution, deblurring and colorization, with latent optimisation (VAE, DCGAN), DPS,
RePaint and SDEdit (diffusion), and classical baselines beside them. ``run_recovery`` takes a
run directory, degrades the first n images of a split, runs the methods and writes
RUN/recover/<task>/figure.png (one row per image: O | N | R per method), metrics.json and
metrics.csv (MSE, RMSE, PSNR, SSIM as mean +- std over images, N vs O and R vs O).
Everything is deterministic given the seed.

One thing per module:

===================  ===================================================================
degradations         the linear operators A, ``Degradation`` (A plus noise), masks
image_file           a user's PNG (a mask, an image to edit) opened with one-line errors
task                 ``TaskSpec`` (which damage, with defaults), ``make_degradation``
options              ``SolverOptions``: the methods' knobs
latent_optimisation  the ``latent`` method (Bora et al. 2017)
dps                  diffusion posterior sampling (Chung et al. 2022)
repaint              RePaint (Lugmayr et al. 2022), ``repaint_schedule``
sdedit               SDEdit (Meng et al. 2022), also ``--task edit``
noise                the diffusion methods' Gaussian draws
baselines            the classical methods (identity, bicubic, tv, nlm, biharmonic, ...)
methods              the method table: what each method solves, needs and runs
recovery             ``recover``: degrade, solve, score, all in memory
result               ``Recovery``, ``MethodResult``, ``score``
figure               ``recovery_figure``
run                  ``run_recovery``, ``run_edit`` on run directories
===================  ===================================================================
"""

from genimg.tasks.recover.degradations import (
    AveragePool,
    Degradation,
    GaussianBlur,
    Greyscale,
    Identity,
    LinearOperator,
    Mask,
)
from genimg.tasks.recover.dps import diffusion_posterior_sampling
from genimg.tasks.recover.figure import recovery_figure
from genimg.tasks.recover.latent_optimisation import LatentFit, latent_optimisation
from genimg.tasks.recover.methods import METHODS, Method, available_methods, resolve_methods
from genimg.tasks.recover.options import SolverOptions
from genimg.tasks.recover.recovery import recover
from genimg.tasks.recover.repaint import repaint, repaint_schedule
from genimg.tasks.recover.result import METRIC_NAMES, MethodResult, Recovery, score
from genimg.tasks.recover.run import load_input_image, run_edit, run_recovery
from genimg.tasks.recover.sdedit import sdedit
from genimg.tasks.recover.task import EDIT_TASK, TASKS, TaskSpec, make_degradation

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
