#!/usr/bin/env bash
# Multi-process training with torchrun; every process runs tools/train.py --launcher pytorch (MMEngine sets up DDP,
# or the sharded strategy a config selects).
#   bash tools/dist_train.sh CONFIG NUM_PROCS_PER_NODE [extra tools/train.py args]
# One node: nothing else to set. Several nodes: run the same command on every node with
#   NNODES=N NODE_RANK=i MASTER_ADDR=<node 0's address> PORT=<free port on node 0>
# (static rendezvous: node i gets ranks i*NUM_PROCS .. (i+1)*NUM_PROCS-1); or RDZV_BACKEND=c10d for torchrun's
# dynamic rendezvous at MASTER_ADDR:PORT (node ranks assigned by arrival, RDZV_ID names the job, default
# videofm). PYTHON picks the interpreter (default: the active environment's, see tools/_python.sh).
# Slurm clusters: tools/slurm_train.sh (srun + MMEngine's slurm launcher).
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: bash $0 CONFIG NUM_PROCS_PER_NODE [tools/train.py args]" >&2
    exit 2
fi
CONFIG=$1
NPROC=$2
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/_python.sh"
. "$HERE/_torchrun_args.sh"
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" -m torch.distributed.run "${TORCHRUN_ARGS[@]}" \
    --nproc_per_node="$NPROC" "$HERE/train.py" "$CONFIG" --launcher pytorch "${@:3}"
