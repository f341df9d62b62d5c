"""The cache every toy dataset generator goes through: build once, atomically, local rank 0 first.

A toy dataset is a folder that a generator writes from a few integer parameters. :func:`build_toy` is the only
way one is created:

* **Once.** A folder whose ``toy_meta.json`` records the same kind, format version and parameters is reused as
  it is; one with other parameters, or a non-empty folder without ``toy_meta.json``, is an error
  (:class:`ToyDataMismatch`) unless ``overwrite=True`` (``tools/data/make_toy.py --overwrite``), which deletes
  a folder only when it holds a toy dataset.
* **Atomically.** The generator writes into a temporary sibling ``.<name>.tmp-<pid>``; ``toy_meta.json`` is
  written last and the folder is renamed into place, so a killed run never leaves a half-written dataset. When
  several processes build the same folder at once, the loser of the rename keeps the winner's copy.
* **Local rank 0 first.** Under ``torch.distributed`` only local rank 0 of each node (``LOCAL_RANK``, else the
  global rank) builds; the other ranks wait on a barrier and then check the folder. Rank 0 reaches the barrier
  even when it fails, so no rank hangs; its error is raised after the barrier.
* **One progress bar** (``rich.progress`` on stderr, as every VideoFM tool): the generator calls ``advance()``
  once per item.
"""
import json
import os
import shutil
import zlib
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Union

from rich.console import Console
from rich.progress import Progress

__all__ = ['META_NAME', 'ToyDataMismatch', 'build_toy', 'read_meta', 'split_code']

#: Written last into every toy dataset folder: its presence marks a complete dataset.
META_NAME = 'toy_meta.json'

PathLike = Union[str, os.PathLike]
#: ``generate(out_dir, advance) -> extra meta``: writes the dataset into ``out_dir`` (which exists and is
#: empty), calls ``advance()`` once per item, returns what to add to ``toy_meta.json``.
Generator = Callable[[Path, Callable[[], None]], Dict[str, Any]]


class ToyDataMismatch(ValueError):
    """The folder holds a toy dataset with other parameters, or something that is not a toy dataset."""


def split_code(split: str) -> int:
    """Stable (process- and platform-independent) integer code for a split name, for seeding."""
    return zlib.crc32(split.encode('utf-8'))


def read_meta(root: PathLike) -> Optional[Dict[str, Any]]:
    """The parsed ``toy_meta.json`` of ``root``, or None when there is none.

    Raises:
        ToyDataMismatch: The file is unreadable or has no ``params`` entry.
    """
    meta_path = Path(root) / META_NAME
    if not meta_path.is_file():
        return None
    try:
        with open(meta_path, 'r', encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise ToyDataMismatch(f'{meta_path} is unreadable ({err}); delete {root} to regenerate the toy '
                              'dataset') from err
    if not isinstance(meta, dict) or 'params' not in meta:
        raise ToyDataMismatch(f'{meta_path} has no "params" entry; delete {root} to regenerate the toy dataset')
    return meta


def _header(kind: str, version: int, params: Dict[str, Any]) -> Dict[str, Any]:
    return {'format_version': version, 'kind': kind, 'params': params}


def _mismatch(meta: Dict[str, Any], kind: str, version: int, params: Dict[str, Any]) -> Optional[str]:
    """How ``meta`` differs from the request, in words, or None."""
    expected = _header(kind, version, params)
    diffs = [f'{key}: on disk {meta.get(key)!r}, requested {expected[key]!r}' for key in ('format_version', 'kind')
             if meta.get(key) != expected[key]]
    on_disk = meta.get('params', {})
    diffs += [f'{key}: on disk {on_disk.get(key)!r}, requested {params.get(key)!r}'
              for key in sorted(set(on_disk) | set(params)) if on_disk.get(key) != params.get(key)]
    return '; '.join(diffs) if diffs else None


def _nonempty(path: Path) -> bool:
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def _is_cached(root: Path, kind: str, version: int, params: Dict[str, Any]) -> bool:
    """True if ``root`` holds this toy dataset, False if it is missing or empty; raise if it holds another."""
    meta = read_meta(root) if root.is_dir() else None
    if meta is None:
        if _nonempty(root):
            raise ToyDataMismatch(f'{root} exists but has no {META_NAME}, so it is not a toy dataset; delete the '
                                  'folder or change the path')
        return False
    mismatch = _mismatch(meta, kind, version, params)
    if mismatch is not None:
        raise ToyDataMismatch(f'{root} holds a toy dataset generated with different parameters ({mismatch}); '
                              'delete the folder or change the path')
    return True


def _write(root: Path, kind: str, version: int, params: Dict[str, Any], generate: Generator, total: int,
           progress: bool) -> None:
    """Generate into a temporary sibling, write the meta file last, rename into place."""
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f'.{root.name}.tmp-{os.getpid()}'
    shutil.rmtree(tmp, ignore_errors=True)  # leftover of a crashed run of a process that had the same pid
    try:
        tmp.mkdir()
        with Progress(console=Console(stderr=True), disable=not progress) as bar:
            task = bar.add_task(f'toy {kind} data -> {root.name}', total=total)
            extra = generate(tmp, lambda: bar.advance(task))
        meta = {**_header(kind, version, params), **(extra or {})}
        (tmp / META_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True) + '\n', encoding='utf-8')
        try:
            os.rename(tmp, root)
        except OSError:  # another process won the race (or someone created root meanwhile)
            try:
                same = root.is_dir() and _is_cached(root, kind, version, params)
            except ToyDataMismatch as err:
                raise FileExistsError(f'another process wrote {root} while this one generated the toy dataset: '
                                      f'{err}') from err
            if not same:
                raise FileExistsError(f'{root} appeared while generating the toy dataset and is not a toy dataset; '
                                      'delete it and retry')
            shutil.rmtree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _local_rank_first(build: Callable[[], None], check: Callable[[], bool], root: Path) -> None:
    """``build()`` on local rank 0 (or in a non-distributed run); the other ranks wait on a barrier, then
    ``check()``."""
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        build()
        return
    local_rank = os.environ.get('LOCAL_RANK')
    rank = int(local_rank) if local_rank is not None else dist.get_rank()
    error: Optional[BaseException] = None
    if rank == 0:
        try:
            build()
        except Exception as err:  # reach the barrier anyway so the other ranks do not hang
            error = err
    dist.barrier()
    if error is not None:
        raise error
    if not check():
        raise RuntimeError(f'rank {dist.get_rank()} does not see the toy dataset at {root} after local rank 0 '
                           'generated it; is the path on a file system this rank can read?')


