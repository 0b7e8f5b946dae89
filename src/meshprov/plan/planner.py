"""The planner: desired configuration + prior state (+ the world, by refresh) → a ``Plan``.

Planning is pure: it reads state and the world and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshprov.addrs import InstanceAddress, address_under, parse_instance_address
from meshprov.config.model import Module, Resource
from meshprov.diagnostics import (
    TARGETING,
    Diagnostic,
    DiagnosticError,
    Diagnostics,
    error,
    warning,
)
from meshprov.engine.configuration import LoadedConfig, check_resources
from meshprov.engine.graph import node_of
from meshprov.engine.providers import configure_providers
from meshprov.engine.walk import evaluate_config, root_variable_values
from meshprov.heap import frozen_heap
from meshprov.lang.values import (
    UNKNOWN,
    ResourceValue,
    has_unknown,
    mark_paths,
    unmark_deep,
    values_equal,
)
from meshprov.plan.model import Action, ActionReason, Mode, OutputChange, Plan, ResourceChange
from meshprov.plan.targets import check_addresses
from meshprov.resources import TYPES, check_state
from meshprov.resources.base import (
    NO_PRIVATE,
    Context,
    PlannedChange,
    PlanRequest,
    ResourceError,
    ResourceInstance,
    ResourceType,
)
from meshprov.state import ResourceState, State

if TYPE_CHECKING:
    import networkx as nx  # at run time, imported where a graph is built


@dataclass(frozen=True)
class PlanOptions:
    mode: Mode = Mode.NORMAL
    refresh: bool = True
    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    parallelism: int = 10
    previous: Mapping[str, str] = field(default_factory=dict)  # moved: new address -> old


def resource_type(type_name: str, address: str) -> ResourceType:
    try:
        return TYPES[type_name]
    except KeyError:
        raise DiagnosticError.single(
            "Resource type not supported",
            f"{address}: this meshprov cannot plan or apply resources of type {type_name!r}.",
        ) from None


def plan(config: LoadedConfig, state: State, options: PlanOptions) -> Plan:
    """Make a plan. Errors in the configuration or in a type's planning raise DiagnosticError."""
    with frozen_heap():  # the configuration and the state are not garbage: don't rescan them
        return _plan(config, state, options)


def _plan(config: LoadedConfig, state: State, options: PlanOptions) -> Plan:
    diags = Diagnostics()
    for addr in (*options.targets, *options.replace):
        try:
            parse_instance_address(addr)
        except ValueError as exc:
            diags.add(error("Invalid resource address", str(exc)))
    diags.extend(check_state(state.resources.values()))
    diags.raise_if_errors()
    context = Context(config.directory, options.now, configure_providers(config))
    refreshed, drift = _refresh(state, context, options) if options.refresh else (state, [])
    scope = _TargetScope(config.graph, options.targets)
    warnings: list[Diagnostic] = list(config.inputs.warnings)
    warnings.extend(warning("State file permissions", notice) for notice in state.notices)
    warnings.extend(_errored_state_waiting(config.directory))
    if options.targets:
        warnings.append(
            warning(
                "Resource targeting is in effect",
                "You are creating a plan with the --target option, which means that the result "
                "of this plan may not represent all of the changes requested by the current "
                "configuration. The --target option is not for routine use, and is provided "
                "only for exceptional situations such as recovering from errors or mistakes.",
                code=TARGETING,
            )
        )
    planned: set[str] = set()  # the configuration's instances, where the mode evaluates them
    if options.mode is Mode.REFRESH_ONLY:
        changes: list[ResourceChange] = []
        outputs: list[OutputChange] = []
    elif options.mode is Mode.DESTROY:
        changes = _destroy_changes(config.root, refreshed, scope)
        outputs = [
            OutputChange(name, Action.DELETE, out["value"], None, out.get("sensitive", False))
            for name, out in sorted(refreshed.outputs.items())
        ]
    else:
        hook = _PlanHook(refreshed, context, options, scope)
        evaluation = check_resources(
            evaluate_config(
                config.root, config.graph, config.inputs.values, hook, config.directory
            ),
            options.now,
        )
        warnings.extend(evaluation.warnings)
        changes = hook.changes + _orphans(config.root, refreshed, hook.planned, scope)
        outputs = _output_changes(refreshed, evaluation.outputs, evaluation.output_sensitive)
        planned = hook.planned
    if options.targets or options.replace:
        found = check_addresses(
            options.targets,
            options.replace,
            planned | set(refreshed.resources),
            {n for n in config.graph.nodes if node_of(config.graph, n).kind == "resource"},
        )
        Diagnostics(found).raise_if_errors()
        warnings.extend(found)
    _check_prevent_destroy(config.root, changes)
    return Plan(
        mode=options.mode,
        changes=tuple(sorted(changes, key=lambda c: c.instance.sort_key())),
        drift=tuple(drift),
        output_changes=tuple(outputs),
        prior_state=refreshed,
        prior_lineage=state.lineage,
        prior_serial=state.serial,
        config_digest=config.digest,
        variables={k: v.value for k, v in config.inputs.values.items()},
        root_variables=root_variable_values(config.root, config.inputs.values, config.directory),
        timestamp=options.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        config_dir=config.directory,
        targets=options.targets,
        replace=options.replace,
        warnings=tuple(warnings),
    )


