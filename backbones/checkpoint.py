"""Official-format checkpoints -> VideoFM: safe loading and pure key conversion, with one load report.

Three layers, each usable on its own:

1. :func:`load_checkpoint_file` reads a file safely: ``torch.load(weights_only=True)`` with exactly one extra
   allowed global (``argparse.Namespace``, the ``args`` of official checkpoints), or safetensors.
2. :func:`convert_state_dict` is a pure function (dict -> dict) that detects the source layout and renames it
   to :class:`~backbones.video_vit.VideoViT` names (which are the official ones). It knows:

   =================== ==================================================================================
   format              what it looks like
   =================== ==================================================================================
   videomaev2-pretrain ``model``: ``encoder.*``, ``decoder.*``, ``encoder_to_decoder.weight``, ``mask_token``
   umt-stage1          ``model``: ``encoder.*`` (tubelet 1) + ``clip_decoder.*`` alignment heads
   umt-stage2          ``model``: ``vision_encoder.encoder.*`` + ``vision_encoder.clip_decoder/pool_norm``,
                       ``clip_teacher.*``, ``text_encoder.*``, ``vision_proj``, ``text_proj``, ``temp``,
                       ``itm_head``
   official-finetune   ``model`` / ``module`` (deepspeed) / bare: ``patch_embed``, ``blocks``, ``fc_norm``,
                       ``head`` (+ ``pos_embed``): VideoMAE V2 fine-tuned and distilled, UMT fine-tuned, a
                       bare VideoViT state dict
   mmaction2           ``state_dict``: ``backbone.patch_embed.projection``, ``blocks.N.mlp.layers.0.0`` /
                       ``layers.1``, ``cls_head.fc_cls`` (mmaction2's ``VisionTransformer`` port)
   videofm             ``state_dict``: ``backbone.*`` (VideoViT names) + ``cls_head.*``
   =================== ==================================================================================

   ``_orig_mod.`` (torch.compile) and an all-keys ``module.`` (DDP) prefix are stripped first;
   ``.safetensors`` files hold any of these as a bare state dict.
3. :mod:`backbones.pretrained` loads a file into a model on top of these two (``load_pretrained``,
   ``init_cfg=dict(type='Pretrained', checkpoint=...)``), with one :class:`LoadReport`.
"""
import argparse
import errno
import json
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch

from .layers.pos_embed import resample_pos_table

__all__ = [
    'FORMATS', 'TARGETS', 'LoadReport', 'UnsafeCheckpointError', 'DamagedCheckpointError', 'load_checkpoint_file',
    'unwrap_checkpoint', 'detect_format', 'convert_state_dict', 'remap_head', 'load_label_map', 'resample_pos_embed',
    'HEAD_PREFIXES', 'PartialLoadError', 'check_load', 'convert_bert_state_dict', 'convert_umt_stage2_state_dict',
    'convert_umt_qa_state_dict', 'stage2_to_qa_state_dict'
]


FORMATS = {
    'videomaev2-pretrain': 'VideoMAE V2 pretraining (encoder.* + decoder)',
    'umt-stage1': 'UMT stage 1 (encoder.* + clip_decoder alignment heads)',
    'umt-stage2': 'UMT stage 2 (vision_encoder.encoder.* + text / teacher / projections)',
    'official-finetune': 'official fine-tuned / distilled VideoMAE V2 or UMT, or a bare VideoViT state dict',
    'mmaction2': "mmaction2's VisionTransformer port (patch_embed.projection, mlp.layers.*, cls_head.fc_cls)",
    'videofm': 'VideoFM / MMEngine recognizer (backbone.* + cls_head.*)',
}
# target -> where the encoder keys go
TARGETS = {'backbone': '', 'recognizer': 'backbone.', 'pretrain': 'encoder.'}

# top-level entries that hold the weights, in the order the official loaders try them
_CONTAINER_KEYS = ('model', 'module', 'state_dict')
_TORCH_SUFFIXES = ('.pth', '.pt', '.bin', '.ckpt', '.tar')
# VideoViT parameter names (relative to the encoder)
_ENCODER_RE = re.compile(
    r'^(patch_embed\.proj\.(weight|bias)|pos_embed|blocks\.\d+\..+|(fc_)?norm\.(weight|bias))$')
# keys whose absence / wrong shape / surplus means the checkpoint is for another architecture
_STRICT_ENCODER_PREFIXES = ('patch_embed.', 'blocks.')
_HEAD_NAMES = {'official-finetune': 'head.', 'mmaction2': 'cls_head.fc_cls.', 'videofm': 'cls_head.fc_cls.'}
_RECOGNIZER_HEAD = 'cls_head.fc_cls.'
# mmaction2's vit_mae.py -> VideoViT
_MMACTION2_RENAMES = (
    (re.compile(r'^patch_embed\.projection\.'), 'patch_embed.proj.'),
    (re.compile(r'^(blocks\.\d+\.mlp)\.layers\.0\.0\.'), r'\1.fc1.'),
    (re.compile(r'^(blocks\.\d+\.mlp)\.layers\.1\.'), r'\1.fc2.'),
)

REASON_PRETRAIN = 'pretraining-only'
REASON_HEAD = 'classifier head'
REASON_NOT_BACKBONE = 'not part of the encoder'
REASON_FIXED_POS = 'fixed sinusoid position table (VideoViT regenerates it)'
REASON_SHAPE = 'shape does not fit the model'
REASON_LEARNED_POS = 'learned position table, but the model uses the fixed sinusoid'

Tensor = torch.Tensor
StateDict = Dict[str, Tensor]
LabelMap = Union[str, Path, Sequence[int]]


