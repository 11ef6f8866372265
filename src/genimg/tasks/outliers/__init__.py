"""Outlier (out-of-distribution) detection with a generative model's likelihood, and its known fixes.

Given a run, score the in-distribution test split and several OOD sets (``ood_sets.py``),
then measure how well each score separates them (``genimg.evaluate.detection``: AUROC, AUPR,
FPR at 95% TPR). Every score is oriented so that **higher = more out-of-distribution**, and
the **positive class is OOD**:

    nll         -log p(x), nats per image, from the family's tightest bound (``likelihood.py``:
                the VAE's importance-weighted bound with ``k`` samples, the diffusion model's
                variational bound over all T terms, or a noisy stratified estimate of it).
    ratio       Ren et al. 2019's likelihood ratio, negated: log p_bg(x) - log p(x), against a
                background model of the same family and config trained on the training images
                with a fraction ``mu`` of pixels replaced by random grey levels
                (``background.py``; trained on first use, kept in RUN/outliers/background/).
    complexity  Serrà et al. 2020's input-complexity-corrected score: -log2 p(x) - L(x), with
                L(x) the length in bits of x saved as a PNG (Pillow, optimize=True) at native
                resolution, pixels stored as grey-level indices 0..levels-1 (8-bit values for
                continuous data).
    typicality  Nalisnick et al. 2019b's typicality test on batches of M images (default 2, 5 and
                10): |mean NLL of the batch - mean NLL of the val split|. It scores batches, not
                images, so its rows are batch-level (disjoint random batches of the test split
                against disjoint batches of the OOD set).
    disc        -D(x), the negated discriminator logit of a GAN: not a likelihood, shown for
                comparison (the discriminator was trained to tell real from generated, not
                in- from out-of-distribution).

Modules: ``options`` (the scores and OutlierOptions), ``ood_sets``, ``scores``, ``likelihood``
(per-image NLL and its cache), ``background``, ``scored_set`` (one set's per-image quantities),
``summary`` (table.json's rows), ``tables`` (table.md, table.csv), ``figures`` (hist_<score>.png,
sets.png) and ``detect`` (``detect_outliers``, which writes RUN/outliers/). ``genimg outliers``
is the command line.
"""

from genimg.tasks.outliers.background import background_config, background_dir, background_model
from genimg.tasks.outliers.detect import detect_outliers
from genimg.tasks.outliers.likelihood import cached_negative_log_likelihood, negative_log_likelihood
from genimg.tasks.outliers.ood_sets import BUILTIN_SETS, OODSet, make_ood_set, parse_set_names, valid_set_names
from genimg.tasks.outliers.options import LIKELIHOOD_SCORES, SCORES, OutlierOptions, resolve_scores
from genimg.tasks.outliers.scored_set import ScoredSet
from genimg.tasks.outliers.scores import (
    complexity_bits,
    complexity_score,
    discriminator_scores,
    likelihood_ratio_score,
    png_bits,
    random_batches,
    typicality_statistic,
)
from genimg.tasks.outliers.tables import format_csv, format_markdown, score_label

__all__ = [
    "BUILTIN_SETS",
    "LIKELIHOOD_SCORES",
    "OODSet",
    "SCORES",
    "OutlierOptions",
    "ScoredSet",
    "background_config",
    "background_dir",
    "background_model",
    "cached_negative_log_likelihood",
    "complexity_bits",
    "complexity_score",
    "detect_outliers",
    "discriminator_scores",
    "format_csv",
    "format_markdown",
    "likelihood_ratio_score",
    "make_ood_set",
    "negative_log_likelihood",
    "parse_set_names",
    "png_bits",
    "random_batches",
    "resolve_scores",
    "score_label",
    "typicality_statistic",
    "valid_set_names",
]
