"""End-to-end tests of the plan/apply engine through the real CLI, with the test-only type.

``test_thing`` (tests/support/testtype.py) keeps its objects as JSON files under
``<config>/world``, so tests change them behind meshprov's back to make drift. Every command
run here is checked by ``Workspace`` for a traceback, a private key on stdout/stderr, and a
state file that validates against ``state/schema.json``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.engine import PRIVATE_KEY, Workspace, mode_of

BASIC = """
test_thing "parent" {
  value = "p"
}

test_thing "child" {
  value  = "child of ${test_thing.parent.id}"
  parent = test_thing.parent
}

test_thing "solo" {
  value = "s"
}

output "parent_id" {
  value = test_thing.parent.id
}

output "ids" {
  value = [test_thing.parent.id, test_thing.solo.id]
}

output "parent_secret" {
  value     = test_thing.parent.secret
  sensitive = true
}
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """An empty configuration directory in tmp_path."""
    return Workspace(tmp_path / "config")


def applied(ws: Workspace, hcl: str = BASIC) -> Workspace:
    ws.write(hcl)
    ws.run("apply", "--auto-approve")
    return ws


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def index_of(lines: list[str], text: str) -> int:
    return next(i for i, line in enumerate(lines) if text in line)


def plan_doc(ws: Workspace, *args: str, name: str = "tfplan") -> dict:
    ws.run("plan", "--out", str(ws.dir / name), *args)
    return json.loads((ws.dir / name).read_text())


def reasons(doc: dict) -> dict[str, tuple[str, str | None]]:
    return {c["address"]: (c["action"], c["reason"]) for c in doc["changes"]}


# --- planning --------------------------------------------------------------------------------


def test_first_plan_shows_creates_unknowns_and_changes_nothing(ws: Workspace) -> None:
    ws.write(BASIC)
    out = ws.run("plan").stdout
    assert "  + create" in out
    assert "  # test_thing.parent will be created" in out
    assert '  + resource "test_thing" "parent" {' in out
    assert "      + id     = (known after apply)" in out
    assert "      + secret = (sensitive value)" in out
    # a value computed from another resource's export is unknown until apply
    assert "      + value  = (known after apply)" in out
    assert '      + parent = "test_thing.parent"' in out
    assert "Plan: 3 to add, 0 to change, 0 to destroy." in out
    assert "Changes to Outputs:" in out
    assert "  + parent_id     = (known after apply)" in out
    assert "  + parent_secret = (sensitive value)" in out
    # planning is pure
    assert not ws.state_path.exists()
    assert not (ws.dir / "world").exists()


def test_apply_creates_in_dependency_order_and_records_state(ws: Workspace) -> None:
    ws.write(BASIC)
    result = ws.run("apply", "--auto-approve")
    out = lines_of(result.stdout)
    assert index_of(out, "test_thing.parent: Creation complete") < index_of(
        out, "test_thing.child: Creating..."
    )
    assert "Apply complete! Resources: 3 added, 0 changed, 0 destroyed." in result.stdout
    state = ws.state()
    assert state["serial"] == 1
    assert str(uuid.UUID(state["lineage"])) == state["lineage"]
    assert mode_of(ws.state_path) == 0o600
    resources = {r["address"]: r for r in state["resources"]}
    assert list(resources) == ["test_thing.child", "test_thing.parent", "test_thing.solo"]
    parent, child = resources["test_thing.parent"], resources["test_thing.child"]
    assert parent["sensitive_attributes"] == ["secret"]
    assert parent["attributes"]["secret"].startswith("-----BEGIN PRIVATE KEY-----")
    assert child["dependencies"] == ["test_thing.parent"]
    assert child["attributes"]["value"] == f"child of {parent['attributes']['id']}"
    assert child["attributes"]["parent"] == "test_thing.parent"
    assert ws.world("test_thing.child") == child["attributes"]
    assert state["outputs"]["parent_id"] == {
        "value": parent["attributes"]["id"],
        "sensitive": False,
        "type": "string",
    }
    assert state["outputs"]["parent_secret"]["sensitive"] is True
    assert f'parent_id = "{parent["attributes"]["id"]}"' in result.stdout
    assert "parent_secret = <sensitive>" in result.stdout

    # converged: nothing to do, and a no-op apply does not move the serial
    again = ws.run("plan", "--detailed-exitcode")
    assert "No changes. Your infrastructure matches the configuration." in again.stdout
    before = ws.state_bytes()
    noop = ws.run("apply", "--auto-approve")
    assert "No changes." in noop.stdout
    assert ws.state_bytes() == before


