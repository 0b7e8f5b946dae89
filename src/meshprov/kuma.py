"""Kong Mesh knowledge: environment variables, ports, Helm keys, and the files apply writes.

Every name here comes from ``shared/reference/kuma-security.md`` (kuma v2.14.3 sources): the
env var is the upper-cased ``envconfig`` tag, and the kong-mesh Helm chart nests the kuma chart
under ``kuma.``. ``render_artifacts`` is a pure function from a control plane's settings and
PEMs to file contents and modes; resources write them.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass
from types import MappingProxyType

import yaml

MADS_PORT = 5676
GENERAL_SECRET = "general-tls-certs"
API_SECRET = "api-server-tls"
KDS_SERVER_SECRET = "kds-server-tls"
KDS_CA_SECRET = "kds-ca-certs"


@dataclass(frozen=True)
class Artifact:
    content: bytes
    mode: int


@dataclass(frozen=True)
class ZoneSettings:
    dp_port: int
    mads_tls: bool
    dp_authn: str
    zone_proxy_authn: str
    global_address: str | None  # grpcs://host:port of the global, None when standalone
    kds_ca_pem: str | None  # the global's CA chain
    dp_token_path: str = "/var/lib/kuma-dp/dataplane.token"  # on data plane hosts


@dataclass(frozen=True)
class PublicKey:
    """A token signing key's public half as kuma-cp's config lists it."""

    kid: str
    pem: str
    mesh: str | None = None  # dataplane keys: the mesh it is valid for (None: every mesh)


@dataclass(frozen=True)
class AuthnSettings:
    """Which token keys a control plane accepts, the tokens it presents, and its RBAC binding.

    Each non-empty key list turns the control plane's own issuer and secret-stored keys off
    for that kind of token (SPEC §1.8).
    """

    user_keys: tuple[PublicKey, ...] = ()
    dp_keys: tuple[PublicKey, ...] = ()  # zones
    zone_proxy_keys: tuple[PublicKey, ...] = ()  # zones
    kds_keys: tuple[PublicKey, ...] = ()  # a global
    kds_token: str | None = None  # a zone: the token it presents to its global
    kumactl_token: str | None = None  # the user token kumactl.sh registers with
    admin_groups: tuple[str, ...] | None = None  # None: no AccessRoleBinding written


@dataclass(frozen=True)
class ControlPlaneSpec:
    """Everything the artifacts of one control plane depend on."""

    name: str  # the zone name, or the global's name
    environment: str  # "universal" or "kubernetes"
    work_dir: str
    namespace: str
    dial_host: str
    tls_min_version: str
    api_http_interface: str
    api_https_port: int
    cert_pem: str  # the server certificate alone
    key_pem: str
    ca_chain_pem: str  # what verifies cert_pem
    api_cert_pem: str | None = None  # with api_separate_cert
    api_key_pem: str | None = None
    kds_port: int | None = None  # a global
    zone: ZoneSettings | None = None  # a zone
    authn: AuthnSettings = AuthnSettings()

    @property
    def mode(self) -> str:
        return "zone" if self.zone is not None else "global"

    def path(self, relative: str) -> str:
        """Where a file of the output directory lives on the control plane host."""
        return f"{self.work_dir.rstrip('/')}/{relative}"


def render_artifacts(spec: ControlPlaneSpec) -> dict[str, Artifact]:
    """The files of SPEC §3 for this control plane, keyed by path relative to its output dir."""
    files: dict[str, Artifact] = {}
    chain = _join(spec.cert_pem, spec.ca_chain_pem)
    files["tls/ca.crt"] = Artifact(spec.ca_chain_pem.encode(), 0o644)
    files["kumactl.sh"] = Artifact(_kumactl(spec).encode(), 0o755)
    if spec.zone is not None and spec.zone.mads_tls:
        files["prometheus-kuma-sd.yml"] = Artifact(_prometheus(spec).encode(), 0o644)
    files.update(_authn_files(spec))
    if spec.environment == "kubernetes":
        files["secrets.yaml"] = Artifact(_secrets(spec, chain).encode(), 0o600)
        files["values.yaml"] = Artifact(_values(spec).encode(), 0o644)
        return files
    files["tls/tls.crt"] = Artifact(chain.encode(), 0o644)
    files["tls/tls.key"] = Artifact(spec.key_pem.encode(), 0o600)
    if spec.api_cert_pem and spec.api_key_pem:
        files["tls/api.crt"] = Artifact(_join(spec.api_cert_pem, spec.ca_chain_pem).encode(), 0o644)
        files["tls/api.key"] = Artifact(spec.api_key_pem.encode(), 0o600)
    if spec.zone is not None and spec.zone.kds_ca_pem and spec.zone.global_address:
        files["tls/kds-ca.crt"] = Artifact(spec.zone.kds_ca_pem.encode(), 0o644)
    files["kuma-cp.env"] = Artifact(_cp_env_file(spec).encode(), 0o600)
    if spec.zone is not None:
        files["kuma-dp.env"] = Artifact(_env_file(dp_environment(spec)).encode(), 0o644)
    return files


def cp_environment(spec: ControlPlaneSpec) -> dict[str, str]:
    """kuma-cp's environment on a Universal host (systemd EnvironmentFile)."""
    api_cert, api_key = (
        ("tls/api.crt", "tls/api.key")
        if spec.api_cert_pem
        else (
            "tls/tls.crt",
            "tls/tls.key",
        )
    )
    env = {
        "KUMA_MODE": spec.mode,
        "KUMA_GENERAL_WORK_DIR": spec.work_dir,
        "KUMA_GENERAL_TLS_CERT_FILE": spec.path("tls/tls.crt"),
        "KUMA_GENERAL_TLS_KEY_FILE": spec.path("tls/tls.key"),
        # the general minimum overrides every server's own setting (kuma autoconfig.go)
        "KUMA_GENERAL_TLS_MIN_VERSION": spec.tls_min_version,
        "KUMA_API_SERVER_HTTP_INTERFACE": spec.api_http_interface,
        "KUMA_API_SERVER_HTTPS_PORT": str(spec.api_https_port),
        "KUMA_API_SERVER_HTTPS_TLS_CERT_FILE": spec.path(api_cert),
        "KUMA_API_SERVER_HTTPS_TLS_KEY_FILE": spec.path(api_key),
    }
    if spec.zone is None:
        env["KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT"] = str(spec.kds_port)
        env["KUMA_MULTIZONE_GLOBAL_KDS_TLS_CERT_FILE"] = spec.path("tls/tls.crt")
        env["KUMA_MULTIZONE_GLOBAL_KDS_TLS_KEY_FILE"] = spec.path("tls/tls.key")
        env.update(authn_environment(spec))
        return env
    zone = spec.zone
    env["KUMA_MULTIZONE_ZONE_NAME"] = spec.name
    env["KUMA_DP_SERVER_PORT"] = str(zone.dp_port)
    env["KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE"] = zone.dp_authn
    env["KUMA_DP_SERVER_AUTHN_ZONE_PROXY_TYPE"] = zone.zone_proxy_authn
    env["KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_ENABLED"] = _bool(zone.mads_tls)
    if zone.global_address:
        env["KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS"] = zone.global_address
        env["KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE"] = spec.path("tls/kds-ca.crt")
    env.update(authn_environment(spec))
    if spec.authn.kds_token is not None:
        env[Authn.ZONE_KDS_TOKEN_PATH_ENV] = spec.path(Authn.KDS_TOKEN_FILE)
    return env


