"""What the Draw page asks of a model: reconstruct a drawing, turn strokes into images (SDEdit),
fill in a masked region (the inpainting methods the model can run). Every solver is the
library's (``genimg.tasks.recover``: its ``sdedit`` and its method table); the studio adds none.

Each result is scored against the image the person sent, with MSE, PSNR and SSIM per image:
how faithful a reconstruction is, how far SDEdit strayed from the strokes (its realism /
faithfulness trade-off, Meng et al. 2022), how well an inpainting kept the known pixels and
the picture as a whole.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from genimg.errors import UserError
from genimg.evaluate.metrics.recovery_metrics import RecoveryMetrics
from genimg.studio.codec import image_to_pixels, png_data_url, png_data_urls
from genimg.studio.workspace import StudioRun
from genimg.tasks.recover.diffusion_solvers import sdedit
from genimg.tasks.recover.operators import Degradation, Mask
from genimg.tasks.recover.options import SolverOptions
from genimg.tasks.recover.run import METHODS, method_refusal, method_seed


def scores(results: torch.Tensor, reference: torch.Tensor) -> list[dict[str, float | None]]:
    """MSE, PSNR (dB; None when exact) and SSIM of each result against ``reference`` (1, C, H, W)."""
    metrics = RecoveryMetrics()
    metrics.update(results.float().cpu(), reference.float().cpu().expand_as(results))
    computed = metrics.compute()
    rows = []
    for i in range(results.shape[0]):
        psnr = float(computed["psnr"].per_image[i])
        rows.append(
            {
                "mse": round(float(computed["mse"].per_image[i]), 6),
                "psnr": round(psnr, 3) if math.isfinite(psnr) else None,
                "ssim": round(float(computed["ssim"].per_image[i]), 4),
            }
        )
    return rows


def _reply(images: torch.Tensor, reference: torch.Tensor, **extra: Any) -> dict[str, Any]:
    images = images.float().cpu().clamp(0, 1)
    return {
        "images": png_data_urls(images),
        "scores": scores(images, reference),
        "input": png_data_url(reference[0]),
        **extra,
    }


def reconstruct(run: StudioRun, image: torch.Tensor, label: int | None) -> dict[str, Any]:
    """The model's reconstruction of the drawing (capability ``reconstruct``)."""
    run.model.require("reconstruct", "reconstructing a drawing")
    with torch.inference_mode():
        result = run.model.reconstruct(image.to(run.model.device), run.labels(label, 1))
    return _reply(result, image)


def stroke_to_image(
    run: StudioRun, image: torch.Tensor, strength: float, samples: int, steps: int, seed: int
) -> dict[str, Any]:
    """``samples`` SDEdit draws from the strokes (Meng et al. 2022), side by side."""
    run.model.require("denoiser", "stroke -> image (SDEdit)")
    options = SolverOptions(strength=strength, steps=steps)  # checks both, in the CLI's words
    generator = torch.Generator().manual_seed(method_seed(seed, "sdedit"))
    result = sdedit(
        run.model, image.repeat(samples, 1, 1, 1), strength=options.strength, steps=steps, generator=generator
    )
    return _reply(result, image, strength=strength, steps=steps, seed=seed)


def inpaint(
    run: StudioRun, image: torch.Tensor, keep: torch.Tensor, method: str, samples: int, steps: int | None, seed: int
) -> dict[str, Any]:
    """Fill in the pixels where ``keep`` is 0 with one of the library's inpainting methods."""
    chosen = METHODS.get(method)
    if chosen is None or chosen.kind != "generative" or "inpaint" not in chosen.tasks:
        names = [m.name for m in METHODS.values() if m.kind == "generative" and "inpaint" in m.tasks]
        raise UserError(f"unknown inpainting method '{method}'; choose one of {', '.join(names)}")
    reason = method_refusal(chosen, run.model)
    if reason is not None:
        raise UserError(reason)
    degradation = Degradation(Mask(keep), 0.0)
    batch = image.repeat(samples, 1, 1, 1)
    y = degradation.measure(batch).to(run.model.device)
    generator = torch.Generator().manual_seed(method_seed(seed, method))
    result = chosen.solve(run.model, degradation, y, SolverOptions(steps=steps), generator)
    return _reply(result, image, method=method, missing=round(float(1 - keep.mean()), 4))


def test_image_reply(run: StudioRun, index: int | None, seed: int | None) -> dict[str, Any]:
    """A test image for the canvas: ``index``, or one drawn with ``seed``."""
    test = run.test
    if index is None:
        generator = torch.Generator().manual_seed(0 if seed is None else seed)
        index = int(torch.randint(len(test), (1,), generator=generator))
    if not 0 <= index < len(test):
        raise UserError(f"test image {index} does not exist; choose 0..{len(test) - 1}")
    image = test.images[index]
    return {
        "index": index,
        "label": int(test.labels[index]),
        "image": png_data_url(image),
        "pixels": image_to_pixels(image),
    }
