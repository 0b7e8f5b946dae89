"""What ``meshprov verify`` checks for a control plane (``control_plane`` and ``zone``).

Checks run per channel of the SPEC's top table, following what Kong Mesh itself would use: on
Universal, the files the env files point at (``<work_dir>/x`` is read from ``<output_dir>/x``),
falling back to the general certificate where kuma-cp does; on Kubernetes, the Secrets of
``secrets.yaml`` that ``values.yaml`` names. Every name comes from ``kuma.py``'s layout, the one
apply writes with. For every TLS server of a channel:

- ``files``     every file or Secret key the channel needs is there;
- ``refs``      kuma-cp.env / kuma-dp.env point at files that exist (values.yaml: Secrets);
- ``chain``     the certificate validates, with the CA the client is given, for the host the
                client dials, and is signed by the control plane's configured ``ca``;
- ``sans``      the SANs cover every configured hostname (DNS) and address (IP), and on
                Kubernetes the Service names sidecars and the API server dial;
- ``bundle``    the CA bundle the client is given holds the control plane's issuing CA;
- ``expiry``    neither the certificate nor its CA is within its ``renew_before`` of expiry
                (``pki.renewal_due``, the rule plan uses to reissue);
- ``key_mode``  key files are not readable by group or others (written 0600);
- ``key_match`` the private key belongs to the certificate;

plus per channel: the client's settings (``url``, ``kumactl``, ``prometheus``,
``global_address``, ``skip_verify``), the access-control settings (``http_interface``,
``mads_tls``, ``dp_authn``, ``ca_bundle``) and, for KDS, a real TLS ``handshake`` on 127.0.0.1
between the global's certificate and key and a client trusting only the zone's KDS CA.

An insecure setting the configuration chose on purpose (``api_http_interface = "0.0.0.0"``,
``mads_tls = false``, ``dp_authn = "none"``) is a *warning*; a setting that differs from the
configuration is a failure. Nothing here puts private key material in a detail: keys are only
parsed and compared.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from meshprov import kuma, pki, tokens, yamlio
from meshprov.kuma import Env, Files, Helm, SecretKeys
from meshprov.resources import ca as ca_type
from meshprov.resources import cp_store
from meshprov.resources.control_plane_common import certificate_hostnames
from meshprov.resources.report import CheckRow, RowBuilder, VerifyContext
from meshprov.resources.schema import ResourceSchema, parse_duration
from meshprov.state.model import ResourceState

if TYPE_CHECKING:
    from cryptography import x509


__all__ = [
    "CHANNELS",
    "CHANNEL_API",
    "CHANNEL_DP",
    "CHANNEL_KDS",
    "CHANNEL_MADS",
    "CHANNEL_STORE",
    "verify_control_plane",
]

CHANNEL_DP = "dp→cp (5678)"
CHANNEL_API = "user→api (5682)"
CHANNEL_MADS = "prometheus→mads (5676)"
CHANNEL_KDS = "zone→global kds (5685)"
CHANNEL_STORE = "global→postgres store"
CHANNELS = (CHANNEL_DP, CHANNEL_API, CHANNEL_MADS, CHANNEL_KDS, CHANNEL_STORE)
# where each channel's rows go in the report: all data plane rows, then all API rows...; a
# global no zone connects to comes after the zone → global pairs
_ORDER = {
    CHANNEL_DP: (0,),
    CHANNEL_API: (1,),
    CHANNEL_MADS: (2,),
    CHANNEL_KDS: (3, 0),
    CHANNEL_STORE: (3, 2),
}
_LONE_GLOBAL = (3, 1)


def _row(channel: str, control_plane: str, order: tuple[int, ...] | None = None) -> RowBuilder:
    return RowBuilder(channel, control_plane, order or _ORDER[channel])


# --- where certificates and keys come from ---------------------------------------------------


@dataclass(frozen=True)
class _Pem:
    """A PEM document taken from a file or a Secret key, or why it could not be."""

    where: str  # "out/zone.a/tls/tls.crt", or "out/zone.a/secrets.yaml general-tls-certs/ca.crt"
    text: str | None = None
    path: Path | None = None  # the file on disk holding it (for its mode)
    standalone: bool = True  # the file holds exactly this document (usable by ssl directly)
    problem: str | None = None
    problem_check: str = "files"


class _ControlPlane:
    """A control plane in the state, and reading its output directory."""

    def __init__(self, rs: ResourceState, config_dir: Path, schema: ResourceSchema, zone: bool):
        self.rs = rs
        self.schema = schema
        self.address = rs.address
        self.attrs = rs.attributes
        self.config_dir = config_dir
        self.out = config_dir / str(self.attrs.get("output_dir") or "")
        self.work_dir = str(self.attrs.get("work_dir") or "").rstrip("/")
        self.dial_host = str(self.attrs.get("dial_host") or "")
        self.is_zone = zone
        self.kubernetes = self.attrs.get("environment") == "kubernetes"
        self.source: _Source = _Kubernetes(self) if self.kubernetes else _Universal(self)
        # what its certificates' DNS names follow from (SPEC §1.4)
        self.names = {
            name: schema.value(self.attrs, name)
            for name in ("hostnames", "environment", "service_name", "namespace")
        }
        # kubernetes: the name injected sidecars dial it by
        self.service_host = (
            kuma.service_dial_host(str(self.names["service_name"]), str(self.names["namespace"]))
            if self.kubernetes
            else None
        )

    def show(self, path: Path) -> str:
        """A path as the user knows it: relative to the configuration directory when inside."""
        try:
            return str(path.relative_to(self.config_dir))
        except ValueError:
            return str(path)

    def file(self, relative: str) -> _Pem:
        path = self.out / relative
        where = self.show(path)
        try:
            return _Pem(where, path.read_text(), path)
        except FileNotFoundError:
            return _Pem(where, path=path, problem=f"{where} is missing")
        except (OSError, UnicodeDecodeError) as exc:
            return _Pem(where, path=path, problem=f"cannot read {where}: {exc}")

    def host_path(self, value: str) -> Path | None:
        """Where a CP-host path (``<work_dir>/x``) was written here (``<output_dir>/x``)."""
        prefix = self.work_dir + "/"
        if not self.work_dir or not value.startswith(prefix):
            return None
        relative = value[len(prefix) :]
        if not relative or ".." in Path(relative).parts:
            return None
        return self.out / relative


class _Source:
    """What kuma-cp would serve and what its clients would trust, for one control plane."""

    def __init__(self, cp: _ControlPlane):
        self.cp = cp

    def dp_server(self) -> tuple[_Pem, _Pem]:
        raise NotImplementedError

    def dp_ca(self) -> _Pem:
        raise NotImplementedError

    def api_server(self) -> tuple[_Pem, _Pem]:
        raise NotImplementedError

    def mads_server(self) -> tuple[_Pem, _Pem]:
        raise NotImplementedError

    def kds_server(self) -> tuple[_Pem, _Pem]:
        raise NotImplementedError

    def kds_ca(self) -> _Pem:
        raise NotImplementedError

    def setting(self, name: str) -> tuple[str | None, str]:
        """A kuma-cp environment variable's value (None: not set) and where it is set."""
        raise NotImplementedError

    def global_address(self) -> tuple[str | None, str]:
        raise NotImplementedError

    def refs(self, dp: bool) -> list[str]:
        """Problems with what the CP's configuration files point at (kuma-dp.env with ``dp``)."""
        raise NotImplementedError

    def dp_url(self) -> tuple[bool, str | None]:
        """Whether a file tells data plane proxies the CP's URL, and that URL."""
        return False, None

    def channel_checks(self, row: RowBuilder, channel: str) -> None:
        """Checks only one environment has (kuma-dp.env settings, values.yaml caBundle)."""

    def cp_config(self) -> tuple[dict[str, Any] | None, str, str | None]:
        """The kuma-cp config file's settings (None: there is none), where, and a problem."""
        raise NotImplementedError

    def kds_token(self) -> tuple[str | None, str, str | None]:
        """The KDS token a zone presents to its global (None: none), where, and a problem."""
        raise NotImplementedError


