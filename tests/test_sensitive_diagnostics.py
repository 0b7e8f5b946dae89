"""No diagnostic shows a sensitive value, and a valid sensitive value is accepted.

Every argument of every built-in resource type is set, in turn, to a sensitive value that is
invalid and to one that is valid, through ``sensitive(...)`` and through a sensitive variable.
``validate --json`` and ``plan`` must never print the secret's text (text or JSON, whatever
path the diagnostic took: type conversion, allowed values, a check, a reference) and never a
traceback; the valid one must plan, shown as ``(sensitive value)``.
"""

from __future__ import annotations

import json
import re

import pytest
from tests.support.engine import Workspace

from meshprov.diagnostics import SECRETS, Secrets, render_compact_warnings, warning
from meshprov.lang.types import BOOL, NUMBER, STRING
from meshprov.resources import SCHEMAS

# one instance of each built-in type; the one under test gets the argument overridden
BASE = {
    "ca": ("cp", {"common_name": '"Mesh CA"'}),
    "control_plane": (
        "global",
        {"ca": "ca.cp", "hostnames": '["global.example.com"]', "addresses": '["10.0.0.1"]'},
    ),
    "zone": (
        "eu",
        {
            "ca": "ca.cp",
            "global": "control_plane.global",
            "hostnames": '["cp.eu.example.com"]',
            "addresses": '["10.0.0.2"]',
        },
    ),
    "firewall": (
        "kds",
        {
            "security_group_ids": "[var.group]",
            "port": "control_plane.global.kds_port",
            "allow_zones": "[zone.eu]",
        },
    ),
    "signing_key": ("admin", {"kind": '"user"', "key_size": "2048"}),
    "token": ("admin", {"signing_key": "signing_key.admin", "user_name": '"ops"'}),
}
BUILT_IN = tuple(BASE)
# nested blocks: the valid contents each argument of one is tested inside
BLOCKS = {
    ("control_plane", "store"): {
        "type": '"postgres"',
        "host": '"db.internal"',
        "user": '"kuma"',
        "password": '"a-password"',
        "db_name": '"kuma"',
        "tls_ca": "ca.cp",
    },
}

# valid values for arguments the base leaves unset and whose default is null
VALID = {
    ("ca", "organization"): '"Example Corp"',
    ("ca", "parent"): None,  # a root has no parent: covered by control_plane.ca instead
    # an imported CA takes the three together, without common_name: proven in
    # tests/test_byo_ca.py with real certificates
    ("ca", "certificate_pem"): None,
    ("ca", "private_key_pem"): None,
    ("ca", "certificate_chain_pem"): None,
    ("control_plane", "work_dir"): '"/var/lib/kuma"',
    ("control_plane", "output_dir"): '"generated/global"',
    ("zone", "output_dir"): '"generated/eu"',
    ("firewall", "region"): '"eu-west-1"',
    ("zone", "name"): '"eu-west"',
    ("zone", "egress_ips"): '["198.51.100.7"]',
    ("zone", "work_dir"): '"/var/lib/kuma"',
    # their defaults follow environment; the base zone runs on universal
    ("zone", "dp_authn"): '"dpToken"',
    ("zone", "zone_proxy_authn"): '"zoneToken"',
    ("firewall", "allow_cidrs"): '["10.1.0.0/16"]',
    ("firewall", "description"): '"kds from zones"',
    ("firewall", "helm_values_file"): '"out/kds-sources.yaml"',
    # token references: valid ones are proven in tests/test_authn.py with real keys
    ("control_plane", "kumactl_token"): None,
    ("zone", "kumactl_token"): None,
    ("zone", "kds_token"): None,
    # claims of the other kinds of token, and a dataplane key's mesh: not valid on a user key
    ("signing_key", "mesh"): None,
    ("token", "renew_before"): '"240h"',
    ("token", "output_file"): '"tokens/ops.token"',
    ("token", "groups"): '["mesh-system:admin"]',
    ("token", "mesh"): None,
    ("token", "dataplane_name"): None,
    ("token", "tags"): None,
    ("token", "workload"): None,
    ("token", "zone"): None,
    ("token", "scope"): None,
}

