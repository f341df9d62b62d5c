"""Clip-consistent RandAugment for the VideoMAE V2 / UMT fine-tuning recipe (``rand-m7-n4-mstd0.5-inc1``).

mmaction2 1.2.0 only offers RandAugment through ``PytorchVideoWrapper`` (needs pytorchvideo, not installed
and not maintained), so the op set of timm's ``rand_augment_transform`` with ``inc1`` (the "increasing"
variants) is written here on PIL. As in the official code (SlowFast-style ``AugmentOp`` applied to a list of
frames) every op, its magnitude and its sign are drawn once per clip and applied to all frames.
"""
import random
from typing import Dict, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image, ImageEnhance, ImageOps

from backbones.registry import TRANSFORMS

_MAX_LEVEL = 10.
_FILL = (124, 116, 104)  # ImageNet mean * 255, timm's fill for geometric ops


def _signed(v: float) -> float:
    return -v if random.random() < 0.5 else v


def _affine(img, matrix, fill, resample):
    return img.transform(img.size, Image.AFFINE, matrix, resample=resample, fillcolor=fill)


def _solarize_add(img: Image.Image, add: int, thresh: int = 128) -> Image.Image:
    lut = [min(255, i + add) if i < thresh else i for i in range(256)]
    return img.point(lut * len(img.getbands()))


# name -> (level(m) -> argument drawn once per clip, apply(img, arg, fill, resample) -> img)
_OPS = {
    'AutoContrast': (lambda m: None, lambda img, a, f, r: ImageOps.autocontrast(img)),
    'Equalize': (lambda m: None, lambda img, a, f, r: ImageOps.equalize(img)),
    'Invert': (lambda m: None, lambda img, a, f, r: ImageOps.invert(img)),
    'Rotate': (lambda m: _signed(m / _MAX_LEVEL * 30.),
               lambda img, a, f, r: img.rotate(a, resample=r, fillcolor=f)),
    'PosterizeIncreasing': (lambda m: 4 - int(m / _MAX_LEVEL * 4),
                            lambda img, a, f, r: ImageOps.posterize(img, max(1, a))),
    'SolarizeIncreasing': (lambda m: 256 - int(m / _MAX_LEVEL * 256),
                           lambda img, a, f, r: ImageOps.solarize(img, a)),
    'SolarizeAdd': (lambda m: int(m / _MAX_LEVEL * 110), lambda img, a, f, r: _solarize_add(img, a)),
    'ColorIncreasing': (lambda m: 1. + _signed(m / _MAX_LEVEL * .9),
                        lambda img, a, f, r: ImageEnhance.Color(img).enhance(a)),
    'ContrastIncreasing': (lambda m: 1. + _signed(m / _MAX_LEVEL * .9),
                           lambda img, a, f, r: ImageEnhance.Contrast(img).enhance(a)),
    'BrightnessIncreasing': (lambda m: 1. + _signed(m / _MAX_LEVEL * .9),
                             lambda img, a, f, r: ImageEnhance.Brightness(img).enhance(a)),
    'SharpnessIncreasing': (lambda m: 1. + _signed(m / _MAX_LEVEL * .9),
                            lambda img, a, f, r: ImageEnhance.Sharpness(img).enhance(a)),
    'ShearX': (lambda m: _signed(m / _MAX_LEVEL * .3),
               lambda img, a, f, r: _affine(img, (1, a, 0, 0, 1, 0), f, r)),
    'ShearY': (lambda m: _signed(m / _MAX_LEVEL * .3),
               lambda img, a, f, r: _affine(img, (1, 0, 0, a, 1, 0), f, r)),
    'TranslateXRel': (lambda m: _signed(m / _MAX_LEVEL * .45),
                      lambda img, a, f, r: _affine(img, (1, 0, a * img.size[0], 0, 1, 0), f, r)),
    'TranslateYRel': (lambda m: _signed(m / _MAX_LEVEL * .45),
                      lambda img, a, f, r: _affine(img, (1, 0, 0, 0, 1, a * img.size[1]), f, r)),
}


@TRANSFORMS.register_module()
class VideoRandAugment(BaseTransform):
    """RandAugment with one draw per clip (timm ``rand-m{magnitude}-n{num_layers}-mstd{magnitude_std}-inc1``).

    ``num_layers`` ops are chosen with replacement from the 15 "increasing" ops; each is applied with
    probability ``prob`` at magnitude ``N(magnitude, magnitude_std)`` clipped to [0, 10], the same for
    every frame of the clip.

    Required keys: ``imgs`` (list of (H, W, 3) uint8 RGB frames). Modified keys: ``imgs``.

    Args:
        magnitude (float): Mean magnitude on timm's 0..10 scale (official 7).
        num_layers (int): Ops per clip (official 4).
        magnitude_std (float): Std of the magnitude noise (official 0.5).
        prob (float): Probability of applying each chosen op (timm default 0.5).
        ops (Sequence[str], optional): Subset of the op names; all 15 by default.
        interpolation (str): ``'bicubic'`` (official) or ``'bilinear'`` for the geometric ops.
    """

    def __init__(self, magnitude: float = 7., num_layers: int = 4, magnitude_std: float = 0.5, prob: float = 0.5,
                 ops: Sequence[str] = None, interpolation: str = 'bicubic'):
        ops = list(ops) if ops is not None else list(_OPS)
        unknown = sorted(set(ops) - set(_OPS))
        if unknown:
            raise KeyError(f'VideoRandAugment: unknown ops {unknown}; choose from {sorted(_OPS)}')
        if not 0 <= magnitude <= _MAX_LEVEL or num_layers < 0 or not 0 <= prob <= 1:
            raise ValueError(f'VideoRandAugment: need 0 <= magnitude <= 10, num_layers >= 0, 0 <= prob <= 1; '
                             f'got {magnitude}, {num_layers}, {prob}')
        if interpolation not in ('bicubic', 'bilinear'):
            raise ValueError(f"interpolation must be 'bicubic' or 'bilinear', got {interpolation!r}")
        self.magnitude, self.num_layers, self.magnitude_std, self.prob = magnitude, num_layers, magnitude_std, prob
        self.ops = ops
        self.interpolation = interpolation
        self._resample = Image.BICUBIC if interpolation == 'bicubic' else Image.BILINEAR

    def sample(self) -> list:
        """Draw the ops for one clip: a list of (name, argument)."""
        chosen = []
        for name in random.choices(self.ops, k=self.num_layers):
            if random.random() > self.prob:
                continue
            m = self.magnitude
            if self.magnitude_std > 0:
                m = random.gauss(m, self.magnitude_std)
            m = min(_MAX_LEVEL, max(0., m))
            chosen.append((name, _OPS[name][0](m)))
        return chosen

    def transform(self, results: Dict) -> Dict:
        ops = self.sample()
        if not ops:
            return results
        frames = []
        for frame in results['imgs']:
            img = Image.fromarray(np.ascontiguousarray(frame))
            for name, arg in ops:
                img = _OPS[name][1](img, arg, _FILL, self._resample)
            frames.append(np.asarray(img))
        results['imgs'] = frames
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(magnitude={self.magnitude}, num_layers={self.num_layers}, '
                f'magnitude_std={self.magnitude_std}, prob={self.prob}, interpolation={self.interpolation!r})')
