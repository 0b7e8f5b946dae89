"""``plan --json`` / ``show --json``: Terraform's JSON plan shape, validated by its JSON Schema.

Real plans of Kong Mesh configurations (create, update, replace, delete, drift, destroy,
expiry, modules, for_each) through the CLI, and hand-built plans for the corners. No private key
and no key material may appear anywhere in the JSON.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from tests.support import plans
from tests.support.engine import PRIVATE_KEY, Workspace

from meshprov.plan.model import Action
from meshprov.render.json_plan import path_steps, plan_json, render_state_json, state_json
from meshprov.state import State

REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads(
    resources.files("meshprov.render").joinpath("plan.schema.json").read_text(encoding="utf-8")
)
jsonschema.Draft202012Validator.check_schema(SCHEMA)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
STATE_VALIDATOR = jsonschema.Draft202012Validator(
    {"$schema": SCHEMA["$schema"], "$defs": SCHEMA["$defs"], "$ref": "#/$defs/state"}
)

MESH = """
variable "zones" {
  type    = map(string)
  default = { eu = "198.51.100.10", us = "203.0.113.20" }
}

variable "ca_name" {
  type    = string
  default = "Mesh CA"
}

variable "global_key" {
  type    = string
  default = "ECDSA_P256"
}

variable "global_hostnames" {
  type    = list(string)
  default = []
}

variable "token" {
  type      = string
  default   = "s3cret-token"
  sensitive = true
}

ca "root" {
  common_name = var.ca_name
}

ca "inter" {
  common_name = "Zones CA"
  parent      = ca.root
}

control_plane "global" {
  ca            = ca.root
  hostnames     = var.global_hostnames
  addresses     = ["127.0.0.1"]
  key_algorithm = var.global_key
}

zone "z" {
  for_each   = var.zones
  ca         = ca.inter
  global     = control_plane.global
  name       = each.key
  addresses  = ["10.0.0.10"]
  egress_ips = [each.value]
}

output "kds" {
  value = control_plane.global.kds_address
}

