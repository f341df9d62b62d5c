#!/usr/bin/env bash
# Multi-process train with torchrun; every process runs tools/train.py --launcher pytorch (MMEngine sets up DDP).
#   bash tools/dist_train.sh CONFIG NUM_PROCS [extra tools/train.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT as for torchrun; PYTHON picks the interpreter
# (default: the active environment's, see tools/_python.sh).
set -euo pipefail
CONFIG=$1
NPROC=$2
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/_python.sh"
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" --nproc_per_node="$NPROC" \
    "$HERE/train.py" "$CONFIG" --launcher pytorch "${@:3}"
