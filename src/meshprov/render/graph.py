"""The resource dependency graph as Graphviz DOT or a Mermaid flowchart."""

from __future__ import annotations

import re

import networkx as nx

from meshprov.graph import node_of, resource_dependencies


def resource_graph(graph: nx.DiGraph) -> nx.DiGraph:
    """Only resources, with an edge wherever one depends on another through any values."""
    out = nx.DiGraph()
    for node_id in graph.nodes:
        if node_of(graph, node_id).kind == "resource":
            out.add_node(node_id)
            for dep in resource_dependencies(graph, node_id):
                out.add_edge(dep, node_id)
    return out


def render_dot(graph: nx.DiGraph) -> str:
    lines = ["digraph meshprov {", '  rankdir = "LR";', "  node [shape = box];"]
    for node in sorted(graph.nodes):
        lines.append(f'  "{_dot_escape(node)}";')
    for src, dst in sorted(graph.edges):
        lines.append(f'  "{_dot_escape(src)}" -> "{_dot_escape(dst)}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_mermaid(graph: nx.DiGraph) -> str:
    ids = {node: f"n{i}" for i, node in enumerate(sorted(graph.nodes))}
    lines = ["flowchart LR"]
    for node, ident in ids.items():
        lines.append(f'  {ident}["{_mermaid_escape(node)}"]')
    for src, dst in sorted(graph.edges):
        lines.append(f"  {ids[src]} --> {ids[dst]}")
    return "\n".join(lines) + "\n"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _mermaid_escape(text: str) -> str:
    return re.sub(r'["<>]', lambda m: f"#{ord(m.group(0))};", text)
