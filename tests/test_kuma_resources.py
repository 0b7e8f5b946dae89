"""End to end tests of the Kong Mesh resources (``ca``, ``control_plane``, ``zone``), run through
the real command line.

The certificates are checked with the ``openssl`` command (chains, hostnames, extensions, serials,
validity). The KDS channel gets a real TLS handshake on loopback. The files of SPEC §3 are
compared key by key with the SPEC (env vars, modes, Kubernetes Secrets and Helm values). Also
covered: the plan/apply lifecycle (idempotency, CA replacement, expiry, drift, destroy), the
Kong Mesh validation rules, and that private keys never reach the terminal or a plan.

Configurations that are only read are applied once per module. Tests that change something
work on a copy of an applied directory.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tests.support.engine import shows_a_token

from meshprov.cli import cli

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")

REPO = Path(__file__).resolve().parents[1]
PRIVATE = "PRIVATE KEY"
PRIVATE_B64 = base64.b64encode(b"-----BEGIN PRIVATE KEY-----").decode()[:24]
EXTENSIONS = (
    "basicConstraints,keyUsage,extendedKeyUsage,subjectAltName,"
    "subjectKeyIdentifier,authorityKeyIdentifier"
)

# --- running meshprov ------------------------------------------------------------------------


def run(directory: Path, *args: str, code: int | None = 0) -> Result:
    """``meshprov -C directory ARGS`` in process (click's runner); checks the exit code."""
    result = CliRunner().invoke(cli, ["-C", str(directory), *args], catch_exceptions=False)
    if code is not None:
        assert result.exit_code == code, (
            f"meshprov {' '.join(args)} exited {result.exit_code}, want {code}\n{result.output}"
        )
    return result


def run_process(directory: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m meshprov -C directory ARGS`` as a real process."""
    proc = subprocess.run(
        [sys.executable, "-m", "meshprov", "-C", str(directory), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"meshprov {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
    return proc


def write_config(directory: Path, hcl: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.hcl").write_text(hcl)
    return directory


def plan_actions(directory: Path, planfile: Path, *args: str) -> dict[str, tuple[str, str]]:
    """Address → (action, reason) of a ``plan --out`` file."""
    run(directory, "plan", "--out", str(planfile), *args)
    doc = json.loads(planfile.read_text())
    return {c["address"]: (c["action"], c["reason"]) for c in doc["changes"]}


def state_of(directory: Path) -> dict:
    return json.loads((directory / "state/default.json").read_text())


def attributes(directory: Path, address: str) -> dict:
    for resource in state_of(directory)["resources"]:
        if resource["address"] == address:
            return resource["attributes"]
    raise KeyError(address)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files_under(directory: Path) -> dict[str, int]:
    """Relative path → mode of every regular file under ``directory``."""
    return {
        str(p.relative_to(directory)): mode(p) for p in sorted(directory.rglob("*")) if p.is_file()
    }


# --- openssl ---------------------------------------------------------------------------------


def openssl(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )
    if check:
        assert proc.returncode == 0, f"openssl {' '.join(map(str, args))}: {proc.stderr}"
    return proc


def verify(
    ca_file: Path, cert: Path, host: str | None = None, untrusted: Path | None = None
) -> subprocess.CompletedProcess:
    """``openssl verify``; with a host, as a TLS server certificate for that name or IP."""
    args: list[str | Path] = ["verify", "-CAfile", ca_file]
    if untrusted is not None:
        args += ["-untrusted", untrusted]
    if host is not None:
        args += ["-purpose", "sslserver", "-verify_ip" if _is_ip(host) else "-verify_hostname"]
        args.append(host)
    return openssl(*args, cert, check=False)


def assert_verifies(ca_file: Path, cert: Path, host: str | None = None, untrusted=None) -> None:
    proc = verify(ca_file, cert, host, untrusted)
    assert proc.returncode == 0 and f"{cert}: OK" in proc.stdout, proc.stdout + proc.stderr


def extensions(cert: Path) -> dict[str, tuple[bool, str]]:
    """Extension name → (critical, value) as ``openssl x509 -ext`` prints them."""
    text = openssl("x509", "-in", cert, "-noout", "-ext", EXTENSIONS).stdout
    found: dict[str, tuple[bool, list[str]]] = {}
    name = None
    for line in text.splitlines():
        if line.startswith("X509v3 "):
            name, _, rest = line[len("X509v3 ") :].partition(":")
            found[name] = (rest.strip() == "critical", [])
        elif name is not None and line.strip():
            found[name][1].append(line.strip())
    return {k: (critical, " ".join(v)) for k, (critical, v) in found.items()}


def key_id(value: str) -> str:
    """A key identifier as printed (``keyid:AB:CD`` in OpenSSL 1.1, ``AB:CD`` in 3.x)."""
    return value.replace("keyid:", "").strip().upper()


def sans(cert: Path) -> set[str]:
    """``DNS:name`` and ``IP:address`` (normalised) entries of the certificate."""
    _, value = extensions(cert)["Subject Alternative Name"]
    out = set()
    for entry in value.split(", "):
        kind, _, name = entry.partition(":")
        if kind == "IP Address":
            out.add(f"IP:{ipaddress.ip_address(name)}")
        else:
            out.add(f"{kind}:{name}")
    return out


def cert_dates(cert: Path) -> tuple[datetime, datetime]:
    text = openssl("x509", "-in", cert, "-noout", "-startdate", "-enddate").stdout
    values = dict(line.split("=", 1) for line in text.splitlines())

    def parse(value: str) -> datetime:
        return datetime.strptime(value, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)

    return parse(values["notBefore"]), parse(values["notAfter"])


def serial(cert: Path) -> int:
    return int(openssl("x509", "-in", cert, "-noout", "-serial").stdout.split("=", 1)[1], 16)


def public_key_of_cert(cert: Path) -> str:
    return openssl("x509", "-in", cert, "-noout", "-pubkey").stdout


def public_key_of_key(key: Path) -> str:
    return openssl("pkey", "-in", key, "-pubout").stdout


def pem_blocks(text: str) -> list[str]:
    return re.findall(r"-----BEGIN [A-Z ]+-----\n.*?-----END [A-Z ]+-----\n", text, re.S)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# --- a real TLS server -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def tls_server(cert: Path, key: Path) -> Iterator[int]:
    """``openssl s_server`` on a free loopback port; killed (by its pid) on exit."""
    proc = None
    try:
        for _ in range(5):
            port = _free_port()
            listen = ["-accept", f"127.0.0.1:{port}", "-www", "-quiet"]
            proc = subprocess.Popen(
                [OPENSSL, "s_server", *listen, "-cert", str(cert), "-key", str(key)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 15
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            if proc.poll() is None:
                yield port
                return
        pytest.fail("openssl s_server did not start")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        if proc is not None:
            proc.wait(timeout=10)


def tls_client(port: int, ca_file: Path, host: str) -> subprocess.CompletedProcess:
    check = ["-verify_ip", host] if _is_ip(host) else ["-verify_hostname", host]
    args = ["-connect", f"127.0.0.1:{port}", "-verify_return_error", "-CAfile", str(ca_file)]
    return subprocess.run(
        [OPENSSL, "s_client", *args, *check, "-brief"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )


# --- configurations --------------------------------------------------------------------------

UNIVERSAL = """\
ca "cp" {
  common_name  = "meshprov test CA"
  organization = "Example Corp"
}

control_plane "global" {
  ca                = ca.cp
  hostnames         = ["global.mesh.test", "kds.mesh.test"]
  addresses         = ["127.0.0.1", "2001:db8::5"]
  api_separate_cert = true
}

zone "eu_west" {
  ca         = ca.cp
  global     = control_plane.global
  hostnames  = ["cp.eu-west.mesh.test"]
  addresses  = ["10.10.0.10"]
  egress_ips = ["198.51.100.10"]
}

zone "lone" {
  ca              = ca.cp
  addresses       = ["10.30.0.10"]
  mads_tls        = false
  work_dir        = "/opt/kong-mesh"
  output_dir      = "hosts/lone"
  dp_port         = 6678
  api_https_port  = 6682
  tls_min_version = "TLSv1_3"
}

zone "z" {
  for_each  = { eu = "10.40.0.1", us = "10.40.0.2" }
  name      = "z-${each.key}"
  ca        = ca.cp
  global    = control_plane.global
  addresses = [each.value]
}

output "kds_address" {
  value = control_plane.global.kds_address
}

output "zone_urls" {
  value = { for key, z in zone.z : z.zone_name => z.cp_url }
}
"""

# address → output directory, relative to the configuration directory
UNIVERSAL_DIRS = {
    "control_plane.global": "out/control_plane.global",
    "zone.eu_west": "out/zone.eu_west",
    "zone.lone": "hosts/lone",
    'zone.z["eu"]': "out/zone.z.eu",
    'zone.z["us"]': "out/zone.z.us",
}
UNIVERSAL_HOSTS = {
    "control_plane.global": ["global.mesh.test", "kds.mesh.test", "127.0.0.1", "2001:db8::5"],
    "zone.eu_west": ["cp.eu-west.mesh.test", "10.10.0.10"],
    "zone.lone": ["10.30.0.10"],
    'zone.z["eu"]': ["10.40.0.1"],
    'zone.z["us"]': ["10.40.0.2"],
}


@dataclass
class Applied:
    directory: Path
    started: datetime
    finished: datetime
    stdout: str
    stderr: str

    def out(self, address: str) -> Path:
        return self.directory / UNIVERSAL_DIRS[address]

    def copy(self, target: Path) -> Path:
        """A copy of the applied configuration, state and files (modes kept) to change."""
        shutil.copytree(self.directory, target)
        return target


@pytest.fixture(scope="module")
def universal(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    """The universal configuration, applied once by a real ``meshprov`` process."""
    directory = write_config(tmp_path_factory.mktemp("universal"), UNIVERSAL)
    started = datetime.now(UTC)
    proc = run_process(directory, "apply", "--auto-approve")
    finished = datetime.now(UTC)
    return Applied(directory, started, finished, proc.stdout, proc.stderr)


KUBERNETES = """\
ca "cp" {
  common_name = "meshprov k8s CA"
}

control_plane "global" {
  ca                = ca.cp
  environment       = "kubernetes"
  hostnames         = ["global.mesh.test"]
  api_separate_cert = true
}

zone "east" {
  ca               = ca.cp
  environment      = "kubernetes"
  namespace        = "mesh-east"
  global           = control_plane.global
  hostnames        = ["east.mesh.test"]
  dp_authn         = "serviceAccountToken"
  zone_proxy_authn = "serviceAccountToken"
}

zone "solo" {
  ca          = ca.cp
  environment = "kubernetes"
  hostnames   = ["solo.mesh.test"]
}
"""


@pytest.fixture(scope="module")
def kubernetes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    directory = write_config(tmp_path_factory.mktemp("kubernetes"), KUBERNETES)
    return directory, run(directory, "apply", "--auto-approve")


# === certificates ============================================================================


def test_ca_certificate(universal: Applied) -> None:
    ca = universal.out("control_plane.global") / "tls/ca.crt"
    ext = extensions(ca)
    assert ext["Basic Constraints"] == (True, "CA:TRUE, pathlen:1")
    assert ext["Key Usage"] == (True, "Certificate Sign, CRL Sign")
    assert "Extended Key Usage" not in ext
    # a root: its authority key identifier is its own key identifier
    assert key_id(ext["Authority Key Identifier"][1]) == key_id(ext["Subject Key Identifier"][1])
    subject = openssl("x509", "-in", ca, "-noout", "-subject", "-nameopt", "RFC2253").stdout
    assert subject.strip() == "subject=O=Example Corp,CN=meshprov test CA"
    assert_verifies(ca, ca)
    not_before, not_after = cert_dates(ca)
    assert not_after - not_before == timedelta(hours=87600)
    state = attributes(universal.directory, "ca.cp")
    assert state["not_after"] == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert int(state["serial_number"], 16) == serial(ca)
    fingerprint = openssl("x509", "-in", ca, "-noout", "-fingerprint", "-sha256").stdout
    assert state["id"] == fingerprint.split("=", 1)[1].strip().replace(":", "").lower()


@pytest.mark.parametrize("address", list(UNIVERSAL_DIRS))
def test_server_certificate(universal: Applied, address: str) -> None:
    out = universal.out(address)
    ca, cert = out / "tls/ca.crt", out / "tls/tls.crt"
    hosts = UNIVERSAL_HOSTS[address]
    for host in [*hosts, "localhost"]:
        assert_verifies(ca, cert, host)
    refused = verify(ca, cert, "not-in-the-sans.mesh.test")
    assert refused.returncode != 0 and "hostname mismatch" in refused.stdout + refused.stderr
    refused_ip = verify(ca, cert, "192.0.2.99")
    assert refused_ip.returncode != 0

    ext = extensions(cert)
    assert ext["Basic Constraints"] == (True, "CA:FALSE")
    assert ext["Key Usage"] == (True, "Digital Signature")  # ECDSA: no keyEncipherment
    assert ext["Extended Key Usage"] == (False, "TLS Web Server Authentication")
    ca_ext = extensions(ca)
    assert key_id(ext["Authority Key Identifier"][1]) == key_id(ca_ext["Subject Key Identifier"][1])
    assert ext["Subject Key Identifier"][1]
    expected = {"DNS:localhost"} | {
        f"IP:{ipaddress.ip_address(h)}" if _is_ip(h) else f"DNS:{h}" for h in hosts
    }
    assert sans(cert) == expected

    # tls.crt is the server certificate then the CA chain; ca.crt is that chain
    blocks = pem_blocks(cert.read_text())
    assert blocks[1:] == pem_blocks(ca.read_text())
    assert public_key_of_cert(cert) == public_key_of_key(out / "tls/tls.key")
    state = attributes(universal.directory, address)
    assert state["cert_pem"] == blocks[0]
    assert state["ca_bundle_pem"] == ca.read_text()


def test_serials_and_validity(universal: Applied) -> None:
    certs = [universal.out(a) / "tls/tls.crt" for a in UNIVERSAL_DIRS]
    certs += [
        universal.out("control_plane.global") / "tls/api.crt",
        universal.out("control_plane.global") / "tls/ca.crt",
    ]
    serials = [serial(c) for c in certs]
    assert len(set(serials)) == len(serials)
    for number in serials:
        # 128 random bits: more than 64 significant bits but for a 2^-64 chance
        assert 64 < number.bit_length() <= 128
    skew = timedelta(minutes=5)
    for cert in certs:
        not_before, not_after = cert_dates(cert)
        started = universal.started.replace(microsecond=0)
        assert started - skew - timedelta(seconds=1) <= not_before <= universal.finished - skew
        if cert.name != "ca.crt":
            assert not_after - not_before == timedelta(hours=8760)


def test_api_separate_cert(universal: Applied) -> None:
    out = universal.out("control_plane.global")
    ca, api, general = out / "tls/ca.crt", out / "tls/api.crt", out / "tls/tls.crt"
    assert mode(api) == 0o644 and mode(out / "tls/api.key") == 0o600
    for host in UNIVERSAL_HOSTS["control_plane.global"]:
        assert_verifies(ca, api, host)
    assert sans(api) == sans(general)
    assert extensions(api)["Extended Key Usage"][1] == "TLS Web Server Authentication"
    assert public_key_of_cert(api) == public_key_of_key(out / "tls/api.key")
    assert public_key_of_cert(api) != public_key_of_cert(general)
    assert serial(api) != serial(general)
    env = read_env(out / "kuma-cp.env")
    assert env["KUMA_API_SERVER_HTTPS_TLS_CERT_FILE"] == "/var/lib/kong-mesh/tls/api.crt"
    assert env["KUMA_API_SERVER_HTTPS_TLS_KEY_FILE"] == "/var/lib/kong-mesh/tls/api.key"
    # the general and KDS servers keep the general certificate
    assert env["KUMA_GENERAL_TLS_CERT_FILE"] == "/var/lib/kong-mesh/tls/tls.crt"
    assert env["KUMA_MULTIZONE_GLOBAL_KDS_TLS_CERT_FILE"] == "/var/lib/kong-mesh/tls/tls.crt"
    # zones without it have neither file, and their API uses the general certificate
    eu = universal.out("zone.eu_west")
    assert not (eu / "tls/api.crt").exists() and not (eu / "tls/api.key").exists()
    eu_env = read_env(eu / "kuma-cp.env")
    assert eu_env["KUMA_API_SERVER_HTTPS_TLS_CERT_FILE"] == "/var/lib/kong-mesh/tls/tls.crt"


KEY_ALGORITHMS = {
    "ECDSA_P256": ("ASN1 OID: prime256v1", "Digital Signature", "ecdsa-with-SHA256"),
    "ECDSA_P384": ("ASN1 OID: secp384r1", "Digital Signature", "ecdsa-with-SHA384"),
    "RSA_2048": ("Public-Key: (2048 bit)", "Digital Signature, Key Encipherment", "sha256WithRSA"),
    "RSA_3072": ("Public-Key: (3072 bit)", "Digital Signature, Key Encipherment", "sha256WithRSA"),
    "RSA_4096": ("Public-Key: (4096 bit)", "Digital Signature, Key Encipherment", "sha256WithRSA"),
}


@pytest.mark.parametrize("algorithm", list(KEY_ALGORITHMS))
def test_key_algorithms(tmp_path: Path, algorithm: str) -> None:
    directory = write_config(
        tmp_path / "cfg",
        f"""\
ca "cp" {{
  common_name   = "CA {algorithm}"
  key_algorithm = "{algorithm}"
}}

control_plane "global" {{
  ca            = ca.cp
  key_algorithm = "{algorithm}"
  hostnames     = ["global.mesh.test"]
  addresses     = ["192.0.2.10"]
}}
""",
    )
    run(directory, "apply", "--auto-approve")
    out = directory / "out/control_plane.global"
    ca, cert, key = out / "tls/ca.crt", out / "tls/tls.crt", out / "tls/tls.key"
    key_marker, key_usage, signature = KEY_ALGORITHMS[algorithm]
    for pem in (ca, cert):
        text = openssl("x509", "-in", pem, "-noout", "-text").stdout
        assert key_marker in text
        # each certificate is signed by the CA's key, of the same algorithm here
        assert f"Signature Algorithm: {signature}" in text
    assert extensions(cert)["Key Usage"] == (True, key_usage)
    assert extensions(ca)["Basic Constraints"] == (True, "CA:TRUE, pathlen:1")
    assert extensions(ca)["Key Usage"] == (True, "Certificate Sign, CRL Sign")
    assert_verifies(ca, cert, "global.mesh.test")
    assert_verifies(ca, cert, "192.0.2.10")
    assert public_key_of_cert(cert) == public_key_of_key(key)
    assert mode(key) == 0o600
    assert PRIVATE in key.read_text()


INTERMEDIATE = """\
ca "root" {
  common_name = "meshprov root CA"
}

ca "issuing" {
  common_name = "meshprov issuing CA"
  parent      = ca.root
}

control_plane "global" {
  ca        = ca.issuing
  hostnames = ["global.mesh.test"]
}

zone "eu" {
  ca        = ca.issuing
  global    = control_plane.global
  hostnames = ["eu.mesh.test"]
}
"""


CP_HOSTS = (("control_plane.global", "global.mesh.test"), ("zone.eu", "eu.mesh.test"))


def test_intermediate_ca_chain(tmp_path: Path) -> None:
    directory = write_config(tmp_path / "cfg", INTERMEDIATE)
    run(directory, "apply", "--auto-approve")
    root_pem = attributes(directory, "ca.root")["cert_pem"]
    issuing = attributes(directory, "ca.issuing")
    assert issuing["chain_pem"] == issuing["cert_pem"] + root_pem
    root, inter = tmp_path / "root.pem", tmp_path / "issuing.pem"
    root.write_text(root_pem)
    inter.write_text(issuing["cert_pem"])

    root_ext, inter_ext = extensions(root), extensions(inter)
    assert root_ext["Basic Constraints"] == (True, "CA:TRUE, pathlen:1")
    assert inter_ext["Basic Constraints"] == (True, "CA:TRUE, pathlen:0")
    assert inter_ext["Key Usage"] == (True, "Certificate Sign, CRL Sign")
    assert key_id(inter_ext["Authority Key Identifier"][1]) == key_id(
        root_ext["Subject Key Identifier"][1]
    )
    assert_verifies(root, inter)

    for address, host in CP_HOSTS:
        out = directory / "out" / address
        cert = out / "tls/tls.crt"
        # trusting only the root, the intermediate comes as an untrusted chain certificate
        assert_verifies(root, cert, host, untrusted=inter)
        assert verify(root, cert, host).returncode != 0  # not without the intermediate
        # tls.crt carries the chain a client needs; ca.crt is that chain
        assert_verifies(root, cert, host, untrusted=cert)
        assert (out / "tls/ca.crt").read_text() == issuing["chain_pem"]
        assert_verifies(out / "tls/ca.crt", cert, host)
    assert (directory / "out/zone.eu/tls/kds-ca.crt").read_text() == issuing["chain_pem"]

    # replacing the root re-signs the intermediate and reissues everything under it
    (directory / "main.hcl").write_text(INTERMEDIATE.replace("meshprov root CA", "root CA 2"))
    actions = plan_actions(directory, tmp_path / "p.plan")
    assert actions["ca.root"][0] in ("delete-create", "create-delete")
    assert actions["ca.issuing"] == ("update", "update_because_ca_replaced")
    assert actions["control_plane.global"] == ("update", "update_because_ca_replaced")
    assert actions["zone.eu"] == ("update", "update_because_ca_replaced")
    run(directory, "apply", "--auto-approve")
    new_root = tmp_path / "root2.pem"
    new_root.write_text(attributes(directory, "ca.root")["cert_pem"])
    new_inter = tmp_path / "issuing2.pem"
    new_inter.write_text(attributes(directory, "ca.issuing")["cert_pem"])
    for address, host in CP_HOSTS:
        cert = directory / "out" / address / "tls/tls.crt"
        assert_verifies(new_root, cert, host, untrusted=new_inter)
        # the intermediate keeps its key, re-signed: the chain it now presents ends at the new root
        assert verify(root, cert, host, untrusted=new_inter).returncode != 0
    run(directory, "plan", "--detailed-exitcode")


def test_ca_under_an_intermediate_is_refused(tmp_path: Path) -> None:
    """Regression: a root has pathlen 1 and an intermediate pathlen 0, so a CA under an
    intermediate used to be issued and sign certificates that no verifier accepts."""
    hcl = INTERMEDIATE.replace(
        'control_plane "global" {\n  ca        = ca.issuing',
        'ca "deeper" {\n  common_name = "deeper"\n  parent      = ca.issuing # <-\n}\n\n'
        'control_plane "global" {\n  ca        = ca.deeper',
    )
    directory = write_config(tmp_path / "cfg", hcl)
    for command in ("validate", "plan"):
        result = run(directory, command, code=1)
        assert_diagnostic(result, hcl, "Error", "Intermediate CA under an intermediate")
    assert not (directory / "state/default.json").exists()


# === the KDS channel: a real handshake ========================================================


def test_kds_handshake(universal: Applied) -> None:
    """A zone dialling the global's KDS address, trusting only its kds-ca.crt, accepts the
    global's server certificate for the global's hostnames and addresses, and nothing else."""
    global_out = universal.out("control_plane.global")
    kds_ca = universal.out("zone.eu_west") / "tls/kds-ca.crt"
    kds_address = attributes(universal.directory, "zone.eu_west")["global_address"]
    assert kds_address == "grpcs://global.mesh.test:5685"
    with tls_server(global_out / "tls/tls.crt", global_out / "tls/tls.key") as port:
        ok = tls_client(port, kds_ca, "global.mesh.test")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "Verification: OK" in ok.stdout + ok.stderr
        for host in ("kds.mesh.test", "127.0.0.1"):
            also = tls_client(port, kds_ca, host)
            assert also.returncode == 0, also.stdout + also.stderr
        wrong = tls_client(port, kds_ca, "cp.eu-west.mesh.test")
        assert wrong.returncode != 0
        assert "hostname mismatch" in wrong.stdout + wrong.stderr
        wrong_ip = tls_client(port, kds_ca, "10.10.0.10")
        assert wrong_ip.returncode != 0


# === artifacts ===============================================================================

GLOBAL_FILES = {
    "tls/tls.crt": 0o644,
    "tls/tls.key": 0o600,
    "tls/ca.crt": 0o644,
    "tls/api.crt": 0o644,
    "tls/api.key": 0o600,
    "kuma-cp.env": 0o600,
    "kumactl.sh": 0o755,
    "access-role-binding.yaml": 0o644,  # admin_groups' default: no anonymous admin
}
ZONE_FILES = {
    "tls/tls.crt": 0o644,
    "tls/tls.key": 0o600,
    "tls/ca.crt": 0o644,
    "tls/kds-ca.crt": 0o644,
    "kuma-cp.env": 0o600,
    "kuma-dp.env": 0o644,
    "kumactl.sh": 0o755,
    "prometheus-kuma-sd.yml": 0o644,
    "access-role-binding.yaml": 0o644,
}
LONE_FILES = {
    k: v for k, v in ZONE_FILES.items() if k not in ("tls/kds-ca.crt", "prometheus-kuma-sd.yml")
}


def test_artifact_files_and_modes(universal: Applied) -> None:
    expected = {
        "control_plane.global": GLOBAL_FILES,
        "zone.eu_west": ZONE_FILES,
        "zone.lone": LONE_FILES,
        'zone.z["eu"]': ZONE_FILES,
        'zone.z["us"]': ZONE_FILES,
    }
    for address, files in expected.items():
        assert files_under(universal.out(address)) == files, address
        state = attributes(universal.directory, address)
        assert state["output_dir"] == UNIVERSAL_DIRS[address]
        assert sorted(state["artifacts"]) == sorted(files)
    # nothing else was written
    assert sorted(p.name for p in (universal.directory / "out").iterdir()) == [
        "control_plane.global",
        "zone.eu_west",
        "zone.z.eu",
        "zone.z.us",
    ]
    assert mode(universal.directory / "state/default.json") == 0o600


def read_env(path: Path) -> dict[str, str]:
    """A systemd EnvironmentFile: KEY=value lines, each key once."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*=\S+", line), line
        key, value = line.split("=", 1)
        assert key not in env, f"{key} twice in {path}"
        env[key] = value
    return env


# SPEC §3, word for word
SPEC_CP_ENV = {
    "KUMA_MODE",
    "KUMA_GENERAL_WORK_DIR",
    "KUMA_GENERAL_TLS_CERT_FILE",
    "KUMA_GENERAL_TLS_KEY_FILE",
    "KUMA_GENERAL_TLS_MIN_VERSION",
    "KUMA_API_SERVER_HTTP_INTERFACE",
    "KUMA_API_SERVER_HTTPS_PORT",
    "KUMA_API_SERVER_HTTPS_TLS_CERT_FILE",
    "KUMA_API_SERVER_HTTPS_TLS_KEY_FILE",
}
SPEC_GLOBAL_ENV = {
    "KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT",
    "KUMA_MULTIZONE_GLOBAL_KDS_TLS_CERT_FILE",
    "KUMA_MULTIZONE_GLOBAL_KDS_TLS_KEY_FILE",
}
SPEC_ZONE_ENV = {
    "KUMA_MULTIZONE_ZONE_NAME",
    "KUMA_DP_SERVER_PORT",
    "KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE",
    "KUMA_DP_SERVER_AUTHN_ZONE_PROXY_TYPE",
    "KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_ENABLED",
}
SPEC_ZONE_WITH_GLOBAL_ENV = {
    "KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS",
    "KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE",
}
SPEC_DP_ENV = {"KUMA_CONTROL_PLANE_URL", "KUMA_CONTROL_PLANE_CA_CERT_FILE"}


def test_global_cp_env(universal: Applied) -> None:
    env = read_env(universal.out("control_plane.global") / "kuma-cp.env")
    assert set(env) == SPEC_CP_ENV | SPEC_GLOBAL_ENV
    work = "/var/lib/kong-mesh"
    assert env == {
        "KUMA_MODE": "global",
        "KUMA_GENERAL_WORK_DIR": work,
        "KUMA_GENERAL_TLS_CERT_FILE": f"{work}/tls/tls.crt",
        "KUMA_GENERAL_TLS_KEY_FILE": f"{work}/tls/tls.key",
        "KUMA_GENERAL_TLS_MIN_VERSION": "TLSv1_2",
        "KUMA_API_SERVER_HTTP_INTERFACE": "127.0.0.1",
        "KUMA_API_SERVER_HTTPS_PORT": "5682",
        "KUMA_API_SERVER_HTTPS_TLS_CERT_FILE": f"{work}/tls/api.crt",
        "KUMA_API_SERVER_HTTPS_TLS_KEY_FILE": f"{work}/tls/api.key",
        "KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT": "5685",
        "KUMA_MULTIZONE_GLOBAL_KDS_TLS_CERT_FILE": f"{work}/tls/tls.crt",
        "KUMA_MULTIZONE_GLOBAL_KDS_TLS_KEY_FILE": f"{work}/tls/tls.key",
    }


def test_zone_cp_env_with_global(universal: Applied) -> None:
    env = read_env(universal.out("zone.eu_west") / "kuma-cp.env")
    assert set(env) == SPEC_CP_ENV | SPEC_ZONE_ENV | SPEC_ZONE_WITH_GLOBAL_ENV
    work = "/var/lib/kong-mesh"
    assert env == {
        "KUMA_MODE": "zone",
        "KUMA_GENERAL_WORK_DIR": work,
        "KUMA_GENERAL_TLS_CERT_FILE": f"{work}/tls/tls.crt",
        "KUMA_GENERAL_TLS_KEY_FILE": f"{work}/tls/tls.key",
        "KUMA_GENERAL_TLS_MIN_VERSION": "TLSv1_2",
        "KUMA_API_SERVER_HTTP_INTERFACE": "127.0.0.1",
        "KUMA_API_SERVER_HTTPS_PORT": "5682",
        "KUMA_API_SERVER_HTTPS_TLS_CERT_FILE": f"{work}/tls/tls.crt",
        "KUMA_API_SERVER_HTTPS_TLS_KEY_FILE": f"{work}/tls/tls.key",
        "KUMA_MULTIZONE_ZONE_NAME": "eu-west",
        "KUMA_DP_SERVER_PORT": "5678",
        "KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE": "dpToken",
        "KUMA_DP_SERVER_AUTHN_ZONE_PROXY_TYPE": "zoneToken",
        "KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_ENABLED": "true",
        "KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS": "grpcs://global.mesh.test:5685",
        "KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE": f"{work}/tls/kds-ca.crt",
    }
    for key in ("eu", "us"):
        other = read_env(universal.out(f'zone.z["{key}"]') / "kuma-cp.env")
        assert other["KUMA_MULTIZONE_ZONE_NAME"] == f"z-{key}"
        assert other["KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS"] == "grpcs://global.mesh.test:5685"


def test_zone_cp_env_standalone(universal: Applied) -> None:
    env = read_env(universal.out("zone.lone") / "kuma-cp.env")
    assert set(env) == SPEC_CP_ENV | SPEC_ZONE_ENV
    work = "/opt/kong-mesh"
    assert env == {
        "KUMA_MODE": "zone",
        "KUMA_GENERAL_WORK_DIR": work,
        "KUMA_GENERAL_TLS_CERT_FILE": f"{work}/tls/tls.crt",
        "KUMA_GENERAL_TLS_KEY_FILE": f"{work}/tls/tls.key",
        "KUMA_GENERAL_TLS_MIN_VERSION": "TLSv1_3",
        "KUMA_API_SERVER_HTTP_INTERFACE": "127.0.0.1",
        "KUMA_API_SERVER_HTTPS_PORT": "6682",
        "KUMA_API_SERVER_HTTPS_TLS_CERT_FILE": f"{work}/tls/tls.crt",
        "KUMA_API_SERVER_HTTPS_TLS_KEY_FILE": f"{work}/tls/tls.key",
        "KUMA_MULTIZONE_ZONE_NAME": "lone",
        "KUMA_DP_SERVER_PORT": "6678",
        "KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE": "dpToken",
        "KUMA_DP_SERVER_AUTHN_ZONE_PROXY_TYPE": "zoneToken",
        "KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_ENABLED": "false",
    }
    assert attributes(universal.directory, "zone.lone")["global_address"] is None


def test_dp_env(universal: Applied) -> None:
    expected = {
        "zone.eu_west": ("https://cp.eu-west.mesh.test:5678", "/var/lib/kong-mesh"),
        "zone.lone": ("https://10.30.0.10:6678", "/opt/kong-mesh"),
        'zone.z["eu"]': ("https://10.40.0.1:5678", "/var/lib/kong-mesh"),
    }
    for address, (url, work) in expected.items():
        env = read_env(universal.out(address) / "kuma-dp.env")
        # dp_authn defaults to dpToken on universal: kuma-dp reads its token from dp_token_path
        assert set(env) == SPEC_DP_ENV | {"KUMA_DATAPLANE_RUNTIME_TOKEN_PATH"}
        assert env == {
            "KUMA_CONTROL_PLANE_URL": url,
            "KUMA_CONTROL_PLANE_CA_CERT_FILE": f"{work}/tls/ca.crt",
            "KUMA_DATAPLANE_RUNTIME_TOKEN_PATH": "/var/lib/kuma-dp/dataplane.token",
        }
        assert attributes(universal.directory, address)["cp_url"] == url
    assert not (universal.out("control_plane.global") / "kuma-dp.env").exists()


@pytest.mark.parametrize("address", list(UNIVERSAL_DIRS))
def test_env_paths_mirror_the_output_dir(universal: Applied, address: str) -> None:
    """Every file an env var names is in the output directory at the same relative path."""
    out = universal.out(address)
    env = read_env(out / "kuma-cp.env")
    work = env["KUMA_GENERAL_WORK_DIR"]
    files = [v for k, v in env.items() if k.endswith("_FILE")]
    if (out / "kuma-dp.env").exists():
        files += [read_env(out / "kuma-dp.env")["KUMA_CONTROL_PLANE_CA_CERT_FILE"]]
    assert files
    for value in files:
        assert value.startswith(work + "/")
        assert (out / value[len(work) + 1 :]).is_file(), value


def test_kumactl_script(universal: Applied, tmp_path: Path) -> None:
    """kumactl.sh runs kumactl with the dial host, the HTTPS port and the CA next to it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "kumactl"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$KUMACTL_ARGS"\n')
    fake.chmod(0o755)
    expected = {
        "control_plane.global": ("global", "https://global.mesh.test:5682"),
        "zone.eu_west": ("eu-west", "https://cp.eu-west.mesh.test:5682"),
        "zone.lone": ("lone", "https://10.30.0.10:6682"),
    }
    for address, (name, url) in expected.items():
        out = universal.out(address)
        args_file = tmp_path / f"{name}.args"
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        env["KUMACTL_ARGS"] = str(args_file)
        subprocess.run([str(out / "kumactl.sh")], env=env, check=True, timeout=30)
        args = args_file.read_text().splitlines()
        assert args[:3] == ["config", "control-planes", "add"]
        assert f"--name={name}" in args and f"--address={url}" in args
        ca_args = [a for a in args if a.startswith("--ca-cert-file=")]
        assert len(ca_args) == 1
        ca_file = Path(ca_args[0].split("=", 1)[1])
        assert ca_file.resolve() == (out / "tls/ca.crt").resolve()
        # the CA it names verifies the API server's certificate for the address it dials
        api_cert = out / ("tls/api.crt" if (out / "tls/api.crt").exists() else "tls/tls.crt")
        assert_verifies(ca_file, api_cert, url.split("//")[1].rsplit(":", 1)[0])


def test_prometheus_scrape_job(universal: Applied) -> None:
    path = universal.out("zone.eu_west") / "prometheus-kuma-sd.yml"
    doc = yaml.safe_load(path.read_text())
    (job,) = doc["scrape_configs"]
    (sd,) = job["kuma_sd_configs"]
    assert sd["server"] == "https://cp.eu-west.mesh.test:5676"
    ca_file = path.parent / sd["tls_config"]["ca_file"]
    assert ca_file.read_text() == (path.parent / "tls/ca.crt").read_text()
    assert not (universal.out("zone.lone") / "prometheus-kuma-sd.yml").exists()


def test_outputs_and_default_output_dirs(universal: Applied) -> None:
    outputs = json.loads(run(universal.directory, "output", "--json").stdout)
    assert outputs["kds_address"]["value"] == "grpcs://global.mesh.test:5685"
    assert outputs["zone_urls"]["value"] == {
        "z-eu": "https://10.40.0.1:5678",
        "z-us": "https://10.40.0.2:5678",
    }
    # zone.z["eu"] → out/zone.z.eu, and an explicit output_dir is used as given
    assert (universal.directory / "out/zone.z.eu/tls/tls.crt").is_file()
    assert (universal.directory / "out/zone.z.us/tls/tls.crt").is_file()
    assert (universal.directory / "hosts/lone/tls/tls.crt").is_file()
    assert not (universal.directory / "out/zone.lone").exists()
    global_state = attributes(universal.directory, "control_plane.global")
    assert global_state["kds_address"] == "grpcs://global.mesh.test:5685"
    assert global_state["dial_host"] == "global.mesh.test"
    eu = attributes(universal.directory, "zone.eu_west")
    assert eu["zone_name"] == "eu-west"
    assert eu["egress_cidrs"] == ["198.51.100.10/32"]
    # egress_ips defaults to the addresses
    assert attributes(universal.directory, "zone.lone")["egress_cidrs"] == ["10.30.0.10/32"]


# === kubernetes ==============================================================================


def secrets_of(path: Path) -> dict[str, dict]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    by_name = {}
    for doc in docs:
        assert doc["apiVersion"] == "v1"
        assert doc["kind"] == "Secret"
        assert set(doc["metadata"]) >= {"name", "namespace"}
        assert doc.get("type", "Opaque") in ("Opaque", "kubernetes.io/tls")
        if doc.get("type") == "kubernetes.io/tls":
            assert set(doc["data"]) >= {"tls.crt", "tls.key"}
        decoded = {k: base64.b64decode(v, validate=True).decode() for k, v in doc["data"].items()}
        for value in decoded.values():
            assert value.startswith("-----BEGIN ")
        by_name[doc["metadata"]["name"]] = {**doc, "decoded": decoded}
    assert len(by_name) == len(docs)
    return by_name


def test_kubernetes_files(kubernetes: tuple[Path, Result]) -> None:
    directory, _ = kubernetes
    for name in ("control_plane.global", "zone.east", "zone.solo"):
        files = files_under(directory / "out" / name)
        assert files["secrets.yaml"] == 0o600
        assert files["values.yaml"] == 0o644
        assert files["tls/ca.crt"] == 0o644
        # keys live in secrets.yaml only; no Universal env file on a Kubernetes control plane
        for absent in ("tls/tls.key", "tls/api.key", "kuma-cp.env", "kuma-dp.env"):
            assert absent not in files, (name, absent)


def test_kubernetes_secrets(kubernetes: tuple[Path, Result], tmp_path: Path) -> None:
    directory, _ = kubernetes
    ca_chain = attributes(directory, "ca.cp")["chain_pem"]
    expected = {
        "control_plane.global": (
            "kong-mesh-system",
            {"general-tls-certs", "kds-server-tls", "api-server-tls"},
            "global.mesh.test",
        ),
        "zone.east": ("mesh-east", {"general-tls-certs", "kds-ca-certs"}, "east.mesh.test"),
        "zone.solo": ("kong-mesh-system", {"general-tls-certs"}, "solo.mesh.test"),
    }
    for address, (namespace, names, host) in expected.items():
        out = directory / "out" / address
        secrets = secrets_of(out / "secrets.yaml")
        assert set(secrets) == names, address
        for secret in secrets.values():
            assert secret["metadata"]["namespace"] == namespace
        general = secrets["general-tls-certs"]["decoded"]
        assert set(general) == {"tls.crt", "tls.key", "ca.crt"}
        assert general["ca.crt"] == ca_chain == (out / "tls/ca.crt").read_text()
        assert PRIVATE in general["tls.key"]
        for name in names - {"kds-ca-certs"}:
            data = secrets[name]["decoded"]
            cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
            cert.write_text(data["tls.crt"])
            key.write_text(data["tls.key"])
            assert_verifies(out / "tls/ca.crt", cert, host)
            assert public_key_of_cert(cert) == public_key_of_key(key)
        if "kds-server-tls" in names:
            assert secrets["kds-server-tls"]["type"] == "kubernetes.io/tls"
        if "kds-ca-certs" in names:
            assert secrets["kds-ca-certs"]["decoded"] == {"ca.crt": ca_chain}
    # the zone's kds-ca-certs trusts what the global's kds-server-tls presents
    kds = secrets_of(directory / "out/control_plane.global/secrets.yaml")["kds-server-tls"]
    cert = tmp_path / "kds.crt"
    cert.write_text(kds["decoded"]["tls.crt"])
    zone_ca = tmp_path / "zone-kds-ca.crt"
    zone_ca.write_text(
        secrets_of(directory / "out/zone.east/secrets.yaml")["kds-ca-certs"]["decoded"]["ca.crt"]
    )
    assert_verifies(zone_ca, cert, "global.mesh.test")


def test_kubernetes_helm_values(kubernetes: tuple[Path, Result]) -> None:
    directory, _ = kubernetes

    def values(address: str) -> dict:
        doc = yaml.safe_load((directory / "out" / address / "values.yaml").read_text())
        assert list(doc) == ["kuma"] and list(doc["kuma"]) == ["controlPlane"]
        control_plane = doc["kuma"]["controlPlane"]
        ca = (directory / "out" / address / "tls/ca.crt").read_bytes()
        assert control_plane["tls"]["general"] == {
            "secretName": "general-tls-certs",
            "caBundle": base64.b64encode(ca).decode(),
        }
        assert base64.b64decode(control_plane["tls"]["general"]["caBundle"]) == ca
        for key, value in control_plane["envVars"].items():
            assert re.fullmatch(r"KUMA_[A-Z0-9_]+", key)
            assert isinstance(value, str), key  # Helm env values must be strings
        return control_plane

    cp = values("control_plane.global")
    assert cp["mode"] == "global"
    assert "zone" not in cp and "kdsGlobalAddress" not in cp
    assert cp["tls"]["apiServer"] == {"secretName": "api-server-tls"}
    assert cp["tls"]["kdsGlobalServer"] == {"secretName": "kds-server-tls"}
    assert "kdsZoneClient" not in cp["tls"]
    assert cp["envVars"]["KUMA_GENERAL_TLS_MIN_VERSION"] == "TLSv1_2"
    assert cp["envVars"]["KUMA_API_SERVER_HTTP_INTERFACE"] == "127.0.0.1"

    east = values("zone.east")
    assert east["mode"] == "zone"
    assert east["zone"] == "east"
    assert east["kdsGlobalAddress"] == "grpcs://global.mesh.test:5685"
    assert east["tls"]["kdsZoneClient"] == {"secretName": "kds-ca-certs"}
    assert "apiServer" not in east["tls"] and "kdsGlobalServer" not in east["tls"]
    assert east["envVars"]["KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE"] == "serviceAccountToken"
    assert east["envVars"]["KUMA_DP_SERVER_AUTHN_ZONE_PROXY_TYPE"] == "serviceAccountToken"

    solo = values("zone.solo")
    assert solo["mode"] == "zone" and solo["zone"] == "solo"
    assert "kdsGlobalAddress" not in solo and "kdsZoneClient" not in solo["tls"]


def test_kubernetes_example(tmp_path: Path) -> None:
    """examples/kubernetes applies as documented: a global and two zones on Kubernetes."""
    directory = tmp_path / "example"
    shutil.copytree(REPO / "examples/kubernetes", directory)
    run(directory, "fmt", "--check")
    run(directory, "validate")
    result = run(directory, "apply", "--auto-approve")
    assert PRIVATE not in result.output
    written = sorted(p.parent.name for p in (directory / "out").glob("*/values.yaml"))
    assert len(written) == 3
    modes = {}
    for values in (directory / "out").glob("*/values.yaml"):
        control_plane = yaml.safe_load(values.read_text())["kuma"]["controlPlane"]
        modes[values.parent.name] = control_plane["mode"]
        assert (values.parent / "secrets.yaml").is_file()
    assert sorted(modes.values()) == ["global", "zone", "zone"]
    # sidecars dial the zone CP by its Service name, which its general certificate covers
    for zone in ("eu-west", "us-east"):
        zone_out = directory / "out" / f"zone.cluster.{zone}"
        general = secrets_of(zone_out / "secrets.yaml")["general-tls-certs"]["decoded"]
        cert = tmp_path / f"{zone}.crt"
        cert.write_text(general["tls.crt"])
        assert_verifies(zone_out / "tls/ca.crt", cert, "kong-mesh-control-plane.kong-mesh-system")
        env = yaml.safe_load((zone_out / "values.yaml").read_text())["kuma"]["controlPlane"]
        assert env["envVars"]["KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE"] == "serviceAccountToken"
    # the firewall's overlay: only the zones' egress IPs reach the global's KDS Service
    overlay = yaml.safe_load((directory / "helm/kds-firewall.yaml").read_text())
    assert overlay["kuma"]["controlPlane"]["globalZoneSyncService"] == {
        "loadBalancerSourceRanges": ["198.51.100.10/32", "203.0.113.20/32"]
    }
    assert run(directory, "verify").exit_code == 0


# === lifecycle ===============================================================================


def test_second_apply_changes_nothing(universal: Applied, tmp_path: Path) -> None:
    directory = universal.copy(tmp_path / "cfg")
    before = {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()}
    serial_before = state_of(directory)["serial"]
    plan = run(directory, "plan", "--detailed-exitcode")
    assert "No changes." in plan.stdout
    apply = run(directory, "apply", "--auto-approve")
    assert "No changes." in apply.stdout
    assert state_of(directory)["serial"] == serial_before
    after = {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()}
    assert after == before


def test_ca_replacement_reissues_every_dependent(universal: Applied, tmp_path: Path) -> None:
    directory = universal.copy(tmp_path / "cfg")
    old_ca = tmp_path / "old-ca.crt"
    old_ca.write_text(attributes(directory, "ca.cp")["cert_pem"])
    old_fingerprints = {a: attributes(directory, a)["cert_fingerprint"] for a in UNIVERSAL_DIRS}
    old_api = attributes(directory, "control_plane.global")["api_cert_pem"]
    (directory / "main.hcl").write_text(UNIVERSAL.replace("meshprov test CA", "test CA v2"))

    actions = plan_actions(directory, tmp_path / "p.plan")
    assert actions["ca.cp"][0] in ("delete-create", "create-delete")
    for address in UNIVERSAL_DIRS:
        assert actions[address] == ("update", "update_because_ca_replaced"), address
    if "--json" in run(directory, "plan", "--help").output:  # Terraform's JSON plan
        doc = json.loads(run(directory, "plan", "--json").stdout)
        reasons = {c["address"]: c.get("action_reason") for c in doc["resource_changes"]}
        for address in UNIVERSAL_DIRS:
            assert reasons[address] == "update_because_ca_replaced", address
    plan = run(directory, "plan")
    assert "# ca.cp must be replaced" in plan.stdout
    assert plan.stdout.count("(because its CA is being replaced)") == len(UNIVERSAL_DIRS)
    assert "Plan: 1 to add, 5 to change, 1 to destroy." in plan.stdout

    run(directory, "apply", "--auto-approve")
    new_ca_pem = attributes(directory, "ca.cp")["cert_pem"]
    assert new_ca_pem != old_ca.read_text()
    for address in UNIVERSAL_DIRS:
        out = directory / UNIVERSAL_DIRS[address]
        state = attributes(directory, address)
        assert state["cert_fingerprint"] != old_fingerprints[address]
        assert (out / "tls/ca.crt").read_text() == new_ca_pem
        if (out / "tls/kds-ca.crt").exists():
            assert (out / "tls/kds-ca.crt").read_text() == new_ca_pem
        host = UNIVERSAL_HOSTS[address][0]
        assert_verifies(out / "tls/ca.crt", out / "tls/tls.crt", host)
        assert verify(old_ca, out / "tls/tls.crt", host).returncode != 0
        assert public_key_of_cert(out / "tls/tls.crt") == public_key_of_key(out / "tls/tls.key")
    global_out = directory / "out/control_plane.global"
    assert attributes(directory, "control_plane.global")["api_cert_pem"] != old_api
    assert_verifies(global_out / "tls/ca.crt", global_out / "tls/api.crt", "global.mesh.test")
    assert verify(old_ca, global_out / "tls/api.crt").returncode != 0
    # the zones trust the new CA for KDS: a real handshake with the new global certificate
    with tls_server(global_out / "tls/tls.crt", global_out / "tls/tls.key") as port:
        kds_ca = directory / "out/zone.eu_west/tls/kds-ca.crt"
        assert tls_client(port, kds_ca, "global.mesh.test").returncode == 0
        assert tls_client(port, old_ca, "global.mesh.test").returncode != 0
    run(directory, "plan", "--detailed-exitcode")


SEPARATE_CAS = """\
ca "kds" {
  common_name = "KDS CA"
}

ca "zones" {
  common_name = "zone CA"
}

control_plane "global" {
  ca        = ca.kds
  hostnames = ["global.mesh.test"]
  addresses = ["127.0.0.1"]
}

zone "eu" {
  ca        = ca.zones
  global    = control_plane.global
  hostnames = ["eu.mesh.test"]
}
"""


def test_replacing_the_global_ca_updates_the_zones_kds_ca(tmp_path: Path) -> None:
    """The zone's own certificate stays; its kds-ca.crt follows the global's new CA."""
    directory = write_config(tmp_path / "cfg", SEPARATE_CAS)
    run(directory, "apply", "--auto-approve")
    zone_out, global_out = directory / "out/zone.eu", directory / "out/control_plane.global"
    assert (zone_out / "tls/kds-ca.crt").read_text() == attributes(directory, "ca.kds")["chain_pem"]
    assert (zone_out / "tls/ca.crt").read_text() == attributes(directory, "ca.zones")["chain_pem"]
    with tls_server(global_out / "tls/tls.crt", global_out / "tls/tls.key") as port:
        assert tls_client(port, zone_out / "tls/kds-ca.crt", "global.mesh.test").returncode == 0
        # the zone's own CA is not what signs the global: it must not be trusted for KDS
        assert tls_client(port, zone_out / "tls/ca.crt", "global.mesh.test").returncode != 0

    zone_cert = attributes(directory, "zone.eu")["cert_pem"]
    (directory / "main.hcl").write_text(SEPARATE_CAS.replace('"KDS CA"', '"KDS CA v2"'))
    actions = plan_actions(directory, tmp_path / "p.plan")
    assert actions["control_plane.global"] == ("update", "update_because_ca_replaced")
    assert actions["zone.eu"][0] == "update"
    assert actions["ca.zones"][0] == "no-op"
    run(directory, "apply", "--auto-approve")
    assert attributes(directory, "zone.eu")["cert_pem"] == zone_cert
    new_kds_ca = attributes(directory, "ca.kds")["chain_pem"]
    assert (zone_out / "tls/kds-ca.crt").read_text() == new_kds_ca
    with tls_server(global_out / "tls/tls.crt", global_out / "tls/tls.key") as port:
        assert tls_client(port, zone_out / "tls/kds-ca.crt", "global.mesh.test").returncode == 0
    run(directory, "plan", "--detailed-exitcode")


def _as_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_expiry_plans_a_reissue(universal: Applied, tmp_path: Path) -> None:
    directory = universal.copy(tmp_path / "cfg")
    cp_ends = [_parse(attributes(directory, a)["cert_not_after"]) for a in UNIVERSAL_DIRS]
    ca_end = _parse(attributes(directory, "ca.cp")["not_after"])
    cp_window, ca_window = timedelta(hours=720), timedelta(hours=2160)

    # a day before the first certificate enters its renewal window: nothing to do
    early = _as_of(min(cp_ends) - cp_window - timedelta(days=1))
    run(directory, "plan", "--detailed-exitcode", "--as-of", early)

    # inside the control planes' window, not the CA's
    cp_time = _as_of(max(cp_ends) - cp_window + timedelta(hours=1))
    actions = plan_actions(directory, tmp_path / "cp.plan", "--as-of", cp_time)
    assert actions["ca.cp"][0] == "no-op"
    for address in UNIVERSAL_DIRS:
        action, reason = actions[address]
        assert reason == "replace_because_expiring", address
        assert action in ("create-delete", "delete-create")
    if "--json" in run(directory, "plan", "--help").output:  # Terraform's JSON plan
        doc = json.loads(run(directory, "plan", "--json", "--as-of", cp_time).stdout)
        reasons = {c["address"]: c.get("action_reason") for c in doc["resource_changes"]}
        for address in UNIVERSAL_DIRS:
            assert reasons[address] == "replace_because_expiring", address
    plan = run(directory, "plan", "--as-of", cp_time)
    assert plan.stdout.count("(because it is within renew_before of expiry)") == 5

    # inside the CA's window too
    ca_time = _as_of(ca_end - ca_window + timedelta(hours=1))
    actions = plan_actions(directory, tmp_path / "ca.plan", "--as-of", ca_time)
    assert actions["ca.cp"][1] == "replace_because_expiring"
    assert actions["ca.cp"][0] in ("create-delete", "delete-create")
    for address in UNIVERSAL_DIRS:
        assert actions[address][1] == "replace_because_expiring"

    # applying the renewal reissues the control planes' certificates under the same CA
    files_before = {a: files_under(directory / UNIVERSAL_DIRS[a]) for a in UNIVERSAL_DIRS}
    fingerprints = {a: attributes(directory, a)["cert_fingerprint"] for a in UNIVERSAL_DIRS}
    ca_id = attributes(directory, "ca.cp")["id"]
    run(directory, "apply", "--auto-approve", "--as-of", cp_time)
    assert attributes(directory, "ca.cp")["id"] == ca_id
    for address in UNIVERSAL_DIRS:
        out = directory / UNIVERSAL_DIRS[address]
        assert attributes(directory, address)["cert_fingerprint"] != fingerprints[address]
        assert files_under(out) == files_before[address]
        assert_verifies(out / "tls/ca.crt", out / "tls/tls.crt", UNIVERSAL_HOSTS[address][0])
        assert public_key_of_cert(out / "tls/tls.crt") == public_key_of_key(out / "tls/tls.key")
    run(directory, "plan", "--detailed-exitcode")


def _swap_key(path: Path) -> None:
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(other)


DRIFTS = {
    "deleted": ("zone.eu_west", "kumactl.sh", lambda p: p.unlink(), ["kumactl.sh was deleted"]),
    "edited": (
        "control_plane.global",
        "kuma-cp.env",
        lambda p: p.write_text(
            p.read_text().replace("HTTP_INTERFACE=127.0.0.1", "HTTP_INTERFACE=0.0.0.0")
        ),
        ["kuma-cp.env was modified"],
    ),
    "loosened": (
        "zone.lone",
        "tls/tls.key",
        lambda p: p.chmod(0o644),
        ["tls/tls.key has mode 0644, want 0600"],
    ),
    "swapped": (
        'zone.z["us"]',
        "tls/tls.key",
        _swap_key,
        ["tls/tls.key was modified", "tls/tls.key does not match the certificate in tls/tls.crt"],
    ),
    "deleted key": ("control_plane.global", "tls/api.key", lambda p: p.unlink(), []),
}


@pytest.mark.parametrize("kind", list(DRIFTS))
def test_drift_is_shown_and_repaired(universal: Applied, tmp_path: Path, kind: str) -> None:
    address, relative, damage, notes = DRIFTS[kind]
    notes = notes or [f"{relative} was deleted"]
    directory = universal.copy(tmp_path / "cfg")
    path = directory / UNIVERSAL_DIRS[address] / relative
    content, original_mode = path.read_bytes(), mode(path)
    fingerprint = attributes(directory, address)["cert_fingerprint"]
    damage(path)

    plan = run(directory, "plan", "--detailed-exitcode", code=2)
    drift, _, changes = plan.stdout.partition("meshprov will perform the following actions")
    assert "Objects have changed outside of meshprov" in drift
    assert f"# {address} has changed" in drift
    for note in notes:
        assert f"({note})" in drift, drift
    assert f"# {address} will be updated in-place" in changes
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in changes

    run(directory, "apply", "--auto-approve")
    assert path.read_bytes() == content
    assert mode(path) == original_mode
    # repaired from state: the certificate is not reissued
    assert attributes(directory, address)["cert_fingerprint"] == fingerprint
    run(directory, "plan", "--detailed-exitcode")


def _without_private(directory: Path) -> None:
    """The state as meshprov wrote it before it kept digests beside the attributes."""
    path = directory / "state/default.json"
    doc = json.loads(path.read_text())
    assert any("private" in r for r in doc["resources"])  # there was something to remove
    for resource in doc["resources"]:
        resource.pop("private", None)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize("kind", [None, *DRIFTS])
def test_a_state_without_digests_plans_the_same(
    universal: Applied, tmp_path: Path, kind: str | None
) -> None:
    """The plan that skips rendering (digests in state) and the one that renders every file
    (a state written before) find the same drift and plan the same changes; the next apply
    of a control plane records its digests again."""
    directory = universal.copy(tmp_path / "digests")
    if kind is not None:
        address, relative, damage, _ = DRIFTS[kind]
        damage(directory / UNIVERSAL_DIRS[address] / relative)
    plans = [run(directory, "plan", code=None).stdout]
    directory = shutil.copytree(directory, tmp_path / "without", symlinks=True)
    _without_private(directory)
    plans.append(run(directory, "plan", code=None).stdout)
    assert plans[0] == plans[1]
    if kind is None:
        assert "No changes." in plans[1]
        return
    run(directory, "apply", "--auto-approve")
    entry = next(r for r in state_of(directory)["resources"] if r["address"] == address)
    assert set(entry["private"]) == {"rendered", "verified"}
    run(directory, "plan", "--detailed-exitcode")


def test_replacing_control_planes(universal: Applied, tmp_path: Path) -> None:
    """Regression: a replacement is planned with every export unknown, and apply used the
    unknown dial_host (a traceback) and kds_port from the plan instead of deriving them."""
    directory = universal.copy(tmp_path / "cfg")
    before = {a: files_under(directory / UNIVERSAL_DIRS[a]) for a in UNIVERSAL_DIRS}
    fingerprints = {a: attributes(directory, a)["cert_fingerprint"] for a in UNIVERSAL_DIRS}
    old_env = read_env(directory / "out/control_plane.global/kuma-cp.env")
    replace = [arg for a in UNIVERSAL_DIRS for arg in ("--replace", a)]
    result = run(directory, "apply", "--auto-approve", *replace)
    assert "Resources: 5 added, 0 changed, 5 destroyed." in result.stdout
    for address in UNIVERSAL_DIRS:
        out = directory / UNIVERSAL_DIRS[address]
        state = attributes(directory, address)
        assert state["cert_fingerprint"] != fingerprints[address]
        assert state["dial_host"] == UNIVERSAL_HOSTS[address][0]
        assert files_under(out) == before[address]
        assert_verifies(out / "tls/ca.crt", out / "tls/tls.crt", UNIVERSAL_HOSTS[address][0])
    global_state = attributes(directory, "control_plane.global")
    assert global_state["kds_port"] == 5685
    assert global_state["kds_address"] == "grpcs://global.mesh.test:5685"
    assert read_env(directory / "out/control_plane.global/kuma-cp.env") == old_env
    eu_env = read_env(directory / "out/zone.eu_west/kuma-cp.env")
    assert eu_env["KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS"] == "grpcs://global.mesh.test:5685"
    assert attributes(directory, "zone.eu_west")["cp_url"] == "https://cp.eu-west.mesh.test:5678"
    run(directory, "plan", "--detailed-exitcode")


def test_destroy_removes_every_file(universal: Applied, tmp_path: Path) -> None:
    directory = universal.copy(tmp_path / "cfg")
    result = run(directory, "destroy", "--auto-approve")
    assert "Resources: 6 destroyed." in result.stdout
    for top in ("out", "hosts"):
        left = [p for p in (directory / top).rglob("*") if p.is_file()]
        assert left == [], left
    assert state_of(directory)["resources"] == []
    run(directory, "plan", "--detailed-exitcode", code=2)


def test_switching_to_kubernetes_removes_the_universal_files(
    universal: Applied, tmp_path: Path
) -> None:
    directory = universal.copy(tmp_path / "cfg")
    # the chart's Services fix the ports on kubernetes: lone's own ports go
    hcl = (
        UNIVERSAL.replace(
            '  work_dir        = "/opt/kong-mesh"',
            '  work_dir        = "/opt/kong-mesh"\n  environment     = "kubernetes"',
        )
        .replace("  dp_port         = 6678\n", "")
        .replace("  api_https_port  = 6682\n", "")
    )
    (directory / "main.hcl").write_text(hcl)
    run(directory, "apply", "--auto-approve")
    files = files_under(directory / "hosts/lone")
    assert {"secrets.yaml", "values.yaml"} <= set(files)
    for gone in ("tls/tls.key", "tls/tls.crt", "kuma-cp.env", "kuma-dp.env"):
        assert gone not in files
    run(directory, "plan", "--detailed-exitcode")


# === validation ==============================================================================

BASE = """\
ca "cp" {
  common_name = "CA"
}

control_plane "global" {
  ca        = ca.cp
  hostnames = ["global.mesh.test"]
}
"""


def zone(label: str, *lines: str, address: str = "10.0.0.1") -> str:
    body = "".join(f"  {line}\n" for line in lines)
    return f'\nzone "{label}" {{\n  ca        = ca.cp\n  addresses = ["{address}"]\n{body}}}\n'


def _block(diagnostics: str, severity: str, summary: str) -> str:
    """The text of the first diagnostic with this severity and summary."""
    parts = re.split(r"^(?=(?:Error|Warning): )", diagnostics, flags=re.M)
    for part in parts:
        if part.startswith(f"{severity}: {summary}\n"):
            return part
    raise AssertionError(f"no {severity}: {summary} in\n{diagnostics}")


def assert_diagnostic(result: Result, hcl: str, severity: str, summary: str) -> None:
    """The diagnostic is on stderr, pointing at the line marked ``# <-`` in ``hcl``."""
    (line,) = [n for n, text in enumerate(hcl.splitlines(), 1) if "# <-" in text]
    block = _block(result.stderr, severity, summary)
    assert re.search(rf"^  on (\S*/)?main\.hcl line {line}\b", block, re.M), block
    assert "Traceback" not in result.output


VALIDATION_ERRORS = {
    "zone name not an RFC 1035 label": (
        BASE + zone("eu", 'name = "EU_West" # <-'),
        'Invalid value for "name"',
    ),
    "zone name of 64 characters": (
        BASE + zone("eu", f'name = "{"a" * 64}" # <-'),
        'Invalid value for "name"',
    ),
    "zone name from a label that is not one": (
        BASE + '\nzone "Bad_Zone" { # <-\n  ca        = ca.cp\n  addresses = ["10.0.0.9"]\n}\n',
        "Invalid zone name",
    ),
    "duplicate zone names under one global": (
        BASE
        + zone("a", "global = control_plane.global", 'name = "eu"')
        + zone("b", "global = control_plane.global", 'name = "eu" # <-', address="10.0.0.2"),
        "Duplicate zone name",
    ),
    "duplicate default zone names under one global (for_each)": (
        BASE + '\nzone "z" { # <-\n  for_each  = toset(["10.0.0.1", "10.0.0.2"])\n'
        "  ca        = ca.cp\n  global    = control_plane.global\n  addresses = [each.key]\n}\n",
        "Duplicate zone name",
    ),
    "a zone's global is a zone": (
        BASE
        + zone("a", "global = control_plane.global")
        + zone("b", "global = zone.a # <-", address="10.0.0.2"),
        "Invalid reference",
    ),
    "a zone's global is a ca": (
        BASE + zone("a", "global = ca.cp # <-"),
        "Invalid reference",
    ),
    "a zone's ca is a control plane": (
        BASE + '\nzone "a" {\n  ca = control_plane.global # <-\n  addresses = ["10.0.0.1"]\n}\n',
        "Invalid reference",
    ),
    "bad tls_min_version": (
        BASE + zone("a", 'tls_min_version = "TLSv1_1" # <-'),
        "Invalid value",
    ),
    "bad dp_authn": (
        BASE + zone("a", 'dp_authn = "token" # <-'),
        "Invalid value",
    ),
    "bad zone_proxy_authn": (
        BASE + zone("a", 'zone_proxy_authn = "dpToken" # <-'),
        "Invalid value",
    ),
    "bad key_algorithm": (
        BASE + zone("a", 'key_algorithm = "RSA_1024" # <-'),
        "Invalid value",
    ),
    "dp_authn serviceAccountToken on universal": (
        BASE + zone("a", 'dp_authn = "serviceAccountToken" # <-'),
        "Authentication mode needs Kubernetes",
    ),
    "zone_proxy_authn serviceAccountToken on universal": (
        BASE + zone("a", 'zone_proxy_authn = "serviceAccountToken" # <-'),
        "Authentication mode needs Kubernetes",
    ),
    "two zones share an egress IP": (
        BASE
        + zone("a", 'egress_ips = ["198.51.100.7"]')
        + zone("b", 'egress_ips = ["198.51.100.7/32"] # <-', address="10.0.0.2"),
        "Zones share an egress IP",
    ),
    "a zone dials from another zone's address": (
        BASE + zone("a") + zone("b", 'egress_ips = ["10.0.0.1"] # <-', address="10.0.0.2"),
        "Zones share an egress IP",
    ),
    "no hostnames and no addresses": (
        BASE + '\nzone "a" { # <-\n  ca = ca.cp\n}\n',
        "Missing certificate names",
    ),
    "an egress IP that is not one": (
        BASE + zone("a", 'egress_ips = ["198.51.100.300"] # <-'),
        "Invalid egress IP",
    ),
    "an internationalised hostname not in its xn-- form": (
        BASE + zone("a", 'hostnames = ["bücher.mesh.test"] # <-'),
        "Invalid hostname",
    ),
    "a hostname with a space": (
        BASE + zone("a", 'hostnames = ["eu west.mesh.test"] # <-'),
        "Invalid hostname",
    ),
    "an IP address in hostnames": (
        BASE + zone("a", 'hostnames = ["10.0.0.7"] # <-'),
        "Invalid hostname",
    ),
    "a DNS name in addresses": (
        BASE + '\nzone "a" {\n  ca        = ca.cp\n  addresses = ["eu.mesh.test"] # <-\n}\n',
        "Invalid IP address",
    ),
    # kuma-cp listens on each of these ports: two listeners on one would stop it starting
    "a global's kds_port on the plain-HTTP API's port": (
        BASE.replace(
            '  hostnames = ["global.mesh.test"]\n',
            '  hostnames = ["g.mesh.test"]\n  kds_port = 5681 # <-\n',
        ),
        "Port already in use",
    ),
    "a zone's dp_port on MADS's port": (
        BASE + zone("a", "dp_port = 5676 # <-"),
        "Port already in use",
    ),
    "a zone's dp_port on its api_https_port": (
        BASE + zone("a", "api_https_port = 6000", "dp_port = 6000 # <-"),
        "Port already in use",
    ),
    "a global's api_https_port on its kds_port": (
        BASE.replace(
            '  hostnames = ["global.mesh.test"]\n',
            '  hostnames = ["g.mesh.test"]\n  api_https_port = 5685 # <-\n',
        ),
        "Port already in use",
    ),
    "a Kubernetes global's kds_port on the admission webhook's": (
        BASE.replace(
            '  hostnames = ["global.mesh.test"]\n',
            '  hostnames = ["g.mesh.test"]\n  environment = "kubernetes"\n  kds_port = 5443 # <-\n',
        ),
        "Port already in use",
    ),
}


@pytest.mark.parametrize("case", list(VALIDATION_ERRORS))
def test_validation_errors(tmp_path: Path, case: str) -> None:
    hcl, summary = VALIDATION_ERRORS[case]
    directory = write_config(tmp_path / "cfg", hcl)
    for command in ("validate", "plan"):
        result = run(directory, command, code=1)
        assert_diagnostic(result, hcl, "Error", summary)
    doc = json.loads(run(directory, "validate", "--json", code=1).stdout)
    assert doc["valid"] is False
    (line,) = [n for n, text in enumerate(hcl.splitlines(), 1) if "# <-" in text]
    assert any(
        d["severity"] == "error" and d["summary"] == summary and d["range"]["start"]["line"] == line
        for d in doc["diagnostics"]
    ), doc["diagnostics"]
    assert not (directory / "state/default.json").exists()
    assert not (directory / "out").exists()


VALIDATION_WARNINGS = {
    "plain HTTP API on every interface": (
        BASE.replace(
            '  hostnames = ["global.mesh.test"]\n',
            '  hostnames = ["global.mesh.test"]\n  api_http_interface = "0.0.0.0" # <-\n',
        ),
        "Plain HTTP API open on every interface",
    ),
    "dp_authn none": (BASE + zone("a", 'dp_authn = "none" # <-'), "Proxy authentication disabled"),
    "zone_proxy_authn none": (
        BASE + zone("a", 'zone_proxy_authn = "none" # <-'),
        "Proxy authentication disabled",
    ),
}


@pytest.mark.parametrize("case", list(VALIDATION_WARNINGS))
def test_validation_warnings(tmp_path: Path, case: str) -> None:
    hcl, summary = VALIDATION_WARNINGS[case]
    directory = write_config(tmp_path / "cfg", hcl)
    result = run(directory, "validate")
    assert "Success! The configuration is valid." in result.stdout
    assert_diagnostic(result, hcl, "Warning", summary)
    result = run(directory, "plan")
    assert_diagnostic(result, hcl, "Warning", summary)
    assert "Plan: " in result.stdout


def other_diagnostics(stderr: str) -> str:
    """``stderr`` without the memory-store warning of a Universal global with no store
    (BASE's: SPEC §1.5)."""
    parts = re.split(r"^(?=(?:Error|Warning): )", stderr, flags=re.M)
    return "".join(p for p in parts if not p.startswith("Warning: Policies kept in memory\n"))


def test_kubernetes_allows_service_account_tokens(tmp_path: Path) -> None:
    hcl = BASE + zone(
        "a",
        'environment = "kubernetes"',
        'dp_authn = "serviceAccountToken"',
        'zone_proxy_authn = "serviceAccountToken"',
    )
    directory = write_config(tmp_path / "cfg", hcl)
    result = run(directory, "validate")
    assert other_diagnostics(result.stderr) == ""


def test_validate_leaves_computed_defaults_unknown(tmp_path: Path) -> None:
    """Regression: validate evaluated an unset output_dir, zone name or egress_ips as null
    (plan computes them), so expressions using them failed in validate only."""
    hcl = (
        BASE
        + zone("eu_west", "global = control_plane.global")
        + """
output "files" {
  value = {
    global = "${control_plane.global.output_dir}/kuma-cp.env"
    zone   = "${zone.eu_west.output_dir}/kuma-cp.env"
    name   = upper(zone.eu_west.name)
    egress = length(zone.eu_west.egress_ips)
  }
}
"""
    )
    directory = write_config(tmp_path / "cfg", hcl)
    assert other_diagnostics(run(directory, "validate").stderr) == ""
    run(directory, "apply", "--auto-approve")
    outputs = json.loads(run(directory, "output", "--json").stdout)
    assert outputs["files"]["value"] == {
        "global": "out/control_plane.global/kuma-cp.env",
        "zone": "out/zone.eu_west/kuma-cp.env",
        "name": "EU-WEST",
        "egress": 1,
    }


def test_zone_names_are_unique_per_global_only(tmp_path: Path) -> None:
    """Regression: validate, where a global's exports are unknown, took zones of two globals
    for zones of one and reported their equal names as duplicates."""
    hcl = (
        BASE
        + '\ncontrol_plane "other" {\n  ca        = ca.cp\n  hostnames = ["other.mesh.test"]\n}\n'
        + zone("a", "global = control_plane.global", 'name = "eu"')
        + zone("b", "global = control_plane.other", 'name = "eu"', address="10.0.0.2")
        + zone("c", 'name = "eu"', address="10.0.0.3")
        + zone("d", 'name = "eu"', address="10.0.0.4")
    )
    directory = write_config(tmp_path / "cfg", hcl)
    assert other_diagnostics(run(directory, "validate").stderr) == ""
    assert "Plan: 7 to add" in run(directory, "plan").stdout


# === secrets never shown =====================================================================


def assert_no_private_key(text: str, what: str) -> None:
    assert PRIVATE not in text, what
    assert PRIVATE_B64 not in text, what
    assert not shows_a_token(text), what  # a JWT (Kong Mesh token)


def test_private_keys_are_never_shown(universal: Applied, tmp_path: Path) -> None:
    assert_no_private_key(universal.stdout + universal.stderr, "apply output")
    fresh = write_config(tmp_path / "fresh", UNIVERSAL)
    assert_no_private_key(run(fresh, "plan").output, "plan before apply")

    directory = universal.copy(tmp_path / "cfg")
    planfile = tmp_path / "renew.plan"
    as_of = _as_of(datetime.now(UTC) + timedelta(days=3650))
    outputs = {
        "plan --as-of": run(directory, "plan", "--as-of", as_of, "--out", str(planfile)).output,
        "plan file": planfile.read_text(),
        "show PLANFILE": run(directory, "show", str(planfile)).output,
        "show": run(directory, "show").output,
        "output": run(directory, "output").output,
        "output --json": run(directory, "output", "--json").output,
        "state list": run(directory, "state", "list").output,
    }
    assert mode(planfile) == 0o600
    for address in ["ca.cp", *UNIVERSAL_DIRS]:
        outputs[f"state show {address}"] = run(directory, "state", "show", address).output
    if "--json" in run(directory, "show", "--help").output:
        outputs["show --json"] = run(directory, "show", "--json").output
        outputs["show --json PLANFILE"] = run(directory, "show", "--json", str(planfile)).output
    if "--json" in run(directory, "plan", "--help").output:
        outputs["plan --json"] = run(directory, "plan", "--json").output
    outputs["apply --as-of"] = run(directory, "apply", "--auto-approve", "--as-of", as_of).output
    outputs["destroy"] = run(directory, "destroy", "--auto-approve").output
    for what, text in outputs.items():
        assert_no_private_key(text, what)
    # the show output really is the state, with the keys masked
    assert "(sensitive value)" in outputs["state show ca.cp"]


def test_key_files_and_state_are_private(universal: Applied, tmp_path: Path) -> None:
    keys = [p for p in universal.directory.rglob("*.key")]
    assert len(keys) == 6  # five control planes and the global's API key
    for key in keys:
        assert mode(key) == 0o600, key
        assert PRIVATE in key.read_text()
    state = universal.directory / "state/default.json"
    assert mode(state) == 0o600
    assert PRIVATE in state.read_text()  # the keys live in state: that is why it is 0600
    directory = universal.copy(tmp_path / "cfg")
    (directory / "main.hcl").write_text(
        UNIVERSAL.replace("dp_port         = 6678", "dp_port = 6679")
    )
    run(directory, "apply", "--auto-approve")
    for name in ("default.json", "default.json.backup"):
        assert mode(directory / "state" / name) == 0o600, name
