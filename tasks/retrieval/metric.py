"""Text-video retrieval metrics: the pure function :func:`retrieval_metrics` and the MMEngine metric
:class:`RetrievalMetric` that the retrieval loops (:mod:`.loops`) feed.

Semantics (the official UMT / ALBEF ``itm_eval``, plus median and mean rank):

* ``sim`` is a ``[num_texts, num_videos]`` score array; ``txt2vid[i]`` is the video of text ``i`` (an int, or a
  list of ints when a text has several correct videos: the best-ranked one counts), ``vid2txt[j]`` the list of
  text indices of video ``j`` (video-to-text: the best-ranked of the video's texts counts, as the reference).
* Ranks are 1-based: rank 1 = the correct item scores highest. ``R@K`` = percent of queries with rank ``<= K``;
  ``medr`` / ``meanr`` = median / mean of the ranks; ``r_mean`` = mean of the six recalls (the reference's
  ``r_mean = (txt_r_mean + img_r_mean) / 2``).
* Ties. The reference ranks a row with ``inds = np.argsort(score)[::-1]`` and takes the position of the target in
  ``inds``. With a stable sort, reversing puts the tied item with the **higher index first**, so the rank of
  target ``t`` in a row ``s`` is ``#{k: s[k] > s[t]} + #{k > t: s[k] == s[t]} + 1``. That is the default
  (``tie_order='stable'``), computed for all rows at once on the scores' device. numpy's default sort is only
  stable for short rows (insertion sort for <= 16 items; introsort / SIMD sort beyond), so the reference's order
  among ties in long rows depends on the numpy build; ``tie_order='numpy'`` calls exactly the reference's
  ``np.argsort(row)[::-1]`` per row (a CPU loop, for checking against published numbers), ``tie_order=
  'optimistic'`` / ``'pessimistic'`` count no / every tied item ahead of the target.
"""
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from backbones.registry import METRICS

__all__ = ['retrieval_metrics', 'target_ranks', 'RetrievalMetric', 'RECALLS', 'METRIC_KEYS']

RECALLS = (1, 5, 10)
METRIC_KEYS = tuple(f'{d}_{k}' for d in ('t2v', 'v2t') for k in ('r1', 'r5', 'r10', 'medr', 'meanr')) + ('r_mean', )
TIE_ORDERS = ('stable', 'numpy', 'optimistic', 'pessimistic')
ArrayLike = Union[np.ndarray, torch.Tensor]


def _as_tensor(x: ArrayLike) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim != 2:
        raise ValueError(f'a score matrix must be 2-D [queries, items], got shape {tuple(t.shape)}')
    return t.float() if not t.is_floating_point() else t


def _flatten_targets(targets: Sequence, num_queries: int, num_items: int, what: str):
    """``targets[q]`` (int or list of ints) -> (query index, item index) pairs as two long tensors."""
    if len(targets) != num_queries:
        raise ValueError(f'{what} has {len(targets)} entries, the score matrix {num_queries} queries')
    qs, items = [], []
    for q, t in enumerate(targets):
        t = [t] if isinstance(t, (int, np.integer)) else list(t)
        if not t:
            raise ValueError(f'{what}[{q}] is empty: every query needs at least one correct item')
        for x in t:
            if not 0 <= int(x) < num_items:
                raise ValueError(f'{what}[{q}] = {int(x)} is outside [0, {num_items})')
            qs.append(q)
            items.append(int(x))
    return torch.tensor(qs, dtype=torch.long), torch.tensor(items, dtype=torch.long)


