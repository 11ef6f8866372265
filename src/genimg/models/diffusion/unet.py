"""A small U-Net for diffusion (Ho et al. 2020; Nichol & Dhariwal 2021 for the details).

    x_t ─ stem ─ [ResBlock x n (+ attention) ─ down] per level ─ middle ─ [ResBlock x (n+1) ─ up] ─ out
                 └──────────── skip connections, concatenated on the way up ────────────┘

- The timestep goes through a sinusoidal embedding and a 2-layer MLP; the class label (when
  conditional) is a learned embedding added to it, with one extra "null" class used for
  classifier-free guidance. Every residual block gets this vector as a per-channel scale and
  shift after its second GroupNorm (improved-diffusion's ``use_scale_shift_norm``).
- Resolutions follow the image size: it is halved while even and above 8, at least once, so
  8x8 -> 8, 4; 28x28 -> 28, 14, 7; 32x32 -> 32, 16, 8. Channel multipliers default to
  1, 2, 2, ... per level. Self-attention runs at the lowest resolution and in the middle,
  where it is cheap (16 positions for 8x8 digits).
- The last convolution of each residual branch and of the output is zero-initialised, so
  the untrained network starts as (nearly) the identity on its skip paths and outputs zero.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genimg.models.precision import in_float32


def resolutions_for(size: int) -> list[int]:
    """The U-Net's feature-map sizes, top first: halve while even and above 8, at least once."""
    sizes = [size]
    while sizes[-1] % 2 == 0 and (sizes[-1] > 8 or len(sizes) == 1) and sizes[-1] >= 4:
        sizes.append(sizes[-1] // 2)
    return sizes


def default_channel_mult(levels: int) -> list[int]:
    return [1] + [2] * (levels - 1)


def group_count(channels: int, max_groups: int) -> int:
    """The largest number of GroupNorm groups <= max_groups that divides ``channels``."""
    return math.gcd(channels, max_groups) or 1


def zero_init(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class SinusoidalEmbedding(nn.Module):
    """The transformer position encoding of the timestep (Vaswani et al. 2017): cos and sin at
    geometrically spaced frequencies from 1 to 1/max_period."""

    def __init__(self, dim: int, max_period: float = 10000.0) -> None:
        super().__init__()
        self.dim = dim
        self.max_period = max_period

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(-math.log(self.max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        args = t.float()[:, None] * freqs[None]
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
        if self.dim % 2:
            emb = F.pad(emb, (0, 1))
        return emb


class ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(group_count(in_ch, groups), in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * out_ch)
        self.norm2 = nn.GroupNorm(group_count(out_ch, groups), out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = zero_init(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the spatial positions, with a residual connection."""

    def __init__(self, channels: int, groups: int, head_dim: int = 32) -> None:
        super().__init__()
        self.heads = max(1, channels // head_dim)
        self.norm = nn.GroupNorm(group_count(channels, groups), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = zero_init(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, h * w).unbind(1)
        # (n, heads, positions, head_dim) for scaled_dot_product_attention
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.proj(out.transpose(-1, -2).reshape(n, c, h, w))


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour upsampling to the skip connection's size (7 -> 14 as well as 4 -> 8), then a conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class Level(nn.Module):
    """One residual block, optionally followed by self-attention."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int, dropout: float, attention: bool) -> None:
        super().__init__()
        self.res = ResBlock(in_ch, out_ch, emb_dim, groups, dropout)
        self.attn = SelfAttention(out_ch, groups) if attention else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        x = self.res(x, emb)
        return self.attn(x) if self.attn is not None else x


class UNet(nn.Module):
    """eps/v/x0 network: (x_t, t, labels) -> a tensor shaped like x_t.

    ``num_classes`` > 0 adds a class embedding with ``num_classes + 1`` rows; label
    ``num_classes`` is the null class (no label), used for classifier-free guidance.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        channels: int = 32,
        channel_mult: list[int] | None = None,
        res_blocks: int = 2,
        attention: bool = True,
        dropout: float = 0.0,
        num_classes: int = 0,
        groups: int = 8,
    ) -> None:
        super().__init__()
        if channel_mult is None:
            channel_mult = default_channel_mult(len(resolutions_for(image_size)))
        self.channel_mult = list(channel_mult)
        self.num_classes = num_classes
        levels = len(channel_mult)
        emb_dim = 4 * channels
        self.time_embed = nn.Sequential(
            SinusoidalEmbedding(channels), nn.Linear(channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        self.class_embed = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None
        self.stem = nn.Conv2d(in_channels, channels, 3, padding=1)

        self.down = nn.ModuleList()
        skip_channels = [channels]
        ch = channels
        for i, mult in enumerate(channel_mult):
            lowest = i == levels - 1
            for _ in range(res_blocks):
                self.down.append(Level(ch, channels * mult, emb_dim, groups, dropout, attention and lowest))
                ch = channels * mult
                skip_channels.append(ch)
            if not lowest:
                self.down.append(Downsample(ch))
                skip_channels.append(ch)

        self.middle = nn.ModuleList(
            [
                Level(ch, ch, emb_dim, groups, dropout, attention),
                Level(ch, ch, emb_dim, groups, dropout, False),
            ]
        )

        self.up = nn.ModuleList()
        for i, mult in reversed(list(enumerate(channel_mult))):
            for _ in range(res_blocks + 1):
                self.up.append(
                    Level(
                        ch + skip_channels.pop(),
                        channels * mult,
                        emb_dim,
                        groups,
                        dropout,
                        attention and i == levels - 1,
                    )
                )
                ch = channels * mult
            if i > 0:
                self.up.append(Upsample(ch))

        self.out = nn.Sequential(
            nn.GroupNorm(group_count(ch, groups), ch), nn.SiLU(), zero_init(nn.Conv2d(ch, in_channels, 3, padding=1))
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_embed(t)
        if self.class_embed is not None:
            if labels is None:  # no label: the null class
                labels = torch.full((x.shape[0],), self.num_classes, device=x.device, dtype=torch.long)
            emb = emb + self.class_embed(labels)
        h = self.stem(x)
        skips = [h]
        for layer in self.down:
            h = layer(h) if isinstance(layer, Downsample) else layer(h, emb)
            skips.append(h)
        for layer in self.middle:
            h = layer(h, emb)
        for layer in self.up:
            if isinstance(layer, Upsample):
                h = layer(h, skips[-1].shape[-2:])
            else:
                h = layer(torch.cat([h, skips.pop()], dim=1), emb)
        return in_float32(self.out[-1], self.out[:-1](h))  # eps to full precision: sampling sums it T times
