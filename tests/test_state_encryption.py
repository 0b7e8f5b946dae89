"""Client-side state encryption (``meshprov { encryption { passphrase_env } }``): the envelope
and its key derivation, then through the real CLI: encrypted S3 and local state with real
Kong Mesh keys, wrong and missing passphrases, rotation with ``fallback_passphrase_env``,
migration of a clear state, ``state pull``/``push``, saved plan files and the apply journal.
"""

from __future__ import annotations

import base64
import json
import signal
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from tests.support.engine import Workspace
from tests.support.s3state import KEY, S3, backend_block, encryption_block

from meshprov.state import EncryptionError, State, StateEncryption, loads_state
from meshprov.state.encryption import (
    CONTENT_PLAN,
    CONTENT_STATE,
    SCRYPT_N,
    Passphrase,
    decode,
    is_envelope,
)

ENV = "MESHPROV_STATE_PASSPHRASE"
OLD_ENV = "MESHPROV_STATE_PASSPHRASE_OLD"
PASSPHRASE = "correct horse battery staple"

THINGS = """
test_thing "a" {
  value = "one"
}

test_thing "b" {
  value  = "two"
  parent = test_thing.a
}
"""

KONG_MESH = """
ca "cp" {
  common_name  = "meshprov test CA"
  organization = "Example Corp"
}

control_plane "global" {
  ca        = ca.cp
  hostnames = ["global.mesh.test"]
  addresses = ["127.0.0.1"]
}

zone "eu" {
  ca         = ca.cp
  global     = control_plane.global
  addresses  = ["10.10.0.10"]
  egress_ips = ["198.51.100.10"]
}
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _encryption(value: str = PASSPHRASE, fallback: str | None = None) -> StateEncryption:
    environ = {ENV: value}
    if fallback is not None:
        environ[OLD_ENV] = fallback
    return StateEncryption.from_environment(ENV, OLD_ENV if fallback else None, environ)


def _open_state(data: bytes, passphrase: str = PASSPHRASE) -> State:
    plain, _ = decode(data, CONTENT_STATE, "test", _encryption(passphrase))
    return loads_state(plain, "test")


@pytest.fixture
def s3(moto_aws) -> S3:
    return S3(moto_aws.endpoint)


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv(ENV, PASSPHRASE)
    monkeypatch.delenv(OLD_ENV, raising=False)
    return Workspace(tmp_path / "config")


def _local(extra: str = "") -> str:
    return "meshprov {\n" + encryption_block() + "}\n" + extra


# --- the envelope ----------------------------------------------------------------------------


def test_envelope_round_trip_and_format() -> None:
    enc = _encryption()
    sealed = enc.seal(b'{"secret": "-----BEGIN PRIVATE KEY-----"}', CONTENT_STATE)
    doc = json.loads(sealed)
    assert doc["meshprov_encrypted"] == 1 and doc["cipher"] == "AES-256-GCM"
    assert doc["content"] == CONTENT_STATE
    assert doc["kdf"]["name"] == "scrypt"
    assert (doc["kdf"]["n"], doc["kdf"]["r"], doc["kdf"]["p"]) == (SCRYPT_N, 8, 1) == (2**15, 8, 1)
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 16
    assert len(base64.b64decode(doc["nonce"])) == 12
    assert b"PRIVATE" not in sealed and is_envelope(sealed)
    assert enc.open(sealed, CONTENT_STATE, "x")[0] == b'{"secret": "-----BEGIN PRIVATE KEY-----"}'
    # A new salt (so a new key) and a new nonce for every file.
    again = json.loads(enc.seal(b"same", CONTENT_STATE))
    other = json.loads(enc.seal(b"same", CONTENT_STATE))
    assert again["kdf"]["salt"] != other["kdf"]["salt"] and again["nonce"] != other["nonce"]


def test_wrong_passphrase_tampering_and_content_are_errors() -> None:
    sealed = _encryption().seal(b"plan", CONTENT_PLAN)
    with pytest.raises(EncryptionError, match=f"passphrase in {ENV}") as caught:
        _encryption("wrong").open(sealed, CONTENT_PLAN, "plan.bin")
    assert "plan.bin" in str(caught.value)
    with pytest.raises(EncryptionError, match="not a meshprov-state"):
        _encryption().open(sealed, CONTENT_STATE, "plan.bin")
    doc = json.loads(sealed)
    raw = bytearray(base64.b64decode(doc["ciphertext"]))
    raw[0] ^= 1
    doc["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(EncryptionError, match="is not the one"):
        _encryption().open(json.dumps(doc).encode(), CONTENT_PLAN, "plan.bin")
    doc = json.loads(sealed)
    doc["kdf"]["n"] = 2**30  # a crafted file must not make us derive for minutes
    with pytest.raises(EncryptionError, match="out of bounds"):
        _encryption().open(json.dumps(doc).encode(), CONTENT_PLAN, "plan.bin")
    with pytest.raises(EncryptionError, match="no encryption settings"):
        decode(sealed, CONTENT_PLAN, "plan.bin", None)
    with pytest.raises(EncryptionError, match=f"{ENV} .encryption.passphrase_env. is not set"):
        StateEncryption.from_environment(ENV, None, {})
    assert "correct" not in repr(_encryption()) and "correct" not in repr(
        Passphrase(ENV, "passphrase_env", b"correct")
    )


def test_fallback_passphrase_reads_and_the_new_one_writes() -> None:
    old = _encryption("old passphrase")
    sealed = old.seal(b"state", CONTENT_STATE)
    rotating = _encryption("new passphrase", fallback="old passphrase")
    plain, stored = decode(sealed, CONTENT_STATE, "s", rotating)
    assert (plain, stored) == (b"state", "fallback")
    resealed = rotating.seal(plain, CONTENT_STATE)
    assert decode(resealed, CONTENT_STATE, "s", _encryption("new passphrase"))[1] == "primary"
    with pytest.raises(EncryptionError):
        decode(resealed, CONTENT_STATE, "s", old)


# --- S3 state with real Kong Mesh keys -----------------------------------------------------------


def test_encrypted_s3_state_holds_no_key_material(ws: Workspace, s3: S3) -> None:
    bucket = s3.bucket()
    ws.write(backend_block(bucket, s3.endpoint, encryption=encryption_block()) + KONG_MESH)
    ws.run("apply", "--auto-approve")
    stored = s3.get(bucket)
    assert stored is not None and is_envelope(stored)
    assert b"BEGIN" not in stored and b"PRIVATE" not in stored and b"zone.eu" not in stored

    state = _open_state(stored)
    keys = [
        rs.attributes[name]
        for rs in state.resources.values()
        for name in ("private_key_pem", "api_private_key_pem")
        if rs.attributes.get(name)
    ]
    assert len(keys) >= 3  # the CA's, the global's and the zone's
    ciphertext = base64.b64decode(json.loads(stored)["ciphertext"])
    for pem in keys:
        key = serialization.load_pem_private_key(pem.encode(), None)
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        assert der not in ciphertext and der[-32:] not in stored
        assert pem.splitlines()[1].encode() not in stored
    with pytest.raises(EncryptionError):
        _open_state(stored, "not the passphrase")
    assert ws.run("plan", "--detailed-exitcode").code == 0


def test_wrong_or_missing_passphrase_changes_nothing(
    ws: Workspace, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3.bucket()
    ws.write(backend_block(bucket, s3.endpoint, encryption=encryption_block()) + THINGS)
    ws.run("apply", "--auto-approve")
    before = s3.keys(bucket), s3.get(bucket)
    ws.write(
        backend_block(bucket, s3.endpoint, encryption=encryption_block())
        + THINGS.replace('"one"', '"uno"')
    )

    monkeypatch.setenv(ENV, "a wrong passphrase")
    for args in (("plan",), ("apply", "--auto-approve"), ("state", "pull", "--decrypt")):
        result = ws.run(*args, code=1)
        assert "Error: Failed to load state" in result.stderr
        assert f"the passphrase in {ENV}" in result.stderr
        assert (s3.keys(bucket), s3.get(bucket)) == before
    assert ws.world("test_thing.a")["value"] == "one"

    monkeypatch.delenv(ENV)
    result = ws.run("apply", "--auto-approve", code=1)
    assert "Error: State encryption passphrase missing" in result.stderr
    assert f"{ENV} (encryption.passphrase_env) is not set" in result.stderr
    assert (s3.keys(bucket), s3.get(bucket)) == before

    monkeypatch.setenv(ENV, PASSPHRASE)
    assert "Resources: 0 added, 1 changed" in ws.run("apply", "--auto-approve").stdout


def test_rotation_with_the_fallback_passphrase(
    ws: Workspace, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3.bucket(versioned=True)
    block = backend_block(bucket, s3.endpoint, encryption=encryption_block(fallback=OLD_ENV))
    ws.write(block + THINGS)
    monkeypatch.setenv(ENV, "old passphrase")
    ws.run("apply", "--auto-approve")
    old_object = s3.get(bucket)
    _open_state(old_object, "old passphrase")

    monkeypatch.setenv(ENV, "new passphrase")
    monkeypatch.setenv(OLD_ENV, "old passphrase")
    assert ws.run("plan", "--detailed-exitcode").code == 0  # read with the fallback
    assert s3.get(bucket) == old_object
    init = ws.run("init")
    assert f"Encrypted the state with the passphrase in {ENV}" in init.stdout
    rotated = s3.get(bucket)
    state = _open_state(rotated, "new passphrase")
    assert state.serial == 1  # same state, same serial: only re-encrypted
    with pytest.raises(EncryptionError):
        _open_state(rotated, "old passphrase")

    monkeypatch.delenv(OLD_ENV)
    assert ws.run("plan", "--detailed-exitcode").code == 0
    monkeypatch.setenv(ENV, "old passphrase")
    failed = ws.run("plan", code=1)
    assert f"{ENV} (encryption.passphrase_env)" in failed.stderr


# --- local state -------------------------------------------------------------------------------


def test_a_clear_local_state_is_encrypted_and_no_clear_copy_is_left(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.write(THINGS)
    ws.run("apply", "--auto-approve")
    clear = ws.state()
    ws.write(_local(THINGS))
    assert ws.run("plan", "--detailed-exitcode", valid_state=False).code == 0  # reads it
    assert ws.state_bytes().startswith(b'{\n  "format"')  # a plan writes nothing
    init = ws.run("init", valid_state=False)
    assert "Encrypted the state" in init.stdout and "(it was in clear)" in init.stdout
    for path in (ws.state_path, ws.backup_path):
        data = path.read_bytes()
        assert is_envelope(data) and b"PRIVATE KEY" not in data and _mode(path) == 0o600
    state = _open_state(ws.state_bytes())
    assert (state.lineage, state.serial) == (clear["lineage"], clear["serial"])
    assert _open_state(ws.backup_path.read_bytes()).serial == clear["serial"]

    ws.write(THINGS)  # encryption removed from the configuration
    result = ws.run("plan", code=1, valid_state=False)
    assert "is encrypted, but the configuration has no encryption settings" in result.stderr


def test_state_pull_and_push_with_encryption(ws: Workspace) -> None:
    ws.write(_local(THINGS))
    ws.run("apply", "--auto-approve", valid_state=False)
    pulled = ws.run("state", "pull", valid_state=False).stdout
    assert is_envelope(pulled.encode()) and "PRIVATE KEY" not in pulled
    clear = ws.run("state", "pull", "--decrypt", allow_secret=True, valid_state=False).stdout
    doc = json.loads(clear)
    assert doc["format"] == "meshprov-state" and "PRIVATE KEY" in clear
    assert _open_state(pulled.encode()).content_equal(loads_state(clear.encode(), "pulled"))

    envelope = ws.dir / "pulled.json"
    envelope.write_text(pulled)
    pushed = ws.run("state", "push", str(envelope), valid_state=False)
    assert f"serial {doc['serial']}" in pushed.stdout
    (ws.dir / "clear.json").write_text(clear)
    ws.run("state", "push", str(ws.dir / "clear.json"), valid_state=False)
    assert is_envelope(ws.state_bytes())


def test_encrypted_plan_files(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws.write(_local(THINGS))
    plan_file = ws.dir / "plan.bin"
    ws.run("plan", "--out", str(plan_file), valid_state=False)
    data = plan_file.read_bytes()
    assert is_envelope(data) and _mode(plan_file) == 0o600
    assert b"test_thing" not in data
    assert json.loads(data)["content"] == CONTENT_PLAN
    shown = ws.run("show", str(plan_file), valid_state=False)
    assert "test_thing.a will be created" in shown.stdout
    assert "test_thing.a" in ws.run("graph", "--plan", str(plan_file), valid_state=False).stdout

    monkeypatch.setenv(ENV, "wrong")
    failed = ws.run("apply", str(plan_file), code=1, valid_state=False)
    assert "Error: Failed to read plan file" in failed.stderr and ENV in failed.stderr
    monkeypatch.delenv(ENV)
    failed = ws.run("show", str(plan_file), code=1, valid_state=False)
    assert ENV in failed.stderr
    monkeypatch.setenv(ENV, PASSPHRASE)
    applied = ws.run("apply", str(plan_file), valid_state=False)
    assert "Apply complete! Resources: 2 added" in applied.stdout


def test_the_journal_is_encrypted_line_by_line_and_folded(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.write(_local(THINGS.replace("parent = test_thing.a", "parent = test_thing.a\n  delay = 60")))
    proc = ws.popen("apply", "--auto-approve")
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "test_thing.b: Creating..." in line:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    raw = ws.journal_path.read_bytes()
    lines = raw.splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2 and header["encryption"]["cipher"] == "AES-256-GCM"
    assert header["encryption"]["kdf"]["n"] == 2**15
    assert len(lines) == 2  # test_thing.a's entry
    assert b"test_thing" not in raw and b"PRIVATE" not in raw
    entry = json.loads(lines[1])
    assert set(entry) == {"nonce", "ciphertext"}

    monkeypatch.setenv(ENV, "wrong")
    result = ws.run("plan", code=1, valid_state=False)
    assert "Cannot decrypt the state journal" in result.stderr and ENV in result.stderr
    assert ws.journal_path.read_bytes() == raw and not ws.state_path.exists()

    monkeypatch.setenv(ENV, PASSPHRASE)
    ws.write(_local(THINGS))
    plan = ws.run("plan", valid_state=False)
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in plan.stdout
    assert not ws.journal_path.exists()
    assert sorted(_open_state(ws.state_bytes()).resources) == ["test_thing.a"]


def test_encrypted_s3_apply_journal_and_errored_state_are_sealed(ws: Workspace, s3: S3) -> None:
    """The S3 backend's local journal and ``errored.state.json`` are encrypted as well."""
    from tests.support.tcprelay import TcpRelay

    relay = TcpRelay(s3.endpoint)
    try:
        bucket = s3.bucket()
        ws.write(
            backend_block(bucket, relay.url, encryption=encryption_block())
            + 'test_thing "a" {\n  value = "a"\n}\n\n'
            + 'test_thing "b" {\n  value = "b"\n  delay = 3\n}\n'
        )
        proc = ws.popen("apply", "--auto-approve")
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if "test_thing.b: Creating..." in line:
                    break
            journal = next((ws.dir / ".meshprov").glob("*.journal"))
            raw = journal.read_bytes()
            assert json.loads(raw.splitlines()[0])["encryption"]
            assert b"test_thing" not in raw
            relay.cut()
            assert proc.wait(timeout=180) == 1
        finally:
            if proc.poll() is None:
                proc.kill()
        errored = ws.dir / "errored.state.json"
        data = errored.read_bytes()
        assert is_envelope(data) and b"PRIVATE" not in data
        assert sorted(_open_state(data).resources) == ["test_thing.a", "test_thing.b"]
        relay.restore()
        lock = s3.lock(bucket)
        assert lock is not None
        ws.run("force-unlock", "--force", lock["ID"])
        ws.run("state", "push", str(errored))
        assert is_envelope(s3.get(bucket, KEY))
        assert ws.run("plan", "--detailed-exitcode").code == 0
    finally:
        relay.close()
