"""Frozen CLIP image tower (timm's CLIP ViT) used as the UMT stage-1 teacher.

Weights come from a local file: an OpenAI CLIP / open_clip state dict (``visual.conv1``, ``visual.class_embedding``,
``visual.positional_embedding``, ``visual.ln_pre``, ``visual.transformer.resblocks.N.*``, ``visual.ln_post``,
``visual.proj``; a bare visual tower or UMT's ``clip_teacher.*`` too), a TorchScript OpenAI release
(``ViT-B-16.pt``), or a timm state dict. :func:`convert_clip_state_dict` is the pure key converter.
"""
import zipfile
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed
from torch import nn

from ..checkpoint import load_checkpoint_file, unwrap_checkpoint
from ..registry import MODELS

__all__ = ['CLIPTeacher', 'convert_clip_state_dict', 'load_clip_state_dict']

# where an OpenAI / open_clip visual tower sits in the files UMT meets (full CLIP, UMT stage 2, DDP, bare)
_OPENAI_PREFIXES = ('visual.', 'clip_teacher.', 'vision_encoder.clip_teacher.', 'module.visual.', '')


def convert_clip_state_dict(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """OpenAI CLIP / open_clip (full model or visual tower) or timm CLIP ViT state dict -> timm
    ``VisionTransformer`` names. Pure; text-tower keys are dropped.

    The renaming is timm's own OpenAI converter (``timm.models.vision_transformer._convert_openai_clip``:
    ``class_embedding`` -> ``cls_token`` (1, 1, C), ``positional_embedding`` -> ``pos_embed`` (1, L, C), ``proj``
    (C, D) -> ``head.weight`` (D, C) and a zero ``head.bias``); this function only finds where the visual tower
    sits. Keys timm does not know pass through and are refused when the teacher loads them.

    Raises:
        ValueError: No visual tower in ``state_dict``.
    """
    from timm.models.vision_transformer import _convert_openai_clip
    sd = {k: v for k, v in state_dict.items() if isinstance(v, torch.Tensor)}
    if any(k.startswith('patch_embed.proj.') for k in sd):  # already timm
        return dict(sd)
    prefix = next((p for p in _OPENAI_PREFIXES if p + 'conv1.weight' in sd), None)
    if prefix is None:
        raise ValueError(f'not a CLIP visual tower state dict (no conv1.weight / visual.conv1.weight / '
                         f'patch_embed.proj.weight); first keys: {list(state_dict)[:8]}')
    return _convert_openai_clip(sd, None, prefix=prefix)


def load_clip_state_dict(path: Union[str, Path]) -> Dict[str, torch.Tensor]:
    """Read CLIP weights from a local file: a state dict (``.pth``/``.bin``/``.safetensors``, safe loading) or
    an OpenAI TorchScript release (read with ``torch.jit.load``, which runs no pickled Python)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'CLIP teacher checkpoint={str(path)!r}: file not found')
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            is_jit = any(n.split('/', 1)[-1].startswith('code/') for n in zf.namelist())
        if is_jit:
            return {k: v.float() for k, v in torch.jit.load(str(path), map_location='cpu').state_dict().items()}
    state_dict, _, _ = unwrap_checkpoint(load_checkpoint_file(path), str(path))
    return state_dict


@MODELS.register_module()
class CLIPTeacher(nn.Module):
    """Frozen per-frame CLIP ViT that returns UMT's distillation targets and CLS attention.

    Args:
        arch (str): timm CLIP architecture: ``vit_base_patch16_clip_224`` (UMT-B teacher, fed at 224) or
            ``vit_large_patch14_clip_224`` (UMT-L teacher, fed at 196).
        img_size (int): Input size; frames are resized (bicubic) to it. The token grid must equal the student's.
        proj_dim (int): Width of ``proj`` (512 for B/16, 768 for L/14).
        num_return_layers (int): Return the outputs of this many last blocks (UMT: 6).
        checkpoint (str, optional): Local weights; None leaves the teacher **random** (toy runs only).
        **timm_kwargs: Overrides of the timm architecture (``embed_dim``, ``depth``, ``num_heads``,
            ``patch_size``...; e.g. a tiny random teacher).
    """

    def __init__(self, arch: str = 'vit_base_patch16_clip_224', img_size: int = 224, proj_dim: int = 512,
                 num_return_layers: int = 6, checkpoint: Optional[str] = None, **timm_kwargs):
        super().__init__()
        import timm
        timm_kwargs.setdefault('act_layer', 'quick_gelu')  # OpenAI CLIP
        self.vit = timm.create_model(arch, pretrained=False, img_size=img_size, num_classes=proj_dim,
                                     global_pool='token', **timm_kwargs)
        self.arch, self.img_size = arch, img_size
        self.patch_size = self.vit.patch_embed.patch_size[0]
        self.grid_size = tuple(self.vit.patch_embed.grid_size)
        depth = len(self.vit.blocks)
        if not 0 < num_return_layers <= depth:
            raise ValueError(f'num_return_layers must be in 1..{depth}, got {num_return_layers}')
        self.return_index = list(range(depth - num_return_layers, depth))
        self.checkpoint = checkpoint
        if checkpoint is not None:
            self.load_weights(checkpoint)
        self.requires_grad_(False)
        self.eval()
        self._qkv: List[torch.Tensor] = []
        self.vit.blocks[-1].attn.qkv.register_forward_hook(lambda m, i, o: self._qkv.append(o))

    @property
    def embed_dim(self) -> int:
        return self.vit.embed_dim

    @property
    def out_dim(self) -> int:
        return self.vit.head.out_features

    def train(self, mode: bool = True):
        return super().train(False)  # always eval: no dropout / drop path, frozen statistics

    def load_weights(self, path: Union[str, Path]) -> None:
        try:
            sd = convert_clip_state_dict(load_clip_state_dict(path))
        except ValueError as e:
            raise ValueError(f'CLIP teacher checkpoint {path}: {e}') from e
        pos = sd.get('pos_embed')
        want = self.vit.pos_embed.shape
        if pos is not None and pos.shape != want:
            n_old = int(round((pos.shape[1] - 1) ** .5))
            sd['pos_embed'] = resample_abs_pos_embed(pos.float(), new_size=self.grid_size, old_size=(n_old, n_old),
                                                     num_prefix_tokens=1).to(pos.dtype)
        model_sd = self.vit.state_dict()
        missing = [k for k in model_sd if k not in sd]
        unexpected = [k for k in sd if k not in model_sd]
        mismatched = [f'{k} {list(sd[k].shape)} vs {list(model_sd[k].shape)}' for k in model_sd
                      if k in sd and sd[k].shape != model_sd[k].shape]
        if missing or unexpected or mismatched:
            raise RuntimeError(f'CLIP teacher checkpoint {path} does not fit the {self.arch} teacher: missing '
                               f'{missing[:5]}, unexpected {unexpected[:5]}, shape (file vs teacher) '
                               f'{mismatched[:3]}')
        self.vit.load_state_dict(sd)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per-frame teacher pass.

        Args:
            x (Tensor): (B, 3, T, H, W), normalised like the student's input.

        Returns:
            tuple: raw patch tokens of the returned blocks (K, B, T*h*w, C) (before ``ln_post``; see
            :meth:`project`), and the head-averaged CLS->patch attention of the last block (B, T, h*w).
        """
        b, c, t, h, w = x.shape
        x = x.transpose(1, 2).reshape(b * t, c, h, w)
        if (h, w) != (self.img_size, self.img_size):
            x = F.interpolate(x, size=(self.img_size, self.img_size), mode='bicubic', align_corners=False)
        vit = self.vit
        x = vit.norm_pre(vit._pos_embed(vit.patch_embed(x)))
        feats = []
        self._qkv.clear()
        for i, blk in enumerate(vit.blocks):
            x = blk(x)
            if i in self.return_index:
                feats.append(x[:, 1:])
        qkv = self._qkv.pop()  # (BT, L, 3C) from the hook on the last block
        attn = vit.blocks[-1].attn
        bt, n, _ = qkv.shape
        qkv = qkv.reshape(bt, n, 3, attn.num_heads, attn.head_dim)
        q_cls, k = qkv[:, 0, 0], qkv[:, :, 1]  # (BT, H, d), (BT, L, H, d)
        logits = torch.einsum('bhd,blhd->bhl', q_cls.float(), k.float()) * attn.head_dim ** -.5
        cls_attn = logits.softmax(-1).mean(1)[:, 1:]  # only the CLS row; no L x L map
        hw = n - 1
        tokens = torch.stack(feats).reshape(len(feats), b, t * hw, -1)
        return tokens, cls_attn.reshape(b, t, hw)

    @torch.no_grad()
    def project(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens (..., C) -> L2-normalised ``proj(ln_post(tokens))`` (..., D)."""
        return F.normalize(self.vit.head(self.vit.norm(tokens)).float(), dim=-1)
