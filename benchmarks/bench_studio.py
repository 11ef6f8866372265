"""Latency of genimg studio, measured with HTTP requests against a running server.

    python benchmarks/bench_studio.py [--vae RUN] [--diffusion RUN] [--runs DIR]
                                      [--decodes 300] [--edits 30] [--threads N] [--json out.json]

Starts ``genimg studio VAE DIFFUSION`` as a separate process on a free port, then times, one
request at a time over a kept-alive connection (what one person dragging a point sees):

- **decode**: one point of the Explore map decoded into a 28x28 image (``/api/explore/decode``
  on the VAE), at points drawn uniformly over the map with seed 0. Target: p95 <= 50 ms.
- **stroke -> image**: SDEdit of one 28x28 drawing (a test digit drawn as strokes) through a
  20-step chain (``/api/draw/sdedit``, samples=1, steps=20) on the diffusion model, at
  strength 0.5 (the default: the chain starts halfway, about 10 network calls) and 1.0 (all
  20). Target: p95 <= 2 s. Also 4 samples side by side at strength 0.5.

Times are wall-clock per request at the client, so they include HTTP, JSON and PNG encoding.
The models' weights do not change the time, only their architecture does: without --vae /
--diffusion the mnist-sample presets (conv VAE with a 16-D latent; U-Net with 32 channels,
multipliers 1,2,2 and attention) are trained for one epoch on 128 images into --runs, and a
finished run there is reused.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import genimg  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

# isort: split
import torch

from genimg.data import load_dataset
from genimg.runs.directory import RunDir
from genimg.train import apply_overrides, default_config, train

REPO = Path(__file__).resolve().parents[1]


def trained(family: str, runs: Path) -> Path:
    """The family's mnist-sample preset, one short epoch: a model of the right size, quickly."""
    path = runs / f"studio-{family}"
    if (path / "summary.json").exists() and RunDir.open(path).is_finished():
        return path
    overrides = [f"out={runs}", f"run_name=studio-{family}", "epochs=1", "data.limit=128", "progress=false"]
    overrides += ["likelihood_at_end=false", "sample_every=0", "threads=1"]
    if family == "diffusion":
        overrides += ["fid_every=0", "select_by=val_loss"]
    train(apply_overrides(default_config(family, "mnist-sample"), overrides), quiet=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One kept-alive HTTP connection to the studio."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def post(self, path: str, body: dict) -> tuple[float, dict]:
        data = json.dumps(body).encode()
        start = time.perf_counter()
        self.connection.request("POST", path, body=data, headers={"Content-Type": "application/json"})
        response = self.connection.getresponse()
        reply = json.loads(response.read())
        elapsed = time.perf_counter() - start
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {reply}")
        return elapsed, reply


def wait_until_ready(port: int, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the studio exited with code {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/api/runs")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the studio did not start")


def percentile(values: list[float], q: float) -> float:
    """The q-quantile by linear interpolation between order statistics (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(name: str, model: str, times: list[float], target_ms: float) -> dict:
    ms = [t * 1000 for t in times]
    return {
        "request": name,
        "model": model,
        "n": len(ms),
        "p50_ms": statistics.median(ms),
        "p95_ms": percentile(ms, 0.95),
        "max_ms": max(ms),
        "target_ms": target_ms,
    }


def drawing() -> list[float]:
    """A 28x28 test digit as a stroke drawing would reach the server: ink 1, paper 0, channels last."""
    digit = load_dataset("mnist-sample", "test").images[0, 0]
    return [1.0 if v > 0.4 else 0.0 for v in digit.flatten().tolist()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vae", type=Path, help="a VAE run at 28x28 (default: train the preset briefly)")
    parser.add_argument("--diffusion", type=Path, help="a diffusion run at 28x28 (default: train the preset briefly)")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "bench", help="where default runs go")
    parser.add_argument("--decodes", type=int, default=300)
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in the server (default 1)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.runs.mkdir(parents=True, exist_ok=True)
    vae = args.vae or trained("vae", args.runs)
    diffusion = args.diffusion or trained("diffusion", args.runs)
    port = free_port()
    command = [sys.executable, "-m", "genimg", "studio", str(vae), str(diffusion), "--port", str(port)]
    command += ["--threads", str(args.threads)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        wait_until_ready(port, process)
        client = Client(port)
        ids = {r["name"]: r["id"] for r in json.loads(_get(port, "/api/runs"))["runs"]}
        vae_id, diffusion_id = ids[vae.name], ids[diffusion.name]
        _, latent_map = client.post("/api/explore/map", {"run": vae_id})
        u0, u1, v0, v1 = latent_map["extent"]
        generator = torch.Generator().manual_seed(0)
        points = torch.rand(args.decodes + 10, 2, generator=generator).tolist()
        times = []
        for i, (a, b) in enumerate(points):
            elapsed, _ = client.post(
                "/api/explore/decode", {"run": vae_id, "point": [u0 + a * (u1 - u0), v0 + b * (v1 - v0)]}
            )
            if i >= 10:  # the first requests warm up the connection and the allocator
                times.append(elapsed)
        results = [summary("decode one latent point (28x28)", f"vae ({vae.name})", times, 50)]
        pixels = drawing()
        for strength, samples in [(0.5, 1), (1.0, 1), (0.5, 4)]:
            body = {"run": diffusion_id, "pixels": pixels, "strength": strength, "samples": samples, "steps": 20}
            times = []
            for i in range(args.edits + 2):
                body["seed"] = i
                elapsed, _ = client.post("/api/draw/sdedit", body)
                if i >= 2:
                    times.append(elapsed)
            name = f"SDEdit, 20-step chain, strength {strength}, {samples} sample{'s' if samples > 1 else ''}"
            results.append(summary(name, f"diffusion ({diffusion.name})", times, 2000))
    finally:
        process.terminate()
        process.wait(timeout=30)
    machine = {
        "cpus": os.cpu_count(),
        "server_threads": args.threads,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    print(f"genimg studio latency (client wall time per request; {machine})\n")
    print("| request | model | n | p50 ms | p95 ms | max ms | target p95 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['request']} | {r['model']} | {r['n']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r['max_ms']:.1f} | <= {r['target_ms']:.0f} ms |"
        )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")


def _get(port: int, path: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    return connection.getresponse().read().decode()


if __name__ == "__main__":
    main()
