"""The human plan rendering: Terraform's layout, exact text, and no secrets ever shown."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from meshprov.lang.values import UNKNOWN
from meshprov.plan.model import Action, Mode, OutputChange, Plan, ResourceChange
from meshprov.render.human import (
    render_apply_summary,
    render_outputs,
    render_plan,
    render_resource_state,
)
from meshprov.state import State

SECRET = (
    "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n"
    "-----END PRIVATE KEY-----\n"
)
CERT = (
    "-----BEGIN CERTIFICATE-----\n"
    + "\n".join(f"MIIBdzCCAR2gAwIBAgIU{i:02d}" for i in range(12))
    + "\n-----END CERTIFICATE-----\n"
)


def change(
    address: str,
    action: Action,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    module: str = "",
    index: int | str | None = None,
    **kwargs: Any,
) -> ResourceChange:
    """A change for ``[module.].type.name[index]``, the rest as given."""
    local = address[len(module) + 1 :] if module else address
    rtype, rest = local.split(".", 1)
    return ResourceChange(
        address=address,
        module=module,
        type=rtype,
        name=rest.split("[", 1)[0],
        index=index,
        action=action,
        before=before,
        after=after,
        **kwargs,
    )


def plan(
    *changes: ResourceChange,
    drift: tuple[ResourceChange, ...] = (),
    outputs: tuple[OutputChange, ...] = (),
    mode: Mode = Mode.NORMAL,
    errored: bool = False,
) -> Plan:
    return Plan(
        mode=mode,
        changes=changes,
        drift=drift,
        output_changes=outputs,
        prior_state=State.new(),
        prior_lineage="lineage",
        prior_serial=1,
        config_digest="digest",
        variables={},
        timestamp="2025-01-01T00:00:00Z",
        config_dir=Path("/nonexistent-config"),
        errored=errored,
    )


def text(block: str) -> str:
    """A triple-quoted block, less the indentation of its closing quotes."""
    lines = block.split("\n")
    margin = len(lines[-1])
    assert lines[0] == "" and not lines[-1].strip()
    return "\n".join(line[margin:] for line in lines[1:-1]) + "\n"


LEGEND = (
    "meshprov used the selected providers to generate the following execution plan. "
    "Resource actions are indicated with the following symbols:\n"
)


def body(plan_text: str) -> str:
    """The part after "will perform the following actions:", up to the summary line."""
    start = plan_text.index("meshprov will perform the following actions:\n\n")
    start += len("meshprov will perform the following actions:\n\n")
    end = plan_text.index("\nPlan: ")
    return plan_text[start:end]


# --- whole plans ------------------------------------------------------------------------------


def test_create():
    p = plan(
        change(
            "ca.root",
            Action.CREATE,
            None,
            {
                "common_name": "Root CA",
                "organization": None,
                "key_algorithm": "ECDSA_P256",
                "id": UNKNOWN,
                "cert_pem": UNKNOWN,
                "private_key_pem": UNKNOWN,
                "ports": [5685, 5443],
                "labels": {"env": "prod", "k8s.io/team": "mesh"},
                "enabled": True,
            },
            after_sensitive=frozenset({"private_key_pem"}),
        )
    )
    assert render_plan(p, color=False) == LEGEND + text(
        """
          + create

        meshprov will perform the following actions:

          # ca.root will be created
          + resource "ca" "root" {
              + cert_pem        = (known after apply)
              + common_name     = "Root CA"
              + enabled         = true
              + id              = (known after apply)
              + key_algorithm   = "ECDSA_P256"
              + labels          = {
                  + "env"         = "prod"
                  + "k8s.io/team" = "mesh"
                }
              + ports           = [
                  + 5685,
                  + 5443,
                ]
              + private_key_pem = (sensitive value)
            }

        Plan: 1 to add, 0 to change, 0 to destroy.
        """
    )


def test_update_hides_unchanged_attributes():
    before = {
        "id": "zone-eu",
        "zone_name": "eu",
        "cp_url": "https://eu.example:5685",
        "egress_cidrs": ["10.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"],
        "port": 5685,
        "labels": {"a": "1", "b": "2", "c": "3"},
    }
    after = {
        **before,
        "cp_url": "https://eu2.example:5685",
        "egress_cidrs": ["10.0.0.0/8", "10.1.0.0/16", "10.9.0.0/16", "10.3.0.0/16"],
        "labels": {"a": "1", "b": "20", "d": "4"},
    }
    p = plan(change("zone.eu", Action.UPDATE, before, after))
    out = render_plan(p, color=False)
    assert out.startswith(LEGEND + "  ~ update in-place\n\n")
    assert body(out) == text(
        """
          # zone.eu will be updated in-place
          ~ resource "zone" "eu" {
              ~ cp_url       = "https://eu.example:5685" -> "https://eu2.example:5685"
              ~ egress_cidrs = [
                    # (1 unchanged element hidden)
                    "10.1.0.0/16",
                  - "10.2.0.0/16",
                  + "10.9.0.0/16",
                    "10.3.0.0/16",
                ]
                id           = "zone-eu"
              ~ labels       = {
                  ~ "b" = "2" -> "20"
                  - "c" = "3" -> null
                  + "d" = "4"
                    # (1 unchanged element hidden)
                }
                # (2 unchanged attributes hidden)
            }
        """
    )
    assert out.endswith("Plan: 0 to add, 1 to change, 0 to destroy.\n")


def test_update_of_a_short_multiline_string_is_a_line_diff():
    before = {"config": "1\n2\n3\n4\n5\n6\n7\n8\n9\n"}
    after = {"config": "1\n2\n3\n4\n5\n6\n7\neight\n9\n"}
    out = render_plan(plan(change("zone.eu", Action.UPDATE, before, after)), color=False)
    assert body(out) == text(
        """
          # zone.eu will be updated in-place
          ~ resource "zone" "eu" {
              ~ config = <<-EOT
                    # (4 unchanged lines hidden)
                    5
                    6
                    7
                  - 8
                  + eight
                    9
                EOT
            }
        """
    )


def test_replace_marks_forcing_attributes_and_counts_once_in_add_and_destroy():
    before = {
        "id": "ca-int",
        "common_name": "Intermediate",
        "validity": "8760h",
        "cert_pem": CERT,
        "private_key_pem": SECRET,
    }
    after = {
        "id": UNKNOWN,
        "common_name": "Intermediate 2",
        "validity": "8760h",
        "cert_pem": UNKNOWN,
        "private_key_pem": UNKNOWN,
    }
    p = plan(
        change(
            "ca.int",
            Action.REPLACE,
            before,
            after,
            before_sensitive=frozenset({"private_key_pem"}),
            after_sensitive=frozenset({"private_key_pem"}),
            replace_paths=("common_name",),
        )
    )
    assert render_plan(p, color=False) == LEGEND + text(
        """
        -/+ destroy and then create replacement

        meshprov will perform the following actions:

          # ca.int must be replaced
        -/+ resource "ca" "int" {
              ~ cert_pem        = <<-EOT
                    -----BEGIN CERTIFICATE-----
                    # (12 lines hidden)
                    -----END CERTIFICATE-----
                EOT -> (known after apply)
              ~ common_name     = "Intermediate" -> "Intermediate 2" # forces replacement
              ~ id              = "ca-int" -> (known after apply)
              ~ private_key_pem = (sensitive value)
                # (1 unchanged attribute hidden)
            }

        Plan: 1 to add, 0 to change, 1 to destroy.
        """
    )
    assert p.counts() == (1, 0, 1)


def test_forces_replacement_on_a_collection_goes_on_its_first_line():
    p = plan(
        change(
            "zone.eu",
            Action.REPLACE_CBD,
            {"cidrs": ["10.0.0.0/8"]},
            {"cidrs": ["10.1.0.0/16"]},
            replace_paths=("cidrs",),
        )
    )
    out = render_plan(p, color=False)
    assert "+/- create replacement and then destroy\n" in out
    assert body(out) == text(
        """
          # zone.eu must be replaced
        +/- resource "zone" "eu" {
              ~ cidrs = [ # forces replacement
                  - "10.0.0.0/8",
                  + "10.1.0.0/16",
                ]
            }
        """
    )


@pytest.mark.parametrize(
    ("action", "reason", "header"),
    [
        (Action.REPLACE, None, "  # ca.x must be replaced"),
        (Action.REPLACE, "replace_because_cannot_update", "  # ca.x must be replaced"),
        (Action.REPLACE, "replace_because_tainted", "  # ca.x is tainted, so must be replaced"),
        (Action.REPLACE, "replace_by_request", "  # ca.x will be replaced, as requested"),
        (
            Action.REPLACE,
            "replace_by_triggers",
            "  # ca.x will be replaced due to changes in replace_triggered_by",
        ),
        (
            Action.REPLACE_CBD,
            "replace_because_expiring",
            "  # ca.x must be replaced\n  # (because it is within renew_before of expiry)",
        ),
        (
            Action.UPDATE,
            "update_because_ca_replaced",
            "  # ca.x will be updated in-place\n  # (because its CA is being replaced)",
        ),
    ],
)
def test_replace_and_update_reasons(action, reason, header):
    c = change("ca.x", action, {"id": "a", "n": 1}, {"id": "a", "n": 2}, reason=reason)
    symbol = {Action.REPLACE: "-/+", Action.REPLACE_CBD: "+/-", Action.UPDATE: "  ~"}[action]
    block = text(
        """
        SYM resource "ca" "x" {
                id = "a"
              ~ n  = 1 -> 2
            }
        """
    ).replace("SYM", symbol)
    assert body(render_plan(plan(c), color=False)) == header + "\n" + block


@pytest.mark.parametrize(
    ("address", "module", "index", "reason", "note"),
    [
        (
            "zone.z",
            "",
            None,
            "delete_because_no_resource_config",
            "zone.z is not in configuration",
        ),
        (
            'module.m["a"].zone.z',
            'module.m["a"]',
            None,
            "delete_because_no_resource_config",
            'module.m["a"].zone.z is not in configuration',
        ),
        ("zone.z[2]", "", 2, "delete_because_count_index", "index [2] is out of range for count"),
        ('zone.z["k"]', "", "k", "delete_because_each_key", 'key ["k"] is not in for_each map'),
        (
            "module.x.zone.z",
            "module.x",
            None,
            "delete_because_no_module",
            "module.x is not in configuration",
        ),
        ("zone.z", "", None, "delete_because_wrong_repetition", "resource uses count or for_each"),
        ("zone.z[0]", "", 0, "delete_because_wrong_repetition", "resource does not use count"),
        (
            'zone.z["a"]',
            "",
            "a",
            "delete_because_wrong_repetition",
            "resource does not use for_each",
        ),
        ("zone.z", "", None, None, None),
    ],
)
def test_destroy_reasons(address, module, index, reason, note):
    c = change(
        address,
        Action.DELETE,
        {"id": "z", "zone_name": "old", "port": None},
        None,
        module=module,
        index=index,
        reason=reason,
    )
    out = render_plan(plan(c), color=False)
    assert out.startswith(LEGEND + "  - destroy\n\n")
    because = f"  # (because {note})\n" if note else ""
    assert body(out) == f"  # {address} will be destroyed\n" + because + text(
        """
          - resource "zone" "z" {
              - id        = "z" -> null
              - zone_name = "old" -> null
            }
        """
    )
    assert out.endswith("Plan: 0 to add, 0 to change, 1 to destroy.\n")


def test_legend_lists_only_present_symbols_in_terraform_order():
    p = plan(
        change("zone.d", Action.DELETE, {"id": "d"}, None),
        change("zone.c", Action.CREATE, None, {"id": UNKNOWN}),
        change("zone.r", Action.REPLACE, {"id": "r"}, {"id": UNKNOWN}),
        change("zone.n", Action.NOOP, {"id": "n"}, {"id": "n"}),
    )
    out = render_plan(p, color=False)
    assert out.startswith(
        LEGEND + "  + create\n  - destroy\n-/+ destroy and then create replacement\n\n"
    )
    assert "zone.n" not in out
    assert out.endswith("Plan: 2 to add, 0 to change, 2 to destroy.\n")


def test_drift_changed_and_deleted_with_notes_before_the_plan():
    drift = (
        change(
            "ca.root",
            Action.DELETE,
            {
                "id": "root",
                "cert_pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            },
            None,
            notes=("tls/root.crt was deleted", "tls/root.key was deleted"),
        ),
        change(
            "zone.eu",
            Action.UPDATE,
            {"id": "eu", "cp_url": "https://a", "port": 1},
            {"id": "eu", "cp_url": "https://b", "port": 1},
            notes=("zones/eu.yaml was edited",),
        ),
    )
    p = plan(change("ca.root", Action.CREATE, None, {"id": UNKNOWN}), drift=drift)
    assert render_plan(p, color=False) == text(
        """
        Note: Objects have changed outside of meshprov

        meshprov detected the following changes made outside of meshprov since the last "meshprov apply" which may have affected this plan:

          # ca.root has been deleted
          # (tls/root.crt was deleted)
          # (tls/root.key was deleted)
          - resource "ca" "root" {
              - cert_pem = <<-EOT
                    -----BEGIN CERTIFICATE-----
                    MIIB
                    -----END CERTIFICATE-----
                EOT -> null
              - id       = "root" -> null
            }

          # zone.eu has changed
          # (zones/eu.yaml was edited)
          ~ resource "zone" "eu" {
              ~ cp_url = "https://a" -> "https://b"
                id     = "eu"
                # (1 unchanged attribute hidden)
            }

        Unless you have made equivalent changes to your configuration, or ignored the relevant attributes using ignore_changes, the following plan may include actions to undo or respond to these changes.

        ─────────────────────────────────────────────────────────────────────────────

        meshprov used the selected providers to generate the following execution plan. Resource actions are indicated with the following symbols:
          + create

        meshprov will perform the following actions:

          # ca.root will be created
          + resource "ca" "root" {
              + id = (known after apply)
            }

        Plan: 1 to add, 0 to change, 0 to destroy.
        """  # noqa: E501
    )


def test_refresh_only_with_drift():
    drift = (
        change(
            "ca.root",
            Action.DELETE,
            {"id": "root", "private_key_pem": SECRET},
            None,
            before_sensitive=frozenset({"private_key_pem"}),
            notes=("tls/root.key was deleted",),
        ),
    )
    p = plan(drift=drift, mode=Mode.REFRESH_ONLY)
    assert render_plan(p, color=False) == text(
        """
        Note: Objects have changed outside of meshprov

        meshprov detected the following changes made outside of meshprov since the last "meshprov apply" which may have affected this plan:

          # ca.root has been deleted
          # (tls/root.key was deleted)
          - resource "ca" "root" {
              - id              = "root" -> null
              - private_key_pem = (sensitive value) -> null
            }

        This is a refresh-only plan, so meshprov will not take any actions to undo these. If you were expecting these changes then you can apply this plan to record the updated values in the meshprov state without changing any remote objects.
        """  # noqa: E501
    )


def test_drift_alone_is_not_shown_outside_refresh_only_mode():
    """As in Terraform: drift that leads to no change does not affect the plan."""
    drift = (change("zone.eu", Action.UPDATE, {"id": "eu", "n": 1}, {"id": "eu", "n": 2}),)
    out = render_plan(plan(drift=drift), color=False)
    assert out.startswith("No changes. Your infrastructure matches the configuration.\n")
    assert "Objects have changed" not in out


def test_outputs_changes():
    outputs = (
        OutputChange("root_cert", Action.CREATE, None, UNKNOWN, False),
        OutputChange("zone_url", Action.UPDATE, "https://a", "https://b", False),
        OutputChange("old", Action.DELETE, "x", None, False),
        OutputChange("admin_token", Action.UPDATE, "tok-1", "tok-2", True),
        OutputChange("cidrs", Action.CREATE, None, ["10.0.0.0/8"], False),
        OutputChange("same", Action.NOOP, "s", "s", False),
    )
    p = plan(change("zone.eu", Action.CREATE, None, {"id": UNKNOWN}), outputs=outputs)
    out = render_plan(p, color=False)
    assert out.endswith(
        text(
            """
            Plan: 1 to add, 0 to change, 0 to destroy.

            Changes to Outputs:
              ~ admin_token = (sensitive value)
              + cidrs       = [
                  + "10.0.0.0/8",
                ]
              - old         = "x" -> null
              + root_cert   = (known after apply)
              ~ zone_url    = "https://a" -> "https://b"
            """
        )
    )
    assert "tok-" not in out
    assert "same" not in out


def test_only_output_changes():
    p = plan(outputs=(OutputChange("url", Action.CREATE, None, "https://a", False),))
    assert render_plan(p, color=False) == text(
        """
        Changes to Outputs:
          + url = "https://a"

        You can apply this plan to save these new output values to the meshprov state, without changing any real infrastructure.
        """  # noqa: E501
    )


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (
            Mode.NORMAL,
            "No changes. Your infrastructure matches the configuration.\n\n"
            "meshprov has compared your real infrastructure against your configuration and found "
            "no differences, so no changes are needed.\n",
        ),
        (
            Mode.REFRESH_ONLY,
            "No changes. Your infrastructure still matches the configuration.\n\n"
            "meshprov has checked that the real remote objects still match the result of your "
            "most recent changes, and found no differences.\n",
        ),
        (
            Mode.DESTROY,
            "No changes. No objects need to be destroyed.\n\n"
            "Either you have not created any objects yet or the existing objects were already "
            "deleted outside of meshprov.\n",
        ),
    ],
)
def test_no_changes(mode, expected):
    noop = change("zone.eu", Action.NOOP, {"id": "eu"}, {"id": "eu"})
    unchanged_output = OutputChange("url", Action.NOOP, "u", "u", False)
    assert render_plan(plan(noop, outputs=(unchanged_output,), mode=mode), False) == expected


def test_errored_plan_wording():
    p = plan(change("zone.eu", Action.CREATE, None, {"id": UNKNOWN}), errored=True)
    out = render_plan(p, color=False)
    assert "meshprov planned the following actions, but then encountered a problem:\n" in out
    assert "meshprov will perform" not in out


def test_sensitivity_change_warns():
    c = change(
        "zone.eu",
        Action.UPDATE,
        {"token": "abc"},
        {"token": "abc"},
        after_sensitive=frozenset({"token"}),
    )
    assert body(render_plan(plan(c), color=False)) == text(
        """
          # zone.eu will be updated in-place
          ~ resource "zone" "eu" {
              # Warning: this attribute value will be marked as sensitive and will not
              # display in UI output after applying this change. The value is unchanged.
              ~ token = (sensitive value)
            }
        """
    )


# --- color ------------------------------------------------------------------------------------


def _full_plan() -> Plan:
    return plan(
        change("ca.a", Action.CREATE, None, {"id": UNKNOWN, "tags": {"a": "b"}}),
        change("ca.b", Action.UPDATE, {"id": "b", "n": 1}, {"id": "b", "n": 2}),
        change("ca.c", Action.DELETE, {"id": "c"}, None, reason="delete_because_count_index"),
        change("ca.d", Action.REPLACE, {"id": "d", "x": "1"}, {"id": UNKNOWN, "x": "2"}),
        drift=(change("ca.c", Action.UPDATE, {"id": "c", "m": "a\nb"}, {"id": "c", "m": "a\nc"}),),
        outputs=(OutputChange("o", Action.UPDATE, [1], [1, 2], False),),
    )


def test_no_escape_codes_without_color():
    assert "\x1b" not in render_plan(_full_plan(), color=False)


def test_color_marks_symbols_and_headers():
    out = render_plan(_full_plan(), color=True)
    assert "\x1b[32m+\x1b[0m" in out  # green +
    assert "\x1b[33m~\x1b[0m" in out  # yellow ~
    assert "\x1b[31m-\x1b[0m" in out  # red -
    assert "\x1b[1m  # ca.a\x1b[0m will be created" in out
    assert "\x1b[1;31mreplaced\x1b[0m" in out
    assert "\x1b[1mPlan:\x1b[0m 2 to add, 1 to change, 2 to destroy." in out
    # Without the codes, the colored text is the plain text.
    assert re.sub(r"\x1b\[[0-9;]*m", "", out) == render_plan(_full_plan(), color=False)


# --- secrets ----------------------------------------------------------------------------------


def test_sensitive_values_never_appear():
    secret_change = {"private_key_pem": SECRET, "id": "x", "extra": "ok"}
    changes = [
        change(
            "ca.a",
            Action.CREATE,
            None,
            secret_change,
            after_sensitive=frozenset({"private_key_pem"}),
        ),
        change(
            "ca.b",
            Action.UPDATE,
            {**secret_change, "private_key_pem": SECRET + "old"},
            secret_change,
            before_sensitive=frozenset({"private_key_pem"}),
            after_sensitive=frozenset({"private_key_pem"}),
        ),
        change(
            "ca.c",
            Action.REPLACE,
            secret_change,
            {**secret_change, "private_key_pem": UNKNOWN},
            before_sensitive=frozenset({"private_key_pem"}),
            after_sensitive=frozenset({"private_key_pem"}),
            replace_paths=("private_key_pem",),
        ),
        change(
            "ca.d",
            Action.DELETE,
            secret_change,
            None,
            before_sensitive=frozenset({"private_key_pem"}),
        ),
        change(  # only one side marked: still hidden on both
            "ca.e",
            Action.UPDATE,
            {"private_key_pem": "plain"},
            secret_change,
            after_sensitive=frozenset({"private_key_pem"}),
        ),
    ]
    outputs = (
        OutputChange("k1", Action.CREATE, None, SECRET, True),
        OutputChange("k2", Action.UPDATE, SECRET, SECRET + "x", True),
        OutputChange("k3", Action.DELETE, SECRET, None, True),
    )
    drift = tuple(c for c in changes if c.action in (Action.UPDATE, Action.DELETE))
    rendered = [
        render_plan(plan(*changes, drift=drift, outputs=outputs, mode=mode), color=color)
        for mode in Mode
        for color in (False, True)
    ]
    rendered.append(render_outputs({"k": {"value": SECRET, "sensitive": True}}))
    rendered.append(render_resource_state("ca.a", "ca", secret_change, ["private_key_pem"]))
    for out in rendered:
        assert "BEGIN PRIVATE KEY" not in out
        assert "MIGHAgEAMBMG" not in out
        assert "plain" not in out
    assert "(sensitive value)" in rendered[0]


# --- apply summary, outputs, state show --------------------------------------------------------


def test_apply_summary():
    assert (
        render_apply_summary(2, 1, 1, destroy_mode=False)
        == "Apply complete! Resources: 2 added, 1 changed, 1 destroyed."
    )
    assert (
        render_apply_summary(0, 0, 3, destroy_mode=True)
        == "Destroy complete! Resources: 3 destroyed."
    )


def test_render_outputs():
    outputs = {
        "url": {"value": "https://cp.example:5682", "sensitive": False},
        "token": {"value": "s3cret", "sensitive": True},
        "cidrs": {"value": ["10.0.0.0/8", "10.1.0.0/16"], "sensitive": False},
        "zones": {"value": {"eu": {"port": 5685, "on": True}}, "sensitive": False},
        "empty": {"value": [], "sensitive": False},
        "none": {"value": None, "sensitive": False},
        "cert": {"value": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
    }
    assert render_outputs(outputs) == text(
        """
        Outputs:

        cert = <<EOT
        -----BEGIN CERTIFICATE-----
        MIIB
        -----END CERTIFICATE-----
        EOT
        cidrs = [
          "10.0.0.0/8",
          "10.1.0.0/16",
        ]
        empty = []
        none = null
        token = <sensitive>
        url = "https://cp.example:5682"
        zones = {
          "eu" = {
            "on" = true
            "port" = 5685
          }
        }
        """
    )
    assert render_outputs({}) == ""


def test_render_resource_state():
    attributes = {
        "id": "ca-root",
        "common_name": 'Root "CA"',
        "organization": None,
        "cert_pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "private_key_pem": SECRET,
        "labels": {"env": "prod"},
        "cidrs": ["10.0.0.0/8"],
        "not_after": "2035-01-01T00:00:00Z",
    }
    assert render_resource_state(
        'module.m["a"].ca.root[0]', "ca", attributes, ["private_key_pem"]
    ) == text(
        """
        # module.m["a"].ca.root[0]:
        resource "ca" "root" {
            cert_pem        = <<-EOT
                -----BEGIN CERTIFICATE-----
                MIIB
                -----END CERTIFICATE-----
            EOT
            cidrs           = [
                "10.0.0.0/8",
            ]
            common_name     = "Root \\"CA\\""
            id              = "ca-root"
            labels          = {
                "env" = "prod"
            }
            not_after       = "2035-01-01T00:00:00Z"
            private_key_pem = (sensitive value)
        }
        """
    )


def test_long_certificates_are_shortened_in_plans_only():
    chain = CERT + CERT
    c = change("ca.x", Action.CREATE, None, {"chain_pem": chain})
    assert body(render_plan(plan(c), color=False)) == text(
        """
          # ca.x will be created
          + resource "ca" "x" {
              + chain_pem = <<-EOT
                    -----BEGIN CERTIFICATE-----
                    # (12 lines hidden)
                    -----END CERTIFICATE-----
                    -----BEGIN CERTIFICATE-----
                    # (12 lines hidden)
                    -----END CERTIFICATE-----
                EOT
            }
        """
    )
    shown = render_resource_state("ca.x", "ca", {"chain_pem": chain}, [])
    assert shown.count("MIIBdzCCAR2gAwIBAgIU05") == 2


def test_changed_long_certificate_shows_old_and_new_shortened():
    new_cert = CERT.replace("AgIU", "AgIV")
    c = change("ca.x", Action.UPDATE, {"cert_pem": CERT}, {"cert_pem": new_cert + new_cert})
    assert body(render_plan(plan(c), color=False)) == text(
        """
          # ca.x will be updated in-place
          ~ resource "ca" "x" {
              ~ cert_pem = <<-EOT
                    -----BEGIN CERTIFICATE-----
                    # (12 lines hidden)
                    -----END CERTIFICATE-----
                EOT -> <<-EOT
                    -----BEGIN CERTIFICATE-----
                    # (12 lines hidden)
                    -----END CERTIFICATE-----
                    -----BEGIN CERTIFICATE-----
                    # (12 lines hidden)
                    -----END CERTIFICATE-----
                EOT
            }
        """
    )
