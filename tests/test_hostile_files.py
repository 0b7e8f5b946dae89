"""Issue 14's repros for files, state and the environment (items 3, 8 and 9): each one is a
diagnostic (exit 1, no traceback, state untouched), never a file meshprov does not own."""

from __future__ import annotations

import http.server
import json
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.engine import Workspace, mode_of

from meshprov.state.encryption import ENVELOPE_KEY

ZONE = """
ca "cp" {
  common_name = "CP CA"
}

control_plane "global" {
  ca        = ca.cp
  hostnames = ["global.example.com"]
}

zone "eu" {
  ca         = ca.cp
  global     = control_plane.global
  hostnames  = ["cp.eu.example.com"]
  egress_ips = ["198.51.100.10"]
}
"""
FIREWALL = """
provider "aws" {
  region = "eu-west-1"
}

firewall "kds" {
  security_group_ids = ["sg-0123456789abcdef0"]
  port               = control_plane.global.kds_port
  allow_zones        = [zone.eu]
}
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "config")


@pytest.fixture
def applied(ws: Workspace) -> Workspace:
    ws.write(ZONE)
    ws.run("apply", "--auto-approve")
    return ws


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.chmod(victim, 0o640)
    return victim


def _edit_state(ws: Workspace, address: str, **changes: object) -> bytes:
    doc = json.loads(ws.state_path.read_bytes())
    resource = next(r for r in doc["resources"] if r["address"] == address)
    for name, value in changes.items():
        if value is _MISSING:
            del resource["attributes"][name]
        else:
            resource["attributes"][name] = value
    data = json.dumps(doc).encode()
    ws.state_path.write_bytes(data)
    return data


_MISSING = object()


# --- item 3: never through a symlink, never outside the output directory ---------------------


def test_destroy_removes_a_symlink_not_its_target(applied: Workspace, tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    key = applied.dir / "out" / "zone.eu" / "tls" / "tls.key"
    key.unlink()
    key.symlink_to(victim)
    applied.run("destroy", "--auto-approve", "--no-refresh")
    assert victim.read_text() == "precious"
    assert not key.is_symlink()
    assert not (applied.dir / "out" / "zone.eu").exists()


def test_apply_replaces_a_symlinked_artifact_without_writing_through_it(
    applied: Workspace, tmp_path: Path
) -> None:
    victim = _victim(tmp_path)
    env = applied.dir / "out" / "zone.eu" / "kuma-cp.env"
    env.unlink()
    env.symlink_to(victim)
    plan = applied.run("plan", "--no-color", code=None)
    assert "replaced by a symlink" in plan.output
    applied.run("apply", "--auto-approve")
    assert victim.read_text() == "precious"
    assert mode_of(victim) == 0o640
    assert not env.is_symlink()
    assert "KUMA_MODE=zone" in env.read_text()


def test_a_symlinked_tls_directory_is_refused(applied: Workspace, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "tls.key").write_text("theirs")
    tls = applied.dir / "out" / "zone.eu" / "tls"
    shutil.rmtree(tls)
    tls.symlink_to(elsewhere)
    result = applied.run("destroy", "--auto-approve", "--no-refresh", code=1)
    assert "zone.eu" in result.stderr
    assert "symlink" in result.stderr
    assert (elsewhere / "tls.key").read_text() == "theirs"


@pytest.mark.parametrize("where", ["absolute", "dotdot"])
def test_artifact_paths_leaving_the_output_directory_are_refused(
    applied: Workspace, tmp_path: Path, where: str
) -> None:
    victim = _victim(tmp_path)
    path = str(victim) if where == "absolute" else "../../../victim"
    assert (applied.dir / "out" / "zone.eu" / path).resolve() == victim
    artifacts = applied.resources()["zone.eu"]["attributes"]["artifacts"]
    data = _edit_state(applied, "zone.eu", artifacts={**artifacts, path: "0600 sha256:0"})
    for args in (("destroy", "--auto-approve"), ("destroy", "--auto-approve", "--no-refresh")):
        result = applied.run(*args, code=1, valid_state=False)
        assert "zone.eu" in result.stderr
        assert "not a path inside the output directory" in result.stderr
        assert victim.read_text() == "precious"
        assert applied.state_path.read_bytes() == data


def _victims(tmp_path: Path) -> Path:
    """Someone else's directory holding files named as meshprov's artifacts are."""
    victims = tmp_path / "theirs"
    (victims / "tls").mkdir(parents=True)
    for name in ("kuma-cp.env", "tls/tls.key", "tls/ca.crt"):
        (victims / name).write_text(f"their {name}")
    return victims


@pytest.mark.parametrize(
    "args",
    [
        ("destroy", "--auto-approve"),
        ("destroy", "--auto-approve", "--no-refresh"),
        ("apply", "--auto-approve"),  # the files move back to out/zone.eu: the old ones go
    ],
)
def test_a_state_naming_another_directory_removes_nothing_there(
    applied: Workspace, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """A state (an S3 object, say) whose output_dir names someone else's directory: meshprov
    removed whatever files there had its artifacts' names, refresh or not."""
    victims = _victims(tmp_path)
    _edit_state(applied, "zone.eu", output_dir=str(victims))
    result = applied.run(*args, "--no-color", code=1)
    assert "zone.eu: left " in result.stderr
    assert f"in {victims}: not what meshprov wrote there" in result.stderr
    for name in ("kuma-cp.env", "tls/tls.key", "tls/ca.crt"):
        assert (victims / name).read_text() == f"their {name}"


