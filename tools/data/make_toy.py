"""Generate deterministic toy datasets in the real mmaction2 on-disk formats.

Examples::

    python tools/data/make_toy.py recognition --out data/toy_recognition
    python tools/data/make_toy.py recognition --out data/toy_rec_8dir --num-classes 8 --num-train 800
    python tools/data/make_toy.py tad --out data/toy_tad
    python tools/data/make_toy.py retrieval --out data/toy_retrieval

One subcommand per dataset kind, each a :class:`ToyKind` in :data:`KINDS`: its generator module (the
``ensure_<kind>`` function and the parameter defaults), one option per generator parameter, and what to print when
the set is ready. A new kind is one more entry.
"""
import argparse
import sys
import time
from pathlib import Path
from dataclasses import dataclass
from importlib import import_module
from typing import Callable, List, Optional, Tuple

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


@dataclass(frozen=True)
class ToyKind:
    """One ``make_toy.py`` subcommand.

    Attributes:
        name (str): Subcommand name.
        title (str): Its name in the "ready" line (``'toy TITLE dataset ready at ...'``).
        module (str): Generator module: defines ``ensure`` and ``defaults``.
        ensure (str): ``ensure_<kind>(out, progress, overwrite, **params)`` in ``module``.
        defaults (str): Parameter defaults (a dict with ``seed``) in ``module``.
        help (str): One-line help.
        description (str): What the set holds and where.
        options (tuple): ``(parameter, help)`` of every generator parameter but ``seed``: option ``--param-name``.
        summary (callable): ``(root, args) -> str``, the lines printed under "ready at ROOT".
    """
    name: str
    title: str
    module: str
    ensure: str
    defaults: str
    help: str
    description: str
    options: Tuple[Tuple[str, str], ...]
    summary: Callable[[Path, argparse.Namespace], str]

    def add_to(self, subparsers: argparse._SubParsersAction) -> None:
        """Register the subcommand (defaults read from the generator module)."""
        defaults = getattr(import_module(self.module), self.defaults)
        p = subparsers.add_parser(self.name, help=self.help, description=self.description,
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        _add_common(p)
        for param, text in self.options:
            p.add_argument('--' + param.replace('_', '-'), type=int, default=defaults[param], help=text)
        p.set_defaults(func=self.run, seed=defaults['seed'])

    def run(self, args: argparse.Namespace) -> int:
        """Generate (or reuse) the set ``args`` describe and print where its files are.

        Returns:
            int: Exit code.
        """
        ensure = getattr(import_module(self.module), self.ensure)
        params = {param: getattr(args, param) for param, _ in self.options}
        start = time.perf_counter()
        root = _generate(args, ensure, dict(params, seed=args.seed))
        print(f'toy {self.title} dataset ready at {root} ({time.perf_counter() - start:.1f} s)\n'
              f'{self.summary(root, args)}')
        return 0


def _files(module: str, function: str, root: Path) -> dict:
    return getattr(import_module(module), function)(root)


def _recognition_summary(root: Path, args: argparse.Namespace) -> str:
    return (f'  ann_file:    {root / "train_list.txt"} / {root / "val_list.txt"}\n'
            f'  data_prefix: dict(video={str(root)!r})\n'
            f'  classes:     {root / "classes.txt"}')


def _ava_summary(root: Path, args: argparse.Namespace) -> str:
    f = _files('tasks.ava.toy', 'toy_ava_files', root)
    return (f'  rawframes:  {f["frames"]}/VIDEO_ID/img_00001.jpg (30 fps, timestamp_start 900, '
            f'timestamp_end {900 + args.seconds})\n'
            f'  ann_file:   {f["train_ann"]} / {f["val_ann"]}\n'
            f'  exclude:    {f["train_exclude"]} / {f["val_exclude"]}\n'
            f'  proposals:  {f["train_proposals"]} / {f["val_proposals"]}\n'
            f'  label_file: {f["label_file"]}')


def _tad_summary(root: Path, args: argparse.Namespace) -> str:
    f = _files('tasks.toy_data.tad', 'toy_tad_files', root)
    return (f'  videos:    {f["videos"]}/VIDEO.mp4 ({args.fps} fps)\n'
            f'  ann_file:  {f["ann_file"]} (subsets training / validation)\n'
            f'  feat_root: {f["feat_root"]} (VIDEO.npy [T, 64] + features.json: seconds = (4 * i + 8) / {args.fps})\n'
            f'  classes:   {f["classes"]}')


def _retrieval_summary(root: Path, args: argparse.Namespace) -> str:
    f = _files('tasks.toy_data.retrieval', 'toy_retrieval_files', root)
    return (f'  ann_file:    {f["train"]} (caption lists: caption_mode=\'multi\') / {f["val"]} (\'single\')\n'
            f'  data_prefix: dict(video={f["videos"]!r})\n'
            f'  tokenizer:   {f["vocab"]} (BERT WordPiece vocabulary)')


def _qa_summary(root: Path, args: argparse.Namespace) -> str:
    f = _files('tasks.toy_data.qa', 'toy_qa_files', root)
    return (f'  ann_file:    {f["train_ann"]} / {f["val_ann"]} ({{video, question, answer, question_id}})\n'
            f'  answer_list: {f["answer_list"]}\n'
            f'  MC:          {f["mc_ann"]} ({{video, caption: [5], answer}}); MC training captions '
            f'{f["captions_train"]}\n'
            f'  data_prefix: dict(video={f["videos"]!r}); tokenizer vocab: {f["vocab"]}')


#: The dataset kinds, one subcommand each.
KINDS: List[ToyKind] = [
    ToyKind(
        'recognition', 'recognition', 'tasks.toy_data.recognition', 'ensure_recognition', 'RECOGNITION_DEFAULTS',
        help='moving-shapes action recognition set (mmaction2 VideoDataset format)',
        description='Clips of one or two random shapes on a noisy random background that move in a '
        'class-specific direction (class k of K moves at angle 2*pi*k/K: right, up, left, down for '
        'K=4). Writes OUT/videos/{train,val}/NNNNN.mp4, OUT/{train,val}_list.txt ("videos/train/'
        '00000.mp4 LABEL"), OUT/classes.txt and OUT/toy_meta.json. Use ann_file=OUT/train_list.txt '
        'and data_prefix=dict(video=OUT) in a config.',
        options=(('num_train', 'training clips'), ('num_val', 'validation clips'), ('num_classes', 'motion directions'),
                 ('num_frames', 'frames per clip'), ('size', 'frame height and width (even)'),
                 ('fps', 'frame rate written to the mp4 files')),
        summary=_recognition_summary),
    ToyKind(
        'ava', 'AVA', 'tasks.ava.toy', 'ensure_ava', 'AVA_DEFAULTS',
        help='rendered people doing AVA actions (AVA v2.2 rawframes / csv / proposals / pbtxt format)',
        description='Videos of 1-3 rendered people (jump, stand, walk; plus hand wave and carry/hold, multi-label) '
        'in the real AVA formats: OUT/rawframes/VIDEO/img_00001.jpg at 30 fps, OUT/annotations/{train,val}.csv, '
        '{train,val}_excluded_timestamps.csv, {train,val}_proposals.pkl, action_list.pbtxt and OUT/toy_meta.json. '
        'Use with mmaction2\'s AVADataset (timestamp_end=900+SECONDS).',
        options=(('num_train', 'training videos'), ('num_val', 'validation videos'),
                 ('seconds', 'seconds per video (keyframes 902..900+S-2)'), ('height', 'frame height'),
                 ('width', 'frame width')),
        summary=_ava_summary),
    ToyKind(
        'tad', 'TAD', 'tasks.toy_data.tad', 'ensure_tad', 'TAD_DEFAULTS',
        help='long videos with class-specific events at known times (ActivityNet JSON + features)',
        description='Videos of MIN..MAX seconds with 2-4 events of 4 classes (a red square appears, a green disc '
        'moves right, a blue disc moves up, a white square flashes) on a noisy background with a drifting '
        'distractor. Writes OUT/videos/VIDEO.mp4, OUT/annotations.json (ActivityNet format, subsets training / '
        'validation, seconds), OUT/classes.txt, OUT/features/VIDEO.npy ([T, 64] from a tiny random VideoViT on '
        '16-frame clips every 4 frames) with OUT/features/features.json (the grid) and OUT/toy_meta.json.',
        options=(('num_train', 'training videos'), ('num_val', 'validation videos'),
                 ('min_seconds', 'shortest video, seconds'), ('max_seconds', 'longest video, seconds'),
                 ('fps', 'frame rate'), ('size', 'frame height and width (multiple of 8)')),
        summary=_tad_summary),
    ToyKind(
        'retrieval', 'retrieval', 'tasks.toy_data.retrieval', 'ensure_retrieval', 'RETRIEVAL_DEFAULTS',
        help='captioned clips of coloured shapes moving (official UMT retrieval JSON + WordPiece vocab)',
        description='Clips of one small or big square or disc of one of 5 colours moving right / up / left / down, '
        'captioned ("a big red disc moves left"; 3 templates). Writes OUT/videos/{train,val}/NNNNN.mp4, OUT/train.json '
        '(two captions per video), OUT/val.json (one caption; every description once), OUT/vocab.txt and '
        'OUT/toy_meta.json.',
        options=(('num_train', 'training clips'), ('num_val', 'validation clips (<= 80, one per description)'),
                 ('num_frames', 'frames per clip'), ('size', 'frame height and width (even, >= 32)'),
                 ('fps', 'frame rate')),
        summary=_retrieval_summary),
    ToyKind(
        'qa', 'QA', 'tasks.toy_data.qa', 'ensure_qa', 'QA_DEFAULTS',
        help='questions about the colour and the direction of a moving shape (UMT QA / MC JSON + answer list)',
        description='Clips of one coloured square or disc moving right / up / left / down (the toy retrieval '
        'clips), two questions per clip ("what colour is the shape?", "which direction does the shape move?"). '
        'Writes OUT/videos/{train,val}_NNNN.mp4, OUT/qa_{train,val}.json ({video, question, answer, '
        'question_id}), OUT/answer_list.json, OUT/mc_val.json ({video, caption: [5], answer}), '
        'OUT/captions_train.json ({video, caption}), OUT/vocab.txt (BERT WordPiece) and OUT/toy_meta.json.',
        options=(('num_train', 'training clips (2 questions each)'), ('num_val', 'validation clips (2 questions each)'),
                 ('num_frames', 'frames per clip'), ('size', 'frame height and width (multiple of 8)'),
                 ('fps', 'frame rate')),
        summary=_qa_summary),
]


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
    for kind in KINDS:
        kind.add_to(subparsers)
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
