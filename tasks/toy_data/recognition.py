"""The toy recognition dataset (moving shapes) in the real mmaction2 on-disk format.

The toy set is a drop-in replacement for a Kinetics-style ``VideoDataset`` folder::

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
``(seed, split, index)``); building, reuse, atomicity and rank 0 first are :func:`tasks.toy_data.cache.build_toy`'s.
:func:`ensure_recognition` is the entry point for configs and launchers;
:class:`tasks.toy_data.datasets.ToyVideoDataset` calls it from inside a dataloader build so a config can create its
own data.
"""
import inspect
import math
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple, Union

import cv2
import numpy as np

from .cache import build_toy, split_code

__all__ = [
    'FORMAT_VERSION', 'RECOGNITION_DEFAULTS', 'make_recognition', 'ensure_recognition', 'recognition_params',
    'recognition_class_names', 'render_recognition_clip'
]

#: Bumped whenever the generated content changes for the same parameters, so that
#: :func:`ensure_recognition` refuses to reuse a folder written by an older generator.
FORMAT_VERSION = 2

_KIND = 'recognition'
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
            raise ValueError(f'parameter {key!r} must be an int, '
                             f'got {value!r} ({type(value).__name__})')
        out[key] = int(value)
    if out['num_classes'] < 2:
        raise ValueError(f'num_classes must be >= 2, got {out["num_classes"]}')
    if out['num_train'] < out['num_classes']:
        raise ValueError('num_train must be >= num_classes so that every '
                         f'class appears in training, got num_train={out["num_train"]}, '
                         f'num_classes={out["num_classes"]}')
    if out['num_val'] < 1:
        raise ValueError(f'num_val must be >= 1, got {out["num_val"]}')
    if out['num_frames'] < 2:
        raise ValueError('num_frames must be >= 2 (the label is a motion), '
                         f'got {out["num_frames"]}')
    if out['size'] < 16 or out['size'] % 2:
        raise ValueError('size must be an even number >= 16 '
                         f'(the mp4v encoder needs even frame sizes), got {out["size"]}')
    if out['size'] in _DECORD_BAD_WIDTHS:
        raise ValueError(f'size={out["size"]} is one of the frame widths '
                         f'{_DECORD_BAD_WIDTHS} whose mp4v videos decord 0.6 cannot decode ("The size '
                         'must exactly match"); use another even size, e.g. 32, 40, 56, 64 or 96')
    if out['fps'] < 1:
        raise ValueError(f'fps must be >= 1, got {out["fps"]}')
    if out['seed'] < 0:
        raise ValueError(f'seed must be >= 0, got {out["seed"]}')
    return out


def _split_labels(num_videos: int, num_classes: int, seed: int, split: str) -> np.ndarray:
    """Balanced labels (round-robin), shuffled deterministically per (seed, split)."""
    labels = np.arange(num_videos) % num_classes
    rng = np.random.default_rng([seed, split_code(split), 0])
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


