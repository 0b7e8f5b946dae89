"""``zone``: a zone and its zone control plane."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from meshprov.kuma import ControlPlaneSpec, ZoneSettings, url_host
from meshprov.lang.types import ANY
from meshprov.lang.values import UNKNOWN, has_unknown
from meshprov.resources.base import ResourceError
from meshprov.resources.control_plane_common import (
    SHARED_ATTRIBUTES,
    SHARED_EXPORTS,
    ControlPlaneType,
    check_port,
    plain,
)
from meshprov.resources.schema import (
    BOOL,
    NUMBER,
    STRING,
    STRING_LIST,
    Attr,
    Exported,
    ResourceSchema,
)

_RFC1035_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def check_zone_name(value: object) -> str | None:
    if isinstance(value, str) and _RFC1035_LABEL_RE.match(value):
        return None
    return (
        f'"{value}" is not a valid zone name: use an RFC 1035 label of at most 63 lowercase '
        "letters, digits and dashes, starting with a letter and not ending with a dash."
    )


SCHEMA = ResourceSchema(
    "zone",
    attributes=(
        *SHARED_ATTRIBUTES,
        Attr("name", STRING, check=check_zone_name),
        Attr("global", ANY, reference="control_plane"),
        Attr("egress_ips", STRING_LIST),
        Attr("dp_port", NUMBER, default=5678, check=check_port),
        Attr("mads_tls", BOOL, default=True),
        Attr(
            "dp_authn",
            STRING,
            default="dpToken",
            allowed=("dpToken", "serviceAccountToken", "none"),
        ),
        Attr(
            "zone_proxy_authn",
            STRING,
            default="zoneToken",
            allowed=("zoneToken", "serviceAccountToken", "none"),
        ),
    ),
    exported=(
        *SHARED_EXPORTS,
        Exported("zone_name"),
        Exported("cp_url"),
        Exported("egress_cidrs"),
        Exported("global_address"),
    ),
)


class ZoneType(ControlPlaneType):
    schema = SCHEMA

    def own_exports(self, address: str, planned: dict[str, Any], config: dict[str, Any]) -> None:
        if planned["name"] is None:
            planned["name"] = self.default_name(address)
            problem = check_zone_name(planned["name"])
            if problem:
                raise ResourceError(
                    f"{address}: the zone name defaults to the block label, but {problem} "
                    "Set name explicitly."
                )
        if planned["egress_ips"] is None:
            planned["egress_ips"] = planned["addresses"]
        planned["zone_name"] = planned["name"]
        planned["egress_cidrs"] = egress_cidrs(planned["egress_ips"])
        dial_host = planned["dial_host"]
        planned["cp_url"] = (
            UNKNOWN if dial_host is UNKNOWN else f"https://{url_host(dial_host)}:{planned['dp_port']}"
        )
        global_cp = plain(config.get("global"))
        planned["global_address"] = global_cp["kds_address"] if global_cp else None

    @staticmethod
    def default_name(address: str) -> str:
        """The block label with ``_`` → ``-``: ``zone.us_east`` → ``us-east``."""
        return address.rsplit(".", 1)[-1].split("[")[0].replace("_", "-")

    def spec(
        self, address: str, attributes: dict[str, Any], config: dict[str, Any]
    ) -> ControlPlaneSpec:
        global_cp = plain(config.get("global"))
        zone = ZoneSettings(
            dp_port=attributes["dp_port"],
            mads_tls=attributes["mads_tls"],
            dp_authn=attributes["dp_authn"],
            zone_proxy_authn=attributes["zone_proxy_authn"],
            global_address=attributes["global_address"],
            kds_ca_pem=global_cp["ca_bundle_pem"] if global_cp else None,
        )
        return ControlPlaneSpec(**self.base_spec(attributes["zone_name"], attributes), zone=zone)


def egress_cidrs(egress_ips: Any) -> Any:
    """Each egress IP as a /32 or /128 network (a CIDR stays as it is, normalised)."""
    if has_unknown(egress_ips):
        return UNKNOWN
    return [str(ipaddress.ip_network(ip, strict=False)) for ip in egress_ips]
