"""``moved`` blocks and ``meshprov state mv`` through the real CLI (SPEC §1.9, issue 13 item 2):
renames and moves into modules keep keys and certificates; the plan says what moved (terminal,
JSON ``previous_address``, Markdown); chains, cycles and taken targets are errors with file:line.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.support.engine import Workspace

MODULE = """
variable "ca" {}
variable "name" {}

zone "this" {
  name      = var.name
  ca        = var.ca
  hostnames = ["${var.name}.example.com"]
}
"""

BEFORE = """
ca "root" {
  common_name = "Root"
}

zone "a" {
  ca        = ca.root
  hostnames = ["a.example.com"]
}
"""

INTO_MODULE = """
ca "root" {
  common_name = "Root"
}

module "z" {
  source   = "./m"
  for_each = toset(["a"])
  ca       = ca.root
  name     = each.key
}

moved {
  from = zone.a
  to   = module.z["a"].zone.this
}
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path / "config")
    (workspace.dir / "m").mkdir()
    (workspace.dir / "m" / "main.hcl").write_text(MODULE)
    return workspace


def _serial(cert: Path) -> str:
    out = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-serial"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def _keys(ws: Workspace) -> dict[str, str]:
    """Each instance's private key (from state): the identity a move must keep."""
    return {
        address: rs["attributes"]["private_key_pem"]
        for address, rs in ws.resources().items()
        if "private_key_pem" in rs["attributes"]
    }


def test_moving_a_zone_into_a_module_keeps_its_key_and_certificate(ws: Workspace) -> None:
    ws.write(BEFORE)
    ws.run("apply", "--auto-approve")
    serial = _serial(ws.dir / "out" / "zone.a" / "tls" / "tls.crt")
    keys = _keys(ws)

    ws.write(INTO_MODULE)
    plan = ws.run("plan", "--detailed-exitcode", code=2)
    assert '  # module.z["a"].zone.this will be updated in-place\n  # (moved from zone.a)\n' in (
        plan.stdout
    )
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in plan.stdout
    doc = json.loads(ws.run("plan", "--json").stdout)
    moved = [c for c in doc["resource_changes"] if c.get("previous_address")]
    assert [(c["previous_address"], c["address"]) for c in moved] == [
        ("zone.a", 'module.z["a"].zone.this')
    ]
    assert moved[0]["change"]["actions"] == ["update"]
    ws.run("plan", "--markdown", str(ws.dir.parent / "plan.md"))
    assert "# (moved from zone.a)" in (ws.dir.parent / "plan.md").read_text()

    ws.run("apply", "--auto-approve")
    assert _serial(ws.dir / "out" / "module.z.a.zone.this" / "tls" / "tls.crt") == serial
    after = _keys(ws)
    assert after['module.z["a"].zone.this'] == keys["zone.a"]
    assert after["ca.root"] == keys["ca.root"]
    assert "zone.a" not in ws.resources()
    assert "No changes." in ws.run("plan").stdout  # the moved block stays harmlessly


def test_a_pure_rename_is_a_move_and_nothing_else(ws: Workspace) -> None:
    ws.write(BEFORE.replace('zone "a" {', 'zone "a" {\n  output_dir = "out/eu"'))
    ws.run("apply", "--auto-approve")
    keys = _keys(ws)
    serial = _serial(ws.dir / "out" / "eu" / "tls" / "tls.crt")
    renamed = BEFORE.replace('zone "a" {', 'zone "b" {\n  name = "a"\n  output_dir = "out/eu"')
    ws.write(renamed + "\nmoved {\n  from = zone.a\n  to   = zone.b\n}\n")
    plan = ws.run("plan", "--detailed-exitcode", code=2)
    assert "  # zone.a has moved to zone.b\n" in plan.stdout
    assert "Plan: 0 to add, 0 to change, 0 to destroy." in plan.stdout
    ws.run("apply", "--auto-approve")
    assert _keys(ws)["zone.b"] == keys["zone.a"]
    assert _serial(ws.dir / "out" / "eu" / "tls" / "tls.crt") == serial