output "token" {
  value     = var.token
  sensitive = true
}
"""


# --- helpers ---------------------------------------------------------------------------------


def validated(doc: dict[str, Any]) -> dict[str, Any]:
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    return doc


def key_material(ws: Workspace) -> list[str]:
    """The base64 lines of every private key in the state (what must never leak)."""
    if not ws.state_path.exists():
        return []
    found = []
    for resource in json.loads(ws.state_path.read_text())["resources"]:
        for name in resource["sensitive_attributes"]:
            value = resource["attributes"].get(name)
            if isinstance(value, str):
                found.extend(
                    line for line in value.splitlines() if line and not line.startswith("-----")
                )
    return found


def assert_secret_free(text: str, ws: Workspace | None = None) -> None:
    assert PRIVATE_KEY not in text
    assert plans.KEY_BODY not in text
    assert "s3cret-token" not in text
    for line in key_material(ws) if ws else []:
        assert line not in text


def plan_doc(ws: Workspace, *args: str) -> dict[str, Any]:
    result = ws.run("plan", "--json", *args, code=None)
    assert result.code in (0, 2), result.output
    assert_secret_free(result.stdout, ws)
    return validated(json.loads(result.stdout))


def changes(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rc["address"]: rc for rc in doc["resource_changes"]}


def actions(doc: dict[str, Any]) -> dict[str, tuple[list[str], str | None]]:
    return {a: (rc["change"]["actions"], rc.get("action_reason")) for a, rc in changes(doc).items()}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "config")


@pytest.fixture
def applied(ws: Workspace) -> Workspace:
    ws.write(MESH)
    ws.run("apply", "--auto-approve")
    return ws


# --- real plans --------------------------------------------------------------------------------


def test_create_plan(ws: Workspace) -> None:
    ws.write(MESH)
    out = ws.dir / "p.bin"
    result = ws.run("plan", "--json", "--var", "ca_name=Mesh CA", "--out", str(out))
    assert "Saved the plan" not in result.stdout  # stdout is only the JSON
    assert out.exists()
    doc = validated(json.loads(result.stdout))
    assert doc["format_version"] == "1.2"
    assert doc["applyable"] is True and doc["complete"] is True and doc["errored"] is False
    assert "prior_state" not in doc and "resource_drift" not in doc
    # every root variable, defaults included and converted to its type; sensitive ones null
    assert doc["variables"] == {
        "ca_name": {"value": "Mesh CA"},
        "global_hostnames": {"value": []},
        "global_key": {"value": "ECDSA_P256"},
        "token": {"value": None},
        "zones": {"value": {"eu": "198.51.100.10", "us": "203.0.113.20"}},
    }
    assert actions(doc) == {
        "ca.inter": (["create"], None),
        "ca.root": (["create"], None),
        "control_plane.global": (["create"], None),
        'zone.z["eu"]': (["create"], None),
        'zone.z["us"]': (["create"], None),
    }
    eu = changes(doc)['zone.z["eu"]']
    assert eu["index"] == "eu" and eu["type"] == "zone" and eu["name"] == "z"
    assert "module_address" not in eu and "action_reason" not in eu
    assert eu["provider_name"] == "meshprov" and eu["mode"] == "managed"
    change = eu["change"]
    assert change["before"] is None and change["before_sensitive"] is False
    assert change["after"]["egress_cidrs"] == ["198.51.100.10/32"]
    assert change["after"]["private_key_pem"] is None
    assert change["after_unknown"]["cert_pem"] is True
    assert change["after_unknown"]["private_key_pem"] is True
    assert change["after_sensitive"] == {"api_private_key_pem": True, "private_key_pem": True}
    assert "replace_paths" not in change
    assert "index" not in changes(doc)["ca.root"]
    root = doc["planned_values"]["root_module"]
    assert "child_modules" not in root
    values = {r["address"]: r for r in root["resources"]}
    assert set(values) == set(changes(doc))
    assert "cert_pem" not in values['zone.z["eu"]']["values"]  # unknown: left out
    assert values['zone.z["eu"]']["sensitive_values"]["private_key_pem"] is True
    assert doc["planned_values"]["outputs"] == {
        "kds": {"sensitive": False, "value": "grpcs://127.0.0.1:5685"},
        "token": {"sensitive": True, "value": None},
    }
    assert doc["output_changes"]["token"] == {
        "actions": ["create"],
        "before": None,
        "after": None,
        "after_unknown": False,
        "before_sensitive": True,
        "after_sensitive": True,
    }
    # show --json of the saved plan says the same (the sensitive variable's value is not in it)
    shown = validated(json.loads(ws.run("show", "--json", str(out)).stdout))
    for key in ("resource_changes", "output_changes", "planned_values", "timestamp", "variables"):
        assert shown[key] == doc[key], key
    assert "s3cret-token" not in out.read_text()


def test_variables_are_converted_to_their_type(ws: Workspace) -> None:
    ws.write(
        MESH
        + """
variable "ports" {
  type    = set(number)
  default = ["5685", 5682, 5685]
}

variable "settings" {
  type = object({ replicas = number, debug = optional(bool, false) })
}

