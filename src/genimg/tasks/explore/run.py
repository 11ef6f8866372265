"""``explore(run, ...)``: the views of a run directory's kept model, on its test split, into
RUN/explore/; what ``genimg explore`` calls.

Read top to bottom: what a user can choose (``ExploreOptions``, shared by the views it runs);
one runner per view, which runs the view on the run's test split with those options, writes its
figure into the output directory and logs one line (``RUNNERS``); and ``explore`` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genimg.errors import UserError
from genimg.io import write_json
from genimg.models.latent_space import LatentSpace
from genimg.runs.directory import RunDir
from genimg.runs.loading import load_model
from genimg.tasks.explore.interpolation import METHODS, interpolation
from genimg.tasks.explore.manifold import manifold
from genimg.tasks.explore.picks import ImagePicker
from genimg.tasks.explore.reconstructions import reconstructions
from genimg.tasks.explore.scatter import scatter
from genimg.tasks.explore.space import latent_space
from genimg.tasks.explore.traversal import traversal
from genimg.tasks.explore.views import VIEWS, require_view, supported_views

BETWEEN = ("auto", "images", "seeds")  # what interpolation paths join; auto: images when the model has an encoder


@dataclass
class ExploreOptions:
    """What ``explore`` (and ``genimg explore``) lets a user choose, shared by the views it runs."""

    # recon: images (16); interp: pairs (6); manifold: grid side (15); traverse: coordinates; scatter: test images
    n: int | None = None
    steps: int | None = None  # interp: points on each path (10); traverse: offsets per coordinate (9)
    method: str = "both"  # interp: linear, slerp or both
    seed: int = 0
    label: int | None = None  # class for conditional models (manifold, traverse, interp between draws)
    index: int = 0  # traverse: the test image whose code is traversed
    between: str = "auto"  # interp: images, seeds, or auto (images when the model has an encoder)
    ddim_steps: int = 50  # diffusion: steps of the DDIM encoder and decoder

    def check(self) -> None:
        """Refuse, in the command line's words, a choice no view can take."""
        if self.method not in (*METHODS, "both"):
            raise UserError(f"--method must be linear, slerp or both, got '{self.method}'")
        if self.between not in BETWEEN:
            raise UserError(f"--between must be images, seeds or auto, got '{self.between}'")
        for name, value in (("--n", self.n), ("--steps", self.steps), ("--ddim-steps", self.ddim_steps)):
            if value is not None and value < 1:
                raise UserError(f"{name} must be at least 1, got {value}")
        if self.index < 0:
            raise UserError(f"--index must be a test image's position (0 or more), got {self.index}")

    def methods(self) -> tuple[str, ...]:
        """The interpolation paths to draw."""
        return METHODS if self.method == "both" else (self.method,)


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
        images=None if split is None else split.in_memory_images,
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
        images, labels = split.in_memory_images, split.labels
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


def explore(
    run: str | Path,
    what: str | Sequence[str] = "all",
    options: ExploreOptions | None = None,
    out: str | Path | None = None,
    ema: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run views on a run directory's kept model and its test split, writing PNGs into
    ``out`` (default RUN/explore/). ``what`` is a view, a list of views or "all" (every view the
    model serves; the others are skipped with a note). Returns {view: result}, with one entry per
    path method for interpolation (``interp_linear``, ``interp_slerp``)."""
    options = options or ExploreOptions()
    options.check()
    run_dir = RunDir.open(run)
    config = run_dir.config()
    model = load_model(run_dir.path, ema=ema)
    if options.label is not None:  # refused now, not after the test images are loaded
        model.check_labels(1, options.label)
    space = latent_space(model, options.ddim_steps)
    views = _views_to_run(space, what, log)
    out_dir = Path(out) if out is not None else run_dir.path / "explore"
    exploration = Exploration(space, options, ImagePicker(config.data, options.seed), out_dir, log)
    results: dict[str, Any] = {}
    for view in views:
        results.update(RUNNERS[view](exploration))
    return results


def _views_to_run(space: LatentSpace, what: str | Sequence[str], log: Callable[[str], None]) -> list[str]:
    """The views asked for, each refused unless the space serves it; "all" skips, with a note, those it does not."""
    views = [what] if isinstance(what, str) else list(what)
    if "all" not in views:
        for view in views:
            require_view(space, view)
        return views
    reasons = supported_views(space)
    for view in VIEWS:
        if reasons[view] is not None:
            log(f"skipping {view}: {reasons[view]}")
    return [view for view in VIEWS if reasons[view] is None]