class _Universal(_Source):
    """Files and systemd env files (SPEC §3)."""

    def __init__(self, cp: _ControlPlane):
        super().__init__(cp)
        self.cp_file = cp.show(cp.out / Files.CP_ENV)
        self.dp_file = cp.show(cp.out / Files.DP_ENV)
        self.cp_env, self.cp_env_problem = self._env(Files.CP_ENV)
        if cp.is_zone:
            self.dp_env, self.dp_env_problem = self._env(Files.DP_ENV)
        else:
            self.dp_env, self.dp_env_problem = {}, None

    def _env(self, name: str) -> tuple[dict[str, str], str | None]:
        path = self.cp.out / name
        try:
            return kuma.parse_env_file(path.read_text()), None
        except FileNotFoundError:
            return {}, f"{self.cp.show(path)} is missing"
        except (OSError, UnicodeDecodeError) as exc:
            return {}, f"cannot read {self.cp.show(path)}: {exc}"

    def _pointer(self, file: str, env: dict[str, str], problem: str | None, *names: str) -> _Pem:
        """The file the first of ``names`` that is set points at (kuma-cp's fallback order)."""
        if problem is not None:
            return _Pem(file, problem=problem, problem_check="refs")
        for name in names:
            value = env.get(name)
            if value:
                return self.resolve(file, name, value)
        return _Pem(file, problem=f"{file} does not set {' or '.join(names)}", problem_check="refs")

    def resolve(self, file: str, name: str, value: str) -> _Pem:
        path = self.cp.host_path(value)
        if path is None:
            return _Pem(
                f"{file} {name}",
                problem=f"{file} sets {name}={value}, outside work_dir {self.cp.work_dir}: "
                "meshprov cannot tell which file that is",
                problem_check="refs",
            )
        pem = self.cp.file(str(path.relative_to(self.cp.out)))
        if pem.problem is not None and not path.exists():
            return _Pem(
                pem.where,
                path=path,
                problem=f"{file} sets {name}={value}, but {pem.where} does not exist",
                problem_check="refs",
            )
        return pem

    def _cp(self, *names: str) -> _Pem:
        return self._pointer(self.cp_file, self.cp_env, self.cp_env_problem, *names)

    def _server(self, server: kuma.TlsServer) -> tuple[_Pem, _Pem]:
        general = kuma.GENERAL_TLS
        return (
            self._cp(server.cert_env, general.cert_env),
            self._cp(server.key_env, general.key_env),
        )

    def dp_server(self) -> tuple[_Pem, _Pem]:
        return self._server(kuma.DP_SERVER)

    def dp_ca(self) -> _Pem:
        return self._pointer(self.dp_file, self.dp_env, self.dp_env_problem, Env.CP_CA_FILE)

    def api_server(self) -> tuple[_Pem, _Pem]:
        return self._server(kuma.API_SERVER)

    def mads_server(self) -> tuple[_Pem, _Pem]:
        return self._server(kuma.MADS_SERVER)

    def kds_server(self) -> tuple[_Pem, _Pem]:
        return self._server(kuma.KDS_SERVER)

    def kds_ca(self) -> _Pem:
        return self._cp(Env.KDS_ROOT_CA_FILE)

    def setting(self, name: str) -> tuple[str | None, str]:
        return self.cp_env.get(name), self.cp_file

    def global_address(self) -> tuple[str | None, str]:
        return self.cp_env.get(Env.GLOBAL_ADDRESS), self.cp_file

    def dp_url(self) -> tuple[bool, str | None]:
        return self.dp_env_problem is None, self.dp_env.get(Env.CP_URL)

    def refs(self, dp: bool) -> list[str]:
        problems = []
        files = [(self.cp_file, self.cp_env, self.cp_env_problem)]
        if dp:
            files.append((self.dp_file, self.dp_env, self.dp_env_problem))
        for file, env, problem in files:
            if problem is not None:
                problems.append(problem)
                continue
            for name, value in env.items():
                if name.endswith("_FILE") and value:
                    pem = self.resolve(file, name, value)
                    if pem.problem_check == "refs" and pem.problem:
                        problems.append(pem.problem)
        return problems

    def channel_checks(self, row: RowBuilder, channel: str) -> None:
        env, file, name, who = (
            (self.dp_env, self.dp_file, Env.CP_SKIP_VERIFY, "data plane proxies")
            if channel == CHANNEL_DP
            else (self.cp_env, self.cp_file, Env.KDS_SKIP_VERIFY, "the zone")
        )
        if env.get(name, "").lower() == "true":
            row.failed("skip_verify", f"{file} sets {name}=true: {who} would not verify the server")

    def cp_config(self) -> tuple[dict[str, Any] | None, str, str | None]:
        path = self.cp.out / Files.CP_CONFIG
        where = self.cp.show(path)
        try:
            return _yaml_map(path.read_text(), where)
        except FileNotFoundError:
            return None, where, None
        except (OSError, UnicodeDecodeError) as exc:
            return None, where, f"cannot read {where}: {exc}"

    def kds_token(self) -> tuple[str | None, str, str | None]:
        value = self.cp_env.get(Env.ZONE_KDS_TOKEN_PATH)
        if self.cp_env_problem is not None or not value:
            return None, self.cp_file, self.cp_env_problem
        found = self.resolve(self.cp_file, Env.ZONE_KDS_TOKEN_PATH, value)
        return (found.text or "").strip() or None, found.where, found.problem


