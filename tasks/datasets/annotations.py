"""Build-time checks of annotation files: every bad row is reported with its file, line and problem.

Used by the bad input policy of :mod:`tasks.datasets.policy` (see its docstring): the dataset classes parse
their list files here, then raise one :class:`AnnotationError` or, with ``on_error='skip'``, drop the bad rows
with one warning.
"""
import logging
import os.path as osp
from collections import Counter
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log

__all__ = ['AnnotationError', 'read_rows', 'parse_video_list', 'parse_rawframe_list', 'validate_data_list',
           'apply_annotation_policy', 'video_file', 'frame_file']

#: At most this many problems are listed in one message.
MAX_LISTED = 10
#: One bad row: ``(where, kind, detail)``, ``where`` like ``'line 4'``.
Problem = Tuple[str, str, str]


class AnnotationError(ValueError):
    """An annotation file has bad rows (raised when the dataset is built)."""


def _is_remote(path: str) -> bool:
    return '://' in path or path.startswith('s3:')


def video_file(path: str) -> str:
    """The file mmaction2's ``DecordInit`` opens for a listed path: it appends ``.mp4`` to a path without an
    extension (an extension-less path that exists as it is stays as it is)."""
    if osp.splitext(path)[0] == path and not osp.isfile(path):
        return path + '.mp4'
    return path


def _video_exists(path: str) -> bool:
    return _is_remote(path) or osp.isfile(video_file(path))


def _label_problem(label: Any, num_classes: Optional[int]) -> Optional[str]:
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)):
        return f'label {label!r} is not an integer'
    if label < 0:
        return f'label {label} is negative'
    if num_classes is not None and label >= num_classes:
        return f'unknown label {label} (>= num_classes {num_classes})'
    return None


def _parse_int(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return text


def read_rows(ann_file: str) -> List[Tuple[int, str]]:
    """``(line number, line)`` of every non-blank line of a list file (numbers count blank lines too).

    Raises:
        FileNotFoundError: No such file.
        AnnotationError: The file is not UTF-8 text (names the line and column).
    """
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'annotation file {ann_file} does not exist')
    with open(ann_file, 'rb') as f:
        data = f.read()
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as err:
        line = data.count(b'\n', 0, err.start) + 1
        column = err.start - (data.rfind(b'\n', 0, err.start) + 1) + 1
        raise AnnotationError(f'{ann_file} line {line}: not UTF-8 text (byte 0x{data[err.start]:02x} at column '
                              f'{column}); save the list as UTF-8') from None
    return [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]


def parse_video_list(ann_file: str, data_prefix: Optional[str] = None, delimiter: str = ' ',
                     multi_class: bool = False, num_classes: Optional[int] = None, test_mode: bool = False,
                     check_files: bool = True) -> Tuple[List[dict], List[Problem]]:
    """Parse an mmaction2 ``VideoDataset`` list file (``path label`` per line) and check every row.

    Same result as ``VideoDataset.load_data_list`` for a good file (blank lines are ignored; a row without
    label gets label -1, in test mode only), but every problem is reported with its line number.

    Args:
        ann_file (str): The list file.
        data_prefix (str, optional): Joined in front of every path (``data_prefix['video']``).
        delimiter (str): Field separator.
        multi_class (bool): Rows hold ``path label label ...``.
        num_classes (int, optional): Labels must be below it.
        test_mode (bool): Allow rows without a label.
        check_files (bool): Check that local video files exist.

    Returns:
        tuple[list[dict], list[tuple[str, str, str]]]: the ``dict(filename, label)`` of the good rows, and
        ``(where, kind, detail)`` for each bad row, ``where`` like ``'line 4'`` and ``kind`` one of
        ``'malformed row'``, ``'bad label'``, ``'missing video'``.
    """
    data_list, problems = [], []
    for lineno, line in read_rows(ann_file):
        where = f'line {lineno}'
        fields = line.strip().split(delimiter)
        if multi_class:
            ok = len(fields) >= 2
            expected = 'a path and at least one label'
        else:
            ok = len(fields) == 2 or (len(fields) == 1 and test_mode)
            expected = 'a path and a label' + (' (or a path only, in test mode)' if test_mode else '')
        if not ok:
            problems.append((where, 'malformed row', f'{len(fields)} field(s) separated by {delimiter!r} in '
                             f'{line.strip()!r}, expected {expected}'))
            continue
        filename = fields[0]
        if len(fields) == 1:
            labels, label = [], -1
        else:
            labels = [_parse_int(x) for x in fields[1:]]
            label = labels if multi_class else labels[0]
        bad = next((p for p in (_label_problem(x, num_classes) for x in labels) if p), None)
        if bad is not None:
            problems.append((where, 'bad label', f'{bad} in {line.strip()!r}'))
            continue
        if data_prefix is not None:
            filename = osp.join(data_prefix, filename)
        if check_files and not _video_exists(filename):
            problems.append((where, 'missing video', f'video file not found: {filename}'))
            continue
        data_list.append(dict(filename=filename, label=label))
    return data_list, problems


