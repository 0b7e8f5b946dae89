"""``firewall``: AWS security-group ingress in front of a control-plane port.

Kong Mesh's guidance for KDS: "Define firewall rules on the global control plane to only accept
connections from known IPs of the zone control planes." The rules meshprov creates carry the
description ``meshprov:<firewall address>:<zone name or "cidr">``; that is how refresh tells
meshprov's rules from foreign ones. A description is only text anyone can copy (the console's
"copy to new" does), so a rule that carries it is meshprov's only if state recorded its id or
its source is one the configuration allows (what meshprov would create anyway): a copied rule
for any other source is someone else's, revoked only by exclusivity and listed in the plan.
Every call is batched per security group: one describe for all groups, then at most one
revoke and one authorize per group.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshprov import kuma, yamlio
from meshprov.aws import AwsError, call, paginate
from meshprov.diagnostics import Diagnostic, error, named
from meshprov.files import (
    UnsafePath,
    drift_of,
    file_digest,
    leaves_dir,
    remove_written_file,
    write_owned_files,
    written_as,
)
from meshprov.lang.types import ANY
from meshprov.lang.values import UNKNOWN, ResourceValue, Unknown, has_unknown, unmark
from meshprov.plan.model import Action, Plan, ResourceChange
from meshprov.resources import cp_authn
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
)
from meshprov.resources.control_plane_common import check_port
from meshprov.resources.report import (
    CheckRow,
    FirewallImpact,
    ImpactItem,
    ImpactNote,
    ImpactWarning,
    Notice,
    RowBuilder,
    SourceChange,
    VerifyContext,
    firewall_reach,
)
from meshprov.resources.schema import (
    BOOL,
    NUMBER,
    STRING,
    STRING_LIST,
    Attr,
    Exported,
    ResourceSchema,
    shown,
)


def _check_rules_per_group(value: object) -> str | None:
    if isinstance(value, int) and value >= 1:
        return None
    return f"rules_per_group must be a whole number of at least 1, not {shown(value)}."


if TYPE_CHECKING:
    from meshprov.state.model import ResourceState

SCHEMA = ResourceSchema(
    "firewall",
    attributes=(
        Attr("security_group_ids", STRING_LIST, default=()),
        Attr("helm_values_file", STRING),
        Attr("port", NUMBER, default=kuma.KDS_PORT, check=check_port, forces_replacement=True),
        Attr("protocol", STRING, default="tcp", allowed=("tcp", "udp"), forces_replacement=True),
        Attr("allow_zones", ANY, default=(), reference="zone"),
        Attr("allow_cidrs", STRING_LIST, default=()),
        Attr("exclusive", BOOL, default=True),
        Attr("allow_public", BOOL, default=False),
        Attr("rules_per_group", NUMBER, default=60, check=_check_rules_per_group),
        Attr("region", STRING),
    ),
    exported=(
        Exported("cidrs"),
        Exported("rule_ids"),
        Exported("sources"),
        Exported("placement"),
        Exported("rules"),
        Exported("foreign"),
        Exported("wider"),
        Exported("revokes"),
        Exported("helm_values"),
    ),
)

# what plan computes from the groups' rules (UNKNOWN while the groups are)
_COMPUTED = (
    "sources",
    "placement",
    "rules",
    "cidrs",
    "rule_ids",
    "foreign",
    "wider",
    "revokes",
    "helm_values",
)
HELM_VALUES_MODE = 0o644
_VERIFY_ORDER = (4,)  # after the control planes' channel rows
AUTHORIZE_BATCH = 100  # IP ranges per AuthorizeSecurityGroupIngress call
REVOKE_BATCH = 500  # rule ids per RevokeSecurityGroupIngress call
# what RevokeSecurityGroupIngress answers when a rule id is already gone (AWS, moto)
RULE_GONE_CODES = frozenset({"InvalidSecurityGroupRuleId.NotFound", "InvalidPermission.NotFound"})
# what a retried AuthorizeSecurityGroupIngress may answer when its first attempt got through
READ_BACK_CODES = frozenset({"InvalidPermission.Duplicate", "RulesPerSecurityGroupLimitExceeded"})


def owner_prefix(address: str) -> str:
    """The description prefix of this firewall's rules (AWS allows no quotes in descriptions)."""
    return f"meshprov:{address.replace(chr(34), '')}:"


def cidr_key(cidr: str) -> tuple:
    network = ipaddress.ip_network(cidr)
    return (network.version, network.network_address, network.prefixlen)


def is_public(cidr: str) -> bool:
    """0.0.0.0/0, ::/0, or wider than /8 (IPv4) or /32 (IPv6); false for a non-CIDR source."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return network.prefixlen < (8 if network.version == 4 else 32)


@dataclass
class Live:
    """What AWS says about the firewall's groups, read in one batch.

    Only a rule on exactly the firewall's protocol and port can be the firewall's own
    (``rules``, told by the description prefix, and by its id or source: ``classify``) or
    revoked by exclusivity (``foreign``). A rule
    that merely covers the port (all traffic, or a port range) still lets its source in, so it
    is reported (``wider``) but never revoked: it is someone else's rule for other ports too.
    """

    rules: dict[str, dict[str, str]]  # rule id -> {"group", "cidr", "label"} (owned)
    foreign: list[dict[str, Any]]  # ingress on exactly the port that meshprov does not own
    wider: list[dict[str, Any]] = field(default_factory=list)  # rules covering the port
    others: dict[str, int] = field(default_factory=dict)  # group -> other inbound rules

    def placement(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for rule in self.rules.values():
            out.setdefault(rule["group"], []).append(rule["cidr"])
        return {g: sorted(set(c), key=cidr_key) for g, c in sorted(out.items())}

    def occupied(self, exclusive: bool) -> dict[str, int]:
        """Inbound rules per group that are not this firewall's and that apply leaves in place:
        they use up the group's quota too."""
        out = dict(self.others)
        if not exclusive:
            for rule in self.foreign:
                out[rule["group"]] = out.get(rule["group"], 0) + 1
        return out

    def attributes(self) -> dict[str, Any]:
        """The computed attributes that describe this reality."""
        sources = {r["cidr"]: r["label"] for r in self.rules.values()}
        return {
            "sources": dict(sorted(sources.items(), key=lambda kv: cidr_key(kv[0]))),
            "placement": self.placement(),
            "rules": {f"{r['group']} {r['cidr']}": rid for rid, r in sorted(self.rules.items())},
            "foreign": _by_group(self.foreign),
            "wider": _by_group(self.wider),
            "cidrs": sorted(sources, key=cidr_key),
            "rule_ids": sorted(self.rules),
        }


