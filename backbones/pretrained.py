"""Load a checkpoint of any known format into a model: the layer above :mod:`backbones.checkpoint`.

:func:`load_pretrained` reads a file safely (:func:`~backbones.checkpoint.load_checkpoint_file`), converts it
(:func:`~backbones.checkpoint.convert_state_dict`), fits it to the model (resamples a learnable ``pos_embed``
in time and space, drops a fixed sinusoid table the model regenerates, drops a head with another class count),
loads it with ``strict=False`` and raises where the encoder does not fit; it returns and logs one
:class:`~backbones.checkpoint.LoadReport`. :func:`init_from_pretrained` runs it for
``init_cfg=dict(type='Pretrained', checkpoint=PATH)`` in ``init_weights``.
"""
import logging
import math
from pathlib import Path
from typing import Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .checkpoint import (PARTIAL_LOAD_HINT, REASON_FIXED_POS, REASON_LEARNED_POS, REASON_SHAPE, TARGETS, LabelMap,
                         LoadReport, PartialLoadError, StateDict, Tensor, convert_state_dict, load_checkpoint_file,
                         partial_load_message, resample_pos_embed)
from .checkpoint import _RECOGNIZER_HEAD, _STRICT_ENCODER_PREFIXES, _list_keys, _shape
from .layers.pos_embed import sincos_table

__all__ = ['checkpoint_pos_grid', 'load_pretrained', 'load_pretrained_checkpoint', 'has_pretrained_cfg',
           'init_from_pretrained']



