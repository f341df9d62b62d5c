"""1-D Soft-NMS / NMS: hand cases and equality with direct loop implementations on random inputs."""
import math

import pytest
import torch

from tasks.tad.nms import batched_nms_1d, hard_nms, segment_tiou, segment_voting, soft_nms


def tiou(a, b):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union > 0 else 0.0


def loop_soft_nms(segs, scores, labels, sigma, min_score, max_segments, multiclass=True):
    """One class at a time, one pick at a time, one segment at a time."""
    out = []
    groups = labels if multiclass else [0] * len(labels)
    for c in sorted(set(groups)):
        idx = [i for i in range(len(segs)) if groups[i] == c and scores[i] >= min_score]
        s = {i: scores[i] for i in idx}
        picks = 0
        while s and picks < max_segments:
            best = max(s, key=lambda i: (s[i], -i))  # highest score, first in input order on ties
            out.append((best, s.pop(best)))
            picks += 1
            for j in list(s):
                s[j] *= math.exp(-tiou(segs[best], segs[j]) ** 2 / sigma)
                if s[j] < min_score:
                    del s[j]
    out.sort(key=lambda t: -t[1])  # stable: class-major order among equal scores
    return out[:max_segments]


def loop_hard_nms(segs, scores, labels, thr, min_score, max_segments):
    out = []
    for c in sorted(set(labels)):
        idx = sorted((i for i in range(len(segs)) if labels[i] == c and scores[i] >= min_score),
                     key=lambda i: -scores[i])
        kept = []
        for i in idx:
            if all(tiou(segs[i], segs[k]) <= thr for k in kept):
                kept.append(i)
        out += kept
    return sorted(out, key=lambda i: -scores[i])[:max_segments]


def random_input(seed, n):
    g = torch.Generator().manual_seed(seed)
    start = torch.rand(n, generator=g, dtype=torch.float64) * 50
    segs = torch.stack([start, start + torch.rand(n, generator=g, dtype=torch.float64) * 10 + 0.1], 1)
    return segs, torch.rand(n, generator=g, dtype=torch.float64), torch.randint(0, 4, (n,), generator=g)


def test_hand_case():
    segs = torch.tensor([[0., 10.], [0., 10.], [5., 10.], [20., 30.], [0., 10.]])
    scores = torch.tensor([.9, .8, .7, .6, .5])
    labels = torch.tensor([0, 0, 0, 0, 1])
    s, sc, lab = soft_nms(segs, scores, labels, sigma=0.5, min_score=1e-3, max_segments=200)
    # pick .9 [0,10]: the copy decays by e^-2, [5,10] (tIoU .5) by e^-.5, [20,30] untouched; class 1 untouched
    # next pick .7 e^-.5 = .4246 [5,10]: the copy (tIoU .5 with it) decays again by e^-.5
    expect = {(0., 10., 0): .9, (20., 30., 0): .6, (0., 10., 1): .5, (5., 10., 0): .7 * math.exp(-.5),
              (0., 10., 0, 'copy'): .8 * math.exp(-2) * math.exp(-.5)}
    assert sc.tolist() == pytest.approx(sorted(expect.values(), reverse=True))
    assert lab.tolist() == [0, 0, 1, 0, 0] and s[0].tolist() == [0., 10.]


def test_min_score_and_max_segments():
    segs = torch.tensor([[0., 10.], [0., 10.], [30., 40.]])
    s, sc, lab = soft_nms(segs, torch.tensor([.9, .005, .5]), torch.zeros(3, dtype=torch.long), min_score=1e-3)
    assert sc.tolist() == pytest.approx([.9, .5])  # .005 * e^-2 < 1e-3: dropped
    s, sc, lab = soft_nms(segs, torch.tensor([.9, .8, .5]), torch.tensor([0, 1, 2]), max_segments=2)
    assert sc.tolist() == pytest.approx([.9, .8]) and lab.tolist() == [0, 1]
    e = soft_nms(segs[:0], torch.zeros(0), torch.zeros(0, dtype=torch.long))
    assert e[0].shape == (0, 2) and e[1].shape == (0,)


@pytest.mark.parametrize('seed', range(8))
@pytest.mark.parametrize('multiclass', [True, False])
def test_soft_nms_equals_loop(seed, multiclass):
    segs, scores, labels = random_input(seed, [5, 40, 120, 300][seed % 4])
    max_segments = [200, 15][seed % 2]
    s, sc, lab = soft_nms(segs, scores, labels, sigma=0.5, min_score=1e-3, max_segments=max_segments,
                          multiclass=multiclass)
    ref = loop_soft_nms(segs.tolist(), scores.tolist(), labels.tolist(), 0.5, 1e-3, max_segments, multiclass)
    idx = [i for i, _ in ref]
    assert s.tolist() == segs[idx].tolist() and lab.tolist() == labels[idx].tolist()
    torch.testing.assert_close(sc, torch.tensor([v for _, v in ref], dtype=torch.float64), rtol=1e-12, atol=0)


@pytest.mark.parametrize('seed', range(4))
def test_hard_nms_equals_loop(seed):
    segs, scores, labels = random_input(seed, 200)
    s, sc, lab = batched_nms_1d(segs, scores, labels, method='hard', iou_threshold=0.3, max_segments=50)
    idx = loop_hard_nms(segs.tolist(), scores.tolist(), labels.tolist(), 0.3, 1e-3, 50)
    assert s.tolist() == segs[idx].tolist() and sc.tolist() == scores[idx].tolist()


def test_segment_tiou_and_bad_input():
    a = torch.tensor([[0., 10.], [2., 2.]])
    b = torch.tensor([[5., 15.], [2., 2.]])
    assert segment_tiou(a, b).tolist() == [pytest.approx(1 / 3), 0.0]
    with pytest.raises(ValueError, match=r'segments \(N, 2\)'):
        soft_nms(torch.zeros(3, 3), torch.zeros(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="'soft' or 'hard'"):
        batched_nms_1d(a, torch.ones(2), torch.zeros(2, dtype=torch.long), method='linear')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_soft_nms_on_cuda_matches_cpu():
    segs, scores, labels = random_input(0, 500)
    cpu = soft_nms(segs.float(), scores.float(), labels)
    gpu = soft_nms(segs.float().cuda(), scores.float().cuda(), labels.cuda())
    assert gpu[0].is_cuda
    torch.testing.assert_close(gpu[1].cpu(), cpu[1])
    torch.testing.assert_close(gpu[0].cpu(), cpu[0])


def test_segment_voting_against_direct_computation():
    segs = torch.tensor([[0., 10.], [1., 11.], [0., 9.], [30., 40.]], dtype=torch.float64)
    scores = torch.tensor([.9, .6, .3, .8], dtype=torch.float64)
    kept = torch.tensor([[0., 10.], [30., 40.], [60., 70.]], dtype=torch.float64)
    out = segment_voting(kept, segs, scores, 0.8)
    # [0,10] voters: itself (1.0), [1,11] (9/11 >= .8), [0,9] (.9) -> weighted mean of the three
    w = [.9, .6, .3]
    expect0 = [sum(wi * s for wi, s in zip(w, col)) / sum(w) for col in ([0., 1., 0.], [10., 11., 9.])]
    assert out[0].tolist() == pytest.approx(expect0)
    assert out[1].tolist() == [30., 40.] and out[2].tolist() == [60., 70.]  # alone / no voter: unchanged
    s, sc, lab = batched_nms_1d(segs, scores, torch.zeros(4, dtype=torch.long), multiclass=False,
                                voting_thresh=0.8)
    assert s[0].tolist() == pytest.approx(expect0) and sc[0] == .9
