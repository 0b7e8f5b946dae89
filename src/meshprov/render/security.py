"""The security impact of a plan: who gains or loses access, which certificates and CAs change.

A pure reading of a ``Plan`` that the terminal, Markdown and JSON renderers share, so a
reviewer sees the same facts wherever they look. Everything is derived from the planned values
(not from diagnostics alone), so a saved plan shown later says the same as the live plan did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from meshprov.diagnostics import RUN_CODES
from meshprov.plan.model import Plan
from meshprov.render.redaction import plan_secrets, redacted
from meshprov.resources import TYPES
from meshprov.resources.report import (
    CAImpact,
    CertificateImpact,
    FirewallImpact,
    ImpactItem,
    ImpactNote,
    ImpactWarning,
    SourceChange,
    TrustBreak,
)

__all__ = [
    "CAImpact",
    "CertificateGroup",
    "CertificateImpact",
    "FirewallImpact",
    "ImpactNote",
    "SecurityImpact",
    "SourceChange",
    "TrustBreakGroup",
    "listing",
    "plural",
    "security_impact",
    "summary_lines",
    "warning_texts",
]

LIST_LIMIT = 5  # names listed in one terminal line before "and N more"


@dataclass(frozen=True)
class CertificateGroup:
    """Certificates with the same fate, for compact listings."""

    action: str
    why: str
    expires: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class TrustBreakGroup:
    """Control planes whose clients would reject their new certificates for the same reason
    (the same CAs, the same kind of clients), with the phased procedure that avoids it."""

    old_ca: str
    new_ca: str
    clients: tuple[str, ...]
    addresses: tuple[str, ...]

    def text(self, limit: int = LIST_LIMIT) -> str:
        """What breaks, in one sentence."""
        many = len(self.addresses) > 1
        return (
            f"trust break: {listing(self.addresses, limit)} would present "
            f"{'certificates' if many else 'a certificate'} issued by {self.new_ca}, which "
            f"{'their' if many else 'its'} clients ({listing(self.clients, limit)}) do not trust "
            "yet: they reject it until they get the new CA bundle and restart"
        )

    @property
    def procedure(self) -> str:
        """How to rotate without an outage (SPEC §4.1)."""
        start, new, switch = "", self.new_ca, f"set ca = {self.new_ca}"
        if self.new_ca == self.old_ca:  # replaced in place: its successor needs its own block
            start = f"keep {self.old_ca} and declare its successor in a new ca block; "
            new, switch = "the new CA", "set ca to the new CA"
        return (
            f"rotate in phases instead: {start}1) add {new} to trusted_cas and apply (clients "
            f"get both CAs); 2) {switch}, keeping {self.old_ca} in trusted_cas, and apply; "
            f"3) remove {self.old_ca} from trusted_cas and apply"
        )


@dataclass(frozen=True)
class SecurityImpact:
    firewalls: tuple[FirewallImpact, ...] = ()
    certificates: tuple[CertificateImpact, ...] = ()
    cas: tuple[CAImpact, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[ImpactNote, ...] = ()
    trust_breaks: tuple[TrustBreak, ...] = ()

    @property
    def empty(self) -> bool:
        return not (
            self.firewalls
            or self.certificates
            or self.cas
            or self.warnings
            or self.notes
            or self.trust_breaks
        )

    def trust_break_groups(self) -> list[TrustBreakGroup]:
        """Trust breaks grouped by (old CA, new CA, clients), in order of first appearance."""
        groups: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
        for item in self.trust_breaks:
            key = (item.old_ca, item.new_ca, item.clients)
            groups.setdefault(key, []).append(item.address)
        return [TrustBreakGroup(o, n, c, tuple(addrs)) for (o, n, c), addrs in groups.items()]

    def certificate_groups(self) -> list[CertificateGroup]:
        """Certificates grouped by (action, why, expiry), in order of first appearance."""
        groups: dict[tuple[str, str, str], list[str]] = {}
        for cert in self.certificates:
            groups.setdefault((cert.action, cert.why, cert.expires), []).append(cert.address)
        return [CertificateGroup(a, w, e, tuple(addrs)) for (a, w, e), addrs in groups.items()]


def security_impact(plan: Plan) -> SecurityImpact:
    """Every changed instance's own ``impact``, gathered by kind; then the plan's warnings
    that no impact item already tells (matched on their ``code``)."""
    items: list[ImpactItem] = []
    secrets = plan_secrets(plan)
    for change in plan.resource_changes:
        resource_type = TYPES.get(change.type)
        if resource_type is not None:
            items.extend(redacted(i, secrets) for i in resource_type.impact(change, plan))
    warnings = [i for i in items if isinstance(i, ImpactWarning)]
    texts = [w.text for w in warnings if w.first] + [w.text for w in warnings if not w.first]
    covered = RUN_CODES.union(*(t.impact_codes for t in TYPES.values()))
    texts.extend(
        redacted(d.summary + ": " + d.detail.split("\n")[0], secrets)
        for d in plan.warnings
        if d.code not in covered
    )
    return SecurityImpact(
        firewalls=tuple(i for i in items if isinstance(i, FirewallImpact)),
        certificates=tuple(i for i in items if isinstance(i, CertificateImpact)),
        cas=tuple(i for i in items if isinstance(i, CAImpact)),
        warnings=tuple(dict.fromkeys(texts)),
        notes=tuple(i for i in items if isinstance(i, ImpactNote)),
        trust_breaks=tuple(i for i in items if isinstance(i, TrustBreak)),
    )


def warning_texts(impact: SecurityImpact) -> list[str]:
    """Every warning as one plain sentence, trust breaks (with their procedure) first."""
    breaks = [f"{g.text()}; {g.procedure}" for g in impact.trust_break_groups()]
    return [*breaks, *impact.warnings]


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
        where = f"{fw.address} ({fw.reaches()})"
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
    lines.extend(f"{note.address}: {note.text}" for note in impact.notes)
    groups = impact.trust_break_groups()
    lines.extend(f"warning: {group.text(limit)}" for group in groups)
    lines.extend(f"warning: {step}" for step in dict.fromkeys(g.procedure for g in groups))
    lines.extend(f"warning: {w}" for w in impact.warnings[: max(limit * 4, 20)])
    if len(impact.warnings) > max(limit * 4, 20):
        lines.append(f"warning: ... and {len(impact.warnings) - max(limit * 4, 20)} more")
    return lines
