"""``control_plane``: the global control plane that zones connect to over KDS."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from meshprov import kuma
from meshprov.diagnostics import Diagnostic, named, warning
from meshprov.kuma import ControlPlaneSpec, url_host
from meshprov.lang.values import UNKNOWN, has_unknown
from meshprov.plan.model import Plan, ResourceChange
from meshprov.resources import cp_authn, cp_store
from meshprov.resources.base import ResourceInstance
from meshprov.resources.control_plane_common import (
    DIALLED_BY,
    SHARED_ATTRIBUTES,
    SHARED_EXPORTS,
    ControlPlaneType,
    block_label,
    check_port,
    dial_host,
)
from meshprov.resources.control_plane_verify import verify_control_plane
from meshprov.resources.report import CheckRow, Notice, VerifyContext
from meshprov.resources.schema import NUMBER, Attr, Exported, ResourceSchema
from meshprov.state.model import ResourceState

SCHEMA = ResourceSchema(
    "control_plane",
    attributes=(
        *SHARED_ATTRIBUTES,
        Attr("kds_port", NUMBER, default=kuma.KDS_PORT, check=check_port),
        *cp_authn.GLOBAL_AUTHN_ATTRIBUTES,
        cp_store.STORE,
    ),
    exported=(
        *SHARED_EXPORTS,
        Exported("kds_address", kind="text", derived_from=(*DIALLED_BY, "kds_port")),
        Exported("kds_port", kind="number", derived_from=("kds_port",)),
    ),
)


# the diagnostic code of a kubernetes global that its zones could dial only in its cluster
KDS_IN_CLUSTER_ONLY = "kds_in_cluster_only"


class GlobalControlPlaneType(ControlPlaneType):
    schema = SCHEMA
    mermaid_shape = ('[["', '"]]')
    impact_codes = ControlPlaneType.impact_codes | cp_store.CODES
    related_types = ("zone",)  # the zones that dial it
    port_arguments = ("api_https_port", "kds_port")

    def check_instance(self, instance: ResourceInstance) -> list[Diagnostic]:
        return [*super().check_instance(instance), *cp_store.check(instance)]

    def check_related(
        self, instances: list[ResourceInstance], related: dict[str, list[ResourceInstance]]
    ) -> list[Diagnostic]:
        """A kubernetes global without hostnames or addresses is dialled by its in-cluster
        Service name, which its zones (other clusters, VMs) cannot resolve."""
        dialing: dict[str, list[str]] = defaultdict(list)
        for zone in related["zone"]:
            global_address = cp_authn.address_of(zone.values["global"])
            if global_address is not None:
                dialing[global_address].append(str(zone.address))
        found = []
        for instance in instances:
            zones = dialing.get(str(instance.address))
            if zones and _in_cluster_only(instance.values):
                found.append(_in_cluster_warning(instance, zones))
        return found

    def setting_warnings(self, change: ResourceChange, config_dir: Path) -> list[str]:
        return [*super().setting_warnings(change, config_dir), *cp_store.warnings(change)]

    def files_unknown(self, config: dict[str, Any]) -> bool:
        return cp_store.unknown(config)

    def notices(self, change: ResourceChange) -> list[Notice]:
        return [*cp_store.notices(change), *super().notices(change)]  # migrate, then restart

    def own_exports(self, address: str, planned: dict[str, Any], config: dict[str, Any]) -> None:
        dial_host = planned["dial_host"]
        port = planned["kds_port"]
        planned["kds_address"] = (
            UNKNOWN if dial_host is UNKNOWN else f"grpcs://{url_host(dial_host)}:{port}"
        )

    def trust_clients(self, change: ResourceChange, plan: Plan) -> tuple[str, ...]:
        """kumactl, and the zones that hold this bundle as their kds-ca.crt."""
        zones = {
            rs.address: rs.attributes.get("global")
            for rs in plan.prior_state.resources.values()
            if rs.type == "zone"
        }
        zones.update(
            {
                c.address: (c.after or {}).get("global")
                for c in plan.resource_changes
                if c.type == "zone"
            }
        )
        return ("kumactl", *(zone for zone, cp in zones.items() if cp == change.address))

    def spec(
        self, address: str, attributes: dict[str, Any], config: dict[str, Any]
    ) -> ControlPlaneSpec:
        name = block_label(address).replace("_", "-")
        return ControlPlaneSpec(
            **self.base_spec(name, attributes, config),
            kds_port=attributes["kds_port"],
            store=cp_store.settings(config),
        )

    def verify(self, instance: ResourceState, context: VerifyContext) -> list[CheckRow]:
        return verify_control_plane(instance, context, SCHEMA)


def _in_cluster_only(values: dict[str, Any]) -> bool:
    """On kubernetes with neither hostnames nor addresses: the dial host is the Service name."""
    names = ("hostnames", "addresses", "environment", "service_name", "namespace")
    return (
        not has_unknown([values[n] for n in names])
        and values["environment"] == "kubernetes"
        and not values["hostnames"]
        and not values["addresses"]
    )


def _in_cluster_warning(instance: ResourceInstance, zones: list[str]) -> Diagnostic:
    values = instance.values
    return warning(
        "Zones cannot reach the global from outside its cluster",
        f"{instance.address} has neither hostnames nor addresses, so {named(zones)} would dial "
        f'it by its in-cluster Service name "{dial_host(values)}", which resolves only inside '
        "the global's cluster; zones run in other clusters or on VMs and reach the global "
        f"through its KDS LoadBalancer ({kuma.Helm.ZONE_SYNC_SERVICE}). Give "
        f"{instance.address} the hostnames or addresses of that load balancer.",
        instance.range,
        code=KDS_IN_CLUSTER_ONLY,
    )
