"""Which views a latent space serves, and the one-line refusal for those it does not.

- ``recon`` needs an encoder: images beside their decoded codes, with per-image MSE and SSIM.
- ``interp`` needs a decoder: between test images (with an encoder) or between prior draws.
- ``manifold`` and ``traverse`` need coordinates that mean something one at a time under an
  N(0, I) prior (a VAE's z, a GAN's z; not the pixels of a diffusion model's x_T). The manifold
  also needs an encoder unless the latent is 2-D.
- ``scatter`` needs an encoder.
"""

from __future__ import annotations

from genimg.errors import UserError
from genimg.models.latent_space import LatentSpace

VIEWS = ("recon", "interp", "manifold", "traverse", "scatter")


def supported_views(space: LatentSpace) -> dict[str, str | None]:
    """For each view: None if the space serves it, else why not."""
    family = space.model.family
    reasons: dict[str, str | None] = dict.fromkeys(VIEWS)
    if not space.can_encode:
        reasons["recon"] = f"reconstructions need an encoder, and a {family} has none"
        reasons["scatter"] = f"the scatter of the encoded test set needs an encoder, and a {family} has none"
    if not space.per_dimension:
        why = f"its {space.name} has no coordinates that mean something one at a time"
        reasons["manifold"] = f"the manifold needs a low-dimensional latent with an N(0, I) prior; {why}"
        reasons["traverse"] = f"traversals vary one latent coordinate at a time; {why}"
    elif space.dim != 2 and not space.can_encode:
        reasons["manifold"] = (
            f"the manifold of a {space.dim}-D latent is spanned by the principal directions of "
            f"the encoded test set, and a {family} has no encoder "
            "(train it with latent_dim=2 for a manifold)"
        )
    return reasons


def require_view(space: LatentSpace, view: str) -> None:
    """Refuse, in one line that names the views that do work, a view the space does not serve."""
    if view not in VIEWS:
        raise UserError(f"unknown view '{view}'; choose one of {', '.join(VIEWS)}")
    reasons = supported_views(space)
    if reasons[view] is not None:
        works = [v for v, reason in reasons.items() if reason is None]
        raise UserError(f"{view}: {reasons[view]}; for this model use {', '.join(works) or 'no view'}")
