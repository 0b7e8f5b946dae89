"""``ca``: a certificate authority that signs control-plane certificates.

A root when ``parent`` is null, else an intermediate signed by its parent. Its key and
certificate live in state only (like Terraform's tls provider), so refresh reads nothing: it
checks that the key in state is the certificate's and that the certificate chains to its parent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from meshprov import pki
from meshprov.diagnostics import Diagnostic, error
from meshprov.lang.types import ANY
from meshprov.lang.values import UNKNOWN, ResourceValue, Unknown, unmark
from meshprov.plan.model import Action, ActionReason, Plan, ResourceChange
from meshprov.resources.base import (
    NO_PRIVATE,
    ApplyRequest,
    Context,
    PlannedChange,
    PlanRequest,
    RefreshResult,
    ResourceError,
    ResourceInstance,
    ResourceType,
    attributes_digest,
)
from meshprov.resources.report import CAImpact, ImpactItem, expiry_estimate, reason_text
from meshprov.resources.schema import (
    STRING,
    Attr,
    Exported,
    ResourceSchema,
    check_duration,
    parse_duration,
)

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
    return pki.renewal_due(end, timedelta(seconds=parse_duration(renew_before)), now)


class CAType(ResourceType):
    schema = SCHEMA
    mermaid_shape = ('{{"', '"}}')

    def check(self, instances: list[ResourceInstance]) -> list[Diagnostic]:
        """One level of intermediates: a root is issued with pathlen 1, an intermediate with 0,
        so a CA under an intermediate would sign certificates no verifier accepts."""
        found = []
        for instance in instances:
            parent, _ = unmark(instance.values.get("parent"))
            if isinstance(parent, ResourceValue) and unmark(parent.get("parent"))[0] is not None:
                found.append(
                    error(
                        "Intermediate CA under an intermediate",
                        f"{instance.address} sets parent = {parent.address}, which is itself an "
                        "intermediate CA (pathlen 0): it may not sign another CA. Set parent to "
                        "a root CA (one without parent).",
                        instance.argument_range("parent"),
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
        if prior.get("cert_pem") is None:  # refresh found the certificate or key unusable
            planned.update(self.schema.unknown_exports())
            planned["parent_id"] = parent["id"] if parent is not None else None
            return PlannedChange(planned, (), ActionReason.REPLACE_BECAUSE_CANNOT_UPDATE)
        if expiring(prior.get("not_after"), planned["renew_before"], request.context.now):
            planned.update(self.schema.unknown_exports())
            planned["parent_id"] = parent["id"] if parent is not None else None
            return PlannedChange(planned, (), ActionReason.REPLACE_BECAUSE_EXPIRING)
        if planned["parent_id"] != prior.get("parent_id"):
            # the parent was replaced: re-sign this CA's key under the new parent
            planned.update(dict.fromkeys(_SIGNED, UNKNOWN))
            return PlannedChange(planned, (), ActionReason.UPDATE_BECAUSE_CA_REPLACED)
        return change

    def refresh(
        self,
        address: str,
        prior: dict[str, Any],
        context: Context,
        prior_private: Mapping[str, str] = NO_PRIVATE,
    ) -> RefreshResult:
        """State is the only copy of a CA: check that its key is its certificate's and that
        the certificate is signed by the CA above it (itself, for a root), unless the state
        holds exactly what apply checked (``private``). What is wrong drops the certificate
        and key, so the plan replaces the CA."""
        if prior_private.get("verified") == attributes_digest(prior):
            return RefreshResult(prior)
        problems = _stored_pair_problems(prior)
        if not problems:
            return RefreshResult(prior)
        return RefreshResult({**prior, "cert_pem": None, "private_key_pem": None}, tuple(problems))

    def private(
        self, address: str, attributes: dict[str, Any], config: dict[str, Any]
    ) -> dict[str, str]:
        """``verified``: a digest of the attributes, kept when the certificate and key are a
        sound pair from their issuer, so refresh need not check them again while the state
        holds exactly these attributes."""
        if _stored_pair_problems(attributes):
            return {}
        return {"verified": attributes_digest(attributes)}

    def apply(self, request: ApplyRequest) -> dict[str, Any]:
        config = request.config
        parent = _parent(config)
        prior = request.prior
        kept_key = (  # re-signing an existing CA keeps its key
            prior["private_key_pem"]
            if prior is not None and request.planned.get("id") is UNKNOWN
            else None
        )
        try:
            issued = pki.issue_ca(
                common_name=config["common_name"],
                organization=config["organization"],
                key_algorithm=config["key_algorithm"],
                validity=timedelta(seconds=parse_duration(config["validity"])),
                now=request.context.now,
                parent=pki.Issuer(parent["cert_pem"], parent["private_key_pem"])
                if parent
                else None,
                key_pem=kept_key,
            )
        except ValueError as exc:  # a parent whose key is not its certificate's
            raise ResourceError(str(exc)) from None
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

    def impact(self, change: ResourceChange, plan: Plan) -> list[ImpactItem]:
        """Created, replaced, re-signed or destroyed, and how many certificates that reissues."""
        after = change.after or {}
        expires = expiry_estimate(plan.timestamp, after.get("validity"))
        if change.action is Action.CREATE:
            return [CAImpact(change.address, "created", expires=expires)]
        if change.action is Action.DELETE:
            return [CAImpact(change.address, "destroyed")]
        if change.action is Action.UPDATE and not isinstance(after.get("cert_pem"), Unknown):
            return []  # e.g. renew_before changed: the CA certificate stays
        reissues = reissued_under(change.address, plan.resource_changes)
        why = reason_text(change.reason)
        if change.action.is_replace:
            if not why and change.replace_paths:
                why = ", ".join(change.replace_paths) + " changed"
            return [CAImpact(change.address, "replaced", why, reissues, expires)]
        return [CAImpact(change.address, "re-signed", why, reissues, expires)]


# the argument naming the CA that signs an instance: a CA's parent, a control plane's ca
_ISSUER_LINKS = ("parent", "ca")


def reissued_under(ca_address: str, changes: list[ResourceChange]) -> int:
    """Certificates this plan reissues because ``ca_address`` changes, through intermediates."""
    count, frontier, seen = 0, [ca_address], {ca_address}
    while frontier:
        issuer = frontier.pop()
        for other in changes:
            if other.reason != ActionReason.UPDATE_BECAUSE_CA_REPLACED or other.address in seen:
                continue
            after = other.after or {}
            link = next((k for k in _ISSUER_LINKS if k in after), None)
            if link is None or after[link] != issuer:
                continue
            seen.add(other.address)
            count += 1
            if link == "parent":  # an intermediate: what it signs is reissued too
                frontier.append(other.address)
    return count


def _second_certificate(chain: Any) -> str | None:
    """The parent's certificate in an intermediate's ``chain_pem`` (its own comes first)."""
    if not isinstance(chain, str):
        return None
    try:
        certs = pki.load_certificates(chain)
    except ValueError:
        return None
    return pki.cert_to_pem(certs[1]) if len(certs) > 1 else None


def _parent(config: dict[str, Any]) -> dict[str, Any] | None:
    raw, _ = unmark(config.get("parent"))
    if not isinstance(raw, ResourceValue):
        return None
    return {k: unmark(v)[0] for k, v in raw.items()}


def _stored_pair_problems(attributes: dict[str, Any]) -> list[str]:
    chain = attributes.get("chain_pem")
    issuer = chain if attributes.get("parent_id") is None else _second_certificate(chain)
    return pki.stored_pair_problems(
        attributes.get("cert_pem"), attributes.get("private_key_pem"), issuer
    )
