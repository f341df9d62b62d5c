"""Decode the videos of an mmaction2 video list into folders of JPEG frames and write the rawframe list.

Examples::

    # toy data: OUT/videos/train/00000/img_00001.jpg ... and OUT/train_list_rawframes.txt
    python tools/data/make_toy.py recognition --out data/toy_recognition
    python tools/data/extract_frames.py data/toy_recognition/train_list.txt data/toy_recognition \\
        data/toy_rawframes

    # Kinetics-style: frames with a short side of 320 px, 8 processes, a list file of one's choosing
    python tools/data/extract_frames.py data/k400/train_list.txt data/k400/videos data/k400/rawframes \\
        --short-side 320 --workers 8 --out-list data/k400/train_rawframes.txt

Then in a config: ``dataset=dict(type='RawframeListDataset', ann_file=OUT_LIST, data_prefix=dict(img=OUT_ROOT),
filename_tmpl='img_{:05}.jpg', start_index=1, ...)`` (mmaction2's defaults for ``--tmpl img_{:05}.jpg``).

Input: ``VIDEO_LIST`` in the format of mmaction2's ``VideoDataset`` (``relative/path.mp4 label`` per line,
paths relative to ``VIDEO_ROOT``). Output: for every video, ``OUT_ROOT/<path without extension>/`` holding its
frames ``img_00001.jpg``, ``img_00002.jpg``, ... (``--tmpl``, numbered from 1; every frame that decord
decodes, in order, RGB converted to BGR for ``cv2.imwrite``, JPEG quality ``--quality``, optionally resized
to ``--short-side``), and the list ``--out-list`` in the format of mmaction2's ``RawframeDataset``: one
``frame_dir total_frames label`` row per video, ``frame_dir`` relative to ``OUT_ROOT``, rows in the order of
``VIDEO_LIST``.

Policy
------
* **List errors stop the tool before anything is extracted** (exit code 2), with one message naming the
  list file, the line and the problem: a malformed row, a label that is not a non-negative integer, a video
  file that does not exist (checked by :func:`tasks.datasets.annotations.parse_video_list`); also a video
  outside ``VIDEO_ROOT`` and two videos that would share a frame folder (``a.mp4`` and ``a.avi``) or nest
  one in another. A video listed twice is extracted once and gets a row for every line.
* **Unreadable videos are skipped and counted**: a file decord cannot open (empty, truncated, not a video),
  a container without frames, a decode error in any frame (the whole video is skipped, as ``total_frames``
  must be the frame count decord reports, which mmaction2's video pipelines use). Each prints one line
  ``skipped <path>: <reason>`` on stderr, its folder is not created (a partial extraction is discarded) and
  it is left out of the list; the others are extracted. The exit code is 0, or 1 with ``--strict`` when any
  video was skipped.
* **Existing frame folders are reused**, not decoded again: ``total_frames`` is the number of files named by
  the template, contiguous from 1. ``--overwrite`` extracts every video again (the old folder is replaced
  only once the new one is complete; a video that fails then keeps its old folder but has no row). An
  existing folder with files but none named by the template (e.g. another ``--tmpl``) is skipped with a
  hint to pass ``--overwrite``; an empty one is filled.
* **Crash safety**: a video is extracted into a sibling folder ``<frame_dir>.tmp-<pid>`` that is renamed
  into place when complete, so a frame folder that exists is always complete, and the list is written to a
  temporary file and renamed over ``--out-list``. After a killed run, the temporary folders and list files
  it left (those whose process is gone) are removed by the next run. Two runs into the same ``OUT_ROOT`` at
  the same time are not supported.
* **Write errors stop the run** (exit code 1): a frame that cannot be written (disk full, permissions) is
  not the video's fault, so it is not counted as a skipped video.
"""
import argparse
import multiprocessing
import os
import re
import shutil
import sys
from functools import partial
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402

PathLike = Union[str, os.PathLike]

