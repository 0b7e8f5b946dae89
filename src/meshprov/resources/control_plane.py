"""``control_plane``: the global control plane that zones connect to over KDS."""

from meshprov.resources.control_plane_common import SHARED_ATTRIBUTES, SHARED_EXPORTS, check_port
from meshprov.resources.schema import NUMBER, Attr, Exported, ResourceSchema

SCHEMA = ResourceSchema(
    "control_plane",
    attributes=(*SHARED_ATTRIBUTES, Attr("kds_port", NUMBER, default=5685, check=check_port)),
    exported=(*SHARED_EXPORTS, Exported("kds_address"), Exported("kds_port")),
)
