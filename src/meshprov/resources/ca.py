"""``ca``: a certificate authority that signs control-plane certificates.

A root when ``parent`` is null, else an intermediate signed by its parent; or, with
``certificate_pem`` and ``private_key_pem``, a CA the organisation's PKI issued, imported
(SPEC §1.3 "Bring your own CA"): checked at validate and plan, known from the plan on, and
never renewed by meshprov (a warning once it is within ``renew_before`` of expiry). Its key
and certificate live in state only (like Terraform's tls provider), so refresh reads nothing:
it checks that the key in state is the certificate's and that the certificate chains to its
parent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from meshprov import pki
from meshprov.diagnostics import Diagnostic, error, warning
from meshprov.lang.types import ANY
from meshprov.lang.values import UNKNOWN, ResourceValue, Unknown, has_unknown, unmark
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
        Attr("common_name", STRING, required_unless="certificate_pem", forces_replacement=True),
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
        Attr("certificate_pem", STRING, forces_replacement=True, multiline=True),
        # the same attribute as the export: an imported CA's key is kept in state like a
        # generated one's
        Attr("private_key_pem", STRING, sensitive=True, multiline=True),
        Attr("certificate_chain_pem", STRING, multiline=True),
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
# what makes a CA: generated from these, or imported from the others
_GENERATION = ("common_name", "organization", "key_algorithm", "validity")
_IMPORT_PARTS = {
    "certificate": "certificate_pem",
    "key": "private_key_pem",
    "chain": "certificate_chain_pem",
}
IMPORTED_CA_EXPIRING = "imported_ca_expiring"  # diagnostic codes
IMPORTED_CA_WITHOUT_ROOT = "imported_ca_without_root"


def expiring(not_after: str | None, renew_before: str, now: datetime) -> bool:
    """True once ``now + renew_before`` has passed the certificate's ``not_after``."""
    if not isinstance(not_after, str):
        return False
    end = datetime.fromisoformat(not_after.replace("Z", "+00:00"))
    return pki.renewal_due(end, timedelta(seconds=parse_duration(renew_before)), now)


class CAType(ResourceType):
    refresh_waits = False  # checks what state holds: nothing to wait on
    schema = SCHEMA
    mermaid_shape = ('{{"', '"}}')

    def check(self, instances: list[ResourceInstance]) -> list[Diagnostic]:
        found = []
        for instance in instances:
            if _is_import(instance.values):
                found.extend(_check_import(instance))
            else:
                found.extend(_check_generated(instance))
            found.extend(_check_parent(instance))
        return found

    def check_at(self, instances: list[ResourceInstance], now: datetime) -> list[Diagnostic]:
        """An imported CA must be valid now (each certificate of its chain too); within
        renew_before of its expiry the plan warns, since meshprov cannot renew it."""
        found = []
        for instance in instances:
            imported = _known_import(instance.values)
            if imported is None:
                continue
            for problem in pki.imported_validity_problems(imported, now):
                found.append(_import_diagnostic(instance, problem))
            renew_before = instance.values["renew_before"]
            if found or has_unknown(renew_before):
                continue
            due = pki.imported_expiring(
                imported, timedelta(seconds=parse_duration(renew_before)), now
            )
            if due is not None:
                found.append(
                    warning(
                        "Imported CA expires soon",
                        f"{instance.address}: the imported certificate {due.text}, within "
                        f"renew_before ({renew_before}). meshprov does not renew a CA it "
                        "imported: have your PKI issue a new one and set certificate_pem "
                        "(and private_key_pem, certificate_chain_pem) to it; the "
                        "control-plane certificates it signs are then reissued.",
                        instance.argument_range(_IMPORT_PARTS[due.part]),
                        code=IMPORTED_CA_EXPIRING,
                    )
                )
        return found

    def plan(self, request: PlanRequest) -> PlannedChange:
        if _is_import(request.config):
            return self._plan_import(request)
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

    def _plan_import(self, request: PlanRequest) -> PlannedChange:
        """Everything about an imported CA is known from its arguments. A new certificate
        (another ``id``) replaces the CA, so what it signed is reissued; anything else that
        differs from state (the chain, ``renew_before``, a state edited by hand) is an update
        that writes the arguments' values."""
        planned = self._import_arguments(request.config)
        try:
            planned.update(_import_exports(request.config))
        except pki.ImportRefused:  # check() reports why, on each attribute
            planned.update(self.schema.unknown_exports())
            planned["parent_id"] = None
        prior = request.prior
        if prior is not None and planned["id"] not in (UNKNOWN, prior.get("id")):
            return PlannedChange(planned, ("certificate_pem",))
        return PlannedChange(planned)

    def _import_arguments(self, config: dict[str, Any]) -> dict[str, Any]:
        """An imported CA's arguments as state stores them: the generation arguments, absent,
        are null rather than their defaults (the certificate has its own key and lifetime)."""
        return {**self.planned_arguments(config), **dict.fromkeys(_GENERATION)}

    def refresh(
        self,
        address: str,
        prior: dict[str, Any],
        context: Context,
        prior_private: Mapping[str, str] = NO_PRIVATE,
    ) -> RefreshResult:
        """State is the only copy of a CA: check that its key is its certificate's and that
        the certificate is signed by the CA above it (itself, for a root; for an imported CA,
        the first of its chain, if it was given one), unless the state holds exactly what
        apply checked (``private``). What is wrong drops the certificate and key, so the plan
        replaces a generated CA and rewrites an imported one."""
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
        if _is_import(config):
            try:
                imported = _import(config)
            except pki.ImportRefused as exc:
                raise ResourceError(f"cannot import the CA: {exc}") from None
            expired = pki.imported_validity_problems(imported, request.context.now)
            if expired:
                raise ResourceError("cannot import the CA: " + "; ".join(p.text for p in expired))
            exports = _exports(imported.cert_pem, imported.chain_pem, imported.key_pem, None)
            return {**self._import_arguments(config), **exports}
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
            _exports(
                issued.cert_pem,
                issued.cert_pem + (parent["chain_pem"] if parent else ""),
                issued.key_pem,
                parent["id"] if parent else None,
            )
        )
        return attributes

    def impact(self, change: ResourceChange, plan: Plan) -> list[ImpactItem]:
        """Created (or imported), replaced, re-signed or destroyed, and how many certificates
        that reissues; an imported CA's new chain, which every bundle it is in changes with."""
        after, before = change.after or {}, change.before or {}
        imported = after.get("certificate_pem") is not None
        if imported:  # its own expiry, known from the plan on
            not_after = after.get("not_after")
            expires = not_after[:10] if isinstance(not_after, str) else ""
        else:
            expires = expiry_estimate(plan.timestamp, after.get("validity"))
        if change.action is Action.CREATE:
            return [CAImpact(change.address, "imported" if imported else "created", "", 0, expires)]
        if change.action is Action.DELETE:
            return [CAImpact(change.address, "destroyed")]
        if change.action is Action.UPDATE and not isinstance(after.get("cert_pem"), Unknown):
            if imported and after.get("chain_pem") != before.get("chain_pem"):
                return [CAImpact(change.address, "given a new chain", expires=expires)]
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


