"""VideoFM backbones: one video ViT for VideoMAE V2 and UMT, and the pretraining models that wrap it.

Importing this package first applies :mod:`backbones.compat` (fixes for the stock PyPI OpenMMLab stack),
then registers the modules into the ``videofm`` registries.
"""
from . import compat

compat.apply()

from .registry import MODELS  # noqa: E402
from .video_vit import VideoViT  # noqa: E402
from .adapters import AdapterVideoViT, TemporalAdapter  # noqa: E402
from . import masking  # noqa: E402
from .teachers import CLIPTeacher  # noqa: E402
from .umt import UMTPretrainer  # noqa: E402
from .videomae_v2 import VideoMAEv2Pretrainer  # noqa: E402
from .umt_stage2 import UMTStage2  # noqa: E402

__all__ = ['MODELS', 'VideoViT', 'AdapterVideoViT', 'TemporalAdapter', 'VideoMAEv2Pretrainer', 'UMTPretrainer',
           'UMTStage2', 'CLIPTeacher', 'masking']
