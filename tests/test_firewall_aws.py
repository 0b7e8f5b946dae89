"""The AWS firewall end to end: meshprov's CLI against a moto server over real HTTP.

Every test creates its VPC and security groups with boto3, runs the real ``meshprov`` command
(in-process through click's CliRunner, once as ``python -m meshprov``), and reads the rules back
over the AWS API with DescribeSecurityGroupRules. ``FaultProxy`` sits between meshprov and moto
where a test counts calls or makes them fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.support.motoaws import MotoAws, cidr_of

from meshprov.cli import cli

REPO = Path(__file__).resolve().parents[1]
MUTATING = {"AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"}


@dataclass
class Result:
    code: int
    output: str
    stdout: str = ""


class Mesh:
    """A configuration directory with one CA, a global CP, zones from a map and ``firewall.kds``."""

    def __init__(self, directory: Path, endpoint: str):
        self.dir = directory
        self.endpoint = endpoint

    def write(
        self,
        groups: list[str],
        zones: dict[str, list[str]] | None = None,
        cidrs: list[str] | tuple[str, ...] = (),
        firewall_extra: str = "",
        max_attempts: int = 3,
        endpoint: str | None = None,
        port: str = "control_plane.global.kds_port",
        extra: str = "",
    ) -> None:
        zone_map = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in (zones or {}).items())
        text = f"""
            provider "aws" {{
              region       = "eu-west-1"
              endpoint_url = {json.dumps(endpoint or self.endpoint)}
              max_attempts = {max_attempts}
            }}

            ca "cp" {{
              common_name = "test control-plane CA"
            }}

            control_plane "global" {{
              ca        = ca.cp
              addresses = ["127.0.0.1"]
            }}

            locals {{
              zones = {{ {zone_map} }}
            }}

            zone "z" {{
              for_each   = local.zones
              ca         = ca.cp
              global     = control_plane.global
              name       = each.key
              addresses  = ["10.0.0.10"]
              egress_ips = each.value
            }}

            firewall "kds" {{
              security_group_ids = {json.dumps(groups)}
              port               = {port}
              allow_zones        = [for k in sort(keys(zone.z)) : zone.z[k]]
              allow_cidrs        = {json.dumps(list(cidrs))}
              {firewall_extra}
            }}
            {extra}
            """
        (self.dir / "main.hcl").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")

    def run(self, *args: str, code: int | None = 0) -> Result:
        invoked = CliRunner().invoke(cli, ["-C", str(self.dir), *args], catch_exceptions=True)
        if invoked.exception is not None and not isinstance(invoked.exception, SystemExit):
            raise invoked.exception
        result = Result(invoked.exit_code, invoked.stdout + invoked.stderr, invoked.stdout)
        assert "Traceback" not in result.output, result.output
        if code is not None:
            assert result.code == code, f"exit {result.code}, expected {code}:\n{result.output}"
        return result

    def apply(self, code: int | None = 0) -> Result:
        return self.run("apply", "--auto-approve", code=code)

    def plan(self, code: int | None = 0) -> Result:
        return self.run("plan", "--detailed-exitcode", code=code)

    def state(self) -> dict[str, dict]:
        doc = json.loads((self.dir / "state" / "default.json").read_text())
        return {r["address"]: r for r in doc["resources"]}


@pytest.fixture
def mesh(tmp_path, moto_aws) -> Mesh:
    directory = tmp_path / "cfg"
    directory.mkdir()
    return Mesh(directory, moto_aws.endpoint)


def owned_map(aws: MotoAws, *groups: str) -> dict[str, tuple[str, str, str]]:
    """rule id -> (group, cidr, description) of meshprov's rules."""
    return {
        r["SecurityGroupRuleId"]: (r["GroupId"], cidr_of(r), r["Description"])
        for r in aws.owned(*groups)
    }


def by_cidr(aws: MotoAws, *groups: str) -> dict[str, str]:
    """cidr -> rule id of meshprov's rules (asserting each CIDR appears once)."""
    rules = aws.owned(*groups)
    counts = Counter(cidr_of(r) for r in rules)
    assert all(n == 1 for n in counts.values()), f"duplicate rules: {counts}"
    return {cidr_of(r): r["SecurityGroupRuleId"] for r in rules}


def add_rule(
    aws: MotoAws, group: str, protocol: str, ports: tuple[int, int], cidr: str, description: str
) -> str:
    """A hand-made rule for any protocol and port range; returns its SecurityGroupRuleId."""
    response = aws.ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": protocol,
                "FromPort": ports[0],
                "ToPort": ports[1],
                "IpRanges": [{"CidrIp": cidr, "Description": description}],
            }
        ],
    )
    return response["SecurityGroupRules"][0]["SecurityGroupRuleId"]


def firewall_row(mesh: Mesh, code: int = 0) -> dict:
    doc = json.loads(mesh.run("verify", "--json", code=code).stdout)
    return next(r for r in doc["rows"] if r["control_plane"] == "firewall.kds")


def ipv4s(count: int, base: str = "100.64") -> list[str]:
    return [f"{base}.{i // 250}.{i % 250 + 1}/32" for i in range(count)]


# --- the rules are exactly the zones' egress CIDRs --------------------------------------------


