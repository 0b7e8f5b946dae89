"""Signing keys and tokens issued offline (SPEC §1.8), through the real command line.

Every token is checked twice, independently of meshprov: decoded with PyJWT against the public
key, and its JWS signature verified by ``openssl dgst -sha256 -verify`` over the signing input.
Keys are checked with ``openssl`` (PKCS#1, size, kid from the DER public key). The lifecycle
(renewal by ``--as-of``, key replacement, claim changes, output file drift, destroy) is read
back from plan files, state and the files on disk.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import stat
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner, Result
from tests.support.engine import JWT_PREFIX, shows_a_token

from meshprov.cli import cli

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")


CONFIG = """\
signing_key "users" {
  kind     = "user"
  key_size = 2048
}

signing_key "dataplanes" {
  kind     = "dataplane"
  key_size = 2048
  mesh     = "default"
}

signing_key "zone_proxies" {
  kind = "zone_proxy"
  key_size = 2048
}

signing_key "kds" {
  kind = "zone_cp"
}

token "admin" {
  signing_key = signing_key.users
  user_name   = "alice"
  groups      = ["mesh-system:admin", "ops"]
  validity    = "8h"
  output_file = "tokens/admin.token"
}

token "web" {
  signing_key    = signing_key.dataplanes
  mesh           = "default"
  dataplane_name = "web-01"
  tags           = { "kuma.io/service" = ["web", "web-api"], "team" = ["shop"] }
  workload       = "web"
  output_file    = "tokens/web.token"
}

token "mesh_wide" {
  signing_key = signing_key.dataplanes
  mesh        = "default"
}

token "ingress" {
  signing_key = signing_key.zone_proxies
  zone        = "eu-west"
  scope       = ["ingress"]
}

token "proxies" {
  signing_key = signing_key.zone_proxies
  zone        = "eu-west"
}

token "kds" {
  signing_key = signing_key.kds
  zone        = "eu-west"
  validity    = "2160h"
}
"""

EXPECTED_CLAIMS = {
    "admin": {"Name": "alice", "Groups": ["mesh-system:admin", "ops"]},
    "web": {
        "Name": "web-01",
        "Mesh": "default",
        "Tags": {"kuma.io/service": ["web", "web-api"], "team": ["shop"]},
        "Workload": "web",
    },
    "mesh_wide": {"Name": "", "Mesh": "default", "Tags": {}, "Workload": ""},
    "ingress": {"Zone": "eu-west", "Scope": ["ingress"]},
    "proxies": {"Zone": "eu-west", "Scope": ["ingress", "egress"]},
    "kds": {"Zone": "eu-west", "Scope": ["cp"]},
}
KEY_OF = {
    "admin": "users",
    "web": "dataplanes",
    "mesh_wide": "dataplanes",
    "ingress": "zone_proxies",
    "proxies": "zone_proxies",
    "kds": "kds",
}
VALIDITY = {"admin": 8 * 3600, "kds": 2160 * 3600}  # others: the default 720h


# --- running meshprov ------------------------------------------------------------------------


def run(directory: Path, *args: str, code: int | None = 0) -> Result:
    result = CliRunner().invoke(cli, ["-C", str(directory), *args], catch_exceptions=False)
    if code is not None:
        assert result.exit_code == code, (
            f"meshprov {' '.join(args)} exited {result.exit_code}, want {code}\n{result.output}"
        )
    assert "Traceback" not in result.output
    return result


def write_config(directory: Path, hcl: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.hcl").write_text(hcl)
    return directory


def attributes(directory: Path, address: str) -> dict:
    state = json.loads((directory / "state/default.json").read_text())
    for resource in state["resources"]:
        if resource["address"] == address:
            return resource["attributes"]
    raise KeyError(address)


def plan_actions(directory: Path, planfile: Path, *args: str) -> dict[str, tuple[str, str]]:
    run(directory, "plan", "--out", str(planfile), *args)
    doc = json.loads(planfile.read_text())
    return {
        c["address"]: (c["action"], c["reason"]) for c in doc["changes"] if c["action"] != "no-op"
    }


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def as_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Applied:
    directory: Path
    output: str

    def copy(self, to: Path) -> Path:
        shutil.copytree(self.directory, to, symlinks=True)
        return to


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    directory = write_config(tmp_path_factory.mktemp("tokens") / "cfg", CONFIG)
    before = datetime.now(UTC)
    result = run(directory, "apply", "--auto-approve")
    assert "Resources: 10 added" in result.output
    assert before  # the issue time is checked against the token's own iat below
    return Applied(directory, result.output)


# --- independent checks ----------------------------------------------------------------------


def openssl(*args: str | Path, check: bool = True, stdin: bytes | None = None):
    proc = subprocess.run(
        [OPENSSL, *map(str, args)], capture_output=True, input=stdin, timeout=60, check=False
    )
    if check:
        assert proc.returncode == 0, f"openssl {args}: {proc.stderr.decode()}"
    return proc


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def openssl_verifies(token: str, public_key_pem: str, work: Path) -> bool:
    """``openssl dgst -sha256 -verify`` of the JWS signature over ``header.payload``."""
    work.mkdir(parents=True, exist_ok=True)
    header, payload, signature = token.split(".")
    (work / "pub.pem").write_text(public_key_pem)
    (work / "input").write_bytes(f"{header}.{payload}".encode())
    (work / "sig.bin").write_bytes(b64url_decode(signature))
    if "RSA PUBLIC KEY" in public_key_pem:  # dgst wants SubjectPublicKeyInfo
        spki = openssl("rsa", "-RSAPublicKey_in", "-in", work / "pub.pem", "-pubout").stdout
        (work / "pub.pem").write_bytes(spki)
    proc = openssl(
        "dgst",
        "-sha256",
        "-verify",
        work / "pub.pem",
        "-signature",
        work / "sig.bin",
        work / "input",
        check=False,
    )
    return proc.returncode == 0 and b"Verified OK" in proc.stdout


def openssl_kid(public_key_pem: str) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, as openssl computes it: the first 16 hex."""
    der = openssl(
        "rsa", "-RSAPublicKey_in", "-pubout", "-outform", "DER", stdin=public_key_pem.encode()
    ).stdout
    return hashlib.sha256(der).hexdigest()[:16]


