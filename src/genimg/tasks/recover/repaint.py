"""RePaint (Lugmayr et al. 2022), the ``repaint`` method: inpainting with an unconditional diffusion model.

After every reverse step the known pixels are replaced by the measurement noised to the same
level, and the chain jumps back ``jump_length`` steps ``resamples - 1`` times per jump point
(their schedule), so that the generated part has time to agree with the known part.
"""

from __future__ import annotations

import torch

from genimg.errors import UserError
from genimg.models.base import GenerativeModel
from genimg.tasks.recover.degradations import Degradation
from genimg.tasks.recover.noise import gaussian_noise
from genimg.tasks.recover.options import SolverOptions


def repaint_schedule(steps: int, jump_length: int, resamples: int) -> list[int]:
    """The chain positions RePaint visits (Lugmayr et al.'s get_schedule_jump): indices into
    the ascending list of timesteps, from steps - 1 down to -1 (the clean image), jumping back
    ``jump_length`` positions ``resamples - 1`` times at every ``jump_length``-th position."""
    jumps = dict.fromkeys(range(0, steps - jump_length, jump_length), resamples - 1)
    position = steps
    path = []
    while position >= 1:
        position -= 1
        path.append(position)
        if jumps.get(position, 0) > 0:
            jumps[position] -= 1
            for _ in range(jump_length):
                position += 1
                path.append(position)
    path.append(-1)
    return path


def repaint(
    model: GenerativeModel,
    degradation: Degradation,
    y: torch.Tensor,
    *,
    steps: int = 50,
    jump_length: int = 5,
    resamples: int = 10,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Lugmayr et al. 2022: inpainting with an unconditional diffusion model."""
    model.require("denoiser", "repaint")
    denoiser = model.denoiser()
    if degradation.mask is None:
        raise UserError("repaint solves inpainting only (--task inpaint); use dps or sdedit for other tasks")
    sampler = denoiser.make_sampler("ddpm", steps=steps)
    device = denoiser.device
    timesteps = sampler.timesteps.flip(0).tolist()  # ascending: position i is timestep timesteps[i]
    keep = degradation.mask.to(device)
    known = degradation.operator.to_image(y.to(device)) * 2 - 1  # in [-1, 1]; zero where unknown (masked out below)
    shape = (y.shape[0], *denoiser.image_shape)
    x = gaussian_noise(shape, generator, device)
    path = repaint_schedule(len(timesteps), jump_length, resamples)
    with torch.no_grad():
        for here, there in zip(path[:-1], path[1:]):
            t = timesteps[here]
            if there < here:  # one reverse step, then the known pixels at the new level
                output, _ = denoiser.predict(x, t)
                unknown = sampler.step(output, t, x, generator=generator)
                if there >= 0:
                    abar = denoiser.alpha_bar(timesteps[there], x).view(-1, 1, 1, 1)
                    known_t = abar.sqrt() * known + (1 - abar).sqrt() * gaussian_noise(shape, generator, device)
                else:
                    known_t = known
                x = keep * known_t + (1 - keep) * unknown
            else:  # jump back: noise one step forward, q(x_t' | x_t)
                ratio = (denoiser.alpha_bar(timesteps[there], x) / denoiser.alpha_bar(t, x)).view(-1, 1, 1, 1)
                x = ratio.sqrt() * x + (1 - ratio).sqrt() * gaussian_noise(shape, generator, device)
    return ((x + 1) / 2).clamp(0, 1)


def solve_repaint(
    model: GenerativeModel,
    degradation: Degradation,
    y: torch.Tensor,
    options: SolverOptions,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One RePaint draw with the knobs of ``options``."""
    return repaint(
        model,
        degradation,
        y,
        steps=options.steps or options.repaint_steps,
        jump_length=options.jump_length,
        resamples=options.resamples,
        generator=generator,
    )
