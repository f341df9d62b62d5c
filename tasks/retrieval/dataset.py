"""Video-text (and image-text) retrieval datasets in the official UMT JSON format, under the bad input policy.

Annotation file: a JSON list of dicts, one per video (or image)::

    [{"video": "video7010.mp4", "caption": "a man is talking about a car"},          # MSR-VTT test 1k-A
     {"video": "v_abc.mp4", "caption": ["a man enters.", "he sits down."]},          # DiDeMo / ANet paragraphs
     {"image": "cc3m/000001.jpg", "caption": "a dog on a beach"}, ...]               # image-text pairs

Caption modes (``caption_mode``):

* ``'single'``: every row has one caption string (MSR-VTT, LSMDC); a caption list is an annotation error.
* ``'paragraph'``: a row's captions are joined with spaces into one text (DiDeMo, ActivityNet Captions:
  ``is_paragraph_retrieval`` in the official configs); a string is used as it is.
* ``'multi'``: every caption is its own text with the same video (MSVD: ``multi_txt_gt``; the official table once
  evaluated MSVD in paragraph mode by mistake).

Training (``test_mode=False``): one sample per (video, text) pair; samples of the same video file share
``video_id`` (a 63-bit hash of the resolved path, so a ``ConcatDataset`` of several corpora has no id
collisions: the official ``ConcatDataset`` mixes up index-based ids), which gives the model its multi-positive
contrastive targets. Testing: one sample per row (its video decoded once); the texts are the dataset's
``texts`` with ``txt2vid`` / ``vid2txt`` (what :func:`tasks.retrieval.retrieval_metrics` takes).

Bad input (:mod:`tasks.datasets.policy`), found when the dataset is built, each named with the annotation file and
the row (1-based): a row that is not an object or has neither ``video`` nor ``image``, a row without ``caption``,
an empty caption (or an empty string in a caption list), a caption list in ``'single'`` mode, a caption that is
neither a string nor a list of strings, a missing local file. One :class:`AnnotationError` lists them (or, with
``on_error='skip'``, the rows are dropped with one warning and their count per problem). An unreadable video is
skipped and counted in training and raises in testing.
"""
import hashlib
from typing import Any, List, Optional, Sequence

from backbones.registry import DATASETS
from tasks.datasets.annotations import apply_annotation_policy
from tasks.datasets.json_rows import JsonRowsDataset
from tasks.datasets.json_rows import short_repr as _short

__all__ = ['RetrievalDataset', 'ToyRetrievalDataset', 'CAPTION_MODES', 'video_hash']

CAPTION_MODES = ('single', 'paragraph', 'multi')


def video_hash(path: str) -> int:
    """Stable non-negative 63-bit id of a media file path (same across processes and runs)."""
    return int.from_bytes(hashlib.blake2b(path.encode('utf-8'), digest_size=8).digest(), 'little') >> 1


def _clean(text: str) -> str:
    return ' '.join(text.split())