def _write_video(path: Path, frames: np.ndarray, fps: int) -> None:
    """Write RGB ``frames`` (T, H, W, 3) to ``path`` with OpenCV's mp4v encoder."""
    num_frames, height, width = frames.shape[:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), float(fps), (width, height))
    if not writer.isOpened():
        raise RuntimeError(f'cv2.VideoWriter could not open {path} for '
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
            raise RuntimeError(f'decord cannot decode the video just written '
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
        raise RuntimeError(f'{path} decodes to {count} frames of shape {shape}, '
                           f'expected {num_frames} frames of shape {(height, width, 3)}')


def make_recognition(root: PathLike,
                     num_train: int = 400,
                     num_val: int = 100,
                     num_classes: int = 4,
                     num_frames: int = 16,
                     size: int = 64,
                     fps: int = 25,
                     seed: int = 0,
                     progress: bool = True) -> Path:
    """Generate the toy motion-direction recognition dataset at ``root``, which must not exist or be empty.

    Built by :func:`tasks.toy_data.cache.build_toy`: written into a temporary sibling folder and renamed to
    ``root`` when complete; if another process created ``root`` in the meantime with the same parameters, the
    temporary copy is deleted and the existing one is used.

    Args:
        root (str | os.PathLike): Output folder; must not exist or be an empty directory.
        num_train (int): Number of training clips (>= num_classes). Defaults to 400.
        num_val (int): Number of validation clips (>= 1). Defaults to 100.
        num_classes (int): Number of motion directions (>= 2). Defaults to 4.
        num_frames (int): Frames per clip (>= 2). Defaults to 16.
        size (int): Frame height and width, even and >= 16. Defaults to 64.
        fps (int): Frame rate stored in the mp4 files. Defaults to 25.
        seed (int): Non-negative base seed. Defaults to 0.
        progress (bool): Show a progress bar on stderr. Defaults to True.

    Returns:
        pathlib.Path: ``root``.

    Raises:
        FileExistsError: ``root`` already holds something (use :func:`ensure_recognition` to reuse
            an existing toy dataset), or another process created a different dataset there.
        ValueError: Invalid parameters.
        RuntimeError: OpenCV cannot write mp4v, or a written video does not decode to
            ``num_frames`` frames.
    """
    params = _check_params(
        dict(num_train=num_train, num_val=num_val, num_classes=num_classes, num_frames=num_frames,
             size=size, fps=fps, seed=seed))
    return _build(root, params, progress, exist_ok=False)


def _build(root: PathLike, params: Dict[str, Any], progress: bool, exist_ok: bool = True,
           overwrite: bool = False) -> Path:
    return build_toy(root, _KIND, FORMAT_VERSION, params, lambda out, advance: _generate_recognition(
        out, params, advance), total=params['num_train'] + params['num_val'], progress=progress,
                     exist_ok=exist_ok, overwrite=overwrite)


def _generate_recognition(out: Path, params: Dict[str, Any], advance: Callable[[], None]) -> Dict[str, Any]:
    """Write the dataset into the empty folder ``out``; returns the extra ``toy_meta.json`` entries."""
    counts = {'train': params['num_train'], 'val': params['num_val']}
    class_names = recognition_class_names(params['num_classes'])
    for split in _SPLITS:
        video_dir = out / 'videos' / split
        video_dir.mkdir(parents=True)
        labels = _split_labels(counts[split], params['num_classes'], params['seed'], split)
        lines = []
        for idx, label in enumerate(labels):
            rng = np.random.default_rng([params['seed'], split_code(split), 1, idx])
            frames = render_recognition_clip(int(label), params['num_classes'], params['num_frames'],
                                             params['size'], rng)
            rel = f'videos/{split}/{idx:05d}.mp4'
            _write_video(out / rel, frames, params['fps'])
            lines.append(f'{rel} {int(label)}\n')
            advance()
        (out / f'{split}_list.txt').write_text(''.join(lines), encoding='utf-8')
    (out / 'classes.txt').write_text(''.join(f'{name}\n' for name in class_names), encoding='utf-8')
    return dict(
        classes=class_names,
        direction='class k moves at angle 2*pi*k/num_classes, counter-clockwise from +x (right); '
        'image y points down',
        files={
            'train': 'train_list.txt',
            'val': 'val_list.txt',
            'classes': 'classes.txt'
        })


#: Default generation parameters of :func:`make_recognition` (everything except root and progress).
RECOGNITION_DEFAULTS: Dict[str, Any] = _defaults()


def recognition_params(**kwargs: Any) -> Tuple[Dict[str, Any], bool]:
    """Full, validated generation parameters (defaults filled in) and ``progress`` from
    :func:`ensure_recognition`'s keyword arguments.

    Raises:
        TypeError: Unknown keyword argument.
        ValueError: Invalid parameter value.
    """
    defaults = RECOGNITION_DEFAULTS
    unknown = set(kwargs) - set(defaults) - {'progress'}
    if unknown:
        raise TypeError(f'unknown toy recognition parameter(s) {sorted(unknown)}; valid ones are {sorted(defaults)} '
                        'and progress')
    params = {**defaults, **{k: v for k, v in kwargs.items() if k != 'progress'}}
    return _check_params(params), bool(kwargs.get('progress', True))


def ensure_recognition(root: PathLike, overwrite: bool = False, **kwargs: Any) -> Path:
    """Return ``root``, generating the toy recognition dataset there first if it is missing.

    Under ``torch.distributed`` local rank 0 generates and the other ranks wait (see
    :func:`tasks.toy_data.cache.build_toy`).

    Args:
        root (str | os.PathLike): Dataset folder.
        overwrite (bool): Regenerate a toy dataset that is already there (``make_toy.py --overwrite``).
        **kwargs: Parameters of :func:`make_recognition` (``num_train``, ``num_val``,
            ``num_classes``, ``num_frames``, ``size``, ``fps``, ``seed``, ``progress``); missing
            ones take :func:`make_recognition`'s defaults.

    Returns:
        pathlib.Path: ``root``.

    Raises:
        tasks.toy_data.cache.ToyDataMismatch: (a ValueError) ``root`` holds a toy dataset generated with
            different parameters (or an older format version), or something that is not a toy dataset.
        TypeError: Unknown keyword argument.
    """
    params, progress = recognition_params(**kwargs)
    return _build(root, params, progress, overwrite=overwrite)