def frame_file(frame_dir: str, filename_tmpl: str, index: int, component: Optional[str] = None) -> str:
    """Path of one frame file as mmaction2's ``RawFrameDecode`` forms it; flow templates take the component
    (``'x'`` / ``'y'``) before the index."""
    name = filename_tmpl.format(index) if component is None else filename_tmpl.format(component, index)
    return osp.join(frame_dir, name)


def parse_rawframe_list(ann_file: str, data_prefix: Optional[str] = None, filename_tmpl: str = 'img_{:05}.jpg',
                        start_index: int = 1, with_offset: bool = False, multi_class: bool = False,
                        num_classes: Optional[int] = None, test_mode: bool = False, check_files: bool = True,
                        modality: str = 'RGB') -> Tuple[List[dict], List[Problem]]:
    """Parse an mmaction2 ``RawframeDataset`` list file and check every row.

    Rows are ``frame_dir total_frames label`` (``frame_dir offset total_frames label`` with ``with_offset``;
    several labels with ``multi_class``), fields separated by whitespace. A good file gives the same entries
    as ``RawframeDataset.load_data_list`` (a row without label gets -1, in test mode only); every problem is
    reported with its line number.

    With ``check_files`` the first and the last frame of every row must exist: ``frame_dir`` joined with
    ``filename_tmpl.format(i)`` for ``i = offset + start_index`` and ``offset + start_index + total_frames - 1``
    (the indices ``RawFrameDecode`` reads), which catches a wrong folder, a wrong ``filename_tmpl`` or
    ``start_index``, and a frame count larger than what was extracted, at two ``stat`` calls per row.

    Args:
        ann_file (str): The list file.
        data_prefix (str, optional): Joined in front of every folder (``data_prefix['img']``).
        filename_tmpl (str): Frame file names inside a folder.
        start_index (int): Index of the first frame file (mmaction2's rawframes start at 1).
        with_offset (bool): Rows carry a frame offset after the folder.
        multi_class (bool): Rows hold several labels.
        num_classes (int, optional): Labels must be below it.
        test_mode (bool): Allow rows without a label.
        check_files (bool): Check that the first and last frame files exist (local paths only).
        modality (str): ``'RGB'`` or ``'Flow'`` (templates with ``{}`` for the x / y component first).

    Returns:
        tuple[list[dict], list[tuple[str, str, str]]]: ``dict(frame_dir, total_frames, label[, offset])`` of
        the good rows, and ``(where, kind, detail)`` for each bad row, ``kind`` one of ``'malformed row'``,
        ``'bad frame count'``, ``'bad label'``, ``'missing frames'``.
    """
    num_head = 3 if with_offset else 2  # frame_dir [offset] total_frames
    expected = 'frame_dir ' + ('offset ' if with_offset else '') + 'total_frames label' + (
        ' [label ...]' if multi_class else '') + (' (label optional in test mode)' if test_mode else '')
    data_list, problems = [], []
    for lineno, line in read_rows(ann_file):
        fields = line.split()
        where, row = f'line {lineno}', line.strip()
        num_labels = len(fields) - num_head
        if num_labels < (0 if test_mode else 1) or (num_labels > 1 and not multi_class):
            problems.append((where, 'malformed row', f'{len(fields)} field(s) in {row!r}, expected {expected}'))
            continue
        counts = [_parse_int(x) for x in fields[1:num_head]]
        if any(not isinstance(x, int) or x < 0 for x in counts) or counts[-1] == 0:
            what = 'offset and total_frames' if with_offset else 'total_frames'
            problems.append((where, 'bad frame count', f'{what} must be integers (total_frames > 0, offset >= 0) '
                             f'in {row!r}'))
            continue
        labels = [_parse_int(x) for x in fields[num_head:]]
        bad = next((p for p in (_label_problem(x, num_classes) for x in labels) if p), None)
        if bad is not None:
            problems.append((where, 'bad label', f'{bad} in {row!r}'))
            continue
        frame_dir = fields[0] if data_prefix is None else osp.join(data_prefix, fields[0])
        offset, total = (counts[0] if with_offset else 0), counts[-1]
        if check_files and not _is_remote(frame_dir):
            first, component = offset + start_index, 'x' if modality == 'Flow' else None
            missing = [i for i in dict.fromkeys((first, first + total - 1))
                       if not osp.isfile(frame_file(frame_dir, filename_tmpl, i, component))]
            if missing:
                path = frame_file(frame_dir, filename_tmpl, missing[0], component)
                hint = ('folder not found' if not osp.isdir(frame_dir) else
                        f"frame {missing[0]} not found (filename_tmpl={filename_tmpl!r}, start_index={start_index}, "
                        f'total_frames={total})')
                problems.append((where, 'missing frames', f'{hint}: {path}'))
                continue
        info = dict(frame_dir=frame_dir, total_frames=total)
        if with_offset:
            info['offset'] = offset
        info['label'] = (labels or [-1]) if multi_class else (labels[0] if labels else -1)
        data_list.append(info)
    return data_list, problems


