"""The local backend: a state file, its backup, an apply journal and an flock-based lock.

Files next to ``<path>`` (all mode 0600, the directory is created 0700):

- ``<path>``            the state, replaced atomically (temp file, fsync, rename);
- ``<path>.backup``     the state as it was before this backend's first changing write;
- ``<path>.journal``    append-only, one fsync'ed JSON line a finished resource; folded into
                        the state by the next ``read()`` if an apply died before its final write;
- ``<path>.lock.info``  the lock: an ``flock`` on this file, which holds the holder's LockInfo.

The rules (serial, backup, journal, lock retry) are the backend core's (``state/core.py``);
this module is the local *store* (``LocalFileStore``) and *lock* (``FlockLock``).
A ``LocalBackend`` object is used by one thread; only its ``Journal`` is thread-safe.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from pathlib import Path

from meshprov.files import make_dirs, remove_orphaned_temps, write_atomic
from meshprov.state.core import (
    DIR_MODE,
    FILE_MODE,
    FIRST_RETRY,
    FIRST_RETRY_SHORT,
    JOURNAL_MAGIC,
    JOURNAL_VERSION,
    MAX_RETRY,
    Journal,
    StateBackend,
    id_mismatch,
)
from meshprov.state.encryption import StateEncryption
from meshprov.state.lock import LockInfo, StateLockError, StateUnlockError
from meshprov.state.model import StateError

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "FIRST_RETRY",
    "FIRST_RETRY_SHORT",
    "JOURNAL_MAGIC",
    "JOURNAL_VERSION",
    "MAX_RETRY",
    "FlockLock",
    "Journal",
    "LocalBackend",
    "LocalFileStore",
]


_LOCK_FLAGS = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC


def _ensure_dir(path: Path) -> None:
    make_dirs(path.parent, DIR_MODE)


def _replace(path: Path, data: bytes) -> None:
    """``write_atomic``, a failure naming ``path``, the file the user knows, never the
    temporary file next to it that the write goes through."""
    try:
        write_atomic(path, data, FILE_MODE)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None


class LocalFileStore:
    """The state in a file, replaced atomically, with ``<path>.backup`` as the backup."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.backup_path = self.path.with_name(self.path.name + ".backup")
        self.location = str(self.path)
        self.notices: list[str] = []

    def load(self) -> bytes | None:
        try:
            with open(self.path, "rb") as handle:
                self._check_mode(os.fstat(handle.fileno()).st_mode, fixed=False)
                return handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(
                f"State file {self.path} cannot be read: {exc.strerror or exc}", str(self.path)
            ) from None

    def save(self, data: bytes) -> None:
        _ensure_dir(self.path)
        _replace(self.path, data)

    def save_backup(self, data: bytes) -> None:
        _ensure_dir(self.path)
        _replace(self.backup_path, data)

    def _check_mode(self, mode: int, fixed: bool) -> None:
        loose = stat.S_IMODE(mode)
        if loose & 0o077 and not any(str(self.path) in n for n in self.notices):
            then = "meshprov set it to 0600" if fixed else "its next write sets it to 0600"
            self.notices.append(
                f"The state file {self.path} had mode {loose:04o}: other users could read the "
                f"private keys in it; {then}. Check who read it meanwhile."
            )

    def after_lock(self) -> None:
        """Tighten a loosened state file, and remove temp files of writes killed midway
        (they may hold secrets); we hold the lock."""
        for path in (self.path, self.backup_path):
            try:
                mode = os.lstat(path).st_mode
                if stat.S_ISREG(mode) and stat.S_IMODE(mode) & 0o077:
                    os.chmod(path, FILE_MODE)
                    if path == self.path:
                        self._check_mode(mode, fixed=True)
            except OSError:
                continue  # absent, or not ours to change: the next write replaces it
        remove_orphaned_temps(self.path.parent, [self.path.name, self.backup_path.name])


