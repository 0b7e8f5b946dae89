"""Kong Mesh knowledge: environment variables, ports, Helm keys, and the files apply writes.

Every name here comes from ``shared/reference/kuma-security.md`` (kuma v2.14.3 sources): the
env var is the upper-cased ``envconfig`` tag, and the kong-mesh Helm chart nests the kuma chart
under ``kuma.``. ``render_artifacts`` is a pure function from a control plane's settings and
PEMs to file contents and modes; resources write them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

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
    files["kuma-cp.env"] = Artifact(_env_file(cp_environment(spec)).encode(), 0o600)
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
    return env


def dp_environment(spec: ControlPlaneSpec) -> dict[str, str]:
    """kuma-dp's environment: where the zone CP is, and the CA that verifies it."""
    assert spec.zone is not None
    return {
        "KUMA_CONTROL_PLANE_URL": f"https://{url_host(spec.dial_host)}:{spec.zone.dp_port}",
        "KUMA_CONTROL_PLANE_CA_CERT_FILE": spec.path("tls/ca.crt"),
    }


def _kumactl(spec: ControlPlaneSpec) -> str:
    address = f"https://{url_host(spec.dial_host)}:{spec.api_https_port}"
    return (
        "#!/bin/sh\n"
        f"# Point kumactl at the {spec.mode} control plane {spec.name!r}, verifying its API\n"
        "# server certificate with the CA next to this script.\n"
        "set -eu\n"
        'here="$(cd "$(dirname "$0")" && pwd)"\n'
        f"exec kumactl config control-planes add --name={spec.name} --address={address} "
        '--ca-cert-file="$here/tls/ca.crt" --overwrite\n'
    )


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
    control_plane["envVars"] = env
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
