"""Kong Mesh knowledge: environment variables, ports, Helm keys, and the files apply writes.

Every name here comes from ``shared/reference/kuma-security.md`` (kuma v2.14.3 sources): the
env var is the upper-cased ``envconfig`` tag, and the kong-mesh Helm chart nests the kuma chart
under ``kuma.``. ``render_artifacts`` is a pure function from a control plane's settings and
PEMs to file contents and modes; resources write them.

The layout below (``Files``, ``Env``, ``Helm``, the Secret names and the ``TlsServer``s) is the
one description of those names: writing the artifacts and reading them back in ``verify`` both
use it, so no Kong Mesh name is spelled in two places.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from meshprov import __version__, yamlio

MADS_PORT = 5676
# kuma-cp's default ports; on Kubernetes the chart's control-plane Service fixes the first two
DP_SERVER_PORT = 5678
API_HTTPS_PORT = 5682
KDS_PORT = 5685
# ports kuma-cp listens on that meshprov never sets (v2.14.3 kuma-cp.defaults.yaml): the
# diagnostics server, the plain-HTTP API and the inter-CP server on every control plane, MADS
# on a zone (pkg/mads/server: not on a global), the admission webhook on Kubernetes
DIAGNOSTICS_PORT = 5680
API_HTTP_PORT = 5681
INTER_CP_PORT = 5683
ADMISSION_PORT = 5443
GENERAL_SECRET = "general-tls-certs"
API_SECRET = "api-server-tls"
KDS_SERVER_SECRET = "kds-server-tls"
KDS_CA_SECRET = "kds-ca-certs"
KDS_TOKEN_SECRET = "kds-cp-token"


class Files:
    """The files of a control plane's output directory (SPEC §3), relative to it."""

    CA = "tls/ca.crt"
    CERT = "tls/tls.crt"
    KEY = "tls/tls.key"
    API_CERT = "tls/api.crt"
    API_KEY = "tls/api.key"
    KDS_CA = "tls/kds-ca.crt"
    CP_ENV = "kuma-cp.env"
    DP_ENV = "kuma-dp.env"
    KUMACTL = "kumactl.sh"
    PROMETHEUS = "prometheus-kuma-sd.yml"
    SECRETS = "secrets.yaml"
    VALUES = "values.yaml"
    CP_CONFIG = "kuma-cp.yaml"  # kuma-cp run --config-file: the token public keys
    KDS_TOKEN = "tokens/kds.token"
    STORE_CA = "tls/postgres-ca.crt"  # KUMA_STORE_POSTGRES_TLS_CA_PATH: verifies the database
    KUMACTL_TOKEN = "kumactl.token"
    ACCESS_ROLE_BINDING = "access-role-binding.yaml"


ALL_FILES = tuple(v for k, v in vars(Files).items() if k.isupper())
# what kuma-cp reads when it starts on a Universal host: a change needs a restart. The others
# are read by someone else (ca.crt, kuma-dp.env: data planes; kumactl.sh; the Prometheus job) or
# again at run time (kds-ca.crt, on every KDS reconnect).
READ_BY_KUMA_CP_AT_START = frozenset(
    {
        Files.CERT,
        Files.KEY,
        Files.API_CERT,
        Files.API_KEY,
        Files.CP_ENV,
        Files.CP_CONFIG,
        Files.KDS_TOKEN,
        Files.STORE_CA,
    }
)


class Env:
    """kuma-cp and kuma-dp environment variables meshprov sets or checks."""

    MODE = "KUMA_MODE"
    WORK_DIR = "KUMA_GENERAL_WORK_DIR"
    TLS_MIN_VERSION = "KUMA_GENERAL_TLS_MIN_VERSION"
    API_HTTP_INTERFACE = "KUMA_API_SERVER_HTTP_INTERFACE"
    API_HTTPS_PORT = "KUMA_API_SERVER_HTTPS_PORT"
    KDS_GRPC_PORT = "KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT"
    ZONE_NAME = "KUMA_MULTIZONE_ZONE_NAME"
    DP_PORT = "KUMA_DP_SERVER_PORT"
    DP_AUTHN = "KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE"
    ZONE_PROXY_AUTHN = "KUMA_DP_SERVER_AUTHN_ZONE_PROXY_TYPE"
    MADS_TLS = "KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_ENABLED"
    GLOBAL_ADDRESS = "KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS"
    KDS_ROOT_CA_FILE = "KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE"
    KDS_SKIP_VERIFY = "KUMA_MULTIZONE_ZONE_KDS_TLS_SKIP_VERIFY"
    # kuma-dp
    CP_URL = "KUMA_CONTROL_PLANE_URL"
    CP_CA_FILE = "KUMA_CONTROL_PLANE_CA_CERT_FILE"
    CP_SKIP_VERIFY = "KUMA_CONTROL_PLANE_TLS_SKIP_VERIFY"
    DP_TOKEN_PATH = "KUMA_DATAPLANE_RUNTIME_TOKEN_PATH"
    # Kong Mesh (closed source; names from its documentation): the token a zone presents
    ZONE_KDS_TOKEN_PATH = "KMESH_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH"
    ZONE_KDS_TOKEN_INLINE = "KMESH_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_INLINE"


