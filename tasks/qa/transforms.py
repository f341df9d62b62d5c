"""Packing of QA samples: mmaction2's ``PackActionInputs`` plus the QA fields of the data sample."""
from typing import Dict

from mmaction.datasets.transforms import PackActionInputs

from backbones.registry import TRANSFORMS

__all__ = ['PackQAInputs', 'PackMCInputs']


class _PackFields(PackActionInputs):
    FIELDS: tuple = ()
    REQUIRED: tuple = ()
    DATASET = ''

    def __init__(self, meta_keys=('img_shape', 'filename')):
        clash = set(meta_keys) & set(self.FIELDS)
        if clash:
            raise ValueError(f'{type(self).__name__}: {sorted(clash)} are data fields, not meta keys')
        super().__init__(meta_keys=tuple(meta_keys))

    def transform(self, results: Dict) -> Dict:
        missing = [k for k in self.REQUIRED if k not in results]
        if missing:
            raise KeyError(f'{type(self).__name__} needs {missing} (use it with {self.DATASET})')
        packed = super().transform(results)
        for key in self.FIELDS:
            if key in results:
                packed['data_samples'].set_field(results[key], key)
        return packed


@TRANSFORMS.register_module()
class PackQAInputs(_PackFields):
    """Data sample fields: ``question`` (str), ``question_id``, ``gt_answer`` (list[str]) and
    ``gt_answer_weight`` (list[float]) for training, ``answer`` (str), ``answer_in_list`` (bool, when the
    dataset has the answer list), ``row``.

    Args:
        meta_keys (Sequence[str]): Keys copied into the data sample's metainfo.
    """

    FIELDS = ('question', 'question_id', 'gt_answer', 'gt_answer_weight', 'answer', 'answer_in_list', 'row')
    REQUIRED = ('question', )
    DATASET = 'VideoQADataset'


@TRANSFORMS.register_module()
class PackMCInputs(_PackFields):
    """Data sample fields: ``options`` (list[str]), ``answer_index`` (int), ``row``.

    Args:
        meta_keys (Sequence[str]): Keys copied into the data sample's metainfo.
    """

    FIELDS = ('options', 'answer_index', 'row')
    REQUIRED = ('options', 'answer_index')
    DATASET = 'VideoMCDataset'