SECRET = "Zq9-secret-value-Xv7"


def _hcl(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_hcl(v) for v in value) + "]"
    raise AssertionError(f"no HCL form for {value!r}")


def _attribute(type_name: str, attr_name: str):
    """An argument of a type, ``block.name`` for one inside a nested block."""
    block, _, inner = attr_name.rpartition(".")
    attr = SCHEMAS[type_name].attribute(block or inner)
    return next(a for a in attr.block if a.name == inner) if block else attr


def _valid(type_name: str, attr_name: str) -> str | None:
    attr = _attribute(type_name, attr_name)
    if (type_name, attr_name) in VALID:
        return VALID[(type_name, attr_name)]
    block, _, inner = attr_name.rpartition(".")
    given = BLOCKS[(type_name, block)].get(inner) if block else BASE[type_name][1].get(inner)
    if given is not None:
        return given
    if attr.default is not None:
        return _hcl(attr.default)
    raise AssertionError(f"add a valid sample for {type_name}.{attr.name} to VALID")


def _invalid(attr) -> str:
    """A value that fails the argument's checks and carries the secret's text."""
    if attr.reference is not None or attr.type in (NUMBER, BOOL):
        return json.dumps(SECRET)  # a string where a reference, number or bool belongs
    if attr.type == STRING and (attr.allowed or (attr.check and attr.check(SECRET))):
        return json.dumps(SECRET)  # not an allowed value, not a duration...
    if attr.type == STRING:
        return "{ key = " + json.dumps(SECRET) + " }"  # an object where a string belongs
    return "[{ key = " + json.dumps(SECRET) + " }]"  # a list of objects, not of strings


def _config(type_name: str, attr_name: str, expr: str, aws) -> str:
    """The base configuration with one argument set to ``expr``, AWS on the moto server."""
    blocks = [
        f'variable "group" {{\n  default = "{aws.security_group()}"\n}}\n',
        f'provider "aws" {{\n  region = "eu-west-1"\n  endpoint_url = "{aws.endpoint}"\n}}\n',
    ]
    for kind, (name, args) in BASE.items():
        args = dict(args)
        block, _, inner = attr_name.rpartition(".")
        nested = ""
        if kind == type_name and block:
            block_args = {**BLOCKS[(kind, block)], inner: expr}
            nested = "\n".join(f"    {k} = {v}" for k, v in block_args.items())
            nested = f"\n  {block} {{\n{nested}\n  }}"
        elif kind == type_name:
            args[attr_name] = expr
        body = "\n".join(f"  {k} = {v}" for k, v in args.items())
        blocks.append(f'{kind} "{name}" {{\n{body}{nested}\n}}\n')
    return "\n".join(blocks)


CASES = [
    (t, name)
    for t, schema in SCHEMAS.items()
    if t in BUILT_IN
    for a in schema.attributes
    if not (t == "firewall" and a.name == "port")  # base refers to the global's port
    for name in (
        [f"{a.name}.{inner.name}" for inner in a.block] if a.block is not None else [a.name]
    )
]


def test_every_nested_block_has_valid_contents():
    assert {
        (t, a.name) for t, schema in SCHEMAS.items() for a in schema.blocks if t in BUILT_IN
    } == set(BLOCKS)


def test_every_built_in_type_is_covered():
    assert {t for t in SCHEMAS if not t.startswith("test_")} == set(BUILT_IN)


def _assert_no_secret(result, secret: str) -> None:
    assert secret not in result.output, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("type_name", "attr_name"), CASES)
