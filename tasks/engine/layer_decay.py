"""Layer-wise learning-rate decay (the VideoMAE V2 / UMT fine-tuning recipe) as an MMEngine constructor.

Config usage::

    optim_wrapper = dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=7e-4, betas=(0.9, 0.999), weight_decay=0.05),
        constructor='LayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(layer_decay_rate=0.75))

Layer ids come from the backbone (``layer_ids()``, ``num_layers``, ``no_weight_decay()``), never from
parsing parameter names, so any backbone that implements those methods gets the official recipe.
"""
import inspect
import logging
from collections import defaultdict
from typing import Dict, List, Optional, Tuple

from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from torch import nn

from backbones.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS

__all__ = ['LayerDecayOptimWrapperConstructor']


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor:
    """Build an optimizer wrapper whose parameter groups follow the official layer-wise lr decay.

    With ``L = backbone.num_layers`` and ``id = backbone.layer_ids()[name]`` (0 for the embedding,
    ``i + 1`` for block ``i``, ``L + 1`` for what follows the blocks), a parameter gets

    * ``lr = base_lr * lr_scale`` with ``lr_scale = layer_decay_rate ** (L + 1 - id)``;
    * ``weight_decay = 0`` if it is 1-D (biases, norms), its name ends in ``.bias`` or the backbone lists
      it in ``no_weight_decay()``; the optimizer's ``weight_decay`` otherwise.

    Parameters outside the backbone (heads, necks) get id ``L + 1`` (scale 1). Parameters with
    ``requires_grad=False`` are left out. Parameters are grouped by (layer id, decay / no decay); every
    group carries ``lr``, ``lr_scale``, ``weight_decay`` and ``layer_id``. Groups are ordered from the top
    layer down, so the first group (the one MMEngine logs as ``lr``) has scale 1. MMEngine's parameter
    schedulers scale every group's lr by the same factor, so warmup and cosine schedules keep the ratios.

    The backbone is ``model.backbone`` if the model has one, else the model itself; a wrapper with
    ``.module`` (DDP) is unwrapped first.

    Args:
        optim_wrapper_cfg (dict): Optimizer wrapper config with an ``optimizer`` entry that sets ``lr`` and
            ``weight_decay`` (use 0 to disable weight decay); ``type`` defaults to ``'OptimWrapper'``.
        paramwise_cfg (dict): ``dict(layer_decay_rate=r)`` with ``0 < r <= 1``; no other keys.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None):
        if not isinstance(optim_wrapper_cfg, dict):
            raise TypeError(f'optim_wrapper_cfg must be a dict, got {type(optim_wrapper_cfg).__name__}')
        if 'optimizer' not in optim_wrapper_cfg:
            raise KeyError('optim_wrapper_cfg must contain an "optimizer" config')
        paramwise_cfg = dict(paramwise_cfg or {})
        if 'layer_decay_rate' not in paramwise_cfg:
            raise KeyError('LayerDecayOptimWrapperConstructor needs paramwise_cfg=dict(layer_decay_rate=...)')
        unknown = sorted(set(paramwise_cfg) - {'layer_decay_rate'})
        if unknown:
            raise KeyError(f'LayerDecayOptimWrapperConstructor got unknown paramwise_cfg keys {unknown}; '
                           'only layer_decay_rate is supported')
        self.layer_decay_rate = float(paramwise_cfg['layer_decay_rate'])
        if not 0 < self.layer_decay_rate <= 1:
            raise ValueError(f'layer_decay_rate must be in (0, 1], got {self.layer_decay_rate}')

        self.optim_wrapper_cfg = dict(optim_wrapper_cfg)
        self.optimizer_cfg = dict(self.optim_wrapper_cfg.pop('optimizer'))
        for key in ('lr', 'weight_decay'):
            if self.optimizer_cfg.get(key) is None:
                raise KeyError(f'the optimizer config must set {key!r} explicitly for layer-wise lr decay '
                               f'(got {self.optimizer_cfg})')
        self.base_lr = float(self.optimizer_cfg['lr'])
        self.base_wd = float(self.optimizer_cfg['weight_decay'])

    # ------------------------------------------------------------------------------------------ groups
    @staticmethod
    def _find_backbone(model: nn.Module) -> nn.Module:
        """``model.backbone`` if the model has one, else the model itself."""
        backbone = getattr(model, 'backbone', None)
        return backbone if isinstance(backbone, nn.Module) else model

    def param_groups(self, model: nn.Module) -> List[dict]:
        """Parameter groups for ``model`` (already unwrapped from DDP).

        Returns:
            list[dict]: One dict per (layer id, decay / no decay) with keys ``params``, ``lr``,
            ``lr_scale``, ``weight_decay``, ``layer_id``, ordered by decreasing layer id.
        """
        backbone = self._find_backbone(model)
        missing = [m for m in ('layer_ids', 'num_layers', 'no_weight_decay') if not hasattr(backbone, m)]
        if missing:
            raise TypeError(
                f'LayerDecayOptimWrapperConstructor: backbone {type(backbone).__name__} lacks {missing}; '
                'layer-wise lr decay is driven by backbone methods, not parameter names: implement '
                'layer_ids() (parameter name -> layer id), num_layers and no_weight_decay()')
        num_layers = int(backbone.num_layers)
        layer_ids: Dict[str, int] = dict(backbone.layer_ids())
        no_wd = set(backbone.no_weight_decay())
        unknown = sorted(no_wd - set(layer_ids))
        if unknown:
            raise KeyError(f'{type(backbone).__name__}.no_weight_decay() names unknown parameters {unknown}')
        ids_by_param, skip_wd = {}, set()
        for name, p in backbone.named_parameters():
            if name not in layer_ids:
                raise KeyError(f'{type(backbone).__name__}.layer_ids() has no entry for parameter {name!r}')
            if not 0 <= layer_ids[name] <= num_layers + 1:
                raise ValueError(f'layer id {layer_ids[name]} of {name!r} is outside [0, {num_layers + 1}]')
            ids_by_param[id(p)] = layer_ids[name]
            if name in no_wd:
                skip_wd.add(id(p))

        groups: Dict[Tuple[int, bool], dict] = {}
        names = defaultdict(list)
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            layer_id = ids_by_param.get(id(p), num_layers + 1)  # outside the backbone: the top layer
            no_decay = p.ndim == 1 or name.endswith('.bias') or id(p) in skip_wd
            key = (layer_id, not no_decay)
            if key not in groups:
                scale = self.layer_decay_rate ** (num_layers + 1 - layer_id)
                groups[key] = dict(params=[], lr=self.base_lr * scale, lr_scale=scale,
                                   weight_decay=0. if no_decay else self.base_wd, layer_id=layer_id)
            groups[key]['params'].append(p)
            names[key].append(name)

        ordered = sorted(groups, key=lambda k: (-k[0], not k[1]))
        for key in ordered:
            g = groups[key]
            print_log(f'layer decay group layer_id={g["layer_id"]} {"decay" if key[1] else "no_decay"}: '
                      f'lr_scale={g["lr_scale"]:.4g} lr={g["lr"]:.4g} weight_decay={g["weight_decay"]} '
                      f'tensors={len(g["params"])} numel={sum(p.numel() for p in g["params"])} '
                      f'params={names[key]}', logger='current', level=logging.DEBUG)
        print_log(f'LayerDecayOptimWrapperConstructor: {len(ordered)} parameter groups, '
                  f'layer_decay_rate={self.layer_decay_rate}, {num_layers} layers', logger='current',
                  level=logging.INFO)
        return [groups[key] for key in ordered]

    # ------------------------------------------------------------------------------------------ build
    def __call__(self, model: nn.Module) -> OptimWrapper:
        """Build the optimizer over :meth:`param_groups` and wrap it as configured."""
        if hasattr(model, 'module'):
            model = model.module
        optimizer_cfg = dict(self.optimizer_cfg)
        optimizer_cls = optimizer_cfg['type']
        if isinstance(optimizer_cls, str):
            optimizer_cls = OPTIMIZERS.get(optimizer_cls)
            if optimizer_cls is None:
                raise KeyError(f'optimizer {self.optimizer_cfg["type"]!r} is not registered')
        # the parameter argument is not called `params` everywhere (e.g. `model_params`)
        first_arg = next(iter(inspect.signature(optimizer_cls).parameters))
        optimizer_cfg[first_arg] = self.param_groups(model)
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        wrapper_cfg = dict(self.optim_wrapper_cfg)
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(wrapper_cfg, default_args=dict(optimizer=optimizer))
