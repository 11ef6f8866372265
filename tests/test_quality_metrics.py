"""Sample-quality metrics (IS, FID, KID, precision/recall) against references on the same inputs.

torchmetrics' FID/KID/IS classes are given an identity "feature extractor", so the
"images" they see are the very feature vectors (or logits) our functions get.
"""

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

import genimg.evaluate.metrics.fid as fid_module
import genimg.evaluate.metrics.precision_recall as precision_recall_module
from genimg.errors import UserError
from genimg.evaluate.metrics.fid import FID, GaussianStats, fid, frechet_distance, gaussian_stats
from genimg.evaluate.metrics.inception_score import InceptionScore, inception_score, split_assignment
from genimg.evaluate.metrics.kid import KID, kid
from genimg.evaluate.metrics.precision_recall import PrecisionRecall, precision_recall

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.inception import InceptionScore as TorchmetricsInceptionScore
    from torchmetrics.image.kid import KernelInceptionDistance

pytestmark = [
    pytest.mark.filterwarnings("ignore:Metric `.*` will save all extracted features:UserWarning"),
    pytest.mark.filterwarnings("ignore:std... degrees of freedom:UserWarning"),  # torchmetrics' IS with one split
]


class Identity(nn.Module):
    """A feature extractor for torchmetrics that returns its input: the inputs are features already."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features  # read by FrechetInceptionDistance instead of probing with an image

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _features(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    """Non-negative, correlated features, like pooled CNN activations (float32)."""
    generator = torch.Generator().manual_seed(seed)
    latent = torch.randn(n, max(d // 2, 1), generator=generator)
    mixing = torch.randn(max(d // 2, 1), d, generator=torch.Generator().manual_seed(1000 + d)) / d**0.5
    return torch.relu(latent @ mixing + shift + 0.1 * torch.randn(n, d, generator=generator))


def _probabilities(n: int, k: int, seed: int, sharpness: float = 3.0) -> torch.Tensor:
    logits = sharpness * torch.randn(n, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return logits.softmax(dim=1)


# ---------------------------------------------------------------------------- Inception Score


def _numpy_inception_score(probs: np.ndarray, split_of_sample: np.ndarray, splits: int):
    """exp(E KL(p(y|x) || p(y))) per split, straight from the definition."""
    scores, sharpness, diversity = [], [], []
    for j in range(splits):
        part = probs[split_of_sample == j]
        marginal = part.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * (np.log(part) - np.log(marginal)), 0.0).sum(axis=1)
            neg_entropy = np.where(part > 0, part * np.log(part), 0.0).sum(axis=1)
        scores.append(np.exp(kl.mean()))
        sharpness.append(np.exp(neg_entropy.mean()))
        diversity.append(np.exp(-(marginal * np.log(marginal)).sum()))
    return np.array(scores), np.array(sharpness), np.array(diversity)


@pytest.mark.parametrize("n,k,splits", [(1000, 10, 10), (257, 10, 10), (600, 1000, 3), (50, 7, 1)])
def test_inception_score_equals_exp_expected_kl(n, k, splits):
    probs = _probabilities(n, k, seed=n + k)
    result = inception_score(probs, splits=splits, seed=3)
    scores, sharpness, diversity = _numpy_inception_score(
        probs.numpy(), split_assignment(n, splits, seed=3).numpy(), splits
    )
    np.testing.assert_allclose(result.per_split, scores, rtol=1e-12)
    assert result.mean == pytest.approx(scores.mean(), rel=1e-12)
    assert result.std == pytest.approx(scores.std(), rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(result.sharpness_per_split, sharpness, rtol=1e-12)
    np.testing.assert_allclose(result.diversity_per_split, diversity, rtol=1e-12)
    np.testing.assert_allclose(
        np.array(result.sharpness_per_split) * np.array(result.diversity_per_split), result.per_split, rtol=1e-12
    )
    assert result.sharpness == pytest.approx(sharpness.mean()) and result.diversity == pytest.approx(diversity.mean())
    assert 1 / k <= result.sharpness <= 1 and 1 <= result.diversity <= k
    assert result.num_samples == n and result.splits == splits


def test_inception_score_matches_torchmetrics_with_one_split():
    # torchmetrics shuffles before splitting; with one split the order cannot matter.
    logits = 3 * torch.randn(500, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    reference = TorchmetricsInceptionScore(feature=Identity(10), splits=1)
    reference.update(logits)
    reference_mean, _ = reference.compute()
    assert inception_score(logits.softmax(dim=1), splits=1).mean == pytest.approx(float(reference_mean), rel=1e-10)


def test_split_assignment_is_balanced_random_and_independent_of_batching():
    assignment = split_assignment(1005, splits=10, seed=0)
    assert sorted(torch.bincount(assignment).tolist()) == [100] * 5 + [101] * 5
    for block in assignment[:1000].reshape(100, 10):
        assert sorted(block.tolist()) == list(range(10))  # each run of 10 is dealt to all 10 splits
    assert not torch.equal(assignment[:10], assignment[10:20])  # in a fresh order each time
    probs = _probabilities(1005, 10, seed=1)
    metric = InceptionScore(splits=10, seed=0)
    start = 0
    for size in (3, 500, 1, 17, 484):  # ragged batches, 1005 samples in all
        metric.update(fake=probs[start : start + size])
        start += size
    assert metric.compute() == inception_score(probs, splits=10, seed=0)


@pytest.mark.parametrize("order", ["cyclic", "sorted"])
def test_inception_score_is_not_fooled_by_class_ordered_batches(order):
    # Class-conditional sampling often yields labels 0,1,...,9,0,1,... or 0,0,...,1,1,...
    labels = torch.arange(10).repeat(500) if order == "cyclic" else torch.arange(10).repeat_interleave(500)
    one_hot = torch.nn.functional.one_hot(labels, 10).double()
    result = inception_score(one_hot, splits=10)
    assert result.mean > 9.5  # each split still sees about every class equally often


def test_inception_score_extremes():
    one_hot = torch.eye(10, dtype=torch.float64).repeat(100, 1)  # every class equally often, fully confident
    result = inception_score(one_hot, splits=1)
    assert (
        result.mean == pytest.approx(10.0)
        and result.sharpness == pytest.approx(1.0)
        and result.diversity == pytest.approx(10.0)
    )
    uniform = torch.full((300, 10), 0.1, dtype=torch.float64)  # no sharpness: IS = 1
    assert inception_score(uniform, splits=3).mean == pytest.approx(1.0)
    collapsed = torch.zeros(200, 10, dtype=torch.float64)
    collapsed[:, 3] = 1  # sharp but one class only: no diversity
    result = inception_score(collapsed, splits=4)
    assert result.mean == pytest.approx(1.0) and result.diversity == pytest.approx(1.0) and result.std == 0.0


def test_inception_score_streaming_equals_one_shot_and_scores_real_separately():
    probs = _probabilities(1003, 10, seed=5)
    metric = InceptionScore(splits=10)
    for start in range(0, 1003, 97):
        metric.update(fake=probs[start : start + 97])
    metric.update(real=_probabilities(100, 10, seed=6, sharpness=10))
    assert metric.compute() == inception_score(probs, splits=10)
    assert metric.compute(side="real").mean == pytest.approx(
        inception_score(_probabilities(100, 10, seed=6, sharpness=10)).mean
    )
    metric.reset()
    with pytest.raises(UserError, match="update"):
        metric.compute()


def test_inception_score_rejects_logits_and_too_few_samples():
    with pytest.raises(UserError, match="softmax"):
        inception_score(torch.randn(100, 10))
    with pytest.raises(UserError, match="splits"):
        inception_score(_probabilities(5, 10, seed=0), splits=10)


# ---------------------------------------------------------------------------- Fréchet distance


def _pytorch_fid_frechet(mu1, sigma1, mu2, sigma2, eps=1e-6) -> float:
    """pytorch-fid's calculate_frechet_distance (scipy sqrtm), as published."""
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        assert np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3)
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _torchmetrics_fid(real: torch.Tensor, fake: torch.Tensor, batch: int = 128) -> float:
    metric = FrechetInceptionDistance(feature=Identity(real.shape[1]))
    for start in range(0, real.shape[0], batch):
        metric.update(real[start : start + batch].double(), real=True)
    for start in range(0, fake.shape[0], batch):
        metric.update(fake[start : start + batch].double(), real=False)
    return float(metric.compute())


