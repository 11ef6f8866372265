"""genimg's VAE against pythae 0.1.2's VAE, in one run, on statically binarised digits (8x8) or
the binarised 28x28 MNIST sample.

Same network (pythae's default MLP: one hidden layer of 512 ReLU units, z = 16, Bernoulli
decoder), 100 epochs, batch 100, Adam 1e-3, same train split, images binarised at 0.5. Both test
NLLs come from the same importance-weighted estimator (k = 1000) written here once and applied
to both models. The two libraries alternate seed by seed, so a busy spell on the machine hits
both alike; the table gives median wall times and their ratio, and median CPU times.

genimg trains through ``genimg.train.train`` with ``config_for("vae", ["dataset=...", ...])``,
so the preset of the dataset applies and the overrides above replace what it sets. Its
precision is ``--precision`` (default fp32, pythae's; ``auto`` picks bf16 at 28x28 on a CPU
with native bf16).

    pip install -e '.[bench]'   # pythae, beside the installed torch
    python benchmarks/bench_vae_pythae.py [--dataset digits|mnist-sample] [--epochs 100] [--k 1000]
                                          [--threads 1] [--seeds 3] [--precision fp32]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time

import genimg  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

# isort: split
import torch

from genimg.config import config_for
from genimg.data import load_dataset
from genimg.train import train


def iw_nll(encode, decode_probs, x: torch.Tensor, k: int, chunk: int = 100) -> float:
    """-log (1/k) sum p(x|z)p(z)/q(z|x), z ~ q(z|x), Bernoulli p(x|z); mean nats per image."""
    out = []
    with torch.no_grad():
        mu, logvar = encode(x)
        std = torch.exp(0.5 * logvar)
        parts = []
        for start in range(0, k, chunk):
            m = min(chunk, k - start)
            eps = torch.randn(m, *mu.shape)
            z = mu + std * eps
            p = decode_probs(z.reshape(-1, mu.shape[1])).reshape(m, x.shape[0], -1).clamp(1e-7, 1 - 1e-7)
            xf = x.reshape(1, x.shape[0], -1)
            log_px_z = (xf * p.log() + (1 - xf) * (1 - p).log()).sum(-1)
            log_pz = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)
            log_qz = (-0.5 * eps.pow(2) - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
            parts.append(log_px_z + log_pz - log_qz)
        lw = torch.cat(parts)
        out = torch.logsumexp(lw, 0) - math.log(k)
    return float(-out.mean())


def run_genimg(epochs: int, out_dir: str, dataset: str, precision: str):
    config = config_for(
        "vae",
        [
            f"dataset={dataset}",
            f"precision={precision}",
            "binarize=0.5",
            "arch=mlp",
            "hidden=512",
            "hidden_layers=1",
            "activation=relu",
            "latent_dim=16",
            "prior=normal",  # pythae's N(0, I), which the IW estimator below assumes (28x28 presets: a mixture)
            "decoder=bernoulli",
            "iw_samples=1",
            "dropout=0",
            f"epochs={epochs}",
            "batch_size=100",
            "lr=1e-3",
            "patience=null",
            "eval_every=1000",
            "sample_every=0",
            "likelihood_at_end=false",
            "progress=false",
            f"out={out_dir}",
            "run_name=genimg",
        ],
    )
    t0, c0 = time.perf_counter(), time.process_time()
    result = train(config, quiet=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    model = result.model
    encode = lambda x: model.encode(x)  # noqa: E731
    decode = lambda z: torch.sigmoid(model.decoder_output(z)[..., 0])  # noqa: E731
    return wall, cpu, encode, decode


def run_pythae(epochs: int, train_x: torch.Tensor, out_dir: str):
    from pythae.data.datasets import BaseDataset
    from pythae.models import VAE, VAEConfig
    from pythae.trainers import BaseTrainer, BaseTrainerConfig

    model = VAE(VAEConfig(input_dim=tuple(train_x.shape[1:]), latent_dim=16, reconstruction_loss="bce"))
    trainer_config = BaseTrainerConfig(
        output_dir=out_dir,
        num_epochs=epochs,
        learning_rate=1e-3,
        per_device_train_batch_size=100,
        per_device_eval_batch_size=100,
        steps_saving=None,
        no_cuda=True,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    dataset = BaseDataset(train_x, torch.zeros(len(train_x)))  # pythae wraps tensors in its own Dataset
    BaseTrainer(model=model, train_dataset=dataset, training_config=trainer_config).train()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    model.eval()

    def encode(x):
        out = model.encoder(x)
        return out.embedding, out.log_covariance

    decode = lambda z: model.decoder(z)["reconstruction"].reshape(z.shape[0], -1)  # noqa: E731
    return wall, cpu, encode, decode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="digits", choices=("digits", "mnist-sample"))
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=3, help="repeats, one seed each, interleaving the two libraries")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"), help="genimg's train.precision")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    # Pay one-time imports (torch's optimiser machinery, pythae) before timing either library.
    import pythae.models  # noqa: F401
    import pythae.trainers  # noqa: F401

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    train_x = load_dataset(args.dataset, "train", binarize=0.5).images
    test_x = load_dataset(args.dataset, "test", binarize=0.5).images
    results: dict[str, dict[str, list[float]]] = {
        name: {"wall": [], "cpu": [], "nll": []} for name in ("genimg", "pythae")
    }
    for seed in range(args.seeds):  # interleaved, so a busy spell on the machine hits both alike
        for name, runner in (
            ("genimg", lambda d: run_genimg(args.epochs, d, args.dataset, args.precision)),
            ("pythae", lambda d: run_pythae(args.epochs, train_x, d)),
        ):
            with tempfile.TemporaryDirectory() as tmp:
                torch.manual_seed(seed)
                wall, cpu, encode, decode = runner(tmp)
            torch.manual_seed(1000 + seed)
            results[name]["wall"].append(wall)
            results[name]["cpu"].append(cpu)
            results[name]["nll"].append(iw_nll(encode, decode, test_x, args.k))
    shape = "x".join(map(str, test_x.shape[2:]))
    print(
        f"binarised {args.dataset} ({shape}, {len(train_x)} train / {len(test_x)} test images), {args.epochs} epochs, "
        f"batch 100, {args.seeds} seeds, {args.threads} thread(s), genimg precision={args.precision}, "
        f"load average {os.getloadavg()[0]:.2f}\n"
    )
    print(
        f"| {args.dataset} | train wall s (median) | train CPU s (median) "
        f"| test NLL (IW, k={args.k}) nats, mean ± std |"
    )
    print("|---|---|---|---|")
    for name, r in results.items():
        nll = torch.tensor(r["nll"])
        print(
            f"| {name} | {statistics.median(r['wall']):.2f} | {statistics.median(r['cpu']):.2f} "
            f"| {nll.mean():.2f} ± {nll.std() if len(nll) > 1 else 0:.2f} |"
        )
    ratio = statistics.median(results["genimg"]["wall"]) / statistics.median(results["pythae"]["wall"])
    cpu_ratio = statistics.median(results["genimg"]["cpu"]) / statistics.median(results["pythae"]["cpu"])
    per_seed = ", ".join(f"{g / p:.2f}" for g, p in zip(results["genimg"]["wall"], results["pythae"]["wall"]))
    print(
        f"\ngenimg/pythae wall-time ratio (medians): {ratio:.2f} (per seed: {per_seed}); "
        f"CPU-time ratio: {cpu_ratio:.2f}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**results, "ratio": ratio, "cpu_ratio": cpu_ratio, "dataset": args.dataset}, f, indent=2)


if __name__ == "__main__":
    main()
