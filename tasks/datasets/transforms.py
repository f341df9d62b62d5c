"""Pipeline transforms shared by the tasks: token masks for pretraining pipelines (thin wrappers over
:mod:`backbones.masking`).

The pretraining models draw their masks on the device by default; :class:`GenerateMask` is for pipelines that
want them on the host (the models then read ``encoder_mask`` / ``decoder_mask`` from the data samples). Dense
(VideoMAE: ``SampleFrames(clip_len=16, frame_interval=4)``) and TSN sparse (UMT: ``UniformSample(clip_len=8)``)
sampling, ``MultiScaleCrop`` and repeated augmentation (``RepeatAugDataset`` + ``repeat_pseudo_collate``) are
mmaction2's. The frame decoder that names the file in its errors is
:class:`tasks.datasets.rawframes.CheckedRawFrameDecode`.
"""
from typing import Dict, Sequence

from mmcv.transforms import BaseTransform

from backbones.masking import MASK_TYPES, make_mask, num_masked
from backbones.registry import TRANSFORMS


@TRANSFORMS.register_module()
class GenerateMask(BaseTransform):
    """Add a token mask ``results[key]`` (N,) bool, True = masked, for a fixed token grid.

    Pack it with ``PackActionInputs(meta_keys=(..., 'encoder_mask', 'decoder_mask'))``; the pretraining models
    use masks found in the data samples instead of drawing their own.

    Args:
        mask_type (str): ``tube``, ``running_cell`` or ``random`` (see :mod:`backbones.masking`).
        ratio (float): Mask ratio.
        grid (Sequence[int]): Token grid (T', H', W') of the model input, e.g. (8, 14, 14) for 16x224 with
            tubelet 2 and patch 16.
        key (str): ``encoder_mask`` or ``decoder_mask``.
    """

    def __init__(self, mask_type: str, ratio: float, grid: Sequence[int], key: str = 'encoder_mask'):
        if mask_type not in MASK_TYPES:
            raise ValueError(f'mask_type must be one of {MASK_TYPES}, got {mask_type!r}')
        if key not in ('encoder_mask', 'decoder_mask'):
            raise ValueError(f"key must be 'encoder_mask' or 'decoder_mask', got {key!r}")
        num_masked(mask_type, grid, ratio)  # validates grid and ratio now, not in a worker
        self.mask_type, self.ratio, self.grid, self.key = mask_type, ratio, tuple(grid), key

    def transform(self, results: Dict) -> Dict:
        results[self.key] = make_mask(self.mask_type, 1, self.grid, self.ratio)[0].numpy()
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(mask_type={self.mask_type!r}, ratio={self.ratio}, grid={self.grid}, '
                f'key={self.key!r})')
