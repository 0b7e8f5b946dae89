"""Where a control plane's files go: never out of ``out/`` by default, outside the
configuration directory only when said and then shown, and never two resources to one file."""

from __future__ import annotations

import json

from tests.support.engine import Workspace

CA = 'ca "cp" {\n  common_name = "Mesh CA"\n}\n\n'


def _zone(name: str, *lines: str) -> str:
    address = f"10.0.0.{len(name) + ord(name[0])}"  # distinct per zone: egress IPs may not repeat
    body = "\n".join(
        ["  ca = ca.cp", f'  addresses = ["{address}"]', *(f"  {line}" for line in lines)]
    )
    return f'zone "{name}" {{\n{body}\n}}\n\n'


def _files(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_a_for_each_key_cannot_lead_the_default_output_dir_out(tmp_path):
    ws = Workspace(tmp_path / "cfg")
    ws.write(
        CA + 'zone "z" {\n  for_each = toset(["../../../escaped", "eu"])\n  ca = ca.cp\n'
        '  name = "z-${length(each.key)}"\n  addresses = ["10.0.0.${length(each.key)}"]\n}\n'
    )
    ws.run("apply", "--auto-approve", "--no-color")
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "cfg/escaped").exists()
    dirs = sorted(p.name for p in (ws.dir / "out").iterdir())
    assert dirs == ["zone.z..._.._.._escaped", "zone.z.eu"]
    assert "tls/tls.key" in _files(ws.dir / "out" / dirs[0])
    assert set(_files(tmp_path)) == {f"cfg/{f}" for f in _files(ws.dir)}


def test_an_output_dir_outside_the_configuration_is_shown(tmp_path):
    ws = Workspace(tmp_path / "cfg")
    outside = tmp_path / "elsewhere"
    ws.write(CA + _zone("eu", f'output_dir = "{outside}"') + _zone("us", 'output_dir = "../up"'))
    doc = json.loads(ws.run("validate", "--json").stdout)
    warnings = [d for d in doc["diagnostics"] if d["severity"] == "warning"]
    assert [w["summary"] for w in warnings] == [
        "Files written outside the configuration directory"
    ] * 2
    assert str(outside) in warnings[0]["detail"] and warnings[0]["range"]["start"]["line"] == 8
    plan = ws.run("plan", "--no-color").stdout
    assert (
        f"zone.eu writes its key and certificate outside the configuration directory, to "
        f"{outside} (output_dir)" in plan
    )
    assert (
        "zone.us writes its key and certificate outside the configuration directory, to ../up"
        in plan
    )
    ws.run("apply", "--auto-approve", "--no-color")
    assert "tls/tls.key" in _files(outside) and "tls/tls.key" in _files(tmp_path / "up")


def test_two_zones_with_one_output_dir_are_a_validate_error(tmp_path):
    ws = Workspace(tmp_path)
    ws.write(
        CA + _zone("eu", 'output_dir = "out/shared"') + _zone("us", 'output_dir = "out/./shared/"')
    )
    doc = json.loads(ws.run("validate", "--json", code=1).stdout)
    (error,) = [d for d in doc["diagnostics"] if d["severity"] == "error"]
    assert error["summary"] == "Two resources write the same files"
    assert error["detail"].startswith("zone.us and zone.eu both write out/shared/")
    assert error["range"]["start"]["line"] == 14
    ws.run("apply", "--auto-approve", code=1)
    assert not (tmp_path / "out").exists()


def test_a_zone_writing_into_the_global_default_directory_is_an_error(tmp_path):
    ws = Workspace(tmp_path)
    ws.write(
        CA
        + 'control_plane "global" {\n  ca = ca.cp\n  addresses = ["10.0.0.1"]\n}\n\n'
        + _zone("eu", 'output_dir = "out/control_plane.global"')
    )
    plan = ws.run("plan", "--no-color", code=1)
    assert "Error: Two resources write the same files" in plan.stderr
    assert "zone.eu and control_plane.global both write out/control_plane.global/" in plan.stderr


def test_six_zones_for_each_with_one_output_dir(tmp_path):
    ws = Workspace(tmp_path)
    ws.write(
        CA + 'zone "z" {\n  for_each = {a = 1, b = 2, c = 3, d = 4, e = 5, f = 6}\n'
        '  ca = ca.cp\n  name = each.key\n  addresses = ["10.0.0.${each.value}"]\n'
        '  output_dir = "out/zones"\n}\n'
    )
    doc = json.loads(ws.run("validate", "--json", code=1).stdout)
    errors = [d for d in doc["diagnostics"] if d["severity"] == "error"]
    assert len(errors) == 5
    assert all('and zone.z["a"] both write out/zones/' in e["detail"] for e in errors)
    assert {e["detail"].split(" and ")[0] for e in errors} == {f'zone.z["{k}"]' for k in "bcdef"}


def test_an_output_dir_reaching_out_through_a_symlink_is_shown(tmp_path):
    ws = Workspace(tmp_path / "cfg")
    shared = tmp_path / "srv-shared"
    shared.mkdir()
    (ws.dir / "out").symlink_to(shared)  # a committed `out -> /srv/shared` link
    (ws.dir / "kept").mkdir()
    ws.write(CA + _zone("eu", 'output_dir = "out/eu"') + _zone("us", 'output_dir = "kept/us"'))
    doc = json.loads(ws.run("validate", "--json").stdout)
    warnings = [d for d in doc["diagnostics"] if d["severity"] == "warning"]
    assert [(w["summary"], w["range"]["start"]["line"]) for w in warnings] == [
        ("Files written outside the configuration directory", 8)
    ]
    assert 'output_dir = "out/eu"' in warnings[0]["detail"]
    plan = ws.run("plan", "--no-color").stdout
    assert (
        "zone.eu writes its key and certificate outside the configuration directory, to "
        "out/eu (output_dir)" in plan
    )
    assert "zone.us writes" not in plan
