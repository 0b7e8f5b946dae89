"""``ca``: a certificate authority that signs control-plane certificates.

A root when ``parent`` is null, else an intermediate signed by its parent. Its key and
certificate live in state only (like Terraform's tls provider), so refresh has nothing to read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from meshprov import pki
from meshprov.diagnostics import Diagnostic, error
from meshprov.lang.types import ANY
from meshprov.lang.values import UNKNOWN, ResourceValue, unmark
from meshprov.resources.base import ApplyRequest, PlannedChange, PlanRequest, ResourceType
from meshprov.resources.schema import (
    STRING,
    Attr,
    Exported,
    ResourceSchema,
    check_duration,
    parse_duration,
)

if TYPE_CHECKING:
    from meshprov.config.evaluation import ResourceInstance

KEY_ALGORITHMS = ("ECDSA_P256", "ECDSA_P384", "RSA_2048", "RSA_3072", "RSA_4096")

SCHEMA = ResourceSchema(
    "ca",
    attributes=(
        Attr("common_name", STRING, required=True, forces_replacement=True),
        Attr("organization", STRING, forces_replacement=True),
        Attr(
            "key_algorithm",
            STRING,
            default="ECDSA_P256",
            allowed=KEY_ALGORITHMS,
            forces_replacement=True,
        ),
        Attr("validity", STRING, default="87600h", check=check_duration, forces_replacement=True),
        Attr("renew_before", STRING, default="2160h", check=check_duration),
        Attr("parent", ANY, reference="ca", forces_replacement=True),
    ),
    exported=(
        Exported("id", kind="text"),
        Exported("cert_pem", kind="pem"),
        Exported("chain_pem", kind="pem"),
        Exported("private_key_pem", sensitive=True, kind="pem"),
        Exported("not_before", kind="time"),
        Exported("not_after", kind="time"),
        Exported("serial_number", kind="text"),
        Exported("parent_id", kind="text", nullable=True),
    ),
)

# what changes when the certificate is (re)signed; the key survives a re-sign
_SIGNED = ("id", "cert_pem", "chain_pem", "not_before", "not_after", "serial_number")


def expiring(not_after: str | None, renew_before: str, now: datetime) -> bool:
    """True once ``now + renew_before`` has passed the certificate's ``not_after``."""
    if not isinstance(not_after, str):
        return False
    end = datetime.fromisoformat(not_after.replace("Z", "+00:00"))
    return now + timedelta(seconds=parse_duration(renew_before)) >= end


class CAType(ResourceType):
    schema = SCHEMA

    def check(self, instances: list[ResourceInstance]) -> list[Diagnostic]:
        """One level of intermediates: a root is issued with pathlen 1, an intermediate with 0,
        so a CA under an intermediate would sign certificates no verifier accepts."""
        found = []
        for instance in instances:
            parent, _ = unmark(instance.values.get("parent"))
            if isinstance(parent, ResourceValue) and unmark(parent.get("parent"))[0] is not None:
                attr = instance.resource.attributes.get("parent")
                found.append(
                    error(
                        "Intermediate CA under an intermediate",
                        f"{instance.address} sets parent = {parent.address}, which is itself an "
                        "intermediate CA (pathlen 0): it may not sign another CA. Set parent to "
                        "a root CA (one without parent).",
                        attr.expr.range if attr is not None else instance.resource.range,
                    )
                )
        return found

    def plan(self, request: PlanRequest) -> PlannedChange:
        change = super().plan(request)
        planned = change.planned
        parent = _parent(request.config)
        planned["parent_id"] = parent["id"] if parent is not None else None
        prior = request.prior
        if prior is None or change.replace_paths:
            return change
        if expiring(prior.get("not_after"), planned["renew_before"], request.context.now):
            planned.update(self.schema.unknown_exports())
            planned["parent_id"] = parent["id"] if parent is not None else None
            return PlannedChange(planned, (), "replace_because_expiring")
        if planned["parent_id"] != prior.get("parent_id"):
            # the parent was replaced: re-sign this CA's key under the new parent
            planned.update(dict.fromkeys(_SIGNED, UNKNOWN))
            return PlannedChange(planned, (), "update_because_ca_replaced")
        return change

    def apply(self, request: ApplyRequest) -> dict[str, Any]:
        config = request.config
        parent = _parent(config)
        keep_key = request.prior is not None and request.planned.get("id") is UNKNOWN
        issued = pki.issue_ca(
            common_name=config["common_name"],
            organization=config["organization"],
            key_algorithm=config["key_algorithm"],
            validity=timedelta(seconds=parse_duration(config["validity"])),
            now=request.context.now,
            parent=pki.Issuer(parent["cert_pem"], parent["private_key_pem"]) if parent else None,
            key_pem=request.prior["private_key_pem"] if keep_key else None,
        )
        attributes = self.planned_arguments(config)
        attributes.update(
            id=pki.fingerprint(issued.cert_pem),
            cert_pem=issued.cert_pem,
            chain_pem=issued.cert_pem + (parent["chain_pem"] if parent else ""),
            private_key_pem=issued.key_pem,
            not_before=pki.rfc3339(pki.not_before(issued.cert_pem)),
            not_after=pki.rfc3339(pki.not_after(issued.cert_pem)),
            serial_number=pki.serial_hex(issued.cert_pem),
            parent_id=parent["id"] if parent else None,
        )
        return attributes


def _parent(config: dict[str, Any]) -> dict[str, Any] | None:
    raw, _ = unmark(config.get("parent"))
    if not isinstance(raw, ResourceValue):
        return None
    return {k: unmark(v)[0] for k, v in raw.items()}
