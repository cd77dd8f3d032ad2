"""Advisory file locks (``fcntl.flock``) so that two runs on one build folder never interleave.

The lock file holds the holder's pid and host; a waiting run says whom it waits for, and gives up
with :class:`LockTimeout` (naming the holder) after `timeout` seconds. The kernel drops the lock
when the holder dies, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import time
from pathlib import Path
from typing import Iterator

from ..errors import MindgapError

__all__ = ["LockTimeout", "file_lock"]


class LockTimeout(MindgapError, RuntimeError):
    """Another process holds the lock for longer than we were willing to wait."""


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, what: str = "", timeout: float | None = None,
              poll: float = 0.5, log: bool = True) -> Iterator[Path]:
    """Hold an exclusive lock on `path` (created if needed) for the ``with`` block.

    Arguments:
        what: words for the messages ("stage tagger-ab12…").
        timeout: seconds to wait for another holder (None: wait as long as it takes).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        t0, told = time.monotonic(), False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            holder = _holder(path)
            if timeout is not None and time.monotonic() - t0 >= timeout:
                raise LockTimeout(f"{what or path}: locked by {holder} ({path}); waited {timeout:g} s")
            if log and not told:
                print(f"[mindgap] waiting for {what or path}: locked by {holder}", flush=True)
                told = True
            time.sleep(poll)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        yield path
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
