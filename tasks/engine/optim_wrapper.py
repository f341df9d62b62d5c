"""Optimiser wrappers: bfloat16 / float16 autocast without a loss scaler (:class:`AutocastOptimWrapper`, any
device) and the non-finite loss check (:class:`NonFiniteLossOptimWrapper`, composed with any wrapper by
:func:`with_non_finite_check`)."""
import logging
import os.path as osp
from contextlib import contextmanager
from typing import Dict, Optional, Union

import torch
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from torch import nn

from backbones.registry import OPTIM_WRAPPERS

__all__ = ['AutocastOptimWrapper', 'NonFiniteLossOptimWrapper', 'with_non_finite_check']


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """Mixed precision without a loss scaler: ``torch.autocast`` around the forward pass.

    MMEngine's ``AmpOptimWrapper`` asserts a GPU. This wrapper autocasts on any device type; with
    bfloat16 (the default) no loss scaling is needed. ``tools/train.py --amp`` picks it on machines
    without CUDA.

    Args:
        dtype (str | torch.dtype): Autocast dtype, ``'bfloat16'`` (default) or ``'float16'``.
        device_type (str, optional): ``'cpu'`` or ``'cuda'``; default: CUDA if available, else CPU.
        **kwargs: Passed to :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16', device_type: str = None, **kwargs):
        super().__init__(**kwargs)
        self.cast_dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        if not isinstance(self.cast_dtype, torch.dtype):
            raise TypeError(f'dtype must name a torch dtype, got {dtype!r}')
        self.device_type = device_type or ('cuda' if torch.cuda.is_available() else 'cpu')

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast(self.device_type, dtype=self.cast_dtype):
            yield


@OPTIM_WRAPPERS.register_module()
class NonFiniteLossOptimWrapper(OptimWrapper):
    """Catch a NaN / Inf training loss before it reaches the weights: ``update_params`` checks the loss before
    backward and the step.

    Every VideoFM config gets the check through ``non_finite_loss = dict(policy='raise')`` in
    ``configs/_base_/default_runtime.py``: :class:`tasks.engine.runner.VideoFMRunner` composes this class with
    whatever wrapper the config names (``OptimWrapper``, ``AmpOptimWrapper``, ``AutocastOptimWrapper``, ...; see
    :func:`with_non_finite_check`), so ``--amp`` and custom wrappers keep their own backward and step. It can also
    be named directly: ``optim_wrapper = dict(type='NonFiniteLossOptimWrapper', non_finite_policy='skip', ...)``.

    Args:
        non_finite_policy (str): ``'raise'`` (default): stop with a message naming the epoch, iteration, loss and
            the last good checkpoint (nothing more is saved, so that checkpoint stays the latest). ``'skip'``: drop
            the step (zero the gradients, no update), warn and count it (``train/nonfinite_skipped`` in the
            message hub).
        max_consecutive_skips (int): With ``'skip'``, raise after this many non-finite steps in a row (the run
            has diverged).
        work_dir (str, optional): The run's work dir, whose ``last_checkpoint`` file names the last good
            checkpoint (the Runner fills it in); without it the message hub's ``last_ckpt`` is named.
        **kwargs: Arguments of the wrapper it is composed with (``optimizer``, ``accumulative_counts``,
            ``clip_grad``, ``loss_scale``, ``dtype``, ...).
    """

    def __init__(self, *args, non_finite_policy: str = 'raise', max_consecutive_skips: int = 20,
                 work_dir: Optional[str] = None, **kwargs) -> None:
        if non_finite_policy not in ('raise', 'skip'):
            raise ValueError(f"non_finite_policy must be 'raise' or 'skip', got {non_finite_policy!r}")
        if max_consecutive_skips < 1:
            raise ValueError(f'max_consecutive_skips must be >= 1, got {max_consecutive_skips}')
        super().__init__(*args, **kwargs)
        self.non_finite_policy = non_finite_policy
        self.max_consecutive_skips = max_consecutive_skips
        self.work_dir = work_dir
        self.skipped = self.consecutive = 0

    def update_params(self, loss: torch.Tensor, *args, **kwargs) -> None:
        """The wrapper's ``update_params`` (backward, step, zero_grad) if ``loss`` is finite; otherwise raise, or
        zero the gradients and skip the step (``non_finite_policy='skip'``).

        Args:
            loss (torch.Tensor): The training loss (any shape; every element must be finite).
            *args, **kwargs: ``step_kwargs`` / ``zero_kwargs`` of ``OptimWrapper.update_params``.
        """
        if torch.isfinite(loss).all():
            self.consecutive = 0
            return super().update_params(loss, *args, **kwargs)
        self._non_finite(float(loss.detach().float().reshape(-1)[0]))
        self.zero_grad()

    def _last_checkpoint(self) -> str:
        last = osp.join(self.work_dir, 'last_checkpoint') if self.work_dir else None
        if last is not None and osp.isfile(last):
            with open(last) as f:
                return f.read().strip()
        return self.message_hub.get_info('last_ckpt') or 'none saved yet'

    def _non_finite(self, value: float) -> None:
        hub = self.message_hub
        where = f"epoch {(hub.get_info('epoch') or 0) + 1}, iter {(hub.get_info('iter') or 0) + 1}"
        if self.non_finite_policy == 'raise' or self.consecutive + 1 >= self.max_consecutive_skips:
            reason = ('' if self.non_finite_policy == 'raise' else
                      f' ({self.consecutive + 1} non-finite steps in a row with policy skip)')
            raise FloatingPointError(
                f'non-finite training loss {value} at {where}{reason}; stopped before it reached the weights. '
                f'Last good checkpoint: {self._last_checkpoint()} (continue with tools/train.py CONFIG --resume). '
                "Lower the learning rate, check the data, or set non_finite_loss.policy='skip' in the config.")
        self.skipped += 1
        self.consecutive += 1
        hub.update_scalar('train/nonfinite_skipped', self.skipped)
        print_log(f'non-finite training loss {value} at {where}: step skipped ({self.skipped} so far, '
                  f'{self.consecutive} in a row)', logger='current', level=logging.WARNING)


#: Wrapper class -> the same class with the check (OptimWrapper's is NonFiniteLossOptimWrapper itself).
_COMPOSED: Dict[type, type] = {OptimWrapper: NonFiniteLossOptimWrapper}


def with_non_finite_check(optim_wrapper_cfg: dict, policy: str = 'raise', max_consecutive_skips: int = 20,
                          work_dir: Optional[str] = None) -> dict:
    """An optimiser wrapper config whose wrapper also checks the loss (:class:`NonFiniteLossOptimWrapper`).

    The config's wrapper class ``W`` (``type``, default ``OptimWrapper``) becomes the subclass
    ``NonFiniteLoss<W>(NonFiniteLossOptimWrapper, W)``, so ``W``'s own backward, step and autocast stay as they
    are. A wrapper that already checks the loss keeps its settings; settings the config gives
    (``non_finite_policy``, ``max_consecutive_skips``) win over the arguments here.

    Args:
        optim_wrapper_cfg (dict): One optimiser wrapper's config (with an ``optimizer`` entry).
        policy (str): ``'raise'`` or ``'skip'`` (see :class:`NonFiniteLossOptimWrapper`).
        max_consecutive_skips (int): See :class:`NonFiniteLossOptimWrapper`.
        work_dir (str, optional): The run's work dir (names the last good checkpoint).

    Returns:
        dict: A new config; its ``type`` is the composed class.
    """
    cfg = dict(optim_wrapper_cfg)
    wrapper = cfg.get('type', 'OptimWrapper')
    cls = OPTIM_WRAPPERS.get(wrapper) if isinstance(wrapper, str) else wrapper
    if not isinstance(cls, type) or not issubclass(cls, OptimWrapper):
        return cfg  # not a single optimiser wrapper (or an unknown type, which the build reports)
    if not issubclass(cls, NonFiniteLossOptimWrapper):
        if cls not in _COMPOSED:
            _COMPOSED[cls] = type(f'NonFiniteLoss{cls.__name__}', (NonFiniteLossOptimWrapper, cls), dict(
                __module__=__name__, __doc__=f'``{cls.__name__}`` with the non-finite loss check of '
                ':class:`NonFiniteLossOptimWrapper`.'))
        cfg['type'] = _COMPOSED[cls]
    cfg.setdefault('non_finite_policy', policy)
    cfg.setdefault('max_consecutive_skips', max_consecutive_skips)
    cfg.setdefault('work_dir', work_dir)
    return cfg
