"""The backend core shared by every state backend: snapshots, serial and backup rules, the apply
journal and its folding, the lock retry loop, and the background push of remote state.

A backend is this core over two parts:

- a *store* (``StateStore``): where the state's bytes live (a local file, an S3 object) and how
  the previous state is kept before the first changing write of a run (a ``.backup`` file or
  object);
- a *lock* (``StateLock``): a non-blocking attempt to take the lock with a ``LockInfo``,
  reading the holder's info, releasing, and ``force-unlock``.

The journal is always a local file (fsync'ed per line), whatever the store: for a remote store
it is what makes each finished resource durable at once, and it is folded on the next run.

Remote stores are also written during apply: ``checkpoint()`` (called by ``StatePersister``
every 20 s) writes the journal's state so far. Before each such write it appends a
``checkpoint`` line naming the serial and a digest of the content about to be written, so
that a later fold recognises that state as one the journal was built on.

A backend object is used by one thread, except for the ``Journal`` (thread-safe) and the
checkpoint pushes, which are serialised with every other read and write by ``_io_lock``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from meshprov import __version__
from meshprov.files import IsSymlink, make_dirs, read_file_and_mode
from meshprov.lang.numbers import json_dumps, json_number
from meshprov.state.encryption import (
    CONTENT_STATE,
    EncryptionError,
    JournalSealer,
    StateEncryption,
    decode,
    encode,
)
from meshprov.state.lock import LockInfo, StateLockError, StateUnlockError
from meshprov.state.model import (
    ResourceState,
    State,
    StateError,
    content_key_of,
    dump_doc,
    loads_state,
    output_entry,
)

_log = logging.getLogger(__name__)
FILE_MODE = 0o600
DIR_MODE = 0o700
JOURNAL_MAGIC = "meshprov"
JOURNAL_VERSION = 1  # a plaintext journal
JOURNAL_VERSION_ENCRYPTED = 2  # older meshprovs refuse it rather than drop its lines as torn
FIRST_RETRY_SHORT = 0.1  # first lock retry when the timeout is short (< 10 s)
FIRST_RETRY = 1.0
MAX_RETRY = 16.0
PERSIST_INTERVAL = 20.0  # seconds between pushes of remote state during apply (Terraform's)
PERSIST_INTERVAL_ENV = "MESHPROV_STATE_PERSIST_INTERVAL"


class StateStore(Protocol):
    """Where a state's bytes live."""

    location: str  # for messages: a path, or s3://bucket/key

    def load(self) -> bytes | None:
        """The stored bytes, None if there is no state; raises StateError."""

    def save(self, data: bytes) -> None:
        """Replace the state atomically; raises StateError or OSError."""

    def save_backup(self, data: bytes) -> None:
        """Keep ``data`` (the state before this run's first change), if this store keeps one."""

    notices: list[str]  # what the user should hear about the stored files (a loose mode)

    def after_lock(self) -> None:
        """Housekeeping that needs the lock (e.g. removing temp files of killed writes)."""


class StateLock(Protocol):
    """The state lock: one holder at a time, identified by its LockInfo ID."""

    info_path: str  # LockInfo.Path: the state path, or bucket/key

    def try_acquire(self, info: LockInfo) -> bool:
        """Take the lock with ``info`` if it is free; False if someone holds it.

        Raises StateLockError when the lock cannot even be tried (permissions, network).
        """

    def read_holder(self) -> LockInfo | None:
        """The current holder's info, if it can be read."""

    def release(self, info: LockInfo) -> None:
        """Release the lock this process took with ``info``."""

    def force_unlock(self, lock_id: str) -> None:
        """Remove a lock held by someone else if ``lock_id`` names it; StateUnlockError if not."""


def id_mismatch(given: str, actual: str) -> str:
    return (
        f'The lock ID "{given}" does not match the existing lock ID "{actual}". '
        "Check the ID in the lock error and try again."
    )


