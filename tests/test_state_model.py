"""Tests for meshprov.state.model: the state's JSON format, its checks and its equality."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import jsonschema
import pytest

import meshprov
from meshprov.state import ResourceState, State, StateError, loads_state

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "state" / "schema.json").read_text(encoding="utf-8")
)
SOURCE = "/cfg/state/default.json"


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def _res(address: str, module: str, type_: str, name: str, index, **kw) -> ResourceState:
    return ResourceState(address, module, type_, name, index, kw.pop("attributes", {}), **kw)


def sample_state() -> State:
    state = State.new()
    state.serial = 4
    for res in [
        _res("zone.z[10]", "", "zone", "z", 10, attributes={"n": 10}),
        _res('zone.z["b"]', "", "zone", "z", "b"),
        _res("zone.z[2]", "", "zone", "z", 2),
        _res('zone.z["a"]', "", "zone", "z", "a"),
        _res(
            "ca.root",
            "",
            "ca",
            "root",
            None,
            attributes={"private_key_pem": "-----BEGIN PRIVATE KEY-----\nx\n", "bits": 2048},
            sensitive_attributes=["private_key_pem"],
        ),
        _res(
            'module.zones["eu"].zone.this',
            'module.zones["eu"]',
            "zone",
            "this",
            None,
            attributes={"nested": {"list": [1, 2.5, None, True], "s": "é"}},
            dependencies=["ca.root", 'module.zones["eu"].ca.zone'],
            status="tainted",
        ),
    ]:
        state.resources[res.address] = res
    state.outputs = {
        "kds_ca": {"value": "PEM", "sensitive": False},
        "key": {"value": {"k": [1, 2]}, "sensitive": True},
    }
    return state


def test_new_state_has_fresh_uuid4_lineage_and_serial_zero() -> None:
    a, b = State.new(), State.new()
    assert a.serial == 0 and a.lineage != b.lineage
    assert uuid.UUID(a.lineage).version == 4
    assert a.meshprov_version == meshprov.__version__
    assert a.resources == {} and a.outputs == {}


def test_round_trip_is_exact() -> None:
    state = sample_state()
    data = state.dumps()
    again = loads_state(data, SOURCE)
    assert again == state
    assert again.dumps() == data


def test_dumps_format_and_resource_order() -> None:
    state = sample_state()
    data = state.dumps()
    text = data.decode("utf-8")
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text.startswith('{\n  "format": "meshprov-state",\n')
    assert "é" in text  # not escaped
    doc = json.loads(text)
    assert list(doc) == sorted(doc)
    assert doc["format"] == "meshprov-state" and doc["version"] == 1
    assert [r["address"] for r in doc["resources"]] == [
        "ca.root",
        "zone.z[2]",
        "zone.z[10]",
        'zone.z["a"]',
        'zone.z["b"]',
        'module.zones["eu"].zone.this',
    ]
    assert list(doc["resources"][0]) == sorted(
        [
            "address",
            "module",
            "type",
            "name",
            "index",
            "status",
            "attributes",
            "sensitive_attributes",
            "dependencies",
        ]
    )
    jsonschema.validate(doc, SCHEMA)


def test_lists_are_sorted_and_unique() -> None:
    state = State.new()
    res = _res("zone.a", "", "zone", "a", None, dependencies=["z.b", "a.b", "z.b"])
    res.sensitive_attributes = ["token", "key", "key"]
    state.resources["zone.a"] = res
    doc = state.to_json()["resources"][0]
    assert doc["dependencies"] == ["a.b", "z.b"]
    assert doc["sensitive_attributes"] == ["key", "token"]
    jsonschema.validate(state.to_json(), SCHEMA)


def test_empty_state_matches_schema() -> None:
    jsonschema.validate(json.loads(State.new().dumps()), SCHEMA)


def test_content_equal() -> None:
    a = sample_state()
    b = loads_state(a.dumps(), SOURCE)
    b.serial = 99
    b.meshprov_version = "9.9.9"
    assert a.content_equal(b)
    b.resources["zone.z[2]"].dependencies = ["x.y"]
    assert not a.content_equal(b)
    c = loads_state(a.dumps(), SOURCE)
    c.lineage = str(uuid.uuid4())
    assert not a.content_equal(c)
    d = loads_state(a.dumps(), SOURCE)
    d.resources["zone.z[10]"].attributes["n"] = 10.0  # 10 == 10.0 in Python, not in the file
    assert not a.content_equal(d)
    e = loads_state(a.dumps(), SOURCE)
    e.resources["ca.root"].dependencies = ["b.b", "a.a"]
    f = loads_state(a.dumps(), SOURCE)
    f.resources["ca.root"].dependencies = ["a.a", "b.b", "a.a"]
    assert e.content_equal(f)


def test_address_key_mismatch_is_a_bug() -> None:
    state = State.new()
    state.resources["zone.x"] = _res("zone.y", "", "zone", "y", None)
    with pytest.raises(ValueError, match="keyed"):
        state.to_json()


def _valid_doc() -> dict:
    return json.loads(sample_state().dumps())


def _mutated(fn) -> bytes:
    doc = _valid_doc()
    fn(doc)
    return json.dumps(doc).encode()


CORRUPT = {
    "truncated": (
        lambda: sample_state().dumps()[:150],
        r"^State file /cfg/state/default\.json is not valid JSON \(line \d+ column \d+\): ",
    ),
    "empty": (lambda: b"", r"is not valid JSON \(line 1 column 1\): Expecting value"),
    "not utf-8": (lambda: b'{"format": "\xff"}', r"is not valid UTF-8"),
    "nan": (lambda: _mutated(lambda d: d.update(serial=float("nan"))), r"NaN"),
    "array": (lambda: b"[]", r"the top level must be a JSON object"),
    "wrong format": (
        lambda: _mutated(lambda d: d.update(format="terraform")),
        r'is not a meshprov state file \("format" is "terraform", expected "meshprov-state"\)',
    ),
    "terraform state": (
        lambda: b'{"version": 4, "serial": 1}',
        r'\("format" is missing',
    ),
    "newer version": (
        lambda: _mutated(lambda d: d.update(version=2)),
        r"^State file /cfg/state/default\.json was written by a newer meshprov \(state format "
        r"version 2\); this meshprov supports version 1$",
    ),
    "version string": (
        lambda: _mutated(lambda d: d.update(version="1")),
        r'"version" must be an integer',
    ),
    "missing lineage": (lambda: _mutated(lambda d: d.pop("lineage")), r'missing "lineage"'),
    "missing resources": (
        lambda: _mutated(lambda d: d.pop("resources")),
        r'missing "resources"',
    ),
    "serial string": (
        lambda: _mutated(lambda d: d.update(serial="3")),
        r'"serial" must be a non-negative integer',
    ),
    "serial negative": (lambda: _mutated(lambda d: d.update(serial=-1)), r'"serial"'),
    "serial bool": (lambda: _mutated(lambda d: d.update(serial=True)), r'"serial"'),
    "empty lineage": (lambda: _mutated(lambda d: d.update(lineage="")), r'"lineage"'),
    "outputs list": (lambda: _mutated(lambda d: d.update(outputs=[])), r'"outputs"'),
    "output without value": (
        lambda: _mutated(lambda d: d["outputs"].update(x={"sensitive": True})),
        r'output "x" must be an object with a "value"',
    ),
    "output sensitive string": (
        lambda: _mutated(lambda d: d["outputs"].update(x={"value": 1, "sensitive": "no"})),
        r'output "x": "sensitive" must be true or false',
    ),
    "resource missing attributes": (
        lambda: _mutated(lambda d: d["resources"][1].pop("attributes")),
        r'resources\[1\] has no "attributes"',
    ),
    "resource attributes list": (
        lambda: _mutated(lambda d: d["resources"][0].update(attributes=[])),
        r'resources\[0\] "attributes" must be an object',
    ),
    "resource index bool": (
        lambda: _mutated(lambda d: d["resources"][0].update(index=True)),
        r'"index" must be null, an integer or a string',
    ),
    "resource index float": (
        lambda: _mutated(lambda d: d["resources"][0].update(index=1.5)),
        r'"index" must be null',
    ),
    "resource status": (
        lambda: _mutated(lambda d: d["resources"][0].update(status="deposed")),
        r'"status" must be "ready" or "tainted", not "deposed"',
    ),
    "resource deps": (
        lambda: _mutated(lambda d: d["resources"][0].update(dependencies=[1])),
        r'"dependencies" must be a list of strings',
    ),
    "resource not object": (
        lambda: _mutated(lambda d: d["resources"].append("zone.x")),
        r"resources\[6\] must be an object",
    ),
    "duplicate address": (
        lambda: _mutated(lambda d: d["resources"].append(d["resources"][0])),
        r'resources\[6\]: duplicate address "ca.root"',
    ),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_inputs_raise_state_error_naming_the_file(case: str) -> None:
    make, pattern = CORRUPT[case]
    with pytest.raises(StateError, match=pattern) as info:
        loads_state(make(), SOURCE)
    assert SOURCE in str(info.value)
    assert info.value.source == SOURCE


def test_unknown_top_level_keys_are_ignored() -> None:
    doc = _valid_doc()
    doc["check_results"] = None
    state = loads_state(json.dumps(doc).encode(), SOURCE)
    assert state.content_equal(sample_state()) is False  # different lineage
    assert set(state.resources) == set(sample_state().resources)