class StoreEnv:
    """kuma-cp's resource store (kumahq/kuma v2.14.3 ``pkg/config/core/resources/store`` and
    ``pkg/config/plugins/resources/postgres``): the memory store is the default."""

    TYPE = "KUMA_STORE_TYPE"
    HOST = "KUMA_STORE_POSTGRES_HOST"
    PORT = "KUMA_STORE_POSTGRES_PORT"
    USER = "KUMA_STORE_POSTGRES_USER"
    PASSWORD = "KUMA_STORE_POSTGRES_PASSWORD"
    DB_NAME = "KUMA_STORE_POSTGRES_DB_NAME"
    TLS_MODE = "KUMA_STORE_POSTGRES_TLS_MODE"
    TLS_CA_PATH = "KUMA_STORE_POSTGRES_TLS_CA_PATH"


POSTGRES_STORE = "postgres"
STORE_MIGRATE = "kuma-cp migrate up"  # creates or updates the store's schema


# KUMA_STORE_POSTGRES_TLS_MODE values; kuma-cp refuses to start with verifyCa or verifyFull and
# no CA path ("CAPath cannot be empty"), and verifyNone checks no certificate at all
class StoreTlsMode:
    DISABLE = "disable"
    VERIFY_NONE = "verifyNone"
    VERIFY_CA = "verifyCa"
    VERIFY_FULL = "verifyFull"


STORE_TLS_MODES = (
    StoreTlsMode.DISABLE,
    StoreTlsMode.VERIFY_NONE,
    StoreTlsMode.VERIFY_CA,
    StoreTlsMode.VERIFY_FULL,
)
STORE_TLS_NEEDS_CA = (StoreTlsMode.VERIFY_CA, StoreTlsMode.VERIFY_FULL)
STORE_TLS_UNVERIFIED = (StoreTlsMode.DISABLE, StoreTlsMode.VERIFY_NONE)


@dataclass(frozen=True)
class StoreSettings:
    """A global's Postgres store (SPEC §1.5)."""

    host: str
    port: int
    user: str
    password: str
    db_name: str
    tls_mode: str
    ca_pem: str | None  # what verifies the database server, written to Files.STORE_CA


class ProxyAuthn:
    """How the DP server authenticates proxies (``Env.DP_AUTHN``, ``Env.ZONE_PROXY_AUTHN``)."""

    DP_TOKEN = "dpToken"
    ZONE_TOKEN = "zoneToken"
    SERVICE_ACCOUNT_TOKEN = "serviceAccountToken"
    NONE = "none"


class Helm:
    """Keys of ``kuma.controlPlane`` in the chart's values, and of its ``tls`` map."""

    ROOT = ("kuma", "controlPlane")
    MODE = "mode"
    ZONE = "zone"
    KDS_GLOBAL_ADDRESS = "kdsGlobalAddress"
    TLS = "tls"
    ENV_VARS = "envVars"
    SECRET_NAME = "secretName"
    CA_BUNDLE = "caBundle"
    GENERAL = "general"
    API_SERVER = "apiServer"
    KDS_GLOBAL_SERVER = "kdsGlobalServer"
    KDS_ZONE_CLIENT = "kdsZoneClient"
    CONFIG = "config"  # the kuma-cp config file, as a string
    SECRETS = "secrets"  # [{Env, Secret, Key}]: env vars taken from Secrets
    # the global's KDS Service (a LoadBalancer) and who may reach it
    ZONE_SYNC_SERVICE = "globalZoneSyncService"
    SOURCE_RANGES = "loadBalancerSourceRanges"
    PORT = "port"  # the global's KDS Service port (its target port is the same)


# the kong-mesh chart's release namespace by convention, and its control-plane Service
# (``<nameOverride>-control-plane``, nameOverride kong-mesh; plain kuma: kuma-control-plane)
NAMESPACE = "kong-mesh-system"
SERVICE_NAME = "kong-mesh-control-plane"


def service_hostnames(service: str, namespace: str) -> list[str]:
    """The in-cluster names of the control-plane Service, which its certificate must carry:
    sidecars dial ``<svc>.<ns>``, the API server calls the webhooks at ``<svc>.<ns>.svc``
    (the chart's ``kuma.controlPlane.serviceName``)."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


def service_dial_host(service: str, namespace: str) -> str:
    """The name injected sidecars and zone proxies dial the control plane by."""
    return f"{service}.{namespace}"


class SecretKeys:
    """Keys of the TLS Secrets, and of the KDS token's."""

    CERT = "tls.crt"
    KEY = "tls.key"
    CA = "ca.crt"
    TOKEN = "token"


