"""Per-sample data seeding (tasks.engine.seeding): worker-side randomness is a function of (seed, epoch, index),
so persistent workers, a restart at a later epoch and num_workers=0 all draw the same augmentations."""
import random

import numpy as np
import pytest
import torch
from mmengine.dataset import DefaultSampler
from torch.utils.data import DataLoader, Dataset

from tasks.engine.seeding import EpochIndexSampler, seed_loader_per_sample


class _Noisy(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return i, np.random.rand(), random.random(), torch.rand(()).item()


def _epochs(num_workers, stop, start=0):
    loader = DataLoader(_Noisy(), batch_size=2, sampler=DefaultSampler(_Noisy(), shuffle=True, seed=1),
                        num_workers=num_workers, persistent_workers=num_workers > 0)
    sampler = seed_loader_per_sample(loader, seed=5)
    out = []
    for epoch in range(start, stop):
        sampler.set_epoch(epoch)
        out.append([[t.tolist() for t in batch] for batch in loader])
    return out


def test_persistent_workers_restart_and_no_workers_draw_the_same():
    straight = _epochs(1, 3)
    assert straight[1] != straight[2]  # a new epoch augments anew
    assert _epochs(1, 3, start=2) == straight[2:]  # a resumed run's fresh worker draws what the old one did
    assert _epochs(0, 3) == straight  # and so does the main process


def test_main_process_rng_is_left_alone_without_workers():
    state = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    _epochs(0, 1)
    assert torch.equal(state[0], torch.get_rng_state())
    assert np.array_equal(state[1], np.random.get_state()[1]) and state[2] == random.getstate()


def test_install_refuses_loaders_it_cannot_seed():
    with pytest.raises(ValueError, match='batch sampler'):
        seed_loader_per_sample(DataLoader(_Noisy(), batch_size=None), seed=0)
    loader = DataLoader(_Noisy(), batch_size=2)
    first = seed_loader_per_sample(loader, seed=0)
    assert isinstance(first, EpochIndexSampler) and seed_loader_per_sample(loader, seed=0) is first
