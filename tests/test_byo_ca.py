"""Bring your own CA (SPEC §1.3): a CA made by the organisation's PKI, here with the
``openssl`` command as an operator would, imported with ``certificate_pem``,
``private_key_pem`` and ``certificate_chain_pem``.

The control planes it signs are checked with ``openssl verify`` against the bundles apply
writes and against the organisation's root alone; every bad input is a diagnostic on its
attribute with the file and line, no traceback, and the state untouched; the CA is never
renewed by meshprov, only warned about; its private key appears in no plan output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.support.engine import Workspace, mode_of

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")

ROOT_CN = "Example Corp Root CA"
ISSUING_CN = "Example Corp Mesh Issuing CA"
CA_USAGE = "critical, keyCertSign, cRLSign"

CONFIG = """
ca "corp" {
  certificate_pem       = file("pki/issuing.crt")
  private_key_pem       = file("pki/issuing.key")
  certificate_chain_pem = file("pki/root.crt")
}

# a CA meshprov generates under the imported one
ca "zones" {
  common_name = "Mesh zone CA"
  parent      = ca.corp
}

control_plane "global" {
  ca        = ca.corp
  hostnames = ["global.mesh.example.com"]
}

zone "eu" {
  ca         = ca.zones
  global     = control_plane.global
  hostnames  = ["cp.eu.mesh.example.com"]
  egress_ips = ["198.51.100.10"]
}
"""
GLOBAL_TLS = Path("out/control_plane.global/tls")
ZONE_TLS = Path("out/zone.eu/tls")


def openssl(*args: str, cwd: Path) -> str:
    proc = subprocess.run(
        [OPENSSL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, f"openssl {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def make_root(pki: Path, name: str = "root", cn: str = ROOT_CN, digest: str = "-sha256") -> None:
    """A self-signed root, as ``openssl req -x509`` makes one, signing itself with ``digest``."""
    openssl(
        "req", "-x509", digest, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
        "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "3650",
        "-subj", f"/O=Example Corp/CN={cn}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", f"keyUsage={CA_USAGE}",
        cwd=pki,
    )  # fmt: skip


def make_signed(
    pki: Path,
    name: str,
    issuer: str = "root",
    cn: str = ISSUING_CN,
    days: int = 1825,
    constraints: str = "critical, CA:TRUE, pathlen:1",
    usage: str = CA_USAGE,
    key: str | None = None,
    key_id: str = "hash",
    algorithm: tuple[str, ...] = ("EC", "-pkeyopt", "ec_paramgen_curve:P-256"),
    digest: str = "-sha256",
) -> None:
    """A certificate signed by ``issuer`` with ``openssl x509 -req`` (``days`` 0: expired at
    once); ``key`` reuses an existing key, as a PKI re-issuing a CA may; ``key_id`` is its
    subjectKeyIdentifier (hex: one its PKI chose, not a hash of the key); ``algorithm`` its
    key's (``openssl genpkey -algorithm``), ``digest`` the one its issuer signs with."""
    (pki / f"{name}.ext").write_text(
        f"basicConstraints = {constraints}\nkeyUsage = {usage}\n"
        f"subjectKeyIdentifier = {key_id}\nauthorityKeyIdentifier = keyid:always\n"
    )
    if key is None:
        openssl("genpkey", "-algorithm", *algorithm, "-out", f"{name}.key", cwd=pki)
    else:
        shutil.copy(pki / f"{key}.key", pki / f"{name}.key")
    openssl("req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/O=Example Corp/CN={cn}", cwd=pki)  # fmt: skip
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.crt", "-CAkey", f"{issuer}.key",
        "-CAcreateserial", "-out", f"{name}.crt", "-days", str(days), digest,
        "-extfile", f"{name}.ext",
        cwd=pki,
    )  # fmt: skip