# --- refresh -------------------------------------------------------------------------------


def _refresh(
    state: State, context: Context, options: PlanOptions
) -> tuple[State, list[ResourceChange]]:
    """Read every instance in state from the world; what differs is drift."""

    def read(rs: ResourceState):
        rtype = resource_type(rs.type, rs.address)
        try:
            return rs, rtype.refresh(rs.address, rs.attributes, context, rs.private)
        except ResourceError as exc:
            raise DiagnosticError.single("Failed to refresh", f"{rs.address}: {exc}") from None

    resources = list(state.resources.values())
    remote = [rs for rs in resources if resource_type(rs.type, rs.address).refresh_waits]
    local = [rs for rs in resources if not resource_type(rs.type, rs.address).refresh_waits]
    # reads that wait on a cloud run --parallelism at a time while local files are read here:
    # on threads, those would only take turns at the interpreter lock
    with ThreadPoolExecutor(max_workers=max(1, options.parallelism)) as pool:
        waited = pool.map(read, remote)
        read_here = [read(rs) for rs in local]
        by_address = {rs.address: answer for rs, answer in (*read_here, *waited)}
    results = [(rs, by_address[rs.address]) for rs in resources]
    refreshed = State(
        lineage=state.lineage,
        serial=state.serial,
        meshprov_version=state.meshprov_version,
        outputs=dict(state.outputs),
        resources={},
    )
    drift: list[ResourceChange] = []
    for rs, result in results:
        if result.attributes is None:
            drift.append(_change(rs, Action.DELETE, rs.attributes, None, notes=result.notes))
            continue
        # most instances come back as they were: the same dict, nothing to compare
        if result.attributes is not rs.attributes and not values_equal(
            result.attributes, rs.attributes
        ):
            drift.append(
                _change(rs, Action.UPDATE, rs.attributes, result.attributes, notes=result.notes)
            )
        refreshed.resources[rs.address] = ResourceState(
            address=rs.address,
            module=rs.module,
            type=rs.type,
            name=rs.name,
            index=rs.index,
            attributes=result.attributes,
            sensitive_attributes=rs.sensitive_attributes,
            dependencies=rs.dependencies,
            status=rs.status,
            private=rs.private,
        )
    return refreshed, drift


def _change(
    rs: ResourceState,
    action: Action,
    before: dict | None,
    after: dict | None,
    reason: ActionReason | None = None,
    notes: Iterable[str] = (),
) -> ResourceChange:
    sensitive = frozenset(rs.sensitive_attributes)
    return ResourceChange(
        address=rs.address,
        module=rs.module,
        type=rs.type,
        name=rs.name,
        index=rs.index,
        action=action,
        before=before,
        after=after,
        before_sensitive=sensitive,
        after_sensitive=sensitive if after is not None else frozenset(),
        reason=reason,
        dependencies=tuple(rs.dependencies),
        notes=tuple(notes),
    )


# --- targeting -----------------------------------------------------------------------------


class _TargetScope:
    """Which instances a ``--target`` run may touch: the targets and what they depend on."""

    def __init__(self, graph: nx.DiGraph, targets: tuple[str, ...]):
        self.targets = targets
        static_targets = [_strip_keys(t) for t in targets]
        # the resource ancestors of every targeted resource node, in one walk of the graph
        stack = [
            p
            for node_id in graph.nodes
            if node_of(graph, node_id).kind == "resource"
            and any(address_under(node_id, t) for t in static_targets)
            for p in graph.predecessors(node_id)
        ]
        ancestors: set[str] = set()
        while stack:
            node_id = stack.pop()
            if node_id not in ancestors:
                ancestors.add(node_id)
                stack.extend(graph.predecessors(node_id))
        self.dependencies = {a for a in ancestors if node_of(graph, a).kind == "resource"}

    def includes(self, address: str, static: str) -> bool:
        """A target, or something a target depends on."""
        return not self.targets or static in self.dependencies or self.matches(address)

    def matches(self, address: str) -> bool:
        """One of the targets themselves."""
        return any(address_under(address, t) for t in self.targets)


