"""The resource dependency graph as Graphviz DOT or a Mermaid flowchart.

With a plan (``graph --plan PLANFILE``), each node is coloured by what the plan does to it:
DOT through ``fillcolor``, Mermaid through ``classDef`` classes named after the action
(``create``, ``update``, ``replace``, ``delete``, ``noop``), the same classes the Markdown
comment's topology diagram uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from meshprov.engine.graph import node_of, resource_dependencies
from meshprov.plan.model import Action, Plan

if TYPE_CHECKING:
    import networkx as nx  # at run time, imported where a graph is built

ACTION_CLASSES = ("create", "update", "replace", "delete", "noop")
# (fill, stroke, text): GitHub's own diff palette, readable in light and dark themes
COLOURS = {
    "create": ("#dafbe1", "#1a7f37", "#0d1117"),
    "update": ("#fff8c5", "#9a6700", "#0d1117"),
    "replace": ("#ffe2cc", "#bc4c00", "#0d1117"),
    "delete": ("#ffebe9", "#cf222e", "#0d1117"),
    "noop": ("#f6f8fa", "#8c959f", "#57606a"),
}
LEGEND = {
    "create": "create",
    "update": "update in-place",
    "replace": "replace",
    "delete": "destroy",
    "noop": "no change",
}


def action_class(action: Action) -> str:
    if action.is_replace:
        return "replace"
    return {Action.CREATE: "create", Action.UPDATE: "update", Action.DELETE: "delete"}.get(
        action, "noop"
    )


def combined_class(classes: Iterable[str]) -> str:
    """One class for a resource whose instances fare differently (count / for_each)."""
    changed = set(classes) - {"noop"}
    if not changed:
        return "noop"
    if len(changed) == 1:
        return changed.pop()
    return "replace" if "replace" in changed else "update"


def plan_actions(plan: Plan) -> dict[str, str]:
    """Resource (configuration) address → action class, for the nodes of ``resource_graph``."""
    by_resource: dict[str, list[str]] = {}
    for change in plan.changes:
        static = change.instance.static
        by_resource.setdefault(static, []).append(action_class(change.action))
    return {address: combined_class(classes) for address, classes in by_resource.items()}


def resource_graph(graph: nx.DiGraph) -> nx.DiGraph:
    """Only resources, with an edge wherever one depends on another through any values."""
    import networkx as nx

    out = nx.DiGraph()
    for node_id in graph.nodes:
        if node_of(graph, node_id).kind == "resource":
            out.add_node(node_id)
            for dep in resource_dependencies(graph, node_id):
                out.add_edge(dep, node_id)
    return out


def with_plan(graph: nx.DiGraph, actions: Mapping[str, str]) -> nx.DiGraph:
    """The graph plus the resources only the plan knows (being destroyed, not configured)."""
    out = graph.copy()
    for address in actions:
        if address not in out:
            out.add_node(address)
    return out


def render_dot(graph: nx.DiGraph, actions: Mapping[str, str] | None = None) -> str:
    lines = ["digraph meshprov {", '  rankdir = "LR";', "  node [shape = box];"]
    if actions is not None:
        lines.append('  node [style = "filled,rounded"];')
    for node in sorted(graph.nodes):
        if actions is None:
            lines.append(f'  "{_dot_escape(node)}";')
            continue
        cls = actions.get(node, "noop")
        fill, stroke, text = COLOURS[cls]
        lines.append(
            f'  "{_dot_escape(node)}" [fillcolor = "{fill}", color = "{stroke}", '
            f'fontcolor = "{text}", tooltip = "{LEGEND[cls]}"];'
        )
    for src, dst in sorted(graph.edges):
        lines.append(f'  "{_dot_escape(src)}" -> "{_dot_escape(dst)}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_mermaid(graph: nx.DiGraph, actions: Mapping[str, str] | None = None) -> str:
    ids = {node: f"n{i}" for i, node in enumerate(sorted(graph.nodes))}
    lines = ["flowchart LR"]
    for node, ident in ids.items():
        lines.append(f'  {ident}["{mermaid_escape(node)}"]')
    for src, dst in sorted(graph.edges):
        lines.append(f"  {ids[src]} --> {ids[dst]}")
    if actions is not None:
        lines.extend(mermaid_classes({ids[n]: actions.get(n, "noop") for n in ids}))
    return "\n".join(lines) + "\n"


def mermaid_classes(classes: Mapping[str, str]) -> list[str]:
    """``classDef`` lines for the classes in use and ``class`` lines assigning them."""
    used = [c for c in ACTION_CLASSES if c in set(classes.values())]
    lines = []
    for cls in used:
        fill, stroke, text = COLOURS[cls]
        lines.append(f"  classDef {cls} fill:{fill},stroke:{stroke},color:{text}")
    for cls in used:
        members = [ident for ident, c in classes.items() if c == cls]
        lines.append(f"  class {','.join(members)} {cls}")
    return lines


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def mermaid_escape(text: str) -> str:
    """Text safe inside a quoted Mermaid label (``"``, ``<``, ``>`` as entity codes)."""
    return re.sub(r'["<>#]', lambda m: f"#{ord(m.group(0))};", text)
