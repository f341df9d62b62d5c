"""Convert an official VideoMAE V2 / UMT / mmaction2 checkpoint to VideoFM key names.

    python tools/convert_ckpt.py SRC DST [--target backbone|recognizer|pretrain] [--label-map JSON]
                                 [--prefix P] [--format pth|safetensors]

The source format is detected (see ``backbones.checkpoint.FORMATS``); SRC is read safely (weights only).
A ``.pth`` DST holds ``{'state_dict': ..., 'meta': {'source', 'format', 'target'}}`` and loads with
``torch.load(weights_only=True)``; a ``.safetensors`` DST holds the bare state dict with the same metadata.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import backbones  # noqa: E402,F401  (applies the OpenMMLab stack fixes)
import torch  # noqa: E402

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402

from backbones.checkpoint import (FORMATS, TARGETS, UnsafeCheckpointError, convert_state_dict,  # noqa: E402
                                  load_checkpoint_file)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a VideoMAE V2 / UMT / mmaction2 / VideoFM checkpoint to VideoFM key names.',
        epilog='source formats: ' + '; '.join(f'{k}: {v}' for k, v in FORMATS.items()))
    parser.add_argument('src', help='source checkpoint (.pth/.pt/.bin/.ckpt or .safetensors)')
    parser.add_argument('dst', help='output file (.pth or .safetensors)')
    parser.add_argument('--target', choices=sorted(TARGETS), default='backbone',
                        help='backbone: VideoViT keys; recognizer: backbone.* + cls_head.fc_cls.*; '
                             'pretrain: encoder.* + decoder / alignment heads (default: backbone)')
    parser.add_argument('--label-map', help='JSON list remapping a Kinetics-710 head (entry i = source row '
                                            'of target class i); needs --target recognizer')
    parser.add_argument('--prefix', help="keep only keys under this prefix, stripped (e.g. 'backbone.')")
    parser.add_argument('--format', choices=('pth', 'safetensors'),
                        help='output format (default: from the DST suffix, .safetensors or else pth)')
    return parser.parse_args(argv)


def save(state_dict: dict, dst: Path, fmt: str, meta: dict) -> None:
    """Write ``state_dict`` as a weights-only ``.pth`` checkpoint or a safetensors file."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if fmt == 'safetensors':
        from safetensors.torch import save_file
        # safetensors refuses shared or non-contiguous storage
        tensors = {k: v.detach().clone().contiguous() for k, v in state_dict.items()}
        save_file(tensors, str(dst), metadata=meta)
    else:
        torch.save({'state_dict': state_dict, 'meta': meta}, dst)


def main(argv=None) -> int:
    args = parse_args(argv)
    src, dst = Path(args.src), Path(args.dst)
    fmt = args.format or ('safetensors' if dst.suffix.lower() == '.safetensors' else 'pth')
    with Progress(console=Console(stderr=True)) as bar:  # read, convert, write: seconds each for ViT-g (4 GB)
        task = bar.add_task(f'converting {src.name}', total=3)
        try:
            checkpoint = load_checkpoint_file(src)
            bar.advance(task)
            state_dict, report = convert_state_dict(checkpoint, args.target, prefix=args.prefix,
                                                    label_map=args.label_map, source=str(src))
            bar.advance(task)
        except (OSError, ValueError, UnsafeCheckpointError) as e:  # a bad input, not a bug: no traceback
            raise SystemExit(f'convert_ckpt.py: error: {e}') from e
        save(state_dict, dst, fmt, {'source': str(src), 'format': report.format, 'target': args.target})
        bar.advance(task)
    print(report)
    print(f'saved {len(state_dict)} tensors to {dst} ({fmt})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
