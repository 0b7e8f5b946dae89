"""Resource schemas: the attributes a resource block accepts and the ones it exports.

Each resource type declares one ``ResourceSchema``. The configuration layer uses it to check
blocks (unknown, missing, mistyped or out-of-range attributes) and to build the value other
expressions see when they reference the resource; the engine uses it to know which attributes
are sensitive and which force replacement.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from meshprov.kuma import control_character
from meshprov.lang.types import BOOL, NUMBER, STRING, ListType, Type
from meshprov.lang.values import UNKNOWN, at_path, format_number, is_number, unmark

_DURATION_RE = re.compile(r"^(?:\d+[dhms])+$")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_LINE_BREAKS = str.maketrans("", "", "\r\n")
# Certificates' and tokens' dates end with the year 9999: a lifetime, from any moment plan may
# be asked about (--as-of, before the year 9000), must still end before that.
MAX_DURATION = "365000d"
LATEST_MOMENT = datetime(9000, 1, 1, tzinfo=UTC)


def shown(value: object) -> str:
    """A checked value in a message, as Terraform prints it: ``0.5``, never ``Decimal('0.5')``
    or ``5E-7``."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return format_number(value)
    return str(value)


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
        seconds = parse_duration(value)
    except ValueError as exc:
        return str(exc)
    if seconds <= 0:
        return f'"{value}" is not a valid duration: it must be longer than zero.'
    if seconds > parse_duration(MAX_DURATION):
        return f'"{value}" is too long: a duration is at most "{MAX_DURATION}" (1,000 years).'
    return None


def renewal_window_problem(
    validity: Any, renew_before: Any, backdated: int = 0, validity_name: str = "validity"
) -> str | None:
    """Why a lifetime leaves nothing before renewal is due, or None: what is issued for
    ``validity`` (seconds counted from ``backdated`` seconds before now) and renewed within
    ``renew_before`` of its end is due as soon as it is issued, so every plan would replace it.
    Durations that do not parse are the schema check's to report."""
    if check_duration(validity) is not None or check_duration(renew_before) is not None:
        return None
    if parse_duration(renew_before) < parse_duration(validity) - backdated:
        return None
    skew = (
        f" less the {backdated // 60} minutes it is backdated for clock skew" if backdated else ""
    )
    return (
        f'renew_before = "{renew_before}" is not shorter than {validity_name} = "{validity}"{skew}'
    )


def control_character_problem(value: Any, multiline: bool = False) -> str | None:
    """Why a checked argument cannot be written into files, or None; never quotes the value
    (it may be sensitive). ``multiline`` text (PEM) may hold line breaks."""
    if isinstance(value, str):
        found = control_character(value.translate(_LINE_BREAKS) if multiline else value)
        if found is not None:
            return (
                f"The value contains the control character U+{ord(found):04X}. Names, "
                "paths, hostnames and every other argument end up in certificates, env files "
                "and scripts, where it would break a line or a command: remove it."
            )
    elif isinstance(value, list | tuple):
        for item in value:
            problem = control_character_problem(item, multiline)
            if problem:
                return problem
    return None


@dataclass(frozen=True)
class Attr:
    """One attribute of a resource type.

    ``reference`` names the resource type an attribute must point at (``ca = ca.root``);
    ``required_unless`` names another argument without which this one is required (a CA's
    ``common_name``, unless it imports ``certificate_pem``);
    ``check`` returns an error message for a bad known value, or None; ``computed``: left
    unset, the type computes the value when planning (so ``validate`` cannot know it);
    ``null_is_value``: an explicit ``null`` means null (e.g. "write no binding"), while
    leaving the attribute out means its default. ``sensitive``: the value is a secret however
    it was given (a private key read with ``file()``, a password), as a provider schema marks
    it: never shown, as if it came from a sensitive variable. ``multiline``: text such as PEM,
    whose line breaks are not refused as control characters.

    ``block`` makes this a nested block (``store { host = ... }``) instead of an argument: at
    most one, with these attributes of its own (their types, defaults, checks, references and
    marks as above); left out, its value is null. It is stored as a map of them.
    """

    name: str
    type: Type = STRING
    required: bool = False
    required_unless: str | None = None
    default: Any = None
    allowed: tuple[Any, ...] | None = None
    reference: str | None = None
    check: Callable[[Any], str | None] | None = None
    forces_replacement: bool = False
    description: str = ""
    computed: bool = False
    null_is_value: bool = False
    sensitive: bool = False
    block: tuple[Attr, ...] | None = None
    multiline: bool = False


