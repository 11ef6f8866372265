"""The ``traverse`` view: one latent coordinate per row, moved around one code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from matplotlib.figure import Figure

from genimg.errors import UserError
from genimg.models.base import GenerativeModel
from genimg.models.latent_space import LatentSpace
from genimg.tasks.explore.figures import class_note, pixel_scale, space_title, tile, tiled_figure, with_figure
from genimg.tasks.explore.space import check_images, check_label, in_batches, latent_space
from genimg.tasks.explore.views import require_view

MOST_DIMS = 10  # coordinates shown when the caller does not choose them


@dataclass
class Traversal:
    dims: list[int]  # the coordinate varied in each row
    offsets: torch.Tensor  # (S,) added to that coordinate, in prior standard deviations
    base: torch.Tensor  # (D,) the code traversed around
    codes: torch.Tensor  # (R, S, D)
    images: torch.Tensor  # (R, S, C, H, W)
    # (D,) variance of the codes over the test set per coordinate (Burda et al.'s active units)
    activity: torch.Tensor | None
    source: str  # what the base code is: a test image or a prior draw
    source_image: torch.Tensor | None = None
    path: Path | None = None


@torch.inference_mode()
def traversal(
    model: GenerativeModel | LatentSpace,
    *,
    image: torch.Tensor | None = None,
    label: int | None = None,
    dims: int | Sequence[int] | None = None,
    steps: int = 9,
    span: float = 2.0,
    images: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    seed: int = 0,
    out: str | Path | None = None,
) -> Traversal:
    """Vary one coordinate at a time around a code: rows are coordinates, columns add
    ``steps`` offsets from -``span`` to +``span`` prior standard deviations to that coordinate.

    The code is that of ``image`` (C, H, W) for a model with an encoder, else a prior draw from
    ``seed``. ``dims`` is a list of coordinates, or how many to show; with test ``images`` an
    encoder ranks the coordinates by the variance of their codes over the test set (Burda et
    al.'s activity: near 0 for a coordinate the encoder ignores), most active first.
    """
    space = latent_space(model)
    require_view(space, "traverse")
    if steps < 2:
        raise UserError(f"a traversal needs at least 2 steps, got {steps}")
    if span <= 0:
        raise UserError(f"span must be positive, got {span}")
    check_label(space, label)
    activity = None
    if images is not None and space.can_encode:
        check_images(images, space)
        encoded = in_batches(space.encode, images, space.labels_for(labels, images.shape[0]))
        activity = encoded.double().var(0, unbiased=False).cpu()
    dim_list = _dims_to_traverse(space, dims, activity)
    generator = torch.Generator().manual_seed(seed)
    y1 = None
    if space.conditional:
        if label is None:
            label = int(torch.randint(0, space.model.spec.num_classes, (1,), generator=generator))
        y1 = space.labels_for(label, 1)
    if image is not None and space.can_encode:
        base = space.encode(check_images(image[None], space), y1)[0].cpu()
        source = "test image"
    elif image is not None:
        raise UserError(
            f"a {space.model.family} has no encoder to find a test image's code; traverse around a seed instead"
        )
    else:
        base = space.prior(1, generator)[0].cpu()
        source = f"prior draw (seed {seed})"
    offsets = torch.linspace(-span, span, steps)
    codes = base.repeat(len(dim_list), steps, 1)
    for row, d in enumerate(dim_list):
        codes[row, :, d] = base[d] + offsets
    y = None if y1 is None else y1.expand(len(dim_list) * steps)
    decoded = in_batches(space.decode, codes.reshape(-1, space.dim), y).float().cpu()
    result = Traversal(
        dim_list,
        offsets,
        base,
        codes,
        decoded.reshape(len(dim_list), steps, *decoded.shape[1:]),
        activity,
        source,
        None if image is None else image.cpu().float(),
    )
    return with_figure(result, out, lambda r: draw_traversal(r, space, class_note(y1)))


def _dims_to_traverse(space: LatentSpace, dims: int | Sequence[int] | None, activity: torch.Tensor | None) -> list[int]:
    """The coordinates named, or the ``dims`` first (most active first, when the activity is known)."""
    if dims is None or isinstance(dims, int):
        count = min(space.dim, MOST_DIMS) if dims is None else dims
        if not 1 <= count <= space.dim:
            raise UserError(f"the number of coordinates to traverse must lie in 1..{space.dim}, got {count}")
        order = torch.argsort(activity, descending=True) if activity is not None else torch.arange(space.dim)
        return [int(d) for d in order[:count]]
    dim_list = [int(d) for d in dims]
    if not dim_list or any(not 0 <= d < space.dim for d in dim_list):
        raise UserError(f"coordinates to traverse must lie in 0..{space.dim - 1}, got {dim_list}")
    return dim_list


def draw_traversal(result: Traversal, space: LatentSpace, note: str = "") -> Figure:
    """One coordinate per row, offsets growing to the right, the source image (if any) on the left."""
    rows = result.images.shape[0]
    scale = pixel_scale(result.images.shape[-2])
    has_source = result.source_image is not None
    cells = []
    for r in range(rows):
        row = list(result.images[r])
        if has_source:
            row = [result.source_image if r == 0 else None, *row]
        cells.append(row)
    tiling = tile(cells, col_gaps={0: 3} if has_source else None)
    figure, ax = tiled_figure(tiling.array, scale, left=1.9, top=0.9, bottom=0.8)
    offsets = [f"{float(o):+.2g}" for o in result.offsets]
    ax.set_xticks(tiling.x_centres, (["input"] if has_source else []) + offsets, fontsize=8)
    ax.set_xlabel("offset added to the row's coordinate (prior std)", fontsize=9)
    names = [
        f"z{d + 1}" + (f" (var {float(result.activity[d]):.2f})" if result.activity is not None else "")
        for d in result.dims
    ]
    ax.set_yticks(tiling.y_centres, names, fontsize=8)
    legend = (
        "\nvar: variance of the coordinate's code over the test set (near 0: a coordinate the encoder ignores)"
        if result.activity is not None
        else ""
    )
    ax.set_title(
        f"Traversals around a {result.source}: one coordinate per row\n{space_title(space)}{note}{legend}", fontsize=10
    )
    return figure
