"""Resource types, one module each, behind one interface (``schema.ResourceSchema``)."""

from meshprov.resources import ca, control_plane, firewall, zone
from meshprov.resources.schema import ResourceSchema

SCHEMAS: dict[str, ResourceSchema] = {
    module.SCHEMA.type_name: module.SCHEMA for module in (ca, control_plane, zone, firewall)
}