def _yaml_map(text: str, where: str) -> tuple[dict[str, Any] | None, str, str | None]:
    try:
        document = yamlio.load(text)
    except yamlio.YAMLError as exc:
        return None, where, f"{where} is not YAML: {exc}"
    if document is None:
        return {}, where, None
    if not isinstance(document, dict):
        return None, where, f"{where} is not a YAML map"
    return document, where, None


class _Kubernetes(_Source):
    """``secrets.yaml`` (Secret manifests) and ``values.yaml`` (Helm values), SPEC §3."""

    def __init__(self, cp: _ControlPlane):
        super().__init__(cp)
        self.secrets_path = cp.out / Files.SECRETS
        self.secrets_file = cp.show(self.secrets_path)
        self.secrets: dict[str, dict[str, str]] = {}
        self.secrets_problem: str | None = None
        try:
            self.secrets = kuma.read_secrets(self.secrets_path.read_text())
        except FileNotFoundError:
            self.secrets_problem = f"{self.secrets_file} is missing"
        except (OSError, ValueError, yamlio.YAMLError) as exc:
            self.secrets_problem = f"cannot read {self.secrets_file}: {exc}"
        values_path = cp.out / Files.VALUES
        self.values_file = cp.show(values_path)
        self.values_problem: str | None = None
        self.control_plane: dict[str, Any] = {}
        try:
            self.control_plane = kuma.control_plane_values(values_path.read_text())
        except FileNotFoundError:
            self.values_problem = f"{self.values_file} is missing"
        except (OSError, AttributeError, yamlio.YAMLError) as exc:
            self.values_problem = f"cannot read {self.values_file}: {exc}"

    def _tls(self, name: str) -> dict[str, Any]:
        return (self.control_plane.get(Helm.TLS) or {}).get(name) or {}

    def _secret(self, secret: str | None, key: str, value_key: str) -> _Pem:
        where = f"{self.secrets_file} {secret}/{key}"
        secret_name = f"{Helm.TLS}.{value_key}.{Helm.SECRET_NAME}"
        if self.values_problem is not None:
            return _Pem(where, problem=self.values_problem)
        if not secret:
            return _Pem(
                where,
                problem=f"{self.values_file} sets no {'.'.join(Helm.ROOT)}.{secret_name}",
                problem_check="refs",
            )
        if self.secrets_problem is not None:
            return _Pem(where, problem=self.secrets_problem)
        if secret not in self.secrets:
            return _Pem(
                where,
                problem=f"{self.values_file} names Secret {secret!r} "
                f"({secret_name}), which {self.secrets_file} does not define",
                problem_check="refs",
            )
        text = self.secrets[secret].get(key)
        if text is None:
            return _Pem(where, problem=f"Secret {secret!r} in {self.secrets_file} has no {key}")
        return _Pem(where, text, self.secrets_path, standalone=False)

    def _pair(self, value_key: str) -> tuple[_Pem, _Pem]:
        name = self._tls(value_key).get(Helm.SECRET_NAME)
        return (
            self._secret(name, SecretKeys.CERT, value_key),
            self._secret(name, SecretKeys.KEY, value_key),
        )

    def dp_server(self) -> tuple[_Pem, _Pem]:
        return self._pair(kuma.DP_SERVER.helm_tls)

    def dp_ca(self) -> _Pem:
        # the injector hands sidecars ca.crt of the general secret
        general = Helm.GENERAL
        return self._secret(self._tls(general).get(Helm.SECRET_NAME), SecretKeys.CA, general)

    def api_server(self) -> tuple[_Pem, _Pem]:
        own = kuma.API_SERVER.helm_tls
        return self._pair(own if self._tls(own) else kuma.GENERAL_TLS.helm_tls)

    def mads_server(self) -> tuple[_Pem, _Pem]:
        return self._pair(kuma.MADS_SERVER.helm_tls)

    def kds_server(self) -> tuple[_Pem, _Pem]:
        return self._pair(kuma.KDS_SERVER.helm_tls)

    def kds_ca(self) -> _Pem:
        name = self._tls(Helm.KDS_ZONE_CLIENT).get(Helm.SECRET_NAME)
        return self._secret(name, SecretKeys.CA, Helm.KDS_ZONE_CLIENT)

    def setting(self, name: str) -> tuple[str | None, str]:
        value = (self.control_plane.get(Helm.ENV_VARS) or {}).get(name)
        return (None if value is None else str(value)), self.values_file

    def global_address(self) -> tuple[str | None, str]:
        return self.control_plane.get(Helm.KDS_GLOBAL_ADDRESS), self.values_file

    def refs(self, dp: bool) -> list[str]:
        problems = [p for p in (self.secrets_problem, self.values_problem) if p]
        if problems:
            return problems
        for key, settings in sorted((self.control_plane.get(Helm.TLS) or {}).items()):
            name = (settings or {}).get(Helm.SECRET_NAME)
            if name and name not in self.secrets:
                problems.append(
                    f"{self.values_file} names Secret {name!r} "
                    f"({Helm.TLS}.{key}.{Helm.SECRET_NAME}), which "
                    f"{self.secrets_file} does not define"
                )
        return problems

    def channel_checks(self, row: RowBuilder, channel: str) -> None:
        if channel != CHANNEL_DP or self.values_problem is not None:
            return
        bundle = self._tls(Helm.GENERAL).get(Helm.CA_BUNDLE)
        setting = f"{Helm.TLS}.{Helm.GENERAL}.{Helm.CA_BUNDLE}"
        ca = self.dp_ca()
        if not bundle:
            row.failed("ca_bundle", f"{self.values_file} sets no {setting}")
            return
        try:
            decoded = base64.b64decode(bundle, validate=True).decode()
        except ValueError:
            row.failed("ca_bundle", f"{setting} in {self.values_file} is not base64")
            return
        for other in (ca, self.cp.file(Files.CA)):
            if other.text is not None and pki.bundle_fingerprints(
                decoded
            ) != pki.bundle_fingerprints(other.text):
                row.failed(
                    "ca_bundle", f"{setting} in {self.values_file} is not the CA in {other.where}"
                )
                return
        row.passed("ca_bundle", f"{setting} matches {ca.where}")

    def cp_config(self) -> tuple[dict[str, Any] | None, str, str | None]:
        where = f"{self.values_file} {'.'.join(Helm.ROOT)}.{Helm.CONFIG}"
        if self.values_problem is not None:
            return None, where, self.values_problem
        text = self.control_plane.get(Helm.CONFIG)
        return (None, where, None) if text is None else _yaml_map(str(text), where)

    def kds_token(self) -> tuple[str | None, str, str | None]:
        if self.values_problem is not None:
            return None, self.values_file, self.values_problem
        refs = [
            ref
            for ref in self.control_plane.get(Helm.SECRETS) or []
            if isinstance(ref, dict) and ref.get("Env") == Env.ZONE_KDS_TOKEN_INLINE
        ]
        if not refs:
            return None, self.values_file, None
        secret, key = str(refs[0].get("Secret")), str(refs[0].get("Key"))
        where = f"{self.secrets_file} {secret}/{key}"
        if self.secrets_problem is not None:
            return None, where, self.secrets_problem
        value = self.secrets.get(secret, {}).get(key)
        if value is None:
            return (
                None,
                where,
                f"{self.values_file} takes {Env.ZONE_KDS_TOKEN_INLINE} from Secret {secret!r} "
                f"key {key!r}, which {self.secrets_file} does not define",
            )
        return value.strip(), where, None


