"""The toy temporal action detection set: long videos with class-specific events at known times, in the real
formats (videos, ActivityNet JSON) plus their features from a tiny VideoFM backbone.

Layout::

    root/
        videos/{video}.mp4            SIZE x SIZE, FPS fps, MIN_SECONDS..MAX_SECONDS s (mp4v, decodable by decord)
        annotations.json              ActivityNet format: database -> video -> subset ('training' / 'validation'),
                                      duration, fps, annotations [{segment: [start, end] seconds, label}]
        classes.txt                   one class name per line
        features/{video}.npy          (T, 64) float32: the tiny random VideoViT below on 16-frame clips every 4
                                      frames of the decoded video
        features/features.json        FeatureGrid.to_dict(): fps, stride 4, clip_len 16, offset 8, formula
        backbone.pth                  the tiny VideoViT's weights (for tools/extract_features.py)
        toy_meta.json                 parameters + format version (written last)

Every video has a dark noisy background with a dim grey distractor square drifting all the time, and 2-4
non-overlapping events of 2-7 s (fewer when a short video has no room), each of one class (colour and motion
are class-specific):

* ``square_appears``: a red square appears and stays still;
* ``disc_moves_right``: a green disc crosses the frame left to right;
* ``disc_moves_up``: a blue disc crosses the frame bottom to top;
* ``square_flashes``: a white square blinks on and off (2.5 Hz).

Features: ``backbones.VideoViT`` (img ``size``, 16 frames, patch 8, tubelet 2, 64 wide, depth 2, 4 heads,
mean pooled) initialised from ``torch.manual_seed(seed)`` and saved as ``backbone.pth``, input ``(x - 127.5) / 64``
(the toy recognition config's normalisation): what ``tools/extract_features.py --mode normalized`` gives with
that checkpoint (README: toy TAD workflow), with its clip convention (feature ``i`` covers frames ``[4i, 4i + 16)``
and stands for frame ``4i + 8``: ``seconds = (4 * i + 8) / fps``). Random weights keep colour and motion
information, which is all the toy needs: it checks the detection pipeline, not feature quality.

Generation is deterministic and takes seconds; building, reuse, atomicity and rank 0 first are
:func:`tasks.toy_data.cache.build_toy`'s.
"""
import json
import math
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from .cache import build_toy, split_code
from .recognition import _DECORD_BAD_WIDTHS, _write_video

__all__ = ['TAD_CLASSES', 'TAD_DEFAULTS', 'FORMAT_VERSION', 'check_tad_params', 'make_tad', 'ensure_tad',
           'toy_tad_files', 'render_tad_video', 'toy_backbone', 'CLIP_LEN', 'CLIP_STRIDE', 'FEAT_DIM']

TAD_CLASSES = ('square_appears', 'disc_moves_right', 'disc_moves_up', 'square_flashes')
TAD_DEFAULTS: Dict[str, int] = dict(num_train=40, num_val=16, min_seconds=20, max_seconds=40, fps=10, size=32,
                                    seed=0)
FORMAT_VERSION = 2
CLIP_LEN, CLIP_STRIDE, FEAT_DIM = 16, 4, 64
#: Input normalisation: the toy recognition config's data_preprocessor (tools/extract_features.py --mode normalized)
MEAN, STD = 127.5, 64.0
_KIND = 'tad'
_SPLITS = (('train', 'training'), ('val', 'validation'))
_COLOURS = {0: (230, 40, 40), 1: (40, 220, 60), 2: (60, 90, 240), 3: (250, 250, 250)}


def toy_tad_files(root) -> Dict[str, str]:
    """Paths a config needs, as strings."""
    root = Path(root)
    return dict(ann_file=str(root / 'annotations.json'), feat_root=str(root / 'features'),
                videos=str(root / 'videos'), classes=str(root / 'classes.txt'))


def check_tad_params(params: Dict[str, Any]) -> Dict[str, int]:
    """Full, validated parameters (defaults from :data:`TAD_DEFAULTS`).

    Raises:
        TypeError: Unknown parameter. ValueError: Invalid value.
    """
    unknown = set(params) - set(TAD_DEFAULTS)
    if unknown:
        raise TypeError(f'unknown toy TAD parameter(s) {sorted(unknown)}; valid: {sorted(TAD_DEFAULTS)}')
    out = dict(TAD_DEFAULTS)
    for k, v in params.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f'toy TAD parameter {k!r} must be an int, got {v!r}')
        out[k] = int(v)
    if out['num_train'] < 1 or out['num_val'] < 1:
        raise ValueError('num_train and num_val must be >= 1')
    if not 8 <= out['min_seconds'] <= out['max_seconds']:
        raise ValueError(f'need 8 <= min_seconds <= max_seconds, got {out["min_seconds"]}, {out["max_seconds"]}')
    if out['fps'] < 4:
        raise ValueError(f'fps must be >= 4 (a 16-frame clip then spans <= 4 s), got {out["fps"]}')
    if out['size'] < 32 or out['size'] % 8 or out['size'] in _DECORD_BAD_WIDTHS:
        raise ValueError(f'size must be a multiple of 8 >= 32 and not one of {_DECORD_BAD_WIDTHS} (decord), got '
                         f'{out["size"]}')
    return out


