"""The global's store (SPEC §1.5): a ``store`` block on a Universal ``control_plane``.

What a user sees: the ``KUMA_STORE_*`` settings in the 0600 ``kuma-cp.env`` (names from
kumahq/kuma v2.14.3 ``pkg/config/plugins/resources/postgres``), read back as systemd would;
the database CA file, checked with ``openssl``; the password nowhere else than that file and
the 0600 state (not in a plan, a saved plan, the JSON or Markdown plan, the terminal, or a
debug log); the memory-store warning everywhere warnings show; and each bad input as a
diagnostic with its line, leaving state and files untouched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib.resources import files

import jsonschema
import pytest
from tests.support.engine import Workspace, mode_of

from meshprov import kuma

OPENSSL = shutil.which("openssl")
# characters systemd's EnvironmentFile and a shell would treat specially
PASSWORD = "p@ss w'rd\"$HOME\\x #1"
MARKER = "p@ss w'rd"  # a part of it that no file format escapes
WORK = "/var/lib/kong-mesh"

STORE_CONFIG = """\
variable "db_password" {
  type      = string
  sensitive = true
}

ca "cp" {
  common_name = "Mesh CA"
}

ca "db" {
  common_name = "Database CA"
}

control_plane "global" {
  ca        = ca.cp
  hostnames = ["global.mesh.test"]
%(lifecycle)s
  store {
    type     = "postgres"
    host     = "%(host)s"
    user     = "kuma"
    password = var.db_password
    db_name  = "kuma"
    tls_ca   = ca.db
  }
}
"""


def _workspace(tmp_path, host: str = "db.internal", lifecycle: str = "") -> Workspace:
    ws = Workspace(tmp_path)
    ws.write(STORE_CONFIG % {"host": host, "lifecycle": lifecycle})
    (tmp_path / "secret.auto.vars.hcl").write_text(f"db_password = {json.dumps(PASSWORD)}\n")
    return ws


def _out(ws: Workspace) -> str:
    return str(ws.dir / "out/control_plane.global")


def _env(ws: Workspace) -> dict[str, str]:
    text = (ws.dir / "out/control_plane.global" / kuma.Files.CP_ENV).read_text()
    env = kuma.parse_env_file(text)
    assert len(text.splitlines()) == len(env)  # one setting a line: no value added another
    return env


def _files_holding(ws: Workspace, text: str) -> set[str]:
    return {
        str(p.relative_to(ws.dir))
        for p in ws.dir.rglob("*")
        if p.is_file() and text.encode() in p.read_bytes()
    }


MIGRATE = (
    "control_plane.global: run kuma-cp migrate up (with kuma-cp.env) before starting kuma-cp "
    "(its store is a new database, kuma on {host}: kuma-cp refuses to start until it holds "
    "Kong Mesh's schema)"
)


def test_apply_writes_the_postgres_store_into_the_cp_env_file(tmp_path):
    ws = _workspace(tmp_path)
    applied = ws.run("apply", "--auto-approve", "--no-color")
    # after apply: migrate the new database first (kuma-cp does not start on an empty one)
    notices = applied.stdout[applied.stdout.index("After apply:") :].splitlines()
    assert notices[1].strip() == MIGRATE.format(host="db.internal")
    assert "restart kuma-cp" in notices[-1]
    out = ws.dir / "out/control_plane.global"
    assert mode_of(out / kuma.Files.CP_ENV) == 0o600
    env = _env(ws)
    assert {k: v for k, v in env.items() if k.startswith("KUMA_STORE_")} == {
        "KUMA_STORE_TYPE": "postgres",
        "KUMA_STORE_POSTGRES_HOST": "db.internal",
        "KUMA_STORE_POSTGRES_PORT": "5432",
        "KUMA_STORE_POSTGRES_USER": "kuma",
        "KUMA_STORE_POSTGRES_PASSWORD": PASSWORD,
        "KUMA_STORE_POSTGRES_DB_NAME": "kuma",
        "KUMA_STORE_POSTGRES_TLS_MODE": "verifyFull",
        "KUMA_STORE_POSTGRES_TLS_CA_PATH": f"{WORK}/tls/postgres-ca.crt",
    }
    # the CA file at the path kuma-cp is given (mirrored under the output directory)
    ca_file = out / "tls/postgres-ca.crt"
    assert mode_of(ca_file) == 0o644
    resources = ws.resources()
    assert ca_file.read_text() == resources["ca.db"]["attributes"]["chain_pem"]
    if OPENSSL:
        subject = subprocess.run(
            [OPENSSL, "x509", "-in", str(ca_file), "-noout", "-subject"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "Database CA" in subject
    # the password: only in the 0600 env file and the 0600 state, which marks it sensitive
    assert _files_holding(ws, MARKER) == {
        "secret.auto.vars.hcl",  # the user's
        "out/control_plane.global/kuma-cp.env",
        "state/default.json",
    }
    assert mode_of(ws.state_path) == 0o600
    global_cp = resources["control_plane.global"]
    assert "store.password" in global_cp["sensitive_attributes"]
    assert global_cp["attributes"]["store"]["tls_ca"] == "ca.db"  # a reference, by address
    assert "ca.db" in global_cp["dependencies"]
    # idempotent
    assert "No changes." in ws.run("plan", "--no-color").stdout


def test_the_password_reaches_no_plan_output_or_log(tmp_path, monkeypatch):
    ws = _workspace(tmp_path)
    log = tmp_path / "debug.log"
    plan = ws.run(
        "plan",
        "--no-color",
        "--out",
        str(tmp_path / "review.plan"),
        "--markdown",
        str(tmp_path / "plan.md"),
    )
    shown = ws.run("show", "--json", str(tmp_path / "review.plan")).stdout
    live = ws.run("plan", "--json").stdout
    for text in (plan.output, shown, live, (tmp_path / "plan.md").read_text()):
        assert PASSWORD not in text and MARKER not in text
    assert MARKER.encode() not in (tmp_path / "review.plan").read_bytes()
    # the rest of the block is reviewable; the password shows as hidden
    assert '"host"     = "db.internal"' in plan.stdout
    assert '"tls_mode" = "verifyFull"' in plan.stdout
    assert '"password" = (sensitive value)' in plan.stdout
    doc = json.loads(shown)
    schema = json.loads(
        files("meshprov.render").joinpath("plan.schema.json").read_text(encoding="utf-8")
    )
    jsonschema.Draft202012Validator(schema).validate(doc)
    (change,) = [c for c in doc["resource_changes"] if c["address"] == "control_plane.global"]
    assert change["change"]["after"]["store"]["password"] is None
    assert change["change"]["after"]["store"]["host"] == "db.internal"
    assert change["change"]["after_sensitive"]["store"] == {"password": True}
    # the saved plan applies: the password is taken from the configuration again
    monkeypatch.setenv("MESHPROV_LOG", "debug")
    monkeypatch.setenv("MESHPROV_LOG_PATH", str(log))
    applied = ws.sub("apply", str(tmp_path / "review.plan"), "--no-color")
    assert MARKER not in applied.output
    assert log.read_text() and MARKER not in log.read_text()
    assert _env(ws)["KUMA_STORE_POSTGRES_PASSWORD"] == PASSWORD
    state_shown = ws.run("state", "show", "control_plane.global").stdout
    assert MARKER not in state_shown and '"password" = (sensitive value)' in state_shown


def test_a_new_password_or_database_ca_updates_the_files_and_asks_for_a_restart(tmp_path):
    ws = _workspace(tmp_path)
    ws.run("apply", "--auto-approve")
    (tmp_path / "secret.auto.vars.hcl").write_text('db_password = "rotated-password"\n')
    plan = ws.run("plan", "--no-color")
    assert "control_plane.global will be updated in-place" in plan.stdout
    assert '~ "password" = (sensitive value)' in plan.stdout
    assert "rotated-password" not in plan.output
    assert "restart kuma-cp" in plan.stdout
    assert "migrate up" not in plan.stdout  # the same database
    ws.run("apply", "--auto-approve")
    assert _env(ws)["KUMA_STORE_POSTGRES_PASSWORD"] == "rotated-password"
    # the database's CA is replaced: the CA file follows
    ws.write(
        (STORE_CONFIG % {"host": "db.internal", "lifecycle": ""}).replace(
            '"Database CA"', '"Database CA 2"'
        )
    )
    plan = ws.run("plan", "--no-color")
    assert "control_plane.global will be updated in-place" in plan.stdout
    ws.run("apply", "--auto-approve")
    chain = ws.resources()["ca.db"]["attributes"]["chain_pem"]
    assert (ws.dir / "out/control_plane.global/tls/postgres-ca.crt").read_text() == chain


def test_another_database_is_migrated_first(tmp_path):
    ws = _workspace(tmp_path)
    ws.run("apply", "--auto-approve")
    ws.write(STORE_CONFIG % {"host": "db2.internal", "lifecycle": ""})
    doc = json.loads(ws.run("plan", "--json").stdout)
    assert doc["meshprov_notices"][0] == {
        "address": "control_plane.global",
        "action": "run kuma-cp migrate up (with kuma-cp.env) before starting kuma-cp",
        "reason": "its store is a new database, kuma on db2.internal: kuma-cp refuses to start "
        "until it holds Kong Mesh's schema",
    }
    assert [n["action"] for n in doc["meshprov_notices"]][1:] == ["restart kuma-cp"]
    ws.run("apply", "--auto-approve")
    assert _env(ws)["KUMA_STORE_POSTGRES_HOST"] == "db2.internal"


def test_ignore_changes_keeps_the_store_as_applied(tmp_path):
    ws = _workspace(tmp_path, lifecycle="  lifecycle {\n    ignore_changes = [store]\n  }")
    ws.run("apply", "--auto-approve")
    ws.write(
        STORE_CONFIG
        % {
            "host": "db2.internal",
            "lifecycle": "  lifecycle {\n    ignore_changes = [store]\n  }",
        }
    )
    assert "No changes." in ws.run("plan", "--no-color").stdout
    assert _env(ws)["KUMA_STORE_POSTGRES_HOST"] == "db.internal"


def test_verify_checks_the_store_settings_and_the_ca_file(tmp_path):
    ws = _workspace(tmp_path)
    ws.run("apply", "--auto-approve")

    def store_row() -> dict:
        doc = json.loads(ws.run("verify", "--json", code=None).stdout)
        (row,) = [r for r in doc["rows"] if r["channel"] == "global→postgres store"]
        return row

    assert store_row()["result"] == "ok"
    out = ws.dir / "out/control_plane.global"
    env_file = out / kuma.Files.CP_ENV
    text = env_file.read_text()
    env_file.write_text(text.replace("db.internal", "evil.example"))
    row = store_row()
    assert row["failed_checks"] == ["store"]
    assert "KUMA_STORE_POSTGRES_HOST" in row["detail"] and PASSWORD not in row["detail"]
    env_file.write_text(text)
    (out / "tls/postgres-ca.crt").write_text(ws.resources()["ca.cp"]["attributes"]["chain_pem"])
    row = store_row()
    assert row["failed_checks"] == ["store_tls"]
    assert "is not the chain of ca.db" in row["detail"]


GLOBAL = """\
ca "cp" {
  common_name = "Mesh CA"
}

