"""Counting skipped samples across processes: a small append-only file shared by a dataset and all its
DataLoader workers (fork or spawn), read by :class:`tasks.engine.hooks.SkippedSamplesHook`."""
import os
import os.path as osp
import tempfile
import uuid
import weakref
from typing import List, Optional, Tuple

__all__ = ['SkipLog']


def _remove_if_owner(path: str, pid: int) -> None:
    if os.getpid() == pid:
        try:
            os.unlink(path)
        except OSError:
            pass


class SkipLog:
    """Skipped samples, shared by a dataset and all its DataLoader workers.

    One line ``file\\treason`` per skipped sample, appended to a small file in the temp dir whose name is
    fixed before the workers start. Appends of one short ``os.write`` with ``O_APPEND`` are atomic, so any
    number of worker processes (fork or spawn) can record while the main process reads. Copies and
    pickles refer to the same file; the process that created it removes it when the log is collected.

    Args:
        path (str, optional): Use this file (e.g. in the work dir) instead of a new temporary one.
    """

    def __init__(self, path: Optional[str] = None) -> None:
        if path is None:  # created by the first record(), so a clean run leaves no file behind
            path = osp.join(tempfile.gettempdir(), f'videofm_skipped_{os.getpid()}_{uuid.uuid4().hex}.tsv')
            weakref.finalize(self, _remove_if_owner, path, os.getpid())
        else:
            open(path, 'ab').close()
        self.path = path

    def __reduce__(self):
        return _skip_log_from_path, (self.path, )

    def __deepcopy__(self, memo):
        return self

    def record(self, filename: str, reason: str) -> None:
        """Append one skipped sample."""
        line = f'{filename}\t{reason}'.replace('\n', ' ')[:3000] + '\n'
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line.encode('utf-8', 'replace'))
        finally:
            os.close(fd)

    def size(self) -> int:
        """Current end offset; pass it to :meth:`read` later to get what was recorded since."""
        try:
            return osp.getsize(self.path)
        except OSError:
            return 0

    def read(self, offset: int = 0) -> List[Tuple[str, str]]:
        """``(file, reason)`` of every sample recorded after byte ``offset``."""
        try:
            with open(self.path, 'rb') as f:
                f.seek(offset)
                data = f.read()
        except OSError:
            return []
        lines = data.decode('utf-8', 'replace').splitlines()
        return [tuple(x.split('\t', 1)) if '\t' in x else (x, '') for x in lines]


def _skip_log_from_path(path: str) -> SkipLog:
    log = SkipLog.__new__(SkipLog)
    log.path = path
    return log
