import os.path as osp
from typing import Optional, Sequence

import cv2
import torch
from mmengine.hooks import Hook
from mmengine.utils import mkdir_or_exist
from mmengine.visualization import Visualizer

from backbones.registry import HOOKS

from .visualize import contact_sheet, label_lines, put_lines


@HOOKS.register_module()
class VideoVisualizationHook(Hook):
    """Draw predictions (and ground truth) on validation / test clips with the runner's visualizer.

    Replaces mmaction2's VisualizationHook + ActionVisualizer, which crash on the (num_clips, C, T, H, W)
    inputs of 3-D recognizers and look for mmaction 0.x keys (``gt_labels``/``pred_labels``) so they never
    draw labels. The first clip of every ``interval``-th sample becomes one PNG contact sheet with the
    ground truth and the top-3 predicted classes (names from the dataset's ``classes`` when it has them).

    Args:
        enable (bool): Draw at all (``tools/test.py --show-dir`` / ``--show`` enable it).
        interval (int): Draw every ``interval``-th sample.
        show (bool): Show the frames in a window.
        out_dir (str, optional): Write the drawings here; relative paths are under the run's log dir.
            Without it the visualizer's backends receive them.
        wait_time (float): Seconds each shown frame stays up.
        **draw_args: Layout of the sheet, see :func:`tasks.common.visualize.contact_sheet` (``cols``,
            ``height``).
    """
    priority = 'NORMAL'

    def __init__(self, enable: bool = False, interval: int = 50, show: bool = False, out_dir: Optional[str] = None,
                 wait_time: float = 0.1, **draw_args):
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.enable, self.interval, self.show, self.out_dir = enable, interval, show, out_dir
        self.wait_time = wait_time
        self.draw_args = draw_args

    def _draw(self, runner, batch_idx: int, data_batch: dict, outputs: Sequence, mode: str) -> None:
        if not self.enable:
            return
        visualizer = Visualizer.get_current_instance()
        classes = (getattr(visualizer, 'dataset_meta', None) or {}).get('classes')
        out_dir = self.out_dir
        if out_dir is not None and not osp.isabs(out_dir):
            out_dir = osp.join(runner.log_dir, out_dir)
        start = batch_idx * len(outputs)
        for i, sample in enumerate(outputs):
            if (start + i) % self.interval:
                continue
            video = data_batch['inputs'][i]
            if video.dim() == 5:  # (num_clips, C, T, H, W): the first clip
                video = video[0]
            frames = video.permute(1, 2, 3, 0).cpu().numpy().astype('uint8')  # (T, H, W, C)
            scores = sample.pred_score.float().cpu().numpy() if 'pred_score' in sample else None
            gt = int(sample.gt_label.reshape(-1)[0]) if 'gt_label' in sample else None
            sheet = put_lines(contact_sheet(frames, **self.draw_args), label_lines(scores, gt, classes))
            name = f'{mode}_{start + i:06d}'
            if out_dir is not None:
                mkdir_or_exist(out_dir)
                cv2.imwrite(osp.join(out_dir, f'{name}.png'), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
            else:
                visualizer.add_image(name, sheet, step=runner.iter)
            if self.show:
                visualizer.show(sheet, win_name=name, wait_time=self.wait_time)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._draw(runner, batch_idx, data_batch, outputs, 'val')

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._draw(runner, batch_idx, data_batch, outputs, 'test')


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
class NonFiniteLossHook(Hook):
    """Catch a NaN / Inf training loss before it reaches the weights.

    The check runs inside the optimiser wrapper's ``update_params``, i.e. before backward and the step.

    Args:
        policy (str): ``'raise'`` (default): stop with a message naming the epoch, iteration, loss and the last
            good checkpoint (nothing more is saved, so that checkpoint stays the latest). ``'skip'``: drop
            the step (zero the gradients, no update), warn and count it (``train/nonfinite_skipped``).
        max_consecutive_skips (int): With ``'skip'``, raise after this many non-finite steps in a row
            (the run has diverged).
    """
    priority = 'VERY_HIGH'

    def __init__(self, policy: str = 'raise', max_consecutive_skips: int = 20):
        if policy not in ('raise', 'skip'):
            raise ValueError(f"policy must be 'raise' or 'skip', got {policy!r}")
        self.policy = policy
        self.max_consecutive_skips = max_consecutive_skips
        self.skipped = self.consecutive = 0

    def before_train(self, runner) -> None:
        wrapper = runner.optim_wrapper
        if not hasattr(wrapper, 'update_params') or getattr(wrapper, '_videofm_guarded', False):
            return
        update_params = wrapper.update_params

        def guarded_update_params(loss, *args, **kwargs):
            if torch.isfinite(loss).all():
                self.consecutive = 0
                return update_params(loss, *args, **kwargs)
            self._non_finite(runner, float(loss.detach().float().reshape(-1)[0]))
            wrapper.zero_grad()

        wrapper.update_params = guarded_update_params
        wrapper._videofm_guarded = True

    def _non_finite(self, runner, value: float) -> None:
        where = f'epoch {runner.epoch + 1}, iter {runner.iter + 1}'
        if self.policy == 'raise' or self.consecutive + 1 >= self.max_consecutive_skips:
            last = osp.join(runner.work_dir, 'last_checkpoint')
            ckpt = open(last).read().strip() if osp.isfile(last) else 'none saved yet'
            reason = ('' if self.policy == 'raise' else
                      f' ({self.consecutive + 1} non-finite steps in a row with policy skip)')
            raise FloatingPointError(
                f'non-finite training loss {value} at {where}{reason}; stopped before it reached the weights. '
                f'Last good checkpoint: {ckpt} (continue with tools/train.py CONFIG --resume). Lower the '
                'learning rate, check the data, or set default_hooks.non_finite_loss.policy="skip".')
        self.skipped += 1
        self.consecutive += 1
        runner.message_hub.update_scalar('train/nonfinite_skipped', self.skipped)
        runner.logger.warning(f'non-finite training loss {value} at {where}: step skipped '
                              f'({self.skipped} so far, {self.consecutive} in a row)')


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
