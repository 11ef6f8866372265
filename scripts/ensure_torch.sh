#!/usr/bin/env bash
# Make sure the venv's python can import torch without ever pulling a CUDA build by accident.
#  1. A torch that already imports (system site-packages, or installed before) is kept.
#  2. Otherwise the CPU build is installed: torch==$GENIMG_TORCH_VERSION when a local wheel
#     of it is on pip's find-links path, else the newest CPU build from PyTorch's CPU index.
# Either way, the installed version is written to a constraints file, so that later
# installs (dev extras, benchmark peers) can never replace it.
set -euo pipefail
py="$1"
venv_dir="$(dirname "$(dirname "$py")")"
if ! "$py" -c "import torch" 2>/dev/null; then
    version="${GENIMG_TORCH_VERSION:-2.13.0}"
    if ls ${PIP_FIND_LINKS:-/nonexistent}/torch-"$version"+cpu-*.whl >/dev/null 2>&1; then
        echo "installing torch==$version (CPU build, local wheel)"
        "$py" -m pip install -q "torch==$version"
    else
        echo "installing the CPU build of torch from PyTorch's CPU index"
        "$py" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
    fi
fi
installed="$("$py" -c 'import torch; print(torch.__version__.split("+")[0])')"
echo "torch==$installed" > "$venv_dir/torch-constraint.txt"
echo "using torch $installed"