control_plane "global" {
  ca          = ca.cp
  hostnames   = ["global.mesh.test"]
  environment = "%s"
}
"""


def test_a_universal_global_on_the_memory_store_is_a_warning_everywhere(tmp_path):
    ws = Workspace(tmp_path)
    ws.write(GLOBAL % "universal")
    doc = json.loads(ws.run("validate", "--json").stdout)
    (diag,) = doc["diagnostics"]
    assert (diag["severity"], diag["summary"]) == ("warning", "Policies kept in memory")
    assert diag["range"]["start"]["line"] == 5
    sentence = "control_plane.global keeps every policy in memory (no store)"
    plan = ws.run("plan", "--no-color", "--markdown", str(tmp_path / "plan.md"))
    assert "Warning: Policies kept in memory" in plan.output
    assert sentence in plan.stdout
    assert sentence.replace("_", "\\_") in (tmp_path / "plan.md").read_text()
    doc = json.loads(ws.run("plan", "--json").stdout)
    assert any(sentence in w for w in doc["meshprov_warnings"])


def test_a_kubernetes_global_has_no_memory_store_warning(tmp_path):
    ws = Workspace(tmp_path)
    ws.write(GLOBAL % "kubernetes")
    doc = json.loads(ws.run("validate", "--json").stdout)
    assert [d["summary"] for d in doc["diagnostics"]] == []


def test_an_unverified_database_server_is_a_warning(tmp_path):
    ws = Workspace(tmp_path)
    ws.write(
        (GLOBAL % "universal").rstrip()[:-1]
        + '  store {\n    type     = "postgres"\n    host     = "db"\n    user     = "kuma"\n'
        '    password = "a-password"\n    db_name  = "kuma"\n    tls_mode = "verifyNone"\n'
        "  }\n}\n"
    )
    doc = json.loads(ws.run("validate", "--json").stdout)
    (diag,) = doc["diagnostics"]
    assert diag["summary"] == "Store server not verified"
    assert diag["range"]["start"]["line"] == 15
    plan = ws.run("plan", "--no-color")
    assert "sends its database password to an unverified server" in plan.stdout
    assert "a-password" not in plan.output


BAD_STORE = """\
ca "cp" {
  common_name = "Mesh CA"
}

