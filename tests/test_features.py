"""Feature extractors: the digits classifier (training, cache, identity) and Inception-v3 (layout, loading)."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from genimg.data import ImageDataset, load_dataset
from genimg.errors import UserError
from genimg.evaluate import inception as inception_module
from genimg.evaluate.classifier import (
    ClassifierConfig,
    ClassifierNet,
    Recipe,
    classifier_dir,
    default_classifier,
    load_or_train_classifier,
    random_shift,
    read_shipped_index,
)
from genimg.evaluate.classifier import cache as classifier_cache
from genimg.evaluate.extractor import check_same_extractor, sha256_of_file
from genimg.evaluate.features import available_extractors, get_extractor
from genimg.evaluate.inception import (
    WEIGHTS_FILENAME,
    WEIGHTS_SHA256,
    WEIGHTS_URL,
    InceptionV3FID,
    expected_state_dict_layout,
    find_weights,
    load_inception,
    preprocess,
)

# A classifier small and short enough to train in well under a second: for the tests of the
# cache, identity and interface, which do not need an accurate one.
TINY = dict(widths=(8, 16), epochs=1)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test gets an empty GENIMG_CACHE and no Inception weights from the environment."""
    monkeypatch.setenv("GENIMG_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(inception_module.WEIGHTS_ENV, raising=False)
    return tmp_path / "cache"


def tiny(**overrides) -> ClassifierConfig:
    return ClassifierConfig(**{**TINY, **overrides})


# ---------------------------------------------------------------------------- the digits classifier


@pytest.fixture(scope="session")
def trained_digits(tmp_path_factory):
    """The default digits classifier trained on this machine (not the shipped one), in the cache
    the whole test session shares.

    That is the cache conftest points GENIMG_CACHE at (the session's pytest base directory,
    unless GENIMG_CACHE is set), so the suite trains this classifier once, whichever test
    asks for it first.
    """
    cache = Path(os.environ.get("GENIMG_CACHE") or tmp_path_factory.getbasetemp() / "genimg-cache")
    return default_classifier("digits", cache_dir=cache, progress=False, shipped=False), cache


@pytest.mark.slow
def test_default_digits_classifier_reaches_97_percent_on_test(trained_digits):
    extractor, _ = trained_digits
    assert extractor.test_accuracy >= 0.97
    assert extractor.info["train_cpu_seconds"] < 60
    # The recorded accuracy is the one its probabilities give on the test split.
    test = load_dataset("digits", "test")
    predicted = extractor.probabilities(test.images).argmax(dim=1)
    assert (predicted == test.labels).double().mean().item() == pytest.approx(extractor.test_accuracy)
    assert extractor.feature_dim == 64 and extractor.identity["test_accuracy"] == extractor.test_accuracy
    # FID needs a covariance estimate that is full rank at a few hundred samples.
    features = extractor.features(test.images).double()
    assert torch.linalg.matrix_rank(torch.cov(features.T)).item() == 64


@pytest.mark.slow
def test_cache_hit_reads_identical_weights_and_does_not_train(trained_digits, monkeypatch):
    extractor, cache = trained_digits

    def no_training(*args, **kwargs):
        raise AssertionError("the cached classifier was trained again")

    monkeypatch.setattr(classifier_cache, "train_classifier", no_training)
    again = default_classifier("digits", cache_dir=cache, shipped=False)
    assert again.extractor_id() == extractor.extractor_id()
    for (name, a), (_, b) in zip(extractor.net.state_dict().items(), again.net.state_dict().items()):
        assert torch.equal(a, b), name


@pytest.mark.slow
def test_the_shipped_digits_classifier_is_what_this_recipe_trains(trained_digits):
    """On the CPU and torch it was made with, the recipe retrains the shipped weights bit for bit
    (elsewhere they may round differently: benchmarks/reproduce_classifiers.py check says so)."""
    extractor, _ = trained_digits
    entry = read_shipped_index()["digits"]
    made = entry["made_with"]
    if (made["torch"], made["cpu_capability"]) != (torch.__version__, torch.backends.cpu.get_cpu_capability()):
        pytest.skip(f"the shipped digits classifier was made with {made}; bit-exactness is not promised here")
    assert extractor.identity["weights_sha256"] == entry["sha256"], (
        "the digits classifier's recipe changed: ship it again (python benchmarks/reproduce_classifiers.py ship digits)"
    )
    assert extractor.extractor_id() == entry["extractor"]


def test_training_is_deterministic(tmp_path):
    first = load_or_train_classifier(tiny(), cache_dir=tmp_path / "a", progress=False)
    second = load_or_train_classifier(tiny(), cache_dir=tmp_path / "b", progress=False)
    assert first.identity["weights_sha256"] == second.identity["weights_sha256"]
    assert first.extractor_id() == second.extractor_id()


def test_training_leaves_callers_rng_threads_and_determinism_alone(tmp_path):
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    load_or_train_classifier(tiny(threads=1), cache_dir=tmp_path, progress=False)
    assert torch.equal(torch.rand(3), expected_next)
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()


def test_identity_differs_when_config_differs(tmp_path):
    a = load_or_train_classifier(tiny(seed=0), cache_dir=tmp_path, progress=False)
    b = load_or_train_classifier(tiny(seed=1), cache_dir=tmp_path, progress=False)
    assert a.identity["config_hash"] != b.identity["config_hash"]
    assert a.identity["weights_sha256"] != b.identity["weights_sha256"]
    assert a.extractor_id() != b.extractor_id()
    assert classifier_dir(tiny(seed=0), tmp_path) != classifier_dir(tiny(seed=1), tmp_path)
    assert classifier_dir(tiny(seed=0), tmp_path).name.startswith("digits-")
    with pytest.raises(UserError, match="different feature extractors"):
        check_same_extractor([a.extractor_id(), b.extractor_id()])
    assert check_same_extractor([a.extractor_id(), a.extractor_id()]) == a.extractor_id()


def test_cache_files_and_identity_record(tmp_path):
    extractor = load_or_train_classifier(tiny(), cache_dir=tmp_path, progress=False)
    directory = classifier_dir(tiny(), tmp_path)
    assert directory.parent == tmp_path / "classifiers"
    assert sha256_of_file(directory / "model.safetensors") == extractor.identity["weights_sha256"]
    identity = extractor.identity
    assert identity["kind"] == "classifier" and identity["dataset"] == "digits"
    assert identity["config"]["widths"] == [8, 16] and identity["input_shape"] == [1, 8, 8]
    assert 0 <= identity["test_accuracy"] <= 1
    # Leftover temporary files would mean a write that was not atomic.
    assert sorted(p.name for p in directory.iterdir()) == [".lock", "info.json", "model.safetensors"]


def test_concurrent_requests_train_once(tmp_path, monkeypatch):
    calls = []
    real_train = classifier_cache.train_classifier

    def counting_train(*args, **kwargs):
        calls.append(1)
        time.sleep(0.5)  # keep the lock held while the other thread arrives
        return real_train(*args, **kwargs)

    monkeypatch.setattr(classifier_cache, "train_classifier", counting_train)
    results = {}

    def worker(name):
        results[name] = load_or_train_classifier(tiny(), cache_dir=tmp_path, progress=False).extractor_id()

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert results["first"] == results["second"]


def test_damaged_cache_entry_is_rebuilt(tmp_path, capsys):
    first = load_or_train_classifier(tiny(), cache_dir=tmp_path, progress=False)
    weights = classifier_dir(tiny(), tmp_path) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    again = load_or_train_classifier(tiny(), cache_dir=tmp_path, progress=False)
    assert "is damaged; training it again" in capsys.readouterr().err
    assert sha256_of_file(weights) == again.identity["weights_sha256"] == first.identity["weights_sha256"]


def test_features_and_probabilities(tmp_path):
    extractor = load_or_train_classifier(tiny(), cache_dir=tmp_path, progress=False)
    images = load_dataset("digits", "test", limit=23).images
    features, probabilities = extractor.features_and_probabilities(images)
    assert features.shape == (23, 16) and features.dtype == torch.float32 and features.device.type == "cpu"
    assert probabilities.shape == (23, 10) and probabilities.dtype == torch.float32
    assert (probabilities >= 0).all()
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(23), atol=1e-6, rtol=0)
    # BatchNorm runs on stored statistics: a feature does not depend on its batch-mates,
    # even after someone calls .train() on the extractor.
    extractor.train()
    torch.testing.assert_close(extractor.features(images, batch_size=5), features)
    torch.testing.assert_close(extractor.probabilities(images[:1]), probabilities[:1])
    assert extractor.features(images[:0]).shape == (0, 16)


