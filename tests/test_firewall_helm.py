"""``firewall.helm_values_file``: the Helm values overlay for a global on Kubernetes.

A global on Kubernetes has no security group of its own: its KDS Service is a LoadBalancer whose
``loadBalancerSourceRanges`` the firewall writes as an overlay for ``helm upgrade -f``. The
tests run the real ``meshprov`` command and read the file it writes with a YAML parser; the
combined case reads the security-group rules back from the moto server too.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from tests.support.motoaws import cidr_of

from meshprov.cli import cli

OVERLAY = "helm/kds-firewall.yaml"


class Config:
    """A Kubernetes global, zones from a map, and ``firewall.kds`` writing an overlay."""

    def __init__(self, directory: Path):
        self.dir = directory

    def write(
        self,
        zones: dict[str, list[str]],
        firewall: str = f'helm_values_file = "{OVERLAY}"',
        head: str = "",
    ) -> None:
        zone_map = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in zones.items())
        text = f"""
            {head}
            ca "cp" {{
              common_name = "test control-plane CA"
            }}

            control_plane "global" {{
              ca          = ca.cp
              environment = "kubernetes"
              addresses   = ["127.0.0.1"]
            }}

            zone "z" {{
              for_each   = {{ {zone_map} }}
              ca         = ca.cp
              global     = control_plane.global
              name       = each.key
              addresses  = ["10.0.0.10"]
              egress_ips = each.value
            }}

            firewall "kds" {{
              allow_zones = [for k in sort(keys(zone.z)) : zone.z[k]]
              {firewall}
            }}
            """
        (self.dir / "main.hcl").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")

    def run(self, *args: str, code: int = 0) -> str:
        invoked = CliRunner().invoke(cli, ["-C", str(self.dir), *args], catch_exceptions=True)
        if invoked.exception is not None and not isinstance(invoked.exception, SystemExit):
            raise invoked.exception
        output = invoked.stdout + invoked.stderr
        assert "Traceback" not in output, output
        assert invoked.exit_code == code, f"exit {invoked.exit_code}, expected {code}:\n{output}"
        return output if "--json" not in args else invoked.stdout

    def apply(self, code: int = 0) -> str:
        return self.run("apply", "--auto-approve", code=code)

    def overlay(self, name: str = OVERLAY) -> list[str]:
        values = yaml.safe_load((self.dir / name).read_text(encoding="utf-8"))
        assert set(values) == {"kuma"} and set(values["kuma"]) == {"controlPlane"}, values
        service = values["kuma"]["controlPlane"]["globalZoneSyncService"]
        return service["loadBalancerSourceRanges"]

    def state(self) -> dict:
        doc = json.loads((self.dir / "state" / "default.json").read_text())
        return {r["address"]: r for r in doc["resources"]}["firewall.kds"]["attributes"]


@pytest.fixture
def config(tmp_path) -> Config:
    directory = tmp_path / "cfg"
    directory.mkdir()
    return Config(directory)


ZONES = {"eu-west": ["198.51.100.10"], "us-east": ["203.0.113.20", "203.0.113.64/28"]}


def test_overlay_holds_the_allowed_cidrs_without_any_aws(config):
    """No security group and no provider "aws": the firewall is the overlay alone."""
    config.write(ZONES)
    out = config.apply()
    # the overlay has no port: it sets the source ranges of the KDS Service, whatever its port
    assert f"firewall.kds (the global's KDS Service via {OVERLAY}): + allows 3 sources" in out
    assert f"helm upgrade the global with -f values.yaml -f {OVERLAY}" in out
    path = config.dir / OVERLAY
    assert config.overlay() == ["198.51.100.10/32", "203.0.113.20/32", "203.0.113.64/28"]
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert not list(path.parent.glob(".*.tmp"))
    state = config.state()
    assert state["helm_values_file"] == OVERLAY
    assert state["helm_values"].startswith("0644 sha256:")
    assert state["security_group_ids"] == []
    assert "No changes." in config.run("plan")

    doc = json.loads(config.run("verify", "--json"))
    row = next(r for r in doc["rows"] if r["control_plane"] == "firewall.kds")
    assert row["result"] == "ok", row
    assert row["channel"] == f"firewall (the global's KDS Service via {OVERLAY})"
    assert "3 source range(s) in helm/kds-firewall.yaml" in row["detail"]


def test_the_security_impact_says_what_the_overlay_opens_in_every_renderer(config, tmp_path):
    """Not "port 5685": loadBalancerSourceRanges restrict the global's KDS Service, and the
    firewall's port plays no part in the overlay."""
    config.write(ZONES, firewall=f'helm_values_file = "{OVERLAY}"\n  port = 5682')
    plan = config.run("plan", "--no-color")
    impact = plan[plan.index("Security impact:") : plan.index("After apply:")]
    assert f"firewall.kds (the global's KDS Service via {OVERLAY}): + allows 3 sources" in impact
    assert "port" not in impact

    comment = tmp_path / "comment.md"
    config.run("plan", "--markdown", str(comment))
    markdown = comment.read_text()
    security = markdown[markdown.index("Security impact") : markdown.index("After apply")]
    assert f"- **Firewall** `firewall.kds` (the global's KDS Service via `{OVERLAY}`)" in security
    assert "port" not in security

    public = f'helm_values_file = "{OVERLAY}"\n  allow_cidrs = ["0.0.0.0/0"]'
    config.write(ZONES, firewall=public)
    out = config.run("validate", "--no-color", code=1)
    assert (
        f"0.0.0.0/0 (from allow_cidrs) would open the global's KDS Service via {OVERLAY} to the "
        "internet" in out
    )
    config.write(ZONES, firewall=public + "\n  allow_public = true")
    warnings = json.loads(config.run("plan", "--json"))["meshprov_warnings"]
    assert warnings[0] == (
        f"firewall.kds opens the global's KDS Service via {OVERLAY} to 0.0.0.0/0 (allow_public)"
    )
    assert not any("port 5685" in w for w in warnings)