def test_a_state_naming_another_file_as_the_helm_overlay_removes_nothing(
    ws: Workspace, tmp_path: Path
) -> None:
    victim = _victim(tmp_path)
    ws.write(
        ZONE + 'firewall "kds" {\n  helm_values_file = "kds.yaml"\n  allow_zones = [zone.eu]\n}\n'
    )
    ws.run("apply", "--auto-approve")
    assert (ws.dir / "kds.yaml").exists()
    _edit_state(ws, "firewall.kds", helm_values_file=str(victim))
    result = ws.run("destroy", "--auto-approve", "--no-color", code=1)
    assert f"left {victim}: not the overlay meshprov wrote there" in result.stderr
    assert victim.read_text() == "precious"


def test_destroy_leaves_a_file_edited_since_and_says_so(applied: Workspace) -> None:
    """An edited file is no longer only meshprov's: destroy removes the rest and names it. A
    file whose mode alone changed is still the one meshprov wrote."""
    out = applied.dir / "out" / "zone.eu"
    (out / "kuma-cp.env").write_text("KUMA_MODE=zone\n# the operator's notes\n")
    os.chmod(out / "kuma-dp.env", 0o600)
    result = applied.run("destroy", "--auto-approve", "--no-color", code=1)
    assert "zone.eu: left kuma-cp.env in " in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["kuma-cp.env"]
    (out / "kuma-cp.env").unlink()
    applied.run("destroy", "--auto-approve")
    assert not out.exists()


def test_changing_output_dir_removes_only_the_old_files(applied: Workspace) -> None:
    old = applied.dir / "out" / "zone.eu"
    (old / "notes.txt").write_text("the user's")
    applied.write(ZONE.replace('egress_ips = ["198.51.100.10"]', 'output_dir = "elsewhere"'))
    applied.run("apply", "--auto-approve")
    assert (applied.dir / "elsewhere" / "tls" / "tls.key").exists()
    assert sorted(p.name for p in old.iterdir()) == ["notes.txt"]


