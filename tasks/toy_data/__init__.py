"""Toy datasets, generated on first use, in the real on-disk formats: smoke tests and tiny end-to-end runs.

* :mod:`.cache`: :func:`build_toy`, the one cache every toy generator goes through (build once, atomically,
  local rank 0 first, parameters checked against ``toy_meta.json``, ``overwrite``).
* :mod:`.recognition`: the moving-shapes recognition set (``make_recognition``, ``ensure_recognition``).
* :mod:`.datasets`: ``ToyVideoDataset`` and ``ToyRepeatAugDataset``, which generate their data when missing.

Task-specific generators live with their task and use :func:`build_toy` (the AVA one in :mod:`tasks.ava.toy`);
``tools/data/make_toy.py`` writes any of them by hand.
"""
from .cache import ToyDataMismatch, build_toy
from .datasets import ToyRepeatAugDataset, ToyVideoDataset
from .recognition import ensure_recognition, make_recognition

__all__ = ['ToyDataMismatch', 'build_toy', 'ensure_recognition', 'make_recognition', 'ToyRepeatAugDataset',
           'ToyVideoDataset']
