"""``Plan`` objects built by hand, with Kong Mesh resources that look like the planner's.

Deterministic (fixed keys, fingerprints and time), so renderings can be compared with golden
files; every private key is a PEM block that must never reach any rendering.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshprov.diagnostics import Diagnostic
from meshprov.lang.values import UNKNOWN
from meshprov.plan.model import Action, Mode, OutputChange, Plan, ResourceChange
from meshprov.state import ResourceState, State

TIMESTAMP = "2030-01-15T12:00:00Z"
KEY_BODY = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSecretKeyMaterial"
PRIVATE_KEY = f"-----BEGIN PRIVATE KEY-----\n{KEY_BODY}\n-----END PRIVATE KEY-----\n"
CA_SENSITIVE = frozenset({"private_key_pem"})
CP_SENSITIVE = frozenset({"private_key_pem", "api_private_key_pem"})


def cert(tag: str) -> str:
    return (
        "-----BEGIN CERTIFICATE-----\n"
        + "\n".join(f"MIIB{tag}{i:02d}AwIBAgIU" for i in range(12))
        + "\n-----END CERTIFICATE-----\n"
    )


def ca_values(name: str, common_name: str, tag: str = "ca", **extra: Any) -> dict[str, Any]:
    values = {
        "common_name": common_name,
        "organization": "Example Corp",
        "key_algorithm": "ECDSA_P256",
        "validity": "87600h",
        "renew_before": "2160h",
        "parent": None,
        "id": f"fp-{tag}",
        "cert_pem": cert(tag),
        "chain_pem": cert(tag),
        "private_key_pem": PRIVATE_KEY,
        "not_before": "2029-01-01T00:00:00Z",
        "not_after": "2039-01-01T00:00:00Z",
        "serial_number": f"0a{tag}",
        "parent_id": None,
    }
    values.update(extra)
    return values


def cp_values(address: str, ca: str, tag: str, *, zone: str | None = None, **extra: Any) -> dict:
    values: dict[str, Any] = {
        "ca": ca,
        "environment": "universal",
        "hostnames": [f"{tag}.mesh.example.com"],
        "addresses": ["10.0.0.10"],
        "key_algorithm": "ECDSA_P256",
        "cert_validity": "8760h",
        "renew_before": "720h",
        "tls_min_version": "TLSv1_2",
        "api_http_interface": "127.0.0.1",
        "api_https_port": 5682,
        "api_separate_cert": False,
        "output_dir": f"out/{address}",
        "cert_pem": cert(tag),
        "private_key_pem": PRIVATE_KEY,
        "ca_bundle_pem": cert("ca"),
        "cert_not_after": "2030-06-01T00:00:00Z",
        "cert_fingerprint": f"fp-{tag}",
        "dial_host": f"{tag}.mesh.example.com",
        "api_cert_pem": None,
        "api_private_key_pem": None,
        "ca_id": "fp-ca",
        "artifacts": {"tls/tls.crt": "0644 sha256:1111", "tls/tls.key": "0600 sha256:2222"},
    }
    if zone is None:
        values.update(kds_port=5685, kds_address=f"grpcs://{tag}.mesh.example.com:5685")
    else:
        values.update(
            name=zone,
            zone_name=zone,
            global_="control_plane.global",
            egress_ips=[extra.pop("egress_ip", "198.51.100.10")],
            mads_tls=True,
            dp_authn="dpToken",
            zone_proxy_authn="zoneToken",
            dp_port=5678,
        )
        values["global"] = values.pop("global_")
        values["egress_cidrs"] = [f"{values['egress_ips'][0]}/32"]
    values.update(extra)
    return values


def issued(values: dict[str, Any]) -> dict[str, Any]:
    """The values with the certificate and key to be issued at apply."""
    return {
        **values,
        **dict.fromkeys(
            ("cert_pem", "private_key_pem", "cert_not_after", "cert_fingerprint", "artifacts"),
            UNKNOWN,
        ),
    }


def firewall_values(sources: dict[str, str], zones: list[str], **extra: Any) -> dict[str, Any]:
    cidrs = sorted(sources)
    values = {
        "security_group_ids": ["sg-0123456789abcdef0"],
        "port": 5685,
        "protocol": "tcp",
        "allow_zones": zones,
        "allow_cidrs": [c for c, label in sources.items() if label == "cidr"],
        "exclusive": True,
        "allow_public": False,
        "rules_per_group": 60,
        "region": None,
        "sources": dict(sources),
        "placement": {"sg-0123456789abcdef0": cidrs},
        "rules": {f"sg-0123456789abcdef0 {c}": f"sgr-{i:04d}" for i, c in enumerate(cidrs)},
        "cidrs": cidrs,
        "rule_ids": [f"sgr-{i:04d}" for i in range(len(cidrs))],
        "foreign": [],
        "wider": [],
        "revokes": [],
    }
    values.update(extra)
    return values


def change(
    address: str,
    action: Action,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    **kwargs: Any,
) -> ResourceChange:
    module = kwargs.pop("module", "")
    local = address[len(module) + 1 :] if module else address
    rtype, rest = local.split(".", 1)
    name, _, key = rest.partition("[")
    index: int | str | None = None
    if key:
        raw = key.rstrip("]")
        index = int(raw) if raw.isdigit() else raw.strip('"')
    sensitive = {"ca": CA_SENSITIVE, "control_plane": CP_SENSITIVE, "zone": CP_SENSITIVE}
    default = sensitive.get(rtype, frozenset())
    kwargs.setdefault("before_sensitive", default if before is not None else frozenset())
    kwargs.setdefault("after_sensitive", default if after is not None else frozenset())
    return ResourceChange(
        address=address,
        module=module,
        type=rtype,
        name=name,
        index=index,
        action=action,
        before=before,
        after=after,
        **kwargs,
    )


def make_plan(
    *changes: ResourceChange,
    drift: tuple[ResourceChange, ...] = (),
    outputs: tuple[OutputChange, ...] = (),
    mode: Mode = Mode.NORMAL,
    warnings: tuple[Diagnostic, ...] = (),
    prior: State | None = None,
    variables: dict[str, Any] | None = None,
    targets: tuple[str, ...] = (),
) -> Plan:
    return Plan(
        mode=mode,
        changes=changes,
        drift=drift,
        output_changes=outputs,
        prior_state=prior or State(lineage="11111111-2222-3333-4444-555555555555", serial=3),
        prior_lineage="11111111-2222-3333-4444-555555555555",
        prior_serial=3,
        config_digest="digest",
        variables=variables or {},
        timestamp=TIMESTAMP,
        config_dir=Path("/nonexistent-config"),
        targets=targets,
        warnings=warnings,
    )


def state_of(*changes: ResourceChange) -> State:
    """The state the ``before`` values of ``changes`` come from."""
    resources = {}
    for c in changes:
        if c.before is None:
            continue
        resources[c.address] = ResourceState(
            address=c.address,
            module=c.module,
            type=c.type,
            name=c.name,
            index=c.index,
            attributes=c.before,
            sensitive_attributes=sorted(c.before_sensitive),
        )
    return State(
        lineage="11111111-2222-3333-4444-555555555555",
        serial=3,
        outputs={"admin_key": {"value": PRIVATE_KEY, "sensitive": True}},
        resources=resources,
    )


# --- scenarios --------------------------------------------------------------------------------


def quickstart_create() -> Plan:
    """examples/quickstart planned from nothing: a CA, the global, two zones, the firewall."""
    ca = ca_values("cp", "Kong Mesh control-plane CA")
    cp = cp_values("control_plane.global", "ca.cp", "global")
    eu = cp_values("zone.eu_west", "ca.cp", "eu", zone="eu-west", egress_ip="198.51.100.10")
    us = cp_values("zone.us_east", "ca.cp", "us", zone="us-east", egress_ip="203.0.113.20")
    fw = firewall_values(
        {"198.51.100.10/32": "eu-west", "203.0.113.20/32": "us-east"},
        ["zone.eu_west", "zone.us_east"],
    )
    fw_after = {**fw, "rules": UNKNOWN, "rule_ids": UNKNOWN}
    unknown_ca = {
        **ca,
        **dict.fromkeys(
            ("id", "cert_pem", "chain_pem", "private_key_pem", "not_before", "not_after"),
            UNKNOWN,
        ),
        "serial_number": UNKNOWN,
    }
    return make_plan(
        change("ca.cp", Action.CREATE, None, unknown_ca),
        change("control_plane.global", Action.CREATE, None, issued(cp)),
        change("firewall.kds", Action.CREATE, None, fw_after),
        change("zone.eu_west", Action.CREATE, None, issued(eu)),
        change("zone.us_east", Action.CREATE, None, issued(us)),
        outputs=(
            OutputChange("kds_address", Action.CREATE, None, cp["kds_address"], False),
            OutputChange("admin_key", Action.CREATE, None, PRIVATE_KEY, True),
        ),
    )


def ca_rotation() -> Plan:
    """The CA's common name changes: the CA is replaced and every certificate it signed is
    reissued; a zone leaves the configuration (and the firewall), another one's SANs change."""
    ca_before = ca_values("cp", "Kong Mesh CA")
    ca_after = {
        **ca_values("cp", "Kong Mesh CA 2030"),
        **dict.fromkeys(
            ("id", "cert_pem", "chain_pem", "private_key_pem", "not_before", "not_after"),
            UNKNOWN,
        ),
        "serial_number": UNKNOWN,
    }
    cp = cp_values("control_plane.global", "ca.cp", "global")
    eu = cp_values("zone.eu_west", "ca.cp", "eu", zone="eu-west", egress_ip="198.51.100.10")
    us = cp_values("zone.us_east", "ca.cp", "us", zone="us-east", egress_ip="203.0.113.20")
    ap = cp_values("zone.ap_south", "ca.cp", "ap", zone="ap-south", egress_ip="192.0.2.30")
    fw_before = firewall_values(
        {"198.51.100.10/32": "eu-west", "203.0.113.20/32": "us-east", "192.0.2.30/32": "ap-south"},
        ["zone.ap_south", "zone.eu_west", "zone.us_east"],
    )
    hand_made = {
        "group": "sg-0123456789abcdef0",
        "rule_id": "sgr-ffff",
        "source": "0.0.0.0/0",
        "ports": "tcp/5685",
        "description": "",
    }
    fw_before["foreign"] = [hand_made]
    fw_after = firewall_values(
        {"198.51.100.10/32": "eu-west", "203.0.113.20/32": "us-east"},
        ["zone.eu_west", "zone.us_east"],
        revokes=[hand_made],
    )
    changes = (
        change(
            "ca.cp",
            Action.REPLACE,
            ca_before,
            ca_after,
            replace_paths=("common_name",),
            reason="replace_because_cannot_update",
        ),
        change(
            "control_plane.global",
            Action.UPDATE,
            cp,
            {**issued(cp), "ca_id": UNKNOWN, "ca_bundle_pem": UNKNOWN},
            reason="update_because_ca_replaced",
        ),
        change("firewall.kds", Action.UPDATE, fw_before, fw_after),
        change(
            "zone.ap_south",
            Action.DELETE,
            ap,
            None,
            reason="delete_because_no_resource_config",
        ),
        change(
            "zone.eu_west",
            Action.UPDATE,
            eu,
            {**issued(eu), "ca_id": UNKNOWN, "ca_bundle_pem": UNKNOWN},
            reason="update_because_ca_replaced",
        ),
        change(
            "zone.us_east",
            Action.REPLACE_CBD,
            us,
            {**issued(us), "key_algorithm": "ECDSA_P384", "api_http_interface": "0.0.0.0"},
            replace_paths=("key_algorithm",),
            reason="replace_because_cannot_update",
        ),
    )
    return make_plan(*changes, prior=state_of(*changes))


