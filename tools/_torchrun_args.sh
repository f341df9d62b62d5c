# Sourced by dist_train.sh / dist_test.sh: the torchrun rendezvous arguments from the environment, in TORCHRUN_ARGS.
#   NNODES (default 1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500): static rendezvous, every node
#   runs the same command with its own NODE_RANK; node 0 hosts the store at MASTER_ADDR:PORT.
#   RDZV_BACKEND=c10d: torchrun's dynamic rendezvous at MASTER_ADDR:PORT instead (NODE_RANK is not used; RDZV_ID,
#   default videofm, must be the same on every node and new for every job).
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PORT=${PORT:-29500}
case "$NNODES$NODE_RANK$PORT" in
    *[!0-9]*) echo "error: NNODES ($NNODES), NODE_RANK ($NODE_RANK) and PORT ($PORT) must be integers" >&2; exit 2 ;;
esac
if [ "$NODE_RANK" -ge "$NNODES" ]; then
    echo "error: NODE_RANK=$NODE_RANK but NNODES=$NNODES (node ranks are 0 .. NNODES-1)" >&2
    exit 2
fi
if [ -n "${RDZV_BACKEND:-}" ]; then
    TORCHRUN_ARGS=(--nnodes="$NNODES" --rdzv_backend="$RDZV_BACKEND" --rdzv_endpoint="$MASTER_ADDR:$PORT"
                   --rdzv_id="${RDZV_ID:-videofm}")
else
    TORCHRUN_ARGS=(--nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" --master_port="$PORT")
fi
