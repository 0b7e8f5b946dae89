"""Values in JSON: unknown values as Terraform's ``after_unknown`` masks, secrets left out.

Shared by saved plan files and the JSON plan output, so both say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from meshprov.lang.values import UNKNOWN, HclSet, Unknown


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
    """Attributes with every sensitive one replaced by null."""
    if attributes is None:
        return None
    hidden = set(sensitive)
    return {k: (None if k in hidden else v) for k, v in attributes.items()}


def sensitive_mask(attributes: dict[str, Any] | None, sensitive: Iterable[str]) -> dict[str, bool]:
    """Terraform's ``before_sensitive``/``after_sensitive``: ``true`` at each sensitive one."""
    if attributes is None:
        return {}
    return {k: True for k in sorted(set(sensitive)) if k in attributes}
