"""End-to-end temporal action detection (AdaTAD): decoded frames -> frozen VideoViT with temporal adapters ->
per-chunk features -> the ActionFormer detector, trained together through MMEngine's Runner.

Data flow of one batch (``B`` windows of up to ``T`` sampled frames, :mod:`tasks.tad.frames`)::

    uint8 (B, 3, T, H, W) -> normalise -> pad T to n * chunk_len (zeros after normalisation, masked later)
    (H, W cut to whole patches: ViT-g/14 at 160 px sees 154 x 154, as OpenTAD's stride-14 patch convolution)
    -> (B * n, 3, chunk_len, H, W) chunks -> AdapterVideoViT.forward_features(num_chunks=n)   one batched pass:
       attention within each chunk, the adapters' temporal conv across the n chunks of a window
    -> tokens (B * n, t * h * w, C) -> mean over (h, w) -> (B, C, n * t)   [t = chunk_len / tubelet]
    -> optional linear upsampling x ``feat_upsample`` (OpenTAD interpolates 384 tokens to 768 snippets at 768x160)
    -> ActionFormer.loss / predict on [B, C, L] with a feature grid per window

Feature grid: token ``i`` of a window pools sampled frames ``[tb * i, tb * i + tb)`` (``tb`` = tubelet), so it
stands for frame ``offset + s * (tb * i + (tb - 1) / 2)``: ``FeatureGrid(stride=s * tb, clip_len=s * tb, offset=...)``
of the window's frame grid; upsampling maps it through :func:`tasks.tad.dataset.resized_grid`. Predictions come
back in seconds as for feature-based ActionFormer.

Memory: only the adapters (and optionally the last blocks) train. The encoder's frozen parameters have
``requires_grad=False``: no gradient buffers, no optimiser state (AdamW creates state only for parameters
with a gradient), and :class:`tasks.engine.ema.TrainableEMA` averages only trainable parameters and shares the
frozen ones with the model instead of copying them. Blocks run under activation checkpointing (block + adapter
together, ``with_cp``); ``dtype='bf16'`` runs the encoder under bfloat16 autocast.

Checkpoints (:meth:`EndToEndTAD.state_dict`): with ``frozen_checkpoint`` set, the frozen encoder weights are left
out; the state dict holds what trains, the buffers and ``frozen_ref``, the SHA-256 of the frozen checkpoint file.
Loading (``tools/test.py``, ``--resume``, ``load_from``) first loads the frozen weights from the config's
``frozen_checkpoint`` when the model does not hold them yet and fails when its hash differs from the saved one.
Without ``frozen_checkpoint`` (random encoder: tests) everything is saved.
"""
import hashlib
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from einops import rearrange
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement

from backbones.registry import MODELS

from .dataset import resized_grid
from .grid import FeatureGrid

__all__ = ['EndToEndTAD', 'file_sha256', 'token_grid']

_SHA_CACHE: Dict[Tuple[str, int, int], bytes] = {}