# --- certificate checks ----------------------------------------------------------------------


def _ca_renewals(context: VerifyContext) -> dict[str, tuple[str, str]]:
    """A CA certificate's fingerprint → (its address, renew_before), built once per run."""
    renewals = context.cache.get(_ca_renewals)
    if renewals is None:
        schema = ca_type.SCHEMA
        renewals = {
            rs.attributes["id"]: (rs.address, str(schema.value(rs.attributes, "renew_before")))
            for rs in context.state.resources.values()
            if rs.type == schema.type_name and isinstance(rs.attributes.get("id"), str)
        }
        context.cache[_ca_renewals] = renewals
    return renewals


class _Verifier:
    """The common checks of a TLS server: chain, SANs, expiry, key mode and match."""

    def __init__(self, context: VerifyContext):
        self.context = context
        self.now = context.now

    def signing_ca(self, cp: _ControlPlane) -> tuple[str, str | None]:
        """The configured CA's address and certificate fingerprint."""
        ca_address = str(cp.attrs.get("ca") or "its ca")
        ca = self.context.state.resources.get(ca_address)
        if ca is not None and isinstance(ca.attributes.get("id"), str):
            return ca_address, ca.attributes["id"]
        return ca_address, cp.attrs.get("ca_id")

    def server_checks(
        self,
        row: RowBuilder,
        cp: _ControlPlane,
        cert: _Pem,
        key: _Pem,
        ca: _Pem | None,
        host: str,
    ) -> x509.Certificate | None:
        for pem in (cert, key, ca):
            if pem is not None and pem.problem is not None:
                row.failed(pem.problem_check, pem.problem)
        leaf: x509.Certificate | None = None
        chain: list[x509.Certificate] = []
        if cert.text is not None:
            try:
                chain = pki.load_certificates(cert.text)
                leaf = chain[0]
            except ValueError:
                row.failed("chain", f"{cert.where} holds no PEM certificate")
        if leaf is not None:
            if ca is not None and ca.text is not None:
                self._chain(row, cp, cert, chain, ca, host)
                self.bundle(row, cp, ca)
            self._sans(row, cp, cert, leaf)
            # its CA, when the file carries it (tls.crt does): the renewal rule asks for it
            self._expiry(row, cp, cert, leaf, pki.issuer_among(leaf, chain[1:]))
        if key.text is not None:
            self._key(row, cp, cert, key, leaf)
        return leaf

    def _chain(
        self,
        row: RowBuilder,
        cp: _ControlPlane,
        cert: _Pem,
        chain: list[x509.Certificate],
        ca: _Pem,
        host: str,
    ) -> None:
        try:
            anchors = pki.load_certificates(ca.text) if ca.text else []
        except ValueError:
            anchors = []
        if not anchors:
            row.failed("chain", f"{ca.where} holds no PEM certificate")
            return
        try:
            verified = pki.verify_server_chain(chain, anchors, host, self.now)
        except ValueError as exc:
            row.failed("chain", f"{cert.where} does not verify with {ca.where} for {host}: {exc}")
            return
        ca_address, ca_id = self.signing_ca(cp)
        issuer = verified[1] if len(verified) > 1 else verified[0]
        if ca_id and pki.der_fingerprint(issuer) != ca_id:
            row.failed(
                "chain",
                f"{cert.where} is signed by {pki.subject_text(issuer)}, not by {ca_address} "
                "(the control plane's configured CA)",
            )
            return
        # pyca's verifier ignores key identifiers; OpenSSL and Envoy do not
        for child, parent in pairwise(verified):
            mismatch = pki.key_id_mismatch(child, parent)
            if mismatch:
                row.failed("chain", f"{cert.where}: {mismatch}")
                return
        row.passed("chain", f"{cert.where} verifies with {ca.where} for {host}")
        for ca_cert in verified[1:]:  # the path ends at the first CA the bundle holds
            self._ca_expiry(row, ca_cert, pki.issuer_among(ca_cert, [*chain, *anchors]))

    def _sans(self, row: RowBuilder, cp: _ControlPlane, cert: _Pem, leaf: x509.Certificate):
        missing = pki.missing_sans(
            leaf, certificate_hostnames(cp.names), cp.attrs.get("addresses") or []
        )
        service = cp.service_host
        if missing and service is not None and f"{service} (DNS)" in missing:
            row.failed(
                "sans",
                f"{cert.where} lacks SANs for {', '.join(missing)}: sidecars dial {service} and "
                f"the API server calls the webhooks at {service}.svc, so no proxy would connect "
                "and nothing would be injected",
            )
        elif missing:
            row.failed("sans", f"{cert.where} lacks SANs for {', '.join(missing)}")
        elif service is not None:
            row.passed(
                "sans", f"{cert.where} covers every hostname and address and the Service names"
            )
        else:
            row.passed("sans", f"{cert.where} covers every hostname and address")

    def bundle(self, row: RowBuilder, cp: _ControlPlane, bundle: _Pem) -> None:
        """A trust bundle clients are given holds the CA that issues ``cp``'s certificates
        (SPEC §1.4: the issuing chain, then the trusted CAs)."""
        ca_address, ca_id = self.signing_ca(cp)
        if bundle.text is None or not ca_id:
            return
        try:
            held = pki.bundle_fingerprints(bundle.text)
        except ValueError:
            return  # the chain check reports a bundle holding no certificate
        if ca_id in held:
            row.passed("bundle", f"{bundle.where} holds {ca_address}")
        else:
            row.failed(
                "bundle",
                f"{bundle.where} does not hold {ca_address}, the CA that issues "
                f"{cp.address}'s certificates: clients given it may not verify them, and the "
                "next CA rotation could not keep them trusting",
            )

    def _expiry(
        self,
        row: RowBuilder,
        cp: _ControlPlane,
        cert: _Pem,
        leaf: x509.Certificate,
        issuer: x509.Certificate | None,
    ) -> None:
        renew_before = str(cp.schema.value(cp.attrs, "renew_before"))
        problem = self._validity_problem(leaf, renew_before, issuer)
        if problem:
            row.failed("expiry", f"{cert.where} {problem}; `meshprov apply` reissues it")
        else:
            row.passed(
                "expiry",
                f"{cert.where} expires {pki.rfc3339(leaf.not_valid_after_utc)}, "
                f"beyond renew_before {renew_before}",
            )

    def _ca_expiry(
        self, row: RowBuilder, ca_cert: x509.Certificate, issuer: x509.Certificate | None
    ) -> None:
        renewals = _ca_renewals(self.context)
        address, renew_before = renewals.get(pki.der_fingerprint(ca_cert), (None, "0s"))
        problem = self._validity_problem(ca_cert, renew_before, issuer)
        name = address or pki.subject_text(ca_cert)
        if problem:
            row.failed("expiry", f"CA {name} {problem}; `meshprov apply` replaces it")

    def _validity_problem(
        self, cert: x509.Certificate, renew_before: str, issuer: x509.Certificate | None
    ) -> str | None:
        try:
            margin = timedelta(seconds=parse_duration(renew_before))
        except ValueError:
            margin = timedelta(0)
        return pki.validity_problem(cert, margin, self.now, renew_before, issuer)

    def _key(
        self,
        row: RowBuilder,
        cp: _ControlPlane,
        cert: _Pem,
        key: _Pem,
        leaf: x509.Certificate | None,
    ) -> None:
        from cryptography.hazmat.primitives import serialization

        if key.path is not None:
            try:
                mode = os.stat(key.path).st_mode & 0o777
            except OSError:
                mode = None
            holder = key.where if key.standalone else cp.show(key.path)
            if mode is not None and mode & 0o077:
                row.failed(
                    "key_mode",
                    f"{holder} has mode {mode:04o}: a private key must not be readable "
                    "by group or others (want 0600)",
                )
            elif mode is not None:
                row.passed("key_mode", f"{holder} has mode {mode:04o}")
        if leaf is None:
            return
        try:
            matches = pki.key_matches(
                leaf.public_bytes(serialization.Encoding.PEM).decode(), key.text or ""
            )
        except ValueError:
            matches = False
        if matches:
            row.passed("key_match", f"{key.where} belongs to {cert.where}")
        else:
            row.failed("key_match", f"{key.where} is not the private key of {cert.where}")