def test_rules_read_back_equal_the_zones_egress_cidrs(mesh, moto_aws):
    sg = moto_aws.security_group()
    mesh.write(
        [sg],
        zones={"eu-west": ["198.51.100.10"], "us-east": ["203.0.113.20", "203.0.113.64/28"]},
        cidrs=["192.0.2.0/24"],
    )
    out = mesh.apply().output
    assert "Apply complete! Resources: 5 added" in out

    rules = moto_aws.ingress(sg)
    assert {(cidr_of(r), r["Description"]) for r in rules} == {
        ("198.51.100.10/32", "meshprov:firewall.kds:eu-west"),
        ("203.0.113.20/32", "meshprov:firewall.kds:us-east"),
        ("203.0.113.64/28", "meshprov:firewall.kds:us-east"),
        ("192.0.2.0/24", "meshprov:firewall.kds:cidr"),
    }
    assert {(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in rules} == {("tcp", 5685, 5685)}

    state = mesh.state()["firewall.kds"]["attributes"]
    assert state["cidrs"] == [
        "192.0.2.0/24",
        "198.51.100.10/32",
        "203.0.113.20/32",
        "203.0.113.64/28",
    ]
    assert sorted(state["rule_ids"]) == sorted(r["SecurityGroupRuleId"] for r in rules)
    assert "No changes." in mesh.plan(code=0).output


def test_quickstart_example_through_python_m_meshprov(tmp_path, moto_aws):
    """The shipped example, as a user runs it: a separate process and two --var options."""
    sg = moto_aws.security_group()
    work = tmp_path / "quickstart"
    work.mkdir()
    (work / "main.hcl").write_bytes((REPO / "examples" / "quickstart" / "main.hcl").read_bytes())
    variables = [
        "--var",
        "firewall=true",
        "--var",
        f"aws_endpoint_url={moto_aws.endpoint}",
        "--var",
        f"global_security_group_id={sg}",
    ]

    applied = subprocess.run(
        [sys.executable, "-m", "meshprov", "-C", str(work), "apply", "--auto-approve", *variables],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Traceback" not in applied.stderr
    assert {(cidr_of(r), r["Description"]) for r in moto_aws.ingress(sg)} == {
        ("198.51.100.10/32", "meshprov:firewall.kds[0]:eu-west"),
        ("203.0.113.20/32", "meshprov:firewall.kds[0]:us-east"),
    }
    Mesh(work, moto_aws.endpoint).run("plan", "--detailed-exitcode", *variables, code=0)


# --- drift: rules added by hand ---------------------------------------------------------------


def test_hand_added_public_rule_is_drift_then_revoked_and_other_ports_untouched(mesh, moto_aws):
    sg = moto_aws.security_group()
    mesh.write([sg], zones={"eu-west": ["198.51.100.10"], "us-east": ["203.0.113.20"]})
    mesh.apply()
    ours = owned_map(moto_aws, sg)
    public = moto_aws.add_ingress(sg, "0.0.0.0/0", 5685)
    ssh = moto_aws.add_ingress(sg, "0.0.0.0/0", 22, description="ssh by hand")

    out = mesh.plan(code=2).output
    assert "Objects have changed outside of meshprov" in out
    assert f"{sg} gained a rule on port 5685 from 0.0.0.0/0 that meshprov does not own" in out
    assert "firewall.kds will be updated in-place" in out
    assert public in out
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in out
    assert ssh not in out  # another port is not this firewall's business

    mesh.apply()
    remaining = {r["SecurityGroupRuleId"]: r for r in moto_aws.ingress(sg)}
    assert public not in remaining
    assert ssh in remaining
    assert remaining[ssh]["FromPort"] == 22
    assert remaining[ssh]["Description"] == "ssh by hand"
    assert owned_map(moto_aws, sg) == ours  # meshprov's own rules were not touched
    assert "No changes." in mesh.plan(code=0).output


def test_exclusive_false_leaves_foreign_rules_on_the_port(mesh, moto_aws):
    sg = moto_aws.security_group()
    mesh.write([sg], zones={"eu-west": ["198.51.100.10"]}, firewall_extra="exclusive = false")
    mesh.apply()
    bastion = moto_aws.add_ingress(sg, "192.0.2.7/32", 5685, description="bastion")
    public = moto_aws.add_ingress(sg, "0.0.0.0/0", 5685)

    assert "No changes." in mesh.plan(code=0).output
    out = mesh.run("plan", "--refresh-only").output  # still reported as drift
    assert f"{sg} gained a rule on port 5685 from 192.0.2.7/32 that meshprov does not own" in out

    mesh.apply()
    ids = {r["SecurityGroupRuleId"] for r in moto_aws.ingress(sg)}
    assert {bastion, public} <= ids
    assert set(by_cidr(moto_aws, sg)) == {"198.51.100.10/32"}


def test_foreign_rule_for_a_wanted_cidr_is_named_when_not_exclusive(mesh, moto_aws):
    """AWS refuses a second rule for the same source and port (Duplicate): meshprov says which
    rule is in the way instead of retrying for ever, and exclusive = true replaces it."""
    sg = moto_aws.security_group()
    theirs = moto_aws.add_ingress(sg, "198.51.100.10/32", 5685, description="by hand")
    zones = {"eu-west": ["198.51.100.10"], "us-east": ["203.0.113.20"]}
    mesh.write([sg], zones=zones, firewall_extra="exclusive = false")
    out = mesh.apply(code=1).output
    assert (
        f"firewall.kds: security group {sg}: authorize_security_group_ingress failed: "
        f"InvalidPermission.Duplicate: 198.51.100.10/32 ({theirs}) on tcp/5685 already allowed "
        "by a rule meshprov does not own. Remove that rule, or set exclusive = true" in out
    )
    assert by_cidr(moto_aws, sg) == {}

    mesh.write([sg], zones=zones)
    mesh.apply()
    assert theirs not in {r["SecurityGroupRuleId"] for r in moto_aws.ingress(sg)}
    assert set(by_cidr(moto_aws, sg)) == {"198.51.100.10/32", "203.0.113.20/32"}


def test_a_copied_meshprov_description_does_not_make_a_rule_meshprovs(mesh, moto_aws):
    """A teammate copies one of meshprov's rules in the console ("copy to new" keeps the
    description) to let a bastion in. With exclusive = false that rule is theirs: apply and
    destroy leave it, where they once revoked it as meshprov's own."""
    sg = moto_aws.security_group()
    mesh.write([sg], zones={"eu-west": ["198.51.100.10"]}, firewall_extra="exclusive = false")
    mesh.apply()
    ours = by_cidr(moto_aws, sg)
    copied = moto_aws.add_ingress(
        sg, "192.0.2.7/32", 5685, description="meshprov:firewall.kds:eu-west"
    )

    assert "No changes." in mesh.plan(code=0).output
    drift = mesh.run("plan", "--refresh-only", "--no-color").output
    assert (
        f"{sg} gained a rule on port 5685 from 192.0.2.7/32 that meshprov does not own "
        f"({copied}: its description copies meshprov's, but meshprov did not create it)" in drift
    )
    mesh.apply()
    assert copied in {r["SecurityGroupRuleId"] for r in moto_aws.ingress(sg)}
    assert mesh.state()["firewall.kds"]["attributes"]["rule_ids"] == sorted(ours.values())

    out = mesh.run("destroy", "--auto-approve", "--no-color").output
    assert "stops allowing 1 source: 198.51.100.10/32 (zone eu-west)" in out
    assert [r["SecurityGroupRuleId"] for r in moto_aws.ingress(sg)] == [copied]


def test_a_copied_description_is_revoked_by_exclusivity_as_a_foreign_rule(mesh, moto_aws):
    """Exclusive mode revokes it, listed in the plan as a rule meshprov does not own, not as
    a source of the zone its description names."""
    sg = moto_aws.security_group()
    mesh.write([sg], zones={"eu-west": ["198.51.100.10"]})
    mesh.apply()
    ours = by_cidr(moto_aws, sg)
    copied = moto_aws.add_ingress(
        sg, "192.0.2.7/32", 5685, description="meshprov:firewall.kds:eu-west"
    )
    out = mesh.run("plan", "--no-color").output
    assert (
        f"revokes 1 rule meshprov does not own: tcp/5685 from 192.0.2.7/32 in {sg} ({copied})"
        in out
    )
    assert "stops allowing" not in out
    mesh.apply()
    assert {r["SecurityGroupRuleId"] for r in moto_aws.ingress(sg)} == set(ours.values())
    assert "No changes." in mesh.plan(code=0).output


def test_a_copied_description_for_an_allowed_source_is_adopted(mesh, moto_aws):
    """The same rule as meshprov's own (its source allowed): adopted rather than refused as a
    duplicate, so an apply killed before it saved state recovers."""
    sg = moto_aws.security_group()
    mesh.write([sg], zones={"eu-west": ["198.51.100.10"]}, firewall_extra="exclusive = false")
    made = moto_aws.add_ingress(
        sg, "198.51.100.10/32", 5685, description="meshprov:firewall.kds:eu-west"
    )
    mesh.apply()
    assert by_cidr(moto_aws, sg) == {"198.51.100.10/32": made}
    assert mesh.state()["firewall.kds"]["attributes"]["rule_ids"] == [made]
    assert firewall_row(mesh)["ok"]


def test_rule_removed_by_hand_is_drift_and_recreated(mesh, moto_aws):
    sg = moto_aws.security_group()
    mesh.write([sg], zones={"eu-west": ["198.51.100.10"], "us-east": ["203.0.113.20"]})
    mesh.apply()
    before = by_cidr(moto_aws, sg)
    moto_aws.ec2.revoke_security_group_ingress(
        GroupId=sg, SecurityGroupRuleIds=[before["203.0.113.20/32"]]
    )
    out = mesh.plan(code=2).output
    assert "rule for 203.0.113.20/32 (us-east) was removed" in out
    mesh.apply()
    after = by_cidr(moto_aws, sg)
    assert set(after) == set(before)
    assert after["198.51.100.10/32"] == before["198.51.100.10/32"]


# --- ownership: only exactly the port, only what this firewall made ------------------------------


def test_creation_revokes_only_exact_foreign_rules_lists_them_and_warns_of_wider_ones(
    mesh, moto_aws, tmp_path
):
    """A rule for all traffic or a port range that covers 5685 is someone else's rule for other
    ports too: it is kept and warned about. Only a foreign rule on exactly tcp/5685 is revoked,
    and the plan says so (terminal, JSON, Markdown) although the firewall is only being created."""
    sg = moto_aws.security_group()
    everything = add_rule(moto_aws, sg, "-1", (-1, -1), "10.20.0.0/16", "peers")
    span = add_rule(moto_aws, sg, "tcp", (5000, 6000), "192.0.2.0/24", "range")
    udp = add_rule(moto_aws, sg, "udp", (5685, 5685), "192.0.2.77/32", "udp same port")
    ssh = moto_aws.add_ingress(sg, "0.0.0.0/0", 22, description="ssh")
    exact = moto_aws.add_ingress(sg, "198.51.100.99/32", 5685, description="old bastion")
    mesh.write([sg], zones={"eu-west": ["198.51.100.10"]})

    out = mesh.plan(code=2).output
    assert (
        "firewall.kds (port 5685): - revokes 1 rule meshprov does not own: "
        f"tcp/5685 from 198.51.100.99/32 in {sg} ({exact})" in out
    ), out
    assert (
        f"warning: firewall.kds: {sg} also lets 10.20.0.0/16 reach port 5685 through "
        f"{everything} (all traffic), a wider rule meshprov does not own and never revokes" in out
    )
    assert f"also lets 192.0.2.0/24 reach port 5685 through {span} (tcp/5000-6000)" in out
    assert ssh not in out and udp not in out

    doc = json.loads(mesh.run("plan", "--json").stdout)
    change = next(c for c in doc["resource_changes"] if c["address"] == "firewall.kds")
    assert change["change"]["actions"] == ["create"]
    assert change["change"]["after"]["revokes"] == [
        {
            "group": sg,
            "rule_id": exact,
            "source": "198.51.100.99/32",
            "ports": "tcp/5685",
            "description": "old bastion",
        }
    ]
    assert {(r["rule_id"], r["ports"]) for r in change["change"]["after"]["wider"]} == {
        (everything, "all"),
        (span, "tcp/5000-6000"),
    }

    markdown = tmp_path / "plan.md"
    mesh.run("plan", "--markdown", str(markdown))
    text = markdown.read_text()
    assert (
        "**revokes** 1 rule meshprov does not own: "
        f"`tcp/5685 from 198.51.100.99/32 in {sg} ({exact})`" in text
    ), text
    assert f"{sg} also lets 10.20.0.0/16 reach port 5685 through {everything}" in text

    mesh.apply()
    assert {r["SecurityGroupRuleId"] for r in moto_aws.foreign(sg)} == {everything, span, udp, ssh}
    assert set(by_cidr(moto_aws, sg)) == {"198.51.100.10/32"}
    assert "No changes." in mesh.plan(code=0).output
    row = firewall_row(mesh)
    assert row["result"] == "WARN" and row["warnings"] == ["wider"], row


def test_a_wider_public_rule_fails_verify_but_is_never_revoked(mesh, moto_aws):
    sg = moto_aws.security_group()
    mesh.write([sg], zones={"eu-west": ["198.51.100.10"]})
    mesh.apply()
    everything = add_rule(moto_aws, sg, "-1", (-1, -1), "0.0.0.0/0", "wide open")
    assert "No changes." in mesh.plan(code=0).output
    out = mesh.run("plan", "--refresh-only").output
    assert (
        f"{sg} gained a rule for all from 0.0.0.0/0 that covers port 5685 (meshprov does not "
        "own it)" in out
    )
    mesh.apply()
    assert everything in {r["SecurityGroupRuleId"] for r in moto_aws.ingress(sg)}
    row = firewall_row(mesh, code=1)
    assert row["failed_checks"] == ["public"] and "wider" in row["warnings"], row


def test_two_configurations_share_a_group_on_different_ports(tmp_path, moto_aws):
    """Same group, same firewall address, ports 5685 and 5682: neither takes, revokes or
    vouches for the other's rules, and destroying one leaves the other's."""
    sg = moto_aws.security_group()
    kds = Mesh(tmp_path / "kds", moto_aws.endpoint)
    api = Mesh(tmp_path / "api", moto_aws.endpoint)
    for mesh in (kds, api):
        mesh.dir.mkdir()
    kds.write([sg], zones={"eu-west": ["198.51.100.10"]})
    api.write([sg], cidrs=["192.0.2.5/32"], port="5682")
    kds.apply()
    api.apply()

    rules = {(cidr_of(r), r["FromPort"]): r["SecurityGroupRuleId"] for r in moto_aws.owned(sg)}
    assert set(rules) == {("198.51.100.10/32", 5685), ("192.0.2.5/32", 5682)}
    for mesh in (kds, api):
        assert "No changes." in mesh.plan(code=0).output
        assert firewall_row(mesh)["result"] == "ok"
    kds.apply()
    assert {r["SecurityGroupRuleId"] for r in moto_aws.owned(sg)} == set(rules.values())

    # the other configuration's rule on 5682 gone: verify of kds does not care, api fails
    moto_aws.ec2.revoke_security_group_ingress(
        GroupId=sg, SecurityGroupRuleIds=[rules[("192.0.2.5/32", 5682)]]
    )
    assert firewall_row(kds)["result"] == "ok"
    assert firewall_row(api, code=1)["failed_checks"] == ["allowed"]
    api.apply()

    api.run("destroy", "--auto-approve")
    assert {(cidr_of(r), r["FromPort"]) for r in moto_aws.owned(sg)} == {("198.51.100.10/32", 5685)}
    assert "No changes." in kds.plan(code=0).output


def test_two_firewalls_on_one_group_and_port_are_a_validate_error(mesh, moto_aws):
    groups = moto_aws.security_groups(2)
    second = f"""
        firewall "bastions" {{
          security_group_ids = {json.dumps(groups[::-1])}
          allow_cidrs        = ["192.0.2.5/32"]
        }}
        """
    # validate knows literal ports (a reference such as kds_port is known at plan)
    mesh.write(groups[:1], zones={"eu-west": ["198.51.100.10"]}, port="5685", extra=second)
    out = mesh.run("validate", code=1).output
    assert "Overlapping firewalls" in out
    both = f"both manage ingress on tcp/5685 in {groups[0]}"
    assert both in out and "firewall.kds" in out and "firewall.bastions" in out
    assert "main.hcl" in out
    assert mesh.run("plan", code=1).output.count("Overlapping firewalls") == 1
    mesh.write(groups[:1], zones={"eu-west": ["198.51.100.10"]}, extra=second)
    assert both in mesh.run("plan", code=1).output

    # another port or protocol in the same group is fine
    mesh.write(
        groups[:1],
        zones={"eu-west": ["198.51.100.10"]},
        extra=second.replace("allow_cidrs", "port = 5682\n          allow_cidrs"),
    )
    mesh.run("validate")
    mesh.apply()
    assert {r["FromPort"] for r in moto_aws.owned(*groups)} == {5685, 5682}


def test_moving_sources_between_groups_shows_in_the_security_impact(mesh, moto_aws, tmp_path):
    groups = moto_aws.security_groups(2)
    mesh.write(groups, cidrs=ipv4s(6))
    mesh.apply()
    first = by_cidr(moto_aws, groups[0])
    assert first and by_cidr(moto_aws, groups[1])

    mesh.write(groups[1:], cidrs=ipv4s(6))
    out = mesh.plan(code=2).output
    for cidr in first:
        assert f"firewall.kds: moves {cidr} (allow_cidrs) from {groups[0]} to {groups[1]}" in out
    markdown = tmp_path / "plan.md"
    mesh.run("plan", "--markdown", str(markdown))
    moved = f"moves {next(iter(first))} (allow\\_cidrs) from {groups[0]} to {groups[1]}"
    assert moved in markdown.read_text()
    mesh.apply()
    assert set(by_cidr(moto_aws, groups[1])) == set(ipv4s(6))


# --- zones coming and going -------------------------------------------------------------------


def test_zone_added_then_removed_moves_exactly_its_cidrs(mesh, moto_aws):
    sg = moto_aws.security_group()
    zones = {"eu-west": ["198.51.100.10"], "us-east": ["203.0.113.20"]}
    mesh.write([sg], zones=zones)
    mesh.apply()
    before = by_cidr(moto_aws, sg)

    mesh.write([sg], zones={**zones, "ap-south": ["192.0.2.30", "192.0.2.31"]})
    out = mesh.apply().output
    assert "1 added, 1 changed, 0 destroyed" in out
    added = by_cidr(moto_aws, sg)
    assert set(added) == {*before, "192.0.2.30/32", "192.0.2.31/32"}
    assert {c: added[c] for c in before} == before  # the others kept their rule ids
    labels = {cidr_of(r): r["Description"] for r in moto_aws.owned(sg)}
    assert labels["192.0.2.30/32"] == labels["192.0.2.31/32"] == "meshprov:firewall.kds:ap-south"

    mesh.write([sg], zones={"us-east": ["203.0.113.20"], "ap-south": ["192.0.2.30", "192.0.2.31"]})
    out = mesh.apply().output
    assert "0 added, 1 changed, 1 destroyed" in out
    removed = by_cidr(moto_aws, sg)
    assert removed == {c: i for c, i in added.items() if c != "198.51.100.10/32"}


def test_changing_a_zones_egress_ips_moves_only_that_zones_rules(mesh, moto_aws):
    sg = moto_aws.security_group()
    mesh.write([sg], zones={"eu-west": ["198.51.100.10"], "us-east": ["203.0.113.20"]})
    mesh.apply()
    before = by_cidr(moto_aws, sg)

    mesh.write([sg], zones={"eu-west": ["198.51.100.11"], "us-east": ["203.0.113.20"]})
    mesh.apply()
    after = by_cidr(moto_aws, sg)
    assert set(after) == {"198.51.100.11/32", "203.0.113.20/32"}
    assert after["203.0.113.20/32"] == before["203.0.113.20/32"]
    assert after["198.51.100.11/32"] != before["198.51.100.10/32"]


def test_ipv6_zone_gets_a_128_rule_in_ipv6_ranges(mesh, moto_aws):
    sg = moto_aws.security_group()
    mesh.write([sg], zones={"eu-west": ["198.51.100.10"], "v6": ["2001:db8::10"]})
    mesh.apply()
    rules = {cidr_of(r): r for r in moto_aws.owned(sg)}
    assert set(rules) == {"198.51.100.10/32", "2001:db8::10/128"}
    assert rules["2001:db8::10/128"]["CidrIpv6"] == "2001:db8::10/128"
    assert "CidrIpv4" not in rules["2001:db8::10/128"]
    assert rules["2001:db8::10/128"]["Description"] == "meshprov:firewall.kds:v6"
    groups = moto_aws.ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"]
    v6 = [p for p in groups[0]["IpPermissions"] if p.get("Ipv6Ranges")]
    assert v6[0]["Ipv6Ranges"][0]["CidrIpv6"] == "2001:db8::10/128"
    assert "No changes." in mesh.plan(code=0).output


# --- quota: 60 rules per group, spread over groups --------------------------------------------


def test_150_cidrs_are_spread_over_three_groups_within_60_each(mesh, moto_aws):
    groups = moto_aws.security_groups(3)
    zones = {"eu-west": ["198.51.100.10"], "us-east": ["203.0.113.20"]}
    cidrs = ipv4s(148)
    mesh.write(groups, zones=zones, cidrs=cidrs)
    mesh.apply()

    per_group = {g: by_cidr(moto_aws, g) for g in groups}
    assert all(0 < len(rules) <= 60 for rules in per_group.values()), {
        g: len(r) for g, r in per_group.items()
    }
    everything = [c for rules in per_group.values() for c in rules]
    assert len(everything) == len(set(everything)) == 150
    assert set(everything) == {*cidrs, "198.51.100.10/32", "203.0.113.20/32"}
    assert "No changes." in mesh.plan(code=0).output

    # one more group: nothing moves, new CIDRs go where there is room
    extra = ipv4s(20, base="100.65")
    mesh.write(groups, zones=zones, cidrs=[*cidrs, *extra])
    mesh.apply()
    grown = {g: by_cidr(moto_aws, g) for g in groups}
    for g in groups:
        assert per_group[g].items() <= grown[g].items()
        assert len(grown[g]) <= 60


def test_181_cidrs_in_three_groups_of_60_fail_at_plan_without_changing_anything(
    mesh, moto_aws, aws_proxy
):
    groups = moto_aws.security_groups(3)
    mesh.write(groups, cidrs=ipv4s(10), endpoint=aws_proxy.url)
    mesh.apply()
    before = {g: by_cidr(moto_aws, g) for g in groups}

    mesh.write(
        groups, zones={"eu-west": ["198.51.100.10"]}, cidrs=ipv4s(180), endpoint=aws_proxy.url
    )
    aws_proxy.reset()
    for command in ("plan", "apply"):
        out = mesh.run(command, *(["--auto-approve"] if command == "apply" else []), code=1).output
        assert "firewall.kds" in out
        assert (
            "181 source CIDRs do not fit in 3 security group(s) × 60 rules per group = 180" in out
        )
    assert not MUTATING & set(aws_proxy.calls), aws_proxy.calls
    assert {g: by_cidr(moto_aws, g) for g in groups} == before


def test_rules_on_other_ports_use_up_quota_and_fail_at_plan(mesh, moto_aws, aws_proxy):
    """AWS counts every inbound rule against the quota, whatever its port: a group holding one
    ssh rule has room for 59 more, so 60 CIDRs fail at plan, before any change, naming the
    numbers; a second group takes the overflow."""
    groups = moto_aws.security_groups(2)
    ssh = moto_aws.add_ingress(groups[0], "192.0.2.1/32", 22)
    mesh.write(groups[:1], cidrs=ipv4s(60), endpoint=aws_proxy.url)
    for command in ("plan", "apply"):
        out = mesh.run(command, *(["--auto-approve"] if command == "apply" else []), code=1).output
        assert (
            "60 source CIDRs do not fit in 1 security group(s) × 60 rules per group = 60, less 1 "
            f"taken by other inbound rules ({groups[0]}: 1) = 59" in out
        ), out
    assert not MUTATING & set(aws_proxy.calls), aws_proxy.calls
    assert [r["SecurityGroupRuleId"] for r in moto_aws.ingress(groups[0])] == [ssh]

    mesh.write(groups, cidrs=ipv4s(60), endpoint=aws_proxy.url)
    mesh.apply()
    assert_converged(moto_aws, groups, set(ipv4s(60)))
    assert len(moto_aws.ingress(groups[0])) <= 60
    assert ssh in {r["SecurityGroupRuleId"] for r in moto_aws.ingress(groups[0])}


def test_new_sources_count_other_rules_added_since_the_last_apply(mesh, moto_aws, aws_proxy):
    """With state, a plan that adds sources reads the groups again: rules added by others
    since the last apply take room too."""
    sg = moto_aws.security_group()
    mesh.write([sg], cidrs=ipv4s(50), endpoint=aws_proxy.url)
    mesh.apply()
    for port in range(8000, 8005):
        moto_aws.add_ingress(sg, "192.0.2.9/32", port)
    mesh.write([sg], cidrs=ipv4s(58), endpoint=aws_proxy.url)
    aws_proxy.reset()
    out = mesh.plan(code=1).output
    assert f"less 5 taken by other inbound rules ({sg}: 5) = 55" in out
    assert not MUTATING & set(aws_proxy.calls), aws_proxy.calls
    assert len(moto_aws.owned(sg)) == 50


def test_181_cidrs_fail_on_a_first_apply_with_only_describe_calls(mesh, moto_aws, aws_proxy):
    groups = moto_aws.security_groups(3)
    mesh.write(groups, cidrs=ipv4s(181), endpoint=aws_proxy.url)
    out = mesh.apply(code=1).output
    assert "181" in out and "3 security group(s)" in out and "60 rules per group" in out
    assert not MUTATING & set(aws_proxy.calls), aws_proxy.calls
    assert moto_aws.ingress(*groups) == []
    assert not (mesh.dir / "state" / "default.json").exists() or not mesh.state()


# --- the public-CIDR guard --------------------------------------------------------------------


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "16.0.0.0/4", "::/0", "2001::/16"])
def test_public_or_very_wide_cidrs_are_refused_without_allow_public(mesh, moto_aws, cidr):
    sg = moto_aws.security_group()
    mesh.write([sg], zones={"eu-west": ["198.51.100.10"]}, cidrs=[cidr])
    out = mesh.apply(code=1).output
    assert f"firewall.kds: {cidr} (from allow_cidrs) would open port 5685" in out
    assert "allow_public = true" in out
    assert moto_aws.ingress(sg) == []