@dataclass(frozen=True)
class TlsServer:
    """Where kuma-cp finds one TLS server's certificate and key: its own env variables, which
    fall back to the general ones when unset, and the ``tls`` entry of the Helm values."""

    cert_env: str
    key_env: str
    helm_tls: str


GENERAL_TLS = TlsServer("KUMA_GENERAL_TLS_CERT_FILE", "KUMA_GENERAL_TLS_KEY_FILE", Helm.GENERAL)
DP_SERVER = TlsServer("KUMA_DP_SERVER_TLS_CERT_FILE", "KUMA_DP_SERVER_TLS_KEY_FILE", Helm.GENERAL)
API_SERVER = TlsServer(
    "KUMA_API_SERVER_HTTPS_TLS_CERT_FILE", "KUMA_API_SERVER_HTTPS_TLS_KEY_FILE", Helm.API_SERVER
)
MADS_SERVER = TlsServer(
    "KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_CERT_FILE",
    "KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_KEY_FILE",
    Helm.GENERAL,
)
KDS_SERVER = TlsServer(
    "KUMA_MULTIZONE_GLOBAL_KDS_TLS_CERT_FILE",
    "KUMA_MULTIZONE_GLOBAL_KDS_TLS_KEY_FILE",
    Helm.KDS_GLOBAL_SERVER,
)


@dataclass(frozen=True)
class TokenValidator:
    """Where kuma-cp takes one kind of token's public keys from (a path in its config file:
    public keys have no env var), and the settings that make it accept only those keys: the
    authentication type, its own issuer off, signing keys stored as secrets ignored.

    kuma-cp names: the JSON paths and envconfig tags of kumahq/kuma v2.14.3
    (``pkg/config/api-server``, ``pkg/config/dp-server``); KDS (``KMESH_*``, ``kmesh.``) is
    Kong Mesh's, from its documentation.
    """

    kind: str  # the signing_key kind
    config_path: tuple[str, ...]
    env: Mapping[str, str]


USER_TOKENS = TokenValidator(
    "user",
    ("apiServer", "authn", "tokens", "validator", "publicKeys"),
    MappingProxyType(
        {
            "KUMA_API_SERVER_AUTHN_TYPE": "tokens",
            "KUMA_API_SERVER_AUTHN_TOKENS_ENABLE_ISSUER": "false",
            "KUMA_API_SERVER_AUTHN_TOKENS_VALIDATOR_USE_SECRETS": "false",
            # with the issuer off the admin token cannot be made, and localhost would be admin
            "KUMA_API_SERVER_AUTHN_TOKENS_BOOTSTRAP_ADMIN_TOKEN": "false",
            "KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN": "false",
        }
    ),
)
DP_TOKENS = TokenValidator(
    "dataplane",
    ("dpServer", "authn", "dpProxy", "dpToken", "validator", "publicKeys"),
    MappingProxyType(
        {
            Env.DP_AUTHN: ProxyAuthn.DP_TOKEN,
            "KUMA_DP_SERVER_AUTHN_DP_PROXY_DP_TOKEN_ENABLE_ISSUER": "false",
            "KUMA_DP_SERVER_AUTHN_DP_PROXY_DP_TOKEN_VALIDATOR_USE_SECRETS": "false",
        }
    ),
)
ZONE_PROXY_TOKENS = TokenValidator(
    "zone_proxy",
    ("dpServer", "authn", "zoneProxy", "zoneToken", "validator", "publicKeys"),
    MappingProxyType(
        {
            Env.ZONE_PROXY_AUTHN: ProxyAuthn.ZONE_TOKEN,
            "KUMA_DP_SERVER_AUTHN_ZONE_PROXY_ZONE_TOKEN_ENABLE_ISSUER": "false",
            "KUMA_DP_SERVER_AUTHN_ZONE_PROXY_ZONE_TOKEN_VALIDATOR_USE_SECRETS": "false",
        }
    ),
)
KDS_TOKENS = TokenValidator(
    "zone_cp",
    ("kmesh", "multizone", "global", "kds", "auth", "cpToken", "validator", "publicKeys"),
    MappingProxyType(
        {
            "KMESH_MULTIZONE_GLOBAL_KDS_AUTH_TYPE": "cpToken",
            "KMESH_MULTIZONE_GLOBAL_KDS_AUTH_CP_TOKEN_ENABLE_ISSUER": "false",
            "KMESH_MULTIZONE_GLOBAL_KDS_AUTH_CP_TOKEN_VALIDATOR_USE_SECRETS": "false",
        }
    ),
)
TOKEN_VALIDATORS = {v.kind: v for v in (USER_TOKENS, DP_TOKENS, ZONE_PROXY_TOKENS, KDS_TOKENS)}
# the secrets holding comma-separated revoked jtis, by token kind (reference §1; Kong Mesh's
# KDS token revocations are not documented)
REVOCATION_SECRETS = {
    "user": "user-token-revocations",
    "zone_proxy": "zone-token-revocations",
    "dataplane": "dataplane-token-revocations-{mesh}",
}
# groups every unauthenticated API caller is in (Kong Mesh RBAC, reference §3)
UNAUTHENTICATED_GROUPS = ("mesh-system:unauthenticated", "system:unauthenticated")


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
    kds_ca_pem: str | None  # the global's CA bundle: what verifies its KDS certificate
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
    ca_chain_pem: str  # the issuing CA's chain: what follows cert_pem in tls.crt
    ca_bundle_pem: str  # what clients verify cert_pem with: the chain and the trusted CAs
    api_cert_pem: str | None = None  # with api_separate_cert
    api_key_pem: str | None = None
    kds_port: int | None = None  # a global
    zone: ZoneSettings | None = None  # a zone
    authn: AuthnSettings = AuthnSettings()
    store: StoreSettings | None = None  # a Universal global: None is the memory store

    @property
    def mode(self) -> str:
        return "zone" if self.zone is not None else "global"

    def path(self, relative: str) -> str:
        """Where a file of the output directory lives on the control plane host."""
        return f"{self.work_dir.rstrip('/')}/{relative}"


