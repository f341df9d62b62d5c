"""Generate deterministic toy datasets in the real mmaction2 on-disk formats.

Examples::

    python tools/data/make_toy.py recognition --out data/toy_recognition
    python tools/data/make_toy.py recognition --out data/toy_rec_8dir --num-classes 8 --num-train 800
    python tools/data/make_toy.py tad --out data/toy_tad
    python tools/data/make_toy.py retrieval --out data/toy_retrieval

One subcommand per dataset kind; each subcommand is registered by a ``_add_<kind>`` function in
:data:`SUBCOMMANDS` and sets ``func`` (``args -> exit code``) with ``set_defaults``.
"""
import argparse
import sys
import time
from pathlib import Path
from typing import Callable, List, Optional

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def _generate(args: argparse.Namespace, ensure: Callable, params: dict) -> Path:
    """``ensure(out, progress, overwrite, **params)`` (every generator goes through
    :func:`tasks.toy_data.cache.build_toy`); a folder holding other data gets the ``--overwrite`` hint."""
    from tasks.toy_data.cache import ToyDataMismatch
    try:
        return ensure(args.out, progress=not args.quiet, overwrite=args.overwrite, **params)
    except ToyDataMismatch as err:
        if 'different parameters' in str(err):
            raise ToyDataMismatch(f'{err} (or pass --overwrite to regenerate it)') from err
        raise


def _add_common(p: argparse.ArgumentParser) -> None:
    """Arguments every subcommand takes: --out, --seed, --overwrite, --quiet."""
    p.add_argument('--out', required=True, type=Path, default=argparse.SUPPRESS,
                   help='output folder; an existing toy set with the same parameters is reused, one with '
                   'different parameters is an error (see --overwrite)')
    p.add_argument('--seed', type=int, default=0, help='base random seed')
    p.add_argument('--overwrite', action='store_true',
                   help='delete OUT first if it holds a toy dataset (a folder with toy_meta.json), then '
                   'regenerate')
    p.add_argument('--quiet', action='store_true', help='no progress output')


def _run_recognition(args: argparse.Namespace) -> int:
    """Generate (or reuse) the toy recognition dataset described by ``args``.

    Args:
        args (argparse.Namespace): Parsed ``recognition`` subcommand arguments.

    Returns:
        int: Exit code.
    """
    from tasks.toy_data.recognition import ensure_recognition

    params = dict(num_train=args.num_train, num_val=args.num_val, num_classes=args.num_classes,
                  num_frames=args.num_frames, size=args.size, fps=args.fps, seed=args.seed)
    start = time.perf_counter()
    root = _generate(args, ensure_recognition, params)
    elapsed = time.perf_counter() - start
    print(f'toy recognition dataset ready at {root} ({elapsed:.1f} s)\n'
          f'  ann_file:    {root / "train_list.txt"} / {root / "val_list.txt"}\n'
          f'  data_prefix: dict(video={str(root)!r})\n'
          f'  classes:     {root / "classes.txt"}')
    return 0