def test_a_symlink_at_the_lock_file_is_refused(ws: Workspace, tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    ws.write(ZONE)
    ws.lock_path.parent.mkdir(parents=True)
    ws.lock_path.symlink_to(victim)
    result = ws.run("plan", code=1)
    assert "symlink" in result.stderr
    assert victim.read_text() == "precious"
    assert mode_of(victim) == 0o640


@pytest.mark.parametrize("target", ["dangling", "a file"])
def test_a_symlink_at_the_journal_is_refused(ws: Workspace, tmp_path: Path, target: str) -> None:
    """A dangling link made apply crash (O_EXCL refuses it, after the check said nothing was
    there); a link to a file made every run fold that file into the state."""
    victim = _victim(tmp_path)
    ws.write(ZONE)
    ws.journal_path.parent.mkdir(parents=True)
    ws.journal_path.symlink_to(tmp_path / "nowhere" if target == "dangling" else victim)
    for args in (("plan",), ("apply", "--auto-approve")):
        result = ws.run(*args, "--no-color", code=1)
        assert "crashed" not in result.output
        assert "Error: Failed to load state" in result.stderr
        assert f"State journal {ws.journal_path} is a symlink" in result.stderr
    assert victim.read_text() == "precious"
    assert not (ws.dir / "out").exists() and not ws.state_path.exists()


# --- item 9: temp files, modes, warnings -----------------------------------------------------


def test_orphaned_temp_files_are_removed_by_the_next_locked_run(applied: Workspace) -> None:
    out = applied.dir / "out" / "zone.eu"
    orphans = [
        out / "tls" / ".tls.key.k1ll3d_9.tmp",
        out / ".kuma-cp.env.abcdefgh.tmp",
        applied.state_path.with_name(".default.json.zzzzzzzz.tmp"),
    ]
    for orphan in orphans:
        orphan.write_text("-----BEGIN PRIVATE KEY-----")
    foreign = out / "tls" / ".mine.abcdefgh.tmp"
    foreign.write_text("not meshprov's")
    applied.write(ZONE.replace('"cp.eu.example.com"]', '"cp.eu.example.com", "eu.example.com"]'))
    applied.run("apply", "--auto-approve")
    assert [p for p in orphans if p.exists()] == []
    assert foreign.exists()
    orphans[0].write_text("-----BEGIN PRIVATE KEY-----")
    foreign.unlink()
    applied.run("destroy", "--auto-approve")
    assert not out.exists()


def test_directories_get_explicit_modes_under_umask_000(ws: Workspace) -> None:
    ws.write(ZONE)
    old = os.umask(0)
    try:
        ws.run("apply", "--auto-approve")
    finally:
        os.umask(old)
    for directory in ("out", "out/zone.eu", "out/zone.eu/tls"):
        assert mode_of(ws.dir / directory) == 0o755, directory
    assert mode_of(ws.state_path.parent) == 0o700


def test_a_loosened_state_file_is_reported_and_fixed(applied: Workspace) -> None:
    os.chmod(applied.state_path, 0o644)
    result = applied.run("plan", "--no-color", valid_state=False)
    assert "Warning: State file permissions" in result.stderr
    assert "0644" in result.stderr
    assert mode_of(applied.state_path) == 0o600


def test_a_waiting_errored_state_is_warned_about(applied: Workspace) -> None:
    (applied.dir / "errored.state.json").write_bytes(applied.state_path.read_bytes())
    result = applied.run("plan", "--no-color")
    assert "Warning: A state is waiting to be pushed" in result.stderr
    assert "meshprov state push" in result.stderr


def test_public_zone_egress_fails_validate_unless_the_firewall_allows_public(
    ws: Workspace,
) -> None:
    ws.write(ZONE.replace("198.51.100.10", "0.0.0.0/0") + FIREWALL)
    result = ws.run("validate", "--no-color", code=1)
    assert "Error: Public source not allowed" in result.stderr
    assert "0.0.0.0/0 (egress_ips of zone.eu)" in result.stderr
    assert "main.hcl line " in result.stderr
    ws.write(
        ZONE.replace("198.51.100.10", "0.0.0.0/0")
        + FIREWALL.replace("allow_zones", "allow_public       = true\n  allow_zones")
    )
    ws.run("validate")


def test_invalid_utf8_is_reported_at_its_line_and_column(ws: Workspace) -> None:
    ws.write(ZONE)
    path = ws.dir / "main.hcl"
    path.write_bytes(path.read_bytes().replace(b'"CP CA"', b'"CP \xff CA"'))
    result = ws.run("validate", "--json", code=1)
    (diag,) = json.loads(result.stdout)["diagnostics"]
    assert diag["summary"] == "Invalid file encoding"
    assert diag["range"]["start"]["line"] == 2
    assert diag["range"]["start"]["column"] == 21
    assert "line 2, column 21" in diag["detail"]


# --- item 8: tracebacks that become diagnostics ----------------------------------------------


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('region = "eu-west-1.5"', "is not an AWS region name"),
        ('region = "EU-WEST-1"', "is not an AWS region name"),
        ("region = 12", "region must be a string"),
        ('max_attempts = "many"', "max_attempts must be a whole number"),
        ('retry_mode = "sometimes"', "retry_mode must be one of"),
        ('endpoint_url = "localhost:4566"', "endpoint_url must be an http"),
    ],
)
def test_invalid_provider_arguments_are_validate_errors(
    ws: Workspace, setting: str, message: str
) -> None:
    ws.write(ZONE + FIREWALL.replace('region = "eu-west-1"', setting))
    for command in ("validate", "plan"):
        result = ws.run(command, "--no-color", code=1)
        assert "Error: Invalid provider argument" in result.stderr
        assert message in result.stderr
        assert "main.hcl line " in result.stderr


