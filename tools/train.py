"""Train a model from a config with MMEngine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]
    bash tools/dist_train.sh CONFIG NUM_GPUS [...]        # torchrun + DDP (or FSDP via the config)
"""
import argparse

from _bootstrap import add_common_args, load_config, run, run_main  # repo on sys.path, stack fixes applied
import torch
from mmengine.config import Config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a VideoFM (or mmaction2) model.')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default: ./work_dirs/CONFIG_NAME)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT; without CKPT, from the latest checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: fp16 AmpOptimWrapper on CUDA, bfloat16 autocast on CPU')
    parser.add_argument('--no-validate', action='store_true', help='skip validation during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by total batch size / auto_scale_lr.base_batch_size')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument('--diff-rank-seed', action='store_true', help='different seed on every rank')
    parser.add_argument('--deterministic', action='store_true', help='deterministic algorithms (slower)')
    add_common_args(parser)
    return parser.parse_args(argv)


def enable_amp(cfg: Config) -> str:
    """Switch the optimiser wrapper to mixed precision; returns a line saying what was chosen."""
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper in ('AmpOptimWrapper', 'AutocastOptimWrapper', 'videofm.AutocastOptimWrapper'):
        return f'--amp: the config already uses {wrapper}'
    if wrapper != 'OptimWrapper':
        raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper, the config uses {wrapper!r}')
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        return '--amp: fp16 autocast with dynamic loss scaling (AmpOptimWrapper)'
    prefix = '' if cfg.get('default_scope') == 'videofm' else 'videofm.'
    cfg.optim_wrapper.type = prefix + 'AutocastOptimWrapper'
    cfg.optim_wrapper.dtype = 'bfloat16'
    return ('--amp: no CUDA device, so MMEngine\'s AmpOptimWrapper (GPU only) is replaced by bfloat16 autocast '
            'on the CPU (AutocastOptimWrapper, no loss scaling needed)')


def merge_args(cfg: Config, args) -> Config:
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.amp:
        print(enable_amp(cfg))
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ValueError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    randomness = cfg.get('randomness', {}) or {}
    if args.seed is not None:
        randomness['seed'] = args.seed
    if args.deterministic:
        randomness['deterministic'] = True
    if args.diff_rank_seed:
        randomness['diff_rank_seed'] = True
    cfg.randomness = randomness
    return cfg


def main(argv=None):
    args = parse_args(argv)
    sections = ('train_dataloader',) if args.no_validate else ('train_dataloader', 'val_dataloader')
    cfg = merge_args(load_config(args, data_sections=sections), args)
    run(cfg, 'train')


if __name__ == '__main__':
    run_main(main)
