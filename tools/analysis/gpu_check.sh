#!/usr/bin/env bash
# The GPU check of issue 18 (at most ~8 minutes on one GPU): prints ONE JSON with ViT-B and ViT-g/14 16x224 bf16
# inference and fine-tune throughput and MFU, the ViT-B dual vs encoder-only pretraining step ratio, the largest
# ViT-g/14 fine-tune batch without activation checkpointing, and a 1-GPU FSDP2 step (tools/analysis/gpu_check.py
# has the details). Run from the repository root:
#   bash tools/analysis/gpu_check.sh [--peak-tflops 989] [--out gpu_check.json] [--compile]
#   bash tools/analysis/gpu_check.sh --cpu-smoke      # the same code paths at tiny sizes on the CPU (or GPU_CHECK_CPU_SMOKE=1)
# PEAK_TFLOPS (default 989, H100 / H200 SXM bf16 dense) sets the peak the MFU refers to. PYTHON picks the
# interpreter (default python3). On a machine whose Python has torch but not the OpenMMLab stack, the wheels that
# `bash ../shared/device/fetch-wheels.sh` put in .whl/ are installed with the README's command (into /tmp/site,
# nothing else is installed); the check itself stops starting new sections after --budget-s (450 s) and each
# section has its own time limit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}
if ! "$PY" -c 'import mmengine, mmaction' >/dev/null 2>&1; then
    if ls .whl/*.whl >/dev/null 2>&1; then
        echo "[gpu_check] installing the OpenMMLab wheels from .whl/ into /tmp/site" >&2
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl >&2
        export PYTHONPATH="/tmp/site:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    else
        echo "error: $PY lacks mmengine / mmaction2 and there is no .whl/ folder: run 'bash ../shared/device/fetch-wheels.sh'" \
            "from the repository root first (or install the project: pip install -c constraints.txt -e .)" >&2
        exit 2
    fi
else
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
fi
exec timeout --signal=TERM --kill-after=10 "${GPU_CHECK_TIMEOUT:-480}" "$PY" "$HERE/gpu_check.py" "$@"
