"""The security impact of a plan: who gains or loses access, which certificates and CAs change.

A pure reading of a ``Plan`` that the terminal, Markdown and JSON renderers share, so a
reviewer sees the same facts wherever they look. Everything is derived from the planned values
(not from diagnostics alone), so a saved plan shown later says the same as the live plan did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from meshprov.lang.values import Unknown
from meshprov.plan.model import Action, Plan, ResourceChange
from meshprov.resources.firewall import is_public
from meshprov.resources.schema import parse_duration

CONTROL_PLANE_TYPES = ("control_plane", "zone")
CA_REPLACED = "update_because_ca_replaced"
REASONS = {  # completes "reissued because ..."
    "replace_because_expiring": "it is within renew_before of expiry",
    CA_REPLACED: "the signing CA is replaced",
    "replace_because_tainted": "it is tainted",
    "replace_by_request": "a replacement was requested",
}
# diagnostics that the values of the plan already tell (so they are not said twice), and
# warnings about how meshprov was run rather than about what the plan does
_COVERED_WARNINGS = frozenset(
    {
        "Plain HTTP API open on every interface",
        "Proxy authentication disabled",
        "Resource targeting is in effect",
        "Value for undeclared variable",
    }
)
LIST_LIMIT = 5  # names listed in one terminal line before "and N more"


@dataclass(frozen=True)
class SourceChange:
    cidr: str
    label: str  # the zone name, or "cidr" for allow_cidrs

    @property
    def description(self) -> str:
        return "allow_cidrs" if self.label == "cidr" else f"zone {self.label}"


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
    reissues: int = 0  # certificates under it (directly or through intermediates) reissued
    expires: str = ""  # estimated from the plan's time and validity


@dataclass(frozen=True)
class CertificateGroup:
    """Certificates with the same fate, for compact listings."""

    action: str
    why: str
    expires: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class SecurityImpact:
    firewalls: tuple[FirewallImpact, ...] = ()
    certificates: tuple[CertificateImpact, ...] = ()
    cas: tuple[CAImpact, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not (self.firewalls or self.certificates or self.cas or self.warnings)

    def certificate_groups(self) -> list[CertificateGroup]:
        """Certificates grouped by (action, why, expiry), in order of first appearance."""
        groups: dict[tuple[str, str, str], list[str]] = {}
        for cert in self.certificates:
            groups.setdefault((cert.action, cert.why, cert.expires), []).append(cert.address)
        return [CertificateGroup(a, w, e, tuple(addrs)) for (a, w, e), addrs in groups.items()]


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
    cas = tuple(
        impact
        for c in changes
        if c.type == "ca" and (impact := _ca(c, changes, plan.timestamp)) is not None
    )
    warnings: list[str] = []
    for impact in firewalls:
        for source in impact.added:
            if is_public(source.cidr):
                warnings.append(
                    f"{impact.address} opens port {impact.port} to {source.cidr} (allow_public)"
                )
    for change in changes:
        warnings.extend(_setting_warnings(change))
    warnings.extend(
        d.summary + ": " + d.detail.split("\n")[0]
        for d in plan.warnings
        if d.summary not in _COVERED_WARNINGS
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


def _cert_unknown(values: dict[str, Any] | None) -> bool:
    return isinstance((values or {}).get("cert_pem"), Unknown)


def _certificate(change: ResourceChange, timestamp: str) -> CertificateImpact | None:
    after = change.after or {}
    before = change.before or {}
    if change.action is Action.DELETE:
        return CertificateImpact(change.address, "removed")
    if change.action is Action.CREATE:
        return CertificateImpact(change.address, "issued", "", _expiry(timestamp, after))
    if not _cert_unknown(after):
        return None  # the certificate stays; only files or settings change
    return CertificateImpact(
        change.address, "reissued", _why(change, before, after), _expiry(timestamp, after)
    )


def _why(change: ResourceChange, before: dict[str, Any], after: dict[str, Any]) -> str:
    """Why a certificate is issued again, in a few words."""
    why = REASONS.get(change.reason or "", "")
    if why:
        return why
    if change.replace_paths:
        return ", ".join(change.replace_paths) + " changed"
    if any(after.get(k) != before.get(k) for k in ("hostnames", "addresses")):
        return "SANs changed"
    if after.get("cert_validity") != before.get("cert_validity"):
        return "validity changed"
    if after.get("api_separate_cert") != before.get("api_separate_cert"):
        return "api_separate_cert changed"
    return ""


def _ca(change: ResourceChange, changes: list[ResourceChange], timestamp: str) -> CAImpact | None:
    after = change.after or {}
    expires = _expiry(timestamp, after, "validity")
    if change.action is Action.CREATE:
        return CAImpact(change.address, "created", expires=expires)
    if change.action is Action.DELETE:
        return CAImpact(change.address, "destroyed")
    if change.action is Action.UPDATE and not _cert_unknown(after):
        return None  # e.g. renew_before changed: the CA certificate stays
    reissues = _reissued_under(change.address, changes)
    if change.action.is_replace:
        why = REASONS.get(change.reason or "", "")
        if not why and change.replace_paths:
            why = ", ".join(change.replace_paths) + " changed"
        return CAImpact(change.address, "replaced", why, reissues, expires)
    return CAImpact(
        change.address, "re-signed", REASONS.get(change.reason or "", ""), reissues, expires
    )


def _reissued_under(ca_address: str, changes: list[ResourceChange]) -> int:
    """Certificates this plan reissues because ``ca_address`` changes, through intermediates."""
    count, frontier, seen = 0, [ca_address], {ca_address}
    while frontier:
        issuer = frontier.pop()
        for other in changes:
            if other.reason != CA_REPLACED or other.address in seen:
                continue
            link = "parent" if other.type == "ca" else "ca"
            if (other.after or {}).get(link) != issuer:
                continue
            seen.add(other.address)
            count += 1
            if other.type == "ca":
                frontier.append(other.address)
    return count


def _setting_warnings(change: ResourceChange) -> list[str]:
    """Insecure settings on a resource this plan creates or changes."""
    if change.action is Action.DELETE or change.type not in (*CONTROL_PLANE_TYPES, "firewall"):
        return []
    after = change.after or {}
    found = []
    if change.type == "firewall":
        for rule in after.get("foreign") if isinstance(after.get("foreign"), list) else []:
            source = rule.get("source")
            if isinstance(source, str) and is_public(source):
                found.append(
                    f"{change.address} keeps {source} in {rule.get('group')} on port "
                    f"{after.get('port')}, a rule meshprov does not own (exclusive = false)"
                )
        return found
    if after.get("api_http_interface") == "0.0.0.0":
        found.append(
            f"{change.address} serves the API over plain HTTP on 0.0.0.0:5681 (api_http_interface)"
        )
    if after.get("mads_tls") is False:
        found.append(f"{change.address} serves MADS (5676) without TLS (mads_tls = false)")
    for setting, who in (("dp_authn", "data plane proxies"), ("zone_proxy_authn", "zone proxies")):
        if after.get(setting) == "none":
            found.append(f'{change.address} does not authenticate {who} ({setting} = "none")')
    return found


def _expiry(timestamp: str, after: dict[str, Any], key: str = "cert_validity") -> str:
    validity = after.get(key)
    if not isinstance(validity, str):
        return ""
    try:
        start = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        end = start + timedelta(seconds=parse_duration(validity))
    except (ValueError, OverflowError):
        return ""
    return end.strftime("%Y-%m-%d")


def listing(items: Sequence[str], limit: int = LIST_LIMIT) -> str:
    """``a, b, c`` or ``a, b, c and 7 more``."""
    shown = ", ".join(items[:limit])
    rest = len(items) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summary_lines(impact: SecurityImpact, limit: int = LIST_LIMIT) -> list[str]:
    """A few plain lines for the end of the terminal plan; long lists are cut to ``limit``."""
    lines: list[str] = []
    for fw in impact.firewalls:
        where = f"{fw.address} (port {fw.port})"
        if fw.unknown:
            lines.append(f"{where}: sources known after apply")
        if fw.added:
            items = [f"{s.cidr} ({s.description})" for s in fw.added]
            lines.append(
                f"{where}: + allows {plural(len(items), 'source')}: {listing(items, limit)}"
            )
        if fw.removed:
            items = [f"{s.cidr} ({s.description})" for s in fw.removed]
            lines.append(
                f"{where}: - stops allowing {plural(len(items), 'source')}: {listing(items, limit)}"
            )
        if fw.revoked:
            lines.append(
                f"{where}: - revokes {plural(len(fw.revoked), 'rule')} meshprov does not own: "
                f"{listing(fw.revoked, limit)}"
            )
    for group in impact.certificate_groups():
        text = f"{plural(len(group.addresses), 'certificate')} {group.action}"
        if group.why:
            text += f" ({group.why})"
        text += f": {listing(group.addresses, limit)}"
        if group.expires:
            text += f"; expire{'s' if len(group.addresses) == 1 else ''} about {group.expires}"
        lines.append(text)
    for ca in impact.cas:
        text = f"{ca.address}: CA {ca.action}"
        if ca.why:
            text += f" ({ca.why})"
        if ca.reissues:
            text += f", reissuing {plural(ca.reissues, 'certificate')}"
        if ca.expires:
            text += f"; expires about {ca.expires}"
        lines.append(text)
    lines.extend(f"warning: {w}" for w in impact.warnings[: max(limit * 4, 20)])
    if len(impact.warnings) > max(limit * 4, 20):
        lines.append(f"warning: ... and {len(impact.warnings) - max(limit * 4, 20)} more")
    return lines
