"""``meshprov verify``: check what apply deployed against the secure-access rules of SPEC §5.

Checks run per channel of the SPEC's top table and per control plane, following what Kong Mesh
itself would use: on Universal, the files the env files point at (``<work_dir>/x`` is read from
``<output_dir>/x``), falling back to the general certificate where kuma-cp does; on Kubernetes,
the Secrets of ``secrets.yaml`` that ``values.yaml`` names. For every TLS server of a channel:

- ``files``     every file or Secret key the channel needs is there;
- ``refs``      kuma-cp.env / kuma-dp.env point at files that exist (values.yaml: Secrets);
- ``chain``     the certificate validates, with the CA the client is given, for the host the
                client dials, and is signed by the control plane's configured ``ca``;
- ``sans``      the SANs cover every configured hostname (DNS) and address (IP);
- ``expiry``    neither the certificate nor its CA is within its ``renew_before`` of expiry
                (the same rule plan uses to reissue);
- ``key_mode``  key files are not readable by group or others (written 0600);
- ``key_match`` the private key belongs to the certificate;

plus per channel: the client's settings (``url``, ``kumactl``, ``prometheus``,
``global_address``, ``skip_verify``), the access-control settings (``http_interface``,
``mads_tls``, ``dp_authn``, ``ca_bundle``) and, for KDS, a real TLS ``handshake`` on 127.0.0.1
between the global's certificate and key and a client trusting only the zone's KDS CA.

Failures and warnings. A check fails when an artifact is missing, wrong, or differs from what the
configuration asks for (a tampered env file opening the API on 0.0.0.0 fails). An insecure
setting the configuration chose on purpose (``api_http_interface = "0.0.0.0"``,
``mads_tls = false``, ``dp_authn = "none"``) is a *warning*, as in ``validate`` and ``plan``:
the row shows ``WARN`` and the exit code stays 0, so a deliberate choice does not keep CI red.

Nothing here ever puts private key material in a detail: keys are only parsed and compared.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from meshprov import kuma, pki
from meshprov.diagnostics import DiagnosticError
from meshprov.resources.base import Context, ResourceError
from meshprov.resources.schema import parse_duration
from meshprov.state.model import ResourceState, State

__all__ = [
    "CHANNELS",
    "CHANNEL_API",
    "CHANNEL_DP",
    "CHANNEL_KDS",
    "CHANNEL_MADS",
    "ChannelRow",
    "CheckResult",
    "Handshake",
    "Report",
    "loopback_handshake",
    "verify_state",
]

CHANNEL_DP = "dp→cp (5678)"
CHANNEL_API = "user→api (5682)"
CHANNEL_MADS = "prometheus→mads (5676)"
CHANNEL_KDS = "zone→global kds (5685)"
CHANNELS = (CHANNEL_DP, CHANNEL_API, CHANNEL_MADS, CHANNEL_KDS)

HANDSHAKE_TIMEOUT = 5.0  # seconds, for every socket operation of the loopback handshake
_OPEN_INTERFACES = ("0.0.0.0", "::", "[::]", "")
_CONTROL_PLANE_TYPES = ("control_plane", "zone")


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """One check of one channel of one control plane.

    ``ok`` is False only for a failure (exit 1). A warning is ``ok`` with ``warning`` set: an
    insecure setting the configuration asked for.
    """

    channel: str
    control_plane: str  # an address, or "zone.x → control_plane.g" for a KDS pair
    check: str  # a stable name: files, refs, chain, sans, expiry, key_mode, key_match, ...
    ok: bool
    detail: str
    warning: bool = False

    @property
    def result(self) -> str:
        return "FAIL" if not self.ok else "WARN" if self.warning else "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "control_plane": self.control_plane,
            "check": self.check,
            "ok": self.ok,
            "warning": self.warning,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class ChannelRow:
    """The checks of one channel for one control plane (or one zone → global pair)."""

    channel: str
    control_plane: str
    checks: tuple[CheckResult, ...]
    summary: str  # what was established, shown when nothing failed or warned

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.ok)

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.ok and c.warning)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def result(self) -> str:
        """``ok``, ``WARN`` (passed, with a warning) or ``FAIL``."""
        return "FAIL" if self.failures else "WARN" if self.warnings else "ok"

    @property
    def detail(self) -> str:
        """The first failure, else the first warning, else the summary."""
        first = (self.failures or self.warnings or (None,))[0]
        return f"{first.check}: {first.detail}" if first is not None else self.summary

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "control_plane": self.control_plane,
            "ok": self.ok,
            "result": self.result,
            "detail": self.detail,
            "failed_checks": sorted({c.check for c in self.failures}),
            "warnings": sorted({c.check for c in self.warnings}),
        }


@dataclass(frozen=True)
class Report:
    rows: tuple[ChannelRow, ...]
    as_of: datetime

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def checks(self) -> tuple[CheckResult, ...]:
        return tuple(c for row in self.rows for c in row.checks)

    def row(self, channel: str, control_plane: str) -> ChannelRow:
        for row in self.rows:
            if row.channel == channel and row.control_plane == control_plane:
                return row
        raise KeyError((channel, control_plane))


class _RowBuilder:
    def __init__(self, channel: str, control_plane: str):
        self.channel = channel
        self.control_plane = control_plane
        self.results: list[CheckResult] = []

    def add(self, check: str, ok: bool, detail: str, warning: bool = False) -> None:
        result = CheckResult(self.channel, self.control_plane, check, ok, detail, warning)
        if result not in self.results:  # a missing file found by two routes is one failure
            self.results.append(result)

    def passed(self, check: str, detail: str) -> None:
        self.add(check, True, detail)

    def failed(self, check: str, detail: str) -> None:
        self.add(check, False, detail)

    def warn(self, check: str, detail: str) -> None:
        self.add(check, True, detail, warning=True)

    def build(self, summary: str) -> ChannelRow:
        return ChannelRow(self.channel, self.control_plane, tuple(self.results), summary)


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


def _mode_text(mode: int) -> str:
    return f"{mode:04o}"


class _ControlPlane:
    """A control plane in the state, and reading its output directory."""

    def __init__(self, rs: ResourceState, config_dir: Path):
        self.rs = rs
        self.address = rs.address
        self.attrs = rs.attributes
        self.config_dir = config_dir
        self.out = config_dir / str(self.attrs.get("output_dir") or "")
        self.work_dir = str(self.attrs.get("work_dir") or "").rstrip("/")
        self.dial_host = str(self.attrs.get("dial_host") or "")
        self.is_zone = rs.type == "zone"
        self.kubernetes = self.attrs.get("environment") == "kubernetes"
        self.source: _Source = _Kubernetes(self) if self.kubernetes else _Universal(self)

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

    def channel_checks(self, row: _RowBuilder, channel: str) -> None:
        """Checks only one environment has (kuma-dp.env settings, values.yaml caBundle)."""


class _Universal(_Source):
    """Files and systemd env files (SPEC §3)."""

    def __init__(self, cp: _ControlPlane):
        super().__init__(cp)
        self.cp_file = cp.show(cp.out / "kuma-cp.env")
        self.dp_file = cp.show(cp.out / "kuma-dp.env")
        self.cp_env, self.cp_env_problem = self._env("kuma-cp.env")
        if cp.is_zone:
            self.dp_env, self.dp_env_problem = self._env("kuma-dp.env")
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
                return self._resolve(file, name, value)
        return _Pem(file, problem=f"{file} does not set {' or '.join(names)}", problem_check="refs")

    def _resolve(self, file: str, name: str, value: str) -> _Pem:
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

    def _general(self, prefix: str) -> tuple[_Pem, _Pem]:
        return (
            self._cp(f"{prefix}_CERT_FILE", "KUMA_GENERAL_TLS_CERT_FILE"),
            self._cp(f"{prefix}_KEY_FILE", "KUMA_GENERAL_TLS_KEY_FILE"),
        )

    def dp_server(self) -> tuple[_Pem, _Pem]:
        return self._general("KUMA_DP_SERVER_TLS")

    def dp_ca(self) -> _Pem:
        return self._pointer(
            self.dp_file, self.dp_env, self.dp_env_problem, "KUMA_CONTROL_PLANE_CA_CERT_FILE"
        )

    def api_server(self) -> tuple[_Pem, _Pem]:
        return self._general("KUMA_API_SERVER_HTTPS_TLS")

    def mads_server(self) -> tuple[_Pem, _Pem]:
        return self._general("KUMA_MONITORING_ASSIGNMENT_SERVER_TLS")

    def kds_server(self) -> tuple[_Pem, _Pem]:
        return self._general("KUMA_MULTIZONE_GLOBAL_KDS_TLS")

    def kds_ca(self) -> _Pem:
        return self._cp("KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE")

    def setting(self, name: str) -> tuple[str | None, str]:
        return self.cp_env.get(name), self.cp_file

    def global_address(self) -> tuple[str | None, str]:
        return self.cp_env.get("KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS"), self.cp_file

    def dp_url(self) -> tuple[bool, str | None]:
        return self.dp_env_problem is None, self.dp_env.get("KUMA_CONTROL_PLANE_URL")

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
                    pem = self._resolve(file, name, value)
                    if pem.problem_check == "refs" and pem.problem:
                        problems.append(pem.problem)
        return problems

    def channel_checks(self, row: _RowBuilder, channel: str) -> None:
        env, file, name, who = (
            (self.dp_env, self.dp_file, "KUMA_CONTROL_PLANE_TLS_SKIP_VERIFY", "data plane proxies")
            if channel == CHANNEL_DP
            else (self.cp_env, self.cp_file, "KUMA_MULTIZONE_ZONE_KDS_TLS_SKIP_VERIFY", "the zone")
        )
        if env.get(name, "").lower() == "true":
            row.failed("skip_verify", f"{file} sets {name}=true: {who} would not verify the server")


class _Kubernetes(_Source):
    """``secrets.yaml`` (Secret manifests) and ``values.yaml`` (Helm values), SPEC §3."""

    def __init__(self, cp: _ControlPlane):
        super().__init__(cp)
        self.secrets_path = cp.out / "secrets.yaml"
        self.secrets_file = cp.show(self.secrets_path)
        self.secrets: dict[str, dict[str, str]] = {}
        self.secrets_problem: str | None = None
        try:
            for doc in yaml.safe_load_all(self.secrets_path.read_text()):
                if isinstance(doc, dict) and doc.get("kind") == "Secret":
                    name = str((doc.get("metadata") or {}).get("name"))
                    self.secrets[name] = {
                        k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()
                    }
        except FileNotFoundError:
            self.secrets_problem = f"{self.secrets_file} is missing"
        except (OSError, ValueError, yaml.YAMLError) as exc:
            self.secrets_problem = f"cannot read {self.secrets_file}: {exc}"
        values_path = cp.out / "values.yaml"
        self.values_file = cp.show(values_path)
        self.values_problem: str | None = None
        self.control_plane: dict[str, Any] = {}
        try:
            values = yaml.safe_load(values_path.read_text()) or {}
            self.control_plane = ((values.get("kuma") or {}).get("controlPlane")) or {}
        except FileNotFoundError:
            self.values_problem = f"{self.values_file} is missing"
        except (OSError, AttributeError, yaml.YAMLError) as exc:
            self.values_problem = f"cannot read {self.values_file}: {exc}"

    def _tls(self, name: str) -> dict[str, Any]:
        return (self.control_plane.get("tls") or {}).get(name) or {}

    def _secret(self, secret: str | None, key: str, value_key: str) -> _Pem:
        where = f"{self.secrets_file} {secret}/{key}"
        if self.values_problem is not None:
            return _Pem(where, problem=self.values_problem)
        if not secret:
            return _Pem(
                where,
                problem=f"{self.values_file} sets no kuma.controlPlane.tls.{value_key}.secretName",
                problem_check="refs",
            )
        if self.secrets_problem is not None:
            return _Pem(where, problem=self.secrets_problem)
        if secret not in self.secrets:
            return _Pem(
                where,
                problem=f"{self.values_file} names Secret {secret!r} "
                f"(tls.{value_key}.secretName), which {self.secrets_file} does not define",
                problem_check="refs",
            )
        text = self.secrets[secret].get(key)
        if text is None:
            return _Pem(where, problem=f"Secret {secret!r} in {self.secrets_file} has no {key}")
        return _Pem(where, text, self.secrets_path, standalone=False)

    def _pair(self, value_key: str) -> tuple[_Pem, _Pem]:
        name = self._tls(value_key).get("secretName")
        return self._secret(name, "tls.crt", value_key), self._secret(name, "tls.key", value_key)

    def dp_server(self) -> tuple[_Pem, _Pem]:
        return self._pair("general")

    def dp_ca(self) -> _Pem:
        # the injector hands sidecars ca.crt of the general secret
        return self._secret(self._tls("general").get("secretName"), "ca.crt", "general")

    def api_server(self) -> tuple[_Pem, _Pem]:
        return self._pair("apiServer" if self._tls("apiServer") else "general")

    def mads_server(self) -> tuple[_Pem, _Pem]:
        return self._pair("general")

    def kds_server(self) -> tuple[_Pem, _Pem]:
        return self._pair("kdsGlobalServer")

    def kds_ca(self) -> _Pem:
        name = self._tls("kdsZoneClient").get("secretName")
        return self._secret(name, "ca.crt", "kdsZoneClient")

    def setting(self, name: str) -> tuple[str | None, str]:
        value = (self.control_plane.get("envVars") or {}).get(name)
        return (None if value is None else str(value)), self.values_file

    def global_address(self) -> tuple[str | None, str]:
        return self.control_plane.get("kdsGlobalAddress"), self.values_file

    def refs(self, dp: bool) -> list[str]:
        problems = [p for p in (self.secrets_problem, self.values_problem) if p]
        if problems:
            return problems
        for key, settings in sorted((self.control_plane.get("tls") or {}).items()):
            name = (settings or {}).get("secretName")
            if name and name not in self.secrets:
                problems.append(
                    f"{self.values_file} names Secret {name!r} (tls.{key}.secretName), which "
                    f"{self.secrets_file} does not define"
                )
        return problems

    def channel_checks(self, row: _RowBuilder, channel: str) -> None:
        if channel != CHANNEL_DP or self.values_problem is not None:
            return
        bundle = self._tls("general").get("caBundle")
        ca = self.dp_ca()
        if not bundle:
            row.failed("ca_bundle", f"{self.values_file} sets no tls.general.caBundle")
            return
        try:
            decoded = base64.b64decode(bundle, validate=True).decode()
        except ValueError:
            row.failed("ca_bundle", f"tls.general.caBundle in {self.values_file} is not base64")
            return
        for other in (ca, self.cp.file("tls/ca.crt")):
            if other.text is not None and _fingerprints(decoded) != _fingerprints(other.text):
                row.failed(
                    "ca_bundle",
                    f"tls.general.caBundle in {self.values_file} is not the CA in {other.where}",
                )
                return
        row.passed("ca_bundle", f"tls.general.caBundle matches {ca.where}")


# --- certificate checks ----------------------------------------------------------------------


def _fingerprints(pem: str) -> list[str]:
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return []
    return [_fingerprint(c) for c in certs]


def _fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def _date(moment: datetime) -> str:
    return pki.rfc3339(moment)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


class _Verifier:
    """The state-wide facts the checks need: the CAs, the moment, the configuration dir."""

    def __init__(self, state: State, config_dir: Path, now: datetime):
        self.now = now
        self.config_dir = config_dir
        self.resources = state.resources
        # a CA certificate's fingerprint → (its address, renew_before)
        self.ca_renewal: dict[str, tuple[str, str]] = {}
        for rs in state.resources.values():
            if rs.type == "ca" and isinstance(rs.attributes.get("id"), str):
                renew = rs.attributes.get("renew_before") or "2160h"
                self.ca_renewal[rs.attributes["id"]] = (rs.address, renew)

    def signing_ca(self, cp: _ControlPlane) -> tuple[str, str | None]:
        """The configured CA's address and certificate fingerprint."""
        ca_address = str(cp.attrs.get("ca") or "its ca")
        ca = self.resources.get(ca_address)
        if ca is not None and isinstance(ca.attributes.get("id"), str):
            return ca_address, ca.attributes["id"]
        return ca_address, cp.attrs.get("ca_id")

    def server_checks(
        self,
        row: _RowBuilder,
        cp: _ControlPlane,
        cert: _Pem,
        key: _Pem,
        ca: _Pem | None,
        host: str,
    ) -> x509.Certificate | None:
        """The common checks of a TLS server: chain, SANs, expiry, key mode and match."""
        for pem in (cert, key, ca):
            if pem is not None and pem.problem is not None:
                row.failed(pem.problem_check, pem.problem)
        leaf: x509.Certificate | None = None
        chain: list[x509.Certificate] = []
        if cert.text is not None:
            try:
                chain = x509.load_pem_x509_certificates(cert.text.encode())
                leaf = chain[0]
            except ValueError:
                row.failed("chain", f"{cert.where} holds no PEM certificate")
        if leaf is not None:
            if ca is not None and ca.text is not None:
                self._chain(row, cp, cert, chain, ca, host)
            self._sans(row, cp, cert, leaf)
            self._expiry(row, cp, cert, leaf)
        if key.text is not None:
            self._key(row, cp, cert, key, leaf)
        return leaf

    def _chain(
        self,
        row: _RowBuilder,
        cp: _ControlPlane,
        cert: _Pem,
        chain: list[x509.Certificate],
        ca: _Pem,
        host: str,
    ) -> None:
        try:
            anchors = x509.load_pem_x509_certificates(ca.text.encode()) if ca.text else []
        except ValueError:
            anchors = []
        if not anchors:
            row.failed("chain", f"{ca.where} holds no PEM certificate")
            return
        ip = _ip(host)
        subject = x509.IPAddress(ip) if ip is not None else x509.DNSName(host)
        verifier = (
            PolicyBuilder().store(Store(anchors)).time(self.now).build_server_verifier(subject)
        )
        try:
            verified = verifier.verify(chain[0], chain[1:])
        except VerificationError as exc:
            reason = str(exc).split(" (encountered processing", 1)[0]
            row.failed(
                "chain", f"{cert.where} does not verify with {ca.where} for {host}: {reason}"
            )
            return
        ca_address, ca_id = self.signing_ca(cp)
        issuer = verified[1] if len(verified) > 1 else verified[0]
        if ca_id and _fingerprint(issuer) != ca_id:
            row.failed(
                "chain",
                f"{cert.where} is signed by {_subject(issuer)}, not by {ca_address} "
                "(the control plane's configured CA)",
            )
            return
        row.passed("chain", f"{cert.where} verifies with {ca.where} for {host}")
        for ca_cert in verified[1:]:
            self._ca_expiry(row, ca_cert)

    def _sans(self, row: _RowBuilder, cp: _ControlPlane, cert: _Pem, leaf: x509.Certificate):
        try:
            ext = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns = {d.lower() for d in ext.get_values_for_type(x509.DNSName)}
            ips = set(ext.get_values_for_type(x509.IPAddress))
        except x509.ExtensionNotFound:
            dns, ips = set(), set()
        missing = [
            f"{h} (DNS)" for h in cp.attrs.get("hostnames") or [] if h.lower() not in dns
        ] + [f"{a} (IP)" for a in cp.attrs.get("addresses") or [] if _ip(a) not in ips]
        if missing:
            row.failed("sans", f"{cert.where} lacks SANs for {', '.join(missing)}")
        else:
            row.passed("sans", f"{cert.where} covers every hostname and address")

    def _expiry(self, row: _RowBuilder, cp: _ControlPlane, cert: _Pem, leaf: x509.Certificate):
        renew_before = str(cp.attrs.get("renew_before") or "720h")
        problem = self._expiry_problem(leaf, renew_before)
        if problem:
            row.failed("expiry", f"{cert.where} {problem}; `meshprov apply` reissues it")
        else:
            row.passed(
                "expiry",
                f"{cert.where} expires {_date(leaf.not_valid_after_utc)}, "
                f"beyond renew_before {renew_before}",
            )

    def _ca_expiry(self, row: _RowBuilder, ca_cert: x509.Certificate) -> None:
        address, renew_before = self.ca_renewal.get(_fingerprint(ca_cert), (None, "0s"))
        problem = self._expiry_problem(ca_cert, renew_before)
        name = address or _subject(ca_cert)
        if problem:
            row.failed("expiry", f"CA {name} {problem}; `meshprov apply` replaces it")

    def _expiry_problem(self, cert: x509.Certificate, renew_before: str) -> str | None:
        try:
            margin = timedelta(seconds=parse_duration(renew_before))
        except ValueError:
            margin = timedelta(0)
        end = cert.not_valid_after_utc
        if cert.not_valid_before_utc > self.now:
            return f"is not valid before {_date(cert.not_valid_before_utc)}"
        if end <= self.now:
            return f"expired at {_date(end)}"
        if self.now + margin >= end:
            return f"expires at {_date(end)}, within its renew_before ({renew_before})"
        return None

    def _key(
        self,
        row: _RowBuilder,
        cp: _ControlPlane,
        cert: _Pem,
        key: _Pem,
        leaf: x509.Certificate | None,
    ) -> None:
        if key.path is not None:
            try:
                mode = os.stat(key.path).st_mode & 0o777
            except OSError:
                mode = None
            holder = key.where if key.standalone else cp.show(key.path)
            if mode is not None and mode & 0o077:
                row.failed(
                    "key_mode",
                    f"{holder} has mode {_mode_text(mode)}: a private key must not be readable "
                    "by group or others (want 0600)",
                )
            elif mode is not None:
                row.passed("key_mode", f"{holder} has mode {_mode_text(mode)}")
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


