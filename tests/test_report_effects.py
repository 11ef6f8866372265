"""The report's answer to the homework: per swept parameter, each metric against the parameter's
values and a sentence on the effect's direction and size, tested against the seed noise.

The claims are checked against the report's own CSV (recomputed there from its means, stds
and counts, with scipy's t distribution), never against the code that wrote them.
"""

from __future__ import annotations

import re

import pytest
from scipy import stats

from genimg.experiments.report import build_report
from genimg.experiments.report.effects import pooled_noise, t_test
from genimg.experiments.report.table import Cell
from test_report_fixtures import check_effect_claims, effect_items, fake_sweep, noisy_scores

PARAMETERS = {"latent_dim": [2, 16, 32], "beta": [0.5, 1, 4]}


def test_the_pooled_test_of_two_settings_is_students_t_test():
    a, b = [1.0, 1.3, 0.8, 1.1], [1.6, 1.4, 1.9]
    cells = [Cell.of(a), Cell.of(b)]
    t, p, verdict = t_test(cells[0], cells[1], pooled_noise(cells))
    reference = stats.ttest_ind(b, a, equal_var=True)
    assert t == pytest.approx(reference.statistic) and p == pytest.approx(reference.pvalue)
    assert verdict == ("beyond" if reference.pvalue < 0.05 else "within")
    # more variants only add degrees of freedom to the pooled sd
    noise = pooled_noise([*cells, Cell.of([5.0, 5.2]), Cell.of([9.0])])
    assert noise.df == 3 + 2 + 1
    assert t_test(Cell.of([2.0]), Cell.of([3.0]), pooled_noise([Cell.of([2.0]), Cell.of([3.0])]))[2] == "unknown"


def test_every_effect_claim_is_true_of_the_reports_own_csv(tmp_path):
    sweep, _ = fake_sweep(tmp_path / "s", PARAMETERS, seeds=3, scores_of=noisy_scores)
    out = build_report([sweep.path])
    page = out.read_text()
    counts = check_effect_claims(page, out.with_suffix(".csv"))
    assert counts.get("beyond", 0) >= 5 and counts.get("within", 0) >= 3, counts  # the check is not vacuous
    items = effect_items(page)
    columns = [data["column"] for data, _ in items[: len(items) // 2]]
    assert columns == [
        "test NLL bound (bits/dim)",
        "FID/floor",
        "KID",
        "IS",
        "IS sharpness S",
        "IS diversity D",
        "precision",
        "recall",
        "class entropy (nats)",
        "train CPU (min)",
    ]
    assert (
        f"pooled over all {len(sweep.groups())} variants" in page
        and "t-test" in page
        and "could pass by chance" in page
    )
    # one section per parameter: a figure, then the sentences, then the samples in the plot's order
    for key, values in PARAMETERS.items():
        section = re.search(rf"<h3>s: {key}</h3>(.*?)</section>", page, flags=re.S).group(1)
        assert section.index('alt="metrics against') < section.index('class="effects"') < section.index("samples")
        captions = re.findall(rf"<figcaption>{key}=([^:]+): samples", section)
        assert [float(c) for c in captions] == sorted(values)


def test_one_seed_says_the_noise_is_unknown_and_shows_the_sampling_spread(tmp_path):
    sweep, _ = fake_sweep(tmp_path / "s", PARAMETERS, scores_of=noisy_scores)
    out = build_report([sweep.path])
    page = out.read_text()
    counts = check_effect_claims(page, out.with_suffix(".csv"))
    assert set(counts) <= {"unknown", "unchanged"} and counts["unknown"] >= 10
    fid = next(text for data, text in effect_items(page) if data["column"] == "FID/floor")
    # the evaluator's sd over its sampling seeds (0.01 in FID, 0.02 in units of the floor's 0.5)
    assert "seed noise unknown" in fid and "sampling seeds, a lower bound on the noise, was 0.02 and 0.02" in fid
    assert "no test is made" in page and "--seeds 2" in page


def test_figures_a_family_cannot_have_are_left_out_and_said_once(tmp_path):
    sweep, _ = fake_sweep(tmp_path / "g", {"latent_dim": [8, 64], "lr_g": [1e-4, 2e-4]}, family="dcgan", capable=False)
    page = build_report([sweep.path]).read_text()
    assert 'class="none"' not in page and "reconstructions</figcaption>" not in page
    assert page.count("Left out, said here once") == 1
    assert "reconstructions for dcgan: these models do not reconstruct" in page
    assert "the test NLL bound for dcgan: these models have no likelihood" in page
    assert "test NLL bound" not in {data["column"] for data, _ in effect_items(page)}
    assert "bits/dim" not in page.split('id="metrics"')[1].split("</table>")[0]  # nor an empty table column


def test_runs_compared_without_a_sweep_leave_out_what_a_family_cannot_have(tmp_path):
    vae, _ = fake_sweep(tmp_path / "v", {"latent_dim": [2, 16]})
    gan, _ = fake_sweep(tmp_path / "g", {"latent_dim": [8, 64]}, family="dcgan", capable=False)
    runs = [vae.run_dir(vae.variants[0]), gan.run_dir(gan.variants[0])]
    page = build_report(runs, tmp_path / "cmp.html").read_text()
    assert 'class="none"' not in page
    assert page.count("reconstructions</figcaption>") == 1  # the VAE's only
    assert "Left out: reconstructions for dcgan" in page and "test NLL bound for dcgan" in page
