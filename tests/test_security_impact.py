"""The security impact of a plan (render/security.py) and its terminal block (render/human.py)."""

from __future__ import annotations

from tests.support import plans
from tests.support.plans import (
    ca_values,
    change,
    cp_values,
    firewall_values,
    issued,
    make_plan,
)

from meshprov.diagnostics import TARGETING, warning
from meshprov.lang.values import UNKNOWN
from meshprov.plan.model import Action, Mode
from meshprov.render.human import render_security_impact
from meshprov.render.security import (
    CAImpact,
    CertificateImpact,
    SourceChange,
    listing,
    security_impact,
    summary_lines,
)
from meshprov.resources.zone import PROXY_AUTHN_DISABLED

MEMORY_STORE = (
    "control_plane.global keeps every policy in memory (no store): a restart of kuma-cp loses "
    "them all"
)
STORE = {
    "type": "postgres",
    "host": "db.internal",
    "port": 5432,
    "user": "kuma",
    "password": "a-password",
    "db_name": "kuma",
    "tls_mode": "verifyFull",
    "tls_ca": "ca.cp",
}


def test_first_plan_opens_the_firewall_to_the_zones_and_issues_everything() -> None:
    impact = security_impact(plans.quickstart_create())
    (fw,) = impact.firewalls
    assert fw.address == "firewall.kds"
    assert fw.port == 5685
    assert fw.added == (
        SourceChange("198.51.100.10/32", "eu-west"),
        SourceChange("203.0.113.20/32", "us-east"),
    )
    assert fw.removed == () and fw.revoked == () and not fw.unknown
    # expiry is estimated from the plan's time (2030-01-15) and cert_validity (8760h = 365 days)
    assert impact.certificates == (
        CertificateImpact("control_plane.global", "issued", "", "2031-01-15"),
        CertificateImpact("zone.eu_west", "issued", "", "2031-01-15"),
        CertificateImpact("zone.us_east", "issued", "", "2031-01-15"),
    )
    assert impact.cas == (CAImpact("ca.cp", "created", expires="2040-01-13"),)
    # the quickstart's global has no store (SPEC §1.5)
    assert impact.warnings == (MEMORY_STORE,)


def test_ca_rotation_counts_the_certificates_it_reissues_and_says_why() -> None:
    impact = security_impact(plans.ca_rotation())
    (fw,) = impact.firewalls
    assert fw.added == ()
    assert fw.removed == (SourceChange("192.0.2.30/32", "ap-south"),)
    assert fw.revoked == ("tcp/5685 from 0.0.0.0/0 in sg-0123456789abcdef0 (sgr-ffff)",)
    certs = {c.address: (c.action, c.why) for c in impact.certificates}
    assert certs == {
        "control_plane.global": ("reissued", "the signing CA is replaced"),
        "zone.ap_south": ("removed", ""),
        "zone.eu_west": ("reissued", "the signing CA is replaced"),
        "zone.us_east": ("reissued", "key_algorithm changed"),
    }
    assert impact.cas == (CAImpact("ca.cp", "replaced", "common_name changed", 2, "2040-01-13"),)
    assert impact.warnings == (
        MEMORY_STORE,
        "zone.us_east serves the API over plain HTTP on 0.0.0.0:5681 (api_http_interface)",
    )


def test_expiring_certificate_is_reissued_for_that_reason() -> None:
    (cert,) = security_impact(plans.drift_and_expiry()).certificates
    assert cert == CertificateImpact(
        "control_plane.global", "reissued", "it is within renew_before of expiry", "2031-01-15"
    )


