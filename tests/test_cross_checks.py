"""Checks across resources that no single block can tell wrong (SPEC §1.4-§1.7).

* A firewall whose ``port`` is not the ``kds_port`` of the global its zones dial: an error at
  validate and plan, since its security groups would drop every KDS connection.
* A kubernetes global without ``hostnames`` or ``addresses``: its zones would dial the
  in-cluster Service name, so a warning in the terminal, JSON and Markdown plans.

Each runs the real CLI (in-process) on real files, and the firewall against the moto server.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshprov.cli import cli

REPO = Path(__file__).resolve().parents[1]
PORT_ERROR = "Error: Firewall port is not the global's KDS port"
IN_CLUSTER = "Zones cannot reach the global from outside its cluster"


def run(directory: Path, *args: str, code: int = 0) -> str:
    invoked = CliRunner().invoke(
        cli, ["-C", str(directory), *args, "--no-color"], catch_exceptions=True
    )
    if invoked.exception is not None and not isinstance(invoked.exception, SystemExit):
        raise invoked.exception
    output = invoked.stdout + invoked.stderr
    assert "Traceback" not in output, output
    assert invoked.exit_code == code, f"exit {invoked.exit_code}, expected {code}:\n{output}"
    return output if "--json" not in args else invoked.stdout


def write(directory: Path, text: str) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / "main.hcl"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if needle in line)


# --- firewall port vs the global's kds_port --------------------------------------------------


def firewall_config(endpoint: str, group: str, kds_port: str, port: str | None) -> str:
    port_line = f"port               = {port}" if port is not None else ""
    variable = 'variable "kds_port" {\n  type = number\n}' if kds_port.startswith("var.") else ""
    return f"""
        {variable}
        provider "aws" {{
          region       = "eu-west-1"
          endpoint_url = {json.dumps(endpoint)}
        }}

        ca "cp" {{
          common_name = "test control-plane CA"
        }}

        control_plane "global" {{
          ca        = ca.cp
          addresses = ["127.0.0.1"]
          kds_port  = {kds_port}
        }}

        zone "z" {{
          for_each   = {{ "eu-west" = "198.51.100.10", "us-east" = "203.0.113.20" }}
          ca         = ca.cp
          global     = control_plane.global
          name       = each.key
          addresses  = ["10.0.0.10"]
          egress_ips = [each.value]
        }}

        firewall "kds" {{
          security_group_ids = [{json.dumps(group)}]
          {port_line}
          allow_zones        = values(zone.z)
        }}
        """


def test_firewall_port_not_the_globals_kds_port_is_an_error(tmp_path, moto_aws):
    group = moto_aws.security_group()
    cfg = tmp_path / "cfg"
    main = write(cfg, firewall_config(moto_aws.endpoint, group, "6685", "5685"))
    port_line = line_of(main, "port               = 5685")
    for command in (["validate"], ["plan"], ["apply", "--auto-approve"]):
        out = run(cfg, *command, code=1)
        assert out.count(PORT_ERROR) == 1, out  # one per firewall and global, not per zone
        assert f"main.hcl line {port_line}" in out
        assert (
            'firewall.kds opens port 5685 in its security groups for zone.z["eu-west"], '
            'zone.z["us-east"], but they dial control_plane.global on its kds_port 6685'
        ) in " ".join(out.split())
        assert "Set port to 6685" in out
    assert not (cfg / "state" / "default.json").exists() and not (cfg / "out").exists()
    assert moto_aws.ingress(group) == []

    # --json gives the same diagnostic with its range
    doc = json.loads(run(cfg, "validate", "--json", code=1))
    [diag] = [d for d in doc["diagnostics"] if d["severity"] == "error"]
    assert diag["summary"] == "Firewall port is not the global's KDS port"
    assert diag["range"]["filename"] == str(main)
    assert diag["range"]["start"]["line"] == port_line


def test_port_left_to_its_default_points_at_the_firewall_block(tmp_path, moto_aws):
    group = moto_aws.security_group()
    cfg = tmp_path / "cfg"
    main = write(cfg, firewall_config(moto_aws.endpoint, group, "6685", None))
    out = run(cfg, "validate", code=1)
    block_line = line_of(main, 'firewall "kds"')
    assert f"main.hcl line {block_line}" in out
    assert "opens port 5685" in out and "kds_port 6685" in out


def test_a_mismatch_made_later_leaves_state_and_rules_untouched(tmp_path, moto_aws):
    group = moto_aws.security_group()
    cfg = tmp_path / "cfg"
    write(cfg, firewall_config(moto_aws.endpoint, group, "6685", "control_plane.global.kds_port"))
    apply = run(cfg, "apply", "--auto-approve")
    assert "KDS port" not in apply
    state = (cfg / "state" / "default.json").read_bytes()
    rules = moto_aws.ingress(group)
    assert {r["FromPort"] for r in rules} == {6685} and len(rules) == 2

    write(cfg, firewall_config(moto_aws.endpoint, group, "6685", "5685"))
    for command in (["plan"], ["apply", "--auto-approve"]):
        assert PORT_ERROR in run(cfg, *command, code=1)
    assert (cfg / "state" / "default.json").read_bytes() == state
    assert moto_aws.ingress(group) == rules


def test_a_kds_port_known_only_at_plan_is_checked_there(tmp_path, moto_aws):
    """validate cannot know var.kds_port (no value given): no false alarm; plan knows it."""
    group = moto_aws.security_group()
    cfg = tmp_path / "cfg"
    write(cfg, firewall_config(moto_aws.endpoint, group, "var.kds_port", "5685"))
    out = run(cfg, "validate")
    assert "KDS port" not in out and "Success!" in out
    assert PORT_ERROR in run(cfg, "plan", "--var", "kds_port=6685", code=1)
    clean = run(cfg, "plan", "--var", "kds_port=5685")
    assert "KDS port" not in clean and "Plan: 5 to add" in clean


def test_a_firewall_that_only_writes_the_helm_overlay_has_no_port_to_check(tmp_path):
    """The overlay's loadBalancerSourceRanges guard the KDS Service whatever its port."""
    cfg = tmp_path / "cfg"
    write(
        cfg,
        """
        ca "cp" {
          common_name = "test control-plane CA"
        }

        control_plane "global" {
          ca          = ca.cp
          environment = "kubernetes"
          hostnames   = ["kds.mesh.test"]
          kds_port    = 6685
        }

        zone "east" {
          ca         = ca.cp
          global     = control_plane.global
          addresses  = ["10.0.0.10"]
          egress_ips = ["198.51.100.10"]
        }

        firewall "kds" {
          allow_zones      = [zone.east]
          helm_values_file = "helm/kds-firewall.yaml"
        }
        """,
    )
    for command in ("validate", "plan"):
        out = run(cfg, command)
        assert "Warning" not in out and "Error" not in out