def file_sha256(path: str) -> bytes:
    """SHA-256 digest (32 bytes) of a file, cached per (path, size, mtime)."""
    st = os.stat(path)
    key = (osp.realpath(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(path, 'rb') as f:
            for block in iter(lambda: f.read(1 << 23), b''):
                h.update(block)
        _SHA_CACHE[key] = h.digest()
    return _SHA_CACHE[key]


def token_grid(frame_grid: FeatureGrid, tubelet: int, num_tokens: int, upsample: int = 1) -> FeatureGrid:
    """Grid of a window's features: tokens pool ``tubelet`` sampled frames; ``upsample`` > 1 interpolates
    ``num_tokens`` linearly to ``num_tokens * upsample`` (``align_corners=False``)."""
    s = frame_grid.stride
    grid = FeatureGrid(fps=frame_grid.fps, stride=s * tubelet, clip_len=max(int(round(s * tubelet)), 1),
                       offset=frame_grid.offset + s * (tubelet - 1) / 2)
    return grid if upsample == 1 else resized_grid(grid, num_tokens, num_tokens * upsample)


def _get(sample, key, default=None):
    return sample.get(key, default) if isinstance(sample, (dict, BaseDataElement)) else getattr(sample, key, default)


def _drop_frozen_missing(module, incompatible_keys) -> None:
    """Load post-hook: frozen encoder weights are not in the checkpoint by design (loaded from
    ``frozen_checkpoint``), so they are not missing."""
    frozen = module._frozen_keys
    if not frozen:
        return
    keep = []
    for k in incompatible_keys.missing_keys:
        parts = k.split('.')
        if not any('.'.join(parts[i:]) in frozen for i in range(len(parts))):
            keep.append(k)
    incompatible_keys.missing_keys[:] = keep


@MODELS.register_module()
class EndToEndTAD(BaseModel):
    """Frozen VideoViT + temporal adapters + ActionFormer, trained end to end (module docstring).

    Args:
        backbone (dict): An ``AdapterVideoViT`` config (no ``init_cfg``: the weights come from
            ``frozen_checkpoint``).
        detector (dict): An ``ActionFormer`` config; ``in_channels`` defaults to the encoder width.
        frozen_checkpoint (str, optional): The encoder's checkpoint (any format ``backbones.pretrained`` reads:
            official VideoMAE V2 files as they are). Loaded by :meth:`init_weights` (and on checkpoint load);
            its frozen weights are not saved in checkpoints, only its SHA-256.
        chunk_len (int): Frames per encoder pass (16).
        feat_upsample (int): Interpolate the token sequence to this many times its length.
        mean (Sequence[float]), std (Sequence[float]): Input normalisation, 0-255 scale.
        dtype (str): ``'fp32'`` or ``'bf16'`` (the encoder under bfloat16 autocast).
        data_preprocessor (dict, optional): MMEngine data preprocessor (default: moves data to the device).
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self, backbone: dict, detector: dict, frozen_checkpoint: Optional[str] = None,
                 chunk_len: int = 16, feat_upsample: int = 1,
                 mean: Sequence[float] = (123.675, 116.28, 103.53), std: Sequence[float] = (58.395, 57.12, 57.375),
                 dtype: str = 'fp32', data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if dtype not in ('fp32', 'bf16'):
            raise ValueError(f"EndToEndTAD: dtype must be 'fp32' or 'bf16', got {dtype!r}")
        if backbone.get('init_cfg') is not None:
            raise ValueError('EndToEndTAD: give the encoder weights as frozen_checkpoint=PATH, not backbone.init_cfg '
                             '(checkpoints then store only a reference to them)')
        self.backbone = MODELS.build(backbone)
        if not hasattr(self.backbone, 'adapters'):
            raise TypeError(f'EndToEndTAD: backbone must be an AdapterVideoViT, got {type(self.backbone).__name__}')
        if chunk_len % self.backbone.tubelet_size:
            raise ValueError(f'chunk_len {chunk_len} is not a multiple of the tubelet size '
                             f'{self.backbone.tubelet_size}')
        detector = dict(detector)
        detector.setdefault('in_channels', self.backbone.embed_dim)
        if detector['in_channels'] != self.backbone.embed_dim:
            raise ValueError(f'detector.in_channels {detector["in_channels"]} != encoder width '
                             f'{self.backbone.embed_dim}')
        self.detector = MODELS.build(detector)
        self.frozen_checkpoint = frozen_checkpoint
        self.chunk_len, self.feat_upsample, self.dtype = chunk_len, int(feat_upsample), dtype
        if self.feat_upsample < 1:
            raise ValueError(f'feat_upsample must be >= 1, got {feat_upsample}')
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1, 1), persistent=False)
        # SHA-256 of frozen_checkpoint (zeros until it is loaded): the checkpoint's reference to the frozen weights
        self.register_buffer('frozen_ref', torch.zeros(32, dtype=torch.uint8))
        self._frozen_loaded: Optional[bytes] = None
        self._frozen_keys = frozenset(f'backbone.{n}' for n, p in self.backbone.named_parameters()
                                      if not p.requires_grad) if frozen_checkpoint else frozenset()
        self.register_load_state_dict_post_hook(_drop_frozen_missing)

    # -- frozen weights ---------------------------------------------------------------------------------------
    def load_frozen(self, logger=None) -> bytes:
        """Load ``frozen_checkpoint`` into the encoder (once) and return its SHA-256."""
        if self.frozen_checkpoint is None:
            raise RuntimeError('EndToEndTAD: no frozen_checkpoint configured')
        if self._frozen_loaded is None:
            from backbones.pretrained import load_pretrained
            path = str(self.frozen_checkpoint)
            if not osp.isfile(path):
                raise FileNotFoundError(f'EndToEndTAD: frozen_checkpoint {path} does not exist')
            load_pretrained(self.backbone, path, target='backbone', strict_encoder=True, logger=logger)
            digest = file_sha256(path)
            self.frozen_ref.copy_(torch.tensor(list(digest), dtype=torch.uint8))
            self._frozen_loaded = digest
        return self._frozen_loaded

    def init_weights(self) -> None:
        super().init_weights()
        if self.frozen_checkpoint is not None:
            self._frozen_loaded = None
            self.load_frozen()

    def state_dict(self, *args, destination=None, prefix: str = '', keep_vars: bool = False):
        """The module's state dict without the frozen encoder weights (when ``frozen_checkpoint`` is set)."""
        if args:
            raise TypeError('EndToEndTAD.state_dict takes keyword arguments only')
        out = super().state_dict(destination=destination, prefix=prefix, keep_vars=keep_vars)
        for k in self._frozen_keys:
            out.pop(prefix + k, None)
        return out

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        ref = state_dict.get(prefix + 'frozen_ref')
        if self.frozen_checkpoint is not None:  # the frozen weights are never in the state dict: load them first
            have = self.load_frozen()
            saved = bytes(ref.to(torch.uint8).tolist()) if ref is not None else bytes(32)
            if any(saved) and saved != have:
                raise RuntimeError(
                    f'the checkpoint was trained on frozen encoder weights with SHA-256 {saved.hex()}, but '
                    f'frozen_checkpoint={self.frozen_checkpoint} has SHA-256 {have.hex()}: give the checkpoint '
                    'the frozen weights it was trained with (model.frozen_checkpoint=PATH)')
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    # -- network ------------------------------------------------------------------------------------------------
    def _frames(self, inputs) -> Tuple[torch.Tensor, List[int]]:
        """uint8 ``(3, T_i, H, W)`` list (or a ``(B, 3, T, H, W)`` tensor) -> normalised float ``(B, 3, n *
        chunk_len, H, W)`` zero-padded, and the valid frame counts."""
        if isinstance(inputs, torch.Tensor):
            inputs = list(inputs)
        if not inputs:
            raise ValueError('EndToEndTAD: empty batch')
        lengths = [x.shape[1] for x in inputs]
        total = -(-max(lengths) // self.chunk_len) * self.chunk_len
        c, _, h, w = inputs[0].shape
        if c != 3 or any(tuple(x.shape[::2]) != (3, h) or x.shape[3] != w for x in inputs):
            raise ValueError(f'EndToEndTAD: frames must be (3, T, H, W) of one size, got '
                             f'{[tuple(x.shape) for x in inputs]}')
        # a stride-p patch convolution ignores the last H mod p rows / W mod p columns (OpenTAD's ViT-g/14 at 160 px
        # sees 154 x 154); VideoViT's patch embedding asks for whole patches, so they are cut here
        p = self.backbone.patch_size
        h, w = h - h % p, w - w % p
        x = inputs[0].new_zeros((len(inputs), 3, total, h, w), dtype=torch.float32)
        for b, frames in enumerate(inputs):
            x[b, :, :frames.shape[1]] = (frames[..., :h, :w].float() - self.mean[0]) / self.std[0]
        return x, lengths

    def extract_feats(self, inputs) -> Tuple[torch.Tensor, List[int]]:
        """Frames -> features ``(B, C, L)`` float32 and the valid feature counts per window."""
        x, lengths = self._frames(inputs)
        n = x.shape[2] // self.chunk_len
        chunks = rearrange(x, 'b c (n t) h w -> (b n) c t h w', t=self.chunk_len)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.dtype == 'bf16'):
            tokens = self.backbone.forward_features(chunks, num_chunks=n)               # (B*n, t*h*w, C)
        t, h, w = self.backbone.patch_embed.grid(self.chunk_len, x.shape[3], x.shape[4])
        feats = rearrange(tokens.float(), '(b n) (t h w) c -> b c (n t) h w', n=n, t=t, h=h, w=w).mean((3, 4))
        if self.feat_upsample > 1:
            feats = F.interpolate(feats, scale_factor=self.feat_upsample, mode='linear', align_corners=False)
        tb = self.backbone.tubelet_size
        valid = [-(-length // tb) * self.feat_upsample for length in lengths]
        return feats, valid

    def _with_grids(self, data_samples, valid: List[int]):
        tb = self.backbone.tubelet_size
        for s, num in zip(data_samples, valid):
            frame_grid = _get(s, 'frame_grid')
            if frame_grid is None:
                raise KeyError(f'EndToEndTAD: video {_get(s, "video_name", "?")!r}: data sample has no frame_grid '
                               '(PackTADFrames)')
            if not isinstance(frame_grid, FeatureGrid):
                frame_grid = FeatureGrid.from_dict(dict(frame_grid))
            grid = token_grid(frame_grid, tb, num // self.feat_upsample, self.feat_upsample)
            s.set_metainfo(dict(feat_grid=grid, num_feats=num))
        return data_samples

    def loss(self, inputs, data_samples) -> Dict[str, torch.Tensor]:
        feats, valid = self.extract_feats(inputs)
        return self.detector.loss(feats, self._with_grids(data_samples, valid))

    def predict(self, inputs, data_samples):
        with torch.no_grad():
            feats, valid = self.extract_feats(inputs)
        return self.detector.predict(feats, self._with_grids(data_samples, valid))

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        """``'loss'``: losses; ``'predict'``: detections in seconds; ``'tensor'``: features ``(B, C, L)``."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feats(inputs)[0]
        raise ValueError(f"EndToEndTAD: mode must be 'loss', 'predict' or 'tensor', got {mode!r}")