class DamagedCheckpointError(RuntimeError):
    """A checkpoint file is cut short or is not a checkpoint (the message names the file and its size)."""


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs a pickled global that safe loading does not allow."""


# ------------------------------------------------------------------------------------------------ report
def _shape(t) -> List[int]:
    return list(t.shape)


def _group_keys(keys: Sequence[str], max_groups: int = 8) -> str:
    """``decoder.blocks.0.x, decoder.blocks.1.y, mask_token`` -> ``decoder.blocks.* (2), mask_token``."""
    groups: Dict[str, int] = {}
    for key in keys:
        parts = key.split('.')
        name = '.'.join(parts[:2]) + '.*' if len(parts) > 2 else key
        groups[name] = groups.get(name, 0) + 1
    items = [name if n == 1 and not name.endswith('*') else f'{name} ({n})' for name, n in groups.items()]
    more = f', ... (+{len(items) - max_groups} more groups)' if len(items) > max_groups else ''
    return ', '.join(items[:max_groups]) + more


def _list_keys(keys: Sequence[str], limit: int = 10) -> str:
    more = f', ... (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


@dataclass
class LoadReport:
    """What a conversion or a load did; ``str(report)`` is one readable block.

    Args:
        source (str): The file (or ``'<state dict>'``).
        format (str): Detected source format, a key of :data:`FORMATS`.
        target (str): ``'backbone'``, ``'recognizer'`` or ``'pretrain'``.
        container (str, optional): The top-level entry the weights came from (``'model'``, ``'module'``, ...).
        encoder (str): One-line summary of the checkpoint's encoder (width, depth, patch, tubelet, ...).
        converted (int): Number of tensors the conversion produced.
        loaded (list[str]): Keys loaded into the model (after :func:`load_pretrained`).
        missing (list[str]): Model keys the checkpoint did not provide.
        unexpected (list[str]): Converted keys the model has no parameter for.
        reshaped (dict[str, str]): Key -> what was done to it (resampled ``pos_embed``, remapped head).
        dropped (dict[str, list[str]]): Reason -> source keys left out (pretraining-only parts, heads, ...).
        notes (list[str]): Anything else worth knowing.
    """
    source: str = '<state dict>'
    format: str = ''
    target: str = 'backbone'
    container: Optional[str] = None
    encoder: str = ''
    converted: int = 0
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    reshaped: Dict[str, str] = field(default_factory=dict)
    dropped: Dict[str, List[str]] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)

    def drop(self, reason: str, keys: Sequence[str]) -> None:
        """Record ``keys`` as left out for ``reason``."""
        if keys:
            self.dropped.setdefault(reason, []).extend(keys)

    @property
    def pretraining_only(self) -> List[str]:
        """Dropped source keys of pretraining-only parts (decoders, alignment heads, text towers)."""
        return self.dropped.get(REASON_PRETRAIN, [])

    @property
    def dropped_keys(self) -> List[str]:
        return [k for keys in self.dropped.values() for k in keys]

    def __str__(self) -> str:
        where = f"['{self.container}']" if self.container else ''
        lines = [f'LoadReport: {self.source}{where}',
                 f'  format: {self.format} ({FORMATS.get(self.format, "?")}) -> target {self.target!r}']
        if self.encoder:
            lines.append(f'  checkpoint encoder: {self.encoder}')
        lines.append(f'  converted: {self.converted} tensors')
        if self.loaded or self.missing or self.unexpected:  # loaded into a model (load_pretrained)
            lines.append(f'  loaded: {len(self.loaded)} tensors')
            lines.append(f'  missing ({len(self.missing)}): {_list_keys(self.missing) or "none"}')
            lines.append(f'  unexpected ({len(self.unexpected)}): {_list_keys(self.unexpected) or "none"}')
        if self.reshaped:
            lines.append(f'  reshaped ({len(self.reshaped)}):')
            lines += [f'    {k}: {v}' for k, v in self.reshaped.items()]
        for reason, keys in self.dropped.items():
            lines.append(f'  dropped, {reason} ({len(keys)}): {_group_keys(keys)}')
        if self.notes:
            lines.append('  notes:')
            lines += [f'    - {n}' for n in self.notes]
        return '\n'.join(lines)


# ------------------------------------------------------------------------------------- load completeness
# Classifier layers whose shape follows the class count (recognizers' VideoClsHead, AVADetector): fine-tuning
# (``load_from`` in training) starts them afresh when the class count differs.
HEAD_PREFIXES = ('cls_head.fc_cls.', 'fc_cls.')
PARTIAL_LOAD_HINT = ('load it anyway with --allow-partial-load (tools/test.py, the demos) or allow_partial_load=True '
                     'in the config')


class PartialLoadError(RuntimeError):
    """A load would leave model weights unloaded or of the wrong shape where every weight must load
    (evaluation, demos, resume)."""


def _shape_lines(keys: Sequence[str], ckpt_shapes: Mapping, model_shapes: Mapping, limit: int = 3) -> str:
    lines = [f'{k} checkpoint {list(ckpt_shapes[k])} vs model {list(model_shapes[k])}' for k in keys[:limit]]
    return '; '.join(lines) + (f' (+{len(keys) - limit} more: {_group_keys(keys[limit:])})' if len(keys) > limit
                               else '')


def partial_load_message(source: str, model_name: str, missing: Sequence[str], mismatched: Sequence[str],
                         ckpt_shapes: Mapping, model_shapes: Mapping, what: str = 'every weight must load',
                         surplus: Sequence[str] = ()) -> str:
    """One error naming the unloaded keys (grouped, e.g. ``backbone.blocks.* (24)``) and the way out."""
    problems = []
    if missing:
        problems.append(f'not in the checkpoint ({len(missing)}): {_group_keys(missing)}')
    if mismatched:
        problems.append(f'wrong shape ({len(mismatched)}): {_shape_lines(mismatched, ckpt_shapes, model_shapes)}')
    if surplus:
        problems.append(f'not in the model ({len(surplus)}): {_group_keys(surplus)}')
    return (f'{source} does not fit {model_name} ({what}): ' + ' | '.join(problems)
            + f'. Use a checkpoint of this config or architecture, or {PARTIAL_LOAD_HINT}.')


def check_load(model_state: Mapping[str, Tensor], state_dict: Mapping[str, Tensor], *,
               strict: Union[bool, str] = True, encoder_prefix: str = 'backbone.', source: str = 'the checkpoint',
               model_name: str = 'the model') -> Tuple[List[str], List[str]]:
    """Decide whether loading ``state_dict`` into a model whose state dict is ``model_state`` is acceptable.

    The one place that decides load strictness (:func:`tasks.engine.runner.load_model_checkpoint` uses it for
    Runner checkpoints; :func:`backbones.pretrained.load_pretrained_checkpoint` applies the same rules to
    converted files).

    Args:
        model_state (dict): The model's ``state_dict()`` (only shapes are read).
        state_dict (dict): What would be loaded (keys already revised to the model's names).
        strict (bool | str): ``True`` (evaluation, demos, resume): every model weight must be loaded with its
            shape. ``'finetune'`` (``load_from`` in training): the encoder (``patch_embed.*``, ``blocks.*``
            under ``encoder_prefix``) must fit; a classifier head (:data:`HEAD_PREFIXES`) of another shape is
            dropped and starts from its initialisation, as do other weights the checkpoint lacks; all of it is
            said in the returned notes. ``False``: anything goes, all of it in the notes.
        encoder_prefix (str): Where the encoder's keys are in the model (``'backbone.'``, ``'encoder.'``, ``''``).
        source (str): Names the checkpoint in messages.
        model_name (str): Names the model in messages.

    Returns:
        tuple[list[str], list[str]]: Keys of ``state_dict`` not to load (wrong shape), and lines for the log.

    Raises:
        PartialLoadError: The load is not acceptable under ``strict``; names the keys, grouped.
    """
    if strict not in (True, False, 'finetune'):
        raise ValueError(f"strict must be True, False or 'finetune', got {strict!r}")
    shapes = {k: tuple(v.shape) for k, v in state_dict.items()}
    model_shapes = {k: tuple(v.shape) for k, v in model_state.items()}
    missing = [k for k in model_shapes if k not in shapes and not k.endswith('num_batches_tracked')]
    mismatched = [k for k in shapes if k in model_shapes and shapes[k] != model_shapes[k]]
    unexpected = [k for k in shapes if k not in model_shapes]
    if strict is True and (missing or mismatched):
        raise PartialLoadError(partial_load_message(source, model_name, missing, mismatched, shapes, model_shapes))

    def is_encoder(k):
        return k.startswith(encoder_prefix) and k[len(encoder_prefix):].startswith(_STRICT_ENCODER_PREFIXES)

    def is_head(k):
        return k.startswith(HEAD_PREFIXES)

    if strict == 'finetune':
        enc_missing = [k for k in missing if is_encoder(k)]
        enc_mismatched = [k for k in mismatched if is_encoder(k)]
        enc_surplus = [k for k in unexpected if is_encoder(k)]
        if enc_missing or enc_mismatched or enc_surplus:
            raise PartialLoadError(partial_load_message(
                source, model_name, enc_missing, enc_mismatched, shapes, model_shapes, surplus=enc_surplus,
                what='the encoder must fit for fine-tuning'))
    notes = []
    head = [k for k in mismatched if is_head(k)]
    if head:  # the whole layer goes: a bias of the right length without its weight means nothing
        prefixes = {p for p in HEAD_PREFIXES if any(k.startswith(p) for k in head)}
        head = [k for k in shapes if k in model_shapes and k.startswith(tuple(prefixes))]
        notes.append(f'classifier head not loaded, it starts from its initialisation (fine-tuning on another class '
                     f'count): {_shape_lines(head, shapes, model_shapes)}')
    other = [k for k in mismatched if k not in head]
    if other:
        notes.append(f'not loaded, wrong shape ({len(other)}): {_shape_lines(other, shapes, model_shapes)}')
    if missing:
        notes.append(f'not in the checkpoint, keep their initialisation ({len(missing)}): {_group_keys(missing)}')
    if unexpected:
        notes.append(f'in the checkpoint but not in the model, ignored ({len(unexpected)}): '
                     f'{_group_keys(unexpected)}')
    return head + other, notes


# ---------------------------------------------------------------------------------------------- loading
def _refused_globals(message: str) -> List[str]:
    return re.findall(r'GLOBAL ([\w.]+)', message)


def _allowed_global_names() -> set:
    """Names of the globals allowed process-wide (``torch.serialization.add_safe_globals``)."""
    names = set()
    for g in torch.serialization.get_safe_globals():
        if isinstance(g, tuple):
            names.add(g[1])
        else:
            names.add(f'{g.__module__}.{g.__qualname__}')
    return names


def load_checkpoint_file(path: Union[str, Path]) -> dict:
    """Read a checkpoint file without executing pickled code.

    ``.pth/.pt/.bin/.ckpt/.tar`` go through ``torch.load(map_location='cpu', weights_only=True)``; the only
    global added for this call is ``argparse.Namespace`` (the ``args`` entry of official VideoMAE V2 / UMT
    checkpoints), plus whatever was allow-listed process-wide (:mod:`backbones.compat` adds MMEngine's
    checkpoint types). ``.safetensors`` files are read with ``safetensors.torch.load_file``.

    Args:
        path (str | Path): The file.

    Returns:
        dict: The checkpoint (a bare ``{name: tensor}`` dict for safetensors).

    Raises:
        FileNotFoundError: No such file.
        UnsafeCheckpointError: The file needs a pickled global that is not allowed; the message names the
            file and the global(s) and keeps torch's own message.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'checkpoint file not found: {path}')
    suffix = path.suffix.lower()
    if suffix == '.safetensors':
        from safetensors.torch import load_file
        try:
            return load_file(str(path), device='cpu')
        except Exception as e:  # safetensors' SafetensorError does not name the file
            raise DamagedCheckpointError(f'cannot read {path} ({path.stat().st_size} bytes): truncated or not a '
                                         f'safetensors file ({type(e).__name__}: {e})') from e
    if suffix not in _TORCH_SUFFIXES:
        raise ValueError(f'cannot read {path}: unknown suffix {suffix!r}; expected .safetensors or '
                         f'one of {_TORCH_SUFFIXES}')
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location='cpu', weights_only=True)
    except (RuntimeError, EOFError, OSError) as e:  # torch's messages do not name the file
        text = ' '.join(str(e).split())
        damaged = (isinstance(e, EOFError) or (isinstance(e, OSError) and e.errno == errno.EINVAL)
                   or any(k in text for k in ('PytorchStreamReader', 'zip archive', 'Ran out of input', 'EOF')))
        if not damaged:
            raise
        raise DamagedCheckpointError(f'cannot read {path} ({path.stat().st_size} bytes): the file is truncated or '
                                     f'not a torch checkpoint (torch: {text.split(". ")[0][:120]}); copy or save '
                                     'it again') from e
    except pickle.UnpicklingError as e:
        refused = _refused_globals(str(e))
        try:  # every unsafe global in the file, found without unpickling it (torch >= 2.5)
            allowed = _allowed_global_names() | {'argparse.Namespace'}
            refused = [g for g in torch.serialization.get_unsafe_globals_in_checkpoint(path)
                       if g not in allowed] or refused
        except Exception:  # noqa: BLE001 - only improves the message; the original error is raised below
            pass
        raise UnsafeCheckpointError(
            f'refused to load {path}: it pickles {", ".join(refused) or "an object"} which safe '
            f'loading (weights_only=True, extra global: argparse.Namespace) does not allow; unpickling those '
            f'would run code from the file, so VideoFM never does. Get the weights from a trusted copy instead: '
            f'a .safetensors or weights-only file from the publisher, or re-save only the tensors of a copy you made '
            f'yourself, in the environment that wrote it (torch.save(model.state_dict(), DST) there), then load '
            f'DST.\ntorch said: {e}') from e


