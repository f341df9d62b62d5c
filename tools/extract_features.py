"""Clip features of raw videos with a VideoFM backbone (VideoMAE V2 or UMT), for temporal action detection.

    python tools/extract_features.py CONFIG CKPT --video-list FILE --video-root DIR --out DIR \\
        [--clip-len 16 --stride 4 --batch-size 32 --workers 2 --mode official|normalized \\
         --device cpu|cuda --dtype fp32|bf16 --overwrite --strict --cfg-options k=v ...]

    # VideoMAE V2-g K710-ft features for THUMOS14, as the official ones (16-frame clips every 4 frames)
    python tools/extract_features.py \\
        configs/recognition/videomaev2/vit-g-p14_vmaev2-pre-k710-ft_16x4x1-test_kinetics400.py \\
        checkpoints/vit_g_hybrid_pt_1200e_k710_ft.pth --video-list data/thumos14/videos.txt \\
        --video-root data/thumos14/videos --out data/thumos14/features_vmaev2_g_16x4 --device cuda

CONFIG is any VideoFM recognition config (its ``model.backbone``) or pretraining config (its ``model.encoder``);
only the backbone is built. CKPT is any checkpoint VideoFM reads (official VideoMAE V2 / UMT pretrain or
fine-tuned files as they are, mmaction2's port, ``tools/train.py`` output); it is loaded with
``backbones.pretrained.load_pretrained(target='backbone')``, the loader of ``init_cfg=dict(type='Pretrained')``
(``tasks.engine.runner.load_model_checkpoint`` is for whole models: given a bare VideoViT and a ``tools/train.py``
checkpoint it loads nothing, as MMEngine's ``backbone.*`` keys do not match). A missing or misshaped encoder weight, or a missing norm of the
pooled feature (``fc_norm`` / ``norm``), is an error (exit 2).

Output, in ``--out``:

* ``{video_stem}.npy``: float32 ``[T, C]``, ``T = (num_frames - clip_len) // stride + 1`` (row ``i``: the clip of
  frames ``[stride * i, stride * i + clip_len)``; frames after the last whole clip are not used). A video shorter
  than one clip is padded by repeating its last frame: ``T = 1``, reported (``padded <file>``) and counted.
* ``features.json``: the grid (``stride``, ``clip_len``, ``offset = clip_len / 2``, ``formula`` =
  ``seconds = (stride * i + offset) / fps``, :meth:`tasks.tad.grid.FeatureGrid.to_dict`), ``feature_dim``, the
  ``backbone`` config, ``config``, ``checkpoint``, ``input`` (mode, size, normalisation), ``pooling``,
  ``dtype``, and per video (key: stem) ``video``, ``fps``, ``num_frames``, ``num_features``, ``padded`` and its
  own ``formula`` with its fps; ``failed`` lists the unreadable videos. Read it with
  ``FeatureGrid.from_dict(meta, fps=meta['videos'][stem]['fps'])``.

Input modes (``--mode``); both take RGB frames to [0, 1] (``/ 255``) and resize them to the backbone's
``img_size`` square, ignoring the aspect ratio (bilinear, ``align_corners=False``):

* ``official`` (default): no mean / std normalisation, as VideoMAE V2's released TAD features were made
  (OpenGVLab/VideoMAEv2 ``extract_tad_feature.py``: ``ToFloatTensorInZeroOne`` + ``Resize((224, 224))``, then
  the model; its issue #62). Use it to match detectors trained on the official features.
* ``normalized``: ``(x - mean) / std`` with the config's ``data_preprocessor`` mean / std (ImageNet when the
  config has none), the input the backbone saw in recognition fine-tuning.

The feature of a clip is ``backbone.forward_head(backbone.forward_features(clip))``: ``fc_norm`` of the token
mean (the official finetune model's ``forward_features``, 1408-d for ViT-g), or for a pretraining encoder the
mean of its ``norm``-ed tokens.

How it runs: DataLoader workers (``--workers``) decode the videos, each frame once (decord, consecutive frames in
chunks of ``--batch-size`` clips); the main process resizes on the device and embeds ``--batch-size`` clips per
forward (clips are strided views of the decoded frames), in bfloat16 autocast with ``--dtype bf16`` (the default on
CUDA). A rich progress bar on stderr counts videos and clips/s.

Policy: finished videos (their ``.npy`` exists) are skipped, so a stopped run continues where it was; each
``.npy`` is written to ``{stem}.npy.tmp-<pid>`` and renamed, so a killed run leaves no half file (the next run
removes such leftovers). A run whose settings (backbone, checkpoint, clip_len, stride, input mode, dtype) differ
from the ``features.json`` already in ``--out`` stops (exit 2) unless ``--overwrite``. Unreadable videos (decord
cannot open or decode them) are reported on stderr, one line each (``failed <file>: <reason>``), counted, listed in
``features.json`` and never silently dropped; the others are extracted. Exit code: 0; 1 when a video failed and
``--strict`` is given; 2 for bad arguments, a bad list, or a checkpoint that does not fit.
"""
import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from _bootstrap import resolve_config_alias  # repo on sys.path, stack fixes applied

