"""CA rotation without outage (SPEC §1.4 ``trusted_cas``, §4.1): examples/rotation's phases
with real TLS handshakes, and the one-step replacement the plan warns about.

At each phase, ``openssl s_server`` on 127.0.0.1 serves the certificate apply just wrote and
``openssl s_client`` verifies it with the bundle a client got in the phase before: the zone's
``tls/ca.crt`` (what data planes, kumactl and Prometheus hold) for the zone, and the zone's
``tls/kds-ca.crt`` for the global.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshprov.cli import cli

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "rotation"
ZONE, GLOBAL = "out/zone.eu", "out/control_plane.global"
ZONE_HOST, GLOBAL_HOST = "cp.eu.mesh.example.com", "global.mesh.example.com"
TRUST_BREAK = "trust break"


def meshprov(directory: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["-C", str(directory), *args], catch_exceptions=False)
    assert result.exit_code == 0, f"meshprov {' '.join(args)}:\n{result.output}"
    return result.stdout  # warnings (a global on the memory store) go to stderr


def apply_phase(directory: Path, phase: int) -> str:
    """``plan`` then ``apply`` of one phase; returns the plan's text."""
    text = meshprov(directory, "plan", "--no-color", "--var", f"phase={phase}")
    meshprov(directory, "apply", "--auto-approve", "--no-color", "--var", f"phase={phase}")
    return text


