"""Batches of one modality from a mixed image-text + video-text corpus (the official ``MetaLoader``'s role)."""
from typing import Dict, Iterator, List

from torch.utils.data import BatchSampler, Sampler

from backbones.registry import DATA_SAMPLERS

__all__ = ['ModalityBatchSampler']


@DATA_SAMPLERS.register_module()
class ModalityBatchSampler(BatchSampler):
    """Yields full batches whose samples share ``get_data_info(i)['media']`` (``'video'`` or ``'image'``).

    Images are 1-frame clips and videos ``T``-frame clips, so they cannot share a batch. Indices come from the
    wrapped sampler (``DefaultSampler``: shuffled, sharded across ranks) and fill one buffer per modality; a full
    buffer is yielded at once, so the modalities interleave in proportion to their sizes, as the official
    ``MetaLoader``'s random choice between the image and the video loader weighted by their lengths. Incomplete
    buffers at the end of an epoch are dropped (VTC gathers equal batches from every rank).

    Config: ``train_dataloader = dict(batch_sampler=dict(type='ModalityBatchSampler'), sampler=dict(
    type='DefaultSampler', shuffle=True), dataset=dict(type='ConcatDataset', datasets=[...]), ...)``.

    Args:
        sampler (Sampler): The index sampler (with a ``dataset`` attribute, as MMEngine's samplers).
        batch_size (int): Samples per batch.
        drop_last (bool): Must be True (incomplete batches are always dropped).
    """

    def __init__(self, sampler: Sampler, batch_size: int, drop_last: bool = True) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f'batch_size must be a positive int, got {batch_size}')
        if not drop_last:
            raise ValueError('ModalityBatchSampler always drops incomplete batches (drop_last=True)')
        if not hasattr(sampler, 'dataset'):
            raise TypeError('ModalityBatchSampler needs a sampler with a .dataset (MMEngine DefaultSampler)')
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, True

    def _media(self, idx: int) -> str:
        return self.sampler.dataset.get_data_info(idx).get('media', 'video')

    def __iter__(self) -> Iterator[List[int]]:
        buffers: Dict[str, List[int]] = {}
        for idx in self.sampler:
            buf = buffers.setdefault(self._media(idx), [])
            buf.append(idx)
            if len(buf) == self.batch_size:
                yield buf[:]
                del buf[:]

    def __len__(self) -> int:
        """An upper bound (each modality's last partial batch is dropped), as mmdet's grouped batch samplers."""
        return len(self.sampler) // self.batch_size