def _handshake_files(
    server_cert: _Pem, server_key: _Pem, scratch: Path
) -> tuple[Path, Path] | None:
    """Files ssl can load: the real ones, or copies of Secret data in a private temp dir."""
    if server_cert.text is None or server_key.text is None:
        return None
    if server_cert.standalone and server_key.standalone and server_cert.path and server_key.path:
        return server_cert.path, server_key.path
    cert_file, key_file = scratch / "tls.crt", scratch / "tls.key"
    for path, text in ((cert_file, server_cert.text), (key_file, server_key.text)):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
    return cert_file, key_file


def _common(row: RowBuilder, cp: _ControlPlane, dp: bool = False) -> None:
    """What every channel of a control plane needs: its configuration files' references."""
    if cp.rs.status == "tainted":
        row.warn(
            "status",
            f"{cp.address} is tainted: its last apply did not finish; the next apply replaces it",
        )
    problems = cp.source.refs(dp)
    for problem in problems:
        row.failed("refs", problem)
    if not problems:
        files = (
            f"{Files.VALUES} names Secrets that exist"
            if cp.kubernetes
            else (
                Files.CP_ENV
                + (f" and {Files.DP_ENV} point" if dp else " points")
                + " at files that exist"
            )
        )
        row.passed("refs", files)


def _setting(
    row: RowBuilder,
    cp: _ControlPlane,
    check: str,
    variable: str,
    configured: str,
    insecure: Callable[[str | None], bool],
    warning: str,
) -> str | None:
    """A kuma-cp setting: a failure when it differs from the configuration, a warning when the
    configuration itself chose an insecure value."""
    value, where = cp.source.setting(variable)
    if value != configured:
        row.failed(
            check,
            f"{where} sets {variable}={value if value is not None else '(unset)'}, but the "
            f"configuration says {configured}",
        )
    elif insecure(value):
        row.warn(check, warning)
    else:
        row.passed(check, f"{variable}={value}")
    return value


# --- token authentication (SPEC §1.8) ----------------------------------------------------------


def _token_keys(row: RowBuilder, cp: _ControlPlane, validator: kuma.TokenValidator) -> None:
    """A kind of token the control plane accepts only meshprov's keys for: its own issuer and
    secret keys are off, and its config lists exactly the keys the state says."""
    want = (cp.attrs.get("accepted_kids") or {}).get(validator.kind)
    if not want:
        return
    wrong = []
    for variable, value in validator.env.items():
        actual, where = cp.source.setting(variable)
        if actual != value:
            wrong.append(f"{where} sets {variable}={actual or '(unset)'}, want {value}")
    for setting in wrong:
        row.failed("issuer", setting)
    if not wrong:
        row.passed("issuer", f"{validator.kind} tokens: issuer and secret-stored keys off")
    keys, config_file, problem = written_public_keys_of(cp, validator)
    if problem is not None:
        row.failed("token_keys", problem)
    elif keys is None:
        path = ".".join(validator.config_path)
        row.failed(
            "token_keys", f"{config_file} lists no {validator.kind} token public keys ({path})"
        )
    elif sorted(keys) != sorted(want):
        row.failed(
            "token_keys",
            f"{config_file} lists {validator.kind} token keys {', '.join(sorted(keys)) or 'none'}, "
            f"but the configuration says {', '.join(sorted(want))}",
        )
    else:
        row.passed(
            "token_keys", f"{config_file} lists {validator.kind} token keys {', '.join(want)}"
        )