@pytest.mark.parametrize("n_real,n_fake,d,shift", [(1200, 1000, 64, 0.3), (3000, 2500, 256, 0.05), (600, 600, 16, 0.0)])
def test_fid_matches_torchmetrics(n_real, n_fake, d, shift):
    real, fake = _features(n_real, d, seed=1), _features(n_fake, d, seed=2, shift=shift)
    reference = _torchmetrics_fid(real, fake)
    assert fid(real, fake) == pytest.approx(reference, rel=1e-6)
    streamed = FID()
    for start in range(0, n_real, 333):
        streamed.update(real=real[start : start + 333])
    for start in range(0, n_fake, 250):
        streamed.update(fake=fake[start : start + 250])
    assert streamed.compute() == pytest.approx(reference, rel=1e-6)


def test_fid_of_features_with_a_large_mean_is_accurate():
    # A mean far from 0 is where E[x x^T] - mu mu^T loses digits; the centred update does not.
    real, fake = _features(2000, 32, seed=3) + 1000.0, _features(2000, 32, seed=4, shift=0.1) + 1000.0
    real64, fake64 = real.double(), fake.double()
    exact = _pytorch_fid_frechet(
        real64.mean(0).numpy(),
        np.cov(real64.numpy(), rowvar=False),
        fake64.mean(0).numpy(),
        np.cov(fake64.numpy(), rowvar=False),
    )
    streamed = FID()
    for start in range(0, 2000, 100):
        streamed.update(real=real64[start : start + 100], fake=fake64[start : start + 100])
    assert streamed.compute() == pytest.approx(exact, rel=1e-6)