def signs_under_held(ca_address: Any, plan: Plan, held: frozenset[str]) -> bool:
    """Whether a certificate ``ca_address`` signs once ``plan`` is applied verifies with a
    bundle whose certificates have the ``pki.signer_identities`` ``held`` (SPEC §4.1).

    The certificate is presented with its CA's chain (``tls.crt``), so it verifies when the
    bundle holds a certificate with the subject and key of one in that chain. A CA this plan
    creates or replaces has a new key no bundle holds yet: what counts is its parent's chain.
    A CA re-signed under a new parent keeps its key and name, so its previous certificate, if
    held, still verifies what it signs. An unknown CA never verifies: better a needless
    warning than a silent outage."""
    address, seen = ca_address, set()
    while isinstance(address, str) and address not in seen:
        seen.add(address)
        change = plan.changes_by_address.get(address)
        if change is not None:
            action, before, after = change.action, change.before or {}, change.after or {}
        else:  # not in this plan (a targeted one): unchanged, as state holds it
            prior = plan.prior_state.resources.get(address)
            if prior is None:
                return False
            action, before, after = Action.NOOP, prior.attributes, prior.attributes
        chain = after.get("chain_pem")
        if isinstance(chain, str):
            return not held.isdisjoint(pki.signer_identities(chain))
        previous = before.get("cert_pem")
        if (
            action is Action.UPDATE  # re-signed: its key and name are kept
            and isinstance(previous, str)
            and not held.isdisjoint(pki.signer_identities(previous))
        ):
            return True
        address = after.get("parent")
    return False


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
    """Why the certificate and key in ``attributes`` cannot be trusted, or nothing."""
    chain = attributes.get("chain_pem")
    imported = attributes.get("certificate_pem") is not None
    parent_cert = _second_certificate(chain)
    issuer = chain if not imported and attributes.get("parent_id") is None else parent_cert
    return pki.stored_pair_problems(
        attributes.get("cert_pem"),
        attributes.get("private_key_pem"),
        issuer,
        issuer_recorded=not imported or parent_cert is not None,
    )


def _is_import(values: dict[str, Any]) -> bool:
    """An imported CA: ``certificate_pem`` is set (it may be unknown until apply)."""
    return values.get("certificate_pem") is not None


def _import(config: dict[str, Any]) -> pki.ImportedCA:
    """The imported CA of fully known arguments; raises ``pki.ImportRefused``."""
    return pki.import_ca(
        config["certificate_pem"], config["private_key_pem"], config["certificate_chain_pem"]
    )


def _known_import(values: dict[str, Any]) -> pki.ImportedCA | None:
    """The imported CA when its arguments are known and valid, else None."""
    parts = [values.get(name) for name in _IMPORT_PARTS.values()]
    if not _is_import(values) or values.get("private_key_pem") is None or has_unknown(parts):
        return None
    try:
        return _import(values)
    except pki.ImportRefused:
        return None