def test_update_replace_delete_and_noop_with_terraform_reasons(ws: Workspace) -> None:
    applied(
        ws,
        """
        test_thing "upd" {
          value = "one"
        }
        test_thing "rep" {
          key = "k1"
        }
        test_thing "same" {
          value = "unchanged"
        }
        test_thing "gone" {
          value = "g"
        }
        test_thing "counted" {
          count = 3
          value = "c${count.index}"
        }
        test_thing "each" {
          for_each = toset(["x", "y"])
          value    = each.key
        }
        """,
    )
    ws.write(
        """
        test_thing "upd" {
          value = "two"
        }
        test_thing "rep" {
          key = "k2"
        }
        test_thing "same" {
          value = "unchanged"
        }
        test_thing "counted" {
          count = 2
          value = "c${count.index}"
        }
        test_thing "each" {
          for_each = toset(["x"])
          value    = each.key
        }
        """
    )
    out = ws.run("plan", "--detailed-exitcode", code=2).stdout
    assert "  ~ update in-place" in out
    assert "  - destroy" in out
    assert "-/+ destroy and then create replacement" in out
    assert "  # test_thing.upd will be updated in-place" in out
    assert '      ~ value  = "one" -> "two"' in out
    assert "  # test_thing.rep must be replaced" in out
    assert '      ~ key    = "k1" -> "k2" # forces replacement' in out
    assert "  # test_thing.gone will be destroyed" in out
    assert "  # (because test_thing.gone is not in configuration)" in out
    assert "  # test_thing.counted[2] will be destroyed" in out
    assert "  # (because index [2] is out of range for count)" in out
    assert '  # test_thing.each["y"] will be destroyed' in out
    assert '  # (because key ["y"] is not in for_each map)' in out
    assert "test_thing.same" not in out  # no-ops are not shown
    assert "Plan: 1 to add, 1 to change, 4 to destroy." in out

    doc = plan_doc(ws)
    assert reasons(doc) == {
        "test_thing.counted[0]": ("no-op", None),
        "test_thing.counted[1]": ("no-op", None),
        "test_thing.counted[2]": ("delete", "delete_because_count_index"),
        'test_thing.each["x"]': ("no-op", None),
        'test_thing.each["y"]': ("delete", "delete_because_each_key"),
        "test_thing.gone": ("delete", "delete_because_no_resource_config"),
        "test_thing.rep": ("delete-create", "replace_because_cannot_update"),
        "test_thing.same": ("no-op", None),
        "test_thing.upd": ("update", None),
    }

    result = ws.run("apply", "--auto-approve")
    assert "Apply complete! Resources: 1 added, 1 changed, 4 destroyed." in result.stdout
    assert "test_thing.rep: Replacement complete" in result.stdout
    resources = ws.resources()
    assert sorted(resources) == [
        "test_thing.counted[0]",
        "test_thing.counted[1]",
        'test_thing.each["x"]',
        "test_thing.rep",
        "test_thing.same",
        "test_thing.upd",
    ]
    assert resources["test_thing.upd"]["attributes"]["value"] == "two"
    assert resources["test_thing.rep"]["attributes"]["key"] == "k2"
    assert ws.world("test_thing.gone") is None
    assert ws.world('test_thing.each["y"]') is None
    assert ws.world("test_thing.counted[2]") is None
    ws.run("plan", "--detailed-exitcode")


def test_replace_by_request(ws: Workspace) -> None:
    applied(ws)
    out = ws.run("plan", "--replace", "test_thing.solo").stdout
    assert "  # test_thing.solo will be replaced, as requested" in out
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in out
    assert reasons(plan_doc(ws, "--replace", "test_thing.solo"))["test_thing.solo"] == (
        "delete-create",
        "replace_by_request",
    )
    result = ws.run("apply", "--auto-approve", "--replace", "test_thing.solo")
    assert "Apply complete! Resources: 1 added, 0 changed, 1 destroyed." in result.stdout
    ws.run("plan", "--detailed-exitcode")

    bad = ws.run("plan", "--destroy", "--replace", "test_thing.solo", code=1)
    assert "Error: Incompatible options" in bad.stderr
    bad = ws.run("plan", "--replace", "test_thing.", code=1)
    assert "Error: Invalid resource address" in bad.stderr


def test_target_limits_the_run_to_the_target_and_its_dependencies(ws: Workspace) -> None:
    applied(ws)
    ws.write(BASIC.replace('"p"', '"p2"').replace('"s"', '"s2"').replace("child of", "kid of"))
    result = ws.run("plan", "--target", "test_thing.child")
    assert "Warning: Resource targeting is in effect" in result.stderr
    assert "  # test_thing.parent will be updated in-place" in result.stdout
    assert "  # test_thing.child will be updated in-place" in result.stdout
    assert "test_thing.solo" not in result.stdout
    assert "Plan: 0 to add, 2 to change, 0 to destroy." in result.stdout

    applied_run = ws.run("apply", "--auto-approve", "--target", "test_thing.child")
    assert "Warning: Resource targeting is in effect" in applied_run.stderr
    assert "Resources: 0 added, 2 changed, 0 destroyed." in applied_run.stdout
    resources = ws.resources()
    assert resources["test_thing.parent"]["attributes"]["value"] == "p2"
    assert resources["test_thing.solo"]["attributes"]["value"] == "s"
    rest = ws.run("plan").stdout
    assert "  # test_thing.solo will be updated in-place" in rest
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in rest


def test_target_an_instance_of_a_counted_resource(ws: Workspace) -> None:
    applied(ws, 'test_thing "c" {\n  count = 3\n  value = "v${count.index}"\n}\n')
    ws.write('test_thing "c" {\n  count = 3\n  value = "w${count.index}"\n}\n')
    out = ws.run("plan", "--target", "test_thing.c[1]").stdout
    assert "  # test_thing.c[1] will be updated in-place" in out
    assert "test_thing.c[0]" not in out and "test_thing.c[2]" not in out


def test_destroy_plans_everything_and_deletes_dependents_first(ws: Workspace) -> None:
    applied(ws)
    out = ws.run("plan", "--destroy", "--detailed-exitcode", code=2).stdout
    for name in ("child", "parent", "solo"):
        assert f"  # test_thing.{name} will be destroyed" in out
    assert "Plan: 0 to add, 0 to change, 3 to destroy." in out

    cancelled = ws.run("destroy", input="no\n", code=1)
    assert "Do you really want to destroy all resources?" in cancelled.stdout
    assert "Destroy cancelled." in cancelled.stdout
    assert len(ws.resources()) == 3

    result = ws.run("destroy", input="yes\n")
    lines = lines_of(result.stdout)
    assert index_of(lines, "test_thing.child: Destruction complete") < index_of(
        lines, "test_thing.parent: Destroying..."
    )
    assert "Destroy complete! Resources: 3 destroyed." in result.stdout
    state = ws.state()
    assert state["resources"] == [] and state["outputs"] == {}
    assert ws.world_addresses() == set()
    again = ws.run("destroy", "--auto-approve")
    assert "No changes. No objects need to be destroyed." in again.stdout


