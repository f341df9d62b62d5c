"""Merge a sharded checkpoint (a directory written by a sharded / FSDP run) into one MMEngine checkpoint file.

    python tools/merge_checkpoint.py work_dirs/RUN/epoch_12.pth merged.pth [--with-optimizer]
    python tools/test.py CONFIG merged.pth

Runs in one process without a process group (``torch.distributed.checkpoint.format_utils.dcp_to_torch_save``),
whatever number of processes wrote the checkpoint. The output holds ``{'meta', 'state_dict', 'message_hub',
'param_schedulers'}`` with the model's full tensors, as a single-process run's checkpoint, so ``tools/test.py``,
``load_from``, the demos and ``tools/convert_ckpt.py`` read it. ``--resume`` of a sharded run reads the directory
itself, not this file.
"""
import argparse

from _bootstrap import run_main  # repo on sys.path, stack fixes applied


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Merge a sharded (FSDP) checkpoint directory into one file.')
    parser.add_argument('src', help='sharded checkpoint directory (work_dir/epoch_N.pth or iter_N.pth)')
    parser.add_argument('dst', help='output .pth file')
    parser.add_argument('--with-optimizer', action='store_true',
                        help='keep the optimiser state too (keyed by parameter names; for inspection)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from tasks.engine.fsdp import describe, merge_sharded_checkpoint
    for line in describe(args.src):
        print(line)
    merged = merge_sharded_checkpoint(args.src, args.dst, with_optimizer=args.with_optimizer)
    n = sum(v.numel() for v in merged['state_dict'].values())
    print(f'wrote {args.dst}: {len(merged["state_dict"])} tensors, {n / 1e6:.2f}M values')


if __name__ == '__main__':
    run_main(main)