def dp_environment(spec: ControlPlaneSpec) -> dict[str, str]:
    """kuma-dp's environment: where the zone CP is, and the CA that verifies it."""
    assert spec.zone is not None
    env = {
        "KUMA_CONTROL_PLANE_URL": f"https://{url_host(spec.dial_host)}:{spec.zone.dp_port}",
        "KUMA_CONTROL_PLANE_CA_CERT_FILE": spec.path("tls/ca.crt"),
    }
    if spec.zone.dp_authn == "dpToken":
        env[Authn.DP_TOKEN_PATH_ENV] = spec.zone.dp_token_path
    return env


def _kumactl(spec: ControlPlaneSpec) -> str:
    address = f"https://{url_host(spec.dial_host)}:{spec.api_https_port}"
    name, url = shlex.quote(f"--name={spec.name}"), shlex.quote(f"--address={address}")
    lines = [
        "#!/bin/sh",
        f"# Point kumactl at the {spec.mode} control plane {spec.name!r}, verifying its API",
        "# server certificate with the CA next to this script.",
    ]
    auth = ""
    if spec.authn.kumactl_token is not None:
        # read at run time: the token never sits in this script, which is not a secret
        lines.append(f"# It authenticates with the user token in {Authn.KUMACTL_TOKEN_FILE}.")
        auth = ' --auth-type=tokens --auth-conf "token=$token"'
    lines += ["set -eu", 'here="$(cd "$(dirname "$0")" && pwd)"']
    if auth:
        lines.append(f'token="$(cat "$here/{Authn.KUMACTL_TOKEN_FILE}")"')
    lines.append(
        f"exec kumactl config control-planes add {name} {url} "
        f'--ca-cert-file="$here/tls/ca.crt"{auth} --overwrite'
    )
    return "\n".join(lines) + "\n"


