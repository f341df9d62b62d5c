"""Training machinery shared by every task, on top of MMEngine.

* :mod:`.runner`: ``VideoFMRunner`` (atomic checkpoint files, official / ``.safetensors`` checkpoints, the
  non-finite loss check) and :func:`load_model_checkpoint` (also used by the demos).
* :mod:`.hooks`: ``EpochSeedHook``, ``CurvesHook``, ``SkippedSamplesHook``.
* :mod:`.optim_wrapper`: ``AutocastOptimWrapper``, ``NonFiniteLossOptimWrapper``.
* :mod:`.layer_decay`: ``LayerDecayOptimWrapperConstructor`` (layer-wise lr decay).
* :mod:`.config_check`: :func:`check_config`, run by the tools before anything is built.
* :mod:`.fsdp`: ``VideoFMFSDP`` (FSDP2 sharded training as an MMEngine model wrapper) and sharded checkpoints.
* :mod:`.ema`: ``TrainableEMA`` (``EMAHook`` averaging only trainable weights; frozen ones shared, not copied).
"""
from .config_check import ConfigError, check_config
from .fsdp import VideoFMFSDP
from .hooks import CurvesHook, EpochSeedHook, SkippedSamplesHook
from .layer_decay import LayerDecayOptimWrapperConstructor
from .optim_wrapper import AutocastOptimWrapper, NonFiniteLossOptimWrapper, with_non_finite_check
from .runner import VideoFMRunner, load_model_checkpoint
from .ema import TrainableEMA

__all__ = [
    'AutocastOptimWrapper', 'ConfigError', 'CurvesHook', 'EpochSeedHook', 'LayerDecayOptimWrapperConstructor',
    'NonFiniteLossOptimWrapper', 'SkippedSamplesHook', 'TrainableEMA', 'VideoFMFSDP', 'VideoFMRunner', 'check_config',
    'load_model_checkpoint', 'with_non_finite_check'
]
