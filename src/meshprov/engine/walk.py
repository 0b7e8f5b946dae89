"""Evaluating a configuration: variables, locals, modules and resources, expanded into instances.

One walk serves ``validate`` and ``plan``: nodes are evaluated in dependency order, once per
instance of the module they live in; each resource instance's checked arguments go to a
``ResourceHook``, whose answer is the value other expressions see when they reference that
instance (during validation, exported attributes are unknown; during planning, the planned
values). A node whose dependency failed is skipped, so one mistake gives one error.
"""

from __future__ import annotations

import heapq
import logging
import os
import queue
import threading
from collections.abc import Mapping
from concurrent.futures import Future, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from meshprov.addrs import InstanceAddress, InstanceKey, ModulePath, format_module_path
from meshprov.config.model import (
    InputValue,
    Module,
    ModuleCall,
    Output,
    Repetition,
    Resource,
    Variable,
)
from meshprov.diagnostics import Diagnostic, DiagnosticError, Diagnostics, SourceRange, error
from meshprov.engine.graph import Node, StaticPath, node_of, resource_dependencies
from meshprov.lang import ast
from meshprov.lang.evaluate import EvalContext, evaluate
from meshprov.lang.traversals import traversals
from meshprov.lang.types import NUMBER, ConversionError, convert
from meshprov.lang.values import (
    UNKNOWN,
    HclSet,
    ResourceValue,
    Unknown,
    format_number,
    has_infinity,
    has_unknown,
    is_number,
    is_sensitive_deep,
    is_unknown,
    mark,
    type_name,
    unmark,
    unmark_deep,
)
from meshprov.resources import SCHEMAS
from meshprov.resources.base import ResourceInstance
from meshprov.resources.schema import Attr, control_character_problem

if TYPE_CHECKING:
    import networkx as nx  # at run time, imported where a graph is built


class ResourceHook(Protocol):
    def resource_instance(self, instance: ResourceInstance) -> Any:
        """Return the value that references to this instance evaluate to."""


class ValidationHook:
    """Validation: configured arguments are known, every exported attribute is unknown
    (and sensitive where the schema says so, so a root output exposing one is caught), and so
    is an argument left unset whose value the type computes when planning (``Attr.computed``)."""

    def resource_instance(self, instance: ResourceInstance) -> Any:
        schema = instance.schema
        computed = {
            a.name: UNKNOWN
            for a in schema.attributes
            if a.computed and instance.values.get(a.name) is None
        }
        exports = {e.name: mark(UNKNOWN, e.sensitive) for e in schema.exported}
        return ResourceValue(instance.address, {**instance.marked_values(), **computed, **exports})


@dataclass
class ModuleInstance:
    path: ModulePath
    module: Module
    names: dict[str, Any]
    base_dir: Path  # where relative paths in file(), templatefile(), ... start: the root's
    outputs: dict[str, Any] = field(default_factory=dict)

    def ctx(self, **extra: Any) -> EvalContext:
        names = {**self.names, **extra} if extra else self.names
        return EvalContext(names, self.base_dir)


@dataclass
class _PendingResource:
    """A resource node's instances in one module instance: values, or futures of values."""

    inst: ModuleInstance
    resource: Resource
    keys: list[InstanceKey]
    answers: dict[InstanceKey, Any]

    @property
    def futures(self) -> list[Future]:
        return [a for a in self.answers.values() if isinstance(a, Future)]


@dataclass
class Evaluation:
    """The result of a walk: root outputs, every resource instance, and warnings."""

    outputs: dict[str, Any]
    output_sensitive: dict[str, bool]
    instances: list[ResourceInstance]
    warnings: list[Diagnostic]


def evaluate_config(
    root: Module,
    graph: nx.DiGraph,
    inputs: Mapping[str, InputValue],
    hook: ResourceHook,
    root_dir: Path,
    partial: bool = False,
    stop: threading.Event | None = None,
) -> Evaluation:
    """Walk the configuration.

    ``partial`` is for ``validate``: root variables without a value are unknown instead of an
    error, and a block whose ``count``/``for_each`` is unknown is checked once with unknown
    ``count.index``/``each`` instead of failing. Once ``stop`` is set, no resource node starts.
    """
    return _Walker(root, graph, inputs, hook, root_dir, partial, stop).run()


