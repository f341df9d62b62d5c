"""Video QA datasets in the official UMT JSON formats, under the bad input policy.

Open-ended QA (MSRVTT-QA, ActivityNet-QA, MSVD-QA), a JSON list of::

    {"video": "video7010.mp4", "question": "what is a man doing?", "answer": "talk", "question_id": 12}

plus an answer-list JSON (``msrvtt_qa_answer_list.json``: a list of strings) that inference ranks. In training
``answer`` may also be a list of strings (repeated answers weigh more: weight = count / len, the reference's
``get_answers_with_weights``). Questions are normalised as the reference (``pre_text``: lower case, punctuation
dropped); answers are compared as they are written.

Multiple choice (MSRVTT-MC), a JSON list of::

    {"video": "video7010.mp4", "caption": ["option 0", ..., "option 4"], "answer": 3}

Bad input, found when the dataset is built, each named with the annotation file and the row (1-based); one
:class:`AnnotationError` lists them (``on_error='skip'``: the rows are dropped with one warning): a row that is not
an object or lacks a field, an empty question, an empty answer, a test row without ``question_id`` or with a
repeated one, an MC row whose ``caption`` is not a list of non-empty strings or has another number of options than
the first row, an MC ``answer`` that is not an integer index into its options (out of range), a missing local video.
A question whose answer is not in the answer list is not an input error: it is counted, reported once per dataset
(file, count, first rows) and scored wrong, as the reference does (:class:`tasks.qa.metric.QAAccuracy` reports the
count again). Unreadable videos are skipped and counted in training and raise in testing.
"""
import logging
from collections import Counter
from typing import Any, List, Optional, Sequence

from mmaction.datasets.msrvtt_datasets import pre_text
from mmengine.logging import print_log

from backbones.registry import DATASETS
from tasks.datasets.annotations import apply_annotation_policy
from tasks.datasets.json_rows import JsonRowsDataset
from tasks.datasets.json_rows import short_repr as _short
from tasks.retrieval.dataset import RetrievalDataset
from .answers import load_answer_list

__all__ = ['VideoQADataset', 'VideoMCDataset', 'ToyVideoQADataset', 'ToyVideoMCDataset', 'ToyQACaptionDataset']


class _VideoJsonDataset(JsonRowsDataset):
    """Rows with a ``video`` and the fields the QA datasets need."""

    #: Fields every row needs (besides ``video``), for the messages.
    fields = ()

    @property
    def row_format(self) -> str:
        return '{"video", ' + ', '.join(repr(f) for f in self.fields) + '}'

    def _video(self, row: Any, where: str, problems: list) -> Optional[str]:
        """The row's video path (prefix joined), or None after recording why the row is bad."""
        missing = [f for f in ('video', ) + tuple(self.fields) if not isinstance(row, dict) or f not in row]
        if missing:
            problems.append((where, 'malformed row', f'missing {", ".join(repr(m) for m in missing)} in {_short(row)}'))
            return None
        return self.media_path(row['video'], where, problems)