def fixed_listen_ports(zone: bool, environment: str) -> dict[int, str]:
    """The ports kuma-cp listens on besides the ones meshprov sets, with what listens there."""
    ports = {
        DIAGNOSTICS_PORT: "the diagnostics server",
        API_HTTP_PORT: "the plain-HTTP API",
        INTER_CP_PORT: "the inter-CP server",
    }
    if zone:
        ports[MADS_PORT] = "MADS"
    if environment == "kubernetes":
        ports[ADMISSION_PORT] = "the admission webhook"
    return ports


def render_artifacts(spec: ControlPlaneSpec) -> dict[str, Artifact]:
    """The files of SPEC §3 for this control plane, keyed by path relative to its output dir."""
    files: dict[str, Artifact] = {}
    chain = _join(spec.cert_pem, spec.ca_chain_pem)
    files[Files.CA] = Artifact(spec.ca_bundle_pem.encode(), 0o644)
    files[Files.KUMACTL] = Artifact(_kumactl(spec).encode(), 0o755)
    if spec.zone is not None and spec.zone.mads_tls:
        files[Files.PROMETHEUS] = Artifact(_prometheus(spec).encode(), 0o644)
    files.update(_authn_files(spec))
    if spec.environment == "kubernetes":
        files[Files.SECRETS] = Artifact(_secrets(spec, chain).encode(), 0o600)
        files[Files.VALUES] = Artifact(_values(spec).encode(), 0o644)
        return files
    files[Files.CERT] = Artifact(chain.encode(), 0o644)
    files[Files.KEY] = Artifact(spec.key_pem.encode(), 0o600)
    if spec.api_cert_pem and spec.api_key_pem:
        files[Files.API_CERT] = Artifact(
            _join(spec.api_cert_pem, spec.ca_chain_pem).encode(), 0o644
        )
        files[Files.API_KEY] = Artifact(spec.api_key_pem.encode(), 0o600)
    if spec.zone is not None and spec.zone.kds_ca_pem and spec.zone.global_address:
        files[Files.KDS_CA] = Artifact(spec.zone.kds_ca_pem.encode(), 0o644)
    if spec.store is not None and spec.store.ca_pem:
        files[Files.STORE_CA] = Artifact(spec.store.ca_pem.encode(), 0o644)
    files[Files.CP_ENV] = Artifact(_cp_env_file(spec).encode(), 0o600)
    if spec.zone is not None:
        files[Files.DP_ENV] = Artifact(_env_file(dp_environment(spec)).encode(), 0o644)
    return files


def rendering_digest(spec: ControlPlaneSpec) -> str:
    """A digest of everything ``render_artifacts(spec)`` depends on: the spec, and the code
    that renders it (this module, ``yamlio``, meshprov's version). Equal digests render equal
    files, so a plan can tell the files are unchanged without rendering them again."""
    return hashlib.sha256(_renderer_fingerprint() + repr(spec).encode()).hexdigest()


@functools.cache
def _renderer_fingerprint() -> bytes:
    digest = hashlib.sha256(__version__.encode())
    for module in (__file__, yamlio.__file__):
        digest.update(Path(module).read_bytes())
    return digest.digest()


