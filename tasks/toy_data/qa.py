"""The toy video QA set: clips of one coloured shape moving in one direction (the toy retrieval clips with
a longer path, :func:`render_qa_clip`), with questions about the colour and the direction, in the official
UMT QA / MC JSON formats.

Layout::

    root/
        videos/{train,val}_NNNN.mp4   SIZE x SIZE, NUM_FRAMES frames (mp4v, decodable by decord)
        qa_train.json / qa_val.json   [{video, question, answer, question_id}]: two questions per clip
        answer_list.json              the 9 answers: red green blue yellow white right up left down
        mc_val.json                   [{video, caption: [5 captions], answer: int}]: one caption per clip is true
        captions_train.json           [{video, caption}]: the true caption per clip (retrieval format, MC training)
        vocab.txt                     a BERT WordPiece vocabulary covering every word (special tokens first)
        toy_meta.json                 parameters + format version (written last)

Every clip: one square or disc of one of 5 colours moving right / up / left / down over a dark noisy background
(random size, start and speed). Colour, shape and direction are balanced per split; each clip has the questions
``what colour is the shape`` and ``which direction does the shape move`` (three wordings each). Chance accuracy is
22.5 % for a model that knows which kind of question was asked (mean of 1/5 and 1/4; 11 % over the 9 answers).
Answering the direction needs the frame order (the toy configs use no flip augmentation: it would swap left and
right). MC options: the true caption (``a {colour} {shape} moves {direction}``) and 4 captions that differ from it
in colour, shape or direction; chance 20 %.

Generation is deterministic; building, reuse, atomicity and rank 0 first are :func:`tasks.toy_data.cache.build_toy`'s.
"""
import json
from pathlib import Path
from typing import Any, Callable, Dict

import numpy as np

from .cache import build_toy, split_code
from .recognition import _DECORD_BAD_WIDTHS, _write_video
from .retrieval import COLOURS, DIRECTIONS, SHAPES, SPECIAL_TOKENS

__all__ = ['QA_DEFAULTS', 'FORMAT_VERSION', 'QA_ANSWERS', 'render_qa_clip', 'check_qa_params', 'make_qa', 'ensure_qa',
           'toy_qa_files']

QA_DEFAULTS: Dict[str, int] = dict(num_train=320, num_val=80, num_frames=8, size=32, fps=8, seed=0)
FORMAT_VERSION = 3
_KIND = 'qa'
QA_ANSWERS = list(COLOURS) + list(DIRECTIONS)
#: (colour, shape, direction) of every clip description
COMBOS = [(c, s, d) for c in COLOURS for s in SHAPES for d in DIRECTIONS]


def caption(colour: str, shape: str, direction: str) -> str:
    """The MC caption of a clip, e.g. ``a red disc moves left``."""
    return f'a {colour} {shape} moves {direction}'


_COLOUR_QUESTIONS = ('what colour is the shape?', 'what color is the moving shape?',
                     'which colour does the object have?')
_DIRECTION_QUESTIONS = ('which direction does the shape move?', 'where is the object going?',
                        'in which direction is the shape moving?')


def render_qa_clip(colour: str, shape: str, direction: str, num_frames: int, size: int,
                   rng: np.random.Generator) -> np.ndarray:
    """``(num_frames, size, size, 3)`` uint8 RGB frames of one ``colour`` ``shape`` moving in ``direction``.

    Like the toy retrieval clip (:func:`tasks.toy_data.retrieval.render_clip`: same colours, shapes, directions,
    anti-aliased drawing; its parameters are the retrieval set's own and may change), with fixed ranges: half side
    / radius 14-18 % of the frame, a path of 45-50 % of the frame (the whole path inside the frame).
    """
    half = rng.uniform(0.14, 0.18) * size
    travel = rng.uniform(0.45, 0.5) * size  # the whole path fits: travel + 2 * half + 2 < size
    d = np.asarray(DIRECTIONS[direction], dtype=np.float64)
    lo, hi = half + 1 + np.abs(d) * travel / 2, size - half - 1 - np.abs(d) * travel / 2
    start = rng.uniform(lo, hi) - d * travel / 2
    rgb = np.clip(np.asarray(COLOURS[colour], dtype=np.float64) + rng.uniform(-20, 20, 3), 0, 255)
    frames = rng.uniform(0, 50, 3) + rng.normal(0, 5, size=(num_frames, size, size, 3))
    grid = np.arange(size) + 0.5
    for t in range(num_frames):
        cx, cy = start + d * travel * t / (num_frames - 1)
        dx, dy = np.abs(grid[None, :] - cx), np.abs(grid[:, None] - cy)
        if shape == 'square':
            alpha = np.clip(half + 0.5 - dx, 0, 1) * np.clip(half + 0.5 - dy, 0, 1)
        else:
            alpha = np.clip(half + 0.5 - np.hypot(dx, dy), 0, 1)
        frames[t] = frames[t] * (1 - alpha[..., None]) + rgb * alpha[..., None]
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def toy_qa_files(root) -> Dict[str, str]:
    """Paths a config needs, as strings."""
    root = Path(root)
    return dict(train_ann=str(root / 'qa_train.json'), val_ann=str(root / 'qa_val.json'),
                answer_list=str(root / 'answer_list.json'), mc_ann=str(root / 'mc_val.json'),
                captions_train=str(root / 'captions_train.json'), vocab=str(root / 'vocab.txt'),
                videos=str(root / 'videos'))