def test_updates_follow_dependencies_and_orphans_go_dependents_first(ws: Workspace) -> None:
    applied(ws)
    ws.write(BASIC.replace('"p"', '"p2"').replace("child of", "kid of"))
    lines = lines_of(ws.run("apply", "--auto-approve").stdout)
    assert index_of(lines, "test_thing.parent: Modifications complete") < index_of(
        lines, "test_thing.child: Modifying..."
    )
    ws.write('test_thing "solo" {\n  value = "s"\n}\n')
    result = ws.run("plan")
    assert "  # (because test_thing.child is not in configuration)" in result.stdout
    assert "  # (because test_thing.parent is not in configuration)" in result.stdout
    lines = lines_of(ws.run("apply", "--auto-approve").stdout)
    assert index_of(lines, "test_thing.child: Destruction complete") < index_of(
        lines, "test_thing.parent: Destroying..."
    )
    assert sorted(ws.resources()) == ["test_thing.solo"]
    assert ws.state()["outputs"] == {}


def test_saved_destroy_plan(ws: Workspace) -> None:
    applied(ws)
    planfile = ws.dir / "destroy.plan"
    ws.run("plan", "--destroy", "--out", str(planfile))
    assert "Plan: 0 to add, 0 to change, 3 to destroy." in ws.run("show", str(planfile)).stdout
    result = ws.run("apply", str(planfile))
    assert "Destroy complete! Resources: 3 destroyed." in result.stdout
    assert ws.resources() == {} and ws.world_addresses() == set()


def test_destroy_with_target_takes_its_dependents(ws: Workspace) -> None:
    applied(ws)
    out = ws.run("plan", "--destroy", "--target", "test_thing.parent").stdout
    assert "  # test_thing.parent will be destroyed" in out
    assert "  # test_thing.child will be destroyed" in out
    assert "test_thing.solo" not in out


def test_destroy_with_target_keeps_what_the_target_depends_on(ws: Workspace) -> None:
    applied(ws)
    out = ws.run("plan", "--destroy", "--target", "test_thing.child").stdout
    assert "  # test_thing.child will be destroyed" in out
    assert "test_thing.parent will be destroyed" not in out
    assert "Plan: 0 to add, 0 to change, 1 to destroy." in out


def test_drift_is_shown_in_its_own_section(ws: Workspace) -> None:
    applied(ws)
    ws.edit_world("test_thing.solo", value="changed outside")
    ws.world_path("test_thing.child").unlink()
    result = ws.run("plan", "--detailed-exitcode", code=2)
    out = result.stdout
    note = out.index("Note: Objects have changed outside of meshprov")
    rule = out.index("─" * 20)
    actions = out.index("meshprov will perform the following actions:")
    assert note < rule < actions
    drift = out[note:rule]
    assert "  # test_thing.solo has changed" in drift
    assert "  # (value was changed)" in drift
    assert '      ~ value  = "s" -> "changed outside"' in drift
    assert "  # test_thing.child has been deleted" in drift
    plan_part = out[actions:]
    assert "  # test_thing.solo will be updated in-place" in plan_part
    assert '      ~ value  = "changed outside" -> "s"' in plan_part
    assert "  # test_thing.child will be created" in plan_part
    assert "Plan: 1 to add, 1 to change, 0 to destroy." in plan_part

    # without refresh, meshprov trusts the state and sees nothing
    quiet = ws.run("plan", "--no-refresh", "--detailed-exitcode")
    assert "No changes." in quiet.stdout

    ws.run("apply", "--auto-approve")
    assert ws.world("test_thing.solo")["value"] == "s"
    assert ws.world("test_thing.child") is not None
    ws.run("plan", "--detailed-exitcode")


def test_refresh_only_records_drift_without_changing_the_world(ws: Workspace) -> None:
    applied(ws)
    ws.edit_world("test_thing.solo", value="changed outside")
    ws.world_path("test_thing.child").unlink()
    out = ws.run("plan", "--refresh-only", "--detailed-exitcode", code=2).stdout
    assert "  # test_thing.solo has changed" in out
    assert "  # test_thing.child has been deleted" in out
    assert "This is a refresh-only plan, so meshprov will not take any actions" in out
    assert "will perform the following actions" not in out

    serial = ws.state()["serial"]
    ws.run("apply", "--refresh-only", "--auto-approve")
    resources = ws.resources()
    assert ws.state()["serial"] == serial + 1
    assert "test_thing.child" not in resources
    assert resources["test_thing.solo"]["attributes"]["value"] == "changed outside"
    assert ws.world("test_thing.solo")["value"] == "changed outside"  # world untouched
    assert ws.world("test_thing.child") is None
    out = ws.run("plan").stdout
    assert "Objects have changed outside" not in out
    assert "  # test_thing.child will be created" in out
    assert "  # test_thing.solo will be updated in-place" in out

    err = ws.run("plan", "--refresh-only", "--no-refresh", code=1).stderr
    assert "Error: Incompatible refresh options" in err
    err = ws.run("plan", "--refresh-only", "--destroy", code=1).stderr
    assert "Error: Incompatible plan mode options" in err


