#!/usr/bin/env bash
# Multi-process test with torchrun; every process runs tools/test.py --launcher pytorch (MMEngine sets up DDP).
#   bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [extra tools/test.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT as for torchrun; PYTHON picks the interpreter
# (default: the active environment's, see tools/_python.sh).
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/_python.sh"
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" --nproc_per_node="$NPROC" \
    "$HERE/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
