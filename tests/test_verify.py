"""``meshprov verify``: apply a real configuration, verify it, then break one thing at a time.

The configuration is applied once per module (through the CLI, in a subprocess); every test
verifies a private copy of the result, so a test's tampering never leaks into another. It has an
intermediate CA, a Universal global dialled by DNS name, a Kubernetes global dialled by IP, a
zone with its own API certificate, a zone dialled by IP with plain HTTP on 0.0.0.0 (a warning),
a Kubernetes zone without MADS TLS (a warning) and a standalone zone signed by the root.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from meshprov import pki
from meshprov.cli import cli
from meshprov.handshake import loopback_handshake
from meshprov.resources.control_plane_verify import (
    CHANNEL_API,
    CHANNEL_DP,
    CHANNEL_KDS,
    CHANNEL_MADS,
)

CONFIG = """
ca "root" {
  common_name = "meshprov verify test root"
}

ca "cp" {
  common_name = "meshprov verify test control planes"
  parent      = ca.root
}

control_plane "global" {
  ca        = ca.cp
  hostnames = ["global.mesh.test"]
  addresses = ["127.0.0.1"]
}

control_plane "gip" {
  ca          = ca.cp
  environment = "kubernetes"
  addresses   = ["192.0.2.1"]
}

zone "eu" {
  ca                = ca.cp
  global            = control_plane.global
  hostnames         = ["cp.eu.mesh.test"]
  addresses         = ["10.0.0.1"]
  api_separate_cert = true
}

zone "us" {
  ca                 = ca.cp
  global             = control_plane.global
  addresses          = ["10.0.0.2"]
  api_http_interface = "0.0.0.0"
}

zone "kz" {
  ca          = ca.cp
  global      = control_plane.gip
  environment = "kubernetes"
  hostnames   = ["cp.kz.mesh.test"]
  mads_tls    = false
}

zone "solo" {
  ca        = ca.root
  hostnames = ["solo.mesh.test"]
}
"""

EU_KDS = (CHANNEL_KDS, "zone.eu → control_plane.global")
US_KDS = (CHANNEL_KDS, "zone.us → control_plane.global")
KZ_KDS = (CHANNEL_KDS, "zone.kz → control_plane.gip")
EXPECTED_ROWS = {
    (CHANNEL_DP, "zone.eu"),
    (CHANNEL_DP, "zone.kz"),
    (CHANNEL_DP, "zone.solo"),
    (CHANNEL_DP, "zone.us"),
    (CHANNEL_API, "control_plane.gip"),
    (CHANNEL_API, "control_plane.global"),
    (CHANNEL_API, "zone.eu"),
    (CHANNEL_API, "zone.kz"),
    (CHANNEL_API, "zone.solo"),
    (CHANNEL_API, "zone.us"),
    (CHANNEL_MADS, "zone.eu"),
    (CHANNEL_MADS, "zone.kz"),
    (CHANNEL_MADS, "zone.solo"),
    (CHANNEL_MADS, "zone.us"),
    EU_KDS,
    US_KDS,
    KZ_KDS,
}
WARNED = {(CHANNEL_API, "zone.us"), (CHANNEL_MADS, "zone.kz")}
PRIVATE_KEY = "PRIVATE KEY"


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("verify") / "config"
    directory.mkdir()
    (directory / "main.hcl").write_text(CONFIG)
    proc = subprocess.run(
        [sys.executable, "-m", "meshprov", "apply", "--auto-approve", "--no-color"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return directory


@pytest.fixture
def deployed(applied: Path, tmp_path: Path) -> Path:
    """A private copy of the applied configuration, its state and out/ (modes kept)."""
    copy = tmp_path / "config"
    shutil.copytree(applied, copy)
    return copy


class Verified:
    def __init__(self, exit_code: int, stdout: str, stderr: str):
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        self.doc = json.loads(stdout) if stdout.startswith("{") else None

    @property
    def rows(self) -> dict[tuple[str, str], dict]:
        assert self.doc is not None
        return {(r["channel"], r["control_plane"]): r for r in self.doc["rows"]}

    @property
    def failing(self) -> set[tuple[str, str]]:
        return {key for key, row in self.rows.items() if not row["ok"]}

    def checks(self, channel: str, control_plane: str, check: str) -> list[dict]:
        assert self.doc is not None
        return [
            c
            for c in self.doc["checks"]
            if (c["channel"], c["control_plane"], c["check"]) == (channel, control_plane, check)
        ]


def verify(directory: Path, *args: str, as_json: bool = True) -> Verified:
    result = CliRunner().invoke(
        cli, ["-C", str(directory), "verify", *(["--json"] if as_json else []), *args]
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    for text in (result.stdout, result.stderr):
        assert PRIVATE_KEY not in text
        assert "Traceback" not in text
    return Verified(result.exit_code, result.stdout, result.stderr)


def state_of(directory: Path) -> dict[str, dict]:
    doc = json.loads((directory / "state/default.json").read_text())
    return {r["address"]: r["attributes"] for r in doc["resources"]}


def another_ca() -> pki.Issued:
    return pki.issue_ca("someone else's CA", None, "ECDSA_P256", timedelta(days=30), _now())


def _now() -> datetime:
    return datetime.now(UTC)


def reissue(directory: Path, address: str, hostnames: list[str], addresses: list[str]) -> None:
    """Replace a universal CP's tls.crt/tls.key with a valid certificate for other names."""
    attrs = state_of(directory)
    cp = attrs[address]
    ca = attrs[cp["ca"]]
    issued = pki.issue_server(
        hostnames,
        addresses,
        "ECDSA_P256",
        timedelta(days=365),
        _now(),
        pki.Issuer(ca["cert_pem"], ca["private_key_pem"]),
    )
    tls = directory / cp["output_dir"] / "tls"
    (tls / "tls.crt").write_text(issued.cert_pem + cp["ca_bundle_pem"])
    (tls / "tls.key").write_text(issued.key_pem)