@dataclass(frozen=True)
class Exported:
    """An attribute the resource computes and exports (known after apply unless said otherwise).

    ``kind`` is what state must hold for it (``ResourceSchema.state_problems``): "any", "text",
    "pem", "time" (RFC 3339), "map", "list" or "number"; ``nullable`` allows null.
    ``derived_from`` names the arguments whose text it repeats (``global.kds_address``: an
    attribute of the instance an argument refers to): it is sensitive wherever one of them is,
    or a plan would show what it hides one line up (``hostnames`` in ``dial_host``).
    """

    name: str
    sensitive: bool = False
    kind: str = "any"
    nullable: bool = False
    derived_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResourceSchema:
    type_name: str
    attributes: tuple[Attr, ...]
    exported: tuple[Exported, ...] = field(default_factory=tuple)

    def attribute(self, name: str) -> Attr | None:
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> dict[str, Attr]:  # the first of a name, as a search would find
        by_name: dict[str, Attr] = {}
        for attr in self.attributes:
            by_name.setdefault(attr.name, attr)
        return by_name

    def value(self, attributes: dict[str, Any], name: str) -> Any:
        """An attribute as stored, else its default (state written before it existed)."""
        value = attributes.get(name)
        if value is None:
            attr = self.attribute(name)
            return attr.default if attr is not None else None
        return value

    @property
    def blocks(self) -> tuple[Attr, ...]:
        """The nested blocks."""
        return tuple(a for a in self.attributes if a.block is not None)

    def is_reference(self, name: str) -> bool:
        attr = self.attribute(name)
        return attr is not None and bool(attr.reference)

    @property
    def attribute_names(self) -> list[str]:
        return [a.name for a in self.attributes]

    @property
    def sensitive_exports(self) -> frozenset[str]:
        return frozenset(e.name for e in self.exported if e.sensitive)

    def sensitive_attributes(
        self, values: Mapping[str, Any], sensitive: frozenset[str]
    ) -> frozenset[str]:
        """What plans and state hide of an instance whose ``sensitive`` arguments are those:
        them, the exports that are always secret, and the exports derived from a sensitive
        argument or from a sensitive attribute of a referenced instance (marked in
        ``values``)."""
        derived = {
            e.name
            for e in self.exported
            if any(
                source in sensitive or unmark(at_path(values, source)[1])[1]
                for source in e.derived_from
            )
        }
        return self.sensitive_exports | sensitive | derived

    def unknown_exports(self) -> dict[str, Any]:
        return {e.name: UNKNOWN for e in self.exported}

    def upgraded(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """Attributes written by an earlier meshprov, with those added since at what they mean
        when absent (an argument's default, a nullable export's null), as Terraform upgrades a
        resource's state: new settings never make an old state invalid or plan a change."""
        missing = {
            a.name: _as_stored(a.default)
            for a in self.attributes
            if a.name not in attributes and not a.required and a.required_unless is None
        }
        missing |= {
            e.name: None
            for e in self.exported
            if e.name not in attributes and (e.nullable or e.kind == "any")
        }
        return {**attributes, **missing} if missing else attributes

    def state_problems(self, attributes: Any) -> list[str]:
        """What is wrong with attributes read back from state (hand-edited or damaged): a
        missing attribute that must hold a value, or a value of the wrong type, so that no
        operation trips on it. Expects ``upgraded`` attributes."""
        if not isinstance(attributes, dict):
            return ["its attributes are not an object"]
        problems = []
        for attr in self.attributes:
            if attr.name not in attributes or (
                attributes[attr.name] is None
                and attr.required_unless is not None
                and attributes.get(attr.required_unless) is None
            ):
                problems.append(f"{attr.name} is missing")
            elif not _matches(attributes[attr.name], attr):
                problems.append(f"{attr.name} is not {_describe(attr.type)}")
        for export in self.exported:
            if export.name not in attributes:
                problems.append(f"{export.name} is missing")
                continue
            value = attributes[export.name]
            if value is None and export.nullable:
                continue
            problem = _KIND_CHECKS[export.kind](value)
            if problem is not None:
                problems.append(f"{export.name} {problem}")
        return problems


def _as_stored(default: Any) -> Any:
    """A schema default as state holds it: JSON, so tuples are lists."""
    if isinstance(default, tuple | list):
        return [_as_stored(item) for item in default]
    return default


def _matches(value: Any, attr: Attr) -> bool:
    if value is None:
        return not attr.required
    if attr.block is not None:  # a map of the block's attributes
        return isinstance(value, dict) and all(
            _matches(value.get(inner.name), inner) for inner in attr.block
        )
    if attr.reference is not None:  # stored as the address, or a list of addresses
        items = value if isinstance(value, list) else [value]
        return all(isinstance(item, str) for item in items)
    return _is(value, attr.type)


def _is(value: Any, type_: Type) -> bool:
    if type_ == STRING:
        return isinstance(value, str)
    if type_ == NUMBER:
        return is_number(value)
    if type_ == BOOL:
        return isinstance(value, bool)
    if isinstance(type_, ListType):
        return isinstance(value, list) and all(_is(v, type_.elem) for v in value)
    return True


def _describe(type_: Type) -> str:
    if isinstance(type_, ListType):
        return f"a {type_}"
    names: dict[Type, str] = {STRING: "a string", NUMBER: "a number", BOOL: "true or false"}
    return names.get(type_, "valid")


def _time_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "is not a time"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "is not an RFC 3339 time"
    return None if moment.tzinfo is not None else "is not an RFC 3339 time (no time zone)"


_KIND_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "any": lambda value: None,
    "text": lambda value: None if isinstance(value, str) else "is not a string",
    "pem": lambda value: (
        None if isinstance(value, str) and "-----BEGIN " in value else "is not PEM text"
    ),
    "time": _time_problem,
    "map": lambda value: None if isinstance(value, dict) else "is not a map",
    "list": lambda value: None if isinstance(value, list) else "is not a list",
    "number": lambda value: None if is_number(value) else "is not a number",
}


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
    "control_character_problem",
    "parse_duration",
]