def classify(
    found: Iterable[dict[str, Any]],
    prefix: str,
    port: int,
    protocol: str,
    known: Collection[str] = (),
    wanted: Collection[str] = (),
) -> Live:
    """Sort DescribeSecurityGroupRules' answer into the firewall's rules, foreign rules on its
    port, wider rules covering it, and the count of everything else per group.

    A rule on the port with the firewall's description is its own when its id is ``known``
    (recorded in state, or just created) or its source is ``wanted`` (one the configuration
    allows); else it is foreign, whoever copied the description."""
    live = Live({}, [])
    for rule in found:
        if rule.get("IsEgress"):
            continue
        group = rule["GroupId"]
        description = rule.get("Description") or ""
        raw = rule.get("CidrIpv4") or rule.get("CidrIpv6")
        cidr = str(ipaddress.ip_network(raw, strict=False)) if raw else None
        reach = _reach(rule, port, protocol)
        if (
            reach == "exact"
            and cidr
            and description.startswith(prefix)
            and (rule["SecurityGroupRuleId"] in known or cidr in wanted)
        ):
            live.rules[rule["SecurityGroupRuleId"]] = {
                "group": group,
                "cidr": cidr,
                "label": description[len(prefix) :],
            }
            continue
        if reach == "exact":
            live.foreign.append(_foreign(rule, cidr))
            continue
        live.others[group] = live.others.get(group, 0) + 1
        if reach == "wider":
            live.wider.append(_foreign(rule, cidr))
    return live


def _known(prior: dict[str, Any] | None) -> set[str]:
    """The ids of the rules state recorded as the firewall's."""
    ids = (prior or {}).get("rule_ids")
    return set(ids) if isinstance(ids, list) else set()


def _foreign(rule: dict[str, Any], cidr: str | None) -> dict[str, Any]:
    return {
        "group": rule["GroupId"],
        "rule_id": rule["SecurityGroupRuleId"],
        "source": cidr or _other_source(rule),
        "ports": _ports(rule),
        "description": rule.get("Description") or "",
    }


def _by_group(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rules, key=lambda f: (f["group"], f["rule_id"]))