def unwrap_checkpoint(checkpoint: Mapping,
                      source: str = 'the checkpoint') -> Tuple[StateDict, Optional[str], List[str]]:
    """Find the state dict inside a checkpoint.

    Args:
        checkpoint (Mapping): A loaded checkpoint, or already a ``{name: tensor}`` state dict.
        source (str): Its name (file) for error messages.

    Returns:
        tuple: (state dict, the top-level key it came from or None, the other top-level keys).
    """
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f'{source}: a checkpoint must be a dict, got {type(checkpoint).__name__}')
    if checkpoint and all(isinstance(v, Tensor) for v in checkpoint.values()):
        return dict(checkpoint), None, []
    for key in _CONTAINER_KEYS:
        if isinstance(checkpoint.get(key), Mapping) and checkpoint[key]:
            return dict(checkpoint[key]), key, [k for k in checkpoint if k != key]
    raise ValueError(f'found no weights in {source}: neither a {{name: tensor}} dict nor one '
                     f'of the entries {_CONTAINER_KEYS}; top-level keys: {sorted(map(str, checkpoint))[:20]}')


def detect_format(state_dict: Mapping[str, Tensor], source: str = 'the checkpoint') -> str:
    """Name the layout of an unwrapped state dict (``_orig_mod.`` / ``module.`` already stripped); ``source``
    names it in the error.

    Returns:
        str: A key of :data:`FORMATS`.
    """
    keys = list(state_dict)

    def has(prefix):
        return any(k.startswith(prefix) for k in keys)

    if has('vision_encoder.encoder.'):
        return 'umt-stage2'
    if has('encoder.patch_embed.') or has('encoder.blocks.'):
        return 'umt-stage1' if has('clip_decoder.') else 'videomaev2-pretrain'
    if has('patch_embed.projection.') or has('backbone.patch_embed.projection.'):
        return 'mmaction2'
    if has('backbone.patch_embed.') or has('backbone.blocks.'):
        return 'videofm'
    if has('patch_embed.') or has('blocks.'):
        return 'official-finetune'
    raise ValueError(f'{source}: unknown checkpoint layout: no patch embedding or blocks under any known '
                     f'prefix (encoder., vision_encoder.encoder., backbone., none); first keys: {keys[:10]}. '
                     f"Use prefix='...' to select the encoder's part of the checkpoint.")