class FlockLock:
    """An ``flock`` on ``<path>.lock.info``, which holds the holder's LockInfo."""

    def __init__(self, path: Path):
        self.state_path = Path(path)
        self.lock_path = self.state_path.with_name(self.state_path.name + ".lock.info")
        self.info_path = str(self.state_path)
        self._fd: int | None = None

    def try_acquire(self, info: LockInfo) -> bool:
        if self._fd is not None:
            raise RuntimeError(f"{self.state_path} is already locked by this backend")
        fd = self._try_flock()
        if fd is None:
            return False
        self._fd = fd
        try:
            data = info.dumps()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            os.fsync(fd)
        except BaseException:
            self.release(info)
            raise
        return True

    def release(self, info: LockInfo) -> None:
        """Remove the lock info file, then release the lock."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self.lock_path.unlink(missing_ok=True)
        finally:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def force_unlock(self, lock_id: str) -> None:
        """Remove a stale lock info file whose ID is ``lock_id``.

        A local lock held by a live process cannot be removed (like Terraform): the flock
        dies with its process, so only a stale lock info file can be left to clean up.
        """
        try:
            fd = os.open(self.lock_path, _LOCK_FLAGS)
        except FileNotFoundError:
            raise StateUnlockError(f"No lock to unlock: {self.lock_path} does not exist.") from None
        except OSError as exc:
            raise StateUnlockError(f"Cannot open {self.lock_path}: {exc.strerror}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self.read_holder()
                raise StateUnlockError(
                    "Local state cannot be unlocked by another process: the lock on "
                    f"{self.state_path} is held by a running meshprov, and is released when it "
                    "exits.\n\n" + (holder.describe() if holder else "Lock Info: unavailable\n"),
                    holder,
                ) from None
            if not self._same_file(fd):
                raise StateUnlockError(f"No lock to unlock: {self.lock_path} does not exist.")
            stale = LockInfo.loads(os.pread(fd, 1 << 20, 0))
            if stale is None:
                raise StateUnlockError(f"No lock to unlock: {self.lock_path} holds no lock info.")
            if lock_id != stale.ID:
                raise StateUnlockError(id_mismatch(lock_id, stale.ID), stale)
            self.lock_path.unlink(missing_ok=True)
        finally:
            os.close(fd)  # releases the flock if we took it

    def read_holder(self) -> LockInfo | None:
        """The holder's lock info; it may be a moment before a new holder has written it."""
        for attempt in range(5):
            try:
                info = LockInfo.loads(self.lock_path.read_bytes())
            except OSError:
                info = None
            if info is not None:
                return info
            if attempt < 4:
                time.sleep(0.02)
        return None

    def _same_file(self, fd: int) -> bool:
        """Whether ``fd`` is still the file at ``lock_path`` (not unlinked or replaced)."""
        try:
            st = os.stat(self.lock_path)
        except FileNotFoundError:
            return False
        fst = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)

    def _try_flock(self) -> int | None:
        """An fd holding the flock on the current lock file, or None if someone holds it."""
        try:
            _ensure_dir(self.state_path)
        except OSError as exc:
            raise StateLockError(
                f"Cannot create the state directory {self.state_path.parent}: {exc.strerror or exc}"
            ) from None
        for _ in range(1000):
            try:
                # never through a symlink: opening one would truncate and chmod its target
                fd = os.open(self.lock_path, _LOCK_FLAGS | os.O_CREAT, FILE_MODE)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise StateLockError(
                        f"The lock file {self.lock_path} is a symlink; meshprov refuses to "
                        "follow it. Remove the link and retry."
                    ) from None
                raise StateLockError(
                    f"Cannot open the lock file {self.lock_path}: {exc.strerror or exc}"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            except BaseException:
                os.close(fd)
                raise
            if self._same_file(fd):
                with contextlib.suppress(OSError):
                    os.fchmod(fd, FILE_MODE)
                return fd
            os.close(fd)  # the holder unlinked it as we opened it: try the new file
        raise StateLockError(f"The lock file {self.lock_path} keeps being replaced.")


class LocalBackend(StateBackend):
    """State in a local file (``backend "local" { path = ... }``); ``path`` is absolute."""

    def __init__(self, path: Path, *, encryption: StateEncryption | None = None):
        self.path = Path(path)
        store = LocalFileStore(self.path)
        locker = FlockLock(self.path)
        self.lock_path = locker.lock_path
        self.backup_path = store.backup_path
        super().__init__(
            store,
            locker,
            self.path.with_name(self.path.name + ".journal"),
            encryption=encryption,
        )