def test_a_zone_change_rewrites_the_overlay_and_tells_to_helm_upgrade(config):
    config.write(ZONES)
    config.apply()
    config.write({"eu-west": ["198.51.100.11"]})
    plan = config.run("plan", "--json")
    notices = json.loads(plan)["meshprov_notices"]
    assert {
        "address": "firewall.kds",
        "action": f"helm upgrade the global with -f values.yaml -f {OVERLAY}",
        "reason": "the sources allowed to reach its KDS Service (loadBalancerSourceRanges) changed",
    } in notices
    config.apply()
    assert config.overlay() == ["198.51.100.11/32"]


@pytest.mark.parametrize("how", ["edit", "delete", "chmod", "symlink"])
def test_overlay_drift_is_shown_and_repaired(config, how, tmp_path):
    config.write(ZONES)
    config.apply()
    path = config.dir / OVERLAY
    elsewhere = tmp_path / "elsewhere.yaml"
    if how == "symlink":  # a link to a file with the very content written: still not ours
        elsewhere.write_bytes(path.read_bytes())
        elsewhere.chmod(0o644)
        path.unlink()
        path.symlink_to(elsewhere)
        note = f"{OVERLAY} was replaced by a symlink"
    elif how == "edit":
        path.write_text(path.read_text().replace("198.51.100.10/32", "0.0.0.0/0"))
        note = f"{OVERLAY} was modified"
    elif how == "delete":
        path.unlink()
        note = f"{OVERLAY} was deleted"
    else:
        path.chmod(0o666)
        note = f"{OVERLAY} has mode 0666, want 0644"
    out = config.run("plan", "--detailed-exitcode", code=2)
    assert "Objects have changed outside of meshprov" in out
    assert note in out
    assert "firewall.kds will be updated in-place" in out
    if how != "symlink":  # verify reads what helm would, through the link: the same ranges
        doc = json.loads(config.run("verify", "--json", code=1))
        row = next(r for r in doc["rows"] if r["control_plane"] == "firewall.kds")
        assert row["failed_checks"] == ["helm_values"], row

    config.apply()
    assert config.overlay() == ["198.51.100.10/32", "203.0.113.20/32", "203.0.113.64/28"]
    assert not path.is_symlink() and os.stat(path).st_mode & 0o777 == 0o644
    assert "No changes." in config.run("plan")


def test_destroy_and_a_new_path_remove_the_overlay_meshprov_wrote(config):
    config.write(ZONES)
    config.apply()
    config.write(ZONES, firewall='helm_values_file = "kds.yaml"')
    config.apply()
    assert not (config.dir / OVERLAY).exists()
    assert config.overlay("kds.yaml")
    (config.dir / "unrelated.yaml").write_text("keep: me\n")

    config.run("destroy", "--auto-approve")
    assert not (config.dir / "kds.yaml").exists()
    assert (config.dir / "unrelated.yaml").read_text() == "keep: me\n"


def test_destroy_unlinks_a_symlink_not_its_target(config, tmp_path):
    config.write(ZONES)
    config.apply()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    path = config.dir / OVERLAY
    path.unlink()
    path.symlink_to(victim)
    config.run("destroy", "--auto-approve")
    assert not path.is_symlink() and not path.exists()
    assert victim.read_text() == "precious\n"