@pytest.fixture(scope="module")
def corp_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The organisation's PKI: a root and the issuing CA it signed, and some bad specimens."""
    pki = tmp_path_factory.mktemp("corp-pki")
    make_root(pki)
    make_signed(pki, "issuing")
    make_root(pki, "other-root", "Another Root CA")
    make_signed(pki, "leaf", cn="not a CA", constraints="critical, CA:FALSE",
                usage="critical, digitalSignature")  # fmt: skip
    make_signed(pki, "no-certsign", cn="CA without keyCertSign", usage="critical, cRLSign")
    make_signed(pki, "expired", cn="Expired CA", days=0)
    make_signed(pki, "short", cn="Short-lived CA", days=30)
    make_signed(
        pki, "pathlen0", cn="Issuing CA pathlen 0", constraints="critical, CA:TRUE, pathlen:0"
    )
    make_signed(pki, "reissued", cn=ISSUING_CN, key="issuing")  # same key, a new certificate
    # a key identifier not computed as meshprov does (RFC 7093's truncated SHA-256, as Go 1.25
    # writes, or any value a PKI chose)
    make_signed(pki, "own-key-id", cn="Issuing CA with its own key id", key_id="C0FFEE" * 8)
    rsa1024 = ("RSA", "-pkeyopt", "rsa_keygen_bits:1024")
    make_signed(pki, "rsa1024", cn="RSA-1024 CA", algorithm=rsa1024)
    make_signed(pki, "sha1", cn="SHA-1 signed CA", digest="-sha1")
    # the root renewed with its key and name but another key identifier than the one its
    # issuing CA names
    openssl(
        "req", "-x509", "-new", "-key", "root.key", "-out", "root-other-key-id.crt",
        "-days", "3650", "-subj", f"/O=Example Corp/CN={ROOT_CN}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", f"keyUsage={CA_USAGE}",
        "-addext", "subjectKeyIdentifier=C0FFEEC0FFEE", "-addext", "authorityKeyIdentifier=none",
        cwd=pki,
    )  # fmt: skip
    openssl("pkey", "-in", "issuing.key", "-out", "issuing-encrypted.key",
            "-aes256", "-passout", "pass:secret", cwd=pki)  # fmt: skip
    return pki


def workspace(directory: Path, corp_pki: Path, hcl: str = CONFIG) -> Workspace:
    ws = Workspace(directory)
    shutil.copytree(corp_pki, directory / "pki")
    ws.write(hcl)
    return ws


def key_lines(path: Path) -> list[str]:
    """The base64 lines of a private key PEM: what must never be printed."""
    return [line for line in path.read_text().splitlines() if not line.startswith("-----")]


def certificate_subjects(pem: str, cwd: Path) -> list[str]:
    found = []
    for block in pem.split("-----END CERTIFICATE-----")[:-1]:
        one = block[block.index("-----BEGIN") :] + "-----END CERTIFICATE-----\n"
        (cwd / "one.pem").write_text(one)
        found.append(openssl("x509", "-in", "one.pem", "-noout", "-subject", cwd=cwd).strip())
    return found


def verify_with(cwd: Path, ca_file: Path, cert: Path, *extra: str) -> str:
    return openssl("verify", "-CAfile", str(ca_file), *extra, str(cert), cwd=cwd)


# --- the happy path ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory, corp_pki: Path) -> Workspace:
    ws = workspace(tmp_path_factory.mktemp("byo") / "config", corp_pki)
    ws.run("apply", "--auto-approve", "--no-color")
    return ws


def test_control_planes_under_an_imported_ca_verify_up_to_the_organisations_root(
    applied: Workspace,
) -> None:
    d = applied.dir
    # the bundles the control planes' clients hold: the issuing chain up to the root
    assert certificate_subjects((d / GLOBAL_TLS / "ca.crt").read_text(), d) == [
        f"subject=O = Example Corp, CN = {ISSUING_CN}",
        f"subject=O = Example Corp, CN = {ROOT_CN}",
    ]
    assert certificate_subjects((d / ZONE_TLS / "ca.crt").read_text(), d) == [
        "subject=CN = Mesh zone CA",
        f"subject=O = Example Corp, CN = {ISSUING_CN}",
        f"subject=O = Example Corp, CN = {ROOT_CN}",
    ]
    for tls in (GLOBAL_TLS, ZONE_TLS):
        assert "OK" in verify_with(d, d / tls / "ca.crt", d / tls / "tls.crt")
        # a client that trusts only the organisation's root accepts the chain the CP serves
        chain = d / tls / "tls.crt"
        assert "OK" in verify_with(d, d / "pki" / "root.crt", chain, "-untrusted", str(chain))
    # the zone verifies the global's KDS certificate with the bundle it was given
    assert "OK" in verify_with(d, d / ZONE_TLS / "kds-ca.crt", d / GLOBAL_TLS / "tls.crt")

    text = openssl("x509", "-in", str(d / ZONE_TLS / ".." / "tls" / "tls.crt"), "-noout",
                   "-issuer", cwd=d)  # fmt: skip
    assert "Mesh zone CA" in text
    verified = applied.run("verify", "--json")
    assert json.loads(verified.stdout)["ok"] is True