def target_ranks(scores: ArrayLike, targets: Sequence, tie_order: str = 'stable',
                 chunk: int = 4096) -> torch.Tensor:
    """1-based rank of the best-ranked correct item of every query.

    Args:
        scores (np.ndarray | torch.Tensor): ``[Q, N]`` scores, row = query.
        targets (Sequence[int | Sequence[int]]): ``targets[q]``: the correct item(s) of query ``q``.
        tie_order (str): ``'stable'`` (a tied item with a higher index ranks first: the reference's
            ``argsort[::-1]`` with a stable sort), ``'numpy'`` (the reference's ``np.argsort(row)[::-1]``,
            per row on the CPU), ``'optimistic'`` or ``'pessimistic'`` (see the module docstring).
        chunk (int): Rows compared at once (bounds memory to ``chunk x N`` booleans).

    Returns:
        torch.Tensor: ``[Q]`` long ranks (>= 1), on the scores' device (CPU for ``'numpy'``).
    """
    if tie_order not in TIE_ORDERS:
        raise ValueError(f'tie_order must be one of {TIE_ORDERS}, got {tie_order!r}')
    s = _as_tensor(scores)
    num_q, num_items = s.shape
    qs, items = _flatten_targets(targets, num_q, num_items, 'targets')
    if tie_order == 'numpy':
        arr = s.detach().cpu().numpy()
        pair_rank = []
        for q, it in zip(qs.tolist(), items.tolist()):
            inds = np.argsort(arr[q])[::-1]
            pair_rank.append(int(np.where(inds == it)[0][0]) + 1)
        pair_rank = torch.tensor(pair_rank, dtype=torch.long)
    else:
        qs, items = qs.to(s.device), items.to(s.device)
        col = torch.arange(num_items, device=s.device)
        out = []
        for a in range(0, len(qs), chunk):  # vectorised over (query, target) pairs; no loop per query
            q, it = qs[a:a + chunk], items[a:a + chunk]
            rows = s[q]                                    # [P, N]
            target = rows.gather(1, it[:, None])           # [P, 1]
            ahead = (rows > target).sum(1)
            if tie_order != 'optimistic':
                tied = rows == target
                if tie_order == 'stable':
                    tied &= col[None, :] > it[:, None]
                else:  # pessimistic: every other tied item is ahead
                    tied &= col[None, :] != it[:, None]
                ahead = ahead + tied.sum(1)
            out.append(ahead + 1)
        pair_rank = torch.cat(out)
        qs = qs.to(pair_rank.device)
    best = torch.full((num_q, ), torch.iinfo(torch.long).max, dtype=torch.long, device=pair_rank.device)
    return best.scatter_reduce(0, qs.to(pair_rank.device), pair_rank, reduce='amin')