def acquire_with_retry(
    attempt: Callable[[], LockInfo | None],
    holder: Callable[[], LockInfo | None],
    timeout: float,
    display: str,
    on_wait: Callable[[LockInfo | None], None] | None = None,
) -> LockInfo:
    """Call ``attempt`` until it returns the lock info, with backoff, for up to ``timeout`` s.

    Backoff starts at 1 s (0.1 s when the timeout is under 10 s) and doubles up to 16 s, never
    sleeping past the deadline. Raises StateLockError naming the holder when time is up.
    """
    timeout = max(0.0, timeout)
    deadline = time.monotonic() + timeout
    delay = FIRST_RETRY if timeout >= 10 else FIRST_RETRY_SHORT
    notified = False
    while True:
        info = attempt()
        if info is not None:
            return info
        now = time.monotonic()
        if now >= deadline:
            raise StateLockError.held(display, holder(), waited=timeout)
        if on_wait is not None and not notified:
            notified = True
            on_wait(holder())
        time.sleep(min(delay, deadline - now))
        delay = min(delay * 2, MAX_RETRY)


@dataclass(frozen=True)
class _Snapshot:
    """What the store held when last read or written by this backend."""

    lineage: str
    serial: int
    key: bytes  # State.content_key()
    exists: bool  # False: there was no state
    stored_as: str = "plain"  # "plain", or the passphrase that opened it: "primary"/"fallback"


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def content_digest(key: bytes) -> str:
    """The digest a checkpoint line records for a state's content key."""
    return hashlib.sha256(key).hexdigest()