def edit_env(path: Path, name: str, value: str) -> None:
    lines = [
        f"{name}={value}" if line.startswith(f"{name}=") else line
        for line in path.read_text().splitlines()
    ]
    path.write_text("\n".join(lines) + "\n")


def out(directory: Path, address: str) -> Path:
    return directory / state_of(directory)[address]["output_dir"]


# --- a correct deployment ------------------------------------------------------------------


def test_verify_passes_after_apply(deployed: Path) -> None:
    result = verify(deployed)
    assert result.exit_code == 0, result.stdout
    assert result.doc["ok"] is True
    assert set(result.rows) == EXPECTED_ROWS
    assert {k for k, r in result.rows.items() if r["result"] == "WARN"} == WARNED
    assert all(r["result"] == "ok" for k, r in result.rows.items() if k not in WARNED)
    assert result.rows[(CHANNEL_API, "zone.us")]["warnings"] == ["http_interface"]
    assert result.rows[(CHANNEL_MADS, "zone.kz")]["warnings"] == ["mads_tls"]
    # every KDS pair really shook hands, including the Kubernetes global dialled by IP
    for pair in (EU_KDS, US_KDS, KZ_KDS):
        (handshake,) = result.checks(*pair, "handshake")
        assert handshake["ok"], handshake
    assert "192.0.2.1" in result.rows[KZ_KDS]["detail"]
    # the separate API certificate is the one checked for user→api
    assert "tls/api.crt" in result.rows[(CHANNEL_API, "zone.eu")]["detail"]
    checks = {c["check"] for c in result.doc["checks"]}
    assert {"chain", "sans", "expiry", "key_mode", "key_match", "refs", "handshake"} <= checks


def test_verify_table(deployed: Path) -> None:
    result = verify(deployed, "--no-color", as_json=False)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["CHANNEL", "CONTROL", "PLANE", "RESULT", "DETAIL"]
    table = lines[1 : 1 + len(EXPECTED_ROWS)]
    for channel, control_plane in EXPECTED_ROWS:
        assert any(line.startswith(channel) and f" {control_plane} " in line for line in table)
    assert "\x1b[" not in result.stdout
    assert "Warnings:" in result.stdout and "Failures:" not in result.stdout
    assert lines[-1].startswith("Success! All 17 rows passed")