class FirewallType(ResourceType):
    schema = SCHEMA
    mermaid_shape = ('[/"', '"\\]')
    # the zones it allows, and the globals they dial (whose kds_port it must open)
    related_types = ("zone", "control_plane")

    def check(self, instances: list[ResourceInstance]) -> list[Diagnostic]:
        """What validate can tell without AWS: groups given, extra CIDRs valid and not public,
        no two firewalls on one group, protocol and port."""
        found: list[Diagnostic] = _overlaps(instances)
        for instance in instances:
            values = instance.values
            groups, helm = values["security_group_ids"], values["helm_values_file"]
            if not has_unknown(groups) and not groups and helm is None:
                found.append(
                    error(
                        "Nothing to configure",
                        f"{instance.address} needs security_group_ids (the AWS security groups "
                        "in front of the control plane), helm_values_file (a Helm values "
                        "overlay for a global on Kubernetes), or both.",
                        instance.argument_range("security_group_ids"),
                    )
                )
            # control characters: refused with every argument's (control_character_problem)
            if isinstance(helm, str) and not helm.strip():
                found.append(
                    error(
                        "Invalid helm_values_file",
                        f"{instance.address}: helm_values_file must be a file path.",
                        instance.argument_range("helm_values_file"),
                    )
                )
            found.extend(_public_zone_egress(instance))
            cidrs = values["allow_cidrs"]
            if has_unknown(cidrs):
                continue
            for cidr in cidrs:
                try:
                    network = ipaddress.ip_network(cidr, strict=False)
                except ValueError:
                    found.append(
                        error(
                            "Invalid CIDR",
                            f'"{cidr}" in allow_cidrs is not an IP address or CIDR.',
                            instance.argument_range("allow_cidrs"),
                        )
                    )
                    continue
                if is_public(str(network)) and values["allow_public"] is False:
                    found.append(
                        error(
                            "Public source not allowed",
                            f"{network} (from allow_cidrs) would open {_opens(values)} to "
                            "the internet or a very wide range. Set allow_public = true if that "
                            "is really intended.",
                            instance.argument_range("allow_cidrs"),
                        )
                    )
        return found

    def check_related(
        self, instances: list[ResourceInstance], related: dict[str, list[ResourceInstance]]
    ) -> list[Diagnostic]:
        """A firewall whose port is not the kds_port of a global its zones dial."""
        zones = {str(z.address): z for z in related["zone"]}
        globals_ = {str(g.address): g for g in related["control_plane"]}
        found: list[Diagnostic] = []
        for instance in instances:
            found.extend(_kds_port_mismatches(instance, zones, globals_))
        return found

    # --- reading ---------------------------------------------------------------------------

    def _ec2(self, context: Context, region: str | None) -> Any:
        clients = context.providers.get("aws")
        if clients is None:
            raise ResourceError("no AWS provider is configured")
        try:  # creating the client is where a missing region shows
            return clients.client("ec2", region)
        except AwsError as exc:
            raise ResourceError(str(exc)) from None

    def read(
        self,
        address: str,
        values: dict[str, Any],
        context: Context,
        known: Collection[str] = (),
        wanted: Collection[str] = (),
    ) -> Live:
        """One DescribeSecurityGroups (existence) and one paginated DescribeSecurityGroupRules;
        ``known`` and ``wanted`` tell this firewall's rules (``classify``)."""
        groups = list(values["security_group_ids"])
        ec2 = self._ec2(context, values.get("region"))
        try:
            call(ec2, "describe_security_groups", GroupIds=groups)
            found = list(
                paginate(
                    ec2,
                    "describe_security_group_rules",
                    "SecurityGroupRules",
                    Filters=[{"Name": "group-id", "Values": groups}],
                )
            )
        except AwsError as exc:
            raise ResourceError(_aws_message(groups, exc)) from None
        return classify(
            found, owner_prefix(address), values["port"], values["protocol"], known, wanted
        )

    def refresh(
        self,
        address: str,
        prior: dict[str, Any],
        context: Context,
        prior_private: Mapping[str, str] = NO_PRIVATE,
    ) -> RefreshResult:
        current: dict[str, Any] = dict(prior)
        notes: list[str] = []
        if prior.get("security_group_ids"):
            current, notes = self._refresh_groups(address, prior, context)
        if prior.get("helm_values_file") is not None:
            digest, note = _read_helm_values(context, prior)
            if note:
                current["helm_values"] = digest
                notes.append(note)
        return RefreshResult(current, tuple(notes))

    def _refresh_groups(
        self, address: str, prior: dict[str, Any], context: Context
    ) -> tuple[dict[str, Any], list[str]]:
        live = self.read(address, prior, context, _known(prior), prior.get("sources") or {})
        current = {**prior, **live.attributes()}
        notes = []
        for cidr in sorted(set(prior.get("sources") or {}) - set(current["sources"]), key=cidr_key):
            notes.append(f"rule for {cidr} ({prior['sources'][cidr]}) was removed")
        known = {f["rule_id"] for f in [*(prior.get("foreign") or []), *(prior.get("wider") or [])]}
        copied = owner_prefix(address)
        for rule in current["foreign"]:
            if rule["rule_id"] not in known:
                notes.append(
                    f"{rule['group']} gained a rule on port {prior['port']} from {rule['source']} "
                    "that meshprov does not own"
                    + (
                        f" ({rule['rule_id']}: its description copies meshprov's, but meshprov "
                        "did not create it)"
                        if rule["description"].startswith(copied)
                        else ""
                    )
                )
        for rule in current["wider"]:
            if rule["rule_id"] not in known:
                notes.append(
                    f"{rule['group']} gained a rule for {rule['ports']} from {rule['source']} "
                    f"that covers port {prior['port']} (meshprov does not own it)"
                )
        return current, notes

    # --- planning --------------------------------------------------------------------------

    def plan(self, request: PlanRequest) -> PlannedChange:
        config = request.config
        planned = self.planned_arguments(config)
        replace: tuple[str, ...] = ()
        prior = request.prior
        if prior is not None:
            replace = tuple(
                a.name
                for a in self.schema.attributes
                if a.forces_replacement and planned[a.name] != prior.get(a.name)
            )
        sources = desired_sources(request.address, config)
        groups = planned["security_group_ids"]
        if has_unknown(groups):
            planned.update(dict.fromkeys(_COMPUTED, UNKNOWN))
            return PlannedChange(planned, replace)
        if groups:
            self._plan_groups(request, planned, sources, bool(replace))
        else:
            planned.update(_without_groups(sources))
        planned["helm_values"] = _helm_digest(planned["helm_values_file"], sources)
        return PlannedChange(planned, replace)

    def _plan_groups(
        self, request: PlanRequest, planned: dict[str, Any], sources: Any, replace: bool
    ) -> None:
        """The rules in the security groups: read the groups when state cannot tell."""
        prior = request.prior
        groups = planned["security_group_ids"]
        live = None
        if (
            prior is None
            or replace
            or groups != prior.get("security_group_ids")
            or _unplaced(sources, prior.get("placement") or {})
        ):
            # no reading of these groups to go by, or new sources to fit: read them (read-only)
            # so that the plan lists every revocation and a missing group or a full quota fails
            # here, before apply changes anything
            live = self.read(
                request.address,
                planned,
                request.context,
                _known(prior),
                {} if sources is UNKNOWN else sources,
            )
        current = live.attributes() if live is not None else prior or {}
        exclusive = planned["exclusive"]
        foreign = current.get("foreign") or []
        planned.update(
            foreign=[] if exclusive else foreign,
            wider=current.get("wider") or [],
            revokes=foreign if exclusive else [],
        )
        if sources is UNKNOWN:
            planned.update(
                dict.fromkeys(("sources", "placement", "rules", "cidrs", "rule_ids"), UNKNOWN)
            )
            return
        placement = place(
            request.address,
            sources,
            groups,
            planned["rules_per_group"],
            current.get("placement") or {},
            live.occupied(exclusive) if live is not None else {},
        )
        known_rules = current.get("rules") or {}
        rules = {
            f"{g} {c}": known_rules.get(f"{g} {c}", UNKNOWN)
            for g, cidrs in placement.items()
            for c in cidrs
        }
        planned.update(
            sources=sources,
            placement=placement,
            rules=rules,
            cidrs=sorted(sources, key=cidr_key),
            rule_ids=UNKNOWN if UNKNOWN in rules.values() else sorted(rules.values()),
        )

    # --- applying --------------------------------------------------------------------------

    def apply(self, request: ApplyRequest) -> dict[str, Any]:
        arguments = self.planned_arguments(request.config)
        sources = desired_sources(request.address, request.config)
        self._leave_dropped_groups(request.address, request.prior, arguments, request.context)
        if arguments["security_group_ids"]:
            attributes = self._apply_groups(request, arguments, sources)
        else:
            attributes = {**arguments, **_without_groups(sources)}
        attributes["helm_values"] = _write_helm_values(
            request.context, request.prior, arguments["helm_values_file"], sources
        )
        return attributes

    def _apply_groups(
        self, request: ApplyRequest, arguments: dict[str, Any], sources: dict[str, str]
    ) -> dict[str, Any]:
        address = request.address
        live = self.read(address, arguments, request.context, _known(request.prior), sources)
        exclusive = arguments["exclusive"]
        # exclusivity revokes what the plan listed, nothing more: a rule that appeared since
        # shows in the next plan first
        planned_revokes = request.planned.get("revokes")
        revoke_ids = (
            {f["rule_id"] for f in planned_revokes}
            if isinstance(planned_revokes, list)
            else {f["rule_id"] for f in live.foreign}
        )
        if not exclusive:
            revoke_ids = set()
        staying = [f for f in live.foreign if f["rule_id"] not in revoke_ids]
        occupied = Live({}, staying, others=live.others).occupied(exclusive=False)
        placement = place(
            address,
            sources,
            arguments["security_group_ids"],
            arguments["rules_per_group"],
            live.placement(),
            occupied,
        )
        ec2 = self._ec2(request.context, arguments.get("region"))
        prefix = owner_prefix(address)
        wanted = {(g, c) for g, cidrs in placement.items() for c in cidrs}
        group = ""
        try:
            # revoke first everywhere: a CIDR moving between groups frees its slot first
            for group in arguments["security_group_ids"]:
                doomed = [
                    rid
                    for rid, r in live.rules.items()
                    if r["group"] == group and (group, r["cidr"]) not in wanted
                ]
                doomed += [
                    f["rule_id"]
                    for f in live.foreign
                    if f["group"] == group and f["rule_id"] in revoke_ids
                ]
                for chunk in _chunks(doomed, REVOKE_BATCH):
                    _revoke(ec2, group, chunk)
                    for rid in chunk:
                        live.rules.pop(rid, None)
                    live.foreign = [f for f in live.foreign if f["rule_id"] not in chunk]
            for group, cidrs in placement.items():
                have = {r["cidr"] for r in live.rules.values() if r["group"] == group}
                missing = [c for c in cidrs if c not in have]
                for chunk in _chunks(missing, AUTHORIZE_BATCH):
                    self._authorize(ec2, group, chunk, sources, prefix, arguments, live)
        except AwsError as exc:
            # the overlay is written after the groups: what state knew of it still holds
            done = {
                **arguments,
                **live.attributes(),
                "revokes": [],
                "helm_values": (request.prior or {}).get("helm_values"),
            }
            raise ResourceError(_aws_message([group], exc), done) from None
        return {**arguments, **live.attributes(), "revokes": []}

    def _leave_dropped_groups(
        self,
        address: str,
        prior: dict[str, Any] | None,
        arguments: dict[str, Any],
        context: Context,
    ) -> None:
        """Revoke this firewall's rules in groups no longer listed (their sources move to the
        listed groups); other rules there are no longer this firewall's business."""
        if prior is None:
            return
        dropped = [
            g
            for g in prior.get("security_group_ids") or []
            if g not in arguments["security_group_ids"]
        ]
        if dropped:
            self._revoke_owned(address, {**prior, "security_group_ids": dropped}, context)

    def _authorize(
        self,
        ec2: Any,
        group: str,
        cidrs: list[str],
        sources: dict[str, str],
        prefix: str,
        arguments: dict[str, Any],
        live: Live,
    ) -> None:
        v4 = [c for c in cidrs if ipaddress.ip_network(c).version == 4]
        v6 = [c for c in cidrs if ipaddress.ip_network(c).version == 6]
        permission = {
            "IpProtocol": arguments["protocol"],
            "FromPort": arguments["port"],
            "ToPort": arguments["port"],
            "IpRanges": [{"CidrIp": c, "Description": prefix + sources[c]} for c in v4],
            "Ipv6Ranges": [{"CidrIpv6": c, "Description": prefix + sources[c]} for c in v6],
        }
        try:
            response = call(
                ec2, "authorize_security_group_ingress", GroupId=group, IpPermissions=[permission]
            )
        except AwsError as exc:
            if exc.code not in READ_BACK_CODES:
                raise
            # an earlier attempt may have got through (a lost response, retried): read back
            fresh = self._group_rules(ec2, group, prefix, arguments, cidrs)
            live.rules.update(fresh)
            remaining = [c for c in cidrs if c not in {r["cidr"] for r in fresh.values()}]
            if not remaining:
                return
            if exc.code != "InvalidPermission.Duplicate":
                raise
            if len(remaining) == len(cidrs):
                # no progress: a rule meshprov does not own already has one of these sources
                raise _taken(exc, group, remaining, arguments, live) from None
            self._authorize(ec2, group, remaining, sources, prefix, arguments, live)
            return
        for rule in response.get("SecurityGroupRules", []):
            cidr = rule.get("CidrIpv4") or rule.get("CidrIpv6")
            live.rules[rule["SecurityGroupRuleId"]] = {
                "group": group,
                "cidr": str(ipaddress.ip_network(cidr, strict=False)),
                "label": sources[str(ipaddress.ip_network(cidr, strict=False))],
            }

    def _group_rules(
        self, ec2: Any, group: str, prefix: str, arguments: dict[str, Any], cidrs: list[str]
    ) -> dict[str, dict[str, str]]:
        """The group's rules for ``cidrs`` with this firewall's description: the ones a
        retried authorize created, whose ids its lost response did not say."""
        found = paginate(
            ec2,
            "describe_security_group_rules",
            "SecurityGroupRules",
            Filters=[{"Name": "group-id", "Values": [group]}],
        )
        return classify(found, prefix, arguments["port"], arguments["protocol"], wanted=cidrs).rules

    def delete(self, address: str, prior: dict[str, Any], context: Context) -> None:
        """Revoke only meshprov's own rules (foreign rules stay as they are) and remove the Helm
        values overlay it wrote."""
        _write_helm_values(context, prior, None, {})
        if prior.get("security_group_ids"):
            self._revoke_owned(address, prior, context)

    def _revoke_owned(self, address: str, prior: dict[str, Any], context: Context) -> None:
        """Revoke the rules state recorded as this firewall's (a copied description alone
        makes no rule meshprov's to remove)."""
        live = self.read(address, prior, context, _known(prior))
        ec2 = self._ec2(context, prior.get("region"))
        by_group: dict[str, list[str]] = {}
        for rid, rule in live.rules.items():
            by_group.setdefault(rule["group"], []).append(rid)
        try:
            for group, ids in sorted(by_group.items()):
                for chunk in _chunks(sorted(ids), REVOKE_BATCH):
                    _revoke(ec2, group, chunk)
        except AwsError as exc:
            raise ResourceError(_aws_message(list(by_group), exc)) from None

    # --- verify ----------------------------------------------------------------------------

    def verify(self, instance: ResourceState, context: VerifyContext) -> list[CheckRow]:
        """Ingress on the port, read back from AWS: exactly the allowed CIDRs, nothing public;
        the Helm values overlay holds exactly the allowed CIDRs."""
        attrs = instance.attributes
        row = RowBuilder(f"firewall ({_opens(attrs)})", instance.address, _VERIFY_ORDER)
        summary = []
        if attrs.get("helm_values_file") is not None:
            summary.append(_verify_helm_values(row, attrs, context.context))
        if attrs.get("security_group_ids"):
            summary.append(self._verify_groups(row, instance.address, attrs, context.context))
        return [row.build("; ".join(summary))]

    def _verify_groups(
        self, row: RowBuilder, address: str, attrs: dict[str, Any], context: Context
    ) -> str:
        port = attrs["port"]
        try:
            live = self.read(address, attrs, context, _known(attrs), attrs.get("cidrs") or ())
        except ResourceError as exc:
            row.failed("aws", str(exc))
            return "could not read the security groups"
        allowed = set(attrs.get("cidrs") or [])
        owned = {rule["cidr"] for rule in live.rules.values()}
        groups = ", ".join(attrs["security_group_ids"])
        missing = sorted(allowed - owned, key=cidr_key)
        extra = sorted(owned - allowed, key=cidr_key)
        if missing:
            row.failed("allowed", f"no ingress on {port} for {', '.join(missing)} in {groups}")
        if extra:
            row.failed("allowed", f"meshprov rules for {', '.join(extra)} that are not allowed")
        if not missing and not extra:
            row.passed(
                "allowed", f"ingress on {port} from exactly the {len(allowed)} allowed CIDR(s)"
            )
        for rule in live.foreign:
            text = (
                f"{rule['group']} also accepts {rule['source']} on {rule['ports']} "
                f"({rule['rule_id']}, not meshprov's)"
            )
            if self.schema.value(attrs, "exclusive"):
                row.failed("foreign", text)
            else:
                row.warn("foreign", text)
        for rule in live.wider:
            # not revocable by meshprov (it serves other ports too), but it lets a source in
            row.warn(
                "wider",
                f"{rule['group']} also lets {rule['source']} reach port {port} through "
                f"{rule['rule_id']} ({_span(rule['ports'])}, not meshprov's)",
            )
        public = sorted(
            {c for c in owned if is_public(c)}
            | {r["source"] for r in [*live.foreign, *live.wider] if is_public(r["source"])}
        )
        for cidr in public:
            text = f"port {port} is open to {cidr}"
            if attrs.get("allow_public") and cidr in allowed:
                row.warn("public", text + " (allow_public)")
            else:
                row.failed("public", text)
        return f"{len(owned)} rule(s) in {groups}"

    # --- what a change means ----------------------------------------------------------------

    def impact(self, change: ResourceChange, plan: Plan) -> list[ImpactItem]:
        """Sources allowed or no longer allowed on the port, foreign rules revoked, sources
        moved between groups, public sources opened, and rules meshprov leaves that still let
        a source reach the port."""
        items: list[ImpactItem] = []
        firewall = _firewall_impact(change)
        if firewall is not None:
            items.append(firewall)
            items.extend(
                ImpactWarning(
                    f"{change.address} opens {firewall.reaches()} to {source.cidr} (allow_public)",
                    first=True,
                )
                for source in firewall.added
                if is_public(source.cidr)
            )
        if change.action is Action.DELETE:
            return items
        after = change.after or {}
        port = after.get("port")
        for rule in _listed(after.get("foreign")):
            if is_public(rule["source"]):
                items.append(
                    ImpactWarning(
                        f"{change.address} keeps {rule['source']} in {rule['group']} on port "
                        f"{port}, a rule meshprov does not own (exclusive = false)"
                    )
                )
        for rule in _listed(after.get("wider")):
            items.append(
                ImpactWarning(
                    f"{change.address}: {rule['group']} also lets {rule['source']} reach port "
                    f"{port} through {rule['rule_id']} ({_span(rule['ports'])}), a wider rule "
                    "meshprov does not own and never revokes",
                    first=is_public(rule["source"]),
                )
            )
        items.extend(ImpactNote(change.address, text) for text in _moves(change.before, after))
        helm = after.get("helm_values_file")
        if (
            isinstance(helm, str)
            and helm != (change.before or {}).get("helm_values_file")
            and leaves_dir(plan.config_dir, helm)
        ):
            items.append(
                ImpactWarning(
                    f"{change.address} writes its Helm values overlay outside the "
                    f"configuration directory: {helm}"
                )
            )
        return items

    def notices(self, change: ResourceChange) -> list[Notice]:
        """A changed Helm values overlay takes effect only with a helm upgrade of the global."""
        after = change.after or {}
        helm = after.get("helm_values_file")
        if change.action is Action.DELETE or not isinstance(helm, str):
            return []
        digest = after.get("helm_values")
        if digest is not UNKNOWN and digest == (change.before or {}).get("helm_values"):
            return []
        return [
            Notice(
                change.address,
                f"helm upgrade the global with -f values.yaml -f {helm}",
                "the sources allowed to reach its KDS Service (loadBalancerSourceRanges) changed",
            )
        ]


