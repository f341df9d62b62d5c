"""The toy video-text retrieval set: clips of one coloured shape moving in one direction, with captions that say
colour, shape and motion, in the official UMT JSON format, plus a WordPiece vocabulary.

Layout::

    root/
        videos/train/00000.mp4 ...    SIZE x SIZE, NUM_FRAMES frames at FPS (mp4v, decodable by decord)
        videos/val/00000.mp4 ...
        train.json                    [{"video": "videos/train/00000.mp4", "caption": [two captions]}, ...]
        val.json                      [{"video": "videos/val/00000.mp4", "caption": "a red disc moves left"}, ...]
        vocab.txt                     BERT WordPiece vocabulary (special tokens + every caption word)
        toy_meta.json                 parameters + format version (written last)

A clip shows one ``small`` or ``big`` shape (``square`` or ``disc``) of one of five colours (red, green, blue,
yellow, white; jittered) moving ``right`` / ``up`` / ``left`` / ``down`` over a dark noisy background; start
position and speed are random. That is 80 descriptions (so two clips of a training batch rarely share one: the
matching loss's hard negatives are then real negatives); the validation set has each at most once (in a fixed
random order), so a text-to-video R@1 of 100% is possible and chance is 1 / ``num_val``. Captions come from three
templates ("a big red disc moves left", "a big disc in red moving left", "big red disc going left"): training
rows carry two of them
(``caption_mode='multi'``: two positives per video), validation rows the first template (``'single'``). Colour
and shape are visible in any frame; the direction needs two frames, so a model that ranks the right clip first
among clips of the same colour and shape has learnt motion.

Generation is deterministic (every clip has its own ``numpy.random.Generator`` from ``(seed, split, index)``);
building, reuse, atomicity and rank 0 first are :func:`tasks.toy_data.cache.build_toy`'s.
"""
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from .cache import build_toy, split_code
from .recognition import _DECORD_BAD_WIDTHS, _write_video

__all__ = ['RETRIEVAL_DEFAULTS', 'FORMAT_VERSION', 'COLOURS', 'SHAPES', 'DIRECTIONS', 'TEMPLATES',
           'check_retrieval_params', 'ensure_retrieval', 'make_retrieval', 'toy_retrieval_files', 'render_clip',
           'caption', 'SIZES', 'toy_vocab', 'SPECIAL_TOKENS']

FORMAT_VERSION = 2
_KIND = 'retrieval'
RETRIEVAL_DEFAULTS: Dict[str, int] = dict(num_train=320, num_val=40, num_frames=8, size=32, fps=8, seed=0)
COLOURS = {'red': (230, 40, 40), 'green': (40, 210, 60), 'blue': (50, 90, 245), 'yellow': (235, 220, 40),
           'white': (245, 245, 245)}
SHAPES = ('square', 'disc')
#: size name -> range of the half side / radius as a fraction of the frame size
SIZES = {'small': (0.1, 0.13), 'big': (0.19, 0.23)}
#: direction name -> unit (dx, dy) in image coordinates (y points down)
DIRECTIONS = {'right': (1, 0), 'up': (0, -1), 'left': (-1, 0), 'down': (0, 1)}
TEMPLATES = ('a {size} {colour} {shape} moves {direction}', 'a {size} {shape} in {colour} moving {direction}',
             '{size} {colour} {shape} going {direction}')
SPECIAL_TOKENS = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]')
COMBOS: List[Tuple[str, str, str, str]] = [(z, c, s, d) for z in SIZES for c in COLOURS for s in SHAPES
                                           for d in DIRECTIONS]


def toy_vocab() -> List[str]:
    """The WordPiece vocabulary: BERT's special tokens (``[PAD]`` = 0) then every caption word, sorted."""
    words = set()
    for t in TEMPLATES:
        for combo in COMBOS:
            words.update(caption(t, *combo).split())
    return list(SPECIAL_TOKENS) + sorted(words)


def caption(template: str, size: str, colour: str, shape: str, direction: str) -> str:
    return template.format(size=size, colour=colour, shape=shape, direction=direction)


def toy_retrieval_files(root) -> Dict[str, str]:
    """Paths a config needs, as strings."""
    root = Path(root)
    return dict(train=str(root / 'train.json'), val=str(root / 'val.json'), vocab=str(root / 'vocab.txt'),
                videos=str(root))


def check_retrieval_params(params: Dict[str, Any]) -> Dict[str, int]:
    """Full, validated parameters (defaults from :data:`RETRIEVAL_DEFAULTS`).

    Raises:
        TypeError: Unknown parameter. ValueError: Invalid value.
    """
    unknown = set(params) - set(RETRIEVAL_DEFAULTS)
    if unknown:
        raise TypeError(f'unknown toy retrieval parameter(s) {sorted(unknown)}; valid: {sorted(RETRIEVAL_DEFAULTS)}')
    out = dict(RETRIEVAL_DEFAULTS)
    for k, v in params.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f'toy retrieval parameter {k!r} must be an int, got {v!r}')
        out[k] = int(v)
    if out['num_train'] < 1 or not 1 <= out['num_val'] <= len(COMBOS):
        raise ValueError(f'need num_train >= 1 and 1 <= num_val <= {len(COMBOS)} (one clip per description), got '
                         f'{out["num_train"]}, {out["num_val"]}')
    if out['num_frames'] < 2 or out['fps'] < 1:
        raise ValueError('num_frames must be >= 2 and fps >= 1')
    if out['size'] < 32 or out['size'] % 2 or out['size'] in _DECORD_BAD_WIDTHS:
        raise ValueError(f'size must be even, >= 32 and not one of {_DECORD_BAD_WIDTHS} (decord), got {out["size"]}')
    return out


