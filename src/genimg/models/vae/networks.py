"""The VAE's encoder and decoder networks: an MLP, or convolutions that halve the image each stage."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from genimg.models.precision import in_float32

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"leaky_relu": lambda: nn.LeakyReLU(0.1), "relu": nn.ReLU}


class MLP(nn.Sequential):
    """Layers in sequence, the output layer in float32: its outputs parametrise q(z|x) or p(x|z)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *hidden, output = self
        for layer in hidden:
            x = layer(x)
        return in_float32(output, x)


def mlp(sizes: list[int], dropout: float = 0.0, activation: str = "leaky_relu") -> MLP:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return MLP(*layers)


def downsample_stages(size: int) -> int:
    """How many stride-2 stages take ``size`` down to at most 4-7 pixels (8->4, 28->7, 32->4)."""
    stages = 0
    while size % 2 == 0 and size > 7:
        size //= 2
        stages += 1
    return stages


class ConvEncoder(nn.Module):
    def __init__(self, in_channels: int, size: int, base: int, out_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, base, 3, padding=1), nn.LeakyReLU(0.1)]
        ch = base
        for _ in range(downsample_stages(size)):
            layers += [nn.Conv2d(ch, ch * 2, 4, stride=2, padding=1), nn.LeakyReLU(0.1)]
            ch *= 2
            size //= 2
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(ch * size * size, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return in_float32(self.head, self.net(x))


class ConvDecoder(nn.Module):
    def __init__(self, in_dim: int, out_channels: int, size: int, base: int) -> None:
        super().__init__()
        stages = downsample_stages(size)
        self.start_size = size // 2**stages
        self.start_ch = base * 2**stages
        self.fc = nn.Sequential(nn.Linear(in_dim, self.start_ch * self.start_size**2), nn.LeakyReLU(0.1))
        layers: list[nn.Module] = []
        ch = self.start_ch
        for _ in range(stages):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, stride=2, padding=1), nn.LeakyReLU(0.1)]
            ch //= 2
        layers.append(nn.Conv2d(ch, out_channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, self.start_ch, self.start_size, self.start_size)
        return in_float32(self.net[-1], self.net[:-1](h))
