"""Tests for meshprov.state.local: atomic writes, serial and backup rules, the apply journal,
the flock-based lock (against other processes), and crash safety under SIGKILL."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from meshprov.backend import save_applied_state
from meshprov.diagnostics import DiagnosticError
from meshprov.state import (
    LocalBackend,
    LockInfo,
    ResourceState,
    State,
    StateError,
    StateLockError,
    StateUnlockError,
)
from meshprov.state import local as local_mod

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "state" / "schema.json").read_text(encoding="utf-8")
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _res(address: str, **attributes) -> ResourceState:
    type_, rest = address.split(".", 1)
    name, _, key = rest.partition("[")
    index: int | str | None = None
    if key:
        raw = key.rstrip("]")
        index = int(raw) if raw.isdigit() else json.loads(raw)
    return ResourceState(address, "", type_, name, index, dict(attributes))


def _validate(path: Path) -> dict:
    doc = json.loads(path.read_bytes())
    VALIDATOR.validate(doc)
    return doc


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "cfg" / "state" / "default.json"


@pytest.fixture
def backend(state_path: Path) -> Iterator[LocalBackend]:
    b = LocalBackend(state_path)
    yield b
    if b._journal is not None:
        b._journal.close()
    b.unlock()


# -- reading and writing ----------------------------------------------------------------------


def test_read_missing_file_gives_new_state_and_creates_nothing(
    backend: LocalBackend, state_path: Path
) -> None:
    state = backend.read()
    assert state.serial == 0 and state.resources == {}
    assert not state_path.parent.exists()


def test_a_failed_save_names_the_state_file_not_its_temp_file(
    backend: LocalBackend, state_path: Path
) -> None:
    state = backend.read()
    state.outputs["o"] = {"value": 1, "sensitive": False}
    backend.write(state)
    state.outputs["o"] = {"value": 2, "sensitive": False}
    # a directory in the way of the file the write renames over (as root, a read-only
    # directory would not stop it)
    state_path.unlink()
    state_path.mkdir()
    (state_path / "keep").write_text("x")
    with pytest.raises(DiagnosticError) as caught:
        save_applied_state(backend, state, state_path.parents[1])
    (diag,) = caught.value.diagnostics
    assert diag.summary == "Failed to save state"
    assert diag.detail.startswith(f"{state_path}: Is a directory.\n")
    assert ".tmp" not in diag.detail
    assert [p.name for p in state_path.parent.iterdir()] == ["default.json"]


def test_a_failed_backup_names_the_backup_file(state_path: Path) -> None:
    first = LocalBackend(state_path)
    state = first.read()
    state.outputs["o"] = {"value": 1, "sensitive": False}
    first.write(state)
    second = LocalBackend(state_path)
    state = second.read()
    state.outputs["o"] = {"value": 2, "sensitive": False}
    backup = state_path.with_name("default.json.backup")
    backup.mkdir()
    (backup / "keep").write_text("x")
    with pytest.raises(DiagnosticError) as caught:
        save_applied_state(second, state, state_path.parents[1])
    assert caught.value.diagnostics[0].detail.startswith(f"{backup}: Is a directory.\n")
    assert json.loads(state_path.read_bytes())["outputs"]["o"]["value"] == 1


def test_write_then_read_round_trip_with_modes(backend: LocalBackend, state_path: Path) -> None:
    state = backend.read()
    state.resources["ca.root"] = _res("ca.root", key="SECRET")
    state.outputs["o"] = {"value": 1, "sensitive": True}
    written = backend.write(state)
    assert written is state and state.serial == 1
    assert _mode(state_path) == 0o600
    assert _mode(state_path.parent) == 0o700
    doc = _validate(state_path)
    assert doc["serial"] == 1 and doc["resources"][0]["attributes"] == {"key": "SECRET"}
    again = LocalBackend(state_path).read()
    assert again == state
    assert not list(state_path.parent.glob("*.tmp")) and not list(state_path.parent.glob(".*"))


def test_serial_moves_only_on_a_real_change(backend: LocalBackend, state_path: Path) -> None:
    state = backend.read()
    assert backend.write(state).serial == 0  # empty and unchanged: nothing written
    assert not state_path.exists()
    state.resources["zone.a"] = _res("zone.a", n=1)
    assert backend.write(state).serial == 1
    inode = state_path.stat().st_ino
    assert backend.write(state).serial == 1
    assert state_path.stat().st_ino == inode  # not rewritten
    state.serial = 42  # the caller's serial does not matter
    state.meshprov_version = "0.0.1"
    assert backend.write(state).serial == 1
    state.resources["zone.a"].attributes["n"] = 2  # mutating after a write is seen as a change
    assert backend.write(state).serial == 2
    # A new run (new backend object) continues from the file.
    other = LocalBackend(state_path)
    s2 = other.read()
    assert s2.serial == 2
    assert other.write(s2).serial == 2
    s2.resources.pop("zone.a")
    assert other.write(s2).serial == 3
    assert _validate(state_path)["serial"] == 3


def test_write_without_read_uses_the_file(state_path: Path) -> None:
    first = LocalBackend(state_path)
    state = first.read()
    state.resources["zone.a"] = _res("zone.a")
    first.write(state)
    inode = state_path.stat().st_ino
    same = LocalBackend(state_path).read()
    assert LocalBackend(state_path).write(same).serial == 1  # compared with the file: no change
    assert state_path.stat().st_ino == inode
    same.resources.clear()
    assert LocalBackend(state_path).write(same).serial == 2


def test_backup_once_before_first_changing_write(
    backend: LocalBackend, state_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup = state_path.with_name("default.json.backup")
    state = backend.read()
    state.resources["zone.a"] = _res("zone.a")
    backend.write(state)
    assert not backup.exists()  # no previous file: nothing to back up
    v1 = state_path.read_bytes()

    run = LocalBackend(state_path)
    calls: list[Path] = []
    real = local_mod.write_atomic

    def spy(path: Path, data: bytes, mode: int = 0o644) -> None:
        calls.append(path)
        assert mode == 0o600
        real(path, data, mode)

    monkeypatch.setattr(local_mod, "write_atomic", spy)
    s = run.read()
    run.write(s)  # unchanged: no backup, no write
    assert calls == [] and not backup.exists()
    s.resources["zone.b"] = _res("zone.b")
    run.write(s)
    assert calls == [backup, state_path]  # the backup comes first
    assert backup.read_bytes() == v1 and _mode(backup) == 0o600
    s.resources["zone.c"] = _res("zone.c")
    run.write(s)
    assert calls == [backup, state_path, state_path]  # once per run
    assert backup.read_bytes() == v1
    v3 = state_path.read_bytes()
    # The next run backs up the state as it found it.
    nxt = LocalBackend(state_path)
    s = nxt.read()
    s.resources.pop("zone.a")
    nxt.write(s)
    assert backup.read_bytes() == v3


@pytest.mark.parametrize(
    "content",
    [
        b'{"format": "meshprov-state", "version": 1, "serial": ',
        b'{"format": "meshprov-state", "version": 2}',
        b'{"format": "other"}',
        b"",
    ],
)
def test_corrupt_file_raises_and_is_left_untouched(state_path: Path, content: bytes) -> None:
    state_path.parent.mkdir(parents=True)
    state_path.write_bytes(content)
    before = os.stat(state_path)
    backend = LocalBackend(state_path)
    with pytest.raises(StateError) as info:
        backend.read()
    assert str(state_path) in str(info.value)
    with pytest.raises(StateError):
        backend.write(State.new())
    assert state_path.read_bytes() == content
    assert os.stat(state_path).st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in state_path.parent.iterdir()) == ["default.json"]


# -- the journal ------------------------------------------------------------------------------


def _base(backend: LocalBackend, n: int = 2) -> State:
    state = backend.read()
    for i in range(n):
        state.resources[f"zone.z[{i}]"] = _res(f"zone.z[{i}]", n=i)
    return backend.write(state)


def test_journal_fold_after_interrupted_apply(backend: LocalBackend, state_path: Path) -> None:
    base = _base(backend)
    journal = backend.begin_journal(base)
    jpath = state_path.with_name("default.json.journal")
    assert _mode(jpath) == 0o600
    header = json.loads(jpath.read_bytes().splitlines()[0])
    assert header == {"journal": "meshprov", "version": 1, "lineage": base.lineage, "serial": 1}
    journal.record_set(_res("zone.z[5]", n=5))
    journal.record_remove("zone.z[0]")
    journal.record_set(_res("zone.z[1]", n=11))
    journal.record_outputs({"count": {"value": 2, "sensitive": False}})
    journal.close()  # the apply dies before its final write
    with pytest.raises(ValueError, match="closed"):
        journal.record_remove("zone.z[1]")

    folded = LocalBackend(state_path).read()
    assert folded.serial == 2 and folded.lineage == base.lineage
    assert sorted(folded.resources) == ["zone.z[1]", "zone.z[5]"]
    assert folded.resources["zone.z[1]"].attributes == {"n": 11}
    assert folded.outputs == {"count": {"value": 2, "sensitive": False}}
    assert not jpath.exists()
    _validate(state_path)
    assert LocalBackend(state_path).read() == folded  # nothing left to fold


def test_journal_fold_without_a_state_file(backend: LocalBackend, state_path: Path) -> None:
    base = backend.read()
    journal = backend.begin_journal(base)
    journal.record_set(_res("ca.root", key="k"))
    journal.close()
    assert not state_path.exists()
    folded = LocalBackend(state_path).read()
    assert folded.lineage == base.lineage and folded.serial == 1
    assert list(folded.resources) == ["ca.root"]
    assert _validate(state_path)["lineage"] == base.lineage


def test_journal_torn_last_line_is_ignored(backend: LocalBackend, state_path: Path) -> None:
    base = _base(backend)
    journal = backend.begin_journal(base)
    journal.record_set(_res("zone.z[7]", n=7))
    journal.close()
    jpath = state_path.with_name("default.json.journal")
    line = json.dumps({"op": "set", "resource": _res("zone.z[8]").to_json()}).encode()
    with open(jpath, "ab") as fh:
        fh.write(line[: len(line) // 2])  # killed mid-append
    folded = LocalBackend(state_path).read()
    assert "zone.z[7]" in folded.resources and "zone.z[8]" not in folded.resources
    assert not jpath.exists()


def test_journal_with_torn_header_only_is_dropped(backend: LocalBackend, state_path: Path) -> None:
    base = _base(backend)
    before = state_path.read_bytes()
    jpath = state_path.with_name("default.json.journal")
    jpath.write_bytes(b'{"journal": "meshprov", "lin')
    assert LocalBackend(state_path).read() == base
    assert not jpath.exists() and state_path.read_bytes() == before


def test_journal_with_stale_header_is_deleted_unapplied(
    backend: LocalBackend, state_path: Path
) -> None:
    base = _base(backend)
    journal = backend.begin_journal(base)
    journal.record_set(_res("zone.z[9]"))
    base.resources["zone.z[9]"] = _res("zone.z[9]")
    base.resources["zone.extra"] = _res("zone.extra")
    backend.write(base)  # the final write happened; the crash came before discard_journal()
    journal.close()
    before = state_path.read_bytes()
    jpath = state_path.with_name("default.json.journal")
    assert jpath.exists()
    state = LocalBackend(state_path).read()
    assert state.serial == 2 and "zone.extra" in state.resources
    assert not jpath.exists() and state_path.read_bytes() == before


def test_journal_corrupt_middle_line_is_an_error(backend: LocalBackend, state_path: Path) -> None:
    base = _base(backend)
    journal = backend.begin_journal(base)
    journal.record_set(_res("zone.z[3]"))
    journal.close()
    jpath = state_path.with_name("default.json.journal")
    with open(jpath, "ab") as fh:
        fh.write(b"garbage\n")
        fh.write(json.dumps({"op": "remove", "address": "zone.z[0]"}).encode() + b"\n")
    content = jpath.read_bytes()
    before = state_path.read_bytes()
    with pytest.raises(StateError, match=r"journal .* is corrupt: line 3"):
        LocalBackend(state_path).read()
    assert jpath.read_bytes() == content and state_path.read_bytes() == before


def test_apply_flow_write_then_discard(backend: LocalBackend, state_path: Path) -> None:
    base = _base(backend)
    journal = backend.begin_journal(base)
    final = LocalBackend(state_path).read()  # what the apply builds: independent objects
    for i in range(3, 6):
        res = _res(f"zone.z[{i}]", n=i)
        journal.record_set(res)
        final.resources[res.address] = res
    backend.write(final)
    backend.discard_journal()
    backend.discard_journal()  # idempotent
    assert final.serial == 2
    assert not state_path.with_name("default.json.journal").exists()
    assert LocalBackend(state_path).read() == final


def test_begin_journal_checks_its_base(backend: LocalBackend, state_path: Path) -> None:
    base = _base(backend)
    with pytest.raises(ValueError, match="not the state on disk"):
        backend.begin_journal(State(lineage=base.lineage, serial=0))
    journal = backend.begin_journal(base)
    with pytest.raises(RuntimeError, match="already open"):
        backend.begin_journal(base)
    journal.close()
    with pytest.raises(StateError, match="already exists"):
        LocalBackend(state_path).begin_journal(base)


def test_journal_records_from_many_threads(backend: LocalBackend, state_path: Path) -> None:
    base = _base(backend, 0)
    journal = backend.begin_journal(base)

    def worker(t: int) -> None:
        for i in range(40):
            journal.record_set(_res(f'zone.t{t}["{i}"]', blob="x" * (i * 50)))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    journal.close()
    lines = state_path.with_name("default.json.journal").read_bytes().splitlines()
    assert len(lines) == 1 + 8 * 40 and all(json.loads(line) for line in lines)
    folded = LocalBackend(state_path).read()
    assert len(folded.resources) == 8 * 40


def test_read_while_another_run_holds_the_lock_does_not_fold(
    backend: LocalBackend, state_path: Path
) -> None:
    base = _base(backend)
    backend.lock("apply")
    journal = backend.begin_journal(base)
    journal.record_set(_res("zone.z[4]"))
    view = LocalBackend(state_path).read()  # e.g. `show` while the apply runs
    assert "zone.z[4]" in view.resources
    assert state_path.with_name("default.json.journal").exists()
    assert _validate(state_path)["serial"] == 1
    own = backend.read()  # the apply's own read does not fold its open journal either
    assert "zone.z[4]" in own.resources and own.serial == 1
    assert state_path.with_name("default.json.journal").exists()


# -- locking ----------------------------------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from meshprov.state import LocalBackend
    backend = LocalBackend(Path(sys.argv[1]))
    info = backend.lock("apply", info="held by test")
    print(json.dumps(info.to_json()), flush=True)
    hold = float(sys.argv[2])
    if hold < 0:
        sys.stdin.read()
    else:
        time.sleep(hold)
    backend.unlock()
    print("released", flush=True)
    """
)


