#!/usr/bin/env bash
# Multi-process test with torchrun; every process runs tools/test.py --launcher pytorch on its share of the test set
# (MMEngine's sampler); the metrics gather every sample exactly once (padding repeats are dropped).
#   bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS_PER_NODE [extra tools/test.py args]
# Several nodes: NNODES, NODE_RANK, MASTER_ADDR, PORT (or RDZV_BACKEND=c10d) as for tools/dist_train.sh.
# PYTHON picks the interpreter (default: the active environment's, see tools/_python.sh).
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: bash $0 CONFIG CHECKPOINT NUM_PROCS_PER_NODE [tools/test.py args]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/_python.sh"
. "$HERE/_torchrun_args.sh"
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" -m torch.distributed.run "${TORCHRUN_ARGS[@]}" \
    --nproc_per_node="$NPROC" "$HERE/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
