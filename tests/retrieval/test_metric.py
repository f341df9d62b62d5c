"""retrieval_metrics on hand-made matrices (ties, multi-caption videos, texts with several videos) and against the
reference's per-query np.argsort loop."""
import numpy as np
import pytest
import torch

from tasks.retrieval import METRIC_KEYS, RetrievalMetric, retrieval_metrics, target_ranks


def reference_itm_eval(scores_t2v, scores_v2t, txt2vid, vid2txt, sort_kind='stable'):
    """The official itm_eval ranking (argsort reversed, min over a video's texts), with medr / meanr added."""
    ranks_v2t = []
    for j, row in enumerate(scores_v2t):
        inds = np.argsort(row, kind=sort_kind)[::-1]
        ranks_v2t.append(min(np.where(inds == i)[0][0] for i in vid2txt[j]) + 1)
    ranks_t2v = []
    for i, row in enumerate(scores_t2v):
        inds = np.argsort(row, kind=sort_kind)[::-1]
        gts = txt2vid[i] if isinstance(txt2vid[i], list) else [txt2vid[i]]
        ranks_t2v.append(min(np.where(inds == g)[0][0] for g in gts) + 1)
    out = {}
    for d, r in (('t2v', np.array(ranks_t2v)), ('v2t', np.array(ranks_v2t))):
        for k in (1, 5, 10):
            out[f'{d}_r{k}'] = 100.0 * (r <= k).mean()
        out[f'{d}_medr'] = float(np.median(r))
        out[f'{d}_meanr'] = float(r.mean())
    out['r_mean'] = np.mean([out[f'{d}_r{k}'] for d in ('t2v', 'v2t') for k in (1, 5, 10)])
    return out


def test_hand_made_matrix_with_ties():
    # 3 texts x 3 videos; text i belongs to video (0, 2, 1)
    sim = np.array([[.9, .1, .1],
                    [.2, .8, .8],    # target 2 tied with 1: the higher index ranks first -> rank 1
                    [.5, .5, .1]])   # target 1 tied with 0 -> rank 1
    m = retrieval_metrics(sim, [0, 2, 1], [[0], [2], [1]])
    assert set(m) == set(METRIC_KEYS)
    assert m['t2v_r1'] == 100 and m['t2v_medr'] == 1 and m['t2v_meanr'] == 1
    # videos: v0 column (.9, .2, .5) -> text 0 first; v1 (.1, .8, .5): text 2 second; v2 (.1, .8, .1): text 1 first
    assert m['v2t_r1'] == pytest.approx(200 / 3) and m['v2t_r5'] == 100
    assert m['v2t_medr'] == 1 and m['v2t_meanr'] == pytest.approx(4 / 3)
    assert m['r_mean'] == pytest.approx((300 + 200 / 3 + 200) / 6)


def test_tie_orders():
    row = np.array([[.5, .5, .5, .1]])
    assert target_ranks(row, [1]).tolist() == [2]                 # index 2 (tied, higher) is ahead
    assert target_ranks(row, [1], 'optimistic').tolist() == [1]
    assert target_ranks(row, [1], 'pessimistic').tolist() == [3]
    assert target_ranks(row, [1], 'numpy').tolist() == [int(np.where(np.argsort(row[0])[::-1] == 1)[0][0]) + 1]
    with pytest.raises(ValueError, match='tie_order'):
        target_ranks(row, [1], 'random')


def test_multi_caption_video_to_text_takes_the_best_text():
    # video 0 has texts 0, 1, 2 (MSVD multi-caption); video 1 has text 3
    sim = np.array([[.1, .9],
                    [.2, .3],
                    [.8, .1],
                    [.7, .6]])
    m = retrieval_metrics(sim, [0, 0, 0, 1], [[0, 1, 2], [3]])
    # t2v ranks: text0 2, text1 2, text2 1, text3 2
    assert m['t2v_r1'] == 25 and m['t2v_meanr'] == 1.75 and m['t2v_medr'] == 2
    # v2t: video0 column (.1, .2, .8, .7): text 2 first -> 1; video1 (.9, .3, .1, .6): text 3 second -> 2
    assert m['v2t_r1'] == 50 and m['v2t_medr'] == 1.5 and m['v2t_meanr'] == 1.5


def test_text_with_several_videos_counts_the_best():
    sim = np.array([[.1, .5, .9]])
    assert target_ranks(sim, [[0, 1]]).tolist() == [2]


def test_separate_v2t_scores_and_bad_input():
    sim = np.eye(3)
    m = retrieval_metrics(sim, [0, 1, 2], [[0], [1], [2]], sim_v2t=-np.eye(3))
    assert m['t2v_r1'] == 100 and m['v2t_r1'] == 0
    with pytest.raises(ValueError, match='vid2txt has 2'):
        retrieval_metrics(sim, [0, 1, 2], [[0], [1]])
    with pytest.raises(ValueError, match=r'outside \[0, 3\)'):
        retrieval_metrics(sim, [0, 1, 5], [[0], [1], [2]])
    with pytest.raises(ValueError, match='empty'):
        retrieval_metrics(sim, [0, 1, 2], [[0], [], [2]])


@pytest.mark.parametrize('seed', range(3))
def test_matches_reference_loop_on_random_matrices_with_ties(seed):
    rng = np.random.default_rng(seed)
    nv = 30
    vid2txt, txt2vid = [], []
    for j in range(nv):
        k = int(rng.integers(1, 4))
        vid2txt.append(list(range(len(txt2vid), len(txt2vid) + k)))
        txt2vid += [j] * k
    sim = rng.integers(0, 6, size=(len(txt2vid), nv)).astype(np.float64)  # many ties
    ours = retrieval_metrics(torch.from_numpy(sim), txt2vid, vid2txt)
    ref = reference_itm_eval(sim, sim.T, txt2vid, vid2txt)
    assert ours == pytest.approx(ref)
    ours_np = retrieval_metrics(sim, txt2vid, vid2txt, tie_order='numpy')
    assert ours_np == pytest.approx(reference_itm_eval(sim, sim.T, txt2vid, vid2txt, sort_kind='quicksort'))


def test_metric_reports_reranked_and_itc_keys():
    metric = RetrievalMetric()
    itc = torch.eye(2)
    metric.process(None, [dict(itc=itc, t2v=1 - itc, v2t=itc, txt2vid=[0, 1], vid2txt=[[0], [1]])])
    out = metric.evaluate(1)
    assert out['retrieval/t2v_r1_itc'] == 100 and out['retrieval/t2v_r1'] == 0 and out['retrieval/v2t_r1'] == 100
    assert len(out) == 2 * len(METRIC_KEYS)
    with pytest.raises(KeyError, match='RetrievalValLoop'):
        metric.process(None, [dict(itc=itc)])
