"""Operations: the sequences every command shares, between the command line and the engine.

One sequence serves plan, apply, destroy and refresh-only: load the configuration, open the
backend and check it is initialised, take the state lock, read the state, then make the plan
(or read a saved one and check it was made from this configuration). Applying adds the run's
lifecycle: the state journal, the periodic push of remote state, SIGINT, and the final write.
Operations print nothing: what the user sees is the command layer's (``meshprov.cli``).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from meshprov.apply import ApplyOptions, ApplyResult, apply_plan
from meshprov.backend import (
    backend_settings,
    check_backend_initialized,
    locked,
    open_backend,
    read_state,
    record_backend,
    save_applied_state,
    state_encryption,
    write_state,
)
from meshprov.config.load import load_config
from meshprov.config.model import Module
from meshprov.diagnostics import Diagnostic, DiagnosticError
from meshprov.engine import configuration
from meshprov.engine.configuration import LoadedConfig
from meshprov.plan.model import Mode, Plan
from meshprov.plan.moves import Move, apply_moves
from meshprov.plan.planfile import load_plan_document, read_plan
from meshprov.plan.planner import PlanOptions, plan
from meshprov.state import State, StateBackend, StateEncryption

# the lock's operation names, as Terraform records them
LOCK_PLAN, LOCK_APPLY, LOCK_DESTROY = (
    "OperationTypePlan",
    "OperationTypeApply",
    "OperationTypeDestroy",
)


@dataclass(frozen=True)
class RunOptions:
    """What plan, apply and destroy are asked to do (their shared options, parsed)."""

    var_files: Sequence[Path] = ()  # relative to the working directory, or absolute
    cli_vars: Sequence[str] = ()
    targets: Sequence[str] = ()
    replace: Sequence[str] = ()
    refresh: bool = True
    refresh_only: bool = False
    destroy: bool = False
    now: Callable[[], datetime] = lambda: datetime.now(UTC)  # the plan's moment (--as-of)
    lock: bool = True  # --lock=false: work without the state lock (the user's risk)
    lock_timeout: Callable[[], float] = lambda: 0.0
    parallelism: int = 10


@dataclass(frozen=True)
class Run:
    """A run inside the state lock: the configuration, where state lives, and the plan."""

    loaded: LoadedConfig
    backend: StateBackend
    state: State
    plan: Plan


def plan_mode(destroy: bool, refresh_only: bool) -> Mode:
    if destroy and refresh_only:
        raise DiagnosticError.single(
            "Incompatible plan mode options",
            "The --destroy and --refresh-only options are mutually-exclusive.",
        )
    return Mode.DESTROY if destroy else Mode.REFRESH_ONLY if refresh_only else Mode.NORMAL


@contextmanager
def run(
    directory: Path, options: RunOptions, lock: str, planfile: Path | None = None
) -> Iterator[Run]:
    """Load, lock, read the state and plan; the body runs while the lock is held.

    With ``planfile``, the saved plan is read instead of planning, and refused when the
    configuration or variable values changed since it was made.
    """
    mode = plan_mode(options.destroy, options.refresh_only)
    saved_vars = None
    if planfile is not None:
        document = load_plan_document(planfile, lambda: plan_encryption(directory))
        saved_vars = document["variables"]
    loaded = configuration.load(directory, options.var_files, options.cli_vars, saved=saved_vars)
    backend = open_backend(loaded.root, loaded.directory)
    check_backend_initialized(loaded.root, loaded.directory)
    with locked(backend, lock, options.lock_timeout(), enabled=options.lock):
        # moved blocks rename state entries before anything looks them up (a saved plan too)
        moved = apply_moves(moves_of(loaded.root), read_state(backend))
        state = moved.state
        if planfile is not None:
            the_plan = read_plan(planfile, state, loaded.directory, backend.encryption)
            if the_plan.config_digest != loaded.digest:
                raise DiagnosticError.single(
                    "Configuration changed since the plan was made",
                    f"The configuration or variable values differ from those {planfile} "
                    "was made with. Run meshprov plan again.",
                )
        else:
            the_plan = _make_plan(loaded, state, mode, options, moved.previous)
            record_backend(loaded.directory, backend_settings(loaded.root))
        yield Run(loaded, backend, state, the_plan)


def _make_plan(
    loaded: LoadedConfig,
    state: State,
    mode: Mode,
    options: RunOptions,
    previous: dict[str, str],
) -> Plan:
    if options.refresh_only and not options.refresh:
        raise DiagnosticError.single(
            "Incompatible refresh options",
            "It doesn't make sense to use --refresh-only at the same time as --no-refresh.",
        )
    if options.replace and mode is Mode.DESTROY:
        raise DiagnosticError.single(
            "Incompatible options", "--replace cannot be used when destroying."
        )
    plan_options = PlanOptions(
        mode=mode,
        refresh=options.refresh,
        targets=tuple(options.targets),
        replace=tuple(options.replace),
        now=options.now(),
        parallelism=options.parallelism,
        previous=previous,
    )
    return plan(loaded, state, plan_options)


def moves_of(root: Module) -> list[Move]:
    return [Move(m.source, m.target, m.range) for m in root.moved]


class ApplyObserver(Protocol):
    """What the command layer shows of an apply while it runs."""

    def event(self, address: str, phase: str, message: str) -> None: ...

    def interrupted(self, again: bool) -> None:
        """SIGINT or SIGTERM: the first stops new operations; the second exits at once, after
        this."""

    def finished(self) -> None: ...


@dataclass(frozen=True)
class Applied:
    result: ApplyResult
    warnings: list[Diagnostic]  # from saving the state


def apply_run(the_run: Run, parallelism: int, observer: ApplyObserver) -> Applied:
    """Apply the run's plan (inside the lock), journaling each finished resource, then save."""
    stop = threading.Event()
    backend = the_run.backend
    journal = backend.begin_journal(the_run.plan.prior_state)
    persister = backend.start_persisting()  # remote state: pushed every 20 s (none for local)

    def interrupt(signum: int, frame: Any) -> None:
        if stop.is_set():
            observer.interrupted(again=True)
            os._exit(1)  # every finished resource is in the journal
        stop.set()
        persister.request()  # push what is done now; the final write follows
        observer.interrupted(again=False)

    # SIGTERM (a CI job cancelled, a pod stopped) is an interrupt too, as for Terraform: by
    # default it killed the process mid-write, the lock and journal left for the next run
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = apply_plan(
            the_run.loaded,
            the_run.plan,
            journal,
            ApplyOptions(
                parallelism=parallelism,
                stop=stop,
                on_event=observer.event,
                now=datetime.now(UTC),
            ),
        )
    finally:
        persister.stop()  # waits for a push in progress: it never races the final write
        journal.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    observer.finished()
    loaded = the_run.loaded
    warnings = save_applied_state(backend, result.state, loaded.directory, persister.errors)
    record_backend(loaded.directory, backend_settings(loaded.root))
    return Applied(result, warnings)


# --- state without a plan ------------------------------------------------------------------


def backend_of(directory: Path, encryption: bool = True) -> StateBackend:
    """The backend of the configuration, loading only what choosing it needs."""
    return open_backend(load_config(directory), directory.resolve(), encryption=encryption)


def plan_encryption(directory: Path) -> StateEncryption | None:
    """The configuration's state encryption (for an encrypted plan file), if any."""
    return state_encryption(load_config(directory))


def current_state(directory: Path) -> State:
    return read_state(backend_of(directory))


def edit_state(
    backend: StateBackend,
    lock: str,
    timeout: float,
    edit: Callable[[State], State],
    *,
    exact: bool = False,
    enabled: bool = True,
) -> State:
    """Lock (unless not ``enabled``), read the state, write what ``edit`` makes of it; returns
    what was written."""
    with locked(backend, lock, timeout, enabled=enabled):
        edited = edit(read_state(backend))
        write_state(backend, edited, exact=exact)
    return edited
