"""Deterministic toy video datasets in the real mmaction2 on-disk format.

The recognition toy set is a drop-in replacement for a Kinetics-style ``VideoDataset`` folder::

    root/
        videos/train/00000.mp4 ...   # mp4v-encoded clips, decodable with decord
        videos/val/00000.mp4 ...
        train_list.txt               # "videos/train/00000.mp4 LABEL" per line (relative to root)
        val_list.txt
        classes.txt                  # one class name per line, line k = label k
        toy_meta.json                # generation parameters + format version

so a config only needs ``ann_file=root/train_list.txt`` and ``data_prefix=dict(video=root)``.

Every clip shows one or two filled bright shapes (square or disc; random colour, size and position)
that all move in the direction of the clip's class (class ``k`` of ``K`` moves at angle ``2*pi*k/K``,
measured counter-clockwise from "right", i.e. right / up / left / down for ``K=4``) at a random speed,
over a random dark background with fresh Gaussian noise in every frame. Appearance is drawn
independently of the label, so only the motion direction identifies the class: a model that learns
the toy task must have learnt to use temporal information. The mid-clip position is drawn from a
range that is symmetric under reversing the direction, so a single middle frame carries (almost) no
label information either.

Generation is deterministic (every clip uses its own ``numpy.random.Generator`` seeded from
``(seed, split, index)``), atomic (written into a temporary sibling folder that is renamed into place)
and safe when several processes ask for the same folder at once (the loser of the rename race keeps
the winner's copy). :func:`ensure_recognition` is the entry point for configs and launchers;
:class:`ToyVideoDataset` calls it from inside a dataloader build so a config can create its own data.
"""
import inspect
import json
import math
import os
import shutil
import sys
import zlib
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import cv2
import numpy as np
from mmaction.datasets import VideoDataset

from .robust import RobustDatasetMixin

__all__ = [
    'FORMAT_VERSION', 'RECOGNITION_DEFAULTS', 'make_recognition', 'ensure_recognition',
    'recognition_class_names', 'render_recognition_clip', 'ToyVideoDataset'
]

#: Bumped whenever the generated content changes for the same parameters, so that
#: :func:`ensure_recognition` refuses to reuse a folder written by an older generator.
FORMAT_VERSION = 2

_META_NAME = 'toy_meta.json'
_SPLITS = ('train', 'val')

#: Range of the per-shape displacement over the whole clip, as a fraction of the frame size.
_TRAVEL_RANGE = (0.2, 0.5)
#: Range of a shape's half side (square) or radius (disc), as a fraction of the frame size.
_HALF_SIZE_RANGE = (0.06, 0.12)
#: Range of the standard deviation of the per-frame Gaussian background noise (0..255 scale).
_NOISE_STD_RANGE = (3.0, 10.0)
#: Channel ranges of the (dark) background and the (bright) shape colours. A fixed contrast polarity
#: makes motion direction linearly visible inside one tubelet (leading edge brightens, trailing edge
#: darkens), so a tiny transformer learns it in minutes; appearance stays random within each range.
_BACKGROUND_RANGE = (0.0, 90.0)
_SHAPE_RANGE = (160.0, 255.0)

#: Frame widths whose OpenCV-mp4v videos decord 0.6.0 fails to decode (padded line size,
#: "DECORDArrayCopyFromTo: The size must exactly match"); found by trying every even width 16..518.
_DECORD_BAD_WIDTHS = (16, 24, 48, 72)

_COMPASS = {
    0: 'right',
    45: 'up_right',
    90: 'up',
    135: 'up_left',
    180: 'left',
    225: 'down_left',
    270: 'down',
    315: 'down_right'
}

PathLike = Union[str, os.PathLike]


def _defaults() -> Dict[str, Any]:
    """Generation parameters of :func:`make_recognition` with their default values."""
    sig = inspect.signature(make_recognition)
    return {
        name: p.default
        for name, p in sig.parameters.items() if name not in ('root', 'progress')
    }