def _prometheus(spec: ControlPlaneSpec) -> str:
    job = {
        "scrape_configs": [
            {
                "job_name": f"kuma-dataplanes-{spec.name}",
                "scrape_interval": "15s",
                "kuma_sd_configs": [
                    {
                        "server": f"https://{url_host(spec.dial_host)}:{MADS_PORT}",
                        "refresh_interval": "60s",
                        # relative to this file, as Prometheus resolves it
                        "tls_config": {"ca_file": "tls/ca.crt"},
                    }
                ],
            }
        ]
    }
    return "# Prometheus scrape job discovering data plane proxies through MADS over TLS.\n" + (
        yaml.safe_dump(job, sort_keys=False)
    )


def _secret(name: str, namespace: str, kind: str, data: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": kind,
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def _secrets(spec: ControlPlaneSpec, chain: str) -> str:
    secrets = [
        _secret(
            GENERAL_SECRET,
            spec.namespace,
            "Opaque",
            {"tls.crt": chain, "tls.key": spec.key_pem, "ca.crt": spec.ca_chain_pem},
        )
    ]
    if spec.zone is None:
        secrets.append(
            _secret(
                KDS_SERVER_SECRET,
                spec.namespace,
                "kubernetes.io/tls",
                {"tls.crt": chain, "tls.key": spec.key_pem},
            )
        )
    elif spec.zone.global_address and spec.zone.kds_ca_pem:
        secrets.append(
            _secret(KDS_CA_SECRET, spec.namespace, "Opaque", {"ca.crt": spec.zone.kds_ca_pem})
        )
    if spec.authn.kds_token is not None:
        secrets.append(
            _secret(
                Authn.KDS_TOKEN_SECRET,
                spec.namespace,
                "Opaque",
                {Authn.KDS_TOKEN_SECRET_KEY: spec.authn.kds_token},
            )
        )
    if spec.api_cert_pem and spec.api_key_pem:
        secrets.append(
            _secret(
                API_SECRET,
                spec.namespace,
                "kubernetes.io/tls",
                {
                    "tls.crt": _join(spec.api_cert_pem, spec.ca_chain_pem),
                    "tls.key": spec.api_key_pem,
                },
            )
        )
    return yaml.safe_dump_all(secrets, sort_keys=False)


def helm_values(spec: ControlPlaneSpec) -> dict:
    """Values for the kong-mesh chart (the kuma chart nested under ``kuma``)."""
    tls: dict = {
        "general": {
            "secretName": GENERAL_SECRET,
            "caBundle": base64.b64encode(spec.ca_chain_pem.encode()).decode(),
        }
    }
    if spec.api_cert_pem:
        tls["apiServer"] = {"secretName": API_SECRET}
    env = {
        "KUMA_GENERAL_TLS_MIN_VERSION": spec.tls_min_version,
        "KUMA_API_SERVER_HTTP_INTERFACE": spec.api_http_interface,
        "KUMA_API_SERVER_HTTPS_PORT": str(spec.api_https_port),
    }
    control_plane: dict = {"mode": spec.mode}
    if spec.zone is None:
        tls["kdsGlobalServer"] = {"secretName": KDS_SERVER_SECRET}
        env["KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT"] = str(spec.kds_port)
    else:
        control_plane["zone"] = spec.name
        if spec.zone.global_address:
            control_plane["kdsGlobalAddress"] = spec.zone.global_address
            tls["kdsZoneClient"] = {"secretName": KDS_CA_SECRET}
        env["KUMA_DP_SERVER_PORT"] = str(spec.zone.dp_port)
        env["KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE"] = spec.zone.dp_authn
        env["KUMA_DP_SERVER_AUTHN_ZONE_PROXY_TYPE"] = spec.zone.zone_proxy_authn
        env["KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_ENABLED"] = _bool(spec.zone.mads_tls)
    control_plane["tls"] = tls
    env.update(authn_environment(spec))
    control_plane["envVars"] = env
    config = cp_config(spec)
    if config:
        control_plane[Authn.HELM_CONFIG] = _yaml(config)
    if spec.authn.kds_token is not None:
        control_plane[Authn.HELM_SECRETS] = [
            {
                "Env": Authn.ZONE_KDS_TOKEN_INLINE_ENV,
                "Secret": Authn.KDS_TOKEN_SECRET,
                "Key": Authn.KDS_TOKEN_SECRET_KEY,
            }
        ]
    return {"kuma": {"controlPlane": control_plane}}


def _values(spec: ControlPlaneSpec) -> str:
    return (
        f"# Helm values for the kong-mesh chart ({spec.mode} control plane {spec.name!r}).\n"
        f"# Apply secrets.yaml first: kubectl apply -f secrets.yaml\n"
        + yaml.safe_dump(helm_values(spec), sort_keys=False)
    )


def _env_file(env: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in env.items())


def _join(*pems: str) -> str:
    return "".join(p if p.endswith("\n") else p + "\n" for p in pems if p)


def url_host(host: str) -> str:
    """A host as it appears in a URL: IPv6 literals in brackets."""
    return f"[{host}]" if ":" in host else host


def _bool(value: bool) -> str:
    return "true" if value else "false"


def parse_env_file(text: str) -> dict[str, str]:
    """Read back a ``KEY=value`` file as written by ``render_artifacts``."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
    return out


# --- authentication (SPEC §1.8; reference kuma-authn-and-k8s.md §1-§3) -----------------------


class Authn:
    """Kong Mesh's names for token authentication and RBAC: config paths, env vars, files.

    kuma-cp names are the envconfig tags and JSON paths of kumahq/kuma v2.14.3
    (``pkg/config/api-server``, ``pkg/config/dp-server``); the ``KMESH_*`` KDS names and the
    AccessRoleBinding are Kong Mesh's (closed source: from its documentation).
    """

    # files of the output directory
    CP_CONFIG_FILE = "kuma-cp.yaml"
    KDS_TOKEN_FILE = "tokens/kds.token"
    KUMACTL_TOKEN_FILE = "kumactl.token"
    ACCESS_ROLE_BINDING_FILE = "access-role-binding.yaml"
    # where each kind of key goes in the kuma-cp config file
    USER_KEYS = ("apiServer", "authn", "tokens", "validator", "publicKeys")
    DP_KEYS = ("dpServer", "authn", "dpProxy", "dpToken", "validator", "publicKeys")
    ZONE_PROXY_KEYS = ("dpServer", "authn", "zoneProxy", "zoneToken", "validator", "publicKeys")
    KDS_KEYS = ("kmesh", "multizone", "global", "kds", "auth", "cpToken", "validator", "publicKeys")
    # the env vars that make each kind use only those keys
    USER_ENV = MappingProxyType(
        {
            "KUMA_API_SERVER_AUTHN_TYPE": "tokens",
            "KUMA_API_SERVER_AUTHN_TOKENS_ENABLE_ISSUER": "false",
            "KUMA_API_SERVER_AUTHN_TOKENS_VALIDATOR_USE_SECRETS": "false",
            # with the issuer off the admin token cannot be made, and localhost would be admin
            "KUMA_API_SERVER_AUTHN_TOKENS_BOOTSTRAP_ADMIN_TOKEN": "false",
            "KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN": "false",
        }
    )
    DP_ENV = MappingProxyType(
        {
            "KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE": "dpToken",
            "KUMA_DP_SERVER_AUTHN_DP_PROXY_DP_TOKEN_ENABLE_ISSUER": "false",
            "KUMA_DP_SERVER_AUTHN_DP_PROXY_DP_TOKEN_VALIDATOR_USE_SECRETS": "false",
        }
    )
    ZONE_PROXY_ENV = MappingProxyType(
        {
            "KUMA_DP_SERVER_AUTHN_ZONE_PROXY_TYPE": "zoneToken",
            "KUMA_DP_SERVER_AUTHN_ZONE_PROXY_ZONE_TOKEN_ENABLE_ISSUER": "false",
            "KUMA_DP_SERVER_AUTHN_ZONE_PROXY_ZONE_TOKEN_VALIDATOR_USE_SECRETS": "false",
        }
    )
    KDS_ENV = MappingProxyType(
        {
            "KMESH_MULTIZONE_GLOBAL_KDS_AUTH_TYPE": "cpToken",
            "KMESH_MULTIZONE_GLOBAL_KDS_AUTH_CP_TOKEN_ENABLE_ISSUER": "false",
            "KMESH_MULTIZONE_GLOBAL_KDS_AUTH_CP_TOKEN_VALIDATOR_USE_SECRETS": "false",
        }
    )
    ZONE_KDS_TOKEN_PATH_ENV = "KMESH_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH"
    ZONE_KDS_TOKEN_INLINE_ENV = "KMESH_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_INLINE"
    DP_TOKEN_PATH_ENV = "KUMA_DATAPLANE_RUNTIME_TOKEN_PATH"
    # kubernetes
    HELM_CONFIG = "config"
    HELM_SECRETS = "secrets"
    KDS_TOKEN_SECRET = "kds-cp-token"
    KDS_TOKEN_SECRET_KEY = "token"
    # RBAC
    UNAUTHENTICATED_GROUPS = ("mesh-system:unauthenticated", "system:unauthenticated")


def key_lists(spec: ControlPlaneSpec) -> list[tuple[tuple[str, ...], tuple[PublicKey, ...]]]:
    """(config path, keys) of each non-empty key list this control plane accepts."""
    authn = spec.authn
    lists = [(Authn.USER_KEYS, authn.user_keys)]
    if spec.zone is not None:
        lists += [(Authn.DP_KEYS, authn.dp_keys), (Authn.ZONE_PROXY_KEYS, authn.zone_proxy_keys)]
    else:
        lists.append((Authn.KDS_KEYS, authn.kds_keys))
    return [(path, keys) for path, keys in lists if keys]


def cp_config(spec: ControlPlaneSpec) -> dict:
    """The kuma-cp config file's settings: the public keys of each list (empty: no file)."""
    config: dict = {}
    for path, keys in key_lists(spec):
        node = config
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = [_key_entry(key) for key in keys]
    return config


def _key_entry(key: PublicKey) -> dict[str, str]:
    entry = {"kid": key.kid, "key": key.pem}
    if key.mesh is not None:
        entry["mesh"] = key.mesh
    return entry


def authn_environment(spec: ControlPlaneSpec) -> dict[str, str]:
    """The env vars that turn the control plane's issuers and secret keys off, per key list."""
    env: dict[str, str] = {}
    by_path = {
        Authn.USER_KEYS: Authn.USER_ENV,
        Authn.DP_KEYS: Authn.DP_ENV,
        Authn.ZONE_PROXY_KEYS: Authn.ZONE_PROXY_ENV,
        Authn.KDS_KEYS: Authn.KDS_ENV,
    }
    for path, _ in key_lists(spec):
        env.update(by_path[path])
    return env


def _authn_files(spec: ControlPlaneSpec) -> dict[str, Artifact]:
    """The token and RBAC files of both environments (the config file is Universal's)."""
    files: dict[str, Artifact] = {}
    authn = spec.authn
    universal = spec.environment != "kubernetes"
    config = cp_config(spec)
    if universal and config:
        header = (
            f"# kuma-cp config file for the {spec.mode} control plane {spec.name!r}: the public\n"
            f"# keys of the tokens it accepts. Start kuma-cp with\n"
            f"#   kuma-cp run --config-file={spec.path(Authn.CP_CONFIG_FILE)}\n"
            "# Keys are read at start: restart kuma-cp when they change.\n"
        )
        files[Authn.CP_CONFIG_FILE] = Artifact((header + _yaml(config)).encode(), 0o644)
    if universal and authn.kds_token is not None:
        files[Authn.KDS_TOKEN_FILE] = Artifact(f"{authn.kds_token}\n".encode(), 0o600)
    if authn.kumactl_token is not None:
        files[Authn.KUMACTL_TOKEN_FILE] = Artifact(f"{authn.kumactl_token}\n".encode(), 0o600)
    if authn.admin_groups is not None:
        files[Authn.ACCESS_ROLE_BINDING_FILE] = Artifact(
            _access_role_binding(spec, authn.admin_groups).encode(), 0o644
        )
    return files


def access_role_binding(environment: str, groups: tuple[str, ...]) -> dict:
    """The ``default`` AccessRoleBinding giving ``admin`` to ``groups`` only."""
    body = {"subjects": [{"type": "Group", "name": g} for g in groups], "roles": ["admin"]}
    if environment == "kubernetes":
        return {
            "apiVersion": "kuma.io/v1alpha1",
            "kind": "AccessRoleBinding",
            "metadata": {"name": "default"},
            "spec": body,
        }
    return {"type": "AccessRoleBinding", "name": "default", **body}


def binding_groups(document: dict) -> list[str]:
    """The groups an AccessRoleBinding (either form) gives its roles to."""
    body = document.get("spec", document)
    return [s.get("name") for s in body.get("subjects") or [] if s.get("type") == "Group"]


def _access_role_binding(spec: ControlPlaneSpec, groups: tuple[str, ...]) -> str:
    apply = "kubectl apply -f" if spec.environment == "kubernetes" else "kumactl apply -f"
    return (
        f"# Kong Mesh RBAC of the {spec.mode} control plane {spec.name!r}: the admin role for\n"
        f"# these groups only (the default binding also makes unauthenticated callers admin).\n"
        f"# RBAC is not synced between control planes: {apply} access-role-binding.yaml\n"
        + yaml.safe_dump(access_role_binding(spec.environment, groups), sort_keys=False)
    )


def _cp_env_file(spec: ControlPlaneSpec) -> str:
    text = _env_file(cp_environment(spec))
    if cp_config(spec):
        text = (
            f"# Start kuma-cp with --config-file={spec.path(Authn.CP_CONFIG_FILE)}: it holds\n"
            "# the public keys of the tokens this control plane accepts.\n" + text
        )
    return text


class _LiteralDumper(yaml.SafeDumper):
    """Multi-line strings (PEM keys) as ``|`` blocks, readable as they are."""


def _literal(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LiteralDumper.add_representer(str, _literal)


def _yaml(document: dict) -> str:
    return yaml.dump(document, Dumper=_LiteralDumper, sort_keys=False)
