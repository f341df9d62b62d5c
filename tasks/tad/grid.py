"""The feature grid: where feature ``i`` of a video sits in time. The one place that converts between feature
indices and seconds.

A feature extractor cuts clips of ``clip_len`` frames every ``stride`` frames; clip ``i`` covers frames
``[stride * i, stride * i + clip_len)`` and its feature stands for the frame ``stride * i + offset`` (by default
the clip centre, ``offset = clip_len / 2``). So::

    seconds(i) = (stride * i + offset) / fps          index(t) = (t * fps - offset) / stride

VideoMAE V2-g THUMOS14 features (clip 16, stride 4, centre offset 8): feature ``i`` covers frames
``[4i, 4i + 16)`` and stands for frame ``4i + 8``; at 30 fps feature 10 is at ``(40 + 8) / 30 = 1.6`` s and
``t = 1.6`` s is grid position ``(1.6 * 30 - 8) / 4 = 10``. This is the ``(t * fps - 8) / 4`` of ActionFormer's
THUMOS14 recipe. Indices may be fractional (a detector regresses segment ends in grid units).

The feature extractor writes :meth:`FeatureGrid.to_dict` (with the exact formula as text) next to the
features; datasets read it back with :meth:`FeatureGrid.from_dict`; the detector converts its predictions to
seconds with :meth:`FeatureGrid.index_to_seconds`.
"""
import dataclasses
import math
from dataclasses import dataclass
from typing import Optional, TypeVar, Union

import numpy as np
import torch

__all__ = ['FeatureGrid']

ArrayLike = TypeVar('ArrayLike', float, int, np.ndarray, torch.Tensor)


