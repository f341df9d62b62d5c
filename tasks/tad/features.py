"""Clip features of raw videos for temporal action detection: every frame decoded once, clips batched.

A video of ``n`` frames gives ``T = (n - clip_len) // stride + 1`` clips; clip ``i`` holds frames
``[stride * i, stride * i + clip_len)`` and its feature (row ``i`` of the ``[T, C]`` array) stands for frame
``stride * i + clip_len / 2``: :class:`tasks.tad.grid.FeatureGrid` converts index <-> seconds. Frames after the last
whole clip are not used (as the official extractor). A video shorter than one clip (``0 < n < clip_len``) is
**padded** by repeating its last frame to ``clip_len`` frames and gives ``T = 1``; it is reported and counted
(``padded``); a video with no frame is unreadable.

How a clip becomes a feature (both input modes, one place: :class:`ClipPreprocessor`):

* frames are RGB ``uint8`` (decord), converted to float in ``[0, 1]`` (``/ 255``) and resized to the backbone's
  ``img_size x img_size`` **ignoring the aspect ratio** (``F.interpolate``, bilinear, ``align_corners=False``, no
  antialias); this is what VideoMAE V2's ``extract_tad_feature.py`` does (``ToFloatTensorInZeroOne`` then
  ``Resize((224, 224))``);
* ``mode='official'``: nothing else, the input stays in ``[0, 1]`` **without mean / std normalisation**: the
  official VideoMAE V2 TAD features (THUMOS14 / FineAction, ViT-g K710-ft) were made this way
  (OpenGVLab/VideoMAEv2 ``extract_tad_feature.py``; its issue #62), and detectors trained on those features
  expect it;
* ``mode='normalized'``: then ``(x - mean) / std`` with the config's ``data_preprocessor`` mean / std (0-255
  scale; ImageNet ``[123.675, 116.28, 103.53] / [58.395, 57.12, 57.375]`` when the config has none), the input
  the backbone saw when it was fine-tuned for recognition;
* the backbone pools each clip: ``forward_head(forward_features(x))``, i.e. ``fc_norm(mean over tokens)`` for
  a mean-pooling (fine-tuned) encoder, which equals the official finetune model's ``forward_features``; for a
  pretraining encoder (ends in ``norm``) the mean of the normalised tokens.

Decoding: :func:`iter_video_chunks` reads each frame once (decord ``get_batch`` of consecutive frames, in chunks of
``clips_per_chunk`` clips), and :class:`FeatureExtractor` keeps the last ``clip_len - stride`` frames of a chunk for
the next one, so overlapping clips share their frames; clips of a chunk are an ``as_strided`` view over the
chunk's frames and go through the backbone as one batch. :func:`extract_per_clip` is the official way (one clip at
a time, every clip decoded on its own): the reference for tests and ``tools/analysis/benchmark_extract.py``.
"""
import math
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import IterableDataset, get_worker_info

from .grid import FeatureGrid

__all__ = ['INPUT_MODES', 'IMAGENET_MEAN', 'IMAGENET_STD', 'build_feature_backbone', 'ClipPreprocessor',
           'FeatureExtractor', 'VideoChunks', 'iter_video_chunks', 'open_video', 'num_clips', 'extract_per_clip',
           'POOLING']

INPUT_MODES = ('official', 'normalized')
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
POOLING = 'forward_head(forward_features(clip)): fc_norm(mean over tokens) (use_mean_pooling) or mean(norm(tokens))'


# ---------------------------------------------------------------------------------------------- backbone
def _backbone_cfg(cfg) -> Tuple[dict, str]:
    """The VideoViT config inside a recognition config (``model.backbone``) or a pretraining config
    (``model.encoder``, which ends in ``norm``: ``use_mean_pooling=False``)."""
    model = cfg.get('model') or {}
    if model.get('backbone') is not None:
        bb = dict(model['backbone'])
        kind = 'recognition'
    elif model.get('encoder') is not None:
        bb = dict(model['encoder'])
        bb.setdefault('use_mean_pooling', False)
        kind = 'pretraining'
    else:
        raise ValueError('the config has neither model.backbone (recognition) nor model.encoder (pretraining)')
    bb.setdefault('type', 'VideoViT')
    if bb['type'] not in ('VideoViT', 'videofm.VideoViT'):
        raise ValueError(f"feature extraction needs a VideoViT backbone, the config's is {bb['type']!r}")
    bb.pop('init_cfg', None)  # the weights come from the checkpoint given on the command line
    for key in ('drop_path_rate', 'drop_rate', 'attn_drop_rate'):
        bb.pop(key, None)  # eval mode ignores them; keep the recorded config short
    bb['with_cp'] = False
    return bb, kind


