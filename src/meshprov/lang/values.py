"""Runtime values of the configuration language, with Terraform's *unknown* and *sensitive* marks.

Known values are plain Python data: ``str``, ``int``/``Decimal`` (numbers: see ``numbers``),
``bool``, ``None`` (null), ``list`` (HCL lists and tuples), ``dict`` (maps and objects) and
``HclSet`` (sets). Two wrappers add what Terraform adds:

* ``Unknown`` stands for a value known only after apply, with its static type and refinements
  when evaluation knows them (``UNKNOWN`` when it does not). Operations on it yield unknowns.
* ``Sensitive(v)`` marks ``v`` as secret. Operations on it yield a ``Sensitive`` result.

Python's ``True == 1`` must never leak into HCL semantics: use ``values_equal``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import regex

from meshprov.addrs import InstanceAddress
from meshprov.diagnostics import SECRETS, Secrets
from meshprov.lang.numbers import Number, format_number, is_infinite, is_number

if TYPE_CHECKING:
    from meshprov.lang.types import Type


@dataclass(frozen=True)
class Refinement:
    """What is known about an unknown value before it is known (go-cty's refinements)."""

    not_null: bool = False
    prefix: str = ""  # a string's known beginning
    lower: tuple[Number, bool] | None = None  # a number's bound, and whether inclusive
    upper: tuple[Number, bool] | None = None
    length: tuple[int, int | None] = (0, None)  # a collection's length range


NO_REFINEMENT = Refinement()

# characters that always end a grapheme cluster (go-cty's ctystrings)
_CLUSTER_ENDERS = frozenset("-_:;/\\,.(){}[]|?!~ \t@#$%^&*+\"'")


def safe_known_prefix(prefix: str) -> str:
    """What may be kept as the known prefix of an unknown string (go-cty's SafeKnownPrefix):
    its last grapheme cluster could still combine with what follows, so it is dropped unless
    it must end a cluster."""
    clusters = regex.findall(r"\X", unicodedata.normalize("NFC", prefix))
    if clusters and clusters[-1] not in _CLUSTER_ENDERS:
        clusters.pop()
    return "".join(clusters)


class Unknown:
    """A value not known until apply. ``type`` is its static type (a ``types.Type``; None when
    even that is unknown, cty's DynamicPseudoType) and ``refinement`` what else is known."""

    __slots__ = ("refinement", "type")

    def __init__(self, type: Type | None = None, refinement: Refinement = NO_REFINEMENT):
        self.type = type
        self.refinement = refinement
        if type is not None or refinement is not NO_REFINEMENT:
            TYPED_MADE[0] += 1

    def __repr__(self) -> str:
        return "UNKNOWN" if self.type is None else f"UNKNOWN({self.type})"

    def __reduce__(self) -> Any:
        if self is UNKNOWN:  # the untyped unknown stays the one object through pickle
            return "UNKNOWN"
        return (Unknown, (self.type, self.refinement))


UNKNOWN = Unknown()

# How many typed unknowns and nulls have been made (on any thread; it only grows): when it has
# not moved during an evaluation, that evaluation made none, and ``untyped`` has nothing to do.
TYPED_MADE = [0]


class Null:
    """A null of a known type (cty's ``NullVal(T)``), as conversions give it (``tostring(null)``).

    As a value it is null: ``unmark`` gives None. ``declared_type`` tells its type where that
    decides (a splat over a null list is an error, over a null object an empty tuple)."""

    __slots__ = ("type",)

    def __init__(self, type: Type):
        self.type = type
        TYPED_MADE[0] += 1

    def __repr__(self) -> str:
        return f"null({self.type})"


def declared_type(value: Any) -> Type | None:
    """The static type an unknown or a typed null carries (None for any other value)."""
    while isinstance(value, Sensitive):
        value = value.value
    return value.type if isinstance(value, Unknown | Null) else None


def untyped(value: Any) -> Any:
    """``value`` with every unknown made the untyped ``UNKNOWN`` and every typed null ``None``:
    what leaves the language layer.

    Types and refinements serve evaluation; the engine, the planner and the resource types
    know one unknown, "known after apply" (and test it with ``is UNKNOWN``), and one null."""
    if value is None or isinstance(value, str | int | Decimal):  # the common case, first
        return value
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, Null):
        return None
    if isinstance(value, Sensitive):
        inner = untyped(value.value)
        return value if inner is value.value else Sensitive(inner)
    if isinstance(value, dict):
        items = {k: untyped(v) for k, v in value.items()}
        if all(items[k] is v for k, v in value.items()):
            return value
        return ResourceValue(value.address, items) if isinstance(value, ResourceValue) else items
    if isinstance(value, list | HclSet):
        elements = [untyped(v) for v in value]
        if all(a is b for a, b in zip(elements, value, strict=True)):
            return value
        return HclSet(elements) if isinstance(value, HclSet) else elements
    return value