def recognition_class_names(num_classes: int) -> List[str]:
    """Names of the toy recognition classes.

    Args:
        num_classes (int): Number of motion directions ``K``; class ``k`` moves at angle
            ``360 * k / K`` degrees counter-clockwise from "right".

    Returns:
        list[str]: ``move_<compass>`` for multiples of 45 degrees (``move_right``, ``move_up``, ...),
        otherwise ``move_<angle>deg``.
    """
    names = []
    for k in range(num_classes):
        deg = round(360.0 * k / num_classes, 4)
        if deg == int(deg) and int(deg) in _COMPASS:
            names.append(f'move_{_COMPASS[int(deg)]}')
        else:
            names.append(f'move_{deg:g}deg')
    return names


def _check_params(params: Dict[str, Any]) -> Dict[str, Any]:
    """Validate and normalise generation parameters (ints everywhere), raising ValueError."""
    out = {}
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f'tasks/common/toy_data.py: parameter {key!r} must be an int, '
                             f'got {value!r} ({type(value).__name__})')
        out[key] = int(value)
    if out['num_classes'] < 2:
        raise ValueError(f'tasks/common/toy_data.py: num_classes must be >= 2, got {out["num_classes"]}')
    if out['num_train'] < out['num_classes']:
        raise ValueError('tasks/common/toy_data.py: num_train must be >= num_classes so that every '
                         f'class appears in training, got num_train={out["num_train"]}, '
                         f'num_classes={out["num_classes"]}')
    if out['num_val'] < 1:
        raise ValueError(f'tasks/common/toy_data.py: num_val must be >= 1, got {out["num_val"]}')
    if out['num_frames'] < 2:
        raise ValueError('tasks/common/toy_data.py: num_frames must be >= 2 (the label is a motion), '
                         f'got {out["num_frames"]}')
    if out['size'] < 16 or out['size'] % 2:
        raise ValueError('tasks/common/toy_data.py: size must be an even number >= 16 '
                         f'(the mp4v encoder needs even frame sizes), got {out["size"]}')
    if out['size'] in _DECORD_BAD_WIDTHS:
        raise ValueError(f'tasks/common/toy_data.py: size={out["size"]} is one of the frame widths '
                         f'{_DECORD_BAD_WIDTHS} whose mp4v videos decord 0.6 cannot decode ("The size '
                         'must exactly match"); use another even size, e.g. 32, 40, 56, 64 or 96')
    if out['fps'] < 1:
        raise ValueError(f'tasks/common/toy_data.py: fps must be >= 1, got {out["fps"]}')
    if out['seed'] < 0:
        raise ValueError(f'tasks/common/toy_data.py: seed must be >= 0, got {out["seed"]}')
    return out


def _split_code(split: str) -> int:
    """Stable (process- and platform-independent) integer code for a split name."""
    return zlib.crc32(split.encode('utf-8'))


def _split_labels(num_videos: int, num_classes: int, seed: int, split: str) -> np.ndarray:
    """Balanced labels (round-robin), shuffled deterministically per (seed, split)."""
    labels = np.arange(num_videos) % num_classes
    rng = np.random.default_rng([seed, _split_code(split), 0])
    return rng.permutation(labels)


