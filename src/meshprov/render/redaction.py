"""What text from the configuration may look like where a plan shows it: no sensitive text,
no character a reader cannot see.

A resource type writes its security impact and notices from its attributes as plain text
(``user "alice" (groups ops)``), and a firewall names its sources by their zone's name: those
words may come from a sensitive argument, of this instance or of another one. The renderers
gather the items, so they hide the plan's sensitive texts in them, whatever type wrote which
field, the way ``diagnostics.SECRETS`` hides them in diagnostics.

A value may also hold characters that print as nothing or reorder what follows (a zero-width
space, a right-to-left override): ``visible`` escapes them, in report items and in the values
the plan lists, so the text a reviewer approves is the text applied.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from meshprov.diagnostics import Secrets
from meshprov.lang.values import at_path, remember_secret
from meshprov.plan.model import Plan
from meshprov.resources import TYPES

_Item = TypeVar("_Item")


def plan_secrets(plan: Plan) -> Secrets | None:
    """The texts of the plan's sensitive arguments, before and after each change (no-ops
    included: a zone that does not change still names a firewall's sources) and in the state;
    None when there are none. What a type generates as a secret (a private key, a token) is
    left out: no report is written from it, and a plan may hold thousands."""
    secrets = Secrets()
    found = False
    for change in (*plan.changes, *plan.drift):
        generated = _generated(change.type)
        for values, names in (
            (change.before or {}, change.before_sensitive),
            (change.after or {}, change.after_sensitive),
        ):
            for name in set(names) - generated:
                remember_secret(at_path(values, name)[1], secrets)
                found = True
    for rs in plan.prior_state.resources.values():
        for name in set(rs.sensitive_attributes) - _generated(rs.type):
            remember_secret(at_path(rs.attributes, name)[1], secrets)
            found = True
    return secrets if found else None


def _generated(type_name: str) -> frozenset[str]:
    resource_type = TYPES.get(type_name)
    return resource_type.schema.sensitive_exports if resource_type is not None else frozenset()


def visible(text: str) -> str:
    """``text`` with each character that is not printable (Unicode's "Other" and "Separator"
    categories but the space and the tab: bidi controls, zero-width characters, line
    separators) written as a ``\\uXXXX`` escape, as Terraform's plan shows them."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\t" else _escaped(c) for c in text)


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def redacted(item: _Item, secrets: Secrets | None) -> _Item:
    """``item`` (a frozen dataclass of texts, tuples and dataclasses) with every one of
    ``secrets`` replaced and every text ``visible``."""
    return _redact(item, secrets)


def _redact(value: Any, secrets: Secrets | None) -> Any:
    if isinstance(value, str):
        return visible(value if secrets is None else secrets.redact(value))
    if isinstance(value, tuple):
        return tuple(_redact(v, secrets) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _redact(getattr(value, f.name), secrets) for f in dataclasses.fields(value)
        }
        return dataclasses.replace(value, **changes)
    return value