# ------------------------------------------------------------------------------------------- conversion
def load_label_map(label_map: LabelMap, num_rows: Optional[int] = None) -> List[int]:
    """Read a head label map: for each target class index, the source row (e.g. Kinetics-710 class) to take.

    Args:
        label_map (str | Path | Sequence[int]): A JSON file holding a list of ints, or the list itself.
        num_rows (int, optional): Rows of the source head, to check the indices against.

    Returns:
        list[int]: Source row per target class.
    """
    name = 'label map'
    if isinstance(label_map, (str, Path)):
        name = f'label map {label_map}'
        path = Path(label_map)
        if not path.is_file():
            raise FileNotFoundError(f'label map file not found: {path}')
        with open(path) as f:
            label_map = json.load(f)
    if isinstance(label_map, Tensor):
        label_map = label_map.tolist()
    if not isinstance(label_map, (list, tuple)) or not label_map or \
            not all(isinstance(i, int) and not isinstance(i, bool) for i in label_map):
        raise ValueError(f'{name} must be a non-empty list of ints (source row per target class), '
                         f'got {type(label_map).__name__}')
    bad = [i for i in label_map if i < 0 or (num_rows is not None and i >= num_rows)]
    if bad:
        raise ValueError(f'{name} has indices outside the source head of {num_rows} rows: '
                         f'{bad[:10]}')
    return list(label_map)