@DATASETS.register_module()
class VideoQADataset(_VideoJsonDataset):
    """Open-ended video QA (MSRVTT-QA, ActivityNet-QA, MSVD-QA; module docstring: format, bad input).

    Every sample's info: ``filename``, ``question`` (normalised), ``question_id``, ``gt_answer`` (list of distinct
    answers) and ``gt_answer_weight`` (their weights) for training, ``answer`` (the test answer) and
    ``answer_in_list`` (bool; only with ``answer_list``), ``row`` (1-based).

    Example config::

        dict(type='VideoQADataset', ann_file='data/msrvtt/msrvtt_qa_test.json',
             answer_list='data/msrvtt/msrvtt_qa_answer_list.json', data_prefix=dict(video='data/msrvtt/videos'),
             pipeline=[...], test_mode=True)

    Args:
        ann_file (str): The JSON annotation file.
        pipeline (list): Decoding, augmentation, ``FormatShape`` and ``PackActionInputs`` with
            ``algorithm_keys=('question', 'question_id', 'gt_answer', 'gt_answer_weight', 'answer',
            'answer_in_list')``.
        answer_list (str, optional): The answer-list JSON; answers outside it are counted and reported.
        data_prefix (dict): ``video``: joined before the ``video`` paths.
        check_files (bool): Check at build time that local videos exist.
        on_error (str, optional): None / ``'raise'``: bad rows fail the build; ``'skip'``: they are dropped.
        max_consecutive_errors (int): Load failures in a row that stop training.
        test_mode (bool): Evaluation: ``answer`` must be one string and ``question_id`` unique.
    """

    fields = ('question', 'answer')

    def __init__(self, ann_file: str, pipeline: Sequence = (), answer_list: Optional[str] = None, **kwargs):
        self.answer_list_file = answer_list
        self.answer_list = load_answer_list(answer_list) if answer_list else None
        self.not_in_answer_list: List[int] = []
        super().__init__(ann_file, pipeline, **kwargs)

    def load_data_list(self) -> List[dict]:
        rows = self.read_rows()
        known = set(self.answer_list) if self.answer_list is not None else None
        problems, data_list, seen_ids = [], [], {}
        self.not_in_answer_list = []
        for r, row in enumerate(rows, 1):
            where = f'row {r}'
            path = self._video(row, where, problems)
            if path is None:
                continue
            q = row['question']
            if not isinstance(q, str) or not pre_text(q):
                problems.append((where, 'empty question', f'empty question {q!r}' if isinstance(q, str) else
                                 f'"question" must be a string, got {_short(q)}'))
                continue
            ans = row['answer']
            answers = [ans] if isinstance(ans, str) else ans
            if (not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers)
                    or (self.test_mode and not isinstance(ans, str))):
                what = 'a string' if self.test_mode else 'a string or a list of strings'
                problems.append((where, 'bad answer', f'"answer" must be {what}, got {_short(ans)}'))
                continue
            if any(not a.strip() for a in answers):
                problems.append((where, 'empty answer', f'empty answer in {_short(ans)}'))
                continue
            qid = row.get('question_id', r - 1)
            if self.test_mode:
                if 'question_id' not in row or not isinstance(qid, (int, str)) or isinstance(qid, bool):
                    problems.append((where, 'bad question_id', 'a test row needs an int or string "question_id", '
                                     f'got {_short(row.get("question_id"))}'))
                    continue
                if qid in seen_ids:
                    problems.append((where, 'repeated question_id', f'question_id {qid!r} is also on row '
                                     f'{seen_ids[qid]}'))
                    continue
                seen_ids[qid] = r
            count = Counter(answers)
            info = dict(filename=path, question=pre_text(q), question_id=qid, row=r, gt_answer=list(count),
                        gt_answer_weight=[n / len(answers) for n in count.values()],
                        answer=ans if isinstance(ans, str) else answers[0])
            if known is not None:
                info['answer_in_list'] = all(a in known for a in count)
                if not info['answer_in_list']:
                    self.not_in_answer_list.append(r)
            data_list.append(info)
        apply_annotation_policy(problems, len(rows), self.ann_file, self.on_error)
        if self.not_in_answer_list:
            rows_txt = ', '.join(map(str, self.not_in_answer_list[:10])) + (
                ', ...' if len(self.not_in_answer_list) > 10 else '')
            scored = ('they are scored wrong, as the reference does' if self.test_mode else
                      'they still train the decoder, but inference can never output them')
            print_log(f'{self.ann_file}: {len(self.not_in_answer_list)} of {len(data_list)} questions have an answer '
                      f'that is not in the answer list {self.answer_list_file} (rows {rows_txt}); {scored}',
                      logger='current', level=logging.WARNING)
        return data_list