def _add_recognition(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``recognition`` subcommand.

    Args:
        subparsers (argparse._SubParsersAction): Result of ``parser.add_subparsers()``.
    """
    from tasks.toy_data.recognition import RECOGNITION_DEFAULTS as d

    p = subparsers.add_parser(
        'recognition',
        help='moving-shapes action recognition set (mmaction2 VideoDataset format)',
        description='Clips of one or two random shapes on a noisy random background that move in a '
        'class-specific direction (class k of K moves at angle 2*pi*k/K: right, up, left, down for '
        'K=4). Writes OUT/videos/{train,val}/NNNNN.mp4, OUT/{train,val}_list.txt ("videos/train/'
        '00000.mp4 LABEL"), OUT/classes.txt and OUT/toy_meta.json. Use ann_file=OUT/train_list.txt '
        'and data_prefix=dict(video=OUT) in a config.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_common(p)
    p.add_argument('--num-train', type=int, default=d['num_train'], help='training clips')
    p.add_argument('--num-val', type=int, default=d['num_val'], help='validation clips')
    p.add_argument('--num-classes', type=int, default=d['num_classes'], help='motion directions')
    p.add_argument('--num-frames', type=int, default=d['num_frames'], help='frames per clip')
    p.add_argument('--size', type=int, default=d['size'], help='frame height and width (even)')
    p.add_argument('--fps', type=int, default=d['fps'], help='frame rate written to the mp4 files')
    p.set_defaults(func=_run_recognition, seed=d['seed'])


def _run_ava(args: argparse.Namespace) -> int:
    """Generate (or reuse) the toy AVA dataset described by ``args``.

    Args:
        args (argparse.Namespace): Parsed ``ava`` subcommand arguments.

    Returns:
        int: Exit code.
    """
    from tasks.ava.toy import ensure_ava, toy_ava_files

    params = dict(num_train=args.num_train, num_val=args.num_val, seconds=args.seconds, height=args.height,
                  width=args.width, seed=args.seed)
    start = time.perf_counter()
    root = _generate(args, ensure_ava, params)
    files = toy_ava_files(root)
    print(f'toy AVA dataset ready at {root} ({time.perf_counter() - start:.1f} s)\n'
          f'  rawframes:  {files["frames"]}/VIDEO_ID/img_00001.jpg (30 fps, timestamp_start 900, '
          f'timestamp_end {900 + args.seconds})\n'
          f'  ann_file:   {files["train_ann"]} / {files["val_ann"]}\n'
          f'  exclude:    {files["train_exclude"]} / {files["val_exclude"]}\n'
          f'  proposals:  {files["train_proposals"]} / {files["val_proposals"]}\n'
          f'  label_file: {files["label_file"]}')
    return 0


def _add_ava(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``ava`` subcommand.

    Args:
        subparsers (argparse._SubParsersAction): Result of ``parser.add_subparsers()``.
    """
    from tasks.ava.toy import AVA_DEFAULTS as d

    p = subparsers.add_parser(
        'ava',
        help='rendered people doing AVA actions (AVA v2.2 rawframes / csv / proposals / pbtxt format)',
        description='Videos of 1-3 rendered people (jump, stand, walk; plus hand wave and carry/hold, multi-label) '
        'in the real AVA formats: OUT/rawframes/VIDEO/img_00001.jpg at 30 fps, OUT/annotations/{train,val}.csv, '
        '{train,val}_excluded_timestamps.csv, {train,val}_proposals.pkl, action_list.pbtxt and OUT/toy_meta.json. '
        'Use with mmaction2\'s AVADataset (timestamp_end=900+SECONDS).',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_common(p)
    p.add_argument('--num-train', type=int, default=d['num_train'], help='training videos')
    p.add_argument('--num-val', type=int, default=d['num_val'], help='validation videos')
    p.add_argument('--seconds', type=int, default=d['seconds'], help='seconds per video (keyframes 902..900+S-2)')
    p.add_argument('--height', type=int, default=d['height'], help='frame height')
    p.add_argument('--width', type=int, default=d['width'], help='frame width')
    p.set_defaults(func=_run_ava, seed=d['seed'])


def _run_tad(args: argparse.Namespace) -> int:
    """Generate (or reuse) the toy temporal action detection dataset described by ``args``.

    Args:
        args (argparse.Namespace): Parsed ``tad`` subcommand arguments.

    Returns:
        int: Exit code.
    """
    from tasks.toy_data.tad import ensure_tad, toy_tad_files

    params = dict(num_train=args.num_train, num_val=args.num_val, min_seconds=args.min_seconds,
                  max_seconds=args.max_seconds, fps=args.fps, size=args.size, seed=args.seed)
    start = time.perf_counter()
    root = _generate(args, ensure_tad, params)
    f = toy_tad_files(root)
    print(f'toy TAD dataset ready at {root} ({time.perf_counter() - start:.1f} s)\n'
          f'  videos:    {f["videos"]}/VIDEO.mp4 ({args.fps} fps)\n'
          f'  ann_file:  {f["ann_file"]} (subsets training / validation)\n'
          f'  feat_root: {f["feat_root"]} (VIDEO.npy [T, 64] + features.json: seconds = (4 * i + 8) / {args.fps})\n'
          f'  classes:   {f["classes"]}')
    return 0


def _add_tad(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``tad`` subcommand.

    Args:
        subparsers (argparse._SubParsersAction): Result of ``parser.add_subparsers()``.
    """
    from tasks.toy_data.tad import TAD_DEFAULTS as d

    p = subparsers.add_parser(
        'tad',
        help='long videos with class-specific events at known times (ActivityNet JSON + features)',
        description='Videos of MIN..MAX seconds with 2-4 events of 4 classes (a red square appears, a green disc '
        'moves right, a blue disc moves up, a white square flashes) on a noisy background with a drifting '
        'distractor. Writes OUT/videos/VIDEO.mp4, OUT/annotations.json (ActivityNet format, subsets training / '
        'validation, seconds), OUT/classes.txt, OUT/features/VIDEO.npy ([T, 64] from a tiny random VideoViT on '
        '16-frame clips every 4 frames) with OUT/features/features.json (the grid) and OUT/toy_meta.json.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_common(p)
    p.add_argument('--num-train', type=int, default=d['num_train'], help='training videos')
    p.add_argument('--num-val', type=int, default=d['num_val'], help='validation videos')
    p.add_argument('--min-seconds', type=int, default=d['min_seconds'], help='shortest video, seconds')
    p.add_argument('--max-seconds', type=int, default=d['max_seconds'], help='longest video, seconds')
    p.add_argument('--fps', type=int, default=d['fps'], help='frame rate')
    p.add_argument('--size', type=int, default=d['size'], help='frame height and width (multiple of 8)')
    p.set_defaults(func=_run_tad, seed=d['seed'])


def _run_retrieval(args: argparse.Namespace) -> int:
    """Generate (or reuse) the toy video-text retrieval dataset described by ``args``.

    Args:
        args (argparse.Namespace): Parsed ``retrieval`` subcommand arguments.

    Returns:
        int: Exit code.
    """
    from tasks.toy_data.retrieval import ensure_retrieval, toy_retrieval_files

    params = dict(num_train=args.num_train, num_val=args.num_val, num_frames=args.num_frames, size=args.size,
                  fps=args.fps, seed=args.seed)
    start = time.perf_counter()
    root = _generate(args, ensure_retrieval, params)
    f = toy_retrieval_files(root)
    print(f'toy retrieval dataset ready at {root} ({time.perf_counter() - start:.1f} s)\n'
          f'  ann_file:    {f["train"]} (caption lists: caption_mode=\'multi\') / {f["val"]} (\'single\')\n'
          f'  data_prefix: dict(video={f["videos"]!r})\n'
          f'  tokenizer:   {f["vocab"]} (BERT WordPiece vocabulary)')
    return 0


def _add_retrieval(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``retrieval`` subcommand.

    Args:
        subparsers (argparse._SubParsersAction): Result of ``parser.add_subparsers()``.
    """
    from tasks.toy_data.retrieval import RETRIEVAL_DEFAULTS as d

    p = subparsers.add_parser(
        'retrieval',
        help='captioned clips of coloured shapes moving (official UMT retrieval JSON + WordPiece vocab)',
        description='Clips of one small or big square or disc of one of 5 colours moving right / up / left / down, '
        'captioned ("a big red disc moves left"; 3 templates). Writes OUT/videos/{train,val}/NNNNN.mp4, OUT/train.json (two '
        'captions per video), OUT/val.json (one caption; every description once), OUT/vocab.txt and '
        'OUT/toy_meta.json.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_common(p)
    p.add_argument('--num-train', type=int, default=d['num_train'], help='training clips')
    p.add_argument('--num-val', type=int, default=d['num_val'], help='validation clips (<= 80, one per description)')
    p.add_argument('--num-frames', type=int, default=d['num_frames'], help='frames per clip')
    p.add_argument('--size', type=int, default=d['size'], help='frame height and width (even, >= 32)')
    p.add_argument('--fps', type=int, default=d['fps'], help='frame rate')
    p.set_defaults(func=_run_retrieval, seed=d['seed'])


#: Subcommand registrars, one per dataset kind (add ``_add_ava``, ``_add_tad``, ... here).
def _run_qa(args: argparse.Namespace) -> int:
    """Generate (or reuse) the toy video QA dataset described by ``args``.

    Args:
        args (argparse.Namespace): Parsed ``qa`` subcommand arguments.

    Returns:
        int: Exit code.
    """
    from tasks.toy_data.qa import ensure_qa, toy_qa_files

    params = dict(num_train=args.num_train, num_val=args.num_val, num_frames=args.num_frames, size=args.size,
                  fps=args.fps, seed=args.seed)
    start = time.perf_counter()
    root = _generate(args, ensure_qa, params)
    f = toy_qa_files(root)
    print(f'toy QA dataset ready at {root} ({time.perf_counter() - start:.1f} s)\n'
          f'  ann_file:    {f["train_ann"]} / {f["val_ann"]} ({{video, question, answer, question_id}})\n'
          f'  answer_list: {f["answer_list"]}\n'
          f'  MC:          {f["mc_ann"]} ({{video, caption: [5], answer}}); MC training captions '
          f'{f["captions_train"]}\n'
          f'  data_prefix: dict(video={f["videos"]!r}); tokenizer vocab: {f["vocab"]}')
    return 0


def _add_qa(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``qa`` subcommand.

    Args:
        subparsers (argparse._SubParsersAction): Result of ``parser.add_subparsers()``.
    """
    from tasks.toy_data.qa import QA_DEFAULTS as d

    p = subparsers.add_parser(
        'qa',
        help='questions about the colour and the direction of a moving shape (UMT QA / MC JSON + answer list)',
        description='Clips of one coloured square or disc moving right / up / left / down (the toy retrieval '
        'clips), two questions per clip ("what colour is the shape?", "which direction does the shape move?"). '
        'Writes OUT/videos/{train,val}_NNNN.mp4, OUT/qa_{train,val}.json ({video, question, answer, '
        'question_id}), OUT/answer_list.json, OUT/mc_val.json ({video, caption: [5], answer}), '
        'OUT/captions_train.json ({video, caption}), OUT/vocab.txt (BERT WordPiece) and OUT/toy_meta.json.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_common(p)
    p.add_argument('--num-train', type=int, default=d['num_train'], help='training clips (2 questions each)')
    p.add_argument('--num-val', type=int, default=d['num_val'], help='validation clips (2 questions each)')
    p.add_argument('--num-frames', type=int, default=d['num_frames'], help='frames per clip')
    p.add_argument('--size', type=int, default=d['size'], help='frame height and width (multiple of 8)')
    p.add_argument('--fps', type=int, default=d['fps'], help='frame rate')
    p.set_defaults(func=_run_qa, seed=d['seed'])


SUBCOMMANDS: List[Callable[[argparse._SubParsersAction], None]] = [
    _add_recognition, _add_ava, _add_tad, _add_retrieval, _add_qa]


def build_parser() -> argparse.ArgumentParser:
    """The ``make_toy.py`` argument parser with one subparser per dataset kind.

    Returns:
        argparse.ArgumentParser: The parser.
    """
    parser = argparse.ArgumentParser(
        prog='make_toy.py',
        description='Generate deterministic toy datasets in the real mmaction2 on-disk formats, for '
        'smoke tests and tiny end-to-end runs. Same arguments -> identical files.')
    subparsers = parser.add_subparsers(dest='kind', metavar='KIND', required=True,
                                       help='dataset kind; run "make_toy.py KIND --help" for options')
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point.

    Args:
        argv (list[str], optional): Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns:
        int: Exit code.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileExistsError, RuntimeError) as err:
        print(f'make_toy.py {args.kind}: error: {err}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
