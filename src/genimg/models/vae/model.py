"""Variational auto-encoder (Kingma & Welling 2014), the lecture's model.

Encoder h_phi(x) gives q(z|x) = N(mu, diag(sigma^2)); decoder f_theta(z) gives p(x|z).
The loss is the negative ELBO, -E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I)), estimated
with one reparameterised sample z = mu + sigma * eps; or, with ``iw_samples = k > 1`` (the
default, 5), the importance-weighted bound of Burda et al. 2016 over k samples, which is
tighter and gives a better test likelihood on small data. Dropout (0.1 by default) in the
MLP's hidden layers helps too: 1000 training digits overfit after a few dozen epochs.

The decoder likelihood p(x|z) decides what the ELBO bounds (``decoders.py``): categorical,
Bernoulli or the discretised logistic, each a probability mass on discrete data, so the bounds
are in nats of a discrete log-likelihood; or a Gaussian density, only on continuous data or on
discrete data dequantised (``data.dequantize=uniform``), where ``dequantize`` adds the
-D log L that turns the density's bound into a bound on the probability (``config.py`` refuses
every other combination before any work starts).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genimg.data.spec import DataSpec
from genimg.errors import UserError
from genimg.models.base import Batch, GenerativeModel
from genimg.models.latent_space import LatentSpace
from genimg.models.stepper import Stepper, adam
from genimg.models.vae.code_density import CodeMixture
from genimg.models.vae.config import VAEConfig, resolve_decoder
from genimg.models.vae.decoders import make_decoder
from genimg.models.vae.networks import ConvDecoder, ConvEncoder, mlp
from genimg.models.vae.prior import make_prior


class VAE(GenerativeModel):
    family = "vae"
    bound_names = ("iw", "elbo")
    marginalises_missing = True  # pixels are independent given z: see log_likelihood's mask

    def __init__(self, config: VAEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.likelihood = resolve_decoder(config.decoder, spec)
        self.pixel_decoder = make_decoder(
            self.likelihood, spec.levels, config.learn_variance, config.sigma, spec.dequantized
        )
        self.out_per_pixel = self.pixel_decoder.values_per_pixel
        c, h, w = spec.image_shape
        label_dim = spec.num_classes if config.conditional else 0
        L = config.latent_dim
        if config.arch == "mlp":
            hidden = [config.hidden] * config.hidden_layers
            self.encoder: nn.Module = mlp([c * h * w + label_dim, *hidden, 2 * L], config.dropout, config.activation)
            self.decoder: nn.Module = mlp(
                [L + label_dim, *hidden, c * h * w * self.out_per_pixel], config.dropout, config.activation
            )
        else:
            self.encoder = ConvEncoder(c + label_dim, h, config.conv_channels, 2 * L)
            self.decoder = ConvDecoder(L + label_dim, c * self.out_per_pixel, h, config.conv_channels)
        self.prior = make_prior(config.prior, L, config.prior_components)  # last: a normal prior draws nothing
        self.code_density = CodeMixture(L, config.gmm_components, config.gmm_codes) if config.sampler == "gmm" else None

    # --- encoder / decoder ------------------------------------------------------------------
    def _one_hot(self, labels: torch.Tensor | int | None, n: int) -> torch.Tensor | None:
        """One-hot labels for a conditional VAE (None for an unconditional one); a single int
        stands for the same class for all n."""
        labels = self.check_labels(n, labels, missing="refuse", unconditional="ignore")
        return None if labels is None else F.one_hot(labels, self.spec.num_classes).float()

    def encode(self, x: torch.Tensor, labels: torch.Tensor | int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the mean and log-variance of q(z|x)."""
        y = self._one_hot(labels, x.shape[0])
        if self.config.arch == "mlp":
            inp = x.flatten(1)
            if y is not None:
                inp = torch.cat([inp, y], 1)
        else:
            inp = x
            if y is not None:
                inp = torch.cat([x, y[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        mu, logvar = self.encoder(inp).chunk(2, dim=1)
        return mu, logvar.clamp(-30, 20)

    def decoder_output(self, z: torch.Tensor, labels: torch.Tensor | int | None = None) -> torch.Tensor:
        """Raw decoder output, shaped (N, C, H, W, out_per_pixel)."""
        y = self._one_hot(labels, z.shape[0])
        if y is not None:
            z = torch.cat([z, y], 1)
        out = self.decoder(z)
        c, h, w = self.spec.image_shape
        if self.config.arch == "mlp":
            return out.view(-1, c, h, w, self.out_per_pixel)
        return out.view(-1, c, self.out_per_pixel, h, w).permute(0, 1, 3, 4, 2)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | int | None = None, mode: str = "mean") -> torch.Tensor:
        """Images in [0, 1]: the mean of p(x|z), or a draw from it with mode='sample'."""
        out = self.decoder_output(z, labels)
        return self.pixel_decoder.sample(out) if mode == "sample" else self.pixel_decoder.mean(out)

    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Decode the posterior mean of x: the reconstruction shown next to the original."""
        mu, _ = self.encode(x, labels)
        return self.decode(mu, labels)

    # --- likelihood pieces --------------------------------------------------------------------
    def log_px_given_z(self, x: torch.Tensor, out: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x|z) per image, summed over pixels; with a boolean ``keep`` of x's shape, over the
        kept (observed) pixels only, which is log p(x_obs|z) exactly: the pixels are independent
        given z, so each missing pixel's probability sums to one and drops out."""
        log_p = self.pixel_decoder.log_prob(x, out)
        if keep is not None:
            # where, not a product: a missing pixel may hold any value, even one of probability 0
            log_p = torch.where(keep, log_p, torch.zeros((), dtype=log_p.dtype, device=log_p.device))
        return log_p.flatten(1).sum(1)

    def dequantize(self, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        """On dequantised data, y = (k + u) / L for x = k / (L - 1) and u ~ U(0, 1) per pixel, and
        the log-density of y is a bound on the probability of x after adding D log(1 / L): log P(x)
        >= E_u log p(y) - D log L (Jensen over each level's bin of width 1 / L). Else x, 0."""
        if not self.spec.dequantized:
            return x, 0.0
        levels = self.spec.levels
        assert levels is not None  # dequantised data is discrete data (DataSpec)
        y = (torch.round(x * (levels - 1)) + torch.rand_like(x)) / levels
        return y, -self.spec.num_pixels * math.log(levels)

    def elbo_terms(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        x, bin_correction = self.dequantize(x)
        mu, logvar = self.encode(x, labels)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = self.log_px_given_z(x, self.decoder_output(z, labels)) + bin_correction
        kl = self.prior.kl(mu, logvar, z)
        return {"log_px_z": rec, "kl": kl, "elbo": rec - kl, "mu": mu}

    def log_weights(
        self,
        x: torch.Tensor,
        labels: torch.Tensor | None,
        k: int,
        beta: float = 1.0,
        keep: torch.Tensor | None = None,
        fill: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """log p(x|z_i) + beta * (log p(z_i) - log q(z_i|x)) for k draws z_i ~ q(z|x): shape (k, N).

        With beta = 1 these are the importance weights of log p(x); training with beta != 1
        weights the prior term as a beta-VAE does (the ELBO's KL is the mean of that term).
        With a boolean ``keep`` (x's shape) they are the weights of log p(x_obs): p(x|z) over the
        kept pixels only, and the encoder sees ``fill`` where a pixel is missing (see
        ``log_likelihood``); the random draws are the same as without ``keep``."""
        x, full_correction = self.dequantize(x)
        bin_correction: torch.Tensor | float = full_correction
        seen = x
        if keep is not None:
            assert fill is not None, "a keep mask needs the fill the encoder sees at missing pixels"
            # only observed pixels are dequantised bins whose width -log L has to be paid for
            bin_correction = full_correction * keep.flatten(1).float().mean(1)
            seen = torch.where(keep, x, fill)
        mu, logvar = self.encode(seen, labels)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn(k, *mu.shape, device=mu.device)
        z = mu + std * eps  # (k, N, L)
        xf = x.repeat(k, 1, 1, 1)
        kf = keep.repeat(k, 1, 1, 1) if keep is not None else None
        lf = labels.repeat(k) if labels is not None else None
        log_px_z = self.log_px_given_z(xf, self.decoder_output(z.reshape(-1, mu.shape[1]), lf), kf).view(k, -1)
        log_pz = self.prior.log_prob(z)
        log_qz = (-0.5 * eps.pow(2) - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
        return log_px_z + bin_correction + beta * (log_pz - log_qz)

    @torch.no_grad()
    def log_likelihood(
        self,
        x: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        k: int = 1000,
        chunk: int = 100,
        mask: torch.Tensor | None = None,
        fill_steps: int = 1,
        **_: Any,
    ) -> dict[str, torch.Tensor]:
        """Per-image bounds on log p(x) in nats: the ELBO and the importance-weighted bound
        log (1/k) sum_i p(x, z_i) / q(z_i|x) (Burda et al. 2016), batched over the k samples in
        chunks so memory stays bounded.

        ``mask`` (1 = observed; (N or 1, 1 or C, H, W)) makes them bounds on log p(x_obs), the
        missing pixels marginalised exactly (``log_px_given_z``): no imputation enters p. The
        encoder, trained on whole images, still needs one; it sees zeros in the holes, then
        ``fill_steps`` times the decoder's mean at its own posterior mean there. Any q(z) gives
        a valid bound, and this one depends on the observed pixels only (never on the hidden
        values), so the bound holds; the fill is there to make it tighter (one step: 0.2 nats
        at 50% random and 1 nat with the left half missing, digits val, k = 100). With every
        pixel observed the result equals the unmasked one for the same random draws."""
        keep = fill = None
        if mask is not None:
            try:
                keep = (torch.as_tensor(mask, device=x.device) > 0.5).expand_as(x)
            except RuntimeError:
                raise UserError(
                    f"a mask of shape {tuple(mask.shape)} does not fit images of shape {tuple(x.shape)}; "
                    "give (N or 1, 1, H, W) with 1 for an observed pixel"
                ) from None
            fill = torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))
            for _step in range(fill_steps):  # deterministic: the same fill for every chunk of samples
                fill = torch.where(keep, x, self.decode(self.encode(fill, labels)[0], labels))
        lw = torch.cat(
            [self.log_weights(x, labels, min(chunk, k - start), keep=keep, fill=fill) for start in range(0, k, chunk)],
            0,
        )
        iw = torch.logsumexp(lw, 0) - math.log(k)
        elbo = lw.mean(0)  # the ELBO averaged over the same k samples: far less noisy than one draw
        return {"elbo": elbo, "iw": iw}

    # --- protocol -----------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"vae": adam(self.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)}

    def losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The training objective ("loss") and what the log shows beside it, as batch means."""
        labels = batch.labels if self.config.conditional else None
        terms = self.elbo_terms(batch.images, labels)
        if self.code_density is not None and self.training:  # the training set's codes, for sampler=gmm
            self.code_density.record(terms["mu"])
        out = {"nelbo": -terms["elbo"].mean(), "kl": terms["kl"].mean()}
        if self.config.iw_samples > 1:
            lw = self.log_weights(batch.images, labels, self.config.iw_samples, self.config.beta)
            out["loss"] = -(torch.logsumexp(lw, 0) - math.log(self.config.iw_samples)).mean()
        else:
            out["loss"] = (-terms["log_px_z"] + self.config.beta * terms["kl"]).mean()
        return out

    def training_step(self, batch: Batch, stepper: Stepper) -> dict[str, Any]:
        out = self.losses(batch)
        stepper.step("vae", out["loss"])
        return {k: v.detach() for k, v in out.items()}

    def validation_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        return self.losses(batch)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels: torch.Tensor | int | None = None,
        mode: str | None = None,
        temperature: float | None = None,
        **_: Any,
    ) -> torch.Tensor:
        """Draw z (``draw_codes``; ``temperature`` by default the config's), decode; return the
        decoder mean, or with mode='sample' x re-sampled from p(x|z) (the lecture's optional step 3)."""
        labels = self.check_labels(n, labels)
        z = self.draw_codes(n, self.config.temperature if temperature is None else temperature)
        return self.decode(z, labels, mode=mode or self.config.sample_mode)

    @torch.no_grad()
    def draw_codes(self, n: int, temperature: float = 1.0) -> torch.Tensor:
        """n codes to decode into samples, their noise scaled by ``temperature``: from the mixture
        fitted to the training codes (sampler=gmm, once training has recorded some), else from
        the prior p(z)."""
        if self.code_density is not None and self.code_density.ready:
            return self.code_density.sample(n, temperature)
        return self.prior.sample(n, self.device, temperature)

    @property
    def prefers_channels_last(self) -> bool:
        return self.config.arch == "conv"

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def latent_space(self, **_: Any) -> PosteriorMeanSpace:
        return PosteriorMeanSpace(self)


class PosteriorMeanSpace(LatentSpace):
    """A VAE's latent space: images encode to the mean of q(z|x), codes decode to the mean of p(x|z)."""

    name = "posterior mean z"
    can_encode = True
    differentiable = True

    @property
    def per_dimension(self) -> bool:
        """Each coordinate has an N(0, 1) prior only under the standard normal prior."""
        return self.model.config.prior == "normal"

    def prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Codes as ``sample`` draws them (the prior, or the fitted mixture with sampler=gmm)."""
        if self.model.config.prior == "normal" and self.model.code_density is None:
            return super().prior(n, generator)
        with torch.random.fork_rng(devices=[]):  # a mixture draws from the global stream: seed it
            torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=generator)))
            return self.model.draw_codes(n)

    @property
    def dim(self) -> int:
        return self.model.config.latent_dim

    def encode(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        mu, _ = self.model.encode(images.to(self.device), labels)
        return mu

    def decode(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.decode(codes.to(self.device), labels)