# --- a kubernetes global its zones can reach only in its cluster ------------------------------


def kubernetes_global(names: str = "", zones: bool = True) -> str:
    zone_blocks = """
        zone "east" {
          ca        = ca.cp
          global    = control_plane.global
          addresses = ["10.0.0.10"]
        }

        zone "west" {
          ca        = ca.cp
          global    = control_plane.global
          addresses = ["10.0.0.11"]
        }
        """
    return f"""
        ca "cp" {{
          common_name = "test control-plane CA"
        }}

        control_plane "global" {{
          ca          = ca.cp
          environment = "kubernetes"
          namespace   = "mesh-global"
          {names}
        }}
        {zone_blocks if zones else ""}
        """


def test_zones_of_a_global_known_only_in_its_cluster_get_a_warning(tmp_path):
    cfg = tmp_path / "cfg"
    main = write(cfg, kubernetes_global())
    block_line = line_of(main, 'control_plane "global"')
    where = f"main.hcl line {block_line}"
    detail = (
        "control_plane.global has neither hostnames nor addresses, so zone.east, zone.west would "
        'dial it by its in-cluster Service name "kong-mesh-control-plane.mesh-global", which '
        "resolves only inside the global's cluster"
    )

    for command in ("validate", "plan"):
        out = run(cfg, command)
        assert out.count(f"Warning: {IN_CLUSTER}") == 1 and where in out
        assert detail in " ".join(out.split())
        assert "hostnames or addresses of that load balancer" in out

    doc = json.loads(run(cfg, "plan", "--json"))
    [text] = [w for w in doc["meshprov_warnings"] if IN_CLUSTER in w]
    assert detail in text
    run(cfg, "plan", "--markdown", str(tmp_path / "plan.md"))
    markdown = (tmp_path / "plan.md").read_text(encoding="utf-8")
    security = markdown.split("Security impact", 1)[1].split("<details>", 1)[0]
    assert IN_CLUSTER in security and "kong-mesh-control-plane.mesh-global" in security

    # the warning does not stop apply; the zones are written with the in-cluster address
    run(cfg, "apply", "--auto-approve")
    env = (cfg / "out" / "zone.east" / "kuma-cp.env").read_text(encoding="utf-8")
    assert "grpcs://kong-mesh-control-plane.mesh-global:5685" in env


@pytest.mark.parametrize(
    "names",
    ['hostnames = ["kds.mesh.test"]', 'addresses = ["192.0.2.10"]'],
    ids=["hostnames", "addresses"],
)
def test_a_global_with_a_load_balancer_name_is_clean(tmp_path, names):
    cfg = tmp_path / "cfg"
    write(cfg, kubernetes_global(names))
    for command in ("validate", "plan"):
        assert "Warning" not in run(cfg, command)
    assert IN_CLUSTER not in run(cfg, "plan", "--json")


def test_a_global_no_zone_dials_gets_no_warning(tmp_path):
    cfg = tmp_path / "cfg"
    write(cfg, kubernetes_global(zones=False))
    assert "Warning" not in run(cfg, "plan")


def test_a_namespace_known_only_at_plan_gives_no_false_alarm_at_validate(tmp_path):
    cfg = tmp_path / "cfg"
    write(cfg, 'variable "ns" {\n  type = string\n}\n' + textwrap.dedent(kubernetes_global()))
    (cfg / "main.hcl").write_text(
        (cfg / "main.hcl").read_text().replace('"mesh-global"', "var.ns"), encoding="utf-8"
    )
    assert "Warning" not in run(cfg, "validate")
    assert IN_CLUSTER in run(cfg, "plan", "--var", "ns=mesh-global")


@pytest.mark.parametrize("example", ["kubernetes", "quickstart", "rotation", "authentication"])
def test_examples_trip_neither_check(tmp_path, example):
    work = tmp_path / example
    shutil.copytree(REPO / "examples" / example, work)
    out = run(work, "validate")
    assert IN_CLUSTER not in out and "KDS port" not in out
