"""What the operator must do after apply (SPEC §4.1), gathered from every changed instance.

Each resource type says what its own change needs (``ResourceType.notices``); this module only
collects and groups them, so the terminal plan and apply, the JSON plan and the Markdown comment
list the same actions. Notices with the same action and reason are grouped: a CA rotation that
reissues 2,000 zone certificates is one line naming the first few zones, not 2,000 lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshprov.plan.model import Mode, Plan
from meshprov.render.redaction import plan_secrets, redacted
from meshprov.resources import TYPES
from meshprov.resources.report import Notice

__all__ = ["NoticeGroup", "grouped", "plan_notices"]


@dataclass(frozen=True)
class NoticeGroup:
    action: str
    reason: str
    addresses: tuple[str, ...]


def plan_notices(plan: Plan) -> list[Notice]:
    """Every changed instance's notices, in the plan's order (none for a refresh-only plan)."""
    if plan.mode is Mode.REFRESH_ONLY:
        return []
    found: list[Notice] = []
    secrets = plan_secrets(plan)
    for change in plan.resource_changes:
        resource_type = TYPES.get(change.type)
        if resource_type is not None:
            found.extend(redacted(n, secrets) for n in resource_type.notices(change))
    return found


def grouped(notices: list[Notice]) -> list[NoticeGroup]:
    """Notices with the same action and reason, in order of first appearance."""
    groups: dict[tuple[str, str], list[str]] = {}
    for notice in notices:
        groups.setdefault((notice.action, notice.reason), []).append(notice.address)
    return [NoticeGroup(a, r, tuple(addresses)) for (a, r), addresses in groups.items()]