def token_of(directory: Path, name: str) -> str:
    return attributes(directory, f"token.{name}")["token"]


def key_of(directory: Path, name: str) -> dict:
    return attributes(directory, f"signing_key.{name}")


# === keys ====================================================================================


@pytest.mark.parametrize("name,bits", [("users", 2048), ("kds", 3072)])
def test_signing_keys_are_pkcs1_rsa_with_a_kid_from_the_public_key(
    applied: Applied, tmp_path: Path, name: str, bits: int
) -> None:
    key = key_of(applied.directory, name)
    private = key["private_key_pem"]
    assert private.startswith("-----BEGIN RSA PRIVATE KEY-----\n")  # PKCS#1, as kumactl wants
    assert key["public_key_pem"].startswith("-----BEGIN RSA PUBLIC KEY-----\n")
    (tmp_path / "key.pem").write_text(private)
    text = openssl("rsa", "-in", tmp_path / "key.pem", "-check", "-noout", "-text").stdout
    assert b"RSA key ok" in text and f"Private-Key: ({bits} bit".encode() in text
    public = openssl("rsa", "-in", tmp_path / "key.pem", "-RSAPublicKey_out").stdout.decode()
    assert public == key["public_key_pem"]
    assert key["kid"] == openssl_kid(key["public_key_pem"])
    kids = {key_of(applied.directory, k)["kid"] for k in set(KEY_OF.values())}
    assert len(kids) == 4


# === tokens ==================================================================================


@pytest.mark.parametrize("name", sorted(EXPECTED_CLAIMS))
def test_every_token_verifies_with_pyjwt_and_openssl(
    applied: Applied, tmp_path: Path, name: str
) -> None:
    token = token_of(applied.directory, name)
    state = attributes(applied.directory, f"token.{name}")
    key = key_of(applied.directory, KEY_OF[name])
    assert openssl_verifies(token, key["public_key_pem"], tmp_path / "ok")
    # another key of the same kind does not verify it
    other = key_of(applied.directory, "users" if name != "admin" else "dataplanes")
    assert not openssl_verifies(token, other["public_key_pem"], tmp_path / "other")

    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": key["kid"], "typ": "JWT"}
    claims = jwt.decode(token, key["public_key_pem"], algorithms=["RS256"])
    registered = {k: claims.pop(k) for k in ("jti", "iat", "nbf", "exp")}
    assert claims == EXPECTED_CLAIMS[name]
    assert str(uuid.UUID(registered["jti"])) == registered["jti"] == state["jti"]
    assert registered["iat"] == registered["nbf"]
    # exp = issue time + validity, iat = issue time − 5 s (Kong Mesh's issuer)
    assert registered["exp"] - registered["iat"] == VALIDITY.get(name, 720 * 3600) + 5
    assert datetime.fromtimestamp(registered["exp"], UTC) == datetime.fromisoformat(
        state["expires_at"]
    )
    assert abs(registered["iat"] - datetime.now(UTC).timestamp()) < 600
    assert state["kid"] == key["kid"] and state["kind"] == key["kind"]


