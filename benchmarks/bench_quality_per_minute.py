"""Quality per CPU-minute on the MNIST sample: genimg's presets against the recipes a user would run
instead, each as published, trained to the same CPU budgets with one thread (issue 22, item 4).

Data: genimg's ``mnist-sample`` (4,000 train images, 28x28, one channel, 8-bit), the same tensor for
every recipe, each recipe normalising and batching it as its own script does.

Recipes, per family (what each one is, and every way it departs from its source; the same list is
printed and written to the JSON):

- VAE
  * ``genimg``: ``genimg.train.trainer.train`` with the ``mnist-sample`` preset, ``budget=`` and
    ``threads=1`` (``likelihood_at_end=false``: the bound after training is not part of the model).
  * ``pytorch-examples-vae``: pytorch/examples ``vae/main.py``: MLP 784-400-20 (ReLU, sigmoid
    decoder), BCE (sum) + KL, Adam 1e-3, batch 128, shuffled; samples ``decode(randn(n, 20))``.
  * ``pythae-vae``: pythae 0.1.2 ``VAE`` with its MNIST benchmark networks (``Encoder_Conv_VAE_MNIST`` /
    ``Decoder_Conv_AE_MNIST``, the ``convnet`` default of its ``examples/scripts/training.py``) and its
    ``configs/mnist`` settings (latent 16, ``reconstruction_loss=mse``, Adam 1e-3, batch 100).
    Sampled with its default ``NormalSampler`` and with its ``GaussianMixtureSampler`` (10 components).
- GAN
  * ``genimg``: the ``dcgan`` preset, as above.
  * ``pytorch-examples-dcgan``: pytorch/examples ``dcgan/main.py`` defaults (nz 100, ngf = ndf = 64,
    Adam 2e-4, beta1 0.5, BCE, batch 64, N(0, 0.02) init). Adapted: nc = 1; its nets are for 64x64,
    so one stage is dropped from each (G: nz -> 4ngf -> 2ngf -> ngf -> 1 at 4/8/16/32 px; D mirrored)
    and the images are padded 28 -> 32 with black (-1), samples cropped back to the centre 28x28.
    Samples are drawn as the script draws them: ``netG(noise)`` never put in eval mode (batch statistics).
  * ``tf-dcgan-tutorial``: TensorFlow's DCGAN tutorial rebuilt in PyTorch layer for layer: G dense to
    7x7x256 (no bias), BN, LeakyReLU(0.3), transposed convs 5x5 to 128 (stride 1), 64 (stride 2), 1
    (stride 2, tanh); D conv 5x5/2 64 and 128 with LeakyReLU(0.3) and Dropout(0.3), dense 1; BCE from
    logits, both updated from one forward pass; Adam 1e-4 (Keras eps 1e-7) both, batch 256, noise 100.
    Keras semantics kept: 'same' padding of a stride-2 conv pads 1 before and 2 after (explicit pads
    and crops here), BatchNorm momentum 0.99 / eps 1e-3, Glorot-uniform kernels, zero biases; samples
    with ``training=False`` (moving averages). No adaptation: the tutorial is for 28x28x1.
- diffusion
  * ``genimg``: the ``diffusion`` preset, sampled with its default sampler and with its monitoring one.
  * ``lucidrains-ddpm``: ``denoising_diffusion_pytorch`` 2.3.4, ``Unet(dim=D, channels=1)`` +
    ``GaussianDiffusion(image_size=32)`` with their defaults (1000 steps, pred_v, sigmoid schedule) and
    its ``Trainer``'s (batch 16, Adam 1e-4 betas (0.9, 0.99), grad-norm clip 1, ``ema_pytorch.EMA``
    0.995 every 10 steps). Adapted: D is the width whose forward FLOPs per image are nearest genimg's
    network (printed); images padded 28 -> 32 with black (dim_mults (1, 2, 4, 8) needs a multiple of 8),
    samples cropped; the Trainer's horizontal flip is off (a mirrored digit is not a digit); its loop is
    run here without ``accelerate`` (one process: the same steps). Sampled with its default (1000
    ancestral steps) and with its DDIM at ``sampling_timesteps=50``.
  * ``k-diffusion``: ``k_diffusion`` 0.1.1.post1 with ``configs/config_mnist.json`` (copied below from
    crowsonkb/k-diffusion at 4601bf0) and ``train.py``'s defaults (batch 64, AdamW with its param
    groups, constant lr, EMA warm-up schedule, grad-norm clip 1, ``KarrasAugmentationPipeline``).
    Sampled with ``train.py``'s sampler (DPM-Solver++(2M) SDE, eta 0, Heun type, 50 Karras sigmas: 50
    network evaluations) and with ``sample_heun`` at 49 evaluations. No adaptation of the recipe.
  * ``torchcfm``: torchcfm 1.0.7's ``examples/images/mnist_example.ipynb`` (OT-CFM):
    ``UNetModelWrapper(dim=(1, 28, 28), num_channels=32, num_res_blocks=1)``, Adam (lr 1e-3), batch 128,
    ``ExactOptimalTransportConditionalFlowMatcher(sigma=0)``. Sampled with its default (dopri5, atol =
    rtol = 1e-4, NFE counted) through ``torchdiffeq.odeint`` instead of torchdyn's ``NeuralODE`` (not
    installed; the same adaptive Dormand-Prince solver) and with Euler at 50 steps.

Installing the diffusion peers. None goes in the ``bench`` extra: denoising-diffusion-pytorch and
k-diffusion require torchvision (which drags a CUDA torch) and torchcfm requires torchdyn. They are
installed without their dependencies, under the constraint that pins the installed torch:

    .venv/bin/pip install -c .venv/torch-constraint.txt 'pythae==0.1.2'
    .venv/bin/pip install --no-deps -c .venv/torch-constraint.txt denoising-diffusion-pytorch==2.3.4 \\
        k-diffusion==0.1.1.post1 torchcfm==1.0.7 einops ema-pytorch accelerate psutil torchdiffeq \\
        torchsde trampoline dctorch jsonmerge pot

and the parts of torchvision (and k-diffusion's ``cleanfid`` / ``clip``, used only by its evaluation
module) that these packages import but this benchmark never calls are empty stand-ins put in
``sys.modules`` (``install_import_stubs``): a listed adaptation, with no effect on training or sampling.

Protocol. Every model is trained with one thread to the same budgets of the process's CPU time
(``time.process_time``; VAE and GAN 2.5 / 5 / 10 CPU-min, diffusion 5 / 10 / 20). No recipe here decays
its learning rate with the run's length (nor do genimg's presets: nothing in ``train.budget`` reads
the run's length), so one run per (recipe, seed) to the largest budget, snapshotted (weights, and the
EMA where the recipe keeps one) when its training clock passes each smaller budget, is the same as
separate runs: peers are run that way, their clock counting their training loop (batching,
augmentation, steps, EMA) and not the snapshots. genimg's rows are separate budgeted runs
(``train.budget`` counts the loop with its evaluations, and stops at the epoch boundary nearest the
budget); their kept weights are what ``genimg train`` keeps. Scores are ``genimg evaluate``'s protocol,
computed with the library's own functions: ``--samples`` samples x 5 sampling seeds against the first
``--samples`` test images, in the features of genimg's dataset classifier, over the real-vs-real floor
(``real_floor``: 10 random train subsets of the same size); FID/floor is mean FID over the sampling
seeds / mean floor FID. Samplers above 100 network evaluations per sample are scored with
``--slow-samples`` x ``--slow-seeds`` (the floor at the same size), recorded in each row.

    python benchmarks/bench_quality_per_minute.py [--families vae,gan,diffusion] [--budgets 2.5,5,10]
        [--seeds 2] [--samples 500] [--slow-samples 500] [--slow-seeds 5] [--out runs/bench/quality]

``--budgets`` (minutes) replaces every family's budgets (a smoke run: ``--budgets 0.1 --seeds 1
--samples 100``). Output in ``--out``: ``results.json`` (every row, the recipes' adaptations, genimg's
resolved configs, the machine), ``table.md``, and ``<family>.png`` (FID/floor against CPU-minutes).
``--first-seed 1 --seeds 1`` adds a training seed to a finished run; ``--max-nfe 100`` leaves out
the samplers above 100 network evaluations (lucidrains' 1000 ancestral steps); ``--score-runs
RUN,RUN --samples 100 --sampling-seeds 1`` scores finished genimg runs at a peer's smaller
protocol; ``--genimg-set KEY=VALUE`` (repeatable) trains a variant of genimg's preset, a recipe
of its own in the table; ``--merge DIR,DIR`` writes one table and one figure per family from
several runs' ``results.json`` or earlier merges' ``rows.json`` (``--merge-peers-only DIR``: only
the peers' rows of a run made with an earlier preset; ``--rename OLD=NEW``: a recipe's name in the
merged table).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import statistics
import sys
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import genimg  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

# isort: split
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genimg.config import config_for
from genimg.config.run_config import DataConfig
from genimg.data import load_dataset
from genimg.evaluate.evaluator import EVAL_SEED_OFFSET, extractor_for, real_floor, sample_images, score_images
from genimg.io import write_text
from genimg.models.precision import autocast
from genimg.rng import fixed_seed
from genimg.runs.directory import RunDir
from genimg.runs.loading import load_model
from genimg.train.trainer import train as genimg_train

DATASET = "mnist-sample"
FAMILY_BUDGETS = {"vae": (2.5, 5.0, 10.0), "gan": (2.5, 5.0, 10.0), "diffusion": (5.0, 10.0, 20.0)}
GENIMG_FAMILY = {"vae": "vae", "gan": "dcgan", "diffusion": "diffusion"}
SLOW_NFE = 100  # samplers above this many network evaluations per sample are scored with --slow-samples

# crowsonkb/k-diffusion configs/config_mnist.json at 4601bf0 (the newest; the installed 0.1.1.post1 reads it)
K_DIFFUSION_MNIST = {
    "model": {
        "type": "image_v1",
        "input_channels": 1,
        "input_size": [28, 28],
        "patch_size": 1,
        "mapping_out": 256,
        "depths": [2, 4, 4],
        "channels": [128, 128, 256],
        "self_attn_depths": [False, False, True],
        "has_variance": False,
        "loss_config": "karras",
        "loss_weighting": "soft-min-snr",
        "dropout_rate": 0.05,
        "augment_wrapper": True,
        "augment_prob": 0.12,
        "sigma_data": 0.6162,
        "sigma_min": 1e-2,
        "sigma_max": 80,
        "sigma_sample_density": {"type": "cosine-interpolated"},
    },
    "dataset": {"type": "mnist", "location": "data"},
    "optimizer": {"type": "adamw", "lr": 2e-4, "betas": [0.95, 0.999], "eps": 1e-6, "weight_decay": 1e-3},
    "lr_sched": {"type": "constant", "warmup": 0.0},
    "ema_sched": {"type": "inverse", "power": 0.6667, "max_value": 0.9999},
}

STUB_NOTE = (
    "torchvision (and k-diffusion's cleanfid / clip) replaced in sys.modules by empty stand-ins: imported "
    "by the packages, never called by this benchmark"
)


# --- the machine ----------------------------------------------------------------------------------
def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gemm_gflops(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """Best of ``repeats`` size x size matmuls, in GFLOP/s, with the threads torch has now."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    torch.mm(a, b)  # warm-up
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best / 1e9


