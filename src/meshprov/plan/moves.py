"""Moves: ``moved`` blocks and ``state mv`` carry a state entry to a new address.

A move's source is a resource (``zone.a``: every instance moves, keys kept), an instance
(``zone.z["a"]``) or a module call or instance (``module.old``: everything inside it moves).
The state is renamed before planning, so the planner finds the prior object, keys and
certificates included, at the new address and plans an update at most, never a reissue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from meshprov.addrs import address_under, format_module_path, parse_instance_address
from meshprov.diagnostics import Diagnostic, DiagnosticError, Diagnostics, SourceRange, error
from meshprov.state import ResourceState, State


@dataclass(frozen=True)
class Move:
    source: str
    target: str
    range: SourceRange | None = None  # None for ``state mv``

    @property
    def where(self) -> str:
        if self.range is None:
            return ""
        return f" (the moved block at {self.range.filename}:{self.range.start.line})"


@dataclass(frozen=True)
class Moved:
    """The state with moves done, and each moved instance's previous address by its new one."""

    state: State
    previous: dict[str, str]


def check_moves(moves: Sequence[Move]) -> None:
    """Errors for addresses that are not addresses, of different kinds, chained or cyclic."""
    diags = Diagnostics()
    sources: dict[str, Move] = {}
    for move in moves:
        problem = _kind_problem(move)
        if problem:
            diags.add(error("Invalid moved block", problem, move.range))
        elif move.source in sources:
            diags.add(
                error(
                    "Ambiguous move statements",
                    f"{move.source} is moved twice: here and{sources[move.source].where}.",
                    move.range,
                )
            )
        sources.setdefault(move.source, move)
    for move in moves:
        after = _next(move, moves)
        if after is None:
            continue
        chain = [move, after]
        step = _next(after, moves)
        while step is not None and step not in chain:
            chain.append(step)
            step = _next(step, moves)
        cyclic = step is not None
        diags.add(
            error(
                "Cyclic moves" if cyclic else "Chained moves",
                f"{move.source} moves to {move.target}, and{after.where} {after.source} moves "
                f"on to {after.target}"
                + (
                    ": the moves form a cycle."
                    if cyclic
                    else ". Give each object one move, from where it is in the state to where "
                    "it belongs."
                ),
                move.range,
            )
        )
    diags.raise_if_errors()


def _next(move: Move, moves: Sequence[Move]) -> Move | None:
    """The move that would take over what ``move`` moved (its source is in ``move``'s target,
    or holds it), if any."""
    return next(
        (
            other
            for other in moves
            if other is not move
            and (
                address_under(other.source, move.target) or address_under(move.target, other.source)
            )
        ),
        None,
    )


def apply_moves(moves: Sequence[Move], state: State) -> Moved:
    """The state with every move done. A move whose source is not in the state was done
    before (or has nothing to move) and is skipped; one whose target is taken is an error."""
    check_moves(moves)
    resources = dict(state.resources)
    previous: dict[str, str] = {}
    problems: list[Diagnostic] = []
    for move in moves:
        moving = [a for a in resources if address_under(a, move.source)]
        if not moving:
            continue
        taken = [a for a in resources if address_under(a, move.target) and a not in moving]
        if taken:
            problems.append(
                error(
                    "Move target already exists",
                    f"Cannot move {move.source} to {move.target}: {', '.join(sorted(taken))} "
                    "is already in the state. Remove the moved block, or the object in the way "
                    "(meshprov state rm).",
                    move.range,
                )
            )
            continue
        for address in moving:
            rs = resources.pop(address)
            new = _renamed(rs, move.target + address[len(move.source) :])
            resources[new.address] = new
            previous[new.address] = previous.pop(address, address)
    if problems:
        raise DiagnosticError(problems)
    if not previous:
        return Moved(state, {})
    statics = {
        parse_instance_address(old).static: parse_instance_address(new).static
        for new, old in previous.items()
    }
    moved = State(
        lineage=state.lineage,
        serial=state.serial,
        meshprov_version=state.meshprov_version,
        outputs=dict(state.outputs),
        resources={
            a: replace(rs, dependencies=[statics.get(d, d) for d in rs.dependencies])
            for a, rs in resources.items()
        },
    )
    return Moved(moved, previous)


def _renamed(rs: ResourceState, address: str) -> ResourceState:
    instance = parse_instance_address(address)
    return ResourceState(
        address=str(instance),
        module=format_module_path(instance.module),
        type=instance.type,
        name=instance.name,
        index=instance.key,
        attributes=rs.attributes,
        sensitive_attributes=rs.sensitive_attributes,
        dependencies=rs.dependencies,
        status=rs.status,
        private=rs.private,
    )


def _kind(address: str) -> str | None:
    """``"module"``, ``"resource"``, ``"instance"``, or None when not an address."""
    try:
        parsed = parse_instance_address(address)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.type != "module":
        return "instance" if parsed.key is not None else "resource"
    try:  # module.a["x"] parses as a resource "module.a" in no module: try it as a prefix
        parse_instance_address(address + ".t.n")
    except ValueError:
        return None
    return "module" if address.startswith("module.") else None


def _kind_problem(move: Move) -> str:
    source, target = _kind(move.source), _kind(move.target)
    if source is None or target is None:
        bad = move.source if source is None else move.target
        return (
            f'"{bad}" is not the address of a resource, a resource instance or a module call, '
            'e.g. zone.eu, zone.z["eu"] or module.zones["eu"].'
        )
    if move.source == move.target:
        return f"{move.source} is moved to itself."
    if (source == "module") != (target == "module"):
        return (
            f"Cannot move {source} {move.source} to {target} {move.target}: both must be "
            "modules, or both resources."
        )
    if source != "module":
        old, new = parse_instance_address(move.source), parse_instance_address(move.target)
        if old.type != new.type:
            return (
                f"Cannot move {move.source} to {move.target}: a {old.type} cannot become a "
                f"{new.type}."
            )
    if source != target and "resource" in (source, target):
        # an instance may move to an instance; a whole resource only to a whole resource
        return (
            f"Cannot move {source} {move.source} to {target} {move.target}: a resource "
            "moves to a resource, an instance to an instance."
        )
    return ""