_log = logging.getLogger(__name__)
_NAMED_INSTANCES = 5  # a diagnostic names this many module instances, then counts the rest
UNKNOWN_KEY = "*"  # the one placeholder instance of a block whose expansion is unknown


def resource_key(value: Any) -> InstanceAddress | None:
    raw, _ = unmark(value)
    return raw.address if isinstance(raw, ResourceValue) else None


class _Walker:
    def __init__(
        self,
        root: Module,
        graph: nx.DiGraph,
        inputs: Mapping[str, InputValue],
        hook: ResourceHook,
        root_dir: Path,
        partial: bool,
        stop: threading.Event | None,
    ):
        self.partial = partial
        self.stop = stop
        self.graph = graph
        self.inputs = inputs
        self.hook = hook
        self.root_dir = root_dir
        self.diags = Diagnostics()
        self.instances: list[ResourceInstance] = []
        self.output_sensitive: dict[str, bool] = {}
        self.module_each: dict[tuple[ModulePath, str], dict[InstanceKey, Any]] = {}
        self.by_path: dict[StaticPath, list[ModuleInstance]] = {(): [self._new_instance((), root)]}
        self.dependencies: dict[str, tuple[str, ...]] = {}  # resource node -> its dependencies

    def _new_instance(self, path: ModulePath, module: Module) -> ModuleInstance:
        names: dict[str, Any] = {
            "var": {},
            "local": {},
            "module": {},
            # Relative, as Terraform's: an absolute path would tie values (output_dir) and
            # saved plans to one checkout. Relative paths resolve from the root directory.
            "path": {
                "module": Path(os.path.relpath(module.path, self.root_dir)).as_posix(),
                "root": ".",
                "cwd": str(Path.cwd()),
            },
        }
        for type_name_ in SCHEMAS:
            names[type_name_] = {}
        return ModuleInstance(path, module, names, self.root_dir)

    def run(self) -> Evaluation:
        """Evaluate nodes as their dependencies finish.

        A hook may answer with a ``Future`` (apply runs resource operations on a thread pool):
        the node then completes when all its instances have, and only then do its dependents
        start. Nodes downstream of a failure are skipped; independent ones go on. Each finished
        future reports its node on a queue, so waiting costs O(1) per future however many run.
        """
        graph = self.graph
        waiting = {n: graph.in_degree(n) for n in graph}
        ready = [n for n, d in waiting.items() if d == 0]
        heapq.heapify(ready)
        failed: set[str] = set()
        pending: dict[str, list[_PendingResource]] = {}
        running: dict[str, int] = {}  # pending node -> how many of its futures have not finished
        finished: queue.SimpleQueue[str] = queue.SimpleQueue()  # a node, once per finished future

        def finish(node_id: str) -> None:
            for succ in graph.successors(node_id):
                waiting[succ] -= 1
                if waiting[succ] == 0:
                    heapq.heappush(ready, succ)

        while ready or pending:
            while ready:
                node_id = heapq.heappop(ready)
                node = node_of(graph, node_id)
                started: list[_PendingResource] = []
                if any(p in failed for p in graph.predecessors(node_id)) or (
                    node.kind == "resource" and self.stop is not None and self.stop.is_set()
                ):
                    failed.add(node_id)
                    finish(node_id)
                    continue
                _log.debug("walk: %s", node_id)
                problems = self._evaluate_everywhere(node, started)
                if problems:
                    self.diags.extend(problems)
                    failed.add(node_id)
                    finish(node_id)
                    continue
                futures = [f for p in started for f in p.futures]
                if futures:
                    pending[node_id] = started
                    running[node_id] = len(futures)
                    for future in futures:

                        def done(_future: Future, n: str = node_id) -> None:
                            finished.put(n)

                        future.add_done_callback(done)
                    continue
                if not self._complete(started):
                    failed.add(node_id)
                finish(node_id)
            if pending:
                settled = []
                node_id = finished.get()  # blocks until a future finishes; then take all so far
                while True:
                    running[node_id] -= 1
                    if running[node_id] == 0:
                        settled.append(node_id)
                    try:
                        node_id = finished.get_nowait()
                    except queue.Empty:
                        break
                for node_id in sorted(settled):
                    del running[node_id]
                    if not self._complete(pending.pop(node_id)):
                        failed.add(node_id)
                    finish(node_id)
        _log.info(
            "walk: %d nodes, %d resource instances, %d failed nodes",
            graph.number_of_nodes(),
            len(self.instances),
            len(failed),
        )
        self.diags.raise_if_errors()
        root = self.by_path[()][0]
        return Evaluation(
            root.outputs,
            self.output_sensitive,
            self.instances,
            [d for d in self.diags if d.severity == "warning"],
        )

    def _evaluate_everywhere(self, node: Node, started: list[_PendingResource]) -> list[Diagnostic]:
        """Evaluate a node in every instance of its module; what went wrong, if anything.

        One module instance's error does not hide another's, and the same error from several
        instances of a module (the same line, the same message) is reported once, naming them.
        """
        found: dict[Diagnostic, list[ModuleInstance]] = {}
        for instance in list(self.by_path.get(node.module_path, ())):
            try:
                started.extend(self._evaluate_node(node, instance))
            except DiagnosticError as exc:
                for diag in exc.diagnostics:
                    found.setdefault(diag, []).append(instance)
        return [self._in_module_instances(d, where) for d, where in found.items()]

    def _in_module_instances(self, diag: Diagnostic, where: list[ModuleInstance]) -> Diagnostic:
        """The diagnostic, saying which module instances it comes from and where they are called
        (the range alone points into the module's file, shared by every instance)."""
        if not where[0].path:
            return diag
        call = self._caller_of(where[0]).module.module_calls[where[0].path[-1][0]]
        shown = [format_module_path(inst.path) for inst in where[:_NAMED_INSTANCES]]
        if len(where) > _NAMED_INSTANCES:
            shown.append(f"{len(where) - _NAMED_INSTANCES} more")
        note = (
            f"In {', '.join(shown)}: the module call at {call.range.filename} line "
            f"{call.range.start.line}."
        )
        return replace(diag, detail=f"{diag.detail}\n\n{note}" if diag.detail else note)

    def _complete(self, started: list[_PendingResource]) -> bool:
        """Resolve a resource node's instance values; false if any instance failed."""
        ok = True
        for part in started:
            values: dict[InstanceKey, Any] = {}
            for key, answer in part.answers.items():
                if isinstance(answer, Future):
                    try:
                        answer = answer.result()
                    except DiagnosticError as exc:
                        self.diags.extend(exc.diagnostics)
                        ok = False
                        continue
                values[key] = answer
            if ok:
                part.inst.names[part.resource.type][part.resource.name] = _collection(
                    part.resource.repetition, part.keys, values
                )
        return ok

    def _evaluate_node(self, node: Node, inst: ModuleInstance) -> list[_PendingResource]:
        """Evaluate one node in one module instance; a resource node returns its instances."""
        module = inst.module
        if node.kind == "var":
            var = module.variables[node.name]
            inst.names["var"][node.name] = self._variable(var, inst)
        elif node.kind == "local":
            local = module.locals[node.name]
            inst.names["local"][node.name] = evaluate(local.expr, inst.ctx())
        elif node.kind == "output":
            output = module.outputs[node.name]
            value = self._output(output, inst)
            inst.outputs[node.name] = value
            if not inst.path:
                self.output_sensitive[node.name] = output.sensitive or is_sensitive_deep(value)
        elif node.kind == "module":
            self._module_call(module.module_calls[node.name], inst, node)
        else:
            return [self._resource(module.resources[node.name], inst, node)]
        return []

    # --- variables and outputs ---------------------------------------------------------------

    def _variable(self, var: Variable, inst: ModuleInstance) -> Any:
        where = var.range
        origin = ""  # for a value from --var or the environment, which have no source range
        if inst.path:  # a module input, evaluated in the caller's scope
            value, where = self._module_input(var, inst)
        elif var.name in self.inputs:
            given = self.inputs[var.name]
            value, where = given.value, given.range or var.range
            if given.range is None:
                origin = f"\n\nThe value came from {given.source}."
        elif var.required and self.partial:
            return mark(UNKNOWN, var.sensitive)
        elif var.required:
            raise DiagnosticError.single(
                "No value for required variable",
                f'The root module input variable "{var.name}" is not set, and has no default '
                f"value. Use --var {var.name}=..., a --var-file, a *.auto.vars.hcl file or the "
                f"MESHPROV_VAR_{var.name} environment variable to provide a value.",
                var.range,
            )
        else:
            value = var.default
        if value is None:
            if not var.nullable:
                raise DiagnosticError.single(
                    "Invalid value for variable",
                    f'The variable "{var.name}" is not nullable, so it cannot be set to null.'
                    + origin,
                    where,
                )
        elif not is_unknown(value):
            try:
                value = convert(value, var.type)
            except ConversionError as exc:
                raise DiagnosticError.single(
                    "Invalid value for variable",
                    f"The given value is not suitable for var.{var.name} declared at "
                    f"{var.range.filename}:{var.range.start.line}: {exc}." + origin,
                    where,
                ) from None
        value = mark(value, var.sensitive)
        for rule in var.validations:
            ctx = EvalContext({"var": {var.name: value}}, inst.base_dir)
            ok, _ = unmark(evaluate(rule.condition, ctx))
            if isinstance(ok, Unknown):
                continue
            if not isinstance(ok, bool):
                raise DiagnosticError.single(
                    "Invalid variable validation result",
                    f"The validation condition must be true or false, not {type_name(ok)}.",
                    rule.condition.range,
                )
            if not ok:
                message, _ = unmark(evaluate(rule.error_message, ctx))
                raise DiagnosticError.single(
                    "Invalid value for variable",
                    f"{message}\n\nThis was checked by the validation rule at "
                    f"{rule.range.filename}:{rule.range.start.line}." + origin,
                    where,
                )
        return value

    def _module_input(self, var: Variable, inst: ModuleInstance) -> tuple[Any, SourceRange]:
        call_name, key = inst.path[-1]
        caller = self._caller_of(inst)
        call = caller.module.module_calls[call_name]
        attr = call.inputs.get(var.name)
        if attr is None:
            return (None if var.required else var.default), call.range
        extra = _repetition_names(call.repetition, key, self._each_value(call, caller, key))
        return evaluate(attr.expr, caller.ctx(**extra)), attr.expr.range

    def _caller_of(self, inst: ModuleInstance) -> ModuleInstance:
        parent_static = tuple(name for name, _ in inst.path[:-1])
        return next(p for p in self.by_path[parent_static] if p.path == inst.path[:-1])

    def _each_value(self, call: ModuleCall, caller: ModuleInstance, key: InstanceKey) -> Any:
        if call.repetition.for_each is None:
            return None
        return self.module_each[(caller.path, call.name)][key]

    def _output(self, output: Output, inst: ModuleInstance) -> Any:
        value = evaluate(output.expr, inst.ctx())
        if not inst.path and is_sensitive_deep(value) and not output.sensitive:
            raise DiagnosticError.single(
                "Output refers to sensitive values",
                "To reduce the risk of accidentally exporting sensitive data that was intended to "
                "be only internal, meshprov requires that any root module output containing "
                "sensitive data be explicitly marked as sensitive: add sensitive = true.",
                output.range,
            )
        if not inst.path and has_infinity(value):
            raise DiagnosticError.single(
                "Unsupported output value",
                "Root module outputs are saved in the state as JSON, which cannot hold an "
                "infinite number (such as the result of dividing by zero).",
                output.expr.range,
            )
        return value

    # --- modules -----------------------------------------------------------------------------

    def _module_call(self, call: ModuleCall, caller: ModuleInstance, node: Node) -> None:
        keys, each_values = self._expand(call.repetition, caller, f'module "{call.name}"')
        static = (*node.module_path, call.name)
        children = []
        for key in keys:
            child = self._new_instance((*caller.path, (call.name, key)), call.module)
            children.append(child)
        self.by_path.setdefault(static, []).extend(children)
        if each_values is not None:
            self.module_each[(caller.path, call.name)] = each_values
        # references to module.NAME see the outputs, filled in as the output nodes run
        outputs = {k: c.outputs for k, c in zip(keys, children, strict=True)}
        caller.names["module"][call.name] = _collection(call.repetition, keys, outputs)

    # --- resources ---------------------------------------------------------------------------

    def _resource(self, resource: Resource, inst: ModuleInstance, node: Node) -> _PendingResource:
        keys, each_values = self._expand(
            resource.repetition, inst, f'{resource.type} "{resource.name}"'
        )
        deps = self.dependencies.get(node.id)
        if deps is None:  # the same in every instance of the module: walk the graph once
            deps = tuple(sorted(resource_dependencies(self.graph, node.id)))
            self.dependencies[node.id] = deps
        answers: dict[InstanceKey, Any] = {}
        problems = Diagnostics()
        ranges = {name: attr.expr.range for name, attr in resource.attributes.items()}
        for kind, nested in resource.blocks.items():
            ranges[kind] = nested.type_range
            ranges.update(
                {f"{kind}.{name}": a.expr.range for name, a in nested.body.attributes.items()}
            )
        for key in keys:
            address = InstanceAddress(inst.path, resource.type, resource.name, key)
            extra = _repetition_names(
                resource.repetition, key, each_values[key] if each_values is not None else None
            )
            try:
                nulls: set[str] = set()
                values, nested_sensitive = self._resource_arguments(
                    resource, inst.ctx(**extra), address, nulls
                )
                instance = ResourceInstance(
                    address,
                    resource.schema,
                    {k: unmark(v)[0] for k, v in values.items()},
                    deps,
                    resource.range,
                    ranges,
                    self.root_dir,
                    resource.lifecycle.ignore_changes,
                    frozenset(
                        k
                        for k, v in values.items()
                        if not resource.schema.is_reference(k)
                        and k not in resource.blocks  # marked inside: nested_sensitive
                        and is_sensitive_deep(v)
                    )
                    | nested_sensitive,
                    frozenset(nulls),
                )
                if key != UNKNOWN_KEY:
                    self.instances.append(instance)
                answers[key] = self.hook.resource_instance(instance)
            except DiagnosticError as exc:
                problems.extend(exc.diagnostics)
        pending = _PendingResource(inst, resource, keys, answers)
        if problems.has_errors:
            for future in pending.futures:  # let started work finish before reporting
                wait([future])
            raise DiagnosticError(problems.items)
        return pending

    def _resource_arguments(
        self, resource: Resource, ctx: EvalContext, address: InstanceAddress, nulls: set[str]
    ) -> tuple[dict[str, Any], frozenset[str]]:
        """The checked arguments, defaults applied, and the sensitive ones inside nested blocks
        (``block.name``): a block's map holds plain values, so only its secrets are hidden.
        ``nulls`` gains the arguments written as null (``block.name`` inside a block)."""
        values: dict[str, Any] = {}
        nested_sensitive: set[str] = set()
        problems = Diagnostics()
        for attr in resource.schema.attributes:
            if attr.block is not None:
                nested = resource.blocks.get(attr.name)
                if nested is None:
                    values[attr.name] = None
                    continue
                block_values: dict[str, Any] = {}
                inner_nulls: set[str] = set()
                for inner in attr.block:
                    try:
                        value = self._argument(
                            inner, nested.body.attributes, ctx, address, inner_nulls
                        )
                    except DiagnosticError as exc:
                        problems.extend(exc.diagnostics)
                        continue
                    raw, sensitive = (unmark if inner.reference else unmark_deep)(value)
                    block_values[inner.name] = raw
                    if sensitive:
                        nested_sensitive.add(f"{attr.name}.{inner.name}")
                values[attr.name] = block_values
                nulls.update(f"{attr.name}.{name}" for name in inner_nulls)
                continue
            try:
                values[attr.name] = self._argument(attr, resource.attributes, ctx, address, nulls)
            except DiagnosticError as exc:
                problems.extend(exc.diagnostics)
        for attr in resource.schema.attributes:
            configured = resource.attributes.get(attr.name)
            if not attr.required_unless or configured is None or attr.name not in values:
                continue  # left out: the loader says it is missing
            if (
                unmark(values[attr.name])[0] is None
                and unmark(values.get(attr.required_unless))[0] is None
            ):
                problems.add(
                    error(
                        "Missing required argument",
                        f'The argument "{attr.name}" of {address} is required and cannot '
                        f"be null, unless {attr.required_unless} is set.",
                        configured.expr.range,
                    )
                )
        problems.raise_if_errors()
        return values, frozenset(nested_sensitive)

    @staticmethod
    def _argument(
        attr: Attr,
        given: dict[str, ast.Attribute],
        ctx: EvalContext,
        address: InstanceAddress,
        nulls: set[str],
    ) -> Any:
        """One argument checked against its schema, or its default when left out (or null,
        then named in ``nulls``); a schema-sensitive one comes back marked whatever gave it."""
        configured = given.get(attr.name)
        if configured is None:
            return mark(_default(attr), attr.sensitive)
        value = evaluate(configured.expr, ctx)
        if unmark(value)[0] is None:
            nulls.add(attr.name)
        return _check_argument(attr, value, configured, address)

    # --- count and for_each ------------------------------------------------------------------

    def _expand(
        self, rep: Repetition, inst: ModuleInstance, what: str
    ) -> tuple[list[InstanceKey], dict[InstanceKey, Any] | None]:
        meta = rep.count or rep.for_each
        if self.partial and meta is not None and has_unknown(evaluate(meta.expr, inst.ctx())):
            if rep.count is not None:
                return [UNKNOWN_KEY], None
            return [UNKNOWN_KEY], {UNKNOWN_KEY: UNKNOWN}
        if rep.count is not None:
            return self._count(rep.count, inst, what), None
        if rep.for_each is not None:
            each = self._for_each(rep.for_each, inst, what)
            return list(each), each
        return [None], None

    def _count(self, attr: ast.Attribute, inst: ModuleInstance, what: str) -> list[InstanceKey]:
        value, sensitive = unmark(evaluate(attr.expr, inst.ctx()))
        if isinstance(value, Unknown) or has_unknown(value):
            raise DiagnosticError.single(
                "Invalid count argument",
                f'The "count" value of {what} depends on values that cannot be determined until '
                "apply, so meshprov cannot predict how many instances will be created.",
                attr.expr.range,
            )
        if sensitive:
            raise DiagnosticError.single(
                "Invalid count argument",
                "Sensitive values cannot be used as count.",
                attr.expr.range,
            )
        try:
            number = convert(value, NUMBER)
        except ConversionError:
            number = None
        if value is None or not isinstance(number, int) or number < 0:
            raise DiagnosticError.single(
                "Invalid count argument",
                f'The "count" argument must be a whole number of zero or more, not {_show(value)}.',
                attr.expr.range,
            )
        return list(range(number))

    def _for_each(
        self, attr: ast.Attribute, inst: ModuleInstance, what: str
    ) -> dict[InstanceKey, Any]:
        value, sensitive = unmark(evaluate(attr.expr, inst.ctx()))
        if isinstance(value, HclSet):  # a set's elements are its keys: Terraform marks the set
            sensitive = sensitive or any(unmark(item)[1] for item in value)
        if isinstance(value, Unknown):
            raise DiagnosticError.single(
                "Invalid for_each argument",
                f'The "for_each" value of {what} depends on resource attributes that cannot be '
                "determined until apply, so meshprov cannot predict how many instances will be "
                "created. Use a map or set whose keys are known from the configuration.",
                attr.expr.range,
            )
        if sensitive:
            raise DiagnosticError.single(
                "Invalid for_each argument",
                "Sensitive values, or values derived from sensitive values, cannot be used as "
                "for_each arguments: instance keys are shown in plans.",
                attr.expr.range,
            )
        if isinstance(value, dict):
            return {k: value[k] for k in sorted(value)}
        if isinstance(value, HclSet):
            out: dict[InstanceKey, Any] = {}
            for item in value:
                item_raw, _ = unmark(item)
                if isinstance(item_raw, Unknown):
                    raise DiagnosticError.single(
                        "Invalid for_each argument",
                        f'The "for_each" set of {what} includes values that cannot be determined '
                        "until apply.",
                        attr.expr.range,
                    )
                if not isinstance(item_raw, str):
                    raise DiagnosticError.single(
                        "Invalid for_each set argument",
                        f'The "for_each" argument of {what} must be a map, or set of strings, and '
                        f"this set contains a {type_name(item_raw)} value.",
                        attr.expr.range,
                    )
                out[item_raw] = item_raw
            return out
        raise DiagnosticError.single(
            "Invalid for_each argument",
            f'The "for_each" argument of {what} must be a map, or set of strings, and you have '
            f"provided a value of type {type_name(value)}."
            + (" A list can be converted with toset(...)." if isinstance(value, list) else ""),
            attr.expr.range,
        )