def render_recognition_clip(label: int, num_classes: int, num_frames: int, size: int,
                            rng: np.random.Generator) -> np.ndarray:
    """Render one toy recognition clip.

    Args:
        label (int): Class index; sets the motion direction ``2*pi*label/num_classes``
            (counter-clockwise from "right", so in image rows "up" means decreasing y).
        num_classes (int): Number of classes ``K``.
        num_frames (int): Number of frames ``T``.
        size (int): Frame height and width in pixels.
        rng (numpy.random.Generator): Source of all randomness for this clip.

    Returns:
        numpy.ndarray: ``uint8`` array of shape ``(T, size, size, 3)`` in RGB order.
    """
    theta = 2.0 * math.pi * label / num_classes
    direction = np.array([math.cos(theta), -math.sin(theta)])  # (dx, dy) in image coordinates

    background = rng.uniform(*_BACKGROUND_RANGE, size=3)
    noise_std = rng.uniform(*_NOISE_STD_RANGE)
    num_shapes = int(rng.integers(1, 3))
    shapes = []
    for _ in range(num_shapes):
        kind = 'square' if rng.random() < 0.5 else 'disc'
        half = rng.uniform(*_HALF_SIZE_RANGE) * size
        travel = rng.uniform(*_TRAVEL_RANGE) * size
        disp = direction * travel  # displacement from the first to the last frame
        # The mid-clip centre is uniform in the range that keeps the shape inside the frame for
        # the whole clip; the range depends only on |disp|, so it is symmetric under reversal.
        lo = half + np.abs(disp) / 2.0
        hi = size - half - np.abs(disp) / 2.0
        mid = rng.uniform(lo, hi)
        colour = rng.uniform(*_SHAPE_RANGE, size=3)
        shapes.append((kind, half, mid - disp / 2.0, disp, colour))

    noise = rng.normal(0.0, noise_std, size=(num_frames, size, size, 3))
    frames = background[None, None, None, :] + noise
    centres = np.arange(size, dtype=np.float64) + 0.5  # pixel centres
    for t in range(num_frames):
        frac = t / (num_frames - 1)
        for kind, half, start, disp, colour in shapes:
            cx, cy = start + disp * frac
            dx = np.abs(centres[None, :] - cx)
            dy = np.abs(centres[:, None] - cy)
            if kind == 'square':  # area coverage of each pixel, anti-aliased edges
                alpha = np.clip(half + 0.5 - dx, 0.0, 1.0) * np.clip(half + 0.5 - dy, 0.0, 1.0)
            else:
                alpha = np.clip(half + 0.5 - np.sqrt(dx**2 + dy**2), 0.0, 1.0)
            alpha = alpha[:, :, None]
            frames[t] = frames[t] * (1.0 - alpha) + colour * alpha
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


class _Progress:
    """``mmengine.utils.ProgressBar`` on a terminal, a line every ~10% otherwise (logs, CI).

    Args:
        total (int): Number of steps.
        title (str): Printed once before the first step.
    """

    def __init__(self, total: int, title: str) -> None:
        self.total = total
        self.done = 0
        print(f'Generating {title} ({total} clips)', flush=True)
        self.bar = None
        if sys.stdout.isatty():
            from mmengine.utils import ProgressBar
            self.bar = ProgressBar(total)

    def update(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update()
        elif self.done == self.total or self.done % max(1, self.total // 10) == 0:
            print(f'  {self.done}/{self.total} clips', flush=True)

    def close(self) -> None:
        if self.bar is not None:
            sys.stdout.write('\n')
            sys.stdout.flush()


def _write_video(path: Path, frames: np.ndarray, fps: int) -> None:
    """Write RGB ``frames`` (T, H, W, 3) to ``path`` with OpenCV's mp4v encoder."""
    num_frames, height, width = frames.shape[:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), float(fps), (width, height))
    if not writer.isOpened():
        raise RuntimeError(f'tasks/common/toy_data.py: cv2.VideoWriter could not open {path} for '
                           f'writing with fourcc mp4v (OpenCV {cv2.__version__}); does this OpenCV '
                           'build include an FFmpeg backend with an MPEG-4 encoder?')
    try:
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[:, :, ::-1]))  # RGB -> BGR
    finally:
        writer.release()
    _check_video(path, frames)


def _check_video(path: Path, frames: np.ndarray) -> None:
    """Fail loudly unless ``path`` decodes (with decord, else OpenCV) to ``len(frames)`` frames of
    the shape of ``frames``."""
    num_frames, height, width = frames.shape[:3]
    try:
        import decord
    except ImportError:
        decord = None
    if decord is not None:
        try:
            reader = decord.VideoReader(str(path), num_threads=1)
            count = len(reader)
            shape = tuple(reader.get_batch(list(range(count))).shape[1:]) if count else None
        except Exception as err:  # decord raises its own DECORDError
            raise RuntimeError(f'tasks/common/toy_data.py: decord cannot decode the video just written '
                               f'to {path} ({width}x{height}, mp4v): {err}') from err
    else:
        cap = cv2.VideoCapture(str(path))
        count, shape = 0, None
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            count, shape = count + 1, frame.shape
        cap.release()
    if count != num_frames or shape != (height, width, 3):
        raise RuntimeError(f'tasks/common/toy_data.py: {path} decodes to {count} frames of shape {shape}, '
                           f'expected {num_frames} frames of shape {(height, width, 3)}')