# --- the loopback handshake -------------------------------------------------------------------


@dataclass(frozen=True)
class Handshake:
    ok: bool
    detail: str
    version: str | None = None  # the negotiated protocol, e.g. "TLSv1.3"
    server_failed: bool = False  # the server could not even load its certificate and key


def loopback_handshake(
    cert_file: Path,
    key_file: Path,
    ca_pem: str,
    server_hostname: str,
    *,
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    timeout: float = HANDSHAKE_TIMEOUT,
) -> Handshake:
    """A real TLS handshake on 127.0.0.1: a server with ``cert_file``/``key_file``, a client
    trusting only ``ca_pem`` and checking ``server_hostname`` (a DNS name or an IP literal)."""
    try:
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.minimum_version = min_version
        server_ctx.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError) as exc:
        return Handshake(
            False, f"cannot load the certificate and key: {_ssl_text(exc)}", None, True
        )
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
    client_ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # as kuma's KDS client
    try:
        client_ctx.load_verify_locations(cadata=ca_pem)
    except (ssl.SSLError, ValueError) as exc:
        return Handshake(False, f"the CA holds no usable certificate: {_ssl_text(exc)}")

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.settimeout(timeout)
    server_errors: list[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError as exc:
            server_errors.append(exc)
            return
        with conn:
            conn.settimeout(timeout)
            try:
                with server_ctx.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError) as exc:
                server_errors.append(exc)

    with listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        thread = threading.Thread(target=serve, name="meshprov-verify-tls", daemon=True)
        thread.start()
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw,
                client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls,
            ):
                version = tls.version()
        except ssl.SSLCertVerificationError as exc:
            return Handshake(False, f"certificate verify failed: {exc.verify_message}")
        except (ssl.SSLError, OSError) as exc:
            return Handshake(False, f"handshake failed: {_ssl_text(exc)}")
        finally:
            thread.join(timeout)
    return Handshake(True, f"{version} handshake verified {server_hostname}", version)


