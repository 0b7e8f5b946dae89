"""``signing_key``: an RSA key that signs one kind of Kong Mesh token (SPEC §1.8).

The private key lives in state only, like a CA's; control planes that list the key get its
public half in their kuma-cp config, and ``token`` resources sign with it. Replacing a key
(a new ``kind`` or ``key_size``, or ``--replace``) reissues every token it signed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshprov import tokens
from meshprov.diagnostics import Diagnostic, error
from meshprov.plan.model import Action, ActionReason, Plan, ResourceChange
from meshprov.resources import cp_authn
from meshprov.resources.base import ApplyRequest, ResourceType
from meshprov.resources.report import ImpactItem, ImpactNote
from meshprov.resources.schema import NUMBER, STRING, Attr, Exported, ResourceSchema

if TYPE_CHECKING:
    from meshprov.resources.base import ResourceInstance

SCHEMA = ResourceSchema(
    "signing_key",
    attributes=(
        Attr("kind", STRING, required=True, allowed=tokens.KINDS, forces_replacement=True),
        Attr("key_size", NUMBER, default=3072, allowed=tokens.KEY_SIZES, forces_replacement=True),
        # a dataplane key may be bound to one mesh (its public key entry's ``mesh``)
        Attr("mesh", STRING),
    ),
    exported=(
        Exported("kid", kind="text"),
        Exported("public_key_pem", kind="pem"),
        Exported("private_key_pem", sensitive=True, kind="pem"),
    ),
)


class SigningKeyType(ResourceType):
    refresh_waits = False  # checks what state holds: nothing to wait on
    schema = SCHEMA
    # the old key stays in state until its replacement exists: a failed apply loses no key
    create_before_destroy = True

    def check(self, instances: list[ResourceInstance]) -> list[Diagnostic]:
        found = []
        for instance in instances:
            kind, mesh = instance.values.get("kind"), instance.values.get("mesh")
            if isinstance(kind, str) and kind != "dataplane" and mesh is not None:
                found.append(
                    error(
                        "Mesh on a key that is not for dataplane tokens",
                        f'{instance.address} is a "{kind}" key: only dataplane keys are bound '
                        "to a mesh. Remove mesh.",
                        instance.argument_range("mesh"),
                    )
                )
        return found

    def impact(self, change: ResourceChange, plan: Plan) -> list[ImpactItem]:
        """Keys created or replaced, which control planes accept them, how many tokens that
        reissues."""
        after, before = change.after or {}, change.before or {}
        kind = after.get("kind") or before.get("kind")
        if change.action is Action.DELETE:
            return [ImpactNote(change.address, f"{kind} signing key destroyed")]
        if not change.action.creates:
            return []  # the same key (its mesh binding changed)
        acceptors = cp_authn.acceptors(change.address, plan.resource_changes)
        accepted = (
            f"accepted by {', '.join(acceptors)}" if acceptors else "no control plane accepts it"
        )
        if change.action is Action.CREATE:
            return [ImpactNote(change.address, f"{kind} signing key created; {accepted}")]
        reissued = sum(
            1
            for other in plan.resource_changes
            if other.reason is ActionReason.UPDATE_BECAUSE_KEY_REPLACED
            and other.type == "token"
            and (other.after or {}).get("signing_key") == change.address
        )
        return [
            ImpactNote(
                change.address,
                f"{kind} signing key replaced: {reissued} token(s) reissued; {accepted}",
            )
        ]

    def apply(self, request: ApplyRequest) -> dict[str, Any]:
        attributes = self.planned_arguments(request.config)
        prior = request.prior
        if prior is not None and isinstance(request.planned.get("kid"), str):
            # an update (the mesh): the key itself stays
            key = tokens.SigningKey(prior["private_key_pem"], prior["public_key_pem"], prior["kid"])
        else:
            key = tokens.generate_signing_key(attributes["key_size"])
        attributes.update(
            kid=key.kid, public_key_pem=key.public_key_pem, private_key_pem=key.private_key_pem
        )
        return attributes