def test_the_imported_ca_is_kept_in_state_like_a_generated_one(
    applied: Workspace, corp_pki: Path
) -> None:
    corp = applied.resources()["ca.corp"]
    attributes = corp["attributes"]
    issuing = (corp_pki / "issuing.crt").read_text()
    root = (corp_pki / "root.crt").read_text()
    assert attributes["cert_pem"] == issuing
    assert attributes["chain_pem"] == issuing + root
    assert "private_key_pem" in corp["sensitive_attributes"]
    assert key_lines(corp_pki / "issuing.key")[0] in attributes["private_key_pem"]
    expected_id = openssl("x509", "-in", "issuing.crt", "-noout", "-fingerprint", "-sha256",
                          cwd=corp_pki)  # fmt: skip
    assert attributes["id"] == expected_id.split("=", 1)[1].strip().replace(":", "").lower()
    serial = openssl("x509", "-in", "issuing.crt", "-noout", "-serial", cwd=corp_pki)
    assert attributes["serial_number"] == format(int(serial.split("=", 1)[1], 16), "x")
    # the generation arguments do not apply to it
    assert attributes["key_algorithm"] is None and attributes["validity"] is None
    assert mode_of(applied.state_path) == 0o600

    again = applied.run("plan", "--no-color", "--detailed-exitcode")
    assert "No changes." in again.stdout