@DATASETS.register_module()
class VideoMCDataset(_VideoJsonDataset):
    """Multiple-choice video-text matching (MSRVTT-MC; module docstring: format, bad input).

    Every sample's info: ``filename``, ``options`` (the captions, normalised as the reference), ``answer_index``,
    ``row`` (1-based). Every row must have the same number of options (the first row's).

    Args:
        ann_file (str): The JSON annotation file.
        pipeline (list): Decoding, ``FormatShape`` and ``PackActionInputs`` with
            ``algorithm_keys=('options', 'answer_index')``.
        **kwargs: As :class:`VideoQADataset` (``data_prefix``, ``check_files``, ``on_error``, ...).
    """

    fields = ('caption', 'answer')

    def load_data_list(self) -> List[dict]:
        rows = self.read_rows()
        problems, data_list, num_options = [], [], None
        for r, row in enumerate(rows, 1):
            where = f'row {r}'
            path = self._video(row, where, problems)
            if path is None:
                continue
            caps = row['caption']
            if (not isinstance(caps, list) or len(caps) < 2 or
                    not all(isinstance(c, str) and pre_text(c) for c in caps)):
                problems.append((where, 'bad options', f'"caption" must be a list of at least 2 non-empty strings, '
                                 f'got {_short(caps)}'))
                continue
            if num_options is None:
                num_options = len(caps)
            elif len(caps) != num_options:
                problems.append((where, 'bad options', f'{len(caps)} options, the first row has {num_options}; '
                                 'every row needs the same number'))
                continue
            ans = row['answer']
            if isinstance(ans, bool) or not isinstance(ans, int):
                problems.append((where, 'bad answer', f'"answer" must be an integer index into the {len(caps)} '
                                 f'options, got {_short(ans)}'))
                continue
            if not 0 <= ans < len(caps):
                problems.append((where, 'answer out of range', f'"answer" {ans} is out of range: it must be an '
                                 f'index in [0, {len(caps) - 1}] into the {len(caps)} options'))
                continue
            data_list.append(dict(filename=path, options=[pre_text(c) for c in caps], answer_index=ans, row=r))
        apply_annotation_policy(problems, len(rows), self.ann_file, self.on_error)
        return data_list


def _ensure_toy_qa(toy: dict) -> None:
    from tasks.toy_data.qa import ensure_qa
    toy = dict(toy)
    ensure_qa(toy.pop('root'), progress=False, **toy)


@DATASETS.register_module()
class ToyVideoQADataset(VideoQADataset):
    """:class:`VideoQADataset` on the toy QA set (:mod:`tasks.toy_data.qa`), generated on first use.

    Args:
        toy (dict): ``root`` plus the generation parameters of :func:`tasks.toy_data.qa.ensure_qa`.
        **kwargs: :class:`VideoQADataset` arguments (files inside ``toy['root']``).
    """

    def __init__(self, toy: dict, **kwargs):
        _ensure_toy_qa(toy)
        super().__init__(**kwargs)


@DATASETS.register_module()
class ToyVideoMCDataset(VideoMCDataset):
    """:class:`VideoMCDataset` on the toy QA set's ``mc_val.json``, generated on first use.

    Args:
        toy (dict): ``root`` plus the generation parameters of :func:`tasks.toy_data.qa.ensure_qa`.
        **kwargs: :class:`VideoMCDataset` arguments.
    """

    def __init__(self, toy: dict, **kwargs):
        _ensure_toy_qa(toy)
        super().__init__(**kwargs)


@DATASETS.register_module()
class ToyQACaptionDataset(RetrievalDataset):
    """:class:`tasks.retrieval.RetrievalDataset` on the toy QA set's ``captions_train.json`` (MC training as
    retrieval), generated on first use.

    Args:
        toy (dict): ``root`` plus the generation parameters of :func:`tasks.toy_data.qa.ensure_qa`.
        **kwargs: :class:`~tasks.retrieval.RetrievalDataset` arguments.
    """

    def __init__(self, toy: dict, **kwargs):
        _ensure_toy_qa(toy)
        super().__init__(**kwargs)