def _repetition_names(rep: Repetition, key: InstanceKey, each_value: Any) -> dict[str, Any]:
    if key == UNKNOWN_KEY and (rep.count is not None or rep.for_each is not None):
        placeholder = (
            {"index": UNKNOWN} if rep.count is not None else {"key": UNKNOWN, "value": UNKNOWN}
        )
        return {"count" if rep.count is not None else "each": placeholder}
    if rep.count is not None:
        return {"count": {"index": key}}
    if rep.for_each is not None:
        return {"each": {"key": key, "value": each_value}}
    return {}


def _collection(rep: Repetition, keys: list[InstanceKey], values: dict[InstanceKey, Any]) -> Any:
    """What ``type.name`` / ``module.name`` evaluates to: one value, a list, or a map."""
    if keys == [UNKNOWN_KEY]:
        return UNKNOWN
    if rep.count is not None:
        return [values[k] for k in keys]
    if rep.for_each is not None:
        return {k: values[k] for k in keys}
    return values[None]


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f'"{value}"'
    if is_number(value):
        return format_number(value)
    return str(value)


def _default(attr: Attr) -> Any:
    default = attr.default
    return list(default) if isinstance(default, tuple) else default


def _check_argument(
    attr: Attr, value: Any, configured: ast.Attribute, address: InstanceAddress
) -> Any:
    """Type, reference, allowed-value and custom checks of one configured argument.

    A sensitive value is checked as the plain value it marks (so ``hostnames = [sensitive(x)]``
    is accepted as any list of strings is) and the whole argument comes back marked: the
    engine tracks sensitivity per argument, and types see plain values. An argument the
    schema calls sensitive comes back marked whatever its value's marks.
    """
    rng = configured.expr.range
    value = mark(value, attr.sensitive)  # before any message could show it
    if attr.reference is None:
        raw, sensitive = unmark_deep(value)
    else:
        raw, sensitive = unmark(value)
    if raw is None:
        if attr.required:
            raise DiagnosticError.single(
                "Missing required argument",
                f'The argument "{attr.name}" of {address} is required and cannot be null.',
                rng,
            )
        return None if attr.null_is_value else _default(attr)
    if isinstance(raw, Unknown):
        return value
    if attr.reference is not None:
        return _check_reference(attr, raw, rng, address)
    try:
        converted = convert(raw, attr.type)
    except ConversionError as exc:
        raise DiagnosticError.single(
            "Incorrect attribute value type",
            f'Inappropriate value for attribute "{attr.name}": {exc}.',
            rng,
        ) from None
    if has_unknown(converted):
        return mark(converted, sensitive)
    if attr.allowed is not None and converted not in attr.allowed:
        raise DiagnosticError.single(
            "Invalid value",
            f'"{converted}" is not a valid value for "{attr.name}". Allowed values: '
            + ", ".join(f'"{a}"' for a in attr.allowed)
            + ".",
            rng,
        )
    problem = control_character_problem(converted, attr.multiline)
    if problem:
        raise DiagnosticError.single(f'Invalid value for "{attr.name}"', problem, rng)
    if attr.check is not None:
        problem = attr.check(converted)
        if problem:
            raise DiagnosticError.single(f'Invalid value for "{attr.name}"', problem, rng)
    return mark(converted, sensitive)