def test_public_zone_egress_is_refused_naming_the_zone(mesh, moto_aws):
    sg = moto_aws.security_group()
    mesh.write([sg], zones={"eu-west": ["198.51.100.10"], "wide": ["10.0.0.0/6"]})
    out = mesh.plan(code=1).output
    assert '8.0.0.0/6 (from zone.z["wide"])' in out


def test_allow_public_true_applies_the_public_cidr(mesh, moto_aws):
    sg = moto_aws.security_group()
    mesh.write(
        [sg],
        zones={"eu-west": ["198.51.100.10"]},
        cidrs=["0.0.0.0/0"],
        firewall_extra="allow_public = true",
    )
    mesh.apply()
    assert set(by_cidr(moto_aws, sg)) == {"0.0.0.0/0", "198.51.100.10/32"}


# --- a security group that does not exist ------------------------------------------------------


def test_missing_security_group_fails_the_plan_and_changes_nothing(mesh, moto_aws, aws_proxy):
    sg = moto_aws.security_group()
    zones = {"eu-west": ["198.51.100.10"]}
    mesh.write([sg], zones=zones, endpoint=aws_proxy.url)
    mesh.apply()
    state_before = mesh.state()
    rules_before = moto_aws.ingress(sg)
    missing = "sg-0123456789abcdef0"

    # a new zone and a group that does not exist in the same run: the plan fails, so nothing
    # at all is applied (not even the zone), and no AWS call changes anything
    mesh.write([sg, missing], zones={**zones, "us-east": ["203.0.113.20"]}, endpoint=aws_proxy.url)
    aws_proxy.reset()
    for command in ("plan", "apply"):
        out = mesh.run(command, *(["--auto-approve"] if command == "apply" else []), code=1).output
        assert "Failed to plan" in out
        assert f"security groups {sg}, {missing}: describe_security_groups failed: " in out, out
        assert "InvalidGroup.NotFound" in out
        assert "Check security_group_ids and the region." in out
        assert "firewall.kds" in out
    assert not MUTATING & set(aws_proxy.calls), aws_proxy.calls
    assert mesh.state() == state_before
    assert moto_aws.ingress(sg) == rules_before

    # back to a good configuration: everything converges
    mesh.write([sg], zones={**zones, "us-east": ["203.0.113.20"]}, endpoint=aws_proxy.url)
    mesh.apply()
    assert set(by_cidr(moto_aws, sg)) == {"198.51.100.10/32", "203.0.113.20/32"}


