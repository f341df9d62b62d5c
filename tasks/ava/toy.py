"""Deterministic toy AVA dataset in the real AVA v2.2 on-disk formats.

Layout (everything mmaction2's ``AVADataset`` reads)::

    root/
        rawframes/{video_id}/img_00001.jpg ...     # 30 fps; frame i shows time 900 + (i - 1) / 30 s
        annotations/train.csv, val.csv             # video_id, timestamp, x1, y1, x2, y2, action_id, entity_id
        annotations/train_excluded_timestamps.csv, val_excluded_timestamps.csv
        annotations/train_proposals.pkl, val_proposals.pkl   # "{video_id},{timestamp:04d}" -> (N, 5) float
        annotations/action_list.pbtxt             # the 5 toy classes with their real AVA ids
        toy_meta.json                             # parameters + format version; written last

Each video shows 1-3 rendered "people" (a body rectangle and a head disc, random bright colours) on a
noisy dark background. Every person does one pose action for the whole video, plus optional extras:

* 12 stand: still; 7 jump/leap: vertical hops (|sin|, 1.5-2.5 Hz); 14 walk: horizontal walk, bouncing at
  the frame edges (PERSON_MOVEMENT);
* 69 hand wave: a small "arm" beside the head oscillates sideways at 3 Hz; half of the non-waving people
  carry a still arm, so only the motion tells (PERSON_INTERACTION);
* 17 carry/hold (an object): a small square at hip height moves with the person (OBJECT_MANIPULATION).

Keyframes are the integer timestamps 902 .. 900 + seconds - 2 (1 Hz, as AVA). Timestamp 903 of every val
video (and of train video 0) is listed as excluded while its ground truth stays in the csv, so an evaluator
that counts excluded ground truth is caught. Proposals are the ground-truth boxes jittered by ~2 %
(score 0.92-1.0) plus, sometimes, a low-score (0.1-0.6) random box.

Generation is deterministic; building, reuse, atomicity and rank 0 first are :func:`tasks.toy_data.cache.build_toy`'s.
"""
import pickle
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import cv2
import numpy as np

from tasks.toy_data.cache import build_toy, split_code

__all__ = ['AVA_TOY_CLASSES', 'AVA_DEFAULTS', 'make_ava', 'ensure_ava', 'toy_ava_files', 'check_ava_params']

#: toy action id -> official AVA name
AVA_TOY_CLASSES = {7: 'jump/leap', 12: 'stand', 14: 'walk', 17: 'carry/hold (an object)', 69: 'hand wave'}
AVA_DEFAULTS: Dict[str, int] = dict(num_train=12, num_val=4, seconds=12, height=96, width=128, seed=0)
FPS = 30
TIMESTAMP_START = 900
#: Bumped whenever the generated content changes for the same parameters (older folders are then refused).
FORMAT_VERSION = 2
_KIND = 'ava'


def toy_ava_files(root) -> Dict[str, str]:
    """Paths of the files a config needs, as strings."""
    root = Path(root)
    a = root / 'annotations'
    return dict(frames=str(root / 'rawframes'), label_file=str(a / 'action_list.pbtxt'),
                **{f'{s}_{k}': str(a / f'{s}{suffix}') for s in ('train', 'val')
                   for k, suffix in (('ann', '.csv'), ('exclude', '_excluded_timestamps.csv'),
                                     ('proposals', '_proposals.pkl'))})


def check_ava_params(params: Dict[str, Any]) -> Dict[str, int]:
    """Full, validated toy AVA parameters (defaults filled in from :data:`AVA_DEFAULTS`).

    Raises:
        TypeError: Unknown parameter.
        ValueError: Invalid value.
    """
    unknown = set(params) - set(AVA_DEFAULTS)
    if unknown:
        raise TypeError(f'unknown toy AVA parameter(s) {sorted(unknown)}; valid: {sorted(AVA_DEFAULTS)}')
    out = {**AVA_DEFAULTS, **{k: int(v) for k, v in params.items()}}
    if out['seconds'] < 5:
        raise ValueError(f'seconds must be >= 5 (keyframes 902..900+seconds-2), got {out["seconds"]}')
    if out['num_train'] < 1 or out['num_val'] < 1:
        raise ValueError('num_train and num_val must be >= 1')
    if out['height'] < 32 or out['width'] < 32:
        raise ValueError('height and width must be >= 32')
    return out


