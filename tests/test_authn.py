"""Control planes that accept only meshprov's keys (SPEC §1.4–§1.8, §3), end to end.

``examples/authentication`` is applied once: a Universal global, a Universal zone and a
Kubernetes zone, with every kind of key and token. The tests read what a Kong Mesh operator
would deploy: ``kuma-cp.yaml`` and ``values.yaml``'s ``kuma.controlPlane.config`` parsed as
YAML at the exact key paths of the reference, env files with the exact variable names, the
Kubernetes manifests and the Secret keys they reference. Every token is verified with the
public key taken from the config of the control plane it is for, by PyJWT and by
``openssl dgst -sha256 -verify`` over the JWS signing input.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest
import yaml
from click.testing import CliRunner, Result
from tests.support.engine import JWT_PREFIX, shows_a_token
from tests.test_tokens import openssl_verifies

from meshprov.cli import cli

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples/authentication"
WORK_DIR = "/var/lib/kong-mesh"

# the kuma-cp config file paths of the public keys (reference §2), by key kind
KEY_PATHS = {
    "user": ("apiServer", "authn", "tokens", "validator", "publicKeys"),
    "dataplane": ("dpServer", "authn", "dpProxy", "dpToken", "validator", "publicKeys"),
    "zone_proxy": ("dpServer", "authn", "zoneProxy", "zoneToken", "validator", "publicKeys"),
    "zone_cp": (
        "kmesh",
        "multizone",
        "global",
        "kds",
        "auth",
        "cpToken",
        "validator",
        "publicKeys",
    ),
}
USER_ENV = {
    "KUMA_API_SERVER_AUTHN_TYPE": "tokens",
    "KUMA_API_SERVER_AUTHN_TOKENS_ENABLE_ISSUER": "false",
    "KUMA_API_SERVER_AUTHN_TOKENS_VALIDATOR_USE_SECRETS": "false",
    "KUMA_API_SERVER_AUTHN_TOKENS_BOOTSTRAP_ADMIN_TOKEN": "false",
    "KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN": "false",
}
DP_ENV = {
    "KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE": "dpToken",
    "KUMA_DP_SERVER_AUTHN_DP_PROXY_DP_TOKEN_ENABLE_ISSUER": "false",
    "KUMA_DP_SERVER_AUTHN_DP_PROXY_DP_TOKEN_VALIDATOR_USE_SECRETS": "false",
}
ZONE_PROXY_ENV = {
    "KUMA_DP_SERVER_AUTHN_ZONE_PROXY_TYPE": "zoneToken",
    "KUMA_DP_SERVER_AUTHN_ZONE_PROXY_ZONE_TOKEN_ENABLE_ISSUER": "false",
    "KUMA_DP_SERVER_AUTHN_ZONE_PROXY_ZONE_TOKEN_VALIDATOR_USE_SECRETS": "false",
}
KDS_GLOBAL_ENV = {
    "KMESH_MULTIZONE_GLOBAL_KDS_AUTH_TYPE": "cpToken",
    "KMESH_MULTIZONE_GLOBAL_KDS_AUTH_CP_TOKEN_ENABLE_ISSUER": "false",
    "KMESH_MULTIZONE_GLOBAL_KDS_AUTH_CP_TOKEN_VALIDATOR_USE_SECRETS": "false",
}
KDS_TOKEN_ENV = "KMESH_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH"
KDS_TOKEN_INLINE_ENV = "KMESH_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_INLINE"
OUT = {
    "control_plane.global": "out/control_plane.global",
    "zone.eu_west": "out/zone.eu_west",
    "zone.eu_central": "out/zone.eu_central",
}


# --- running meshprov ------------------------------------------------------------------------


def run(directory: Path, *args: str, code: int | None = 0) -> Result:
    result = CliRunner().invoke(cli, ["-C", str(directory), *args], catch_exceptions=False)
    if code is not None:
        assert result.exit_code == code, (
            f"meshprov {' '.join(args)} exited {result.exit_code}, want {code}\n{result.output}"
        )
    assert "Traceback" not in result.output
    return result


def attributes(directory: Path, address: str) -> dict:
    state = json.loads((directory / "state/default.json").read_text())
    for resource in state["resources"]:
        if resource["address"] == address:
            return resource["attributes"]
    raise KeyError(address)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def read_env(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line and not line.startswith("#")
    )


def dig(doc: dict, path: tuple[str, ...]):
    for key in path:
        doc = doc[key]
    return doc


@dataclass
class Applied:
    directory: Path
    output: str

    def out(self, address: str) -> Path:
        return self.directory / OUT[address]

    def copy(self, to: Path) -> Path:
        shutil.copytree(self.directory, to, symlinks=True)
        return to


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    directory = tmp_path_factory.mktemp("authn") / "example"
    shutil.copytree(EXAMPLE, directory)
    result = run(directory, "apply", "--auto-approve")
    return Applied(directory, result.output)


def cp_config(example: Applied, address: str) -> dict:
    """The kuma-cp config a control plane runs with: kuma-cp.yaml, or the Helm values' string."""
    out = example.out(address)
    if (out / "values.yaml").exists():
        values = yaml.safe_load((out / "values.yaml").read_text())
        return yaml.safe_load(values["kuma"]["controlPlane"]["config"])
    assert mode(out / "kuma-cp.yaml") == 0o644
    return yaml.safe_load((out / "kuma-cp.yaml").read_text())


