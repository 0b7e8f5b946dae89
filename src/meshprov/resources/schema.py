"""Resource schemas: the attributes a resource block accepts and the ones it exports.

Each resource type declares one ``ResourceSchema``. The configuration layer uses it to check
blocks (unknown, missing, mistyped or out-of-range attributes) and to build the value other
expressions see when they reference the resource; the engine uses it to know which attributes
are sensitive and which force replacement.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meshprov.lang.types import BOOL, NUMBER, STRING, ListType, Type
from meshprov.lang.values import UNKNOWN

_DURATION_RE = re.compile(r"^(?:\d+[dhms])+$")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> int:
    """``"1h30m"`` → 5400 seconds. Raises ValueError with a user-facing message."""
    if not isinstance(text, str) or not _DURATION_RE.match(text):
        raise ValueError(
            f'"{text}" is not a valid duration: use integer+unit pairs with units d, h, m, s, '
            'e.g. "8760h", "90d" or "1h30m".'
        )
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in re.findall(r"(\d+)([dhms])", text))


def check_duration(value: Any) -> str | None:
    try:
        if parse_duration(value) <= 0:
            return f'"{value}" is not a valid duration: it must be longer than zero.'
    except ValueError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class Attr:
    """One attribute of a resource type.

    ``reference`` names the resource type an attribute must point at (``ca = ca.root``);
    ``check`` returns an error message for a bad known value, or None; ``computed``: left
    unset, the type computes the value when planning (so ``validate`` cannot know it);
    ``null_is_value``: an explicit ``null`` means null (e.g. "write no binding"), while
    leaving the attribute out means its default.
    """

    name: str
    type: Type = STRING
    required: bool = False
    default: Any = None
    allowed: tuple[Any, ...] | None = None
    reference: str | None = None
    check: Callable[[Any], str | None] | None = None
    forces_replacement: bool = False
    description: str = ""
    computed: bool = False
    null_is_value: bool = False


@dataclass(frozen=True)
class Exported:
    """An attribute the resource computes and exports (known after apply unless said otherwise)."""

    name: str
    sensitive: bool = False


@dataclass(frozen=True)
class ResourceSchema:
    type_name: str
    attributes: tuple[Attr, ...]
    exported: tuple[Exported, ...] = field(default_factory=tuple)

    def attribute(self, name: str) -> Attr | None:
        return next((a for a in self.attributes if a.name == name), None)

    def value(self, attributes: dict[str, Any], name: str) -> Any:
        """An attribute as stored, else its default (state written before it existed)."""
        value = attributes.get(name)
        if value is None:
            attr = self.attribute(name)
            return attr.default if attr is not None else None
        return value

    def is_reference(self, name: str) -> bool:
        attr = self.attribute(name)
        return attr is not None and bool(attr.reference)

    @property
    def attribute_names(self) -> list[str]:
        return [a.name for a in self.attributes]

    @property
    def sensitive_exports(self) -> frozenset[str]:
        return frozenset(e.name for e in self.exported if e.sensitive)

    def unknown_exports(self) -> dict[str, Any]:
        return {e.name: UNKNOWN for e in self.exported}


STRING_LIST = ListType(STRING)
__all__ = [
    "BOOL",
    "NUMBER",
    "STRING",
    "STRING_LIST",
    "Attr",
    "Exported",
    "ResourceSchema",
    "check_duration",
    "parse_duration",
]
