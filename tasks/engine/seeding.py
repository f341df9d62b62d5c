"""Data-side randomness as a function of (seed, epoch, sample index), so that ``--resume`` is exact with
DataLoader workers, persistent or not.

MMEngine seeds each DataLoader worker once, when it starts (``seed + worker_id``). Persistent workers
(``persistent_workers=True``, what the configs ship) then keep their random state from epoch to epoch, so a run
resumed at epoch k restarts the workers' streams from scratch and augments differently from the uninterrupted
run. :class:`~tasks.engine.hooks.EpochSeedHook` installs the two pieces below on the training loader before the
first epoch:

* :class:`EpochIndexSampler` wraps the loader's sampler (inside its batch sampler) and yields
  ``(epoch, index)`` pairs: the epoch travels to the workers with every index, whatever they hold.
* :class:`EpochSeededFetch` becomes the dataset's ``__getitems__`` (which torch's DataLoader calls with the
  batch's indices, in the worker): before each sample it reseeds ``random``, numpy and torch from
  :func:`sample_seed` ``(seed, epoch, index)``, then calls ``dataset[index]`` as the DataLoader would. Without
  workers (``num_workers=0``) the main process's RNG states are put back afterwards, so the model's own
  randomness (dropout, drop path) does not depend on the data, and a run gives the same weights with 0 or N
  workers.
"""
import random
from typing import Iterator, List, Sequence, Tuple

import numpy as np
import torch

__all__ = ['sample_seed', 'EpochIndexSampler', 'EpochSeededFetch', 'seed_loader_per_sample']


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed for one sample of one epoch (numpy's SeedSequence mixes the three numbers)."""
    return int(np.random.SeedSequence([int(seed) % 2**32, int(epoch), int(index)]).generate_state(1)[0])


class EpochIndexSampler:
    """Yields ``(epoch, index)`` for each index of ``sampler``; ``epoch`` is set by the hook every epoch.

    Args:
        sampler: The loader's sampler (e.g. MMEngine's ``DefaultSampler``); ``len`` and iteration are its own.
    """

    def __init__(self, sampler):
        self.sampler = sampler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        epoch = self.epoch
        for index in self.sampler:
            yield epoch, int(index)

    def __len__(self) -> int:
        return len(self.sampler)


class EpochSeededFetch:
    """A dataset's ``__getitems__``: ``[dataset[i] for i in indices]`` with ``random``, numpy and torch reseeded
    from ``(seed, epoch, i)`` before each sample.

    Args:
        dataset: The dataset (called as ``dataset[i]``).
        seed (int): The run's seed.
    """

    def __init__(self, dataset, seed: int):
        self.dataset = dataset
        self.seed = int(seed)

    @staticmethod
    def _reseed(value: int) -> None:
        random.seed(value)
        np.random.seed(value)
        torch.manual_seed(value)

    def __call__(self, indices: Sequence[Tuple[int, int]]) -> List:
        in_worker = torch.utils.data.get_worker_info() is not None
        saved = None if in_worker else (random.getstate(), np.random.get_state(), torch.get_rng_state())
        try:
            out = []
            for item in indices:
                if not (isinstance(item, tuple) and len(item) == 2):
                    raise TypeError(f'EpochSeededFetch expects (epoch, index) pairs from EpochIndexSampler, got '
                                    f'{item!r}')
                epoch, index = item
                self._reseed(sample_seed(self.seed, epoch, index))
                out.append(self.dataset[index])
            return out
        finally:
            if saved is not None:
                random.setstate(saved[0])
                np.random.set_state(saved[1])
                torch.set_rng_state(saved[2])


def seed_loader_per_sample(loader, seed: int) -> EpochIndexSampler:
    """Install :class:`EpochIndexSampler` and :class:`EpochSeededFetch` on a map-style DataLoader with a batch
    sampler (before its workers start), and give it its own generator for the per-iterator base seed, so that
    starting the workers (first epoch, or the first after a resume) does not draw from the global torch RNG.

    Returns:
        EpochIndexSampler: Call ``set_epoch(epoch)`` on it before each epoch's iteration.

    Raises:
        ValueError: The loader cannot be seeded per sample (no batch sampler, an iterable dataset, or workers
            already running).
    """
    batch_sampler = getattr(loader, 'batch_sampler', None)
    if batch_sampler is None or not hasattr(batch_sampler, 'sampler'):
        raise ValueError('per-sample seeding needs a DataLoader with a batch sampler (batch_size set)')
    if isinstance(loader.dataset, torch.utils.data.IterableDataset):
        raise ValueError('per-sample seeding needs a map-style dataset')
    if getattr(loader, '_iterator', None) is not None:
        raise ValueError('per-sample seeding must be installed before the loader starts its workers')
    if isinstance(batch_sampler.sampler, EpochIndexSampler):
        return batch_sampler.sampler
    wrapped = EpochIndexSampler(batch_sampler.sampler)
    batch_sampler.sampler = wrapped
    loader.dataset.__getitems__ = EpochSeededFetch(loader.dataset, seed)
    loader.generator = torch.Generator().manual_seed(int(seed) % 2**63)
    return wrapped