def drift_and_expiry() -> Plan:
    """A zone's key file was deleted by hand, and the global's certificate is expiring."""
    cp = cp_values("control_plane.global", "ca.cp", "global")
    eu = cp_values("zone.eu_west", "ca.cp", "eu", zone="eu-west")
    eu_drifted = {**eu, "artifacts": {"tls/tls.crt": "0644 sha256:1111", "tls/tls.key": None}}
    changes = (
        change(
            "control_plane.global",
            Action.REPLACE_CBD,
            cp,
            issued(cp),
            reason="replace_because_expiring",
        ),
        change(
            "zone.eu_west",
            Action.UPDATE,
            eu_drifted,
            {**eu, "artifacts": UNKNOWN},
        ),
    )
    drift = (
        change(
            "zone.eu_west",
            Action.UPDATE,
            eu,
            eu_drifted,
            notes=("tls/tls.key was deleted",),
        ),
    )
    return make_plan(*changes, drift=drift, prior=state_of(*changes))


def no_changes() -> Plan:
    cp = cp_values("control_plane.global", "ca.cp", "global")
    return make_plan(change("control_plane.global", Action.NOOP, cp, cp))


def many_zones(count: int) -> Plan:
    """``count`` zones created at once behind one firewall: a plan far over a comment's size."""
    changes = [
        change("ca.cp", Action.CREATE, None, ca_values("cp", "CA")),
        change(
            "control_plane.global",
            Action.CREATE,
            None,
            issued(cp_values("control_plane.global", "ca.cp", "global")),
        ),
    ]
    sources, zones = {}, []
    for i in range(count):
        name = f"zone-{i:05d}"
        ip = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
        sources[f"{ip}/32"] = name
        zones.append(f'zone.z["{name}"]')
        values = cp_values(f'zone.z["{name}"]', "ca.cp", name, zone=name, egress_ip=ip)
        changes.append(change(f'zone.z["{name}"]', Action.CREATE, None, issued(values)))
    changes.append(change("firewall.kds", Action.CREATE, None, firewall_values(sources, zones)))
    changes.sort(key=lambda c: c.address)
    return make_plan(*changes)