def accepted_keys(example: Applied, address: str, kind: str) -> dict[str, str]:
    """kid → public key PEM, as written in that control plane's config."""
    entries = dig(cp_config(example, address), KEY_PATHS[kind])
    return {entry["kid"]: entry["key"] for entry in entries}


def key_state(example: Applied, name: str) -> dict:
    return attributes(example.directory, f"signing_key.{name}")


def secrets_of(out: Path) -> dict[str, dict[str, str]]:
    """Secret name → key → decoded value, from secrets.yaml."""
    found = {}
    for doc in yaml.safe_load_all((out / "secrets.yaml").read_text()):
        assert doc["kind"] == "Secret"
        found[doc["metadata"]["name"]] = {
            k: base64.b64decode(v).decode() for k, v in doc["data"].items()
        }
    return found


def assert_token_accepted(
    token: str, keys: dict[str, str], work: Path, claims: dict | None = None
) -> dict:
    """The token verifies with the key its kid names among ``keys``: PyJWT and openssl."""
    kid = jwt.get_unverified_header(token)["kid"]
    assert kid in keys, f"kid {kid} not among {sorted(keys)}"
    assert openssl_verifies(token, keys[kid], work)
    decoded = jwt.decode(token, keys[kid], algorithms=["RS256"])
    assert decoded["exp"] > datetime.now(UTC).timestamp()
    for name, value in (claims or {}).items():
        assert decoded[name] == value, name
    return decoded


# === the config files ========================================================================


def test_each_cp_lists_exactly_its_keys(example: Applied) -> None:
    def entry(name: str, mesh: bool = False) -> dict:
        key = key_state(example, name)
        out = {"kid": key["kid"], "key": key["public_key_pem"]}
        return {**out, "mesh": key["mesh"]} if mesh else out

    glob = cp_config(example, "control_plane.global")
    assert dig(glob, KEY_PATHS["user"]) == [entry("users")]
    assert dig(glob, KEY_PATHS["zone_cp"]) == [entry("kds")]
    assert "dpServer" not in glob

    zone = cp_config(example, "zone.eu_west")
    assert dig(zone, KEY_PATHS["user"]) == [entry("users")]
    assert dig(zone, KEY_PATHS["dataplane"]) == [entry("dataplanes", mesh=True)]
    assert dig(zone, KEY_PATHS["dataplane"])[0]["mesh"] == "default"
    assert dig(zone, KEY_PATHS["zone_proxy"]) == [entry("zone_proxies")]
    assert "kmesh" not in zone

    k8s = cp_config(example, "zone.eu_central")
    assert k8s == {
        "apiServer": {"authn": {"tokens": {"validator": {"publicKeys": [entry("users")]}}}}
    }