def written_public_keys_of(
    cp: _ControlPlane, validator: kuma.TokenValidator
) -> tuple[dict[str, str] | None, str, str | None]:
    """kid → public key PEM of one kind, as the control plane's config holds them, each key
    checked to be the key its kid names (None: no such list)."""
    config, where, problem = cp.source.cp_config()
    if problem is not None or config is None:
        return None, where, problem
    keys = kuma.config_public_keys(config, validator)
    for kid, pem in (keys or {}).items():
        try:
            actual = tokens.key_id(pem)
        except ValueError:
            return None, where, f"{where}: the key of kid {kid} is not an RSA public key"
        if actual != kid:
            return None, where, f"{where}: kid {kid} names a key whose kid is {actual}"
    return keys, where, None


def written_public_keys(
    rs: ResourceState,
    context: VerifyContext,
    schema: ResourceSchema,
    validator: kuma.TokenValidator,
) -> tuple[dict[str, str] | None, str, str | None]:
    """``written_public_keys_of`` for a control plane of the state, read once per run."""
    key = (written_public_keys, rs.address, validator.kind)
    if key not in context.cache:
        cp = _ControlPlane(rs, context.config_dir, schema, zone=rs.type != "control_plane")
        context.cache[key] = written_public_keys_of(cp, validator)
    return context.cache[key]


def check_token(
    row: RowBuilder,
    token: str,
    keys: dict[str, str],
    where: str,
    now: datetime,
    claims: dict[str, Any],
) -> tokens.CheckedToken | None:
    """The token verifies with a key of ``keys`` (as written at ``where``), has not expired,
    and carries ``claims``. Details name keys and claims, never the token."""
    try:
        checked = tokens.check(token, keys, now)
    except tokens.TokenInvalid as exc:
        row.failed("signature", f"the control plane would refuse it: {exc} ({where})")
        return None
    row.passed("signature", f"verifies with key {checked.kid} in {where}")
    row.passed("expiry", f"valid until {checked.expires_at:%Y-%m-%d %H:%M} UTC")
    for name, value in claims.items():
        if checked.claims.get(name) != value:
            row.failed("claims", f"claim {name} is {checked.claims.get(name)!r}, want {value!r}")
    return checked


def _held_token(
    row: RowBuilder, context: VerifyContext, cp: _ControlPlane, attribute: str, found: tuple
) -> str | None:
    """A token the control plane's files hold (``found``: text, where, problem) is the one its
    ``attribute`` names in the state."""
    address = cp.attrs.get(attribute)
    if not address:
        return None
    text, where, problem = found
    if problem is not None:
        row.failed(attribute, problem)
        return None
    state = context.state.resources.get(str(address))
    want = state.attributes.get("token") if state is not None else None
    if text is None:
        row.failed(attribute, f"{where} holds no token, but {attribute} = {address}")
    elif text != want:
        row.failed(attribute, f"{where} does not hold {address}'s current token")
    else:
        row.passed(attribute, f"{where} holds {address}")
    return text


def _kumactl_token(row: RowBuilder, context: VerifyContext, cp: _ControlPlane) -> None:
    path = cp.out / Files.KUMACTL_TOKEN
    where = cp.show(path)
    if not cp.attrs.get("kumactl_token"):
        return
    try:
        found: tuple = (path.read_text().strip(), where, None)
    except FileNotFoundError:
        found = (None, where, f"{where} is missing")
    except (OSError, UnicodeDecodeError) as exc:
        found = (None, where, f"cannot read {where}: {exc}")
    if _held_token(row, context, cp, "kumactl_token", found) is not None:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            row.failed("key_mode", f"{where} has mode {mode:04o}, want 0600")


def _rbac(row: RowBuilder, cp: _ControlPlane) -> None:
    """No AccessRoleBinding meshprov wrote makes an unauthenticated caller admin."""
    groups = cp.attrs.get("admin_groups")
    path = cp.out / Files.ACCESS_ROLE_BINDING
    where = cp.show(path)
    if groups is None:
        row.warn(
            "rbac",
            "admin_groups = null: no AccessRoleBinding is written, and Kong Mesh's default "
            "binding makes unauthenticated callers admin",
        )
        return
    try:
        document = yamlio.load(path.read_text())
        bound = kuma.binding_groups(document if isinstance(document, dict) else {})
    except FileNotFoundError:
        row.failed("rbac", f"{where} is missing")
        return
    except (OSError, UnicodeDecodeError, AttributeError, yamlio.YAMLError) as exc:
        row.failed("rbac", f"cannot read {where}: {exc}")
        return
    anonymous = [g for g in bound if g in kuma.UNAUTHENTICATED_GROUPS]
    if anonymous:
        row.failed("rbac", f"{where} makes {', '.join(anonymous)} admin: anyone may mint tokens")
    elif sorted(bound) != sorted(groups):
        row.failed("rbac", f"{where} binds admin to {bound}, the configuration says {groups}")
    else:
        row.passed("rbac", f"{where} binds admin to {', '.join(bound)} only")


def _dp_row(v: _Verifier, cp: _ControlPlane) -> CheckRow:
    row = _row(CHANNEL_DP, cp.address)
    _common(row, cp, dp=True)
    cert, key = cp.source.dp_server()
    ca = cp.source.dp_ca()
    host = cp.service_host or cp.dial_host
    has_url, url_value = cp.source.dp_url()
    if has_url:
        expected = cp.attrs.get("cp_url")
        dp_file = cp.show(cp.out / Files.DP_ENV)
        if url_value != expected:
            row.failed(
                "url",
                f"{dp_file} sets {Env.CP_URL}={url_value or '(unset)'}, want {expected}",
            )
        else:
            row.passed("url", f"{Env.CP_URL}={url_value}")
        host = (urlsplit(url_value).hostname if url_value else None) or host
    cp.source.channel_checks(row, CHANNEL_DP)
    authn = str(cp.schema.value(cp.attrs, "dp_authn"))
    _setting(
        row,
        cp,
        "dp_authn",
        Env.DP_AUTHN,
        authn,
        lambda value: value == "none",
        'data plane proxies get configuration and certificates without a token (dp_authn = "none")',
    )
    _token_keys(row, cp, kuma.DP_TOKENS)
    _token_keys(row, cp, kuma.ZONE_PROXY_TOKENS)
    leaf = v.server_checks(row, cp, cert, key, ca, host)
    return row.build(_summary(cp, cert, ca, host, leaf))