@pytest.mark.parametrize(
    "images, problem",
    [
        (torch.rand(4, 3, 8, 8), r"shape \(1, 8, 8\)"),
        (torch.rand(4, 1, 16, 16), r"shape \(1, 8, 8\)"),
        (torch.rand(4, 8, 8), "N, C, H, W"),
        (torch.rand(4, 1, 8, 8, dtype=torch.float64), "float32"),
        (torch.rand(4, 1, 8, 8) * 255, r"\[0, 1\]"),
    ],
)
def test_bad_input_is_a_user_error(tmp_path, images, problem):
    extractor = load_or_train_classifier(tiny(), cache_dir=tmp_path, progress=False)
    with pytest.raises(UserError, match=problem):
        extractor.features(images)


def test_get_extractor(tmp_path):
    assert available_extractors() == ["classifier", "inception"]
    extractor = get_extractor("classifier", "digits", cache_dir=tmp_path, progress=False, **TINY)
    assert extractor.config == tiny()
    with pytest.raises(UserError, match="classifier, inception"):
        get_extractor("vgg", "digits")
    with pytest.raises(UserError, match="unknown key 'classifier.depth'"):
        get_extractor("classifier", "digits", cache_dir=tmp_path, depth=3)


@pytest.mark.parametrize(
    "shape, widths, max_shift, dense, augment",
    [
        ((1, 8, 8), (32, 64), 1, 0, "shift"),
        ((1, 28, 28), (16, 32, 64), 3, 128, "affine"),
        ((3, 32, 32), (16, 32, 64), 4, 128, "affine"),
    ],
)
def test_architecture_is_sized_by_the_images(shape, widths, max_shift, dense, augment):
    train = ImageDataset("x", "train", torch.rand(5, *shape), torch.arange(5) % 2, num_classes=2)
    recipe = Recipe.resolve(ClassifierConfig(), train)
    assert (recipe.input_shape, recipe.widths, recipe.max_shift) == (shape, widths, max_shift)
    assert (recipe.dense, recipe.augment) == (dense, augment)
    features, logits = ClassifierNet.from_recipe(recipe)(torch.rand(3, *shape))
    assert features.shape == (3, dense or widths[-1]) and logits.shape == (3, 2)


