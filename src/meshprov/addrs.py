"""Addresses of module and resource instances: ``module.zones["eu"].zone.this``, ``zone.z[0]``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

InstanceKey = int | str | None
ModulePath = tuple[tuple[str, InstanceKey], ...]  # ((call name, instance key), ...)


def format_key(key: InstanceKey) -> str:
    if key is None:
        return ""
    if isinstance(key, int):
        return f"[{key}]"
    return f"[{json.dumps(key)}]"


def format_module_path(path: ModulePath) -> str:
    return "".join(f"module.{name}{format_key(key)}." for name, key in path).rstrip(".")


@dataclass(frozen=True, order=True)
class InstanceAddress:
    """The address of one resource instance."""

    module: ModulePath
    type: str
    name: str
    key: InstanceKey = None

    def __str__(self) -> str:
        prefix = format_module_path(self.module)
        own = f"{self.type}.{self.name}{format_key(self.key)}"
        return f"{prefix}.{own}" if prefix else own

    @property
    def resource(self) -> str:
        """The address without the instance key: ``module.m["a"].zone.z``."""
        return str(InstanceAddress(self.module, self.type, self.name))

    @property
    def module_address(self) -> str:
        return format_module_path(self.module)

    @property
    def static(self) -> str:
        """The configuration address: keys dropped, ``module.zones.zone.this``."""
        modules = "".join(f"module.{name}." for name, _ in self.module)
        return f"{modules}{self.type}.{self.name}"

    def sort_key(self) -> tuple:
        """Module path, type, name, then the key: numbers in order, before strings."""
        key = self.key
        return (
            [(n, (k is not None, str(k))) for n, k in self.module],
            self.type,
            self.name,
            (key is not None, isinstance(key, str), key if key is not None else 0),
        )


def address_under(address: str, prefix: str) -> bool:
    """Whether an address is ``prefix`` or inside it, the one rule of --target, --replace and
    ``state list|rm``: ``zone.z`` covers ``zone.z["a"]``; ``module.m`` everything inside it."""
    return address == prefix or address.startswith((prefix + ".", prefix + "["))


_STEP_RE = re.compile(
    r'(?P<name>[A-Za-z_][A-Za-z0-9_-]*)(?:\[(?P<key>\d+|"(?:[^"\\]|\\.)*")\])?(?:\.|$)'
)


def parse_instance_address(text: str) -> InstanceAddress:
    """Parse ``module.a["x"].zone.eu[0]``; raises ValueError with a user-facing message."""
    parts: list[tuple[str, InstanceKey]] = []
    pos = 0
    while pos < len(text):
        m = _STEP_RE.match(text, pos)
        if not m:
            raise ValueError(
                f'"{text}" is not a valid resource address (e.g. zone.eu or '
                f'module.zones["eu"].zone.this).'
            )
        raw = m.group("key")
        key: InstanceKey = None
        if raw is not None:
            key = int(raw) if raw.isdigit() else json.loads(raw)
        parts.append((m.group("name"), key))
        pos = m.end()
    module: list[tuple[str, InstanceKey]] = []
    while len(parts) > 2 and parts[0][0] == "module" and parts[0][1] is None:
        name, key = parts[1]
        module.append((name, key))
        parts = parts[2:]
    if len(parts) != 2 or parts[0][1] is not None:
        raise ValueError(
            f'"{text}" is not a valid resource address (e.g. zone.eu or '
            f'module.zones["eu"].zone.this).'
        )
    (rtype, _), (rname, rkey) = parts
    return InstanceAddress(tuple(module), rtype, rname, rkey)