def _api_row(v: _Verifier, cp: _ControlPlane) -> CheckRow:
    row = _row(CHANNEL_API, cp.address)
    _common(row, cp)
    cert, key = cp.source.api_server()
    if cp.attrs.get("api_separate_cert") and cert.problem is None:
        own = Files.API_CERT if not cp.kubernetes else kuma.API_SECRET
        if own not in cert.where:
            row.failed(
                "api_cert",
                f"api_separate_cert = true, but the API server uses {cert.where}, not {own}",
            )
    port = cp.schema.value(cp.attrs, "api_https_port")
    expected = f"https://{kuma.url_host(cp.dial_host)}:{port}"
    host = cp.dial_host
    ca: _Pem | None = None
    script = cp.out / Files.KUMACTL
    try:
        text = script.read_text()
    except OSError:
        row.failed("kumactl", f"{cp.show(script)} is missing")
    else:
        address, ca_file = kuma.parse_kumactl(text)
        if address != expected:
            row.failed(
                "kumactl",
                f"{cp.show(script)} adds {address or 'no --address'}, want {expected}",
            )
        elif ca_file is None:
            row.failed("kumactl", f"{cp.show(script)} passes no --ca-cert-file next to it")
        else:
            row.passed("kumactl", f"{Files.KUMACTL} adds {expected} with {ca_file}")
        if ca_file is not None:
            ca = cp.file(ca_file)
        if address is not None:
            host = urlsplit(address).hostname or host
    _setting(
        row,
        cp,
        "http_interface",
        Env.API_HTTP_INTERFACE,
        str(cp.schema.value(cp.attrs, "api_http_interface")),
        kuma.binds_every_interface,
        "the plain-HTTP API (5681) listens on every interface (api_http_interface = "
        '"0.0.0.0"): keep it on 127.0.0.1 and use HTTPS',
    )
    _token_keys(row, cp, kuma.USER_TOKENS)
    _kumactl_token(row, v.context, cp)
    _rbac(row, cp)
    leaf = v.server_checks(row, cp, cert, key, ca, host)
    return row.build(_summary(cp, cert, ca, host, leaf))


def _mads_row(v: _Verifier, cp: _ControlPlane) -> CheckRow:
    row = _row(CHANNEL_MADS, cp.address)
    _common(row, cp)
    configured = bool(cp.schema.value(cp.attrs, "mads_tls"))
    value = _setting(
        row,
        cp,
        "mads_tls",
        Env.MADS_TLS,
        "true" if configured else "false",
        lambda value: value == "false",
        "Prometheus discovers data plane proxies over plain HTTP (mads_tls = false)",
    )
    if value != "true" or not configured:
        return row.build("MADS TLS is off")
    cert, key = cp.source.mads_server()
    host, ca = cp.dial_host, None
    sd = cp.out / Files.PROMETHEUS
    try:
        jobs = (yamlio.load(sd.read_text()) or {}).get("scrape_configs") or []
        sd_configs = [c for job in jobs for c in job.get("kuma_sd_configs") or []]
    except FileNotFoundError:
        row.failed("prometheus", f"{cp.show(sd)} is missing")
        sd_configs = []
    except (OSError, AttributeError, yamlio.YAMLError) as exc:
        row.failed("prometheus", f"cannot read {cp.show(sd)}: {exc}")
        sd_configs = []
    for sd_config in sd_configs[:1]:
        server = str(sd_config.get("server") or "")
        ca_file = str((sd_config.get("tls_config") or {}).get("ca_file") or "")
        parts = urlsplit(server)
        if parts.scheme != "https" or parts.port != kuma.MADS_PORT:
            row.failed(
                "prometheus",
                f"kuma_sd_configs server is {server!r}, want https://…:{kuma.MADS_PORT}",
            )
        host = parts.hostname or host
        if not ca_file:
            row.failed("prometheus", f"{cp.show(sd)} sets no tls_config.ca_file")
            continue
        if ca_file.startswith("/"):
            mapped = cp.host_path(ca_file)
            ca_path = mapped if mapped is not None else Path(ca_file)
        else:
            ca_path = sd.parent / ca_file
        ca = (
            cp.file(str(ca_path.relative_to(cp.out)))
            if ca_path.is_relative_to(cp.out)
            else (
                _Pem(ca_file, problem=f"tls_config.ca_file {ca_file} is outside {cp.show(cp.out)}")
            )
        )
        if ca.problem is None:
            row.passed("prometheus", f"tls_config.ca_file {ca_file} exists")
        else:
            problem = f"{cp.show(sd)} tls_config.ca_file {ca_file}: {ca.problem}"
            ca = replace(ca, problem=problem, problem_check="prometheus")
    if sd.exists() and not sd_configs:
        row.failed("prometheus", f"{cp.show(sd)} has no kuma_sd_configs")
    leaf = v.server_checks(row, cp, cert, key, ca, host)
    return row.build("MADS TLS on; " + _summary(cp, cert, ca, host, leaf))


def verify_control_plane(
    rs: ResourceState,
    context: VerifyContext,
    schema: ResourceSchema,
    global_schema: ResourceSchema | None = None,
) -> list[CheckRow]:
    """The rows of one control plane: a zone's (``global_schema`` given: the schema of the
    globals it connects to) data plane, API, MADS and KDS channels; a global's API channel,
    and its KDS certificate when no zone connects to it."""
    cp = _ControlPlane(rs, context.config_dir, schema, zone=global_schema is not None)
    v = _Verifier(context)
    if global_schema is None:
        rows = [_api_row(v, cp)]
        if cp.address not in _served_globals(context, rs.type):
            rows.append(_lone_global_row(v, cp))
        if isinstance(cp.source, _Universal) and cp.attrs.get(cp_store.STORE.name) is not None:
            rows.append(_store_row(cp, cp.source, context))
        return rows
    rows = [_dp_row(v, cp), _api_row(v, cp), _mads_row(v, cp)]
    global_ref = cp.attrs.get(_GLOBAL)
    if global_ref:  # a standalone zone has no KDS
        target = _zone_target(rs, context, global_schema.type_name)
        if target is None:
            row = _row(CHANNEL_KDS, f"{cp.address} → {global_ref}")
            row.failed("refs", f"its global {global_ref} is not in the state")
            rows.append(row.build(""))
        else:
            target_cp = _ControlPlane(target, context.config_dir, global_schema, zone=False)
            rows.append(_kds_pair_row(v, cp, target_cp))
    return rows