class Journal:
    """An append-only record of what each resource did, durable as soon as a call returns.

    Each ``record_*`` call appends one JSON line and fsyncs it before returning; calls may come
    from several threads at once (concurrent callers share an fsync). With encryption, each
    line is sealed with the journal's key. With a ``mirror`` (remote backends), the entries
    are also applied to an in-memory state, which ``snapshot`` copies for a checkpoint push.
    """

    def __init__(
        self,
        fd: int,
        path: Path,
        sealer: JournalSealer | None = None,
        mirror: State | None = None,
    ):
        self.path = path
        self._fd: int | None = fd
        self._sealer = sealer
        self._mirror = mirror
        self._write_lock = threading.Lock()
        self._sync_lock = threading.Lock()  # taken before _write_lock, never after
        self._written = 0
        self._synced = 0

    @property
    def closed(self) -> bool:
        return self._fd is None

    def record_set(self, resource: ResourceState) -> None:
        """The resource now exists in this form (created, updated or tainted)."""

        def apply(state: State) -> None:
            state.resources[resource.address] = resource

        self._append({"op": "set", "resource": resource.to_json()}, apply)

    def record_remove(self, address: str) -> None:
        """The resource instance at ``address`` no longer exists."""

        def apply(state: State) -> None:
            state.resources.pop(address, None)

        self._append({"op": "remove", "address": address}, apply)

    def record_outputs(self, outputs: dict[str, dict]) -> None:
        """The outputs are now exactly these (name -> {"value", "sensitive"})."""
        clean = {name: output_entry(out) for name, out in outputs.items()}

        def apply(state: State) -> None:
            state.outputs = dict(clean)

        self._append({"op": "outputs", "outputs": clean}, apply)

    def record_checkpoint(self, lineage: str, serial: int, digest: str) -> None:
        """The state with this serial and content digest is about to be written."""
        entry = {"op": "checkpoint", "lineage": lineage, "serial": serial, "digest": digest}
        self._append(entry, None)

    def snapshot(self) -> State | None:
        """A copy of the mirrored state (base + every entry so far), or None without a mirror."""
        with self._write_lock:
            mirror = self._mirror
            if mirror is None:
                return None
            return State(
                lineage=mirror.lineage,
                serial=mirror.serial,
                outputs=dict(mirror.outputs),
                resources=dict(mirror.resources),
            )

    def _append(self, entry: dict, apply: Callable[[State], None] | None) -> None:
        line = json_dumps(
            entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
        if self._sealer is not None:
            line = self._sealer.seal_line(line)
        with self._write_lock:
            if self._fd is None:
                raise ValueError(f"journal {self.path} is closed")
            size = os.fstat(self._fd).st_size
            try:
                write_all(self._fd, line + b"\n")
            except BaseException:
                # Never leave a torn line that later lines would follow.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, size)
                raise
            if apply is not None and self._mirror is not None:
                apply(self._mirror)
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


class StatePersister:
    """Pushes a remote backend's state during apply: every ``interval`` seconds, and at once
    when asked (the first SIGINT). ``stop()`` waits for a push in progress, so that it never
    races the final write; failures are kept in ``errors`` (the journal still has everything).
    """

    def __init__(self, backend: StateBackend, interval: float | None):
        self.backend = backend
        self.interval = interval
        self.errors: list[str] = []
        self.pushes = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        if interval is not None:
            self._thread = threading.Thread(
                target=self._run, name="meshprov-state-push", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        assert self.interval is not None
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if self.backend.checkpoint():
                    self.pushes += 1
            except (StateError, OSError) as exc:
                self.errors.append(str(exc))

    def request(self) -> None:
        """Push now (from a signal handler: it only sets an event)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()


class StateBackend:
    """A state store and its lock, with the rules every backend shares (see the module doc)."""

    def __init__(
        self,
        store: StateStore,
        locker: StateLock,
        journal_path: Path,
        *,
        encryption: StateEncryption | None = None,
        remote: bool = False,
    ):
        self.store = store
        self.locker = locker
        self.journal_path = Path(journal_path)
        self.encryption = encryption
        self.remote = remote  # a remote store: pushed during apply, errored.state.json
        self._lock_info: LockInfo | None = None
        self._snap: _Snapshot | None = None
        self._backup_raw: bytes | None = None  # the stored bytes before our first write
        self._backup_plain: bytes | None = None  # ... decrypted
        self._backup_written = False
        self._journal: Journal | None = None
        self._io_lock = threading.RLock()

    @property
    def display(self) -> str:
        """The state's location, for messages."""
        return self.store.location

    @property
    def persist_interval(self) -> float | None:
        """Seconds between state pushes during apply; None when the journal is enough."""
        if not self.remote:
            return None
        raw = os.environ.get(PERSIST_INTERVAL_ENV, "")
        try:
            value = float(raw) if raw else PERSIST_INTERVAL
        except ValueError:
            value = PERSIST_INTERVAL
        return value if value > 0 else PERSIST_INTERVAL

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
        if self._lock_info is not None:
            raise RuntimeError(f"{self.display} is already locked by this backend")

        def attempt() -> LockInfo | None:
            candidate = LockInfo.new(operation, self.locker.info_path, info)
            return candidate if self.locker.try_acquire(candidate) else None

        self._lock_info = acquire_with_retry(
            attempt, self.locker.read_holder, timeout, self.display, on_wait
        )
        try:
            self.store.after_lock()
        except BaseException:
            self.unlock()
            raise
        return self._lock_info

    def unlock(self) -> None:
        """Release the lock. Does nothing if not locked."""
        info = self._lock_info
        if info is None:
            return
        self._lock_info = None
        self.locker.release(info)

    def force_unlock(self, lock_id: str) -> None:
        """Remove a lock left behind, if ``lock_id`` names it; raises StateUnlockError."""
        if self._lock_info is not None:
            if lock_id != self._lock_info.ID:
                raise StateUnlockError(id_mismatch(lock_id, self._lock_info.ID))
            self.unlock()
            return
        self.locker.force_unlock(lock_id)

    # -- reading and writing ------------------------------------------------------------------

    @property
    def has_stored_state(self) -> bool:
        """Whether the store held a state when this backend last read or wrote it."""
        with self._io_lock:
            if self._snap is None:
                self._remember(*self._load_disk())
            assert self._snap is not None
            return self._snap.exists

    @property
    def stored_as(self) -> str | None:
        """How the state was stored when last read or written: ``"plain"``, or the passphrase
        that opened it (``"primary"``, ``"fallback"``); None if there is no state."""
        with self._io_lock:
            snap = self._snapshot()
            return snap.stored_as if snap.exists else None

    def read(self) -> State:
        """The current state (a new empty one if there is none), with any journal folded.

        A journal left by an interrupted apply is folded and the result written, if this
        backend holds the lock or can take it at once; if another run holds the lock, the
        journal is its own and is only applied in memory. Raises StateError for a corrupt
        state, which is left untouched.
        """
        with self._io_lock:
            if not os.path.lexists(self.journal_path) or self._journal_active():
                return self._read(persist_fold=False)
            if self._lock_info is not None:
                return self._read(persist_fold=True)
            candidate = LockInfo.new("fold state journal", self.locker.info_path)
            try:
                taken = self.locker.try_acquire(candidate)
            except StateLockError:  # e.g. a read-only directory: we could not write anyway
                taken = False
            if not taken:
                return self._read(persist_fold=False)
            self._lock_info = candidate
            try:
                return self._read(persist_fold=True)
            finally:
                self.unlock()

    def write(self, state: State) -> State:
        """Persist ``state`` if its content changed since the last read or write.

        Sets ``state.serial`` (last serial + 1 on a change, else unchanged) and returns it.
        The first changing write of this backend first saves the previous state as the
        store's backup. A state stored in clear (or under the fallback passphrase) while
        encryption is configured is rewritten encrypted with the same serial.
        """
        with self._io_lock:
            snap = self._snapshot()
            doc = state.to_json()
            key = content_key_of(doc)
            if key == snap.key:
                state.serial = snap.serial
                if snap.exists and self._needs_reencryption(snap):
                    doc["serial"] = snap.serial
                    state.meshprov_version = doc["meshprov_version"] = __version__
                    self._persist(dump_doc(doc))
                    self._snap = _Snapshot(state.lineage, state.serial, key, True, self._stored)
                return state
            state.serial = doc["serial"] = snap.serial + 1
            state.meshprov_version = doc["meshprov_version"] = __version__
            self._persist(dump_doc(doc))
            self._snap = _Snapshot(state.lineage, state.serial, key, True, self._stored)
            return state

    def write_exact(self, state: State) -> State:
        """Write ``state`` keeping its own lineage and serial (``state push``, migration).

        The caller has checked lineage and serial (or was told ``--force``). Nothing is written
        if the store already holds this content with this serial (and encoding); the backup
        rule is as for ``write``.
        """
        with self._io_lock:
            snap = self._snapshot()
            doc = state.to_json()
            key = content_key_of(doc)
            if (
                snap.exists
                and key == snap.key
                and state.serial == snap.serial
                and not self._needs_reencryption(snap)
            ):
                return state
            state.meshprov_version = doc["meshprov_version"] = __version__
            self._persist(dump_doc(doc))
            self._snap = _Snapshot(state.lineage, state.serial, key, True, self._stored)
            return state

    def encoded(self, state: State) -> bytes:
        """The bytes ``write`` would store for ``state`` (for ``errored.state.json``): the
        serial it would get, encrypted when encryption is configured. Writes nothing."""
        with self._io_lock:
            snap = self._snapshot()
            doc = state.to_json()
            key = content_key_of(doc)
            doc["serial"] = snap.serial if key == snap.key else snap.serial + 1
            doc["meshprov_version"] = __version__
            return encode(dump_doc(doc), CONTENT_STATE, self.encryption)

    @property
    def _stored(self) -> str:
        return "plain" if self.encryption is None else "primary"

    def _needs_reencryption(self, snap: _Snapshot) -> bool:
        return self.encryption is not None and snap.stored_as != "primary"

    def _snapshot(self) -> _Snapshot:
        if self._snap is None:
            self._remember(*self._load_disk())
        assert self._snap is not None
        return self._snap

    def _persist(self, plain: bytes) -> None:
        """Keep the previous state before this backend's first write, then replace it."""
        data = encode(plain, CONTENT_STATE, self.encryption)
        if not self._backup_written:
            backup = self._backup_raw
            stored_as = self._snap.stored_as if self._snap is not None else "plain"
            if backup is not None and self.encryption is not None and stored_as != "primary":
                # never leave a clear (or old-passphrase) copy next to an encrypted state
                assert self._backup_plain is not None
                backup = encode(self._backup_plain, CONTENT_STATE, self.encryption)
            if backup is not None:
                self.store.save_backup(backup)
            self._backup_written = True
            self._backup_raw = self._backup_plain = None
        self.store.save(data)
        _log.info("state: wrote %s (%d bytes)", self.display, len(data))

    def _load_disk(self) -> tuple[State | None, bytes | None, bytes | None, str]:
        """The stored state, its bytes as stored and decrypted, and how it was stored."""
        raw = self.store.load()
        if raw is None:
            return None, None, None, "plain"
        plain, stored_as = decode(raw, CONTENT_STATE, self.display, self.encryption)
        return loads_state(plain, self.display), raw, plain, stored_as

    def _remember(
        self, state: State | None, raw: bytes | None, plain: bytes | None, stored_as: str
    ) -> State:
        """Make ``state`` (None: no state, so a new empty one) the snapshot; return the state."""
        exists = state is not None
        if state is None:
            state = State.new()
        self._snap = _Snapshot(state.lineage, state.serial, state.content_key(), exists, stored_as)
        if not self._backup_written:
            self._backup_raw, self._backup_plain = raw, plain
        return state

    def _read(self, persist_fold: bool) -> State:
        disk, raw, plain, stored_as = self._load_disk()
        state = self._remember(disk, raw, plain, stored_as)
        if os.path.lexists(self.journal_path):
            _log.info("state: folding the journal %s", self.journal_path)
            state = self._fold(disk, state, persist_fold)
        state.notices = tuple(self.store.notices)
        _log.info(
            "state: read %s (%s): serial %d, %d resource instances",
            self.display,
            stored_as if disk is not None else "no state yet",
            state.serial,
            len(state.resources),
        )
        return state

    # -- the journal --------------------------------------------------------------------------

    def begin_journal(self, base: State) -> Journal:
        """Start recording an apply on top of ``base``, the state as it is stored."""
        with self._io_lock:
            if self._journal_active():
                raise RuntimeError(f"a journal for {self.display} is already open")
            snap = self._snapshot()
            if snap.exists and (base.lineage, base.serial) != (snap.lineage, snap.serial):
                raise ValueError(
                    f"journal base (lineage {base.lineage}, serial {base.serial}) is not the "
                    f"state on disk (lineage {snap.lineage}, serial {snap.serial}); write it first"
                )
            if not snap.exists and base.serial != 0:
                raise ValueError(
                    f"journal base has serial {base.serial} but {self.display} is absent"
                )
            if os.path.lexists(self.journal_path):  # a dangling symlink too: O_EXCL refuses it
                raise StateError(
                    f"State journal {self.journal_path} already exists (left by an interrupted "
                    "apply); read the state again to fold it in first",
                    str(self.journal_path),
                )
            header: dict[str, Any] = {
                "journal": JOURNAL_MAGIC,
                "version": JOURNAL_VERSION,
                "lineage": base.lineage,
                "serial": base.serial,
            }
            sealer = None
            if self.encryption is not None:
                header["encryption"], sealer = self.encryption.journal_header(
                    base.lineage, base.serial
                )
                header["version"] = JOURNAL_VERSION_ENCRYPTED
            self._ensure_journal_dir()
            fd = os.open(
                self.journal_path,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC,
                FILE_MODE,
            )
            try:
                os.fchmod(fd, FILE_MODE)
                write_all(fd, json.dumps(header, sort_keys=True).encode("utf-8") + b"\n")
                os.fsync(fd)
                fsync_dir(self.journal_path.parent)
            except BaseException:
                os.close(fd)
                self.journal_path.unlink(missing_ok=True)
                raise
            mirror = None
            if self.remote:
                mirror = State(
                    lineage=base.lineage,
                    serial=base.serial,
                    outputs=dict(base.outputs),
                    resources=dict(base.resources),
                )
            self._journal = Journal(fd, self.journal_path, sealer, mirror)
            return self._journal

    def start_persisting(self) -> StatePersister:
        """Push the journal's state every ``persist_interval`` seconds until ``stop()``
        (nothing for a local store: its journal is next to the state)."""
        return StatePersister(self, self.persist_interval)

    def checkpoint(self) -> bool:
        """Write the open journal's state if it differs from the stored one; True if written.

        A ``checkpoint`` line (serial and content digest) is appended and fsync'ed first, so
        a fold after a crash recognises the written state as one the journal is based on.
        """
        with self._io_lock:
            journal = self._journal
            if journal is None or journal.closed:
                return False
            state = journal.snapshot()
            if state is None:
                return False
            snap = self._snapshot()
            doc = state.to_json()
            key = content_key_of(doc)
            if key == snap.key:
                return False
            serial = snap.serial + 1
            journal.record_checkpoint(state.lineage, serial, content_digest(key))
            doc["serial"] = serial
            doc["meshprov_version"] = __version__
            self._persist(dump_doc(doc))
            self._snap = _Snapshot(state.lineage, serial, key, True, self._stored)
            return True

    def _ensure_journal_dir(self) -> None:
        directory = self.journal_path.parent
        if not directory.is_dir():
            make_dirs(directory, DIR_MODE)

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
            fsync_dir(self.journal_path.parent)

    def _fold(self, disk: State | None, state: State, persist: bool) -> State:
        """Apply the journal's entries to ``state`` if it was written on top of it."""
        source = str(self.journal_path)
        try:
            raw, _ = read_file_and_mode(self.journal_path)
        except FileNotFoundError:
            return state
        except IsSymlink:
            raise StateError(
                f"State journal {source} is a symlink; meshprov does not follow it (a journal "
                "is a file only meshprov writes). Remove the link and retry.",
                source,
            ) from None
        except OSError as exc:
            raise StateError(
                f"State journal {source} cannot be read: {exc.strerror or exc}", source
            ) from None
        header, entries = parse_journal(raw, source, self.encryption)
        if header is None:
            matches = False  # killed while writing the header: nothing was recorded
        elif disk is not None:
            matches = header == (disk.lineage, disk.serial) or _checkpointed(disk, entries)
        else:
            matches = header[1] == 0
        if not matches:
            # Already folded (or never started): the stored state is newer than the journal.
            if persist:
                self._delete_journal()
            return state
        assert header is not None
        if disk is None:
            state = State(lineage=header[0])
            if persist:
                self._snap = _Snapshot(state.lineage, 0, state.content_key(), exists=False)
        # Entries set or remove whole instances, last one wins: applying all of them onto a
        # checkpointed state (which holds a prefix of them already) gives the same result.
        for lineno, entry in entries:
            _apply_entry(state, entry, source, lineno)
        if persist:
            try:
                self.write(state)
            except OSError as exc:  # e.g. a full disk: the journal stays for the next run
                raise StateError(
                    f"The journal {source} of an interrupted apply could not be folded into "
                    f"{self.display}: {exc.strerror or exc}. Both are unchanged; free space "
                    "(or fix the permissions) and run meshprov again.",
                    source,
                ) from None
            self._journal = None
            self._delete_journal()
        return state


def _checkpointed(disk: State, entries: list[tuple[int, Any]]) -> bool:
    """Whether a checkpoint line of the journal describes ``disk`` exactly."""
    checkpoints = [
        (e.get("lineage"), e.get("serial"), e.get("digest"))
        for _, e in entries
        if e["op"] == "checkpoint"
    ]
    if not checkpoints:
        return False
    wanted = (disk.lineage, disk.serial, content_digest(disk.content_key()))
    return wanted in checkpoints


def parse_journal(
    raw: bytes, source: str, encryption: StateEncryption | None = None
) -> tuple[tuple[str, int] | None, list[tuple[int, Any]]]:
    """The header's (lineage, serial) and the entries, without a torn tail.

    Only the tail can be torn (a process killed while appending, or unsynced blocks after a
    power loss): unparsable lines are ignored when no valid line follows them; an unparsable
    line followed by a valid one is corruption. The lines of an encrypted journal are opened
    with the key its header names (a wrong passphrase is an error, not a torn tail).
    """
    lines = raw.split(b"\n")
    if len(lines) < 2:
        return None, []  # not even a complete header line
    head = lines[0]
    try:
        header = json.loads(head.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
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
    if not isinstance(version, int) or version > JOURNAL_VERSION_ENCRYPTED:
        raise StateError(
            f"State journal {source} was written by a newer meshprov (journal version "
            f"{version}); this meshprov supports versions up to {JOURNAL_VERSION_ENCRYPTED}",
            source,
        )
    opener: JournalSealer | None = None
    if "encryption" in header:
        if encryption is None:
            raise EncryptionError(
                f"State journal {source} is encrypted, but the configuration has no "
                'encryption settings. Add meshprov { encryption { passphrase_env = "NAME" } } '
                "with NAME the environment variable that holds its passphrase.",
                source,
            )
        opener = encryption.journal_opener(header, source)
    entries: list[tuple[int, Any]] = []
    bad_line = 0
    for lineno, line in enumerate(lines[1:], start=2):
        if not line and lineno == len(lines):
            continue  # the empty piece after the final newline
        if opener is not None:
            opened = opener.open_line(line)
            entry = None if opened is None else _valid_entry(opened)
        else:
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
        entry = json.loads(line.decode("utf-8"), parse_float=json_number)
    except (ValueError, RecursionError):  # NumberError is a ValueError
        return None
    if isinstance(entry, dict) and entry.get("op") in ("set", "remove", "outputs", "checkpoint"):
        return entry
    return None


def _apply_entry(state: State, entry: dict, source: str, lineno: int) -> None:
    where = f"journal line {lineno}"
    op = entry["op"]
    if op == "checkpoint":
        return
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
        state.outputs = {name: output_entry(o) for name, o in outputs.items()}