def test_loopback_handshake_checks_ip_sans(applied: Path) -> None:
    """The global's certificate carries 127.0.0.1 as an IP SAN, and no other IP."""
    tls = out(applied, "control_plane.global") / "tls"
    kds_ca = (out(applied, "zone.eu") / "tls/kds-ca.crt").read_text()
    good = loopback_handshake(tls / "tls.crt", tls / "tls.key", kds_ca, "127.0.0.1")
    assert good.ok, good.detail
    bad = loopback_handshake(tls / "tls.crt", tls / "tls.key", kds_ca, "127.0.0.9")
    assert not bad.ok
    assert "IP address mismatch" in bad.detail


# --- one thing broken at a time ----------------------------------------------------------------


def test_missing_kds_ca(deployed: Path) -> None:
    (out(deployed, "zone.eu") / "tls/kds-ca.crt").unlink()
    result = verify(deployed)
    assert result.exit_code == 1
    assert result.doc["ok"] is False
    row = result.rows[EU_KDS]
    assert row["result"] == "FAIL" and "kds-ca.crt" in row["detail"]
    assert result.rows[US_KDS]["ok"] and result.rows[KZ_KDS]["ok"]
    # kuma-cp.env names the missing file: kuma-cp would not start, so every eu channel fails
    eu_rows = {(CHANNEL_DP, "zone.eu"), (CHANNEL_API, "zone.eu"), (CHANNEL_MADS, "zone.eu")}
    assert result.failing == {EU_KDS, *eu_rows}


def test_kds_ca_of_another_ca_fails_the_handshake(deployed: Path) -> None:
    (out(deployed, "zone.us") / "tls/kds-ca.crt").write_text(another_ca().cert_pem)
    result = verify(deployed)
    assert result.exit_code == 1
    assert result.failing == {US_KDS}
    # the bundle lacks the global's issuing CA, and a real client trusting it refuses the global
    assert result.rows[US_KDS]["failed_checks"] == ["bundle", "handshake"]
    (handshake,) = result.checks(*US_KDS, "handshake")
    assert "certificate verify failed" in handshake["detail"]
    bundle = [c for c in result.checks(*US_KDS, "bundle") if not c["ok"]]
    assert [c["detail"] for c in bundle] == [
        "out/zone.us/tls/kds-ca.crt does not hold ca.cp, the CA that issues "
        "control_plane.global's certificates: clients given it may not verify them, and the "
        "next CA rotation could not keep them trusting"
    ]


def test_kubernetes_kds_ca_of_another_ca_fails_the_handshake(deployed: Path) -> None:
    secrets_path = out(deployed, "zone.kz") / "secrets.yaml"
    docs = list(yaml.safe_load_all(secrets_path.read_text()))
    for doc in docs:
        if doc["metadata"]["name"] == "kds-ca-certs":
            doc["data"]["ca.crt"] = base64.b64encode(another_ca().cert_pem.encode()).decode()
    secrets_path.write_text(yaml.safe_dump_all(docs))
    result = verify(deployed)
    assert result.exit_code == 1
    assert result.failing == {KZ_KDS}
    assert result.rows[KZ_KDS]["failed_checks"] == ["bundle", "handshake"]


def test_private_key_readable_by_others(deployed: Path) -> None:
    os.chmod(out(deployed, "zone.us") / "tls/tls.key", 0o644)
    result = verify(deployed)
    assert result.exit_code == 1
    zone_rows = {(CHANNEL_DP, "zone.us"), (CHANNEL_API, "zone.us"), (CHANNEL_MADS, "zone.us")}
    assert result.failing == zone_rows
    for key in zone_rows:
        assert result.rows[key]["failed_checks"] == ["key_mode"]
        assert "0644" in result.rows[key]["detail"]


def test_kubernetes_secrets_readable_by_others(deployed: Path) -> None:
    os.chmod(out(deployed, "zone.kz") / "secrets.yaml", 0o644)
    result = verify(deployed)
    assert result.exit_code == 1
    assert (CHANNEL_DP, "zone.kz") in result.failing
    assert result.rows[(CHANNEL_DP, "zone.kz")]["failed_checks"] == ["key_mode"]