def _overlaps(instances: list[ResourceInstance]) -> list[Diagnostic]:
    """Two firewalls managing the same group, protocol and port would each revoke (exclusive)
    or collide with (Duplicate) the other's rules: an error naming both."""
    found: list[Diagnostic] = []
    first: dict[tuple[str, str, int], ResourceInstance] = {}
    told: set[tuple[str, str]] = set()
    for instance in instances:
        values = instance.values
        groups, protocol, port = (
            values["security_group_ids"],
            values["protocol"],
            values["port"],
        )
        if has_unknown(groups) or has_unknown(protocol) or has_unknown(port):
            continue
        for group in dict.fromkeys(groups or ()):
            other = first.setdefault((group, protocol, port), instance)
            pair = (str(other.address), str(instance.address))
            if other is instance or pair in told:
                continue
            told.add(pair)
            found.append(
                error(
                    "Overlapping firewalls",
                    f"{other.address} and {instance.address} both manage ingress on "
                    f"{protocol}/{port} in {group}: each would take the other's rules for "
                    "foreign. Manage a port in a group with one firewall (list every source "
                    "there), or give them different groups or ports.",
                    instance.argument_range("security_group_ids"),
                )
            )
    files: dict[str, ResourceInstance] = {}
    for instance in instances:
        helm = instance.values["helm_values_file"]
        if not isinstance(helm, str):
            continue
        other = files.setdefault(os.path.normpath(helm), instance)
        if other is not instance:
            found.append(
                error(
                    "Overlapping firewalls",
                    f"{other.address} and {instance.address} both write the Helm values "
                    f"overlay {helm}: each would overwrite the other's.",
                    instance.argument_range("helm_values_file"),
                )
            )
    return found


