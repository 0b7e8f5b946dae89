"""``control_plane``: the global control plane that zones connect to over KDS."""

from __future__ import annotations

from typing import Any

from meshprov import kuma
from meshprov.diagnostics import Diagnostic
from meshprov.kuma import ControlPlaneSpec, url_host
from meshprov.lang.values import UNKNOWN
from meshprov.plan.model import Plan, ResourceChange
from meshprov.resources import cp_authn, cp_store
from meshprov.resources.base import ResourceInstance
from meshprov.resources.control_plane_common import (
    SHARED_ATTRIBUTES,
    SHARED_EXPORTS,
    ControlPlaneType,
    block_label,
    check_port,
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
        Exported("kds_address", kind="text"),
        Exported("kds_port", kind="number"),
    ),
)


class GlobalControlPlaneType(ControlPlaneType):
    schema = SCHEMA
    mermaid_shape = ('[["', '"]]')
    impact_codes = ControlPlaneType.impact_codes | cp_store.CODES

    def check_instance(self, instance: ResourceInstance) -> list[Diagnostic]:
        return [*super().check_instance(instance), *cp_store.check(instance)]

    def setting_warnings(self, change: ResourceChange) -> list[str]:
        return [*super().setting_warnings(change), *cp_store.warnings(change)]

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