# ------------------------------------------------------------------------------------------ fit and load
def checkpoint_pos_grid(checkpoint: Mapping, num_positions: int,
                        patch_size: int) -> Optional[Tuple[int, int, int]]:
    """Token grid of a saved ``pos_embed``, from the official ``args`` (``num_frames``, ``tubelet_size``,
    ``input_size``) when they are present and consistent with ``num_positions``; else None."""
    args = checkpoint.get('args') if isinstance(checkpoint, Mapping) else None
    if args is None:
        return None
    get = args.get if isinstance(args, Mapping) else (lambda k, d=None: getattr(args, k, d))
    frames, tubelet, size = get('num_frames'), get('tubelet_size'), get('input_size')
    if not all(isinstance(v, int) and v > 0 for v in (frames, tubelet, size)):
        return None
    grid = (frames // tubelet, size // patch_size, size // patch_size)
    return grid if math.prod(grid) == num_positions else None


def _infer_src_grid(num_positions: int, dst_grid: Sequence[int], source: str) -> Tuple[int, int, int]:
    """Grid of a table with ``num_positions`` rows: the model's spatial grid with other frames, or its frames
    with another square spatial grid; raises when neither (or two different ones) fit."""
    t, h, w = dst_grid
    candidates = set()
    if num_positions % (h * w) == 0:
        candidates.add((num_positions // (h * w), h, w))
    if num_positions % t == 0:
        side = math.isqrt(num_positions // t)
        if side * side == num_positions // t:
            candidates.add((t, side, side))
    if len(candidates) != 1:
        raise RuntimeError(f'cannot tell the token grid of the {num_positions}-row pos_embed in '
                           f'{source} (model grid {tuple(dst_grid)}; candidates '
                           f'{sorted(candidates) or "none"}); pass pos_grid=(T, H, W)')
    return candidates.pop()


def _is_fixed_sincos(table: Tensor) -> bool:
    rows = table.reshape(-1, table.shape[-1])
    return torch.allclose(rows.float(), sincos_table(rows.shape[0], rows.shape[1]), atol=1e-5)


def _fit_pos_embed(model: nn.Module, state_dict: StateDict, model_sd: StateDict, report: LoadReport,
                   enc_prefix: str, strict: bool, src_grid: Optional[Sequence[int]],
                   checkpoint: Mapping) -> None:
    key = enc_prefix + 'pos_embed'
    if key not in state_dict:
        if key in model_sd:
            report.notes.append(f'{key}: not in the checkpoint; keeps its initialisation (sinusoid)')
        return
    table = state_dict[key]
    if key not in model_sd:
        if _is_fixed_sincos(table):
            report.drop(REASON_FIXED_POS, [key])
            del state_dict[key]
            return
        if strict:
            raise PartialLoadError(f'{report.source} has a learned {key} {_shape(table)} but the model '
                               f"uses the fixed sinusoid: build VideoViT with pos_embed='learnable' (or pass "
                               f'strict_encoder=False to drop it)')
        report.drop(REASON_LEARNED_POS, [key])
        del state_dict[key]
        return
    want = model_sd[key].shape
    if table.shape == want:
        return
    if table.dim() != 3 or table.shape[-1] != want[-1]:
        return  # a width mismatch: reported with the other encoder shape mismatches
    encoder = model.get_submodule(enc_prefix.rstrip('.')) if enc_prefix else model
    dst_grid = getattr(encoder, 'default_grid', None)
    if dst_grid is None:
        raise RuntimeError(f'cannot resample {key} of {report.source}: the model has no '
                           f'default_grid')
    patch = state_dict.get(enc_prefix + 'patch_embed.proj.weight')
    patch_size = patch.shape[-1] if patch is not None else getattr(encoder, 'patch_size', 16)
    if src_grid is None:
        src_grid = checkpoint_pos_grid(checkpoint, table.shape[1], patch_size)
    if src_grid is None:
        src_grid = _infer_src_grid(table.shape[1], dst_grid, report.source)
    if math.prod(src_grid) != table.shape[1]:
        raise RuntimeError(f'pos_grid {tuple(src_grid)} does not match the {table.shape[1]}-row '
                           f'{key} of {report.source}')
    state_dict[key] = resample_pos_embed(table, src_grid, dst_grid)
    report.reshaped[key] = (f'resampled {_shape(table)} -> {list(want)} (grid {tuple(src_grid)} -> '
                            f'{tuple(dst_grid)})')


def _is_strict_encoder_key(key: str, enc_prefix: str) -> bool:
    return key.startswith(enc_prefix) and key[len(enc_prefix):].startswith(_STRICT_ENCODER_PREFIXES)


def _fit_to_model(model: nn.Module, state_dict: StateDict, report: LoadReport, strict: bool,
                  src_grid: Optional[Sequence[int]], checkpoint: Mapping) -> StateDict:
    """Make ``state_dict`` loadable into ``model``; raise if the encoder does not fit (``strict``)."""
    enc_prefix = TARGETS[report.target]
    model_sd = model.state_dict()
    model_encoder = [k for k in model_sd if _is_strict_encoder_key(k, enc_prefix)]
    if not model_encoder:
        hint = {'backbone': "a VideoViT (for a recognizer use target='recognizer')",
                'recognizer': "a model with a 'backbone' VideoViT", 'pretrain': "a model with an 'encoder'"}
        raise RuntimeError(f'target={report.target!r} loads into {hint[report.target]}, but '
                           f'{type(model).__name__} has no {enc_prefix}patch_embed.* / {enc_prefix}blocks.* '
                           f'keys')
    state_dict = dict(state_dict)
    _fit_pos_embed(model, state_dict, model_sd, report, enc_prefix, strict, src_grid, checkpoint)

    mismatched = [k for k, v in state_dict.items() if k in model_sd and v.shape != model_sd[k].shape]
    enc_mismatch = [k for k in mismatched
                    if _is_strict_encoder_key(k, enc_prefix) or k == enc_prefix + 'pos_embed']
    enc_missing = [k for k in model_encoder if k not in state_dict]
    enc_surplus = [k for k in state_dict if _is_strict_encoder_key(k, enc_prefix) and k not in model_sd]
    if strict and (enc_mismatch or enc_missing or enc_surplus):
        problems = []
        if enc_mismatch:
            shapes = [f'{k} checkpoint {_shape(state_dict[k])} vs model {_shape(model_sd[k])}'
                      for k in enc_mismatch[:3]]
            more = f' (+{len(enc_mismatch) - 3} more)' if len(enc_mismatch) > 3 else ''
            problems.append('shape mismatch: ' + '; '.join(shapes) + more)
        if enc_missing:
            problems.append(f'missing in the checkpoint: {_list_keys(enc_missing, 5)}')
        if enc_surplus:
            problems.append(f'not in the model: {_list_keys(enc_surplus, 5)}')
        raise PartialLoadError(f'{report.source} does not fit the encoder of {type(model).__name__}: '
                           + ' | '.join(problems)
                           + f'. Checkpoint ({report.format}): {report.encoder or "?"}. Build the model '
                           f'with the same architecture, or pass strict_encoder=False ({PARTIAL_LOAD_HINT}).')
    for key in mismatched:
        if key.startswith(_RECOGNIZER_HEAD) and key.endswith('weight'):
            report.notes.append(f'classifier head not loaded: checkpoint has {state_dict[key].shape[0]} '
                                f'classes, the model {model_sd[key].shape[0]} (a Kinetics-710 head remaps '
                                f'with label_map=)')
        else:
            report.notes.append(f'{key} not loaded: checkpoint {_shape(state_dict[key])} vs model '
                                f'{_shape(model_sd[key])}')
    if any(k.startswith(_RECOGNIZER_HEAD) for k in mismatched):  # a head's bias goes with its weight
        mismatched += [k for k in state_dict if k.startswith(_RECOGNIZER_HEAD) and k not in mismatched]
    report.drop(REASON_SHAPE, mismatched)
    return {k: v for k, v in state_dict.items() if k not in mismatched}


def load_pretrained(model: nn.Module, path: Union[str, Path], *, target: str = 'backbone',
                    strict_encoder: bool = True, require_all: bool = False, prefix: Optional[str] = None,
                    label_map: Optional[LabelMap] = None, pos_grid: Optional[Sequence[int]] = None,
                    logger=None) -> LoadReport:
    """Load a checkpoint of any known format (see :data:`FORMATS`) into a model.

    File -> :func:`load_checkpoint_file` -> :func:`convert_state_dict` -> fit to the model (resample a
    learnable ``pos_embed``, drop a fixed sinusoid table, drop a head with another class count) ->
    ``model.load_state_dict(strict=False)``.

    Args:
        model (nn.Module): A VideoViT (``target='backbone'``), a recognizer with ``backbone`` and
            ``cls_head.fc_cls`` (``'recognizer'``) or a pretraining model with ``encoder`` (``'pretrain'``).
        path (str | Path): Checkpoint file.
        target (str): See :func:`convert_state_dict`.
        strict_encoder (bool): Raise if an encoder key (``patch_embed.*``, ``blocks.*``, a learned
            ``pos_embed``) is missing, surplus or of the wrong shape. With False such keys are dropped and
            reported.
        require_all (bool): Raise :class:`~backbones.checkpoint.PartialLoadError` naming the keys when any
            model weight would stay unloaded or of the wrong shape (a head of another class count, a final norm
            the checkpoint lacks): loads for evaluation and demos. Nothing is loaded then.
        prefix (str, optional): Keep only the checkpoint keys under this prefix (e.g. ``'backbone.'``).
        label_map (str | Path | Sequence[int], optional): Remap a Kinetics-710 head (``target='recognizer'``).
        pos_grid (Sequence[int], optional): (T, H, W) token grid of a saved ``pos_embed``; by default taken
            from the checkpoint's ``args`` or inferred from the model's grid.
        logger (logging.Logger | str, optional): Where to log the report (MMEngine ``print_log``); default
            the current MMEngine logger.

    Returns:
        LoadReport: With ``loaded``, ``missing``, ``unexpected`` filled in.

    Raises:
        RuntimeError: The encoder does not fit (names the file, the first keys and both shapes).
    """
    return load_pretrained_checkpoint(model, load_checkpoint_file(path), source=str(path), target=target,
                                      strict_encoder=strict_encoder, require_all=require_all, prefix=prefix,
                                      label_map=label_map, pos_grid=pos_grid, logger=logger)


def load_pretrained_checkpoint(model: nn.Module, checkpoint: Mapping, *, source: str, target: str = 'backbone',
                               strict_encoder: bool = True, require_all: bool = False, prefix: Optional[str] = None,
                               label_map: Optional[LabelMap] = None, pos_grid: Optional[Sequence[int]] = None,
                               logger=None) -> LoadReport:
    """:func:`load_pretrained` for a checkpoint already read with :func:`load_checkpoint_file`; ``source``
    names it in the report and in errors."""
    from mmengine.logging import print_log
    path = source
    state_dict, report = convert_state_dict(checkpoint, target, prefix=prefix, label_map=label_map,
                                            source=str(path))
    converted = state_dict
    state_dict = _fit_to_model(model, state_dict, report, strict_encoder, pos_grid, checkpoint)
    if require_all:
        model_sd = model.state_dict()
        mismatched = [k for k in report.dropped.get(REASON_SHAPE, []) if k in model_sd]
        missing = [k for k in model_sd
                   if k not in state_dict and k not in mismatched and not k.endswith('num_batches_tracked')]
        if missing or mismatched:
            print_log(str(report), logger=logger if logger is not None else 'current', level=logging.WARNING)
            raise PartialLoadError(partial_load_message(
                path, type(model).__name__, missing, mismatched, {k: v.shape for k, v in converted.items()},
                {k: v.shape for k, v in model_sd.items()}))
    result = model.load_state_dict(state_dict, strict=False)
    report.missing = list(result.missing_keys)
    report.unexpected = list(result.unexpected_keys)
    report.loaded = [k for k in state_dict if k not in set(report.unexpected)]
    enc_prefix = TARGETS[target]
    if enc_prefix + 'norm.weight' in report.unexpected and enc_prefix + 'fc_norm.weight' in report.missing:
        report.notes.append('the checkpoint has a final norm (pretraining encoder) and the model mean-pools '
                            'into fc_norm: fc_norm keeps its initialisation, as in official fine-tuning')
    elif enc_prefix + 'fc_norm.weight' in report.unexpected and enc_prefix + 'norm.weight' in report.missing:
        report.notes.append('the checkpoint has fc_norm (use_mean_pooling=True) but the model has a final '
                            'norm (use_mean_pooling=False): norm keeps its initialisation')
    if not report.loaded:
        raise RuntimeError(f'nothing from {path} ({report.format}) matched {type(model).__name__}')
    print_log(str(report), logger=logger if logger is not None else 'current', level=logging.INFO)
    return report


# --------------------------------------------------------------------------------------- init_cfg hook
def _is_pretrained_type(cfg) -> bool:
    if not isinstance(cfg, Mapping):
        return False
    from mmengine.model.weight_init import PretrainedInit
    return cfg.get('type') in ('Pretrained', PretrainedInit)


def has_pretrained_cfg(init_cfg) -> bool:
    """Whether an ``init_cfg`` (dict or list of dicts) contains ``type='Pretrained'``."""
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(_is_pretrained_type(c) for c in cfgs)


def init_from_pretrained(module: nn.Module, init_cfg, target: str = 'backbone') -> Optional[LoadReport]:
    """Run ``init_cfg=dict(type='Pretrained', checkpoint=PATH, prefix=None)`` through :func:`load_pretrained`
    instead of MMEngine's ``load_checkpoint`` (which neither converts nor checks), for ``init_weights``.

    Other entries of a list ``init_cfg`` are applied first with MMEngine's ``initialize``. Besides
    ``checkpoint`` and ``prefix`` the config accepts ``label_map``, ``strict_encoder`` and ``pos_grid`` (see
    :func:`load_pretrained`) and ``map_location`` (weights are always read on the CPU and copied to wherever
    the module is). Keeps MMEngine's bookkeeping (``_params_init_info``, ``is_init``).

    Args:
        module (nn.Module): The module to initialise (a VideoViT for ``target='backbone'``).
        init_cfg (dict | list[dict]): Its ``init_cfg``.
        target (str): See :func:`convert_state_dict`.

    Returns:
        LoadReport, or None when the module was already initialised (a warning is logged, like MMEngine).
    """
    from mmengine.logging import print_log
    from mmengine.model.weight_init import initialize, update_init_info
    cfgs = list(init_cfg) if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    pretrained = [c for c in cfgs if _is_pretrained_type(c)]
    if len(pretrained) != 1:
        raise ValueError(f"init_cfg must hold exactly one type='Pretrained' entry, got {init_cfg}")
    if getattr(module, '_is_init', False):
        print_log(f'init_weights of {type(module).__name__} has been called more than once.',
                  logger='current', level=logging.WARNING)
        return None
    others = [c for c in cfgs if not _is_pretrained_type(c)]
    if others:
        initialize(module, others)
    cfg = dict(pretrained[0])
    cfg.pop('type')
    if 'checkpoint' not in cfg:
        raise ValueError(f"init_cfg type='Pretrained' needs checkpoint=PATH, got {pretrained[0]}")
    checkpoint = cfg.pop('checkpoint')
    cfg.pop('map_location', None)  # always CPU first; load_state_dict copies onto the module's device
    kwargs = {k: cfg.pop(k) for k in ('prefix', 'label_map', 'strict_encoder', 'pos_grid') if k in cfg}
    if cfg:
        raise ValueError(f"unknown keys {sorted(cfg)} in init_cfg type='Pretrained' (accepted: "
                         f'checkpoint, prefix, map_location, label_map, strict_encoder, pos_grid)')
    report = load_pretrained(module, checkpoint, target=target, **kwargs)
    if hasattr(module, '_params_init_info'):
        update_init_info(module, init_info=f'backbones.pretrained.load_pretrained: {checkpoint}')
    module._is_init = True
    return report