def test_missing_security_group_on_first_plan(mesh, moto_aws):
    mesh.write(["sg-00000000000000000"], zones={"eu-west": ["198.51.100.10"]})
    out = mesh.plan(code=1).output
    assert "Failed to plan" in out
    assert "firewall.kds" in out and "sg-00000000000000000" in out
    assert "InvalidGroup.NotFound" in out


# --- destroy ----------------------------------------------------------------------------------


def test_destroy_removes_only_meshprovs_rules(mesh, moto_aws):
    groups = moto_aws.security_groups(2)
    mesh.write(groups, zones={"eu-west": ["198.51.100.10"]}, cidrs=ipv4s(70))
    mesh.apply()
    assert len(moto_aws.owned(*groups)) == 71
    ssh = moto_aws.add_ingress(groups[0], "192.0.2.1/32", 22)
    other = moto_aws.add_ingress(groups[1], "192.0.2.2/32", 5685, description="ops")
    foreign_ids = {ssh, other}

    out = mesh.run("destroy", "--auto-approve").output
    assert "Destroy complete!" in out
    assert moto_aws.owned(*groups) == []
    assert {r["SecurityGroupRuleId"] for r in moto_aws.ingress(*groups)} == foreign_ids


def test_destroy_survives_a_lost_revoke_response(mesh, moto_aws, aws_proxy):
    sg = moto_aws.security_group()
    mesh.write([sg], zones={"eu-west": ["198.51.100.10"]}, cidrs=ipv4s(3), endpoint=aws_proxy.url)
    mesh.apply()
    ssh = moto_aws.add_ingress(sg, "192.0.2.1/32", 22)
    aws_proxy.reset(
        lambda action, n: "drop" if action == "RevokeSecurityGroupIngress" and n == 1 else "pass"
    )
    mesh.run("destroy", "--auto-approve")
    assert ("RevokeSecurityGroupIngress", "drop") in aws_proxy.outcomes
    assert [r["SecurityGroupRuleId"] for r in moto_aws.ingress(sg)] == [ssh]