def _ssl_text(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.lower().replace("_", " ")
    return str(exc) or type(exc).__name__


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


# --- channels ------------------------------------------------------------------------------


def verify_state(
    state: State, config_dir: Path, now: datetime, context: Context | None = None
) -> Report:
    """Check every control plane of ``state`` whose files apply wrote under ``config_dir``,
    and, given a ``context`` with the AWS provider, every firewall's security groups."""
    cps = [
        _ControlPlane(rs, config_dir)
        for rs in state.resources.values()
        if rs.type in _CONTROL_PLANE_TYPES
    ]
    if not cps:
        raise DiagnosticError.single(
            "Nothing to verify",
            "The state has no control_plane or zone: run `meshprov apply` first, or check that "
            "meshprov reads the right state (-C DIR, the backend block).",
        )
    verifier = _Verifier(state, config_dir, now)
    zones = [cp for cp in cps if cp.is_zone]
    globals_ = [cp for cp in cps if not cp.is_zone]
    rows: list[ChannelRow] = []
    rows += [_dp_row(verifier, cp) for cp in zones]
    rows += [_api_row(verifier, cp) for cp in cps]
    rows += [_mads_row(verifier, cp) for cp in zones]
    rows += _kds_rows(verifier, zones, globals_)
    if context is not None:
        rows += [
            _firewall_row(rs, context) for rs in state.resources.values() if rs.type == "firewall"
        ]
    return Report(tuple(rows), now)


def _firewall_row(rs: ResourceState, context: Context) -> ChannelRow:
    """Ingress on the port, read back from AWS: exactly the allowed CIDRs, nothing public."""
    from meshprov.resources import TYPES
    from meshprov.resources.firewall import cidr_key, is_public

    attrs = rs.attributes
    port = attrs["port"]
    row = _RowBuilder(f"firewall (port {port})", rs.address)
    try:
        live = TYPES["firewall"].read(rs.address, attrs, context)
    except ResourceError as exc:
        row.failed("aws", str(exc))
        return row.build("could not read the security groups")
    allowed = set(attrs.get("cidrs") or [])
    owned = {rule["cidr"] for rule in live.rules.values()}
    groups = ", ".join(attrs["security_group_ids"])
    missing = sorted(allowed - owned, key=cidr_key)
    extra = sorted(owned - allowed, key=cidr_key)
    if missing:
        row.failed("allowed", f"no ingress on {port} for {', '.join(missing)} in {groups}")
    if extra:
        row.failed("allowed", f"meshprov rules for {', '.join(extra)} that are not allowed")
    if not missing and not extra:
        row.passed("allowed", f"ingress on {port} from exactly the {len(allowed)} allowed CIDR(s)")
    for rule in live.foreign:
        text = (
            f"{rule['group']} also accepts {rule['source']} on {rule['ports']} "
            f"({rule['rule_id']}, not meshprov's)"
        )
        if attrs.get("exclusive", True):
            row.failed("foreign", text)
        else:
            row.warn("foreign", text)
    public = sorted(
        {c for c in owned if is_public(c)}
        | {r["source"] for r in live.foreign if "/" in r["source"] and is_public(r["source"])}
    )
    for cidr in public:
        text = f"port {port} is open to {cidr}"
        if attrs.get("allow_public") and cidr in allowed:
            row.warn("public", text + " (allow_public)")
        else:
            row.failed("public", text)
    return row.build(f"{len(owned)} rule(s) in {groups}")


def _common(row: _RowBuilder, cp: _ControlPlane, dp: bool = False) -> None:
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
            "values.yaml names Secrets that exist"
            if cp.kubernetes
            else (
                "kuma-cp.env"
                + (" and kuma-dp.env point" if dp else " points")
                + " at files that exist"
            )
        )
        row.passed("refs", files)