def test_output_files_hold_one_line_and_are_private(applied: Applied) -> None:
    for name in ("admin", "web"):
        path = applied.directory / "tokens" / f"{name}.token"
        assert mode(path) == 0o600
        text = path.read_text()
        assert text == token_of(applied.directory, name) + "\n"
        assert text.count("\n") == 1
    assert sorted(p.name for p in (applied.directory / "tokens").iterdir()) == [
        "admin.token",
        "web.token",
    ]


def test_a_no_op_plan_after_apply(applied: Applied) -> None:
    result = run(applied.directory, "plan", "--detailed-exitcode")
    assert "No changes." in result.output


# === lifecycle ===============================================================================


def test_tokens_are_renewed_within_renew_before(applied: Applied, tmp_path: Path) -> None:
    directory = applied.copy(tmp_path / "cfg")
    admin = attributes(directory, "token.admin")
    # renew_before defaults to a third of the validity: 8h → 2h40m
    assert admin["renew_before"] == "2h40m"
    expires = datetime.fromisoformat(admin["expires_at"])
    early = as_of(expires - timedelta(hours=3))
    assert plan_actions(directory, tmp_path / "early.plan", "--as-of", early) == {}
    late = as_of(expires - timedelta(hours=2))
    actions = plan_actions(directory, tmp_path / "late.plan", "--as-of", late)
    assert actions == {"token.admin": ("create-delete", "replace_because_expiring")}
    run(directory, "apply", "--auto-approve", "--as-of", late)
    renewed = attributes(directory, "token.admin")
    assert renewed["jti"] != admin["jti"]
    claims = jwt.decode(
        renewed["token"],
        key_of(directory, "users")["public_key_pem"],
        algorithms=["RS256"],
    )
    # --as-of decides what is due; the new token is issued at the real time, valid from now
    assert abs(claims["iat"] - datetime.now(UTC).timestamp()) < 600
    assert (directory / "tokens/admin.token").read_text() == renewed["token"] + "\n"
    assert mode(directory / "tokens/admin.token") == 0o600


def test_replacing_a_key_reissues_its_tokens(applied: Applied, tmp_path: Path) -> None:
    directory = applied.copy(tmp_path / "cfg")
    old_key = key_of(directory, "dataplanes")
    old = {n: attributes(directory, f"token.{n}") for n in ("web", "mesh_wide")}
    actions = plan_actions(
        directory, tmp_path / "replace.plan", "--replace", "signing_key.dataplanes"
    )
    assert actions == {
        "signing_key.dataplanes": ("create-delete", "replace_by_request"),
        "token.web": ("update", "update_because_key_replaced"),
        "token.mesh_wide": ("update", "update_because_key_replaced"),
    }
    run(directory, "apply", str(tmp_path / "replace.plan"))
    new_key = key_of(directory, "dataplanes")
    assert new_key["kid"] != old_key["kid"]
    for name, before in old.items():
        token = token_of(directory, name)
        assert jwt.get_unverified_header(token)["kid"] == new_key["kid"]
        assert openssl_verifies(token, new_key["public_key_pem"], tmp_path / name / "new")
        assert not openssl_verifies(token, old_key["public_key_pem"], tmp_path / name / "old")
        assert attributes(directory, f"token.{name}")["jti"] != before["jti"]
    assert (directory / "tokens/web.token").read_text() == token_of(directory, "web") + "\n"
    # tokens of other keys are untouched
    assert token_of(directory, "admin") == token_of(applied.directory, "admin")


def test_changing_a_claim_replaces_the_token(applied: Applied, tmp_path: Path) -> None:
    directory = applied.copy(tmp_path / "cfg")
    (directory / "main.hcl").write_text(CONFIG.replace('"web-01"', '"web-02"'))
    actions = plan_actions(directory, tmp_path / "claim.plan")
    assert actions == {"token.web": ("create-delete", "replace_because_cannot_update")}
    run(directory, "apply", str(tmp_path / "claim.plan"))
    claims = jwt.decode(
        (directory / "tokens/web.token").read_text().strip(),
        key_of(directory, "dataplanes")["public_key_pem"],
        algorithms=["RS256"],
    )
    assert claims["Name"] == "web-02"


def test_output_file_drift_is_repaired_with_the_same_token(
    applied: Applied, tmp_path: Path
) -> None:
    directory = applied.copy(tmp_path / "cfg")
    token = token_of(directory, "admin")
    (directory / "tokens/admin.token").unlink()
    (directory / "tokens/web.token").chmod(0o644)
    plan = run(directory, "plan").output
    assert "tokens/admin.token was deleted" in plan
    assert "tokens/web.token has mode 0644, want 0600" in plan
    assert "Plan: 0 to add, 2 to change, 0 to destroy." in plan
    run(directory, "apply", "--auto-approve")
    assert (directory / "tokens/admin.token").read_text() == token + "\n"
    assert mode(directory / "tokens/web.token") == 0o600
    assert token_of(directory, "admin") == token  # the same token, not a new one


