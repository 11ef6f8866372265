"""Denoising diffusion (DDPM, Ho et al. 2020) behind genimg's model protocol.

The pieces, each in its own file as diffusers separates them:
- ``schedules.py``: betas (linear / cosine), q(x_t | x_0), and the conversions between the
  epsilon / v / x0 predictions;
- ``unet.py``: the network, (x_t, t, label) -> prediction;
- ``samplers.py``: DDPM (ancestral) and DDIM steps;
- ``likelihood.py``: the variational bound in nats per image.

Training minimises the MSE between the network's output and its target (the noise, v or
x_0) at a uniformly drawn timestep. The model works in [-1, 1]; images enter and leave in
[0, 1]. A class-conditional model replaces each label by the null class with probability
``label_dropout``, so one network learns p(x | y) and p(x), and sampling can use
classifier-free guidance (Ho & Salimans 2022):

    output = output(x_t, null) + guidance * (output(x_t, y) - output(x_t, null))

(guidance = 1: plain conditional sampling; 0: unconditional; > 1: sharper, less diverse).
The combination is linear in the output, so it is the same in epsilon, v or x0 terms.

Sampling defaults to ancestral DDPM through all T steps (the model as trained); DDIM with
``sampler="ddim", steps=50`` is about 20x faster for similar FID (see BENCHMARKS.md).
"""

from __future__ import annotations

import sys
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from genimg.data.spec import DataSpec
from genimg.errors import UserError
from genimg.models.base import Batch, GenerativeModel, eval_mode
from genimg.models.diffusion.config import DiffusionConfig
from genimg.models.diffusion.denoiser import ScheduleDenoiser
from genimg.models.diffusion.latent import DDIMNoiseSpace
from genimg.models.diffusion.likelihood import to_grid, variational_bound
from genimg.models.diffusion.samplers import DDIMSampler, make_sampler
from genimg.models.diffusion.schedules import NoiseSchedule, min_snr_weight, target, x0_and_eps
from genimg.models.diffusion.unet import UNet
from genimg.models.stepper import Stepper, adam
from genimg.rng import gaussian_noise