def remap_head(weight: Tensor, bias: Optional[Tensor],
               label_map: LabelMap) -> Tuple[Tensor, Optional[Tensor]]:
    """Take the classifier rows of a (Kinetics-710) head that the target label set uses.

    Args:
        weight (Tensor): (K_src, C) classifier weight.
        bias (Tensor, optional): (K_src,).
        label_map (str | Path | Sequence[int]): JSON file or list; entry i is the source row of target class
            i (``label_710to400.json`` etc. of the official repo).

    Returns:
        tuple: weight (K_dst, C) and bias (K_dst,) or None.
    """
    index = torch.as_tensor(load_label_map(label_map, weight.shape[0]), dtype=torch.long)
    return weight[index].clone(), (bias[index].clone() if bias is not None else None)


def resample_pos_embed(pos_embed: Tensor, src_grid: Sequence[int], dst_grid: Sequence[int]) -> Tensor:
    """Resample a learnable position table from one token grid to another (time linear, space bicubic).

    Args:
        pos_embed (Tensor): (1, N, C) or (N, C) with N = T*H*W of ``src_grid``.
        src_grid (Sequence[int]): (T, H, W) the table was trained on.
        dst_grid (Sequence[int]): (T2, H2, W2) wanted.

    Returns:
        Tensor: (1, T2*H2*W2, C) or (T2*H2*W2, C), like the input.
    """
    if pos_embed.dim() == 3:
        if pos_embed.shape[0] != 1:
            raise ValueError(f'pos_embed must be (1, N, C), got {_shape(pos_embed)}')
        return resample_pos_table(pos_embed[0], src_grid, dst_grid)[None]
    if pos_embed.dim() != 2:
        raise ValueError(f'pos_embed must be (1, N, C) or (N, C), got {_shape(pos_embed)}')
    return resample_pos_table(pos_embed, src_grid, dst_grid)


def _strip_wrappers(state_dict: StateDict, report: LoadReport) -> StateDict:
    """Remove ``_orig_mod.`` (torch.compile) anywhere and a ``module.`` (DDP) prefix shared by all keys."""
    out = {}
    for key, value in state_dict.items():
        if not isinstance(value, Tensor):
            report.notes.append(f'skipped non-tensor entry {key!r} ({type(value).__name__})')
            continue
        out[key.replace('_orig_mod.', '')] = value
    if any('_orig_mod.' in k for k in state_dict):
        report.notes.append("stripped the torch.compile prefix '_orig_mod.'")
    if out and all(k.startswith('module.') for k in out):
        out = {k[len('module.'):]: v for k, v in out.items()}
        report.notes.append("stripped the DDP prefix 'module.'")
    return out


def _describe_encoder(encoder: StateDict) -> str:
    w = encoder.get('patch_embed.proj.weight')
    if w is None or w.dim() != 5:
        return ''
    blocks = {int(m.group(1)) for k in encoder for m in [re.match(r'blocks\.(\d+)\.', k)] if m}
    parts = [f'embed_dim {w.shape[0]}', f'depth {max(blocks) + 1 if blocks else 0}', f'patch {w.shape[-1]}',
             f'tubelet {w.shape[2]}']
    if 'blocks.0.gamma_1' in encoder:
        parts.append('layer scale')
    if 'norm.weight' in encoder:
        parts.append('final norm')
    if 'fc_norm.weight' in encoder:
        parts.append('fc_norm (mean pooling)')
    if 'pos_embed' in encoder:
        parts.append(f'pos_embed {_shape(encoder["pos_embed"])}')
    return ', '.join(parts)


def _split(state_dict: StateDict, fmt: str) -> Tuple[StateDict, StateDict, StateDict, StateDict]:
    """Split a stripped state dict into (encoder in VideoViT names, head {'weight','bias'},
    pretraining-only parts under official names, other keys)."""
    encoder, head, pretrain, other = {}, {}, {}, {}
    if fmt in ('videomaev2-pretrain', 'umt-stage1', 'umt-stage2'):
        enc_prefix = 'vision_encoder.encoder.' if fmt == 'umt-stage2' else 'encoder.'
        for key, value in state_dict.items():
            name = key[len(enc_prefix):] if key.startswith(enc_prefix) else None
            if name is not None and _ENCODER_RE.match(name):
                encoder[name] = value
            else:  # decoder, alignment heads, teacher, text tower, non-VideoViT encoder extras
                pretrain[key] = value
        return encoder, head, pretrain, other
    head_prefix = _HEAD_NAMES[fmt]
    # a recognizer checkpoint (backbone.* + cls_head.* + ...) or a backbone-only one
    recognizer = any(k.startswith('backbone.') for k in state_dict)
    for key, value in state_dict.items():
        if key.startswith(head_prefix):
            head[key[len(head_prefix):]] = value
        elif recognizer and not key.startswith('backbone.'):
            other[key] = value  # the rest of a recognizer (other head parameters, neck, ...)
        else:
            if recognizer:
                key = key[len('backbone.'):]
            if fmt == 'mmaction2':
                for pattern, repl in _MMACTION2_RENAMES:
                    key = pattern.sub(repl, key)
            encoder[key] = value
    return encoder, head, pretrain, other