def cp_environment(spec: ControlPlaneSpec) -> dict[str, str]:
    """kuma-cp's environment on a Universal host (systemd EnvironmentFile)."""
    api_cert, api_key = (
        (Files.API_CERT, Files.API_KEY) if spec.api_cert_pem else (Files.CERT, Files.KEY)
    )
    env = {
        Env.MODE: spec.mode,
        Env.WORK_DIR: spec.work_dir,
        GENERAL_TLS.cert_env: spec.path(Files.CERT),
        GENERAL_TLS.key_env: spec.path(Files.KEY),
        # the general minimum overrides every server's own setting (kuma autoconfig.go)
        Env.TLS_MIN_VERSION: spec.tls_min_version,
        Env.API_HTTP_INTERFACE: spec.api_http_interface,
        Env.API_HTTPS_PORT: str(spec.api_https_port),
        API_SERVER.cert_env: spec.path(api_cert),
        API_SERVER.key_env: spec.path(api_key),
    }
    if spec.zone is None:
        env[Env.KDS_GRPC_PORT] = str(spec.kds_port)
        env[KDS_SERVER.cert_env] = spec.path(Files.CERT)
        env[KDS_SERVER.key_env] = spec.path(Files.KEY)
        env.update(authn_environment(spec))
        env.update(store_environment(spec))
        return env
    zone = spec.zone
    env[Env.ZONE_NAME] = spec.name
    env[Env.DP_PORT] = str(zone.dp_port)
    env[Env.DP_AUTHN] = zone.dp_authn
    env[Env.ZONE_PROXY_AUTHN] = zone.zone_proxy_authn
    env[Env.MADS_TLS] = _bool(zone.mads_tls)
    if zone.global_address:
        env[Env.GLOBAL_ADDRESS] = zone.global_address
        env[Env.KDS_ROOT_CA_FILE] = spec.path(Files.KDS_CA)
    env.update(authn_environment(spec))
    if spec.authn.kds_token is not None:
        env[Env.ZONE_KDS_TOKEN_PATH] = spec.path(Files.KDS_TOKEN)
    return env


def store_environment(spec: ControlPlaneSpec) -> dict[str, str]:
    """The Postgres store's settings; the password too, so only in the 0600 env file."""
    store = spec.store
    if store is None:
        return {}
    env = {
        StoreEnv.TYPE: POSTGRES_STORE,
        StoreEnv.HOST: store.host,
        StoreEnv.PORT: str(store.port),
        StoreEnv.USER: store.user,
        StoreEnv.PASSWORD: store.password,
        StoreEnv.DB_NAME: store.db_name,
        StoreEnv.TLS_MODE: store.tls_mode,
    }
    if store.ca_pem:
        env[StoreEnv.TLS_CA_PATH] = spec.path(Files.STORE_CA)
    return env


def dp_environment(spec: ControlPlaneSpec) -> dict[str, str]:
    """kuma-dp's environment: where the zone CP is, and the CA that verifies it."""
    assert spec.zone is not None
    env = {
        Env.CP_URL: f"https://{url_host(spec.dial_host)}:{spec.zone.dp_port}",
        Env.CP_CA_FILE: spec.path(Files.CA),
    }
    if spec.zone.dp_authn == ProxyAuthn.DP_TOKEN:
        env[Env.DP_TOKEN_PATH] = spec.zone.dp_token_path
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
        lines.append(f"# It authenticates with the user token in {Files.KUMACTL_TOKEN}.")
        auth = ' --auth-type=tokens --auth-conf "token=$token"'
    lines += ["set -eu", 'here="$(cd "$(dirname "$0")" && pwd)"']
    if auth:
        lines.append(f'token="$(cat "$here/{Files.KUMACTL_TOKEN}")"')
    lines.append(
        f"exec kumactl config control-planes add {name} {url} "
        f'--ca-cert-file="$here/{Files.CA}"{auth} --overwrite'
    )
    return "\n".join(lines) + "\n"


_HERE = "$here/"


