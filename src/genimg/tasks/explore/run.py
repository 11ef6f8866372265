"""``explore(run, ...)``: the views of a run directory's kept model, on its test split, into
RUN/explore/; what ``genimg explore`` calls."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from genimg.models.latent_space import LatentSpace
from genimg.runs.directory import RunDir
from genimg.runs.loading import load_model
from genimg.tasks.explore.options import ExploreOptions
from genimg.tasks.explore.picks import ImagePicker
from genimg.tasks.explore.runners import RUNNERS, Exploration
from genimg.tasks.explore.space import latent_space
from genimg.tasks.explore.views import VIEWS, require_view, supported_views


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
