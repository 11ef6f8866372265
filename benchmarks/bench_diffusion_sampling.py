"""genimg's DDIM sampler against diffusers' DDIMScheduler stepping the same network.

    pip install -e '.[bench]'   # diffusers, beside the installed torch
    python benchmarks/bench_diffusion_sampling.py [--run RUN] [--n 447] [--steps 50]
                                                  [--threads 1] [--repeats 3] [--json out.json]

Both samplers drive the same U-Net (the default diffusion config on digits: the weights of
``--run`` if given, else a freshly initialised network with random output weights: throughput
does not depend on what the weights are) from the same x_T, with the same betas, prediction
type, leading timestep spacing, eta = 0 and x0 clipping, in one batch of ``--n`` images under
torch.inference_mode. The table gives CPU seconds (time.process_time, every thread counted;
median of ``--repeats`` after a warm-up), images per second and the ratio to diffusers, plus
the network's own share (the forward passes alone), and the largest difference between the
two samplers' images.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings

import torch

import genimg  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)
from genimg.data import DataSpec, load_dataset
from genimg.io import write_json
from genimg.models.base import build_model
from genimg.models.diffusion.config import DiffusionConfig
from genimg.models.diffusion.model import DiffusionModel

DIFFUSERS_PREDICTION = {"epsilon": "epsilon", "v": "v_prediction", "x0": "sample"}


def build_network(run: str | None) -> DiffusionModel:
    if run:
        from genimg.train import load_model

        model = load_model(run)
        if model.family != "diffusion":
            raise SystemExit(f"{run} is a {model.family} run, not diffusion")
        return model.eval()
    torch.manual_seed(0)
    model = build_model("diffusion", DiffusionConfig(), DataSpec.of(load_dataset("digits", "test")))
    with torch.no_grad():  # the zero-initialised last layers would make every step trivial
        for p in model.net.parameters():
            if torch.count_nonzero(p) == 0 and p.dim() > 1:
                p.normal_(0, 0.02)
    return model.eval()


def genimg_ddim(model: DiffusionModel, noise: torch.Tensor, steps: int) -> torch.Tensor:
    return model.sample(
        len(noise), noise=noise, sampler="ddim", steps=steps, eta=0.0, spacing="leading", quantize=False, progress=False
    )


def diffusers_ddim(model: DiffusionModel, noise: torch.Tensor, steps: int) -> torch.Tensor:
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(
        num_train_timesteps=model.schedule.timesteps,
        trained_betas=model.schedule.betas.cpu().numpy(),
        prediction_type=DIFFUSERS_PREDICTION[model.prediction],
        clip_sample=model.config.clip_x0,
        set_alpha_to_one=True,
        timestep_spacing="leading",
    )
    scheduler.set_timesteps(steps)
    x = noise.clone()
    with torch.inference_mode():
        for t in scheduler.timesteps:
            out = model.net(x, t.expand(len(x)), None)
            x = scheduler.step(out, t, x, eta=0.0).prev_sample
    return ((x + 1) / 2).clamp(0, 1)


def network_only(model: DiffusionModel, noise: torch.Tensor, steps: int) -> torch.Tensor:
    """The forward passes alone, at the same timesteps: the floor either sampler can reach."""
    x = noise.clone()
    timesteps = model.make_sampler("ddim", steps).timesteps
    with torch.inference_mode():
        for t in timesteps:
            x = model.net(x, t.expand(len(x)), None).clamp(-3, 3)
    return x


def cpu_seconds(fn, repeats: int) -> tuple[float, torch.Tensor]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.process_time()
        out = fn()
        times.append(time.process_time() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a diffusion run directory (default: the default config, untrained)")
    parser.add_argument("--n", type=int, default=447)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import diffusers

    model = build_network(args.run)
    noise = torch.randn(args.n, *model.spec.image_shape, generator=torch.Generator().manual_seed(0))
    results = {}
    for name, fn in [
        ("genimg DDIM", genimg_ddim),
        ("diffusers DDIMScheduler", diffusers_ddim),
        ("network alone", network_only),
    ]:
        seconds, images = cpu_seconds(lambda fn=fn: fn(model, noise, args.steps), args.repeats)
        results[name] = {"cpu_s": seconds, "images_per_s": args.n / seconds, "images": images}
    difference = (results["genimg DDIM"]["images"] - results["diffusers DDIMScheduler"]["images"]).abs().max().item()
    reference = results["diffusers DDIMScheduler"]["cpu_s"]

    print(
        f"DDIM, {args.steps} steps, {args.n} images of {tuple(model.spec.image_shape)}, "
        f"{model.num_parameters():,}-parameter U-Net ({model.config.schedule}, {model.prediction}), "
        f"{args.threads} thread(s), torch {torch.__version__}, diffusers {diffusers.__version__}, "
        f"{platform.processor() or platform.machine()}"
    )
    print(f"{'sampler':<26}{'CPU s':>9}{'images/s':>11}{'speed vs diffusers':>20}")
    for name, r in results.items():
        print(f"{name:<26}{r['cpu_s']:>9.2f}{r['images_per_s']:>11.1f}{reference / r['cpu_s']:>19.2f}x")
    print(f"max |genimg - diffusers| over all pixels: {difference:.2e}")
    if args.json:
        write_json(
            args.json,
            {
                "steps": args.steps,
                "n": args.n,
                "threads": args.threads,
                "torch": torch.__version__,
                "diffusers": diffusers.__version__,
                "max_abs_difference": difference,
                "results": {k: {"cpu_s": v["cpu_s"], "images_per_s": v["images_per_s"]} for k, v in results.items()},
            },
        )


if __name__ == "__main__":
    main()