def _import_exports(config: dict[str, Any]) -> dict[str, Any]:
    """An imported CA's exports; unknown while an argument is. Raises ``pki.ImportRefused``."""
    parts = [config.get(name) for name in _IMPORT_PARTS.values()]
    if has_unknown(parts):
        return {**dict.fromkeys(_SIGNED, UNKNOWN), "private_key_pem": UNKNOWN, "parent_id": None}
    imported = _import(config)
    return _exports(imported.cert_pem, imported.chain_pem, imported.key_pem, None)


def _exports(cert_pem: str, chain_pem: str, key_pem: str, parent_id: str | None) -> dict[str, Any]:
    """What a CA exports, generated or imported alike."""
    return {
        "id": pki.fingerprint(cert_pem),
        "cert_pem": cert_pem,
        "chain_pem": chain_pem,
        "private_key_pem": key_pem,
        "not_before": pki.rfc3339(pki.not_before(cert_pem)),
        "not_after": pki.rfc3339(pki.not_after(cert_pem)),
        "serial_number": pki.serial_hex(cert_pem),
        "parent_id": parent_id,
    }


def _import_diagnostic(instance: ResourceInstance, problem: pki.ImportProblem) -> Diagnostic:
    attribute = _IMPORT_PARTS[problem.part]
    return error(
        f'Invalid value for "{attribute}"',
        f"{instance.address} cannot import this CA: the {problem.part} {problem.text}.",
        instance.argument_range(attribute),
    )


def _check_import(instance: ResourceInstance) -> list[Diagnostic]:
    """An imported CA: no generation argument, a key, and a certificate, key and chain that
    make a CA clients accept (time aside: ``check_at``)."""
    values = instance.values
    found = [
        error(
            "Argument conflicts with an imported CA",
            f'{instance.address} imports its certificate (certificate_pem), so "{name}" cannot '
            "be set: the name, key and lifetime are the imported certificate's. Remove it.",
            instance.argument_range(name),
        )
        for name in _GENERATION
        if instance.is_set(name)
    ]
    if values["parent"] is not None:
        found.append(
            error(
                "Argument conflicts with an imported CA",
                f"{instance.address} imports its certificate (certificate_pem), which its "
                "issuer has already signed: parent cannot be set. Give the issuers above it, up "
                "to the root, in certificate_chain_pem instead.",
                instance.argument_range("parent"),
            )
        )
    if values["private_key_pem"] is None:
        found.append(
            error(
                "Missing required argument",
                f'The argument "private_key_pem" of {instance.address} is required with '
                "certificate_pem: control-plane certificates are signed with the CA's key.",
                instance.argument_range("private_key_pem"),
            )
        )
        return found
    parts = [values[name] for name in _IMPORT_PARTS.values()]
    if has_unknown(parts):
        return found
    try:
        imported = _import(values)
    except pki.ImportRefused as exc:
        return found + [_import_diagnostic(instance, p) for p in exc.problems]
    if not pki.reaches_root(imported):
        found.append(
            warning(
                "Imported CA without its root",
                f"{instance.address}: the last certificate given, "
                f"{pki.subject_text(imported.certificates[-1])}, is not a self-signed root, so "
                "the trust bundles meshprov writes end there. Clients that verify up to a root "
                "(openssl among them) reject the control planes' certificates: give the issuers "
                "up to the root in certificate_chain_pem.",
                instance.argument_range(
                    "certificate_chain_pem"
                    if values["certificate_chain_pem"] is not None
                    else "certificate_pem"
                ),
                code=IMPORTED_CA_WITHOUT_ROOT,
            )
        )
    return found


def _check_generated(instance: ResourceInstance) -> list[Diagnostic]:
    """A generated CA has no argument that only an import takes."""
    values = instance.values
    return [
        error(
            "Argument needs certificate_pem",
            f"{instance.address} sets {name}, which only an imported CA takes: set "
            "certificate_pem too to import a CA, or remove it to let meshprov generate one.",
            instance.argument_range(name),
        )
        for name in ("private_key_pem", "certificate_chain_pem")
        if values[name] is not None
    ]


def _check_parent(instance: ResourceInstance) -> list[Diagnostic]:
    """A root is issued with pathlen 1, an intermediate with 0, and an imported CA may have
    pathlen 0: a CA under one of those would sign certificates no verifier accepts."""
    parent, _ = unmark(instance.values.get("parent"))
    if not isinstance(parent, ResourceValue):
        return []
    if unmark(parent.get("parent"))[0] is not None:
        why = "is itself an intermediate CA (pathlen 0)"
    else:
        cert, _ = unmark(parent.get("certificate_pem"))
        if not isinstance(cert, str) or not pki.signs_no_ca(cert):
            return []
        why = "imports a certificate with pathlen 0"
    return [
        error(
            "Intermediate CA under an intermediate",
            f"{instance.address} sets parent = {parent.address}, which {why}: it may not sign "
            "another CA. Set parent to a root CA (one without parent), or to an imported CA "
            "allowed to sign CAs.",
            instance.argument_range("parent"),
        )
    ]
