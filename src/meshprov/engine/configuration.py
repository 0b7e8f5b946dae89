"""A configuration ready to run: its modules loaded, its graph checked and its variable values
gathered; and validating it (the walk without state, then the resource types' own rules)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from meshprov.config.load import config_files, load_config
from meshprov.config.model import InputValue, Module
from meshprov.config.variables import VariableInputs, collect_inputs
from meshprov.diagnostics import DiagnosticError
from meshprov.engine.graph import build_graph
from meshprov.engine.walk import (
    Evaluation,
    ValidationHook,
    evaluate_config,
    evaluate_providers,
)
from meshprov.resources import check_instances

if TYPE_CHECKING:
    import networkx as nx  # at run time, imported where a graph is built


@dataclass(frozen=True)
class LoadedConfig:
    directory: Path
    root: Module
    graph: nx.DiGraph
    inputs: VariableInputs
    digest: str  # of every configuration file and variable value: a saved plan checks it


def load(
    directory: Path,
    var_files: Sequence[Path] = (),
    cli_vars: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    saved: Mapping[str, object] | None = None,
) -> LoadedConfig:
    """Parse and check the configuration in ``directory`` and gather its variable values.

    ``saved`` holds variable values recorded in a saved plan; they take precedence.
    """
    directory = directory.resolve()
    root = load_config(directory)
    graph = build_graph(root)
    inputs = collect_inputs(
        root, directory, var_files, cli_vars, os.environ if environ is None else environ
    )
    for name, value in (saved or {}).items():
        if name in root.variables:
            inputs.values[name] = InputValue(value, "the saved plan")
    return LoadedConfig(directory, root, graph, inputs, _digest(directory, root, inputs))


def _digest(directory: Path, root: Module, inputs: VariableInputs) -> str:
    """Names relative to the configuration directory, never absolute: a plan made in one
    checkout applies in another checkout of the same commit (CI plans and applies in two jobs)."""
    digest = hashlib.sha256()
    seen: set[Path] = set()
    stack = [root]
    while stack:
        module = stack.pop()
        if module.path in seen:
            continue
        seen.add(module.path)
        stack.extend(call.module for call in module.module_calls.values())
    files = {
        Path(os.path.relpath(path, directory)).as_posix(): path
        for module_dir in seen
        for path in config_files(module_dir)
    }
    for name, path in sorted(files.items()):
        digest.update(f"{name}\0".encode())
        digest.update(path.read_bytes())
    values = {name: value.value for name, value in inputs.values.items()}
    digest.update(json.dumps(values, sort_keys=True, default=repr).encode())
    return digest.hexdigest()


def validate(config: LoadedConfig) -> Evaluation:
    """Evaluate everything that can be known without state or network, as of now; raise on
    any error."""
    evaluation = evaluate_config(
        config.root,
        config.graph,
        config.inputs.values,
        ValidationHook(),
        config.directory,
        partial=True,
    )
    evaluate_providers(config.root, config.inputs.values, config.directory)
    return check_resources(evaluation, datetime.now(UTC))


def check_resources(evaluation: Evaluation, now: datetime) -> Evaluation:
    """Run the resource types' own rules (as of ``now``); errors raise, warnings join the
    evaluation's."""
    found = check_instances(evaluation.instances, now)
    if any(d.severity == "error" for d in found):
        raise DiagnosticError([*evaluation.warnings, *found])
    evaluation.warnings.extend(found)
    return evaluation
