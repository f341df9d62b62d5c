"""Datasets whose annotation file is a JSON list of objects, one per video (or image), as the official UMT
retrieval and QA files are: reading the list, resolving and checking media paths, and the load-error policy.

Subclasses implement ``load_data_list`` with :meth:`JsonRowsDataset.read_rows` and :meth:`JsonRowsDataset.media_path`,
collect ``(where, problem, detail)`` for every bad row and hand them to
:func:`tasks.datasets.annotations.apply_annotation_policy` (one error naming file and rows, or skip and count).
"""
import json
import os.path as osp
from typing import Any, List, Optional, Sequence

from mmaction.datasets import BaseActionDataset

from .annotations import AnnotationError
from .decoding import use_checked_decord
from .policy import LoadErrorPolicy, sample_name
from .skip_log import SkipLog

__all__ = ['JsonRowsDataset', 'short_repr']


def short_repr(x: Any, n: int = 120) -> str:
    """``x`` as JSON (else ``repr``), cut to ``n`` characters, for messages that quote a bad row."""
    s = json.dumps(x, ensure_ascii=False) if isinstance(x, (dict, list, str)) else repr(x)
    return s if len(s) <= n else s[:n - 3] + '...'


class JsonRowsDataset(BaseActionDataset):
    """A JSON list of rows with a media path each, under the bad input policy (:mod:`tasks.datasets.policy`).

    Args:
        ann_file (str): The JSON annotation file.
        pipeline (list): Transforms (``DecordInit`` is replaced by the checked one).
        data_prefix (dict): ``video`` (joined before video paths; and ``img`` for images where a subclass has them).
        check_files (bool): Check at build time that local media files exist.
        on_error (str, optional): None / ``'raise'``: bad rows fail the build; ``'skip'``: they are dropped.
        max_consecutive_errors (int): Load failures in a row that stop training.
        test_mode (bool): Evaluation (an unreadable video raises instead of being skipped and counted).
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments.
    """

    #: What a row holds, for the message when the file is not a JSON list.
    row_format = '{"video", ...}'

    def __init__(self, ann_file: str, pipeline: Sequence = (), data_prefix: Optional[dict] = None,
                 check_files: bool = True, on_error: Optional[str] = None, max_consecutive_errors: int = 20,
                 test_mode: bool = False, **kwargs):
        self.check_files, self.on_error = check_files, on_error
        self._policy = LoadErrorPolicy(on_error, max_consecutive_errors)
        super().__init__(ann_file, pipeline=list(pipeline), data_prefix=dict(data_prefix or {}), test_mode=test_mode,
                         **kwargs)
        use_checked_decord(self.pipeline.transforms)

    @property
    def skip_log(self) -> SkipLog:
        return self._policy.skip_log

    def read_rows(self) -> List[Any]:
        """The annotation file's list (rows unchecked).

        Raises:
            FileNotFoundError: No such file.
            AnnotationError: Not UTF-8 JSON, or not a list.
        """
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'annotation file {self.ann_file} does not exist')
        try:
            with open(self.ann_file, 'r', encoding='utf-8') as f:
                rows = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise AnnotationError(f'{self.ann_file}: not valid UTF-8 JSON ({err})') from err
        if not isinstance(rows, list):
            raise AnnotationError(f'{self.ann_file}: expected a JSON list of {self.row_format} objects, got a '
                                  f'{type(rows).__name__}')
        return rows

    def media_path(self, rel: Any, where: str, problems: list, kind: str = 'video') -> Optional[str]:
        """``rel`` joined to the ``data_prefix`` of ``kind`` (``'video'``, or ``'image'``: prefix ``img``, else the
        video one), or None after recording why it is bad (not a non-empty string; a missing local file)."""
        if not isinstance(rel, str) or not rel:
            problems.append((where, 'malformed row', f'the {kind} path must be a non-empty string, got {rel!r}'))
            return None
        root = self.data_prefix.get('video')
        if kind == 'image':
            root = self.data_prefix.get('img', root)
        path = osp.join(root, rel) if root else rel
        if self.check_files and '://' not in path and not osp.isfile(path):
            problems.append((where, f'missing {kind}', f'{kind} file not found: {path}'))
            return None
        return path

    def prepare_data(self, idx: int) -> Any:
        try:
            data = super().prepare_data(idx)
        except Exception as err:
            self._policy.failed(err, sample_name(self.get_data_info(idx)), self.test_mode)
            return None
        self._policy.ok()
        return data
