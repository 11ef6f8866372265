"""The VAE's p(x|z), per pixel: what the decoder network's outputs mean.

Each decoder reads ``values_per_pixel`` numbers per pixel from the network and gives the
per-pixel log-probability of an image (summed by the caller: pixels are independent given z,
which is also what lets a caller leave missing pixels out of the sum), the mean image, and a
draw. On discrete data every decoder here but ``gaussian`` is a probability mass, so the VAE's
bounds are bounds on a discrete log-likelihood, in nats, comparable with the literature:

- ``categorical``: a softmax over the data's grey levels (17 for digits): the most flexible.
- ``bernoulli``: binarised data (2 levels).
- ``logistic``: a discretised logistic (Salimans et al. 2017, PixelCNN++, one component) with a
  per-pixel mean and scale: the mass of the logistic on each grey level's bin, the lowest and
  highest bins reaching to -inf and +inf. Two numbers per pixel whatever the number of levels,
  so it suits 8-bit images, where a 256-way softmax per pixel would be large and slow to learn.
- ``gaussian``: a continuous density with a fixed or learned variance. On discrete data it is
  only a likelihood after uniform dequantisation (``data.dequantize=uniform``, see model.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from genimg.data.dataset import to_levels


class Decoder:
    values_per_pixel = 1

    def log_prob(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """log p(x_pixel | z) for every pixel: shape of x. ``out`` is (N, C, H, W, values_per_pixel)."""
        raise NotImplementedError

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class CategoricalDecoder(Decoder):
    def __init__(self, levels: int) -> None:
        self.levels = levels
        self.values_per_pixel = levels

    def log_prob(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return out.log_softmax(-1).gather(-1, to_levels(x, self.levels).unsqueeze(-1)).squeeze(-1)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        grid = torch.linspace(0, 1, self.levels, device=out.device)
        return (out.softmax(-1) * grid).sum(-1)

    def sample(self, out: torch.Tensor) -> torch.Tensor:
        grid = torch.linspace(0, 1, self.levels, device=out.device)
        return grid[torch.distributions.Categorical(logits=out).sample()]


class BernoulliDecoder(Decoder):
    def log_prob(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return -F.binary_cross_entropy_with_logits(out[..., 0], x, reduction="none")

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out[..., 0])

    def sample(self, out: torch.Tensor) -> torch.Tensor:
        return torch.bernoulli(self.mean(out))


class GaussianDecoder(Decoder):
    """N(sigmoid(out_0), std^2) per pixel; std learned (exp(out_1 / 2)) or fixed.

    On data dequantised from L levels the std never goes below 1 / (L sqrt(2 pi)), where the
    density's peak is L: a density above L on a bin of width 1 / L would claim more than the
    bin's whole probability, so the floor costs nothing real and keeps every pixel's
    log p(y) - log L, the dequantised bound's term, at most 0.
    """

    def __init__(self, learn_variance: bool, sigma: float, levels: int | None = None) -> None:
        self.learn_variance = learn_variance
        self.sigma = sigma
        self.values_per_pixel = 2 if learn_variance else 1
        self.min_std = 1 / (levels * math.sqrt(2 * math.pi)) if levels else 0.0

    def std(self, out: torch.Tensor) -> torch.Tensor:
        if self.learn_variance:
            return torch.exp(0.5 * out[..., 1].clamp(-12, 4)).clamp(min=self.min_std)
        return torch.full_like(out[..., 0], max(self.sigma, self.min_std))

    def log_prob(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        mean, std = torch.sigmoid(out[..., 0]), self.std(out)
        return -0.5 * ((x - mean) / std) ** 2 - std.log() - 0.5 * math.log(2 * math.pi)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out[..., 0])

    def sample(self, out: torch.Tensor) -> torch.Tensor:
        mean = self.mean(out)
        return (mean + self.std(out) * torch.randn_like(mean)).clamp(0, 1)


class DiscretizedLogisticDecoder(Decoder):
    """Logistic(mu, s) per pixel on [0, 1], integrated over each grey level's bin.

    With levels at k / (L - 1) and half-bin d = 1 / (2 (L - 1)), a = (x + d - mu) / s and
    b = (x - d - mu) / s: P(x) = sigmoid(a) - sigmoid(b), or sigmoid(a) for the lowest level and
    1 - sigmoid(b) for the highest. The difference is computed in log space without
    cancellation through sigmoid(a) - sigmoid(b) = sigmoid(a) sigmoid(-b) (1 - exp(b - a)).
    """

    values_per_pixel = 2
    LOG_SCALE_MIN = -7.0  # s >= 0.0009, a quarter of an 8-bit bin: sharp, never degenerate

    def __init__(self, levels: int) -> None:
        self.levels = levels

    def _mu_and_inverse_scale(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return out[..., 0], torch.exp(-out[..., 1].clamp(min=self.LOG_SCALE_MIN))

    def log_prob(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        mu, inverse_scale = self._mu_and_inverse_scale(out)
        half_bin = 0.5 / (self.levels - 1)
        a = (x + half_bin - mu) * inverse_scale
        b = (x - half_bin - mu) * inverse_scale
        # log(1 - exp(-(a - b))), with a - b = 2 half_bin / s > 0, in its accurate form either side of log 2
        gap = a - b
        log_width = torch.where(gap > math.log(2), torch.log1p(-torch.exp(-gap)), torch.log(-torch.expm1(-gap)))
        middle = F.logsigmoid(a) + F.logsigmoid(-b) + log_width
        level = to_levels(x, self.levels)
        lowest, highest = level == 0, level == self.levels - 1
        return torch.where(lowest, F.logsigmoid(a), torch.where(highest, F.logsigmoid(-b), middle))

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        """E[x] = (1 / (L - 1)) sum_{j=1}^{L-1} P(level >= j) = mean over the L - 1 inner bin edges
        e_j of sigmoid((mu - e_j) / s): exact, and differentiable in mu and s."""
        mu, inverse_scale = self._mu_and_inverse_scale(out)
        edges = (torch.arange(1, self.levels, device=out.device, dtype=out.dtype) - 0.5) / (self.levels - 1)
        return torch.sigmoid((mu.unsqueeze(-1) - edges) * inverse_scale.unsqueeze(-1)).mean(-1)

    def sample(self, out: torch.Tensor) -> torch.Tensor:
        mu, inverse_scale = self._mu_and_inverse_scale(out)
        u = torch.rand_like(mu).clamp(1e-6, 1 - 1e-6)
        continuous = mu + (torch.log(u) - torch.log1p(-u)) / inverse_scale
        return to_levels(continuous.clamp(0, 1), self.levels).to(mu.dtype) / (self.levels - 1)


def make_decoder(
    name: str, levels: int | None, learn_variance: bool, sigma: float, dequantized: bool = False
) -> Decoder:
    if name == "categorical":
        assert levels is not None  # config.resolve_decoder refuses it on continuous data
        return CategoricalDecoder(levels)
    if name == "bernoulli":
        return BernoulliDecoder()
    if name == "logistic":
        assert levels is not None  # config.resolve_decoder refuses it on continuous data
        return DiscretizedLogisticDecoder(levels)
    return GaussianDecoder(learn_variance, sigma, levels if dequantized else None)