@DATASETS.register_module()
class RetrievalDataset(JsonRowsDataset):
    """Video-text pairs from an official-format JSON list (module docstring: modes, bad input).

    Example config::

        dict(type='RetrievalDataset', ann_file='data/msrvtt/msrvtt_ret_test1k.json', caption_mode='single',
             data_prefix=dict(video='data/msrvtt/videos'), pipeline=[...], test_mode=True)

    Args:
        ann_file (str): The JSON annotation file.
        pipeline (list): Transforms: decoding (``DecordInit`` / ``UniformSample`` / ``DecordDecode``, or
            :class:`tasks.retrieval.transforms.LoadImageAsClip` for image rows), augmentation, ``FormatShape``,
            then :class:`tasks.retrieval.transforms.PackRetrievalInputs`.
        caption_mode (str): ``'single'``, ``'paragraph'`` or ``'multi'``.
        data_prefix (dict): ``video`` (joined before ``video`` paths) and ``img`` (before ``image`` paths; default
            the video prefix).
        check_files (bool): Check at build time that local files exist.
        on_error (str, optional): None / ``'raise'``: bad rows fail the build; ``'skip'``: they are dropped.
        max_consecutive_errors (int): Load failures in a row that stop training.
        test_mode (bool): One sample per row (evaluation) instead of one per (video, text) pair.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments.
    """

    row_format = '{"video" | "image", "caption"}'

    def __init__(self, ann_file: str, pipeline: Sequence = (), caption_mode: str = 'single',
                 data_prefix: Optional[dict] = None, check_files: bool = True, on_error: Optional[str] = None,
                 max_consecutive_errors: int = 20, test_mode: bool = False, **kwargs):
        if caption_mode not in CAPTION_MODES:
            raise ValueError(f'RetrievalDataset: caption_mode must be one of {CAPTION_MODES}, got {caption_mode!r}')
        self.caption_mode = caption_mode
        self.texts: List[str] = []
        self.txt2vid: List[int] = []
        self.vid2txt: List[List[int]] = []
        super().__init__(ann_file, pipeline=pipeline, data_prefix=data_prefix, check_files=check_files,
                         on_error=on_error, max_consecutive_errors=max_consecutive_errors, test_mode=test_mode,
                         **kwargs)

    def _row_texts(self, row: dict) -> Any:
        """The row's texts (list of str), or ``(kind, detail)`` describing why it is bad."""
        if 'caption' not in row:
            return 'no caption', f'no "caption" in {_short(row)}'
        cap = row['caption']
        if isinstance(cap, str):
            caps = [cap]
        elif isinstance(cap, list) and all(isinstance(c, str) for c in cap):
            if self.caption_mode == 'single':
                return 'caption list', (f'"caption" is a list of {len(cap)} in caption_mode=\'single\'; use '
                                        "'multi' (every caption its own query, MSVD) or 'paragraph' (captions "
                                        'joined, DiDeMo / ActivityNet)')
            caps = cap
        else:
            return 'bad caption', f'"caption" must be a string or a list of strings, got {_short(cap)}'
        caps = [_clean(c) for c in caps]
        if not caps or any(not c for c in caps):
            return 'empty caption', f'empty caption in {_short(row)}'
        if self.caption_mode == 'paragraph':
            caps = [' '.join(caps)]
        return caps

    def load_data_list(self) -> List[dict]:
        """One entry per (media, text) pair (training) or per row (testing); bad rows raise or are dropped."""
        rows = self.read_rows()
        self.texts, self.txt2vid, self.vid2txt = [], [], []
        good, problems = [], []
        for r, row in enumerate(rows, 1):
            where = f'row {r}'
            if not isinstance(row, dict) or not (('video' in row) ^ ('image' in row)):
                problems.append((where, 'malformed row', f'expected an object with one of "video" / "image" and '
                                 f'"caption", got {_short(row)}'))
                continue
            texts = self._row_texts(row)
            if isinstance(texts, tuple):
                problems.append((where, *texts))
                continue
            is_image = 'image' in row
            path = self.media_path(row['image'] if is_image else row['video'], where, problems,
                                   'image' if is_image else 'video')
            if path is None:
                continue
            good.append((path, is_image, texts, r))
        apply_annotation_policy(problems, len(rows), self.ann_file, self.on_error)
        data_list = []
        for vid, (path, is_image, texts, r) in enumerate(good):
            info = dict(filename=path, video_id=video_hash(path), video_index=vid, row=r,
                        media='image' if is_image else 'video')
            if is_image:
                info['img_path'] = path
            first = len(self.texts)
            self.texts.extend(texts)
            self.txt2vid.extend([vid] * len(texts))
            self.vid2txt.append(list(range(first, first + len(texts))))
            if self.test_mode:
                data_list.append(dict(info, text=texts[0], text_indices=self.vid2txt[-1]))
            else:
                data_list.extend(dict(info, text=t, text_index=first + k) for k, t in enumerate(texts))
        return data_list


@DATASETS.register_module()
class ToyRetrievalDataset(RetrievalDataset):
    """:class:`RetrievalDataset` on the toy retrieval set (:mod:`tasks.toy_data.retrieval`), generated on first use.

    Args:
        toy (dict): ``root`` plus the generation parameters of :func:`tasks.toy_data.retrieval.ensure_retrieval`.
        **kwargs: :class:`RetrievalDataset` arguments (``ann_file`` inside ``toy['root']``).
    """

    def __init__(self, toy: dict, **kwargs):
        from tasks.toy_data.retrieval import ensure_retrieval
        toy = dict(toy)
        ensure_retrieval(toy.pop('root'), progress=False, **toy)
        super().__init__(**kwargs)
