"""The secret-leak sweep: every command and error path over a deployment holding every kind of
secret, and no secret text anywhere but ``state pull`` and ``output --show-sensitive``.

The deployment has a CA key, control-plane keys (with a separate API certificate, so two per
control plane), the global's store password (a literal, sensitive by the schema) and sensitive
variables: one used as an argument and one exported through a
sensitive output. Each command's stdout, stderr and the files it writes (a saved plan, the
Markdown comment) are searched for every PEM body line of every private key, for every token
(its text, and any whole JWT), and for each sensitive variable's text.
"""

from __future__ import annotations

import json

import pytest
from tests.support.engine import Workspace, shows_a_token

from meshprov.lang.values import at_path

ORG_SECRET = "Hush-Org-7f3c9a"
TOKEN_SECRET = "tok-Secret-91be44"
DB_PASSWORD = "db-Pass-5d21e8"  # a literal: the store's password is sensitive by its schema

CONFIG = """
variable "org" {
  type      = string
  sensitive = true
}

variable "token" {
  type      = string
  sensitive = true
  default   = "TOKEN"
}

ca "cp" {
  common_name  = "Mesh CA"
  organization = var.org
}

control_plane "global" {
  ca                = ca.cp
  hostnames         = ["global.example.com"]
  addresses         = ["10.0.0.1"]
  api_separate_cert = true

  store {
    type     = "postgres"
    host     = "db.example.com"
    user     = "kuma"
    password = "DB-PASSWORD"
    db_name  = "kuma"
    tls_ca   = ca.cp
  }
}

zone "eu" {
  ca                = ca.cp
  global            = control_plane.global
  hostnames         = ["cp.eu.example.com"]
  addresses         = ["10.0.0.2"]
  api_separate_cert = true
}

output "ca_key" {
  value     = ca.cp.private_key_pem
  sensitive = true
}

output "token" {
  value     = var.token
  sensitive = true
}

output "kds" {
  value = control_plane.global.kds_address
}
""".replace("TOKEN", TOKEN_SECRET).replace("DB-PASSWORD", DB_PASSWORD)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("sweep"))
    ws.write(CONFIG)
    (ws.dir / "secrets.auto.vars.hcl").write_text(f'org = "{ORG_SECRET}"\n')
    ws.run("apply", "--auto-approve", "--no-color")
    return ws


def _secrets(ws: Workspace) -> list[str]:
    """Every private key's PEM body lines, and the sensitive variables' text."""
    found = [ORG_SECRET, TOKEN_SECRET, DB_PASSWORD]
    for resource in ws.state()["resources"]:
        for name in resource["sensitive_attributes"]:
            value = at_path(resource["attributes"], name)[1]  # "store.password" too
            if isinstance(value, str) and value:
                body = [line for line in value.splitlines() if line and "-----" not in line]
                found.extend(body)
    assert len(found) > 3 + 5  # the CA key, four control-plane keys, the tokens
    return found


def _assert_clean(text: str, secrets: list[str], what: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{what} shows a secret ({secret[:6]}...):\n{text}"
    assert not shows_a_token(text), f"{what} shows a token:\n{text}"
    assert "Traceback" not in text, text


def _commands(ws: Workspace) -> list[tuple[tuple[str, ...], int | None]]:
    markdown = str(ws.dir / "plan.md")
    saved = str(ws.dir / "saved.plan")
    return [
        (("validate",), 0),
        (("validate", "--json"), 0),
        (("plan", "--no-color"), 0),
        (("plan", "--json"), 0),
        (("plan", "--no-color", "--markdown", markdown), 0),
        (("plan", "--no-color", "--out", saved, "--replace", "ca.cp"), 0),
        (("show", "--no-color", saved), 0),
        (("show", "--json", saved), 0),
        (("plan", "--no-color", "--refresh-only"), 0),
        (("plan", "--no-color", "--destroy"), 0),
        (("plan", "--no-color", "--target", "zone.eu", "--replace", "zone.eu"), 0),
        (("show", "--no-color"), 0),
        (("show", "--json"), 0),
        (("state", "list"), 0),
        (("state", "show", "ca.cp"), 0),
        (("state", "show", "zone.eu"), 0),
        (("state", "show", "control_plane.global"), 0),
        (("output", "--no-color"), 0),
        (("output", "--json"), 0),
        (("output", "ca_key"), 0),
        (("output", "token"), None),
        (("output", "token", "--raw"), None),
        (("graph",), 0),
        (("verify", "--no-color"), None),
        (("verify", "--json"), None),
        (("fmt", "--check"), None),
        # error paths: a bad variable value, a bad argument from a sensitive value
        (("plan", "--no-color", "--var", f"org={ORG_SECRET}\n"), 1),
        (("validate", "--json", "--var", f"token={TOKEN_SECRET}", "--var", "nope=1"), None),
    ]


def test_no_command_shows_a_secret(deployed):
    ws = deployed
    secrets = _secrets(ws)
    for args, code in _commands(ws):
        result = ws.run(*args, code=code)
        _assert_clean(result.output, secrets, " ".join(args))
    for written in ("plan.md", "saved.plan"):
        _assert_clean((ws.dir / written).read_bytes().decode(errors="replace"), secrets, written)


def test_error_paths_over_secrets_show_none(deployed, tmp_path):
    """Sensitive values reaching diagnostics: a key as a zone name, a sensitive variable as
    an invalid environment, a failed index over one, a function over one."""
    secrets = _secrets(deployed)
    ws = Workspace(tmp_path)
    ws.state_path.parent.mkdir(parents=True)
    ws.state_path.write_bytes(deployed.state_path.read_bytes())
    ws.state_path.chmod(0o600)
    (ws.dir / "secrets.auto.vars.hcl").write_text(f'org = "{ORG_SECRET}"\n')
    broken = {
        "name": "ca.cp.private_key_pem",
        "environment": "var.org",
        "namespace": "[var.token][3]",
        "work_dir": "cidrhost(var.token, 1)",
        "hostnames": "[var.org]",
        "cert_validity": "var.token",
    }
    for argument, expr in broken.items():
        config = CONFIG.replace(
            '  addresses         = ["10.0.0.2"]\n',
            f'  addresses         = ["10.0.0.2"]\n  {argument} = {expr}\n',
        )
        ws.write(config)
        # validate knows no applied value (a key is "known after apply" there): it may pass
        for args, code in (
            (("validate", "--json"), None),
            (("plan", "--no-color"), 1),
            (("apply", "--auto-approve"), 1),
        ):
            result = ws.run(*args, code=code)
            _assert_clean(result.output, secrets, f"{argument} = {expr}: {' '.join(args)}")


def test_state_pull_and_show_sensitive_do_show_them(deployed):
    """The two places secrets belong: the sweep above is not vacuous."""
    pulled = deployed.run("state", "pull", allow_secret=True).stdout
    assert ORG_SECRET in pulled and TOKEN_SECRET in pulled and "PRIVATE KEY" in pulled
    shown = deployed.run("output", "--json", "--show-sensitive", allow_secret=True).stdout
    outputs = json.loads(shown)
    assert outputs["token"]["value"] == TOKEN_SECRET
    assert "PRIVATE KEY" in outputs["ca_key"]["value"]