# --- calls: plan only reads; faults on the wire ---------------------------------------------------


def test_plan_without_changes_makes_only_describe_calls(mesh, moto_aws, aws_proxy):
    groups = moto_aws.security_groups(2)
    mesh.write(
        groups,
        zones={"eu-west": ["198.51.100.10"], "us-east": ["203.0.113.20"]},
        cidrs=ipv4s(70),
        endpoint=aws_proxy.url,
    )
    mesh.apply()
    aws_proxy.reset()
    assert "No changes." in mesh.plan(code=0).output
    assert aws_proxy.calls, "refresh should read the groups"
    assert all(a.startswith("Describe") for a in aws_proxy.calls), aws_proxy.calls

    aws_proxy.reset()
    mesh.apply()  # nothing to do: still only reads
    assert all(a.startswith("Describe") for a in aws_proxy.calls), aws_proxy.calls


def every_second_mutation(fault: str):
    def policy(action: str, n: int) -> str:
        return fault if action in MUTATING and n % 2 == 0 else "pass"

    return policy


def assert_converged(aws: MotoAws, groups: list[str], wanted: set[str]) -> None:
    owned = aws.owned(*groups)
    counts = Counter(cidr_of(r) for r in owned)
    assert set(counts) == wanted, sorted(set(counts) ^ wanted)
    assert all(n == 1 for n in counts.values()), counts


