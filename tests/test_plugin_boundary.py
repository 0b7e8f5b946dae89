"""The resource type is the only unit of extension (issue 10).

The test-only type ``test_thing`` (tests/support/testtype.py) is registered through
``meshprov.resources.register`` and nothing else. Its ``impact``, ``notices`` and ``verify``
answers must reach every place a user looks, the terminal plan and apply, ``plan --markdown``,
``plan --json`` and ``verify --json``, with no change to the engine or the renderers. And the
renderers, verify and the command layer must not name a built-in type.
"""

from __future__ import annotations

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
