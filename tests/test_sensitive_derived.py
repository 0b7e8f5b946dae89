"""Values derived from sensitive ones stay hidden wherever a plan is shown.

The diagnostics sweep (test_sensitive_diagnostics.py) covers error messages; these cover what
a successful plan prints, in the terminal, as JSON and in the pull-request comment: instance
keys, the attributes a resource exports from a sensitive argument, and the security impact and
"After apply" lines built from them.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from tests.support.engine import Workspace

from meshprov import pki

SECRET = "Zq9SecretValueXv7"

VARIABLE = f"""
variable "secret" {{
  type      = string
  sensitive = true
  default   = "{SECRET}"
}}
"""


def _assert_hidden(text: str, what: str) -> None:
    assert SECRET not in text, f"{what} shows the secret:\n{text}"


# --- instance keys -------------------------------------------------------------------------------

# each a set whose element is the sensitive value: Terraform marks such a set as a whole
SENSITIVE_SETS = [
    "toset([var.secret])",
    "toset(concat([var.secret], []))",
    "toset(values({ a = var.secret }))",
    "toset([for s in [var.secret] : s])",
    "toset(true ? [var.secret] : [])",
]


@pytest.mark.parametrize("expr", SENSITIVE_SETS)
@pytest.mark.parametrize("where", ["resource", "module"])
def test_a_set_holding_a_secret_is_no_for_each(tmp_path, expr, where):
    """An instance key is part of the address every plan, comment and state shows."""
    ws = Workspace(tmp_path)
    if where == "resource":
        ws.write(VARIABLE + f'ca "cp" {{\n  for_each    = {expr}\n  common_name = "Mesh CA"\n}}\n')
    else:
        (tmp_path / "m").mkdir()
        ws.write('ca "cp" {\n  common_name = "Mesh CA"\n}\n', "m/main.hcl")
        ws.write(VARIABLE + f'module "m" {{\n  source   = "./m"\n  for_each = {expr}\n}}\n')
    markdown = tmp_path / "plan.md"
    planned = ws.run("plan", "--no-color", "--markdown", str(markdown), code=1)
    _assert_hidden(planned.output, "plan")
    assert "Error: Invalid for_each argument" in planned.stderr
    assert "Sensitive values" in planned.stderr
    assert "main.hcl line " in planned.stderr
    assert not markdown.exists()
    validated = ws.run("validate", "--json", code=1)
    _assert_hidden(validated.output, "validate")
    (error,) = json.loads(validated.stdout)["diagnostics"]
    assert error["summary"] == "Invalid for_each argument"


def test_nonsensitive_keys_are_the_way_to_use_one(tmp_path):
    """The operator may say the key is not secret after all: then it is an ordinary key."""
    ws = Workspace(tmp_path)
    ws.write(
        VARIABLE
        + 'ca "cp" {\n  for_each    = toset([nonsensitive(var.secret)])\n'
        + '  common_name = "Mesh CA"\n}\n'
    )
    planned = ws.run("plan", "--no-color")
    assert f'# ca.cp["{SECRET}"] will be created' in planned.stdout


# --- exports and reports derived from sensitive arguments ----------------------------------------

HOST = "hidden-host.example.com"
ZONE_NAME = "hidden-zone"
USER = "hidden-user"
GROUP = "hidden-group"

DERIVED = (
    """
variable "host" {
  type      = string
  sensitive = true
  default   = "HOST"
}

variable "zone_name" {
  type      = string
  sensitive = true
  default   = "ZONE_NAME"
}

variable "user" {
  type      = string
  sensitive = true
  default   = "USER"
}

variable "groups" {
  type      = list(string)
  sensitive = true
  default   = ["GROUP"]
}

ca "cp" {
  common_name = "Mesh CA"
}

signing_key "admin" {
  kind = "user"
}

control_plane "global" {
  ca              = ca.cp
  hostnames       = [var.host]
  user_token_keys = [signing_key.admin]
  admin_groups    = var.groups
}

zone "eu" {
  ca         = ca.cp
  name       = var.zone_name
  global     = control_plane.global
  hostnames  = ["cp.eu.example.com"]
  egress_ips = ["198.51.100.4"]
}

