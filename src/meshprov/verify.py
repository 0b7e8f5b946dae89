"""``meshprov verify``: check what apply deployed against the secure-access rules of SPEC §5.

A type-agnostic aggregator: every instance in the state is handed to its resource type's
``verify`` (control planes check their channels' certificates, keys, files and a real KDS
handshake; firewalls read their security groups back), and the rows are put in report order.

A check fails when an artifact is missing, wrong, or differs from what the configuration asks
for. An insecure setting the configuration chose on purpose is a *warning*: the row shows
``WARN`` and the exit code stays 0, so a deliberate choice does not keep CI red.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from meshprov.diagnostics import DiagnosticError
from meshprov.resources import TYPES
from meshprov.resources.base import Context
from meshprov.resources.report import CheckResult, CheckRow, VerifyContext
from meshprov.state.model import State

__all__ = ["CheckResult", "CheckRow", "Report", "verify_state"]


@dataclass(frozen=True)
class Report:
    rows: tuple[CheckRow, ...]
    as_of: datetime

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def checks(self) -> tuple[CheckResult, ...]:
        return tuple(c for row in self.rows for c in row.checks)

    def row(self, channel: str, control_plane: str) -> CheckRow:
        for row in self.rows:
            if row.channel == channel and row.control_plane == control_plane:
                return row
        raise KeyError((channel, control_plane))


def verify_state(state: State, context: Context) -> Report:
    """Every instance's rows, in state order within each row ``order``."""
    verify_context = VerifyContext(state, context)
    rows: list[CheckRow] = []
    for rs in state.resources.values():
        resource_type = TYPES.get(rs.type)
        if resource_type is not None:
            rows.extend(resource_type.verify(rs, verify_context))
    if not rows:
        raise DiagnosticError.single(
            "Nothing to verify",
            "The state holds nothing verify checks (control planes, firewalls): run "
            "`meshprov apply` first, or check that meshprov reads the right state (-C DIR, the "
            "backend block).",
        )
    rows.sort(key=lambda row: row.order)
    return Report(tuple(rows), context.now)
