"""Training hooks: per-epoch reseeding (:class:`EpochSeedHook`), the training curves picture
(:class:`CurvesHook`) and the per-epoch report of unreadable samples that were skipped
(:class:`SkippedSamplesHook`). The non-finite-loss check is an optimiser wrapper
(:class:`tasks.engine.optim_wrapper.NonFiniteLossOptimWrapper`), the drawing hook lives in
:mod:`tasks.visualization`."""
import os.path as osp
from collections import Counter
from typing import Dict, List, Sequence, Tuple

from mmengine.hooks import Hook

from backbones.registry import HOOKS
from tasks.datasets.annotations import MAX_LISTED
from tasks.datasets.policy import find_skip_logs
from tasks.datasets.skip_log import SkipLog

__all__ = ['EpochSeedHook', 'CurvesHook', 'SkippedSamplesHook', 'format_skipped']


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Reseed ``random``, numpy and torch at the start of every training epoch from (seed, epoch[, rank]).

    MMEngine seeds once per run and does not save RNG states, so a run resumed after a crash would draw
    different dropout / drop-path masks and augmentations than the uninterrupted run. Reseeding per epoch
    makes ``--resume`` reproduce the uninterrupted run exactly (with ``--deterministic``), whatever the
    crashed process consumed in between. Ranks get different seeds only with ``randomness.diff_rank_seed``.
    """
    priority = 'VERY_HIGH'

    def before_train_epoch(self, runner) -> None:
        from mmengine.dist import get_rank
        from mmengine.runner.utils import set_random_seed
        cfg = getattr(runner, '_randomness_cfg', None) or {}
        rank = get_rank() if cfg.get('diff_rank_seed') else 0
        seed = (int(runner.seed) + 1_000_003 * runner.epoch + 7_919 * rank) % 2**32
        set_random_seed(seed, deterministic=cfg.get('deterministic', False))


@HOOKS.register_module()
class CurvesHook(Hook):
    """Save the training curves as ``curves.png`` in the run's log dir after every epoch and at the end.

    Reads ``vis_data/scalars.json`` written by MMEngine's LocalVisBackend; plots each training loss against
    the iteration and each validation metric against the epoch. Only the main process draws.

    Args:
        keys (tuple): Substrings of the scalar names to plot (default: losses, accuracies and mAP).
    """
    priority = 'LOWEST'

    def __init__(self, keys=('loss', 'acc', 'mAP', 'top1')):
        self.keys = tuple(keys)

    def _draw(self, runner) -> None:
        import json

        from mmengine.dist import is_main_process
        if not is_main_process():
            return
        path = osp.join(runner.log_dir, 'vis_data', 'scalars.json')
        if not osp.isfile(path):
            return
        train, val = {}, {}
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                for key, value in row.items():
                    if key in ('step', 'epoch', 'iter') or not isinstance(value, (int, float)):
                        continue
                    if not any(k in key for k in self.keys):
                        continue
                    series = val if 'lr' not in row and 'iter' not in row else train
                    series.setdefault(key, []).append((row.get('step', 0), value))
        panels = [(name, 'iteration', pts) for name, pts in sorted(train.items())]
        panels += [(name, 'epoch', pts) for name, pts in sorted(val.items())]
        if not panels:
            return
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        cols = min(4, len(panels))
        rows = -(-len(panels) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
        for ax in axes.flat[len(panels):]:
            ax.axis('off')
        for ax, (name, xlabel, pts) in zip(axes.flat, panels):
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker='.' if xlabel == 'epoch' else None)
            ax.set_title(name)
            ax.set_xlabel(xlabel)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(osp.join(runner.log_dir, 'curves.png'), dpi=80)
        plt.close(fig)

    def after_train_epoch(self, runner) -> None:
        self._draw(runner)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._draw(runner)

    def after_run(self, runner) -> None:
        self._draw(runner)


def format_skipped(records: Sequence[Tuple[str, str]]) -> str:
    """``"N samples skipped this epoch: file (reason) xK, ..."``."""
    per_file = Counter(records)
    parts = [f'{f} ({r})' + (f' x{n}' if n > 1 else '') for (f, r), n in list(per_file.items())[:MAX_LISTED]]
    if len(per_file) > MAX_LISTED:
        parts.append(f'... and {len(per_file) - MAX_LISTED} more file(s)')
    return f'{len(records)} samples skipped this epoch: ' + ', '.join(parts)


@HOOKS.register_module()
class SkippedSamplesHook(Hook):
    """Report the training samples that were skipped as unreadable, every epoch.

    Keeps ``train/skipped_samples`` (skipped so far this epoch) in the message hub, so the iteration logs
    and ``scalars.json`` show it, and at the end of each epoch logs ``N samples skipped this epoch:
    file (reason), ...`` (a warning when N > 0) and writes ``skipped_samples_epoch`` to the visualizer
    (``scalars.json``). Counts include samples skipped in DataLoader workers (see :class:`SkipLog`). Under DDP
    each rank reports its own samples.
    """
    priority = 'NORMAL'  # before LoggerHook (BELOW_NORMAL) so each logged iteration sees the count

    def __init__(self) -> None:
        self._offsets: Dict[str, int] = {}
        self._logs: List[SkipLog] = []

    def _records(self) -> List[Tuple[str, str]]:
        records = []
        for log in self._logs:
            records += log.read(self._offsets.get(log.path, 0))
        return records

    def before_train_epoch(self, runner) -> None:
        self._logs = find_skip_logs(runner.train_loop.dataloader.dataset)
        self._offsets = {log.path: log.size() for log in self._logs}
        runner.message_hub.update_scalar('train/skipped_samples', 0)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if any(log.size() != self._offsets.get(log.path, 0) for log in self._logs):
            runner.message_hub.update_scalar('train/skipped_samples', len(self._records()))

    def after_train_epoch(self, runner) -> None:
        records = self._records()
        runner.message_hub.update_scalar('train/skipped_samples', len(records))
        runner.visualizer.add_scalars({'skipped_samples_epoch': len(records), 'epoch': runner.epoch + 1},
                                      step=runner.iter)
        if records:
            runner.logger.warning(f'Epoch {runner.epoch + 1}: {format_skipped(records)}')
        else:
            runner.logger.info(f'Epoch {runner.epoch + 1}: 0 samples skipped this epoch')
