"""An EMA that averages only the trainable parameters (frozen encoders: no copy of their weights)."""
from copy import deepcopy
from typing import Optional

import torch
from mmengine.model import ExponentialMovingAverage
from torch import nn

from backbones.registry import MODELS

__all__ = ['TrainableEMA']


@MODELS.register_module()
class TrainableEMA(ExponentialMovingAverage):
    """MMEngine's :class:`~mmengine.model.ExponentialMovingAverage` (same update rule, same use by ``EMAHook``:
    ``dict(type='EMAHook', ema_type='TrainableEMA', momentum=...)``) for models with frozen parameters.

    The averaged copy shares every frozen parameter (``requires_grad=False`` when the EMA is built) with the
    source model instead of deep-copying it, and only the trainable parameters are averaged. A frozen 1B-parameter
    encoder (end-to-end TAD) thus costs no memory and no time in the EMA; ``EMAHook`` swapping a shared
    parameter with itself is a no-op. Buffers stay in sync with the source model as in MMEngine.

    Args:
        model (nn.Module): The model (unwrapped).
        momentum (float): MMEngine's momentum (``1 - decay``).
        interval (int): Update every ``interval`` steps.
        device (torch.device, optional): Where the averaged trainable copies live.
        update_buffers (bool): Average the buffers too.
    """

    def __init__(self, model: nn.Module, momentum: float = 0.0002, interval: int = 1,
                 device: Optional[torch.device] = None, update_buffers: bool = False) -> None:
        nn.Module.__init__(self)
        if not 0.0 < momentum < 1.0:
            raise ValueError(f'momentum must be in range (0, 1), got {momentum}')
        frozen = [p for p in model.parameters() if not p.requires_grad]
        memo = {id(p): p for p in frozen}  # deepcopy returns these objects themselves: shared, not copied
        self.module = deepcopy(model, memo)
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        for n, p in self.module.named_parameters():
            if n in trainable:
                p.requires_grad_(False)
        if device is not None:
            for n, p in self.module.named_parameters():
                if n in trainable:
                    p.data = p.data.to(device)
        self.interval = interval
        self.register_buffer('steps', torch.tensor(0, dtype=torch.long, device=device))
        self.update_buffers = update_buffers
        self.momentum = momentum
        params = {n: p for n, p in self.module.named_parameters() if n in trainable}
        if update_buffers:
            params.update(dict(self.module.named_buffers()))
        self.avg_parameters = params

    def update_parameters(self, model: nn.Module) -> None:
        src = dict(model.named_parameters())
        if self.update_buffers:
            src.update(dict(model.named_buffers()))
        if self.steps == 0:
            for k, p_avg in self.avg_parameters.items():
                p_avg.data.copy_(src[k].data)
        elif self.steps % self.interval == 0:
            for k, p_avg in self.avg_parameters.items():
                if p_avg.dtype.is_floating_point:
                    self.avg_func(p_avg.data, src[k].data.to(p_avg.device), self.steps)
        if not self.update_buffers:
            for b_avg, b_src in zip(self.module.buffers(), model.buffers()):
                b_avg.data.copy_(b_src.data.to(b_avg.device))
        self.steps += 1