def _read_meta(root: Path) -> Optional[Dict[str, Any]]:
    """The parsed ``toy_meta.json`` of ``root``, or None when there is none."""
    meta_path = root / _META_NAME
    if not meta_path.is_file():
        return None
    try:
        with open(meta_path, 'r', encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f'tasks/common/toy_data.py: {meta_path} is unreadable ({err}); delete '
                         f'{root} to regenerate the toy dataset') from err
    if not isinstance(meta, dict) or 'params' not in meta:
        raise ValueError(f'tasks/common/toy_data.py: {meta_path} has no "params" entry; delete {root} '
                         'to regenerate the toy dataset')
    return meta


def _expected_meta_header(kind: str, params: Dict[str, Any]) -> Dict[str, Any]:
    return {'format_version': FORMAT_VERSION, 'kind': kind, 'params': params}


def _meta_mismatch(meta: Dict[str, Any], kind: str, params: Dict[str, Any]) -> Optional[str]:
    """A human-readable description of how ``meta`` differs from the request, or None."""
    expected = _expected_meta_header(kind, params)
    diffs = []
    for key in ('format_version', 'kind'):
        if meta.get(key) != expected[key]:
            diffs.append(f'{key}: on disk {meta.get(key)!r}, requested {expected[key]!r}')
    on_disk = meta.get('params', {})
    for key in sorted(set(on_disk) | set(params)):
        if on_disk.get(key) != params.get(key):
            diffs.append(f'{key}: on disk {on_disk.get(key)!r}, requested {params.get(key)!r}')
    return '; '.join(diffs) if diffs else None


def _is_nonempty_dir_or_file(path: Path) -> bool:
    if not path.exists():
        return False
    return not path.is_dir() or any(path.iterdir())