def test_prevent_destroy_is_an_error_naming_the_resource(ws: Workspace) -> None:
    config = """
        test_thing "keep" {
          key = "k1"
          lifecycle {
            prevent_destroy = true
          }
        }
        """
    applied(ws, config)
    before = ws.state_bytes()
    ws.write(config.replace("k1", "k2"))
    for args in (("plan",), ("apply", "--auto-approve"), ("destroy", "--auto-approve")):
        result = ws.run(*args, code=1)
        assert "Error: Instance cannot be destroyed" in result.stderr
        assert "Resource test_thing.keep has lifecycle.prevent_destroy set" in result.stderr
        assert "main.hcl line 1" in result.stderr
        assert ws.state_bytes() == before
    assert ws.world("test_thing.keep")["key"] == "k1"
    # an update is no destruction
    ws.write(config.replace('key = "k1"', 'key = "k1"\n  value = "new"'))
    ws.run("apply", "--auto-approve")


def test_ignore_changes_is_honoured(ws: Workspace) -> None:
    config = """
        test_thing "i" {
          value = "one"
          key   = "k1"
          delay = 0
          lifecycle {
            ignore_changes = [value]
          }
        }
        """
    applied(ws, config)
    ws.write(config.replace('"one"', '"two"'))
    assert "No changes." in ws.run("plan", "--detailed-exitcode").stdout

    # an update for another attribute leaves the ignored one as it is, in plan and in apply
    ws.write(config.replace('"one"', '"two"').replace("delay = 0", "delay = 0.01"))
    out = ws.run("plan").stdout
    assert "  # test_thing.i will be updated in-place" in out
    assert "      ~ delay  = 0 -> 0.01" in out
    assert "value" not in out
    ws.run("apply", "--auto-approve")
    assert ws.resources()["test_thing.i"]["attributes"]["value"] == "one"
    assert ws.world("test_thing.i")["value"] == "one"
    ws.run("plan", "--detailed-exitcode")

    # a replacement is a new object, made from the configuration as written (as in Terraform)
    ws.write(config.replace('"one"', '"two"').replace("k1", "k2"))
    out = ws.run("plan").stdout
    assert "  # test_thing.i must be replaced" in out
    assert '      ~ value  = "one" -> "two"' in out
    ws.run("apply", "--auto-approve")
    assert ws.resources()["test_thing.i"]["attributes"]["value"] == "two"
    ws.run("plan", "--detailed-exitcode")


def test_detailed_exitcode(ws: Workspace) -> None:
    ws.write(BASIC)
    assert ws.run("plan", "--detailed-exitcode", code=2).code == 2
    assert ws.run("plan").code == 0  # without the flag, changes are success
    ws.run("apply", "--auto-approve")
    assert ws.run("plan", "--detailed-exitcode").code == 0
    ws.write(BASIC + '\ntest_thing "x" {\n  parent = test_thing.nope\n}\n')
    result = ws.run("plan", "--detailed-exitcode", code=1)
    assert "Error:" in result.stderr


# --- apply failures --------------------------------------------------------------------------

FAILING = """
test_thing "root" {
  value = "r"
}

test_thing "bad" {
  parent = test_thing.root
  fail   = true
}

test_thing "child" {
  parent = test_thing.bad
}

test_thing "grandchild" {
  parent = test_thing.child
}

test_thing "independent" {
  value = "i"
  delay = 0.3
}

test_thing "later" {
  parent = test_thing.independent
}

output "child_id" {
  value = test_thing.child.id
}
"""


def test_failure_keeps_what_succeeded_skips_dependents_and_continues(ws: Workspace) -> None:
    ws.write(FAILING)
    result = ws.run("apply", "--auto-approve", code=1)
    assert "Error: Failed to create" in result.stderr
    assert "test_thing.bad: test_thing.bad was told to fail" in result.stderr
    assert "Apply complete!" not in result.stdout
    assert "test_thing.child: Creating..." not in result.stdout
    assert "test_thing.independent: Creation complete" in result.stdout
    # work that became ready only after the failure was still started
    lines = lines_of(result.stdout)
    assert index_of(lines, "test_thing.bad: Failed to create") < index_of(
        lines, "test_thing.later: Creating..."
    )
    assert sorted(ws.resources()) == [
        "test_thing.independent",
        "test_thing.later",
        "test_thing.root",
    ]
    assert ws.world_addresses() == {"test_thing.independent", "test_thing.later", "test_thing.root"}

    ws.write(FAILING.replace("fail   = true", "fail   = false"))
    again = ws.run("apply", "--auto-approve")
    assert "Apply complete! Resources: 3 added, 0 changed, 0 destroyed." in again.stdout
    assert ws.run("plan", "--detailed-exitcode").code == 0
    state = ws.state()
    assert (
        state["outputs"]["child_id"]["value"]
        == ws.resources()["test_thing.child"]["attributes"]["id"]
    )


def test_failed_update_keeps_the_prior_object_in_state(ws: Workspace) -> None:
    applied(ws)
    ws.write(BASIC.replace('value = "s"', 'value = "s2"\n  fail = true'))
    result = ws.run("apply", "--auto-approve", code=1)
    assert "Error: Failed to update" in result.stderr
    assert ws.resources()["test_thing.solo"]["attributes"]["value"] == "s"
    ws.write(BASIC.replace('value = "s"', 'value = "s2"'))
    ws.run("apply", "--auto-approve")
    assert ws.resources()["test_thing.solo"]["attributes"]["value"] == "s2"


# --- outputs ---------------------------------------------------------------------------------


