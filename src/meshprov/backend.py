"""Choosing the state backend from the configuration's ``meshprov { backend ... }`` block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from meshprov.config.load import constant
from meshprov.config.model import Module
from meshprov.diagnostics import DiagnosticError
from meshprov.state import LocalBackend, StateError, StateLockError

DEFAULT_STATE_PATH = "state/default.json"


def open_backend(root: Module, directory: Path) -> LocalBackend:
    backend = root.settings.backend
    if backend is None:
        return LocalBackend(directory / DEFAULT_STATE_PATH)
    if backend.type != "local":
        raise DiagnosticError.single(
            "Unsupported backend",
            f'The "{backend.type}" backend is not available in this meshprov yet; use '
            'backend "local".',
            backend.range,
        )
    path_attr = backend.attributes.get("path")
    path = constant(path_attr.expr, "backend settings") if path_attr else DEFAULT_STATE_PATH
    if not isinstance(path, str) or not path:
        raise DiagnosticError.single(
            "Invalid backend path", "path must be a non-empty string.", backend.range
        )
    return LocalBackend((directory / path).resolve())


@contextmanager
def locked(backend: LocalBackend, operation: str, timeout: float) -> Iterator[None]:
    """Hold the state lock for the block; lock problems become diagnostics."""
    try:
        backend.lock(operation, timeout=timeout)
    except StateLockError as exc:
        raise DiagnosticError.single("Error acquiring the state lock", _detail(exc)) from None
    try:
        yield
    finally:
        backend.unlock()


def read_state(backend: LocalBackend):
    try:
        return backend.read()
    except StateError as exc:
        raise DiagnosticError.single("Failed to load state", str(exc)) from None


def _detail(exc: Exception) -> str:
    lines = str(exc).splitlines()
    if lines and lines[0].strip() == "Error acquiring the state lock":
        lines = lines[1:]
    return "\n".join(lines).strip()