def build_feature_backbone(config: Union[str, Path, Any], checkpoint: Optional[Union[str, Path]],
                           cfg_options: Optional[dict] = None, logger=None) -> Tuple[nn.Module, dict]:
    """A VideoViT built from a VideoFM config and loaded from a checkpoint of any known format.

    The checkpoint goes through :func:`backbones.pretrained.load_pretrained` with ``target='backbone'`` (the path
    of ``init_cfg=dict(type='Pretrained')``): official VideoMAE V2 / UMT files as they are, mmaction2's port,
    VideoFM Runner checkpoints (``backbone.*``). Every encoder key (``patch_embed``, ``blocks``, a learned
    ``pos_embed``) must be in the checkpoint with the right shape, and so must the norm the pooled feature
    goes through (``fc_norm`` for a mean-pooling backbone, ``norm`` otherwise); else RuntimeError.

    Args:
        config (str | Path | mmengine.Config): Recognition (``model.backbone``) or pretraining
            (``model.encoder``) config.
        checkpoint (str | Path, optional): Weights; None keeps the random initialisation (tests only).
        cfg_options (dict, optional): ``--cfg-options`` merged into the config first.
        logger: Where the load report goes (MMEngine ``print_log``).

    Returns:
        tuple: (the backbone in eval mode, info dict: ``backbone`` config, ``config_kind``, ``mean`` / ``std``
        of the config's data preprocessor or None, ``load`` = one-line load summary).
    """
    from mmengine.config import Config

    from backbones.pretrained import load_pretrained
    from backbones.registry import MODELS
    if not isinstance(config, Config):
        config = Config.fromfile(str(config))
    if cfg_options:
        config.merge_from_dict(cfg_options)
    bb_cfg, kind = _backbone_cfg(config)
    backbone = MODELS.build(dict(bb_cfg))
    load = 'random initialisation (no checkpoint)'
    if checkpoint is not None:
        report = load_pretrained(backbone, str(checkpoint), target='backbone', strict_encoder=True, logger=logger)
        pool_norm = 'fc_norm' if backbone.use_mean_pooling else 'norm'
        if f'{pool_norm}.weight' not in report.loaded:
            other = 'norm' if pool_norm == 'fc_norm' else 'fc_norm'
            fix = ('use the pretraining config, or --cfg-options model.backbone.use_mean_pooling=False'
                   if pool_norm == 'fc_norm' else
                   'use a recognition config, or --cfg-options model.encoder.use_mean_pooling=True')
            raise RuntimeError(f'{checkpoint} ({report.format}) has no {pool_norm}.weight for the pooled feature '
                               f'(the {kind} config builds a backbone that ends in {pool_norm}'
                               + (f'; the checkpoint has {other}' if f'{other}.weight' in report.unexpected
                                  else '') + f'): {fix}')
        dropped = ', '.join(f'{len(v)} {k}' for k, v in report.dropped.items()) or 'none'
        load = (f'{checkpoint} ({report.format}): {len(report.loaded)} tensors loaded into the backbone, '
                f'{len(report.missing)} missing, dropped: {dropped}')
    backbone.eval().requires_grad_(False)
    pre = config.get('model', {}).get('data_preprocessor') or {}
    info = dict(backbone=_jsonable(bb_cfg), config_kind=kind, load=load,
                mean=list(pre['mean']) if pre.get('mean') is not None else None,
                std=list(pre['std']) if pre.get('std') is not None else None)
    return backbone, info


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


def backbone_img_size(backbone: nn.Module) -> Tuple[int, int]:
    """The backbone's training resolution ``(H, W)``: its default token grid times the patch size."""
    _, h, w = backbone.default_grid
    return h * backbone.patch_size, w * backbone.patch_size


