"""One runner per view: the view on a run's test split with the user's options, its figure in
the output directory and one line in the log. ``RUNNERS`` maps each view to its runner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genimg.errors import UserError
from genimg.io import write_json
from genimg.models.latent_space import LatentSpace
from genimg.tasks.explore.interpolation import interpolation
from genimg.tasks.explore.manifold import manifold
from genimg.tasks.explore.options import ExploreOptions
from genimg.tasks.explore.picks import ImagePicker
from genimg.tasks.explore.reconstructions import reconstructions
from genimg.tasks.explore.scatter import scatter
from genimg.tasks.explore.traversal import traversal


@dataclass(frozen=True)
class Exploration:
    """What every runner works with."""

    space: LatentSpace
    options: ExploreOptions
    test: ImagePicker
    out_dir: Path
    log: Callable[[str], None]


def run_recon(exploration: Exploration) -> dict[str, Any]:
    space, options, test, out_dir = exploration.space, exploration.options, exploration.test, exploration.out_dir
    idx = test.pick(options.n or 16)
    result = reconstructions(space, test.split.images[idx], test.split.labels[idx], out=out_dir / "recon.png")
    write_json(out_dir / "recon.json", result.summary())
    exploration.log(
        f"recon: mean MSE {float(result.mse.mean()):.4f}, mean SSIM {float(result.ssim.mean()):.3f} -> {result.path}"
    )
    return {"recon": result}


def run_interp(exploration: Exploration) -> dict[str, Any]:
    space, options, test, out_dir = exploration.space, exploration.options, exploration.test, exploration.out_dir
    between = options.between
    if between == "auto":
        between = "images" if space.can_encode else "seeds"
    if between == "images":
        ends: dict[str, Any] = test.pairs(options.n or 6, same_class=space.conditional)
    else:
        ends = {"pairs": options.n or 6, "labels": options.label}
    results = {}
    for method in options.methods():
        result = interpolation(
            space,
            steps=options.steps or 10,
            method=method,
            seed=options.seed,
            out=out_dir / f"interp_{method}.png",
            **ends,
        )
        results[f"interp_{method}"] = result
        exploration.log(f"interp ({method}, between {between}) -> {result.path}")
    return results


def run_manifold(exploration: Exploration) -> dict[str, Any]:
    space, options, test, out_dir = exploration.space, exploration.options, exploration.test, exploration.out_dir
    # A 2-D latent is spanned by the prior's quantiles; above that, by the encoded test set.
    split = test.split if space.dim != 2 else None
    result = manifold(
        space,
        n=options.n or 15,
        images=None if split is None else split.images,
        labels=None if split is None else split.labels,
        label=options.label,
        out=out_dir / "manifold.png",
    )
    exploration.log(f"manifold ({result.basis}, {result.images.shape[0]}x{result.images.shape[1]}) -> {result.path}")
    return {"manifold": result}


def run_traverse(exploration: Exploration) -> dict[str, Any]:
    space, options, test, out_dir = exploration.space, exploration.options, exploration.test, exploration.out_dir
    image = label = images = labels = None
    if space.can_encode:
        split = test.split
        if not 0 <= options.index < len(split):
            raise UserError(f"--index must lie in 0..{len(split) - 1} (a test image), got {options.index}")
        image, label = split.images[options.index], int(split.labels[options.index])
        images, labels = split.images, split.labels
        if options.label is not None and options.label != label:
            raise UserError(
                f"test image {options.index} has label {label}; drop --label or pick an image of that class"
            )
    else:
        label = options.label
    dims = None if options.n is None else min(options.n, space.dim)  # --n is shared by the views: cap it here
    result = traversal(
        space,
        image=image,
        label=label if space.conditional else None,
        dims=dims,
        steps=options.steps or 9,
        images=images,
        labels=labels,
        seed=options.seed,
        out=out_dir / "traverse.png",
    )
    exploration.log(f"traverse ({len(result.dims)} coordinates around a {result.source}) -> {result.path}")
    return {"traverse": result}


def run_scatter(exploration: Exploration) -> dict[str, Any]:
    space, options, test, out_dir = exploration.space, exploration.options, exploration.test, exploration.out_dir
    split = test.split
    idx = test.pick(options.n) if options.n else torch.arange(len(split))
    result = scatter(
        space,
        split.images[idx],
        split.labels[idx],
        seed=options.seed,
        class_names=split.class_names,
        out=out_dir / "scatter.png",
    )
    exploration.log(f"scatter ({', '.join(result.embeddings)} of {len(idx)} test images) -> {result.path}")
    return {"scatter": result}


RUNNERS: dict[str, Callable[[Exploration], dict[str, Any]]] = {
    "recon": run_recon,
    "interp": run_interp,
    "manifold": run_manifold,
    "traverse": run_traverse,
    "scatter": run_scatter,
}
