"""Opening videos with decord without letting a damaged file crash the process.

decord 0.6.0 segfaults (the whole process: exit 139, or "DataLoader worker ... killed by signal: Segmentation
fault", no file named) when it opens a truncated AVI or a truncated fast-start mp4 from memory, which is how
mmaction2's ``DecordInit`` opens every file (``io.BytesIO(file_client.get(path))``). The same files opened by
path do not crash. Measured on opencv-doc's vtest.avi, tree.avi, Megamind.avi, Megamind_bugy.avi and an mp4
re-encoded from vtest.avi with its ``moov`` box moved to the front, cut at 1% ... 99% of their bytes:

=========================================  ===========================  ===================================
file (cut at)                              ``DecordInit`` (memory)       :class:`CheckedDecordInit`
=========================================  ===========================  ===================================
AVI, any cut from 2% to 99%                segfault in ``VideoReader``   ``DamagedVideoError`` naming the file
fast-start mp4 cut at 2%                   segfault                      ``DamagedVideoError``
fast-start mp4 cut at 5% ... 99%           ``DECORDError`` (no name)     ``DamagedVideoError``
mp4 with ``moov`` at the end, any cut      ``Error reading N bytes``     ``DamagedVideoError``
the same files opened by path, no check    no crash (decodes the frames that are there, or DECORDError)
=========================================  ===========================  ===================================

:class:`CheckedDecordInit` therefore (1) checks the container structure first, which costs a few small reads:
an AVI's RIFF chunks must fit in the file, an mp4 / mov's top-level boxes must fit and include ``moov``; a cut
file is reported as truncated, naming the file, before decord sees it; and (2) opens local files by path
(no copy of the file in memory, no crash). Files from other storage backends are checked the same way from
their bytes and then opened from memory as mmaction2 does. The datasets of :mod:`tasks.datasets` put it in
place of mmaction2's ``DecordInit`` when they are built (:func:`use_checked_decord`), so every config that
lists ``DecordInit`` gets it; it can also be named directly (``dict(type='CheckedDecordInit')``).
"""
import io
import os.path as osp
import struct
from typing import Any, BinaryIO, Dict, List, Optional, Union

from mmaction.datasets.transforms import DecordInit

from backbones.registry import TRANSFORMS

__all__ = ['DamagedVideoError', 'check_container', 'CheckedDecordInit', 'use_checked_decord']

#: Containers whose structure :func:`check_container` reads.
_MP4_BRANDS = (b'ftyp', b'moov', b'mdat', b'free', b'skip', b'wide', b'pnot')


class DamagedVideoError(RuntimeError):
    """The container of a video is cut short or inconsistent (found before the decoder opens it)."""


def _read_at(f: BinaryIO, offset: int, n: int) -> bytes:
    f.seek(offset)
    return f.read(n)


def _check_riff(f: BinaryIO, size: int, name: str) -> None:
    """Every top-level RIFF chunk (``RIFF AVI `` and OpenDML's ``RIFF AVIX``) must end inside the file."""
    offset = 0
    while offset + 8 <= size:
        head = _read_at(f, offset, 8)
        tag, length = head[:4], struct.unpack('<I', head[4:8])[0]
        if offset > 0 and tag != b'RIFF':
            return  # trailing bytes after the last chunk: not our business
        if length == 0 and offset == 0:
            return  # streaming writer that never finalised the header: nothing to compare
        if offset + 8 + length > size:
            raise DamagedVideoError(f'{name}: truncated AVI: its {tag.decode("latin1")} chunk at byte {offset} '
                                    f'declares {8 + length} bytes but the file has only {size}')
        offset += 8 + length + (length & 1)


def _check_iso(f: BinaryIO, size: int, name: str) -> None:
    """mp4 / mov: the top-level boxes must tile the file and one must be ``moov`` (the index)."""
    offset, seen = 0, set()
    while offset + 8 <= size:
        head = _read_at(f, offset, 16)
        length, kind = struct.unpack('>I', head[:4])[0], head[4:8]
        header = 8
        if length == 1:
            if len(head) < 16:
                break
            length, header = struct.unpack('>Q', head[8:16])[0], 16
        elif length == 0:
            length = size - offset  # the box runs to the end of the file
        if length < header:
            raise DamagedVideoError(f'{name}: corrupt mp4: box {kind!r} at byte {offset} has size {length}')
        if offset + length > size:
            raise DamagedVideoError(f'{name}: truncated mp4: its {kind.decode("latin1")!r} box at byte {offset} '
                                    f'declares {length} bytes but the file has only {size}')
        seen.add(kind)
        offset += length
    if b'moov' not in seen and b'moof' not in seen:
        raise DamagedVideoError(f'{name}: truncated or incomplete mp4: no moov box (the index, written last by '
                                f'most encoders) in its {size} bytes')


