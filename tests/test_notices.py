"""After-apply notices (SPEC §4.1): what each control-plane change asks the operator to do."""

from __future__ import annotations

from tests.support import plans
from tests.support.plans import ca_values, change, cp_values, issued, make_plan

from meshprov.lang.values import UNKNOWN
from meshprov.plan.model import Action
from meshprov.render.human import render_notices
from meshprov.render.notices import plan_notices
from meshprov.resources.report import Notice

# the artifacts cp_values records, with kuma-cp.env rewritten
ENV_CHANGED = {
    "kuma-cp.env": "0600 sha256:3333",
    "tls/tls.crt": "0644 sha256:1111",
    "tls/tls.key": "0600 sha256:2222",
}


def test_a_new_control_plane_must_be_started() -> None:
    cp = cp_values("control_plane.global", "ca.cp", "global")
    the_plan = make_plan(change("control_plane.global", Action.CREATE, None, issued(cp)))
    assert plan_notices(the_plan) == [
        Notice(
            "control_plane.global",
            "restart kuma-cp",
            "its certificate, key and configuration are new",
        )
    ]


def test_a_settings_change_names_the_file_kuma_cp_reads() -> None:
    before = cp_values("zone.eu", "ca.cp", "eu", zone="eu")
    after = {**before, "api_http_interface": "0.0.0.0", "artifacts": ENV_CHANGED}
    the_plan = make_plan(change("zone.eu", Action.UPDATE, before, after))
    assert plan_notices(the_plan) == [Notice("zone.eu", "restart kuma-cp", "kuma-cp.env changes")]


def test_nothing_kuma_cp_reads_changed_means_no_notice() -> None:
    before = cp_values("zone.eu", "ca.cp", "eu", zone="eu")
    after = {**before, "renew_before": "1000h"}  # state only: the files stay byte for byte
    assert plan_notices(make_plan(change("zone.eu", Action.UPDATE, before, after))) == []


def test_a_new_ca_bundle_goes_to_the_data_planes_of_a_zone_only() -> None:
    zone_before = cp_values("zone.eu", "ca.old", "eu", zone="eu")
    global_before = cp_values("control_plane.global", "ca.old", "global")
    the_plan = make_plan(
        change("ca.new", Action.CREATE, None, ca_values("ca.new", "new", "new")),
        change(
            "control_plane.global",
            Action.UPDATE,
            global_before,
            {**issued(global_before), "ca": "ca.new", "ca_bundle_pem": UNKNOWN},
            reason="update_because_ca_replaced",
        ),
        change(
            "zone.eu",
            Action.UPDATE,
            zone_before,
            {**issued(zone_before), "ca": "ca.new", "ca_bundle_pem": UNKNOWN},
            reason="update_because_ca_replaced",
        ),
    )
    # on Universal kuma-cp does not read tls/ca.crt: the bundle is the data planes' business
    reason = "its certificate and key are reissued"
    assert plan_notices(the_plan) == [
        Notice("control_plane.global", "restart kuma-cp", reason),
        Notice("zone.eu", "restart kuma-cp", reason),
        Notice(
            "zone.eu",
            "copy tls/ca.crt to the data plane hosts and restart kuma-dp",
            "the CA bundle changed: kuma-dp trusts only the bundle it started with",
        ),
    ]


def test_kubernetes_asks_for_a_helm_upgrade_and_restarted_pods() -> None:
    before = cp_values("zone.k8s", "ca.cp", "k8s", zone="k8s", environment="kubernetes")
    after = {**issued(before), "ca_bundle_pem": UNKNOWN}
    actions = [
        n.action for n in plan_notices(make_plan(change("zone.k8s", Action.UPDATE, before, after)))
    ]
    # the chart restarts kuma-cp only for Secrets it created itself: meshprov's need a rollout
    assert actions == [
        "kubectl apply -f secrets.yaml, then helm upgrade with values.yaml, then kubectl "
        "rollout restart the control-plane Deployment",
        "restart the data plane pods",
    ]


def test_deletes_and_refresh_only_plans_have_no_notices() -> None:
    cp = cp_values("zone.eu", "ca.cp", "eu", zone="eu")
    assert plan_notices(make_plan(change("zone.eu", Action.DELETE, cp, None))) == []
    drift_only = make_plan(mode=plans.Mode.REFRESH_ONLY, drift=plans.drift_and_expiry().drift)
    assert render_notices(drift_only, color=False) == ""


def test_the_terminal_block_groups_thousands_of_zones_in_one_line() -> None:
    text = render_notices(plans.many_zones(2000), color=False)
    lines = text.splitlines()
    assert lines[0] == "After apply:"
    assert len(lines) == 2
    assert lines[1].startswith("  control_plane.global, zone.")
    assert (
        "and 1996 more: restart kuma-cp (its certificate, key and configuration are new)"
        in (lines[1])
    )
