"""The S3 state backend against the moto server on 127.0.0.1, through the real CLI: plan, apply
and destroy; the conditional-write lock between processes, a holder killed with SIGKILL and
``force-unlock``; pushes during apply, SIGINT, S3 going away at the final push
(``errored.state.json`` and ``state push``); ``init`` (no bucket created, versioning warning) and
moving the state between backends. Plus the backend object itself: lock, release by the holder
only, backups, checkpoints folded after a crash, and how many S3 calls a run makes.
"""

from __future__ import annotations

import json
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from tests.support.engine import Workspace, validate_state_file
from tests.support.motoaws import REGION
from tests.support.s3state import KEY, S3, backend_block
from tests.support.tcprelay import TcpRelay

from meshprov.aws import AwsSettings, Clients
from meshprov.state import (
    LockInfo,
    ResourceState,
    State,
    StateLockError,
    StateReleaseError,
    StateUnlockError,
)
from meshprov.state.s3 import S3Backend

THINGS = """
test_thing "a" {
  value = "one"
}

test_thing "b" {
  value  = "two"
  parent = test_thing.a
}
"""


@pytest.fixture
def s3(moto_aws) -> S3:
    return S3(moto_aws.endpoint)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "config")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _addresses(doc: dict) -> list[str]:
    return sorted(r["address"] for r in doc["resources"])