def validate_data_list(data_list: Sequence[dict], num_classes: Optional[int] = None,
                       check_files: bool = True) -> Tuple[List[int], List[Problem]]:
    """Check an already loaded ``data_list`` (any mmaction2 dataset): labels and file existence.

    Args:
        data_list (Sequence[dict]): Entries with ``filename`` (a video) or ``frame_dir`` (a folder of
            frames) and optionally ``label`` (an int or a list of ints).
        num_classes (int, optional): Labels must be below it.
        check_files (bool): Check that local files / folders exist.

    Returns:
        tuple[list[int], list[tuple[str, str, str]]]: indices of the good entries and
        ``(where, kind, detail)`` for each bad one, ``where`` like ``'row 4'`` (1-based).
    """
    good, problems = [], []
    for i, info in enumerate(data_list):
        where = f'row {i + 1}'
        labels = info.get('label', [])
        labels = [] if labels is None else labels
        labels = list(labels) if isinstance(labels, (list, tuple, np.ndarray)) else [labels]
        labels = [x for x in labels if not (len(labels) == 1 and x == -1)]  # mmaction's "no label"
        bad = next((p for p in (_label_problem(x, num_classes) for x in labels) if p), None)
        if bad is not None:
            problems.append((where, 'bad label', bad))
            continue
        if check_files:
            if 'filename' in info and not _video_exists(str(info['filename'])):
                problems.append((where, 'missing video', f'video file not found: {info["filename"]}'))
                continue
            if 'frame_dir' in info and not _is_remote(str(info['frame_dir'])) and not osp.isdir(info['frame_dir']):
                problems.append((where, 'missing video', f'frame folder not found: {info["frame_dir"]}'))
                continue
        good.append(i)
    return good, problems


def apply_annotation_policy(problems: List[Problem], total: int, ann_file: str, on_error: Optional[str],
                            hint: str = "fix the file, or pass on_error='skip' to the dataset to drop the bad "
                            'rows') -> None:
    """Raise one AnnotationError for ``problems`` unless ``on_error='skip'``; then warn once.

    Args:
        problems (list[tuple[str, str, str]]): ``(where, kind, detail)`` of the bad rows.
        total (int): Number of rows, bad ones included.
        ann_file (str): The file, named in the message.
        on_error (str, optional): ``'skip'`` drops the bad rows (unless all are bad); anything else raises.
        hint (str): What the error message tells the user to do.
    """
    if total == 0:
        raise AnnotationError(f'{ann_file}: no rows (the file is empty or blank); a dataset needs at least one')
    if not problems:
        return
    if on_error != 'skip' or len(problems) == total:
        where, _, detail = problems[0]
        more = ''
        if len(problems) > 1:
            listed = ', '.join(w for w, _, _ in problems[1:1 + MAX_LISTED])
            etc = ', ...' if len(problems) > MAX_LISTED + 1 else ''
            more = f' ({len(problems) - 1} more bad row(s): {listed}{etc})'
        hint = 'every row is bad' if on_error == 'skip' else hint
        raise AnnotationError(f'{ann_file} {where}: {detail}{more}; {hint}')
    kinds = Counter(kind for _, kind, _ in problems)
    summary = ', '.join(f'{n} {kind}' for kind, n in kinds.items())
    examples = '; '.join(f'{w}: {d}' for w, _, d in problems[:3])
    print_log(f"{ann_file}: dropped {len(problems)} of {total} rows (on_error='skip'): {summary}. "
              f'First: {examples}', logger='current', level=logging.WARNING)