def test_reissue_counts_follow_intermediate_cas() -> None:
    root_before = ca_values("root", "Root")
    root_after = {**root_before, "common_name": "Root 2", "id": UNKNOWN, "cert_pem": UNKNOWN}
    inter = ca_values("inter", "Inter", tag="in", parent="ca.root", parent_id="fp-ca")
    inter_after = {**inter, "id": UNKNOWN, "cert_pem": UNKNOWN, "parent_id": UNKNOWN}
    zone = cp_values("zone.eu", "ca.inter", "eu", zone="eu")
    cp = cp_values("control_plane.global", "ca.root", "global")
    the_plan = make_plan(
        change("ca.inter", Action.UPDATE, inter, inter_after, reason="update_because_ca_replaced"),
        change(
            "ca.root",
            Action.REPLACE,
            root_before,
            root_after,
            replace_paths=("common_name",),
            reason="replace_because_cannot_update",
        ),
        change(
            "control_plane.global",
            Action.UPDATE,
            cp,
            issued(cp),
            reason="update_because_ca_replaced",
        ),
        change("zone.eu", Action.UPDATE, zone, issued(zone), reason="update_because_ca_replaced"),
    )
    cas = {ca.address: ca for ca in security_impact(the_plan).cas}
    # the root reissues the global's certificate, the intermediate's, and the zone's below it
    assert cas["ca.root"].reissues == 3
    assert cas["ca.inter"] == CAImpact(
        "ca.inter", "re-signed", "the signing CA is replaced", 1, "2040-01-13"
    )


def test_updates_that_keep_the_certificate_have_no_impact() -> None:
    ca = ca_values("cp", "CA")
    cp = cp_values("control_plane.global", "ca.cp", "global", store=STORE)
    the_plan = make_plan(
        change("ca.cp", Action.UPDATE, ca, {**ca, "renew_before": "720h"}),
        change("control_plane.global", Action.UPDATE, cp, {**cp, "renew_before": "240h"}),
        change("zone.x", Action.NOOP, cp, cp),
    )
    impact = security_impact(the_plan)
    assert impact.empty
    assert summary_lines(impact) == []
    assert render_security_impact(the_plan, color=False) == ""


def test_sources_known_after_apply_and_allow_cidrs_labels() -> None:
    unknown = {**firewall_values({}, []), "sources": UNKNOWN}
    cidrs = firewall_values({"192.0.2.0/24": "cidr"}, [])
    the_plan = make_plan(
        change("firewall.a", Action.CREATE, None, unknown),
        change("firewall.b", Action.CREATE, None, cidrs),
    )
    a, b = security_impact(the_plan).firewalls
    assert a.unknown
    assert b.added == (SourceChange("192.0.2.0/24", "cidr"),)
    assert summary_lines(security_impact(the_plan)) == [
        "firewall.a (port 5685): sources known after apply",
        "firewall.b (port 5685): + allows 1 source: 192.0.2.0/24 (allow_cidrs)",
    ]


def test_deleting_a_firewall_removes_every_source() -> None:
    fw = firewall_values({"198.51.100.10/32": "eu"}, ["zone.eu"])
    (impact,) = security_impact(
        make_plan(change("firewall.kds", Action.DELETE, fw, None))
    ).firewalls
    assert impact.removed == (SourceChange("198.51.100.10/32", "eu"),)
    assert impact.revoked == ()


def test_warnings_from_values_public_sources_and_foreign_rules_kept() -> None:
    public = firewall_values(
        {"0.0.0.0/0": "cidr"},
        [],
        allow_public=True,
        exclusive=False,
        foreign=[
            {
                "group": "sg-1",
                "rule_id": "sgr-1",
                "source": "::/0",
                "ports": "5685",
                "description": "",
            }
        ],
    )
    zone = cp_values("zone.open", "ca.cp", "open", zone="open", mads_tls=False, dp_authn="none")
    gone = cp_values("zone.gone", "ca.cp", "gone", zone="gone", api_http_interface="0.0.0.0")
    the_plan = make_plan(
        change("firewall.kds", Action.CREATE, None, public),
        change("zone.gone", Action.DELETE, gone, None),
        change("zone.open", Action.CREATE, None, issued(zone)),
        warnings=(
            warning(
                "Proxy authentication disabled",
                "zone.open sets dp_authn = none",
                code=PROXY_AUTHN_DISABLED,
            ),
            warning(
                "Resource targeting is in effect",
                "You are creating a plan with --target",
                code=TARGETING,
            ),
            warning("Something new", "first line\nsecond line"),
        ),
    )
    assert security_impact(the_plan).warnings == (
        "firewall.kds opens port 5685 to 0.0.0.0/0 (allow_public)",
        "firewall.kds keeps ::/0 in sg-1 on port 5685, a rule meshprov does not own "
        "(exclusive = false)",
        "zone.open serves MADS (5676) without TLS (mads_tls = false)",
        'zone.open does not authenticate data plane proxies (dp_authn = "none")',
        "Something new: first line",
    )


