"""Wall time of the retrieval re-ranking: batched (tasks/retrieval/loops.py ``rerank_topk``) against the reference's
per-query loop (``rerank_per_query``: one query at a time, its k pairs in chunks of 32), same model, same run,
printed (and written) as JSON.

    python tools/analysis/benchmark_retrieval.py [--num 1000 --k 128 --itm-batch 512 --device cpu] [--out FILE]
        [--config CONFIG]  # the model (default: the toy retrieval config's tiny UMTStage2)

The set: ``--num`` texts (toy captions) and ``--num`` videos (random 4-frame 32 px clips) embedded by the model
(``encode_text`` / ``encode_vision``); ITC similarities for all pairs; then the top ``k`` of every row and column
re-scored with ``itm_logits[:, 1]`` both ways. Both re-rankings are checked to give the same matrices. Numbers go in
the README (speed claims live in benchmarks, not tests).
"""
import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _bootstrap  # noqa: E402,F401

import torch  # noqa: E402

TOY = 'configs/retrieval/toy/umt-s2-vit-tiny-p8-bert-tiny_scratch_1xb16-u4-30e_toy-retrieval.py'


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', default=str(Path(__file__).resolve().parents[2] / TOY))
    p.add_argument('--num', type=int, default=1000, help='texts and videos')
    p.add_argument('--k', type=int, default=128, help='re-ranked candidates per query')
    p.add_argument('--itm-batch', type=int, default=512, help='pairs per ITM forward (batched)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    p.add_argument('--out', default=None, help='also write the JSON here')
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from backbones.registry import MODELS
    from tasks.retrieval import rerank_per_query, rerank_topk
    from tasks.toy_data.retrieval import COMBOS, TEMPLATES, caption
    init_default_scope('videofm')
    cfg = Config.fromfile(args.config)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = MODELS.build(cfg.model).to(device).eval()
    texts = [caption(TEMPLATES[i % 3], *COMBOS[i % len(COMBOS)]) for i in range(args.num)]
    vcfg = cfg.model.vision
    with torch.no_grad():
        t0 = time.perf_counter()
        vt, vf = [], []
        for a in range(0, args.num, 128):
            n = min(128, args.num - a)
            tok, feat = model.encode_vision(torch.randn(n, 3, vcfg.num_frames, vcfg.img_size, vcfg.img_size,
                                                        device=device))
            vt.append(tok)
            vf.append(feat)
        vt, vf = torch.cat(vt), torch.cat(vf)
        ids, mask = model.tokenize(texts)
        tt, tf = model.encode_text(ids, mask)
        sim = tf @ vf.t()
        _sync(device)
        t_embed = time.perf_counter() - t0
        t0 = time.perf_counter()
        batched = rerank_topk(model, sim, vt, tt, mask, k=args.k, batch_size=args.itm_batch)
        _sync(device)
        t_batched = time.perf_counter() - t0
        t0 = time.perf_counter()
        loop = rerank_per_query(model, sim, vt, tt, mask, k=args.k)
        _sync(device)
        t_loop = time.perf_counter() - t0
    diff = max(float((a - b).abs().max()) for a, b in zip(batched, loop))
    out = dict(num_texts=args.num, num_videos=args.num, k=args.k, itm_pairs=2 * args.num * min(args.k, args.num),
               itm_batch=args.itm_batch, device=str(device), threads=torch.get_num_threads(),
               model=Path(args.config).name, params=sum(x.numel() for x in model.parameters()),
               embed_and_itc_s=round(t_embed, 3), rerank_batched_s=round(t_batched, 3),
               rerank_per_query_s=round(t_loop, 3), speedup=round(t_loop / t_batched, 2), max_abs_diff=diff,
               torch=torch.__version__, machine=platform.processor() or platform.machine())
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + '\n')
    if diff > 1e-3:
        print(f'batched and per-query re-ranking differ by {diff}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