@dataclass(frozen=True)
class Sensitive:
    """A value marked sensitive: never shown, and everything computed from it is sensitive."""

    value: Any

    def __post_init__(self) -> None:
        remember_secret(self.value)

    def __repr__(self) -> str:
        return "Sensitive(...)"


def remember_secret(value: Any, secrets: Secrets = SECRETS) -> None:
    """Hand every text inside a sensitive value to ``secrets`` (by default
    ``diagnostics.SECRETS``, so no diagnostic can show it whatever path formats it:
    conversion, allowed values, a function, a provider)."""
    if isinstance(value, Sensitive):
        if secrets is not SECRETS:
            remember_secret(value.value, secrets)
        return  # else registered when it was marked
    if isinstance(value, str):
        secrets.add(value)
    elif is_number(value):
        secrets.add(format_number(value))
    elif isinstance(value, dict):
        for item in value.values():
            remember_secret(item, secrets)
    elif isinstance(value, list | tuple):
        for item in value:
            remember_secret(item, secrets)


class ResourceValue(dict):
    """A resource instance as expressions see it: an object that remembers which instance it is.

    That is how an argument such as ``ca = ca.root`` is checked to point at a ``ca``, and how
    the engine knows which instance it names.
    """

    def __init__(self, address: InstanceAddress, values: Mapping[str, Any]):
        super().__init__(values)
        self.address = address

    def __reduce__(self):
        return (ResourceValue, (self.address, dict(self)))


class HclSet(tuple):
    """An HCL set: unique elements in a stable order (sorted, as Terraform shows string sets)."""

    def __new__(cls, items=()):
        # one hash lookup per element (linear), where comparing with every kept element was
        # quadratic: toset of 4,000 strings took 5 s
        unique: dict[Any, Any] = {}
        for item in items:
            unique.setdefault(equality_key(item), item)
        return super().__new__(cls, sorted(unique.values(), key=sort_key))


def equality_key(value: Any) -> Any:
    """A hashable key that two values share exactly when ``values_equal`` holds for them."""
    raw, _ = unmark(value)
    if raw is None:
        return ("null",)
    if isinstance(raw, bool):
        return ("bool", raw)
    if is_number(raw):
        return ("number", raw)
    if isinstance(raw, str):
        return ("string", raw)
    if isinstance(raw, HclSet):
        return ("set", tuple(equality_key(v) for v in raw))
    if isinstance(raw, list):
        return ("list", tuple(equality_key(v) for v in raw))
    if isinstance(raw, dict):
        return ("map", tuple(sorted((k, equality_key(v)) for k, v in raw.items())))
    return ("other", object())  # an unknown equals nothing, not even another unknown


def sort_key(value: Any) -> tuple:
    """A total order over values, used to keep sets and map keys deterministic."""
    raw, _ = unmark(value)
    if raw is None:
        return (0,)
    if isinstance(raw, bool):
        return (1, raw)
    if is_number(raw):
        return (2, raw)
    if isinstance(raw, str):
        return (3, raw)
    return (4, repr(raw))


def unmark(value: Any) -> tuple[Any, bool]:
    """Strip a top-level sensitive mark; returns (value, was_sensitive). A typed null comes out
    as None."""
    sensitive = False
    while isinstance(value, Sensitive):
        value = value.value
        sensitive = True
    if type(value) is Null:
        return None, sensitive
    return value, sensitive