def _events(rng: np.random.Generator, seconds: float) -> List[Tuple[float, float, int]]:
    """2-4 non-overlapping events ``(start, end, label)`` of 2-7 s, at least 1 s apart and from the ends."""
    n = int(rng.integers(2, 5))
    while True:
        durs = rng.uniform(2.0, 7.0, size=n)
        slack = seconds - durs.sum() - (n + 1) * 1.0
        if slack > 0:
            break
        n -= 1
    gaps = 1.0 + rng.dirichlet(np.ones(n + 1)) * slack
    labels = rng.integers(0, len(TAD_CLASSES), size=n)
    out, t = [], 0.0
    for d, g, lab in zip(durs, gaps[:n], labels):
        start = round(t + g, 2)
        end = round(start + d, 2)
        out.append((start, end, int(lab)))
        t = end
    return out


def _disc(size: int, cx: float, cy: float, r: float) -> np.ndarray:
    c = np.arange(size) + 0.5
    return np.clip(r + 0.5 - np.sqrt((c[None, :] - cx) ** 2 + (c[:, None] - cy) ** 2), 0, 1)


def _square(size: int, cx: float, cy: float, h: float) -> np.ndarray:
    c = np.arange(size) + 0.5
    return np.clip(h + 0.5 - np.abs(c[None, :] - cx), 0, 1) * np.clip(h + 0.5 - np.abs(c[:, None] - cy), 0, 1)


def render_tad_video(events: List[Tuple[float, float, int]], num_frames: int, fps: int, size: int,
                     rng: np.random.Generator) -> np.ndarray:
    """``(num_frames, size, size, 3)`` uint8 RGB frames showing ``events`` (see the module docstring)."""
    bg = rng.uniform(0, 60, size=3)
    frames = bg + rng.normal(0, 6, size=(num_frames, size, size, 3))
    # distractor: a dim grey square bouncing slowly the whole time
    pos, vel = rng.uniform(6, size - 6, 2), rng.uniform(-0.15, 0.15, 2) * size / fps
    grey = rng.uniform(80, 110)
    for t in range(num_frames):
        pos = pos + vel
        for k in range(2):
            if not 5 <= pos[k] <= size - 5:
                vel[k] = -vel[k]
                pos[k] = np.clip(pos[k], 5, size - 5)
        a = _square(size, pos[0], pos[1], 3)[..., None]
        frames[t] = frames[t] * (1 - a) + grey * a
    for start, end, label in events:
        f0, f1 = int(math.ceil(start * fps)), min(int(math.ceil(end * fps)), num_frames)
        half = rng.uniform(0.22, 0.3) * size
        colour = np.asarray(_COLOURS[label], dtype=np.float64) + rng.uniform(-15, 15, 3)
        anchor = rng.uniform(half + 1, size - half - 1, 2)
        for t in range(f0, f1):
            p = (t - f0) / max(f1 - f0 - 1, 1)
            if label == 0:
                a = _square(size, anchor[0], anchor[1], half)
            elif label == 1:
                a = _disc(size, half + p * (size - 2 * half), anchor[1], half)
            elif label == 2:
                a = _disc(size, anchor[0], size - half - p * (size - 2 * half), half)
            else:
                on = int((t - f0) / fps * 2.5 * 2) % 2 == 0
                a = _square(size, anchor[0], anchor[1], half) * on
            a = a[..., None]
            frames[t] = frames[t] * (1 - a) + colour * a
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def toy_backbone(size: int, seed: int):
    """The tiny random VideoViT that makes the toy features (deterministic for ``seed``), in eval mode."""
    import torch

    from backbones.video_vit import VideoViT
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = VideoViT(img_size=size, num_frames=CLIP_LEN, patch_size=8, tubelet_size=2, embed_dim=FEAT_DIM,
                         depth=2, num_heads=4, out_type='pooled')
    return model.eval()


