"""What the page leaves out for a group of runs because no run of a family can have it, said
once per group instead of as empty cells: reconstructions of models that do not reconstruct,
the likelihood of models without one, sample-quality scores of runs never evaluated.

Capabilities are read from what finished runs wrote (the trainer writes reconstructions.png
exactly for models that reconstruct; the evaluator measures a likelihood exactly for models
that have one), so the report needs neither torch nor the model classes.
"""

from __future__ import annotations

from genimg.experiments.report.collect import Group
from genimg.experiments.report.records import RunRecord


def _by_family(group: Group) -> dict[str, list[RunRecord]]:
    out: dict[str, list[RunRecord]] = {}
    for row in group.rows:
        for run in row.runs:
            out.setdefault(run.family, []).append(run)
    return out


def _names(families: list[str]) -> str:
    return ", ".join(families)


def omissions(group: Group) -> list[str]:
    """One plain-text reason per kind of figure or number left out for whole families."""
    families = {f: runs for f, runs in _by_family(group).items() if any(run.finished for run in runs)}
    notes = []
    no_reconstructions = sorted(
        f for f, runs in families.items() if not any((run.path / "reconstructions.png").exists() for run in runs)
    )
    if no_reconstructions:
        notes.append(
            f"reconstructions for {_names(no_reconstructions)}: these models do not reconstruct "
            "(the trainer draws reconstructions.png only for models with the reconstruct capability)"
        )
    evaluated = {f for f, runs in families.items() if any(run.evaluation.get("scores") for run in runs)}
    asked = ((group.sweep.evaluation or {}) if group.sweep is not None else {}).get("metrics")
    no_likelihood = sorted(f for f, runs in families.items() if not any("nll" in run.scores for run in runs))
    if no_likelihood:
        skipped = asked and "likelihood" not in asked
        reason = "the sweep's evaluation did not measure it" if skipped else "these models have no likelihood"
        notes.append(f"the test NLL bound for {_names(no_likelihood)}: {reason}")
    not_evaluated = sorted(set(families) - evaluated)
    if not_evaluated:
        notes.append(
            f"sample-quality scores (FID, KID, IS, precision/recall, class entropy) for {_names(not_evaluated)}: "
            "no run was evaluated (genimg evaluate RUN, then rebuild the report)"
        )
    return notes
