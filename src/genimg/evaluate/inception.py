"""Inception-v3 as used for published FIDs: the network, its weights file, its preprocessing.

FID as reported in papers is computed with the TensorFlow Inception graph of 2015-12-05
(``inception-2015-12-05.tgz``), whose weights pytorch-fid ported to PyTorch as
``pt_inception-2015-12-05-6726825d.pth``; torch-fidelity publishes the same file (same
sha256) as ``weights-inception-2015-12-05-6726825d.pth``. That graph differs from
torchvision's Inception-v3 in small ways that change the numbers, and this module reproduces
them (pytorch-fid's ``FIDInceptionA/C/E_1/E_2``), written without torchvision:

- the average pools inside the A, C and first E blocks ignore the zero padding
  (``count_include_pad=False``), as TensorFlow's do;
- the last E block (Mixed_7c) pools its branch with a 3x3 *max* pool;
- the classifier has 1008 outputs (1000 ImageNet classes plus 8 unused ones).

Module names match the file (``Conv2d_1a_3x3.conv.weight``, ``Mixed_5b.branch1x1.bn.running_mean``,
..., ``fc.weight`` of shape 1008x2048), so its state dict loads as is.

Preprocessing, as pytorch-fid's ``InceptionV3(resize_input=True, normalize_input=True)``:
grey images are repeated to 3 channels; images are resized to 299x299 with
``F.interpolate(mode="bilinear", align_corners=False)`` (no antialiasing); [0, 1] is mapped
to [-1, 1] by ``2x - 1``. (torch-fidelity instead takes uint8 images and resizes them with a
TensorFlow-1-compatible bilinear rule, so its features differ slightly from pytorch-fid's.)

Features: the 2048-d output of the final average pool ("pool3"). Probabilities for the
Inception Score: softmax over all 1008 outputs of the fc layer *without its bias*, i.e.
torch-fidelity's ``logits_unbiased`` (torchmetrics' InceptionScore default). This is what
the original TensorFlow IS code computed: it multiplied pool3 by the softmax layer's weight
matrix and never added the bias.

The weights are never downloaded here. They are looked up at ``weights_path=``, then
``$GENIMG_INCEPTION_WEIGHTS``, then ``<GENIMG_CACHE>/weights/pt_inception-2015-12-05-6726825d.pth``,
and checked against their published SHA-256 before use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genimg.data.dataset import Images
from genimg.errors import UserError
from genimg.evaluate.extractor import FeatureExtractor, cache_root, sha256_of_file

WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILENAME
# SHA-256 of that file (95,628,359 bytes). Its first 8 hex digits are the "6726825d" in the
# name (torch.hub's naming convention). The full digest is the one pinned for this file, under
# both its pytorch-fid and its torch-fidelity name, by several independent public projects
# (e.g. a digest table next to pytorch-fid's URL, and offline FID evaluators that refuse
# any other bytes).
WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
WEIGHTS_ENV = "GENIMG_INCEPTION_WEIGHTS"

INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_LOGITS = 1008


# ---------------------------------------------------------------------------- the network


class BasicConv2d(nn.Module):
    """Convolution without bias -> BatchNorm (eps 1e-3, TensorFlow's) -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **conv_options: Any) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv_options)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's 3x3 'SAME' average pool divides by the number of real pixels under the window.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(_tf_avg_pool(x)),
            ],
            dim=1,
        )


class InceptionB(nn.Module):
    """35x35 -> 17x17 reduction: 3x3 stride 2 | 1x1 -> 3x3 -> 3x3 stride 2 | max pool stride 2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch3x3(x),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                F.max_pool2d(x, kernel_size=3, stride=2),
            ],
            dim=1,
        )


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (1x7 and 7x1)."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            branch7x7dbl = layer(branch7x7dbl)
        return torch.cat([self.branch1x1(x), branch7x7, branch7x7dbl, self.branch_pool(_tf_avg_pool(x))], dim=1)


class InceptionD(nn.Module):
    """17x17 -> 8x8 reduction: 1x1 -> 3x3 stride 2 | 1x1 -> 1x7 -> 7x1 -> 3x3 stride 2 | max pool stride 2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch7x7x3 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            branch7x7x3 = layer(branch7x7x3)
        return torch.cat(
            [self.branch3x3_2(self.branch3x3_1(x)), branch7x7x3, F.max_pool2d(x, kernel_size=3, stride=2)], dim=1
        )


class InceptionE(nn.Module):
    """8x8 block with split 1x3 / 3x1 outputs. ``pool`` is "avg" for Mixed_7b and "max" for
    Mixed_7c: the FID graph max-pools there (pytorch-fid's FIDInceptionE_2), unlike the paper."""

    def __init__(self, in_channels: int, pool: str) -> None:
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3_1(x)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = _tf_avg_pool(x) if self.pool == "avg" else F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(branch3x3),
                self.branch3x3_2b(branch3x3),
                self.branch3x3dbl_3a(branch3x3dbl),
                self.branch3x3dbl_3b(branch3x3dbl),
                self.branch_pool(pooled),
            ],
            dim=1,
        )


