"""The GAN objectives a DCGAN trains with (``loss=``), each its paper's equation, and the
zero-centred gradient penalties R1 and R2 (``penalty_gamma``).

D's raw outputs are logits: D(x) below is a logit, sigma(D(x)) the probability "real".

- ``bce`` (Goodfellow et al. 2014, non-saturating form): D minimises
  BCE(D(x), 1 - s) + BCE(D(G(z)), 0), with one-sided label smoothing s; G minimises
  BCE(D(G(z)), 1), i.e. maximises log sigma(D(G(z))) rather than minimising log(1 - sigma(D(G(z)))).
- ``hinge`` (Lim & Ye 2017; Miyato et al. 2018 with spectral norm): D minimises
  E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]; G minimises -E[D(G(z))].
- ``rpgan``, the relativistic pairing loss (Jolicoeur-Martineau 2019; R3GAN, Huang et al. 2024,
  eq. 2): each real image is paired with one fake, and with f(t) = softplus(-t) = -log sigma(t),
  D minimises E[f(D(x) - D(G(z)))] and G minimises E[f(D(G(z)) - D(x))]. D judges whether a real
  image looks more real than a fake one, not each image on its own, which removes the
  mode-dropping minima of the pointwise losses.

R1 and R2 (Mescheder et al. 2018; R3GAN uses both): gamma / 2 * E||grad_x D(x)||^2 on real
images (R1) and on fakes (R2), added to D's loss. Zero-centred: they push D towards flat where
the data and the fakes are, which is what makes the relativistic loss converge locally.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(
    loss: str, real_logits: torch.Tensor, fake_logits: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """D's loss on a batch of real logits and a batch of fake ones (paired by index for rpgan).
    ``label_smoothing`` is the bce loss's (one-sided: the real target 1 - s); the others have none."""
    if loss == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    if loss == "rpgan":
        return F.softplus(-(real_logits - fake_logits)).mean()
    real_target = torch.full_like(real_logits, 1.0 - label_smoothing)
    return F.binary_cross_entropy_with_logits(real_logits, real_target) + F.binary_cross_entropy_with_logits(
        fake_logits, torch.zeros_like(fake_logits)
    )


def generator_loss(loss: str, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
    """G's loss on D's logits of its fakes; rpgan pairs them with ``real_logits`` (no gradient needed there)."""
    if loss == "hinge":
        return -fake_logits.mean()
    if loss == "rpgan":
        assert real_logits is not None, "the relativistic pairing loss compares each fake with a real image"
        return F.softplus(-(fake_logits - real_logits)).mean()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def gradient_penalty(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """E||grad_x D(x)||^2 over the batch, differentiable in D's weights (R1 on real ``inputs``,
    R2 on fakes). ``inputs`` must require gradients and ``logits`` must be D(inputs): each image's
    logit depends on its own image only (a D without BatchNorm), so the gradient of the sum is
    each image's own gradient."""
    (grad,) = torch.autograd.grad(logits.float().sum(), inputs, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()