def test_terminal_block_is_short_even_for_thousands_of_zones() -> None:
    the_plan = plans.many_zones(2000)
    text = render_security_impact(the_plan, color=False)
    lines = text.splitlines()
    assert lines[0] == "Security impact:"
    assert len(lines) <= 6
    assert any("+ allows 2000 sources:" in line and "and 1995 more" in line for line in lines)
    assert any(line.startswith("  2001 certificates issued:") for line in lines)
    assert "Security impact:" in render_security_impact(the_plan, color=True)
    assert "\x1b[1m" in render_security_impact(the_plan, color=True)


def test_terminal_block_for_the_quickstart() -> None:
    assert render_security_impact(plans.quickstart_create(), color=False) == (
        "Security impact:\n"
        "  firewall.kds (port 5685): + allows 2 sources: 198.51.100.10/32 (zone eu-west), "
        "203.0.113.20/32 (zone us-east)\n"
        "  3 certificates issued: control_plane.global, zone.eu_west, zone.us_east; "
        "expire about 2031-01-15\n"
        "  ca.cp: CA created; expires about 2040-01-13\n"
        f"  warning: {MEMORY_STORE}\n"
    )


def test_rotation_lines() -> None:
    assert summary_lines(security_impact(plans.ca_rotation())) == [
        "firewall.kds (port 5685): - stops allowing 1 source: 192.0.2.30/32 (zone ap-south)",
        "firewall.kds (port 5685): - revokes 1 rule meshprov does not own: "
        "tcp/5685 from 0.0.0.0/0 in sg-0123456789abcdef0 (sgr-ffff)",
        "2 certificates reissued (the signing CA is replaced): control_plane.global, "
        "zone.eu_west; expire about 2031-01-15",
        "1 certificate removed: zone.ap_south",
        "1 certificate reissued (key_algorithm changed): zone.us_east; expires about 2031-01-15",
        "ca.cp: CA replaced (common_name changed), reissuing 2 certificates; "
        "expires about 2040-01-13",
        # SPEC §4.1: the CA replaced in place issues certificates no client's bundle holds
        "warning: trust break: control_plane.global would present a certificate issued by "
        "ca.cp, which its clients (kumactl, zone.eu_west, zone.us_east) do not trust yet: they "
        "reject it until they get the new CA bundle and restart",
        "warning: trust break: zone.eu_west would present a certificate issued by ca.cp, which "
        "its clients (data plane proxies, kumactl, Prometheus) do not trust yet: they reject it "
        "until they get the new CA bundle and restart",
        "warning: rotate in phases instead: keep ca.cp and declare its successor in a new ca "
        "block; 1) add the new CA to trusted_cas and apply (clients get both CAs); 2) set ca to "
        "the new CA, keeping ca.cp in trusted_cas, and apply; 3) remove ca.cp from trusted_cas "
        "and apply",
        f"warning: {MEMORY_STORE}",
        "warning: zone.us_east serves the API over plain HTTP on 0.0.0.0:5681 (api_http_interface)",
    ]


def test_refresh_only_plans_have_no_impact_block() -> None:
    the_plan = make_plan(mode=Mode.REFRESH_ONLY, drift=plans.drift_and_expiry().drift)
    assert render_security_impact(the_plan, color=False) == ""


def test_bad_timestamp_or_validity_gives_no_expiry() -> None:
    cp = cp_values("control_plane.global", "ca.cp", "global", cert_validity=None)
    (cert,) = security_impact(
        make_plan(change("control_plane.global", Action.CREATE, None, issued(cp)))
    ).certificates
    assert cert.expires == ""


def test_listing() -> None:
    assert listing(["a", "b"], 5) == "a, b"
    assert listing([str(i) for i in range(8)], 3) == "0, 1, 2 and 5 more"
