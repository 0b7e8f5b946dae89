"""Token authentication on control planes and zones (SPEC §1.4–§1.6, §1.8).

The attributes that say which ``signing_key``s a control plane accepts, which ``token``s it
presents or hands to kumactl, and which groups its RBAC binding makes admin; the rules that
tie them together (keys of the right kind, a zone's KDS token for that zone and accepted by
its global); and the ``kuma.AuthnSettings`` they render to.

References arrive as the referenced instance's value: during validate, with configured
arguments known and exports unknown; during plan, with planned values, in which a reference
*inside* the referenced instance (a token's ``signing_key``, a global's ``kds_token_keys``)
is already an address string. The helpers below accept both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from meshprov import kuma
from meshprov.diagnostics import Diagnostic, error, warning
from meshprov.lang.types import ANY
from meshprov.lang.values import UNKNOWN, ResourceValue, has_unknown, unmark
from meshprov.plan.model import Action, ResourceChange
from meshprov.resources.report import ImpactItem, ImpactNote, ImpactWarning, Notice
from meshprov.resources.schema import STRING, STRING_LIST, Attr, Exported

if TYPE_CHECKING:
    from meshprov.resources.base import ResourceInstance

DEFAULT_ADMIN_GROUPS = ("mesh-system:admin",)
UNAUTHENTICATED_ADMIN = "unauthenticated_admin"  # the diagnostic code; impact tells it too

# attribute → the kind of key it lists, and where the keys go in the kuma-cp config
KEY_LISTS = {
    "user_token_keys": "user",
    "dp_token_keys": "dataplane",
    "zone_proxy_token_keys": "zone_proxy",
    "kds_token_keys": "zone_cp",
}

SHARED_AUTHN_ATTRIBUTES = (
    Attr("user_token_keys", ANY, default=(), reference="signing_key"),
    Attr("admin_groups", STRING_LIST, default=DEFAULT_ADMIN_GROUPS, null_is_value=True),
    Attr("kumactl_token", ANY, reference="token"),
)
GLOBAL_AUTHN_ATTRIBUTES = (Attr("kds_token_keys", ANY, default=(), reference="signing_key"),)
ZONE_AUTHN_ATTRIBUTES = (
    Attr("dp_token_keys", ANY, default=(), reference="signing_key"),
    Attr("zone_proxy_token_keys", ANY, default=(), reference="signing_key"),
    Attr("kds_token", ANY, reference="token"),
    Attr(
        "dp_token_path",
        STRING,
        default="/var/lib/kuma-dp/dataplane.token",
        check=kuma.host_path_problem,
    ),
)
# what state shows of the keys and tokens a control plane was given, so that a replaced key
# or a reissued token shows as a change of the control plane (its files change)
AUTHN_EXPORTS = (Exported("accepted_kids", kind="map"), Exported("token_ids", kind="map"))
_TOKEN_ATTRIBUTES = ("kds_token", "kumactl_token")


# --- reading references ----------------------------------------------------------------------


def _raw(value: Any) -> Any:
    return unmark(value)[0]


def address_of(value: Any) -> str | None:
    """The instance address a reference names: a referenced value, or an address string."""
    raw = _raw(value)
    if isinstance(raw, ResourceValue):
        return str(raw.address)
    return raw if isinstance(raw, str) else None


def items(value: Any) -> list[Any]:
    raw = _raw(value)
    return list(raw) if isinstance(raw, list | tuple) else []


def key_kind(key: Any) -> str | None:
    raw = _raw(key)
    kind = _raw(raw.get("kind")) if isinstance(raw, ResourceValue) else None
    return kind if isinstance(kind, str) else None


def token_key(token: Any) -> Any:
    """The signing key of a referenced token: its value (validate) or address (plan)."""
    raw = _raw(token)
    return _raw(raw.get("signing_key")) if isinstance(raw, ResourceValue) else None


def token_kind(token: Any) -> str | None:
    raw = _raw(token)
    if not isinstance(raw, ResourceValue):
        return None
    kind = _raw(raw.get("kind"))
    return kind if isinstance(kind, str) else key_kind(token_key(token))


# --- planning ----------------------------------------------------------------------------------


def accepted_kids(config: dict[str, Any]) -> Any:
    """``{"user": [kid, ...], ...}`` for each non-empty key list; unknown while a key is."""
    out: dict[str, list[Any]] = {}
    for attribute, kind in KEY_LISTS.items():
        keys = [_raw(k) for k in items(config.get(attribute))]
        if keys:
            kids = [_raw(k.get("kid")) if isinstance(k, ResourceValue) else UNKNOWN for k in keys]
            out[kind] = kids
    return UNKNOWN if has_unknown(out) else out


def token_ids(config: dict[str, Any]) -> Any:
    """``{"kds_token": jti, ...}`` of the tokens the control plane is given; unknown while
    one is to be (re)issued."""
    out = {}
    for attribute in _TOKEN_ATTRIBUTES:
        token = _raw(config.get(attribute))
        if isinstance(token, ResourceValue):
            out[attribute] = _raw(token.get("jti"))
        elif token is not None:
            out[attribute] = UNKNOWN
    return UNKNOWN if has_unknown(out) else out


def settings(attributes: dict[str, Any], config: dict[str, Any]) -> kuma.AuthnSettings:
    """What the artifacts say about authentication, from fully known configuration."""

    def keys(attribute: str) -> tuple[kuma.PublicKey, ...]:
        out = []
        for key in items(config.get(attribute)):
            raw = _raw(key)
            mesh = _raw(raw.get("mesh")) if KEY_LISTS[attribute] == "dataplane" else None
            out.append(kuma.PublicKey(_raw(raw["kid"]), _raw(raw["public_key_pem"]), mesh))
        return tuple(out)

    def token(attribute: str) -> str | None:
        raw = _raw(config.get(attribute))
        return _raw(raw["token"]) if isinstance(raw, ResourceValue) else None

    groups = attributes.get("admin_groups")
    return kuma.AuthnSettings(
        user_keys=keys("user_token_keys"),
        dp_keys=keys("dp_token_keys"),
        zone_proxy_keys=keys("zone_proxy_token_keys"),
        kds_keys=keys("kds_token_keys"),
        kds_token=token("kds_token"),
        kumactl_token=token("kumactl_token"),
        admin_groups=tuple(groups) if groups is not None else None,
    )


# --- security impact ------------------------------------------------------------------------


def acceptors(key_address: str, changes: list[ResourceChange]) -> list[str]:
    """The control planes whose planned key lists include the key."""
    found = []
    for change in changes:
        after = change.after or {}
        if change.action is Action.DELETE:
            continue
        if any(key_address in (after.get(attribute) or []) for attribute in KEY_LISTS):
            found.append(change.address)
    return found


def impact(change: ResourceChange) -> list[ImpactItem]:
    """Which keys a control plane newly accepts or stops restricting, and an RBAC binding that
    makes unauthenticated callers admin."""
    if change.action is Action.DELETE:
        return []
    after = change.after or {}
    before = {} if change.action.creates else (change.before or {})
    items: list[ImpactItem] = []
    for attribute, kind in KEY_LISTS.items():
        new, old = after.get(attribute) or [], before.get(attribute) or []
        if new and new != old:
            items.append(
                ImpactNote(
                    change.address,
                    f"accepts {kind} tokens signed by {', '.join(new)} only (its own issuer "
                    "and secret-stored keys off)",
                )
            )
        elif old and not new:
            items.append(
                ImpactWarning(
                    f"{change.address} no longer restricts {kind} tokens to meshprov's keys: "
                    "its own token issuer is on again"
                )
            )
    groups = after.get("admin_groups") or []
    anonymous = [g for g in groups if g in kuma.UNAUTHENTICATED_GROUPS]
    if anonymous:
        items.append(
            ImpactWarning(
                f"{change.address}'s AccessRoleBinding makes {', '.join(anonymous)} admin: "
                "anyone who reaches its API may mint tokens",
                first=True,
            )
        )
    return items


def notices(change: ResourceChange, files: list[str] | None) -> list[Notice]:
    """Apply the RBAC binding again, register kumactl again: what the files kuma-cp does not
    read ask for (``files``: the changed artifacts, None while unknown)."""
    after = change.after or {}
    if change.action is Action.DELETE or change.after is None:
        return []
    changed = set(files) if files is not None and not change.action.creates else None
    groups = after.get("admin_groups")
    found = []
    # the binding's text follows from admin_groups alone: known at plan, even when other files
    # are not yet (a reissued certificate)
    if groups is not None and (
        change.action.creates
        or groups != (change.before or {}).get("admin_groups")
        or (changed is not None and kuma.Files.ACCESS_ROLE_BINDING in changed)
    ):
        tool = "kubectl" if after.get("environment") == "kubernetes" else "kumactl"
        found.append(
            Notice(
                change.address,
                f"{tool} apply -f {kuma.Files.ACCESS_ROLE_BINDING}",
                "RBAC is not synced between control planes: each needs its binding",
            )
        )
    if after.get("kumactl_token") and (changed is None or kuma.Files.KUMACTL_TOKEN in changed):
        found.append(
            Notice(
                change.address,
                f"run {kuma.Files.KUMACTL} again",
                f"{kuma.Files.KUMACTL_TOKEN} holds a new user token",
            )
        )
    return found


# --- checks ------------------------------------------------------------------------------------


def check(instance: ResourceInstance) -> list[Diagnostic]:
    """The authentication rules of one control plane or zone."""
    found = list(_wrong_kinds(instance))
    found.extend(_kumactl_token_rules(instance))
    found.extend(_admin_group_rules(instance))
    if instance.address.type == "zone":
        found.extend(_zone_rules(instance))
    return found


def _wrong_kinds(instance: ResourceInstance) -> Iterable[Diagnostic]:
    for attribute, kind in KEY_LISTS.items():
        for key in items(instance.values.get(attribute)):
            actual = key_kind(key)
            if actual is not None and actual != kind:
                yield error(
                    "Signing key of the wrong kind",
                    f"{attribute} lists {address_of(key)}, a {actual} key: {attribute} takes "
                    f'keys of kind "{kind}" only.',
                    instance.argument_range(attribute),
                )


def _kumactl_token_rules(instance: ResourceInstance) -> Iterable[Diagnostic]:
    token = instance.values.get("kumactl_token")
    if _raw(token) is None:
        return
    rng = instance.argument_range("kumactl_token")
    kind = token_kind(token)
    if kind is not None and kind != "user":
        yield error(
            "kumactl_token is not a user token",
            f"kumactl_token = {address_of(token)} is a {kind} token; kumactl authenticates to "
            "the API server with a user token.",
            rng,
        )
        return
    key = address_of(token_key(token))
    accepted = [address_of(k) for k in items(instance.values.get("user_token_keys"))]
    if key is not None and None not in accepted and key not in accepted:
        yield error(
            "kumactl_token not accepted by this control plane",
            f"kumactl_token = {address_of(token)} is signed by {key}, which is not in "
            f"{instance.address}'s user_token_keys: its API server would refuse it. Add the key "
            "to user_token_keys.",
            rng,
        )


def _admin_group_rules(instance: ResourceInstance) -> Iterable[Diagnostic]:
    groups = instance.values.get("admin_groups")
    if has_unknown(groups) or not groups:
        return
    for group in groups:
        if group in kuma.UNAUTHENTICATED_GROUPS:
            yield warning(
                "Unauthenticated callers are admin",
                f'admin_groups of {instance.address} includes "{group}": anyone who can reach '
                "the API server may administer the control plane and mint tokens.",
                instance.argument_range("admin_groups"),
                code=UNAUTHENTICATED_ADMIN,
            )


def _zone_rules(instance: ResourceInstance) -> Iterable[Diagnostic]:
    values = instance.values
    for attribute, authn, mode in (
        ("dp_token_keys", "dp_authn", kuma.ProxyAuthn.DP_TOKEN),
        ("zone_proxy_token_keys", "zone_proxy_authn", kuma.ProxyAuthn.ZONE_TOKEN),
    ):
        if not items(values.get(attribute)):
            continue
        if values.get("environment") == "kubernetes":
            yield error(
                "Proxy token keys on Kubernetes",
                f"{instance.address} runs on kubernetes, where injected proxies present "
                f"service-account tokens: {attribute} would never be used. Remove it.",
                instance.argument_range(attribute),
            )
        elif isinstance(values.get(authn), str) and values[authn] != mode:
            yield error(
                "Proxy token keys without token authentication",
                f'{instance.address} sets {attribute} but {authn} = "{values[authn]}": the keys '
                f'are used only with {authn} = "{mode}".',
                instance.argument_range(attribute),
            )
    yield from _kds_token_rules(instance)


def _kds_token_rules(instance: ResourceInstance) -> Iterable[Diagnostic]:
    values = instance.values
    token = values.get("kds_token")
    if _raw(token) is None:
        return
    rng = instance.argument_range("kds_token")
    kind = token_kind(token)
    if kind is not None and kind != "zone_cp":
        yield error(
            "kds_token is not a zone_cp token",
            f"kds_token = {address_of(token)} is a {kind} token; a zone presents a token signed "
            'by a key of kind "zone_cp" to its global.',
            rng,
        )
        return
    global_cp = _raw(values.get("global"))
    if global_cp is None:
        yield error(
            "kds_token on a standalone zone",
            f"{instance.address} has no global: there is nothing to present kds_token to.",
            rng,
        )
        return
    zone_claim = _raw(_raw(token).get("zone")) if isinstance(_raw(token), ResourceValue) else None
    zone_name = zone_name_of(instance)
    if isinstance(zone_claim, str) and isinstance(zone_name, str) and zone_claim != zone_name:
        yield error(
            "kds_token for another zone",
            f'kds_token = {address_of(token)} is for zone "{zone_claim}", but this zone is '
            f'"{zone_name}": the global would refuse it.',
            rng,
        )
    key = address_of(token_key(token))
    if not isinstance(global_cp, ResourceValue) or key is None:
        return
    accepted = [address_of(k) for k in items(global_cp.get("kds_token_keys"))]
    if None not in accepted and key not in accepted:
        yield error(
            "kds_token not accepted by the global",
            f"kds_token = {address_of(token)} is signed by {key}, which is not in "
            f"{global_cp.address}'s kds_token_keys: the global would refuse the zone. Add "
            "the key to kds_token_keys.",
            rng,
        )


def zone_name_of(instance: ResourceInstance) -> Any:
    """A zone instance's Kuma name, its default (the label with ``_`` → ``-``) included."""
    name = instance.values.get("name")
    return instance.address.name.replace("_", "-") if name is None else name
