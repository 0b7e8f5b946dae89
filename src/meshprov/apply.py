"""Applying a plan: a graph walk with a thread pool that makes the world match the plan.

Deletions run first, dependents before what they depend on. Then the configuration is walked
again, each instance re-evaluated with the applied values of its dependencies and handed to a
worker. What each instance did is journaled (fsync'ed) as soon as it finishes, so a crash loses
nothing; the state is written once at the end. On a failure, the failed instance's dependents
are skipped and independent work goes on; on a stop request (first SIGINT) nothing new starts
and running work finishes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from meshprov.diagnostics import Diagnostic, DiagnosticError, error
from meshprov.engine.configuration import LoadedConfig
from meshprov.engine.providers import configure_providers
from meshprov.engine.walk import evaluate_config
from meshprov.heap import frozen_heap
from meshprov.lang.types import infer_type, type_json
from meshprov.lang.values import UNKNOWN, has_unknown, unmark_deep
from meshprov.plan.encoding import restore
from meshprov.plan.model import Action, Mode, Plan, ResourceChange
from meshprov.plan.planner import (
    ignoring_changes,
    instance_value,
    resource_type,
)
from meshprov.resources.base import (
    ApplyRequest,
    Context,
    ResourceError,
    ResourceInstance,
    ResourceType,
)
from meshprov.state import ResourceState, State

_log = logging.getLogger(__name__)

Event = Callable[[str, str, str], None]  # (address, phase, message)


@dataclass(frozen=True)
class ApplyOptions:
    parallelism: int = 10
    stop: threading.Event = field(default_factory=threading.Event)
    on_event: Event = lambda address, phase, message: None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class ApplyResult:
    state: State
    added: int = 0
    changed: int = 0
    destroyed: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)
    interrupted: bool = False

    @property
    def failed(self) -> bool:
        return self.interrupted or any(d.severity == "error" for d in self.diagnostics)


class StateSink(Protocol):
    """Where apply records progress: the backend's journal (durable per resource).

    Workers call it concurrently, so it must be thread-safe (``Journal`` is).
    """

    def record_set(self, resource: ResourceState) -> None: ...
    def record_remove(self, address: str) -> None: ...


def apply_plan(
    config: LoadedConfig, plan: Plan, sink: StateSink, options: ApplyOptions
) -> ApplyResult:
    """Carry out ``plan``. Always returns the resulting state, even after failures."""
    runner = _Runner(config, plan, sink, options)
    # the configuration and the plan are not garbage: the collector need not rescan them
    with frozen_heap(), ThreadPoolExecutor(max_workers=max(1, options.parallelism)) as pool:
        runner.pool = pool
        runner.delete_phase()
        if plan.mode is Mode.NORMAL:
            runner.create_update_phase()
    return runner.result()


class _Runner:
    def __init__(self, config: LoadedConfig, plan: Plan, sink: StateSink, options: ApplyOptions):
        self.config = config
        self.plan = plan
        self.sink = sink
        self.options = options
        self.context = Context(config.directory, options.now, configure_providers(config))
        self.resources: dict[str, ResourceState] = dict(plan.prior_state.resources)
        self.outputs: dict[str, dict] = dict(plan.prior_state.outputs)
        self.by_address = {c.address: c for c in plan.changes}
        self.lock = threading.Lock()
        self.counts = {"added": 0, "changed": 0, "destroyed": 0}
        self.diagnostics: list[Diagnostic] = list(plan.warnings)
        self.pool: ThreadPoolExecutor

    # --- deletions -----------------------------------------------------------------------

    def delete_phase(self) -> None:
        deletes = [c for c in self.plan.changes if c.action is Action.DELETE]
        if not deletes:
            return
        import networkx as nx

        # an edge a → b: b depends on a, so b must be deleted before a
        graph = nx.DiGraph()
        graph.add_nodes_from(c.address for c in deletes)
        by_static: dict[str, list[str]] = {}  # static address -> the deleted instances of it
        for c in deletes:
            by_static.setdefault(c.instance.static, []).append(c.address)
        for change in deletes:
            for dependency in dict.fromkeys(change.dependencies):
                for other in by_static.get(dependency, ()):
                    graph.add_edge(other, change.address)
        order = list(reversed(list(nx.topological_sort(graph))))
        blocked: set[str] = set()
        futures: dict[str, Future] = {}
        for address in order:
            if self.options.stop.is_set():
                break
            waiting = [futures[d] for d in graph.successors(address) if d in futures]
            for future in waiting:
                future.exception()
            if any(d in blocked for d in graph.successors(address)):
                blocked.add(address)
                continue
            futures[address] = self.pool.submit(self._delete, self.by_address[address])

            def block_if_failed(future: Future, a: str = address) -> None:
                if future.exception():
                    blocked.add(a)

            futures[address].add_done_callback(block_if_failed)
        for future in futures.values():
            future.exception()

    def _delete(self, change: ResourceChange) -> None:
        self._skip_if_stopped()
        started = time.monotonic()
        self._event(change.address, "start", "Destroying...")
        try:
            resource_type(change.type, change.address).delete(
                change.address, self.resources[change.address].attributes, self.context
            )
        except (ResourceError, OSError) as exc:
            self._fail(change.address, "Failed to destroy", str(exc))
            raise
        with self.lock:
            self.resources.pop(change.address, None)
            self.counts["destroyed"] += 1
            try:
                self.sink.record_remove(change.address)
            except OSError as exc:
                unrecorded: OSError | None = exc
            else:
                unrecorded = None
        if unrecorded is not None:
            raise self._unrecorded(change.address, unrecorded)
        self._event(change.address, "done", f"Destruction complete after {_took(started)}")

    # --- creates and updates ---------------------------------------------------------------

    def create_update_phase(self) -> None:
        hook = _ApplyHook(self)
        try:
            evaluation = evaluate_config(
                self.config.root,
                self.config.graph,
                self.config.inputs.values,
                hook,
                self.config.directory,
                stop=self.options.stop,
            )
        except DiagnosticError as exc:
            with self.lock:
                self.diagnostics.extend(d for d in exc.diagnostics if d not in self.diagnostics)
            return
        if self.options.stop.is_set():  # skipped nodes left outputs unevaluated: keep the old
            return
        outputs = {}
        for name, value in evaluation.outputs.items():
            raw, _ = unmark_deep(value)
            outputs[name] = {
                "value": raw,
                "sensitive": evaluation.output_sensitive[name],
                "type": type_json(infer_type(raw)),  # from the value: a set is still a set
            }
        self.outputs = outputs

    def start(self, instance: ResourceInstance) -> Any:
        address = str(instance.address)
        change = self.by_address.get(address)
        prior = self.resources.get(address)
        if change is None or change.action is Action.NOOP:
            return instance_value(instance.address, prior) if prior else UNKNOWN
        if has_unknown(instance.values):
            return self._failed_future(
                address,
                "Provider produced inconsistent final plan",
                "Some arguments are still unknown after their dependencies were applied.",
            )
        return self.pool.submit(self._apply, instance, change)

    def _failed_future(self, address: str, summary: str, detail: str) -> Future:
        future: Future = Future()
        future.set_exception(self._fail(address, summary, detail))
        return future

    def _apply(self, instance: ResourceInstance, change: ResourceChange) -> Any:
        address = change.address
        rtype = resource_type(change.type, address)
        prior = self.resources.get(address)
        self._skip_if_stopped()
        started = time.monotonic()
        verb = {Action.CREATE: "Creating", Action.UPDATE: "Modifying"}.get(
            change.action, "Replacing"
        )
        self._event(address, "start", f"{verb}...")
        try:
            if change.action is Action.REPLACE and prior is not None:
                rtype.delete(address, prior.attributes, self.context)
                with self.lock:
                    self.sink.record_remove(address)
                    self.resources.pop(address, None)
            config = (
                ignoring_changes(instance, prior)
                if change.action is Action.UPDATE
                else instance.values
            )
            request = ApplyRequest(
                address=address,
                prior=prior.attributes if change.action is Action.UPDATE and prior else None,
                planned=_planned(change, rtype, config),
                config=config,
                context=self.context,
            )
            attributes = rtype.apply(request)
            if change.action is Action.REPLACE_CBD and prior is not None:
                rtype.delete_replaced(address, prior.attributes, attributes, self.context)
        except (ResourceError, OSError) as exc:
            partial = getattr(exc, "partial", None)
            if partial is not None:  # keep what the operation did before it failed
                self._record(self._state(change, instance, partial))
            summary = "Failed to create" if change.action.creates else "Failed to update"
            raise self._fail(address, summary, str(exc)) from None
        state = self._state(change, instance, attributes)
        state.private = rtype.private(address, attributes, request.config)
        try:
            self._record(state)
        except OSError as exc:
            raise self._unrecorded(address, exc) from None
        with self.lock:
            if change.action.is_replace:
                self.counts["added"] += 1
                self.counts["destroyed"] += 1
            elif change.action is Action.CREATE:
                self.counts["added"] += 1
            else:
                self.counts["changed"] += 1
        done = {Action.CREATE: "Creation", Action.UPDATE: "Modifications"}.get(
            change.action, "Replacement"
        )
        self._event(address, "done", f"{done} complete after {_took(started)}")
        return instance_value(instance.address, state)

    def _skip_if_stopped(self) -> None:
        """A queued operation that had not started when the stop came does not start."""
        if self.options.stop.is_set():
            raise DiagnosticError([])  # skipped, not failed: no diagnostic of its own

    @staticmethod
    def _state(
        change: ResourceChange, instance: ResourceInstance, attributes: dict[str, Any]
    ) -> ResourceState:
        return ResourceState(
            address=change.address,
            module=change.module,
            type=change.type,
            name=change.name,
            index=change.index,
            attributes=attributes,
            sensitive_attributes=sorted(change.after_sensitive),
            dependencies=list(instance.dependencies),
        )

    def _record(self, state: ResourceState) -> None:
        """Make an instance's new state durable (journal) and current (for the final write)."""
        # not under self.lock: workers finishing together then share the journal's fsync
        try:
            self.sink.record_set(state)
        finally:  # kept for the final state write even if the journal failed
            with self.lock:
                self.resources[state.address] = state

    def _unrecorded(self, address: str, exc: OSError) -> DiagnosticError:
        return self._fail(
            address,
            "Failed to record the state",
            f"the apply journal could not be written ({exc.strerror or exc}). What this "
            "resource did is kept for the final state write.",
        )

    # --- results ---------------------------------------------------------------------------

    def _fail(self, address: str, summary: str, detail: str) -> DiagnosticError:
        diag = error(summary, f"{address}: {detail}")
        with self.lock:
            self.diagnostics.append(diag)
        self._event(address, "error", summary)
        return DiagnosticError([diag])

    def _event(self, address: str, phase: str, message: str) -> None:
        _log.info("apply: %s: %s: %s", address, phase, message)
        self.options.on_event(address, phase, message)

    def result(self) -> ApplyResult:
        prior = self.plan.prior_state
        outputs = {} if self.plan.mode is Mode.DESTROY else self.outputs
        state = State(
            lineage=prior.lineage,
            serial=prior.serial,
            outputs=outputs,
            resources=dict(sorted(self.resources.items())),
        )
        return ApplyResult(
            state=state,
            added=self.counts["added"],
            changed=self.counts["changed"],
            destroyed=self.counts["destroyed"],
            diagnostics=self.diagnostics,
            interrupted=self.options.stop.is_set(),
        )


class _ApplyHook:
    def __init__(self, runner: _Runner):
        self.runner = runner

    def resource_instance(self, instance: ResourceInstance) -> Any:
        return self.runner.start(instance)


def _planned(change: ResourceChange, rtype: ResourceType, config: dict[str, Any]) -> dict:
    """The plan's "after", its sensitive arguments as ``config`` (evaluated now) gives them.

    A saved plan holds no sensitive value: they come back null from the file, and a type
    would apply null (no hostnames, the zone's default name, no admin groups). The
    configuration gives them again, the same as at plan time (the plan's digest says so)."""
    arguments = set(rtype.schema.attribute_names)
    names = [n for n in change.after_sensitive if n.split(".")[0] in arguments]
    return restore(change.after or {}, names, rtype.planned_arguments(config))


def _took(started: float) -> str:
    return f"{time.monotonic() - started:.0f}s"