def machine() -> dict[str, Any]:
    flags = cpu_flags()
    out: dict[str, Any] = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "gemm_fp32_gflops": round(gemm_gflops(torch.float32), 1),
        "load_average_at_start": os.getloadavg()[0],
    }
    if out["avx512_bf16"] or out["amx_bf16"]:
        out["gemm_bf16_gflops"] = round(gemm_gflops(torch.bfloat16), 1)
    return out


def describe_machine(m: dict[str, Any]) -> str:
    bf16 = f", bf16 {m['gemm_bf16_gflops']} GFLOP/s" if "gemm_bf16_gflops" in m else " (no native bf16)"
    return (
        f"{m['cpu']} ({m['cores']} cores, {m['threads']} thread used), torch {m['torch']}; "
        f"GEMM 2048x2048 peak: fp32 {m['gemm_fp32_gflops']} GFLOP/s{bf16}"
    )


# --- imports the peers make but never need here -----------------------------------------------------
def install_import_stubs() -> None:
    """Empty stand-ins for torchvision (a CUDA torch with it) and k-diffusion's evaluation-only
    imports, so that the peers' packages import; nothing here is called by this benchmark."""

    def stub(name: str) -> types.ModuleType:
        if name in sys.modules:
            return sys.modules[name]
        module = types.ModuleType(name)
        module.__path__ = []  # type: ignore[attr-defined]  # a package, so submodules can hang off it
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
        return module

    try:
        import torchvision  # noqa: F401
    except ImportError:
        for name in ("torchvision", "torchvision.transforms", "torchvision.transforms.functional", "torchvision.utils"):
            stub(name)
    for name in ("clip", "cleanfid", "cleanfid.inception_torchscript"):
        try:
            __import__(name)
        except ImportError:
            stub(name)
    sys.modules["cleanfid.inception_torchscript"].__dict__.setdefault("InceptionV3W", None)


# --- data and batching --------------------------------------------------------------------------------
def to_pm1(x: torch.Tensor) -> torch.Tensor:
    return x * 2 - 1


def pad32(x: torch.Tensor, value: float) -> torch.Tensor:
    return F.pad(x, (2, 2, 2, 2), value=value)


def crop28(x: torch.Tensor) -> torch.Tensor:
    return x[..., 2:30, 2:30] if x.shape[-1] == 32 else x


class Batches:
    """Shuffled minibatches of a tensor, epoch after epoch, as a DataLoader with shuffle=True gives them."""

    def __init__(self, data: torch.Tensor, batch_size: int, drop_last: bool, seed: int) -> None:
        self.data, self.batch_size, self.drop_last = data, batch_size, drop_last
        self.generator = torch.Generator().manual_seed(seed)
        self.seen = 0  # images served, for the epoch count

    def __iter__(self) -> Iterator[torch.Tensor]:
        n = len(self.data)
        while True:
            order = torch.randperm(n, generator=self.generator)
            stop = n - n % self.batch_size if self.drop_last else n
            for start in range(0, stop, self.batch_size):
                batch = self.data[order[start : start + self.batch_size]]
                self.seen += len(batch)
                yield batch

    def epochs(self) -> float:
        return self.seen / len(self.data)


