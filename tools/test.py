"""Evaluate a checkpoint with MMEngine's Runner.

    python tools/test.py CONFIG CHECKPOINT [--dump results.pkl] [--show-dir DIR] [--cfg-options k=v ...]
"""
import argparse
import os
import os.path as osp

import _bootstrap  # noqa: F401  (repo on sys.path, stack fixes applied)
import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from backbones.registry import RUNNERS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a VideoFM (or mmaction2) model.')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file (.pth from tools/train.py, or .safetensors)')
    parser.add_argument('--work-dir', help='where the test logs and metrics go (default: ./work_dirs/CONFIG_NAME)')
    parser.add_argument('--dump', type=str, help='also dump the per-sample predictions to this .pkl file')
    parser.add_argument('--show', action='store_true', help='show predictions in a window')
    parser.add_argument('--show-dir', help='write visualised predictions under WORK_DIR/TIMESTAMP/SHOW_DIR')
    parser.add_argument('--interval', type=int, default=1, help='visualise every N-th sample')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds each shown image stays up')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. test_dataloader.batch_size=8')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher (tools/dist_test.sh sets pytorch)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args) -> Config:
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist')
    cfg.load_from = args.checkpoint
    cfg.resume = False
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
    cfg.launcher = args.launcher
    if not torch.cuda.is_available() and cfg.get('env_cfg', {}).get('dist_cfg', {}).get('backend') == 'nccl':
        cfg.env_cfg.dist_cfg.backend = 'gloo'
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg = merge_args(cfg, args)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    return runner.test()


if __name__ == '__main__':
    main()
