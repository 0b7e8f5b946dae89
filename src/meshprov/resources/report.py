"""What a resource type reports about itself, in a vocabulary every renderer understands.

Three answers besides plan and apply (``base.ResourceType``):

* ``impact(change, plan)`` → impact items: what a change means for who can reach what, which
  certificates and CAs change, and insecure settings. ``render/security.py`` gathers them by
  kind, never by resource type; ``ImpactNote`` is the kind for anything the others do not fit.
* ``notices(change)`` → ``Notice``: what the operator must do after apply (SPEC §4.1).
* ``verify(instance, context)`` → ``CheckRow``: the rows ``meshprov verify`` prints, each the
  checks of one channel of one object.

Everything here is a frozen dataclass with no behaviour beyond presentation helpers, so that
plans shown later (from a plan file) say the same as the live plan did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshprov.plan.model import ActionReason
from meshprov.resources.base import Context
from meshprov.resources.schema import parse_duration

if TYPE_CHECKING:
    from meshprov.state.model import State

# --- security impact ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ImpactItem:
    """One fact of a plan's security impact, about one resource instance."""


@dataclass(frozen=True)
class SourceChange:
    cidr: str
    label: str  # the zone name, or "cidr" for allow_cidrs

    @property
    def description(self) -> str:
        return "allow_cidrs" if self.label == "cidr" else f"zone {self.label}"


def firewall_reach(port: str | None, overlay: str | None, code: Callable[[str], str] = str) -> str:
    """What a firewall's sources may reach, in words: ``port`` ("port 5685") in its security
    groups (None: it has none), and with a Helm ``overlay`` the global's KDS Service, whose
    ``loadBalancerSourceRanges`` it sets whatever the firewall's port. ``code`` formats the
    overlay's path (Markdown quotes it)."""
    reached = [] if port is None else [port]
    if overlay is not None:
        reached.append(f"the global's KDS Service via {code(overlay)}")
    return " and ".join(reached)


@dataclass(frozen=True)
class FirewallImpact(ImpactItem):
    address: str
    port: Any  # None when the firewall has no security group (a Helm overlay only)
    added: tuple[SourceChange, ...]
    removed: tuple[SourceChange, ...]
    revoked: tuple[str, ...]  # foreign rules revoked: "tcp/5685 from 0.0.0.0/0 in sg-123 (sgr-1)"
    unknown: bool = False  # sources known only after apply
    overlay: str | None = None  # helm_values_file: the KDS Service's source ranges

    def reaches(self, code: Callable[[str], str] = str) -> str:
        port = None if self.port is None else f"port {self.port}"
        return firewall_reach(port, self.overlay, code)


@dataclass(frozen=True)
class CertificateImpact(ImpactItem):
    address: str
    action: str  # "issued", "reissued", "removed"
    why: str = ""
    expires: str = ""  # estimated from the plan's time and cert_validity


@dataclass(frozen=True)
class CAImpact(ImpactItem):
    address: str
    action: str  # "created", "replaced", "re-signed", "destroyed"
    why: str = ""
    reissues: int = 0  # certificates under it (directly or through intermediates) reissued
    expires: str = ""  # estimated from the plan's time and validity


@dataclass(frozen=True)
class TrustBreak(ImpactItem):
    """SPEC §4.1: a control plane's new certificate would not verify with the bundle its
    clients hold now (nothing in it has the subject and key of a certificate of the new chain),
    so they reject it until they get the new bundle and restart."""

    address: str
    new_ca: str  # the CA that issues the new certificate
    old_ca: str  # the CA of the certificate clients verify now
    clients: tuple[str, ...]  # who holds the old bundle: "data plane proxies", "zone.eu", ...


@dataclass(frozen=True)
class ImpactWarning(ImpactItem):
    """An insecure setting or exposure the plan creates. ``first`` puts it before the others
    (an open port matters more than a setting)."""

    text: str
    first: bool = False


@dataclass(frozen=True)
class ImpactNote(ImpactItem):
    """Any other security-relevant fact, shown as ``address: text``."""

    address: str
    text: str


# completes "reissued because ..." for the reasons that say why
_REASONS = {
    ActionReason.REPLACE_BECAUSE_EXPIRING: "it is within renew_before of expiry",
    ActionReason.UPDATE_BECAUSE_CA_REPLACED: "the signing CA is replaced",
    ActionReason.UPDATE_BECAUSE_KEY_REPLACED: "its signing key is replaced",
    ActionReason.REPLACE_BECAUSE_TAINTED: "it is tainted",
    ActionReason.REPLACE_BY_REQUEST: "a replacement was requested",
}


