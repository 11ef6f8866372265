"""The DCGAN's networks (pytorch/examples' dcgan, sized by the image), its initialisation, and
DiffAugment's translation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrize import ParametrizationList

from genimg.models.dcgan.config import stage_sizes


class Generator(nn.Module):
    """z (and, when conditional, a label embedding concatenated to it) -> image in [-1, 1]."""

    def __init__(
        self, latent_dim: int, features: int, channels: int, image_size: int, num_classes: int = 0, label_dim: int = 0
    ) -> None:
        super().__init__()
        self.label_embedding = nn.Embedding(num_classes, label_dim) if num_classes else None
        in_dim = latent_dim + (label_dim if num_classes else 0)
        sizes = stage_sizes(image_size)
        stages = len(sizes) - 1
        widths = [features * 2 ** (stages - 1 - i) for i in range(stages)]  # e.g. 4f, 2f, f
        layers: list[nn.Module] = [
            # 1x1 -> base x base: a transposed convolution whose kernel is the base size
            nn.ConvTranspose2d(in_dim, widths[0], sizes[0], 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for i in range(1, stages):
            layers += [
                nn.ConvTranspose2d(widths[i - 1], widths[i], 4, 2, 1, bias=False),
                nn.BatchNorm2d(widths[i]),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_embedding is not None:
            z = torch.cat([z, self.label_embedding(labels)], dim=1)
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """Image in [-1, 1] -> one logit per image. When conditional, a learned image-sized map per
    class joins the image as one more input channel."""

    def __init__(
        self, features: int, channels: int, image_size: int, num_classes: int = 0, norm: str = "batch"
    ) -> None:
        super().__init__()
        self.image_size = image_size
        # spectral: every convolution's weight divided by its largest singular value (a Lipschitz
        # bound on D), and no BatchNorm, as in Miyato et al.'s SN-GAN.
        conv = spectral_norm_conv if norm == "spectral" else nn.Conv2d
        batch_norm = nn.BatchNorm2d if norm == "batch" else (lambda width: nn.Identity())
        self.label_map = nn.Embedding(num_classes, image_size * image_size) if num_classes else None
        channels += int(self.label_map is not None)
        sizes = stage_sizes(image_size)[::-1]  # image size down to the base size
        stages = len(sizes) - 1
        widths = [features * 2**i for i in range(stages)]  # f, 2f, 4f, ...
        layers: list[nn.Module] = [conv(channels, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for i in range(1, stages):
            layers += [
                conv(widths[i - 1], widths[i], 4, 2, 1, bias=False),
                batch_norm(widths[i]),
                nn.LeakyReLU(0.2, True),
            ]
        layers += [conv(widths[-1], 1, sizes[-1], 1, 0, bias=False)]  # base x base -> 1x1
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_map is not None:
            label_map = self.label_map(labels).view(-1, 1, self.image_size, self.image_size)
            x = torch.cat([x, label_map], dim=1)
        return self.net(x).flatten()

    @contextlib.contextmanager
    def real_statistics_only(self) -> Iterator[None]:
        """Inside, BatchNorm normalises with the batch's statistics as usual but leaves its running
        statistics alone (momentum 0), so fake batches do not enter them.

        Training normalises real and fake batches separately (as pytorch/examples does); running
        statistics averaged over both would describe neither, and the evaluation-mode D (used by
        ``discriminator_score`` and on held-out data) would then call real images fake.
        """
        norms = [m for m in self.modules() if isinstance(m, nn.BatchNorm2d)]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.momentum = 0.0
        try:
            yield
        finally:
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum


def random_translate(images: torch.Tensor, max_shift: int, fill: float) -> torch.Tensor:
    """Shift each image by its own random whole-pixel offset in [-max_shift, max_shift] along each
    axis, filling the uncovered border with ``fill``. Differentiable in the images (a gather)."""
    if max_shift == 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4, value=fill)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1), device=images.device)
    rows = (torch.arange(h, device=images.device) + dy)[:, :, None]  # (n, h, 1)
    cols = (torch.arange(w, device=images.device) + dx)[:, None, :]  # (n, 1, w)
    batch = torch.arange(n, device=images.device)[:, None, None]
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2)  # advanced indices first: (n, h, w, c)


def random_cutout(images: torch.Tensor, size: int, fill: float) -> torch.Tensor:
    """Set a random ``size`` x ``size`` square of each image (anywhere, partly outside allowed, as
    DiffAugment's cutout) to ``fill``. Differentiable in the images (a mask)."""
    if size == 0:
        return images
    n, _, h, w = images.shape
    centre = torch.randint(0, h, (n, 1, 1), device=images.device), torch.randint(0, w, (n, 1, 1), device=images.device)
    rows = torch.arange(h, device=images.device)[None, :, None]
    cols = torch.arange(w, device=images.device)[None, None, :]
    inside = ((rows - centre[0]).abs() <= size // 2) & ((cols - centre[1]).abs() <= size // 2)
    return torch.where(inside[:, None], torch.full_like(images, fill), images)


def spectral_norm_conv(*args, **kwargs) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(nn.Conv2d(*args, **kwargs))


def _parametrization(module: nn.Module, name: str) -> ParametrizationList:
    """What ``nn.utils.parametrize`` installed on ``module`` for its tensor ``name``."""
    return cast(ParametrizationList, cast(nn.ModuleDict, module.parametrizations)[name])


def dcgan_init(module: nn.Module) -> None:
    """DCGAN's initialisation: convolutions N(0, 0.02), BatchNorm scale N(1, 0.02) and shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        # a spectrally normalised convolution keeps its raw weight as the parametrisation's original
        spectral = nn.utils.parametrize.is_parametrized(module, "weight")
        nn.init.normal_(_parametrization(module, "weight").original if spectral else module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
