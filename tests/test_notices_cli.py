"""After-apply notices through the CLI (SPEC §4.1): for each kind of change, every notice is in
the terminal plan, ``plan --json`` (``meshprov_notices``), the Markdown comment (**After apply**)
and at the end of ``apply``, with its reason; and nothing is asked that the change does not
need."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshprov.cli import cli

CA_NEW = """
ca "next" {
  common_name = "next CA"
}
"""


# each control plane's own AccessRoleBinding (admin_groups defaults to mesh-system:admin)
RBAC = "RBAC is not synced between control planes: each needs its binding"


def config(zone: str = "", global_: str = "", extra: str = "", environment: str = "universal"):
    authn = (
        'dp_authn = "serviceAccountToken"\n  zone_proxy_authn = "serviceAccountToken"'
        if environment == "kubernetes"
        else ""
    )
    return f"""
ca "cp" {{
  common_name = "CP CA"
}}
{extra}
control_plane "global" {{
  ca        = ca.cp
  hostnames = ["global.example.com"]
  {global_}
}}

zone "eu" {{
  ca          = ca.cp
  global      = control_plane.global
  environment = "{environment}"
  hostnames   = ["cp.eu.example.com"]
  addresses   = ["10.0.0.1"]
  {authn}
  {zone}
}}
"""


def meshprov(directory: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["-C", str(directory), *args], catch_exceptions=False)
    assert result.exit_code == 0, f"meshprov {' '.join(args)}:\n{result.output}"
    return result.stdout  # warnings (a global on the memory store) go to stderr


def renderings(directory: Path) -> dict[str, object]:
    """The notices as each rendering shows them: plan text, JSON, Markdown, then apply."""
    comment = directory / "comment.md"
    plan_text = meshprov(directory, "plan", "--no-color", "--markdown", str(comment))
    doc = json.loads(meshprov(directory, "plan", "--json"))
    apply_text = meshprov(directory, "apply", "--auto-approve", "--no-color")
    markdown = comment.read_text()
    return {
        "plan": _after_apply(plan_text),
        "json": doc["meshprov_notices"],
        "markdown": markdown[markdown.index("After apply") : markdown.index("#### Changes")],
        "apply": _after_apply(apply_text),
    }


def _after_apply(text: str) -> list[str]:
    """The lines of the ``After apply:`` block that ends a plan or an apply."""
    lines = text.splitlines()
    if "After apply:" not in lines:
        return []
    block = []
    for line in lines[lines.index("After apply:") + 1 :]:
        if not line.startswith("  "):
            break
        block.append(line.strip())
    return block


def assert_notices(shown: dict[str, object], expected: list[tuple[str, str, str]]) -> None:
    """Exactly ``expected`` (address, action, reason), in every rendering."""
    assert shown["json"] == [{"address": a, "action": x, "reason": r} for a, x, r in expected]
    for rendering in ("plan", "apply"):
        lines = shown[rendering]
        assert isinstance(lines, list)
        # grouped: "addr, addr: action (reason)", one line per action and reason
        said = {
            (address, line.split(": ", 1)[1])
            for line in lines
            for address in line.split(": ", 1)[0].split(", ")
        }
        assert said == {(a, f"{x} ({r})") for a, x, r in expected}, (rendering, lines)
    markdown = shown["markdown"]
    assert isinstance(markdown, str)
    for address, action, reason in expected:
        line = next(ln for ln in markdown.splitlines() if ln.startswith(f"- **{action}** "))
        assert f"({reason}): " in line and f"`{address}`" in line, line
    assert markdown.count("\n- **") == len({(x, r) for _, x, r in expected})


@pytest.fixture
def deployed(tmp_path: Path) -> Path:
    """The universal configuration, applied: a new control plane must be started."""
    (tmp_path / "main.hcl").write_text(config())
    new = "its certificate, key and configuration are new"
    assert_notices(
        renderings(tmp_path),
        [
            ("control_plane.global", "kumactl apply -f access-role-binding.yaml", RBAC),
            ("control_plane.global", "restart kuma-cp", new),
            ("zone.eu", "kumactl apply -f access-role-binding.yaml", RBAC),
            ("zone.eu", "restart kuma-cp", new),
        ],
    )
    return tmp_path


def test_a_new_dp_port_restarts_kuma_cp_and_the_data_planes(deployed: Path) -> None:
    (deployed / "main.hcl").write_text(config(zone="dp_port = 15678"))
    assert_notices(
        renderings(deployed),
        [
            ("zone.eu", "restart kuma-cp", "kuma-cp.env changes"),
            (
                "zone.eu",
                "copy kuma-dp.env to the data plane hosts and restart kuma-dp",
                "kuma-dp.env changes: kuma-dp reads it when it starts",
            ),
        ],
    )


def test_a_new_api_port_asks_to_register_kumactl_again(deployed: Path) -> None:
    (deployed / "main.hcl").write_text(config(global_="api_https_port = 15682"))
    assert_notices(
        renderings(deployed),
        [
            ("control_plane.global", "restart kuma-cp", "kuma-cp.env changes"),
            (
                "control_plane.global",
                "run kumactl.sh again",
                "kumactl.sh changes: kumactl keeps the address it was registered with",
            ),
        ],
    )


def test_a_trusted_ca_reaches_data_planes_and_zones_without_restarting_kuma_cp(
    deployed: Path,
) -> None:
    trusted = "trusted_cas = [ca.next]"
    (deployed / "main.hcl").write_text(config(zone=trusted, global_=trusted, extra=CA_NEW))
    assert_notices(
        renderings(deployed),
        [
            (
                "zone.eu",
                "copy tls/ca.crt to the data plane hosts and restart kuma-dp",
                "the CA bundle changed: kuma-dp trusts only the bundle it started with",
            ),
            (
                "zone.eu",
                "put the new tls/kds-ca.crt on the zone control plane host",
                "the global's CA bundle changed; kuma-cp re-reads it on every KDS reconnect, "
                "no restart",
            ),
        ],
    )


def test_a_reissued_certificate_restarts_kuma_cp(deployed: Path) -> None:
    (deployed / "main.hcl").write_text(config(zone='cert_validity = "4000h"'))
    assert_notices(
        renderings(deployed),
        [("zone.eu", "restart kuma-cp", "its certificate and key are reissued")],
    )


def test_kubernetes_secrets_values_and_pods(tmp_path: Path) -> None:
    (tmp_path / "main.hcl").write_text(config(environment="kubernetes"))
    assert_notices(
        renderings(tmp_path),
        [
            ("control_plane.global", "kumactl apply -f access-role-binding.yaml", RBAC),
            (
                "control_plane.global",
                "restart kuma-cp",
                "its certificate, key and configuration are new",
            ),
            ("zone.eu", "kubectl apply -f access-role-binding.yaml", RBAC),
            (
                "zone.eu",
                "kubectl apply -f secrets.yaml, then helm upgrade --install with values.yaml",
                "its certificate, key and configuration are new",
            ),
        ],
    )
    trusted = "trusted_cas = [ca.next]"
    (tmp_path / "main.hcl").write_text(config(zone=trusted, extra=CA_NEW, environment="kubernetes"))
    assert_notices(
        renderings(tmp_path),
        [
            (
                "zone.eu",
                "kubectl apply -f secrets.yaml, then helm upgrade with values.yaml, then "
                "kubectl rollout restart the control-plane Deployment",
                "secrets.yaml, values.yaml change",
            ),
            (
                "zone.eu",
                "restart the data plane pods",
                "the CA bundle changed: injected sidecars get it when they start",
            ),
        ],
    )
