"""Test helper imported by the DDP test configs (``custom_imports``): records the loss of the GLOBAL batch.

MMEngine logs rank 0's loss, the mean over rank 0's share of the batch only. This hook all-reduces each rank's
mean loss and divides by the world size, which is the mean over the global batch when every rank holds the same
number of samples, and rank 0 writes the per-iteration list to ``WORK_DIR/global_losses.json``.
"""
import json
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.hooks import Hook

from backbones.registry import HOOKS


@HOOKS.register_module()
class GlobalLossRecordHook(Hook):
    """Writes ``[loss of iteration 1, 2, ...]`` (float64 means over the global batch) to ``global_losses.json``."""
    priority = 'LOWEST'

    def before_run(self, runner) -> None:
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        loss = outputs['loss'].detach().to(torch.float64).clone()
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(loss)
            loss /= dist.get_world_size()
        self.losses.append(loss.item())

    def after_run(self, runner) -> None:
        if runner.rank == 0:
            with open(osp.join(runner.work_dir, 'global_losses.json'), 'w') as f:
                json.dump(self.losses, f)
