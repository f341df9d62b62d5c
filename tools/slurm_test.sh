#!/usr/bin/env bash
# Testing on a Slurm cluster (see tools/slurm_train.sh for the environment variables).
#   [GPUS=8 GPUS_PER_NODE=8 CPUS_PER_TASK=5 PORT=29500 SRUN_ARGS="..."] \
#       bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py args]
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: bash $0 PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py args]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
shift 4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$((GPUS < 8 ? GPUS : 8))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/_python.sh"
# shellcheck disable=SC2086  # SRUN_ARGS are split on purpose
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" MASTER_PORT="${PORT:-29500}" exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
    "$PY" -u "$HERE/test.py" "$CONFIG" "$CHECKPOINT" --launcher slurm "$@"