_GLOBAL = "global"  # the zone argument naming its global control plane


def _zone_target(
    zone: ResourceState, context: VerifyContext, global_type: str
) -> ResourceState | None:
    """The global a zone connects to: the one its ``global`` names, else (the global's
    address changed) the one serving the KDS address the zone dials."""
    resources = context.state.resources
    named = resources.get(str(zone.attributes.get(_GLOBAL)))
    if named is not None and named.type == global_type:
        return named
    want = zone.attributes.get("global_address")
    return next(
        (
            rs
            for rs in resources.values()
            if rs.type == global_type and rs.attributes.get("kds_address") == want
        ),
        None,
    )


def _served_globals(context: VerifyContext, global_type: str) -> set[str]:
    """The globals some zone in the state connects to, found once per run."""
    key = (_served_globals, global_type)
    served = context.cache.get(key)
    if served is None:
        served = set()
        for rs in context.state.resources.values():
            if rs.attributes.get(_GLOBAL) and rs.type != global_type:
                target = _zone_target(rs, context, global_type)
                if target is not None:
                    served.add(target.address)
        context.cache[key] = served
    return served


def _lone_global_row(v: _Verifier, target: _ControlPlane) -> CheckRow:
    row = _row(CHANNEL_KDS, target.address, _LONE_GLOBAL)
    _common(row, target)
    _token_keys(row, target, kuma.KDS_TOKENS)
    cert, key = target.source.kds_server()
    v.server_checks(row, target, cert, key, target.file(Files.CA), target.dial_host)
    return row.build("no zone connects to this global; its KDS certificate is ok")


def _store_row(cp: _ControlPlane, source: _Universal, context: VerifyContext) -> CheckRow:
    row = _row(CHANNEL_STORE, cp.address)
    if source.cp_env_problem is not None:
        row.failed("refs", source.cp_env_problem)
        return row.build("")

    def read(path: str) -> tuple[str | None, str | None]:
        pem = source.resolve(source.cp_file, kuma.StoreEnv.TLS_CA_PATH, path)
        return pem.text, pem.problem

    cp_store.verify(row, cp.rs, context, source.cp_env, source.cp_file, read)
    return row.build(f"{Files.CP_ENV} sets the postgres store as configured")


def _kds_pair_row(v: _Verifier, zone: _ControlPlane, target: _ControlPlane) -> CheckRow:
    from meshprov.handshake import loopback_handshake

    row = _row(CHANNEL_KDS, f"{zone.address} → {target.address}")
    _common(row, zone)
    _common(row, target)
    zone.source.channel_checks(row, CHANNEL_KDS)
    want = target.attrs.get("kds_address")
    address, where = zone.source.global_address()
    if address != want:
        row.failed(
            "global_address",
            f"{zone.address} dials {address or '(no global address)'} ({where}), "
            f"but the global's KDS address is {want}",
        )
    else:
        row.passed("global_address", f"{zone.address} dials {address}")
    _token_keys(row, target, kuma.KDS_TOKENS)
    token = _held_token(row, v.context, zone, "kds_token", zone.source.kds_token())
    if token is not None:
        keys, where, problem = written_public_keys_of(target, kuma.KDS_TOKENS)
        if problem is not None or keys is None:
            row.failed("signature", problem or f"{where} lists no KDS token public keys")
        else:
            claims = {"Zone": zone.attrs.get("zone_name"), "Scope": ["cp"]}
            check_token(row, token, keys, where, v.now, claims)
    cert, key = target.source.kds_server()
    kds_ca = zone.source.kds_ca()
    host = target.dial_host
    # the global's own checks, with its own CA; the zone's trust is what the handshake tests
    v.server_checks(row, target, cert, key, target.file(Files.CA), host)
    if kds_ca.problem is not None:
        row.failed(kds_ca.problem_check, kds_ca.problem)
        return row.build("")
    v.bundle(row, target, kds_ca)
    with tempfile.TemporaryDirectory(prefix="meshprov-verify-") as scratch:
        files = _handshake_files(cert, key, Path(scratch))
        if files is None:
            return row.build("")
        minimum = (
            ssl.TLSVersion.TLSv1_3
            if target.attrs.get("tls_min_version") == "TLSv1_3"
            else ssl.TLSVersion.TLSv1_2
        )
        result = loopback_handshake(
            files[0], files[1], kds_ca.text or "", host, min_version=minimum
        )
    if result.ok:
        row.passed("handshake", f"{result.detail} with {kds_ca.where}")
    elif result.server_failed:
        row.failed("handshake", f"the global cannot serve KDS TLS: {result.detail}")
    else:
        row.failed(
            "handshake",
            f"a client trusting only {kds_ca.where} rejects the global's KDS certificate "
            f"for {host}: {result.detail}",
        )
    return row.build(f"{result.version} handshake: {_short(kds_ca.where, zone)} verifies {host}")


def _summary(
    cp: _ControlPlane, cert: _Pem, ca: _Pem | None, host: str, leaf: x509.Certificate | None
) -> str:
    """What a clean row established: ``tls/tls.crt verified for h with tls/ca.crt, expires …``."""
    via = f" with {_short(ca.where, cp)}" if ca is not None else ""
    expires = f", expires {leaf.not_valid_after_utc.date().isoformat()}" if leaf else ""
    return f"{_short(cert.where, cp)} verified for {host}{via}{expires}"


def _short(where: str, cp: _ControlPlane) -> str:
    """``out/zone.a/tls/ca.crt`` → ``tls/ca.crt`` in summaries (the row names the CP), and
    ``out/zone.a/secrets.yaml general-tls-certs/ca.crt`` → ``secret general-tls-certs/ca.crt``."""
    prefix = cp.show(cp.out) + "/"
    short = where[len(prefix) :] if where.startswith(prefix) else where
    return short.replace(f"{Files.SECRETS} ", "secret ", 1)