def build_toy(root: PathLike, kind: str, version: int, params: Dict[str, Any], generate: Generator, total: int,
              progress: bool = True, exist_ok: bool = True, overwrite: bool = False) -> Path:
    """Return ``root`` holding the ``kind`` toy dataset with ``params``, generating it first when missing.

    Args:
        root (str | os.PathLike): Dataset folder.
        kind (str): Dataset kind (``'recognition'``, ``'ava'``, ...), stored in ``toy_meta.json``; the generator
            module's ``ensure_<kind>`` is what the messages point at.
        version (int): The generator's format version: bump it when the content changes for the same
            parameters, so older folders are refused.
        params (dict): Validated generation parameters (JSON-serialisable), stored in ``toy_meta.json``.
        generate (callable): ``generate(out_dir, advance) -> dict`` writes the dataset into ``out_dir``, calls
            ``advance()`` once per item and returns extra ``toy_meta.json`` entries.
        total (int): Number of items (progress bar length).
        progress (bool): Show a progress bar on stderr.
        exist_ok (bool): Reuse a folder that already holds this dataset; with False, a non-empty ``root`` is a
            ``FileExistsError``.
        overwrite (bool): Delete ``root`` first when it holds a toy dataset (never anything else).

    Returns:
        pathlib.Path: ``root``.

    Raises:
        ToyDataMismatch: ``root`` holds a toy dataset with other parameters (or an older format version), or
            something that is not a toy dataset.
        FileExistsError: ``exist_ok=False`` and ``root`` is not empty, or another process wrote something else
            there at the same time.
    """
    root = Path(root)

    def build() -> None:
        if overwrite and root.exists():
            if read_meta(root) is None:
                raise ToyDataMismatch(f'refusing to overwrite {root}: it has no {META_NAME}, so it is not a toy '
                                      'dataset')
            shutil.rmtree(root)
        if not exist_ok and _nonempty(root):
            raise FileExistsError(f'{root} already exists and is not empty; delete it, choose another path, or '
                                  f'call ensure_{kind}() to reuse an existing toy dataset')
        if _is_cached(root, kind, version, params):
            return
        try:
            _write(root, kind, version, params, generate, total, progress)
        except FileExistsError:
            if not (exist_ok and _is_cached(root, kind, version, params)):  # lost a race to the same dataset
                raise

    _local_rank_first(build, lambda: _is_cached(root, kind, version, params), root)
    return root