def make_recognition(root: PathLike,
                     num_train: int = 400,
                     num_val: int = 100,
                     num_classes: int = 4,
                     num_frames: int = 16,
                     size: int = 64,
                     fps: int = 25,
                     seed: int = 0,
                     progress: bool = True) -> Path:
    """Generate the toy motion-direction recognition dataset at ``root``.

    The dataset is written into ``root.parent / f'.{root.name}.tmp-{pid}'`` and renamed to ``root``
    when complete. If another process created ``root`` in the meantime with the same parameters,
    the temporary copy is deleted and the existing one is used.

    Args:
        root (str | os.PathLike): Output folder; must not exist or be an empty directory.
        num_train (int): Number of training clips (>= num_classes). Defaults to 400.
        num_val (int): Number of validation clips (>= 1). Defaults to 100.
        num_classes (int): Number of motion directions (>= 2). Defaults to 4.
        num_frames (int): Frames per clip (>= 2). Defaults to 16.
        size (int): Frame height and width, even and >= 16. Defaults to 64.
        fps (int): Frame rate stored in the mp4 files. Defaults to 25.
        seed (int): Non-negative base seed. Defaults to 0.
        progress (bool): Show progress (``mmengine.utils.ProgressBar`` on a terminal, one line per
            ~10% otherwise). Defaults to True.

    Returns:
        pathlib.Path: ``root``.

    Raises:
        FileExistsError: ``root`` already holds something (use :func:`ensure_recognition` to reuse
            an existing toy dataset), or another process created a different dataset there.
        ValueError: Invalid parameters.
        RuntimeError: OpenCV cannot write mp4v, or a written video does not decode to
            ``num_frames`` frames.
    """
    root = Path(root)
    params = _check_params(
        dict(num_train=num_train, num_val=num_val, num_classes=num_classes, num_frames=num_frames,
             size=size, fps=fps, seed=seed))
    if _is_nonempty_dir_or_file(root):
        raise FileExistsError(f'tasks/common/toy_data.py: {root} already exists and is not empty; '
                              'delete it, choose another path, or call ensure_recognition() to reuse '
                              'an existing toy dataset')
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f'.{root.name}.tmp-{os.getpid()}'
    if tmp.exists():  # leftover of a crashed run of a process that had the same pid
        shutil.rmtree(tmp)
    try:
        _generate_recognition(tmp, params, progress, root)
        try:
            os.rename(tmp, root)
        except OSError:
            # Another process won the race (or someone created root meanwhile).
            meta = _read_meta(root) if root.is_dir() else None
            if meta is None:
                raise FileExistsError(f'tasks/common/toy_data.py: {root} appeared while generating the '
                                      'toy dataset and is not a toy dataset; delete it and retry')
            mismatch = _meta_mismatch(meta, 'recognition', params)
            if mismatch is not None:
                raise FileExistsError(f'tasks/common/toy_data.py: another process wrote a toy dataset '
                                      f'with different parameters to {root} ({mismatch}); delete the '
                                      'folder or change the path')
            shutil.rmtree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def _generate_recognition(out: Path, params: Dict[str, Any], progress: bool, display_root: Path) -> None:
    """Write the full dataset into ``out`` (which must not exist)."""
    counts = {'train': params['num_train'], 'val': params['num_val']}
    class_names = recognition_class_names(params['num_classes'])
    bar = _Progress(sum(counts.values()), f'toy recognition dataset -> {display_root}') if progress else None
    for split in _SPLITS:
        video_dir = out / 'videos' / split
        video_dir.mkdir(parents=True)
        labels = _split_labels(counts[split], params['num_classes'], params['seed'], split)
        lines = []
        for idx, label in enumerate(labels):
            rng = np.random.default_rng([params['seed'], _split_code(split), 1, idx])
            frames = render_recognition_clip(int(label), params['num_classes'], params['num_frames'],
                                             params['size'], rng)
            rel = f'videos/{split}/{idx:05d}.mp4'
            _write_video(out / rel, frames, params['fps'])
            lines.append(f'{rel} {int(label)}\n')
            if bar is not None:
                bar.update()
        (out / f'{split}_list.txt').write_text(''.join(lines), encoding='utf-8')
    if bar is not None:
        bar.close()
    (out / 'classes.txt').write_text(''.join(f'{name}\n' for name in class_names), encoding='utf-8')
    meta = _expected_meta_header('recognition', params)
    meta.update(
        classes=class_names,
        direction='class k moves at angle 2*pi*k/num_classes, counter-clockwise from +x (right); '
        'image y points down',
        files={
            'train': 'train_list.txt',
            'val': 'val_list.txt',
            'classes': 'classes.txt'
        })
    # Written last: its presence marks a complete dataset.
    (out / _META_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True) + '\n', encoding='utf-8')


#: Default generation parameters of :func:`make_recognition` (everything except root and progress).
RECOGNITION_DEFAULTS: Dict[str, Any] = _defaults()


def _requested_params(kwargs: Dict[str, Any]) -> Tuple[Dict[str, Any], bool]:
    """Split ensure_recognition kwargs into full generation params (defaults filled) and progress."""
    defaults = RECOGNITION_DEFAULTS
    unknown = set(kwargs) - set(defaults) - {'progress'}
    if unknown:
        raise TypeError(f'tasks/common/toy_data.py: unknown toy recognition parameter(s) '
                        f'{sorted(unknown)}; valid ones are {sorted(defaults)} and progress')
    params = {**defaults, **{k: v for k, v in kwargs.items() if k != 'progress'}}
    return _check_params(params), bool(kwargs.get('progress', True))


def _check_existing(root: Path, params: Dict[str, Any]) -> bool:
    """True if ``root`` holds a toy recognition set with ``params``; raise if it holds anything else."""
    meta = _read_meta(root) if root.is_dir() else None
    if meta is None:
        if _is_nonempty_dir_or_file(root):
            raise ValueError(f'tasks/common/toy_data.py: {root} exists but has no {_META_NAME}, so it '
                             'is not a toy dataset; delete the folder or change the path')
        return False
    mismatch = _meta_mismatch(meta, 'recognition', params)
    if mismatch is not None:
        raise ValueError(f'tasks/common/toy_data.py: {root} holds a toy dataset generated with different '
                         f'parameters ({mismatch}); delete the folder or change the path')
    return True


