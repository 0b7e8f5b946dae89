"""Values in JSON: unknown values as Terraform's ``after_unknown`` masks, secrets left out.

Shared by saved plan files and the JSON plan output, so both say the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from meshprov.lang.values import UNKNOWN, HclSet, Unknown, at_path, replace_at


def split_unknown(value: Any) -> tuple[Any, Any]:
    """``value`` with unknown leaves replaced by null, and a same-shaped mask (true = unknown).

    The mask is ``False`` where nothing is unknown, as in Terraform's ``after_unknown``.
    """
    if isinstance(value, Unknown):
        return None, True
    if isinstance(value, dict):
        known, mask = {}, {}
        for k, v in value.items():
            known[k], m = split_unknown(v)
            if m is not False:
                mask[k] = m
        return known, (mask or False)
    if isinstance(value, list | tuple | HclSet):
        pairs = [split_unknown(v) for v in value]
        known_list = [k for k, _ in pairs]
        masks = [m for _, m in pairs]
        return known_list, (masks if any(m is not False for m in masks) else False)
    return value, False


def join_unknown(value: Any, mask: Any) -> Any:
    """The inverse of ``split_unknown``."""
    if mask is True:
        return UNKNOWN
    if mask is False or mask is None:
        return value
    if isinstance(mask, dict):
        out = dict(value or {})
        for k, m in mask.items():
            out[k] = join_unknown(out.get(k), m)
        return out
    return [join_unknown(v, m) for v, m in zip(value, mask, strict=True)]


def redact(attributes: dict[str, Any] | None, sensitive: Iterable[str]) -> dict[str, Any] | None:
    """Attributes with every sensitive one (top-level, or ``block.attribute``) replaced by null."""
    if attributes is None:
        return None
    for name in sorted(set(sensitive)):
        attributes = replace_at(attributes, name, lambda _: None)
    return attributes


_Attributes = TypeVar("_Attributes", dict, None)


def restore(
    attributes: _Attributes, sensitive: Iterable[str], current: dict[str, Any] | None
) -> _Attributes:
    """The inverse of ``redact``: each sensitive value put back from ``current``."""
    if attributes is None or current is None:
        return attributes
    for name in sorted(set(sensitive)):
        attributes = replace_at(attributes, name, _constant(at_path(current, name)[1]))
    return attributes


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda _: value


def sensitive_mask(attributes: dict[str, Any] | None, sensitive: Iterable[str]) -> dict[str, Any]:
    """Terraform's ``before_sensitive``/``after_sensitive``: ``true`` at each sensitive one, a
    nested block's as ``{"store": {"password": true}}``."""
    mask: dict[str, Any] = {}
    if attributes is None:
        return mask
    for name in sorted(set(sensitive)):
        found, _ = at_path(attributes, name)
        if not found:
            continue
        *parents, leaf = name.split(".")
        node = mask
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = True
    return mask
