"""The state: what meshprov manages, as last applied, and its JSON file format (version 1).

The state holds private keys in clear (like Terraform's tls provider), so it is a secret: every
file it is written to is mode 0600. See ``state/README.md`` at the top of the repository.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from meshprov import __version__
from meshprov.addrs import InstanceAddress, parse_instance_address
from meshprov.lang.numbers import NumberError, json_dumps, json_number

STATE_FORMAT = "meshprov-state"
STATE_VERSION = 1
RESOURCE_STATUSES = ("ready", "tainted")

_RESOURCE_KEYS = (
    "address",
    "module",
    "type",
    "name",
    "index",
    "status",
    "attributes",
    "sensitive_attributes",
    "dependencies",
)


class StateError(Exception):
    """A state (or state journal) that cannot be loaded; the message is for the user."""

    def __init__(self, message: str, source: str = ""):
        super().__init__(message)
        self.source = source


def output_entry(out: dict) -> dict:
    """An output as state keeps it: value, sensitive and, as Terraform records it, its type
    (in Terraform's JSON form; absent in states written before types were kept)."""
    entry = {"value": out.get("value"), "sensitive": bool(out.get("sensitive", False))}
    if "type" in out:
        entry["type"] = out["type"]
    return entry


def _index_sort_key(index: int | str | None) -> tuple[int, int, str]:
    """None first, then ints in numeric order, then strings: Terraform's instance key order."""
    if index is None:
        return (0, 0, "")
    if isinstance(index, int):
        return (1, index, "")
    return (2, 0, index)


@dataclass
class ResourceState:
    """One resource instance as it exists after the last apply."""

    address: str  # instance address, e.g. 'module.zones["eu"].zone.this', 'zone.z[0]'
    module: str  # '' for the root module, else e.g. 'module.zones["eu"]'
    type: str
    name: str
    index: int | str | None
    attributes: dict[str, Any]  # JSON-compatible; sensitive values are stored in clear
    # attribute names; "store.password" for one inside a nested block
    sensitive_attributes: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)  # instance addresses depended on
    status: str = "ready"  # "ready" or "tainted"

    def sort_key(self) -> tuple:
        return (self.module, self.type, self.name, _index_sort_key(self.index))

    @cached_property
    def instance(self) -> InstanceAddress:
        """The address, typed (parsed once, on first use)."""
        return parse_instance_address(self.address)

    def to_json(self) -> dict:
        """The file form; lists of names are sorted and de-duplicated for stable diffs."""
        return {
            "address": self.address,
            "module": self.module,
            "type": self.type,
            "name": self.name,
            "index": self.index,
            "status": self.status,
            "attributes": self.attributes,
            "sensitive_attributes": sorted(set(self.sensitive_attributes)),
            "dependencies": sorted(set(self.dependencies)),
        }

    @classmethod
    def from_json(cls, data: Any, source: str, where: str = "resource") -> ResourceState:
        """Parse one resource object; ``where`` names it in errors (e.g. ``resources[3]``)."""

        def bad(problem: str) -> StateError:
            return StateError(f"State file {source} is invalid: {where} {problem}", source)

        if not isinstance(data, dict):
            raise bad("must be an object")
        for key in _RESOURCE_KEYS:
            if key not in data:
                raise bad(f'has no "{key}"')
        for key in ("address", "module", "type", "name"):
            if not isinstance(data[key], str):
                raise bad(f'"{key}" must be a string')
        if not data["address"] or not data["type"] or not data["name"]:
            raise bad('"address", "type" and "name" must not be empty')
        index = data["index"]
        if index is not None and (isinstance(index, bool) or not isinstance(index, int | str)):
            raise bad('"index" must be null, an integer or a string')
        if data["status"] not in RESOURCE_STATUSES:
            raise bad(f'"status" must be "ready" or "tainted", not {json.dumps(data["status"])}')
        if not isinstance(data["attributes"], dict):
            raise bad('"attributes" must be an object')
        for key in ("sensitive_attributes", "dependencies"):
            value = data[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise bad(f'"{key}" must be a list of strings')
        return cls(
            address=data["address"],
            module=data["module"],
            type=data["type"],
            name=data["name"],
            index=index,
            attributes=data["attributes"],
            sensitive_attributes=list(data["sensitive_attributes"]),
            dependencies=list(data["dependencies"]),
            status=data["status"],
        )


@dataclass
class State:
    """The whole state: lineage and serial, outputs, and resource instances by address."""

    lineage: str
    serial: int = 0
    meshprov_version: str = __version__
    outputs: dict[str, dict] = field(default_factory=dict)  # name -> {"value", "sensitive"}
    resources: dict[str, ResourceState] = field(default_factory=dict)  # keyed by address
    # what reading it found wrong with the stored files (not part of the state itself)
    notices: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def new(cls) -> State:
        """A fresh, empty state: a new uuid4 lineage and serial 0."""
        return cls(lineage=str(uuid.uuid4()))

    def to_json(self) -> dict:
        """The file form: resources sorted by (module, type, name, index)."""
        for key, res in self.resources.items():
            if key != res.address:
                raise ValueError(f"state resource keyed {key!r} has address {res.address!r}")
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "meshprov_version": self.meshprov_version,
            "serial": self.serial,
            "lineage": self.lineage,
            "outputs": {name: output_entry(out) for name, out in self.outputs.items()},
            "resources": [
                r.to_json() for r in sorted(self.resources.values(), key=ResourceState.sort_key)
            ],
        }

    @classmethod
    def from_json(cls, data: Any, source: str) -> State:
        """Parse and check the file form; raises StateError naming ``source``."""

        def bad(problem: str) -> StateError:
            return StateError(f"State file {source} is invalid: {problem}", source)

        if not isinstance(data, dict):
            raise bad("the top level must be a JSON object")
        fmt = data.get("format")
        if fmt != STATE_FORMAT:
            shown = "missing" if fmt is None else json.dumps(fmt)
            raise StateError(
                f"State file {source} is not a meshprov state file "
                f'("format" is {shown}, expected "{STATE_FORMAT}")',
                source,
            )
        version = data.get("version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise bad('"version" must be an integer')
        if version > STATE_VERSION:
            raise StateError(
                f"State file {source} was written by a newer meshprov "
                f"(state format version {version}); this meshprov supports version "
                f"{STATE_VERSION}",
                source,
            )
        if version < 1:
            raise bad(f'"version" {version} is not a state format version')
        for key in ("meshprov_version", "serial", "lineage", "outputs", "resources"):
            if key not in data:
                raise bad(f'missing "{key}"')
        if not isinstance(data["meshprov_version"], str):
            raise bad('"meshprov_version" must be a string')
        serial = data["serial"]
        if isinstance(serial, bool) or not isinstance(serial, int) or serial < 0:
            raise bad('"serial" must be a non-negative integer')
        if not isinstance(data["lineage"], str) or not data["lineage"]:
            raise bad('"lineage" must be a non-empty string')
        outputs = data["outputs"]
        if not isinstance(outputs, dict):
            raise bad('"outputs" must be an object')
        for name, out in outputs.items():
            if not isinstance(out, dict) or "value" not in out:
                raise bad(f'output "{name}" must be an object with a "value"')
            if not isinstance(out.get("sensitive", False), bool):
                raise bad(f'output "{name}": "sensitive" must be true or false')
        if not isinstance(data["resources"], list):
            raise bad('"resources" must be a list')
        resources: dict[str, ResourceState] = {}
        for i, item in enumerate(data["resources"]):
            res = ResourceState.from_json(item, source, f"resources[{i}]")
            if res.address in resources:
                raise bad(f'resources[{i}]: duplicate address "{res.address}"')
            resources[res.address] = res
        return cls(
            lineage=data["lineage"],
            serial=serial,
            meshprov_version=data["meshprov_version"],
            outputs={name: output_entry(out) for name, out in outputs.items()},
            resources=resources,
        )

    def content_key(self) -> bytes:
        """Canonical bytes of everything but ``serial`` and ``meshprov_version``."""
        return content_key_of(self.to_json())

    def content_equal(self, other: State) -> bool:
        """Equal ignoring serial and meshprov_version (lineage counts)."""
        return self.content_key() == other.content_key()

    def dumps(self) -> bytes:
        """The state file's bytes: JSON, 2-space indent, sorted keys, trailing newline."""
        return dump_doc(self.to_json())


def content_key_of(doc: dict) -> bytes:
    """``State.content_key`` of a state's ``to_json()`` form."""
    return _canonical({k: v for k, v in doc.items() if k not in ("serial", "meshprov_version")})


def dump_doc(doc: dict) -> bytes:
    """``State.dumps`` of a state's ``to_json()`` form."""
    text = json_dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def _canonical(data: Any) -> bytes:
    return json_dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def parse_json_bytes(data: bytes, what: str, source: str) -> Any:
    """Decode UTF-8 JSON; errors become StateError "<what> <source> is not valid JSON (...)"."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StateError(
            f"{what} {source} is not valid UTF-8 (byte {exc.start}): {exc.reason}", source
        ) from None

    def reject_constant(name: str) -> Any:
        raise StateError(f"{what} {source} is not valid JSON: {name} is not a JSON value", source)

    try:
        return json.loads(text, parse_constant=reject_constant, parse_float=json_number)
    except NumberError as exc:
        raise StateError(f"{what} {source} is not valid: {exc}", source) from None
    except json.JSONDecodeError as exc:
        raise StateError(
            f"{what} {source} is not valid JSON (line {exc.lineno} column {exc.colno}): {exc.msg}",
            source,
        ) from None
    except RecursionError:
        raise StateError(f"{what} {source} is nested too deeply", source) from None


def loads_state(data: bytes, source: str) -> State:
    """Parse a state file's bytes; raises StateError naming ``source``."""
    return State.from_json(parse_json_bytes(data, "State file", source), source)