VIDEO_EXTS = ('.mp4', '.avi', '.mkv', '.webm', '.mov', '.flv', '.m4v', '.mpg', '.mpeg', '.wmv')
JSON_NAME = 'features.json'
_TMP_RE = re.compile(r'(?P<name>.+)\.tmp-(?P<pid>\d+)')
EPILOG = """\
input modes (both: RGB frames / 255, resized to img_size x img_size, aspect ratio not kept, bilinear):
  official    no mean / std normalisation: how VideoMAE V2's extract_tad_feature.py made the released
              THUMOS14 / FineAction features (use it for detectors trained on those)
  normalized  then (x - mean) / std with the config's data_preprocessor mean / std (ImageNet if none)

feature of a clip: backbone.forward_head(backbone.forward_features(clip)) = fc_norm(mean over tokens)
T = (num_frames - clip_len) // stride + 1 per video; a video shorter than one clip is padded with its last
frame (T = 1, reported). Feature i stands for seconds = (stride * i + clip_len / 2) / fps (features.json).
exit code: 0; 1 when a video failed and --strict; 2 bad arguments, list or checkpoint."""
#: settings that must agree between runs writing into one folder
CHECKED = ('stride', 'clip_len', 'offset', 'backbone', 'checkpoint', 'input', 'dtype', 'pooling')