def convert_state_dict(checkpoint: Mapping, target: str = 'backbone', *, prefix: Optional[str] = None,
                       label_map: Optional[LabelMap] = None,
                       source: str = '<state dict>') -> Tuple[StateDict, LoadReport]:
    """Convert a checkpoint of any known format to VideoFM key names. Pure: no model, no file access
    (except reading ``label_map`` when it is a path).

    Args:
        checkpoint (Mapping): A loaded checkpoint (``{'model': ...}``, ``{'module': ...}``,
            ``{'state_dict': ...}``) or a bare state dict.
        target (str): What the result is for:
            ``'backbone'``: VideoViT keys (``patch_embed.proj.weight`` [C, 3, t, p, p], ``blocks.N.*``,
            ``norm`` / ``fc_norm``, ``pos_embed``); heads and pretraining-only parts are dropped.
            ``'recognizer'``: ``backbone.`` + VideoViT keys and the head as ``cls_head.fc_cls.weight/bias``.
            ``'pretrain'``: ``encoder.`` + VideoViT keys plus the pretraining-only parts under their official
            names (``decoder.*``, ``encoder_to_decoder.weight``, ``mask_token``, ``clip_decoder.*``; UMT
            stage 2 keeps ``vision_encoder.clip_decoder.*``, ``clip_teacher.*``, ``text_encoder.*``, ...);
            heads dropped.
        prefix (str, optional): Keep only keys under this prefix, stripped (e.g. ``'backbone.'``), as
            MMEngine's ``PretrainedInit(prefix=...)``. Applied after unwrapping and stripping ``_orig_mod.`` /
            ``module.``.
        label_map (str | Path | Sequence[int], optional): Remap a (Kinetics-710) head, see :func:`remap_head`;
            only with ``target='recognizer'``.
        source (str): Name of the checkpoint, for the report.

    Returns:
        tuple: (state dict, :class:`LoadReport` with ``format``, ``reshaped``, ``dropped`` and ``notes``).
    """
    if target not in TARGETS:
        raise ValueError(f'target must be one of {sorted(TARGETS)}, got {target!r}')
    if label_map is not None and target != 'recognizer':
        raise ValueError(f"label_map remaps a classifier head, which only target='recognizer' keeps "
                         f'(got target={target!r})')
    report = LoadReport(source=source, target=target)
    state_dict, report.container, ignored = unwrap_checkpoint(checkpoint, source)
    if ignored:
        report.notes.append(f'ignored top-level entries: {", ".join(map(str, ignored))}')
    state_dict = _strip_wrappers(state_dict, report)
    if prefix:
        selected = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
        if not selected:
            raise ValueError(f'{source} has no keys under prefix {prefix!r}; first keys: '
                             f'{list(state_dict)[:10]}')
        report.notes.append(f'kept the {len(selected)} of {len(state_dict)} keys under prefix {prefix!r}')
        state_dict = selected
    report.format = detect_format(state_dict, source)
    encoder, head, pretrain, other = _split(state_dict, report.format)
    report.encoder = _describe_encoder(encoder)
    head_src = _HEAD_NAMES.get(report.format, 'head.')
    head_keys = [head_src + k for k in head]

    if label_map is not None:
        if 'weight' not in head:
            raise ValueError(f'label_map given but {source} ({report.format}) has no classifier '
                             f'head ({head_src}weight)')
        old = _shape(head['weight'])
        head['weight'], bias = remap_head(head['weight'], head.get('bias'), label_map)
        if bias is not None:
            head['bias'] = bias
        name = label_map if isinstance(label_map, (str, Path)) else 'the given list'
        for k in head:
            report.reshaped[_RECOGNIZER_HEAD + k] = (f'head remapped {old[0]} -> {head["weight"].shape[0]} '
                                                     f'classes with label map {name}')

    enc_prefix = TARGETS[target]
    out = {enc_prefix + k: v for k, v in encoder.items()}
    if target == 'recognizer':
        out.update({_RECOGNIZER_HEAD + k: v for k, v in head.items()})
        out.update(other)
        report.drop(REASON_PRETRAIN, list(pretrain))
    elif target == 'pretrain':
        out.update(pretrain)
        report.drop(REASON_HEAD, head_keys)
        report.drop(REASON_NOT_BACKBONE, list(other))
    else:
        report.drop(REASON_HEAD, head_keys)
        report.drop(REASON_NOT_BACKBONE, list(other))
        report.drop(REASON_PRETRAIN, list(pretrain))
    if head_keys and target != 'recognizer':
        report.notes.append("the checkpoint has a classifier head; target='recognizer' keeps it")
    report.converted = len(out)
    return out, report



# ------------------------------------------------------------------------------------- UMT stage 2 (whole model)
REASON_TEACHER = ('frozen CLIP teacher (kept outside the model; load it with '
                  'teacher=dict(checkpoint=<this checkpoint>))')
REASON_HF_BUFFER = 'transformers buffer, not a weight (non-persistent since transformers 4.31)'
REASON_POOLER = 'BERT pooler (the stage-2 text encoder has none)'
REASON_NSP = 'BERT next-sentence head (not used)'
_BERT_LN_RENAMES = ((re.compile(r'LayerNorm\.gamma$'), 'LayerNorm.weight'),
                    (re.compile(r'LayerNorm\.beta$'), 'LayerNorm.bias'))
