"""Kong Mesh as it runs on Kubernetes (SPEC §1.4, §1.6, §3; issue #11 item 1).

One configuration mixes both environments: a Kubernetes global with its own API certificate and
a non-default KDS port, a Kubernetes zone with no hostnames or addresses (the Service names
suffice), one with its own namespace and Service, and two Universal zones. It is applied once
by a real ``meshprov`` process; tests read what apply wrote: certificates with ``openssl``,
Secrets and Helm values with a YAML parser, env files line by line. Bad inputs run on a copy of
the applied directory and must leave its state and files as they were.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from meshprov import pki

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")

SERVICE = "kong-mesh-control-plane"
IN_CLUSTER = f"{SERVICE}.kong-mesh-system"  # what sidecars dial

CONFIG = """\
ca "cp" {
  common_name = "meshprov kubernetes test CA"
}

control_plane "global" {
  ca                = ca.cp
  environment       = "kubernetes"
  hostnames         = ["kds.mesh.test"]
  kds_port          = 6685
  api_separate_cert = true
}

zone "east" {
  ca          = ca.cp
  environment = "kubernetes"
  global      = control_plane.global
  egress_ips  = ["198.51.100.7"]
}

zone "west" {
  ca           = ca.cp
  environment  = "kubernetes"
  namespace    = "mesh-west"
  service_name = "kuma-control-plane"
  hostnames    = ["cp.west.mesh.test"]
}

zone "vm" {
  ca            = ca.cp
  global        = control_plane.global
  addresses     = ["10.0.0.5"]
  dp_token_path = "/etc/kuma-dp/token"
}