control_plane "global" {
  ca          = ca.cp
  hostnames   = ["global.mesh.test"]
  environment = "%(environment)s"
  store {
    type     = %(type)s
    host     = %(host)s
    user     = "kuma"
    password = "a-password"
    db_name  = "kuma"
%(extra)s
  }
}
"""


def _bad(
    environment: str = "universal", type: str = '"postgres"', host: str = '"db"', extra: str = ""
) -> str:
    return BAD_STORE % {"environment": environment, "type": type, "host": host, "extra": extra}


@pytest.mark.parametrize(
    ("config", "summary", "line", "detail"),
    [
        (_bad(environment="kubernetes"), "Store on Kubernetes", 9, "Universal globals only"),
        (_bad(), "Store CA missing", 9, "CAPath cannot be empty"),
        (
            _bad(extra='    tls_mode = "verifyCa"'),
            "Store CA missing",
            15,
            'tls_mode = "verifyCa"',
        ),
        (
            _bad(type='"memory"', extra='    tls_mode = "disable"'),
            "Invalid value",
            10,
            'Allowed values: "postgres"',
        ),
        (
            _bad(host='""', extra='    tls_mode = "disable"'),
            'Invalid value for "host"',
            11,
            "empty",
        ),
        (
            _bad(extra='    tls_mode = "verifyfull"\n    tls_ca = ca.cp'),
            "Invalid value",
            15,
            '"verifyFull"',
        ),
        (
            _bad(extra="    tls_ca = ca.cp\n    hots = 1"),
            "Unsupported argument",
            16,
            'Did you mean "host"?',
        ),
        (
            _bad(extra='    tls_ca = "ca.cp"'),
            "Invalid reference",
            15,
            "must be a reference to a ca resource",
        ),
        (
            _bad(extra="    tls_ca = ca.cp\n    port = 0"),
            'Invalid value for "port"',
            16,
            "not a valid TCP port",
        ),
    ],
)
def test_bad_store_settings_are_diagnostics_and_leave_state_untouched(
    tmp_path, config, summary, line, detail
):
    ws = Workspace(tmp_path)
    ws.write(GLOBAL % "universal")
    ws.run("apply", "--auto-approve")
    state, env = ws.state_bytes(), _env(ws)
    ws.write(config)
    doc = json.loads(ws.run("validate", "--json", code=1).stdout)
    errors = [d for d in doc["diagnostics"] if d["severity"] == "error"]
    assert [(e["summary"], e["range"]["start"]["line"]) for e in errors] == [(summary, line)]
    assert detail in errors[0]["detail"]
    assert "a-password" not in json.dumps(doc)
    applied = ws.run("apply", "--auto-approve", "--no-color", code=1)
    assert f"Error: {summary}" in applied.stderr and "a-password" not in applied.output
    assert ws.state_bytes() == state and _env(ws) == env


def test_a_control_character_in_the_password_cannot_add_a_setting(tmp_path):
    ws = Workspace(tmp_path)
    ws.write(
        _bad(extra="    tls_ca = ca.cp").replace(
            '"a-password"', '"a-password\\nKUMA_STORE_TYPE=memory"'
        )
    )
    doc = json.loads(ws.run("validate", "--json", code=1).stdout)
    (error,) = doc["diagnostics"]
    assert error["summary"] == 'Invalid value for "password"'
    assert "control character" in error["detail"]
    assert "a-password" not in json.dumps(doc)
    ws.run("apply", "--auto-approve", code=1)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("body", "summary", "detail"),
    [
        ('  store {\n    type = "postgres"\n  }\n', "Missing required argument", '"host"'),
        ("  store = {}\n", "Unsupported argument", "is a block, not an argument"),
        (
            '  store {\n    type = "postgres"\n    host = "h"\n    user = "u"\n    password = "p"\n'
            '    db_name = "d"\n    tls_mode = "disable"\n  }\n  store {\n  }\n',
            'Duplicate "store" block',
            "at most one",
        ),
    ],
)
def test_store_block_shape_errors(tmp_path, body, summary, detail):
    ws = Workspace(tmp_path)
    ws.write((GLOBAL % "universal").rstrip()[:-1] + body + "}\n")
    doc = json.loads(ws.run("validate", "--json", code=1).stdout)
    found = [(d["summary"], d["detail"]) for d in doc["diagnostics"] if d["severity"] == "error"]
    assert any(s == summary and detail in d for s, d in found), found


def test_a_zone_has_no_store_block(tmp_path):
    ws = Workspace(tmp_path)
    ws.write(
        'ca "cp" {\n  common_name = "Mesh CA"\n}\n\nzone "eu" {\n  ca = ca.cp\n'
        '  addresses = ["10.0.0.1"]\n  store {\n  }\n}\n'
    )
    doc = json.loads(ws.run("validate", "--json", code=1).stdout)
    (error,) = doc["diagnostics"]
    assert error["summary"] == "Unsupported block type"
    assert error["range"]["start"]["line"] == 8