variable "anything" {
  default = null
}
"""
    )
    doc = plan_doc(ws, "--var", 'settings={ replicas = "3" }', "--var", "zones={}")
    assert doc["variables"]["ports"] == {"value": [5682, 5685]}
    assert doc["variables"]["settings"] == {"value": {"debug": False, "replicas": 3}}
    assert doc["variables"]["anything"] == {"value": None}
    assert doc["variables"]["zones"] == {"value": {}}
    assert doc["variables"]["token"] == {"value": None}


def test_update_in_place(applied: Workspace) -> None:
    doc = plan_doc(applied, "--var", 'global_hostnames=["global.mesh.example.com"]')
    global_cp = changes(doc)["control_plane.global"]
    assert global_cp["change"]["actions"] == ["update"]
    assert "action_reason" not in global_cp
    assert global_cp["change"]["before"]["hostnames"] == []
    assert global_cp["change"]["after"]["hostnames"] == ["global.mesh.example.com"]
    assert global_cp["change"]["before"]["private_key_pem"] is None
    assert global_cp["change"]["before_sensitive"]["private_key_pem"] is True
    assert global_cp["change"]["after_unknown"]["cert_pem"] is True
    assert actions(doc)["ca.root"] == (["no-op"], None)
    assert doc["prior_state"]["format_version"] == "1.0"
    prior = {r["address"]: r for r in doc["prior_state"]["values"]["root_module"]["resources"]}
    assert prior["ca.root"]["values"]["private_key_pem"] is None
    assert prior["ca.root"]["sensitive_values"] == {"private_key_pem": True}
    assert prior["ca.root"]["values"]["cert_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert doc["prior_state"]["values"]["outputs"]["token"] == {"sensitive": True, "value": None}


def test_replace_with_the_paths_that_force_it(applied: Workspace) -> None:
    doc = plan_doc(applied, "--var", "global_key=ECDSA_P384")
    global_cp = changes(doc)["control_plane.global"]
    # control planes are replaced create-before-destroy: never left without a certificate
    assert global_cp["change"]["actions"] == ["create", "delete"]
    assert global_cp["action_reason"] == "replace_because_cannot_update"
    assert global_cp["change"]["replace_paths"] == [["key_algorithm"]]


def test_ca_replaced_reissues_what_it_signed(applied: Workspace) -> None:
    doc = plan_doc(applied, "--var", "ca_name=Mesh CA 2")
    found = actions(doc)
    assert found["ca.root"] == (["delete", "create"], "replace_because_cannot_update")
    assert changes(doc)["ca.root"]["change"]["replace_paths"] == [["common_name"]]
    assert found["ca.inter"] == (["update"], "update_because_ca_replaced")
    assert found["control_plane.global"] == (["update"], "update_because_ca_replaced")


def test_delete_because_each_key(applied: Workspace) -> None:
    doc = plan_doc(applied, "--var", 'zones={eu = "198.51.100.10"}')
    us = changes(doc)['zone.z["us"]']
    assert us["change"]["actions"] == ["delete"]
    assert us["action_reason"] == "delete_because_each_key"
    assert us["change"]["after"] is None
    assert us["change"]["after_sensitive"] is False
    assert us["change"]["after_unknown"] == {}
    planned = {r["address"] for r in doc["planned_values"]["root_module"]["resources"]}
    assert 'zone.z["us"]' not in planned and 'zone.z["eu"]' in planned


def test_expiring_certificates(applied: Workspace) -> None:
    later = (datetime.now(UTC) + timedelta(days=340)).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc = plan_doc(applied, "--as-of", later)
    assert doc["timestamp"] == later
    for address in ("control_plane.global", 'zone.z["eu"]', 'zone.z["us"]'):
        assert actions(doc)[address] == (["create", "delete"], "replace_because_expiring")
    assert actions(doc)["ca.root"] == (["no-op"], None)


def test_drift(applied: Workspace) -> None:
    (applied.dir / "out" / "zone.z.eu" / "tls" / "tls.key").unlink()
    doc = plan_doc(applied)
    (drift,) = doc["resource_drift"]
    assert drift["address"] == 'zone.z["eu"]'
    assert drift["change"]["actions"] == ["update"]
    assert drift["change"]["after"]["artifacts"]["tls/tls.key"] is None
    assert drift["change"]["after"]["private_key_pem"] is None
    assert actions(doc)['zone.z["eu"]'] == (["update"], None)


def test_destroy_plan(applied: Workspace) -> None:
    doc = plan_doc(applied, "--destroy")
    assert {tuple(a) for a, _ in actions(doc).values()} == {("delete",)}
    assert doc["planned_values"]["root_module"] == {}
    assert doc["output_changes"]["kds"]["actions"] == ["delete"]
    assert doc["output_changes"]["token"]["before"] is None


def test_no_changes_is_not_applyable(applied: Workspace) -> None:
    doc = plan_doc(applied)
    assert doc["applyable"] is False
    assert {tuple(a) for a, _ in actions(doc).values()} == {("no-op",)}


def test_targeted_plan_is_not_complete(ws: Workspace) -> None:
    ws.write(MESH)
    doc = plan_doc(ws, "--target", "ca.root")
    assert doc["complete"] is False
    assert list(changes(doc)) == ["ca.root"]


def test_modules_and_for_each(tmp_path: Path) -> None:
    shutil.copytree(REPO / "modules", tmp_path / "modules")
    ws = Workspace(tmp_path / "examples" / "many-zones")
    text = (REPO / "examples" / "many-zones" / "main.hcl").read_text()
    head, _, rest = text.partition('firewall "kds" {')
    ws.write(head + rest.split("}\n", 1)[1])  # the example without its AWS firewall
    doc = plan_doc(ws)
    zone = changes(doc)['module.zones["eu-west"].zone.this']
    assert zone["module_address"] == 'module.zones["eu-west"]'
    assert zone["type"] == "zone" and zone["name"] == "this" and "index" not in zone
    assert zone["change"]["after"]["ca"] == "module.global.ca.this"
    root = doc["planned_values"]["root_module"]
    assert "resources" not in root
    modules = {m["address"]: m for m in root["child_modules"]}
    assert list(modules) == [
        "module.global",
        'module.zones["ap-south"]',
        'module.zones["eu-west"]',
        'module.zones["us-east"]',
    ]
    assert [r["address"] for r in modules["module.global"]["resources"]] == [
        "module.global.ca.this",
        "module.global.control_plane.this",
    ]


def test_show_json_of_the_state(applied: Workspace, tmp_path: Path) -> None:
    text = applied.run("show", "--json").stdout
    assert_secret_free(text, applied)
    doc = json.loads(text)
    STATE_VALIDATOR.validate(doc)
    resources_ = {r["address"]: r for r in doc["values"]["root_module"]["resources"]}
    assert resources_["ca.root"]["values"]["private_key_pem"] is None
    empty = Workspace(tmp_path / "empty")
    empty.write(MESH)
    assert json.loads(empty.run("show", "--json").stdout) == {
        "format_version": "1.0",
        "meshprov_version": doc["meshprov_version"],
    }


def test_plan_json_with_warnings_keeps_stdout_json(ws: Workspace) -> None:
    ws.write(
        MESH.replace(
            'addresses     = ["127.0.0.1"]',
            'addresses = ["127.0.0.1"]\n  api_http_interface = "0.0.0.0"',
        )
    )
    result = ws.run("plan", "--json")
    assert "Warning" in result.stderr
    validated(json.loads(result.stdout))


# --- hand-built plans ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario",
    [plans.quickstart_create, plans.ca_rotation, plans.drift_and_expiry, plans.no_changes],
)
def test_scenarios_validate_and_hold_no_secret(scenario) -> None:
    doc = plan_json(scenario(), sensitive_variables={"token"})
    validated(doc)
    assert_secret_free(json.dumps(doc))


def test_rotation_document() -> None:
    doc = validated(plan_json(plans.ca_rotation()))
    assert actions(doc) == {
        "ca.cp": (["delete", "create"], "replace_because_cannot_update"),
        "control_plane.global": (["update"], "update_because_ca_replaced"),
        "firewall.kds": (["update"], None),
        "zone.ap_south": (["delete"], "delete_because_no_resource_config"),
        "zone.eu_west": (["update"], "update_because_ca_replaced"),
        "zone.us_east": (["create", "delete"], "replace_because_cannot_update"),
    }
    ca = changes(doc)["ca.cp"]["change"]
    assert ca["replace_paths"] == [["common_name"]]
    assert ca["before"]["private_key_pem"] is None
    assert ca["before_sensitive"] == {"private_key_pem": True}
    assert ca["after_unknown"]["private_key_pem"] is True
    assert doc["prior_state"]["values"]["outputs"]["admin_key"] == {
        "sensitive": True,
        "value": None,
    }


def test_output_values_and_sensitive_outputs() -> None:
    doc = validated(plan_json(plans.quickstart_create()))
    assert doc["output_changes"]["admin_key"]["after"] is None
    assert doc["planned_values"]["outputs"]["admin_key"] == {"sensitive": True, "value": None}
    assert doc["planned_values"]["outputs"]["kds_address"]["value"].startswith("grpcs://")


def test_unknown_output_is_left_out_of_planned_values() -> None:
    from meshprov.lang.values import UNKNOWN
    from meshprov.plan.model import OutputChange

    the_plan = plans.make_plan(
        outputs=(
            OutputChange("id", Action.CREATE, None, UNKNOWN, False),
            OutputChange("ids", Action.CREATE, None, ["a", UNKNOWN], False),
        )
    )
    doc = validated(plan_json(the_plan))
    assert doc["planned_values"]["outputs"]["id"] == {"sensitive": False}
    assert doc["planned_values"]["outputs"]["ids"] == {"sensitive": False, "value": ["a", None]}
    assert doc["output_changes"]["id"]["after_unknown"] is True
    assert doc["output_changes"]["ids"]["after_unknown"] == [False, True]


def test_nested_modules_tree() -> None:
    ca = plans.ca_values("x", "CA")
    the_plan = plans.make_plan(
        plans.change("module.a.module.b.ca.x", Action.CREATE, None, ca, module="module.a.module.b"),
        plans.change('module.c["k"].ca.y', Action.CREATE, None, ca, module='module.c["k"]'),
    )
    root = validated(plan_json(the_plan))["planned_values"]["root_module"]

    def shape(module: dict) -> dict:
        return {
            "address": module.get("address"),
            "resources": [r["address"] for r in module.get("resources", [])],
            "children": [shape(m) for m in module.get("child_modules", [])],
        }

    assert shape(root) == {
        "address": None,
        "resources": [],
        "children": [
            {
                "address": "module.a",
                "resources": [],
                "children": [
                    {
                        "address": "module.a.module.b",
                        "resources": ["module.a.module.b.ca.x"],
                        "children": [],
                    }
                ],
            },
            {"address": 'module.c["k"]', "resources": ['module.c["k"].ca.y'], "children": []},
        ],
    }


def test_a_private_key_in_a_value_not_marked_sensitive_is_still_scrubbed() -> None:
    leaky = {"note": plans.PRIVATE_KEY, "ok": "fine"}
    the_plan = plans.make_plan(plans.change("test_thing.x", Action.CREATE, None, leaky))
    doc = plan_json(the_plan)
    assert changes(doc)["test_thing.x"]["change"]["after"] == {"note": None, "ok": "fine"}


def test_path_steps() -> None:
    assert path_steps("key_algorithm") == ["key_algorithm"]
    assert path_steps('tags["a.b"]') == ["tags", "a.b"]
    assert path_steps("addresses[0]") == ["addresses", 0]
    assert path_steps("a.b[2].c") == ["a", "b", 2, "c"]
    assert path_steps("not a path!") == ["not a path!"]


def test_empty_state_representation() -> None:
    doc = state_json(State(lineage="x"))
    assert set(doc) == {"format_version", "meshprov_version"}
    assert render_state_json(State(lineage="x")).endswith("}\n")
