"""The dependency graph of a configuration, across module boundaries (networkx ``DiGraph``).

Nodes are the configuration's objects before expansion (``count``/``for_each``), addressed by
their static path: ``var.x``, ``local.y``, ``zone.eu``, ``module.zones`` (the call itself),
``module.zones.var.ca`` (an input), ``module.zones.zone.this``, ``module.zones.output.id``.
An edge ``a → b`` means *b reads a*, so a topological order evaluates dependencies first.
References are checked here: one to something undeclared is an error with a hint, and a cycle
is an error listing the chain with each node's file and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meshprov.config.model import Module, ModuleCall, Resource
from meshprov.diagnostics import (
    Diagnostic,
    DiagnosticError,
    Diagnostics,
    SourceRange,
    did_you_mean,
    error,
)
from meshprov.lang import ast
from meshprov.lang.traversals import Traversal, traversals
from meshprov.resources import SCHEMAS

if TYPE_CHECKING:
    import networkx as nx  # at run time, imported where a graph is built

StaticPath = tuple[str, ...]  # module call names from the root


@dataclass(frozen=True)
class Node:
    """One graph node: what it is, the module it lives in, and where it is declared."""

    id: str
    kind: str  # "var", "local", "output", "module", "resource"
    module_path: StaticPath
    name: str  # the variable/local/output/call name, or "type.name" for a resource
    range: SourceRange
    module: Module  # the module the node belongs to (for a "module" node: the caller)


def prefix_of(path: StaticPath) -> str:
    return "".join(f"module.{name}." for name in path)


def build_graph(root: Module) -> nx.DiGraph:
    """Build and check the graph; raises ``DiagnosticError`` on bad references or a cycle."""
    builder = _GraphBuilder()
    builder.add_module(root, ())
    builder.diags.raise_if_errors()
    _check_acyclic(builder.graph)
    return builder.graph


def node_of(graph: nx.DiGraph, node_id: str) -> Node:
    return graph.nodes[node_id]["node"]


def resource_dependencies(graph: nx.DiGraph, node_id: str) -> set[str]:
    """The resource nodes a node depends on, directly or through values (not through resources)."""
    found: set[str] = set()
    stack = list(graph.predecessors(node_id))
    seen: set[str] = set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if node_of(graph, current).kind == "resource":
            found.add(current)
        else:
            stack.extend(graph.predecessors(current))
    return found


class _GraphBuilder:
    def __init__(self) -> None:
        import networkx as nx

        self.graph = nx.DiGraph()
        self.diags = Diagnostics()
        self.by_path: dict[StaticPath, list[str]] = {}

    def _add(self, node: Node) -> None:
        self.graph.add_node(node.id, node=node)
        self.by_path.setdefault(node.module_path, []).append(node.id)

    def add_module(self, module: Module, path: StaticPath) -> None:
        prefix = prefix_of(path)
        for name, var in module.variables.items():
            self._add(Node(f"{prefix}var.{name}", "var", path, name, var.range, module))
        for name, local in module.locals.items():
            self._add(Node(f"{prefix}local.{name}", "local", path, name, local.range, module))
        for name, output in module.outputs.items():
            self._add(Node(f"{prefix}output.{name}", "output", path, name, output.range, module))
        for key, resource in module.resources.items():
            self._add(Node(f"{prefix}{key}", "resource", path, key, resource.range, module))
        for name, call in module.module_calls.items():
            self._add(Node(f"{prefix}module.{name}", "module", path, name, call.range, module))
            self.add_module(call.module, (*path, name))

        for name, local in module.locals.items():
            self._refs(f"{prefix}local.{name}", module, path, [local.expr], None)
        for name, output in module.outputs.items():
            self._refs(f"{prefix}output.{name}", module, path, [output.expr], None)
            self._depends_on(f"{prefix}output.{name}", module, path, output.depends_on)
        for key, resource in module.resources.items():
            node_id = f"{prefix}{key}"
            self._refs(node_id, module, path, resource.expressions, resource)
            rep = [a.expr for a in (resource.repetition.count, resource.repetition.for_each) if a]
            self._refs(node_id, module, path, rep, None)
            self._depends_on(node_id, module, path, resource.depends_on)
        for name, call in module.module_calls.items():
            self._module_call(module, path, name, call)
        for provider in module.providers.values():  # not graph nodes, but references are checked
            for attr in provider.attributes.values():
                for ref in traversals(attr.expr):
                    list(self._resolve(ref, module, path, None, None))  # reports bad ones

    def _module_call(self, module: Module, path: StaticPath, name: str, call: ModuleCall) -> None:
        prefix = prefix_of(path)
        call_id = f"{prefix}module.{name}"
        rep = [a.expr for a in (call.repetition.count, call.repetition.for_each) if a]
        self._refs(call_id, module, path, rep, None)
        self._depends_on(call_id, module, path, call.depends_on)
        child_path = (*path, name)
        child_prefix = prefix_of(child_path)
        # everything in the child is evaluated once per instance of the call
        for node_id in self.by_path.get(child_path, ()):
            self.graph.add_edge(call_id, node_id)
        for key, attr in call.inputs.items():
            var_id = f"{child_prefix}var.{key}"
            if var_id in self.graph:
                self._refs(var_id, module, path, [attr.expr], call, repeated=call)

    def _depends_on(
        self, node_id: str, module: Module, path: StaticPath, refs: tuple[Traversal, ...]
    ) -> None:
        for ref in refs:
            for target in self._resolve(ref, module, path, None, None):
                self.graph.add_edge(target, node_id)

    def _refs(
        self,
        node_id: str,
        module: Module,
        path: StaticPath,
        exprs: list[ast.Expression],
        owner: Resource | ModuleCall | None,
        repeated: Resource | ModuleCall | None = None,
    ) -> None:
        repetition_owner = repeated if repeated is not None else owner
        for expr in exprs:
            for ref in traversals(expr):
                for target in self._resolve(ref, module, path, repetition_owner, node_id):
                    if target != node_id or ref.root not in SCHEMAS:
                        self.graph.add_edge(target, node_id)
                    else:
                        self.diags.add(
                            error(
                                "Self-referential block",
                                f"Configuration for {node_id} may not refer to itself.",
                                ref.range,
                            )
                        )

    def _resolve(
        self,
        ref: Traversal,
        module: Module,
        path: StaticPath,
        owner: Resource | ModuleCall | None,
        node_id: str | None,
    ) -> Iterator[str]:
        prefix = prefix_of(path)
        root, steps = ref.root, ref.steps
        first = steps[0] if steps else None  # a str past the check below wherever a name is due
        if (root in ("var", "local", "module") or root in SCHEMAS) and not isinstance(first, str):
            self.diags.add(
                _bad_ref(
                    ref,
                    f'A reference to "{root}" must be followed by a name, e.g. {root}.example.',
                )
            )
            return
        if root == "var":
            if first not in module.variables:
                self.diags.add(
                    _bad_ref(
                        ref,
                        f'An input variable with the name "{first}" has not '
                        "been declared." + did_you_mean(str(first), list(module.variables)),
                        "Reference to undeclared input variable",
                    )
                )
                return
            yield f"{prefix}var.{first}"
        elif root == "local":
            if first not in module.locals:
                self.diags.add(
                    _bad_ref(
                        ref,
                        f'A local value with the name "{first}" has not been '
                        "declared." + did_you_mean(str(first), list(module.locals)),
                        "Reference to undeclared local value",
                    )
                )
                return
            yield f"{prefix}local.{first}"
        elif root == "module":
            call = module.module_calls.get(str(first))
            if call is None:
                self.diags.add(
                    _bad_ref(
                        ref,
                        f'No module call named "{first}" is declared in this '
                        "module." + did_you_mean(str(first), list(module.module_calls)),
                        "Reference to undeclared module",
                    )
                )
                return
            yield f"{prefix}module.{first}"
            repeated = call.repetition.count is not None or call.repetition.for_each is not None
            # module.m.out, or module.m[KEY].out when the call has count/for_each
            out_step = 2 if repeated else 1
            output = steps[out_step] if len(steps) > out_step else None
            child_prefix = f"{prefix}module.{first}."
            if not isinstance(output, str):
                yield from (f"{child_prefix}output.{o}" for o in call.module.outputs)
            elif output not in call.module.outputs:
                self.diags.add(
                    _bad_ref(
                        ref,
                        f'The module "{first}" has no output named "{output}".'
                        + did_you_mean(output, list(call.module.outputs)),
                        "Unsupported attribute",
                    )
                )
            else:
                yield f"{child_prefix}output.{output}"
        elif root in SCHEMAS:
            key = f"{root}.{first}"
            if key not in module.resources:
                same_type = [r.name for r in module.resources.values() if r.type == root]
                self.diags.add(
                    _bad_ref(
                        ref,
                        f'A {root} resource named "{first}" has not been '
                        "declared in this module." + did_you_mean(str(first), same_type),
                        "Reference to undeclared resource",
                    )
                )
                return
            yield f"{prefix}{key}"
        elif root in ("count", "each"):
            meta = "count" if root == "count" else "for_each"
            rep = owner.repetition if owner is not None else None
            if rep is None or getattr(rep, meta) is None:
                self.diags.add(
                    _bad_ref(
                        ref,
                        f'The "{root}" object can only be used in "module" or resource blocks, and '
                        "only "
                        f'when the "{meta}" argument is set.',
                        f'Reference to "{root}" in context without {meta}',
                    )
                )
                return
            valid = ("index",) if root == "count" else ("key", "value")
            if first not in valid:
                self.diags.add(
                    _bad_ref(
                        ref,
                        f'The "{root}" object has no attribute "{first}"; use '
                        + " or ".join(f"{root}.{v}" for v in valid)
                        + ".",
                    )
                )
        elif root == "path":
            if first not in ("module", "root", "cwd"):
                self.diags.add(
                    _bad_ref(ref, 'The "path" object has attributes "module", "root" and "cwd".')
                )
        else:
            self.diags.add(
                _bad_ref(
                    ref,
                    f'There is no variable named "{root}".'
                    + did_you_mean(
                        root, ["var", "local", "module", "count", "each", "path", *SCHEMAS]
                    ),
                    "Unknown variable",
                )
            )


def _bad_ref(ref: Traversal, detail: str, summary: str = "Invalid reference") -> Diagnostic:
    return error(summary, detail, ref.range)


def _check_acyclic(graph: nx.DiGraph) -> None:
    import networkx as nx

    if nx.is_directed_acyclic_graph(graph):
        return
    cycle = nx.find_cycle(graph)
    members = [u for u, _v in cycle] + [cycle[0][0]]
    chain = []
    for node_id in members:
        rng = _location(graph, node_of(graph, node_id))
        chain.append(f"  {node_id} ({rng.filename}:{rng.start.line})")
    raise DiagnosticError(
        [
            error(
                "Cycle in configuration",
                "These objects depend on each other, so none of them can be evaluated first:\n"
                + " →\n".join(chain),
                _location(graph, node_of(graph, members[0])),
            )
        ]
    )


def _location(graph: nx.DiGraph, node: Node) -> SourceRange:
    """Where a node's value comes from: a module input's is the argument in the module call."""
    if node.kind == "var" and node.module_path:
        *parent, call_name = node.module_path
        caller = node_of(graph, f"{prefix_of(tuple(parent))}module.{call_name}").module
        attr = caller.module_calls[call_name].inputs.get(node.name)
        if attr is not None:
            return attr.range
    return node.range