# --- what a recipe is ---------------------------------------------------------------------------------
Draw = Callable[[Any, int], torch.Tensor]  # (snapshot, n) -> n images in [0, 1], 1x28x28


@dataclass
class Sampler:
    name: str
    nfe: int | None  # network evaluations per sample (None: adaptive, counted when drawn)
    draw: Draw


@dataclass
class Peer:
    """A peer's training run: ``step()`` trains one minibatch; ``snapshot()`` copies what sampling needs."""

    step: Callable[[], None]
    snapshot: Callable[[], Any]
    batches: Batches
    samplers: list[Sampler]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recipe:
    name: str
    family: str
    source: str
    adaptations: list[str]
    build: Callable[[torch.Tensor, int], Peer] | None  # None: genimg's own trainer


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def frozen(module: nn.Module) -> nn.Module:
    return copy.deepcopy(module).eval().requires_grad_(False)


def in_batches(n: int, fn: Callable[[int], torch.Tensor], batch: int = 500) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([fn(min(batch, n - s)) for s in range(0, n, batch)])


# --- VAE peers ----------------------------------------------------------------------------------------
class ExamplesVAE(nn.Module):
    """pytorch/examples vae/main.py, line for line."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x.view(-1, 784))
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def build_examples_vae(train_x: torch.Tensor, seed: int) -> Peer:
    model = ExamplesVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = Batches(train_x, 128, drop_last=False, seed=seed)
    it = iter(batches)

    def step() -> None:
        data = next(it)
        optimizer.zero_grad()
        recon, mu, logvar = model(data)
        bce = F.binary_cross_entropy(recon, data.view(-1, 784), reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        (bce + kld).backward()
        optimizer.step()

    def draw(snap: nn.Module, n: int) -> torch.Tensor:
        return in_batches(n, lambda m: snap.decode(torch.randn(m, 20)).view(m, 1, 28, 28))

    return Peer(step, lambda: frozen(model), batches, [Sampler("prior", 1, draw)], {"parameters": count_params(model)})


def build_pythae_vae(train_x: torch.Tensor, seed: int) -> Peer:
    from pythae.data.datasets import DatasetOutput
    from pythae.models import VAE, VAEConfig
    from pythae.models.nn.benchmarks.mnist import Decoder_Conv_AE_MNIST, Encoder_Conv_VAE_MNIST
    from pythae.samplers import GaussianMixtureSampler, GaussianMixtureSamplerConfig

    config = VAEConfig(input_dim=(1, 28, 28), latent_dim=16, reconstruction_loss="mse")
    model = VAE(config, encoder=Encoder_Conv_VAE_MNIST(config), decoder=Decoder_Conv_AE_MNIST(config))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = Batches(train_x, 100, drop_last=False, seed=seed)
    it = iter(batches)

    def step() -> None:
        model.train()
        loss = model(DatasetOutput(data=next(it))).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def draw_normal(snap: Any, n: int) -> torch.Tensor:
        return in_batches(n, lambda m: snap.decoder(torch.randn(m, 16))["reconstruction"])

    fitted: dict[int, Any] = {}

    def draw_gmm(snap: Any, n: int) -> torch.Tensor:
        if id(snap) not in fitted:  # fitted once per snapshot, on the training images, as pythae does
            sampler = GaussianMixtureSampler(snap, GaussianMixtureSamplerConfig(n_components=10))
            np.random.seed(0)
            with torch.no_grad():
                sampler.fit(train_x)
            fitted[id(snap)] = sampler
        np.random.seed(torch.randint(0, 2**31 - 1, ()).item())  # sklearn samples from numpy's stream
        with torch.no_grad():
            return fitted[id(snap)].sample(num_samples=n, batch_size=500, return_gen=True)

    samplers = [Sampler("normal", 1, draw_normal), Sampler("gmm10", 1, draw_gmm)]
    return Peer(step, lambda: frozen(model), batches, samplers, {"parameters": count_params(model)})


# --- GAN peers ----------------------------------------------------------------------------------------
def examples_dcgan_init(m: nn.Module) -> None:
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        m.weight.data.normal_(0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


def build_examples_dcgan(train_x: torch.Tensor, seed: int) -> Peer:
    nz, ngf, ndf, nc = 100, 64, 64, 1
    # dcgan/main.py's nets less their 64x64 stage: 4 -> 8 -> 16 -> 32 pixels
    net_g = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),
        nn.BatchNorm2d(ngf * 4),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf * 2),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
        nn.Tanh(),
    )
    net_d = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 2),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 4),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False),
        nn.Sigmoid(),
    )
    net_g.apply(examples_dcgan_init)
    net_d.apply(examples_dcgan_init)
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    batches = Batches(pad32(to_pm1(train_x), -1.0), 64, drop_last=False, seed=seed)
    it = iter(batches)

    def step() -> None:
        real = next(it)
        b = len(real)
        # (1) Update D: maximise log(D(x)) + log(1 - D(G(z)))
        net_d.zero_grad()
        err_real = criterion(net_d(real).view(-1), torch.ones(b))
        err_real.backward()
        fake = net_g(torch.randn(b, nz, 1, 1))
        err_fake = criterion(net_d(fake.detach()).view(-1), torch.zeros(b))
        err_fake.backward()
        opt_d.step()
        # (2) Update G: maximise log(D(G(z)))
        net_g.zero_grad()
        criterion(net_d(fake).view(-1), torch.ones(b)).backward()
        opt_g.step()

    def draw(snap: nn.Module, n: int) -> torch.Tensor:
        # main.py never calls netG.eval(): its samples use the batch's statistics (a copy keeps the snapshot)
        g = copy.deepcopy(snap).train()
        return in_batches(n, lambda m: ((crop28(g(torch.randn(m, nz, 1, 1))) + 1) / 2).clamp(0, 1))

    info = {"parameters_g": count_params(net_g), "parameters_d": count_params(net_d)}
    return Peer(step, lambda: frozen(net_g), batches, [Sampler("G(z)", 1, draw)], info)


class KerasSameConv(nn.Module):
    """Keras Conv2D(k=5, strides=2, padding='same') on an even size: 1 pixel of padding before, 2 after."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 5, 2, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (1, 2, 1, 2)))


