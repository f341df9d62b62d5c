"""Answer ranking over a fixed answer list with a generative decoder (ALBEF / UMT protocol), batched on the device.

Protocol of the reference (``UMT_QA.rank_answer``), for every question:

1. decode one step from the start token (the answers' first token, ``[CLS]``): ``p1 = softmax(logits)`` over the
   vocabulary; each answer's first-token probability is ``p1[answer_ids[:, 1]]``;
2. keep the ``k`` answers with the highest first-token probability (``k = 128``);
3. score each kept answer by ``log p1(first token) + log-likelihood of the whole answer`` under teacher forcing (the
   reference adds the first token's log-probability twice: once from step 1 and once inside the sequence
   likelihood; kept for fidelity, it cannot change which answer wins among answers that share a first token and
   is part of the published numbers); padding positions do not count;
4. the prediction is the best of the ``k`` scores; ``softmax`` over the ``k`` scores gives the reported
   probabilities.

Every step is one batched decoder call (chunked to bound memory): no Python loop over questions or answers.
"""
from typing import Callable, Optional, Tuple

import torch
from torch import Tensor

__all__ = ['DecoderFn', 'sequence_log_likelihood', 'rank_answers']

#: ``decoder(input_ids [N, La], attention_mask [N, La], states [N, Lq, C], states_mask [N, Lq]) -> logits
#: [N, La, V]``: a causal decoder cross-attending to the question states.
DecoderFn = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]


def sequence_log_likelihood(logits: Tensor, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    """Teacher-forced log-likelihood of each sequence: ``sum_t log p(x_{t+1} | x_<=t)`` over non-padding targets.

    Args:
        logits (Tensor): [N, L, V] decoder outputs (position ``t`` predicts token ``t + 1``).
        input_ids (Tensor): [N, L] token ids; the first is the start token (not scored).
        attention_mask (Tensor): [N, L] 1 for real tokens, 0 for padding (padding targets are not scored,
            as the reference's ``-100`` labels).

    Returns:
        Tensor: [N] float32 log-likelihoods.
    """
    logp = logits[:, :-1].float().log_softmax(-1)
    target = logp.gather(-1, input_ids[:, 1:, None]).squeeze(-1)  # [N, L-1]
    return (target * attention_mask[:, 1:].to(target.dtype)).sum(1)


def _chunked(decoder: DecoderFn, ids: Tensor, mask: Tensor, states: Tensor, states_mask: Tensor,
             chunk: int, reduce: Callable[[Tensor, Tensor, Tensor], Tensor]) -> Tensor:
    """``reduce(decoder(...), ids, mask)`` over row chunks of at most ``chunk`` sequences, concatenated."""
    out = [reduce(decoder(ids[i:i + chunk], mask[i:i + chunk], states[i:i + chunk], states_mask[i:i + chunk]),
                  ids[i:i + chunk], mask[i:i + chunk]) for i in range(0, ids.shape[0], chunk)]
    return torch.cat(out)


@torch.no_grad()
def rank_answers(decoder: DecoderFn, question_states: Tensor, question_mask: Tensor, answer_ids: Tensor,
                 answer_mask: Tensor, k: int = 128, chunk: Optional[int] = 1024) -> Tuple[Tensor, Tensor]:
    """Rank a fixed answer list for a batch of questions (see the module docstring for the protocol).

    Args:
        decoder (DecoderFn): The answer decoder as a function (see :data:`DecoderFn`).
        question_states (Tensor): [B, Lq, C] fused question states (what the decoder cross-attends to).
        question_mask (Tensor): [B, Lq] their attention mask.
        answer_ids (Tensor): [A, La] the tokenised answer list (``answer + ' [SEP]'``, start token first,
            padded); every row starts with the same start token.
        answer_mask (Tensor): [A, La] its attention mask.
        k (int): Answers kept after the first-token step (``min(k, A)`` are kept).
        chunk (int, optional): At most this many sequences per decoder call in the full-likelihood step
            (bounds the [N, La, V] logits); None: one call.

    Returns:
        tuple[Tensor, Tensor]: ``ids`` [B, k'] indices into the answer list, best first, and ``probs`` [B, k']
        the softmax over the ``k'`` final scores (same order); ``ids[:, 0]`` is the prediction.
    """
    num_q, num_a = question_states.shape[0], answer_ids.shape[0]
    if num_a == 0:
        raise ValueError('the answer list is empty')
    if answer_ids.shape[1] < 2:
        raise ValueError(f'answers must hold a start token and at least one token, got length {answer_ids.shape[1]}')
    k = min(int(k), num_a)
    if k < 1:
        raise ValueError(f'k must be >= 1, got {k}')
    start = answer_ids[:1, :1].expand(num_q, 1)
    first_logits = decoder(start, torch.ones_like(start), question_states, question_mask)[:, 0]  # [B, V]
    first_prob = first_logits.float().softmax(-1).index_select(1, answer_ids[:, 1])  # [B, A]
    topk_prob, topk_ids = first_prob.topk(k, dim=1)  # [B, k]

    ids = answer_ids[topk_ids].flatten(0, 1)  # [B*k, La]
    mask = answer_mask[topk_ids].flatten(0, 1)
    states = question_states.repeat_interleave(k, 0)  # [B*k, Lq, C]
    states_mask = question_mask.repeat_interleave(k, 0)
    loglik = _chunked(decoder, ids, mask, states, states_mask, chunk or ids.shape[0], sequence_log_likelihood)
    score = topk_prob.log() + loglik.view(num_q, k)  # the reference's chain rule (first token counted twice)
    probs, order = score.softmax(-1).sort(dim=1, descending=True)
    return topk_ids.gather(1, order), probs
