"""What the Explore page asks of a model: its latent map, decoded points and codes, interpolation
strips. Everything goes through ``genimg.tasks.explore`` (the latent space, its batched
calls, ``interpolation`` and the paths); this module only keeps the maps and shapes replies."""

from __future__ import annotations

import threading
from typing import Any

import torch

from genimg.errors import UserError
from genimg.studio.codec import png_data_url, png_data_urls
from genimg.studio.latent_map import LatentMap, compute_map
from genimg.studio.workspace import DEFAULT_DDIM_STEPS, StudioRun
from genimg.tasks.explore.interpolation import PATHS, interpolation
from genimg.tasks.explore.space import in_batches

MOST_SLIDERS = 32  # sliders shown at most; the most active coordinates first


class ExploreViews:
    """The maps computed so far, one per (run, DDIM steps), and the calls that use them."""

    def __init__(self) -> None:
        self._maps: dict[tuple[str, int], LatentMap] = {}
        self._lock = threading.Lock()

    def latent_map(self, run: StudioRun, steps: int | None) -> LatentMap:
        run.model.require("latent", "the Explore page")
        key = (run.id, self._steps(run, steps))
        with self._lock:
            if key not in self._maps:
                self._maps[key] = compute_map(run, key[1])
            return self._maps[key]

    @staticmethod
    def _steps(run: StudioRun, steps: int | None) -> int:
        """The DDIM step count of a denoiser's latent; other latents take none (one key for all)."""
        if not run.model.has("denoiser"):
            return 0
        return DEFAULT_DDIM_STEPS if steps is None else steps

    def map_reply(self, run: StudioRun, steps: int | None) -> dict[str, Any]:
        latent = self.latent_map(run, steps)
        reply = latent.to_json(run.class_names() if latent.indices else _names(run))
        reply["sliders"] = self._slider_dims(latent)
        return reply

    def _slider_dims(self, latent: LatentMap) -> list[int]:
        """The coordinates to put on sliders (none when one coordinate means nothing alone)."""
        space = latent.space
        if not space.per_dimension:  # as genimg explore's traversals: see tasks/explore/views.py
            return []
        activity = latent.activity
        if activity is None:
            return list(range(min(space.dim, MOST_SLIDERS)))
        order = sorted(range(space.dim), key=lambda d: -activity[d])
        return order[:MOST_SLIDERS]

    @torch.inference_mode()
    def decode(
        self,
        run: StudioRun,
        steps: int | None,
        label: int | None,
        point: list[float] | None = None,
        code: list[float] | None = None,
    ) -> dict[str, Any]:
        """Decode a point of the map, or a whole code (the sliders); reply with the image and,
        where sliders are offered, the code."""
        latent = self.latent_map(run, steps)
        if (point is None) == (code is None):
            raise UserError("give either a point of the map or a code, not both")
        if point is not None:
            z = latent.code_at(point[0], point[1])
        else:
            assert code is not None  # exactly one of the two (checked above)
            if len(code) != latent.space.dim:
                raise UserError(f"a code of this model has {latent.space.dim} numbers, got {len(code)}")
            z = torch.tensor(code, dtype=torch.float32)
        image = latent.space.decode(z[None], run.labels(label, 1))[0].float().cpu()
        reply: dict[str, Any] = {"image": png_data_url(image)}
        if self._slider_dims(latent):
            reply["code"] = [round(float(c), 5) for c in z]
        return reply

    def interpolate(
        self,
        run: StudioRun,
        steps: int | None,
        label: int | None,
        method: str,
        frames: int,
        images: list[int] | None = None,
        points: list[list[float]] | None = None,
    ) -> dict[str, Any]:
        """An interpolation strip between two test images (through ``genimg.tasks.explore``'s
        ``interpolation``, so its end frames are the images' reconstructions) or, without an
        encoder, between two points of the map."""
        latent = self.latent_map(run, steps)
        space = latent.space
        if (images is None) == (points is None):
            raise UserError("give two test images or two points of the map to interpolate between")
        if method not in PATHS:
            raise UserError(f"unknown interpolation method '{method}'; choose linear or slerp")
        if images is not None:
            test = run.test
            for index in images:
                if not 0 <= index < len(test):
                    raise UserError(f"test image {index} does not exist; choose 0..{len(test) - 1}")
            start, end = test.images[images[0]][None], test.images[images[1]][None]
            labels = run.labels(label if label is not None else int(test.labels[images[0]]), 1)
            with torch.inference_mode():
                result = interpolation(space, start=start, end=end, labels=labels, steps=frames, method=method)
            strip = result.images[0]
            ends = [png_data_url(start[0]), png_data_url(end[0])]
        else:
            assert points is not None  # exactly one of the two (checked above)
            a, b = (latent.code_at(*p)[None] for p in points)
            t = torch.linspace(0, 1, frames, dtype=torch.float64)
            codes = PATHS[method](a, b, t)[0]
            y = run.labels(label, frames)
            with torch.inference_mode():
                strip = in_batches(space.decode, codes, y).float().cpu()
            ends = []
        return {
            "frames": png_data_urls(strip),
            "ends": ends,
            "t": [round(float(x), 4) for x in torch.linspace(0, 1, frames)],
        }


def _names(run: StudioRun) -> list[str]:
    return [str(k) for k in range(run.model.spec.num_classes)]