@pytest.mark.parametrize("via", ["function", "variable"])
def test_invalid_sensitive_value_is_never_shown(tmp_path, moto_aws, type_name, attr_name, via):
    attr = _attribute(type_name, attr_name)
    ws = Workspace(tmp_path)
    value = _invalid(attr)
    if via == "function":
        ws.write(_config(type_name, attr_name, f"sensitive({value})", moto_aws))
    else:
        ws.write(
            'variable "secret" {\n  type = any\n  sensitive = true\n  default = '
            + value
            + "\n}\n\n"
            + _config(type_name, attr_name, "var.secret", moto_aws)
        )
    validated = ws.run("validate", "--json", code=1)
    _assert_no_secret(validated, SECRET)
    doc = json.loads(validated.stdout)
    assert doc["valid"] is False
    assert any(d["severity"] == "error" for d in doc["diagnostics"])
    planned = ws.run("plan", "--no-color", code=1)
    _assert_no_secret(planned, SECRET)
    assert re.search(r"^Error: ", planned.stderr, re.M), planned.stderr


@pytest.mark.parametrize(("type_name", "attr_name"), CASES)
def test_valid_sensitive_value_is_accepted(tmp_path, moto_aws, type_name, attr_name):
    value = _valid(type_name, attr_name)
    if value is None:
        pytest.skip("covered by another type's reference")
    ws = Workspace(tmp_path)
    ws.write(_config(type_name, attr_name, f"sensitive({value})", moto_aws))
    ws.run("validate")
    planned = ws.run("plan", "--no-color")
    assert "(sensitive value)" in planned.stdout, planned.stdout


def test_sensitive_export_in_a_string_argument_is_not_printed(tmp_path, moto_aws):
    """The issue's repro: an applied CA's private key as a zone name gives an error that
    names the argument, in text and in JSON, without the key."""
    ws = Workspace(tmp_path)
    ws.write(_config("zone", "name", '"eu"', moto_aws))
    ws.run("apply", "--auto-approve", "--no-color")
    ws.write(_config("zone", "name", "ca.cp.private_key_pem", moto_aws))
    planned = ws.run("plan", "--no-color", code=1)
    _assert_no_secret(planned, "PRIVATE KEY")
    assert 'Invalid value for "name"' in planned.stderr
    validated = ws.run("validate", "--json", code=None)
    _assert_no_secret(validated, "PRIVATE KEY")


def test_index_and_function_errors_over_sensitive_values(tmp_path, moto_aws):
    ws = Workspace(tmp_path)
    ws.write(
        'variable "secret" {\n  type = list(string)\n  sensitive = true\n'
        f"  default = [{json.dumps(SECRET)}]\n}}\n\n"
        + _config("ca", "common_name", "var.secret[0]", moto_aws)
        + "\nlocals {\n  a = var.secret[5]\n  b = cidrhost(var.secret[0], 1)\n"
        "  c = tonumber(var.secret[0])\n}\n"
    )
    for args in (("validate", "--json"), ("plan", "--no-color")):
        result = ws.run(*args, code=1)
        _assert_no_secret(result, SECRET)


def test_redaction_among_thousands_of_secrets_longer_than_the_message():
    """A plan of many zones remembers thousands of keys and tokens, each longer than a
    message: those are skipped by length, and every secret that fits is still hidden."""
    secrets = Secrets()
    keys = [f"-----BEGIN PRIVATE KEY-----{i:05d}" + "k" * 1600 for i in range(3000)]
    for key in keys:
        secrets.add(key)
    secrets.add("hunter2-password")
    secrets.add("abc")  # short: only where it is quoted, as a whole value
    text = 'password hunter2-password, pin "abc", abcdef'
    assert secrets.redact(text) == "password (sensitive value), pin (sensitive value), abcdef"
    assert secrets.redact(f"key {keys[7]}") == "key (sensitive value)"
    assert secrets.redact(keys[2999]) == "(sensitive value)"  # exactly as long as the text
    secrets.add("a-new-secret")  # added after a redaction: the order is rebuilt
    assert secrets.redact("it is a-new-secret") == "it is (sensitive value)"


def test_compact_warnings_hide_a_secret_in_a_summary():
    SECRETS.add("s3cr3t-summary-value")
    try:
        shown = render_compact_warnings([warning("Odd s3cr3t-summary-value here", "detail")])
    finally:
        SECRETS.clear()
    assert "s3cr3t" not in shown and "(sensitive value)" in shown