def test_affine_augmentation_keeps_the_images_and_moves_them():
    from genimg.evaluate.classifier.training import random_affine

    images = load_dataset("mnist-sample", "test").images[:8]
    moved = random_affine(images, 3, torch.Generator().manual_seed(0))
    assert moved.shape == images.shape and moved.min() >= 0 and moved.max() <= 1 + 1e-6
    assert not torch.allclose(moved, images)
    # every image keeps most of its ink: a small rotation, scale and shift, not a different picture
    assert (moved.sum((1, 2, 3)) / images.sum((1, 2, 3))).sub(1).abs().max() < 0.35


def test_classifier_on_users_rgb_npz_data(tmp_path):
    # Two classes of 16x16 colour images: reddish and bluish noise.
    rng = np.random.default_rng(0)

    def split(n):
        labels = np.arange(n) % 2
        images = rng.uniform(0, 0.5, (n, 16, 16, 3))
        images[labels == 0, :, :, 0] += 0.5
        images[labels == 1, :, :, 2] += 0.5
        return images.astype(np.float32), labels

    arrays = {}
    for name, n in (("train", 64), ("val", 16), ("test", 16)):
        arrays[f"x_{name}"], arrays[f"y_{name}"] = split(n)
    path = tmp_path / "colour.npz"
    np.savez(path, **arrays)
    config = ClassifierConfig(dataset=f"npz:{path}", widths=(8, 16, 16), epochs=6, batch_size=8)
    extractor = load_or_train_classifier(config, cache_dir=tmp_path / "cache", progress=False)
    assert extractor.recipe.input_shape == (3, 16, 16) and extractor.features(torch.rand(2, 3, 16, 16)).shape == (2, 16)
    assert extractor.test_accuracy == 1.0  # the colour gives the class away
    directory = classifier_dir(config, tmp_path / "cache").name
    assert directory.startswith(extractor.identity["name"][len("classifier-") :]) and "colour.npz-" in directory
    # The same name with other contents is another classifier, not a stale cache hit.
    arrays["x_train"] = arrays["x_train"][:, ::-1].copy()
    np.savez(path, **arrays)
    changed = load_or_train_classifier(config, cache_dir=tmp_path / "cache", progress=False)
    assert changed.identity["data_sha256"] != extractor.identity["data_sha256"]
    assert changed.identity["config_hash"] == extractor.identity["config_hash"]


def test_random_shift_translates_each_image_by_at_most_max_shift():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(64, 2, 8, 8)
    shifted = random_shift(images, 1, generator)
    padded = F.pad(images, (1, 1, 1, 1))
    seen = set()
    for i in range(len(images)):
        matches = [
            (dy, dx)
            for dy in range(3)
            for dx in range(3)
            if torch.equal(shifted[i], padded[i, :, dy : dy + 8, dx : dx + 8])
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) == 9  # every offset occurs