def _strip_keys(address: str) -> str:
    out, depth = [], 0
    for ch in address:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


# --- the walk ------------------------------------------------------------------------------


class _PlanHook:
    """Plans each instance as the walk reaches it; the planned value is what references see."""

    def __init__(self, state: State, context: Context, options: PlanOptions, scope: _TargetScope):
        self.state = state
        self.context = context
        self.options = options
        self.scope = scope
        self.changes: list[ResourceChange] = []
        self.planned: set[str] = set()

    def _type_plan(
        self,
        rtype: ResourceType,
        instance: ResourceInstance,
        prior: ResourceState | None,
        config: dict[str, Any],
    ) -> PlannedChange:
        address = str(instance.address)
        request = PlanRequest(
            address,
            prior.attributes if prior else None,
            config,
            self.context,
            prior.private if prior else NO_PRIVATE,
        )
        try:
            return rtype.plan(request)
        except ResourceError as exc:
            raise DiagnosticError.single(
                "Failed to plan", str(exc), instance.range, address
            ) from None

    def resource_instance(self, instance: ResourceInstance) -> Any:
        address = str(instance.address)
        prior = self.state.resources.get(address)
        self.planned.add(address)
        if not self.scope.includes(address, instance.address.static):
            return instance_value(instance.address, prior) if prior else UNKNOWN
        rtype = resource_type(instance.type, address)
        config = ignoring_changes(instance, prior)
        tainted = prior is not None and prior.status == "tainted"
        planned = self._type_plan(rtype, instance, prior, config)
        after = planned.planned
        reason = planned.reason
        replace_paths = planned.replace_paths
        if prior is None:
            action = Action.CREATE
        elif tainted:
            action, reason = Action.REPLACE, ActionReason.REPLACE_BECAUSE_TAINTED
        elif address in self.options.replace:
            action, reason = Action.REPLACE, ActionReason.REPLACE_BY_REQUEST
        elif replace_paths or (reason is not None and reason.replaces):
            action, reason = Action.REPLACE, reason or ActionReason.REPLACE_BECAUSE_CANNOT_UPDATE
        elif values_equal(after, prior.attributes) and not has_unknown(after):
            action = Action.NOOP
        else:
            action = Action.UPDATE
        if action is Action.REPLACE and rtype.create_before_destroy:
            action = Action.REPLACE_CBD
        if action.is_replace:
            # a new object: planned as a create, so ignore_changes does not apply and what
            # follows from the arguments alone (addresses, URLs) stays known
            after = self._type_plan(rtype, instance, None, dict(instance.values)).planned
        schema = instance.schema
        sensitive = schema.sensitive_attributes(instance.values, instance.sensitive)
        self.changes.append(
            ResourceChange(
                address=address,
                module=instance.address.module_address,
                type=instance.address.type,
                name=instance.address.name,
                index=instance.address.key,
                action=action,
                before=prior.attributes if prior else None,
                after=after,
                before_sensitive=frozenset(prior.sensitive_attributes) if prior else frozenset(),
                after_sensitive=sensitive,
                replace_paths=tuple(replace_paths),
                reason=reason if action is not Action.NOOP else None,
                dependencies=instance.dependencies,
                previous_address=self.options.previous.get(address),
            )
        )
        return instance_value(instance.address, None, after, sensitive)


def ignoring_changes(instance: ResourceInstance, prior: ResourceState | None) -> dict[str, Any]:
    """The instance's arguments, with those in ``lifecycle.ignore_changes`` as ``prior`` has them.

    Used for an update, by plan and by apply alike, so apply does what the plan showed.
    """
    config = dict(instance.values)
    if prior is not None:
        for name in instance.ignore_changes:
            if name in prior.attributes and not instance.schema.is_reference(name):
                config[name] = _as_before(instance, name, prior.attributes[name])
    return config


def _as_before(instance: ResourceInstance, name: str, stored: Any) -> Any:
    """An ignored argument as ``prior`` has it. State holds references as addresses and a
    reference is never ignored, so a nested block keeps the references it is configured
    with, and one removed from the configuration stays removed."""
    attr = instance.schema.attribute(name)
    configured = instance.values.get(name)
    if attr is None or attr.block is None or not isinstance(stored, dict):
        return stored
    if not isinstance(configured, dict):
        return configured
    return {i.name: configured[i.name] if i.reference else stored.get(i.name) for i in attr.block}


def instance_value(
    address: InstanceAddress,
    rs: ResourceState | None,
    attributes: dict | None = None,
    sensitive: Iterable[str] = (),
) -> ResourceValue:
    """What a reference to an instance evaluates to, sensitive attributes marked."""
    if rs is not None:
        attributes, sensitive = rs.attributes, rs.sensitive_attributes
    return ResourceValue(address, mark_paths(dict(attributes or {}), sensitive))


