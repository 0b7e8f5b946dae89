"""No configuration value can add a command to a generated script or a setting to an env file.

Values that cannot mean anything (control characters, an IPv6 zone id) are validate errors;
what is written is quoted for the shell or escaped for systemd's EnvironmentFile, and the
plain-HTTP API bound to every interface warns whichever way the wildcard is spelled.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from tests.support.engine import Workspace

from meshprov import kuma


def _zone(**args: str) -> str:
    settings = {"hostnames": '["cp.eu.example.com"]', "addresses": '["10.0.0.2"]', **args}
    body = "\n".join(f"  {k} = {v}" for k, v in settings.items())
    return f'ca "cp" {{\n  common_name = "Mesh CA"\n}}\n\nzone "eu" {{\n  ca = ca.cp\n{body}\n}}\n'


def _errors(ws: Workspace) -> list[dict]:
    doc = json.loads(ws.run("validate", "--json", code=1).stdout)
    return [d for d in doc["diagnostics"] if d["severity"] == "error"]


def test_ipv6_zone_id_in_addresses_is_a_validate_error(tmp_path):
    """The issue's repro: the zone id was a command substitution that kumactl.sh ran."""
    ws = Workspace(tmp_path)
    ws.write(_zone(addresses='["fe80::1%`touch PWNED`"]'))
    (error,) = _errors(ws)
    assert error["summary"] == "Invalid IP address"
    assert "zone id" in error["detail"]
    assert error["range"]["start"]["line"] == 8
    ws.run("apply", "--auto-approve", code=1)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.rglob("PWNED")) and not (Path.cwd() / "PWNED").exists()


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("work_dir", '"/var/lib/kuma\\nKUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE=none"'),
        ("name", '"eu\\tbad"'),
        ("namespace", '"kong-mesh\\r"'),
        ("output_dir", '"out/eu\\u0000x"'),
        ("hostnames", '["cp.eu.example.com\\n"]'),
        ("api_http_interface", '"127.0.0.1\\u0085"'),
        # line and paragraph separators: YAML and Python's readers break lines there
        ("work_dir", '"/var/lib/kuma\\u2028KUMA_API_SERVER_HTTP_INTERFACE=0.0.0.0"'),
        ("dp_token_path", '"/var/lib/kuma-dp/token\\u2029x"'),
    ],
)
def test_control_characters_are_validate_errors(tmp_path, argument, value):
    ws = Workspace(tmp_path)
    ws.write(_zone(**{argument: value}))
    (error,) = _errors(ws)
    assert error["summary"] == f'Invalid value for "{argument}"'
    assert "control character" in error["detail"]
    plan = ws.run("plan", "--no-color", code=1)
    assert f'Error: Invalid value for "{argument}"' in plan.stderr
    assert not (tmp_path / "out").exists()


def test_env_file_quotes_what_systemd_would_change(tmp_path):
    """Quotes, backslashes and spaces survive into kuma-cp.env as the value, escaped."""
    ws = Workspace(tmp_path)
    work = '/srv/my "mesh"\\dir '
    ws.write(_zone(work_dir=json.dumps(work)))
    ws.run("apply", "--auto-approve")
    text = (tmp_path / "out/zone.eu/kuma-cp.env").read_text()
    line = next(x for x in text.splitlines() if x.startswith("KUMA_GENERAL_WORK_DIR="))
    assert line == 'KUMA_GENERAL_WORK_DIR="/srv/my \\"mesh\\"\\\\dir "'
    assert kuma.parse_env_file(text)["KUMA_GENERAL_WORK_DIR"] == work
    assert len(text.splitlines()) == len(kuma.parse_env_file(text))


def _spec(name: str, dial_host: str, work_dir: str = "/var/lib/kuma") -> kuma.ControlPlaneSpec:
    return kuma.ControlPlaneSpec(
        name=name,
        environment="universal",
        work_dir=work_dir,
        namespace="kong-mesh-system",
        dial_host=dial_host,
        tls_min_version="TLSv1_2",
        api_http_interface="127.0.0.1",
        api_https_port=5682,
        cert_pem="CERT\n",
        key_pem="KEY\n",
        ca_chain_pem="CA\n",
        ca_bundle_pem="CA\n",
        kds_port=5685,
    )