# ---------------------------------------------------------------------------------------------- decoding
def num_clips(num_frames: int, clip_len: int, stride: int) -> int:
    """Clips of a video: ``(n - clip_len) // stride + 1``; 1 for ``0 < n < clip_len`` (padded); 0 for ``n = 0``."""
    if num_frames <= 0:
        return 0
    if num_frames < clip_len:
        return 1
    return FeatureGrid(fps=1., stride=stride, clip_len=clip_len).num_features(num_frames)


def open_video(path: Union[str, Path], num_threads: int = 1):
    """decord ``VideoReader`` of ``path``, its frame count and average fps; unreadable ->
    :class:`tasks.datasets.policy.UnreadableVideoError` with a one-line reason."""
    import decord

    from tasks.datasets.policy import PROGRAMMING_ERRORS, UnreadableVideoError, describe_error
    try:
        reader = decord.VideoReader(str(path), num_threads=num_threads)
        total, fps = len(reader), float(reader.get_avg_fps())
    except PROGRAMMING_ERRORS:
        raise
    except Exception as err:  # decord raises DECORDError / RuntimeError with multi-line text
        raise UnreadableVideoError(describe_error(err, str(path))) from err
    if total == 0:
        raise UnreadableVideoError('the video has no frames (decord reads 0)')
    if not (math.isfinite(fps) and fps > 0):
        raise UnreadableVideoError(f'the video reports no frame rate (fps {fps})')
    return reader, total, fps


def _get_batch(reader, indices: Sequence[int], path) -> np.ndarray:
    from tasks.datasets.policy import PROGRAMMING_ERRORS, UnreadableVideoError, describe_error
    try:
        batch = reader.get_batch(list(indices))
        return batch.asnumpy() if hasattr(batch, 'asnumpy') else np.asarray(batch)
    except PROGRAMMING_ERRORS:
        raise
    except Exception as err:
        raise UnreadableVideoError(f'frames {indices[0]}-{indices[-1]}: {describe_error(err, str(path))}') from err


def iter_video_chunks(path: Union[str, Path], clip_len: int = 16, stride: int = 4, clips_per_chunk: int = 32,
                      num_threads: int = 1) -> Iterator[dict]:
    """Decode a video once, in chunks of ``clips_per_chunk`` clips, sending every needed frame exactly once.

    Chunk ``k`` holds the clips ``[first_clip, first_clip + num_clips)``; its ``frames`` are only the frames not
    sent before (the ``clip_len - stride`` frames it shares with the previous chunk stay with the consumer, see
    :class:`FeatureExtractor`). With ``stride > clip_len`` only the frames of clips are decoded.

    Yields:
        dict: ``frames`` uint8 ``(F, H, W, 3)`` RGB tensor, ``first_clip``, ``num_clips``, ``last`` (bool), and the
        video's ``num_frames``, ``fps``, ``total_clips``, ``padded`` (shorter than one clip: the last frame is
        repeated).

    Raises:
        tasks.datasets.policy.UnreadableVideoError: Cannot open or decode (one-line reason).
    """
    reader, total, fps = open_video(path, num_threads)
    clips = num_clips(total, clip_len, stride)
    meta = dict(num_frames=total, fps=fps, total_clips=clips, padded=total < clip_len)
    if total < clip_len:
        frames = _get_batch(reader, range(total), path)
        frames = np.concatenate([frames, np.repeat(frames[-1:], clip_len - total, 0)])
        yield dict(meta, frames=torch.from_numpy(frames), first_clip=0, num_clips=1, last=True)
        return
    sent = 0  # frames [0, sent) were sent
    for first in range(0, clips, clips_per_chunk):
        n = min(clips_per_chunk, clips - first)
        if stride <= clip_len:
            indices = list(range(sent, (first + n - 1) * stride + clip_len))
        else:
            indices = [i * stride + j for i in range(first, first + n) for j in range(clip_len)]
        sent = indices[-1] + 1
        frames = _get_batch(reader, indices, path)
        yield dict(meta, frames=torch.from_numpy(frames), first_clip=first, num_clips=n, last=first + n == clips)