token "admin" {
  signing_key = signing_key.admin
  user_name   = var.user
  groups      = var.groups
}
""".replace("ZONE_NAME", ZONE_NAME)
    .replace("HOST", HOST)
    .replace("USER", USER)
)
DERIVED = DERIVED.replace("GROUP", GROUP)
HIDDEN = (HOST, ZONE_NAME, USER, GROUP)


def _assert_none_shown(text: str, what: str) -> None:
    for secret in HIDDEN:
        assert secret not in text, f"{what} shows {secret}:\n{text}"


def test_what_a_plan_shows_hides_the_exports_and_reports_of_sensitive_arguments(tmp_path):
    """``dial_host``, ``kds_address``, ``zone_name``, ``global_address`` repeat a sensitive
    argument; the security impact and "After apply" name the token's user and groups."""
    ws = Workspace(tmp_path / "config")
    ws.write(DERIVED)
    saved, markdown = tmp_path / "saved.plan", tmp_path / "plan.md"
    planned = ws.run("plan", "--no-color", "--out", str(saved), "--markdown", str(markdown))
    _assert_none_shown(planned.output, "plan")
    assert 'token.admin: user "(sensitive value)" (groups (sensitive value))' in planned.stdout
    assert "+ dial_host          = (sensitive value)" in planned.stdout
    assert "+ zone_name             = (sensitive value)" in planned.stdout
    assert "+ global_address        = (sensitive value)" in planned.stdout
    _assert_none_shown(markdown.read_text(), "the Markdown comment")
    _assert_none_shown(saved.read_bytes().decode(), "the saved plan")
    doc = json.loads(ws.run("plan", "--json").stdout)
    _assert_none_shown(json.dumps(doc), "plan --json")
    zone = next(c for c in doc["resource_changes"] if c["address"] == "zone.eu")
    assert zone["change"]["after_sensitive"]["zone_name"] is True
    assert zone["change"]["after_sensitive"]["global_address"] is True
    for args in (("show", "--no-color", str(saved)), ("show", "--json", str(saved))):
        _assert_none_shown(ws.run(*args).output, " ".join(args))
    # the file holds null for each sensitive claim: the token's subject says so, as above
    shown = ws.run("show", "--no-color", str(saved)).stdout
    assert 'token.admin: user "(sensitive value)" (groups (sensitive value))' in shown
    assert "None" not in shown
    applied = ws.run("apply", "--auto-approve", "--no-color")
    _assert_none_shown(applied.output, "apply")
    for args in (
        ("show", "--no-color"),
        ("show", "--json"),
        ("state", "show", "zone.eu"),
        ("state", "show", "control_plane.global"),
        ("plan", "--no-color", "--replace", "token.admin"),
    ):
        _assert_none_shown(ws.run(*args).output, " ".join(args))
    # the artifacts are where the values belong
    env = (ws.dir / "out/zone.eu/kuma-cp.env").read_text()
    assert f"KUMA_MULTIZONE_ZONE_NAME={ZONE_NAME}" in env
    assert f"KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS=grpcs://{HOST}:5685" in env


def test_an_output_of_a_derived_export_must_be_marked_sensitive(tmp_path):
    ws = Workspace(tmp_path)
    ws.write(DERIVED + 'output "kds" {\n  value = control_plane.global.kds_address\n}\n')
    planned = ws.run("plan", "--no-color", code=1)
    assert "Error: Output refers to sensitive values" in planned.stderr
    _assert_none_shown(planned.output, "plan")


def test_a_saved_plan_applies_its_sensitive_arguments(tmp_path):
    """A plan file leaves sensitive values out; applying it once gave a control plane no
    hostnames (a crash), a zone its default name and an RBAC binding no groups."""
    ws = Workspace(tmp_path / "config")
    ws.write(DERIVED)
    saved = tmp_path / "saved.plan"
    ws.run("plan", "--out", str(saved))
    applied = ws.run("apply", "--no-color", str(saved))
    _assert_none_shown(applied.output, "apply")
    assert 'a new token for user "(sensitive value)" (groups (sensitive value))' in applied.stdout
    out = ws.dir / "out"
    zone_env = (out / "zone.eu/kuma-cp.env").read_text()
    assert f"KUMA_MULTIZONE_ZONE_NAME={ZONE_NAME}\n" in zone_env
    assert f"KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS=grpcs://{HOST}:5685\n" in zone_env
    assert f"--address=https://{HOST}:5682" in (out / "control_plane.global/kumactl.sh").read_text()
    binding = (out / "control_plane.global/access-role-binding.yaml").read_text()
    assert f"  name: {GROUP}\n" in binding
    sans = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
         out / "control_plane.global/tls/tls.crt"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"DNS:{HOST}" in sans
    assert "No changes." in ws.run("plan", "--no-color").stdout


# --- a file holding a key ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        'file("ca.key")',
        'filebase64("ca.key")',
        'templatefile("key.tftpl", {})',
        'substr(file("ca.key"), 28, 12)',
    ],
)
def test_a_file_holding_a_private_key_reads_as_sensitive(tmp_path, expr):
    """``file("ca.key")`` is how a configuration brings its own CA's key: what it reads can
    reach a plan only as (sensitive value), whichever function read it."""
    ws = Workspace(tmp_path)
    key = pki.key_to_pem(pki.generate_key("ECDSA_P256"))
    (tmp_path / "ca.key").write_text(key)
    (tmp_path / "key.tftpl").write_text("key: " + key)  # the key itself, not a file() call
    body = key.splitlines()[1]
    ws.write(f'output "leaked" {{\n  value = {expr}\n}}\n')
    refused = ws.run("plan", "--no-color", code=1)
    assert "Error: Output refers to sensitive values" in refused.stderr
    assert body not in refused.output
    ws.write(f'ca "cp" {{\n  common_name = "CA"\n  organization = md5({expr})\n}}\n')
    markdown = tmp_path / "plan.md"
    planned = ws.run("plan", "--no-color", "--markdown", str(markdown))
    assert "+ organization    = (sensitive value)" in planned.stdout
    for text in (planned.output, markdown.read_text()):
        assert body not in text


def test_a_file_holding_no_secret_reads_as_it_is(tmp_path):
    ws = Workspace(tmp_path)
    (tmp_path / "motd.txt").write_text("welcome\n")
    ws.write('output "motd" {\n  value = file("motd.txt")\n}\n')
    assert "welcome" in ws.run("plan", "--no-color").stdout