@pytest.mark.parametrize("d", [8, 64, 160])
def test_frechet_distance_matches_scipy_sqrtm_reference(d):
    real, fake = _features(4 * d, d, seed=d), _features(5 * d, d, seed=d + 1, shift=0.2)
    a, b = gaussian_stats(real), gaussian_stats(fake)
    reference = _pytorch_fid_frechet(a.mu.numpy(), a.sigma.numpy(), b.mu.numpy(), b.sigma.numpy())
    assert frechet_distance(a.mu, a.sigma, b.mu, b.sigma) == pytest.approx(reference, rel=1e-9)
    assert frechet_distance(a.mu.numpy(), a.sigma.numpy(), b.mu.numpy(), b.sigma.numpy()) == pytest.approx(
        reference, rel=1e-9
    )


def test_frechet_distance_with_fewer_samples_than_dimensions():
    # N < d: both covariances are singular (rank N - 1), Cholesky fails, the eigh route runs.
    d = 64
    real, fake = _features(40, d, seed=7).double(), _features(30, d, seed=8, shift=0.3).double()
    a, b = gaussian_stats(real), gaussian_stats(fake)
    assert torch.linalg.cholesky_ex(a.sigma).info != 0 and torch.linalg.cholesky_ex(b.sigma).info != 0
    value = frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
    assert np.isfinite(value) and value >= 0
    reference = _pytorch_fid_frechet(a.mu.numpy(), a.sigma.numpy(), b.mu.numpy(), b.sigma.numpy())
    assert value == pytest.approx(reference, rel=1e-6)
    assert fid(real, fake) == pytest.approx(value, rel=1e-12)
    # the same statistics on both sides: exactly zero, never a small negative number
    assert frechet_distance(a.mu, a.sigma, a.mu, a.sigma) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(a.mu, a.sigma, a.mu, a.sigma) >= 0.0


def test_cholesky_and_eigh_routes_agree(monkeypatch):
    real, fake = _features(500, 50, seed=9), _features(400, 50, seed=10, shift=0.1)
    a, b = gaussian_stats(real), gaussian_stats(fake)
    by_cholesky = frechet_distance(a.mu, a.sigma, b.mu, b.sigma)

    def failing_cholesky(matrix):
        return torch.zeros_like(matrix), torch.tensor(1)

    monkeypatch.setattr(fid_module.torch.linalg, "cholesky_ex", failing_cholesky)
    assert frechet_distance(a.mu, a.sigma, b.mu, b.sigma) == pytest.approx(by_cholesky, rel=1e-10)


