from contextlib import contextmanager
from typing import Union

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from backbones.registry import OPTIM_WRAPPERS


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