def _check_reference(attr: Attr, raw: Any, rng: SourceRange, address: InstanceAddress) -> Any:
    items = raw if isinstance(raw, list | HclSet) else None
    wants_list = attr.default == ()
    if wants_list and items is None:
        raise DiagnosticError.single(
            "Incorrect attribute value type",
            f'"{attr.name}" must be a list of {attr.reference} references, e.g. '
            f"[{attr.reference}.example].",
            rng,
        )
    elements = list(items) if items is not None and wants_list else [raw]
    for item in elements:
        item_raw, _ = unmark(item)
        if isinstance(item_raw, Unknown):
            continue
        if not isinstance(item_raw, ResourceValue):
            raise DiagnosticError.single(
                "Invalid reference",
                f'"{attr.name}" must be a reference to a {attr.reference} resource, such as '
                f"{attr.reference}.example, not a {type_name(item_raw)} value.",
                rng,
            )
        if item_raw.address.type != attr.reference:
            raise DiagnosticError.single(
                "Invalid reference",
                f'"{attr.name}" must refer to a {attr.reference} resource, but '
                f"{item_raw.address} is a {item_raw.address.type}.",
                rng,
            )
    return elements if wants_list else raw


def root_variable_values(
    root: Module, inputs: Mapping[str, InputValue], root_dir: Path
) -> dict[str, Any]:
    """Every root variable's value, defaults applied and converted to its type, as Terraform's
    JSON plan lists them; a sensitive one is None, so the result may be shown and saved."""
    import networkx as nx

    walker = _Walker(root, nx.DiGraph(), inputs, ValidationHook(), root_dir, False, None)
    inst = walker.by_path[()][0]
    values: dict[str, Any] = {}
    for name, var in sorted(root.variables.items()):
        value, sensitive = unmark_deep(walker._variable(var, inst))
        values[name] = None if sensitive else value
    return values


