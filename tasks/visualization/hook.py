"""``VideoVisualizationHook``: draws predictions and ground truth on validation / test clips."""
import os.path as osp
from typing import Optional, Sequence

import cv2
from mmengine.hooks import Hook
from mmengine.utils import mkdir_or_exist
from mmengine.visualization import Visualizer

from backbones.registry import HOOKS

from .drawing import contact_sheet, label_lines, put_lines

__all__ = ['VideoVisualizationHook']


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
        **draw_args: Layout of the sheet, see :func:`tasks.visualization.drawing.contact_sheet` (``cols``,
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
