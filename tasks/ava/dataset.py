"""``ToyAVADataset``: mmaction2's ``AVADataset`` (used as is for real AVA) that first creates the toy data."""
from pathlib import Path
from typing import Any, Optional

from mmaction.datasets import AVADataset

from backbones.registry import DATASETS
from tasks.common.toy_data import _local_rank_and_dist
from .toy import ensure_ava

__all__ = ['ToyAVADataset']


@DATASETS.register_module()
class ToyAVADataset(AVADataset):
    """``AVADataset`` over the toy AVA set of :mod:`tasks.ava.toy`, generated when missing.

    Under ``torch.distributed`` local rank 0 generates and the others wait on a barrier.

    Args:
        toy (dict): ``root`` plus the parameters of :func:`tasks.ava.toy.ensure_ava`.
        **kwargs: ``AVADataset`` arguments (ann_file, exclude_file, label_file, proposal_file, pipeline, ...).
    """

    def __init__(self, toy: dict, **kwargs: Any) -> None:
        if not isinstance(toy, dict) or 'root' not in toy:
            raise ValueError(f'ToyAVADataset needs toy=dict(root=..., ...), got {toy!r}')
        toy = dict(toy)
        root = Path(toy.pop('root'))
        rank, distributed = _local_rank_and_dist()
        error: Optional[BaseException] = None
        if rank == 0:
            try:
                ensure_ava(root, **toy)
            except Exception as err:  # reach the barrier anyway
                error = err
        if distributed:
            import torch.distributed as dist
            dist.barrier()
        if error is not None:
            raise error
        super().__init__(**kwargs)