def test_moving_a_whole_module_call_and_instance_keys(ws: Workspace) -> None:
    ws.write(INTO_MODULE.split("moved")[0].replace('["a"]', '["a", "b"]'))
    ws.run("apply", "--auto-approve")
    keys = _keys(ws)
    # the instance key changes, the zone (name, hostnames) does not
    config = INTO_MODULE.split("moved")[0].replace('toset(["a"])', '{ a = "a", c = "b" }')
    config = config.replace('module "z"', 'module "zones"').replace("each.key", "each.value")
    ws.write(
        config
        + "moved {\n  from = module.z\n  to   = module.zones\n}\n"
        + 'moved {\n  from = module.zones["b"]\n  to   = module.zones["c"]\n}\n'
    )
    errors = ws.run("plan", code=1)  # z["b"] → zones["b"] → zones["c"] is a chain
    assert "Error: Chained moves" in errors.stderr
    ws.write(
        config
        + 'moved {\n  from = module.z["a"]\n  to   = module.zones["a"]\n}\n'
        + 'moved {\n  from = module.z["b"]\n  to   = module.zones["c"]\n}\n'
    )
    plan = ws.run("plan").stdout
    assert '  # module.zones["c"].zone.this will be updated in-place\n' in plan
    assert '  # (moved from module.z["b"].zone.this)\n' in plan
    assert "will be created" not in plan and "replaced" not in plan
    ws.run("apply", "--auto-approve")
    after = _keys(ws)
    assert after['module.zones["a"].zone.this'] == keys['module.z["a"].zone.this']
    assert after['module.zones["c"].zone.this'] == keys['module.z["b"].zone.this']


def test_chains_cycles_and_taken_targets_are_errors_with_file_and_line(ws: Workspace) -> None:
    ws.write(BEFORE + 'zone "b" {\n  ca = ca.root\n  addresses = ["10.0.0.2"]\n}\n')
    ws.run("apply", "--auto-approve")
    serial = ws.state()["serial"]
    base = BEFORE + 'zone "b" {\n  ca = ca.root\n  addresses = ["10.0.0.2"]\n}\n'
    line = base.lstrip().count("\n") + 1  # where the first moved block starts

    ws.write(base + "moved {\n  from = zone.a\n  to   = zone.b\n}\n")
    taken = ws.run("plan", code=1)
    assert "Error: Move target already exists" in taken.stderr
    assert f"main.hcl line {line}" in taken.stderr
    assert "zone.b is already in the state" in taken.stderr

    ws.write(
        base
        + "moved {\n  from = zone.a\n  to   = zone.c\n}\n"
        + "moved {\n  from = zone.c\n  to   = zone.a\n}\n"
    )
    cycle = ws.run("plan", code=1)
    assert cycle.stderr.count("Error: Cyclic moves") == 2
    assert f"main.hcl line {line}" in cycle.stderr

    ws.write(base + "moved {\n  from = zone.a\n  to   = ca.other\n}\n")
    kinds = ws.run("plan", code=1)
    assert "a zone cannot become a ca" in kinds.stderr
    ws.write(base + "moved {\n  from = zone.a\n  to   = zone.b[var.x]\n}\n")
    assert "Error: Invalid address" in ws.run("validate", code=1).stderr
    assert ws.state()["serial"] == serial  # nothing was written by any of these


def test_state_mv(ws: Workspace) -> None:
    ws.write(BEFORE)
    ws.run("apply", "--auto-approve")
    keys = _keys(ws)
    dry = ws.run("state", "mv", "--dry-run", "zone.a", "zone.b")
    assert dry.stdout == 'Would move "zone.a" to "zone.b"\n'
    assert "zone.a" in ws.resources()
    result = ws.run("state", "mv", "zone.a", 'module.z["a"].zone.this')
    assert result.stdout == (
        'Move "zone.a" to "module.z["a"].zone.this"\nSuccessfully moved 1 object(s).\n'
    )
    assert _keys(ws)['module.z["a"].zone.this'] == keys["zone.a"]
    missing = ws.run("state", "mv", "zone.nope", "zone.b", code=1)
    assert "No matching objects found for zone.nope" in missing.stderr
    taken = ws.run("state", "mv", 'module.z["a"].zone.this', "ca.root", code=1)
    assert "a zone cannot become a ca" in taken.stderr
    ws.write(INTO_MODULE.split("moved")[0])
    plan = ws.run("plan").stdout  # the state now matches the module layout
    assert '  # module.z["a"].zone.this will be updated in-place' in plan
    assert "will be created" not in plan and "destroyed" not in plan