def _summary(ranks: torch.Tensor, prefix: str) -> Dict[str, float]:
    r = ranks.double()
    out = {f'{prefix}_r{k}': float((r <= k).double().mean() * 100) for k in RECALLS}
    out[f'{prefix}_medr'] = float(r.median()) if len(r) % 2 else float(r.sort().values[len(r) // 2 - 1:
                                                                                        len(r) // 2 + 1].mean())
    out[f'{prefix}_meanr'] = float(r.mean())
    return out


def retrieval_metrics(sim: ArrayLike, txt2vid: Sequence, vid2txt: Sequence[Sequence[int]], *,
                      sim_v2t: Optional[ArrayLike] = None, tie_order: str = 'stable') -> Dict[str, float]:
    """Recall at 1 / 5 / 10, median and mean rank, text-to-video and video-to-text.

    Args:
        sim (np.ndarray | torch.Tensor): ``[num_texts, num_videos]`` scores (higher = more similar); computed on
            its device.
        txt2vid (Sequence[int | Sequence[int]]): ``txt2vid[i]``: the video index of text ``i`` (or a list: the
            best-ranked counts).
        vid2txt (Sequence[Sequence[int]]): ``vid2txt[j]``: the text indices of video ``j`` (the best-ranked
            counts).
        sim_v2t (np.ndarray | torch.Tensor, optional): ``[num_texts, num_videos]`` scores for the video-to-text
            direction when they differ from ``sim`` (ITM re-ranking re-scores each direction's own top k).
        tie_order (str): See :func:`target_ranks`.

    Returns:
        dict[str, float]: ``t2v_r1``, ``t2v_r5``, ``t2v_r10``, ``t2v_medr``, ``t2v_meanr``, ``v2t_r1``, ...,
        ``v2t_meanr``, ``r_mean``; recalls in percent, ranks 1-based.
    """
    s = _as_tensor(sim)
    sv = s if sim_v2t is None else _as_tensor(sim_v2t)
    if sv.shape != s.shape:
        raise ValueError(f'sim_v2t has shape {tuple(sv.shape)}, sim {tuple(s.shape)}')
    if len(vid2txt) != s.shape[1]:
        raise ValueError(f'vid2txt has {len(vid2txt)} entries, sim {s.shape[1]} videos (columns)')
    out = _summary(target_ranks(s, txt2vid, tie_order), 't2v')
    out.update(_summary(target_ranks(sv.t(), vid2txt, tie_order), 'v2t'))
    out['r_mean'] = float(np.mean([out[f'{d}_r{k}'] for d in ('t2v', 'v2t') for k in RECALLS]))
    return out


@METRICS.register_module()
class RetrievalMetric(BaseMetric):
    """Retrieval recalls and ranks for ITC-only and ITM re-ranked scores, fed by the retrieval loops.

    The loop (:class:`tasks.retrieval.loops.RetrievalValLoop`) computes the full score matrices itself (every
    rank embeds its share of the data, the embeddings are all-gathered and each re-ranking query is scored on
    one rank, then the scores are all-gathered), so every rank processes the same single result and this
    metric computes locally, on the scores' device, without collecting anything across ranks.

    ``process`` takes one dict per evaluation: ``itc`` ``[Nt, Nv]`` (ITC similarities), optionally ``t2v`` and
    ``v2t`` ``[Nt, Nv]`` (ITM re-ranked scores of each direction), ``txt2vid``, ``vid2txt``.

    Output keys: ``t2v_r1`` ... ``r_mean`` of the re-ranked scores and the same with the ``_itc`` suffix for the
    ITC-only scores (the reference's ``_emb`` results); without re-ranking only the ``_itc`` keys.

    Args:
        tie_order (str): See :func:`target_ranks`.
        prefix (str): Metric name prefix (``'retrieval'``).
        collect_device (str): Unused (nothing is collected); kept for MMEngine's signature.
    """
    default_prefix = 'retrieval'

    def __init__(self, tie_order: str = 'stable', collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if tie_order not in TIE_ORDERS:
            raise ValueError(f'RetrievalMetric: tie_order must be one of {TIE_ORDERS}, got {tie_order!r}')
        self.tie_order = tie_order

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            missing = {'itc', 'txt2vid', 'vid2txt'} - set(sample)
            if missing:
                raise KeyError(f'RetrievalMetric: a result misses {sorted(missing)}; it is fed by '
                               'RetrievalValLoop / RetrievalTestLoop (val_cfg=dict(type="RetrievalValLoop"))')
            self.results.append(sample)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        if len(results) != 1:
            raise ValueError(f'RetrievalMetric: expected one result per evaluation, got {len(results)}')
        r = results[0]
        out = {}
        itc = retrieval_metrics(r['itc'], r['txt2vid'], r['vid2txt'], tie_order=self.tie_order)
        if r.get('t2v') is not None:
            out.update(retrieval_metrics(r['t2v'], r['txt2vid'], r['vid2txt'], sim_v2t=r['v2t'],
                                         tie_order=self.tie_order))
        out.update({f'{k}_itc': v for k, v in itc.items()})
        return out

    def evaluate(self, size: int) -> dict:
        """Compute on this rank (every rank holds the same all-gathered scores); ``size`` is unused."""
        if not self.results:
            raise ValueError('RetrievalMetric got no result: run it with RetrievalValLoop / RetrievalTestLoop')
        metrics = self.compute_metrics(self.results)
        self.results.clear()
        if self.prefix:
            metrics = {f'{self.prefix}/{k}': v for k, v in metrics.items()}
        return metrics
