"""A small directed graph: what the engine, apply and the graph renderers need, and no more.

Nodes are strings kept in insertion order, each with an optional payload; edges are kept in
insertion order too, so every walk over the graph is deterministic. (networkx did this job;
importing it took a third of a second, longer than validating a small configuration.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


class DiGraph:
    """Nodes with payloads, and edges ``a → b``; adding an edge adds its missing nodes."""

    __slots__ = ("_data", "_pred", "_succ")

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self._succ: dict[str, dict[str, None]] = {}
        self._pred: dict[str, dict[str, None]] = {}

    def add_node(self, node: str, payload: Any = None) -> None:
        if node not in self._data:
            self._succ[node] = {}
            self._pred[node] = {}
        self._data[node] = payload

    def add_nodes_from(self, nodes: Iterable[str]) -> None:
        for node in nodes:
            if node not in self._data:
                self.add_node(node)

    def add_edge(self, tail: str, head: str) -> None:
        for node in (tail, head):
            if node not in self._data:
                self.add_node(node)
        self._succ[tail][head] = None
        self._pred[head][tail] = None

    def payload(self, node: str) -> Any:
        return self._data[node]

    def __contains__(self, node: object) -> bool:
        return node in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    @property
    def nodes(self) -> list[str]:
        return list(self._data)

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(tail, head) for tail, heads in self._succ.items() for head in heads]

    def successors(self, node: str) -> Iterator[str]:
        return iter(self._succ[node])

    def predecessors(self, node: str) -> Iterator[str]:
        return iter(self._pred[node])

    def in_degree(self, node: str) -> int:
        return len(self._pred[node])

    def copy(self) -> DiGraph:
        out = DiGraph()
        out._data = dict(self._data)
        out._succ = {node: dict(heads) for node, heads in self._succ.items()}
        out._pred = {node: dict(tails) for node, tails in self._pred.items()}
        return out


def topological_order(graph: DiGraph) -> list[str]:
    """Every node after all its predecessors; ``ValueError`` if the graph has a cycle."""
    waiting = {node: graph.in_degree(node) for node in graph}
    ready = [node for node, count in waiting.items() if count == 0]
    order: list[str] = []
    while ready:
        node = ready.pop()
        order.append(node)
        for head in graph.successors(node):
            waiting[head] -= 1
            if waiting[head] == 0:
                ready.append(head)
    if len(order) != len(graph):
        raise ValueError("the graph has a cycle")
    return order


def find_cycle(graph: DiGraph) -> list[str] | None:
    """The nodes of one cycle in walk order (the first node's predecessor is the last), or None.

    A depth-first search from each node in insertion order, following edges in insertion
    order: the cycle reported is the first one that search closes, starting at the node it
    closes on.
    """
    done: set[str] = set()
    for start in graph:
        if start in done:
            continue
        path = [start]
        on_path = {start: 0}
        branches = [graph.successors(start)]
        while branches:
            head = next(branches[-1], None)
            if head is None:
                finished = path.pop()
                del on_path[finished]
                done.add(finished)
                branches.pop()
                continue
            if head in on_path:
                return path[on_path[head] :]
            if head in done:
                continue
            on_path[head] = len(path)
            path.append(head)
            branches.append(graph.successors(head))
    return None