def _listed(value: Any) -> list[dict[str, Any]]:
    """A list of rule records from planned values (nothing while unknown)."""
    return value if isinstance(value, list) else []


def _span(ports: str) -> str:
    return "all traffic" if ports == "all" else ports


def _moves(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """Sources whose rule moves to another security group (revoked there, authorized here)."""
    old = (before or {}).get("placement")
    new = after.get("placement")
    if not isinstance(old, dict) or not isinstance(new, dict):
        return []
    where = {c: g for g, cidrs in old.items() for c in cidrs}
    labels = after.get("sources")
    sources: dict[str, str] = labels if isinstance(labels, dict) else {}
    return [
        f"moves {cidr} ({SourceChange(cidr, sources.get(cidr, 'cidr')).description}) from "
        f"{where[cidr]} to {group}"
        for group, cidrs in sorted(new.items())
        for cidr in cidrs
        if cidr in where and where[cidr] != group
    ]


def _sources(values: dict | None) -> dict[str, str] | None:
    if values is None:
        return {}
    sources = values.get("sources")
    if isinstance(sources, Unknown):
        return None
    return dict(sources or {})


def _firewall_impact(change: ResourceChange) -> FirewallImpact | None:
    before = _sources(change.before)
    after = _sources(change.after if change.action is not Action.DELETE else None)
    values = change.after or change.before or {}
    port = values.get("port") if _has_groups(values) else None
    overlay = values.get("helm_values_file")
    overlay = overlay if isinstance(overlay, str) else None
    revoked: tuple[str, ...] = ()
    if change.action is not Action.DELETE:
        revoked = tuple(
            f"{rule['ports']} from {rule['source']} in {rule['group']} ({rule['rule_id']})"
            for rule in _listed((change.after or {}).get("revokes"))
        )
    if after is None:
        return FirewallImpact(change.address, port, (), (), revoked, True, overlay)
    before = before or {}
    added = tuple(SourceChange(c, after[c]) for c in after if c not in before)
    removed = tuple(SourceChange(c, before[c]) for c in before if c not in after)
    if not (added or removed or revoked):
        return None
    return FirewallImpact(change.address, port, added, removed, revoked, overlay=overlay)


def _has_groups(values: Mapping[str, Any]) -> bool:
    """Whether the firewall opens its port in security groups (or may: not known yet), as
    opposed to writing only the Helm overlay, which has no port of its own."""
    groups = values.get("security_group_ids")
    return has_unknown(groups) or bool(groups)


def _without_groups(sources: Any) -> dict[str, Any]:
    """The computed attributes of a firewall with no security group (a Helm overlay only)."""
    return {
        **Live({}, []).attributes(),
        "revokes": [],
        "sources": sources,
        "cidrs": UNKNOWN if sources is UNKNOWN else sorted(sources, key=cidr_key),
    }


def _helm_values(sources: dict[str, str]) -> bytes:
    return kuma.firewall_values(sorted(sources, key=cidr_key)).encode()


def _helm_digest(path: Any, sources: Any) -> Any:
    """What state records of the overlay: None without one, UNKNOWN until the sources are known."""
    if path is None:
        return None
    if has_unknown(path) or sources is UNKNOWN:
        return UNKNOWN
    return file_digest(_helm_values(sources), HELM_VALUES_MODE)


def helm_values_path(context: Context, path: str) -> Path:
    """The overlay's path: relative to the configuration directory (an absolute one as given)."""
    return context.config_dir / path


def _write_helm_values(
    context: Context, prior: dict[str, Any] | None, path: str | None, sources: dict[str, str]
) -> str | None:
    """Write the overlay (atomically) at ``path`` and remove the one ``prior`` wrote elsewhere;
    ``path`` None removes it. The old file is unlinked itself, never a symlink's target."""
    old = (prior or {}).get("helm_values_file")
    recorded = (prior or {}).get("helm_values")
    if old is not None and old != path and recorded is not None:
        try:  # only the overlay meshprov wrote: state names the path, it could name any file
            removed = remove_written_file(
                helm_values_path(context, old), lambda content: written_as(recorded, content)
            )
        except OSError as exc:
            raise ResourceError(f"cannot remove {old}: {exc.strerror}") from None
        if not removed:
            raise ResourceError(
                f"left {old}: not the overlay meshprov wrote there (changed since, or the "
                "state names a file meshprov never wrote). Remove it yourself if it is not "
                "needed, and run meshprov again"
            )
    if path is None:
        return None
    content = _helm_values(sources)
    try:
        target = helm_values_path(context, path)
        write_owned_files(target.parent, [(target.name, content, HELM_VALUES_MODE)])
    except UnsafePath as exc:
        raise ResourceError(f"cannot write helm_values_file {path}: {exc}") from None
    except OSError as exc:
        raise ResourceError(f"cannot write helm_values_file {path}: {exc.strerror}") from None
    return file_digest(content, HELM_VALUES_MODE)


def _verify_helm_values(row: RowBuilder, attrs: dict[str, Any], context: Context) -> str:
    """The overlay on disk: its source ranges are exactly the allowed CIDRs, mode 0644."""
    name = attrs["helm_values_file"]
    path = helm_values_path(context, name)
    try:
        text = path.read_text(encoding="utf-8")
        mode = os.stat(path).st_mode & 0o777
        ranges = kuma.firewall_source_ranges(text)
    except FileNotFoundError:
        row.failed("helm_values", f"{name} does not exist")
        return f"{name} missing"
    except (OSError, UnicodeDecodeError, yamlio.YAMLError) as exc:
        row.failed("helm_values", f"cannot read {name}: {exc}")
        return f"{name} unreadable"
    allowed = list(attrs.get("cidrs") or [])
    if not isinstance(ranges, list) or sorted(map(str, ranges)) != sorted(allowed):
        row.failed(
            "helm_values",
            f"{name}: loadBalancerSourceRanges is {ranges}, not the allowed {allowed}",
        )
    elif mode != HELM_VALUES_MODE:
        row.failed("helm_values", f"{name} has mode {mode:04o}, want {HELM_VALUES_MODE:04o}")
    else:
        row.passed("helm_values", f"{name} allows exactly the {len(allowed)} allowed CIDR(s)")
    return f"{len(allowed)} source range(s) in {name}"


def _read_helm_values(context: Context, prior: dict[str, Any]) -> tuple[str | None, str]:
    """The overlay's digest as it is now, and a drift note when it is not as written."""
    name = prior["helm_values_file"]
    path = helm_values_path(context, name)
    try:
        return drift_of(path, prior.get("helm_values") or "", name)
    except OSError as exc:
        raise ResourceError(f"cannot read {path}: {exc.strerror}") from None


def desired_sources(address: str, config: dict[str, Any]) -> Any:
    """CIDR → label (zone name, or "cidr") of everything allowed; UNKNOWN while any is."""
    sources: dict[str, str] = {}
    origin: dict[str, str] = {}
    zones = unmark(config.get("allow_zones"))[0] or []
    if zones is UNKNOWN or any(unmark(z)[0] is UNKNOWN for z in zones):
        return UNKNOWN
    for cidr in config.get("allow_cidrs") or []:
        if has_unknown(cidr):
            return UNKNOWN
        network = _network(address, cidr, "allow_cidrs")
        sources[network], origin[network] = "cidr", "allow_cidrs"
    for zone in zones:
        raw = unmark(zone)[0]
        values = {k: unmark(v)[0] for k, v in raw.items()} if isinstance(raw, ResourceValue) else {}
        if has_unknown(values.get("egress_cidrs")) or has_unknown(values.get("zone_name")):
            return UNKNOWN
        for cidr in values.get("egress_cidrs") or []:
            network = _network(address, cidr, str(raw.address))
            sources[network], origin[network] = values["zone_name"], str(raw.address)
    if not unmark(config.get("allow_public"))[0]:
        for network, where in origin.items():
            if is_public(network):
                raise ResourceError(
                    f"{address}: {network} (from {where}) would open {_opens(config)} to "
                    "the internet or a very wide range. Set allow_public = true if that is "
                    "really intended."
                )
    return dict(sorted(sources.items(), key=lambda kv: cidr_key(kv[0])))


def _opens(values: Mapping[str, Any]) -> str:
    """What a public source would open, in words: validate may not know the port yet."""
    plain = {k: unmark(values[k])[0] for k in ("port", "security_group_ids", "helm_values_file")}
    port = "the firewall's port" if has_unknown(plain["port"]) else f"port {plain['port']}"
    overlay = plain["helm_values_file"]
    return firewall_reach(
        port if _has_groups(plain) else None, overlay if isinstance(overlay, str) else None
    )


def _kds_port_mismatches(
    instance: ResourceInstance,
    zones: dict[str, ResourceInstance],
    globals_: dict[str, ResourceInstance],
) -> list[Diagnostic]:
    """The zones in allow_zones dial their global on its kds_port (their global address):
    security groups open on another port would drop those KDS connections. A firewall that
    only writes the Helm overlay has no port of its own (the Service's source ranges cover
    it); a value known only after apply is checked by the plan, once it is known."""
    values = instance.values
    port, groups = values["port"], values["security_group_ids"]
    allowed = unmark(values["allow_zones"])[0]
    if not isinstance(port, int) or has_unknown(groups) or not groups:
        return []
    if not isinstance(allowed, list | tuple):
        return []
    dialing: dict[str, list[str]] = {}  # global address -> the allowed zones that dial it
    for entry in allowed:
        zone = zones.get(cp_authn.address_of(entry) or "")
        global_address = cp_authn.address_of(zone.values["global"]) if zone else None
        global_cp = globals_.get(global_address or "")
        if zone is None or global_cp is None:
            continue
        kds_port = global_cp.values["kds_port"]
        if isinstance(kds_port, int) and kds_port != port:
            dialing.setdefault(str(global_cp.address), []).append(str(zone.address))
    return [
        error(
            "Firewall port is not the global's KDS port",
            f"{instance.address} opens port {port} in its security groups for "
            f"{named(addresses)}, but {'they dial' if len(addresses) > 1 else 'it dials'} "
            f"{address} on its kds_port {globals_[address].values['kds_port']}: the security "
            "groups would drop the zones' KDS connections, and open a port the global does not "
            f"listen on. Set port to {globals_[address].values['kds_port']} (the global's "
            "kds_port).",
            instance.argument_range("port"),
        )
        for address, addresses in dialing.items()
    ]


def _public_zone_egress(instance: ResourceInstance) -> list[Diagnostic]:
    """A zone in allow_zones whose egress IPs include a public range opens the port to it, so
    validate holds it to the allow_cidrs rule (the plan does too, in ``desired_sources``)."""
    values = instance.values
    zones = unmark(values["allow_zones"])[0]
    if values["allow_public"] is not False or not isinstance(zones, list):
        return []
    found = []
    for zone in zones:
        raw = unmark(zone)[0]
        if not isinstance(raw, ResourceValue):
            continue
        zone_values = {k: unmark(v)[0] for k, v in raw.items()}
        ips = zone_values.get("egress_ips")
        if ips is None:
            ips = zone_values.get("addresses")
        if not isinstance(ips, list):
            continue  # unknown until plan
        for ip in ips:
            if isinstance(ip, str) and is_public(ip):
                found.append(
                    error(
                        "Public source not allowed",
                        f"{ip} (egress_ips of {raw.address}) would open {_opens(values)} "
                        "to the internet or a very wide range. Set allow_public = true if that "
                        "is really intended.",
                        instance.argument_range("allow_zones"),
                    )
                )
    return found


def place(
    address: str,
    sources: dict[str, str],
    groups: list[str],
    per_group: int,
    current: dict[str, list[str]],
    occupied: dict[str, int],
) -> dict[str, list[str]]:
    """Spread CIDRs over the groups: each stays where it is; new ones go where there is room.

    ``occupied`` counts the inbound rules in each group that are not this firewall's and stay:
    AWS's quota counts every inbound rule, whatever its port.
    """
    # a source keeps its rule where it is (moving it would free nothing)
    placement: dict[str, list[str]] = {g: [] for g in groups}
    placed: set[str] = set()
    for group in groups:
        for cidr in sorted(current.get(group, []), key=cidr_key):
            if cidr in sources and cidr not in placed and len(placement[group]) < per_group:
                placement[group].append(cidr)
                placed.add(cidr)
    free = {g: max(per_group - occupied.get(g, 0) - len(placement[g]), 0) for g in groups}
    new = [c for c in sources if c not in placed]
    if len(new) > sum(free.values()):
        total = len(groups) * per_group
        taken = {g: occupied[g] for g in groups if occupied.get(g)}
        other = ""
        if taken:
            used = ", ".join(f"{g}: {n}" for g, n in taken.items())
            other = (
                f", less {sum(taken.values())} taken by other inbound rules ({used}) = "
                f"{total - sum(taken.values())}"
            )
        raise ResourceError(
            f"{address}: {len(sources)} source CIDRs do not fit in {len(groups)} security "
            f"group(s) × {per_group} rules per group = {total}{other}. Add security groups to "
            "security_group_ids or raise rules_per_group to the account's quota."
        )
    for cidr in new:
        group = max(groups, key=lambda g: (free[g], -groups.index(g)))
        placement[group].append(cidr)
        free[group] -= 1
    return {g: sorted(c, key=cidr_key) for g, c in placement.items() if c}


def _unplaced(sources: Any, placement: dict[str, list[str]]) -> bool:
    """Whether some wanted source has no rule yet (its place depends on the groups' room)."""
    if sources is UNKNOWN:
        return False
    placed = {c for cidrs in placement.values() for c in cidrs}
    return any(c not in placed for c in sources)


def _network(address: str, cidr: str, where: str) -> str:
    try:
        return str(ipaddress.ip_network(cidr, strict=False))
    except ValueError:
        raise ResourceError(
            f"{address}: {cidr!r} (from {where}) is not an IP address or CIDR"
        ) from None


def _reach(rule: dict[str, Any], port: int, protocol: str) -> str | None:
    """``"exact"``: the rule is for exactly this protocol and port; ``"wider"``: it lets
    traffic to the port in among others (all traffic, or a port range); None: not this port."""
    proto = str(rule.get("IpProtocol"))
    if proto == "-1":
        return "wider"
    if proto not in (protocol, {"tcp": "6", "udp": "17"}[protocol]):
        return None
    low, high = rule.get("FromPort", -1), rule.get("ToPort", -1)
    if low == high == port:
        return "exact"
    if low == -1 or low <= port <= high:
        return "wider"
    return None


def _ports(rule: dict[str, Any]) -> str:
    if str(rule.get("IpProtocol")) == "-1":
        return "all"
    low, high = rule.get("FromPort"), rule.get("ToPort")
    return (
        f"{rule.get('IpProtocol')}/{low}"
        if low == high
        else f"{rule.get('IpProtocol')}/{low}-{high}"
    )


def _other_source(rule: dict[str, Any]) -> str:
    ref = rule.get("ReferencedGroupInfo") or {}
    if ref.get("GroupId"):
        return f"security group {ref['GroupId']}"
    if rule.get("PrefixListId"):
        return f"prefix list {rule['PrefixListId']}"
    return "unknown source"


def _revoke(ec2: Any, group: str, rule_ids: list[str]) -> None:
    """Revoke rules by id. A rule already gone counts as revoked: a retry whose first attempt
    got through (its response lost) or someone else's revoke must not fail the run."""
    try:
        call(ec2, "revoke_security_group_ingress", GroupId=group, SecurityGroupRuleIds=rule_ids)
    except AwsError as exc:
        if exc.code not in RULE_GONE_CODES:
            raise
        present = {
            rule["SecurityGroupRuleId"]
            for rule in paginate(
                ec2,
                "describe_security_group_rules",
                "SecurityGroupRules",
                Filters=[{"Name": "group-id", "Values": [group]}],
            )
        }
        remaining = [rid for rid in rule_ids if rid in present]
        if remaining:
            call(
                ec2, "revoke_security_group_ingress", GroupId=group, SecurityGroupRuleIds=remaining
            )


def _taken(
    exc: AwsError, group: str, cidrs: list[str], arguments: dict[str, Any], live: Live
) -> AwsError:
    """The Duplicate error, naming the rules meshprov does not own that are in the way."""
    port = f"{arguments['protocol']}/{arguments['port']}"
    taken = sorted(
        f"{f['source']} ({f['rule_id']})"
        for f in live.foreign
        if f["group"] == group and f["source"] in cidrs and f["ports"] == port
    )
    if not taken:
        return exc
    return AwsError(
        f"authorize_security_group_ingress failed: {exc.code}: {', '.join(taken)} on {port} "
        "already allowed by a rule meshprov does not own",
        exc.code,
    )


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _aws_message(groups: list[str], exc: AwsError) -> str:
    """The error without the firewall's address: the engine puts it in front (or, at plan time,
    in the diagnostic's context line)."""
    groups = [g for g in groups if g]
    where = ", ".join(groups)
    hint = ""
    if exc.code in ("InvalidGroup.NotFound", "InvalidGroupId.NotFound", "InvalidGroupId.Malformed"):
        hint = " Check security_group_ids and the region."
    elif exc.code == "RulesPerSecurityGroupLimitExceeded":
        hint = " Lower rules_per_group to the account's quota or add security groups."
    elif exc.code == "InvalidPermission.Duplicate":
        hint = " Remove that rule, or set exclusive = true so that meshprov replaces it."
    target = f"security group{'s' if len(groups) > 1 else ''} {where}: " if where else ""
    return f"{target}{str(exc).rstrip('.')}.{hint}"