def test_kumactl_script_passes_every_value_as_data(tmp_path):
    """Whatever reaches the renderer, the script runs kumactl with it as one literal argument."""
    name = "eu$(touch PWNED1)`touch PWNED2`;touch PWNED3 'x\" *"
    files = kuma.render_artifacts(_spec(name, "cp.example.com"))
    out = tmp_path / "out"
    out.mkdir()
    script = out / kuma.Files.KUMACTL
    script.write_bytes(files[kuma.Files.KUMACTL].content)
    script.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "kumactl"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$KUMACTL_ARGS"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env["KUMACTL_ARGS"] = str(tmp_path / "args")
    subprocess.run([str(script)], env=env, cwd=tmp_path, check=True, timeout=30)
    args = (tmp_path / "args").read_text().splitlines()
    assert args == [
        "config",
        "control-planes",
        "add",
        f"--name={name}",
        "--address=https://cp.example.com:5682",
        f"--ca-cert-file={out}/{kuma.Files.CA}",
        "--overwrite",
    ]
    assert not list(tmp_path.rglob("PWNED*"))
    text = script.read_text()
    assert kuma.parse_kumactl(text) == ("https://cp.example.com:5682", kuma.Files.CA)


def test_env_file_refuses_a_control_character():
    with pytest.raises(ValueError, match="control character"):
        kuma.render_artifacts(_spec("eu", "cp.example.com", work_dir="/a\nKUMA_X=1"))


@pytest.mark.parametrize("interface", ["0.0.0.0", "::", "0:0:0:0:0:0:0:0"])
def test_every_wildcard_interface_warns(tmp_path, interface):
    ws = Workspace(tmp_path)
    ws.write(_zone(api_http_interface=json.dumps(interface)))
    doc = json.loads(ws.run("validate", "--json").stdout)
    assert [d["summary"] for d in doc["diagnostics"]] == ["Plain HTTP API open on every interface"]
    plan = ws.run("plan", "--no-color").stdout
    assert "serves the API over plain HTTP on" in plan


@pytest.mark.parametrize(
    ("interface", "detail"),
    [
        # kuma-cp: "Interface cannot be empty", it does not start
        ("", "kuma-cp refuses to start with an empty api_http_interface"),
        # kuma-cp listens on net.JoinHostPort(interface, port): "[[::]]:5681" is no address
        ("[::]", '"[::]" is not an address kuma-cp can listen on'),
        ("127.0.0.1:5681", '"127.0.0.1:5681" is not an address kuma-cp can listen on'),
        (" 127.0.0.1", '" 127.0.0.1" is not an address kuma-cp can listen on'),
        ("10.0.0", '"10.0.0" is not an address kuma-cp can listen on'),
    ],
)
def test_an_interface_kuma_cp_cannot_listen_on_is_a_validate_error(tmp_path, interface, detail):
    ws = Workspace(tmp_path)
    ws.write(_zone(api_http_interface=json.dumps(interface)))
    (error,) = _errors(ws)
    assert error["summary"] == 'Invalid value for "api_http_interface"'
    assert detail in error["detail"]
    assert error["range"]["start"]["line"] == 9
    plan = ws.run("plan", "--no-color", code=1)
    assert 'Error: Invalid value for "api_http_interface"' in plan.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("interface", ["10.0.0.2", "::1", "localhost", "cp-eu.internal"])
def test_a_specific_interface_is_valid_and_reaches_the_env_file(tmp_path, interface):
    ws = Workspace(tmp_path)
    ws.write(_zone(api_http_interface=json.dumps(interface)))
    assert json.loads(ws.run("validate", "--json").stdout)["diagnostics"] == []
    ws.run("apply", "--auto-approve")
    env = kuma.parse_env_file((tmp_path / "out/zone.eu/kuma-cp.env").read_text())
    assert env["KUMA_API_SERVER_HTTP_INTERFACE"] == interface


