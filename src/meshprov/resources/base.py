"""The interface every resource type implements; the engine knows nothing else about a type.

A type declares its ``schema`` and implements these operations, Terraform-provider style:

* ``plan``: prior state + checked configuration → the planned attributes, with ``UNKNOWN``
  where a value is known only after apply, and what forces replacement (and why).
* ``apply``: make the world match a planned create or update; return the new attributes.
  ``delete`` removes what the resource made.
* ``refresh``: read the world and return the attributes as they are now (``None`` when the
  object is gone), so drift shows in the plan.
* ``check``: rules over the configured instances, run by validate and plan; ``check_at``
  the rules that depend on the time.
* ``private``: what state keeps for an instance beside its attributes and shows nowhere
  (Terraform's "private"): digests of what apply wrote, which ``refresh`` and ``plan`` get back
  as ``prior_private`` to skip work on an instance unchanged since.

and three reports (``resources/report.py``) that type-agnostic renderers gather:

* ``impact``: the security impact of a planned change (certificates, CAs, firewall sources,
  insecure settings); ``impact_codes`` names the diagnostics whose facts it already tells.
* ``notices``: what the operator must do after apply (restart kuma-cp, helm upgrade...).
* ``verify``: the ``meshprov verify`` rows for an instance in state.

Attributes are plain JSON-compatible dicts. A reference argument (``ca = ca.root``) arrives in
``config`` as the referenced instance's value and is stored as its address.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from meshprov.addrs import InstanceAddress
from meshprov.diagnostics import Diagnostic, SourceRange
from meshprov.lang.values import (
    UNKNOWN,
    ResourceValue,
    mark_paths,
    unmark,
    unmark_deep,
    values_equal,
)
from meshprov.plan.model import ActionReason
from meshprov.resources.schema import Attr, ResourceSchema


@dataclass(frozen=True)
class ResourceInstance:
    """One expanded resource instance with its checked arguments (defaults applied).

    What a type's ``check`` sees of the configuration: values and source locations, never the
    syntax they came from.
    """

    address: InstanceAddress
    schema: ResourceSchema
    values: dict[str, Any]
    dependencies: tuple[str, ...]  # resource addresses (static, e.g. "ca.root")
    range: SourceRange  # the resource block
    argument_ranges: Mapping[str, SourceRange]  # shared by the instances of one block
    config_dir: Path  # the root configuration directory, where relative paths resolve
    ignore_changes: tuple[str, ...] = ()  # lifecycle.ignore_changes
    # the arguments whose value is (or contains) a sensitive one; ``values`` holds them plain,
    # so a type handles a sensitive argument exactly as any other
    sensitive: frozenset[str] = frozenset()
    # the arguments written in the block whose value is null here: as in Terraform, the same
    # as leaving them out (``values`` holds their default)
    null_arguments: frozenset[str] = frozenset()

    @property
    def type(self) -> str:
        return self.address.type

    def marked_values(self) -> dict[str, Any]:
        """The arguments as expressions see them: the sensitive ones marked again."""
        return mark_paths(self.values, self.sensitive)

    def is_set(self, name: str) -> bool:
        """Whether the block gives ``name`` a value: written, and not null in this instance."""
        return name in self.argument_ranges and name not in self.null_arguments

    def argument_range(self, name: str) -> SourceRange:
        """Where an argument is set (``block.name`` inside a nested block), else the nested
        block, else the resource block, when it is left to its default."""
        while name not in self.argument_ranges and "." in name:
            name = name.rsplit(".", 1)[0]
        return self.argument_ranges.get(name, self.range)


if TYPE_CHECKING:
    from meshprov.plan.model import Plan, ResourceChange
    from meshprov.resources.report import CheckRow, ImpactItem, Notice, VerifyContext
    from meshprov.state.model import ResourceState


class ResourceError(Exception):
    """A resource operation failed in a way the user must see (a refusal, a bad file...).

    ``partial`` holds the attributes of what the operation did before failing, so state keeps
    what succeeded.
    """

    def __init__(self, message: str, partial: dict[str, Any] | None = None):
        super().__init__(message)
        self.partial = partial


NO_PRIVATE: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Context:
    """What operations may read besides their arguments: where files go, what time it is,
    and the configured providers (``{"aws": meshprov.aws.Clients}``)."""

    config_dir: Path
    now: datetime
    providers: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanRequest:
    address: str
    prior: dict[str, Any] | None  # None when the instance does not exist yet
    config: dict[str, Any]  # checked arguments, defaults applied; may contain UNKNOWN
    context: Context
    prior_private: Mapping[str, str] = field(default_factory=dict)  # ``ResourceType.private``


@dataclass(frozen=True)
class PlannedChange:
    """A type's answer to ``plan``: the attributes after apply, and what forces a replace."""

    planned: dict[str, Any]
    replace_paths: tuple[str, ...] = ()
    reason: ActionReason | None = None


@dataclass(frozen=True)
class ApplyRequest:
    address: str
    prior: dict[str, Any] | None  # None for a create (and for the create half of a replace)
    planned: dict[str, Any]  # the plan's "after", with UNKNOWN where computed at apply
    config: dict[str, Any]  # re-evaluated now that dependencies are applied: fully known
    context: Context


@dataclass(frozen=True)
class RefreshResult:
    attributes: dict[str, Any] | None  # None: the object no longer exists
    notes: tuple[str, ...] = field(default_factory=tuple)  # what drifted, for the plan