def test_triangular_block_product_equals_dense_product(monkeypatch):
    monkeypatch.setattr(fid_module, "_TRIANGULAR_BLOCK", 7)  # several ragged blocks
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(60, 30, generator=generator, dtype=torch.float64)
    sigma = x.T @ x
    lower = torch.linalg.cholesky(sigma + torch.eye(30, dtype=torch.float64))
    dense = lower.T @ sigma @ lower
    torch.testing.assert_close(torch.tril(fid_module._congruence_lower_triangle(sigma, lower)), torch.tril(dense))


def test_reference_stats_save_and_load(tmp_path):
    real, fake = _features(800, 32, seed=11), _features(700, 32, seed=12, shift=0.2)
    path = tmp_path / "real_stats.npz"
    cached = FID(extractor="digits-classifier")
    cached.update(real=real)
    cached.real_stats().save(path)

    loaded = GaussianStats.load(path)
    assert loaded.n == 800 and loaded.extractor == "digits-classifier"
    torch.testing.assert_close(loaded.sigma, gaussian_stats(real).sigma)

    metric = FID(extractor="digits-classifier")
    metric.load_real_stats(path)
    metric.update(fake=fake)
    assert metric.compute() == pytest.approx(fid(real, fake), rel=1e-12)
    metric.reset(keep_real=True)  # a new generated set against the same real statistics
    metric.update(fake=fake[:350])
    assert metric.compute() == pytest.approx(fid(real, fake[:350]), rel=1e-12)
    metric.reset()
    with pytest.raises(UserError, match="real"):
        metric.compute()

    with pytest.raises(UserError, match="extractor"):
        FID(extractor="inception-v3").load_real_stats(path)
    (tmp_path / "junk.npz").write_bytes(b"not an npz")
    with pytest.raises(UserError):
        GaussianStats.load(tmp_path / "junk.npz")
    with pytest.raises(UserError, match="no feature statistics"):
        GaussianStats.load(tmp_path / "missing.npz")


def test_fid_input_checks():
    with pytest.raises(UserError, match="at least 2"):
        fid(torch.rand(1, 8), torch.rand(10, 8))
    metric = FID()
    metric.update(real=torch.rand(10, 8))
    with pytest.raises(UserError, match="features"):
        metric.update(fake=torch.rand(10, 9))
    with pytest.raises(UserError, match="NaN"):
        metric.update(fake=torch.full((3, 8), float("nan")))
    with pytest.raises(UserError, match=r"\(N, d\)"):
        metric.update(fake=torch.rand(3, 8, 2))
    with pytest.raises(UserError, match="sigma"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(3), torch.eye(4))


# ---------------------------------------------------------------------------- KID


def _torchmetrics_kid(real, fake, subset_size, subsets, seed):
    metric = KernelInceptionDistance(feature=Identity(real.shape[1]), subsets=subsets, subset_size=subset_size)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    torch.manual_seed(seed)  # torchmetrics draws its subsets from the global generator
    mean, std = metric.compute()
    return float(mean), float(std)


@pytest.mark.parametrize(
    "n_real,n_fake,d,subset_size,subsets", [(700, 600, 64, 200, 20), (300, 300, 2048, 300, 3), (250, 400, 16, 1000, 5)]
)
def test_kid_matches_torchmetrics(n_real, n_fake, d, subset_size, subsets):
    real, fake = _features(n_real, d, seed=13), _features(n_fake, d, seed=14, shift=0.1)
    capped = min(subset_size, n_real, n_fake)  # torchmetrics refuses subsets larger than the sample
    reference_mean, reference_std = _torchmetrics_kid(real, fake, capped, subsets, seed=5)
    result = kid(real, fake, subset_size=subset_size, n_subsets=subsets, seed=5)
    assert result.subset_size == capped
    assert result.mean == pytest.approx(reference_mean, rel=1e-6)
    assert result.std == pytest.approx(reference_std, rel=1e-6, abs=1e-12)
    assert len(result.per_subset) == subsets


def test_kid_streaming_equals_one_shot_and_is_seeded():
    real, fake = _features(500, 32, seed=15), _features(450, 32, seed=16, shift=0.2)
    metric = KID(subset_size=100, n_subsets=10, seed=3)
    for start in range(0, 500, 64):
        metric.update(real=real[start : start + 64], fake=fake[start : start + 64])
    assert metric.compute() == kid(real, fake, subset_size=100, n_subsets=10, seed=3)
    assert (
        kid(real, fake, subset_size=100, n_subsets=10, seed=4).mean
        != kid(real, fake, subset_size=100, n_subsets=10, seed=3).mean
    )
    # same distribution: KID is an unbiased estimate of 0
    same = kid(_features(600, 32, seed=17), _features(600, 32, seed=18), subset_size=300, n_subsets=20)
    assert abs(same.mean) < 3 * same.std + 1e-4


