"""Multiple-choice scoring (MSRVTT-MC, reference ``retrieval_mc.py``): a video and ``n`` candidate captions, one
correct.

``score = 0.7 * softmax(ITM logits)[match] + 0.3 * softmax over the n options of (ITC similarity / temperature)``;
the prediction is the option with the highest score.
"""
from typing import Union

import torch
from torch import Tensor

__all__ = ['ITM_WEIGHT', 'mc_scores']

#: Weight of the ITM match probability; the ITC part gets ``1 - ITM_WEIGHT``.
ITM_WEIGHT = 0.7


def mc_scores(itm_logits: Tensor, sim: Tensor, temperature: Union[float, Tensor],
              itm_weight: float = ITM_WEIGHT) -> Tensor:
    """Fuse ITM and ITC evidence into one score per option.

    Args:
        itm_logits (Tensor): [B, n, 2] ITM head logits per (video, option) pair; index 1 is "match".
        sim (Tensor): [B, n] ITC cosine similarity between the video and each option.
        temperature (float | Tensor): The contrastive temperature (scalar).
        itm_weight (float): Weight of the ITM probability (0.7 in the reference).

    Returns:
        Tensor: [B, n] float32 scores; ``argmax(-1)`` is the chosen option.
    """
    if itm_logits.dim() != 3 or itm_logits.shape[-1] != 2 or itm_logits.shape[:2] != sim.shape:
        raise ValueError(f'expected itm_logits [B, n, 2] and sim [B, n], got {tuple(itm_logits.shape)} and '
                         f'{tuple(sim.shape)}')
    p_match = itm_logits.float().softmax(-1)[..., 1]
    p_itc = (sim.float() / torch.as_tensor(temperature, dtype=torch.float32, device=sim.device)).softmax(-1)
    return itm_weight * p_match + (1.0 - itm_weight) * p_itc
