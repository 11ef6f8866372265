"""genimg: generative models of images (VAE, DCGAN, diffusion) on a laptop or a GPU.

Importing genimg sets ``OMP_WAIT_POLICY=PASSIVE`` before torch is imported: with OpenMP's
default spin-waiting, small models on a few CPU cores run 20-40x slower. A value the user
set already is kept.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.2.0"  # the one version string: pyproject.toml reads it (CHANGELOG.md)

from genimg.errors import UserError  # noqa: E402

__all__ = ["UserError", "__version__"]
