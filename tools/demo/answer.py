"""Answer a question about one video with a trained VideoFM QA model (UMTQA): the top answers of the answer list.

    python tools/demo/answer.py VIDEO "what is the man doing?" CONFIG CKPT [--topk 5] [--device cpu]

The config's test pipeline decodes the video; the question is normalised as in the datasets (lower case,
punctuation dropped); the model ranks its answer list (top ``k_test`` by first-token probability, then the full
likelihood) and the top answers are printed with their probabilities (softmax over the ranked candidates). CKPT is
a ``tools/train.py`` checkpoint or an official UMT QA / stage-2 file (converted on load).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'tools'))
import _bootstrap  # noqa: E402,F401  (repo on sys.path, stack fixes applied)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Top answers to a question about a video (VideoFM UMTQA).')
    p.add_argument('video', help='video file')
    p.add_argument('question', help='the question, e.g. "what colour is the shape?"')
    p.add_argument('config', help='QA config (configs/qa/...)')
    p.add_argument('checkpoint', help='checkpoint (tools/train.py output, or an official UMT QA file)')
    p.add_argument('--topk', type=int, default=5, help='answers to print')
    p.add_argument('--device', default='cpu', help='torch device, e.g. cpu or cuda:0')
    p.add_argument('--allow-partial-load', action='store_true',
                   help='run even when the checkpoint leaves model weights unloaded or of the wrong shape')
    return p.parse_args(argv)


def load_weights(model, path, strict: bool) -> None:
    """A Runner checkpoint loads as in tools/test.py; any other file through the model's own converter."""
    from backbones.checkpoint import load_checkpoint_file
    from tasks.engine.runner import is_runner_checkpoint, load_model_checkpoint
    if is_runner_checkpoint(load_checkpoint_file(path)):
        load_model_checkpoint(model, path, strict=strict)
    else:
        model.load_checkpoint(path, strict=strict)


def answer(video, question, cfg, model, topk=5):
    """``[(answer, probability)]``, best first, for ``question`` about ``video``."""
    from mmaction.datasets.msrvtt_datasets import pre_text
    from mmengine.dataset import Compose, pseudo_collate

    from tasks.datasets.decoding import use_checked_decord
    q = pre_text(question)
    if not q:
        raise ValueError(f'the question {question!r} is empty (after dropping punctuation)')
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    use_checked_decord(pipeline.transforms)
    try:
        data = pipeline(dict(filename=str(video), question=q, start_index=0, modality='RGB'))
    except Exception as e:  # decord / OpenCV errors do not name the file
        raise RuntimeError(f'cannot read video {video}: {type(e).__name__}: {e}') from e
    batch = model.data_preprocessor(pseudo_collate([data]), False)
    ids, probs = model.rank(batch['inputs'], [q])
    return [(model.answer_list[i], p) for i, p in zip(ids[0, :topk].tolist(), probs[0, :topk].tolist())]


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import tasks  # noqa: F401
    from backbones.registry import MODELS

    video = Path(args.video)
    if not video.is_file():
        raise FileNotFoundError(f'video not found: {video}')
    cfg = Config.fromfile(_bootstrap.resolve_config_alias(args.config))
    init_default_scope(cfg.get('default_scope', 'videofm'))
    cfg.model.pop('init_cfg', None)  # weights come from CKPT
    model = MODELS.build(cfg.model)
    if not hasattr(model, 'rank') or not hasattr(model, 'answer_list'):
        raise ValueError(f'{args.config} does not build an open-ended QA model (UMTQA), but {type(model).__name__}')
    load_weights(model, args.checkpoint, strict=not args.allow_partial_load)
    model.to(args.device).eval()
    top = answer(video, args.question, cfg, model, args.topk)
    print(f'Q: {args.question}')
    for rank, (a, p) in enumerate(top, 1):
        print(f'{rank}. {a}  {p:.4f}')
    return top


if __name__ == '__main__':
    main()
