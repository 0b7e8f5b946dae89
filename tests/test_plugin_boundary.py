"""The resource type is the only unit of extension (issue 10).

The test-only type ``test_thing`` (tests/support/testtype.py) is registered through
``meshprov.resources.register`` and nothing else. Its ``impact``, ``notices`` and ``verify``
answers must reach every place a user looks, the terminal plan and apply, ``plan --markdown``,
``plan --json`` and ``verify --json``, with no change to the engine or the renderers. And the
renderers, verify and the command layer must not name a built-in type.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import jsonschema
import pytest
from tests.support.engine import Workspace

SRC = Path(__file__).resolve().parents[1] / "src" / "meshprov"
PLAN_SCHEMA = json.loads((SRC / "render" / "plan.schema.json").read_text(encoding="utf-8"))


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "cfg")
    ws.write(
        """
        test_thing "door" {
          value  = "v1"
          impact = "opens the test door to everyone"
          notice = "restart the test daemon"
        }

        test_thing "quiet" {
          value = "v1"
        }
        """
    )
    return ws


def test_impact_and_notices_reach_the_terminal_plan(ws: Workspace) -> None:
    out = ws.run("plan").stdout
    impact = out.index("Security impact:")
    after = out.index("After apply:")
    assert impact < after, out
    assert "  test_thing.door: opens the test door to everyone\n" in out[impact:after]
    assert out[after:] == (
        "After apply:\n"
        "  test_thing.door: restart the test daemon (its notice argument asks for it)\n"
    )
    assert "test_thing.quiet" not in out[impact:]


def test_impact_and_notices_reach_the_markdown_comment(ws: Workspace) -> None:
    ws.run("plan", "--markdown", str(ws.dir / "plan.md"))
    text = (ws.dir / "plan.md").read_text(encoding="utf-8")
    security = text.index("Security impact")
    after = text.index("After apply")
    details = text.index("<details>")
    assert security < after < details, text
    assert "- `test_thing.door`: opens the test door to everyone" in text[security:after]
    assert (
        "- **restart the test daemon** (its notice argument asks for it): `test_thing.door`"
        in text[after:details]
    )


def test_notices_in_the_json_plan_follow_the_schema(ws: Workspace) -> None:
    doc = json.loads(ws.run("plan", "--json").stdout)
    jsonschema.validate(doc, PLAN_SCHEMA)
    assert doc["meshprov_notices"] == [
        {
            "address": "test_thing.door",
            "action": "restart the test daemon",
            "reason": "its notice argument asks for it",
        }
    ]


def test_apply_ends_with_the_notices_and_verify_reports_the_type(ws: Workspace) -> None:
    out = ws.run("apply", "--auto-approve").stdout
    assert out.endswith(
        "After apply:\n"
        "  test_thing.door: restart the test daemon (its notice argument asks for it)\n"
    ), out
    assert "After apply:" not in ws.run("plan").stdout  # nothing changes: nothing to do

    result = ws.run("verify", "--json")
    report = json.loads(result.stdout)
    assert report["ok"] is True
    rows = {(r["channel"], r["control_plane"]): r for r in report["rows"]}
    assert set(rows) == {("test world", "test_thing.door"), ("test world", "test_thing.quiet")}
    assert rows[("test world", "test_thing.door")]["result"] == "ok"

    ws.edit_world("test_thing.quiet", id="forged")
    result = ws.run("verify", "--json", code=1)
    report = json.loads(result.stdout)
    failing = [r for r in report["rows"] if not r["ok"]]
    assert [(r["control_plane"], r["failed_checks"]) for r in failing] == [
        ("test_thing.quiet", ["world"])
    ]
    assert "holds id forged" in failing[0]["detail"]


# --- no type names outside the registries --------------------------------------------------------

_TYPE_NAME = re.compile(r'"(ca|control_plane|zone|firewall)"')


def _aggregator_files() -> list[Path]:
    """render/, verify*, cli* and operations* (files or packages) under src/meshprov."""
    found: list[Path] = []
    for pattern in ("render", "verify*", "cli*", "operations*"):
        for path in SRC.glob(pattern):
            found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return found


def test_renderers_verify_and_commands_name_no_resource_type() -> None:
    files = _aggregator_files()
    assert SRC / "verify.py" in files and SRC / "render" / "security.py" in files
    hits = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _TYPE_NAME.search(line)
    ]
    assert hits == []


# --- one owner of Kong Mesh names --------------------------------------------------------------


def _constants(path: Path) -> list[tuple[int, str]]:
    """The string constants of a module (f-string parts included), docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_kong_mesh_names_are_spelled_only_in_kuma_py() -> None:
    kuma_py = SRC / "kuma.py"
    layout = {value for _, value in _constants(kuma_py)}
    # the distinctive names: file paths, Secret names, camelCase Helm keys (not "tls", "zone")
    distinctive = {
        v
        for v in layout
        if v.startswith(("tls/", "kuma-"))
        or v.endswith((".yaml", ".yml", ".env", ".sh", "-certs", "-tls"))
        or (v[:1].islower() and any(c.isupper() for c in v) and " " not in v)
    }
    assert {"tls/ca.crt", "kuma-cp.env", "general-tls-certs", "kdsGlobalAddress"} <= distinctive
    hits = [
        f"{path.relative_to(SRC)}:{line}: {value!r}"
        for path in sorted(SRC.rglob("*.py"))
        if path != kuma_py
        for line, value in _constants(path)
        if "KUMA_" in value or value in distinctive
    ]
    assert hits == []