# a configuration, then one that revokes and authorizes in both groups (46 + 46 rules)
BEFORE = ({"eu-west": ["198.51.100.10"], "us-east": ["203.0.113.20"]}, ipv4s(90))
AFTER = (
    {"eu-west": ["198.51.100.11"], "ap-south": ["192.0.2.30"]},
    ipv4s(40) + ipv4s(50, "100.66"),
)


def wanted(zones: dict[str, list[str]], cidrs: list[str]) -> set[str]:
    return {f"{ip}/32" for ips in zones.values() for ip in ips} | set(cidrs)


@pytest.mark.parametrize("fault", ["throttle", "unavailable", "drop"])
def test_faulty_calls_are_retried_or_diagnosed_and_the_next_apply_converges(
    mesh, moto_aws, aws_proxy, fault
):
    groups = moto_aws.security_groups(2)
    zones, cidrs = BEFORE
    mesh.write(groups, zones=zones, cidrs=cidrs, endpoint=aws_proxy.url, max_attempts=3)
    mesh.apply()
    hand = moto_aws.add_ingress(groups[1], "0.0.0.0/0", 5685)  # to be revoked on the way

    zones, cidrs = AFTER
    mesh.write(groups, zones=zones, cidrs=cidrs, endpoint=aws_proxy.url, max_attempts=3)
    aws_proxy.reset(every_second_mutation(fault))
    first = mesh.apply(code=None)
    assert fault in {d for _, d in aws_proxy.outcomes}
    if first.code != 0:  # retries did not absorb it: a diagnostic naming firewall and group
        assert first.code == 1
        assert any(f"firewall.kds: security group {g}: " in first.output for g in groups), (
            first.output
        )
    aws_proxy.reset()
    mesh.apply()
    assert_converged(moto_aws, groups, wanted(zones, cidrs))
    assert hand not in {r["SecurityGroupRuleId"] for r in moto_aws.ingress(*groups)}
    assert "No changes." in mesh.plan(code=0).output