# ---------------------------------------------------------------------------- Inception-v3

PUBLISHED_SIZE_BYTES = 95_628_359  # of pt_inception-2015-12-05-6726825d.pth

# Names and shapes as in pytorch-fid's fid_inception_v3() (torchvision's Inception3 layout).
PUBLISHED_KEYS = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_1a_3x3.bn.running_var": (32,),
    "Conv2d_2b_3x3.conv.weight": (64, 32, 3, 3),
    "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
    "Mixed_5b.branch1x1.conv.weight": (64, 192, 1, 1),
    "Mixed_5b.branch5x5_2.conv.weight": (64, 48, 5, 5),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_5d.branch_pool.bn.bias": (64,),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
    "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
    "Mixed_7a.branch3x3_2.conv.weight": (320, 192, 3, 3),
    "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
    "Mixed_7b.branch3x3_2a.conv.weight": (384, 384, 1, 3),
    "Mixed_7b.branch3x3dbl_1.conv.weight": (448, 1280, 1, 1),
    "Mixed_7c.branch1x1.conv.weight": (320, 2048, 1, 1),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
    "fc.weight": (1008, 2048),
    "fc.bias": (1008,),
}


def random_inception_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the published layout, scaled so activations stay O(1) through 94 layers."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in expected_state_dict_layout().items():
        if key.endswith("conv.weight"):
            fan_in = int(np.prod(shape[1:]))
            state[key] = torch.randn(shape, generator=generator) * (2 / fan_in) ** 0.5
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        elif key.endswith("bn.weight"):
            state[key] = 1 + 0.1 * torch.randn(shape, generator=generator)
        else:
            state[key] = torch.randn(shape, generator=generator) * 0.1
    return state


@pytest.fixture(scope="module")
def fake_weights(tmp_path_factory):
    """A randomly initialised file with the published keys and shapes, saved the way the original was."""
    path = tmp_path_factory.mktemp("inception") / WEIGHTS_FILENAME
    torch.save(random_inception_state_dict(), path, _use_new_zipfile_serialization=False)
    return path, sha256_of_file(path)


@pytest.fixture(scope="module")
def fake_inception(fake_weights):
    """That file loaded through the real loader, its own hash given as the expected one."""
    path, digest = fake_weights
    return load_inception(path, expected_sha256=digest)


def tiny_layout_file(path, **replace):
    """A file with the published keys and shapes that takes a few kB: every tensor is one
    stored zero broadcast to its shape. For tests that never run the network."""
    state = {k: torch.zeros(1).expand(shape) for k, shape in expected_state_dict_layout().items()}
    state.update(replace)
    torch.save(state, path)
    return path


def test_state_dict_layout_is_the_published_one():
    layout = expected_state_dict_layout()
    for key, shape in PUBLISHED_KEYS.items():
        assert layout[key] == shape, key
    assert len(layout) == 94 * 5 + 2  # 94 conv+BN units (weight, BN weight/bias/mean/var) and the fc layer
    assert not any("Aux" in key for key in layout)
    # Serialised like the original (legacy format, no num_batches_tracked), this layout is within
    # a few kB of the published file: any missing or extra conv layer would be off by more.
    with torch.device("meta"):
        net = InceptionV3FID()
    state = net.to_empty(device="cpu").state_dict()  # a module's state dict, with its _metadata
    for key in [k for k in state if k.endswith("num_batches_tracked")]:
        del state[key]
    buffer = io.BytesIO()
    torch.save(state, buffer, _use_new_zipfile_serialization=False)
    assert abs(buffer.tell() - PUBLISHED_SIZE_BYTES) < 4000


def test_load_random_weights_through_the_loader(fake_weights, fake_inception):
    path, digest = fake_weights
    extractor = fake_inception
    assert extractor.identity["weights_sha256"] == digest and not extractor.identity["published_weights"]
    assert extractor.extractor_id().startswith("inception-v3-fid-")
    grey = torch.rand(2, 1, 8, 8)
    features, probabilities = extractor.features_and_probabilities(grey)
    assert features.shape == (2, 2048) and probabilities.shape == (2, 1008)
    assert torch.isfinite(features).all() and not torch.allclose(features[0], features[1])
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(2), atol=1e-6, rtol=0)
    # IS probabilities: softmax of the fc outputs without the bias (torch-fidelity's logits_unbiased).
    fc_weight = torch.load(path, weights_only=True)["fc.weight"]
    expected = torch.softmax(features.double() @ fc_weight.double().T, dim=1).float()
    torch.testing.assert_close(probabilities, expected, atol=1e-5, rtol=1e-4)
    # Grey images are the same image repeated on three channels.
    torch.testing.assert_close(extractor.features(grey.expand(-1, 3, -1, -1).contiguous()), features)