_VISION_POS_RE = re.compile(
    r'^vision_encoder\.(encoder\.)?(pos_embed|img_pos_embed|clip_pos_embed|clip_img_pos_embed)$')


def convert_bert_state_dict(state_dict: Mapping[str, Tensor], report: LoadReport, prefix: str = '',
                            bert: str = 'bert.') -> StateDict:
    """Normalise the transformers-version differences of a BERT (masked-LM) state dict. Pure.

    Under ``prefix`` (e.g. ``'text_encoder.'``): ``LayerNorm.gamma/beta`` (TF-era names) -> ``weight/bias``;
    ``{bert}embeddings.position_ids`` / ``token_type_ids`` buffers dropped (checked to be ``arange`` / zeros);
    ``{bert}pooler.*`` and ``cls.seq_relationship.*`` dropped; a missing ``cls.predictions.decoder.weight`` (tied
    to the word embeddings) and ``cls.predictions.decoder.bias`` (tied to ``cls.predictions.bias``) filled from
    the tensor they are tied to. Keys outside ``prefix`` pass through. Every change is recorded in ``report``.

    Raises:
        ValueError: A ``position_ids`` buffer that is not ``arange`` (a checkpoint that shifted positions).
    """
    out: StateDict = {}
    renamed = 0
    emb = f'{prefix}{bert}embeddings.'
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            out[key] = value
            continue
        new = key
        for pattern, repl in _BERT_LN_RENAMES:
            new = pattern.sub(repl, new)
        renamed += new != key
        if new == emb + 'position_ids':
            if not torch.equal(value.reshape(-1).long(), torch.arange(value.numel())):
                raise ValueError(f'{report.source}: {key} is not arange(0, {value.numel()}); this text encoder '
                                 f'uses other positions than BERT and cannot be loaded as one')
            report.drop(REASON_HF_BUFFER, [key])
        elif new == emb + 'token_type_ids':
            report.drop(REASON_HF_BUFFER, [key])
        elif new.startswith(f'{prefix}{bert}pooler.'):
            report.drop(REASON_POOLER, [key])
        elif new.startswith(f'{prefix}cls.seq_relationship.'):
            report.drop(REASON_NSP, [key])
        else:
            out[new] = value
    if renamed:
        report.notes.append(f'renamed {renamed} TF-era LayerNorm.gamma/beta keys to weight/bias')
    head = f'{prefix}cls.predictions.'
    words = f'{prefix}{bert}embeddings.word_embeddings.weight'
    if any(k.startswith(head) for k in out):
        if head + 'decoder.weight' not in out and words in out:
            out[head + 'decoder.weight'] = out[words]
            report.notes.append(f'{head}decoder.weight: not saved (tied); taken from {words}')
        if head + 'decoder.bias' not in out and head + 'bias' in out:
            out[head + 'decoder.bias'] = out[head + 'bias']
            report.notes.append(f'{head}decoder.bias: not saved (tied); taken from {head}bias')
    return out


def _is_sincos_rows(table: Tensor) -> bool:
    from .layers.pos_embed import sincos_table
    rows = table.reshape(-1, table.shape[-1]).float()
    return torch.allclose(rows, sincos_table(rows.shape[0], rows.shape[1]), atol=1e-4)


def convert_umt_stage2_state_dict(checkpoint: Mapping,
                                  source: str = '<state dict>') -> Tuple[StateDict, LoadReport]:
    """Official UMT stage-2 checkpoint (or a VideoFM ``UMTStage2`` one) -> ``UMTStage2`` state dict. Pure.

    The official names are the model's: ``vision_encoder.encoder.*`` (VideoViT names),
    ``vision_encoder.clip_decoder.*``, ``vision_encoder.pool_norm.*``, ``text_encoder.bert.*``,
    ``text_encoder.cls.predictions.*``, ``vision_proj``, ``text_proj``, ``temp``, ``itm_head``. The conversion:

    * ``clip_teacher.*`` dropped (the teacher lives outside the model's state dict);
    * fixed sinusoid position tables of the vision encoder (``pos_embed``, ``img_pos_embed``, ``clip_pos_embed``)
      dropped (VideoViT regenerates them; a learned table is kept and then refused by the model);
    * downstream checkpoints that stripped ``bert.`` (``text_encoder.embeddings.*``) get it back;
    * the transformers-version differences of :func:`convert_bert_state_dict`.

    Args:
        checkpoint (Mapping): ``{'model': ...}`` (official), ``{'state_dict': ...}`` (MMEngine) or a bare dict.
        source (str): Its name in the report and errors.

    Returns:
        tuple: (state dict, :class:`LoadReport`).

    Raises:
        ValueError: Not a stage-2 layout (no ``vision_encoder.encoder.*``).
    """
    report = LoadReport(source=source, target='umt-stage2')
    state_dict, report.container, ignored = unwrap_checkpoint(checkpoint, source)
    if ignored:
        report.notes.append(f'ignored top-level entries: {", ".join(map(str, ignored))}')
    state_dict = _strip_wrappers(state_dict, report)
    report.format = detect_format(state_dict, source)
    if report.format != 'umt-stage2':
        raise ValueError(f'{source} is a {report.format} checkpoint ({FORMATS[report.format]}), not UMT stage 2 '
                         f'(vision_encoder.encoder.*, text_encoder.*); a UMT stage-1 file initialises the vision '
                         f'encoder only')
    stripped_bert = any(k.startswith('text_encoder.embeddings.') for k in state_dict)
    out: StateDict = {}
    for key, value in state_dict.items():
        if key.startswith(('clip_teacher.', 'vision_encoder.clip_teacher.')):
            report.drop(REASON_TEACHER, [key])
        elif _VISION_POS_RE.match(key) and _is_sincos_rows(value):
            report.drop(REASON_FIXED_POS, [key])
        elif stripped_bert and key.startswith('text_encoder.') and not key.startswith('text_encoder.cls.'):
            out['text_encoder.bert.' + key[len('text_encoder.'):]] = value
        else:
            out[key] = value
    if stripped_bert:
        report.notes.append("text_encoder.* without 'bert.' (a downstream checkpoint): re-prefixed to "
                            'text_encoder.bert.*')
    out = convert_bert_state_dict(out, report, prefix='text_encoder.')
    encoder = {k[len('vision_encoder.encoder.'):]: v for k, v in out.items()
               if k.startswith('vision_encoder.encoder.')}
    report.encoder = _describe_encoder(encoder)
    report.converted = len(out)
    return out, report


