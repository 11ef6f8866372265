"""The default feature extractor: a small conv net trained on the dataset itself.

Inception-v3 knows nothing about 8x8 digits, and its weights are not always at hand, so by
default FID, KID, IS and precision/recall look through a classifier trained on the dataset's
own train split (watched on val, measured on test). Its test accuracy is reported next to
every score made with it: a score is only as meaningful as the classifier behind it.

The network: ``stages`` of two 3x3 conv -> BatchNorm -> ReLU layers, 2x2 max-pooling between
stages, global average pooling (the features, like Inception's pool3), and one linear layer
to the class logits. The stage count and widths follow the image size: (32, 64) for 8x8
digits, giving 64-d features, small enough for FID's covariance to be well conditioned with
a few hundred samples; (32, 64, 128) for 28x28 and 32x32 images. Training uses random
translations by up to size/8 pixels (1 pixel on digits) and AdamW with a one-cycle learning
rate, and keeps the last epoch; val accuracy is recorded per epoch. On digits this reaches
97.8-98.7% test accuracy (seeds 0-5) in about 12 s of CPU time.

``probabilities`` are the plain softmax of a net trained with cross-entropy, a proper
scoring rule. Two tempting refinements were measured and left out: label smoothing (the same
accuracy, but it caps every probability near 0.9, which drags the Inception Score of real
test digits from 9.2 down to 5.2), and temperature scaling on val (val is classified almost
perfectly, so the fitted temperature is ill-determined: it ran from 0.05 to 0.86 across seeds).

Shipped for the built-in datasets (``shipped.py``): training is deterministic on one machine but
not bit for bit the same across CPUs (AVX2 against AVX-512), and FID moves with the weights, so
the default classifier of digits and mnist-sample comes inside the package (SHA-256 checked,
``benchmarks/reproduce_classifiers.py`` retrains it) and every machine scores through it. For any
other config or dataset, or with ``GENIMG_CLASSIFIER=train``, the classifier is trained here.

Trained once and cached: ``<GENIMG_CACHE>/classifiers/<dataset>-<config hash>/`` holds
``model.safetensors`` and ``info.json`` (config, accuracies, sha256 of the weights). The
cache key is the dataset name plus the hash of the config (architecture, epochs, seed, data
options, recipe version), so every machine rebuilds the same recipe; for a user's own data
(``folder:PATH``, ``npz:PATH``) the sha256 of the images joins the key, so editing the
files trains a new classifier instead of reusing a stale one;
training is seeded, single-threaded by default and deterministic on one machine and software
stack. The weights' sha256 is part of the extractor's identity, so if another machine's
floating point produced different weights, its scores say so instead of silently mixing.
"""

from genimg.evaluate.classifier.cache import (
    classifier_dir,
    classifier_extractor,
    default_classifier,
    load_or_train_classifier,
)
from genimg.evaluate.classifier.config import ClassifierConfig, Recipe
from genimg.evaluate.classifier.network import ClassifierNet, DatasetClassifier
from genimg.evaluate.classifier.shipped import read_shipped_index, shipped_classifier
from genimg.evaluate.classifier.training import random_shift, train_classifier

__all__ = [
    "ClassifierConfig",
    "ClassifierNet",
    "DatasetClassifier",
    "Recipe",
    "classifier_dir",
    "classifier_extractor",
    "default_classifier",
    "load_or_train_classifier",
    "random_shift",
    "read_shipped_index",
    "shipped_classifier",
    "train_classifier",
]
