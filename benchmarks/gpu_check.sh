#!/usr/bin/env bash
# The prepared GPU check of issue 14, in one go (about 6-8 minutes on an H200): the CUDA tests, then the
# peer benchmark on CUDA (dyncore with its CUDA graph, eager and compiled variants; torchdiffeq; JAX; diffrax).
#
# Run from the repository root on the GPU machine, e.g. through the device tool:
#     bash benchmarks/gpu_check.sh            (logs to $OUT when set, else gpu-check/)
# It needs python3 with torch (CUDA), torchdiffeq, numpy, scipy, matplotlib, click, pluggy, pytest and, for the
# JAX rows, jax with its CUDA plugin, optax and diffrax (all in the H200 image). Nothing is downloaded.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-check}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD:$PWD/plugins${PYTHONPATH:+:$PYTHONPATH}"
python=${PYTHON:-python3}

# dyncore finds its built-in plugins through entry points: install the checkout's metadata without
# dependencies or network, or failing that put an equivalent dist-info on the path.
if ! "$python" -m pip install -q --no-deps --no-build-isolation --no-index -e . >"$out/install.txt" 2>&1; then
    ep=/tmp/dyncore-ep/dyncore-0.0.0.dist-info
    mkdir -p "$ep"
    printf 'Metadata-Version: 2.1\nName: dyncore\nVersion: 0.0.0\n' >"$ep/METADATA"
    "$python" - "$ep/entry_points.txt" <<'PY'
import sys, tomllib
eps = tomllib.load(open("pyproject.toml", "rb"))["project"]["entry-points"]["dyncore"]
open(sys.argv[1], "w").write("[dyncore]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
PY
    export PYTHONPATH="$PYTHONPATH:/tmp/dyncore-ep"
fi
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; "$python" -c "import torch; print('torch', torch.__version__)"; } \
    >"$out/machine.txt" 2>&1
cat "$out/machine.txt"

echo "== tests/test_cuda.py"
timeout 300 "$python" -m pytest tests/test_cuda.py tests/plugins/test_step_capture.py -q -p no:cacheprovider -rs 2>&1 | tee "$out/test_cuda.txt"

echo "== benchmarks/peers.py --device cuda"
timeout 420 "$python" benchmarks/peers.py --device cuda --epochs 100 --warmup 10 --repeat 3 --variants 2>&1 | tee "$out/peers_cuda.txt"
