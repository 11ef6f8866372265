"""Looking inside a trained model: reconstructions, interpolations, the latent manifold,
per-dimension traversals and the encoded test set, each as numbers and as a PNG figure.

Every model is seen through a ``LatentSpace``: codes are (N, D) tensors that the model can
decode, and, where it has an encoder, compute from images. Which space a model has follows
from what it can do, not from its family's name:

==========  ==================================  ===============================  ===========================
space       codes                               encoder                          a model that has it
==========  ==================================  ===============================  ===========================
posterior   the mean of q(z|x)                  ``encode(x, labels)``            VAE
generator   z, the generator's input            none                             DCGAN
ddim noise  x_T of the deterministic DDIM ODE   ``ddim_invert`` (Song et al.     diffusion
            (flattened, C*H*W numbers)          2021, sec. 5.4)
==========  ==================================  ===============================  ===========================

Which views a space serves is ``supported_views`` (``views.py``). Each view is a function that
takes the model (or its space), returns a small dataclass with the tensors behind the figure
(so a notebook or a test can check them) and, given ``out``, writes the figure atomically;
its ``draw_*`` function returns the figure itself. ``explore(run, ...)`` runs views on a run
directory into ``RUN/explore/`` and is what ``genimg explore`` calls. One view a module; each
module's docstring says what it holds.
"""

from genimg.tasks.explore.interpolation import (
    METHODS,
    PATHS,
    Interpolation,
    draw_interpolation,
    interpolation,
    lerp,
    slerp,
)
from genimg.tasks.explore.manifold import Manifold, draw_manifold, manifold
from genimg.tasks.explore.reconstructions import Reconstructions, draw_reconstructions, reconstructions
from genimg.tasks.explore.run import BETWEEN, ExploreOptions, explore
from genimg.tasks.explore.scatter import Scatter, draw_scatter, scatter
from genimg.tasks.explore.space import latent_space
from genimg.tasks.explore.traversal import Traversal, draw_traversal, traversal
from genimg.tasks.explore.views import VIEWS, require_view, supported_views

__all__ = [
    "BETWEEN",
    "METHODS",
    "PATHS",
    "VIEWS",
    "ExploreOptions",
    "Interpolation",
    "Manifold",
    "Reconstructions",
    "Scatter",
    "Traversal",
    "draw_interpolation",
    "draw_manifold",
    "draw_reconstructions",
    "draw_scatter",
    "draw_traversal",
    "explore",
    "interpolation",
    "latent_space",
    "lerp",
    "manifold",
    "reconstructions",
    "require_view",
    "scatter",
    "slerp",
    "supported_views",
    "traversal",
]
