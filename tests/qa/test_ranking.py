"""Answer ranking (tasks.qa.ranking) against a direct per-answer likelihood loop, and the MC fusion on hand-made
numbers."""
import math

import pytest
import torch

from tasks.qa.decoder import build_answer_decoder, decoder_logits
from tasks.qa.mc import mc_scores
from tasks.qa.ranking import rank_answers, sequence_log_likelihood

V, C, START, PAD = 23, 16, 2, 0


@pytest.fixture(scope='module')
def setup():
    torch.manual_seed(0)
    dec = build_answer_decoder(dict(vocab_size=V, hidden_size=C, num_hidden_layers=9, num_attention_heads=2,
                                    intermediate_size=32, max_position_embeddings=16), num_layers=2).eval()
    lengths = [2, 3, 5, 4, 2, 3, 5]  # tokens incl. the start token; answer 4 and 0 share their first token
    ids = torch.full((len(lengths), 5), PAD)
    for a, n in enumerate(lengths):
        ids[a, 0] = START
        ids[a, 1:n] = torch.randint(4, V, (n - 1, ))
    ids[4, 1] = ids[0, 1]
    mask = (torch.arange(5)[None] < torch.tensor(lengths)[:, None]).long()
    states = torch.randn(3, 4, C)
    smask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    return dec, ids, mask, states, smask, lengths


def fn(dec):
    return lambda *a: decoder_logits(dec, *a)


@torch.no_grad()
def direct_scores(dec, ids, states, smask, lengths):
    """The reference score of every (question, answer), one unpadded sequence at a time:
    log p(first token) + sum over tokens of log p(token | prefix) (the first token counted twice)."""
    out = torch.zeros(states.shape[0], ids.shape[0])
    for q in range(states.shape[0]):
        for a, n in enumerate(lengths):
            seq = ids[a:a + 1, :n]
            logp = decoder_logits(dec, seq, torch.ones_like(seq), states[q:q + 1], smask[q:q + 1])[0].log_softmax(-1)
            tok = [logp[t, seq[0, t + 1]].item() for t in range(n - 1)]
            out[q, a] = tok[0] + sum(tok)
    return out


def test_ranking_equals_direct_full_likelihood_when_k_covers_the_list(setup):
    dec, ids, mask, states, smask, lengths = setup
    ref = direct_scores(dec, ids, states, smask, lengths)
    for chunk in (None, 4):
        got_ids, got_p = rank_answers(fn(dec), states, smask, ids, mask, k=128, chunk=chunk)
        assert got_ids.shape == (3, len(lengths))
        ref_p, ref_ids = ref.softmax(-1).sort(-1, descending=True)
        assert torch.equal(got_ids, ref_ids)
        torch.testing.assert_close(got_p, ref_p, atol=1e-5, rtol=1e-4)


def test_small_k_keeps_the_top_first_token_answers(setup):
    dec, ids, mask, states, smask, lengths = setup
    ref = direct_scores(dec, ids, states, smask, lengths)
    with torch.no_grad():
        first = decoder_logits(dec, ids[:1, :1].expand(3, 1), torch.ones(3, 1, dtype=torch.long), states,
                               smask)[:, 0].softmax(-1)[:, ids[:, 1]]
    got_ids, got_p = rank_answers(fn(dec), states, smask, ids, mask, k=3)
    for q in range(3):
        keep = first[q].topk(3).indices
        assert set(got_ids[q].tolist()) == set(keep.tolist())
        ref_p, order = ref[q, keep].softmax(-1).sort(descending=True)  # softmax over the k kept answers
        assert got_ids[q].tolist() == keep[order].tolist()
        torch.testing.assert_close(got_p[q], ref_p, atol=1e-5, rtol=1e-4)


def test_sequence_log_likelihood_by_hand():
    logits = torch.zeros(1, 3, 4)
    logits[0, 0, 1] = math.log(3.0)  # p(token 1 | start) = 3/6
    logits[0, 1, 2] = math.log(5.0)  # p(token 2 | .) = 5/8
    ids = torch.tensor([[0, 1, 2]])
    got = sequence_log_likelihood(logits, ids, torch.ones(1, 3))
    assert got.item() == pytest.approx(math.log(3 / 6) + math.log(5 / 8), abs=1e-6)
    got = sequence_log_likelihood(logits, ids, torch.tensor([[1, 1, 0]]))  # the padded target does not count
    assert got.item() == pytest.approx(math.log(3 / 6), abs=1e-6)


def test_rank_answers_rejects_an_empty_list(setup):
    dec, ids, mask, states, smask, _ = setup
    with pytest.raises(ValueError, match='empty'):
        rank_answers(fn(dec), states, smask, ids[:0], mask[:0])


def test_mc_fusion_on_hand_made_numbers():
    # option 0: ITM logits (0, 0) -> p(match) 1/2; option 1: (0, ln 3) -> 3/4
    itm = torch.tensor([[[0.0, 0.0], [0.0, math.log(3.0)]]])
    sim = torch.tensor([[0.1, 0.2]])  # / 0.1 -> (1, 2): softmax (1 / (1 + e), e / (1 + e))
    got = mc_scores(itm, sim, 0.1)
    e = math.e
    assert got[0, 0].item() == pytest.approx(0.7 * 0.5 + 0.3 / (1 + e), abs=1e-6)
    assert got[0, 1].item() == pytest.approx(0.7 * 0.75 + 0.3 * e / (1 + e), abs=1e-6)
    assert got[0, 0].item() == pytest.approx(0.430682, abs=1e-6) and got[0, 1].item() == pytest.approx(0.744318,
                                                                                                         abs=1e-6)
    # ITC alone would pick option 1 too; a strong ITM vote for option 0 wins over it
    itm2 = torch.tensor([[[-5.0, 5.0], [5.0, -5.0]]])
    assert mc_scores(itm2, sim, 0.1).argmax(-1).item() == 0
    with pytest.raises(ValueError, match='itm_logits'):
        mc_scores(itm[..., :1], sim, 0.1)