def test_max_samples_keeps_a_bounded_uniform_subset():
    real = torch.arange(1000, dtype=torch.float32)[:, None].repeat(1, 4)
    metric = KID(max_samples=100, seed=0)
    for start in range(0, 1000, 37):
        metric.update(real=real[start : start + 37])
    kept = metric._bank.sides["real"].features()
    assert kept.shape == (100, 4)
    ids = kept[:, 0].long()
    assert ids.unique().numel() == 100 and torch.equal(kept, real[ids])
    assert ids.float().mean() == pytest.approx(500, abs=100)  # drawn from all of the stream, not its start
    # with room for everything, the bank keeps everything in order
    unbounded = KID(max_samples=5000)
    unbounded.update(real=real)
    assert torch.equal(unbounded._bank.sides["real"].features(), real)


def test_update_copies_the_callers_buffer():
    metric = PrecisionRecall()
    buffer = torch.rand(10, 3)
    metric.update(real=buffer)
    original = buffer.clone()
    buffer.zero_()
    assert torch.equal(metric._bank.sides["real"].features(), original)


# ---------------------------------------------------------------------------- precision / recall


def _numpy_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """Kynkäänniemi et al. 2019, brute force: radius = distance to the k-th nearest other sample."""

    def distances(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    def radii(x):
        return np.sort(distances(x, x), axis=1)[:, k]  # column 0 is the sample itself

    def coverage(queries, support):
        return float((distances(queries, support) <= radii(support)[None, :]).any(axis=1).mean())

    return coverage(fake, real), coverage(real, fake)


@pytest.mark.parametrize(
    "n_real,n_fake,d,k,shift", [(300, 250, 16, 3, 0.3), (200, 200, 64, 3, 0.0), (150, 180, 8, 5, 0.6)]
)
def test_precision_recall_matches_brute_force(n_real, n_fake, d, k, shift, monkeypatch):
    real, fake = _features(n_real, d, seed=19), 1.3 * _features(n_fake, d, seed=20, shift=shift)
    precision, recall = _numpy_precision_recall(real.double().numpy(), fake.double().numpy(), k)
    assert 0 < precision < 1 or 0 < recall < 1  # a case that can tell right from wrong
    result = precision_recall(real, fake, k=k)
    assert (result.precision, result.recall) == (pytest.approx(precision, abs=1e-12), pytest.approx(recall, abs=1e-12))
    monkeypatch.setattr(precision_recall_module, "DISTANCE_BLOCK_ELEMENTS", 1000)  # many small blocks, same answer
    assert precision_recall(real, fake, k=k) == result


def test_precision_recall_sanity():
    real = _features(300, 16, seed=21)
    same = precision_recall(real, real.clone())
    assert same.precision == 1.0 and same.recall == 1.0
    far = precision_recall(real, real + 100.0)
    assert far.precision == 0.0 and far.recall == 0.0
    # generated samples collapsed around one real sample: all realistic, almost no coverage
    noise = 1e-3 * torch.randn(50, 16, generator=torch.Generator().manual_seed(0))
    collapsed = precision_recall(real, real[:1] + noise)
    assert collapsed.precision == 1.0 and collapsed.recall < 0.05


def test_precision_recall_streaming_and_checks():
    real, fake = _features(300, 16, seed=22), _features(280, 16, seed=23, shift=0.2)
    metric = PrecisionRecall(k=3)
    for start in range(0, 300, 50):
        metric.update(real=real[start : start + 50], fake=fake[start : start + 50])
    assert metric.compute() == precision_recall(real, fake)
    with pytest.raises(UserError, match="at least 4"):
        precision_recall(real[:3], fake)
    with pytest.raises(UserError, match="positive integer"):
        PrecisionRecall(k=0)
    with pytest.raises(UserError, match="max_samples"):
        PrecisionRecall(max_samples=1)