def _people(rng: np.random.Generator, h: int, w: int) -> List[dict]:
    n = int(rng.integers(1, 4))
    slots = rng.permutation(3)[:n]
    people = []
    for k, slot in enumerate(slots):
        bw, bh = rng.uniform(0.10, 0.14) * w, rng.uniform(0.32, 0.42) * h
        pose = int(rng.choice([12, 7, 14]))
        p = dict(entity=k, bw=bw, bh=bh, head=0.38 * bw, colour=rng.uniform(150, 255, 3),
                 x0=(slot + rng.uniform(0.3, 0.7)) * w / 3, feet=rng.uniform(0.8, 0.95) * h, pose=pose,
                 speed=rng.uniform(35, 55) * rng.choice([-1, 1]), hop=rng.uniform(0.08, 0.12) * h,
                 freq=rng.uniform(1.5, 2.5), phase=rng.uniform(0, 1), wave=bool(rng.random() < 0.4),
                 carry=bool(rng.random() < 0.4), obj_colour=rng.uniform(100, 255, 3))
        p['arm'] = p['wave'] or bool(rng.random() < 0.5)
        p['side'] = float(rng.choice([-1, 1]))
        people.append(p)
    return people


def _state(p: dict, t: float, w: int) -> Tuple[float, float]:
    """(centre x, feet y) of person ``p`` at time ``t`` seconds."""
    x, y = p['x0'], p['feet']
    if p['pose'] == 14:  # walk, bouncing off the frame edges
        lo, hi = p['bw'] / 2, w - p['bw'] / 2
        span = hi - lo
        u = (x - lo + p['speed'] * t) % (2 * span)
        x = lo + (u if u <= span else 2 * span - u)
    elif p['pose'] == 7:  # hop
        y = y - p['hop'] * abs(np.sin(np.pi * (p['freq'] * t + p['phase'])))
    return x, y


def _box(p: dict, t: float, w: int, h: int) -> np.ndarray:
    x, y = _state(p, t, w)
    top = y - p['bh'] - 2 * p['head']
    return np.clip([(x - p['bw'] / 2) / w, top / h, (x + p['bw'] / 2) / w, y / h], 0, 1)