def build_parser() -> argparse.ArgumentParser:
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(
        prog='extract_features.py', formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Clip features [T, C] per video (one .npy each + features.json with the index -> seconds '
        'formula) with a VideoFM backbone, for temporal action detection.',
        epilog=EPILOG)
    p.add_argument('config', help='VideoFM recognition config (model.backbone) or pretraining config (model.encoder)')
    p.add_argument('checkpoint', help='checkpoint of any format VideoFM reads (official VideoMAE V2 / UMT as is)')
    p.add_argument('--video-list', type=Path, help='text file, one video path (relative to --video-root) per line; '
                   'further fields (e.g. a label) are ignored. Default: every video file under --video-root')
    p.add_argument('--video-root', type=Path, required=True, help='folder the list paths are relative to')
    p.add_argument('--out', type=Path, required=True, help='output folder: {stem}.npy per video + features.json')
    p.add_argument('--clip-len', type=int, default=16, help='frames per clip (default: %(default)s)')
    p.add_argument('--stride', type=int, default=4, help='frames between clip starts (default: %(default)s)')
    p.add_argument('--batch-size', type=int, default=32, help='clips per forward (default: %(default)s)')
    p.add_argument('--workers', type=int, default=2, help='DataLoader processes decoding videos; 0 decodes in the '
                   'main process (default: %(default)s)')
    p.add_argument('--mode', choices=('official', 'normalized'), default='official',
                   help='input normalisation: official = [0, 1] without mean/std (VideoMAE V2 TAD features); '
                   'normalized = (x - mean) / std of the config (default: %(default)s)')
    p.add_argument('--device', default=None, help='torch device (default: cuda if available, else cpu)')
    p.add_argument('--dtype', choices=('fp32', 'bf16'), default=None,
                   help='bf16 = bfloat16 autocast (default: bf16 on CUDA, fp32 on CPU)')
    p.add_argument('--overwrite', action='store_true', help='extract finished videos again')
    p.add_argument('--strict', action='store_true', help='exit code 1 when any video failed')
    p.add_argument('--quiet', action='store_true', help='no progress bar (failure lines and the summary stay)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config entries, e.g. model.backbone.use_mean_pooling=False')
    return p


# ------------------------------------------------------------------------------------------------ planning
def plan(video_list: Optional[Path], video_root: Path) -> List[Tuple[str, str]]:
    """``[(stem, video path)]`` in list order; ValueError naming the line for a missing file or a stem that two
    videos share (their features would overwrite each other)."""
    if video_list is None:
        paths = sorted(p for p in video_root.rglob('*') if p.suffix.lower() in VIDEO_EXTS and p.is_file())
        rows = [(str(p), f'{video_root} ({p.relative_to(video_root)})') for p in paths]
        if not rows:
            raise ValueError(f'no video files ({", ".join(VIDEO_EXTS)}) under {video_root}')
    else:
        if not video_list.is_file():
            raise ValueError(f'video list {video_list} does not exist')
        rows = []
        for lineno, line in enumerate(video_list.read_text().splitlines(), 1):
            if not line.strip() or line.lstrip().startswith('#'):
                continue
            path = video_root / line.split()[0]
            if not path.is_file():
                raise ValueError(f'{video_list} line {lineno}: video {path} does not exist')
            rows.append((str(path), f'{video_list} line {lineno}'))
        if not rows:
            raise ValueError(f'{video_list} lists no videos')
    out, where = [], {}
    for path, origin in rows:
        stem = Path(path).stem
        if stem in where:
            if os.path.realpath(where[stem][0]) == os.path.realpath(path):
                continue  # listed twice: extracted once
            raise ValueError(f'{origin}: {path} and {where[stem][0]} ({where[stem][1]}) would both be written to '
                             f'{stem}.npy; rename one of them')
        where[stem] = (path, origin)
        out.append((stem, path))
    return out


def remove_stale_tmp(out: Path) -> List[Path]:
    """Delete ``*.tmp-<pid>`` files in ``out`` whose process is gone (left by a killed run)."""
    from tasks.engine.runner import pid_alive
    removed = []
    for entry in sorted(out.iterdir()) if out.is_dir() else []:
        match = _TMP_RE.fullmatch(entry.name)
        pid = int(match['pid']) if match else None
        # this process writes its temporary files later: one named after it is an earlier process's leftover
        if match and entry.is_file() and (pid == os.getpid() or not pid_alive(pid)):
            entry.unlink()
            removed.append(entry)
    return removed


def atomic_write(path: Path, write) -> None:
    """``write(file)`` into ``path.tmp-<pid>``, fsync, rename over ``path``; the temporary file never survives an
    exception."""
    tmp = path.with_name(f'{path.name}.tmp-{os.getpid()}')
    try:
        with open(tmp, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_json(path: Path) -> Optional[dict]:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None  # a broken file is rewritten at the end


def settings_diff(old: dict, new: dict) -> List[str]:
    return [f'{k}: {old.get(k)!r} -> {new.get(k)!r}' for k in CHECKED if old.get(k) != new.get(k)]


# ------------------------------------------------------------------------------------------------ running
def run(args) -> int:
    import numpy as np
    import torch
    from rich.console import Console
    from rich.progress import Progress
    from torch.utils.data import DataLoader

    import tasks  # noqa: F401  (registers VideoFM modules)
    from tasks.tad.features import POOLING, FeatureExtractor, VideoChunks, build_feature_backbone, open_video
    from tasks.tad.grid import FeatureGrid
    from tasks.datasets.policy import UnreadableVideoError

    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    dtype = args.dtype or ('bf16' if device.type == 'cuda' else 'fp32')
    try:
        videos = plan(args.video_list, args.video_root)
        from mmengine.registry import init_default_scope
        init_default_scope('videofm')
        backbone, info = build_feature_backbone(resolve_config_alias(args.config), args.checkpoint,
                                                args.cfg_options)
        extractor = FeatureExtractor(backbone, args.clip_len, args.stride, args.mode, info['mean'], info['std'],
                                     device, dtype, args.batch_size)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        print(f'extract_features.py: error: {err}', file=sys.stderr)
        return 2
    print(f'backbone: {info["load"]}', file=sys.stderr)
    grid = FeatureGrid(fps=1., stride=args.stride, clip_len=args.clip_len)
    meta = dict(grid.to_dict(with_fps=False), feature_dim=extractor.feature_dim, feature_dtype='float32',
                backbone=info['backbone'], config=str(args.config), cfg_options=dict(args.cfg_options or {}),
                config_kind=info['config_kind'],
                checkpoint=str(Path(args.checkpoint).resolve()), input=extractor.pre.describe(), pooling=POOLING,
                dtype=dtype, short_videos='padded to clip_len by repeating the last frame (T = 1)',
                videos={}, failed={})

    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / JSON_NAME
    old = read_json(json_path) or {}
    rows = {stem: _npy_rows(args.out / f'{stem}.npy') for stem, _ in videos}
    done = {stem for stem, n in rows.items() if n is not None}  # a broken .npy is extracted again
    if old and not args.overwrite:
        diff = settings_diff(old, meta)
        if diff and done:
            print(f'extract_features.py: error: {args.out} holds features made with other settings '
                  f'({"; ".join(diff)}); pass --overwrite to extract again, or choose another --out', file=sys.stderr)
            return 2
    stale = remove_stale_tmp(args.out)
    if stale:
        print(f'removed {len(stale)} temporary file(s) left by an interrupted run, e.g. {stale[0]}', file=sys.stderr)
    old_videos = old.get('videos', {}) if old and not settings_diff(old, meta) else {}
    meta['videos'].update({k: v for k, v in old_videos.items() if k in done})  # earlier runs' videos, same settings

    todo = [(stem, path) for stem, path in videos if args.overwrite or stem not in done]
    counts = dict(extracted=0, reused=len(videos) - len(todo), failed=0, padded=0)
    todo_stems = {stem for stem, _ in todo}
    for stem, path in videos:  # finished videos that the old features.json does not describe
        if stem in meta['videos'] or stem in todo_stems:
            continue
        try:
            _, num_frames, fps = open_video(path)
        except UnreadableVideoError as err:
            num_frames, fps = None, None
            print(f'note: {path}: features exist but the video cannot be read for fps ({err})', file=sys.stderr)
        meta['videos'][stem] = _video_entry(path, args, fps, num_frames, rows[stem], grid)

    def save_json():
        meta['videos'] = {stem: meta['videos'][stem] for stem, _ in videos if stem in meta['videos']}
        atomic_write(json_path, lambda f: f.write((json.dumps(meta, indent=1) + '\n').encode()))

    clips = 0
    start = last_save = time.perf_counter()
    loader = DataLoader(VideoChunks([p for _, p in todo], args.clip_len, args.stride, args.batch_size, 1),
                        batch_size=None, num_workers=min(args.workers, len(todo)),
                        pin_memory=device.type == 'cuda', persistent_workers=False)
    try:
        with Progress(console=Console(stderr=True), disable=args.quiet) as bar:
            task = bar.add_task('videos', total=len(videos), completed=counts['reused'])
            for item in loader if todo else []:
                stem, path = todo[item['video']]
                if 'error' in item:
                    extractor.drop(item['video'])
                    counts['failed'] += 1
                    meta['failed'][stem] = dict(video=path, reason=item['error'])
                    print(f'failed {path}: {item["error"]}', file=sys.stderr, flush=True)
                    bar.advance(task)
                    continue
                feats = extractor.add_chunk(item['video'], item)
                clips += item['num_clips']
                rate = clips / max(time.perf_counter() - start, 1e-9)
                bar.update(task, description=f'{counts["extracted"]} extracted, {counts["failed"]} failed, '
                           f'{clips} clips, {rate:.1f} clips/s')
                if feats is None:
                    continue
                out = args.out / f'{stem}.npy'
                atomic_write(out, lambda f: np.save(f, np.ascontiguousarray(feats, dtype=np.float32)))
                counts['extracted'] += 1
                if item['padded']:
                    counts['padded'] += 1
                    print(f'padded {path}: {item["num_frames"]} frames < clip_len {args.clip_len}, last frame '
                          'repeated (1 feature)', file=sys.stderr, flush=True)
                meta['failed'].pop(stem, None)
                meta['videos'][stem] = _video_entry(path, args, item['fps'], item['num_frames'], len(feats), grid,
                                                    item['padded'])
                bar.advance(task)
                if time.perf_counter() - last_save > 30:
                    save_json()
                    last_save = time.perf_counter()
    finally:
        save_json()
    seconds = time.perf_counter() - start
    padded = sum(1 for v in meta['videos'].values() if v.get('padded'))
    print(f'extracted {counts["extracted"]} videos ({clips} clips in {seconds:.1f} s, '
          f'{clips / max(seconds, 1e-9):.1f} clips/s), reused {counts["reused"]}, padded {padded} (shorter than one '
          f'clip), failed {counts["failed"]}' + (f': {", ".join(v["video"] for v in meta["failed"].values())}'
                                                 if counts['failed'] else ''))
    print(f'features: {args.out}/<stem>.npy [T, {extractor.feature_dim}] float32; {json_path}: '
          f'{grid.generic_formula}')
    return 1 if args.strict and counts['failed'] else 0


def _npy_rows(path: Path) -> Optional[int]:
    """Rows of a finished feature file (from its header), or None when it is missing or not a 2-D .npy."""
    import numpy as np
    if not path.is_file():
        return None
    try:
        arr = np.load(path, mmap_mode='r', allow_pickle=False)
    except (ValueError, OSError, EOFError):
        return None
    return int(arr.shape[0]) if arr.ndim == 2 and arr.shape[0] > 0 else None


def _video_entry(path, args, fps, num_frames, num_features, grid, padded=None) -> Dict:
    entry = dict(video=os.path.relpath(path, args.video_root), fps=fps, num_frames=num_frames,
                 num_features=int(num_features),
                 padded=bool(padded) if padded is not None else (num_frames is not None and num_frames < args.clip_len))
    if fps:
        entry['formula'] = grid.with_fps(fps).formula
    return entry


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ('clip_len', 'stride', 'batch_size'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    if args.workers < 0:
        parser.error(f'--workers must be >= 0, got {args.workers}')
    if not args.video_root.is_dir():
        parser.error(f'--video-root {args.video_root} is not a folder')
    if not Path(args.checkpoint).is_file():
        parser.error(f'checkpoint {args.checkpoint} does not exist')
    try:
        return run(args)
    except KeyboardInterrupt:
        print('interrupted: finished videos are kept; run the same command again to continue', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
