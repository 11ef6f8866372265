"""Generative classification by Bayes' rule (``genimg classify``), with and without missing pixels.

A class-conditional model with a likelihood bound classifies an image by
argmax_y log p(x | y) + log p(y): every class is scored with the family's own bound (the VAE's
importance-weighted bound with ``k`` samples; the diffusion model's variational bound, all T
terms, or with ``t_stride`` S > 1 an unbiased estimate of it from T / S terms), and the prior
is the training labels' class frequencies. The posterior p(y | x), the softmax over classes,
is measured for calibration (expected calibration error, reliability diagram) as well as for
accuracy. Cost: one likelihood call per image and class, i.e. C times the family's likelihood:
k decoder passes (VAE, ~1.3 ms of CPU per 8x8 digit and class at k = 100), or T / S network
evaluations (diffusion: ~1.3 CPU-s per 8x8 digit and class at T = 1000, S = 1).

With pixels missing (``--missing RATE|box|half``) a model whose decoder factorises over pixels
(the VAE: ``marginalises_missing``) scores log p(x_obs | y) exactly, no imputation; a diffusion
model's bound couples all pixels through its network, so its missing pixels are imputed by a
recovery method first and the completed image is scored (``fill.py`` says what that bound is
and is not). A model without a likelihood, or not conditional, is refused in one line naming
what would work (``conditional=true``).

One thing per module:

===========  ===================================================================
missing      ``--missing`` settings and their keep-masks (random, box, left half)
options      ``ClassifyOptions``, checked before any model or data is loaded
bayes        ``classify_images``: the bounds per class, the prior, the posterior
fill         what happens to missing pixels: marginalise, impute, or the train mean
calibration  accuracy, confusion matrix, reliability bins, ECE, log loss
figures      confusion matrix, reliability diagram, accuracy vs missing pixels
outputs      the files of RUN/classify/<setting>/
run          ``classify_run`` on a run directory
===========  ===================================================================
"""

from genimg.tasks.classify.bayes import BayesClassification, bayes_refusal, classify_images, log_prior
from genimg.tasks.classify.calibration import (
    Reliability,
    accuracy,
    confusion_matrix,
    log_loss,
    reliability,
    summary_scores,
)
from genimg.tasks.classify.figures import confusion_figure, missing_rate_figure, reliability_figure
from genimg.tasks.classify.fill import impute_missing, mean_fill, missing_strategy
from genimg.tasks.classify.missing import keep_mask, left_half_mask, missing_fraction, missing_tag, parse_missing
from genimg.tasks.classify.options import ClassifyOptions
from genimg.tasks.classify.run import classify_run

__all__ = [
    "BayesClassification",
    "ClassifyOptions",
    "Reliability",
    "accuracy",
    "bayes_refusal",
    "classify_images",
    "classify_run",
    "confusion_figure",
    "confusion_matrix",
    "impute_missing",
    "keep_mask",
    "left_half_mask",
    "log_loss",
    "log_prior",
    "mean_fill",
    "missing_fraction",
    "missing_rate_figure",
    "missing_strategy",
    "missing_tag",
    "parse_missing",
    "reliability",
    "reliability_figure",
    "summary_scores",
]