def reason_text(reason: ActionReason | None) -> str:
    """Why something is issued again, in a few words ('' when the reason does not say)."""
    return _REASONS.get(reason, "") if reason is not None else ""


def expiry_estimate(timestamp: str, validity: Any) -> str:
    """``YYYY-MM-DD``: when a certificate issued at the plan's time with ``validity`` expires."""
    if not isinstance(validity, str):
        return ""
    try:
        start = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        end = start + timedelta(seconds=parse_duration(validity))
    except (ValueError, OverflowError):
        return ""
    return end.strftime("%Y-%m-%d")


# --- after-apply notices -----------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """An action the operator must take after apply (SPEC §4.1), e.g. restart kuma-cp."""

    address: str
    action: str  # what to do: "restart kuma-cp", "helm upgrade", ...
    reason: str  # why: "its certificate and key were reissued"

    def to_json(self) -> dict[str, str]:
        return {"address": self.address, "action": self.action, "reason": self.reason}


# --- verify --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyContext:
    """What a type's ``verify`` may read: the whole state (a zone checks its global's
    certificate) and the operations' ``Context`` (where apply wrote files, the moment to check
    expiry at, the configured providers). ``cache`` holds what a type derives once per run
    from the whole state, keyed by the function that derives it."""

    state: State
    context: Context
    cache: dict[Any, Any] = field(default_factory=dict, compare=False)

    @property
    def config_dir(self) -> Path:
        return self.context.config_dir

    @property
    def now(self) -> datetime:
        return self.context.now


@dataclass(frozen=True)
class CheckResult:
    """One check of one channel of one object.

    ``ok`` is False only for a failure (exit 1). A warning is ``ok`` with ``warning`` set: an
    insecure setting the configuration asked for.
    """

    channel: str
    control_plane: str  # the object checked: an address, or "zone.x → control_plane.g"
    check: str  # a stable name: files, refs, chain, sans, expiry, key_mode, key_match, ...
    ok: bool
    detail: str
    warning: bool = False

    @property
    def result(self) -> str:
        return "FAIL" if not self.ok else "WARN" if self.warning else "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "control_plane": self.control_plane,
            "check": self.check,
            "ok": self.ok,
            "warning": self.warning,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class CheckRow:
    """The checks of one channel for one object (or one zone → global pair).

    ``order`` places the row in the report: rows sort by it, stably (state order within one
    value), so a type keeps one channel's rows together across instances (every data plane
    row, then every API row...). The control-plane channels use 0-3 and firewalls 4; by
    default a row comes after them.
    """

    channel: str
    control_plane: str
    checks: tuple[CheckResult, ...]
    summary: str  # what was established, shown when nothing failed or warned
    order: tuple[int, ...] = (100,)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.ok)

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.ok and c.warning)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def result(self) -> str:
        """``ok``, ``WARN`` (passed, with a warning) or ``FAIL``."""
        return "FAIL" if self.failures else "WARN" if self.warnings else "ok"

    @property
    def detail(self) -> str:
        """The first failure, else the first warning, else the summary."""
        first = (self.failures or self.warnings or (None,))[0]
        return f"{first.check}: {first.detail}" if first is not None else self.summary

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "control_plane": self.control_plane,
            "ok": self.ok,
            "result": self.result,
            "detail": self.detail,
            "failed_checks": sorted({c.check for c in self.failures}),
            "warnings": sorted({c.check for c in self.warnings}),
        }


class RowBuilder:
    """Collects the results of one row; a problem found by two routes is one result."""

    def __init__(self, channel: str, control_plane: str, order: tuple[int, ...] = (100,)):
        self.channel = channel
        self.control_plane = control_plane
        self.order = order
        self.results: list[CheckResult] = []

    def add(self, check: str, ok: bool, detail: str, warning: bool = False) -> None:
        result = CheckResult(self.channel, self.control_plane, check, ok, detail, warning)
        if result not in self.results:
            self.results.append(result)

    def passed(self, check: str, detail: str) -> None:
        self.add(check, True, detail)

    def failed(self, check: str, detail: str) -> None:
        self.add(check, False, detail)

    def warn(self, check: str, detail: str) -> None:
        self.add(check, True, detail, warning=True)

    def build(self, summary: str) -> CheckRow:
        return CheckRow(self.channel, self.control_plane, tuple(self.results), summary, self.order)
