"""``firewall``: AWS security-group ingress in front of a control-plane port."""

from meshprov.lang.types import ANY
from meshprov.resources.control_plane_common import check_port
from meshprov.resources.schema import (
    BOOL,
    NUMBER,
    STRING,
    STRING_LIST,
    Attr,
    Exported,
    ResourceSchema,
)


def _check_rules_per_group(value: object) -> str | None:
    if isinstance(value, int) and value >= 1:
        return None
    return f"rules_per_group must be a whole number of at least 1, not {value}."


SCHEMA = ResourceSchema(
    "firewall",
    attributes=(
        Attr("security_group_ids", STRING_LIST, required=True),
        Attr("port", NUMBER, default=5685, check=check_port),
        Attr("protocol", STRING, default="tcp", allowed=("tcp", "udp")),
        Attr("allow_zones", ANY, default=(), reference="zone"),
        Attr("allow_cidrs", STRING_LIST, default=()),
        Attr("exclusive", BOOL, default=True),
        Attr("allow_public", BOOL, default=False),
        Attr("rules_per_group", NUMBER, default=60, check=_check_rules_per_group),
        Attr("region", STRING),
    ),
    exported=(Exported("cidrs"), Exported("rule_ids")),
)
