"""The live-writer mark that ``eostrace info`` and ``eostrace follow`` read.

eostrace's Swift writer holds, for as long as a recording is open for writing, an advisory write
lock on one byte at offset 2**62 of the file (far beyond any data). On Linux it is an
open-file-description lock (``F_OFD_SETLK``): the kernel drops it when the descriptor is closed
or the process dies, SIGKILL included. Readers probe it with ``F_OFD_GETLK``: "running" with the
lock held is a live run, "running" without it is a writer that died.

Python's ``fcntl`` module has no ``F_OFD_*`` constants on most builds, so the Linux command
numbers are used directly (36 = F_OFD_GETLK, 37 = F_OFD_SETLK) with a ``struct flock`` packed
by hand. Elsewhere a classic ``F_SETLK`` record lock (per process) is used, as the Swift side
does. The lock does not interact with the ``flock(2)`` lock libhdf5 takes, nor with reads.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import sys

#: Offset of the locked byte (the Swift writer's WriterLock.offset).
LOCK_OFFSET = 1 << 62

if sys.platform.startswith("linux"):
    F_GETLK_CMD, F_SETLK_CMD = 36, 37  # F_OFD_GETLK, F_OFD_SETLK
else:  # pragma: no cover - macOS etc.
    F_GETLK_CMD, F_SETLK_CMD = fcntl.F_GETLK, fcntl.F_SETLK

# struct flock { short l_type; short l_whence; off_t l_start; off_t l_len; pid_t l_pid; }
# (Linux x86_64/aarch64 order; native alignment pads it to 32 bytes; OFD locks need l_pid = 0).
if sys.platform.startswith("linux"):
    _FLOCK = "hhqqi4x"
else:  # pragma: no cover - BSD order: off_t l_start, l_len; pid_t l_pid; short l_type, l_whence
    _FLOCK = "qqihh"


def _pack(l_type: int) -> bytes:
    if sys.platform.startswith("linux"):
        return struct.pack(_FLOCK, l_type, os.SEEK_SET, LOCK_OFFSET, 1, 0)
    return struct.pack(_FLOCK, LOCK_OFFSET, 1, 0, l_type, os.SEEK_SET)  # pragma: no cover


def _type_of(buf: bytes) -> int:
    v = struct.unpack(_FLOCK, buf)
    return v[0] if sys.platform.startswith("linux") else v[3]


class WriterLock:
    """Holds the live-writer lock on `path` (which must exist) until release() or process death.

    Raises ``BlockingIOError`` when another live writer (Swift or Python) holds it. On a
    filesystem without lock support the object carries on without the mark (``held`` False).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.fcntl(self._fd, F_SETLK_CMD, _pack(fcntl.F_WRLCK))
            self.held = True
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES):
                os.close(self._fd)
                self._fd = -1
                raise BlockingIOError(errno.EAGAIN, f"{self.path}: /: already open for writing by another live "
                                                    f"writer (eostrace or Python)") from None
            self.held = False  # e.g. ENOLCK / EINVAL on a filesystem without OFD locks

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1
        self.held = False

    def __del__(self):
        try:
            self.release()
        except Exception:
            pass


def is_held(path: str | os.PathLike) -> bool:
    """Whether some live writer (any process, this one included) holds the lock on `path`."""
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        out = fcntl.fcntl(fd, F_GETLK_CMD, _pack(fcntl.F_WRLCK))
        return _type_of(out) != fcntl.F_UNLCK
    except OSError:
        return False
    finally:
        os.close(fd)
