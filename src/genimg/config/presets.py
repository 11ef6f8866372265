"""Per-dataset presets: a family's starting config depends on the data it will see.

A preset is a small mapping of ``model`` and ``train`` values that a family keeps as data in
its ``presets.yaml``, keyed by the preset's name. Which preset a dataset gets is this module's
one table, by the shape and levels of the data:

============  ==========================  ================================================================
preset        datasets                    what it is for
============  ==========================  ================================================================
digits        digits                      8x8, 17 grey levels (the family's defaults)
mnist-sample  mnist-sample                28x28 greyscale, 8-bit, 4,000 training images
mnist         mnist, fashion-mnist        28x28 greyscale, 8-bit, 50,000 training images (fewer epochs)
cifar10       cifar10                     32x32 RGB, 8-bit
default       anything else (folder:...)  the family's defaults
============  ==========================  ================================================================

``perturbed:...:BASE`` gets BASE's preset. ``key=value`` overrides always win over a preset,
and the resolved config records the preset's name.
"""

from __future__ import annotations

DEFAULT_PRESET = "default"
PRESET_OF_DATASET = {
    "digits": "digits",
    "mnist-sample": "mnist-sample",
    "mnist": "mnist",
    "fashion-mnist": "mnist",
    "cifar10": "cifar10",
}


def preset_for(dataset: str) -> str:
    """The preset name a dataset starts from."""
    if dataset.startswith("perturbed:"):
        dataset = dataset.partition(":")[2].partition(":")[2]
    return PRESET_OF_DATASET.get(dataset, DEFAULT_PRESET)


def datasets_of(preset: str) -> list[str]:
    return [name for name, p in PRESET_OF_DATASET.items() if p == preset]