# --- deletions -----------------------------------------------------------------------------


def _find_resource(root: Module, address: InstanceAddress) -> tuple[Module | None, Resource | None]:
    """The module and resource block an instance address names in the configuration, if any."""
    module: Module | None = root
    for name, _key in address.module:
        call = module.module_calls.get(name) if module else None
        module = call.module if call else None
    if module is None:
        return None, None
    return module, module.resources.get(f"{address.type}.{address.name}")


def _orphans(
    root: Module, state: State, planned: set[str], scope: _TargetScope
) -> list[ResourceChange]:
    out = []
    for address, rs in state.resources.items():
        if address in planned:
            continue
        inst = rs.instance
        if not scope.includes(address, inst.static):
            continue
        module, resource = _find_resource(root, inst)
        if module is None:
            reason = ActionReason.DELETE_BECAUSE_NO_MODULE
        elif resource is None:
            reason = ActionReason.DELETE_BECAUSE_NO_RESOURCE_CONFIG
        elif resource.repetition.count is not None and isinstance(inst.key, int):
            reason = ActionReason.DELETE_BECAUSE_COUNT_INDEX
        elif resource.repetition.for_each is not None and isinstance(inst.key, str):
            reason = ActionReason.DELETE_BECAUSE_EACH_KEY
        else:
            reason = ActionReason.DELETE_BECAUSE_WRONG_REPETITION
        out.append(_change(rs, Action.DELETE, rs.attributes, None, reason))
    return out


def _destroy_changes(root: Module, state: State, scope: _TargetScope) -> list[ResourceChange]:
    # a target and what depends on it are destroyed, never what it depends on (as Terraform)
    doomed = {a for a in state.resources if not scope.targets or scope.matches(a)}
    if scope.targets:
        dependents: dict[str, list[str]] = {}  # static address -> instances depending on it
        for address, rs in state.resources.items():
            for dep in rs.dependencies:
                dependents.setdefault(dep, []).append(address)
        todo = list(doomed)
        while todo:
            static = state.resources[todo.pop()].instance.static
            for address in dependents.pop(static, ()):
                if address not in doomed:
                    doomed.add(address)
                    todo.append(address)
    return [
        _change(state.resources[a], Action.DELETE, state.resources[a].attributes, None)
        for a in sorted(doomed)
    ]


def _errored_state_waiting(directory: Path) -> list[Diagnostic]:
    """A state an apply could not push is waiting next to the configuration: planning from
    the backend's older state would fork it."""
    from meshprov.backend import ERRORED_STATE

    path = directory / ERRORED_STATE
    if not path.exists():
        return []
    return [
        warning(
            "A state is waiting to be pushed",
            f"{path} holds the state of an apply that could not be saved to the backend; this "
            "plan starts from the older state in the backend. Push it first with:\n"
            f"    meshprov state push {path}",
        )
    ]


def _check_prevent_destroy(root: Module, changes: list[ResourceChange]) -> None:
    diags = Diagnostics()
    for change in changes:
        if not change.action.destroys:
            continue
        _module, resource = _find_resource(root, change.instance)
        if resource is not None and resource.lifecycle.prevent_destroy:
            diags.add(
                error(
                    "Instance cannot be destroyed",
                    f"Resource {change.address} has lifecycle.prevent_destroy set, but the plan "
                    "calls for this resource to be destroyed. To avoid this error and continue "
                    "with the plan, either disable lifecycle.prevent_destroy or reduce the scope "
                    "of the plan using the --target option.",
                    resource.range,
                )
            )
    diags.raise_if_errors()


# --- outputs -------------------------------------------------------------------------------


def _output_changes(
    state: State, outputs: dict[str, Any], sensitive: dict[str, bool]
) -> list[OutputChange]:
    out = []
    for name in sorted(set(outputs) | set(state.outputs)):
        before = state.outputs.get(name, {}).get("value") if name in state.outputs else None
        # a value that was sensitive stays hidden, even as it goes away or stops being sensitive
        was_sensitive = bool(state.outputs.get(name, {}).get("sensitive", False))
        if name not in outputs:
            out.append(OutputChange(name, Action.DELETE, before, None, was_sensitive))
            continue
        after, _ = unmark_deep(outputs[name])
        if name not in state.outputs:
            action = Action.CREATE
        elif values_equal(before, after) and not has_unknown(after):
            action = Action.NOOP
        else:
            action = Action.UPDATE
        out.append(
            OutputChange(name, action, before, after, sensitive.get(name, False) or was_sensitive)
        )
    return out
