"""The local backend: a state file, its backup, an apply journal and an flock-based lock.

Files next to ``<path>`` (all mode 0600, the directory is created 0700):

- ``<path>``            the state, replaced atomically (temp file, fsync, rename);
- ``<path>.backup``     the state as it was before this backend's first changing write;
- ``<path>.journal``    append-only, one fsync'ed JSON line a finished resource; folded into
                        the state by the next ``read()`` if an apply died before its final write;
- ``<path>.lock.info``  the lock: an ``flock`` on this file, which holds the holder's LockInfo.

A ``LocalBackend`` object is used by one thread; only its ``Journal`` is thread-safe.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshprov import __version__
from meshprov.files import write_atomic
from meshprov.state.lock import LockInfo, StateLockError, StateUnlockError
from meshprov.state.model import (
    ResourceState,
    State,
    StateError,
    content_key_of,
    dump_doc,
    loads_state,
)

FILE_MODE = 0o600
DIR_MODE = 0o700
JOURNAL_MAGIC = "meshprov"
JOURNAL_VERSION = 1
FIRST_RETRY_SHORT = 0.1  # first lock retry when the timeout is short (< 10 s)
FIRST_RETRY = 1.0
MAX_RETRY = 16.0


@dataclass(frozen=True)
class _Snapshot:
    """What the state file held when last read or written by this backend."""

    lineage: str
    serial: int
    key: bytes  # State.content_key()
    exists: bool  # False: there was no state file


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Journal:
    """An append-only record of what each resource did, durable as soon as a call returns.

    Each ``record_*`` call appends one JSON line and fsyncs it before returning; calls may come
    from several threads at once (concurrent callers share an fsync).
    """

    def __init__(self, fd: int, path: Path):
        self.path = path
        self._fd: int | None = fd
        self._write_lock = threading.Lock()
        self._sync_lock = threading.Lock()  # taken before _write_lock, never after
        self._written = 0
        self._synced = 0

    @property
    def closed(self) -> bool:
        return self._fd is None

    def record_set(self, resource: ResourceState) -> None:
        """The resource now exists in this form (created, updated or tainted)."""
        self._append({"op": "set", "resource": resource.to_json()})

    def record_remove(self, address: str) -> None:
        """The resource instance at ``address`` no longer exists."""
        self._append({"op": "remove", "address": address})

    def record_outputs(self, outputs: dict[str, dict]) -> None:
        """The outputs are now exactly these (name -> {"value", "sensitive"})."""
        clean = {
            name: {"value": out.get("value"), "sensitive": bool(out.get("sensitive", False))}
            for name, out in outputs.items()
        }
        self._append({"op": "outputs", "outputs": clean})

    def _append(self, entry: dict) -> None:
        line = json.dumps(
            entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
        with self._write_lock:
            if self._fd is None:
                raise ValueError(f"journal {self.path} is closed")
            size = os.fstat(self._fd).st_size
            try:
                _write_all(self._fd, line + b"\n")
            except BaseException:
                # Never leave a torn line that later lines would follow.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, size)
                raise
            self._written += 1
            seq = self._written
        with self._sync_lock:
            if self._synced >= seq:
                return  # another caller's fsync covered this line
            with self._write_lock:
                fd, target = self._fd, self._written
            if fd is None:
                return  # close() fsynced it
            os.fsync(fd)
            self._synced = target

    def close(self) -> None:
        """Fsync and close the file (it stays on disk; nothing is folded)."""
        with self._sync_lock, self._write_lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalBackend:
    """State in a local file (``backend "local" { path = ... }``); ``path`` is absolute."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock.info")
        self.backup_path = self.path.with_name(self.path.name + ".backup")
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self._lock_fd: int | None = None
        self._lock_info: LockInfo | None = None
        self._snap: _Snapshot | None = None
        self._backup_bytes: bytes | None = None  # the state file before our first write
        self._backup_written = False
        self._journal: Journal | None = None

    # -- locking ----------------------------------------------------------------------------

    @property
    def lock_info(self) -> LockInfo | None:
        """The lock this backend holds, if any."""
        return self._lock_info

    def lock(
        self,
        operation: str,
        info: str = "",
        timeout: float = 0.0,
        *,
        on_wait: Callable[[LockInfo | None], None] | None = None,
    ) -> LockInfo:
        """Take the state lock, waiting up to ``timeout`` seconds; raises StateLockError.

        ``on_wait(holder)`` is called once if the lock is busy and we are going to wait (the
        CLI prints "Acquiring state lock. This may take a few moments...").
        """
        if self._lock_fd is not None:
            raise RuntimeError(f"{self.path} is already locked by this backend")
        timeout = max(0.0, timeout)
        deadline = time.monotonic() + timeout
        delay = FIRST_RETRY if timeout >= 10 else FIRST_RETRY_SHORT
        notified = False
        while True:
            fd = self._try_flock()
            if fd is not None:
                break
            now = time.monotonic()
            if now >= deadline:
                raise StateLockError.held(str(self.path), self._read_holder(), waited=timeout)
            if on_wait is not None and not notified:
                notified = True
                on_wait(self._read_holder())
            time.sleep(min(delay, deadline - now))
            delay = min(delay * 2, MAX_RETRY)
        self._lock_fd = fd
        self._lock_info = LockInfo.new(operation, str(self.path), info)
        try:
            self._write_lock_info()
            self._remove_stale_temp_files()
        except BaseException:
            self.unlock()
            raise
        return self._lock_info

    def unlock(self) -> None:
        """Remove the lock info file, then release the lock. Does nothing if not locked."""
        fd = self._lock_fd
        if fd is None:
            return
        self._lock_fd = None
        self._lock_info = None
        try:
            self.lock_path.unlink(missing_ok=True)
        finally:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def force_unlock(self, lock_id: str) -> None:
        """Remove a lock left behind, if ``lock_id`` names it; raises StateUnlockError.

        A local lock held by a live process cannot be removed (like Terraform): the flock
        dies with its process, so only a stale lock info file can be left to clean up.
        """
        if self._lock_fd is not None and self._lock_info is not None:
            if lock_id != self._lock_info.ID:
                raise StateUnlockError(self._id_mismatch(lock_id, self._lock_info.ID))
            self.unlock()
            return
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            raise StateUnlockError(f"No lock to unlock: {self.lock_path} does not exist.") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._read_holder()
                raise StateUnlockError(
                    "Local state cannot be unlocked by another process: the lock on "
                    f"{self.path} is held by a running meshprov, and is released when it "
                    "exits.\n\n" + (holder.describe() if holder else "Lock Info: unavailable\n"),
                    holder,
                ) from None
            if not self._same_file(fd):
                raise StateUnlockError(f"No lock to unlock: {self.lock_path} does not exist.")
            stale = LockInfo.loads(os.pread(fd, 1 << 20, 0))
            if stale is None:
                raise StateUnlockError(f"No lock to unlock: {self.lock_path} holds no lock info.")
            if lock_id != stale.ID:
                raise StateUnlockError(self._id_mismatch(lock_id, stale.ID), stale)
            self.lock_path.unlink(missing_ok=True)
        finally:
            os.close(fd)  # releases the flock if we took it

    @staticmethod
    def _id_mismatch(given: str, actual: str) -> str:
        return (
            f'The lock ID "{given}" does not match the existing lock ID "{actual}". '
            "Check the ID in the lock error and try again."
        )

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
        self._ensure_dir()
        for _ in range(1000):
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
            except OSError as exc:
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

    def _write_lock_info(self) -> None:
        assert self._lock_fd is not None and self._lock_info is not None
        data = self._lock_info.dumps()
        os.ftruncate(self._lock_fd, 0)
        os.pwrite(self._lock_fd, data, 0)
        os.fsync(self._lock_fd)

    def _read_holder(self) -> LockInfo | None:
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

    def _remove_stale_temp_files(self) -> None:
        """Remove temp files of writes killed midway (they may hold secrets); we hold the lock."""
        pattern = re.compile(
            rf"^\.{re.escape(self.path.name)}(?:\.backup)?\.[A-Za-z0-9_]{{8}}\.tmp$"
        )
        try:
            names = os.listdir(self.path.parent)
        except OSError:
            return
        for name in names:
            if pattern.match(name):
                with contextlib.suppress(OSError):
                    (self.path.parent / name).unlink()

    def _ensure_dir(self) -> None:
        if not self.path.parent.is_dir():
            self.path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)

    # -- reading and writing ------------------------------------------------------------------

    def read(self) -> State:
        """The current state (a new empty one if there is no file), with any journal folded.

        A journal left by an interrupted apply is folded and the result written, if this
        backend holds the lock or can take it at once; if another run holds the lock, the
        journal is its own and is only applied in memory. Raises StateError for a corrupt
        file, which is left untouched.
        """
        if not self.journal_path.exists() or self._journal_active():
            return self._read(persist_fold=False)
        if self._lock_fd is not None:
            return self._read(persist_fold=True)
        try:
            fd = self._try_flock()
        except StateLockError:  # e.g. a read-only directory: we could not write anyway
            fd = None
        if fd is None:
            return self._read(persist_fold=False)
        self._lock_fd = fd
        self._lock_info = LockInfo.new("fold state journal", str(self.path))
        try:
            self._write_lock_info()
            return self._read(persist_fold=True)
        finally:
            self.unlock()

    def write(self, state: State) -> State:
        """Persist ``state`` if its content changed since the last read or write.

        Sets ``state.serial`` (last serial + 1 on a change, else unchanged) and returns it.
        The first changing write of this backend first saves the previous file to
        ``<path>.backup``.
        """
        if self._snap is None:
            self._remember(*self._load_disk())
        snap = self._snap
        assert snap is not None
        doc = state.to_json()
        key = content_key_of(doc)
        if key == snap.key:
            state.serial = snap.serial
            return state
        state.serial = doc["serial"] = snap.serial + 1
        state.meshprov_version = doc["meshprov_version"] = __version__
        self._persist(dump_doc(doc))
        self._snap = _Snapshot(state.lineage, state.serial, key, exists=True)
        return state

    def write_exact(self, state: State) -> State:
        """Write ``state`` keeping its own lineage and serial (``state push``).

        The caller has checked lineage and serial (or was told ``--force``). Nothing is written
        if the file already holds this content with this serial; the backup rule is as for
        ``write``.
        """
        if self._snap is None:
            self._remember(*self._load_disk())
        snap = self._snap
        assert snap is not None
        doc = state.to_json()
        key = content_key_of(doc)
        if snap.exists and key == snap.key and state.serial == snap.serial:
            return state
        state.meshprov_version = doc["meshprov_version"] = __version__
        self._persist(dump_doc(doc))
        self._snap = _Snapshot(state.lineage, state.serial, key, exists=True)
        return state

    def _persist(self, data: bytes) -> None:
        """Back up the previous file before this backend's first write, then replace it."""
        self._ensure_dir()
        if not self._backup_written:
            if self._backup_bytes is not None:
                write_atomic(self.backup_path, self._backup_bytes, FILE_MODE)
            self._backup_written = True
            self._backup_bytes = None
        write_atomic(self.path, data, FILE_MODE)

    def _load_disk(self) -> tuple[State | None, bytes | None]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            raise StateError(
                f"State file {self.path} cannot be read: {exc.strerror or exc}", str(self.path)
            ) from None
        return loads_state(raw, str(self.path)), raw

    def _remember(self, state: State | None, raw: bytes | None) -> State:
        """Make ``state`` (None: no file, so a new empty state) the snapshot; return the state."""
        exists = state is not None
        if state is None:
            state = State.new()
        self._snap = _Snapshot(state.lineage, state.serial, state.content_key(), exists)
        if not self._backup_written:
            self._backup_bytes = raw
        return state

    def _read(self, persist_fold: bool) -> State:
        disk, raw = self._load_disk()
        state = self._remember(disk, raw)
        if self.journal_path.exists():
            state = self._fold(disk, state, persist_fold)
        return state

    # -- the journal --------------------------------------------------------------------------

    def begin_journal(self, base: State) -> Journal:
        """Start recording an apply on top of ``base``, the state as it is on disk."""
        if self._journal_active():
            raise RuntimeError(f"a journal for {self.path} is already open")
        if self._snap is None:
            self._remember(*self._load_disk())
        snap = self._snap
        assert snap is not None
        if snap.exists and (base.lineage, base.serial) != (snap.lineage, snap.serial):
            raise ValueError(
                f"journal base (lineage {base.lineage}, serial {base.serial}) is not the state "
                f"on disk (lineage {snap.lineage}, serial {snap.serial}); write it first"
            )
        if not snap.exists and base.serial != 0:
            raise ValueError(f"journal base has serial {base.serial} but {self.path} is absent")
        if self.journal_path.exists():
            raise StateError(
                f"State journal {self.journal_path} already exists (left by an interrupted "
                "apply); read the state again to fold it in first",
                str(self.journal_path),
            )
        self._ensure_dir()
        fd = os.open(
            self.journal_path,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC,
            FILE_MODE,
        )
        try:
            os.fchmod(fd, FILE_MODE)
            header = {
                "journal": JOURNAL_MAGIC,
                "version": JOURNAL_VERSION,
                "lineage": base.lineage,
                "serial": base.serial,
            }
            _write_all(fd, json.dumps(header, sort_keys=True).encode("utf-8") + b"\n")
            os.fsync(fd)
            _fsync_dir(self.journal_path.parent)
        except BaseException:
            os.close(fd)
            self.journal_path.unlink(missing_ok=True)
            raise
        self._journal = Journal(fd, self.journal_path)
        return self._journal

    def _journal_active(self) -> bool:
        return self._journal is not None and not self._journal.closed

    def discard_journal(self) -> None:
        """Close and delete the journal, once the final state has been written. Idempotent."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        self._delete_journal()

    def _delete_journal(self) -> None:
        try:
            self.journal_path.unlink()
        except FileNotFoundError:
            return
        with contextlib.suppress(OSError):
            _fsync_dir(self.journal_path.parent)

    def _fold(self, disk: State | None, state: State, persist: bool) -> State:
        """Apply the journal's entries to ``state`` if it was written on top of it."""
        source = str(self.journal_path)
        try:
            raw = self.journal_path.read_bytes()
        except FileNotFoundError:
            return state
        except OSError as exc:
            raise StateError(
                f"State journal {source} cannot be read: {exc.strerror or exc}", source
            ) from None
        header, entries = _parse_journal(raw, source)
        if header is None:
            matches = False  # killed while writing the header: nothing was recorded
        elif disk is not None:
            matches = header == (disk.lineage, disk.serial)
        else:
            matches = header[1] == 0
        if not matches:
            # Already folded (or never started): the state on disk is newer than the journal.
            if persist:
                self._delete_journal()
            return state
        assert header is not None
        if disk is None:
            state = State(lineage=header[0])
            if persist:
                self._snap = _Snapshot(state.lineage, 0, state.content_key(), exists=False)
        for lineno, entry in entries:
            _apply_entry(state, entry, source, lineno)
        if persist:
            self.write(state)
            self._journal = None
            self._delete_journal()
        return state


