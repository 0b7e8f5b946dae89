"""``zone``: a zone and its zone control plane."""

from meshprov.lang.types import ANY
from meshprov.resources.control_plane_common import SHARED_ATTRIBUTES, SHARED_EXPORTS, check_port
from meshprov.resources.schema import (
    BOOL,
    NUMBER,
    STRING,
    STRING_LIST,
    Attr,
    Exported,
    ResourceSchema,
)

SCHEMA = ResourceSchema(
    "zone",
    attributes=(
        *SHARED_ATTRIBUTES,
        Attr("name", STRING),
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
