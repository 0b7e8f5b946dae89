"""Values derived from sensitive ones stay hidden wherever a plan is shown.

The diagnostics sweep (test_sensitive_diagnostics.py) covers error messages; these cover what
a successful plan prints, in the terminal, as JSON and in the pull-request comment: instance
keys, the attributes a resource exports from a sensitive argument, and the security impact and
"After apply" lines built from them.
"""

from __future__ import annotations

import json

import pytest
from tests.support.engine import Workspace

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