def test_an_output_file_replaced_by_a_symlink_is_drift(applied: Applied, tmp_path: Path) -> None:
    """A link to a file holding the very token, mode and all, is still not the file meshprov
    wrote: refresh does not read through it, and apply puts a file back, leaving the target."""
    directory = applied.copy(tmp_path / "cfg")
    written = directory / "tokens/web.token"
    elsewhere = tmp_path / "web.token"
    shutil.copy2(written, elsewhere)
    written.unlink()
    written.symlink_to(elsewhere)
    plan = run(directory, "plan").output
    assert "tokens/web.token was replaced by a symlink" in plan
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in plan
    run(directory, "apply", "--auto-approve")
    assert not written.is_symlink() and mode(written) == 0o600
    assert written.read_text() == elsewhere.read_text()  # the same token, not a new one


def test_moving_the_output_file_removes_the_old_one(applied: Applied, tmp_path: Path) -> None:
    directory = applied.copy(tmp_path / "cfg")
    (directory / "main.hcl").write_text(
        CONFIG.replace('"tokens/admin.token"', '"keys/alice.token"')
    )
    plan = run(directory, "plan").output
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in plan
    run(directory, "apply", "--auto-approve")
    assert not (directory / "tokens/admin.token").exists()
    assert (directory / "keys/alice.token").read_text() == token_of(directory, "admin") + "\n"


def test_destroy_removes_the_token_files(applied: Applied, tmp_path: Path) -> None:
    directory = applied.copy(tmp_path / "cfg")
    (directory / "tokens/notes.txt").write_text("not meshprov's")
    run(directory, "destroy", "--auto-approve")
    assert sorted(p.name for p in (directory / "tokens").iterdir()) == ["notes.txt"]


# === validation that is not an error ==========================================================


def test_long_lived_tokens_are_a_warning(tmp_path: Path) -> None:
    hcl = (
        CONFIG.replace('validity    = "8h"', 'validity    = "8761h"')
        .replace('validity    = "2160h"', 'validity    = "87601h"')
        .replace(
            'zone        = "eu-west"\n  scope',
            'zone        = "eu-west"\n  validity = "87600h"\n  scope',
        )
    )
    directory = write_config(tmp_path / "cfg", hcl)
    result = run(directory, "validate")
    # the terminal shows the first and counts the rest (Terraform's consolidation)
    assert result.output.count("Warning: Long-lived token") == 1
    assert 'token.admin is a user token valid for "8761h", more than 1 year' in result.output
    assert "(and one more similar warning elsewhere)" in result.output
    assert "main.hcl line 25:" in result.output  # the admin token's validity
    details = [
        d["detail"] for d in json.loads(run(directory, "validate", "--json").stdout)["diagnostics"]
    ]
    assert any(
        'token.kds is a zone_cp token valid for "87601h", more than 10' in d for d in details
    )


# === secrets =================================================================================


def assert_no_secret(text: str, what: str) -> None:
    assert not shows_a_token(text), what
    assert "PRIVATE KEY" not in text, what


def test_tokens_and_keys_are_never_shown(applied: Applied, tmp_path: Path) -> None:
    assert_no_secret(applied.output, "apply")
    directory = applied.copy(tmp_path / "cfg")
    assert_no_secret(run(write_config(tmp_path / "fresh", CONFIG), "plan").output, "plan")
    planfile = tmp_path / "renew.plan"
    later = as_of(datetime.now(UTC) + timedelta(days=3650))
    outputs = {
        "plan --as-of": run(directory, "plan", "--as-of", later, "--out", str(planfile)).output,
        "plan file": planfile.read_text(),
        "plan --json": run(directory, "plan", "--json", "--as-of", later).output,
        "plan --markdown": "",
        "show": run(directory, "show").output,
        "show --json": run(directory, "show", "--json").output,
        "show PLANFILE --json": run(directory, "show", "--json", str(planfile)).output,
        "state show": run(directory, "state", "show", "token.admin").output,
        "output": run(directory, "output").output,
        "graph": run(directory, "graph").output,
    }
    markdown = tmp_path / "plan.md"
    run(directory, "plan", "--as-of", later, "--markdown", str(markdown))
    outputs["plan --markdown"] = markdown.read_text()
    outputs["apply --as-of"] = run(directory, "apply", "--auto-approve", "--as-of", later).output
    outputs["destroy"] = run(directory, "destroy", "--auto-approve").output
    for what, text in outputs.items():
        assert_no_secret(text, what)
    assert "(sensitive value)" in outputs["state show"]
    # what the checks look for really is in state: they would catch a leak
    state = (directory / "state/default.json.backup").read_text()
    assert JWT_PREFIX in state and "RSA PRIVATE KEY" in state