#: mmaction2's default ``filename_tmpl`` (with ``start_index=1``).
DEFAULT_TMPL = 'img_{:05}.jpg'
#: Frames decoded per ``VideoReader.get_batch`` call: bounds memory for long videos.
CHUNK_SIZE = 64
#: Temporary folders and list files are named ``<name>.tmp-<pid>``.
_TMP_RE = re.compile(r'(?P<name>.+)\.tmp-(?P<pid>\d+)')


class Job(NamedTuple):
    """One video to extract.

    Attributes:
        video (str): The video file.
        frame_dir (str): Its frame folder (absolute or relative to the working directory).
        rel_dir (str): The frame folder relative to ``OUT_ROOT``, as written to the list.
    """

    video: str
    frame_dir: str
    rel_dir: str


class Result(NamedTuple):
    """What happened to one :class:`Job`.

    Attributes:
        status (str): ``'extracted'``, ``'reused'`` or ``'skipped'``.
        frames (int): Number of frames in the folder (0 when skipped).
        reason (str): Why it was skipped (one line), else ``''``.
    """

    status: str
    frames: int
    reason: str = ''


def _tmp_path(path: Path, pid: Optional[int] = None) -> Path:
    """The temporary sibling ``<path>.tmp-<pid>`` of ``path`` (this process by default)."""
    return path.with_name(f'{path.name}.tmp-{os.getpid() if pid is None else pid}')