def wait_for(condition: Callable[[], object], timeout: float = 30, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Lines:
    """Collects a process's stdout lines in a thread (so its pipe never fills)."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def seen(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def text(self) -> str:
        self._thread.join(timeout=60)
        return "\n".join(self.lines)


def validate_state_bytes(data: bytes | None) -> dict:
    """The state document, validated against state/schema.json."""
    assert data is not None
    with tempfile.NamedTemporaryFile(suffix=".json") as handle:
        handle.write(data)
        handle.flush()
        return validate_state_file(Path(handle.name))


def _journals(ws: Workspace) -> list[Path]:
    return sorted((ws.dir / ".meshprov").glob("*.journal"))


# --- plan, apply, destroy ----------------------------------------------------------------------


def test_plan_apply_destroy_with_the_s3_backend(ws: Workspace, s3: S3) -> None:
    bucket = s3.bucket()
    ws.write(backend_block(bucket, s3.endpoint) + THINGS)

    init = ws.run("init")
    assert f"S3 state: s3://{bucket}/{KEY}" in init.stdout
    assert "Warning: S3 bucket versioning is not enabled" in init.stderr
    assert s3.keys(bucket) == []  # init creates nothing in the bucket
    record = ws.dir / ".meshprov" / "backend.json"
    assert json.loads(record.read_text())["backend"]["config"]["bucket"] == bucket
    assert _mode(record) == 0o600 and _mode(record.parent) == 0o700

    assert ws.run("plan", "--detailed-exitcode", code=2)
    assert s3.keys(bucket) == []  # a plan leaves nothing behind, its lock included

    applied = ws.run("apply", "--auto-approve")
    assert "Apply complete! Resources: 2 added" in applied.stdout
    doc = s3.state(bucket)
    validate_state_bytes(s3.get(bucket))
    assert doc["serial"] == 1 and _addresses(doc) == ["test_thing.a", "test_thing.b"]
    assert s3.head(bucket)["ServerSideEncryption"] == "AES256"
    assert s3.keys(bucket) == [KEY]  # no lock left; no backup (there was no previous state)
    assert not (ws.dir / "state").exists() and _journals(ws) == []

    assert ws.run("plan", "--detailed-exitcode").code == 0
    assert ws.run("state", "list").stdout.split() == ["test_thing.a", "test_thing.b"]

    v1 = s3.get(bucket)
    ws.write(backend_block(bucket, s3.endpoint) + THINGS.replace('"one"', '"uno"'))
    ws.run("apply", "--auto-approve")
    assert s3.state(bucket)["serial"] == 2
    assert s3.get(bucket, KEY + ".backup") == v1  # the state before the run's first change

    destroyed = ws.run("destroy", "--auto-approve")
    assert "Destroy complete! Resources: 2 destroyed." in destroyed.stdout
    doc = s3.state(bucket)
    assert doc["serial"] == 3 and doc["resources"] == [] and ws.world_addresses() == set()
    assert s3.keys(bucket) == [KEY, KEY + ".backup"]


def test_a_versioned_bucket_gets_no_backup_object_and_no_warning(ws: Workspace, s3: S3) -> None:
    bucket = s3.bucket(versioned=True)
    ws.write(backend_block(bucket, s3.endpoint) + THINGS)
    assert "versioning" not in ws.run("init").stderr
    ws.run("apply", "--auto-approve")
    ws.write(backend_block(bucket, s3.endpoint) + THINGS.replace('"two"', '"dos"'))
    ws.run("apply", "--auto-approve")
    assert s3.keys(bucket) == [KEY]
    assert [json.loads(v)["serial"] for v in s3.versions(bucket)] == [2, 1]


def test_server_side_encryption_settings(ws: Workspace, s3: S3, moto_aws) -> None:
    kms = boto3.client(
        "kms",
        region_name=REGION,
        endpoint_url=moto_aws.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    bucket = s3.bucket()
    ws.write(backend_block(bucket, s3.endpoint, extra=f'    kms_key_id   = "{key_id}"\n') + THINGS)
    ws.run("apply", "--auto-approve")
    head = s3.head(bucket)
    assert head["ServerSideEncryption"] == "aws:kms" and key_id in head["SSEKMSKeyId"]

    plain = s3.bucket()
    ws2 = Workspace(ws.dir.parent / "plain")
    ws2.write(backend_block(plain, s3.endpoint, extra="    encrypt      = false\n") + THINGS)
    ws2.run("apply", "--auto-approve")
    assert "ServerSideEncryption" not in s3.head(plain)


def test_init_never_creates_the_bucket(ws: Workspace, s3: S3) -> None:
    ws.write(backend_block("meshprov-no-such-bucket", s3.endpoint) + THINGS)
    result = ws.run("init", code=1)
    assert "Error: Failed to initialize the S3 backend" in result.stderr
    assert "meshprov does not create buckets" in result.stderr
    names = [b["Name"] for b in s3.client.list_buckets()["Buckets"]]
    assert "meshprov-no-such-bucket" not in names
    plan = ws.run("plan", code=1)
    assert "does not exist" in plan.stderr


# --- locking between processes -------------------------------------------------------------------


def test_a_second_run_is_refused_with_the_holders_info_or_waits_for_it(
    ws: Workspace, s3: S3
) -> None:
    bucket = s3.bucket()
    slow = THINGS.replace('value = "one"', 'value = "one"\n  delay = 4')
    ws.write(backend_block(bucket, s3.endpoint) + slow)
    first = ws.popen("apply", "--auto-approve")
    try:
        out = Lines(first.stdout)
        wait_for(lambda: out.seen("test_thing.a: Creating..."), what="the first apply")
        holder = s3.lock(bucket)
        assert holder is not None
        assert holder["Path"] == f"{bucket}/{KEY}"
        assert holder["Operation"] == "OperationTypeApply"

        started = time.monotonic()
        refused = ws.run("apply", "--auto-approve", code=1)
        assert time.monotonic() - started < 3
        assert "Error: Error acquiring the state lock" in refused.stderr
        assert f"ID:        {holder['ID']}" in refused.stderr
        assert f"Path:      {bucket}/{KEY}" in refused.stderr
        assert f"meshprov force-unlock {holder['ID']}" in refused.stderr

        started = time.monotonic()
        waited = ws.sub("apply", "--auto-approve", "--lock-timeout", "60s")
        assert first.poll() is not None, "the second apply ran while the first held the lock"
        assert "No changes." in waited.stdout
        assert first.wait(timeout=60) == 0
    finally:
        if first.poll() is None:
            first.kill()
    assert "Apply complete! Resources: 2 added" in out.text()
    assert s3.lock(bucket) is None
    assert s3.state(bucket)["serial"] == 1


def test_a_killed_holder_leaves_a_lock_that_only_its_id_releases(ws: Workspace, s3: S3) -> None:
    bucket = s3.bucket()
    block = backend_block(bucket, s3.endpoint)
    ws.write(block + THINGS.replace("parent = test_thing.a", "parent = test_thing.a\n  delay = 60"))
    proc = ws.popen("apply", "--auto-approve")
    out = Lines(proc.stdout)
    try:
        wait_for(lambda: out.seen("test_thing.b: Creating..."), what="test_thing.b to start")
        holder = s3.lock(bucket)
        assert holder is not None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert s3.lock(bucket) == holder
    assert len(_journals(ws)) == 1  # test_thing.a finished: it is in the local journal

    refused = ws.run("plan", code=1)
    assert f"ID:        {holder['ID']}" in refused.stderr

    wrong = ws.run("force-unlock", "--force", "0c1f6e1e-0000-4000-8000-000000000000", code=1)
    assert "Error: Failed to unlock state" in wrong.stderr
    assert f'does not match the existing lock ID "{holder["ID"]}"' in wrong.stderr
    assert s3.lock(bucket) == holder

    cancelled = ws.run("force-unlock", holder["ID"], input="no\n", code=1)
    assert "force-unlock cancelled" in cancelled.stdout and s3.lock(bucket) == holder

    done = ws.run("force-unlock", "--force", holder["ID"])
    assert "successfully unlocked" in done.stdout
    assert s3.lock(bucket) is None
    again = ws.run("force-unlock", "--force", holder["ID"], code=1)
    assert "No lock to unlock" in again.stderr

    # The next run folds the dead apply's journal: test_thing.a is not created again.
    ws.write(block + THINGS)
    plan = ws.run("plan")
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in plan.stdout
    assert _addresses(s3.state(bucket)) == ["test_thing.a"]
    assert _journals(ws) == []
    assert "Resources: 1 added" in ws.run("apply", "--auto-approve").stdout


# --- persistence during apply --------------------------------------------------------------------


def test_state_is_pushed_during_apply_and_at_the_end(
    ws: Workspace, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHPROV_STATE_PERSIST_INTERVAL", "0.5")
    bucket = s3.bucket()
    ws.write(
        backend_block(bucket, s3.endpoint)
        + 'test_thing "fast" {\n  value = "f"\n}\n\n'
        + 'test_thing "slow" {\n  value = "s"\n  delay = 6\n}\n'
    )
    proc = ws.popen("apply", "--auto-approve")
    out = Lines(proc.stdout)
    try:
        wait_for(
            lambda: s3.get(bucket) is not None and "test_thing.fast" in s3.get(bucket).decode(),
            timeout=20,
            what="a push during apply",
        )
        assert proc.poll() is None, "pushed only at the end"
        during = s3.state(bucket)
        assert _addresses(during) == ["test_thing.fast"] and during["serial"] == 1
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Resources: 2 added" in out.text()
    final = s3.state(bucket)
    assert _addresses(final) == ["test_thing.fast", "test_thing.slow"] and final["serial"] == 2
    assert _journals(ws) == [] and s3.lock(bucket) is None


def test_sigint_stops_scheduling_and_the_final_write_reaches_s3(ws: Workspace, s3: S3) -> None:
    bucket = s3.bucket()
    ws.write(
        backend_block(bucket, s3.endpoint)
        + 'test_thing "a" {\n  value = "a"\n}\n\n'
        + 'test_thing "b" {\n  value = "b"\n  delay = 3\n  parent = test_thing.a\n}\n\n'
        + 'test_thing "c" {\n  value = "c"\n  parent = test_thing.b\n}\n'
    )
    proc = ws.popen("apply", "--auto-approve")
    out = Lines(proc.stdout)
    try:
        wait_for(lambda: out.seen("test_thing.b: Creating..."), what="test_thing.b to start")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read()
    assert "Interrupt received." in stderr and "Traceback" not in stderr
    assert _addresses(s3.state(bucket)) == ["test_thing.a", "test_thing.b"]
    assert s3.lock(bucket) is None and _journals(ws) == []
    assert "Resources: 1 added" in ws.run("apply", "--auto-approve").stdout


def test_s3_unreachable_at_the_final_push_writes_errored_state(ws: Workspace, s3: S3) -> None:
    relay = TcpRelay(s3.endpoint)
    try:
        bucket = s3.bucket()
        ws.write(
            backend_block(bucket, relay.url)
            + 'test_thing "a" {\n  value = "a"\n}\n\n'
            + 'test_thing "b" {\n  value = "b"\n  delay = 3\n}\n'
        )
        proc = ws.popen("apply", "--auto-approve")
        out = Lines(proc.stdout)
        try:
            wait_for(lambda: out.seen("test_thing.b: Creating..."), what="test_thing.b to start")
            relay.cut()
            assert proc.wait(timeout=180) == 1
        finally:
            if proc.poll() is None:
                proc.kill()
        stderr = proc.stderr.read()
        assert "Traceback" not in stderr and "PRIVATE KEY" not in stderr
        assert "Error: Failed to persist state to backend" in stderr
        errored = ws.dir / "errored.state.json"
        assert f"state push {errored}" in stderr  # the command to run (-C form from elsewhere)
        assert "Error: Error releasing the state lock" in stderr
        assert _mode(errored) == 0o600
        doc = validate_state_file(errored)
        assert _addresses(doc) == ["test_thing.a", "test_thing.b"] and doc["serial"] == 1
        assert _journals(ws) == []  # errored.state.json holds everything the journal had
        assert "test_thing.b: Creation complete" in out.text()

        relay.restore()
        assert s3.get(bucket) is None  # nothing reached S3
        holder = s3.lock(bucket)
        assert holder is not None and holder["ID"] in stderr  # the release failed too
        ws.run("force-unlock", "--force", holder["ID"])
        pushed = ws.run("state", "push", str(errored))
        assert f"serial {doc['serial']}" in pushed.stdout
        assert s3.state(bucket)["resources"] == doc["resources"]
        assert ws.run("plan", "--detailed-exitcode").code == 0
    finally:
        relay.close()


# --- moving the state between backends -----------------------------------------------------------


def test_migrate_the_state_from_local_to_s3_and_back(ws: Workspace, s3: S3) -> None:
    bucket = s3.bucket()
    ws.write(THINGS)
    ws.run("apply", "--auto-approve")
    local = ws.state()
    local_bytes = ws.state_bytes()

    block = backend_block(bucket, s3.endpoint)
    ws.write(block + THINGS)
    refused = ws.run("plan", code=1)
    assert "Error: Backend initialization required" in refused.stderr
    assert "meshprov init --migrate-state" in refused.stderr
    changed = ws.run("init", code=1)
    assert "Error: Backend configuration changed" in changed.stderr
    assert s3.keys(bucket) == []

    moved = ws.run("init", "--migrate-state")
    assert f"Migrated the state (lineage {local['lineage']}, serial 1)" in moved.stdout
    remote = s3.state(bucket)
    assert (remote["lineage"], remote["serial"]) == (local["lineage"], 1)
    assert remote["resources"] == local["resources"]
    assert ws.state_bytes() == local_bytes  # the old state is left as it was
    assert ws.run("plan", "--detailed-exitcode").code == 0
    assert s3.lock(bucket) is None and not ws.lock_path.exists()

    ws.write(block + THINGS.replace('"one"', '"uno"'))
    ws.run("apply", "--auto-approve")
    assert s3.state(bucket)["serial"] == 2

    ws.write(THINGS.replace('"one"', '"uno"'))  # back to the local default
    assert "Backend initialization required" in ws.run("plan", code=1).stderr
    ws.run("init", "--migrate-state")
    back = ws.state()
    assert (back["lineage"], back["serial"]) == (local["lineage"], 2)
    assert ws.run("plan", "--detailed-exitcode").code == 0
    record = json.loads((ws.dir / ".meshprov" / "backend.json").read_text())
    assert record["backend"] == {"type": "local", "config": {"path": "state/default.json"}}


def test_migration_refuses_another_lineage_or_a_newer_serial_without_force(
    ws: Workspace, s3: S3
) -> None:
    bucket = s3.bucket()
    ws.write(THINGS)
    ws.run("apply", "--auto-approve")
    local = ws.state()
    other = dict(local, lineage="11111111-2222-4333-8444-555555555555", serial=5)
    s3.put(bucket, json.dumps(other).encode())

    ws.write(backend_block(bucket, s3.endpoint) + THINGS)
    refused = ws.run("init", "--migrate-state", code=1)
    assert "cannot import state with lineage" in refused.stderr
    assert "over unrelated state" in refused.stderr
    assert s3.state(bucket)["lineage"] == other["lineage"]
    assert s3.lock(bucket) is None and not ws.lock_path.exists()  # both locks released

    newer = dict(local, serial=7, outputs={"x": {"value": 1, "sensitive": False}})
    s3.put(bucket, json.dumps(newer).encode())
    refused = ws.run("init", "--migrate-state", code=1)
    assert "cannot import state with serial 1 over newer state with serial 7" in refused.stderr

    ws.run("init", "--migrate-state", "--force")
    assert (s3.state(bucket)["lineage"], s3.state(bucket)["serial"]) == (local["lineage"], 1)


def test_migration_needs_both_locks(ws: Workspace, s3: S3) -> None:
    bucket = s3.bucket()
    ws.write(THINGS)
    ws.run("apply", "--auto-approve")
    foreign = LockInfo.new("OperationTypeApply", f"{bucket}/{KEY}", "held by a test")
    s3.put(bucket, foreign.dumps(), KEY + ".lock")
    ws.write(backend_block(bucket, s3.endpoint) + THINGS)
    refused = ws.run("init", "--migrate-state", code=1)
    assert "Error: Error acquiring the state lock" in refused.stderr
    assert foreign.ID in refused.stderr
    assert s3.get(bucket) is None and not ws.lock_path.exists()


def test_reconfigure_switches_without_moving(ws: Workspace, s3: S3) -> None:
    bucket = s3.bucket()
    ws.write(THINGS)
    ws.run("apply", "--auto-approve")
    ws.write(backend_block(bucket, s3.endpoint) + THINGS)
    result = ws.run("init", "--reconfigure")
    assert "was not moved" in result.stdout
    assert "Plan: 2 to add" in ws.run("plan").stdout
    assert s3.get(bucket) is None


# --- the backend object ------------------------------------------------------------------------


def _backend(endpoint: str, bucket: str, work: Path, calls: list[str] | None = None) -> S3Backend:
    clients = Clients(AwsSettings(region=REGION, endpoint_url=endpoint))
    if calls is not None:
        clients.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
    return S3Backend(bucket, KEY, clients=clients, work_dir=work)


def _res(address: str, **attributes) -> ResourceState:
    type_, name = address.split(".")
    return ResourceState(address, "", type_, name, None, dict(attributes))


def test_the_lock_is_exclusive_and_released_only_by_its_holder(
    s3: S3, moto_aws, tmp_path: Path
) -> None:
    bucket = s3.bucket()
    one = _backend(s3.endpoint, bucket, tmp_path)
    two = _backend(s3.endpoint, bucket, tmp_path)
    info = one.lock("apply", info="first")
    assert json.loads(s3.get(bucket, KEY + ".lock"))["ID"] == info.ID
    with pytest.raises(StateLockError) as caught:
        two.lock("plan")
    assert caught.value.holder is not None and caught.value.holder.ID == info.ID

    started = time.monotonic()
    with pytest.raises(StateLockError, match=r"still locked after waiting 0\.5s"):
        two.lock("plan", timeout=0.5)
    assert time.monotonic() - started >= 0.5

    with pytest.raises(StateUnlockError, match="does not match"):
        two.force_unlock("not-" + info.ID)
    # Someone force-unlocks and takes it: the first holder must not delete the new lock.
    two.force_unlock(info.ID)
    taken = two.lock("apply")
    with pytest.raises(StateReleaseError, match="no longer this run's"):
        one.unlock()
    assert json.loads(s3.get(bucket, KEY + ".lock"))["ID"] == taken.ID
    two.unlock()
    assert s3.get(bucket, KEY + ".lock") is None

    waiter_done = threading.Event()

    def waiter() -> None:
        b = _backend(s3.endpoint, bucket, tmp_path)
        b.lock("plan", timeout=20)
        b.unlock()
        waiter_done.set()

    holder = one.lock("apply")
    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.5)
    assert not waiter_done.is_set()
    one.unlock()
    thread.join(timeout=30)
    assert waiter_done.is_set() and holder.ID


def test_a_no_op_run_makes_a_handful_of_s3_calls(s3: S3, tmp_path: Path) -> None:
    bucket = s3.bucket()
    setup = _backend(s3.endpoint, bucket, tmp_path)
    state = setup.read()
    for i in range(200):
        state.resources[f"test_thing.t{i}"] = _res(f"test_thing.t{i}", n=i)
    setup.write(state)

    calls: list[str] = []
    plan = _backend(s3.endpoint, bucket, tmp_path, calls)
    plan.lock("OperationTypePlan")
    plan.read()
    plan.unlock()
    assert calls == ["PutObject", "GetObject", "GetObject", "DeleteObject"]


def test_a_crash_after_a_checkpoint_push_is_folded_from_the_journal(s3: S3, tmp_path: Path) -> None:
    bucket = s3.bucket()
    first = _backend(s3.endpoint, bucket, tmp_path)
    first.lock("apply")
    base = first.read()
    base.resources["test_thing.base"] = _res("test_thing.base")
    first.write(base)
    journal = first.begin_journal(base)
    journal.record_set(_res("test_thing.one"))
    assert first.checkpoint()  # pushed: serial 2 holds base + one
    assert not first.checkpoint()  # nothing new: nothing pushed
    journal.record_set(_res("test_thing.two"))
    journal.record_remove("test_thing.base")
    journal.close()  # ... and the process dies before its final write
    assert _addresses(s3.state(bucket)) == ["test_thing.base", "test_thing.one"]
    header = json.loads(first.journal_path.read_text().splitlines()[0])
    assert (header["lineage"], header["serial"]) == (base.lineage, 1)
    s3.client.delete_object(Bucket=bucket, Key=KEY + ".lock")  # as force-unlock would

    second = _backend(s3.endpoint, bucket, tmp_path)
    second.lock("plan")
    state = second.read()
    second.unlock()
    assert sorted(state.resources) == ["test_thing.one", "test_thing.two"]
    assert state.serial == 3 and s3.state(bucket)["serial"] == 3
    assert not first.journal_path.exists()

    # A journal whose base and checkpoints are all older than the stored state is stale.
    again = _backend(s3.endpoint, bucket, tmp_path)
    again.lock("apply")
    current = again.read()
    j = again.begin_journal(current)
    j.record_set(_res("test_thing.late"))
    j.close()
    again.write(State(lineage=current.lineage, resources={}))  # another final write, serial 4
    again.unlock()
    reader = _backend(s3.endpoint, bucket, tmp_path)
    reader.lock("plan")
    assert reader.read().resources == {}
    reader.unlock()
    assert not again.journal_path.exists()