def test_retries_absorb_every_second_call_failing(mesh, moto_aws, aws_proxy):
    """Throttling on every second mutating call is absorbed: exit 0 on the first try."""
    groups = moto_aws.security_groups(2)
    aws_proxy.reset(every_second_mutation("throttle"))
    mesh.write(
        groups, zones={"eu-west": ["198.51.100.10"]}, cidrs=ipv4s(90), endpoint=aws_proxy.url
    )
    mesh.apply()
    assert ("AuthorizeSecurityGroupIngress", "throttle") in aws_proxy.outcomes
    assert_converged(moto_aws, groups, {"198.51.100.10/32", *ipv4s(90)})


@pytest.mark.parametrize("count", [5, 40], ids=["duplicate", "over-quota"])
def test_lost_authorize_response_is_retried_and_reconciled(mesh, moto_aws, aws_proxy, count):
    """The first authorize takes effect but its answer is lost. The retry is refused: Duplicate,
    or (moto counts the rules before it looks for duplicates) over the 60-rule quota when the
    batch is more than half of it. Either way meshprov reads back and finds its rules there."""
    sg = moto_aws.security_group()
    aws_proxy.reset(
        lambda action, n: "drop" if action == "AuthorizeSecurityGroupIngress" and n == 1 else "pass"
    )
    mesh.write(
        [sg], zones={"eu-west": ["198.51.100.10"]}, cidrs=ipv4s(count), endpoint=aws_proxy.url
    )
    mesh.apply()
    assert aws_proxy.calls.count("AuthorizeSecurityGroupIngress") == 2
    assert_converged(moto_aws, [sg], {"198.51.100.10/32", *ipv4s(count)})
    state = mesh.state()["firewall.kds"]["attributes"]
    assert sorted(state["rule_ids"]) == sorted(r["SecurityGroupRuleId"] for r in moto_aws.owned(sg))
    aws_proxy.reset()
    assert "No changes." in mesh.plan(code=0).output
    assert not MUTATING & set(aws_proxy.calls)


