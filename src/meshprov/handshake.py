"""A real TLS handshake on 127.0.0.1, between a server certificate and key and a client that
trusts only a given CA: how ``verify`` proves a zone would accept its global's KDS server.

Both ends run in this process (the server in a thread); every socket operation has a timeout,
so a broken certificate can never hang ``verify``.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HANDSHAKE_TIMEOUT", "Handshake", "loopback_handshake"]

HANDSHAKE_TIMEOUT = 5.0  # seconds, for every socket operation of the loopback handshake


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