class _Garbage(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b"<<this is not XML\x00 Action=DescribeSecurityGroups"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def garbage_endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_non_xml_reply_from_aws_is_a_diagnostic(
    ws: Workspace, garbage_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    ws.write(
        ZONE
        + FIREWALL.replace(
            'region = "eu-west-1"',
            f'region       = "eu-west-1"\n  endpoint_url = "{garbage_endpoint}"\n'
            "  max_attempts = 1",
        )
    )
    result = ws.run("plan", "--no-color", code=1)
    assert "not an AWS API response" in result.stderr
    assert "firewall.kds" in result.stderr
    assert "this is not XML" not in result.stderr


@pytest.fixture
def world_traversable_dir() -> Iterator[Path]:
    """A directory another user can reach (pytest's tmp_path is 0700 under a 0700 parent)."""
    path = Path(tempfile.mkdtemp(prefix="meshprov-ro-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _unprivileged() -> list[str]:
    """A command prefix that runs as a user the directory's mode applies to (root writes
    anywhere)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only directory cannot be made")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_a_read_only_configuration_directory_gives_diagnostics(
    world_traversable_dir: Path,
) -> None:
    config = world_traversable_dir / "config"
    Workspace(config).write(ZONE)
    os.chmod(config, 0o555)
    for args in (("plan",), ("apply", "--auto-approve"), ("plan", "-out=saved.plan")):
        proc = subprocess.run(
            [*_unprivileged(), sys.executable, "-m", "meshprov", "-C", str(config), *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=config,  # the saved plan's relative path is in the read-only directory too
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode == 1, proc.stderr
        assert "Permission denied" in proc.stderr
    assert sorted(p.name for p in config.iterdir()) == ["main.hcl"]


def test_fmt_in_a_read_only_directory_is_a_diagnostic(world_traversable_dir: Path) -> None:
    config = world_traversable_dir / "config"
    config.mkdir()
    messy = 'ca "cp" {\ncommon_name="CP CA"\n}\n'
    (config / "main.hcl").write_text(messy)
    os.chmod(config, 0o555)
    proc = subprocess.run(
        [*_unprivileged(), sys.executable, "-m", "meshprov", "-C", str(config), "fmt"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr and "crashed" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stderr
    assert "Error: Failed to write file" in proc.stderr
    assert f"{config / 'main.hcl'}: Permission denied." in proc.stderr
    assert (config / "main.hcl").read_text() == messy


def _limited_file_size(limit: int):
    def apply_limit() -> None:
        # writes past the limit fail with EFBIG (like ENOSPC) instead of killing the process
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply_limit


def test_a_full_disk_during_the_journal_append_and_fold(ws: Workspace) -> None:
    ws.write(ZONE)

    def run(limit: int, *args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "meshprov", "-C", str(ws.dir), *args],
            capture_output=True,
            text=True,
            preexec_fn=_limited_file_size(limit),
            timeout=120,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    # the CA's journal line fits, the control plane's does not, nor does the state file
    applying = run(4000, "apply", "--auto-approve")
    assert applying.returncode == 1
    assert "control_plane.global: Failed to record the state" in applying.stdout
    assert "Error: Failed to save state" in applying.stderr
    journal = ws.journal_path.read_bytes()
    assert not ws.state_path.exists()
    # folding the journal into the state fails too: reported, both left as they were
    folding = run(1000, "plan")
    assert folding.returncode == 1
    assert "could not be folded" in folding.stderr
    assert ws.journal_path.read_bytes() == journal
    assert not ws.state_path.exists()
    # with room again, the next run folds it and carries on
    ws.run("apply", "--auto-approve")
    assert set(ws.resources()) == {"ca.cp", "control_plane.global", "zone.eu"}
    assert not ws.journal_path.exists()


_BAD_STATE = [
    ("zone.eu", "cert_not_after", "garbage", "cert_not_after is not an RFC 3339 time"),
    ("zone.eu", "cert_not_after", "2027-01-01T00:00:00", "no time zone"),
    ("zone.eu", "cert_pem", 12, "cert_pem is not PEM text"),
    ("zone.eu", "private_key_pem", _MISSING, "private_key_pem is missing"),
    ("zone.eu", "output_dir", 12, "output_dir is not a string"),
    ("zone.eu", "artifacts", ["tls/tls.key"], "artifacts is not a map"),
    ("zone.eu", "hostnames", "cp.eu.example.com", "hostnames is not a list(string)"),
    ("zone.eu", "api_https_port", "5682", "api_https_port is not a number"),
    ("ca.cp", "not_after", "yesterday", "not_after is not an RFC 3339 time"),
    ("ca.cp", "chain_pem", None, "chain_pem is not PEM text"),
    ("ca.cp", "common_name", _MISSING, "common_name is missing"),
    ("control_plane.global", "kds_port", True, "kds_port is not a number"),
]


@pytest.mark.parametrize(("address", "name", "value", "message"), _BAD_STATE)
def test_hand_edited_state_is_a_diagnostic_naming_the_resource(
    applied: Workspace, address: str, name: str, value: object, message: str
) -> None:
    data = _edit_state(applied, address, **{name: value})
    for args in (("plan",), ("apply", "--auto-approve"), ("destroy", "--auto-approve")):
        result = applied.run(*args, "--no-color", code=1, valid_state=False)
        assert "Error: Invalid resource in state" in result.stderr
        assert f"The state's {address}: " in result.stderr
        assert message in result.stderr
        assert applied.state_path.read_bytes() == data


def test_a_state_from_before_newer_settings_plans_no_change(applied: Workspace) -> None:
    """Settings added since a state was written read as their defaults (Terraform's state
    upgrade): an older state is neither invalid nor a reason to reissue anything."""
    _edit_state(applied, "zone.eu", trusted_cas=_MISSING, api_cert_pem=_MISSING)
    _edit_state(applied, "ca.cp", validity=_MISSING)
    result = applied.run("plan", "--detailed-exitcode", "--no-color", valid_state=False)
    assert "No changes." in result.stdout


def test_an_encrypted_state_nested_50000_deep_is_a_diagnostic(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHPROV_STATE_PASSPHRASE", "correct horse battery staple")
    ws.write(
        ZONE
        + """
meshprov {
  encryption {
    passphrase_env = "MESHPROV_STATE_PASSPHRASE"
  }
}
"""
    )
    ws.run("apply", "--auto-approve", valid_state=False)
    assert ENVELOPE_KEY.encode() in ws.state_path.read_bytes()
    deep = b'{"' + ENVELOPE_KEY.encode() + b'": 1, "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    for data in (deep, b"[" * 50_000 + b"]" * 50_000):
        ws.state_path.write_bytes(data)
        result = ws.run("plan", code=1, valid_state=False)
        assert "Error: Failed to load state" in result.stderr
        assert ws.state_path.read_bytes() == data
    assert stat.S_IMODE(ws.state_path.stat().st_mode) == 0o600


# --- bytes that are not UTF-8 where text is expected ------------------------------------------

NOT_UTF8 = os.fsdecode(b"\xff")  # how Python hands over such bytes: a lone surrogate

WITH_VARIABLE = """
variable "name" {
  type = string
}

ca "cp" {
  common_name = var.name
}
"""


def test_a_configuration_file_name_that_is_not_utf8_is_a_diagnostic(ws: Workspace) -> None:
    ws.write(ZONE)
    (ws.dir / f"extra{NOT_UTF8}.hcl").write_text('ca "other" {\n  common_name = "x"\n}\n')
    for args in (("validate",), ("plan",), ("apply", "--auto-approve")):
        result = ws.run(*args, code=1)
        assert "Error: Invalid file name" in result.stderr
        assert "a configuration file name must be UTF-8 encoded" in result.stderr
    assert not ws.state_path.exists()


@pytest.mark.parametrize("given_by", ["--var", "environment"])
def test_a_variable_value_that_is_not_utf8_is_a_diagnostic_before_anything_is_made(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, given_by: str
) -> None:
    ws.write(WITH_VARIABLE)
    args: tuple[str, ...] = ()
    if given_by == "--var":
        args = ("--var", f"name=CA {NOT_UTF8}")
    else:
        monkeypatch.setenv("MESHPROV_VAR_name", f"CA {NOT_UTF8}")
    for command in (("validate",), ("plan",), ("apply", "--auto-approve")):
        result = ws.run(*command, *args, code=1)
        assert "Error: Invalid value for variable" in result.stderr
        assert "The value for var.name from " in result.stderr
        assert "is not valid UTF-8." in result.stderr
    assert not ws.state_path.exists()


@pytest.mark.parametrize(
    ("hcl", "summary"),
    [
        ('module "m" {\n  source = "./a\\u0000b"\n}\n', "Invalid module source"),
        (
            'meshprov {\n  backend "local" {\n    path = "state\\u0000.json"\n  }\n}\n' + ZONE,
            "Invalid backend path",
        ),
        ('output "o" {\n  value = file("a\\u0000b")\n}\n', "Invalid function argument"),
    ],
    ids=["module source", "backend path", "file()"],
)
def test_a_nul_in_a_path_is_a_diagnostic_on_its_line(ws: Workspace, hcl: str, summary: str) -> None:
    """A NUL in a path made Python's file calls raise ValueError: a crash, not a diagnostic."""
    ws.write(hcl)
    # validate reads no backend (it needs no state), plan and apply do
    commands = ["plan", "apply"] if "backend" in hcl else ["validate", "plan"]
    for command in commands:
        args = (command, "--auto-approve") if command == "apply" else (command,)
        result = ws.run(*args, "--no-color", code=1)
        assert f"Error: {summary}" in result.stderr
        assert "NUL character" in result.stderr
        assert re.search(r"on \S*main\.hcl line \d+", result.stderr), result.stderr


# --- dates past the calendar ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "attribute"),
    [
        ("ca.cp", "validity"),
        ("zone.eu", "cert_validity"),
        ("zone.eu", "renew_before"),
    ],
)
def test_a_duration_past_the_year_9999_is_a_validate_error(
    ws: Workspace, address: str, attribute: str
) -> None:
    """It passed validate and plan, then crashed apply half-way (OverflowError)."""
    kind, name = address.split(".")
    block = f'{kind} "{name}" {{'
    ws.write(ZONE.replace(block, f'{block}\n  {attribute} = "999999999d"'))
    for args in (("validate",), ("plan",), ("apply", "--auto-approve")):
        result = ws.run(*args, "--no-color", code=1)
        assert f'Error: Invalid value for "{attribute}"' in result.stderr
        assert '"999999999d" is too long: a duration is at most "365000d"' in result.stderr
    assert not ws.state_path.exists()
    ws.write(ZONE.replace(block, f'{block}\n  {attribute} = "365000d"'))
    if attribute == "renew_before":  # not too long, but longer than the certificate lives
        result = ws.run("validate", "--no-color", code=1)
        assert "is too long" not in result.stderr
        assert "Error: renew_before not shorter than cert_validity" in result.stderr
    else:
        ws.run("validate")


@pytest.mark.parametrize(
    "moment", ["9999-12-31T23:59:59Z", "9000-01-01T00:00:00Z", "0001-01-01T00:05:00+01:00"]
)
def test_an_as_of_out_of_the_calendar_is_a_usage_error(applied: Workspace, moment: str) -> None:
    for args in (("plan",), ("verify",)):
        result = applied.run(*args, "--as-of", moment, code=1)
        assert f"Invalid value for '--as-of': '{moment}' is out of range" in result.stderr
    applied.run("plan", "--as-of", "8999-12-31T23:59:59Z")


@pytest.mark.parametrize(
    ("fifo", "command"),
    [
        ("extra.hcl", ("validate",)),
        ("site.auto.vars.hcl", ("validate",)),
        ("modules/m/extra.hcl", ("validate",)),
        ("extra.hcl", ("fmt", "-check")),
    ],
)
def test_a_named_pipe_among_the_configuration_files_is_refused_at_once(
    ws: Workspace, fifo: str, command: tuple[str, ...]
) -> None:
    """A FIFO no one writes to would block the read forever: it is refused before reading."""
    ws.write(ZONE + 'module "m" {\n  source = "./modules/m"\n}\n')
    (ws.dir / "modules/m").mkdir(parents=True)
    (ws.dir / "modules/m/main.hcl").write_text("locals {\n  a = 1\n}\n")
    os.mkfifo(ws.dir / fifo)
    proc = subprocess.run(
        [sys.executable, "-m", "meshprov", "-C", str(ws.dir), *command],
        capture_output=True,
        text=True,
        timeout=60,  # a regression hangs: fail instead
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert f"{Path(fifo).name}: a named pipe (FIFO), not a regular file" in proc.stderr
    assert "Traceback" not in proc.stderr