class DiffusionModel(GenerativeModel):
    family = "diffusion"
    bound_names = ("vlb", "vlb_estimate")

    def __init__(self, config: DiffusionConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.prediction = config.prediction
        self.levels = spec.levels or 256  # the decoder's bins; continuous data is read as 8-bit
        self.schedule = NoiseSchedule(config.schedule, config.timesteps)
        self.net = UNet(
            spec.channels,
            spec.image_size,
            channels=config.channels,
            channel_mult=config.channel_mult,
            res_blocks=config.res_blocks,
            attention=config.attention,
            dropout=config.dropout,
            num_classes=spec.num_classes if config.conditional else 0,
            groups=config.norm_groups,
        )

    @property
    def null_label(self) -> int:
        return self.spec.num_classes

    # --- the network, with guidance ---------------------------------------------------------
    def model_output(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor | int,
        labels: torch.Tensor | None = None,
        guidance: float = 1.0,
        net: torch.nn.Module | None = None,
    ) -> torch.Tensor:
        """The network's prediction at (x_t, t); labels None means the null class. With
        guidance != 1 (conditional models) the conditional and unconditional outputs come from
        one batched call and are combined by classifier-free guidance. ``net``: the same network
        compiled (``sampling_net``)."""
        net = net or self.net
        t = torch.as_tensor(t, device=x_t.device).long().expand(x_t.shape[0])
        if not self.conditional or labels is None or guidance == 1.0:
            return net(x_t, t, labels if self.conditional else None)
        null = torch.full_like(labels, self.null_label)
        both = net(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([labels, null]))
        cond, uncond = both.chunk(2)
        return uncond + guidance * (cond - uncond)

    def denoiser_output(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor | int,
        labels: torch.Tensor | None = None,
        guidance: float = 1.0,
        net: torch.nn.Module | None = None,
    ) -> torch.Tensor:
        """The reverse process's prediction: ``model_output``, except that on discrete data, at
        noise levels below ``snap_x0`` of one grey-level step, the x0 it implies is snapped to the
        nearest grey level (and re-expressed as the network's kind of output).

        Why: there the image is recoverable exactly, but the reverse steps' variances are tiny,
        so the network's small x0 errors cost many nats in the bound (most of it, unsnapped:
        about 140 nats per digit, 60 of them from t < 10). Snapping is part of the model's
        p(x_{t-1} | x_t) (a Gaussian whose mean is a function of x_t), so the bound stays a
        bound; sampling uses the same steps. Training is unchanged, and so are the recovery
        solvers (``denoiser()``), which differentiate through ``model_output``."""
        out = self.model_output(x_t, t, labels, guidance, net)
        if not self.config.snap_x0 or self.spec.levels is None:
            return out
        t = torch.as_tensor(t, device=x_t.device).long().expand(x_t.shape[0])
        alpha_bar = self.schedule.alpha_bar(t).to(x_t.dtype)
        level_step = 2 / (self.spec.levels - 1)
        snap = ((1 - alpha_bar) / alpha_bar).sqrt() < self.config.snap_x0 * level_step  # per image
        if not bool(snap.any()):
            return out
        x0, _ = x0_and_eps(self.prediction, out, x_t, alpha_bar)
        x0 = to_grid((x0.clamp(-1, 1) + 1) / 2, self.spec.levels)
        eps = (x_t - alpha_bar.sqrt().view(-1, 1, 1, 1) * x0) / (1 - alpha_bar).sqrt().view(-1, 1, 1, 1)
        return torch.where(snap.view(-1, 1, 1, 1), target(self.prediction, x0, eps, alpha_bar), out)

    # --- training ---------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {
            "diffusion": adam(
                self.net.parameters(), torch.optim.AdamW, lr=self.config.lr, weight_decay=self.config.weight_decay
            )
        }

    def loss(
        self, images: torch.Tensor, labels: torch.Tensor | None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """MSE between the network's output and its target at timesteps drawn uniformly (or, with
        ``timestep_sampling="lognormal"``, at EDM's log-normal noise levels); with ``min_snr_gamma``,
        each timestep's term weighted by Hang et al.'s Min-SNR-gamma (2023)."""
        x0 = images * 2 - 1
        n = x0.shape[0]
        gen_device = generator.device if generator is not None else x0.device
        if self.config.timestep_sampling == "lognormal":
            log_sigma = torch.randn(n, generator=generator, device=gen_device, dtype=torch.float64)
            log_sigma = self.config.lognormal_mean + self.config.lognormal_std * log_sigma
            t = self.schedule.nearest_timestep(log_sigma.to(x0.device))
        else:
            t = torch.randint(0, self.config.timesteps, (n,), generator=generator, device=gen_device).to(x0.device)
        noise = gaussian_noise(x0.shape, generator, x0.device, x0.dtype)
        if self.conditional:
            assert labels is not None  # batches carry their split's labels (every ImageDataset has them)
            drop = torch.rand(n, generator=generator, device=gen_device).to(x0.device) < self.config.label_dropout
            labels = torch.where(drop, torch.full_like(labels, self.null_label), labels)
        x_t = self.schedule.q_sample(x0, t, noise)
        alpha_bar = self.schedule.alpha_bar(t)
        goal = target(self.prediction, x0, noise, alpha_bar)
        output = self.net(x_t, t, labels if self.conditional else None)
        if self.config.min_snr_gamma is None:
            return F.mse_loss(output, goal)
        per_image = (output.float() - goal).square().flatten(1).mean(1)
        return (per_image * min_snr_weight(alpha_bar, self.prediction, self.config.min_snr_gamma)).mean()

    def training_step(self, batch: Batch, stepper: Stepper) -> dict[str, Any]:
        self._warm_up(stepper)
        loss = self.loss(batch.images, batch.labels)
        stepper.step("diffusion", loss)
        return {"loss": loss.detach()}

    def _warm_up(self, stepper: Stepper) -> None:
        """Linear learning-rate warm-up over the first ``warmup_steps`` updates (Ho et al. use
        5000 at scale); the step count lives in the optimiser state, so a resume continues it."""
        opt = stepper.optimizers["diffusion"]
        state = opt.state.get(next(iter(self.net.parameters())), {})
        done = int(state["step"]) if "step" in state else 0
        scale = min(1.0, (done + 1) / self.config.warmup_steps) if self.config.warmup_steps > 0 else 1.0
        for group in opt.param_groups:
            group["lr"] = self.config.lr * scale

    def validation_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        # Fixed timesteps and noise, so that the number moves only when the weights do.
        generator = torch.Generator(device=batch.images.device).manual_seed(0)
        return {"loss": self.loss(batch.images, batch.labels, generator=generator)}

    # --- sampling ---------------------------------------------------------------------------
    def monitoring_sample_options(self) -> dict[str, Any]:
        return {"sampler": self.config.monitor_sampler, "steps": self.config.monitor_steps}

    def make_sampler(
        self,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float | None = None,
        spacing: str | None = None,
        variance: str | None = None,
        clip: bool | None = None,
    ):
        c = self.config
        return make_sampler(
            sampler or c.sampler,
            self.schedule,
            self.prediction,
            steps=steps if steps is not None else c.sample_steps,
            spacing=spacing or c.spacing,
            eta=c.eta if eta is None else eta,
            variance=variance or c.variance,
            clip=c.clip_x0 if clip is None else clip,
        )

    def sample(
        self,
        n: int,
        labels: torch.Tensor | int | None = None,
        *,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float | None = None,
        guidance: float | None = None,
        spacing: str | None = None,
        variance: str | None = None,
        clip: bool | None = None,
        quantize: bool | None = None,
        noise: torch.Tensor | None = None,
        progress: bool = True,
        generator: torch.Generator | None = None,
        batch_size: int | None = None,
        compile: bool = False,
        **_: Any,
    ) -> torch.Tensor:
        """n images in [0, 1]. ``compile`` runs the network through ``torch.compile`` (see
        ``sampling_net``).

        Defaults come from the config: ancestral DDPM through all T steps (``sampler="ddpm"``,
        ``steps=None``). ``sampler="ddim", steps=50, eta=0`` is the fast deterministic option.
        ``guidance`` scales classifier-free guidance (conditional models; 1 = none). ``noise``
        gives x_T (shape (n, C, H, W)) instead of drawing it: with DDIM and eta = 0 this is the
        decoder of ``ddim_invert``. ``generator`` makes the draw reproducible. ``quantize``
        rounds the result to the data's grey levels (17 for digits): the model's decoder
        p(x_0 | x_1) is discrete, and its most likely bin is the one nearest the mean.
        """
        labels = self.check_labels(n, labels, generator=generator)
        guidance = self.config.guidance if guidance is None else guidance
        if guidance != 1.0 and not self.conditional:
            raise UserError("guidance needs a class-conditional model; train with conditional=true or leave guidance=1")
        chain = self.make_sampler(sampler, steps, eta, spacing, variance, clip)
        net = self.sampling_net() if compile else self.net
        shape = (n, *self.spec.image_shape)
        if noise is not None and tuple(noise.shape) != shape:
            raise UserError(f"noise must have shape {shape}, got {tuple(noise.shape)}")
        batch_size = batch_size or self.config.sample_batch
        chunks = range(0, n, batch_size)
        out = []
        with (
            eval_mode(self),
            torch.inference_mode(),
            tqdm(
                total=len(chunks) * len(chain),
                desc=f"sampling ({chain.__class__.__name__[:4]})",
                leave=False,
                disable=not progress,
            ) as bar,
        ):
            for start in chunks:
                m = min(batch_size, n - start)
                x = (
                    noise[start : start + m].to(self.device, torch.float32)
                    if noise is not None
                    else gaussian_noise((m, *shape[1:]), generator, self.device)
                )
                y = labels[start : start + m] if labels is not None else None
                for t in chain.timesteps.tolist():
                    x = chain.step(self.denoiser_output(x, t, y, guidance, net), t, x, generator=generator)
                    bar.update(1)
                out.append(x)
        images = ((torch.cat(out) + 1) / 2).clamp(0, 1)
        if (self.config.quantize if quantize is None else quantize) and self.spec.levels is not None:
            images = torch.round(images * (self.spec.levels - 1)) / (self.spec.levels - 1)
        return images

    def latent_space(self, steps: int = 50, **_: Any) -> DDIMNoiseSpace:
        return DDIMNoiseSpace(self, steps)

    def denoiser(self) -> ScheduleDenoiser:
        return ScheduleDenoiser(self)

    def marginal_log_likelihood(self, x: torch.Tensor, **options: Any) -> dict[str, torch.Tensor]:
        """log p(x) through the null class: a conditional model learned p(x) beside p(x | y)."""
        return self.log_likelihood(x, None, **options)

    def sampling_net(self) -> torch.nn.Module:
        """The U-Net through ``torch.compile`` (compiled once, kept), or the plain network with a
        one-line notice where compiling fails (it needs a C++ compiler). Measured at 28x28 on one
        CPU thread: 1.07x per network call for 20 CPU-seconds of compiling, so it pays only past
        about 300 batched calls (e.g. 1000-step sampling); hence off by default."""
        # Kept in __dict__, not as an attribute: a Module attribute would join the state dict.
        if self.__dict__.get("_compiled") is None:
            try:
                compiled = torch.compile(self.net)
                with torch.inference_mode():
                    probe = torch.zeros(1, *self.spec.image_shape, device=self.device)
                    compiled(probe, torch.zeros(1, dtype=torch.long, device=self.device), None)
                self.__dict__["_compiled"] = compiled
            except Exception as error:  # any backend failure: sampling goes on uncompiled
                print(
                    f"genimg: torch.compile is unavailable here ({type(error).__name__}); sampling uncompiled",
                    file=sys.stderr,
                )
                self.__dict__["_compiled"] = self.net
        return self.__dict__["_compiled"]

    @torch.inference_mode()
    def ddim_invert(
        self,
        x: torch.Tensor,
        steps: int = 50,
        labels: torch.Tensor | None = None,
        *,
        spacing: str | None = None,
        guidance: float = 1.0,
        progress: bool = False,
    ) -> torch.Tensor:
        """The deterministic DDIM encoder (Song et al. 2021, sec. 5.4): images in [0, 1] -> x_T,
        running the DDIM ODE from the image up to the last timestep of a ``steps``-step chain.
        ``sample(n, noise=x_T, sampler="ddim", steps=steps, eta=0, clip=False)`` decodes it back;
        the round trip is exact as the step count grows (first-order in the step size)."""
        if labels is not None and not self.conditional:
            raise UserError(f"this {self.family} is not class-conditional; call ddim_invert without labels")
        chain = DDIMSampler(self.schedule, self.prediction, steps, spacing or self.config.spacing, eta=0.0, clip=False)
        h = x.to(self.device, torch.float32) * 2 - 1
        labels = labels.to(self.device).long() if labels is not None else None
        with eval_mode(self):
            for t in tqdm(chain.timesteps.flip(0).tolist(), desc="ddim inversion", leave=False, disable=not progress):
                h = chain.invert_step(self.model_output(h, t, labels, guidance), t, h)
        return h

    # --- likelihood -------------------------------------------------------------------------
    @torch.inference_mode()
    def log_likelihood(
        self,
        x: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        t_stride: int = 1,
        max_batch: int | None = None,
        generator: torch.Generator | None = None,
        return_terms: bool = False,
        progress: bool = False,
        mask: torch.Tensor | None = None,
        **_: Any,
    ) -> dict[str, torch.Tensor]:
        """Per-image lower bound on log p(x) in nats: ``{"vlb": ...}`` (minus Ho et al.'s bound,
        all T terms, the decoder discretised to the data's grey levels; see likelihood.py).
        With labels (conditional models) it bounds log p(x | y); without, the null class gives
        log p(x). Cost: T network evaluations per image, batched over images and timesteps
        (447 digits x 1000 steps: about as long as 1000-step sampling of 447 images).

        ``t_stride`` > 1 is a cheaper stratified estimate, returned as ``vlb_estimate`` so it
        can never be mistaken for the bound. ``return_terms`` adds the components (``prior_kl``,
        ``diffusion_kl``, ``decoder_nll``, all >= 0, in nats).
        """
        if mask is not None:  # the network couples all pixels: dropping terms would not bound log p(x_obs)
            raise UserError("a diffusion model cannot sum out missing pixels; complete them first (dps, repaint)")
        if labels is not None and not self.conditional:
            labels = None  # an unconditional model's bound does not depend on labels
        x0 = to_grid(x.to(self.device, torch.float32), self.levels)
        labels = labels.to(self.device).long() if labels is not None else None
        pixels = self.spec.image_size**2
        budget = max_batch or max(1, 2**17 // pixels)

        def predict_x0(x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
            out = self.denoiser_output(x_t, t, y)
            x0_hat, _ = x0_and_eps(self.prediction, out, x_t, self.schedule.alpha_bar(t))
            return x0_hat.clamp(-1, 1) if self.config.clip_x0 else x0_hat

        with eval_mode(self):
            terms = variational_bound(
                predict_x0,
                self.schedule,
                x0,
                labels,
                self.levels,
                variance=self.config.variance,
                t_stride=t_stride,
                max_batch=budget,
                generator=generator,
                progress=progress,
            )
        key = "vlb" if t_stride <= 1 else "vlb_estimate"
        result = {key: terms["vlb"]}
        if return_terms:
            result.update(prior_kl=terms["prior"], diffusion_kl=terms["diffusion"], decoder_nll=terms["decoder"])
        return result