class VideoChunks(IterableDataset):
    """:func:`iter_video_chunks` over many videos for a DataLoader (``batch_size=None``): worker ``w`` of ``W``
    decodes videos ``w, w + W, ...``. Items carry ``video`` (index into ``videos``); an unreadable video gives one
    item with ``error`` (one line) instead of (further) chunks.

    Args:
        videos (Sequence[str]): Video files.
        clip_len (int), stride (int), clips_per_chunk (int): See :func:`iter_video_chunks`.
        num_threads (int): decord threads per video.
    """

    def __init__(self, videos: Sequence[str], clip_len: int = 16, stride: int = 4, clips_per_chunk: int = 32,
                 num_threads: int = 1):
        self.videos = list(videos)
        self.clip_len, self.stride, self.clips_per_chunk, self.num_threads = clip_len, stride, clips_per_chunk, \
            num_threads

    def __iter__(self):
        from tasks.datasets.policy import UnreadableVideoError
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        for index in range(wid, len(self.videos), nw):
            try:
                for chunk in iter_video_chunks(self.videos[index], self.clip_len, self.stride, self.clips_per_chunk,
                                               self.num_threads):
                    yield dict(chunk, video=index)
            except UnreadableVideoError as err:
                yield dict(video=index, error=str(err))


# ------------------------------------------------------------------------------------------ preprocessing
class ClipPreprocessor(nn.Module):
    """uint8 RGB frames ``(F, H, W, 3)`` -> backbone input frames ``(3, F, S, S)`` float (module docstring).

    Args:
        size (tuple[int, int]): Output ``(H, W)`` (the backbone's ``img_size``).
        mode (str): ``'official'`` ([0, 1], no normalisation) or ``'normalized'`` (``(x - mean) / std``).
        mean (Sequence[float], optional), std (Sequence[float], optional): 0-255 scale; ImageNet by default.
    """

    def __init__(self, size: Tuple[int, int], mode: str = 'official', mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None):
        super().__init__()
        if mode not in INPUT_MODES:
            raise ValueError(f'input mode must be one of {INPUT_MODES}, got {mode!r}')
        self.size, self.mode = tuple(size), mode
        mean = IMAGENET_MEAN if mean is None else mean
        std = IMAGENET_STD if std is None else std
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(3, 1, 1, 1) / 255, persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(3, 1, 1, 1) / 255, persistent=False)

    def describe(self) -> dict:
        """JSON-ready description (written to ``features.json``)."""
        out = dict(mode=self.mode, size=list(self.size), value_range='[0, 1] (uint8 / 255)',
                   resize='bilinear to HxW, aspect ratio not kept (F.interpolate, align_corners=False, no antialias)')
        if self.mode == 'normalized':
            out.update(mean=[round(v * 255, 6) for v in self.mean.flatten().tolist()],
                       std=[round(v * 255, 6) for v in self.std.flatten().tolist()],
                       value_range='(x - mean) / std, mean / std on the 0-255 scale')
        return out

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.to(self.mean.device).permute(0, 3, 1, 2).float().div_(255)          # (F, 3, H, W)
        if tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode='bilinear', align_corners=False)
        x = x.transpose(0, 1).contiguous()                                              # (3, F, S, S)
        if self.mode == 'normalized':
            x = (x - self.mean) / self.std
        return x


def clips_view(frames: torch.Tensor, num: int, clip_len: int, step: int) -> torch.Tensor:
    """``num`` clips of ``clip_len`` frames every ``step`` frames as a view of contiguous ``(3, F, H, W)`` frames:
    ``(num, 3, clip_len, H, W)`` (no copy)."""
    c, f, h, w = frames.shape
    if (num - 1) * step + clip_len > f:
        raise ValueError(f'{num} clips of {clip_len} every {step} need {(num - 1) * step + clip_len} frames, got {f}')
    s = frames.stride()
    return frames.as_strided((num, c, clip_len, h, w), (step * s[1], s[0], s[1], s[2], s[3]))


