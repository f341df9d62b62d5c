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
    """Reseed ``random``, numpy and torch at the start of every training epoch from (seed, epoch[, rank]), and
    the data pipeline before every training sample from (seed, epoch, sample index).

    MMEngine seeds once per run and does not save RNG states, so a run resumed after a crash would draw
    different dropout / drop-path masks and augmentations than the uninterrupted run. Reseeding per epoch
    makes ``--resume`` reproduce the uninterrupted run exactly (with ``--deterministic``), whatever the
    crashed process consumed in between. Ranks get different seeds only with ``randomness.diff_rank_seed``.

    DataLoader workers, persistent ones included, keep their own random state; so before the first epoch the
    training loader is seeded per sample (:func:`tasks.engine.seeding.seed_loader_per_sample`): the epoch goes
    to the workers with each index and every sample is augmented from (seed, epoch, index), whichever worker
    (or the main process) loads it. A run then ends with the same weights whether it was resumed or not, and
    with 0 or N workers.
    """
    priority = 'VERY_HIGH'

    def __init__(self, per_sample: bool = True):
        self.per_sample = per_sample
        self._sampler = None

    def before_train(self, runner) -> None:
        if not self.per_sample:
            return
        from mmengine.runner import EpochBasedTrainLoop

        from tasks.engine.seeding import seed_loader_per_sample
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            runner.logger.warning('EpochSeedHook: per-sample data seeding needs an epoch-based loop; with '
                                  f'{type(runner.train_loop).__name__}, --resume is exact only with num_workers=0')
            return
        try:
            self._sampler = seed_loader_per_sample(runner.train_loop.dataloader, int(runner.seed))
        except ValueError as e:
            runner.logger.warning(f'EpochSeedHook: no per-sample data seeding ({e}); --resume is exact only with '
                                  'num_workers=0')

    def before_train_epoch(self, runner) -> None:
        from mmengine.dist import get_rank
        from mmengine.runner.utils import set_random_seed
        cfg = getattr(runner, '_randomness_cfg', None) or {}
        rank = get_rank() if cfg.get('diff_rank_seed') else 0
        seed = (int(runner.seed) + 1_000_003 * runner.epoch + 7_919 * rank) % 2**32
        set_random_seed(seed, deterministic=cfg.get('deterministic', False))
        if self._sampler is not None:
            self._sampler.set_epoch(runner.epoch)


@HOOKS.register_module()
class CurvesHook(Hook):
    """Save the training curves as ``curves.png`` in the run's log dir after every epoch and at the end.

    Reads ``vis_data/scalars.json`` written by MMEngine's LocalVisBackend; plots each training loss against
    the iteration and each validation metric against the epoch. After ``--resume`` the earlier runs' files in the
    work dir are read too, so the picture covers the whole training. Only the main process draws.

    Args:
        keys (tuple): Substrings of the scalar names to plot (default: losses, accuracies and mAP).
    """
    priority = 'LOWEST'

    def __init__(self, keys=('loss', 'acc', 'mAP', 'top1')):
        self.keys = tuple(keys)
        self._resumed = False

    def before_train(self, runner) -> None:
        self._resumed = runner.iter > 0  # the checkpoint is loaded before this hook runs

    def _draw(self, runner) -> None:
        from mmengine.dist import is_main_process
        if not is_main_process():
            return
        if not osp.isfile(osp.join(runner.log_dir, 'vis_data', 'scalars.json')):
            return
        train, val = self.collect(runner.log_dir, earlier=self._resumed)
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

    def collect(self, log_dir: str, earlier: bool = True):
        """``(train, val)`` series ``{name: [(step, value), ...]}`` of this run and (``earlier``: a resumed run)
        the earlier runs in the same work dir that it continues."""
        path = osp.join(log_dir, 'vis_data', 'scalars.json')
        train, val = {}, {}
        for run_path in (self._earlier_runs(log_dir) if earlier else []) + [path]:
            run_train, run_val = self._read(run_path)
            if run_path != path and not run_train:
                continue  # a test run in the same work dir
            for merged, new in ((train, run_train), (val, run_val)):
                for key, pts in new.items():  # a resumed run replaces what the earlier one logged after its start
                    first = min(p[0] for p in pts)
                    merged[key] = [p for p in merged.get(key, []) if p[0] < first] + pts
        return train, val

    @staticmethod
    def _earlier_runs(log_dir: str) -> list:
        """``scalars.json`` of the earlier runs in the same work dir (timestamp folders sort in time order): a
        resumed run's picture covers the whole training, not only the epochs since the resume."""
        import glob
        work_dir, name = osp.split(osp.normpath(log_dir))
        return [p for p in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
                if osp.basename(osp.dirname(osp.dirname(p))) < name]

    def _read(self, path: str):
        """``(train, val)``: ``{name: [(step, value), ...]}`` of one ``scalars.json``."""
        import json
        train, val = {}, {}
        with open(path) as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:  # a line cut by a kill
                    continue
                for key, value in row.items():
                    if key in ('step', 'epoch', 'iter') or not isinstance(value, (int, float)):
                        continue
                    if not any(k in key for k in self.keys):
                        continue
                    series = val if 'lr' not in row and 'iter' not in row else train
                    series.setdefault(key, []).append((row.get('step', 0), value))
        return train, val

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