def test_inception_input_is_resized_to_299_and_scaled_to_minus_one_one(fake_inception):
    extractor = fake_inception
    seen = []
    hook = extractor.net.Conv2d_1a_3x3.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    try:
        extractor.features(torch.rand(1, 3, 32, 32))
    finally:
        hook.remove()
    assert seen[0].shape == (1, 3, 299, 299)
    assert seen[0].min() >= -1 and seen[0].max() <= 1


def test_preprocess_is_bilinear_with_half_pixel_centres():
    # align_corners=False: output pixel j samples the input at (j + 0.5) * in / out - 0.5,
    # clamped to the border, then 2x - 1. Computed here independently for a 2x3 image.
    image = torch.tensor([[0.0, 0.5, 1.0], [1.0, 0.25, 0.0]])
    out = preprocess(image.expand(1, 1, 2, 3))
    assert out.shape == (1, 3, 299, 299)

    def sample_positions(n_in):
        pos = np.clip((np.arange(299) + 0.5) * n_in / 299 - 0.5, 0, n_in - 1)
        low = np.floor(pos).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        return low, high, pos - low

    (r0, r1, wr), (c0, c1, wc) = sample_positions(2), sample_positions(3)
    x = image.numpy().astype(np.float64)
    rows = x[r0] * (1 - wr)[:, None] + x[r1] * wr[:, None]
    expected = rows[:, c0] * (1 - wc) + rows[:, c1] * wc
    for channel in range(3):
        np.testing.assert_allclose(out[0, channel].numpy(), 2 * expected - 1, atol=1e-6)


def test_wrong_hash_is_a_user_error(tmp_path):
    path = tiny_layout_file(tmp_path / WEIGHTS_FILENAME)
    with pytest.raises(UserError, match=f"not {WEIGHTS_SHA256}.*{WEIGHTS_URL}"):
        load_inception(path)
    # With its own hash the same file loads: the hash check is what refused it.
    assert load_inception(path, expected_sha256=sha256_of_file(path)).feature_dim == 2048


def test_missing_weights_say_where_to_get_them(private_cache):
    with pytest.raises(UserError) as error:
        get_extractor("inception", "digits")
    message = str(error.value)
    assert WEIGHTS_URL in message and str(private_cache / "weights" / WEIGHTS_FILENAME) in message
    assert "\n" not in message
    with pytest.raises(UserError, match="not found at /nonexistent"):
        load_inception("/nonexistent/weights.pth")


def test_weights_are_found_by_option_env_and_cache(tmp_path, private_cache, monkeypatch):
    elsewhere = tiny_layout_file(tmp_path / "my-inception.pth")
    cached = private_cache / "weights" / WEIGHTS_FILENAME
    cached.parent.mkdir(parents=True)
    tiny_layout_file(cached)
    assert find_weights() == cached
    monkeypatch.setenv(inception_module.WEIGHTS_ENV, str(elsewhere))
    assert find_weights() == elsewhere
    assert find_weights(cached) == cached  # the explicit path wins over the environment
    digest = sha256_of_file(elsewhere)
    assert load_inception(expected_sha256=digest).identity["weights_sha256"] == digest


@pytest.mark.parametrize(
    "replace, problem",
    [
        ({"fc.weight": torch.zeros(1000, 2048)}, "wrong shape for.*fc.weight"),  # torchvision's 1000-class head
        ({"AuxLogits.fc.weight": torch.zeros(1000, 768)}, "unexpected.*AuxLogits"),
    ],
)
def test_file_with_another_layout_is_rejected(tmp_path, replace, problem):
    path = tiny_layout_file(tmp_path / "other.pth", **replace)
    with pytest.raises(UserError, match=problem):
        load_inception(path, expected_sha256=sha256_of_file(path))


def test_file_with_batchnorm_counters_loads(tmp_path):
    state = {
        f"{k[: -len('running_var')]}num_batches_tracked": torch.tensor(7)
        for k in expected_state_dict_layout()
        if k.endswith("running_var")
    }
    path = tiny_layout_file(tmp_path / "with-counters.pth", **state)
    assert load_inception(path, expected_sha256=sha256_of_file(path)).num_classes == 1008
