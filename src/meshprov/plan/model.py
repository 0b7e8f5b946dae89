"""What a plan is: the changes to resource instances and outputs, and what they were made from.

Renderers (human, JSON, Markdown) and apply read these objects; only the planner makes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from meshprov.addrs import InstanceAddress, parse_instance_address
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


class ActionReason(StrEnum):
    """Why an instance gets its action: Terraform's ``action_reason`` values, plus meshprov's
    ``replace_because_expiring``, ``update_because_ca_replaced`` and
    ``update_because_key_replaced``. A ``StrEnum``, so plans,
    plan files and JSON carry the same strings as Terraform."""

    REPLACE_BECAUSE_CANNOT_UPDATE = "replace_because_cannot_update"
    REPLACE_BECAUSE_TAINTED = "replace_because_tainted"
    REPLACE_BY_REQUEST = "replace_by_request"
    REPLACE_BY_TRIGGERS = "replace_by_triggers"
    REPLACE_BECAUSE_EXPIRING = "replace_because_expiring"
    UPDATE_BECAUSE_CA_REPLACED = "update_because_ca_replaced"
    UPDATE_BECAUSE_KEY_REPLACED = "update_because_key_replaced"
    DELETE_BECAUSE_NO_RESOURCE_CONFIG = "delete_because_no_resource_config"
    DELETE_BECAUSE_NO_MODULE = "delete_because_no_module"
    DELETE_BECAUSE_COUNT_INDEX = "delete_because_count_index"
    DELETE_BECAUSE_EACH_KEY = "delete_because_each_key"
    DELETE_BECAUSE_WRONG_REPETITION = "delete_because_wrong_repetition"

    @property
    def replaces(self) -> bool:
        """The reason asks for a replacement (a type may answer ``plan`` with one)."""
        return self in _REPLACING


_REPLACING = frozenset(
    {
        ActionReason.REPLACE_BECAUSE_CANNOT_UPDATE,
        ActionReason.REPLACE_BECAUSE_TAINTED,
        ActionReason.REPLACE_BY_REQUEST,
        ActionReason.REPLACE_BY_TRIGGERS,
        ActionReason.REPLACE_BECAUSE_EXPIRING,
    }
)


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
    reason: ActionReason | None = None
    dependencies: tuple[str, ...] = ()  # resource addresses, e.g. "ca.root"
    notes: tuple[str, ...] = ()  # for drift: what was found changed, e.g. a file deleted
    previous_address: str | None = None  # where a moved block or state mv found it

    @cached_property
    def instance(self) -> InstanceAddress:
        """The address, typed (parsed once, on first use)."""
        return parse_instance_address(self.address)


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
    config_dir: Path  # where it is planned or shown, and its relative paths resolve
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
        return (
            bool(self.resource_changes)
            or bool(self.moves)
            or any(o.action is not Action.NOOP for o in self.output_changes)
        )

    @cached_property
    def changes_by_address(self) -> dict[str, ResourceChange]:
        """Every change (no-ops too) by instance address, built once per plan."""
        return {c.address: c for c in self.changes}

    @property
    def moves(self) -> list[ResourceChange]:
        """The instances found at a new address (moved), whatever else their change is."""
        return [c for c in self.changes if c.previous_address is not None]

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
