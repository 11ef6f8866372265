"""The homework answered on real data: the reports of a 3-parameter VAE sweep and a 3-parameter
DCGAN sweep on the 28x28 MNIST sample, two training seeds each, kept in docs/homework/ with the
CSV each report wrote beside it (the commands are in BENCHMARKS.md, "The homework on the MNIST
sample"). Every effect sentence of each page must be true of the numbers in its own CSV: the
direction, the two means, and "beyond the seed noise" only where the pooled t-test says so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from test_report_fixtures import check_effect_claims, effect_items

HOMEWORK = Path(__file__).resolve().parents[1] / "docs" / "homework"
SWEEPS = {
    "vae-mnist-sample": ["latent_dim", "prior", "beta"],
    "dcgan-mnist-sample": ["latent_dim", "translate", "g_features"],
}


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_every_effect_sentence_of_the_real_sweep_is_true_of_its_csv(name):
    page = (HOMEWORK / name / "report.html").read_text()
    counts = check_effect_claims(page, HOMEWORK / name / "report.csv")
    assert sum(counts.values()) >= 3 * 5, counts  # three parameters, several metrics each
    assert counts.get("unknown", 0) == 0, "two seeds per variant: the noise is known for every metric"
    family = name.split("-")[0]
    for parameter in SWEEPS[name]:  # one section per varied parameter
        assert f"<h3>{family}: {parameter}</h3>" in page
    assert len(effect_items(page)) == sum(counts.values())