def _fmt(x: float) -> str:
    """Shortest text for a number in the formula: ``8`` not ``8.0``, ``29.97`` as is."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


@dataclass(frozen=True)
class FeatureGrid:
    """Where the features of one video sit in time.

    Args:
        fps (float): Frame rate of the video the features were extracted from (frames per second).
        stride (int | float): Frames between the starts of consecutive clips. Default 4. A fractional stride
            describes features resampled to a fixed length (ActivityNet: ``num_frames / 128``).
        clip_len (int): Frames per clip. Default 16.
        offset (float, optional): Frames from a clip's first frame to the frame its feature stands for.
            Default ``clip_len / 2`` (the clip centre).
    """
    fps: float
    stride: Union[int, float] = 4
    clip_len: int = 16
    offset: Optional[float] = None

    def __post_init__(self):
        if not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f'FeatureGrid: fps must be a positive number, got {self.fps!r}')
        stride = self.stride
        if isinstance(stride, bool) or not isinstance(stride, (int, float, np.number)) or not (
                math.isfinite(stride) and stride > 0):
            raise ValueError(f'FeatureGrid: stride must be a positive number of frames, got {stride!r}')
        clip_len = self.clip_len
        if isinstance(clip_len, bool) or not isinstance(clip_len, (int, np.integer)) or clip_len < 1:
            raise ValueError(f'FeatureGrid: clip_len must be a positive whole number of frames, got {clip_len!r}')
        if self.offset is None:
            object.__setattr__(self, 'offset', self.clip_len / 2)
        if not (isinstance(self.offset, (int, float)) and math.isfinite(self.offset)):
            raise ValueError(f'FeatureGrid: offset must be a finite number of frames, got {self.offset!r}')
        object.__setattr__(self, 'fps', float(self.fps))
        object.__setattr__(self, 'stride', int(stride) if float(stride).is_integer() else float(stride))
        object.__setattr__(self, 'clip_len', int(self.clip_len))
        object.__setattr__(self, 'offset', float(self.offset))

    # -- conversions ------------------------------------------------------------------------------------------
    def index_to_frame(self, index: ArrayLike) -> ArrayLike:
        """Frame (fractional for fractional indices) that feature ``index`` stands for: ``stride * i + offset``.

        Args:
            index (float | np.ndarray | torch.Tensor): Grid positions, any shape.

        Returns:
            Same type and shape as ``index`` (floating point).
        """
        return _float(index) * self.stride + self.offset

    def index_to_seconds(self, index: ArrayLike) -> ArrayLike:
        """Seconds of grid position ``index``: ``(stride * i + offset) / fps``.

        Args:
            index (float | np.ndarray | torch.Tensor): Grid positions, any shape, e.g. segments ``(N, 2)``.

        Returns:
            Same type and shape as ``index`` (floating point; a tensor stays on its device).
        """
        return self.index_to_frame(index) / self.fps

    def seconds_to_index(self, seconds: ArrayLike) -> ArrayLike:
        """Grid position (fractional) of time ``seconds``: ``(t * fps - offset) / stride``. Inverse of
        :meth:`index_to_seconds`.

        Args:
            seconds (float | np.ndarray | torch.Tensor): Times in seconds, any shape, e.g. segments ``(N, 2)``.

        Returns:
            Same type and shape as ``seconds`` (floating point).
        """
        return (_float(seconds) * self.fps - self.offset) / self.stride

    def clip_frames(self, index: int) -> tuple:
        """Frames ``[start, end)`` that feature ``index`` was computed from (fractional for a fractional stride)."""
        start = self.stride * int(index)
        return start, start + self.clip_len

    def num_features(self, num_frames: int) -> int:
        """Number of whole clips in a video of ``num_frames`` frames: ``(num_frames - clip_len) // stride + 1``
        (0 when the video is shorter than one clip)."""
        if num_frames < self.clip_len:
            return 0
        return int((int(num_frames) - self.clip_len) // self.stride) + 1

    def with_fps(self, fps: float) -> 'FeatureGrid':
        """The same grid for a video with another frame rate."""
        return dataclasses.replace(self, fps=fps)

    # -- serialisation ----------------------------------------------------------------------------------------
    @property
    def formula(self) -> str:
        """The conversion as text, with this grid's numbers, e.g. ``seconds = (4 * i + 8) / 30``."""
        return f'seconds = ({_fmt(self.stride)} * i + {_fmt(self.offset)}) / {_fmt(self.fps)}'

    @property
    def generic_formula(self) -> str:
        """The conversion as text with this grid's stride / offset and the video's own fps (for a JSON that
        describes videos of different frame rates)."""
        return f'seconds = ({_fmt(self.stride)} * i + {_fmt(self.offset)}) / fps'

    def to_dict(self, with_fps: bool = True) -> dict:
        """JSON-ready description: ``fps`` (unless ``with_fps=False``), ``stride``, ``clip_len``, ``offset`` and
        ``formula``."""
        out = dict(stride=self.stride, clip_len=self.clip_len, offset=self.offset)
        if with_fps:
            return dict(fps=self.fps, **out, formula=self.formula)
        return dict(**out, formula=self.generic_formula)

    @classmethod
    def from_dict(cls, d: dict, fps: Optional[float] = None, source: str = 'grid') -> 'FeatureGrid':
        """Read :meth:`to_dict` back. ``fps`` overrides (or supplies) the frame rate; ``formula`` is ignored.

        Args:
            d (dict): With ``stride``, ``clip_len``, optional ``offset`` and ``fps``.
            fps (float, optional): Frame rate when ``d`` has none (per-video fps).
            source (str): Named in errors, e.g. the JSON file.
        """
        if not isinstance(d, dict):
            raise ValueError(f'{source}: expected a dict with stride, clip_len, offset, fps; got {type(d).__name__}')
        missing = [k for k in ('stride', 'clip_len') if k not in d]
        fps = d.get('fps') if fps is None else fps
        if fps is None:
            missing.append('fps')
        if missing:
            raise ValueError(f'{source}: feature grid misses {", ".join(missing)} (has {sorted(d)})')
        try:
            return cls(fps=fps, stride=d['stride'], clip_len=d['clip_len'], offset=d.get('offset'))
        except ValueError as e:
            raise ValueError(f'{source}: {e}') from None


def _float(x):
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() else x.double()
    if isinstance(x, np.ndarray):
        return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)
    if isinstance(x, (list, tuple)):
        return np.asarray(x, dtype=np.float64)
    return float(x)