class KerasSameConvTranspose(nn.Module):
    """Keras Conv2DTranspose(k=5, padding='same', use_bias=False): output = stride x input; for
    stride 2 the full transposed conv is cropped 1 before and 2 after, as TensorFlow does."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.conv = nn.ConvTranspose2d(cin, cout, 5, stride, 2 if stride == 1 else 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.stride == 2:
            y = y[..., 1:-2, 1:-2]
        return y


def keras_bn(c: int, dims: int = 2) -> nn.Module:
    bn = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
    return bn(c, eps=1e-3, momentum=0.01)  # Keras momentum 0.99 is PyTorch's 0.01


class TFGenerator(nn.Module):
    def __init__(self, noise_dim: int = 100) -> None:
        super().__init__()
        self.dense = nn.Linear(noise_dim, 7 * 7 * 256, bias=False)
        self.bn0 = keras_bn(7 * 7 * 256, dims=1)
        self.up1 = KerasSameConvTranspose(256, 128, 1)
        self.bn1 = keras_bn(128)
        self.up2 = KerasSameConvTranspose(128, 64, 2)
        self.bn2 = keras_bn(64)
        self.up3 = KerasSameConvTranspose(64, 1, 2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.bn0(self.dense(z)), 0.3)
        # Keras reshapes NHWC (7, 7, 256); the same numbers in NCHW order are a permutation
        x = x.view(-1, 7, 7, 256).permute(0, 3, 1, 2)
        x = F.leaky_relu(self.bn1(self.up1(x)), 0.3)
        x = F.leaky_relu(self.bn2(self.up2(x)), 0.3)
        return torch.tanh(self.up3(x))


class TFDiscriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = KerasSameConv(1, 64)
        self.conv2 = KerasSameConv(64, 128)
        self.dense = nn.Linear(7 * 7 * 128, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.dropout(F.leaky_relu(self.conv1(x), 0.3), 0.3, self.training)
        x = F.dropout(F.leaky_relu(self.conv2(x), 0.3), 0.3, self.training)
        return self.dense(x.permute(0, 2, 3, 1).flatten(1))  # Keras flattens NHWC


def keras_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)  # glorot_uniform
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def build_tf_dcgan(train_x: torch.Tensor, seed: int) -> Peer:
    noise_dim, batch_size = 100, 256
    gen, disc = TFGenerator(noise_dim), TFDiscriminator()
    keras_init(gen)
    keras_init(disc)
    opt_g = torch.optim.Adam(gen.parameters(), lr=1e-4, eps=1e-7)
    opt_d = torch.optim.Adam(disc.parameters(), lr=1e-4, eps=1e-7)
    bce = nn.BCEWithLogitsLoss()
    batches = Batches(to_pm1(train_x), batch_size, drop_last=False, seed=seed)
    it = iter(batches)

    def step() -> None:
        images = next(it)
        gen.train()
        disc.train()
        noise = torch.randn(batch_size, noise_dim)  # the tutorial's noise is BATCH_SIZE even for the last batch
        generated = gen(noise)
        real_out, fake_out = disc(images), disc(generated)
        gen_loss = bce(fake_out, torch.ones_like(fake_out))
        disc_loss = bce(real_out, torch.ones_like(real_out)) + bce(fake_out, torch.zeros_like(fake_out))
        # Both tapes see the same forward pass; each optimiser applies its own gradients
        g_grads = torch.autograd.grad(gen_loss, list(gen.parameters()), retain_graph=True)
        d_grads = torch.autograd.grad(disc_loss, list(disc.parameters()))
        for p, g in zip(gen.parameters(), g_grads):
            p.grad = g
        for p, g in zip(disc.parameters(), d_grads):
            p.grad = g
        opt_g.step()
        opt_d.step()

    def draw(snap: nn.Module, n: int) -> torch.Tensor:
        return in_batches(n, lambda m: ((snap(torch.randn(m, noise_dim)) + 1) / 2).clamp(0, 1))

    info = {"parameters_g": count_params(gen), "parameters_d": count_params(disc)}
    return Peer(step, lambda: frozen(gen), batches, [Sampler("G(z), training=False", 1, draw)], info)


# --- diffusion peers ----------------------------------------------------------------------------------
def forward_flops(fn: Callable[[], Any]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn()
    return counter.get_total_flops()


def genimg_diffusion_flops() -> int:
    """Forward FLOPs per image of genimg's diffusion network at its mnist-sample preset: one DDIM step."""
    from genimg.data import DataSpec
    from genimg.models.base import build_model

    config = config_for("diffusion", [f"dataset={DATASET}"])
    spec = DataSpec.of(load_dataset(DATASET, "val", limit=8))
    model = build_model("diffusion", config.model, spec).eval()
    return forward_flops(lambda: model.sample(1, sampler="ddim", steps=1, progress=False))


def lucidrains_width(target_flops: int) -> tuple[int, int]:
    """The Unet ``dim`` (a multiple of 8: its GroupNorm has 8 groups) whose forward FLOPs per image at
    32x32 are nearest ``target_flops``; returns (dim, its FLOPs)."""
    from denoising_diffusion_pytorch import Unet

    best = None
    for dim in range(8, 129, 8):
        net = Unet(dim=dim, channels=1).eval()
        flops = forward_flops(lambda net=net: net(torch.zeros(1, 1, 32, 32), torch.zeros(1)))
        if best is None or abs(math.log(flops / target_flops)) < abs(math.log(best[1] / target_flops)):
            best = (dim, flops)
        if flops > 2 * target_flops:
            break
    assert best is not None
    return best