def check_qa_params(params: Dict[str, Any]) -> Dict[str, int]:
    """Full, validated parameters (defaults from :data:`QA_DEFAULTS`).

    Raises:
        TypeError: Unknown parameter. ValueError: Invalid value.
    """
    unknown = set(params) - set(QA_DEFAULTS)
    if unknown:
        raise TypeError(f'unknown toy QA parameter(s) {sorted(unknown)}; valid: {sorted(QA_DEFAULTS)}')
    out = dict(QA_DEFAULTS)
    for k, v in params.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f'toy QA parameter {k!r} must be an int, got {v!r}')
        out[k] = int(v)
    if out['num_train'] < 1 or out['num_val'] < 1:
        raise ValueError(f'need num_train >= 1 and num_val >= 1, got {out["num_train"]}, {out["num_val"]}')
    if out['num_frames'] < 2:
        raise ValueError(f'num_frames must be >= 2 (direction is a motion), got {out["num_frames"]}')
    if out['size'] < 32 or out['size'] % 8 or out['size'] in _DECORD_BAD_WIDTHS:
        raise ValueError(f'size must be a multiple of 8, >= 32 and not one of {_DECORD_BAD_WIDTHS}, got {out["size"]}')
    if out['fps'] < 1 or out['seed'] < 0:
        raise ValueError(f'need fps >= 1 and seed >= 0, got {out["fps"]}, {out["seed"]}')
    return out


def _generate(out: Path, params: Dict[str, int], advance: Callable[[], None]) -> Dict[str, Any]:
    (out / 'videos').mkdir()
    qa: Dict[str, list] = {'train': [], 'val': []}
    captions_train, mc_val = [], []
    texts = list(_COLOUR_QUESTIONS + _DIRECTION_QUESTIONS) + [caption(*c) for c in COMBOS]
    qid = 0
    for split in ('train', 'val'):
        n = params[f'num_{split}']
        order = np.random.default_rng([params['seed'], split_code(split), 0]).permutation(
            np.tile(np.arange(len(COMBOS)), -(-n // len(COMBOS))))[:n]  # balanced descriptions
        for i, combo in enumerate(order):
            colour, shape, direction = COMBOS[combo]
            rng = np.random.default_rng([params['seed'], split_code(split), 1, i])
            name = f'{split}_{i:04d}.mp4'
            _write_video(out / 'videos' / name, render_qa_clip(colour, shape, direction, params['num_frames'],
                                                               params['size'], rng), params['fps'])
            qa[split].append(dict(video=name, question=_COLOUR_QUESTIONS[rng.integers(len(_COLOUR_QUESTIONS))],
                                  answer=colour, question_id=qid))
            qa[split].append(dict(video=name, question=_DIRECTION_QUESTIONS[rng.integers(len(_DIRECTION_QUESTIONS))],
                                  answer=direction, question_id=qid + 1))
            qid += 2
            true = caption(colour, shape, direction)
            if split == 'train':
                captions_train.append(dict(video=name, caption=true))
            else:
                wrong = [c for c in range(len(COMBOS)) if c != combo]
                options = [caption(*COMBOS[wrong[p]]) for p in rng.choice(len(wrong), 4, replace=False)]
                answer = int(rng.integers(5))
                options.insert(answer, true)
                mc_val.append(dict(video=name, caption=options, answer=answer))
            advance()
    for split in ('train', 'val'):
        (out / f'qa_{split}.json').write_text(json.dumps(qa[split], indent=1) + '\n', encoding='utf-8')
    (out / 'answer_list.json').write_text(json.dumps(QA_ANSWERS) + '\n', encoding='utf-8')
    (out / 'mc_val.json').write_text(json.dumps(mc_val, indent=1) + '\n', encoding='utf-8')
    (out / 'captions_train.json').write_text(json.dumps(captions_train, indent=1) + '\n', encoding='utf-8')
    words = sorted({w for t in texts for w in t.lower().replace('?', ' ? ').split()})
    (out / 'vocab.txt').write_text(''.join(f'{w}\n' for w in list(SPECIAL_TOKENS) + words), encoding='utf-8')
    return dict(answers=QA_ANSWERS)


def _build(root, params: Dict[str, int], progress: bool, exist_ok: bool = True, overwrite: bool = False) -> Path:
    return build_toy(root, _KIND, FORMAT_VERSION, params, lambda out, advance: _generate(out, params, advance),
                     total=params['num_train'] + params['num_val'], progress=progress, exist_ok=exist_ok,
                     overwrite=overwrite)


def make_qa(root, progress: bool = True, **params) -> Path:
    """Generate the toy QA set at ``root`` (must not exist or be empty); parameters: :data:`QA_DEFAULTS`."""
    return _build(root, check_qa_params(params), progress, exist_ok=False)


def ensure_qa(root, progress: bool = True, overwrite: bool = False, **params) -> Path:
    """Return ``root``, generating the toy QA set there first if it is missing (local rank 0 first under
    ``torch.distributed``; atomic; a folder with other parameters is a :class:`tasks.toy_data.cache.ToyDataMismatch`).

    Args:
        root (str | os.PathLike): Dataset folder.
        progress (bool): Progress bar on stderr.
        overwrite (bool): Regenerate a toy dataset that is already there.
        **params: ``num_train``, ``num_val``, ``num_frames``, ``size``, ``fps``, ``seed``.
    """
    return _build(root, check_qa_params(params), progress, overwrite=overwrite)