def parse_kumactl(text: str) -> tuple[str | None, str | None]:
    """Read back ``kumactl.sh``: the ``--address`` it adds and its CA file (relative to it)."""
    address = ca_file = None
    for line in text.split("\n"):  # as the shell reads it
        if not line.startswith("exec kumactl "):
            continue
        try:
            words = shlex.split(line)
        except ValueError:  # unbalanced quotes: an edited script, read as having neither
            return None, None
        for word in words:
            if word.startswith("--address="):
                address = word.removeprefix("--address=")
            elif word.startswith("--ca-cert-file=" + _HERE):
                ca_file = word.removeprefix("--ca-cert-file=" + _HERE)
    return address, ca_file


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
                        "tls_config": {"ca_file": Files.CA},
                    }
                ],
            }
        ]
    }
    return "# Prometheus scrape job discovering data plane proxies through MADS over TLS.\n" + (
        yamlio.dump(job, sort_keys=False)
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
            {
                SecretKeys.CERT: chain,
                SecretKeys.KEY: spec.key_pem,
                SecretKeys.CA: spec.ca_bundle_pem,
            },
        )
    ]
    if spec.zone is None:
        secrets.append(
            _secret(
                KDS_SERVER_SECRET,
                spec.namespace,
                "kubernetes.io/tls",
                {SecretKeys.CERT: chain, SecretKeys.KEY: spec.key_pem},
            )
        )
    elif spec.zone.global_address and spec.zone.kds_ca_pem:
        secrets.append(
            _secret(KDS_CA_SECRET, spec.namespace, "Opaque", {SecretKeys.CA: spec.zone.kds_ca_pem})
        )
    if spec.authn.kds_token is not None:
        secrets.append(
            _secret(
                KDS_TOKEN_SECRET,
                spec.namespace,
                "Opaque",
                {SecretKeys.TOKEN: spec.authn.kds_token},
            )
        )
    if spec.api_cert_pem and spec.api_key_pem:
        secrets.append(
            _secret(
                API_SECRET,
                spec.namespace,
                "kubernetes.io/tls",
                {
                    SecretKeys.CERT: _join(spec.api_cert_pem, spec.ca_chain_pem),
                    SecretKeys.KEY: spec.api_key_pem,
                },
            )
        )
    return yamlio.dump_all(secrets, sort_keys=False)


def helm_values(spec: ControlPlaneSpec) -> dict:
    """Values for the kong-mesh chart (the kuma chart nested under ``kuma``)."""
    tls: dict = {
        Helm.GENERAL: {
            Helm.SECRET_NAME: GENERAL_SECRET,
            Helm.CA_BUNDLE: base64.b64encode(spec.ca_bundle_pem.encode()).decode(),
        }
    }
    if spec.api_cert_pem:
        tls[Helm.API_SERVER] = {Helm.SECRET_NAME: API_SECRET}
    env = {
        Env.TLS_MIN_VERSION: spec.tls_min_version,
        Env.API_HTTP_INTERFACE: spec.api_http_interface,
        Env.API_HTTPS_PORT: str(spec.api_https_port),
    }
    control_plane: dict = {Helm.MODE: spec.mode}
    if spec.zone is None:
        tls[Helm.KDS_GLOBAL_SERVER] = {Helm.SECRET_NAME: KDS_SERVER_SECRET}
        env[Env.KDS_GRPC_PORT] = str(spec.kds_port)
        # the KDS Service forwards its port to the same container port: both follow kds_port
        control_plane[Helm.ZONE_SYNC_SERVICE] = {Helm.PORT: spec.kds_port}
    else:
        control_plane[Helm.ZONE] = spec.name
        if spec.zone.global_address:
            control_plane[Helm.KDS_GLOBAL_ADDRESS] = spec.zone.global_address
            tls[Helm.KDS_ZONE_CLIENT] = {Helm.SECRET_NAME: KDS_CA_SECRET}
        env[Env.DP_PORT] = str(spec.zone.dp_port)
        env[Env.DP_AUTHN] = spec.zone.dp_authn
        env[Env.ZONE_PROXY_AUTHN] = spec.zone.zone_proxy_authn
        env[Env.MADS_TLS] = _bool(spec.zone.mads_tls)
    control_plane[Helm.TLS] = tls
    env.update(authn_environment(spec))
    control_plane[Helm.ENV_VARS] = env
    config = cp_config(spec)
    if config:
        control_plane[Helm.CONFIG] = _yaml(config)
    if spec.authn.kds_token is not None:
        control_plane[Helm.SECRETS] = [
            {
                "Env": Env.ZONE_KDS_TOKEN_INLINE,
                "Secret": KDS_TOKEN_SECRET,
                "Key": SecretKeys.TOKEN,
            }
        ]
    root, chart = Helm.ROOT
    return {root: {chart: control_plane}}


def control_plane_values(text: str) -> dict[str, Any]:
    """Read back ``values.yaml``: its ``kuma.controlPlane`` map (empty when absent)."""
    values = yamlio.load(text) or {}
    root, chart = Helm.ROOT
    return ((values.get(root) or {}).get(chart)) or {}


def read_secrets(text: str) -> dict[str, dict[str, str]]:
    """Read back ``secrets.yaml``: each Secret's name → its decoded data."""
    secrets = {}
    for doc in yamlio.load_all(text):
        if isinstance(doc, dict) and doc.get("kind") == "Secret":
            name = str((doc.get("metadata") or {}).get("name"))
            secrets[name] = {
                k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()
            }
    return secrets


