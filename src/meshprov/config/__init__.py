"""The configuration: loading a directory with its modules and variable values, and checking it."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from meshprov.config.evaluation import Evaluation, ValidationHook, evaluate_config
from meshprov.config.load import load_config
from meshprov.config.model import Module
from meshprov.config.variables import VariableInputs, collect_inputs
from meshprov.graph import build_graph


@dataclass(frozen=True)
class LoadedConfig:
    directory: Path
    root: Module
    graph: nx.DiGraph
    inputs: VariableInputs


def load(
    directory: Path,
    var_files: Sequence[str] = (),
    cli_vars: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Parse and check the configuration in ``directory`` and gather its variable values."""
    directory = directory.resolve()
    root = load_config(directory)
    graph = build_graph(root)
    inputs = collect_inputs(
        root, directory, var_files, cli_vars, os.environ if environ is None else environ
    )
    return LoadedConfig(directory, root, graph, inputs)


def validate(config: LoadedConfig) -> Evaluation:
    """Evaluate everything that can be known without state or network; raise on any error."""
    return evaluate_config(
        config.root,
        config.graph,
        config.inputs.values,
        ValidationHook(),
        config.directory,
        partial=True,
    )
