"""Temporal action detection on one raw video: features in memory, a trained detector, segments out.

    python tools/demo/detect_segments.py VIDEO CONFIG CKPT [--backbone-config C --backbone-ckpt K | --features-json F]
        [--gt GT_JSON] [--out-json segments.json] [--out-png timeline.png] [--classes FILE] [--score-thr 0.1]

1. The video's clip features are extracted with the code of ``tools/extract_features.py``
   (:class:`tasks.tad.features.FeatureExtractor`: every frame decoded once, clips batched); the backbone, its
   checkpoint and the clip length / stride / input mode come from ``--backbone-config`` / ``--backbone-ckpt`` and
   the options, or all at once from ``--features-json`` (the ``features.json`` of the features the detector was
   trained on, so the demo's features are made the same way).
2. The detector CONFIG (e.g. ``configs/tad/...``) is built, CKPT loaded, and its ``test_step`` run on the
   ``[C, T]`` features with the video's :class:`tasks.tad.grid.FeatureGrid` (seconds ``= (stride * i + clip_len /
   2) / fps``). A test dataset with ``resize_length`` (ActivityNet) gets the same one-off resize as in training.
3. Segments (seconds, label, score) are printed (those with score >= ``--score-thr``) and written to ``--out-json``
   in the ActivityNet prediction format that ``tools/analysis/eval_tad.py`` reads (all of them, best first):
   ``{"version", "results": {video: [{"segment": [s, e], "label", "score"}]}, "external_data": {...}}``.
4. ``--out-png``: a timeline, one row per class (classes with a segment >= ``--score-thr`` or ground truth),
   predicted segments as bars shaded by score (upper half of the row), ground truth from ``--gt`` (ActivityNet
   JSON, the video's stem as key) as black bars (lower half).

Class names: ``--classes`` (one per line), else the config's test dataset ``classes``, else the class list of
the test dataset as built from the config, else ``class_<i>``.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'tools'))
import _bootstrap  # noqa: E402,F401  (repo on sys.path, stack fixes applied)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Action segments of one video (VideoFM backbone features + a TAD '
                                'detector): JSON and a timeline PNG.')
    p.add_argument('video', help='video file')
    p.add_argument('config', help='detector config (e.g. configs/tad/...)')
    p.add_argument('checkpoint', help='detector checkpoint (tools/train.py output)')
    p.add_argument('--backbone-config', help='VideoFM recognition / pretraining config of the feature backbone')
    p.add_argument('--backbone-ckpt', help='its checkpoint (any format VideoFM reads)')
    p.add_argument('--backbone-cfg-options', nargs='+', action=_dict_action(),
                   help='override backbone config entries (as --cfg-options of tools/extract_features.py)')
    p.add_argument('--features-json', help='features.json of tools/extract_features.py: backbone config, checkpoint, '
                   'clip length, stride and input mode from there (options given explicitly win)')
    p.add_argument('--clip-len', type=int, default=None, help='frames per clip (default 16 or --features-json)')
    p.add_argument('--stride', type=int, default=None, help='frames between clips (default 4 or --features-json)')
    p.add_argument('--mode', choices=('official', 'normalized'), default=None,
                   help='input mode as in tools/extract_features.py (default official or --features-json)')
    p.add_argument('--batch-size', type=int, default=32, help='clips per backbone forward')
    p.add_argument('--device', default=None, help='torch device (default: cuda if available, else cpu)')
    p.add_argument('--dtype', choices=('fp32', 'bf16'), default=None, help='backbone precision (default: bf16 on '
                   'CUDA, fp32 on CPU, or --features-json)')
    p.add_argument('--classes', help='text file, one class name per line (line i = label i)')
    p.add_argument('--gt', help='ActivityNet-format ground truth JSON; the video stem is its key')
    p.add_argument('--out-json', help='write the segments (ActivityNet prediction format)')
    p.add_argument('--out-png', help='write the timeline picture')
    p.add_argument('--score-thr', type=float, default=0.1, help='printed / drawn segments (default %(default)s)')
    p.add_argument('--cfg-options', nargs='+', action=_dict_action(), help='override detector config entries')
    return p.parse_args(argv)


def _dict_action():
    from mmengine.config import DictAction
    return DictAction


def feature_settings(args) -> dict:
    """Backbone config / checkpoint / clip_len / stride / mode / dtype from the options and ``--features-json``."""
    meta = {}
    if args.features_json:
        meta = json.loads(Path(args.features_json).read_text())
    out = dict(config=args.backbone_config or meta.get('config'),
               cfg_options=args.backbone_cfg_options or meta.get('cfg_options') or None,
               checkpoint=args.backbone_ckpt or meta.get('checkpoint'),
               clip_len=args.clip_len or meta.get('clip_len', 16), stride=args.stride or meta.get('stride', 4),
               mode=args.mode or meta.get('input', {}).get('mode', 'official'), dtype=args.dtype or meta.get('dtype'))
    if not out['config'] or not out['checkpoint']:
        raise SystemExit('detect_segments.py: error: give --backbone-config and --backbone-ckpt, or --features-json')
    return out


def class_names(cfg, args, num_classes: int):
    if args.classes:
        names = [line.strip() for line in Path(args.classes).read_text().splitlines() if line.strip()]
    else:
        ds = cfg.get('test_dataloader', {}).get('dataset', {})
        names = ds.get('classes') or ds.get('metainfo', {}).get('classes')
        if not names:
            try:
                from backbones.registry import DATASETS
                names = DATASETS.build(ds).metainfo.get('classes')
            except Exception as err:  # noqa: BLE001  (optional: data may be absent on a demo machine)
                print(f'note: class names not found in the config ({type(err).__name__}: {err}); using class_<i> '
                      '(pass --classes FILE)', file=sys.stderr)
                names = None
    names = list(names) if names else [f'class_{i}' for i in range(num_classes)]
    if len(names) != num_classes:
        print(f'warning: {len(names)} class names for {num_classes} classes', file=sys.stderr)
        names += [f'class_{i}' for i in range(len(names), num_classes)]
    return names


def detect(video, cfg, detector, extractor, classes, device):
    """Features of ``video`` -> ``(segments list best first, info)``; segments are dicts with ``segment`` [s, e]
    seconds, ``label`` (name) and ``score``."""
    import torch

    from tasks.tad.grid import FeatureGrid
    feats, meta = extractor.extract(video)                                            # (T, C)
    grid = FeatureGrid(fps=meta['fps'], stride=extractor.stride, clip_len=extractor.clip_len)
    info = dict(video=Path(video).stem, fps=meta['fps'], num_frames=meta['num_frames'], padded=meta['padded'],
                duration=meta['num_frames'] / meta['fps'], num_features=int(feats.shape[0]), formula=grid.formula)
    length = cfg.get('test_dataloader', {}).get('dataset', {}).get('resize_length')
    if length:  # ActivityNet: features resized once to a fixed length, as the dataset does
        from tasks.tad.dataset import resize_features, resized_grid
        grid = resized_grid(grid, feats.shape[0], length)
        feats = resize_features(feats, length)
    x = torch.from_numpy(feats).t().contiguous()                                      # (C, T)
    sample = dict(video_name=info['video'], feat_grid=grid, duration=info['duration'], num_feats=x.shape[1])
    with torch.no_grad():
        pred = detector.test_step(dict(inputs=[x.to(device)], data_samples=[sample]))[0].pred_instances
    order = pred.scores.argsort(descending=True)
    segments = []
    for i in order.tolist():
        label = pred.labels[i]
        label = label if isinstance(label, str) else classes[int(label)]
        segments.append(dict(segment=[round(float(v), 4) for v in pred.segments[i]], label=label,
                             score=round(float(pred.scores[i]), 5)))
    return segments, info


def read_gt(path, video):
    data = json.loads(Path(path).read_text())
    database = data.get('database', data)
    if video not in database:
        raise SystemExit(f'detect_segments.py: error: {path} has no video {video!r} (first keys: '
                         f'{list(database)[:5]})')
    return [dict(segment=[float(v) for v in a['segment']], label=str(a['label']))
            for a in database[video].get('annotations', [])]


def draw_timeline(path, segments, gt, classes, duration, title, score_thr=0.1):
    """Classes as rows; predictions as bars shaded by score (upper half), ground truth as black bars (lower)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib import cm
    shown = [s for s in segments if s['score'] >= score_thr]
    rows = [c for c in classes if any(s['label'] == c for s in shown + (gt or []))]
    rows += sorted({s['label'] for s in shown + (gt or [])} - set(rows))
    if not rows:
        rows = ['(no segment)']
    index = {c: i for i, c in enumerate(rows)}
    fig, ax = plt.subplots(figsize=(10, 1 + 0.45 * len(rows)))
    cmap = cm.get_cmap('Blues') if hasattr(cm, 'get_cmap') else matplotlib.colormaps['Blues']
    for s in sorted(shown, key=lambda s: s['score']):  # best drawn last (on top)
        (a, b), y = s['segment'], index[s['label']]
        ax.barh(y - 0.2, b - a, left=a, height=0.4, color=cmap(0.3 + 0.7 * s['score']), edgecolor='none')
    for g in gt or []:
        (a, b), y = g['segment'], index[g['label']]
        ax.barh(y + 0.2, b - a, left=a, height=0.3, color='black')
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows)
    ax.invert_yaxis()
    ax.set_xlim(0, max(duration, 1e-3))
    ax.set_xlabel('seconds')
    legend = f'predictions (score >= {score_thr}, darker = higher)' + ('; black: ground truth' if gt else '')
    ax.set_title(f'{title}\n{legend}', fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import tasks  # noqa: F401
    from backbones.registry import MODELS
    from tasks.engine.runner import load_model_checkpoint
    from tasks.tad.features import FeatureExtractor, build_feature_backbone

    video = Path(args.video)
    if not video.is_file():
        raise SystemExit(f'detect_segments.py: error: video not found: {video}')
    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    fs = feature_settings(args)
    cfg = Config.fromfile(_bootstrap.resolve_config_alias(args.config))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'videofm'))
    backbone, binfo = build_feature_backbone(_bootstrap.resolve_config_alias(fs['config']), fs['checkpoint'],
                                             fs['cfg_options'])
    extractor = FeatureExtractor(backbone, fs['clip_len'], fs['stride'], fs['mode'], binfo['mean'], binfo['std'],
                                 device, fs['dtype'] or ('bf16' if device.type == 'cuda' else 'fp32'),
                                 args.batch_size)
    detector = MODELS.build(cfg.model)
    load_model_checkpoint(detector, args.checkpoint)
    detector.to(device).eval()
    if getattr(detector, 'in_channels', extractor.feature_dim) != extractor.feature_dim:
        raise SystemExit(f'detect_segments.py: error: the detector takes {detector.in_channels}-d features, the '
                         f'backbone gives {extractor.feature_dim}-d')
    classes = class_names(cfg, args, getattr(detector, 'num_classes', 1))
    segments, info = detect(video, cfg, detector, extractor, classes, device)
    gt = read_gt(args.gt, info['video']) if args.gt else None
    print(f'{video}: {info["num_frames"]} frames at {info["fps"]:g} fps ({info["duration"]:.2f} s), '
          f'{info["num_features"]} features ({info["formula"]})')
    shown = [s for s in segments if s['score'] >= args.score_thr]
    for s in shown:
        print(f'{s["segment"][0]:9.2f} s - {s["segment"][1]:9.2f} s  {s["score"]:.3f}  {s["label"]}')
    print(f'{len(shown)} segments with score >= {args.score_thr} ({len(segments)} in all)')
    if args.out_json:
        Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out_json).write_text(json.dumps(dict(
            version='VideoFM detect_segments', results={info['video']: segments},
            external_data=dict(video_info=info, features=dict(fs, checkpoint=str(fs['checkpoint'])),
                               detector=dict(config=str(args.config), checkpoint=str(args.checkpoint)))), indent=1))
        print(f'wrote {args.out_json}')
    if args.out_png:
        draw_timeline(args.out_png, segments, gt, classes, info['duration'], info['video'], args.score_thr)
        print(f'wrote {args.out_png}')
    return segments, info


if __name__ == '__main__':
    main()