def test_output_command(ws: Workspace) -> None:
    ws.write(BASIC)
    ws.run("apply", "--auto-approve")
    parent = ws.resources()["test_thing.parent"]["attributes"]
    solo = ws.resources()["test_thing.solo"]["attributes"]

    out = ws.run("output").stdout
    assert out == (
        "Outputs:\n\n"
        f'ids = [\n  "{parent["id"]}",\n  "{solo["id"]}",\n]\n'
        f'parent_id = "{parent["id"]}"\n'
        "parent_secret = <sensitive>\n"
    )
    assert ws.run("output", "parent_id").stdout == f'"{parent["id"]}"\n'
    assert ws.run("output", "parent_secret").stdout == "<sensitive>\n"
    assert ws.run("output", "--raw", "parent_id").stdout == parent["id"]
    assert json.loads(ws.run("output", "--json", "ids").stdout) == [parent["id"], solo["id"]]
    # A secret reaches stdout only when asked for: --show-sensitive with --json or --raw.
    masked = json.loads(ws.run("output", "--json").stdout)
    assert masked["parent_id"] == {"sensitive": False, "type": "string", "value": parent["id"]}
    assert masked["parent_secret"] == {"sensitive": True, "type": "string", "value": None}
    refused = ws.run("output", "--raw", "parent_secret", code=1)
    assert "Error: Sensitive output" in refused.stderr and "--show-sensitive" in refused.stderr
    everything = json.loads(
        ws.run("output", "--json", "--show-sensitive", allow_secret=True).stdout
    )
    assert everything["parent_secret"] == {
        "sensitive": True,
        "type": "string",
        "value": parent["secret"],
    }
    raw = ws.run("output", "--raw", "--show-sensitive", "parent_secret", allow_secret=True).stdout
    assert raw == parent["secret"]

    missing = ws.run("output", "nope", code=1)
    assert 'Error: Output "nope" not found' in missing.stderr
    assert (
        "Error: Unsupported value for raw output" in ws.run("output", "--raw", "ids", code=1).stderr
    )
    assert "Error: Output name required" in ws.run("output", "--raw", code=1).stderr


def test_output_json_gives_each_type_as_terraform_does(ws: Workspace) -> None:
    ws.write(
        """
        test_thing "t" {
          value = "v"
        }

        output "name" {
          value = test_thing.t.value
        }

        output "count" {
          value = 3
        }

        output "on" {
          value = true
        }

        output "pair" {
          value = ["a", 1]
        }

        output "ports" {
          value = toset([5685, 5682])
        }

        output "cp" {
          value = { host = "cp.example.com", port = 5682, tags = ["eu"] }
        }

        output "nothing" {
          value = null
        }

        output "secret" {
          value     = test_thing.t.secret
          sensitive = true
        }
        """
    )
    ws.run("apply", "--auto-approve")
    doc = json.loads(ws.run("output", "--json").stdout)
    assert {name: out["type"] for name, out in doc.items()} == {
        "name": "string",
        "count": "number",
        "on": "bool",
        "pair": ["tuple", ["string", "number"]],
        "ports": ["set", "number"],
        "cp": ["object", {"host": "string", "port": "number", "tags": ["tuple", ["string"]]}],
        "nothing": "dynamic",
        "secret": "string",
    }
    assert doc["secret"]["value"] is None and doc["ports"]["value"] == [5682, 5685]


# --- saved plans -----------------------------------------------------------------------------


def test_saved_plan_is_private_and_applies_exactly_its_actions(ws: Workspace) -> None:
    applied(ws)
    secrets = [r["attributes"]["secret"] for r in ws.resources().values()]
    ws.write(BASIC.replace('"s"', '"s2"'))
    planfile = ws.dir / "tfplan"
    result = ws.run("plan", "--out", str(planfile))
    assert f"Saved the plan to: {planfile}" in result.stdout
    assert f"meshprov -C {ws.dir} apply {planfile}" in result.stdout
    assert mode_of(planfile) == 0o600
    data = planfile.read_text()
    assert PRIVATE_KEY not in data
    for secret in secrets:
        assert secret.removeprefix("-----BEGIN PRIVATE KEY-----") not in data

    shown = ws.run("show", str(planfile)).stdout
    assert "  # test_thing.solo will be updated in-place" in shown
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in shown

    # something changes behind meshprov's back after the plan: applying the saved plan does
    # what it says, and only that
    ws.world_path("test_thing.child").unlink()
    serial = ws.state()["serial"]
    applied_run = ws.sub("apply", str(planfile), input=None)
    assert "Enter a value" not in applied_run.stdout
    assert "Apply complete! Resources: 0 added, 1 changed, 0 destroyed." in applied_run.stdout
    assert ws.state()["serial"] == serial + 1
    assert ws.world("test_thing.solo")["value"] == "s2"
    assert ws.world("test_thing.child") is None
    assert "  # test_thing.child will be created" in ws.run("plan").stdout


def test_saved_plan_keeps_its_variable_values(ws: Workspace) -> None:
    ws.write(
        'variable "v" {\n  type = string\n  default = "a"\n}\n'
        'test_thing "t" {\n  value = var.v\n}\n'
    )
    planfile = ws.dir / "tfplan"
    ws.run("plan", "--out", str(planfile), "--var", "v=from-plan")
    ws.run("apply", str(planfile))
    assert ws.resources()["test_thing.t"]["attributes"]["value"] == "from-plan"


def test_saved_plan_refused_when_the_serial_moved(ws: Workspace) -> None:
    applied(ws)
    ws.write(BASIC.replace('"s"', '"s2"'))
    planfile = ws.dir / "tfplan"
    ws.run("plan", "--out", str(planfile))
    ws.run("state", "rm", "test_thing.child")  # another change to the state
    before = ws.state_bytes()
    result = ws.run("apply", str(planfile), code=1)
    assert "Error: Saved plan is stale" in result.stderr
    assert ws.state_bytes() == before
    assert ws.world("test_thing.solo")["value"] == "s"


def test_saved_plan_from_an_empty_state_is_stale_once_applied(ws: Workspace) -> None:
    ws.write(BASIC)
    planfile = ws.dir / "tfplan"
    ws.run("plan", "--out", str(planfile))
    ws.run("apply", str(planfile))
    before = ws.state_bytes()
    result = ws.run("apply", str(planfile), code=1)
    assert "Error: Saved plan is stale" in result.stderr
    assert ws.state_bytes() == before