@pytest.mark.parametrize("argument", ["work_dir", "dp_token_path"])
@pytest.mark.parametrize("path", ["", "kong-mesh", "./var/lib/kuma-dp/dataplane.token"])
def test_a_host_path_that_is_not_absolute_is_a_validate_error(tmp_path, argument, path):
    """kuma-cp.env and kuma-dp.env point kuma-cp and kuma-dp at these paths: a relative one
    resolves against whatever directory they start in, and an empty KUMA_GENERAL_WORK_DIR is
    $HOME/.kuma while the certificate paths would be /tls/..."""
    ws = Workspace(tmp_path)
    ws.write(_zone(**{argument: json.dumps(path)}))
    (error,) = _errors(ws)
    assert error["summary"] == f'Invalid value for "{argument}"'
    assert f'"{path}" is not an absolute path' in error["detail"]
    assert error["range"]["start"]["line"] == 9
    ws.run("apply", "--auto-approve", code=1)
    assert not (tmp_path / "out").exists()


def _hcl_string(text: str) -> str:
    """``text`` as an HCL string literal: JSON's escapes, and ``$${`` for a literal ``${``."""
    return json.dumps(text).replace("${", "$${").replace("%{", "%%{")


HOSTILE = "p'w\"$(touch PWNED1)`touch PWNED2`;touch PWNED3 $HOME ${PATH} \\$ *#x"


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_env_file_means_the_same_to_a_shell_that_sources_it(tmp_path, shell):
    """kuma-cp.env is a systemd EnvironmentFile, and operators also source it (``set -a;
    . ./kuma-cp.env; kuma-cp migrate up``): a free-form value (the store's password) must reach
    the shell as the same text, running nothing and expanding nothing."""
    ws = Workspace(tmp_path / "cfg")
    ws.write(
        'ca "cp" {\n  common_name = "CA"\n}\n'
        'control_plane "global" {\n  ca        = ca.cp\n  hostnames = ["g.mesh.test"]\n'
        f'  store {{\n    type     = "postgres"\n    host     = "db.mesh.test"\n'
        f'    user     = "kuma"\n    password = {_hcl_string(HOSTILE)}\n'
        '    db_name  = "kuma"\n    tls_ca   = ca.cp\n  }\n}\n'
    )
    ws.run("apply", "--auto-approve", "--no-color")
    env_file = tmp_path / "cfg/out/control_plane.global/kuma-cp.env"
    text = env_file.read_text()
    assert kuma.parse_env_file(text)["KUMA_STORE_POSTGRES_PASSWORD"] == HOSTILE
    shown = subprocess.run(
        [shell, "-c", 'set -a; . "$1"; printf "%s" "$KUMA_STORE_POSTGRES_PASSWORD"', shell,
         str(env_file)],
        cwd=tmp_path, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert shown.stdout == HOSTILE, shown.stderr
    assert shown.stderr == ""
    assert not list(tmp_path.rglob("PWNED*"))


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_verify_reads_an_env_file_as_systemd_and_a_shell_do(tmp_path, shell):
    """An edited kuma-cp.env opens the plain-HTTP API and hides the old setting after a line
    separator inside a quoted value: one line to systemd and a shell, two to Python's
    ``splitlines``. verify must see what kuma-cp gets."""
    ws = Workspace(tmp_path / "cfg")
    ws.write(_zone())
    ws.run("apply", "--auto-approve")
    env_file = ws.dir / "out/zone.eu/kuma-cp.env"
    text = env_file.read_text()
    opened = text.replace(
        "KUMA_API_SERVER_HTTP_INTERFACE=127.0.0.1\n", "KUMA_API_SERVER_HTTP_INTERFACE=0.0.0.0\n"
    )
    assert opened != text
    env_file.write_text(opened + 'KUMA_NOTE="x\u2028KUMA_API_SERVER_HTTP_INTERFACE=127.0.0.1"\n')
    shown = subprocess.run(
        [shell, "-c", 'set -a; . "$1"; printf "%s" "$KUMA_API_SERVER_HTTP_INTERFACE"', shell,
         str(env_file)],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    assert shown == "0.0.0.0"
    assert kuma.parse_env_file(env_file.read_text())["KUMA_API_SERVER_HTTP_INTERFACE"] == shown
    doc = json.loads(ws.run("verify", "--json", code=1).stdout)
    failed = [
        check["detail"]
        for check in doc["checks"]
        if not check["ok"] and check["check"] == "http_interface"
    ]
    assert failed and "KUMA_API_SERVER_HTTP_INTERFACE=0.0.0.0" in failed[0], doc