zone "vm_open" {
  ca        = ca.cp
  addresses = ["10.0.0.6"]
  dp_authn  = "none"
}
"""


def meshprov(directory: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "meshprov", "-C", str(directory), *args, "--no-color"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "PRIVATE KEY" not in proc.stdout + proc.stderr
    return proc


def ok(directory: Path, *args: str) -> subprocess.CompletedProcess:
    proc = meshprov(directory, *args)
    assert proc.returncode == 0, f"meshprov {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("kubernetes") / "config"
    directory.mkdir()
    (directory / "main.hcl").write_text(CONFIG)
    ok(directory, "apply", "--auto-approve")
    return directory


@pytest.fixture
def copy(applied: Path, tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(applied, target)
    return target


def out(directory: Path, address: str) -> Path:
    return directory / "out" / address


def state(directory: Path) -> dict[str, dict]:
    doc = json.loads((directory / "state/default.json").read_text())
    return {r["address"]: r["attributes"] for r in doc["resources"]}


def secret(directory: Path, address: str, name: str, key: str) -> str:
    for doc in yaml.safe_load_all((out(directory, address) / "secrets.yaml").read_text()):
        if doc["metadata"]["name"] == name:
            return base64.b64decode(doc["data"][key]).decode()
    raise AssertionError(f"no Secret {name} in {address}")


def values(directory: Path, address: str) -> dict:
    doc = yaml.safe_load((out(directory, address) / "values.yaml").read_text())
    return doc["kuma"]["controlPlane"]


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def sans(cert: Path) -> set[str]:
    """The SANs ``openssl x509 -text -noout`` prints: ``{"DNS:a", "IP Address:10.0.0.1"}``."""
    text = subprocess.run(
        [OPENSSL or "openssl", "x509", "-in", str(cert), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = text.splitlines()
    (at,) = [n for n, line in enumerate(lines) if "X509v3 Subject Alternative Name" in line]
    return {name.strip() for name in lines[at + 1].split(",")}


def openssl_verify(ca: Path, cert: Path, hostname: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            OPENSSL or "openssl",
            "verify",
            "-CAfile",
            str(ca),
            "-verify_hostname",
            hostname,
            str(cert),
        ],
        capture_output=True,
        text=True,
    )


def general_cert(directory: Path, address: str, tmp_path: Path, name: str = "general") -> Path:
    """The general certificate of a kubernetes control plane, out of its Secret, as a file."""
    path = tmp_path / f"{address}.{name}.crt"
    secret_name = {"general": "general-tls-certs", "api": "api-server-tls"}[name]
    path.write_text(secret(directory, address, secret_name, "tls.crt"))
    return path


def service_sans(service: str, namespace: str) -> set[str]:
    base = f"{service}.{namespace}"
    return {f"DNS:{n}" for n in (service, base, f"{base}.svc", f"{base}.svc.cluster.local")}


# --- certificates ----------------------------------------------------------------------------


def test_kubernetes_certificates_carry_the_service_names(applied: Path, tmp_path: Path) -> None:
    east = general_cert(applied, "zone.east", tmp_path)
    assert sans(east) == service_sans(SERVICE, "kong-mesh-system") | {"DNS:localhost"}
    west = general_cert(applied, "zone.west", tmp_path)
    assert sans(west) == service_sans("kuma-control-plane", "mesh-west") | {
        "DNS:cp.west.mesh.test",
        "DNS:localhost",
    }
    # the global's general and API certificates both
    for name in ("general", "api"):
        cert = general_cert(applied, "control_plane.global", tmp_path, name)
        assert sans(cert) == service_sans(SERVICE, "kong-mesh-system") | {
            "DNS:kds.mesh.test",
            "DNS:localhost",
        }
    # universal: hostnames and addresses only
    assert sans(out(applied, "zone.vm") / "tls/tls.crt") == {"IP Address:10.0.0.5", "DNS:localhost"}


def test_openssl_verifies_the_names_sidecars_and_webhooks_use(
    applied: Path, tmp_path: Path
) -> None:
    for address, host in (
        ("zone.east", IN_CLUSTER),
        ("zone.east", f"{IN_CLUSTER}.svc"),
        ("zone.west", "kuma-control-plane.mesh-west"),
        ("zone.west", "kuma-control-plane.mesh-west.svc.cluster.local"),
        ("control_plane.global", f"{IN_CLUSTER}.svc"),
    ):
        cert = general_cert(applied, address, tmp_path)
        ca = out(applied, address) / "tls/ca.crt"
        proc = openssl_verify(ca, cert, host)
        assert proc.returncode == 0 and ": OK" in proc.stdout, (address, host, proc.stderr)
    # what the issue found on every certificate before: a Universal one does not cover it
    universal = out(applied, "zone.vm")
    proc = openssl_verify(universal / "tls/ca.crt", universal / "tls/tls.crt", IN_CLUSTER)
    assert proc.returncode != 0 and "hostname mismatch" in proc.stdout + proc.stderr


def test_dial_host_without_names_is_the_service(applied: Path) -> None:
    east = state(applied)["zone.east"]
    assert east["dial_host"] == IN_CLUSTER
    assert east["cp_url"] == f"https://{IN_CLUSTER}:5678"
    assert east["service_name"] == SERVICE and east["namespace"] == "kong-mesh-system"
    script = (out(applied, "zone.east") / "kumactl.sh").read_text()
    assert f"--address=https://{IN_CLUSTER}:5682" in script
    assert state(applied)["control_plane.global"]["kds_address"] == "grpcs://kds.mesh.test:6685"


# --- settings --------------------------------------------------------------------------------


def test_helm_values(applied: Path) -> None:
    cp = values(applied, "control_plane.global")
    # the KDS Service's port follows kds_port, with kuma-cp's own listener
    assert cp["globalZoneSyncService"] == {"port": 6685}
    assert cp["envVars"]["KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT"] == "6685"
    for address in ("zone.east", "zone.west"):
        zone = values(applied, address)
        assert "globalZoneSyncService" not in zone
        assert zone["envVars"]["KUMA_DP_SERVER_PORT"] == "5678"
        assert zone["envVars"]["KUMA_API_SERVER_HTTPS_PORT"] == "5682"
        # authn defaults to service-account tokens on kubernetes
        assert zone["envVars"]["KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE"] == "serviceAccountToken"
        assert zone["envVars"]["KUMA_DP_SERVER_AUTHN_ZONE_PROXY_TYPE"] == "serviceAccountToken"
    assert values(applied, "zone.east")["kdsGlobalAddress"] == "grpcs://kds.mesh.test:6685"


def test_universal_authn_defaults_and_token_path(applied: Path) -> None:
    env = read_env(out(applied, "zone.vm") / "kuma-cp.env")
    assert env["KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE"] == "dpToken"
    assert env["KUMA_DP_SERVER_AUTHN_ZONE_PROXY_TYPE"] == "zoneToken"
    dp = read_env(out(applied, "zone.vm") / "kuma-dp.env")
    assert dp["KUMA_DATAPLANE_RUNTIME_TOKEN_PATH"] == "/etc/kuma-dp/token"
    # no token to read when the zone does not ask for one
    open_dp = read_env(out(applied, "zone.vm_open") / "kuma-dp.env")
    assert "KUMA_DATAPLANE_RUNTIME_TOKEN_PATH" not in open_dp
    attrs = state(applied)
    assert (attrs["zone.vm"]["dp_authn"], attrs["zone.vm"]["zone_proxy_authn"]) == (
        "dpToken",
        "zoneToken",
    )
    assert (
        attrs["zone.east"]["dp_authn"]
        == attrs["zone.east"]["zone_proxy_authn"]
        == ("serviceAccountToken")
    )


def test_plan_after_apply_changes_nothing(applied: Path) -> None:
    proc = meshprov(applied, "plan", "--detailed-exitcode")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No changes." in proc.stdout


def test_state_from_before_service_name_reads_back_unchanged(copy: Path) -> None:
    """An earlier meshprov wrote no service_name: its default fills in, and nothing flips."""
    path = copy / "state/default.json"
    doc = json.loads(path.read_text())
    for resource in doc["resources"]:
        # every control plane but zone.west, which sets its own
        if resource["type"] in ("control_plane", "zone") and resource["address"] != "zone.west":
            del resource["attributes"]["service_name"]
    path.write_text(json.dumps(doc))
    proc = meshprov(copy, "plan", "--detailed-exitcode")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No changes." in proc.stdout


def test_certificate_without_the_service_names_is_reissued(copy: Path, tmp_path: Path) -> None:
    """A kubernetes certificate an earlier meshprov issued, without the Service names: the plan
    reissues it and says why; apply writes one that has them."""
    path = copy / "state/default.json"
    doc = json.loads(path.read_text())
    by_address = {r["address"]: r["attributes"] for r in doc["resources"]}
    ca = by_address["ca.cp"]
    old = pki.issue_server(
        [],
        [],
        "ECDSA_P256",
        timedelta(days=365),
        datetime.now(UTC),
        pki.Issuer(ca["cert_pem"], ca["private_key_pem"]),
    )
    east = by_address["zone.east"]
    east.update(
        cert_pem=old.cert_pem,
        private_key_pem=old.key_pem,
        cert_fingerprint=pki.fingerprint(old.cert_pem),
        cert_not_after=pki.rfc3339(pki.not_after(old.cert_pem)),
    )
    path.write_text(json.dumps(doc))
    plan = ok(copy, "plan")
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in plan.stdout
    assert "1 certificate reissued (Kubernetes Service names missing): zone.east" in plan.stdout
    assert "dp_authn" not in plan.stdout  # the authn settings stay as they are
    ok(copy, "apply", "--auto-approve")
    assert IN_CLUSTER.join(["DNS:", ""]) in sans(general_cert(copy, "zone.east", tmp_path))
    assert "No changes." in ok(copy, "plan").stdout


# --- bad inputs ------------------------------------------------------------------------------

EAST_LAST = '  egress_ips  = ["198.51.100.7"]\n'
GLOBAL_LAST = "  api_separate_cert = true\n"

BAD_INPUTS = {
    "dpToken on kubernetes": (EAST_LAST, '  dp_authn = "dpToken"\n', "Token authentication on"),
    "zoneToken on kubernetes": (
        EAST_LAST,
        '  zone_proxy_authn = "zoneToken"\n',
        "Token authentication on Kubernetes",
    ),
    "dp_port on kubernetes": (EAST_LAST, "  dp_port = 6678\n", "Port fixed on Kubernetes"),
    "api_https_port on kubernetes": (
        GLOBAL_LAST,
        "  api_https_port = 6682\n",
        "Port fixed on Kubernetes",
    ),
    "universal zone without names": (
        '  addresses = ["10.0.0.6"]\n',
        "",
        "Missing certificate names",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_a_diagnostic_and_leaves_state_alone(copy: Path, case: str) -> None:
    after, added, summary = BAD_INPUTS[case]
    hcl = CONFIG.replace(after, after + added) if added else CONFIG.replace(after, "")
    (copy / "main.hcl").write_text(hcl)
    lines = hcl.splitlines()
    # without names, the diagnostic points at the block: there is no attribute to point at
    marked = added.rstrip("\n") if added else 'zone "vm_open" {'
    want = lines.index(marked) + 1
    files = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    for command in (["plan"], ["apply", "--auto-approve"]):
        proc = meshprov(copy, *command)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert f"Error: {summary}" in proc.stderr
        assert re.search(rf"^  on \S*/main\.hcl line {want}:", proc.stderr, re.M), proc.stderr
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == files


# --- the TLS 1.3 warning ----------------------------------------------------------------------


def test_tls13_on_a_zone_is_a_warning_in_every_plan_format(copy: Path) -> None:
    hcl = CONFIG.replace(
        '  dp_token_path = "/etc/kuma-dp/token"\n',
        '  dp_token_path = "/etc/kuma-dp/token"\n  tls_min_version = "TLSv1_3"\n',
    ).replace(GLOBAL_LAST, GLOBAL_LAST + '  tls_min_version = "TLSv1_3"\n')
    (copy / "main.hcl").write_text(hcl)
    line = hcl.splitlines().index('  tls_min_version = "TLSv1_3"', 30) + 1
    proc = ok(copy, "plan", "--markdown", str(copy / "plan.md"))
    assert "Warning: TLS 1.3 minimum on a zone" in proc.stderr
    assert re.search(rf"^  on \S*/main\.hcl line {line}:", proc.stderr, re.M), proc.stderr
    # on a zone only: zone control planes dial the global over KDS with Go's TLS 1.3 client
    assert proc.stderr.count("TLS 1.3 minimum") == 1
    assert "zone.vm sets tls_min_version" in proc.stderr
    doc = json.loads(ok(copy, "plan", "--json").stdout)
    (warned,) = [w for w in doc["meshprov_warnings"] if "TLS 1.3" in w]
    assert warned.startswith("TLS 1.3 minimum on a zone: zone.vm sets")
    markdown = (copy / "plan.md").read_text()
    security = markdown.split("Security impact", 1)[1]
    assert ":warning: TLS 1.3 minimum on a zone: zone.vm sets" in security


def test_the_same_warning_on_many_zones_is_shown_once_on_the_terminal(copy: Path) -> None:
    """Terraform's consolidation: a warning repeated across a large configuration is printed
    once, at its first place, saying how many more there are; ``--json`` keeps every one."""
    tls13 = '  tls_min_version = "TLSv1_3"\n'
    hcl = CONFIG
    for zone in ('zone "east" {\n', 'zone "vm" {\n', 'zone "vm_open" {\n'):
        hcl = hcl.replace(zone, zone + tls13)
    (copy / "main.hcl").write_text(hcl)
    first = hcl.splitlines().index(tls13.rstrip("\n")) + 1
    for command in (["validate"], ["plan"]):
        shown = ok(copy, *command).stderr
        assert shown.count("Warning: TLS 1.3 minimum on a zone") == 1, shown
        assert re.search(rf"^  on \S*/main\.hcl line {first}:", shown, re.M), shown
        assert "zone.east sets tls_min_version" in shown
        assert "(and 2 more similar warnings elsewhere)" in shown
    doc = json.loads(ok(copy, "plan", "--json").stdout)
    assert len([w for w in doc["meshprov_warnings"] if "TLS 1.3" in w]) == 3
    compact = ok(copy, "plan", "--compact-warnings").stderr
    assert "- TLS 1.3 minimum on a zone\n" in compact and "(and 2 more)" in compact
    (copy / "main.hcl").write_text(hcl.replace('zone "east" {\n' + tls13, 'zone "east" {\n'))
    assert "(and one more similar warning elsewhere)" in ok(copy, "validate").stderr
