"""Evaluate a checkpoint with MMEngine's Runner.

    python tools/test.py CONFIG CHECKPOINT [--dump results.pkl] [--show-dir DIR] [--cfg-options k=v ...]
"""
import argparse
import os.path as osp

from _bootstrap import add_common_args, load_config, run, run_main  # repo on sys.path, stack fixes applied
from mmengine.config import Config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a VideoFM (or mmaction2) model.')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file (.pth written by tools/train.py)')
    parser.add_argument('--work-dir', help='where the test logs and metrics go (default: ./work_dirs/CONFIG_NAME)')
    parser.add_argument('--dump', type=str, help='also dump the per-sample predictions to this .pkl file')
    parser.add_argument('--show', action='store_true', help='show predictions in a window')
    parser.add_argument('--show-dir', help='write visualised predictions under WORK_DIR/TIMESTAMP/SHOW_DIR')
    parser.add_argument('--interval', type=int, default=1, help='visualise every N-th sample')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds each shown image stays up')
    parser.add_argument('--allow-partial-load', action='store_true',
                        help='evaluate even when the checkpoint leaves model weights unloaded or of the wrong '
                             'shape (logged); without it that is an error naming the keys')
    add_common_args(parser)
    return parser.parse_args(argv)


def merge_args(cfg: Config, args) -> Config:
    from tasks.engine.fsdp import is_sharded_checkpoint
    if not (osp.isfile(args.checkpoint) or is_sharded_checkpoint(args.checkpoint)):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist (a file, or the directory of a sharded '
                                'FSDP checkpoint)')
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.allow_partial_load:
        cfg.allow_partial_load = True
    if args.dump is not None:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--dump must name a .pkl or .pickle file, got {args.dump}')
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, (list, tuple)) else [cfg.test_evaluator]
        cfg.test_evaluator = [*evaluators, dict(type='DumpResults', out_file_path=args.dump)]
    if args.show or args.show_dir:
        hooks = cfg.default_hooks
        if 'visualization' not in hooks:
            raise ValueError('--show/--show-dir need default_hooks.visualization in the config')
        hooks.visualization.update(enable=True, show=args.show, interval=args.interval, wait_time=args.wait_time)
        if args.show_dir:
            hooks.visualization.out_dir = args.show_dir
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = merge_args(load_config(args, data_sections=('test_dataloader',)), args)
    return run(cfg, 'test')


if __name__ == '__main__':
    run_main(main)