def _parse_journal(raw: bytes, source: str) -> tuple[tuple[str, int] | None, list[tuple[int, Any]]]:
    """The header's (lineage, serial) and the entries, without a torn tail.

    Only the tail can be torn (a process killed while appending, or unsynced blocks after a
    power loss): unparsable lines are ignored when no valid line follows them; an unparsable
    line followed by a valid one is corruption.
    """
    lines = raw.split(b"\n")
    if len(lines) < 2:
        return None, []  # not even a complete header line
    head = lines[0]
    try:
        header = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        header = None
    if (
        not isinstance(header, dict)
        or header.get("journal") != JOURNAL_MAGIC
        or not isinstance(header.get("lineage"), str)
        or isinstance(header.get("serial"), bool)
        or not isinstance(header.get("serial"), int)
    ):
        if not any(_valid_entry(line) is not None for line in lines[1:]):
            return None, []  # a torn header: nothing was recorded after it
        raise StateError(f"State journal {source} has no valid header (line 1)", source)
    version = header.get("version", JOURNAL_VERSION)
    if not isinstance(version, int) or version > JOURNAL_VERSION:
        raise StateError(
            f"State journal {source} was written by a newer meshprov (journal version "
            f"{version}); this meshprov supports version {JOURNAL_VERSION}",
            source,
        )
    entries: list[tuple[int, Any]] = []
    bad_line = 0
    for lineno, line in enumerate(lines[1:], start=2):
        if not line and lineno == len(lines):
            continue  # the empty piece after the final newline
        entry = _valid_entry(line)
        if entry is None:
            bad_line = bad_line or lineno
            continue
        if bad_line:
            raise StateError(
                f"State journal {source} is corrupt: line {bad_line} is not a journal entry "
                f"but line {lineno} is; fix or remove the journal",
                source,
            )
        entries.append((lineno, entry))
    return (header["lineage"], header["serial"]), entries


def _valid_entry(line: bytes) -> Any:
    """The parsed entry, or None if ``line`` is not a complete journal entry."""
    try:
        entry = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(entry, dict) and entry.get("op") in ("set", "remove", "outputs"):
        return entry
    return None


def _apply_entry(state: State, entry: dict, source: str, lineno: int) -> None:
    where = f"journal line {lineno}"
    op = entry["op"]
    if op == "set":
        res = ResourceState.from_json(entry.get("resource"), source, f"{where}: resource")
        state.resources[res.address] = res
    elif op == "remove":
        address = entry.get("address")
        if not isinstance(address, str):
            raise StateError(f"State journal {source} is invalid: {where} has no address", source)
        state.resources.pop(address, None)
    else:
        outputs = entry.get("outputs")
        if not isinstance(outputs, dict) or not all(
            isinstance(o, dict) and "value" in o for o in outputs.values()
        ):
            raise StateError(f"State journal {source} is invalid: {where} outputs", source)
        state.outputs = {
            name: {"value": o["value"], "sensitive": bool(o.get("sensitive", False))}
            for name, o in outputs.items()
        }