# ------------------------------------------------------------------------------------- UMT QA (answer decoder)
#: Stage-2 parts the QA model does not have (the reference's ``UMT_QA`` deletes the projections, ``temp`` and
#: ``itm_head``, builds the vision encoder without ``pool_norm`` and the text encoder without the MLM head).
QA_UNUSED_PREFIXES = ('vision_proj.', 'text_proj.', 'itm_head.', 'vision_encoder.pool_norm.',
                      'vision_encoder.clip_decoder.', 'text_encoder.cls.')
REASON_QA_UNUSED = 'not in the QA model (projections, temp, ITM / MLM heads, pool_norm, alignment heads)'
_TEXT_LAYER_RE = re.compile(r'^text_encoder\.bert\.encoder\.layer\.(\d+)\.(.*)$')


def stage2_to_qa_state_dict(state_dict: Mapping[str, Tensor], fusion_layer: int,
                            report: Optional[LoadReport] = None) -> StateDict:
    """Initialise the answer decoder from a stage-2 text encoder, as the reference's QA fine-tuning start. Pure.

    Adds ``text_decoder.bert.embeddings.*`` (copies of ``text_encoder.bert.embeddings.*``),
    ``text_decoder.bert.encoder.layer.{N - fusion_layer}.*`` (copies of the fusion layers
    ``text_encoder.bert.encoder.layer.N.*``, N >= ``fusion_layer``: self-attention, cross-attention, feed-forward)
    and ``text_decoder.cls.*`` (copies of the MLM head ``text_encoder.cls.*``); every input key is kept.

    Args:
        state_dict (Mapping): A ``UMTStage2`` state dict (:func:`convert_umt_stage2_state_dict`'s output).
        fusion_layer (int): The text encoder's first fusion layer (9 for BERT-base, 19 for BERT-large).
        report (LoadReport, optional): Gets a note with the number of copied tensors.

    Returns:
        dict: The state dict with the ``text_decoder.*`` keys added.
    """
    out: StateDict = dict(state_dict)
    copied = 0
    for key, value in state_dict.items():
        new = None
        m = _TEXT_LAYER_RE.match(key)
        if m is not None:
            if int(m.group(1)) >= fusion_layer:
                new = f'text_decoder.bert.encoder.layer.{int(m.group(1)) - fusion_layer}.{m.group(2)}'
        elif key.startswith('text_encoder.bert.embeddings.') or key.startswith('text_encoder.cls.'):
            new = 'text_decoder.' + key[len('text_encoder.'):]
        if new is not None:
            out[new] = value
            copied += 1
    if report is not None:
        report.notes.append(f'answer decoder initialised from the text encoder ({copied} tensors: embeddings, '
                            f'fusion layers >= {fusion_layer}, MLM head), as the reference')
    return out


def convert_umt_qa_state_dict(checkpoint: Mapping, fusion_layer: int,
                              source: str = '<state dict>') -> Tuple[StateDict, LoadReport]:
    """Any UMT checkpoint a QA model starts from -> ``tasks.qa.UMTQA`` state dict. Pure.

    * An official fine-tuned QA checkpoint: ``text_encoder.*`` without ``bert.`` (re-prefixed to
      ``text_encoder.bert.*``), ``text_decoder.{bert,cls}.*`` (kept; transformers-version differences normalised
      by :func:`convert_bert_state_dict`), ``vision_encoder.encoder.*``.
    * An official / VideoFM stage-2 checkpoint (no ``text_decoder.*``): the decoder is initialised from the fusion
      layers (:func:`stage2_to_qa_state_dict`).
    * A VideoFM ``UMTQA`` state dict: unchanged.

    Then the stage-2 parts the QA model does not have (:data:`QA_UNUSED_PREFIXES`, ``temp``) are dropped (reported).

    Args:
        checkpoint (Mapping): ``{'model': ...}`` (official), ``{'state_dict': ...}`` (MMEngine) or a bare dict.
        fusion_layer (int): The text encoder's first fusion layer.
        source (str): Its name in the report and errors.

    Returns:
        tuple: (state dict, :class:`LoadReport`).
    """
    state_dict, report = convert_umt_stage2_state_dict(checkpoint, source)
    report.target = 'umt-qa'
    if any(k.startswith('text_decoder.') for k in state_dict):
        state_dict = convert_bert_state_dict(state_dict, report, prefix='text_decoder.')
    else:
        state_dict = stage2_to_qa_state_dict(state_dict, fusion_layer, report)
    unused = [k for k in state_dict if k.startswith(QA_UNUSED_PREFIXES) or k == 'temp']
    report.drop(REASON_QA_UNUSED, unused)
    out = {k: v for k, v in state_dict.items() if k not in set(unused)}
    report.converted = len(out)
    return out, report