class Holder:
    """Another process holding the lock until released, killed, or ``hold`` seconds pass."""

    def __init__(self, state_path: Path, hold: float = -1.0):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(state_path), str(hold)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "holder failed to take the lock"
        self.info = LockInfo.from_json(json.loads(line))

    def release(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        assert self.proc.stdout.readline().strip() == "released"
        self.proc.wait(timeout=10)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for h in started:
        h.close()


def test_lock_writes_info_and_unlock_removes_it(backend: LocalBackend, state_path: Path) -> None:
    info = backend.lock("plan", info="x")
    lock_file = state_path.with_name("default.json.lock.info")
    assert _mode(lock_file) == 0o600 and _mode(state_path.parent) == 0o700
    doc = json.loads(lock_file.read_bytes())
    assert doc == info.to_json()
    assert set(doc) == {"ID", "Operation", "Info", "Who", "Version", "Created", "Path"}
    assert doc["Operation"] == "plan" and doc["Path"] == str(state_path)
    assert "@" in doc["Who"] and doc["Created"].endswith("Z")
    assert backend.lock_info == info
    with pytest.raises(RuntimeError):
        backend.lock("plan")
    backend.unlock()
    backend.unlock()
    assert not lock_file.exists() and backend.lock_info is None


def test_lock_held_by_another_process_fails_at_once(
    backend: LocalBackend, state_path: Path, holders: list[Holder]
) -> None:
    holder = Holder(state_path)
    holders.append(holder)
    start = time.monotonic()
    with pytest.raises(StateLockError) as info:
        backend.lock("apply")
    assert time.monotonic() - start < 1.0
    err = info.value
    assert err.holder == holder.info and err.holder.Info == "held by test"
    text = str(err)
    assert text.splitlines()[0] == "Error acquiring the state lock"
    assert holder.info.describe() in text
    assert f"  ID:        {holder.info.ID}\n" in text
    assert "--lock-timeout" in text and f"force-unlock {holder.info.ID}" in text
    assert err.summary == "Error acquiring the state lock"
    # Also between two backend objects of one process.
    holder.release()
    backend.lock("apply")
    with pytest.raises(StateLockError):
        LocalBackend(state_path).lock("plan")


def test_lock_timeout_waits_for_the_holder(
    backend: LocalBackend, state_path: Path, holders: list[Holder]
) -> None:
    holders.append(Holder(state_path, hold=0.6))
    waits: list[LockInfo | None] = []
    start = time.monotonic()
    info = backend.lock("apply", timeout=10, on_wait=waits.append)
    elapsed = time.monotonic() - start
    assert 0.2 < elapsed < 5, elapsed
    assert len(waits) == 1 and waits[0] is not None and waits[0].Info == "held by test"
    assert json.loads(state_path.with_name("default.json.lock.info").read_bytes())["ID"] == info.ID


def test_lock_timeout_expires(
    backend: LocalBackend, state_path: Path, holders: list[Holder]
) -> None:
    holder = Holder(state_path)
    holders.append(holder)
    start = time.monotonic()
    with pytest.raises(StateLockError, match=r"still locked after waiting 0\.5s") as info:
        backend.lock("apply", timeout=0.5)
    elapsed = time.monotonic() - start
    assert 0.5 <= elapsed < 3.0, elapsed
    assert info.value.holder == holder.info


def test_sigkilled_holder_does_not_block(
    backend: LocalBackend, state_path: Path, holders: list[Holder]
) -> None:
    holder = Holder(state_path)
    holders.append(holder)
    holder.kill()
    lock_file = state_path.with_name("default.json.lock.info")
    assert json.loads(lock_file.read_bytes())["ID"] == holder.info.ID  # stale info left behind
    info = backend.lock("apply")
    assert json.loads(lock_file.read_bytes()) == info.to_json()  # overwritten


def test_force_unlock(backend: LocalBackend, state_path: Path, holders: list[Holder]) -> None:
    with pytest.raises(StateUnlockError, match="No lock to unlock"):
        backend.force_unlock("abc")
    holder = Holder(state_path)
    holders.append(holder)
    with pytest.raises(
        StateUnlockError, match="Local state cannot be unlocked by another process"
    ) as info:
        backend.force_unlock(holder.info.ID)
    assert info.value.holder == holder.info
    holder.kill()
    lock_file = state_path.with_name("default.json.lock.info")
    with pytest.raises(StateUnlockError) as info:
        backend.force_unlock("wrong-id")
    assert "wrong-id" in str(info.value) and holder.info.ID in str(info.value)
    assert lock_file.exists()
    backend.force_unlock(holder.info.ID)
    assert not lock_file.exists()
    with pytest.raises(StateUnlockError, match="No lock to unlock"):
        backend.force_unlock(holder.info.ID)
    # Our own lock can be released by its ID.
    own = backend.lock("apply")
    backend.force_unlock(own.ID)
    assert backend.lock_info is None and not lock_file.exists()


def test_lock_is_mutually_exclusive_under_contention(state_path: Path) -> None:
    """Threads with their own backends (own open files, so flock contends) race on the lock;
    this exercises the unlock/unlink race: never two holders at once."""
    inside = 0
    overlaps = 0
    guard = threading.Lock()

    def worker() -> None:
        nonlocal inside, overlaps
        backend = LocalBackend(state_path)
        done = 0
        while done < 25:
            try:
                backend.lock("apply")
            except StateLockError:
                continue
            done += 1
            with guard:
                inside += 1
                overlaps += inside > 1
            time.sleep(0.0005)
            with guard:
                inside -= 1
            backend.unlock()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert overlaps == 0
    assert not state_path.with_name("default.json.lock.info").exists()


# -- crash safety -----------------------------------------------------------------------------


def _crash_child(path: str, ack_path: str, seed: int) -> None:
    """Apply forever: journal entries, final writes, journal discards; ack what is durable."""
    rnd = random.Random(seed)
    ack = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    backend = LocalBackend(Path(path))
    backend.lock("apply")
    state = backend.read()
    n = 1 + max((r.attributes["n"] for r in state.resources.values()), default=0)
    while True:
        journal = backend.begin_journal(state)
        for _ in range(rnd.randint(1, 25)):
            res = _res(f"zone.z[{n}]", n=n, blob="k" * rnd.randint(0, 3000))
            os.write(ack, f"try {res.address}\n".encode())
            journal.record_set(res)
            os.write(ack, f"ack {res.address}\n".encode())
            state.resources[res.address] = res
            n += 1
        state = backend.write(state)
        os.write(ack, f"serial {state.serial}\n".encode())
        backend.discard_journal()


def test_sigkill_at_random_moments_never_loses_acknowledged_work(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    state_path = tmp_path / "state" / "default.json"
    ack_path = tmp_path / "acks"
    rnd = random.Random(1234)
    acked: set[str] = set()
    tried: set[str] = set()
    last_serial = 0
    trials = 24
    for trial in range(trials):
        proc = ctx.Process(target=_crash_child, args=(str(state_path), str(ack_path), trial))
        proc.start()
        time.sleep(rnd.uniform(0.02, 0.25))
        proc.kill()
        proc.join(timeout=10)
        assert proc.exitcode == -signal.SIGKILL
        if not ack_path.exists():  # killed before its first write (a slow fork under load)
            continue
        for line in ack_path.read_text().splitlines():
            word, address = line.split()
            if word == "ack":
                acked.add(address)
            elif word == "try":
                tried.add(address)
            else:
                last_serial = max(last_serial, int(address))
        ack_path.unlink()
        if not state_path.exists():
            continue
        # Check a copy, so that the next child (not this check) folds the journal it finds,
        # and may itself be killed while folding.
        check = tmp_path / f"check{trial}"
        shutil.copytree(state_path.parent, check)
        disk = json.loads((check / "default.json").read_bytes())
        if trial % 6 == 5:  # the schema check is slow on a state this big
            VALIDATOR.validate(disk)
        assert disk["serial"] >= last_serial
        state = LocalBackend(check / "default.json").read()
        missing = acked - set(state.resources)
        assert not missing, f"trial {trial}: lost acknowledged entries {sorted(missing)[:5]}"
        assert set(state.resources) <= tried
        for address, res in state.resources.items():
            assert address == f"zone.z[{res.attributes['n']}]"
        assert state.serial >= disk["serial"]
        last_serial = disk["serial"]
        assert not (check / "default.json.journal").exists()
        shutil.rmtree(check)
    assert len(acked) > 20
    # A last run folds what is left and cleans up the temp files of killed writes.
    final = LocalBackend(state_path)
    final.lock("apply")
    state = final.read()
    final.unlock()
    assert acked <= set(state.resources)
    names = sorted(p.name for p in state_path.parent.iterdir())
    assert names == ["default.json", "default.json.backup"] or names == ["default.json"]


def test_write_exact_keeps_lineage_and_serial(backend: LocalBackend, state_path: Path) -> None:
    base = _base(backend)
    v1 = state_path.read_bytes()
    pushed = State.new()
    pushed.serial = 7
    pushed.resources["zone.p"] = _res("zone.p")
    run = LocalBackend(state_path)
    run.read()
    assert run.write_exact(pushed) is pushed
    doc = _validate(state_path)
    assert (doc["lineage"], doc["serial"]) == (pushed.lineage, 7)
    assert state_path.with_name("default.json.backup").read_bytes() == v1
    inode = state_path.stat().st_ino
    run.write_exact(pushed)  # same content and serial: not rewritten
    assert state_path.stat().st_ino == inode
    pushed.resources.clear()
    assert run.write(pushed).serial == 8 and base.lineage != pushed.lineage
