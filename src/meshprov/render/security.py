"""The security impact of a plan: who gains or loses access, which certificates and CAs change.

A pure reading of a ``Plan`` that the terminal, Markdown and JSON renderers share, so a
reviewer sees the same facts wherever they look.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from meshprov.lang.values import Unknown
from meshprov.plan.model import Action, Plan, ResourceChange
from meshprov.resources.schema import parse_duration

CONTROL_PLANE_TYPES = ("control_plane", "zone")
REASONS = {
    "replace_because_expiring": "within renew_before of expiry",
    "update_because_ca_replaced": "its CA is replaced",
    "replace_because_tainted": "tainted",
    "replace_by_request": "replacement requested",
}


@dataclass(frozen=True)
class SourceChange:
    cidr: str
    label: str  # the zone name, or "cidr" for allow_cidrs


@dataclass(frozen=True)
class FirewallImpact:
    address: str
    port: Any
    added: tuple[SourceChange, ...]
    removed: tuple[SourceChange, ...]
    revoked: tuple[str, ...]  # foreign rules revoked: "0.0.0.0/0 in sg-123"
    unknown: bool = False  # sources known only after apply


@dataclass(frozen=True)
class CertificateImpact:
    address: str
    action: str  # "issued", "reissued", "removed"
    why: str = ""
    expires: str = ""  # estimated from the plan's time and cert_validity


@dataclass(frozen=True)
class CAImpact:
    address: str
    action: str  # "created", "replaced", "re-signed", "destroyed"
    why: str = ""
    reissues: int = 0  # certificates signed by it that this plan reissues


@dataclass(frozen=True)
class SecurityImpact:
    firewalls: tuple[FirewallImpact, ...] = ()
    certificates: tuple[CertificateImpact, ...] = ()
    cas: tuple[CAImpact, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not (self.firewalls or self.certificates or self.cas or self.warnings)


def security_impact(plan: Plan) -> SecurityImpact:
    changes = plan.resource_changes
    firewalls = tuple(
        impact for c in changes if c.type == "firewall" and (impact := _firewall(c)) is not None
    )
    certificates = tuple(
        impact
        for c in changes
        if c.type in CONTROL_PLANE_TYPES and (impact := _certificate(c, plan.timestamp))
    )
    cas = tuple(_ca(c, changes) for c in changes if c.type == "ca")
    warnings = [d.summary + ": " + d.detail.split("\n")[0] for d in plan.warnings]
    for impact in firewalls:
        for source in impact.added:
            if _is_public(source.cidr):
                warnings.append(
                    f"{impact.address} opens port {impact.port} to {source.cidr} (allow_public)"
                )
    return SecurityImpact(firewalls, certificates, cas, tuple(dict.fromkeys(warnings)))


def _sources(values: dict | None) -> dict[str, str] | None:
    if values is None:
        return {}
    sources = values.get("sources")
    if isinstance(sources, Unknown):
        return None
    return dict(sources or {})


def _firewall(change: ResourceChange) -> FirewallImpact | None:
    before = _sources(change.before)
    after = _sources(change.after if change.action is not Action.DELETE else None)
    values = change.after or change.before or {}
    port = values.get("port")
    after_foreign = (change.after or {}).get("foreign")
    kept = {r["rule_id"] for r in after_foreign} if isinstance(after_foreign, list) else set()
    revoked = tuple(
        f"{rule['source']} in {rule['group']}"
        for rule in (change.before or {}).get("foreign") or []
        if change.action is not Action.DELETE and rule["rule_id"] not in kept
    )
    if after is None:
        return FirewallImpact(change.address, port, (), (), revoked, unknown=True)
    before = before or {}
    added = tuple(SourceChange(c, after[c]) for c in after if c not in before)
    removed = tuple(SourceChange(c, before[c]) for c in before if c not in after)
    if not (added or removed or revoked):
        return None
    return FirewallImpact(change.address, port, added, removed, revoked)


def _certificate(change: ResourceChange, timestamp: str) -> CertificateImpact | None:
    after = change.after or {}
    before = change.before or {}
    if change.action is Action.DELETE:
        return CertificateImpact(change.address, "removed")
    if change.action is Action.CREATE:
        return CertificateImpact(change.address, "issued", "", _expiry(timestamp, after))
    if not isinstance(after.get("cert_pem"), Unknown):
        return None  # the certificate stays; only files or settings change
    why = REASONS.get(change.reason or "", "")
    if not why:
        changed = [k for k in ("hostnames", "addresses") if after.get(k) != before.get(k)]
        if changed:
            why = "SANs changed"
        elif change.replace_paths:
            why = ", ".join(change.replace_paths) + " changed"
        elif after.get("cert_validity") != before.get("cert_validity"):
            why = "validity changed"
    return CertificateImpact(change.address, "reissued", why, _expiry(timestamp, after))


def _ca(change: ResourceChange, changes: list[ResourceChange]) -> CAImpact:
    reissues = sum(
        1
        for other in changes
        if other.reason == "update_because_ca_replaced"
        and (other.after or {}).get("ca" if other.type != "ca" else "parent") == change.address
    )
    if change.action is Action.CREATE:
        return CAImpact(change.address, "created")
    if change.action is Action.DELETE:
        return CAImpact(change.address, "destroyed")
    if change.action.is_replace:
        why = REASONS.get(change.reason or "", "") or ", ".join(change.replace_paths) + " changed"
        return CAImpact(change.address, "replaced", why, reissues)
    return CAImpact(change.address, "re-signed", REASONS.get(change.reason or "", ""), reissues)


def _expiry(timestamp: str, after: dict[str, Any]) -> str:
    validity = after.get("cert_validity")
    if not isinstance(validity, str):
        return ""
    try:
        start = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        end = start + timedelta(seconds=parse_duration(validity))
    except ValueError:
        return ""
    return end.strftime("%Y-%m-%d")


def _is_public(cidr: str) -> bool:
    network = ipaddress.ip_network(cidr, strict=False)
    return network.prefixlen < (8 if network.version == 4 else 32)


def summary_lines(impact: SecurityImpact) -> list[str]:
    """A few plain lines for the end of the terminal plan."""
    lines: list[str] = []
    for fw in impact.firewalls:
        if fw.unknown:
            lines.append(f"{fw.address} (port {fw.port}): sources known after apply")
            continue
        for s in fw.added:
            lines.append(f"{fw.address} (port {fw.port}): + {s.cidr} ({s.label})")
        for s in fw.removed:
            lines.append(f"{fw.address} (port {fw.port}): - {s.cidr} ({s.label})")
        for r in fw.revoked:
            lines.append(f"{fw.address} (port {fw.port}): - {r} (not meshprov's, revoked)")
    for cert in impact.certificates:
        text = f"{cert.address}: certificate {cert.action}"
        if cert.why:
            text += f" ({cert.why})"
        if cert.expires:
            text += f", expires about {cert.expires}"
        lines.append(text)
    for ca in impact.cas:
        text = f"{ca.address}: CA {ca.action}"
        if ca.why:
            text += f" ({ca.why})"
        if ca.reissues:
            text += f", reissuing {ca.reissues} certificate(s)"
        lines.append(text)
    lines.extend(f"warning: {w}" for w in impact.warnings)
    return lines