def evaluate_providers(
    root: Module, inputs: Mapping[str, InputValue], root_dir: Path
) -> dict[str, dict[str, Any]]:
    """The root module's provider blocks, evaluated.

    Providers are needed before anything else (refresh reads the world with them), so their
    arguments may refer to input variables only, as constants otherwise.
    """
    import networkx as nx

    from meshprov.aws import argument_problem

    walker = _Walker(root, nx.DiGraph(), inputs, ValidationHook(), root_dir, False, None)
    inst = walker.by_path[()][0]
    out: dict[str, dict[str, Any]] = {}
    for name, provider in root.providers.items():
        values: dict[str, Any] = {}
        for attr_name, attr in provider.attributes.items():
            for ref in traversals(attr.expr):
                first = ref.steps[0] if ref.root == "var" and ref.steps else None
                var = root.variables.get(first) if isinstance(first, str) else None
                if var is None:
                    raise DiagnosticError.single(
                        "Unsupported provider argument",
                        "Provider arguments are read before anything else is evaluated, so they "
                        "may refer only to input variables (var.NAME).",
                        ref.range,
                    )
                if var.name not in inst.names["var"]:
                    inst.names["var"][var.name] = walker._variable(var, inst)
            value, _ = unmark(evaluate(attr.expr, inst.ctx()))
            problem = None if has_unknown(value) else argument_problem(attr_name, value)
            if problem is not None:
                raise DiagnosticError.single(
                    "Invalid provider argument", problem, attr.expr.range, f'provider "{name}"'
                )
            values[attr_name] = value
        out[name] = values
    return out