def test_saved_plan_refused_for_another_lineage(ws: Workspace) -> None:
    applied(ws)
    ws.write(BASIC.replace('"s"', '"s2"'))
    planfile = ws.dir / "tfplan"
    ws.run("plan", "--out", str(planfile))
    other = ws.state()
    other["lineage"] = str(uuid.uuid4())
    (ws.dir / "other.json").write_text(json.dumps(other))
    ws.run("state", "push", "--force", str(ws.dir / "other.json"))
    before = ws.state_bytes()
    result = ws.run("apply", str(planfile), code=1)
    assert "Error: Saved plan does not match the given state" in result.stderr
    assert ws.state_bytes() == before


@pytest.mark.parametrize(
    ("options", "summary"),
    [
        (("--target", "test_thing.solo"), "Can't change a saved plan"),
        (("--replace", "test_thing.parent"), "Can't change a saved plan"),
        (("--refresh=false",), "Can't change a saved plan"),
        (("--refresh-only",), "Can't change a saved plan"),
        (("--as-of", "2030-01-01T00:00:00Z"), "Can't change a saved plan"),
        (("--destroy",), "Destroy can't be called with a plan file"),
    ],
)
def test_saved_plan_refuses_the_options_that_make_a_plan(
    ws: Workspace, options: tuple[str, ...], summary: str
) -> None:
    """Applying the whole saved plan when --target asked for part of it (or --destroy for
    nothing of it) does what nobody asked: refused, as Terraform does, before anything runs."""
    applied(ws)
    ws.write(BASIC.replace('"s"', '"s2"').replace('"p"', '"p2"'))
    planfile = ws.dir / "tfplan"
    ws.run("plan", "--out", str(planfile))
    before = ws.state_bytes()
    result = ws.run("apply", str(planfile), *options, code=1)
    assert f"Error: {summary}" in result.stderr
    assert options[0].split("=")[0] in result.stderr
    assert ws.state_bytes() == before
    assert ws.world("test_thing.solo")["value"] == "s"
    # what an apply may choose is still allowed
    ws.run("apply", str(planfile), "--parallelism", "2", "--lock-timeout", "1s")
    assert ws.world("test_thing.solo")["value"] == "s2"


def _edit_change(doc: dict, **fields: object) -> None:
    doc["changes"][0].update(fields)


def _drop_after(doc: dict) -> None:
    del doc["changes"][0]["after"]


@pytest.mark.parametrize(
    ("edit", "what"),
    [
        (lambda doc: _edit_change(doc, action="explode"), "a field is"),
        (lambda doc: _edit_change(doc, address="test_thing.["), "a field is"),
        (_drop_after, "its field 'after' is"),
        (lambda doc: doc.update(changes=None), "a field is"),
        (lambda doc: doc.update(mode="sideways"), "a field is"),
        (lambda doc: doc["prior_state"]["resources"][0].update(type=5), "a field is"),
        (lambda doc: doc.update(variables=["v"]), "variables are"),
        (lambda doc: doc.update(prior_serial="1"), "variables are"),
    ],
    ids=[
        "action",
        "address",
        "missing after",
        "changes null",
        "mode",
        "prior state",
        "variables",
        "serial",
    ],
)
def test_a_plan_file_edited_after_plan_is_a_diagnostic_for_every_reader(
    ws: Workspace, edit: Callable[[dict], None], what: str
) -> None:
    """Still JSON, still a plan file by its header, but not what plan wrote: show, graph and
    apply crashed where they used the field."""
    applied(ws)
    ws.write(BASIC.replace('"s"', '"s2"'))
    planfile = ws.dir / "tfplan"
    ws.run("plan", "--out", str(planfile))
    doc = json.loads(planfile.read_text())
    edit(doc)
    planfile.write_text(json.dumps(doc))
    before = ws.state_bytes()
    for args in (
        ("show", str(planfile)),
        ("graph", "--plan", str(planfile)),
        ("apply", str(planfile)),
    ):
        result = ws.run(*args, code=1)
        assert "Error: Failed to read plan file" in result.stderr
        assert f"{planfile} was changed or damaged after `meshprov plan --out` wrote it" in (
            result.stderr
        )
        assert f"{what} missing or not what meshprov writes). Make a new plan." in result.stderr
    assert ws.state_bytes() == before
    assert ws.world("test_thing.solo")["value"] == "s"


def test_saved_plan_refused_when_the_configuration_changed(ws: Workspace) -> None:
    applied(ws)
    ws.write(BASIC.replace('"s"', '"s2"'))
    planfile = ws.dir / "tfplan"
    ws.run("plan", "--out", str(planfile))
    ws.write(BASIC.replace('"s"', '"s3"'))
    before = ws.state_bytes()
    result = ws.run("apply", str(planfile), code=1)
    assert "Error: Configuration changed since the plan was made" in result.stderr
    assert ws.state_bytes() == before
    assert ws.world("test_thing.solo")["value"] == "s"


def test_bad_plan_file_is_a_clear_error(ws: Workspace) -> None:
    applied(ws)
    bogus = ws.dir / "bogus.plan"
    bogus.write_text('{"format": "something-else"}')
    result = ws.run("apply", str(bogus), code=1)
    assert "Error: Failed to read plan file" in result.stderr
    bogus.write_text("{not json")
    assert "Error: Failed to read plan file" in ws.run("show", str(bogus), code=1).stderr


