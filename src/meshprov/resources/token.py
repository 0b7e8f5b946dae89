"""``token``: a Kong Mesh token issued offline with a ``signing_key`` (SPEC §1.8).

The token's kind is its key's kind; its claims come from the arguments of that kind. Like a
certificate it is reissued when ``--as-of``/now passes ``expires_at − renew_before``
(``replace_because_expiring``) and when its key is replaced (``update_because_key_replaced``).
With ``output_file`` apply also writes it there (0600, one line); state records that file's
mode and digest, so a deleted or edited file is drift that the next apply rewrites.

Validity maxima (a warning above them): user tokens 1 year, every other kind 10 years. A user
token is a person's API credential and should be short-lived (Kong Mesh's bootstrap admin token
is the exception it warns about); data plane, zone proxy and KDS tokens are machine credentials
that meshprov renews, but a token valid for longer than a decade outlives any key rotation plan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from meshprov import kuma, tokens
from meshprov.diagnostics import SENSITIVE_TEXT, Diagnostic, error, warning
from meshprov.files import (
    UnsafePath,
    drift_of,
    file_digest,
    owned_parts,
    remove_owned_files,
    write_owned_files,
)
from meshprov.lang.types import ANY, ListType, MapType
from meshprov.lang.values import (
    UNKNOWN,
    ResourceValue,
    Unknown,
    has_unknown,
    unmark,
    values_equal,
)
from meshprov.plan.model import Action, ActionReason, Plan, ResourceChange
from meshprov.resources import cp_authn
from meshprov.resources.base import (
    NO_PRIVATE,
    ApplyRequest,
    Context,
    PlannedChange,
    PlanRequest,
    RefreshResult,
    ResourceError,
    ResourceType,
)
from meshprov.resources.ca import expiring
from meshprov.resources.control_plane_common import plain
from meshprov.resources.report import (
    CheckRow,
    ImpactItem,
    ImpactNote,
    Notice,
    VerifyContext,
    expiry_estimate,
    reason_text,
)
from meshprov.resources.schema import (
    STRING,
    STRING_LIST,
    Attr,
    Exported,
    ResourceSchema,
    check_duration,
    parse_duration,
    renewal_window_problem,
)
from meshprov.resources.token_verify import verify_token
from meshprov.resources.zone import check_zone_name
from meshprov.state.model import ResourceState

if TYPE_CHECKING:
    from meshprov.resources.base import ResourceInstance

OUTPUT_MODE = 0o600
# the longest validity that is not a warning, per kind (see the module docstring)
MAX_VALIDITY = {
    "user": timedelta(days=365),
    "dataplane": timedelta(days=3650),
    "zone_proxy": timedelta(days=3650),
    "zone_cp": timedelta(days=3650),
}


def _claim(name: str, type_: Any = STRING) -> Attr:
    # a token is a signed statement: a new claim needs a new signature, hence a new token
    return Attr(name, type_, forces_replacement=True)


SCHEMA = ResourceSchema(
    "token",
    attributes=(
        Attr("signing_key", ANY, required=True, reference="signing_key", forces_replacement=True),
        Attr("validity", STRING, default="720h", check=check_duration, forces_replacement=True),
        Attr("renew_before", STRING, check=check_duration, computed=True),  # validity / 3
        Attr("output_file", STRING),
        _claim("user_name"),
        _claim("groups", STRING_LIST),
        _claim("mesh"),
        _claim("dataplane_name"),
        _claim("tags", MapType(ListType(STRING))),
        _claim("workload"),
        _claim("zone"),
        Attr("scope", STRING_LIST, forces_replacement=True, computed=True),
    ),
    exported=(
        Exported("token", sensitive=True, kind="text"),
        Exported("jti", kind="text"),
        Exported("kid", kind="text"),
        Exported("kind", kind="text"),
        Exported("issued_at", kind="time"),
        Exported("expires_at", kind="time"),
        Exported("output_digest", kind="text", nullable=True),
    ),
)

_ISSUED = ("token", "jti", "issued_at", "expires_at")


def default_renew_before(validity: str) -> str:
    """A third of ``validity``, as a duration in whole seconds' largest units."""
    return format_duration(parse_duration(validity) // 3)


def format_duration(seconds: int) -> str:
    """``86400`` → ``"24h"``, ``5400`` → ``"1h30m"``: hours and below, as SPEC durations read."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
    return text or "0s"


def output_digest(token: str) -> str:
    """How state records the output file: its mode and content digest."""
    return file_digest(_line(token), OUTPUT_MODE)


def _line(token: str) -> bytes:
    return f"{token}\n".encode()


def _key(config: dict[str, Any]) -> dict[str, Any] | None:
    key = plain(config.get("signing_key"))
    return key if isinstance(key, dict) else None


class TokenType(ResourceType):
    refresh_waits = False  # reads local files only
    schema = SCHEMA
    # a renewed token is written over the old file, never leaving none
    create_before_destroy = True
    related_types = ("zone",)

    # --- checks ----------------------------------------------------------------------------

    def check(self, instances: list[ResourceInstance]) -> list[Diagnostic]:
        found: list[Diagnostic] = []
        writers: dict[str, list[ResourceInstance]] = defaultdict(list)
        for instance in instances:
            found.extend(_check_instance(instance))
            output = instance.values.get("output_file")
            if isinstance(output, str):
                writers[output].append(instance)
        for path, group in writers.items():
            for other in group[1:]:
                found.append(
                    error(
                        "Two tokens write the same file",
                        f'{other.address} and {group[0].address} both set output_file = "{path}"'
                        ": each would overwrite the other's token.",
                        other.argument_range("output_file"),
                    )
                )
        return found

    def check_related(
        self, instances: list[ResourceInstance], related: dict[str, list[ResourceInstance]]
    ) -> list[Diagnostic]:
        """A zone proxy token for a zone of this configuration that does not accept its key."""
        zones: dict[Any, list[ResourceInstance]] = defaultdict(list)
        for zone in related["zone"]:
            zones[cp_authn.zone_name_of(zone)].append(zone)
        found = []
        for instance in instances:
            key, _ = unmark(instance.values.get("signing_key"))
            zone_name = instance.values.get("zone")
            if not isinstance(key, ResourceValue) or cp_authn.key_kind(key) != "zone_proxy":
                continue
            for target in zones.get(zone_name, []):
                accepted = cp_authn.items(target.values.get("zone_proxy_token_keys"))
                addresses = [cp_authn.address_of(k) for k in accepted]
                if None in addresses or str(key.address) in addresses:
                    continue
                found.append(
                    error(
                        "Zone proxy token not accepted by its zone",
                        f'{instance.address} is for zone "{zone_name}", but {target.address} does '
                        f"not list its key {key.address} in zone_proxy_token_keys: the zone "
                        "would refuse its ingress and egress.",
                        instance.argument_range("zone"),
                    )
                )
        return found

    # --- plan ------------------------------------------------------------------------------

    def plan(self, request: PlanRequest) -> PlannedChange:
        prior = request.prior
        planned = self._arguments(request.config)
        replace: tuple[str, ...] = ()
        if prior is not None:
            replace = tuple(
                a.name
                for a in self.schema.attributes
                if a.forces_replacement
                and planned[a.name] is not UNKNOWN
                and not values_equal(planned[a.name], prior.get(a.name))
            )
        reason = None
        if prior is None or replace:
            reissue = True
        elif expiring(prior.get("expires_at"), planned["renew_before"], request.context.now):
            reissue, reason = True, ActionReason.REPLACE_BECAUSE_EXPIRING
        elif planned["kid"] != prior.get("kid"):
            reissue, reason = True, ActionReason.UPDATE_BECAUSE_KEY_REPLACED
        else:
            reissue = False
        if reissue:
            planned.update(dict.fromkeys(_ISSUED, UNKNOWN))
            planned["output_digest"] = UNKNOWN if planned["output_file"] is not None else None
        else:
            assert prior is not None  # a create always reissues
            planned.update({k: prior[k] for k in _ISSUED})
            planned["output_digest"] = (
                output_digest(prior["token"]) if planned["output_file"] is not None else None
            )
        return PlannedChange(planned, replace, reason)

    def _arguments(self, config: dict[str, Any]) -> dict[str, Any]:
        """The arguments with the computed ones filled in, plus the key's kind and kid."""
        planned = self.planned_arguments(config)
        key = _key(config)
        kind = key["kind"] if key is not None else UNKNOWN
        planned["kind"] = kind
        planned["kid"] = key["kid"] if key is not None else UNKNOWN
        if planned["renew_before"] is None:
            planned["renew_before"] = default_renew_before(planned["validity"])
        if planned["scope"] is None:
            planned["scope"] = (
                list(tokens.ZONE_PROXY_SCOPES)
                if kind == "zone_proxy"
                else UNKNOWN
                if kind is UNKNOWN
                else None
            )
        return planned

    # --- apply -----------------------------------------------------------------------------

    def apply(self, request: ApplyRequest) -> dict[str, Any]:
        prior = request.prior
        attributes = self._arguments(request.config)
        key = _key(request.config)
        assert key is not None  # config is fully known at apply
        if prior is None or request.planned.get("token") is UNKNOWN:
            issued = tokens.issue(
                key["private_key_pem"],
                key["kid"],
                tokens.claims(attributes["kind"], attributes),
                request.context.now,
                timedelta(seconds=parse_duration(attributes["validity"])),
            )
            attributes.update(
                token=issued.token,
                jti=issued.jti,
                issued_at=_rfc3339(issued.issued_at),
                expires_at=_rfc3339(issued.expires_at),
            )
        else:
            attributes.update({k: prior[k] for k in _ISSUED})
        attributes["output_digest"] = None
        if attributes["output_file"] is not None:
            base = request.context.config_dir
            try:
                write_owned_files(
                    base, [(attributes["output_file"], _line(attributes["token"]), OUTPUT_MODE)]
                )
            except UnsafePath as exc:
                raise ResourceError(f"refusing to write the token: {exc}") from None
            except OSError as exc:
                raise ResourceError(
                    f"cannot write {exc.filename or attributes['output_file']}: {exc.strerror}"
                ) from None
            attributes["output_digest"] = output_digest(attributes["token"])
        if prior is not None:
            self._remove_stale(request.context, prior, attributes)
        return attributes

    # --- what a change means ----------------------------------------------------------------

    def impact(self, change: ResourceChange, plan: Plan) -> list[ImpactItem]:
        """Tokens issued or reissued (subject, groups, expiry), and destroyed ones that stay
        valid until they expire."""
        after, before = change.after or {}, change.before or {}
        if change.action is Action.DELETE:
            return [
                ImpactNote(
                    change.address,
                    f"{subject(before, change.before_sensitive)}: token destroyed, but it stays "
                    f"valid until {before.get('expires_at')} unless jti {before.get('jti')} is "
                    "revoked",
                )
            ]
        if not change.action.creates and not isinstance(after.get("token"), Unknown):
            return []  # the same token (its file is rewritten, or its renewal window moved)
        expires = expiry_estimate(plan.timestamp, after.get("validity"))
        if change.action is Action.CREATE:
            verb = "issued"
        else:
            why = reason_text(change.reason) or ", ".join(change.replace_paths) + " changed"
            verb = f"reissued because {why}"
        who = subject(after, change.after_sensitive)
        return [ImpactNote(change.address, f"{who}: token {verb}, valid until about {expires}")]

    def notices(self, change: ResourceChange) -> list[Notice]:
        after, before = change.after or {}, change.before or {}
        if change.action is Action.DELETE:
            return [revocation_notice(change.address, before)]
        if not change.action.creates and not isinstance(after.get("token"), Unknown):
            return []
        if after.get("kind") == "zone_cp":
            return []  # the zone writes it: its own notices say what to restart
        output = after.get("output_file")
        where = f"hand out {output}" if output else "hand out the new token"
        holder = _HOLDER.get(str(after.get("kind")), "where it is used")
        return [
            Notice(
                change.address,
                f"{where} to {holder}",
                f"a new token for {subject(after, change.after_sensitive)}",
            )
        ]

    def verify(self, instance: ResourceState, context: VerifyContext) -> list[CheckRow]:
        """The token verifies with the public keys written for each control plane it is for."""
        return verify_token(instance, context)

    # --- delete and refresh ----------------------------------------------------------------

    def delete(self, address: str, prior: dict[str, Any], context: Context) -> None:
        self._remove_stale(context, prior, None)

    def delete_replaced(
        self, address: str, prior: dict[str, Any], new: dict[str, Any], context: Context
    ) -> None:
        self._remove_stale(context, prior, new)

    @staticmethod
    def _remove_stale(context: Context, prior: dict[str, Any], new: dict[str, Any] | None) -> None:
        """Remove the file ``prior`` wrote unless ``new`` writes the same path: that path
        only, never through a symlink."""
        old = prior.get("output_file")
        if old is None or prior.get("output_digest") is None:
            return
        if new is not None and new.get("output_file") == old:
            return
        try:
            remove_owned_files(context.config_dir, [old])
        except UnsafePath as exc:
            raise ResourceError(f"refusing to remove the token file in state: {exc}") from None
        except OSError as exc:
            raise ResourceError(f"cannot remove {exc.filename or old}: {exc.strerror}") from None

    def refresh(
        self,
        address: str,
        prior: dict[str, Any],
        context: Context,
        prior_private: Mapping[str, str] = NO_PRIVATE,
    ) -> RefreshResult:
        relative = prior.get("output_file")
        if relative is None or prior.get("output_digest") is None:
            return RefreshResult(prior)
        path = context.config_dir / relative
        try:
            actual, note = drift_of(path, prior["output_digest"], relative)
        except OSError as exc:
            raise ResourceError(f"cannot read {path}: {exc.strerror}") from None
        if not note:
            return RefreshResult(prior)
        return RefreshResult({**prior, "output_digest": actual}, (note,))


# who a token of each kind goes to
_HOLDER = {
    "user": "its user (kumactl: --auth-type=tokens --auth-conf token=...)",
    "dataplane": "its data plane host (kuma-dp --dataplane-token-file)",
    "zone_proxy": "its zone ingress/egress host (kuma-dp --dataplane-token-file)",
}


def subject(attributes: dict[str, Any], hidden: frozenset[str] = frozenset()) -> str:
    """Who a token speaks for, in a few words: ``user "alice" (groups mesh-system:admin)``.

    A claim in ``hidden`` (sensitive: a saved plan holds null for it) is shown as such."""

    def claim(name: str) -> Any:
        return SENSITIVE_TEXT if name in hidden else attributes.get(name)

    kind = attributes.get("kind")
    if kind == "user":
        groups = [SENSITIVE_TEXT] if "groups" in hidden else attributes.get("groups") or []
        listed = f" (groups {', '.join(groups)})" if groups else ""
        return f'user "{claim("user_name")}"{listed}'
    if kind == "dataplane":
        name = claim("dataplane_name")
        who = f'data plane "{name}"' if name else "any data plane"
        return f'{who} of mesh "{claim("mesh")}"'
    if kind == "zone_proxy":
        scope = SENSITIVE_TEXT if "scope" in hidden else " and ".join(attributes.get("scope") or [])
        return f'zone "{claim("zone")}" {scope} proxies'
    if kind == "zone_cp":
        return f'zone "{claim("zone")}" control plane (KDS)'
    return "a token"


def revocation_notice(address: str, before: dict[str, Any]) -> Notice:
    """A destroyed token is still valid until it expires: say how to revoke it."""
    kind = before.get("kind")
    secret = kuma.REVOCATION_SECRETS.get(str(kind))
    where = f" to the secret {secret.format(mesh=before.get('mesh'))}" if secret else ""
    return Notice(
        address,
        f"add jti {before.get('jti')}{where} if the token may still be in use",
        f"a destroyed token stays valid until {before.get('expires_at')}",
    )


def _rfc3339(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_instance(instance: ResourceInstance) -> list[Diagnostic]:
    """A token's own rules: claims of its key's kind, sane lifetimes, a relative output path."""
    values = instance.values
    found: list[Diagnostic] = []
    key, _ = unmark(values.get("signing_key"))
    kind = unmark(key.get("kind"))[0] if isinstance(key, ResourceValue) else None
    if isinstance(kind, str) and kind in tokens.KINDS:
        allowed = tokens.arguments_of(kind)
        for name in sorted(tokens.claim_arguments() - set(allowed)):
            if instance.is_set(name):
                found.append(
                    error(
                        "Claim not of the key's kind",
                        f"{instance.address} is signed by {key.address}, a {kind} key: "
                        f"{name} is not a claim of {kind} tokens, whose claims are "
                        f"{', '.join(allowed)}.",
                        instance.argument_range(name),
                    )
                )
        required = tokens.REQUIRED[kind]
        if values.get(required) is None:
            found.append(
                error(
                    "Missing required claim",
                    f"{instance.address} is a {kind} token (its key {key.address} is a {kind} "
                    f"key): it needs {required}.",
                    instance.range,
                )
            )
        found.extend(_kind_rules(instance, kind, key))
    found.extend(_lifetime_rules(instance, kind))
    output = values.get("output_file")
    if isinstance(output, str):
        try:
            owned_parts(output)
        except UnsafePath:
            found.append(
                error(
                    "output_file outside the configuration directory",
                    f'output_file = "{output}" must be a plain path relative to the '
                    "configuration directory (no leading /, no . or .. parts), where meshprov "
                    "keeps what it writes.",
                    instance.argument_range("output_file"),
                )
            )
    return found


def _kind_rules(instance: ResourceInstance, kind: str, key: ResourceValue) -> list[Diagnostic]:
    values = instance.values
    found: list[Diagnostic] = []
    zone = values.get("zone")
    if kind in ("zone_proxy", "zone_cp") and isinstance(zone, str):
        problem = check_zone_name(zone)
        if problem:
            found.append(error("Invalid zone name", problem, instance.argument_range("zone")))
    scope = values.get("scope")
    if kind == "zone_proxy" and isinstance(scope, list) and not has_unknown(scope):
        bad = [s for s in scope if s not in tokens.ZONE_PROXY_SCOPES]
        if bad or not scope:
            found.append(
                error(
                    "Invalid scope",
                    f"scope must be a non-empty subset of "
                    f'["ingress", "egress"]; {instance.address} has {scope}.',
                    instance.argument_range("scope"),
                )
            )
    key_mesh = unmark(key.get("mesh"))[0]
    mesh = values.get("mesh")
    if (
        kind == "dataplane"
        and isinstance(key_mesh, str)
        and isinstance(mesh, str)
        and key_mesh != mesh
    ):
        found.append(
            error(
                "Token for another mesh than its key",
                f'{instance.address} is for mesh "{mesh}", but its key {key.address} is '
                f'valid for mesh "{key_mesh}" only: the control plane would reject it.',
                instance.argument_range("mesh"),
            )
        )
    return found


def _lifetime_rules(instance: ResourceInstance, kind: Any) -> list[Diagnostic]:
    values = instance.values
    validity, renew_before = values.get("validity"), values.get("renew_before")
    if not isinstance(validity, str) or check_duration(validity) is not None:
        return []  # the schema check reports it
    seconds = parse_duration(validity)
    found: list[Diagnostic] = []
    too_long = renewal_window_problem(validity, renew_before)
    if too_long:
        found.append(
            error(
                "renew_before not shorter than validity",
                f"{too_long}: {instance.address} would be reissued on every plan.",
                instance.argument_range("renew_before"),
            )
        )
    maximum = MAX_VALIDITY.get(kind) if isinstance(kind, str) else None
    if maximum is not None and seconds > maximum.total_seconds():
        years = "1 year" if kind == "user" else "10 years"
        found.append(
            warning(
                "Long-lived token",
                f'{instance.address} is a {kind} token valid for "{validity}", more than '
                f"{years}: a leaked token stays usable that long unless its jti is revoked. "
                "Prefer a shorter validity; meshprov renews tokens within renew_before.",
                instance.argument_range("validity"),
            )
        )
    return found