def _remove(path: Path) -> None:
    """Delete a file or a folder tree."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def remove_stale_tmp(parent: Path, names: Sequence[str]) -> List[Path]:
    """Delete the temporary ``<name>.tmp-<pid>`` entries of ``parent`` that a killed run left behind.

    Args:
        parent (Path): A folder holding frame folders (or the list file).
        names (Sequence[str]): The names whose temporary siblings are looked for.

    Returns:
        list[Path]: The removed entries (those whose process ``pid`` no longer runs).
    """
    from tasks.engine.runner import pid_alive
    if not parent.is_dir():
        return []
    wanted, removed = set(names), []
    for entry in sorted(os.listdir(parent)):
        match = _TMP_RE.fullmatch(entry)
        pid = int(match['pid']) if match else None
        # this process writes its temporary entries later: one named after it is an earlier process's leftover
        if match and match['name'] in wanted and (pid == os.getpid() or not pid_alive(pid)):
            _remove(parent / entry)
            removed.append(parent / entry)
    return removed


def check_tmpl(tmpl: str) -> None:
    """Raise ValueError unless ``tmpl`` names distinct frame files inside a folder.

    Args:
        tmpl (str): A ``str.format`` template with one index field, e.g. ``'img_{:05}.jpg'``.
    """
    try:
        first, second = tmpl.format(1), tmpl.format(2)
    except (IndexError, KeyError, ValueError) as err:
        raise ValueError(f'--tmpl {tmpl!r} is not a template with one index field like {DEFAULT_TMPL!r} '
                         f'({type(err).__name__}: {err})') from err
    if first == second:
        raise ValueError(f'--tmpl {tmpl!r} gives the same name for every frame; it needs a field like '
                         '{:05}')
    if '/' in first or os.sep in first or first in ('.', '..'):
        raise ValueError(f'--tmpl {tmpl!r} must name a file inside the frame folder, without a path')
    if not cv2.haveImageWriter(first):
        raise ValueError(f'--tmpl {tmpl!r}: OpenCV cannot write images named like {first!r}; use a .jpg name')


def count_frames(frame_dir: PathLike, tmpl: str = DEFAULT_TMPL) -> int:
    """Number of frames in a folder: files named ``tmpl.format(i)``, contiguous from ``i = 1``.

    Args:
        frame_dir (str | os.PathLike): The frame folder.
        tmpl (str): Frame file name template.

    Returns:
        int: The largest ``n`` such that frames 1..n all exist (0 for none).
    """
    names = set(os.listdir(frame_dir))
    count = 0
    while tmpl.format(count + 1) in names:
        count += 1
    return count


def output_size(height: int, width: int, short_side: Optional[int]) -> Tuple[int, int]:
    """Frame size after resizing the shorter side to ``short_side`` (aspect ratio kept, rounded).

    Args:
        height (int): Input height.
        width (int): Input width.
        short_side (int, optional): Wanted length of the shorter side; None keeps the size.

    Returns:
        tuple[int, int]: ``(height, width)``.
    """
    if short_side is None or min(height, width) == short_side:
        return height, width
    if height <= width:
        return short_side, max(1, int(round(width * short_side / height)))
    return max(1, int(round(height * short_side / width))), short_side


def _to_bgr(frame: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """An RGB frame resized to ``size`` (INTER_AREA to shrink, INTER_LINEAR to enlarge), in BGR order."""
    height, width = size
    if frame.shape[:2] != (height, width):
        shrink = height * width < frame.shape[0] * frame.shape[1]
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        frame = cv2.resize(frame, (width, height), interpolation=interpolation)
    return cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)


def extract_video(video_path: PathLike, out_dir: PathLike, tmpl: str = DEFAULT_TMPL,
                  short_side: Optional[int] = None, quality: int = 95, num_threads: int = 0) -> int:
    """Decode every frame of a video with decord and write it as an image file into ``out_dir``.

    The frames go into the sibling folder ``<out_dir>.tmp-<pid>``, which replaces ``out_dir`` (if any) only
    when all frames are written; on any error it is deleted and ``out_dir`` is left as it was.

    Args:
        video_path (str | os.PathLike): The video.
        out_dir (str | os.PathLike): The frame folder to create (its parents are created too).
        tmpl (str): Frame file names, ``tmpl.format(i)`` for ``i = 1, 2, ...``.
        short_side (int, optional): Resize every frame so that its shorter side has this length (aspect ratio
            kept); None keeps the decoded size.
        quality (int): JPEG quality, 0..100.
        num_threads (int): decord decoding threads (0: decord's choice).

    Returns:
        int: The number of frames written.

    Raises:
        tasks.datasets.policy.UnreadableVideoError: decord cannot open or decode the video, or it has no frames;
            the message is one line.
        OSError: A frame or the folder cannot be written.
    """
    import decord
    from tasks.datasets.policy import PROGRAMMING_ERRORS, UnreadableVideoError, describe_error

    video_path, out_dir = str(video_path), Path(out_dir)
    tmp = _tmp_path(out_dir)
    if tmp.exists() or tmp.is_symlink():
        _remove(tmp)
    try:
        try:
            reader = decord.VideoReader(video_path, num_threads=num_threads)
            total = len(reader)
        except PROGRAMMING_ERRORS:
            raise
        except Exception as err:  # decord raises DECORDError / RuntimeError with multi-line text
            raise UnreadableVideoError(describe_error(err, video_path)) from err
        if total == 0:
            raise UnreadableVideoError('the video has no frames (decord reads 0)')
        tmp.mkdir(parents=True)
        size = None
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
        for start in range(0, total, CHUNK_SIZE):
            indices = list(range(start, min(total, start + CHUNK_SIZE)))
            try:
                batch = reader.get_batch(indices)
                frames = batch.asnumpy() if hasattr(batch, 'asnumpy') else np.asarray(batch)
            except PROGRAMMING_ERRORS:
                raise
            except Exception as err:
                raise UnreadableVideoError(f'frames {start + 1}-{indices[-1] + 1} of {total}: '
                                           f'{describe_error(err, video_path)}') from err
            for index, frame in zip(indices, frames):
                if size is None:
                    size = output_size(frame.shape[0], frame.shape[1], short_side)
                path = tmp / tmpl.format(index + 1)
                if not cv2.imwrite(str(path), _to_bgr(frame, size), params):
                    raise OSError(f'cv2.imwrite could not write {path}')
        del reader
        if out_dir.exists() or out_dir.is_symlink():
            _remove(out_dir)
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return total


def process_job(job: Job, tmpl: str = DEFAULT_TMPL, short_side: Optional[int] = None, quality: int = 95,
                overwrite: bool = False, num_threads: int = 0) -> Result:
    """Reuse or extract the frame folder of one video (the unit of work of ``--workers``).

    Args:
        job (Job): The video and its frame folder.
        tmpl (str): Frame file name template.
        short_side (int, optional): See :func:`extract_video`.
        quality (int): JPEG quality.
        overwrite (bool): Extract even when the folder exists.
        num_threads (int): decord decoding threads.

    Returns:
        Result: ``'reused'``, ``'extracted'`` or ``'skipped'`` (with the reason) and the frame count.
    """
    from tasks.datasets.policy import UnreadableVideoError

    frame_dir = Path(job.frame_dir)
    if not overwrite and frame_dir.is_dir():
        count = count_frames(frame_dir, tmpl)
        if count:
            return Result('reused', count)
        if any(frame_dir.iterdir()):
            return Result('skipped', 0, f'the frame folder {frame_dir} exists but holds no {tmpl.format(1)}; '
                          'pass --overwrite to extract it again')
    elif not overwrite and frame_dir.exists():
        return Result('skipped', 0, f'{frame_dir} exists and is not a folder; pass --overwrite to replace it')
    try:
        frames = extract_video(job.video, frame_dir, tmpl, short_side, quality, num_threads)
    except UnreadableVideoError as err:
        return Result('skipped', 0, str(err))
    return Result('extracted', frames)


def plan(video_list: PathLike, video_root: PathLike,
         out_root: PathLike) -> Tuple[List[Job], List[Tuple[str, int]]]:
    """Parse and check the video list; one job per distinct video, one row per line.

    Args:
        video_list (str | os.PathLike): mmaction2 ``VideoDataset`` list file.
        video_root (str | os.PathLike): Folder the list's paths are relative to.
        out_root (str | os.PathLike): Folder of the frame folders.

    Returns:
        tuple[list[Job], list[tuple[str, int]]]: the jobs, and per list row its frame folder relative to
        ``out_root`` (POSIX separators) and its label.

    Raises:
        tasks.datasets.annotations.AnnotationError: A bad row (message names the file and the line).
        FileNotFoundError: The list file does not exist.
        ValueError: Videos outside ``video_root``, or whose frame folders collide or nest.
    """
    from tasks.datasets.annotations import (AnnotationError, apply_annotation_policy, parse_video_list, read_rows,
                                          video_file)

    video_list, video_root, out_root = str(video_list), str(video_root), Path(out_root)
    data_list, problems = parse_video_list(video_list, data_prefix=video_root, test_mode=False)
    apply_annotation_policy(problems, len(data_list) + len(problems), video_list, on_error=None,
                            hint='fix the list file')
    if not data_list:
        raise AnnotationError(f'{video_list} has no rows')
    line_numbers = [i for i, _ in read_rows(video_list)]  # no bad rows here, so one per data_list entry
    jobs: List[Job] = []
    rows: List[Tuple[str, int]] = []
    owner: Dict[str, Tuple[str, int]] = {}  # relative frame folder -> (video, line)
    for info, lineno in zip(data_list, line_numbers):
        video = video_file(info['filename'])
        rel = os.path.relpath(video, video_root)
        if rel.startswith('..') or os.path.isabs(rel):
            raise ValueError(f'{video_list} line {lineno}: {video} is not inside VIDEO_ROOT {video_root}, so '
                             'its frame folder would not be inside OUT_ROOT')
        rel_dir = Path(os.path.splitext(rel)[0]).as_posix()
        if rel_dir in owner:
            other, other_line = owner[rel_dir]
            if os.path.realpath(other) != os.path.realpath(video):
                raise ValueError(f'{video_list} line {lineno}: {video} would share the frame folder '
                                 f'{rel_dir} with {other} (line {other_line}); rename one of them')
        else:
            owner[rel_dir] = (video, lineno)
            jobs.append(Job(video, str(out_root / rel_dir), rel_dir))
        rows.append((rel_dir, info['label']))
    for rel_dir, (video, lineno) in owner.items():
        for parent in Path(rel_dir).parents:
            if parent.as_posix() in owner:
                outer, outer_line = owner[parent.as_posix()]
                raise ValueError(f'{video_list} line {lineno}: the frame folder {rel_dir} of {video} would '
                                 f'lie inside the frame folder {parent.as_posix()} of {outer} (line '
                                 f'{outer_line})')
    return jobs, rows


def write_list(path: Path, rows: Sequence[Tuple[str, int, int]]) -> None:
    """Write ``frame_dir total_frames label`` rows atomically (temporary file, then ``os.replace``).

    Args:
        path (Path): The list file.
        rows (Sequence[tuple[str, int, int]]): ``(frame_dir, total_frames, label)`` per row.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    try:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.writelines(f'{frame_dir} {total} {label}\n' for frame_dir, total, label in rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


def build_parser() -> argparse.ArgumentParser:
    """The ``extract_frames.py`` argument parser.

    Returns:
        argparse.ArgumentParser: The parser.
    """
    parser = argparse.ArgumentParser(
        prog='extract_frames.py',
        description='Decode every video of an mmaction2 video list (VideoDataset format, "path label" per '
        'line) into OUT_ROOT/<path without extension>/img_00001.jpg ... and write the matching rawframe list '
        '(RawframeDataset format, "frame_dir total_frames label" per line). Existing frame folders are '
        'reused; unreadable videos are skipped with a message and left out of the list; bad list rows stop '
        'the tool with exit code 2. Exit code 0, or 1 with --strict when a video was skipped.',
        epilog='Config: ann_file=OUT_LIST, data_prefix=dict(img=OUT_ROOT), filename_tmpl=TMPL, '
        'start_index=1.')
    parser.add_argument('video_list', type=Path, metavar='VIDEO_LIST',
                        help='video list file, one "relative/path.mp4 label" per line')
    parser.add_argument('video_root', type=Path, metavar='VIDEO_ROOT',
                        help='folder the paths of VIDEO_LIST are relative to (data_prefix=dict(video=...))')
    parser.add_argument('out_root', type=Path, metavar='OUT_ROOT', help='folder of the frame folders')
    parser.add_argument('--out-list', type=Path, default=None, metavar='FILE',
                        help='rawframe list to write (default: OUT_ROOT/<VIDEO_LIST stem>_rawframes.txt); '
                        'frame folders in it are relative to OUT_ROOT')
    parser.add_argument('--tmpl', default=DEFAULT_TMPL,
                        help='frame file names, numbered from 1 (mmaction2 filename_tmpl with start_index=1; '
                        'default: %(default)s)')
    parser.add_argument('--short-side', type=int, default=None, metavar='N',
                        help='resize frames so that the shorter side is N pixels, keeping the aspect ratio '
                        '(default: decoded size)')
    parser.add_argument('--quality', type=int, default=95, metavar='Q',
                        help='JPEG quality, 0-100 (default: %(default)s)')
    parser.add_argument('--workers', type=int, default=1, metavar='N',
                        help='videos decoded in parallel, one process each (default: %(default)s)')
    parser.add_argument('--overwrite', action='store_true',
                        help='extract videos again even when their frame folder exists')
    parser.add_argument('--quiet', action='store_true', help='no progress output (skip messages stay)')
    parser.add_argument('--strict', action='store_true', help='exit code 1 when any video was skipped')
    return parser


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``parser.error`` (exit code 2) for bad option values."""
    try:
        check_tmpl(args.tmpl)
    except ValueError as err:
        parser.error(str(err))
    if args.short_side is not None and args.short_side < 1:
        parser.error(f'--short-side must be >= 1, got {args.short_side}')
    if not 0 <= args.quality <= 100:
        parser.error(f'--quality must be in 0..100, got {args.quality}')
    if args.workers < 1:
        parser.error(f'--workers must be >= 1, got {args.workers}')
    if not args.video_root.is_dir():
        parser.error(f'VIDEO_ROOT {args.video_root} is not a folder')


def _extract_all(jobs: List[Job], args: argparse.Namespace) -> Tuple[Dict[str, Result], Dict[str, int], int]:
    """Run :func:`process_job` over ``jobs`` (in ``args.workers`` processes), printing skips and progress.

    Args:
        jobs (list[Job]): The videos.
        args (argparse.Namespace): Parsed arguments of :func:`build_parser`.

    Returns:
        tuple[dict[str, Result], dict[str, int], int]: the result per relative frame folder, the number of
        videos per status, and the number of frames written.
    """
    work = partial(process_job, tmpl=args.tmpl, short_side=args.short_side, quality=args.quality,
                   overwrite=args.overwrite, num_threads=0 if args.workers == 1 else 1)
    counts = dict(extracted=0, reused=0, skipped=0)
    new_frames = 0
    results: Dict[str, Result] = {}
    pool = multiprocessing.Pool(min(args.workers, len(jobs))) if args.workers > 1 and len(jobs) > 1 else None
    try:
        with Progress(console=Console(stderr=True), disable=args.quiet) as bar:
            task = bar.add_task('videos', total=len(jobs))
            for job, result in zip(jobs, pool.imap(work, jobs) if pool is not None else map(work, jobs)):
                results[job.rel_dir] = result
                counts[result.status] += 1
                if result.status == 'extracted':
                    new_frames += result.frames
                elif result.status == 'skipped':  # printed above the bar on a terminal
                    print(f'skipped {job.video}: {result.reason}', file=sys.stderr, flush=True)
                bar.update(task, advance=1, description=f'{counts["extracted"]} extracted, {counts["reused"]} '
                           f'reused, {counts["skipped"]} skipped')
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return results, counts, new_frames


def run(args: argparse.Namespace) -> int:
    """Extract the videos of ``args.video_list`` and write the rawframe list.

    Args:
        args (argparse.Namespace): Parsed arguments of :func:`build_parser`.

    Returns:
        int: Exit code.
    """
    from tasks.datasets.annotations import AnnotationError

    out_list = args.out_list or args.out_root / f'{args.video_list.stem}_rawframes.txt'
    try:
        jobs, rows = plan(args.video_list, args.video_root, args.out_root)
    except (AnnotationError, FileNotFoundError, ValueError) as err:
        print(f'extract_frames.py: error: {err}', file=sys.stderr)
        return 2

    by_parent: Dict[Path, List[str]] = {}
    for job in jobs:
        by_parent.setdefault(Path(job.frame_dir).parent, []).append(Path(job.frame_dir).name)
    by_parent.setdefault(out_list.parent, []).append(out_list.name)
    stale = [path for parent, names in by_parent.items() for path in remove_stale_tmp(parent, names)]
    if stale and not args.quiet:
        print(f'removed {len(stale)} temporary folder(s) left by an interrupted run, e.g. {stale[0]}',
              file=sys.stderr)

    try:
        results, counts, new_frames = _extract_all(jobs, args)
        out_rows = [(rel_dir, results[rel_dir].frames, label) for rel_dir, label in rows
                    if results[rel_dir].status != 'skipped']
        write_list(out_list, out_rows)
    except OSError as err:  # not the video's fault (disk full, permissions): stop
        print(f'extract_frames.py: error: {err}', file=sys.stderr)
        return 1
    print(f'extracted {counts["extracted"]} videos ({new_frames} frames), reused {counts["reused"]}, '
          f'skipped {counts["skipped"]}')
    print(f'rawframe list: {out_list} ({len(out_rows)} rows); use ann_file={str(out_list)!r}, '
          f'data_prefix=dict(img={str(args.out_root)!r}), filename_tmpl={args.tmpl!r}, start_index=1')
    return 1 if args.strict and counts['skipped'] else 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point.

    Args:
        argv (list[str], optional): Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns:
        int: Exit code: 0 done, 1 a video was skipped and ``--strict`` was given (or a write error), 2 bad
        arguments or a bad list.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    return run(args)


if __name__ == '__main__':
    sys.exit(main())
