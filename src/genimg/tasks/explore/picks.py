"""The test images the views of a run are drawn from: the split loaded once, picked with the seed."""

from __future__ import annotations

from functools import cached_property

import torch

from genimg.config.run_config import DataConfig
from genimg.data.dataset import ImageDataset
from genimg.data.registry import load_split
from genimg.errors import UserError


class ImagePicker:
    """Picks from a run's test split, loaded on first use: views of prior draws alone never need it."""

    def __init__(self, data: DataConfig, seed: int) -> None:
        self.data = data
        self.seed = seed

    @cached_property
    def split(self) -> ImageDataset:
        return load_split(self.data, "test")

    def pick(self, count: int) -> torch.Tensor:
        """``count`` distinct test indices (all of them, if there are fewer) drawn with the seed."""
        total = len(self.split)
        return torch.randperm(total, generator=torch.Generator().manual_seed(self.seed))[: min(count, total)]

    def pairs(self, count: int, same_class: bool) -> dict[str, torch.Tensor]:
        """Start and end images for interpolation, as ``interpolation``'s keyword arguments. A
        conditional model decodes a row with one label, so both ends of each row are then of one
        class, and the labels come along."""
        test = self.split
        generator = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(len(test), generator=generator)
        if len(test) < 2:
            raise UserError("interpolating between test images needs at least 2 of them")
        starts, ends = [], []
        if not same_class:
            count = min(count, len(test) // 2)
            starts, ends = order[:count].tolist(), order[count : 2 * count].tolist()
        else:
            for i in order.tolist():
                partners = (test.labels == test.labels[i]).nonzero().flatten()
                partners = partners[partners != i]
                if len(partners):
                    starts.append(i)
                    ends.append(int(partners[torch.randint(len(partners), (1,), generator=generator)]))
                if len(starts) == count:
                    break
            if not starts:
                raise UserError("no two test images share a class; interpolate between seeds instead (--between seeds)")
        s, e = torch.tensor(starts), torch.tensor(ends)
        chosen = {"start": test.images[s], "end": test.images[e]}
        if same_class:
            chosen["labels"] = test.labels[s]
        return chosen