class FeatureExtractor:
    """Backbone + preprocessing + the per-video frame buffer: turns the chunks of :func:`iter_video_chunks`
    (or :class:`VideoChunks`) into ``[T, C]`` float32 features.

    Args:
        backbone (nn.Module): A VideoViT (eval mode).
        clip_len (int), stride (int): Clip length and step in frames.
        mode (str): Input mode, see :class:`ClipPreprocessor`.
        mean, std: For ``mode='normalized'`` (0-255 scale; ImageNet when None).
        device (str | torch.device): Where the backbone runs.
        dtype (str): ``'fp32'`` or ``'bf16'`` (autocast on the device).
        batch_size (int): Clips per forward (= clips per decoded chunk).
    """

    def __init__(self, backbone: nn.Module, clip_len: int = 16, stride: int = 4, mode: str = 'official',
                 mean=None, std=None, device='cpu', dtype: str = 'fp32', batch_size: int = 32):
        if clip_len < 1 or stride < 1 or batch_size < 1:
            raise ValueError(f'clip_len, stride and batch_size must be >= 1, got {clip_len}, {stride}, {batch_size}')
        if clip_len % backbone.tubelet_size:
            raise ValueError(f'clip_len {clip_len} is not a multiple of the backbone tubelet size '
                             f'{backbone.tubelet_size}')
        if dtype not in ('fp32', 'bf16'):
            raise ValueError(f"dtype must be 'fp32' or 'bf16', got {dtype!r}")
        self.device = torch.device(device)
        self.backbone = backbone.to(self.device).eval()
        self.clip_len, self.stride, self.batch_size, self.dtype = clip_len, stride, batch_size, dtype
        self.step = min(stride, clip_len)
        self.pre = ClipPreprocessor(backbone_img_size(backbone), mode, mean, std).to(self.device)
        self._state: Dict[Any, dict] = {}

    @property
    def feature_dim(self) -> int:
        return self.backbone.embed_dim

    @torch.no_grad()
    def embed_clips(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips ``(B, 3, T, H, W)`` (preprocessed, on the device) -> pooled features ``(B, C)`` float32."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.dtype == 'bf16'):
            feats = self.backbone.forward_head(self.backbone.forward_features(clips))
        return feats.float()

    def add_chunk(self, key, chunk: dict) -> Optional[np.ndarray]:
        """Feed one chunk of video ``key``; returns the video's ``[T, C]`` float32 features after its last chunk,
        else None. Chunks of one video must come in order (other videos' chunks may come in between)."""
        frames = self.pre(chunk['frames'])                                              # (3, F, S, S)
        state = self._state.pop(key, None)
        if chunk['first_clip'] == 0:
            feats = []
        else:
            if state is None:
                raise RuntimeError(f'chunk at clip {chunk["first_clip"]} of {key} came before its first chunk')
            feats = state['feats']
            if state['tail'] is not None:
                frames = torch.cat([state['tail'], frames], 1)
        n = chunk['num_clips']
        clips = clips_view(frames, n, self.clip_len, self.step)
        feats.append(self.embed_clips(clips).cpu())
        if chunk['last']:
            return torch.cat(feats).numpy()
        keep = self.clip_len - self.step
        self._state[key] = dict(feats=feats, tail=frames[:, n * self.step:].clone() if keep else None)
        return None

    def drop(self, key) -> None:
        """Forget a video whose decoding failed half-way."""
        self._state.pop(key, None)

    def extract(self, path: Union[str, Path], num_threads: int = 1) -> Tuple[np.ndarray, dict]:
        """Features of one video in memory (the demo): ``([T, C] float32, dict(num_frames, fps, padded))``."""
        out, meta = None, {}
        for chunk in iter_video_chunks(path, self.clip_len, self.stride, self.batch_size, num_threads):
            meta = dict(num_frames=chunk['num_frames'], fps=chunk['fps'], padded=chunk['padded'])
            out = self.add_chunk(('extract', str(path)), chunk)
        return out, meta


def extract_per_clip(extractor: FeatureExtractor, path: Union[str, Path]) -> np.ndarray:
    """The official way, as a reference: one clip at a time, each clip's frames decoded on their own
    (``get_batch(range(s, s + clip_len))``), preprocessed and embedded with batch 1. Same numbers as the batched
    path (tests); ``tools/analysis/benchmark_extract.py`` times both."""
    reader, total, _ = open_video(path)
    clip_len, stride = extractor.clip_len, extractor.stride
    feats = []
    for i in range(num_clips(total, clip_len, stride)):
        idx = [min(i * stride + j, total - 1) for j in range(clip_len)]  # repeats the last frame when padded
        frames = extractor.pre(torch.from_numpy(_get_batch(reader, idx, path)))
        feats.append(extractor.embed_clips(frames[None]).cpu())
    return torch.cat(feats).numpy()