def test_env_turns_issuers_and_secret_keys_off(example: Applied) -> None:
    glob = read_env(example.out("control_plane.global") / "kuma-cp.env")
    assert glob.items() >= {**USER_ENV, **KDS_GLOBAL_ENV}.items()
    zone = read_env(example.out("zone.eu_west") / "kuma-cp.env")
    assert zone.items() >= {**USER_ENV, **DP_ENV, **ZONE_PROXY_ENV}.items()
    assert zone[KDS_TOKEN_ENV] == f"{WORK_DIR}/tokens/kds.token"
    assert not any(k.startswith("KMESH_MULTIZONE_GLOBAL") for k in zone)
    # the env file names the config file kuma-cp must be started with
    text = (example.out("zone.eu_west") / "kuma-cp.env").read_text()
    assert f"--config-file={WORK_DIR}/kuma-cp.yaml" in text


def test_files_and_modes(example: Applied) -> None:
    zone = example.out("zone.eu_west")
    assert mode(zone / "tokens/kds.token") == 0o600
    assert mode(zone / "kumactl.token") == 0o600
    assert mode(zone / "access-role-binding.yaml") == 0o644
    glob = example.out("control_plane.global")
    assert not (glob / "tokens").exists()
    for path in (zone / "tokens/kds.token", zone / "kumactl.token"):
        text = path.read_text()
        assert text.startswith(JWT_PREFIX) and text.endswith("\n") and text.count("\n") == 1
    k8s = example.out("zone.eu_central")
    assert sorted(p.name for p in k8s.iterdir() if p.is_file()) == [
        "access-role-binding.yaml",
        "kumactl.sh",
        "kumactl.token",
        "prometheus-kuma-sd.yml",
        "secrets.yaml",
        "values.yaml",
    ]


def test_kubernetes_values_reference_existing_secret_keys(example: Applied) -> None:
    out = example.out("zone.eu_central")
    control_plane = yaml.safe_load((out / "values.yaml").read_text())["kuma"]["controlPlane"]
    assert control_plane["envVars"].items() >= USER_ENV.items()
    assert control_plane["secrets"] == [
        {"Env": KDS_TOKEN_INLINE_ENV, "Secret": "kds-cp-token", "Key": "token"}
    ]
    secrets = secrets_of(out)
    for ref in control_plane["secrets"]:
        assert ref["Key"] in secrets[ref["Secret"]]
    token = secrets["kds-cp-token"]["token"]
    assert token.startswith(JWT_PREFIX) and "\n" not in token


# === tokens against the keys their CP was given ==============================================


def test_kds_tokens_verify_with_the_globals_keys(example: Applied, tmp_path: Path) -> None:
    keys = accepted_keys(example, "control_plane.global", "zone_cp")
    eu_west = (example.out("zone.eu_west") / "tokens/kds.token").read_text().strip()
    assert_token_accepted(eu_west, keys, tmp_path / "w", {"Zone": "eu-west", "Scope": ["cp"]})
    eu_central = secrets_of(example.out("zone.eu_central"))["kds-cp-token"]["token"]
    assert_token_accepted(eu_central, keys, tmp_path / "c", {"Zone": "eu-central"})


def test_kumactl_token_verifies_with_each_cps_user_keys(example: Applied, tmp_path: Path) -> None:
    for address in OUT:
        token = (example.out(address) / "kumactl.token").read_text().strip()
        keys = accepted_keys(example, address, "user")
        assert_token_accepted(
            token,
            keys,
            tmp_path / address,
            {"Name": "alice@example.com", "Groups": ["mesh-system:admin"]},
        )