# --- commands --------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["no\n", "y\n", "YES please\n", ""])
def test_apply_prompt_needs_the_word_yes(ws: Workspace, answer: str) -> None:
    ws.write(BASIC)
    result = ws.sub("apply", input=answer, code=1)
    assert "Do you want to perform these actions?" in result.stdout
    assert "Only 'yes' will be accepted to approve." in result.stdout
    assert "Apply cancelled." in result.stdout
    assert not ws.state_path.exists()
    assert not (ws.dir / "world").exists()


def test_apply_prompt_yes_on_a_pipe_applies(ws: Workspace) -> None:
    ws.write(BASIC)
    result = ws.sub("apply", input="yes\n")
    assert "Apply complete! Resources: 3 added, 0 changed, 0 destroyed." in result.stdout
    assert len(ws.resources()) == 3


def test_input_false_needs_auto_approve(ws: Workspace) -> None:
    ws.write(BASIC)
    result = ws.run("apply", "--input=false", code=1)
    assert "Error: No confirmation possible" in result.stderr
    assert not ws.state_path.exists()
    ws.run("apply", "--input=false", "--auto-approve")
    assert len(ws.resources()) == 3


def test_show_renders_the_state_without_secrets(ws: Workspace) -> None:
    ws.write(BASIC)
    assert "The state file is empty. No resources are represented." in ws.run("show").stdout
    ws.run("apply", "--auto-approve")
    out = ws.run("show").stdout
    parent_id = ws.resources()["test_thing.parent"]["attributes"]["id"]
    assert "# test_thing.parent:" in out
    assert 'resource "test_thing" "parent" {' in out
    assert f'    id     = "{parent_id}"' in out
    assert "    secret = (sensitive value)" in out
    assert "parent_secret = <sensitive>" in out


def test_state_list_show_rm_pull(ws: Workspace) -> None:
    ws.write(BASIC)
    nothing = ws.run("state", "pull")  # no state yet: nothing, as Terraform prints
    assert nothing.stdout == "" and not ws.state_path.exists()
    applied(ws, BASIC + 'test_thing "many" {\n  count = 2\n}\n')
    listed = ws.run("state", "list").stdout.splitlines()
    assert listed == [
        "test_thing.child",
        "test_thing.many[0]",
        "test_thing.many[1]",
        "test_thing.parent",
        "test_thing.solo",
    ]
    assert ws.run("state", "list", "test_thing.many").stdout.splitlines() == [
        "test_thing.many[0]",
        "test_thing.many[1]",
    ]
    assert ws.run("state", "list", "test_thing.nope").stdout == ""  # valid, matches nothing
    typo = ws.run("state", "list", "test_thing.many[", code=1)
    assert "Error: Invalid resource address" in typo.stderr and typo.stdout == ""

    shown = ws.run("state", "show", "test_thing.parent").stdout
    assert shown.startswith('# test_thing.parent:\nresource "test_thing" "parent" {\n')
    assert "    secret = (sensitive value)" in shown
    missing = ws.run("state", "show", "test_thing.nope", code=1)
    assert "Error: No instance found for the given address" in missing.stderr

    pulled = ws.run("state", "pull", allow_secret=True).stdout
    assert json.loads(pulled) == ws.state()

    serial = ws.state()["serial"]
    removed = ws.run("state", "rm", "test_thing.many")
    assert "Removed test_thing.many[0]" in removed.stdout
    assert "Successfully removed 2 resource instance(s)." in removed.stdout
    assert ws.state()["serial"] == serial + 1
    assert "test_thing.many[0]" not in ws.resources()
    assert ws.world("test_thing.many[0]") is not None  # forgotten, not destroyed
    assert "Plan: 2 to add" in ws.run("plan").stdout
    bad = ws.run("state", "rm", "test_thing.nope", code=1)
    assert "Error: Invalid target address" in bad.stderr


def test_state_push_checks_lineage_and_serial(ws: Workspace) -> None:
    applied(ws)
    current = ws.state()

    def push_file(doc: dict, name: str) -> str:
        path = ws.dir / name
        path.write_text(json.dumps(doc))
        return str(path)

    other = push_file({**current, "lineage": str(uuid.uuid4())}, "other.json")
    older = push_file({**current, "serial": current["serial"] - 1}, "older.json")
    same_serial = push_file({**current, "resources": current["resources"][:1]}, "same.json")
    newer = push_file({**current, "serial": current["serial"] + 5, "resources": []}, "new.json")

    before = ws.state_bytes()
    result = ws.run("state", "push", other, code=1)
    assert "cannot import state with lineage" in result.stderr
    result = ws.run("state", "push", older, code=1)
    assert f"cannot import state with serial {current['serial'] - 1}" in result.stderr
    result = ws.run("state", "push", same_serial, code=1)
    assert "with a different state that has the same serial" in result.stderr
    assert ws.state_bytes() == before

    ws.run("state", "push", newer)
    assert ws.state()["serial"] == current["serial"] + 5
    assert ws.state()["resources"] == []
    ws.run("state", "push", "--force", other)
    assert ws.state()["lineage"] != current["lineage"]

    junk = ws.dir / "junk.json"
    junk.write_text("[1, 2")
    assert "Error: Failed to load state" in ws.run("state", "push", str(junk), code=1).stderr


def test_init(ws: Workspace) -> None:
    ws.write(BASIC)
    result = ws.run("init")
    assert "meshprov has been successfully initialized!" in result.stdout
    assert ws.state_path.parent.is_dir()
    assert mode_of(ws.state_path.parent) == 0o700
    ws.write('test_thing "a" {\n')
    broken = ws.run("init", code=1)
    assert "Error: Unclosed configuration block" in broken.stderr
    (ws.dir / "main.hcl").unlink()
    assert "Error: No configuration files" in ws.run("init", code=1).stderr