@contextmanager
def tls_server(cert: Path, key: Path) -> Iterator[int]:
    """``openssl s_server`` on 127.0.0.1 (a free port) serving ``cert`` (leaf then chain)."""
    server = subprocess.Popen(
        [
            OPENSSL,
            "s_server",
            "-accept",
            "127.0.0.1:0",
            "-naccept",
            "1",
            "-www",  # answers on its own: no stdin to read, whose end would close the session
            "-cert",
            str(cert),
            "-cert_chain",
            str(cert),
            "-key",
            str(key),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = None
        for line in server.stdout:
            if line.startswith("ACCEPT "):
                port = int(line.rsplit(":", 1)[1])
                break
        assert port is not None, "openssl s_server did not start"
        yield port
    finally:
        server.kill()
        server.wait(timeout=10)


def handshake(cert: Path, key: Path, bundle: Path, host: str) -> subprocess.CompletedProcess:
    """A TLS client holding only ``bundle`` connects to a server presenting ``cert`` and
    checks it for ``host``; returncode 0 only when the chain and the name verify."""
    with tls_server(cert, key) as port:
        return subprocess.run(
            [
                OPENSSL,
                "s_client",
                "-connect",
                f"127.0.0.1:{port}",
                "-servername",
                host,
                "-CAfile",
                str(bundle),
                "-verify_return_error",
                "-verify_hostname",
                host,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
        )


def assert_accepted(directory: Path, bundles: dict[str, Path]) -> None:
    """The certificates served now verify with the bundles clients held before."""
    for out, host, bundle in ((ZONE, ZONE_HOST, "ca"), (GLOBAL, GLOBAL_HOST, "kds")):
        tls = directory / out / "tls"
        proc = handshake(tls / "tls.crt", tls / "tls.key", bundles[bundle], host)
        assert proc.returncode == 0, f"{out} with the old {bundle} bundle:\n{proc.stdout}"
        assert "Verify return code: 0 (ok)" in proc.stdout


def keep_bundles(directory: Path, into: Path) -> dict[str, Path]:
    """Copies of what clients hold after this phase: the zone's ca.crt and kds-ca.crt."""
    into.mkdir()
    tls = directory / ZONE / "tls"
    kept = {"ca": into / "ca.crt", "kds": into / "kds-ca.crt"}
    shutil.copy(tls / "ca.crt", kept["ca"])
    shutil.copy(tls / "kds-ca.crt", kept["kds"])
    return kept


def subjects(bundle: Path) -> list[str]:
    """The subjects of a PEM bundle's certificates, in order."""
    text = bundle.read_text()
    names = []
    for block in text.split("-----END CERTIFICATE-----")[:-1]:
        pem = block[block.index("-----BEGIN") :] + "-----END CERTIFICATE-----\n"
        proc = subprocess.run(
            [OPENSSL, "x509", "-noout", "-subject", "-nameopt", "multiline"],
            input=pem,
            capture_output=True,
            text=True,
            check=True,
        )
        names.append(proc.stdout.split("commonName", 1)[1].split("=", 1)[1].split("\n")[0].strip())
    return names


@pytest.fixture
def phase0(tmp_path: Path) -> Path:
    work = tmp_path / "rotation"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("out", "state"))
    apply_phase(work, 0)
    return work


def test_each_phase_is_accepted_by_clients_holding_the_previous_bundle(
    phase0: Path, tmp_path: Path
) -> None:
    held = keep_bundles(phase0, tmp_path / "bundles0")
    assert subjects(held["ca"]) == ["Kong Mesh control-plane CA 2026"]

    for phase in (1, 2, 3):
        plan_text = apply_phase(phase0, phase)
        assert TRUST_BREAK not in plan_text, plan_text
        assert_accepted(phase0, held)
        held = keep_bundles(phase0, tmp_path / f"bundles{phase}")
        expected = {
            1: ["Kong Mesh control-plane CA 2026", "Kong Mesh control-plane CA 2027"],
            2: ["Kong Mesh control-plane CA 2027", "Kong Mesh control-plane CA 2026"],
            3: ["Kong Mesh control-plane CA 2027"],
        }[phase]
        assert subjects(held["ca"]) == expected
        assert subjects(held["kds"]) == expected  # the global's bundle, as its zone holds it
        assert subjects(phase0 / GLOBAL / "tls" / "ca.crt") == expected
        # tls.crt carries the issuing chain only, never the CAs trusted besides it
        issuer = expected[0]
        assert subjects(phase0 / ZONE / "tls" / "tls.crt")[1:] == [issuer]

    assert "Kong Mesh control-plane CA 2026" not in json.dumps(
        json.loads((phase0 / "state" / "default.json").read_text())["resources"]
    )


def test_the_one_step_replacement_warns_and_really_breaks_old_clients(
    phase0: Path, tmp_path: Path
) -> None:
    held = keep_bundles(phase0, tmp_path / "bundles0")
    text = meshprov(phase0, "plan", "--no-color", "--var", "phase=2")
    impact = text[text.index("Security impact:") :]
    assert impact.count("rotate in phases") == 1  # one procedure for both control planes
    assert (
        "warning: trust break: control_plane.global would present a certificate issued by "
        "ca.cp_2027[0], which its clients (kumactl, zone.eu) do not trust yet" in impact
    )
    assert (
        "warning: trust break: zone.eu would present a certificate issued by ca.cp_2027[0], "
        "which its clients (data plane proxies, kumactl, Prometheus) do not trust yet" in impact
    )
    assert (
        "warning: rotate in phases instead: 1) add ca.cp_2027[0] to trusted_cas and apply "
        "(clients get both CAs); 2) set ca = ca.cp_2027[0], keeping ca.cp_2026[0] in "
        "trusted_cas, and apply; 3) remove ca.cp_2026[0] from trusted_cas and apply" in impact
    )

    doc = json.loads(meshprov(phase0, "plan", "--json", "--var", "phase=2"))
    breaks = [w for w in doc["meshprov_warnings"] if w.startswith(TRUST_BREAK)]
    assert len(breaks) == 2
    assert all("rotate in phases instead" in w for w in breaks)
    assert "zone.eu would present" in breaks[1]

    comment = tmp_path / "comment.md"
    meshprov(phase0, "plan", "--no-color", "--var", "phase=2", "--markdown", str(comment))
    markdown = comment.read_text()
    security = markdown[markdown.index("Security impact") : markdown.index("After apply")]
    assert "**trust break: zone.eu would present a certificate issued by ca.cp\\_2027\\[0\\]" in (
        security
    )
    assert "\n- rotate in phases instead: 1) add ca.cp\\_2027\\[0\\] to trusted\\_cas" in security
    assert security.count("rotate in phases") == 1

    meshprov(phase0, "apply", "--auto-approve", "--var", "phase=2")
    for out, host, bundle in ((ZONE, ZONE_HOST, "ca"), (GLOBAL, GLOBAL_HOST, "kds")):
        tls = phase0 / out / "tls"
        proc = handshake(tls / "tls.crt", tls / "tls.key", held[bundle], host)
        assert proc.returncode != 0, f"{out} was accepted with the old bundle:\n{proc.stdout}"
        assert "certificate verify failed" in proc.stderr
        assert "Verify return code: 0 (ok)" not in proc.stdout


def test_a_bundle_holds_each_ca_once_and_bad_trusted_cas_are_diagnosed(tmp_path: Path) -> None:
    hcl = """
ca "cp" {
  common_name = "CP CA"
}
zone "eu" {
  ca          = ca.cp
  trusted_cas = TRUSTED
  addresses   = ["10.0.0.1"]
}
zone "other" {
  ca        = ca.cp
  addresses = ["10.0.0.2"]
}
"""
    main = tmp_path / "main.hcl"
    for trusted, message in (
        ("[ca.cp, zone.other]", '"trusted_cas" must refer to a ca resource, but zone.other'),
        ('"ca.cp"', '"trusted_cas" must be a list of ca references'),
    ):
        main.write_text(hcl.replace("TRUSTED", trusted))
        result = CliRunner().invoke(cli, ["-C", str(tmp_path), "validate", "--no-color"])
        assert result.exit_code == 1
        assert "main.hcl line 7" in result.output and message in result.output
        assert "Traceback" not in result.output

    main.write_text(hcl.replace("TRUSTED", "[ca.cp, ca.cp]"))  # the issuing CA itself, twice
    meshprov(tmp_path, "apply", "--auto-approve")
    assert subjects(tmp_path / ZONE / "tls" / "ca.crt") == ["CP CA"]


INTERMEDIATE_HCL = """
variable "root_name" {
  type    = string
  default = "Root 1"
}
variable "inter_validity" {
  type    = string
  default = "43800h"
}
ca "root" {
  common_name = var.root_name
}
ca "inter" {
  common_name = "Control-plane intermediate"
  validity    = var.inter_validity
  parent      = ca.root
}
control_plane "global" {
  ca        = ca.inter
  hostnames = ["global.mesh.example.com"]
  addresses = ["127.0.0.1"]
}
zone "eu" {
  ca         = ca.inter
  global     = control_plane.global
  hostnames  = ["cp.eu.mesh.example.com"]
  addresses  = ["127.0.0.1"]
  egress_ips = ["198.51.100.10"]
}
"""


@pytest.mark.parametrize(
    ("change", "breaks"),
    [
        # a new intermediate (new key, the same name) under the root every bundle holds
        (["--var", "inter_validity=43000h"], False),
        # a new root: the intermediate is re-signed with its key and name kept, so what it
        # signs still verifies with its previous certificate
        (["--var", "root_name=Root 2"], False),
        # both new: nothing the clients hold verifies the new chain
        (["--var", "root_name=Root 2", "--var", "inter_validity=43000h"], True),
    ],
    ids=["intermediate-replaced", "root-replaced-intermediate-resigned", "both-replaced"],
)
def test_trust_break_warns_exactly_when_old_bundles_reject_the_new_chain(
    tmp_path: Path, change: list[str], breaks: bool
) -> None:
    work = tmp_path / "cfg"
    work.mkdir()
    (work / "main.hcl").write_text(INTERMEDIATE_HCL)
    meshprov(work, "apply", "--auto-approve", "--no-color")
    held = keep_bundles(work, tmp_path / "held")
    assert subjects(held["ca"]) == ["Control-plane intermediate", "Root 1"]

    plan_text = meshprov(work, "plan", "--no-color", *change)
    assert "certificates reissued" in plan_text  # both control planes get new certificates
    assert (TRUST_BREAK in plan_text) is breaks, plan_text
    doc = json.loads(meshprov(work, "plan", "--json", *change))
    assert any(w.startswith(TRUST_BREAK) for w in doc["meshprov_warnings"]) is breaks

    meshprov(work, "apply", "--auto-approve", "--no-color", *change)
    for out, host, bundle in ((ZONE, ZONE_HOST, "ca"), (GLOBAL, GLOBAL_HOST, "kds")):
        tls = work / out / "tls"
        proc = handshake(tls / "tls.crt", tls / "tls.key", held[bundle], host)
        assert (proc.returncode != 0) is breaks, f"{out} with the old {bundle} bundle:\n{proc}"
