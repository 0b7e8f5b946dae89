"""Resource types, one module each, behind one interface (``base.ResourceType``).

``SCHEMAS`` holds every block type the configuration language accepts; ``TYPES`` the types
that can be planned and applied. ``register`` adds a type to both (tests register a test-only
type through it, exactly as the built-in types are registered).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshprov.resources import ca, control_plane, firewall, zone
from meshprov.resources.schema import ResourceSchema

if TYPE_CHECKING:
    from meshprov.resources.base import ResourceType

SCHEMAS: dict[str, ResourceSchema] = {
    module.SCHEMA.type_name: module.SCHEMA for module in (ca, control_plane, zone, firewall)
}
TYPES: dict[str, ResourceType] = {}


def register(resource_type: ResourceType) -> None:
    SCHEMAS[resource_type.name] = resource_type.schema
    TYPES[resource_type.name] = resource_type


register(ca.CAType())
register(control_plane.GlobalControlPlaneType())
register(zone.ZoneType())
