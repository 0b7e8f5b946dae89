"""Resource types, one module each, behind one interface (``base.ResourceType``).

``SCHEMAS`` holds every block type the configuration language accepts; ``TYPES`` the types
that can be planned and applied. ``register`` adds a type to both (tests register a test-only
type through it, exactly as the built-in types are registered).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from meshprov.diagnostics import Diagnostic, error
from meshprov.resources import ca, control_plane, firewall, signing_key, token, zone
from meshprov.resources.base import ResourceInstance, ResourceType
from meshprov.resources.schema import ResourceSchema

if TYPE_CHECKING:
    from meshprov.state.model import ResourceState

SCHEMAS: dict[str, ResourceSchema] = {
    module.SCHEMA.type_name: module.SCHEMA
    for module in (ca, control_plane, zone, firewall, signing_key, token)
}
TYPES: dict[str, ResourceType] = {}


def register(resource_type: ResourceType) -> None:
    SCHEMAS[resource_type.name] = resource_type.schema
    TYPES[resource_type.name] = resource_type


def check_instances(instances: list[ResourceInstance], now: datetime) -> list[Diagnostic]:
    """Every type's own rules (zone names, egress IPs, authn modes...) over its instances,
    those that depend on the time as of ``now``."""
    by_type: dict[str, list[ResourceInstance]] = defaultdict(list)
    for instance in instances:
        by_type[instance.type].append(instance)
    found: list[Diagnostic] = []
    for type_name, group in by_type.items():
        if type_name in TYPES:
            resource_type = TYPES[type_name]
            found.extend(resource_type.check(group))
            found.extend(resource_type.check_at(group, now))
            if resource_type.related_types:
                related = {t: by_type.get(t, []) for t in resource_type.related_types}
                found.extend(resource_type.check_related(group, related))
    found.extend(_shared_files(instances))
    return found


def _shared_files(instances: list[ResourceInstance]) -> list[Diagnostic]:
    """Two instances writing one file would overwrite each other's key or certificate."""
    writer: dict[str, ResourceInstance] = {}
    clashes: dict[tuple[str, str], list[str]] = defaultdict(list)
    for instance in instances:
        rtype = TYPES.get(instance.type)
        for path in sorted(rtype.written_paths(instance)) if rtype else ():
            first = writer.setdefault(path, instance)
            if first is not instance:
                clashes[(str(first.address), str(instance.address))].append(path)
    found = []
    by_address = {str(i.address): i for i in instances}
    for (earlier, later), paths in clashes.items():
        found.append(
            error(
                "Two resources write the same files",
                f"{later} and {earlier} both write {', '.join(paths[:3])}"
                + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
                + ": each would overwrite the other's key and certificate. Give each its own "
                "output_dir.",
                by_address[later].argument_range("output_dir"),
            )
        )
    return found


def check_state(resources: Iterable[ResourceState]) -> list[Diagnostic]:
    """Each instance in state checked against its type's schema: a hand-edited or damaged
    state gets an error naming the resource before any operation reads it. Attributes added
    since the state was written are filled in first (``ResourceSchema.upgraded``)."""
    found = []
    for rs in resources:
        rtype = TYPES.get(rs.type)
        if rtype is None:
            continue
        if isinstance(rs.attributes, dict):
            rs.attributes = rtype.schema.upgraded(rs.attributes)
        problems = rtype.schema.state_problems(rs.attributes)
        if problems:
            found.append(
                error(
                    "Invalid resource in state",
                    f"The state's {rs.address}: {'; '.join(problems)}. The state was edited "
                    "by hand or damaged: restore it (e.g. from the .backup next to a local "
                    f"state), or forget the resource with `meshprov state rm {rs.address}`.",
                    context=rs.address,
                )
            )
    return found


register(ca.CAType())
register(control_plane.GlobalControlPlaneType())
register(zone.ZoneType())
register(firewall.FirewallType())
register(signing_key.SigningKeyType())
register(token.TokenType())