def firewall_values(cidrs: list[str]) -> str:
    """The Helm values overlay of a firewall in front of a global on Kubernetes: the KDS
    Service's ``loadBalancerSourceRanges``, to pass as a second ``-f`` to ``helm upgrade``."""
    root, chart = Helm.ROOT
    values = {root: {chart: {Helm.ZONE_SYNC_SERVICE: {Helm.SOURCE_RANGES: list(cidrs)}}}}
    return (
        "# Helm values overlay written by meshprov (a firewall): the sources allowed to reach\n"
        "# the global's KDS Service. Pass it after values.yaml: helm upgrade ... -f <this file>\n"
        + yamlio.dump(values, sort_keys=False)
    )


def firewall_source_ranges(text: str) -> Any:
    """Read back a firewall overlay: its ``loadBalancerSourceRanges`` (None when absent)."""
    service = control_plane_values(text).get(Helm.ZONE_SYNC_SERVICE)
    return service.get(Helm.SOURCE_RANGES) if isinstance(service, dict) else None


def _values(spec: ControlPlaneSpec) -> str:
    return (
        f"# Helm values for the kong-mesh chart ({spec.mode} control plane {spec.name!r}).\n"
        f"# Apply secrets.yaml first: kubectl apply -f secrets.yaml\n"
        + yamlio.dump(helm_values(spec), sort_keys=False)
    )


def _env_file(env: dict[str, str]) -> str:
    """``KEY=value`` lines that mean the same to systemd's EnvironmentFile and to a POSIX
    shell sourcing the file (``set -a; . ./kuma-cp.env; kuma-cp migrate up``).

    A control character is refused (validation rejects it earlier; this is the last line of
    defence against a newline adding a setting). A value with anything but plain characters is
    double-quoted with each backslash, double quote, dollar and backtick escaped: the four
    characters both read as special inside double quotes (systemd's ``SHELL_NEED_ESCAPE``), so
    no value can expand a variable, run a command or end its quotes, whoever reads it.
    """
    lines = []
    for key, value in env.items():
        if control_character(value) is not None:
            raise ValueError(f"{key}: a value with a control character cannot be written")
        if not _PLAIN_ENV_VALUE.fullmatch(value):
            value = '"' + _ENV_ESCAPED.sub(r"\\\g<0>", value) + '"'
        lines.append(f"{key}={value}\n")
    return "".join(lines)


# what needs no quotes in an env file, for systemd and a shell alike
_PLAIN_ENV_VALUE = re.compile(r"[A-Za-z0-9_@%+=:,./-]*")
_ENV_ESCAPED = re.compile(r'[\\"$`]')


# C0 and C1 control characters, DEL, and the line and paragraph separators: in an env file or a
# script a newline starts a new setting or command, and YAML (kuma-cp.yaml, Helm values) and
# Python's readers also break a line at U+2028 and U+2029; in a name, path or hostname none of
# them means anything
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def control_character(text: str) -> str | None:
    """The first character of ``text`` that no name, path or setting may hold, or None: the one
    check every configured argument (``schema.control_character_problem``) and the env file
    writer share."""
    found = _CONTROL_CHARACTERS.search(text)
    return found.group() if found else None


def _join(*pems: str) -> str:
    return "".join(p if p.endswith("\n") else p + "\n" for p in pems if p)


def listen_interface_problem(interface: object) -> str | None:
    """Why kuma-cp cannot listen on ``interface`` (``KUMA_API_SERVER_HTTP_INTERFACE``), or None.

    kuma-cp refuses to start with an empty one ("Interface cannot be empty", v2.14.3
    ``pkg/config/api-server``) and listens on ``net.JoinHostPort(interface, port)``, which
    brackets an IPv6 address itself: the value must be a bare IP address or host name."""
    if not isinstance(interface, str):
        return None
    if not interface:
        return (
            'kuma-cp refuses to start with an empty api_http_interface: use "127.0.0.1" (the '
            'default) to keep plain HTTP on the host itself, or "0.0.0.0" for every interface.'
        )
    try:
        ipaddress.ip_address(interface)
        return None
    except ValueError:
        pass
    # a name whose last label is a number is a mistyped IP address ("10.0.0"), never a host
    if _LISTEN_HOST_RE.fullmatch(interface) and not interface.rsplit(".", 1)[-1].isdigit():
        return None
    return (
        f'"{interface}" is not an address kuma-cp can listen on: give a bare IP address such as '
        '"127.0.0.1" or "::1" (no brackets, no port, no spaces) or a host name.'
    )


_LISTEN_HOST_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")


