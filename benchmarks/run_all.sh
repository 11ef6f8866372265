#!/usr/bin/env bash
# Every benchmark in BENCHMARKS.md, in one go, from the repository root with the venv's python
# (`make bench`). The default models are trained once into runs/bench/ and shared by the
# benchmarks that need them; a finished run there is reused, so a second call only re-scores.
# About 1.5 hours of one CPU core on the 2-core development machine.
set -euo pipefail
PY=${PYTHON:-.venv/bin/python}
RUNS=runs/bench
mkdir -p "$RUNS"

train() {  # train FAMILY unless runs/bench/FAMILY has finished
    [ -f "$RUNS/$1/summary.json" ] || "$PY" -m genimg train "$1" out="$RUNS" run_name="$1" threads=1 progress=false
}

"$PY" benchmarks/bench_metrics.py --threads 1
"$PY" benchmarks/bench_vae_pythae.py --seeds 3
"$PY" benchmarks/likelihood_baselines.py
for family in vae dcgan diffusion; do train "$family"; done
"$PY" -m genimg evaluate "$RUNS/dcgan" --metrics fid
"$PY" -m genimg evaluate "$RUNS/diffusion" --metrics fid --sampler ddim --steps 50
"$PY" -m genimg evaluate "$RUNS/diffusion" --metrics fid,likelihood
"$PY" benchmarks/bench_diffusion_sampling.py --run "$RUNS/diffusion"
"$PY" benchmarks/bench_recovery.py --vae "$RUNS/vae" --diffusion "$RUNS/diffusion"
"$PY" benchmarks/bench_outliers.py --vae "$RUNS/vae" --diffusion "$RUNS/diffusion" --dcgan "$RUNS/dcgan" --out "$RUNS"
"$PY" benchmarks/bench_quality_per_minute.py --out "$RUNS/quality"  # hours; its docstring: the peers' --no-deps install
