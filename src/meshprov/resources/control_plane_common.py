"""Attributes and exports shared by the global ``control_plane`` and ``zone`` resources."""

from meshprov.lang.types import ANY
from meshprov.resources.ca import KEY_ALGORITHMS
from meshprov.resources.schema import (
    BOOL,
    NUMBER,
    STRING,
    STRING_LIST,
    Attr,
    Exported,
    check_duration,
)


def check_port(value: object) -> str | None:
    if isinstance(value, int) and 1 <= value <= 65535:
        return None
    return f"{value} is not a valid TCP port: use a whole number from 1 to 65535."


SHARED_ATTRIBUTES = (
    Attr("ca", ANY, required=True, reference="ca"),
    Attr("environment", STRING, default="universal", allowed=("universal", "kubernetes")),
    Attr("hostnames", STRING_LIST, default=()),
    Attr("addresses", STRING_LIST, default=()),
    Attr("key_algorithm", STRING, default="ECDSA_P256", allowed=KEY_ALGORITHMS),
    Attr("cert_validity", STRING, default="8760h", check=check_duration),
    Attr("renew_before", STRING, default="720h", check=check_duration),
    Attr("tls_min_version", STRING, default="TLSv1_2", allowed=("TLSv1_2", "TLSv1_3")),
    Attr("api_http_interface", STRING, default="127.0.0.1"),
    Attr("api_https_port", NUMBER, default=5682, check=check_port),
    Attr("api_separate_cert", BOOL, default=False),
    Attr("output_dir", STRING),
    Attr("work_dir", STRING, default="/var/lib/kong-mesh"),
    Attr("namespace", STRING, default="kong-mesh-system"),
)

SHARED_EXPORTS = (
    Exported("cert_pem"),
    Exported("private_key_pem", sensitive=True),
    Exported("ca_bundle_pem"),
    Exported("cert_not_after"),
    Exported("cert_fingerprint"),
    Exported("dial_host"),
)
