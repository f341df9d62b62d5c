"""Retrieval evaluation as MMEngine loops: embed every video and text, ITC similarities for all pairs, then ITM
re-ranking of the top k of every row and column, batched on the model's device and sharded across ranks.

Protocol (official UMT ``evaluation``, ``k_test=128``):

1. Every rank embeds its share of the videos (the dataloader's sampler) and of the texts (a contiguous slice of
   ``dataset.texts``) with ``model.encode_vision`` / ``model.encode_text``; features, tokens and masks are
   all-gathered and put in dataset order (the sampler's padding repeats are dropped), so every rank holds them.
2. ITC: ``sim = text_feat @ video_feat.T``, ``[Nt, Nv]`` on the device.
3. Re-ranking: text-to-video queries are the rows, video-to-text queries the columns; each query's top ``k``
   candidates by ITC are re-scored with ``model.itm_logits(...)[:, 1]`` (the fusion encoder + ITM head), every
   other entry is -100 (as the reference). The queries are split into contiguous slices, one per rank, so each
   query is scored exactly once; all (query, candidate) pairs of a rank are flattened and scored in batches of
   ``itm_batch_size`` pairs (no Python loop per query), and the ``[queries, k]`` scores and indices are
   all-gathered. Only the rows' candidates move; the score matrices never leave the device.
4. :class:`tasks.retrieval.metric.RetrievalMetric` (the loop's evaluator) turns the matrices into R@1/5/10, median
   and mean rank in both directions, re-ranked and ITC-only (``_itc``).

:func:`rerank_per_query` is the reference's serial loop (one query at a time, chunks of 32 pairs), kept for the
tests and ``tools/analysis/benchmark_retrieval.py``.
"""
from contextlib import nullcontext
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import all_gather, get_dist_info
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop, ValLoop
from mmengine.runner.amp import autocast

from backbones.registry import LOOPS

__all__ = ['RetrievalValLoop', 'RetrievalTestLoop', 'embed_videos', 'embed_texts', 'rerank_topk',
           'rerank_per_query', 'evaluate_retrieval', 'gather_rows', 'shard']


def shard(n: int, rank: int, world: int) -> Tuple[int, int]:
    """Contiguous slice ``[start, end)`` of ``n`` items for ``rank`` of ``world`` (sizes differ by at most 1)."""
    per, extra = divmod(n, world)
    start = rank * per + min(rank, extra)
    return start, start + per + (rank < extra)


def gather_rows(x: torch.Tensor) -> List[torch.Tensor]:
    """All-gather tensors whose first dimension differs across ranks; returns each rank's tensor (on ``x``'s
    device). Other dimensions must agree. Without ``torch.distributed``: ``[x]``."""
    _, world = get_dist_info()
    if world == 1:
        return [x]
    n = torch.tensor([x.shape[0]], device=x.device)
    sizes = [int(s) for s in all_gather(n)]
    pad = max(sizes) - x.shape[0]
    if pad:
        x = torch.cat([x, x.new_zeros((pad, ) + x.shape[1:])])
    return [t[:s] for t, s in zip(all_gather(x.contiguous()), sizes)]


def _pad_to(x: torch.Tensor, length: int) -> torch.Tensor:
    return F.pad(x, (0, 0, 0, length - x.shape[1])) if x.ndim == 3 else F.pad(x, (0, length - x.shape[1]))


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


