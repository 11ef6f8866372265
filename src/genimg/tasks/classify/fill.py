"""What happens to the missing pixels: left out of the likelihood, imputed, or set to the mean.

- ``marginalise`` (a model with ``marginalises_missing``: the VAE): the missing pixels are
  summed out of p(x | z, y) exactly, so the bound is on log p(x_obs | y). No imputation.
- ``impute`` (any other model with a likelihood: diffusion): the missing pixels are filled in
  by a recovery method (``tasks/recover``: ``dps`` by default, the best inpainter measured on
  digits, or ``repaint``), the observed pixels are put back, and the completed image x^ is
  scored with the family's bound B(x^, y). On discrete data that is still a lower bound on
  log p(x_obs | y), since log p(x_obs | y) >= log p(x_obs, x^_miss | y) >= B(x^, y) (a
  probability mass is at most 1), but a loose one: the gap -log p(x^_miss | x_obs, y) is the
  price of the imputed pixels under class y, so the argmax also rewards the class under which
  the imputation looks likely. DPS and RePaint condition on no class (the null class of a
  conditional model), so one completion per image is shared by every class. Cost: the
  method's reverse chain once per image (DPS: 100 network calls with gradients), then the
  bound once per class.
- ``mean_fill``: the discriminative baseline's input, the training mean at missing pixels.
"""

from __future__ import annotations

import torch

from genimg.errors import UserError
from genimg.models.base import GenerativeModel
from genimg.tasks.recover.operators import Degradation, Mask
from genimg.tasks.recover.options import SolverOptions
from genimg.tasks.recover.run import METHODS, method_seed, resolve_methods

STRATEGIES = {
    "marginalise": "missing pixels marginalised exactly: a bound on log p(x_obs | y)",
    "impute": "missing pixels imputed by {method}, then the bound of the completed image: a lower bound on "
    "log p(x_obs | y) loosened by -log p(imputed pixels | x_obs, y), which depends on the class",
}


def missing_strategy(model: GenerativeModel, impute: str) -> str:
    """``marginalise`` if the model can, else ``impute`` with a method it can run; else a one-line refusal."""
    if model.marginalises_missing:
        return "marginalise"
    try:
        resolve_methods([impute], "inpaint", model)
    except UserError as e:
        raise UserError(
            f"this {model.family} cannot leave missing pixels out of its likelihood, and cannot fill them in "
            f"with --impute {impute} ({e}); use a vae (conditional=true), or --impute with a method it can run"
        ) from None
    return "impute"


def strategy_description(strategy: str, impute: str) -> str:
    return STRATEGIES[strategy].format(method=impute)


def impute_missing(
    model: GenerativeModel,
    images: torch.Tensor,
    keep: torch.Tensor,
    method: str,
    *,
    options: SolverOptions | None = None,
    seed: int = 0,
    batch_size: int = 100,
) -> torch.Tensor:
    """Images with the missing pixels filled in by a recovery method (its knobs in ``options``)
    and the observed ones kept exactly (a solver such as DPS only approximately reproduces what
    it was shown)."""
    options = options or SolverOptions()
    solve = METHODS[method]
    generator = torch.Generator().manual_seed(method_seed(seed, method))
    out = []
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size].float().cpu()
        batch_keep = keep if keep.shape[0] == 1 else keep[start : start + batch_size]
        degradation = Degradation(Mask(batch_keep.float().cpu()))
        y = degradation.measure(x)
        measured = y.to(model.device) if solve.kind == "generative" else y
        filled = solve.solve(model, degradation, measured, options, generator).cpu()
        out.append(torch.where(batch_keep.bool().expand_as(x), x, filled))
    return torch.cat(out)


def mean_fill(images: torch.Tensor, keep: torch.Tensor | None, mean_image: torch.Tensor) -> torch.Tensor:
    """The missing pixels set to ``mean_image`` (C, H, W), the observed ones kept."""
    if keep is None:
        return images
    return torch.where(keep.bool().expand_as(images), images, mean_image.to(images.dtype).expand_as(images))
