"""The debug log, the crash handler and the missing-region error, through the real CLI
(issue 13, item 4): what the log holds, that it never holds a secret, that an internal error is
one line on stderr and a private crash log, and that no region is a diagnostic, not a traceback.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from tests.support.engine import Workspace
from tests.support.motoaws import REGION

MESH = """
ca "root" {
  common_name = "Example Root"
}

control_plane "global" {
  ca        = ca.root
  hostnames = ["global.example.com"]

  store {
    type     = "postgres"
    host     = "db.example.com"
    user     = "kuma"
    password = "log-Pass-38c1"
    db_name  = "kuma"
    tls_ca   = ca.root
  }
}

zone "eu" {
  ca        = ca.root
  global    = control_plane.global
  addresses = ["10.0.0.5"]
}
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "config")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _secrets(ws: Workspace) -> list[str]:
    """Every private key's base64 lines that apply wrote, and the global's database password,
    to look for in the logs."""
    lines = []
    for key in ws.dir.glob("out/**/*.key"):
        lines += [line for line in key.read_text().splitlines() if "-----" not in line]
    assert lines
    return [*lines, "log-Pass-38c1"]  # the store's password


def test_debug_log_on_stderr_names_the_walk_and_state_and_no_secret(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.write(MESH)
    monkeypatch.setenv("MESHPROV_LOG", "debug")
    result = ws.sub("apply", "-auto-approve")
    log = [line for line in result.stderr.splitlines() if re.match(r"^\d{4}-\d\d-\d\dT", line)]
    text = "\n".join(log)
    assert "[DEBUG] meshprov.engine.walk: walk: zone.eu" in text
    assert "walk: 3 nodes, 3 resource instances, 0 failed nodes" in text
    assert re.search(r"\[INFO\] meshprov.state.core: state: read .*default.json", text)
    assert re.search(r"state: wrote .*default.json \(\d+ bytes\)", text)
    assert "[INFO] meshprov.apply: apply: ca.root:" in text
    assert "Apply complete!" in result.stdout  # stdout keeps the usual text, logs go to stderr
    for line in _secrets(ws):
        assert line not in result.output
    ws.sub("plan")  # and a plan over that state logs no secret either
    assert "PRIVATE KEY" not in ws.sub("plan").output


def test_log_path_writes_a_private_file_and_nothing_to_stderr(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ws.write(MESH)
    path = tmp_path / "meshprov.log"
    monkeypatch.setenv("MESHPROV_LOG", "info")
    monkeypatch.setenv("MESHPROV_LOG_PATH", str(path))
    result = ws.sub("apply", "-auto-approve")
    assert result.stderr == ""
    assert _mode(path) == 0o600
    text = path.read_text()
    assert "[INFO] meshprov.state.core: state: wrote" in text
    assert "[DEBUG]" not in text  # info leaves out the walk's node by node lines
    for line in _secrets(ws):
        assert line not in text
    assert "PRIVATE KEY" not in text


@pytest.mark.parametrize("where", ["a directory", "in a missing directory"])
def test_a_log_path_that_cannot_be_opened_is_said_and_logs_go_to_stderr(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str
) -> None:
    ws.write(MESH)
    path = tmp_path if where == "a directory" else tmp_path / "missing" / "meshprov.log"
    monkeypatch.setenv("MESHPROV_LOG", "info")
    monkeypatch.setenv("MESHPROV_LOG_PATH", str(path))
    result = ws.sub("validate")
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"Error opening the log file {path} (MESHPROV_LOG_PATH): ")
    assert first.endswith("; logging to stderr instead.")
    assert "[INFO] meshprov" in result.stderr
    assert "Success! The configuration is valid." in result.stdout


def test_no_log_without_meshprov_log(ws: Workspace) -> None:
    ws.write(MESH)
    assert ws.sub("plan").stderr == ""


def test_every_aws_call_is_logged_with_its_duration(
    ws: Workspace, moto_aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = moto_aws.security_group()
    ws.write(
        MESH
        + f"""
        provider "aws" {{
          region       = "{REGION}"
          endpoint_url = "{moto_aws.endpoint}"
        }}

        firewall "kds" {{
          security_group_ids = ["{group}"]
          allow_zones        = [zone.eu]
        }}
        """
    )
    monkeypatch.setenv("MESHPROV_LOG", "info")
    result = ws.sub("apply", "-auto-approve")
    calls = re.findall(
        r"meshprov.aws: ec2 (\w+): HTTP 200 in \d+\.\d{3} s, \d+ retries", result.stderr
    )
    assert "DescribeSecurityGroups" in calls and "DescribeSecurityGroupRules" in calls
    assert "AuthorizeSecurityGroupIngress" in calls
    assert "testing" not in result.stderr  # credentials (moto's) are never logged


CRASHER = """
variable "token" {
  type      = string
  sensitive = true
}

test_thing "t" {
  value = var.token
  crash = var.crash
}

variable "crash" {
  type    = bool
  default = false
}
"""


def test_an_internal_error_is_one_line_and_a_private_crash_log(ws: Workspace) -> None:
    ws.write(CRASHER)
    ws.sub("apply", "-auto-approve", "--var", "token=hunter2-secret")
    secret = ws.resources()["test_thing.t"]["attributes"]["secret"]
    assert "PRIVATE KEY" in secret
    result = ws.sub("plan", "--var", "token=hunter2-secret", "-var=crash=true", code=1)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("meshprov crashed: an internal error (RuntimeError), a bug")
    path = Path(re.search(r"The traceback is in (\S+):", lines[0])[1])
    try:
        assert _mode(path) == 0o600
        log = path.read_text()
        assert "Traceback (most recent call last):" in log
        assert (
            "RuntimeError: a bug planning test_thing.t over (sensitive value) with "
            "(sensitive value)" in log
        )
        assert secret[len("-----BEGIN PRIVATE KEY-----") :] not in log
        assert "hunter2" not in log
        assert "command: meshprov -C" in log and "--var token=..." in log
    finally:
        path.unlink()
    assert ws.resources()["test_thing.t"]["attributes"]["secret"] == secret  # state intact


def test_no_region_is_a_diagnostic_for_plan_and_verify(
    ws: Workspace, moto_aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = moto_aws.security_group()
    ws.write(
        MESH
        + f"""
        provider "aws" {{
          endpoint_url = "{moto_aws.endpoint}"
        }}

        firewall "kds" {{
          security_group_ids = ["{group}"]
          allow_zones        = [zone.eu]
        }}
        """
    )
    ws.sub("apply", "-auto-approve")  # the region from AWS_DEFAULT_REGION
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    plan = ws.sub("plan", code=1)
    assert "Error: Failed to refresh" in plan.stderr
    assert 'no AWS region is configured; set region in the provider "aws" block' in plan.stderr
    verify = ws.sub("verify", code=1)
    assert "no AWS region is configured" in verify.output
