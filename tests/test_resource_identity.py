"""Resource values keep their identity through functions and expressions (SPEC §1.1, issue 13
item 1): ``values``, ``concat``, ``flatten``, ``tolist``, ``toset``, ``for``, conditionals,
locals and module outputs feed ``allow_zones``, ``ca`` and ``global``; what the firewall allows
is read back from the security groups. Marks stay per element: ``length(values(zone.z))`` is not
sensitive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.engine import Workspace
from tests.support.motoaws import REGION

MODULE = """
variable "ca" {}
variable "global" {}

zone "this" {
  name      = "mod"
  ca        = var.ca
  global    = var.global
  addresses = ["10.0.0.4"]
}

output "zone" {
  value = zone.this
}
"""

MESH = """
provider "aws" {{
  region       = "{region}"
  endpoint_url = "{endpoint}"
}}

ca "root" {{
  common_name = "Root"
}}

locals {{
  cas   = tolist([ca.root])
  zones = values(zone.z)
}}

control_plane "g" {{
  ca        = local.cas[0]
  hostnames = ["g.example.com"]
}}

zone "z" {{
  for_each  = {{ a = "10.0.0.1", b = "10.0.0.2" }}
  name      = each.key
  ca        = [for c in [ca.root] : c][0]
  global    = true ? control_plane.g : null
  addresses = [each.value]
}}

zone "solo" {{
  ca        = flatten([[ca.root]])[0]
  global    = control_plane.g
  addresses = ["10.0.0.3"]
}}

module "m" {{
  source = "./m"
  ca     = ca.root
  global = control_plane.g
}}

{firewalls}

output "zone_count" {{
  value = length(values(zone.z))
}}

output "names" {{
  value = [for z in concat(local.zones, [zone.solo]) : z.zone_name]
}}
"""

FORMS = {
    "values": "values(zone.z)",
    "concat": "concat(values(zone.z), [zone.solo])",
    "flatten": "flatten([local.zones, [zone.solo]])",
    "tolist": "tolist(local.zones)",
    "toset": "toset(concat(local.zones, [module.m.zone]))",
    "for": '[for k, z in zone.z : z if k != "b"]',
    "conditional": "length(local.zones) > 1 ? local.zones : [zone.solo]",
    "module_output": "[module.m.zone]",
}
EXPECTED = {
    "values": {"10.0.0.1/32", "10.0.0.2/32"},
    "concat": {"10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"},
    "flatten": {"10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"},
    "tolist": {"10.0.0.1/32", "10.0.0.2/32"},
    "toset": {"10.0.0.1/32", "10.0.0.2/32", "10.0.0.4/32"},
    "for": {"10.0.0.1/32"},
    "conditional": {"10.0.0.1/32", "10.0.0.2/32"},
    "module_output": {"10.0.0.4/32"},
}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path / "config")
    (workspace.dir / "m").mkdir()
    (workspace.dir / "m" / "main.hcl").write_text(MODULE)
    return workspace


def test_resource_references_survive_functions_and_expressions(ws: Workspace, moto_aws) -> None:
    groups = {form: moto_aws.security_group() for form in FORMS}
    firewalls = "\n".join(
        f'firewall "{form}" {{\n  security_group_ids = ["{groups[form]}"]\n'
        f"  allow_zones        = {expr}\n}}\n"
        for form, expr in FORMS.items()
    )
    ws.write(MESH.format(region=REGION, endpoint=moto_aws.endpoint, firewalls=firewalls))
    ws.run("validate")
    ws.run("apply", "--auto-approve")
    for form, group in groups.items():
        cidrs = {rule["CidrIpv4"] for rule in moto_aws.owned(group)}
        assert cidrs == EXPECTED[form], form
    resources = ws.resources()
    assert resources["control_plane.g"]["attributes"]["ca"] == "ca.root"
    assert resources['zone.z["a"]']["attributes"]["global"] == "control_plane.g"
    outputs = json.loads(ws.run("output", "--json").stdout)
    assert outputs["zone_count"] == {"sensitive": False, "type": "number", "value": 2}
    assert outputs["names"]["value"] == ["a", "b", "solo"]
    assert outputs["names"]["sensitive"] is False
    assert "No changes." in ws.run("plan").stdout


def test_a_sensitive_list_still_marks_what_comes_out_of_it(ws: Workspace) -> None:
    ws.write(
        """
        variable "names" {
          type      = list(string)
          sensitive = true
          default   = ["a", "b"]
        }

        output "count" {
          value = length(var.names)
        }
        """
    )
    result = ws.run("plan", code=1)
    assert "Error: Output refers to sensitive values" in result.stderr