def test_an_overlay_outside_the_configuration_directory_is_a_security_warning(config, tmp_path):
    outside = tmp_path / "elsewhere" / "kds.yaml"
    config.write(ZONES, firewall=f"helm_values_file = {json.dumps(str(outside))}")
    out = config.run("plan")
    assert (
        "warning: firewall.kds writes its Helm values overlay outside the configuration "
        f"directory: {outside}" in out
    )
    config.apply()
    assert config.overlay(str(outside))
    # once written there, later plans do not repeat it
    assert "outside the configuration directory" not in config.run("plan")


def test_an_overlay_reaching_out_through_a_symlink_is_a_security_warning(config, tmp_path):
    shared = tmp_path / "srv-shared"
    shared.mkdir()
    (config.dir / "helm").symlink_to(shared)  # a committed `helm -> /srv/shared` link
    config.write(ZONES)
    assert (
        "warning: firewall.kds writes its Helm values overlay outside the configuration "
        f"directory: {OVERLAY}" in config.run("plan")
    )
    (config.dir / "helm").unlink()
    (config.dir / "helm").mkdir()
    assert "outside the configuration directory" not in config.run("plan")


def _error_line(config: Config, argument: str) -> tuple[dict, int]:
    """The one validate error, and the line of ``argument`` in main.hcl."""
    doc = json.loads(config.run("validate", "--json", code=1))
    (err,) = [d for d in doc["diagnostics"] if d["severity"] == "error"]
    lines = (config.dir / "main.hcl").read_text(encoding="utf-8").splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.strip().startswith(argument))
    return err, line


@pytest.mark.parametrize(
    ("escape", "code"),
    [("\\u2028", "U+2028"), ("\\u0000", "U+0000"), ("\\u0085", "U+0085"), ("\\u2029", "U+2029")],
)
def test_the_firewall_refuses_the_control_characters_every_argument_refuses(config, escape, code):
    config.write(ZONES, firewall=f'helm_values_file = "helm/kds{escape}.yaml"')
    err, line = _error_line(config, "helm_values_file")
    assert err["summary"] == 'Invalid value for "helm_values_file"'
    assert f"control character {code}" in err["detail"]
    assert err["range"]["start"]["line"] == line
    assert not (config.dir / "helm").exists()


def test_a_blank_overlay_path_is_a_validate_error(config):
    config.write(ZONES, firewall='helm_values_file = "  "')
    err, line = _error_line(config, "helm_values_file")
    assert err["summary"] == "Invalid helm_values_file"
    assert err["detail"] == "firewall.kds: helm_values_file must be a file path."
    assert err["range"]["start"]["line"] == line


def test_neither_security_groups_nor_overlay_is_a_validate_error(config):
    config.write(ZONES, firewall="")
    out = config.run("validate", code=1)
    assert "Error: Nothing to configure" in out
    assert "firewall.kds needs security_group_ids" in out and "helm_values_file" in out
    assert "main.hcl line" in out
    assert not (config.dir / "state").exists()


def test_two_firewalls_writing_one_overlay_are_a_validate_error(config):
    config.write(
        ZONES,
        head=f"""
            firewall "api" {{
              port             = 5682
              allow_cidrs      = ["192.0.2.5/32"]
              helm_values_file = "./{OVERLAY}"
            }}
            """,
    )
    out = config.run("validate", code=1)
    assert "Overlapping firewalls" in out
    assert f"both write the Helm values overlay {OVERLAY}" in out


def test_security_groups_and_overlay_together(config, moto_aws):
    sg = moto_aws.security_group()
    config.write(
        ZONES,
        head=f"""
            provider "aws" {{
              region       = "eu-west-1"
              endpoint_url = {json.dumps(moto_aws.endpoint)}
            }}
            """,
        firewall=f"""
              security_group_ids = [{json.dumps(sg)}]
              helm_values_file   = "{OVERLAY}"
            """,
    )
    out = config.apply()
    assert (
        f"firewall.kds (port 5685 and the global's KDS Service via {OVERLAY}): + allows 3 sources"
        in out
    )
    wanted = ["198.51.100.10/32", "203.0.113.20/32", "203.0.113.64/28"]
    assert sorted(cidr_of(r) for r in moto_aws.owned(sg)) == wanted
    assert config.overlay() == wanted
    assert "No changes." in config.run("plan")

    config.run("destroy", "--auto-approve")
    assert moto_aws.owned(sg) == []
    assert not (config.dir / OVERLAY).exists()