class InceptionV3FID(nn.Module):
    """The FID Inception-v3 from a 299x299 input in [-1, 1] to (pool3 features, fc outputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(FEATURE_DIM, NUM_LOGITS)

    def pool3(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 299, 299) in [-1, 1] -> (N, 2048) final average-pool features."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))  # 147x147
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # 73x73
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))  # 71x71
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # 35x35
        block: nn.Module
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a):
            x = block(x)  # -> 17x17
        for block in (self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a):
            x = block(x)  # -> 8x8
        x = self.Mixed_7c(self.Mixed_7b(x))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns pool3 features and the unbiased logits (fc weight only, see the module docstring)."""
        features = self.pool3(x)
        return features, features @ self.fc.weight.T


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] images (N, 1 or 3, H, W) -> (N, 3, 299, 299) in [-1, 1], exactly as pytorch-fid."""
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    x = F.interpolate(images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    return 2 * x - 1


def expected_state_dict_layout() -> dict[str, tuple[int, ...]]:
    """Key -> shape of every tensor in the published weights file (472 tensors, 23,885,392 floats).

    The BatchNorm ``num_batches_tracked`` counters are left out: they do not affect the
    network, and the loader accepts a file with or without them.
    """
    with torch.device("meta"):  # shapes only: no memory, no random initialisation
        net = InceptionV3FID()
    return {k: tuple(v.shape) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}


# ---------------------------------------------------------------------------- the weights


def find_weights(weights_path: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None) -> Path:
    """The weights file to use: ``weights_path``, else ``$GENIMG_INCEPTION_WEIGHTS``, else the cache copy."""
    if weights_path is not None:
        candidates = [Path(weights_path).expanduser()]
    elif os.environ.get(WEIGHTS_ENV):
        candidates = [Path(os.environ[WEIGHTS_ENV]).expanduser()]
    else:
        candidates = [cache_root(cache_dir) / "weights" / WEIGHTS_FILENAME]
    for path in candidates:
        if path.is_file():
            return path
    default_place = cache_root(cache_dir) / "weights" / WEIGHTS_FILENAME
    raise UserError(
        f"Inception-v3 FID weights not found at {candidates[0]}; download {WEIGHTS_URL} on a machine with internet "
        f"and put it at {default_place} (or pass weights_path=... or set {WEIGHTS_ENV}), "
        "or use the default classifier extractor"
    )


def load_inception(
    weights_path: str | os.PathLike | None = None,
    *,
    expected_sha256: str = WEIGHTS_SHA256,
    cache_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> InceptionExtractor:
    """Inception-v3 (FID weights) as a feature extractor, after checking the file's SHA-256.

    ``expected_sha256`` exists for tests, which load a randomly initialised file of the same
    layout; scores made that way carry that file's hash in their identity, never the real one.
    """
    path = find_weights(weights_path, cache_dir)
    digest = sha256_of_file(path)
    if digest != expected_sha256.lower():
        raise UserError(
            f"{path} has SHA-256 {digest}, not {expected_sha256} of {WEIGHTS_FILENAME}; "
            f"the file is damaged or a different one: download it again from {WEIGHTS_URL}"
        )
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise UserError(
            f"cannot read {path} as a PyTorch state dict ({e}); download it again from {WEIGHTS_URL}"
        ) from None
    _check_layout(state_dict, path)
    with torch.device("meta"):  # built empty and filled by the file: skips initialising 24M weights
        net = InceptionV3FID()
    counters = {k: torch.zeros((), dtype=torch.long) for k in net.state_dict() if k.endswith("num_batches_tracked")}
    net.load_state_dict({**counters, **state_dict}, assign=True)
    return InceptionExtractor(net.float(), weights_sha256=digest, weights_file=path.name).to(device)


def _check_layout(state_dict: Any, path: Path) -> None:
    if not isinstance(state_dict, dict):
        raise UserError(
            f"{path} does not hold a state dict (found {type(state_dict).__name__}); "
            f"download it again from {WEIGHTS_URL}"
        )
    expected = expected_state_dict_layout()
    found = {k: tuple(v.shape) for k, v in state_dict.items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
    if missing or unexpected or wrong_shape:
        problem = (
            f"missing {missing[:3]}"
            if missing
            else f"unexpected {unexpected[:3]}"
            if unexpected
            else f"wrong shape for {wrong_shape[:3]}"
        )
        raise UserError(
            f"{path} is not the FID Inception-v3 state dict ({problem}); download it again from {WEIGHTS_URL}"
        )


class InceptionExtractor(FeatureExtractor):
    """Inception-v3 pool3 features (2048-d) and 1008-way class probabilities, from [0, 1] images of any size."""

    kind = "inception"
    default_batch_size = 50
    feature_dim = FEATURE_DIM
    num_classes = NUM_LOGITS

    def __init__(self, net: InceptionV3FID, *, weights_sha256: str, weights_file: str) -> None:
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self.weights_sha256 = weights_sha256
        self.weights_file = weights_file

    @property
    def identity(self) -> dict[str, Any]:
        return {
            "name": "inception-v3-fid",
            "kind": self.kind,
            # The hash, not the file name or path: a renamed copy is the same extractor.
            "weights_sha256": self.weights_sha256,
            "published_weights": self.weights_sha256 == WEIGHTS_SHA256,
            "feature_dim": FEATURE_DIM,
            "num_classes": NUM_LOGITS,
            "preprocess": "grey->RGB, bilinear 299x299 align_corners=False, 2x-1 (pytorch-fid)",
            "probabilities": "softmax over 1008 fc outputs without bias (torch-fidelity logits_unbiased)",
        }

    def _check_shape(self, images: Images) -> None:
        # check_images already requires 1 or 3 channels; any size is resized to 299x299.
        if min(images.shape[2:]) < 2:
            raise UserError(
                f"the inception extractor needs images of at least 2x2 pixels, got {tuple(images.shape[2:])}"
            )

    def _features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(preprocess(images))


def inception_extractor(dataset: str, *, cache_dir=None, device="cpu", weights_path=None, **opts):
    # One network for every dataset: ``dataset`` does not change it.
    if opts:
        raise UserError(
            f"unknown option(s) for the inception extractor: {', '.join(sorted(opts))}; valid: weights_path"
        )
    return load_inception(weights_path, cache_dir=cache_dir, device=device)
