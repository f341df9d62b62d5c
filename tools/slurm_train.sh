#!/usr/bin/env bash
# Training on a Slurm cluster: srun starts one task per GPU, every task runs tools/train.py --launcher slurm, and
# MMEngine's slurm launcher reads SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID / SLURM_NODELIST (node 0 of the
# allocation is the master, port PORT).
#   [GPUS=16 GPUS_PER_NODE=8 CPUS_PER_TASK=10 PORT=29500 SRUN_ARGS="..."] \
#       bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [tools/train.py args]
# GPUS (default 8) tasks in all, GPUS_PER_NODE (default min(GPUS, 8)) per node; SRUN_ARGS go to srun as they are
# (e.g. "--quotatype=auto" or "--time=72:00:00"). PYTHON picks the interpreter (see tools/_python.sh).
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: bash $0 PARTITION JOB_NAME CONFIG [WORK_DIR] [tools/train.py args]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
WORK_DIR_ARGS=()
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then  # a 4th positional argument (not an option) is the work dir
    WORK_DIR_ARGS=(--work-dir "$1")
    shift
fi
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$((GPUS < 8 ? GPUS : 8))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/_python.sh"
# shellcheck disable=SC2086  # SRUN_ARGS are split on purpose
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" MASTER_PORT="${PORT:-29500}" exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
    "$PY" -u "$HERE/train.py" "$CONFIG" "${WORK_DIR_ARGS[@]}" --launcher slurm "$@"