def test_key_swapped_for_another(deployed: Path) -> None:
    global_key = out(deployed, "control_plane.global") / "tls/tls.key"
    global_key.write_text((out(deployed, "zone.eu") / "tls/tls.key").read_text())
    result = verify(deployed)
    assert result.exit_code == 1
    assert result.failing == {(CHANNEL_API, "control_plane.global"), EU_KDS, US_KDS}
    assert result.rows[(CHANNEL_API, "control_plane.global")]["failed_checks"] == ["key_match"]
    assert result.rows[EU_KDS]["failed_checks"] == ["handshake", "key_match"]
    assert PRIVATE_KEY not in json.dumps(result.doc)


def test_certificate_for_other_names(deployed: Path) -> None:
    reissue(deployed, "zone.eu", ["other.mesh.test"], [])
    result = verify(deployed)
    assert result.exit_code == 1
    dp = result.rows[(CHANNEL_DP, "zone.eu")]
    assert dp["failed_checks"] == ["chain", "sans"]
    (sans,) = result.checks(CHANNEL_DP, "zone.eu", "sans")
    assert "cp.eu.mesh.test (DNS)" in sans["detail"] and "10.0.0.1 (IP)" in sans["detail"]
    # the API has its own certificate, which is still right
    assert result.rows[(CHANNEL_API, "zone.eu")]["ok"]


def test_global_certificate_without_its_dial_host(deployed: Path) -> None:
    reissue(deployed, "control_plane.global", ["elsewhere.mesh.test"], ["127.0.0.1"])
    result = verify(deployed)
    assert result.exit_code == 1
    assert {EU_KDS, US_KDS} <= result.failing
    (handshake,) = result.checks(*EU_KDS, "handshake")
    assert not handshake["ok"] and "global.mesh.test" in handshake["detail"]
    assert "mismatch" in handshake["detail"].lower()


def test_certificate_signed_by_another_ca(deployed: Path) -> None:
    """A consistent set (cert, key, ca.crt) that does not chain to the configured ca.root."""
    other = another_ca()
    issued = pki.issue_server(
        ["solo.mesh.test"],
        [],
        "ECDSA_P256",
        timedelta(days=20),
        _now(),
        pki.Issuer(other.cert_pem, other.key_pem),
    )
    tls = out(deployed, "zone.solo") / "tls"
    (tls / "tls.crt").write_text(issued.cert_pem + other.cert_pem)
    (tls / "tls.key").write_text(issued.key_pem)
    (tls / "ca.crt").write_text(other.cert_pem)
    result = verify(deployed)
    assert result.exit_code == 1
    (chain,) = result.checks(CHANNEL_DP, "zone.solo", "chain")
    assert not chain["ok"] and "ca.root" in chain["detail"]