def test_proxy_tokens_verify_with_the_zones_keys(example: Applied, tmp_path: Path) -> None:
    tokens = example.directory / "tokens"
    dp_keys = accepted_keys(example, "zone.eu_west", "dataplane")
    assert_token_accepted(
        (tokens / "dataplanes/web-01.token").read_text().strip(),
        dp_keys,
        tmp_path / "dp",
        {"Name": "web-01", "Mesh": "default", "Tags": {"kuma.io/service": ["web"]}},
    )
    proxy_keys = accepted_keys(example, "zone.eu_west", "zone_proxy")
    for scope in ("ingress", "egress"):
        token = (tokens / f"eu-west-{scope}.token").read_text().strip()
        assert_token_accepted(
            token, proxy_keys, tmp_path / scope, {"Zone": "eu-west", "Scope": [scope]}
        )
    # a zone proxy token is not accepted as a dataplane token: another key
    token = (tokens / "eu-west-ingress.token").read_text().strip()
    assert jwt.get_unverified_header(token)["kid"] not in dp_keys


def test_kumactl_sh_reads_the_token_file(example: Applied, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "kumactl"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$KUMACTL_ARGS"\n')
    fake.chmod(0o755)
    for address in OUT:
        out = example.out(address)
        script = (out / "kumactl.sh").read_text()
        assert not shows_a_token(script)
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        env["KUMACTL_ARGS"] = str(tmp_path / "args")
        subprocess.run([str(out / "kumactl.sh")], env=env, check=True, timeout=30)
        args = (tmp_path / "args").read_text().splitlines()
        assert "--auth-type=tokens" in args
        token = (out / "kumactl.token").read_text().strip()
        assert args[args.index("--auth-conf") + 1] == f"token={token}"


def test_access_role_bindings(example: Applied) -> None:
    universal = yaml.safe_load(
        (example.out("zone.eu_west") / "access-role-binding.yaml").read_text()
    )
    assert universal == {
        "type": "AccessRoleBinding",
        "name": "default",
        "subjects": [{"type": "Group", "name": "mesh-system:admin"}],
        "roles": ["admin"],
    }
    k8s = yaml.safe_load((example.out("zone.eu_central") / "access-role-binding.yaml").read_text())
    assert k8s == {
        "apiVersion": "kuma.io/v1alpha1",
        "kind": "AccessRoleBinding",
        "metadata": {"name": "default"},
        "spec": {
            "subjects": [{"type": "Group", "name": "mesh-system:admin"}],
            "roles": ["admin"],
        },
    }


# === rotation ================================================================================


ROTATION = """\
ca "cp" {
  common_name = "CP CA"
}

signing_key "dp_old" {
  kind     = "dataplane"
  key_size = 2048
}

signing_key "dp_new" {
  kind     = "dataplane"
  key_size = 2048
}

zone "eu" {
  ca            = ca.cp
  addresses     = ["10.0.0.1"]
  dp_token_keys = [KEYS]
}

token "web" {
  signing_key = signing_key.SIGNER
  mesh        = "default"
  output_file = "web.token"
}

token "api" {
  signing_key = signing_key.dp_old
  mesh        = "default"
  output_file = "api.token"
}
"""


def rotation(keys: str, signer: str) -> str:
    return ROTATION.replace("KEYS", keys).replace("SIGNER", signer)


def plan_actions(directory: Path, planfile: Path, *args: str) -> dict[str, tuple[str, str]]:
    run(directory, "plan", "--out", str(planfile), *args)
    doc = json.loads(planfile.read_text())
    return {
        c["address"]: (c["action"], c["reason"]) for c in doc["changes"] if c["action"] != "no-op"
    }


def zone_dp_keys(directory: Path) -> dict[str, str]:
    config = yaml.safe_load((directory / "out/zone.eu/kuma-cp.yaml").read_text())
    return {e["kid"]: e["key"] for e in dig(config, KEY_PATHS["dataplane"])}


def test_key_rotation_with_an_overlap(tmp_path: Path) -> None:
    """Phase 1 lists both keys; phase 2 moves a token to the new key while the other token
    still uses the old one: both generations verify with the zone's list of two keys."""
    directory = tmp_path / "cfg"
    directory.mkdir()
    (directory / "main.hcl").write_text(rotation("signing_key.dp_old", "dp_old"))
    run(directory, "apply", "--auto-approve")
    old_web = (directory / "web.token").read_text().strip()
    assert len(zone_dp_keys(directory)) == 1

    (directory / "main.hcl").write_text(
        rotation("signing_key.dp_old, signing_key.dp_new", "dp_old")
    )
    assert plan_actions(directory, tmp_path / "p1.plan") == {"zone.eu": ("update", None)}
    run(directory, "apply", str(tmp_path / "p1.plan"))
    assert len(zone_dp_keys(directory)) == 2
    assert_token_accepted(old_web, zone_dp_keys(directory), tmp_path / "old")

    (directory / "main.hcl").write_text(
        rotation("signing_key.dp_old, signing_key.dp_new", "dp_new")
    )
    actions = plan_actions(directory, tmp_path / "p2.plan")
    assert actions == {"token.web": ("create-delete", "replace_because_cannot_update")}
    run(directory, "apply", str(tmp_path / "p2.plan"))
    keys = zone_dp_keys(directory)
    new_web = (directory / "web.token").read_text().strip()
    api = (directory / "api.token").read_text().strip()
    new_kid = key_state_of(directory, "dp_new")["kid"]
    assert jwt.get_unverified_header(new_web)["kid"] == new_kid
    assert jwt.get_unverified_header(api)["kid"] != new_kid
    for name, token in (("new", new_web), ("api", api), ("old", old_web)):
        assert_token_accepted(token, keys, tmp_path / f"both-{name}")
    assert run(directory, "verify").exit_code == 0


def key_state_of(directory: Path, name: str) -> dict:
    return attributes(directory, f"signing_key.{name}")


def test_replacing_a_key_updates_the_cps_that_accept_it(example: Applied, tmp_path: Path) -> None:
    directory = example.copy(tmp_path / "cfg")
    old = key_state(example, "kds")["kid"]
    actions = plan_actions(directory, tmp_path / "r.plan", "--replace", "signing_key.kds")
    assert actions == {
        "signing_key.kds": ("create-delete", "replace_by_request"),
        "token.kds_eu_west": ("update", "update_because_key_replaced"),
        "token.kds_eu_central": ("update", "update_because_key_replaced"),
        "control_plane.global": ("update", "update_because_key_replaced"),
        # the zones present new tokens: their files change
        "zone.eu_west": ("update", None),
        "zone.eu_central": ("update", None),
    }
    run(directory, "apply", str(tmp_path / "r.plan"))
    keys = dig(
        yaml.safe_load((directory / OUT["control_plane.global"] / "kuma-cp.yaml").read_text()),
        KEY_PATHS["zone_cp"],
    )
    assert [k["kid"] for k in keys] == [attributes(directory, "signing_key.kds")["kid"]] != [old]
    token = (directory / OUT["zone.eu_west"] / "tokens/kds.token").read_text().strip()
    assert_token_accepted(token, {k["kid"]: k["key"] for k in keys}, tmp_path / "t")


# === RBAC ====================================================================================


SMALL = """\
ca "cp" {
  common_name = "CP CA"
}

control_plane "global" {
  ca        = ca.cp
  hostnames = ["global.mesh.test"]
  GROUPS
}
"""


def test_admin_groups_null_writes_no_binding(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    directory.mkdir()
    (directory / "main.hcl").write_text(SMALL.replace("GROUPS", "admin_groups = null"))
    run(directory, "apply", "--auto-approve")
    assert not (directory / "out/control_plane.global/access-role-binding.yaml").exists()
    assert attributes(directory, "control_plane.global")["admin_groups"] is None
    (directory / "main.hcl").write_text(SMALL.replace("GROUPS", ""))
    run(directory, "apply", "--auto-approve")
    binding = yaml.safe_load(
        (directory / "out/control_plane.global/access-role-binding.yaml").read_text()
    )
    assert binding["subjects"] == [{"type": "Group", "name": "mesh-system:admin"}]


def test_an_unauthenticated_admin_group_is_a_warning(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    directory.mkdir()
    (directory / "main.hcl").write_text(
        SMALL.replace(
            "GROUPS", 'admin_groups = ["mesh-system:admin", "mesh-system:unauthenticated"]'
        )
    )
    result = run(directory, "validate")
    assert "Warning: Unauthenticated callers are admin" in result.output
    assert "main.hcl line 8" in result.output


# === verify, impact and notices ==============================================================


def verify_rows(directory: Path, code: int) -> dict[tuple[str, str], dict]:
    result = run(directory, "verify", "--json", code=code)
    assert not shows_a_token(result.output) and "PRIVATE KEY" not in result.output
    doc = json.loads(result.stdout)
    return {(row["channel"], row["control_plane"]): row for row in doc["rows"]}


def test_verify_checks_every_token_against_its_cps_written_keys(example: Applied) -> None:
    rows = verify_rows(example.directory, 0)
    for token, cp, channel in (
        ("token.admin", "zone.eu_central", "user→api (5682)"),
        ("token.web_01", "zone.eu_west", "dp→cp (5678)"),
        ("token.eu_west_ingress", "zone.eu_west", "dp→cp (5678)"),
        ("token.kds_eu_west", "control_plane.global", "zone→global kds (5685)"),
    ):
        row = rows[(channel, f"{token} → {cp}")]
        assert row["ok"] and "verifies with" in row["detail"], row


def test_verify_fails_a_token_whose_key_the_cp_does_not_list(
    example: Applied, tmp_path: Path
) -> None:
    """The global's config is edited to list another key under the KDS key's kid."""
    directory = example.copy(tmp_path / "cfg")
    path = directory / OUT["control_plane.global"] / "kuma-cp.yaml"
    config = yaml.safe_load(path.read_text())
    entry = dig(config, KEY_PATHS["zone_cp"])[0]
    entry["key"] = key_state(example, "users")["public_key_pem"]
    path.write_text(yaml.safe_dump(config))
    rows = verify_rows(directory, 1)
    row = rows[("zone→global kds (5685)", "token.kds_eu_west → control_plane.global")]
    assert not row["ok"] and row["failed_checks"] == ["signature"], row
    assert f"kid {entry['kid']} names a key whose kid is" in row["detail"]
    pair = rows[("zone→global kds (5685)", "zone.eu_west → control_plane.global")]
    assert "token_keys" in pair["failed_checks"]
    # dropping the key from the list: the token's kid is not listed
    dig(config, KEY_PATHS["zone_cp"]).clear()
    path.write_text(yaml.safe_dump(config))
    row = verify_rows(directory, 1)[
        ("zone→global kds (5685)", "token.kds_eu_west → control_plane.global")
    ]
    assert "is not among the public keys the control plane lists" in row["detail"]


def test_verify_fails_issuers_on_and_an_anonymous_admin(example: Applied, tmp_path: Path) -> None:
    directory = example.copy(tmp_path / "cfg")
    env = directory / OUT["zone.eu_west"] / "kuma-cp.env"
    env.write_text(
        env.read_text().replace(
            "KUMA_API_SERVER_AUTHN_TOKENS_ENABLE_ISSUER=false",
            "KUMA_API_SERVER_AUTHN_TOKENS_ENABLE_ISSUER=true",
        )
    )
    binding = directory / OUT["zone.eu_west"] / "access-role-binding.yaml"
    doc = yaml.safe_load(binding.read_text())
    doc["subjects"].append({"type": "Group", "name": "mesh-system:unauthenticated"})
    binding.write_text(yaml.safe_dump(doc))
    row = verify_rows(directory, 1)[("user→api (5682)", "zone.eu_west")]
    assert {"issuer", "rbac"} <= set(row["failed_checks"]), row


def test_plan_impact_and_notices(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    shutil.copytree(EXAMPLE, directory)
    markdown = tmp_path / "plan.md"
    result = run(directory, "plan", "--markdown", str(markdown))
    text = markdown.read_text()
    for output in (result.output, text):
        assert not shows_a_token(output) and "PRIVATE KEY" not in output
        assert 'user "alice@example.com" (groups mesh-system:admin): token issued' in output
    out = result.output
    assert (
        "signing_key.users: user signing key created; accepted by control_plane.global, "
        "zone.eu_central, zone.eu_west"
    ) in out
    assert "zone.eu_west: accepts dataplane tokens signed by signing_key.dataplanes only" in out
    assert "- `signing_key.users`: user signing key created; accepted by control" in text
    doc = json.loads(run(directory, "plan", "--json").stdout)
    notices = {(n["address"], n["action"]) for n in doc["meshprov_notices"]}
    assert ("zone.eu_west", "kumactl apply -f access-role-binding.yaml") in notices
    assert ("zone.eu_central", "kubectl apply -f access-role-binding.yaml") in notices
    assert (
        "token.web_01",
        "hand out tokens/dataplanes/web-01.token to its data plane host "
        "(kuma-dp --dataplane-token-file)",
    ) in notices
    run(directory, "apply", "--auto-approve")
    doc = json.loads(run(directory, "plan", "--json", "--replace", "signing_key.users").stdout)
    notices = {(n["address"], n["action"]): n["reason"] for n in doc["meshprov_notices"]}
    assert "token public key it accepts is replaced" in notices[("zone.eu_west", "restart kuma-cp")]
    assert ("zone.eu_west", "run kumactl.sh again") in notices
    reasons = {rc["address"]: rc.get("action_reason") for rc in doc["resource_changes"]}
    assert reasons["token.admin"] == "update_because_key_replaced"
    assert reasons["zone.eu_west"] == "update_because_key_replaced"


def test_anonymous_admin_is_in_the_security_impact(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    directory.mkdir()
    (directory / "main.hcl").write_text(
        SMALL.replace("GROUPS", 'admin_groups = ["mesh-system:unauthenticated"]')
    )
    out = run(directory, "plan").output
    assert (
        "control_plane.global's AccessRoleBinding makes mesh-system:unauthenticated admin"
    ) in out
    impact = out.split("Security impact:", 1)[1].split("After apply:", 1)[0]
    # said once in the impact: the validate warning's fact is not repeated there
    assert impact.count("mesh-system:unauthenticated") == 1, impact


def test_destroy_removes_every_file_and_directory(example: Applied, tmp_path: Path) -> None:
    directory = example.copy(tmp_path / "cfg")
    run(directory, "destroy", "--auto-approve")
    assert not (directory / "out").exists() or not any((directory / "out").iterdir())
    assert not any(p.is_file() for p in (directory / "tokens").rglob("*"))


def test_a_null_claim_of_another_kind_counts_as_left_out(tmp_path: Path) -> None:
    """As in Terraform, ``mesh = null`` is the same as no ``mesh``: a module passing its
    optional inputs through can issue user tokens; a real value is still refused."""
    directory = tmp_path / "cfg"
    directory.mkdir()
    config = """
    variable "mesh" { default = null }
    signing_key "users" {
      kind = "user"
    }
    token "alice" {
      signing_key = signing_key.users
      user_name   = "alice"
      mesh        = var.mesh
    }
    """
    (directory / "main.hcl").write_text(config)
    assert "Success!" in run(directory, "validate").stdout
    (directory / "main.hcl").write_text(config.replace("default = null", 'default = "m"'))
    refused = run(directory, "validate", code=1)
    assert "Claim not of the key's kind" in refused.output