def render_clip(size_name: str, colour: str, shape: str, direction: str, num_frames: int, size: int,
                rng: np.random.Generator) -> np.ndarray:
    """``(num_frames, size, size, 3)`` uint8 RGB frames of one ``size_name`` ``colour`` ``shape`` moving in
    ``direction``."""
    half = rng.uniform(*SIZES[size_name]) * size
    travel = rng.uniform(0.3, 0.45) * size
    d = np.asarray(DIRECTIONS[direction], dtype=np.float64)
    lo, hi = half + 1 + np.abs(d) * travel / 2, size - half - 1 - np.abs(d) * travel / 2
    mid = rng.uniform(lo, hi)
    start = mid - d * travel / 2
    rgb = np.clip(np.asarray(COLOURS[colour], dtype=np.float64) + rng.uniform(-20, 20, 3), 0, 255)
    frames = rng.uniform(0, 50, 3) + rng.normal(0, 6, size=(num_frames, size, size, 3))
    c = np.arange(size) + 0.5
    for t in range(num_frames):
        cx, cy = start + d * travel * t / (num_frames - 1)
        dx, dy = np.abs(c[None, :] - cx), np.abs(c[:, None] - cy)
        if shape == 'square':
            a = np.clip(half + 0.5 - dx, 0, 1) * np.clip(half + 0.5 - dy, 0, 1)
        else:
            a = np.clip(half + 0.5 - np.sqrt(dx ** 2 + dy ** 2), 0, 1)
        frames[t] = frames[t] * (1 - a[..., None]) + rgb * a[..., None]
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def _split_combos(split: str, n: int, seed: int) -> List[Tuple[str, str, str, str]]:
    rng = np.random.default_rng([seed, split_code(split), 0])
    if split == 'val':  # every description at most once
        return [COMBOS[i] for i in rng.permutation(len(COMBOS))[:n]]
    reps = -(-n // len(COMBOS))
    return [COMBOS[i] for i in rng.permutation(np.tile(np.arange(len(COMBOS)), reps))[:n]]


def _generate(out: Path, params: Dict[str, int], advance: Callable[[], None]) -> Dict[str, Any]:
    for split in ('train', 'val'):
        (out / 'videos' / split).mkdir(parents=True)
        rows = []
        for idx, combo in enumerate(_split_combos(split, params[f'num_{split}'], params['seed'])):
            rng = np.random.default_rng([params['seed'], split_code(split), 1, idx])
            rel = f'videos/{split}/{idx:05d}.mp4'
            _write_video(out / rel, render_clip(*combo, params['num_frames'], params['size'], rng), params['fps'])
            if split == 'val':
                cap: Any = caption(TEMPLATES[0], *combo)
            else:
                cap = [caption(TEMPLATES[i], *combo) for i in sorted(rng.choice(len(TEMPLATES), 2, replace=False))]
            rows.append(dict(video=rel, caption=cap))
            advance()
        (out / f'{split}.json').write_text(json.dumps(rows, indent=1) + '\n', encoding='utf-8')
    (out / 'vocab.txt').write_text(''.join(f'{w}\n' for w in toy_vocab()), encoding='utf-8')
    return dict(files=dict(train='train.json', val='val.json', vocab='vocab.txt'),
                captions=list(TEMPLATES), sizes=list(SIZES), colours=list(COLOURS), shapes=list(SHAPES),
                directions=list(DIRECTIONS))


def _build(root, params: Dict[str, int], progress: bool, exist_ok: bool = True, overwrite: bool = False) -> Path:
    return build_toy(root, _KIND, FORMAT_VERSION, params, lambda out, advance: _generate(out, params, advance),
                     total=params['num_train'] + params['num_val'], progress=progress, exist_ok=exist_ok,
                     overwrite=overwrite)


def make_retrieval(root, progress: bool = True, **params) -> Path:
    """Generate the toy retrieval set at ``root`` (must not exist or be empty); parameters:
    :data:`RETRIEVAL_DEFAULTS`."""
    return _build(root, check_retrieval_params(params), progress, exist_ok=False)


def ensure_retrieval(root, progress: bool = True, overwrite: bool = False, **params) -> Path:
    """Return ``root``, generating the toy retrieval set there first if it is missing (local rank 0 first under
    ``torch.distributed``; atomic; a folder with other parameters is a
    :class:`tasks.toy_data.cache.ToyDataMismatch`).

    Args:
        root (str | os.PathLike): Dataset folder.
        progress (bool): Progress bar on stderr.
        overwrite (bool): Regenerate a toy dataset that is already there.
        **params: ``num_train``, ``num_val``, ``num_frames``, ``size``, ``fps``, ``seed``.
    """
    return _build(root, check_retrieval_params(params), progress, overwrite=overwrite)