def test_as_of_within_renew_before(deployed: Path) -> None:
    not_after = datetime.fromisoformat(
        state_of(deployed)["zone.eu"]["cert_not_after"].replace("Z", "+00:00")
    )
    soon = (not_after - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = verify(deployed, "--as-of", soon)
    assert result.exit_code == 1
    assert result.failing == EXPECTED_ROWS - {(CHANNEL_MADS, "zone.kz")}  # MADS off: no cert
    (expiry,) = result.checks(CHANNEL_DP, "zone.eu", "expiry")
    assert "renew_before (720h)" in expiry["detail"]
    later = (_now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert verify(deployed, "--as-of", later).exit_code == 0


def test_env_file_points_at_missing_file(deployed: Path) -> None:
    edit_env(
        out(deployed, "zone.us") / "kuma-cp.env",
        "KUMA_GENERAL_TLS_CERT_FILE",
        "/var/lib/kong-mesh/tls/missing.crt",
    )
    result = verify(deployed)
    assert result.exit_code == 1
    dp = result.rows[(CHANNEL_DP, "zone.us")]
    assert dp["failed_checks"] == ["refs"]
    assert "missing.crt" in dp["detail"]
    assert (CHANNEL_API, "zone.us") in result.failing
    assert result.rows[(CHANNEL_DP, "zone.eu")]["ok"]


def test_env_file_opening_plain_http_is_a_failure(deployed: Path) -> None:
    """0.0.0.0 chosen in the configuration warns; an env file edited to it fails."""
    edit_env(out(deployed, "zone.eu") / "kuma-cp.env", "KUMA_API_SERVER_HTTP_INTERFACE", "0.0.0.0")
    result = verify(deployed)
    assert result.exit_code == 1
    assert result.failing == {(CHANNEL_API, "zone.eu")}
    assert result.rows[(CHANNEL_API, "zone.eu")]["failed_checks"] == ["http_interface"]
    assert result.rows[(CHANNEL_API, "zone.us")]["result"] == "WARN"


def test_dp_env_with_another_url(deployed: Path) -> None:
    edit_env(
        out(deployed, "zone.eu") / "kuma-dp.env",
        "KUMA_CONTROL_PLANE_URL",
        "https://cp.elsewhere.test:5678",
    )
    result = verify(deployed)
    assert result.failing == {(CHANNEL_DP, "zone.eu")}
    assert "url" in result.rows[(CHANNEL_DP, "zone.eu")]["failed_checks"]


def test_kubernetes_certificate_without_the_service_names(deployed: Path) -> None:
    """A general certificate as meshprov issued it before the Service names (signed by the
    same CA, valid for the hostname): sidecars dialling kong-mesh-control-plane.kong-mesh-system
    and the webhooks' caller would refuse it, and verify says so."""
    attrs = state_of(deployed)
    ca = attrs["ca.cp"]
    old = pki.issue_server(
        ["cp.kz.mesh.test"],
        [],
        "ECDSA_P256",
        timedelta(days=365),
        _now(),
        pki.Issuer(ca["cert_pem"], ca["private_key_pem"]),
    )
    secrets_path = out(deployed, "zone.kz") / "secrets.yaml"
    docs = list(yaml.safe_load_all(secrets_path.read_text()))
    for doc in docs:
        if doc["metadata"]["name"] == "general-tls-certs":
            chain = old.cert_pem + ca["chain_pem"]
            doc["data"]["tls.crt"] = base64.b64encode(chain.encode()).decode()
            doc["data"]["tls.key"] = base64.b64encode(old.key_pem.encode()).decode()
    secrets_path.write_text(yaml.safe_dump_all(docs))
    result = verify(deployed)
    assert result.exit_code == 1
    # data planes and kumactl meet the general certificate (zone.kz has MADS TLS off)
    assert result.failing == {(CHANNEL_DP, "zone.kz"), (CHANNEL_API, "zone.kz")}
    dp = result.rows[(CHANNEL_DP, "zone.kz")]
    assert dp["failed_checks"] == ["chain", "sans"]
    (sans,) = result.checks(CHANNEL_DP, "zone.kz", "sans")
    service = "kong-mesh-control-plane.kong-mesh-system"
    assert sans["detail"] == (
        "out/zone.kz/secrets.yaml general-tls-certs/tls.crt lacks SANs for "
        f"kong-mesh-control-plane (DNS), {service} (DNS), {service}.svc (DNS), "
        f"{service}.svc.cluster.local (DNS): sidecars dial {service} and the API server calls "
        f"the webhooks at {service}.svc, so no proxy would connect and nothing would be injected"
    )
    # the chain is checked for the name sidecars dial, not the hostname kumactl uses
    (chain,) = result.checks(CHANNEL_DP, "zone.kz", "chain")
    assert f"for {service}: " in chain["detail"]
    assert "no matching subjectAltName" in chain["detail"]
    assert result.rows[(CHANNEL_API, "zone.kz")]["failed_checks"] == ["sans"]


def test_bundle_without_the_issuing_ca(deployed: Path) -> None:
    """zone.eu's ca.crt holding only the root: tls.crt carries the intermediate, so the chain
    still validates, but the bundle no longer holds the CA that issues the certificate."""
    root = state_of(deployed)["ca.root"]["cert_pem"]
    (out(deployed, "zone.eu") / "tls/ca.crt").write_text(root)
    result = verify(deployed)
    assert result.exit_code == 1
    rows = {(CHANNEL_DP, "zone.eu"), (CHANNEL_API, "zone.eu"), (CHANNEL_MADS, "zone.eu")}
    assert result.failing == rows
    for key in rows:
        assert result.rows[key]["failed_checks"] == ["bundle"], key
        (chain,) = result.checks(*key, "chain")
        assert chain["ok"]
    (bundle,) = result.checks(CHANNEL_DP, "zone.eu", "bundle")
    assert bundle["detail"].startswith("out/zone.eu/tls/ca.crt does not hold ca.cp, the CA")


def test_kubernetes_ca_bundle_mismatch(deployed: Path) -> None:
    values_path = out(deployed, "zone.kz") / "values.yaml"
    values = yaml.safe_load(values_path.read_text())
    bundle = base64.b64encode(another_ca().cert_pem.encode()).decode()
    values["kuma"]["controlPlane"]["tls"]["general"]["caBundle"] = bundle
    values_path.write_text(yaml.safe_dump(values))
    result = verify(deployed)
    assert result.exit_code == 1
    assert result.failing == {(CHANNEL_DP, "zone.kz")}
    assert result.rows[(CHANNEL_DP, "zone.kz")]["failed_checks"] == ["ca_bundle"]


def test_failures_in_the_table(deployed: Path) -> None:
    os.chmod(out(deployed, "zone.us") / "tls/tls.key", 0o640)
    result = verify(deployed, "--no-color", as_json=False)
    assert result.exit_code == 1
    fail_rows = [line for line in result.stdout.splitlines() if "  FAIL  " in line]
    assert len(fail_rows) == 3 and all("zone.us" in line for line in fail_rows)
    failures = result.stdout.split("Failures:", 1)[1]
    # one entry for the key, naming the three channels it serves
    assert failures.count("key_mode:") == 1
    assert "dp→cp (5678) zone.us; user→api (5682) zone.us" in failures
    assert result.stdout.splitlines()[-1].startswith("Error: verify failed: 3 of 17 rows failed")


def forget(directory: Path, *addresses: str) -> None:
    result = CliRunner().invoke(cli, ["-C", str(directory), "state", "rm", *addresses])
    assert result.exit_code == 0, result.output


def test_global_without_zones_gets_a_server_row(deployed: Path) -> None:
    forget(deployed, "zone.eu", "zone.us")
    result = verify(deployed)
    assert result.exit_code == 0
    row = result.rows[(CHANNEL_KDS, "control_plane.global")]
    assert row["ok"] and "no zone connects" in row["detail"]
    assert EU_KDS not in result.rows


def test_zone_whose_global_is_not_in_the_state(deployed: Path) -> None:
    forget(deployed, "control_plane.global")
    result = verify(deployed)
    assert result.exit_code == 1
    assert result.failing == {EU_KDS, US_KDS}
    assert "not in the state" in result.rows[EU_KDS]["detail"]


def test_nothing_to_verify(tmp_path: Path) -> None:
    (tmp_path / "main.hcl").write_text('ca "x" {\n  common_name = "x"\n}\n')
    result = verify(tmp_path)
    assert result.exit_code == 1
    assert "Nothing to verify" in result.stderr


# --- the same trust, checked by openssl ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, server: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"openssl s_server exited: {server.communicate()[0]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail("openssl s_server did not start listening")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
@pytest.mark.parametrize(
    ("flag", "name", "accepted"),
    [
        ("-verify_hostname", "global.mesh.test", True),
        ("-verify_ip", "127.0.0.1", True),
        ("-verify_hostname", "not-in-the-sans.mesh.test", False),
        ("-verify_ip", "127.0.0.9", False),
    ],
)
def test_openssl_agrees(applied: Path, flag: str, name: str, accepted: bool) -> None:
    """openssl s_client, trusting only the zone's kds-ca.crt, against the global's KDS files."""
    tls = out(applied, "control_plane.global") / "tls"
    kds_ca = out(applied, "zone.eu") / "tls/kds-ca.crt"
    port = _free_port()
    cert, key = str(tls / "tls.crt"), str(tls / "tls.key")
    serve = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-www", "-naccept", "2"]
    serve += ["-cert", cert, "-key", key, "-cert_chain", cert]  # intermediates are sent too
    connect = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(kds_ca)]
    connect += ["-verify_return_error", flag, name, "-servername", "global.mesh.test"]
    server = subprocess.Popen(
        serve,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_listening(port, server, time.monotonic() + 10)  # uses one of the two accepts
        client = subprocess.run(
            connect,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=20,
        )
    finally:
        server.kill()
        server.wait(timeout=10)
    output = client.stdout + client.stderr
    if accepted:
        assert client.returncode == 0, output
        assert "Verification: OK" in output
    else:
        assert client.returncode != 0, output
        assert "mismatch" in output