def unmark_deep(value: Any) -> tuple[Any, bool]:
    """Strip sensitive marks at any depth; returns (value, any_mark_found)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # most values, first
        return value, False
    raw, sensitive = unmark(value)
    if isinstance(raw, dict):
        out = {}
        for k, v in raw.items():
            out[k], s = unmark_deep(v)
            sensitive = sensitive or s
        if isinstance(raw, ResourceValue):  # unmarked, it is still the same instance
            return ResourceValue(raw.address, out), sensitive
        return out, sensitive
    if isinstance(raw, list | HclSet):
        items = []
        for v in raw:
            item, s = unmark_deep(v)
            items.append(item)
            sensitive = sensitive or s
        return (HclSet(items) if isinstance(raw, HclSet) else items), sensitive
    return raw, sensitive


def mark(value: Any, sensitive: bool) -> Any:
    """Mark ``value`` sensitive when ``sensitive`` is true (never double-wraps)."""
    if not sensitive or isinstance(value, Sensitive):
        return value
    return Sensitive(value)


def at_path(attributes: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    """The value a sensitive attribute name points at: ``"cert"`` at the top, ``"store.password"``
    inside a nested block. Returns (found, value)."""
    node: Any = attributes
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def replace_at(attributes: dict[str, Any], name: str, new: Any) -> dict[str, Any]:
    """``attributes`` with the value at ``name`` (as ``at_path`` reads it) replaced by
    ``new(old)``, copying each map on the way; unchanged when nothing is there."""
    head, _, rest = name.partition(".")
    if head not in attributes:
        return attributes
    old = attributes[head]
    if not rest:
        return {**attributes, head: new(old)}
    if not isinstance(old, dict):  # a null block: nothing inside to replace
        return attributes
    return {**attributes, head: replace_at(old, rest, new)}


def mark_paths(attributes: dict[str, Any], sensitive: Any) -> dict[str, Any]:
    """Attributes as expressions see them: each named one (a top-level name, or a nested
    block's ``block.attribute``) marked sensitive."""
    for name in sorted(sensitive):
        attributes = replace_at(attributes, name, lambda v: mark(v, True))
    return attributes


# What plan, apply, state and every renderer walk level by level (marks, JSON, the plan's text)
# handles, with room to spare on the default stack: a value nests at most this many levels.
MAX_VALUE_DEPTH = 256


def deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists, sets and maps more than ``limit`` levels deep: level by
    level, in a loop, so it answers for any depth and visits each element once."""
    level = [value]
    for _ in range(limit + 1):  # each turn: is there a container one level further down?
        below: list = []
        found = False
        for item in level:
            kind = type(item)
            if kind is str or kind is int or kind is bool or item is None:  # most, first
                continue
            while type(item) is Sensitive:
                item = item.value
            if isinstance(item, dict):
                found = True
                below.extend(item.values())
            elif isinstance(item, list | HclSet):
                found = True
                below.extend(item)
        if not found:
            return False
        level = below
    return True


def is_sensitive_deep(value: Any) -> bool:
    return unmark_deep(value)[1]


def has_infinity(value: Any) -> bool:
    """True when ``value`` is or contains an infinite number, which JSON cannot hold."""
    raw, _ = unmark(value)
    if isinstance(raw, dict):
        return any(has_infinity(v) for v in raw.values())
    if isinstance(raw, list | HclSet):
        return any(has_infinity(v) for v in raw)
    return is_number(raw) and is_infinite(raw)


def is_unknown(value: Any) -> bool:
    return isinstance(unmark(value)[0], Unknown)


def has_unknown(value: Any) -> bool:
    """True when ``value`` is unknown or contains an unknown anywhere."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # most values, first
        return False
    if kind is dict:
        return any(has_unknown(v) for v in value.values())
    if kind is list:
        return any(has_unknown(v) for v in value)
    raw, _ = unmark(value)
    if isinstance(raw, Unknown):
        return True
    if isinstance(raw, dict):
        return any(has_unknown(v) for v in raw.values())
    if isinstance(raw, list | HclSet):
        return any(has_unknown(v) for v in raw)
    return False


def values_equal(a: Any, b: Any) -> bool:
    """HCL equality: types must agree (``1 != "1"``, ``true != 1``); collections compare deeply."""
    kind = type(a)
    if kind is type(b):  # plain values of one Python type, the most common case, first
        if kind is str or kind is int or kind is bool:
            return a == b
        if kind is dict:
            return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
        if kind is list:
            return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    a, _ = unmark(a)
    b, _ = unmark(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) or is_number(b):
        return is_number(a) and is_number(b) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, HclSet) != isinstance(b, HclSet):
        return False
    if isinstance(a, list | HclSet) and isinstance(b, list | HclSet):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    return False


def type_name(value: Any) -> str:
    """The user-facing name of a value's type, for error messages."""
    raw, _ = unmark(value)
    if raw is None:
        return "null"
    if isinstance(raw, Unknown):
        return "unknown"
    if isinstance(raw, bool):
        return "bool"
    if is_number(raw):
        return "number"
    if isinstance(raw, str):
        return "string"
    if isinstance(raw, HclSet):
        return "set"
    if isinstance(raw, list):
        return "tuple"
    if isinstance(raw, dict):
        return "object"
    return type(raw).__name__
