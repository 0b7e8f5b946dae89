"""What a plan is: the changes to resource instances and outputs, and what they were made from.

Renderers (human, JSON, Markdown) and apply read these objects; only the planner makes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from meshprov.diagnostics import Diagnostic
from meshprov.state import State


class Action(StrEnum):
    NOOP = "no-op"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "delete-create"  # delete, then create the replacement
    REPLACE_CBD = "create-delete"  # create the replacement first (create_before_destroy)

    @property
    def actions(self) -> list[str]:
        """The ``actions`` array of Terraform's JSON plan."""
        return (
            self.value.split("-") if self in (Action.REPLACE, Action.REPLACE_CBD) else [self.value]
        )

    @property
    def is_replace(self) -> bool:
        return self in (Action.REPLACE, Action.REPLACE_CBD)

    @property
    def creates(self) -> bool:
        return self is Action.CREATE or self.is_replace

    @property
    def destroys(self) -> bool:
        return self is Action.DELETE or self.is_replace


class Mode(StrEnum):
    NORMAL = "normal"
    DESTROY = "destroy"
    REFRESH_ONLY = "refresh-only"


@dataclass(frozen=True)
class ResourceChange:
    """One resource instance's planned change (or, in ``Plan.drift``, a change found outside)."""

    address: str
    module: str  # '' for the root module
    type: str
    name: str
    index: int | str | None
    action: Action
    before: dict[str, Any] | None
    after: dict[str, Any] | None  # UNKNOWN where known only after apply
    before_sensitive: frozenset[str] = frozenset()
    after_sensitive: frozenset[str] = frozenset()
    replace_paths: tuple[str, ...] = ()
    reason: str | None = None
    dependencies: tuple[str, ...] = ()  # resource addresses, e.g. "ca.root"
    notes: tuple[str, ...] = ()  # for drift: what was found changed, e.g. a file deleted


@dataclass(frozen=True)
class OutputChange:
    name: str
    action: Action
    before: Any
    after: Any
    sensitive: bool


@dataclass(frozen=True)
class Plan:
    """Everything ``apply`` needs to do exactly what was shown, and to refuse if it is stale."""

    mode: Mode
    changes: tuple[ResourceChange, ...]
    drift: tuple[ResourceChange, ...]
    output_changes: tuple[OutputChange, ...]
    prior_state: State  # the state the plan was made against, as refreshed
    prior_lineage: str
    prior_serial: int
    config_digest: str
    variables: dict[str, Any]
    timestamp: str
    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    warnings: tuple[Diagnostic, ...] = field(default_factory=tuple)
    errored: bool = False
    # every root variable's final value (defaults included, sensitive ones None), for --json;
    # ``variables`` holds only the values given, which apply takes back from a saved plan
    root_variables: dict[str, Any] = field(default_factory=dict)

    @property
    def resource_changes(self) -> list[ResourceChange]:
        """The changes that do something (no-ops left out)."""
        return [c for c in self.changes if c.action is not Action.NOOP]

    @property
    def has_changes(self) -> bool:
        if self.mode is Mode.REFRESH_ONLY:
            return bool(self.drift) or bool(self.output_changes)
        return bool(self.resource_changes) or any(
            o.action is not Action.NOOP for o in self.output_changes
        )

    @property
    def applyable(self) -> bool:
        return self.has_changes and not self.errored

    def counts(self) -> tuple[int, int, int]:
        """(add, change, destroy) as Terraform counts them: a replace counts in add and destroy."""
        changes = self.resource_changes
        add = sum(c.action.creates for c in changes)
        change = sum(c.action is Action.UPDATE for c in changes)
        destroy = sum(c.action.destroys for c in changes)
        return add, change, destroy

    def summary_line(self) -> str:
        add, change, destroy = self.counts()
        return f"Plan: {add} to add, {change} to change, {destroy} to destroy."