def test_the_private_key_never_reaches_a_plan_output(
    tmp_path: Path, corp_pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace(tmp_path / "config", corp_pki)
    markdown = tmp_path / "plan.md"
    log = tmp_path / "meshprov.log"
    monkeypatch.setenv("MESHPROV_LOG", "debug")
    monkeypatch.setenv("MESHPROV_LOG_PATH", str(log))
    planfile = tmp_path / "plan.bin"
    terminal = ws.run("plan", "--no-color", "--markdown", str(markdown), "--out", str(planfile))
    as_json = ws.run("plan", "--json")
    shown = ws.run("show", str(planfile), "--no-color")
    outputs = [terminal.output, as_json.output, shown.output, markdown.read_text()]
    outputs.append(planfile.read_text())
    outputs.append(ws.sub("apply", "--auto-approve", "--no-color").output)  # logs as a process
    outputs.append(log.read_text())
    assert "ca.corp" in outputs[-1]
    for line in key_lines(corp_pki / "issuing.key"):
        for text in outputs:
            assert line not in text

    doc = json.loads(as_json.stdout)
    corp = next(c for c in doc["resource_changes"] if c["address"] == "ca.corp")
    assert corp["change"]["actions"] == ["create"]
    assert corp["change"]["after_sensitive"]["private_key_pem"] is True
    assert corp["change"]["after"]["private_key_pem"] is None  # as Terraform hides it
    # everything else is known at plan: it comes from the arguments
    assert corp["change"]["after"]["cert_pem"] == (corp_pki / "issuing.crt").read_text()
    assert "ca.corp: CA imported; expires about" in terminal.stdout
    assert "`ca.corp` **imported**" in markdown.read_text()


# --- what changes ------------------------------------------------------------------------


def test_a_new_imported_certificate_replaces_the_ca_and_reissues_what_it_signed(
    tmp_path: Path, corp_pki: Path
) -> None:
    ws = workspace(tmp_path / "config", corp_pki)
    ws.run("apply", "--auto-approve", "--no-color")
    before = ws.resources()
    ws.write(CONFIG.replace("pki/issuing.crt", "pki/reissued.crt"))

    plan = ws.run("plan", "--no-color").stdout
    assert "# ca.corp must be replaced" in plan
    assert "# forces replacement" in plan
    assert "ca.corp: CA replaced (certificate_pem changed), reissuing 3 certificates" in plan

    ws.run("apply", "--auto-approve", "--no-color")
    after = ws.resources()
    assert after["ca.corp"]["attributes"]["cert_pem"] == (corp_pki / "reissued.crt").read_text()
    for address in ("control_plane.global", "zone.eu"):
        old, new = before[address]["attributes"], after[address]["attributes"]
        assert old["cert_fingerprint"] != new["cert_fingerprint"]
    d = ws.dir
    assert "OK" in verify_with(d, d / ZONE_TLS / "ca.crt", d / ZONE_TLS / "tls.crt")


def test_a_chain_given_later_updates_the_bundles_without_reissuing(
    tmp_path: Path, corp_pki: Path
) -> None:
    without_chain = CONFIG.replace('  certificate_chain_pem = file("pki/root.crt")\n', "")
    ws = workspace(tmp_path / "config", corp_pki, without_chain)
    warned = ws.run("validate", "--no-color")
    assert "Warning: Imported CA without its root" in warned.output
    assert "main.hcl line 2" in warned.output
    ws.run("apply", "--auto-approve", "--no-color")
    # the issuing CA alone, without its root: refresh does not take it for tampering
    assert "No changes." in ws.run("plan", "--no-color").stdout
    d = ws.dir
    bundle = d / GLOBAL_TLS / "ca.crt"
    assert len(certificate_subjects(bundle.read_text(), d)) == 1
    before = ws.resources()["control_plane.global"]["attributes"]["cert_fingerprint"]

    ws.write(CONFIG)
    plan = ws.run("plan", "--no-color").stdout
    assert "# ca.corp will be updated in-place" in plan
    assert "must be replaced" not in plan
    assert "ca.corp: CA given a new chain" in plan
    ws.run("apply", "--auto-approve", "--no-color")
    assert ws.resources()["control_plane.global"]["attributes"]["cert_fingerprint"] == before
    assert len(certificate_subjects(bundle.read_text(), d)) == 2
    assert "OK" in verify_with(d, bundle, d / GLOBAL_TLS / "tls.crt")


def test_an_imported_ca_is_never_renewed_only_warned_about(tmp_path: Path, corp_pki: Path) -> None:
    ws = workspace(tmp_path / "config", corp_pki, CONFIG.replace("issuing.crt", "short.crt")
                   .replace("issuing.key", "short.key"))  # fmt: skip
    plan = ws.run("plan", "--no-color")
    # 30 days left, within the default renew_before of 2160h
    assert "Warning: Imported CA expires soon" in plan.output
    assert "meshprov does not renew a CA it imported" in plan.output
    doc = json.loads(ws.run("plan", "--json").stdout)
    assert any(w.startswith("Imported CA expires soon") for w in doc["meshprov_warnings"])
    ws.run("apply", "--auto-approve", "--no-color")

    later = (datetime.now(UTC) + timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    plan = ws.run("plan", "--no-color", "--as-of", later)
    assert "Imported CA expires soon" in plan.output
    assert "ca.corp must be replaced" not in plan.stdout
    assert "No changes." in plan.stdout

    state = ws.state_bytes()
    expired = (datetime.now(UTC) + timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
    failed = ws.run("plan", "--no-color", "--as-of", expired, code=1)
    assert 'Error: Invalid value for "certificate_pem"' in failed.output
    assert "CN=Short-lived CA,O=Example Corp expired at" in failed.output
    assert ws.state_bytes() == state


def test_a_damaged_imported_ca_in_state_is_restored_from_its_arguments(
    tmp_path: Path, corp_pki: Path
) -> None:
    ws = workspace(tmp_path / "config", corp_pki)
    ws.run("apply", "--auto-approve", "--no-color")
    doc = ws.state()
    corp = next(r for r in doc["resources"] if r["address"] == "ca.corp")
    corp["attributes"]["private_key_pem"] = (corp_pki / "other-root.key").read_text()
    ws.state_path.write_text(json.dumps(doc))
    plan = ws.run("plan", "--no-color").stdout
    assert "the private key in state does not match its certificate" in plan
    assert "# ca.corp will be updated in-place" in plan
    ws.run("apply", "--auto-approve", "--no-color")
    restored = ws.resources()["ca.corp"]["attributes"]["private_key_pem"]
    assert key_lines(corp_pki / "issuing.key")[0] in restored
    assert "No changes." in ws.run("plan", "--no-color").stdout


# --- bad inputs --------------------------------------------------------------------------

BAD_INPUTS = {
    "not a CA": (
        {"pki/issuing.crt": "pki/leaf.crt", "pki/issuing.key": "pki/leaf.key"},
        2,
        'Invalid value for "certificate_pem"',
        "the certificate CN=not a CA,O=Example Corp is not a CA certificate (basicConstraints "
        "CA:TRUE is missing)",
    ),
    "no keyCertSign": (
        {"pki/issuing.crt": "pki/no-certsign.crt", "pki/issuing.key": "pki/no-certsign.key"},
        2,
        'Invalid value for "certificate_pem"',
        "keyUsage keyCertSign is missing",
    ),
    "weak key": (
        {"pki/issuing.crt": "pki/rsa1024.crt", "pki/issuing.key": "pki/rsa1024.key"},
        2,
        'Invalid value for "certificate_pem"',
        "the certificate CN=RSA-1024 CA,O=Example Corp has a 1024-bit RSA key, too weak",
    ),
    "SHA-1 signature": (
        {"pki/issuing.crt": "pki/sha1.crt", "pki/issuing.key": "pki/sha1.key"},
        2,
        'Invalid value for "certificate_pem"',
        "the certificate CN=SHA-1 signed CA,O=Example Corp is signed with SHA1, which Go's "
        "crypto/x509 refuses",
    ),
    "mismatched key": (
        {"pki/issuing.key": "pki/other-root.key"},
        3,
        'Invalid value for "private_key_pem"',
        f"the key does not match the certificate (CN={ISSUING_CN},O=Example Corp)",
    ),
    "encrypted key": (
        {"pki/issuing.key": "pki/issuing-encrypted.key"},
        3,
        'Invalid value for "private_key_pem"',
        "the key is encrypted",
    ),
    "expired": (
        {"pki/issuing.crt": "pki/expired.crt", "pki/issuing.key": "pki/expired.key"},
        2,
        'Invalid value for "certificate_pem"',
        "CN=Expired CA,O=Example Corp expired at",
    ),
    "garbage PEM": (
        {
            'file("pki/issuing.crt")': '"-----BEGIN CERTIFICATE-----\\nbm90IGEgY2VydA==\\n'
            '-----END CERTIFICATE-----\\n"'
        },
        2,
        'Invalid value for "certificate_pem"',
        "is not valid PEM: a certificate cannot be read",
    ),
    "no PEM at all": (
        {'file("pki/issuing.crt")': '"issuing.crt"'},
        2,
        'Invalid value for "certificate_pem"',
        "holds no PEM certificate",
    ),
    "chain that did not sign it": (
        {"pki/root.crt": "pki/other-root.crt"},
        4,
        'Invalid value for "certificate_chain_pem"',
        f"CN=Another Root CA,O=Example Corp did not sign CN={ISSUING_CN},O=Example Corp",
    ),
    "chain naming another key identifier": (
        {"pki/root.crt": "pki/root-other-key-id.crt"},
        4,
        'Invalid value for "certificate_chain_pem"',
        f"CN={ISSUING_CN},O=Example Corp names its issuer's key identifier",
    ),
    "control character": (
        {'file("pki/issuing.crt")': '"-----BEGIN CERTIFICATE-----\\u0007\\n"'},
        2,
        'Invalid value for "certificate_pem"',
        "control character U+0007",
    ),
    "generation arguments": (
        {'ca "corp" {\n': 'ca "corp" {\n  common_name = "Corp"\n  key_algorithm = "RSA_2048"\n'},
        2,
        "Argument conflicts with an imported CA",
        '"common_name" cannot be set',
    ),
    "parent": (
        {'ca "corp" {\n': 'ca "corp" {\n  parent = ca.other\n'},
        2,
        "Argument conflicts with an imported CA",
        "parent cannot be set",
    ),
    "pathlen 0 parent": (
        {"pki/issuing.crt": "pki/pathlen0.crt", "pki/issuing.key": "pki/pathlen0.key"},
        10,
        "Intermediate CA under an intermediate",
        "ca.corp, which imports a certificate with pathlen 0",
    ),
    "key without certificate": (
        {'ca "zones" {\n': 'ca "zones" {\n  private_key_pem = file("pki/root.key")\n'},
        9,
        "Argument needs certificate_pem",
        "sets private_key_pem, which only an imported CA takes",
    ),
}
OTHER_CA = '\nca "other" {\n  common_name = "Other"\n}\n'


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_imports_are_diagnosed_on_their_attribute_and_leave_state_untouched(
    case: str, applied: Workspace, tmp_path: Path
) -> None:
    replacements, line, summary, detail = BAD_INPUTS[case]
    directory = tmp_path / "config"
    shutil.copytree(applied.dir, directory)
    ws = Workspace(directory)
    hcl = CONFIG
    for old, new in replacements.items():
        assert old in hcl
        hcl = hcl.replace(old, new)
    ws.write(hcl + OTHER_CA)
    state = ws.state_bytes()
    for command in (("validate",), ("plan",), ("apply", "--auto-approve")):
        result = ws.run(*command, "--no-color", code=1)
        assert f"Error: {summary}" in result.output, result.output
        assert detail in result.output.replace("\n", " "), result.output
        assert f"main.hcl line {line}" in result.output, result.output
        assert ws.state_bytes() == state
    as_json = json.loads(ws.run("validate", "--json", code=1).stdout)
    found = [d for d in as_json["diagnostics"] if d["summary"] == summary]
    assert found and found[0]["range"]["filename"].endswith("main.hcl")
    assert found[0]["range"]["start"]["line"] == line


def test_a_windows_pem_file_imports(tmp_path: Path, corp_pki: Path) -> None:
    ws = workspace(tmp_path / "config", corp_pki)
    for name in ("issuing.crt", "issuing.key", "root.crt"):
        path = ws.dir / "pki" / name
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert "Success!" in ws.run("validate", "--no-color").stdout


def test_an_imported_root_signs_control_planes_directly(tmp_path: Path, corp_pki: Path) -> None:
    ws = workspace(
        tmp_path / "config",
        corp_pki,
        """
        ca "corp_root" {
          certificate_pem = file("pki/root.crt")
          private_key_pem = file("pki/root.key")
        }
        zone "eu" {
          ca        = ca.corp_root
          hostnames = ["cp.eu.mesh.example.com"]
        }
        """,
    )
    result = ws.run("apply", "--auto-approve", "--no-color")
    assert "Warning" not in result.output  # a root needs no chain
    d = ws.dir
    assert (d / ZONE_TLS / "ca.crt").read_text() == (corp_pki / "root.crt").read_text()
    assert "OK" in verify_with(d, d / "pki" / "root.crt", d / ZONE_TLS / "tls.crt")


def test_a_root_that_signed_itself_with_sha1_is_a_root(tmp_path: Path, corp_pki: Path) -> None:
    """A trust anchor's signature on itself is never checked by TLS clients, so an old root
    signed with SHA-1 is the end of the chain, not a missing root."""
    pki = tmp_path / "old-pki"
    pki.mkdir()
    make_root(pki, "old-root", "Old SHA-1 Root CA", digest="-sha1")
    assert "ecdsa-with-SHA1" in openssl("x509", "-in", "old-root.crt", "-noout", "-text", cwd=pki)
    make_signed(pki, "old-issuing", issuer="old-root", cn="Issuing CA under the old root")
    ws = workspace(
        tmp_path / "config",
        pki,
        """
        ca "corp" {
          certificate_pem       = file("pki/old-issuing.crt")
          private_key_pem       = file("pki/old-issuing.key")
          certificate_chain_pem = file("pki/old-root.crt")
        }
        zone "eu" {
          ca        = ca.corp
          hostnames = ["cp.eu.mesh.example.com"]
        }
        """,
    )
    assert "Warning" not in ws.run("validate", "--no-color").output
    assert "Warning" not in ws.run("apply", "--auto-approve", "--no-color").output
    d = ws.dir
    assert certificate_subjects((d / ZONE_TLS / "ca.crt").read_text(), d) == [
        "subject=O = Example Corp, CN = Issuing CA under the old root",
        "subject=O = Example Corp, CN = Old SHA-1 Root CA",
    ]
    chain = d / ZONE_TLS / "tls.crt"
    assert "OK" in verify_with(d, d / "pki" / "old-root.crt", chain, "-untrusted", str(chain))


def test_a_last_certificate_named_as_its_issuer_but_signed_by_another_key_is_no_root(
    tmp_path: Path, corp_pki: Path
) -> None:
    """A root's name on a certificate another key signed (a key rollover's link certificate)
    is not the root: its authorityKeyIdentifier names the other key."""
    pki = tmp_path / "pki"
    shutil.copytree(corp_pki, pki)
    make_signed(pki, "link", issuer="root", cn=ROOT_CN)
    make_signed(pki, "link-issuing", issuer="link", cn="Issuing CA under the link")
    ws = Workspace(tmp_path / "config")
    shutil.copytree(pki, ws.dir / "pki")
    ws.write(
        'ca "corp" {\n  certificate_pem = file("pki/link-issuing.crt")\n'
        '  private_key_pem = file("pki/link-issuing.key")\n'
        '  certificate_chain_pem = file("pki/link.crt")\n}\n'
    )
    warned = ws.run("validate", "--no-color").output
    assert "Warning: Imported CA without its root" in warned
    assert ROOT_CN in warned


def test_an_intermediate_under_an_imported_ca_signs_no_ca(tmp_path: Path, corp_pki: Path) -> None:
    """Regression: an intermediate meshprov generated under an imported CA without a path
    length (as ``openssl req -x509`` makes roots) had none either, so its key, which meshprov
    keeps in state, could mint CAs the organisation's root vouches for. meshprov builds no
    CA under an intermediate: it gets pathlen 0, whatever its parent allows."""
    ws = workspace(
        tmp_path / "config",
        corp_pki,
        """
        ca "corp_root" {
          certificate_pem = file("pki/root.crt")
          private_key_pem = file("pki/root.key")
        }
        ca "mesh" {
          common_name = "Mesh CA"
          parent      = ca.corp_root
        }
        zone "eu" {
          ca        = ca.mesh
          hostnames = ["cp.eu.mesh.example.com"]
        }
        """,
    )
    ws.run("apply", "--auto-approve", "--no-color")
    d = ws.dir
    root = openssl("x509", "-in", "pki/root.crt", "-noout", "-ext", "basicConstraints", cwd=d)
    assert "pathlen" not in root
    (d / "mesh.crt").write_text(ws.resources()["ca.mesh"]["attributes"]["cert_pem"])
    mesh = openssl("x509", "-in", "mesh.crt", "-noout", "-ext", "basicConstraints", cwd=d)
    assert "critical" in mesh and "CA:TRUE, pathlen:0" in mesh
    chain = str(d / ZONE_TLS / "tls.crt")
    verify_with(d, d / "pki" / "root.crt", d / ZONE_TLS / "tls.crt", "-untrusted", chain,
                "-x509_strict", "-purpose", "sslserver")  # fmt: skip


def test_what_a_ca_with_its_own_key_identifier_signs_verifies(
    tmp_path: Path, corp_pki: Path
) -> None:
    """Regression: the authorityKeyIdentifier of what meshprov signed was a hash of the CA's
    key, not the CA's subjectKeyIdentifier. OpenSSL and BoringSSL (Envoy) pass over an issuer
    whose key identifier differs, so under a CA whose PKI computes it otherwise no client
    found the issuer: every control plane and intermediate was rejected."""
    ws = workspace(
        tmp_path / "config",
        corp_pki,
        CONFIG.replace("pki/issuing.", "pki/own-key-id."),
    )
    ws.run("apply", "--auto-approve", "--no-color")
    d = ws.dir
    for tls, host in (
        (GLOBAL_TLS, "global.mesh.example.com"),
        (ZONE_TLS, "cp.eu.mesh.example.com"),
    ):
        chain = d / tls / "tls.crt"
        for trusted in (d / tls / "ca.crt", d / "pki" / "root.crt"):
            verify_with(d, trusted, chain, "-untrusted", str(chain), "-x509_strict",
                        "-purpose", "sslserver", "-verify_hostname", host)  # fmt: skip
    issued = openssl("x509", "-in", str(d / GLOBAL_TLS / "tls.crt"), "-noout", "-ext",
                     "authorityKeyIdentifier", cwd=d)  # fmt: skip
    assert "C0:FF:EE:C0:FF:EE" in issued


def test_a_root_renewed_with_its_key_is_no_trust_break(tmp_path: Path, corp_pki: Path) -> None:
    """The PKI renews its root: a new certificate, the same name and key. What it signs verifies
    with the root certificate clients already hold, so the plan warns of no trust break."""
    hcl = """
        ca "corp_root" {
          certificate_pem = file("pki/ROOT.crt")
          private_key_pem = file("pki/root.key")
        }
        zone "eu" {
          ca        = ca.corp_root
          hostnames = ["cp.eu.mesh.example.com"]
        }
        """
    ws = workspace(tmp_path / "config", corp_pki, hcl.replace("ROOT", "root"))
    d = ws.dir
    openssl(
        "req", "-x509", "-new", "-key", "root.key", "-out", "renewed.crt", "-days", "7300",
        "-subj", f"/O=Example Corp/CN={ROOT_CN}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", f"keyUsage={CA_USAGE}",
        cwd=d / "pki",
    )  # fmt: skip
    ws.run("apply", "--auto-approve", "--no-color")
    held = d / "held-ca.crt"
    shutil.copy(d / ZONE_TLS / "ca.crt", held)

    ws.write(hcl.replace("ROOT", "renewed"))
    plan = ws.run("plan", "--no-color").stdout
    assert "ca.corp_root: CA replaced (certificate_pem changed), reissuing 1 certificate" in plan
    assert "trust break" not in plan
    ws.run("apply", "--auto-approve", "--no-color")
    assert (d / ZONE_TLS / "ca.crt").read_text() == (d / "pki" / "renewed.crt").read_text()
    tls = str(d / ZONE_TLS / "tls.crt")
    assert "OK" in verify_with(d, held, d / ZONE_TLS / "tls.crt", "-untrusted", tls)


def test_null_generation_arguments_count_as_left_out(tmp_path: Path, corp_pki: Path) -> None:
    """As in Terraform, an argument set to null is the same as one left out: a module that
    passes its optional inputs through (null by default) can import a CA."""
    ws = workspace(
        tmp_path / "config",
        corp_pki,
        """
        module "pki" {
          source          = "./pki_module"
          certificate_pem = file("pki/root.crt")
          private_key_pem = file("pki/root.key")
        }
        """,
    )
    (ws.dir / "pki_module").mkdir()
    ws.write(
        """
        variable "certificate_pem" { default = null }
        variable "private_key_pem" {
          default   = null
          sensitive = true
        }
        variable "common_name" { default = null }
        variable "key_algorithm" { default = null }
        ca "this" {
          certificate_pem = var.certificate_pem
          private_key_pem = var.private_key_pem
          common_name     = var.common_name
          key_algorithm   = var.key_algorithm
        }
        """,
        name="pki_module/main.hcl",
    )
    result = ws.run("validate", "--no-color")
    assert "Success!" in result.stdout, result.output
    # the same module given a name but no certificate generates one; given both, it refuses
    ws.write(
        """
        module "pki" {
          source          = "./pki_module"
          certificate_pem = file("pki/root.crt")
          private_key_pem = file("pki/root.key")
          common_name     = "Generated"
        }
        """
    )
    result = ws.run("validate", "--no-color", code=1)
    assert "Argument conflicts with an imported CA" in result.output
    assert 'so "common_name" cannot be set' in result.output