def _render(people: List[dict], t: float, h: int, w: int, bg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = np.clip(bg[None, None] + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)
    for p in people:
        x, y = _state(p, t, w)
        c = tuple(float(v) for v in p['colour'])
        cv2.rectangle(img, (int(round(x - p['bw'] / 2)), int(round(y - p['bh']))),
                      (int(round(x + p['bw'] / 2)), int(round(y))), c, -1, cv2.LINE_AA)
        hy = y - p['bh'] - p['head']
        cv2.circle(img, (int(round(x)), int(round(hy))), int(round(p['head'])), c, -1, cv2.LINE_AA)
        if p['arm']:
            dx = 0.05 * w * np.sin(2 * np.pi * 3 * t) if p['wave'] else 0.
            ax = x + p['side'] * (p['bw'] / 2 + 0.02 * w) + dx
            cv2.rectangle(img, (int(round(ax - 0.015 * w)), int(round(hy - 0.08 * h))),
                          (int(round(ax + 0.015 * w)), int(round(hy + 0.04 * h))), c, -1, cv2.LINE_AA)
        if p['carry']:
            ox, oy, s = x - p['side'] * (p['bw'] / 2 + 0.03 * w), y - 0.5 * p['bh'], 0.035 * w
            cv2.rectangle(img, (int(round(ox - s)), int(round(oy - s))), (int(round(ox + s)), int(round(oy + s))),
                          tuple(float(v) for v in p['obj_colour']), -1, cv2.LINE_AA)
    return img


def _generate(out: Path, params: Dict[str, int], advance: Callable[[], None]) -> Dict[str, Any]:
    """Write the dataset into the empty folder ``out``; returns the extra ``toy_meta.json`` entries."""
    h, w, secs = params['height'], params['width'], params['seconds']
    files = toy_ava_files(out)
    (out / 'annotations').mkdir(parents=True)
    counts = dict(train=params['num_train'], val=params['num_val'])
    for split, n in counts.items():
        rows, excl, props = [], [], {}
        for v in range(n):
            vid = f'{split}{v:03d}'
            rng = np.random.default_rng([params['seed'], split_code(split), 2, v])
            people = _people(rng, h, w)
            bg = rng.uniform(0, 80, 3)
            fdir = out / 'rawframes' / vid
            fdir.mkdir(parents=True)
            for i in range(secs * FPS):
                frame = _render(people, i / FPS, h, w, bg, rng)
                cv2.imwrite(str(fdir / f'img_{i + 1:05d}.jpg'), frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
            for ts in range(TIMESTAMP_START + 2, TIMESTAMP_START + secs - 1):
                t = ts - TIMESTAMP_START
                boxes = []
                for p in people:
                    box = np.round(_box(p, t, w, h), 3)
                    boxes.append(box)
                    labels = [p['pose']] + ([69] if p['wave'] else []) + ([17] if p['carry'] else [])
                    for a in sorted(labels):
                        rows.append(f'{vid},{ts:04d},{box[0]:.3f},{box[1]:.3f},{box[2]:.3f},{box[3]:.3f},{a},{p["entity"]}\n')
                prop = []
                for box in boxes:
                    bw, bh = box[2] - box[0], box[3] - box[1]
                    jit = box + rng.normal(0, 0.02, 4) * np.array([bw, bh, bw, bh])
                    prop.append([*np.clip(jit, 0, 1), rng.uniform(0.92, 1.0)])
                if rng.random() < 0.3:
                    x1, y1 = rng.uniform(0, 0.7, 2)
                    prop.append([x1, y1, x1 + rng.uniform(0.1, 0.3), y1 + rng.uniform(0.1, 0.3), rng.uniform(0.1, 0.6)])
                props[f'{vid},{ts:04d}'] = np.array(prop, dtype=np.float64)
            if split == 'val' or v == 0:
                excl.append(f'{vid},{TIMESTAMP_START + 3:04d}\n')
            advance()
        Path(files[f'{split}_ann']).write_text(''.join(rows))
        Path(files[f'{split}_exclude']).write_text(''.join(excl))
        with open(files[f'{split}_proposals'], 'wb') as f:
            pickle.dump(props, f, protocol=4)
    Path(files['label_file']).write_text(''.join(
        f'item {{\n  name: "{name}"\n  id: {i}\n}}\n' for i, name in sorted(AVA_TOY_CLASSES.items())))
    return dict(classes={str(k): v for k, v in AVA_TOY_CLASSES.items()}, fps=FPS, timestamp_start=TIMESTAMP_START,
                timestamp_end=TIMESTAMP_START + secs)


def _build(root, params: Dict[str, int], progress: bool, exist_ok: bool = True, overwrite: bool = False) -> Path:
    return build_toy(root, _KIND, FORMAT_VERSION, params, lambda out, advance: _generate(out, params, advance),
                     total=params['num_train'] + params['num_val'], progress=progress, exist_ok=exist_ok,
                     overwrite=overwrite)


def make_ava(root, progress: bool = True, **params) -> Path:
    """Generate the toy AVA dataset at ``root`` (must not exist or be empty); parameters: :data:`AVA_DEFAULTS`.

    Built by :func:`tasks.toy_data.cache.build_toy`: written into a temporary sibling and renamed into place; if
    another process won the race with the same parameters, its copy is kept.

    Args:
        root (str | os.PathLike): Output folder.
        progress (bool): Show a progress bar on stderr.
        **params: ``num_train``, ``num_val``, ``seconds``, ``height``, ``width``, ``seed``.

    Returns:
        pathlib.Path: ``root``.
    """
    return _build(root, check_ava_params(params), progress, exist_ok=False)


def ensure_ava(root, progress: bool = True, overwrite: bool = False, **params) -> Path:
    """Return ``root``, generating the toy AVA dataset there first if it is missing (local rank 0 first under
    ``torch.distributed``).

    Args:
        root (str | os.PathLike): Dataset folder.
        progress (bool): Show a progress bar on stderr.
        overwrite (bool): Regenerate a toy dataset that is already there.
        **params: See :func:`make_ava`.

    Returns:
        pathlib.Path: ``root``.

    Raises:
        tasks.toy_data.cache.ToyDataMismatch: ``root`` holds a toy dataset with other parameters, or something
            that is not a toy dataset.
    """
    return _build(root, check_ava_params(params), progress, overwrite=overwrite)
