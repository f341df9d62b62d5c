"""Retrieval pipeline transforms: images as 1-frame clips and the packing of video-text samples."""
from typing import Dict

import mmcv
import numpy as np
from mmaction.datasets.transforms import PackActionInputs
from mmcv.transforms import BaseTransform

from backbones.registry import TRANSFORMS

__all__ = ['LoadImageAsClip', 'PackRetrievalInputs']


@TRANSFORMS.register_module()
class LoadImageAsClip(BaseTransform):
    """Read an image file as a 1-frame clip (image-text pairs in stage 2 are 1-frame videos).

    Reads ``img_path`` (or ``filename``); adds ``imgs`` (a list of one ``[H, W, 3]`` uint8 RGB frame),
    ``frame_inds`` ``[0]``, ``clip_len`` 1, ``num_clips`` 1, ``original_shape`` and ``img_shape``, so mmaction2's
    ``RandomResizedCrop`` / ``Resize`` / ``Flip`` / ``FormatShape`` apply as to a video.

    Args:
        backend (str): mmcv image decoding backend.
    """

    def __init__(self, backend: str = 'cv2'):
        self.backend = backend

    def transform(self, results: Dict) -> Dict:
        path = results.get('img_path', results.get('filename'))
        img = mmcv.imread(path, channel_order='rgb', backend=self.backend)
        if img is None:
            raise OSError(f'cannot decode image {path}')
        results.update(imgs=[img], frame_inds=np.zeros(1, dtype=np.int64), clip_len=1, num_clips=1,
                       original_shape=img.shape[:2], img_shape=img.shape[:2], total_frames=1)
        return results


@TRANSFORMS.register_module()
class PackRetrievalInputs(PackActionInputs):
    """mmaction2's ``PackActionInputs`` plus the retrieval fields of the data sample.

    The ``ActionDataSample`` gets ``text`` (str: the sample's caption; in test mode the row's first text),
    ``video_id`` (int: equal for samples of the same file, the model's multi-positive VTC targets) and
    ``video_index`` (int: the row in the dataset, used by the evaluation loops); ``text_index`` in training.

    Args:
        meta_keys (Sequence[str]): Keys copied into the data sample's metainfo.
    """

    FIELDS = ('text', 'video_id', 'video_index', 'text_index')

    def __init__(self, meta_keys=('img_shape', 'filename', 'media')):
        clash = set(meta_keys) & set(self.FIELDS)
        if clash:
            raise ValueError(f'PackRetrievalInputs: {sorted(clash)} are data fields, not meta keys')
        super().__init__(meta_keys=tuple(meta_keys))

    def transform(self, results: Dict) -> Dict:
        if 'text' not in results or 'video_id' not in results:
            raise KeyError('PackRetrievalInputs needs "text" and "video_id" (use it with RetrievalDataset)')
        packed = super().transform(results)
        sample = packed['data_samples']
        for key in self.FIELDS:
            if key in results:
                sample.set_field(results[key], key)
        return packed