def _setting(
    row: _RowBuilder,
    cp: _ControlPlane,
    check: str,
    variable: str,
    configured: str,
    insecure: Iterable[str],
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
    elif value in insecure:
        row.warn(check, warning)
    else:
        row.passed(check, f"{variable}={value}")
    return value


def _dp_row(v: _Verifier, cp: _ControlPlane) -> ChannelRow:
    row = _RowBuilder(CHANNEL_DP, cp.address)
    _common(row, cp, dp=True)
    cert, key = cp.source.dp_server()
    ca = cp.source.dp_ca()
    host = cp.dial_host
    has_url, url_value = cp.source.dp_url()
    if has_url:
        expected = cp.attrs.get("cp_url")
        dp_file = cp.show(cp.out / "kuma-dp.env")
        if url_value != expected:
            row.failed(
                "url",
                f"{dp_file} sets KUMA_CONTROL_PLANE_URL={url_value or '(unset)'}, want {expected}",
            )
        else:
            row.passed("url", f"KUMA_CONTROL_PLANE_URL={url_value}")
        host = (urlsplit(url_value).hostname if url_value else None) or host
    cp.source.channel_checks(row, CHANNEL_DP)
    authn = str(cp.attrs.get("dp_authn") or "dpToken")
    _setting(
        row,
        cp,
        "dp_authn",
        "KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE",
        authn,
        ("none",),
        'data plane proxies get configuration and certificates without a token (dp_authn = "none")',
    )
    leaf = v.server_checks(row, cp, cert, key, ca, host)
    return row.build(_summary(cp, cert, ca, host, leaf))


_KUMACTL_ADDRESS = re.compile(r"--address=(\S+)")
_KUMACTL_CA = re.compile(r'--ca-cert-file="?\$here/([^"\s]+)"?')


def _api_row(v: _Verifier, cp: _ControlPlane) -> ChannelRow:
    row = _RowBuilder(CHANNEL_API, cp.address)
    _common(row, cp)
    cert, key = cp.source.api_server()
    if cp.attrs.get("api_separate_cert") and cert.problem is None:
        own = "tls/api.crt" if not cp.kubernetes else kuma.API_SECRET
        if own not in cert.where:
            row.failed(
                "api_cert",
                f"api_separate_cert = true, but the API server uses {cert.where}, not {own}",
            )
    expected = f"https://{kuma.url_host(cp.dial_host)}:{cp.attrs.get('api_https_port', 5682)}"
    host = cp.dial_host
    ca: _Pem | None = None
    script = cp.out / "kumactl.sh"
    try:
        text = script.read_text()
    except OSError:
        row.failed("kumactl", f"{cp.show(script)} is missing")
    else:
        address = _KUMACTL_ADDRESS.search(text)
        ca_match = _KUMACTL_CA.search(text)
        if address is None or address.group(1) != expected:
            row.failed(
                "kumactl",
                f"{cp.show(script)} adds {address.group(1) if address else 'no --address'}, "
                f"want {expected}",
            )
        elif ca_match is None:
            row.failed("kumactl", f"{cp.show(script)} passes no --ca-cert-file next to it")
        else:
            row.passed("kumactl", f"kumactl.sh adds {expected} with {ca_match.group(1)}")
        if ca_match is not None:
            ca = cp.file(ca_match.group(1))
        if address is not None:
            host = urlsplit(address.group(1)).hostname or host
    _setting(
        row,
        cp,
        "http_interface",
        "KUMA_API_SERVER_HTTP_INTERFACE",
        str(cp.attrs.get("api_http_interface") or "127.0.0.1"),
        _OPEN_INTERFACES,
        "the plain-HTTP API (5681) listens on every interface (api_http_interface = "
        '"0.0.0.0"): keep it on 127.0.0.1 and use HTTPS',
    )
    leaf = v.server_checks(row, cp, cert, key, ca, host)
    return row.build(_summary(cp, cert, ca, host, leaf))


def _mads_row(v: _Verifier, cp: _ControlPlane) -> ChannelRow:
    row = _RowBuilder(CHANNEL_MADS, cp.address)
    _common(row, cp)
    configured = bool(cp.attrs.get("mads_tls", True))
    value = _setting(
        row,
        cp,
        "mads_tls",
        "KUMA_MONITORING_ASSIGNMENT_SERVER_TLS_ENABLED",
        "true" if configured else "false",
        ("false",),
        "Prometheus discovers data plane proxies over plain HTTP (mads_tls = false)",
    )
    if value != "true" or not configured:
        return row.build("MADS TLS is off")
    cert, key = cp.source.mads_server()
    host, ca = cp.dial_host, None
    sd = cp.out / "prometheus-kuma-sd.yml"
    try:
        jobs = (yaml.safe_load(sd.read_text()) or {}).get("scrape_configs") or []
        sd_configs = [c for job in jobs for c in job.get("kuma_sd_configs") or []]
    except FileNotFoundError:
        row.failed("prometheus", f"{cp.show(sd)} is missing")
        sd_configs = []
    except (OSError, AttributeError, yaml.YAMLError) as exc:
        row.failed("prometheus", f"cannot read {cp.show(sd)}: {exc}")
        sd_configs = []
    for sd_config in sd_configs[:1]:
        server = str(sd_config.get("server") or "")
        ca_file = str((sd_config.get("tls_config") or {}).get("ca_file") or "")
        parts = urlsplit(server)
        if parts.scheme != "https" or parts.port != kuma.MADS_PORT:
            row.failed("prometheus", f"kuma_sd_configs server is {server!r}, want https://…:5676")
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


def _kds_rows(
    v: _Verifier, zones: list[_ControlPlane], globals_: list[_ControlPlane]
) -> list[ChannelRow]:
    by_address = {g.address: g for g in globals_}
    by_kds = {g.attrs.get("kds_address"): g for g in globals_}
    rows = []
    served: set[str] = set()
    for zone in zones:
        global_ref = zone.attrs.get("global")
        if not global_ref:
            continue  # a standalone zone has no KDS
        target = by_address.get(str(global_ref)) or by_kds.get(zone.attrs.get("global_address"))
        if target is None:
            row = _RowBuilder(CHANNEL_KDS, f"{zone.address} → {global_ref}")
            row.failed("refs", f"its global {global_ref} is not in the state")
            rows.append(row.build(""))
            continue
        served.add(target.address)
        rows.append(_kds_pair_row(v, zone, target))
    for target in globals_:
        if target.address not in served:
            row = _RowBuilder(CHANNEL_KDS, target.address)
            _common(row, target)
            cert, key = target.source.kds_server()
            v.server_checks(row, target, cert, key, target.file("tls/ca.crt"), target.dial_host)
            rows.append(row.build("no zone connects to this global; its KDS certificate is ok"))
    return rows


def _kds_pair_row(v: _Verifier, zone: _ControlPlane, target: _ControlPlane) -> ChannelRow:
    row = _RowBuilder(CHANNEL_KDS, f"{zone.address} → {target.address}")
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
    cert, key = target.source.kds_server()
    kds_ca = zone.source.kds_ca()
    host = target.dial_host
    # the global's own checks, with its own CA; the zone's trust is what the handshake tests
    v.server_checks(row, target, cert, key, target.file("tls/ca.crt"), host)
    if kds_ca.problem is not None:
        row.failed(kds_ca.problem_check, kds_ca.problem)
        return row.build("")
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
    return short.replace("secrets.yaml ", "secret ", 1)