def ensure_recognition(root: PathLike, **kwargs: Any) -> Path:
    """Return ``root``, generating the toy recognition dataset there first if it is missing.

    Args:
        root (str | os.PathLike): Dataset folder.
        **kwargs: Parameters of :func:`make_recognition` (``num_train``, ``num_val``,
            ``num_classes``, ``num_frames``, ``size``, ``fps``, ``seed``, ``progress``); missing
            ones take :func:`make_recognition`'s defaults.

    Returns:
        pathlib.Path: ``root``.

    Raises:
        ValueError: ``root`` holds a toy dataset generated with different parameters (or an older
            format version), or something that is not a toy dataset.
        TypeError: Unknown keyword argument.
    """
    root = Path(root)
    params, progress = _requested_params(kwargs)
    if _check_existing(root, params):
        return root
    try:
        return make_recognition(root, progress=progress, **params)
    except FileExistsError:
        # Lost a race: another process finished between our check and our generation.
        if _check_existing(root, params):
            return root
        raise


def _local_rank_and_dist() -> Tuple[int, bool]:
    """(rank that should generate data on this node, whether torch.distributed is initialised)."""
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return 0, False
    local_rank = os.environ.get('LOCAL_RANK')
    rank = int(local_rank) if local_rank is not None else dist.get_rank()
    return rank, True


def ensure_on_each_node(ensure: Callable[[], Any], exists: Callable[[], bool], root: Path) -> None:
    """Generate toy data once per node: ``ensure()`` runs on local rank 0 (or in a non-distributed run); the
    other ranks wait on a barrier and then check ``exists()``. Rank 0 reaches the barrier even when it fails,
    so no rank hangs; its error is raised after the barrier.
    """
    rank, distributed = _local_rank_and_dist()
    if not distributed:
        ensure()
        return
    import torch.distributed as dist
    error: Optional[BaseException] = None
    if rank == 0:
        try:
            ensure()
        except Exception as err:  # reach the barrier anyway so other ranks do not hang
            error = err
    dist.barrier()
    if error is not None:
        raise error
    if not exists():
        raise RuntimeError(f'tasks/common/toy_data.py: rank {dist.get_rank()} does not see the toy dataset at '
                           f'{root} after local rank 0 generated it; is the path on a file system this rank '
                           'can read?')


class ToyVideoDataset(RobustDatasetMixin, VideoDataset):
    """mmaction2 ``VideoDataset`` that generates its toy recognition data when it is missing.

    Follows the bad input policy of :mod:`tasks.common.robust` (``on_error``, ``check_files``).

    Not registered here; register it where the project's registries live.

    Example config::

        root = 'data/toy_recognition'
        train_dataloader = dict(dataset=dict(
            type='ToyVideoDataset', ann_file=f'{root}/train_list.txt',
            toy=dict(root=root, num_train=400), data_prefix=dict(video=root), pipeline=[...]))

    Under ``torch.distributed`` only local rank 0 (``LOCAL_RANK``, else the global rank) of each
    node generates; the other ranks wait on a barrier and then check the folder. Generation is
    atomic, so several nodes sharing one file system are safe too.

    Args:
        ann_file (str): List file, normally ``<toy['root']>/train_list.txt`` or ``val_list.txt``.
        toy (dict): Keyword arguments of :func:`ensure_recognition`; ``root`` is required.
        data_prefix (dict): ``dict(video=<toy['root']>)``.
        **kwargs: Other ``VideoDataset`` arguments (``pipeline``, ``test_mode``, ...) and those of
            :class:`tasks.common.robust.RobustDatasetMixin` (``on_error``, ``check_files``).
    """

    def __init__(self, ann_file: str, toy: dict, data_prefix: dict, **kwargs: Any) -> None:
        if not isinstance(toy, dict) or 'root' not in toy:
            raise ValueError(f'tasks/common/toy_data.py: ToyVideoDataset needs toy=dict(root=..., ...) '
                             f'with the kwargs of ensure_recognition, got toy={toy!r}')
        toy = dict(toy)
        root = Path(toy.pop('root'))
        ensure_on_each_node(lambda: ensure_recognition(root, **toy),
                            lambda: _check_existing(root, _requested_params(toy)[0]), root)
        classes = (root / 'classes.txt').read_text().split()
        kwargs['metainfo'] = {'classes': classes, **(kwargs.get('metainfo') or {})}
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)