def test_lost_revoke_response_is_retried_and_reconciled(mesh, moto_aws, aws_proxy):
    """The first revoke takes effect but its answer is lost; the retry finds nothing to revoke."""
    sg = moto_aws.security_group()
    mesh.write(
        [sg],
        zones={"eu-west": ["198.51.100.10"], "us-east": ["203.0.113.20"]},
        endpoint=aws_proxy.url,
    )
    mesh.apply()
    aws_proxy.reset(
        lambda action, n: "drop" if action == "RevokeSecurityGroupIngress" and n == 1 else "pass"
    )
    mesh.write([sg], zones={"us-east": ["203.0.113.20"]}, endpoint=aws_proxy.url)
    mesh.apply()
    assert ("RevokeSecurityGroupIngress", "drop") in aws_proxy.outcomes
    assert_converged(moto_aws, [sg], {"203.0.113.20/32"})
    aws_proxy.reset()
    assert "No changes." in mesh.plan(code=0).output


def test_calls_that_keep_failing_give_a_diagnostic_then_the_next_apply_converges(
    mesh, moto_aws, aws_proxy
):
    groups = moto_aws.security_groups(2)
    zones = {"eu-west": ["198.51.100.10"], "us-east": ["203.0.113.20"]}
    mesh.write(groups, zones=zones, cidrs=ipv4s(30), endpoint=aws_proxy.url, max_attempts=2)
    mesh.apply()
    moved = {**zones, "eu-west": ["198.51.100.11"]}
    mesh.write(groups, zones=moved, cidrs=ipv4s(90), endpoint=aws_proxy.url, max_attempts=2)

    # revokes get through, every authorize is refused: the groups are left half-done
    aws_proxy.reset(
        lambda action, n: "unavailable" if action == "AuthorizeSecurityGroupIngress" else "pass"
    )
    out = mesh.apply(code=1).output
    assert any(
        f"firewall.kds: security group {g}: authorize_security_group_ingress failed: "
        "Unavailable: try again." in out
        for g in groups
    ), out
    assert "firewall.kds: firewall.kds" not in out
    # max_attempts = 2 is two attempts in all; the run stops at the first group that fails
    assert aws_proxy.calls.count("AuthorizeSecurityGroupIngress") == 2, aws_proxy.calls
    assert "198.51.100.10/32" not in by_cidr(moto_aws, *groups)  # the revoke happened

    aws_proxy.reset()
    mesh.apply()
    assert_converged(moto_aws, groups, {"198.51.100.11/32", "203.0.113.20/32", *ipv4s(90)})
    assert "No changes." in mesh.plan(code=0).output