def build_lucidrains(train_x: torch.Tensor, seed: int, dim: int) -> Peer:
    from denoising_diffusion_pytorch import GaussianDiffusion, Unet
    from ema_pytorch import EMA

    diffusion = GaussianDiffusion(Unet(dim=dim, channels=1), image_size=32)
    optimizer = torch.optim.Adam(diffusion.parameters(), lr=1e-4, betas=(0.9, 0.99))
    ema = EMA(diffusion, beta=0.995, update_every=10)
    batches = Batches(pad32(train_x, 0.0), 16, drop_last=False, seed=seed)  # auto_normalize: [0, 1] in
    it = iter(batches)

    def step() -> None:
        diffusion.train()
        loss = diffusion(next(it))
        loss.backward()
        nn.utils.clip_grad_norm_(diffusion.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        ema.update()

    def draw_default(snap: Any, n: int) -> torch.Tensor:
        return in_batches(n, lambda m: crop28(snap.sample(batch_size=m)).clamp(0, 1))

    def draw_ddim50(snap: Any, n: int) -> torch.Tensor:
        ddim = copy.copy(snap)  # the same network; its own sampling settings
        ddim.sampling_timesteps, ddim.is_ddim_sampling = 50, True
        return in_batches(n, lambda m: crop28(ddim.sample(batch_size=m)).clamp(0, 1))

    samplers = [Sampler("ancestral-1000 (default)", 1000, draw_default), Sampler("ddim-50", 50, draw_ddim50)]
    mflops = forward_flops(lambda: diffusion.model(torch.zeros(1, 1, 32, 32), torch.zeros(1))) / 1e6
    info = {"parameters": count_params(diffusion.model), "dim": dim, "forward_mflops_per_image": round(mflops, 1)}
    return Peer(step, lambda: frozen(ema.ema_model), batches, samplers, info)


class KarrasAugmented:
    """k-diffusion's train.py data path on a tensor: each image through ``KarrasAugmentationPipeline``."""

    def __init__(self, train_x: torch.Tensor, prob: float, batch_size: int, seed: int) -> None:
        import k_diffusion as K
        from PIL import Image

        self.pipeline = K.augmentation.KarrasAugmentationPipeline(prob, disable_all=prob == 0)
        # 8-bit data: the PIL images are exact
        pixels = (train_x[:, 0] * 255).round().to(torch.uint8).numpy()
        self.images = [Image.fromarray(p, mode="L") for p in pixels]
        self.batches = Batches(torch.arange(len(train_x)), batch_size, drop_last=True, seed=seed)
        self.it = iter(self.batches)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        out = [self.pipeline(self.images[i]) for i in next(self.it).tolist()]
        return torch.stack([o[0] for o in out]), torch.stack([o[2] for o in out])


def build_k_diffusion(train_x: torch.Tensor, seed: int) -> Peer:
    import k_diffusion as K

    config = K.config.load_config(copy.deepcopy(K_DIFFUSION_MNIST))
    mc = config["model"]
    inner = K.config.make_model(config)
    inner_ema = copy.deepcopy(inner)
    oc = config["optimizer"]
    opt = torch.optim.AdamW(
        inner.param_groups(oc["lr"]),
        lr=oc["lr"],
        betas=tuple(oc["betas"]),
        eps=oc["eps"],
        weight_decay=oc["weight_decay"],
    )
    # config_mnist's lr_sched is constant with warmup 0: a factor of 1 - 0 ** (step + 1) = 1 at every step.
    # K.utils.ConstantLRWithWarmup cannot be built on torch >= 2.2 (it passes LRScheduler the removed
    # `verbose` argument), so the optimiser runs without it: the same learning rate at every step.
    assert config["lr_sched"] == {"type": "constant", "warmup": 0.0}
    ema_sched = K.utils.EMAWarmup(power=config["ema_sched"]["power"], max_value=config["ema_sched"]["max_value"])
    sample_density = K.config.make_sample_density(mc)
    model = K.config.make_denoiser_wrapper(config)(inner)
    model_ema = K.config.make_denoiser_wrapper(config)(inner_ema)
    data = KarrasAugmented(train_x, mc["augment_prob"], 64, seed)

    def step() -> None:
        model.train()
        reals, aug_cond = data.next()
        noise = torch.randn_like(reals)
        sigma = sample_density([reals.shape[0]], device="cpu")
        losses = model.loss(reals, noise, sigma, aug_cond=aug_cond)
        losses.mean().backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        K.utils.ema_update(model, model_ema, ema_sched.get_value())
        ema_sched.step()

    sigma_min, sigma_max = mc["sigma_min"], mc["sigma_max"]

    def draw_dpmpp(snap: Any, n: int) -> torch.Tensor:
        sigmas = K.sampling.get_sigmas_karras(50, sigma_min, sigma_max, rho=7.0)

        def one(m: int) -> torch.Tensor:
            x = torch.randn(m, 1, 28, 28) * sigma_max
            x0 = K.sampling.sample_dpmpp_2m_sde(snap, x, sigmas, eta=0.0, solver_type="heun", disable=True)
            return ((x0 + 1) / 2).clamp(0, 1)

        return in_batches(n, one)

    def draw_heun(snap: Any, n: int) -> torch.Tensor:
        sigmas = K.sampling.get_sigmas_karras(25, sigma_min, sigma_max, rho=7.0)  # 2 x 25 - 1 = 49 NFE

        def one(m: int) -> torch.Tensor:
            x0 = K.sampling.sample_heun(snap, torch.randn(m, 1, 28, 28) * sigma_max, sigmas, disable=True)
            return ((x0 + 1) / 2).clamp(0, 1)

        return in_batches(n, one)

    samplers = [Sampler("dpmpp-2m-sde eta=0, 50 (train.py's)", 50, draw_dpmpp), Sampler("heun-49", 49, draw_heun)]
    mflops = forward_flops(lambda: inner(torch.zeros(1, 1, 28, 28), torch.ones(1))) / 1e6
    info = {"parameters": count_params(inner), "forward_mflops_per_image": round(mflops, 1)}
    return Peer(step, lambda: frozen(model_ema), data.batches, samplers, info)


def build_torchcfm(train_x: torch.Tensor, seed: int) -> Peer:
    from torchcfm.conditional_flow_matching import ExactOptimalTransportConditionalFlowMatcher
    from torchcfm.models.unet import UNetModel

    model = UNetModel(dim=(1, 28, 28), num_channels=32, num_res_blocks=1)
    optimizer = torch.optim.Adam(model.parameters())
    fm = ExactOptimalTransportConditionalFlowMatcher(sigma=0.0)
    batches = Batches(to_pm1(train_x), 128, drop_last=True, seed=seed)
    it = iter(batches)

    def step() -> None:
        model.train()
        optimizer.zero_grad()
        x1 = next(it)
        x0 = torch.randn_like(x1)
        t, xt, ut = fm.sample_location_and_conditional_flow(x0, x1)
        loss = torch.mean((model(t, xt) - ut) ** 2)
        loss.backward()
        optimizer.step()

    nfe_seen: list[int] = []

    def draw_dopri5(snap: nn.Module, n: int) -> torch.Tensor:
        from torchdiffeq import odeint

        def one(m: int) -> torch.Tensor:
            calls = [0]

            def f(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
                calls[0] += 1
                return snap(t.expand(len(x)), x)

            traj = odeint(f, torch.randn(m, 1, 28, 28), torch.linspace(0, 1, 2), atol=1e-4, rtol=1e-4, method="dopri5")
            nfe_seen.append(calls[0])
            return ((traj[-1].clip(-1, 1) + 1) / 2).clamp(0, 1)

        return in_batches(n, one)

    def draw_euler50(snap: nn.Module, n: int) -> torch.Tensor:
        def one(m: int) -> torch.Tensor:
            x = torch.randn(m, 1, 28, 28)
            ts = torch.linspace(0, 1, 51)
            for t0, t1 in zip(ts[:-1], ts[1:]):
                x = x + (t1 - t0) * snap(t0.expand(m), x)
            return ((x.clip(-1, 1) + 1) / 2).clamp(0, 1)

        return in_batches(n, one)

    samplers = [Sampler("dopri5 atol=rtol=1e-4 (default)", None, draw_dopri5), Sampler("euler-50", 50, draw_euler50)]
    mflops = forward_flops(lambda: model(torch.zeros(1), torch.zeros(1, 1, 28, 28))) / 1e6
    info = {"parameters": count_params(model), "dopri5_nfe": nfe_seen, "forward_mflops_per_image": round(mflops, 1)}
    return Peer(step, lambda: frozen(model), batches, samplers, info)


# --- the recipes --------------------------------------------------------------------------------------
def recipes(lucidrains_dim: Callable[[], int]) -> list[Recipe]:
    data_note = "the 4,000-image MNIST sample instead of MNIST's 60,000 (the benchmark's data)"
    return [
        Recipe("genimg", "vae", "genimg vae preset mnist-sample", [], None),
        Recipe(
            "pytorch-examples-vae",
            "vae",
            "pytorch/examples vae/main.py",
            [data_note, "samples: decode(randn), the decoder's Bernoulli means, as the script saves them"],
            build_examples_vae,
        ),
        Recipe(
            "pythae-vae",
            "vae",
            "pythae 0.1.2 VAE + Encoder_Conv_VAE_MNIST / Decoder_Conv_AE_MNIST, examples/scripts/configs/mnist",
            [data_note, "pythae's BaseTrainer loop run here step by step (Adam 1e-3, batch 100, no scheduler)"],
            build_pythae_vae,
        ),
        Recipe("genimg", "gan", "genimg dcgan preset mnist-sample", [], None),
        Recipe(
            "pytorch-examples-dcgan",
            "gan",
            "pytorch/examples dcgan/main.py defaults",
            [
                data_note,
                "nc=1",
                "64x64 nets adapted to 32x32 by dropping one stage of G (ngf*8) and of D (ndf*8)",
                "images padded 28->32 with black (-1); samples cropped to the centre 28x28",
            ],
            build_examples_dcgan,
        ),
        Recipe(
            "tf-dcgan-tutorial",
            "gan",
            "TensorFlow DCGAN tutorial (tensorflow/docs dcgan.ipynb), rebuilt in PyTorch layer for layer",
            [data_note, "PyTorch instead of Keras, with Keras' padding, BatchNorm, init and Adam epsilon"],
            build_tf_dcgan,
        ),
        Recipe("genimg", "diffusion", "genimg diffusion preset mnist-sample", [], None),
        Recipe(
            "lucidrains-ddpm",
            "diffusion",
            "denoising-diffusion-pytorch 2.3.4 Unet + GaussianDiffusion defaults, Trainer defaults",
            [
                data_note,
                "Unet dim sized to genimg's forward FLOPs per image",
                "images padded 28->32 with black; samples cropped to the centre 28x28",
                "Trainer's horizontal flip off (a mirrored digit is not a digit)",
                "Trainer loop without accelerate (one process)",
                STUB_NOTE,
            ],
            lambda x, seed: build_lucidrains(x, seed, lucidrains_dim()),
        ),
        Recipe(
            "k-diffusion",
            "diffusion",
            "k-diffusion 0.1.1.post1, configs/config_mnist.json (4601bf0), train.py defaults",
            [
                data_note,
                "train.py's loop without accelerate (one process, no DataLoader workers)",
                "its constant lr schedule (warmup 0, a factor of 1) left out: it cannot be built on torch >= 2.2",
                STUB_NOTE,
            ],
            build_k_diffusion,
        ),
        Recipe(
            "torchcfm",
            "diffusion",
            "torchcfm 1.0.7 examples/images/mnist_example.ipynb (OT-CFM)",
            [data_note, "dopri5 through torchdiffeq.odeint instead of torchdyn's NeuralODE", STUB_NOTE],
            build_torchcfm,
        ),
    ]


# --- training to budgets --------------------------------------------------------------------------------
def train_peer(recipe: Recipe, train_x: torch.Tensor, seed: int, budgets_s: list[float]) -> tuple[Peer, dict]:
    """One run to the largest budget, snapshotted when its training clock passes each budget."""
    assert recipe.build is not None
    torch.manual_seed(seed)
    np.random.seed(seed)
    peer = recipe.build(train_x, seed)
    pending = sorted(budgets_s)
    snapshots: dict[float, dict[str, Any]] = {}
    spent, steps = 0.0, 0
    while pending:
        c0 = time.process_time()
        peer.step()
        spent += time.process_time() - c0
        steps += 1
        while pending and spent >= pending[0]:
            snapshots[pending.pop(0)] = {
                "model": peer.snapshot(),
                "cpu_s": round(spent, 2),
                "steps": steps,
                "epochs": round(peer.batches.epochs(), 2),
            }
    return peer, snapshots


def genimg_run(family: str, seed: int, budget_s: float, out: Path, extra: list[str]) -> tuple[Any, dict, dict]:
    """A budgeted genimg run (reused if it finished before) of the preset with ``extra`` overrides;
    returns (kept model, summary, resolved config)."""
    from genimg.runs.loading import load_model

    name = f"{family}-s{seed}-{budget_s:g}s"
    overrides = [
        f"dataset={DATASET}",
        f"budget={budget_s:g}s",
        "threads=1",
        f"seed={seed}",
        f"out={out}",
        f"run_name={name}",
        "progress=false",
        "likelihood_at_end=false",
        *extra,
    ]
    config = config_for(GENIMG_FAMILY[family], overrides)
    path = out / name
    summary_file = path / "summary.json"
    if summary_file.exists() and json.loads(summary_file.read_text()).get("finished"):
        summary = json.loads(summary_file.read_text())
        return load_model(path), summary, config.to_dict()
    result = genimg_train(config, run_dir=path, quiet=True)
    return result.model, result.summary, config.to_dict()


def score_runs(runs: list[Path], n: int, seeds: int) -> None:
    """Each finished run's default sampler scored with n samples x seeds (``--score-runs``)."""
    scorer = Scorer()
    for run in runs:
        summary = RunDir.open(run).summary()
        model = load_model(run)
        sampler = genimg_samplers(model, summary.get("precision", "fp32"))[0]
        score = scorer.score(lambda m, model=model, sampler=sampler: sampler.draw(model, m), n, seeds)
        budget = summary.get("budget_spent_s") or summary.get("train_cpu_s") or float("nan")
        print(
            f"{run}: {budget / 60:.2f} CPU-min, {sampler.name}: FID/floor {score['fid_over_floor']:.2f} "
            f"(FID {score['fid']:.1f}, floor {score['floor']:.1f}, {n}x{seeds})",
            flush=True,
        )


def genimg_samplers(model: Any, precision: str) -> list[Sampler]:
    """The model's default sampler and, where it differs, the one it is monitored with (diffusion: 50 steps)."""

    def make(options: dict[str, Any]) -> Draw:
        def draw(snap: Any, n: int) -> torch.Tensor:
            # as evaluate_run draws them: its precision, from the caller's fixed seed
            with autocast(precision, snap.device):
                return sample_images(snap, n, **options)

        return draw

    cfg = getattr(model, "config", None)
    default_name, default_nfe = "default", 1
    if cfg is not None and hasattr(cfg, "timesteps") and hasattr(cfg, "sample_steps"):  # a diffusion model
        steps = cfg.sample_steps or getattr(cfg, "timesteps", None)
        default_name, default_nfe = f"{cfg.sampler}-{steps} (default)", steps
    samplers = [Sampler(default_name, default_nfe, make({}))]
    monitor = model.monitoring_sample_options()
    same_as_default = cfg is not None and (monitor.get("sampler"), monitor.get("steps")) == (
        getattr(cfg, "sampler", None),
        getattr(cfg, "sample_steps", None),
    )
    if monitor and not same_as_default:
        steps = monitor.get("steps")
        samplers.append(Sampler(f"{monitor.get('sampler')}-{steps}", steps, make(dict(monitor))))
    return samplers


# --- scoring --------------------------------------------------------------------------------------------
class Scorer:
    """``genimg evaluate``'s sample scores for any tensor of samples: the dataset classifier's features,
    the first n test images as reference, the real-vs-real floor at the same n."""

    def __init__(self) -> None:
        self.data = DataConfig(dataset=DATASET)
        self.extractor = extractor_for(self.data, "classifier")
        self.test = load_dataset(DATASET, "test")
        self.train = load_dataset(DATASET, "train")
        self.floors: dict[int, tuple[torch.Tensor, float]] = {}

    def reference(self, n: int) -> tuple[torch.Tensor, float]:
        if n not in self.floors:
            real = self.extractor.features(self.test.images[:n])
            floor = real_floor(self.extractor, self.train, real, n, 10, ("fid",), seed=0)
            self.floors[n] = (real, floor["fid"]["mean"])
        return self.floors[n]

    def score(self, draw: Callable[[int], torch.Tensor], n: int, seeds: int) -> dict[str, Any]:
        real, floor = self.reference(n)
        fids, cpu = [], 0.0
        for i in range(seeds):
            seed = EVAL_SEED_OFFSET + i
            c0 = time.process_time()
            with fixed_seed(seed):
                np.random.seed(seed)
                images = draw(n).float().cpu()
            cpu += time.process_time() - c0
            assert images.shape == (n, 1, 28, 28), images.shape
            fids.append(score_images(self.extractor, real, images, ("fid",), seed)["fid"])
        mean = statistics.fmean(fids)
        return {
            "fid": mean,
            "fid_std": statistics.pstdev(fids) if len(fids) > 1 else 0.0,
            "floor": floor,
            "fid_over_floor": mean / floor,
            "n": n,
            "seeds": seeds,
            "sampling_cpu_s": round(cpu, 1),
        }


# --- output ---------------------------------------------------------------------------------------------
def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows grouped by (family, recipe, sampler, budget): mean and spread over training seeds."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["family"], r["recipe"], r["sampler"], r["budget_min"]), []).append(r)
    out = []
    for (family, recipe, sampler, budget), rs in groups.items():
        values = [r["fid_over_floor"] for r in rs]
        out.append(
            {
                "family": family,
                "recipe": recipe,
                "sampler": sampler,
                "budget_min": budget,
                "fid_over_floor": statistics.fmean(values),
                "spread": statistics.pstdev(values) if len(values) > 1 else 0.0,
                "training_seeds": len(rs),
                "epochs": statistics.fmean(r["epochs"] for r in rs),
                "cpu_min": statistics.fmean(r["cpu_s"] for r in rs) / 60,
                "n": rs[0]["n"],
                "sampling_seeds": rs[0]["seeds"],
            }
        )
    order = {"vae": 0, "gan": 1, "diffusion": 2}
    return sorted(out, key=lambda a: (order[a["family"]], a["budget_min"], a["recipe"] != "genimg", a["recipe"]))


def table(aggregated: list[dict[str, Any]]) -> str:
    lines = [
        "| family | recipe | sampler | budget CPU-min | FID/floor (mean ± spread over training seeds) "
        "| epochs | CPU-min spent | samples x seeds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a in aggregated:
        lines.append(
            f"| {a['family']} | {a['recipe']} | {a['sampler']} | {a['budget_min']:g} "
            f"| {a['fid_over_floor']:.2f} ± {a['spread']:.2f} ({a['training_seeds']}) | {a['epochs']:.1f} "
            f"| {a['cpu_min']:.2f} | {a['n']} x {a['sampling_seeds']} |"
        )
    return "\n".join(lines)


def figure(family: str, aggregated: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.5))
    lines: dict[str, list[dict[str, Any]]] = {}
    for a in aggregated:
        if a["family"] == family:
            protocol = "" if (a["n"], a["sampling_seeds"]) == (500, 5) else f" [{a['n']} x {a['sampling_seeds']}]"
            lines.setdefault(f"{a['recipe']}: {a['sampler']}{protocol}", []).append(a)
    for label, pts in sorted(lines.items(), key=lambda kv: (not kv[0].startswith("genimg"), kv[0])):
        pts.sort(key=lambda a: a["budget_min"])
        # today's preset bold black; its variants and earlier presets grey and dashed; the peers in colour
        if label.startswith("genimg:"):
            style: dict[str, Any] = dict(linewidth=2.5, color="black")
        elif label.startswith("genimg"):
            style = dict(linewidth=1.5, color="grey", linestyle="--")
        else:
            style = dict(linewidth=1.2)
        ax.errorbar(
            [a["budget_min"] for a in pts],
            [a["fid_over_floor"] for a in pts],
            yerr=[a["spread"] for a in pts],
            marker="o",
            capsize=3,
            label=label,
            **style,
        )
    ax.set_xlabel("training budget (CPU-minutes, one thread)")
    ax.set_ylabel("FID / real-vs-real floor (lower is better)")
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the plot: never over a line
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


# --- main -----------------------------------------------------------------------------------------------
def paths(comma_separated: str) -> list[Path]:
    return [Path(p) for p in comma_separated.split(",") if p]


def merge(dirs: list[Path], peers_only: list[Path], out: Path, renames: dict[str, str]) -> None:
    """One table and one figure per family from the rows of several runs of this script (added
    seeds, budgets run separately), or of earlier merges (a directory with ``rows.json``, which
    every merge writes so that a later one can add to it). ``peers_only``: runs whose genimg rows
    are of an earlier preset. ``renames``: recipe names to replace, e.g. a ``--genimg-set``
    variant that has become the preset."""
    rows, machines = [], []
    for d in [*dirs, *peers_only]:
        if (d / "results.json").exists():
            results = json.loads((d / "results.json").read_text())
            found, described = results["rows"], [describe_machine(results["machine"])]
        else:
            merged = json.loads((d / "rows.json").read_text())
            found, described = merged["rows"], merged["machines"]
        machines += described
        rows += [
            {**r, "recipe": renames.get(r["recipe"], r["recipe"])}
            for r in found
            if d in dirs or not r["recipe"].startswith("genimg")
        ]
    # Runs before the sampler list dropped repeats scored the default sampler twice under two names.
    unique: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        unique.setdefault((r["family"], r["recipe"], r["seed"], r["budget_min"], r["fid"]), r)
    rows = list(unique.values())
    machines = sorted(set(machines))
    aggregated = aggregate(rows)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "rows.json", json.dumps({"machines": machines, "rows": rows}, indent=1) + "\n")
    write_text(out / "table.md", table(aggregated) + "\n\nmachines:\n" + "\n".join(machines) + "\n")
    for family in sorted({a["family"] for a in aggregated}):
        rows_of_family = [a for a in aggregated if a["family"] == family]
        figure(family, rows_of_family, out / f"{family}.png", f"{family} on {DATASET}")
    print(table(aggregated))
    print(f"merged {len(rows)} rows from {len(dirs) + len(peers_only)} runs into {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--merge", help="merge the results.json of these output directories (comma-separated) into --out")
    ap.add_argument("--merge-peers-only", default="", help="directories whose peer rows only are merged")
    ap.add_argument(
        "--rename", action="append", default=[], metavar="OLD=NEW", help="merging: a recipe's new name in the table"
    )
    ap.add_argument("--families", default="vae,gan,diffusion")
    ap.add_argument("--budgets", help="CPU-minutes for every family, comma-separated (default: per family)")
    ap.add_argument("--seeds", type=int, default=2, help="training seeds")
    ap.add_argument("--first-seed", type=int, default=0, help="first training seed (add seeds later)")
    ap.add_argument("--samples", type=int, default=500, help="samples per sampling seed (and test images)")
    ap.add_argument("--sampling-seeds", type=int, default=5)
    ap.add_argument("--slow-samples", type=int, help=f"samples per seed for samplers above {SLOW_NFE} NFE")
    ap.add_argument("--slow-seeds", type=int, help=f"sampling seeds for samplers above {SLOW_NFE} NFE")
    ap.add_argument("--max-nfe", type=int, help="leave out samplers above this many network evaluations per sample")
    ap.add_argument(
        "--score-runs",
        help="score finished genimg runs (comma-separated run directories) with --samples x --sampling-seeds and stop: "
        "genimg's rows at the protocol of a peer scored with fewer samples",
    )
    ap.add_argument(
        "--genimg-set", action="append", default=[], metavar="KEY=VALUE", help="an override of genimg's preset"
    )
    ap.add_argument("--recipes", help="only these recipe names (comma-separated), e.g. genimg,torchcfm")
    ap.add_argument("--out", default="runs/bench/quality")
    args = ap.parse_args()
    if args.merge:
        renames = dict(r.rsplit("=", 1) for r in args.rename)  # an old name may hold "=", the new one not
        merge(paths(args.merge), paths(args.merge_peers_only), Path(args.out), renames)
        return
    torch.set_num_threads(1)
    if args.score_runs:
        score_runs(paths(args.score_runs), args.samples, args.sampling_seeds)
        return
    os.environ.setdefault("TQDM_DISABLE", "1")  # the peers' samplers draw progress bars of their own
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in families if f not in FAMILY_BUDGETS]
    if unknown:
        ap.error(f"unknown family {unknown[0]}; choose from {', '.join(FAMILY_BUDGETS)}")
    only = {r.strip() for r in args.recipes.split(",")} if args.recipes else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    slow_n = args.slow_samples or args.samples
    slow_seeds = args.slow_seeds or args.sampling_seeds
    install_import_stubs()

    mach = machine()
    print(describe_machine(mach), flush=True)
    command = " ".join([Path(sys.executable).name, *sys.argv])
    results: dict[str, Any] = {
        "command": command,
        "machine": mach,
        "dataset": DATASET,
        "protocol": (
            f"{args.samples} samples x {args.sampling_seeds} sampling seeds vs the first {args.samples} test images "
            f"(samplers above {SLOW_NFE} NFE: {slow_n} x {slow_seeds}), dataset-classifier features, FID over the "
            "real-vs-real floor; one thread; CPU budgets of the training process"
        ),
        "max_nfe": args.max_nfe,
        "recipes": {},
        "genimg_configs": {},
        "rows": [],
    }
    results_file = out / "results.json"
    scorer = Scorer()
    results["extractor"] = scorer.extractor.extractor_id()
    train_x = load_dataset(DATASET, "train").images

    dim_cache: dict[str, Any] = {}

    def lucidrains_dim() -> int:
        if "dim" not in dim_cache:
            target = genimg_diffusion_flops()
            dim, flops = lucidrains_width(target)
            dim_cache.update(dim=dim, flops=flops, genimg_flops=target)
            print(f"lucidrains Unet dim={dim}: {flops / 1e6:.1f} MFLOP/image forward vs genimg's {target / 1e6:.1f}")
            results["lucidrains_width"] = dict(dim_cache)
        return dim_cache["dim"]

    def save() -> None:
        aggregated = aggregate(results["rows"])
        results["table"] = aggregated
        write_text(results_file, json.dumps(results, indent=2, default=str))
        write_text(out / "table.md", table(aggregated) + "\n\n" + describe_machine(mach) + "\n")

    for family in families:
        budgets = [float(b) for b in args.budgets.split(",")] if args.budgets else list(FAMILY_BUDGETS[family])
        budgets_s = [b * 60 for b in budgets]
        for recipe in recipes(lucidrains_dim):
            if recipe.family != family or (only and recipe.name not in only):
                continue
            results["recipes"][f"{family}/{recipe.name}"] = {"source": recipe.source, "adaptations": recipe.adaptations}
            # genimg's preset with --genimg-set overrides is a recipe of its own in the table
            label = (
                f"{recipe.name} [{' '.join(args.genimg_set)}]"
                if recipe.build is None and args.genimg_set
                else recipe.name
            )
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                runs: list[tuple[float, Any, list[Sampler], dict[str, Any]]] = []
                if recipe.build is None:
                    for b in budgets_s:
                        t0 = time.perf_counter()
                        model, summary, config = genimg_run(family, seed, b, out / "genimg-runs", args.genimg_set)
                        results["genimg_configs"].setdefault(family, config)
                        info = {
                            "cpu_s": summary.get("budget_spent_s"),
                            "train_cpu_s": summary.get("train_cpu_s"),
                            "epochs": summary.get("epochs_trained"),
                            "kept_epoch": summary.get("best_epoch"),
                            "precision": summary.get("precision"),
                            "parameters": summary.get("parameters"),
                            "train_wall_s": round(time.perf_counter() - t0, 1),
                        }
                        runs.append((b, model, genimg_samplers(model, summary.get("precision", "fp32")), info))
                else:
                    t0 = time.perf_counter()
                    peer, snaps = train_peer(recipe, train_x, seed, budgets_s)
                    wall = round(time.perf_counter() - t0, 1)
                    extra = {k: v for k, v in peer.info.items() if isinstance(v, (int, float, str))}
                    for b in budgets_s:
                        s = snaps[b]
                        info = {"cpu_s": s["cpu_s"], "epochs": s["epochs"], "steps": s["steps"], **extra}
                        info["train_wall_s"] = wall
                        runs.append((b, s["model"], peer.samplers, info))
                for b, model, samplers, info in runs:
                    for sampler in samplers:
                        if args.max_nfe is not None and sampler.nfe is not None and sampler.nfe > args.max_nfe:
                            continue  # left out by --max-nfe (recorded in results["max_nfe"])
                        slow = sampler.nfe is not None and sampler.nfe > SLOW_NFE
                        n, k = (slow_n, slow_seeds) if slow else (args.samples, args.sampling_seeds)
                        t0 = time.perf_counter()
                        score = scorer.score(lambda m, model=model, sampler=sampler: sampler.draw(model, m), n, k)
                        row = {
                            "family": family,
                            "recipe": label,
                            "seed": seed,
                            "budget_min": b / 60,
                            "sampler": sampler.name,
                            "nfe": sampler.nfe,
                            **info,
                            **score,
                            "scoring_wall_s": round(time.perf_counter() - t0, 1),
                        }
                        if recipe.name == "torchcfm" and sampler.nfe is None:
                            seen = peer.info.get("dopri5_nfe") or []
                            row["nfe"] = round(statistics.fmean(seen), 1) if seen else None
                            seen.clear()
                        results["rows"].append(row)
                        print(
                            f"{family:9s} {label:24s} seed {seed} {b / 60:5.2f} CPU-min "
                            f"(spent {row['cpu_s'] / 60 if row['cpu_s'] else float('nan'):.2f}, "
                            f"{row['epochs']} epochs) {sampler.name:36s} FID/floor {score['fid_over_floor']:7.2f} "
                            f"(FID {score['fid']:.1f}, floor {score['floor']:.1f}, {n}x{k})",
                            flush=True,
                        )
                        save()
        agg = [a for a in aggregate(results["rows"]) if a["family"] == family]
        if agg:
            title = f"{family} on {DATASET}\n" + describe_machine(mach).replace("; GEMM", ";\nGEMM")
            figure(family, agg, out / f"{family}.png", title)
    save()
    print()
    print(table(results["table"]))
    print()
    print(describe_machine(mach))
    print(f"results: {results_file}; figures: {', '.join(str(out / f'{f}.png') for f in families)}")


if __name__ == "__main__":
    main()
