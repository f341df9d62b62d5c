"""Text-to-video search over a folder of videos with a trained UMT stage-2 model.

    python tools/demo/search_videos.py "a big red disc moves left" VIDEO_DIR CONFIG CKPT [--top 5]
        [--out-png results.png] [--cache FILE] [--k 128] [--device cpu]

1. Every video in VIDEO_DIR (``.mp4 .avi .mkv .mov .webm``, recursively) is decoded with the config's test pipeline
   and embedded once (``encode_vision``: the ITC feature and the tokens the fusion layers attend to). The
   embeddings are cached next to the videos (``VIDEO_DIR/.videofm_search_cache.pt``, or ``--cache``), keyed on the
   checkpoint (path, size, mtime) and the test pipeline; a video is re-embedded only when its size or mtime
   changed, new videos are added and deleted ones dropped.
2. The query is embedded (``encode_text``); the ITC similarity ranks every video, and the top ``--k`` are re-scored
   with the ITM head (``itm_logits[:, 1]``), as the retrieval evaluation does.
3. The top ``--top`` are printed (rank, ITM score, ITC similarity, file) and drawn as a contact sheet of their
   middle frames with the scores (``--out-png``).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'tools'))
import _bootstrap  # noqa: E402,F401  (repo on sys.path, stack fixes applied)

VIDEO_EXTS = ('.mp4', '.avi', '.mkv', '.mov', '.webm')
CACHE_VERSION = 1


def _stat(path: Path):
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _middle_frame(path: Path):
    import decord
    reader = decord.VideoReader(str(path), num_threads=1)
    return reader[len(reader) // 2].asnumpy()


def embed_folder(model, pipeline_cfg, videos, cache_file: Path, key: dict, device):
    """``(names, feats [N, D], tokens [N, Lv, Cv], reused)``, from the cache where the video is unchanged."""
    import torch
    from mmengine.dataset import Compose, pseudo_collate

    from tasks.datasets.decoding import checked_pipeline_cfg
    cache = {}
    if cache_file.is_file():
        loaded = torch.load(cache_file, map_location='cpu', weights_only=True)
        if loaded.get('key') == key:
            cache = loaded['videos']
    pipeline = Compose(checked_pipeline_cfg(pipeline_cfg))
    entries, reused = {}, 0
    for i, path in enumerate(videos):
        name = str(path)
        hit = cache.get(name)
        if hit is not None and hit['stat'] == _stat(path):
            entries[name] = hit
            reused += 1
            continue
        data = pipeline(dict(filename=name, text='', video_id=0, video_index=i, start_index=0, modality='RGB'))
        batch = model.data_preprocessor(pseudo_collate([data]), False)
        x = batch['inputs']
        tokens, feat = model.encode_vision(x[:, 0] if x.ndim == 6 else x)
        entries[name] = dict(stat=_stat(path), feat=feat[0].cpu(), tokens=tokens[0].cpu())
    if reused != len(videos) or set(cache) != set(entries):
        tmp = cache_file.with_suffix('.tmp')
        torch.save(dict(key=key, videos=entries), tmp)
        tmp.replace(cache_file)
    names = [str(p) for p in videos]
    feats = torch.stack([entries[n]['feat'] for n in names]).to(device)
    tokens = torch.stack([entries[n]['tokens'] for n in names]).to(device)
    return names, feats, tokens, reused


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('query', help='the text to search for')
    p.add_argument('video_dir', type=Path)
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--top', type=int, default=5)
    p.add_argument('--k', type=int, default=128, help='ITC candidates re-scored by the ITM head')
    p.add_argument('--out-png', type=Path, default=Path('search_results.png'))
    p.add_argument('--cache', type=Path, default=None, help='default: VIDEO_DIR/.videofm_search_cache.pt')
    p.add_argument('--device', default='cpu')
    args = p.parse_args(argv)

    import cv2
    import numpy as np
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from backbones.registry import MODELS
    from tasks.engine.runner import load_model_checkpoint
    from tasks.visualization.drawing import contact_sheet, put_lines

    if not args.video_dir.is_dir():
        p.error(f'{args.video_dir} is not a folder')
    videos = sorted(x for x in args.video_dir.rglob('*') if x.suffix.lower() in VIDEO_EXTS and x.is_file())
    if not videos:
        p.error(f'no videos ({", ".join(VIDEO_EXTS)}) in {args.video_dir}')
    init_default_scope('videofm')
    cfg = Config.fromfile(args.config)
    cfg.model.pop('init_cfg', None)  # every weight comes from CKPT
    model = MODELS.build(cfg.model)
    load_model_checkpoint(model, args.checkpoint, strict=True)
    device = torch.device(args.device)
    model.to(device).eval()
    ckpt = Path(args.checkpoint).resolve()
    pipeline_cfg = cfg.test_dataloader.dataset.pipeline
    key = dict(version=CACHE_VERSION, checkpoint=[str(ckpt)] + _stat(ckpt), pipeline=repr(pipeline_cfg))
    cache_file = args.cache or args.video_dir / '.videofm_search_cache.pt'
    with torch.no_grad():
        names, feats, tokens, reused = embed_folder(model, pipeline_cfg, videos, cache_file, key, device)
        ids, mask = model.tokenize([args.query])
        text_tokens, text_feat = model.encode_text(ids, mask)
        itc = (text_feat @ feats.t())[0]
        cand = itc.topk(min(args.k, len(names))).indices
        itm = model.itm_logits(tokens[cand], text_tokens.expand(len(cand), -1, -1),
                               mask.expand(len(cand), -1))[:, 1]
        order = cand[itm.argsort(descending=True)][:args.top]
        itm_of = dict(zip(cand.tolist(), itm.tolist()))
    print(f'{len(names)} videos ({reused} embeddings from the cache {cache_file}); query: {args.query!r}')
    frames = []
    for rank, j in enumerate(order.tolist(), 1):
        print(f'{rank}. ITM {itm_of[j]:+.3f}  ITC {float(itc[j]):+.3f}  {names[j]}')
        frame = _middle_frame(Path(names[j]))
        frame = cv2.resize(frame, (max(1, round(frame.shape[1] * 224 / frame.shape[0])), 224))
        frames.append(put_lines(frame, [f'#{rank} {Path(names[j]).name}', f'ITM {itm_of[j]:+.2f} ITC {float(itc[j]):.2f}'],
                                scale=0.45))
    width = max(f.shape[1] for f in frames)
    frames = [np.pad(f, ((0, 0), (0, width - f.shape[1]), (0, 0))) for f in frames]
    sheet = contact_sheet(np.stack(frames), cols=min(5, len(frames)), height=224)
    sheet = np.concatenate([put_lines(np.zeros((30, sheet.shape[1], 3), np.uint8), [f'query: {args.query}'],
                                      scale=0.5), sheet])
    args.out_png.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out_png), sheet[:, :, ::-1])
    print(f'contact sheet: {args.out_png}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