def test_secrets_never_reach_any_rendering(ws: Workspace) -> None:
    applied(ws)
    secret_parts = [
        r["attributes"]["secret"].removeprefix("-----BEGIN PRIVATE KEY-----")
        for r in ws.resources().values()
    ]
    ws.write(BASIC.replace('"p"', '"p2"'))
    planfile = str(ws.dir / "tfplan")
    texts = [
        ws.run("plan").output,
        ws.run("plan", "--replace", "test_thing.parent").output,
        ws.run("plan", "--destroy").output,
        ws.run("plan", "--out", planfile).output,
        Path(planfile).read_text(),
        ws.run("show", planfile).output,
        ws.run("show").output,
        ws.run("state", "show", "test_thing.parent").output,
        ws.run("output").output,
        ws.run("output", "parent_secret").output,
        ws.run("apply", "--auto-approve", "--replace", "test_thing.parent").output,
        ws.run("destroy", "--auto-approve").output,
    ]
    for text in texts:
        assert PRIVATE_KEY not in text
        for part in secret_parts:
            assert part not in text


def test_secrets_stay_hidden_in_drift_and_in_removed_outputs(ws: Workspace) -> None:
    applied(ws)
    ws.edit_world("test_thing.solo", secret="-----BEGIN PRIVATE KEY-----drifted", value="x")
    out = ws.run("plan").stdout
    assert "  # test_thing.solo has changed" in out
    assert "  # (secret was changed)" in out
    assert "drifted" not in out

    ws.write(BASIC.split('output "parent_secret"')[0])
    planfile = ws.dir / "tfplan"
    out = ws.run("plan", "--out", str(planfile)).stdout
    assert "  - parent_secret = (sensitive value)" in out
    assert PRIVATE_KEY not in planfile.read_text()
    assert "  - parent_secret = (sensitive value)" in ws.run("show", str(planfile)).stdout
    ws.run("apply", str(planfile))
    assert "parent_secret" not in ws.state()["outputs"]


# --- bad state files -------------------------------------------------------------------------

CORRUPTIONS = {
    "truncated": (lambda good: good[: len(good) // 2], "is not valid JSON"),
    "wrong format": (
        lambda good: json.dumps({**json.loads(good), "format": "terraform"}).encode(),
        "is not a meshprov state file",
    ),
    "newer version": (
        lambda good: json.dumps({**json.loads(good), "version": 2}).encode(),
        "was written by a newer meshprov (state format version 2)",
    ),
    "not an object": (lambda good: b"[]\n", "the top level must be a JSON object"),
    "empty": (lambda good: b"", "is not valid JSON"),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_state_is_a_clear_error_and_left_untouched(ws: Workspace, kind: str) -> None:
    applied(ws)
    corrupt, message = CORRUPTIONS[kind]
    bad = corrupt(ws.state_path.read_bytes())
    ws.state_path.write_bytes(bad)
    ws.backup_path.unlink(missing_ok=True)
    commands = [
        ("plan",),
        ("plan", "--refresh-only"),
        ("apply", "--auto-approve"),
        ("destroy", "--auto-approve"),
        ("show",),
        ("output",),
        ("state", "list"),
        ("state", "show", "test_thing.parent"),
        ("state", "pull"),
        ("state", "rm", "test_thing.parent"),
    ]
    for args in commands:
        result = ws.run(*args, code=1, valid_state=False)
        assert "Error: Failed to load state" in result.stderr, args
        assert message in result.stderr, args
        assert str(ws.state_path) in result.stderr
        assert ws.state_path.read_bytes() == bad
        assert not ws.backup_path.exists()
    assert len(ws.world_addresses()) == 3


def test_every_state_written_in_a_session_validates(ws: Workspace) -> None:
    """A long session of commands: each state the workspace saw was schema-checked."""
    applied(ws, FAILING.replace("fail   = true", "fail   = false"))
    ws.write(BASIC)
    ws.run("apply", "--auto-approve")
    ws.run("apply", "--auto-approve", "--replace", "test_thing.solo")
    ws.run("state", "rm", "test_thing.solo")
    ws.run("apply", "--auto-approve")
    ws.run("destroy", "--auto-approve")
    serials = [doc["serial"] for doc in ws.states_seen]
    assert serials == sorted(serials)
    assert len(set(serials)) >= 5
    assert all(re.fullmatch(r"[0-9a-f-]{36}", doc["lineage"]) for doc in ws.states_seen)


def test_apply_waits_for_running_work_without_spinning(ws: Workspace) -> None:
    """While one instance of a resource has finished and another still runs, apply sleeps."""
    ws.write('test_thing "t" {\n  count = 2\n  delay = count.index * 2\n}\n')
    cpu, wall = time.process_time(), time.monotonic()
    ws.run("apply", "--auto-approve")
    assert time.monotonic() - wall >= 2
    assert time.process_time() - cpu < 0.5


# --- what is known about a value before apply ----------------------------------------------


def test_a_known_beginning_decides_at_plan_time(ws: Workspace) -> None:
    """A template over an export is unknown, but its beginning is known, as in Terraform."""
    ws.write(
        """
test_thing "parent" {
  value = "p"
}

test_thing "child" {
  value = startswith("https://${test_thing.parent.id}", "https://") ? "tls" : "plain"
}
"""
    )
    out = ws.run("plan").stdout
    assert '      + value  = "tls"' in out
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in out


def test_iterating_an_unknown_string_fails_before_apply(ws: Workspace) -> None:
    ws.write(
        """
test_thing "parent" {
  value = "p"
}

test_thing "child" {
  value = join(",", [for c in "id-${test_thing.parent.id}" : c])
}
"""
    )
    err = ws.run("validate", code=1).stderr
    assert "Iteration over non-iterable value" in err
    assert "A value of type string cannot be used as the collection in a 'for' expression." in err
    assert "main.hcl line 6:" in err