def _decode(path: Path) -> np.ndarray:
    import decord
    reader = decord.VideoReader(str(path), num_threads=1)
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def clip_features(model, frames: np.ndarray, batch: int = 64) -> np.ndarray:
    """``(T, C)`` features of 16-frame clips every 4 frames of ``frames`` ``(F, H, W, 3)`` uint8."""
    import torch
    x = torch.from_numpy(frames).float().sub_(MEAN).div_(STD).permute(3, 0, 1, 2)  # (3, F, H, W)
    num = (x.shape[1] - CLIP_LEN) // CLIP_STRIDE + 1
    out = []
    with torch.no_grad():
        for s in range(0, num, batch):
            idx = range(s, min(s + batch, num))
            clips = torch.stack([x[:, i * CLIP_STRIDE:i * CLIP_STRIDE + CLIP_LEN] for i in idx])
            out.append(model(clips))
    return torch.cat(out).numpy().astype(np.float32)


def _generate(out: Path, params: Dict[str, int], advance: Callable[[], None]) -> Dict[str, Any]:
    import torch

    from tasks.tad.grid import FeatureGrid
    (out / 'videos').mkdir()
    (out / 'features').mkdir()
    fps, size = params['fps'], params['size']
    model = toy_backbone(size, params['seed'])
    database = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # fastest for this tiny model, also on a busy machine
    try:
        for split, subset in _SPLITS:
            for idx in range(params[f'num_{split}']):
                name = f'{split}_{idx:04d}'
                rng = np.random.default_rng([params['seed'], split_code(split), idx])
                seconds = int(rng.integers(params['min_seconds'], params['max_seconds'] + 1))
                events = _events(rng, seconds)
                frames = render_tad_video(events, seconds * fps, fps, size, rng)
                _write_video(out / 'videos' / f'{name}.mp4', frames, fps)
                np.save(out / 'features' / f'{name}.npy', clip_features(model, _decode(out / 'videos' /
                                                                                        f'{name}.mp4')))
                database[name] = dict(subset=subset, duration=float(seconds), fps=float(fps),
                                      annotations=[dict(segment=[s, e], label=TAD_CLASSES[lab])
                                                   for s, e, lab in events])
                advance()
    finally:
        torch.set_num_threads(threads)
    torch.save(model.state_dict(), out / 'backbone.pth')
    grid = FeatureGrid(fps=fps, stride=CLIP_STRIDE, clip_len=CLIP_LEN)
    feat_meta = dict(grid.to_dict(), dim=FEAT_DIM,
                     backbone=f'VideoViT(img_size={size}, num_frames={CLIP_LEN}, patch_size=8, tubelet_size=2, '
                     f'embed_dim={FEAT_DIM}, depth=2, num_heads=4), random init torch.manual_seed({params["seed"]})',
                     checkpoint='backbone.pth', input=f'(x - {MEAN}) / {STD}')
    (out / 'features' / 'features.json').write_text(json.dumps(feat_meta, indent=2) + '\n', encoding='utf-8')
    (out / 'annotations.json').write_text(json.dumps(dict(version='toy-tad', database=database), indent=1) + '\n',
                                          encoding='utf-8')
    (out / 'classes.txt').write_text(''.join(f'{c}\n' for c in TAD_CLASSES), encoding='utf-8')
    return dict(classes=list(TAD_CLASSES), feature_grid=grid.to_dict())


def _build(root, params: Dict[str, int], progress: bool, exist_ok: bool = True, overwrite: bool = False) -> Path:
    return build_toy(root, _KIND, FORMAT_VERSION, params, lambda out, advance: _generate(out, params, advance),
                     total=params['num_train'] + params['num_val'], progress=progress, exist_ok=exist_ok,
                     overwrite=overwrite)


def make_tad(root, progress: bool = True, **params) -> Path:
    """Generate the toy TAD set at ``root`` (must not exist or be empty); parameters: :data:`TAD_DEFAULTS`."""
    return _build(root, check_tad_params(params), progress, exist_ok=False)


def ensure_tad(root, progress: bool = True, overwrite: bool = False, **params) -> Path:
    """Return ``root``, generating the toy TAD set there first if it is missing (local rank 0 first under
    ``torch.distributed``; atomic; a folder with other parameters is a
    :class:`tasks.toy_data.cache.ToyDataMismatch`).

    Args:
        root (str | os.PathLike): Dataset folder.
        progress (bool): Progress bar on stderr.
        overwrite (bool): Regenerate a toy dataset that is already there.
        **params: ``num_train``, ``num_val``, ``min_seconds``, ``max_seconds``, ``fps``, ``size``, ``seed``.
    """
    return _build(root, check_tad_params(params), progress, overwrite=overwrite)