def check_container(video: Union[str, bytes], name: Optional[str] = None) -> None:
    """Raise :class:`DamagedVideoError` if an AVI or mp4 / mov container is cut short; other formats pass.

    Reads only the chunk / box headers (a few dozen bytes per top-level chunk).

    Args:
        video (str | bytes): A local path or the file's bytes.
        name (str, optional): The name used in messages (default: the path).

    Raises:
        DamagedVideoError: An AVI whose RIFF chunk, or an mp4 whose top-level box, runs past the end of the
            file; an mp4 without ``moov`` (index) box.
        FileNotFoundError: ``video`` is a path that does not exist.
    """
    if isinstance(video, (bytes, bytearray, memoryview)):
        f, size, name = io.BytesIO(video), len(video), name or '<bytes>'
    else:
        f, size, name = open(video, 'rb'), osp.getsize(video), name or video
    with f:
        head = f.read(12)
        if head[:4] == b'RIFF' and head[8:12] == b'AVI ':
            _check_riff(f, size, name)
        elif head[4:8] in _MP4_BRANDS:
            _check_iso(f, size, name)


def _is_local(filename: str, io_backend: str) -> bool:
    return io_backend in ('disk', 'local') and '://' not in filename and osp.isfile(filename)


@TRANSFORMS.register_module()
class CheckedDecordInit(DecordInit):
    """mmaction2's ``DecordInit`` that a damaged file cannot crash: the container is checked first
    (:func:`check_container`) and local files are opened by path (decord segfaults on truncated AVIs opened
    from memory; see the module docstring for the measurements).

    Same keys and arguments as ``DecordInit``: adds ``video_reader``, ``total_frames``, ``avg_fps``.

    Args:
        io_backend (str): ``'disk'`` (open by path) or another MMEngine file backend (read, checked, opened
            from memory).
        num_threads (int): decord decoding threads.
        **kwargs: File client arguments.
    """

    def _get_video_reader(self, filename: str) -> Any:
        import decord
        if osp.splitext(filename)[0] == filename and not osp.isfile(filename):
            filename = filename + '.mp4'  # as DecordInit does
        if _is_local(filename, self.io_backend):
            check_container(filename)
            return decord.VideoReader(filename, num_threads=self.num_threads)
        if self.file_client is None:
            from mmengine.fileio import FileClient
            self.file_client = FileClient(self.io_backend, **self.kwargs)
        data = self.file_client.get(filename)
        check_container(data, name=filename)
        return decord.VideoReader(io.BytesIO(data), num_threads=self.num_threads)


def use_checked_decord(transforms: List[Any]) -> int:
    """Replace every mmaction2 ``DecordInit`` object in a built pipeline's transform list by an equivalent
    :class:`CheckedDecordInit`, in place.

    Args:
        transforms (list): ``Compose.transforms`` of a dataset's pipeline.

    Returns:
        int: How many were replaced.
    """
    replaced = 0
    for i, t in enumerate(transforms):
        if type(t) is DecordInit:
            new = CheckedDecordInit(io_backend=t.io_backend, num_threads=t.num_threads, **t.kwargs)
            transforms[i] = new
            replaced += 1
    return replaced


def checked_pipeline_cfg(pipeline: List[Dict]) -> List[Dict]:
    """A copy of a pipeline config with ``DecordInit`` entries renamed ``CheckedDecordInit`` (for code that
    builds a pipeline itself, e.g. the demos)."""
    out = []
    for t in pipeline:
        t = dict(t)
        if t.get('type') in ('DecordInit', 'mmaction.DecordInit', DecordInit):
            t['type'] = CheckedDecordInit
        out.append(t)
    return out
