"""A split's images left on disk: rows of a memory-mapped uint8 array, made float32 when read.

``MappedImages`` stands where an ``ImageDataset`` holds its float32 tensor when a split is too
large to hold as float32 (``data.max_memory_gb``): 200k 64x64 RGB faces are 9.8 GB as float32
and 2.5 GB as uint8 on disk. It answers what the loop and the evaluation ask of an image tensor
(``shape``, ``len``, slices and index tensors), each read giving float32 images in [0, 1] that
are bit-identical to those the in-memory path holds (``uint8 / 255``, then the binarisation
threshold, then the channels-last layout, in the order the in-memory path applies them). The
training loop reads raw uint8 rows (``uint8``) in DataLoader workers and converts them on the
device (``convert``): a quarter of the bytes to copy, and the conversion where it is cheapest.

It pickles as its file's path, offset and row index, and maps the file again in the process
that unpickles it (a DataLoader worker started by spawn), so the pages are never copied.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class MappedImages:
    """Rows ``rows`` of the uint8 (N, C, H, W) array stored at ``offset`` in the file ``path``."""

    def __init__(
        self,
        path: str,
        offset: int,
        file_shape: tuple[int, ...],
        rows: np.ndarray | None = None,
        threshold: float | None = None,
        channels_last: bool = False,
    ) -> None:
        self.path = str(path)
        self.offset = int(offset)
        self.file_shape = tuple(int(d) for d in file_shape)
        self.rows = np.arange(self.file_shape[0], dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
        self.threshold = threshold
        self.channels_last_layout = channels_last
        self._array: np.ndarray | None = None

    @classmethod
    def of(cls, array: np.memmap, rows: np.ndarray | None = None) -> MappedImages:
        """Rows of an array that ``np.memmap`` mapped from a file (that mapping is used, not a new one)."""
        assert array.filename is not None  # a memmap of a file, as np.memmap makes it
        view = cls(array.filename, array.offset, array.shape, rows)
        view._array = array
        return view

    # --- what callers ask of an image tensor ---------------------------------------------------
    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.rows), *self.file_shape[1:]))

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32  # what a read gives

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    @property
    def ndim(self) -> int:
        return len(self.file_shape)

    def dim(self) -> int:
        return self.ndim

    def __len__(self) -> int:
        return len(self.rows)

    def numel(self) -> int:
        return self.shape.numel()

    def __getitem__(self, index: Any) -> torch.Tensor:
        """float32 images in [0, 1] on the CPU: those rows read from the file and converted."""
        images = self.convert(self.uint8(index))
        return images[0] if np.ndim(self._positions(index)) == 0 and not isinstance(index, slice) else images

    # --- reading and converting ----------------------------------------------------------------
    def uint8(self, index: Any) -> torch.Tensor:
        """The raw uint8 rows at ``index`` (an int, slice, index or boolean tensor or array), NCHW."""
        rows = self._select(index)
        array = self._mapped()
        # Read in file order (sequential pages, each touched once), then put back in the asked order.
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), *self.file_shape[1:]), np.uint8)
        out[order] = array[rows[order]]
        return torch.from_numpy(out)

    def convert(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 rows (on any device) as the float32 images the in-memory path holds."""
        images = pixels.float().div_(255.0)
        if self.threshold is not None:
            images = (images > self.threshold).float()
        if self.channels_last_layout:
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def materialize(self) -> torch.Tensor:
        """Every row as one float32 tensor: for a split small enough to hold in memory."""
        return self[:]

    # --- views -----------------------------------------------------------------------------------
    def subset(self, index: Any) -> MappedImages:
        return self._with(rows=self.rows[self._positions(index)])

    def binarized(self, threshold: float) -> MappedImages:
        return self._with(threshold=threshold)

    def in_channels_last(self) -> MappedImages:
        return self._with(channels_last=True)

    def _with(self, **changes: Any) -> MappedImages:
        values: dict[str, Any] = {
            "rows": self.rows,
            "threshold": self.threshold,
            "channels_last": self.channels_last_layout,
        }
        values.update(changes)
        view = MappedImages(self.path, self.offset, self.file_shape, **values)
        view._array = self._array  # the same mapping; no second one
        return view

    def _select(self, index: Any) -> np.ndarray:
        return np.atleast_1d(self.rows[self._positions(index)])

    def _positions(self, index: Any) -> Any:
        if isinstance(index, torch.Tensor):
            return index.cpu().numpy()
        return index

    def _mapped(self) -> np.ndarray:
        if self._array is None:
            self._array = np.memmap(self.path, dtype=np.uint8, mode="r", offset=self.offset, shape=self.file_shape)
        return self._array

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None}  # mapped again where unpickled, never copied

    def __repr__(self) -> str:
        return f"MappedImages({tuple(self.shape)}, uint8 file {self.path})"
