"""A hand-edited state never yields certificates that do not chain, nor a traceback.

Refresh checks each key in state against its certificate and each certificate against its CA;
what is wrong is drift with its reason, and the plan replaces the CA or reissues the
certificate. Issuance itself refuses a CA whose key is not its certificate's.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime

from tests.support.engine import Workspace

from meshprov import pki

CONFIG = """
ca "cp" {
  common_name = "Mesh CA"
}

zone "eu" {
  ca        = ca.cp
  hostnames = [var.host]
  addresses = ["10.0.0.2"]
}

variable "host" {
  default = "cp.eu.example.com"
}
"""


def _applied(tmp_path) -> Workspace:
    ws = Workspace(tmp_path)
    ws.write(CONFIG)
    ws.run("apply", "--auto-approve", "--no-color")
    return ws


def _edit(ws: Workspace, address: str, **attributes) -> None:
    doc = json.loads(ws.state_path.read_text())
    (resource,) = [r for r in doc["resources"] if r["address"] == address]
    resource["attributes"].update(attributes)
    ws.state_path.write_text(json.dumps(doc))


def _other_key() -> str:
    return pki.key_to_pem(pki.generate_key("ECDSA_P256"))


def _chains(ws: Workspace) -> None:
    out = ws.dir / "out" / "zone.eu"
    done = subprocess.run(
        ["openssl", "verify", "-CAfile", out / "tls/ca.crt", out / "tls/tls.crt"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    attrs = ws.resources()
    for address in ("ca.cp", "zone.eu"):
        a = attrs[address]["attributes"]
        assert (
            pki.stored_pair_problems(
                a["cert_pem"], a["private_key_pem"], a.get("ca_bundle_pem") or a["cert_pem"]
            )
            == []
        )


def test_a_swapped_ca_key_is_drift_and_the_ca_is_replaced(tmp_path):
    """The issue's repro: with another valid key in state, plan said "No changes" and apply
    issued a certificate that did not chain."""
    ws = _applied(tmp_path)
    _edit(ws, "ca.cp", private_key_pem=_other_key())
    plan = ws.run("plan", "--no-color").stdout
    assert "Objects have changed outside of meshprov" in plan
    assert "the private key in state does not match its certificate" in plan
    assert "# ca.cp must be replaced" in plan
    assert "zone.eu" in plan and "No changes" not in plan
    ws.run("apply", "--auto-approve", "--no-color")
    _chains(ws)
    assert "No changes" in ws.run("plan", "--no-color").stdout


def test_a_zone_certificate_from_another_ca_is_reissued(tmp_path):
    ws = _applied(tmp_path)
    other_ca = pki.issue_ca("Other", None, "ECDSA_P256", pki.CLOCK_SKEW * 1000, datetime.now(UTC))
    stranger = pki.issue_server(
        ["cp.eu.example.com"],
        ["10.0.0.2"],
        "ECDSA_P256",
        pki.CLOCK_SKEW * 1000,
        datetime.now(UTC),
        pki.Issuer(other_ca.cert_pem, other_ca.key_pem),
    )
    _edit(ws, "zone.eu", cert_pem=stranger.cert_pem, private_key_pem=stranger.key_pem)
    plan = ws.run("plan", "--no-color").stdout
    assert "the certificate is not signed by its CA (CN=Mesh CA)" in plan
    assert "# zone.eu must be replaced" in plan
    ws.run("apply", "--auto-approve", "--no-color")
    _chains(ws)


def test_garbage_certificate_and_key_name_the_resource(tmp_path):
    ws = _applied(tmp_path)
    _edit(ws, "zone.eu", private_key_pem="-----BEGIN PRIVATE KEY-----\nnot base64\n")
    plan = ws.run("plan", "--no-color").stdout
    assert "zone.eu" in plan
    assert "the private key in state is missing or not a PEM private key" in plan
    _edit(ws, "ca.cp", cert_pem="garbage")  # not even PEM: the state check refuses it
    refused = ws.run("plan", "--no-color", code=1).stderr
    assert "Error: Invalid resource in state" in refused and "ca.cp" in refused
    _edit(ws, "ca.cp", cert_pem="-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    plan = ws.run("plan", "--no-color").stdout
    assert "the certificate in state is missing or not a PEM certificate" in plan
    assert "# ca.cp must be replaced" in plan
    ws.run("apply", "--auto-approve", "--no-color")
    _chains(ws)


def test_issuance_refuses_a_ca_whose_key_is_not_its_certificates(tmp_path):
    """Without refresh the tampered key reaches issuance: apply fails, naming the resource,
    and writes no certificate that would not chain."""
    ws = _applied(tmp_path)
    before = (ws.dir / "out/zone.eu/tls/tls.crt").read_bytes()
    _edit(ws, "ca.cp", private_key_pem=_other_key())
    result = ws.run(
        "apply",
        "--auto-approve",
        "--no-refresh",
        "--no-color",
        "--var",
        "host=new.example.com",
        code=1,
    )
    assert "zone.eu" in result.stderr
    assert "does not match its certificate" in result.stderr
    assert "refusing to issue" in result.stderr
    assert (ws.dir / "out/zone.eu/tls/tls.crt").read_bytes() == before


def test_a_certificate_naming_another_key_identifier_than_its_ca_is_reissued(tmp_path):
    """Signed by its CA, but its authorityKeyIdentifier is not the CA's subjectKeyIdentifier
    (what meshprov issued under an imported CA with a key identifier of its own): OpenSSL and
    Envoy find no issuer for it, so verify fails it, and the plan reissues it."""
    from cryptography import x509

    ws = _applied(tmp_path)
    ca, zone = (ws.resources()[a]["attributes"] for a in ("ca.cp", "zone.eu"))
    good = pki.load_certificate(zone["cert_pem"])
    ca_key = pki.load_private_key(ca["private_key_pem"])
    builder = (
        x509.CertificateBuilder()
        .subject_name(good.subject)
        .issuer_name(good.issuer)
        .public_key(good.public_key())
        .serial_number(good.serial_number + 1)
        .not_valid_before(good.not_valid_before_utc)
        .not_valid_after(good.not_valid_after_utc)
    )
    for extension in good.extensions:
        if not isinstance(extension.value, x509.AuthorityKeyIdentifier):
            builder = builder.add_extension(extension.value, extension.critical)
    other_id = x509.AuthorityKeyIdentifier(b"\xc0\xff\xee" * 6 + b"\x00\x01", None, None)
    bad = pki.cert_to_pem(
        builder.add_extension(other_id, False).sign(ca_key, good.signature_hash_algorithm)
    )
    tls = ws.dir / "out/zone.eu/tls/tls.crt"
    tls.write_text(bad + ca["cert_pem"])
    ca_file = ws.dir / "out/zone.eu/tls/ca.crt"
    refused = subprocess.run(
        ["openssl", "verify", "-CAfile", ca_file, tls], capture_output=True, text=True
    )
    assert "unable to get local issuer certificate" in refused.stdout + refused.stderr
    failed = ws.run("verify", "--no-color", code=1).output
    assert "names its issuer's key identifier c0ffee" in failed
    assert "OpenSSL and Envoy do not take it as the issuer" in failed

    _edit(ws, "zone.eu", cert_pem=bad)
    plan = ws.run("plan", "--no-color").stdout
    assert "names its issuer's key identifier c0ffee" in plan
    assert "# zone.eu must be replaced" in plan
    ws.run("apply", "--auto-approve", "--no-color")
    _chains(ws)
    ws.run("verify", "--no-color")