def host_path_problem(path: object) -> str | None:
    """Why ``path`` cannot be a file path meshprov writes into an env file for another host
    (``work_dir``, ``dp_token_path``), or None. kuma-cp and kuma-dp resolve a relative path
    against the directory they were started in (``/`` under systemd), and an empty
    ``KUMA_GENERAL_WORK_DIR`` means ``$HOME/.kuma``, which the other paths would not follow."""
    if not isinstance(path, str) or path.startswith("/"):
        return None
    return (
        f'"{path}" is not an absolute path: kuma-cp and kuma-dp would look for it relative to '
        "the directory they are started in. Give the full path on the host, starting with /."
    )


def binds_every_interface(interface: Any) -> bool:
    """Whether a kuma-cp listen address (``KUMA_API_SERVER_HTTP_INTERFACE``...) is every
    interface: ``0.0.0.0``, ``::`` in any spelling, or empty (Go's ``net.Listen``)."""
    if not isinstance(interface, str):
        return False
    text = interface.strip().removeprefix("[").removesuffix("]")
    if not text:
        return True
    try:
        return ipaddress.ip_address(text).is_unspecified
    except ValueError:
        return False


def url_host(host: str) -> str:
    """A host as it appears in a URL: IPv6 literals in brackets."""
    return f"[{host}]" if ":" in host else host


def _bool(value: bool) -> str:
    return "true" if value else "false"


def parse_env_file(text: str) -> dict[str, str]:
    """Read back a ``KEY=value`` file as written by ``render_artifacts``: one setting a line,
    a line ending only where systemd ends one (a newline or a carriage return), not at every
    line break Python knows (U+2028 inside a quoted value is part of it)."""
    out = {}
    for line in re.split("[\r\n]", text):
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            out[key] = value
    return out


# --- authentication (SPEC §1.8; reference kuma-authn-and-k8s.md §1-§3) -----------------------


def key_lists(spec: ControlPlaneSpec) -> list[tuple[TokenValidator, tuple[PublicKey, ...]]]:
    """Each kind of token this control plane accepts only meshprov's keys for, with the keys."""
    authn = spec.authn
    lists = [(USER_TOKENS, authn.user_keys)]
    if spec.zone is not None:
        lists += [(DP_TOKENS, authn.dp_keys), (ZONE_PROXY_TOKENS, authn.zone_proxy_keys)]
    else:
        lists.append((KDS_TOKENS, authn.kds_keys))
    return [(validator, keys) for validator, keys in lists if keys]


def cp_config(spec: ControlPlaneSpec) -> dict:
    """The kuma-cp config file's settings: the public keys of each list (empty: no file)."""
    config: dict = {}
    for validator, keys in key_lists(spec):
        *parents, leaf = validator.config_path
        node = config
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = [_key_entry(key) for key in keys]
    return config


def config_public_keys(config: Any, validator: TokenValidator) -> dict[str, str] | None:
    """Read back a kuma-cp config: kid → public key PEM of one kind (None: no list there)."""
    node = config
    for part in validator.config_path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if not isinstance(node, list):
        return None
    return {
        str(e.get("kid")): str(e.get("key")) for e in node if isinstance(e, dict) and e.get("key")
    }


def _key_entry(key: PublicKey) -> dict[str, str]:
    entry = {"kid": key.kid, "key": key.pem}
    if key.mesh is not None:
        entry["mesh"] = key.mesh
    return entry


def authn_environment(spec: ControlPlaneSpec) -> dict[str, str]:
    """The env vars that turn the control plane's issuers and secret keys off, per key list."""
    env: dict[str, str] = {}
    for validator, _ in key_lists(spec):
        env.update(validator.env)
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
            f"#   kuma-cp run --config-file={spec.path(Files.CP_CONFIG)}\n"
            "# Keys are read at start: restart kuma-cp when they change.\n"
        )
        files[Files.CP_CONFIG] = Artifact((header + _yaml(config)).encode(), 0o644)
    if universal and authn.kds_token is not None:
        files[Files.KDS_TOKEN] = Artifact(f"{authn.kds_token}\n".encode(), 0o600)
    if authn.kumactl_token is not None:
        files[Files.KUMACTL_TOKEN] = Artifact(f"{authn.kumactl_token}\n".encode(), 0o600)
    if authn.admin_groups is not None:
        files[Files.ACCESS_ROLE_BINDING] = Artifact(
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
        + yamlio.dump(access_role_binding(spec.environment, groups), sort_keys=False)
    )


def _cp_env_file(spec: ControlPlaneSpec) -> str:
    text = _env_file(cp_environment(spec))
    if cp_config(spec):
        text = (
            f"# Start kuma-cp with --config-file={spec.path(Files.CP_CONFIG)}: it holds\n"
            "# the public keys of the tokens this control plane accepts.\n" + text
        )
    return text


def _yaml(document: dict) -> str:
    return yamlio.dump(document, strings="literal", sort_keys=False)  # PEM as | blocks