@torch.no_grad()
def embed_videos(model, dataloader, num_videos: int, on_batch: Optional[Callable[[int, dict], None]] = None,
                 keep_temporal: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    """Video features and tokens of the whole dataset, in dataset order, on every rank.

    Args:
        model: The (unwrapped) stage-2 model.
        dataloader: Test-mode :class:`tasks.retrieval.RetrievalDataset` loader (this rank's share).
        num_videos (int): Videos in the dataset.
        on_batch (callable, optional): ``on_batch(idx, data_batch)`` after each batch (hooks).
        keep_temporal (bool): Per-frame features (``encode_vision(..., keep_temporal=True)``, ``[B, T, D]``),
            averaged over frames: a text's similarity to this mean is the mean of its per-frame similarities (the
            official ``keep_temporal`` evaluation).

    Returns:
        tuple[Tensor, Tensor]: features ``[Nv, D]`` and tokens ``[Nv, Lv, Cv]``.
    """
    feats, tokens, index = [], [], []
    for i, batch in enumerate(dataloader):
        data = model.data_preprocessor(batch, False)
        x = data['inputs']
        if x.ndim == 6:  # [B, clips, C, T, H, W]
            if x.shape[1] != 1:
                raise ValueError(f'retrieval evaluation takes one clip per video, the pipeline gives {x.shape[1]}; '
                                 'sample one clip (UniformSample(num_clips=1, test_mode=True))')
            x = x[:, 0]
        if keep_temporal:
            tok, feat = model.encode_vision(x, keep_temporal=True)
            feat = feat.mean(1)  # [B, T, D] -> [B, D]: mean of the per-frame similarities
        else:
            tok, feat = model.encode_vision(x)
        feats.append(feat)
        tokens.append(tok)
        index.append(torch.tensor([int(s.video_index) for s in data['data_samples']], device=feat.device))
        if on_batch is not None:
            on_batch(i, batch)
    if not feats:
        raise ValueError('this rank got no video to embed: fewer videos than processes?')
    feat, tok, idx = torch.cat(feats), torch.cat(tokens), torch.cat(index)
    out_f = feat.new_zeros((num_videos, ) + feat.shape[1:])
    out_t = tok.new_zeros((num_videos, ) + tok.shape[1:])
    seen = torch.zeros(num_videos, dtype=torch.bool, device=feat.device)
    for f, t, j in zip(gather_rows(feat), gather_rows(tok), gather_rows(idx)):
        out_f[j], out_t[j], seen[j] = f.to(out_f.device), t.to(out_t.device), True
    if not bool(seen.all()):
        raise RuntimeError(f'{int((~seen).sum())} of {num_videos} videos were not embedded by any rank; the '
                           'evaluation sampler must cover the dataset (DefaultSampler)')
    return out_f, out_t


@torch.no_grad()
def embed_texts(model, texts: Sequence[str], batch_size: int = 256) -> Tuple[torch.Tensor, torch.Tensor,
                                                                              torch.Tensor]:
    """Text features, tokens and attention masks of all ``texts``, each rank embedding a contiguous slice.

    Returns:
        tuple[Tensor, Tensor, Tensor]: features ``[Nt, D]``, tokens ``[Nt, L, Ct]``, mask ``[Nt, L]``
        (``L``: the longest tokenized text, others zero-padded with mask 0).
    """
    rank, world = get_dist_info()
    start, end = shard(len(texts), rank, world)
    feats, toks, masks = [], [], []
    for a in range(start, end, batch_size):
        ids, mask = model.tokenize(list(texts[a:min(a + batch_size, end)]))
        tok, feat = model.encode_text(ids, mask)
        feats.append(feat)
        toks.append(tok)
        masks.append(mask)
    if feats:
        length = max(m.shape[1] for m in masks)
        feat, tok = torch.cat(feats), torch.cat([_pad_to(t, length) for t in toks])
        mask = torch.cat([_pad_to(m, length) for m in masks])
    else:  # more ranks than texts: contribute nothing (shapes from a dummy text)
        ids, m = model.tokenize(['x'])
        t, f = model.encode_text(ids, m)
        feat, tok, mask = f[:0], t[:0], m[:0]
    lengths = gather_rows(torch.tensor([tok.shape[1]], device=feat.device))
    length = max(int(x) for x in lengths)
    tok, mask = _pad_to(tok, length), _pad_to(mask, length)
    return torch.cat(gather_rows(feat)), torch.cat(gather_rows(tok)), torch.cat(gather_rows(mask))


def _itm_pairs(model, text_idx: torch.Tensor, video_idx: torch.Tensor, video_tokens: torch.Tensor,
               text_tokens: torch.Tensor, text_mask: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``itm_logits[:, 1]`` of the pairs ``(text_idx[p], video_idx[p])``, in batches of ``batch_size`` pairs."""
    out = []
    for a in range(0, len(text_idx), batch_size):
        t, v = text_idx[a:a + batch_size], video_idx[a:a + batch_size]
        out.append(model.itm_logits(video_tokens[v], text_tokens[t], text_mask[t])[:, 1].float())
    return torch.cat(out) if out else video_tokens.new_zeros(0, dtype=torch.float)


@torch.no_grad()
def rerank_topk(model, sim: torch.Tensor, video_tokens: torch.Tensor, text_tokens: torch.Tensor,
                text_mask: torch.Tensor, k: int = 128, batch_size: int = 128,
                fill: float = -100.) -> Tuple[torch.Tensor, torch.Tensor]:
    """ITM re-ranking of the top ``k`` of every row (text-to-video) and column (video-to-text) of ``sim``.

    Each rank scores a contiguous slice of the queries of each direction; the results are all-gathered, so every
    rank returns the full matrices.

    Args:
        model: The (unwrapped) stage-2 model (``itm_logits``).
        sim (Tensor): ``[Nt, Nv]`` ITC similarities.
        video_tokens (Tensor): ``[Nv, Lv, Cv]``.
        text_tokens (Tensor): ``[Nt, L, Ct]``; text_mask ``[Nt, L]``.
        k (int): Candidates per query (``min(k, Nv)`` / ``min(k, Nt)``).
        batch_size (int): Pairs per ITM forward.
        fill (float): Score of the entries that are not re-scored.

    Returns:
        tuple[Tensor, Tensor]: ``t2v`` and ``v2t``, both ``[Nt, Nv]`` float32.
    """
    rank, world = get_dist_info()
    num_t, num_v = sim.shape
    out = []
    for scores in (sim, sim.t()):  # t2v: queries = texts; v2t: queries = videos
        num_q, num_c = scores.shape
        kk = min(k, num_c)
        a, b = shard(num_q, rank, world)
        cand = scores[a:b].topk(kk, dim=1).indices                              # [q, k]
        query = torch.arange(a, b, device=sim.device)[:, None].expand(-1, kk)
        if scores is sim:
            t_idx, v_idx = query.reshape(-1), cand.reshape(-1)
        else:
            t_idx, v_idx = cand.reshape(-1), query.reshape(-1)
        vals = _itm_pairs(model, t_idx, v_idx, video_tokens, text_tokens, text_mask, batch_size).view(-1, kk)
        full = torch.full((num_q, num_c), fill, dtype=torch.float32, device=sim.device)
        rows = torch.cat(gather_rows(torch.arange(a, b, device=sim.device)))
        full[rows[:, None], torch.cat(gather_rows(cand))] = torch.cat(gather_rows(vals)).to(full.device)
        out.append(full)
    return out[0], out[1].t().contiguous()


@torch.no_grad()
def rerank_per_query(model, sim: torch.Tensor, video_tokens: torch.Tensor, text_tokens: torch.Tensor,
                     text_mask: torch.Tensor, k: int = 128, chunk: int = 32,
                     fill: float = -100.) -> Tuple[torch.Tensor, torch.Tensor]:
    """The reference's serial re-ranking (one query at a time, its ``k`` pairs in chunks of ``chunk``) on one
    process; same result as :func:`rerank_topk`. For tests and the benchmark."""
    num_t, num_v = sim.shape
    t2v = torch.full((num_t, num_v), fill, dtype=torch.float32, device=sim.device)
    v2t = torch.full((num_v, num_t), fill, dtype=torch.float32, device=sim.device)
    for i in range(num_t):
        top = sim[i].topk(min(k, num_v)).indices
        t = torch.full_like(top, i)
        t2v[i, top] = _itm_pairs(model, t, top, video_tokens, text_tokens, text_mask, chunk)
    for j in range(num_v):
        top = sim[:, j].topk(min(k, num_t)).indices
        v = torch.full_like(top, j)
        v2t[j, top] = _itm_pairs(model, top, v, video_tokens, text_tokens, text_mask, chunk)
    return t2v, v2t.t().contiguous()


@torch.no_grad()
def evaluate_retrieval(model, dataloader, k_test: int = 128, itm_batch_size: int = 128, text_batch_size: int = 256,
                       rerank: bool = True, fp16: bool = False,
                       on_batch: Optional[Callable[[int, dict], None]] = None, keep_temporal: bool = False) -> Dict:
    """Steps 1-3 of the module docstring; returns the result :class:`RetrievalMetric` takes (``itc``, ``t2v``,
    ``v2t`` ``[Nt, Nv]``, ``txt2vid``, ``vid2txt``)."""
    # a sharded model in mixed precision (VideoFMFSDP) holds its gathered weights in bf16: its autocast, as in val_step
    wrapper_autocast = getattr(model, 'autocast', nullcontext) if is_model_wrapper(model) else nullcontext
    model = _unwrap(model)
    ds = dataloader.dataset
    for attr in ('texts', 'txt2vid', 'vid2txt'):
        if not hasattr(ds, attr):
            raise TypeError(f'{type(ds).__name__} has no {attr!r}: retrieval evaluation needs a test-mode '
                            'RetrievalDataset')
    if len(ds) != len(ds.vid2txt):
        raise ValueError(f'the evaluation dataset has {len(ds)} samples for {len(ds.vid2txt)} videos; build it '
                         'with test_mode=True (one sample per video)')
    with autocast(enabled=fp16), wrapper_autocast():
        video_feat, video_tokens = embed_videos(model, dataloader, len(ds.vid2txt), on_batch, keep_temporal)
        text_feat, text_tokens, text_mask = embed_texts(model, ds.texts, text_batch_size)
    # the similarities in float32 also under mixed precision: bf16 keeps 8 bits, which would tie close candidates
    sim = text_feat.float() @ video_feat.float().t()
    result = dict(itc=sim, txt2vid=list(ds.txt2vid), vid2txt=[list(x) for x in ds.vid2txt])
    if rerank:
        with autocast(enabled=fp16), wrapper_autocast():
            result['t2v'], result['v2t'] = rerank_topk(model, sim, video_tokens, text_tokens, text_mask, k_test,
                                                       itm_batch_size)
    return result


class _RetrievalLoopMixin:
    """Shared run(): one evaluation pass, hooks per video batch, metrics through the evaluator."""
    _mode = 'val'

    def _setup(self, k_test: int, itm_batch_size: int, text_batch_size: int, rerank: bool,
               keep_temporal: bool) -> None:
        if k_test < 1 or itm_batch_size < 1 or text_batch_size < 1:
            raise ValueError('k_test, itm_batch_size and text_batch_size must be >= 1')
        self.k_test, self.itm_batch_size = k_test, itm_batch_size
        self.text_batch_size, self.rerank, self.keep_temporal = text_batch_size, rerank, keep_temporal

    def run(self) -> dict:
        mode, runner = self._mode, self.runner
        runner.call_hook(f'before_{mode}')
        runner.call_hook(f'before_{mode}_epoch')
        runner.model.eval()

        def on_batch(idx, batch):
            runner.call_hook(f'before_{mode}_iter', batch_idx=idx, data_batch=batch)
            runner.call_hook(f'after_{mode}_iter', batch_idx=idx, data_batch=batch, outputs=[])

        result = evaluate_retrieval(runner.model, self.dataloader, self.k_test, self.itm_batch_size,
                                    self.text_batch_size, self.rerank, self.fp16, on_batch, self.keep_temporal)
        self.evaluator.process(data_samples=[result])
        metrics = self.evaluator.evaluate(1)
        runner.call_hook(f'after_{mode}_epoch', metrics=metrics)
        runner.call_hook(f'after_{mode}')
        return metrics


@LOOPS.register_module()
class RetrievalValLoop(_RetrievalLoopMixin, ValLoop):
    """Validation by retrieval (module docstring), e.g. ``val_cfg = dict(type='RetrievalValLoop', k_test=128)``
    with ``val_evaluator = dict(type='RetrievalMetric')`` and a test-mode ``RetrievalDataset``.

    Args:
        runner: The runner.
        dataloader (DataLoader | dict): Test-mode ``RetrievalDataset`` loader.
        evaluator (Evaluator | dict | list): ``RetrievalMetric``.
        k_test (int): ITM re-ranked candidates per query (official 128).
        itm_batch_size (int): (text, video) pairs per ITM forward.
        text_batch_size (int): Texts per ``encode_text`` call.
        rerank (bool): False: ITC only (no ``itm_logits`` calls).
        keep_temporal (bool): ITC from per-frame features, similarities averaged over frames (official UMT
            retrieval evaluation; the model's ``encode_vision(..., keep_temporal=True)``).
        fp16 (bool): Autocast the evaluation.
    """

    def __init__(self, runner, dataloader, evaluator, k_test: int = 128, itm_batch_size: int = 128,
                 text_batch_size: int = 256, rerank: bool = True, keep_temporal: bool = False,
                 fp16: bool = False) -> None:
        super().__init__(runner, dataloader, evaluator, fp16=fp16)
        self._setup(k_test, itm_batch_size, text_batch_size, rerank, keep_temporal)


@LOOPS.register_module()
class RetrievalTestLoop(_RetrievalLoopMixin, TestLoop):
    """Testing by retrieval; same arguments as :class:`RetrievalValLoop` (``test_cfg``)."""
    _mode = 'test'

    def __init__(self, runner, dataloader, evaluator, k_test: int = 128, itm_batch_size: int = 128,
                 text_batch_size: int = 256, rerank: bool = True, keep_temporal: bool = False,
                 fp16: bool = False) -> None:
        super().__init__(runner, dataloader, evaluator, fp16=fp16)
        self._setup(k_test, itm_batch_size, text_batch_size, rerank, keep_temporal)