class ResourceType:
    """Base class: schema-driven planning that suits most types; override what differs."""

    schema: ResourceSchema
    create_before_destroy = False
    # whether ``refresh`` waits on the network (a cloud's API): such reads run on a thread
    # pool, --parallelism at a time; a type that only reads local files says False
    refresh_waits = True
    # other types whose instances ``check_related`` needs (a token checks the zones it is for)
    related_types: tuple[str, ...] = ()
    # codes of the warning diagnostics whose facts ``impact`` already tells (not said twice)
    impact_codes: frozenset[str] = frozenset()
    # how the Markdown comment's Mermaid topology draws an instance: (before, after) its label
    mermaid_shape: tuple[str, str] = ('["', '"]')

    @property
    def name(self) -> str:
        return self.schema.type_name

    def check(self, instances: list[ResourceInstance]) -> list[Diagnostic]:
        """Rules over this type's instances and their arguments, run by validate and plan.

        Values may be unknown (during validate): skip what cannot be checked yet.
        """
        return []

    def check_at(self, instances: list[ResourceInstance], now: datetime) -> list[Diagnostic]:
        """Rules that depend on the time (an imported certificate's expiry), run by validate
        as of now and by plan as of the plan's moment. Values may be unknown, as in ``check``."""
        return []

    def written_paths(self, instance: ResourceInstance) -> frozenset[str]:
        """The files the instance may write, relative to the configuration directory, as far
        as its arguments tell (nothing while they are unknown): no two instances may share
        one. The default: a type that writes no files."""
        return frozenset()

    def check_related(
        self, instances: list[ResourceInstance], related: dict[str, list[ResourceInstance]]
    ) -> list[Diagnostic]:
        """Rules between this type's instances and those of ``related_types`` (by type name)."""
        return []

    def plan(self, request: PlanRequest) -> PlannedChange:
        planned = self.planned_arguments(request.config)
        if request.prior is None:
            planned.update(self.schema.unknown_exports())
            return PlannedChange(planned)
        replace = tuple(
            attr.name
            for attr in self.schema.attributes
            if attr.forces_replacement
            and not values_equal(planned.get(attr.name), request.prior.get(attr.name))
            and planned.get(attr.name) is not UNKNOWN
        )
        if replace:
            planned.update(self.schema.unknown_exports())
            return PlannedChange(planned, replace)
        for export in self.schema.exported:
            planned[export.name] = request.prior.get(export.name)
        return PlannedChange(planned)

    def planned_arguments(self, config: dict[str, Any]) -> dict[str, Any]:
        """Configured arguments as state stores them: references become addresses."""
        return {attr.name: _stored(attr, config.get(attr.name)) for attr in self.schema.attributes}

    def apply(self, request: ApplyRequest) -> dict[str, Any]:
        raise NotImplementedError

    def delete(self, address: str, prior: dict[str, Any], context: Context) -> None:
        """Remove what the instance made. The default: nothing outside state."""

    def delete_replaced(
        self, address: str, prior: dict[str, Any], new: dict[str, Any], context: Context
    ) -> None:
        """After a create-before-destroy replacement: remove what only the old object had."""
        self.delete(address, prior, context)

    def refresh(
        self,
        address: str,
        prior: dict[str, Any],
        context: Context,
        prior_private: Mapping[str, str] = NO_PRIVATE,
    ) -> RefreshResult:
        """Read the world. The default: the state is the truth."""
        return RefreshResult(prior)

    def private(
        self, address: str, attributes: dict[str, Any], config: dict[str, Any]
    ) -> dict[str, str]:
        """What state keeps beside the attributes apply returned (``config`` is the apply's),
        shown nowhere; ``refresh`` and ``plan`` get it back as ``prior_private``. It may only
        save work: a state without it (written before) must plan the same. The default: none."""
        return {}

    def impact(self, change: ResourceChange, plan: Plan) -> list[ImpactItem]:
        """What ``change`` means for security; ``plan`` gives the other changes and its time."""
        return []

    def notices(self, change: ResourceChange) -> list[Notice]:
        """What the operator must do once ``change`` is applied."""
        return []

    def verify(self, instance: ResourceState, context: VerifyContext) -> list[CheckRow]:
        """``meshprov verify``'s rows for an instance apply made. The default: nothing to check."""
        return []


def attributes_digest(attributes: dict[str, Any]) -> str:
    """A digest of attributes as state holds them, for ``private``: equal digests, equal
    attributes."""
    text = json.dumps(attributes, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def reference_address(value: Any) -> Any:
    """A reference argument as stored: ``"ca.root"``, a list of addresses, or unknown/null."""
    raw, _ = unmark(value)
    if isinstance(raw, ResourceValue):
        return str(raw.address)
    if isinstance(raw, list):
        return [reference_address(v) for v in raw]
    return raw


def _stored(attr: Attr, value: Any) -> Any:
    """One argument as state stores it; a nested block as a map of its own arguments."""
    if attr.reference:
        return reference_address(value)
    if attr.block is not None and isinstance(value, dict):
        return {inner.name: _stored(inner, value.get(inner.name)) for inner in attr.block}
    return _plain(value)


def _plain(value: Any) -> Any:
    """Strip sensitive marks (the engine tracks sensitivity separately) but keep UNKNOWN."""
    return unmark_deep(value)[0]
