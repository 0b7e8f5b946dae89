"""``firewall``: AWS security-group ingress in front of a control-plane port.

Kong Mesh's guidance for KDS: "Define firewall rules on the global control plane to only accept
connections from known IPs of the zone control planes." The rules meshprov creates carry the
description ``meshprov:<firewall address>:<zone name or "cidr">``; that is how refresh tells
meshprov's rules from foreign ones without trusting state. Every call is batched per security
group: one describe for all groups, then at most one revoke and one authorize per group.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshprov.aws import AwsError, call, paginate
from meshprov.diagnostics import Diagnostic, error
from meshprov.lang.types import ANY
from meshprov.lang.values import UNKNOWN, ResourceValue, Unknown, has_unknown, unmark
from meshprov.plan.model import Action, Plan, ResourceChange
from meshprov.resources.base import (
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
    ImpactWarning,
    RowBuilder,
    SourceChange,
    VerifyContext,
)
from meshprov.resources.schema import (
    BOOL,
    NUMBER,
    STRING,
    STRING_LIST,
    Attr,
    Exported,
    ResourceSchema,
)


def _check_rules_per_group(value: object) -> str | None:
    if isinstance(value, int) and value >= 1:
        return None
    return f"rules_per_group must be a whole number of at least 1, not {value}."


if TYPE_CHECKING:
    from meshprov.state.model import ResourceState

SCHEMA = ResourceSchema(
    "firewall",
    attributes=(
        Attr("security_group_ids", STRING_LIST, required=True),
        Attr("port", NUMBER, default=5685, check=check_port, forces_replacement=True),
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
    ),
)

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
    """What AWS says about the firewall's groups on its port, read in one batch."""

    rules: dict[str, dict[str, str]]  # rule id -> {"group", "cidr", "label"} (owned)
    foreign: list[dict[str, Any]]  # ingress on the port that meshprov does not own

    def placement(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for rule in self.rules.values():
            out.setdefault(rule["group"], []).append(rule["cidr"])
        return {g: sorted(set(c), key=cidr_key) for g, c in sorted(out.items())}

    def attributes(self) -> dict[str, Any]:
        """The computed attributes that describe this reality."""
        sources = {r["cidr"]: r["label"] for r in self.rules.values()}
        return {
            "sources": dict(sorted(sources.items(), key=lambda kv: cidr_key(kv[0]))),
            "placement": self.placement(),
            "rules": {f"{r['group']} {r['cidr']}": rid for rid, r in sorted(self.rules.items())},
            "foreign": sorted(self.foreign, key=lambda f: (f["group"], f["rule_id"])),
            "cidrs": sorted(sources, key=cidr_key),
            "rule_ids": sorted(self.rules),
        }


class FirewallType(ResourceType):
    schema = SCHEMA
    mermaid_shape = ('[/"', '"\\]')

    def check(self, instances: list[ResourceInstance]) -> list[Diagnostic]:
        """What validate can tell without AWS: groups given, extra CIDRs valid and not public."""
        found: list[Diagnostic] = []
        for instance in instances:
            values = instance.values
            groups = values["security_group_ids"]
            if not has_unknown(groups) and not groups:
                found.append(
                    error(
                        "No security groups",
                        f"{instance.address} needs at least one id in security_group_ids: the "
                        "groups in front of the control plane whose ingress it manages.",
                        instance.argument_range("security_group_ids"),
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
                            f"{network} (from allow_cidrs) would open port {values['port']} to "
                            "the internet or a very wide range. Set allow_public = true if that "
                            "is really intended.",
                            instance.argument_range("allow_cidrs"),
                        )
                    )
        return found

    # --- reading ---------------------------------------------------------------------------

    def _ec2(self, context: Context, region: str | None) -> Any:
        clients = context.providers.get("aws")
        if clients is None:
            raise ResourceError("no AWS provider is configured")
        try:
            return clients.client("ec2", region)
        except AwsError as exc:
            raise ResourceError(str(exc)) from None

    def read(self, address: str, values: dict[str, Any], context: Context) -> Live:
        """One DescribeSecurityGroups (existence) and one paginated DescribeSecurityGroupRules."""
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
        prefix = owner_prefix(address)
        port, protocol = values["port"], values["protocol"]
        live = Live({}, [])
        for rule in found:
            if rule.get("IsEgress"):
                continue
            description = rule.get("Description") or ""
            cidr = rule.get("CidrIpv4") or rule.get("CidrIpv6")
            if description.startswith(prefix) and cidr:
                live.rules[rule["SecurityGroupRuleId"]] = {
                    "group": rule["GroupId"],
                    "cidr": str(ipaddress.ip_network(cidr, strict=False)),
                    "label": description[len(prefix) :],
                }
            elif _on_port(rule, port, protocol):
                live.foreign.append(
                    {
                        "group": rule["GroupId"],
                        "rule_id": rule["SecurityGroupRuleId"],
                        "source": cidr or _other_source(rule),
                        "ports": _ports(rule),
                        "description": description,
                    }
                )
        return live

    def refresh(self, address: str, prior: dict[str, Any], context: Context) -> RefreshResult:
        live = self.read(address, prior, context)
        current = {**prior, **live.attributes()}
        notes = []
        for cidr in sorted(set(current["sources"]) - set(prior.get("sources") or {}), key=cidr_key):
            notes.append(f"rule for {cidr} was added outside meshprov with a meshprov description")
        for cidr in sorted(set(prior.get("sources") or {}) - set(current["sources"]), key=cidr_key):
            notes.append(f"rule for {cidr} ({prior['sources'][cidr]}) was removed")
        known = {f["rule_id"] for f in prior.get("foreign") or []}
        for rule in current["foreign"]:
            if rule["rule_id"] not in known:
                notes.append(
                    f"{rule['group']} gained a rule on port {prior['port']} from {rule['source']} "
                    "that meshprov does not own"
                )
        return RefreshResult(current, tuple(notes))

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
        if prior is None or replace:
            # nothing in state to compare with: read the groups (read-only) to plan exactly
            current = self.read(request.address, planned, request.context).attributes()
        else:
            current = prior
        if sources is UNKNOWN or has_unknown(planned["security_group_ids"]):
            planned.update(
                dict.fromkeys(("sources", "placement", "rules", "cidrs", "rule_ids"), UNKNOWN)
            )
            planned["foreign"] = [] if planned["exclusive"] else current.get("foreign", [])
            return PlannedChange(planned, replace)
        placement = place(
            request.address,
            sources,
            planned["security_group_ids"],
            planned["rules_per_group"],
            current.get("placement") or {},
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
            foreign=[] if planned["exclusive"] else current.get("foreign", []),
        )
        return PlannedChange(planned, replace)

    # --- applying --------------------------------------------------------------------------

    def apply(self, request: ApplyRequest) -> dict[str, Any]:
        config = request.config
        arguments = self.planned_arguments(config)
        address = request.address
        live = self.read(address, arguments, request.context)
        sources = desired_sources(address, config)
        placement = place(
            address,
            sources,
            arguments["security_group_ids"],
            arguments["rules_per_group"],
            live.placement(),
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
                if arguments["exclusive"]:
                    doomed += [f["rule_id"] for f in live.foreign if f["group"] == group]
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
            done = {**arguments, **live.attributes()}
            raise ResourceError(_aws_message([group], exc), done) from None
        return {**arguments, **live.attributes()}

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
            fresh = self._group_rules(ec2, group, prefix)
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

    def _group_rules(self, ec2: Any, group: str, prefix: str) -> dict[str, dict[str, str]]:
        rules = {}
        for rule in paginate(
            ec2,
            "describe_security_group_rules",
            "SecurityGroupRules",
            Filters=[{"Name": "group-id", "Values": [group]}],
        ):
            description = rule.get("Description") or ""
            cidr = rule.get("CidrIpv4") or rule.get("CidrIpv6")
            if not rule.get("IsEgress") and cidr and description.startswith(prefix):
                rules[rule["SecurityGroupRuleId"]] = {
                    "group": group,
                    "cidr": str(ipaddress.ip_network(cidr, strict=False)),
                    "label": description[len(prefix) :],
                }
        return rules

    def delete(self, address: str, prior: dict[str, Any], context: Context) -> None:
        """Revoke only meshprov's own rules; foreign rules stay as they are."""
        live = self.read(address, prior, context)
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
        """Ingress on the port, read back from AWS: exactly the allowed CIDRs, nothing public."""
        attrs = instance.attributes
        port = attrs["port"]
        row = RowBuilder(f"firewall (port {port})", instance.address, _VERIFY_ORDER)
        try:
            live = self.read(instance.address, attrs, context.context)
        except ResourceError as exc:
            row.failed("aws", str(exc))
            return [row.build("could not read the security groups")]
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
        public = sorted(
            {c for c in owned if is_public(c)}
            | {r["source"] for r in live.foreign if "/" in r["source"] and is_public(r["source"])}
        )
        for cidr in public:
            text = f"port {port} is open to {cidr}"
            if attrs.get("allow_public") and cidr in allowed:
                row.warn("public", text + " (allow_public)")
            else:
                row.failed("public", text)
        return [row.build(f"{len(owned)} rule(s) in {groups}")]

    # --- what a change means ----------------------------------------------------------------

    def impact(self, change: ResourceChange, plan: Plan) -> list[ImpactItem]:
        """Sources allowed or no longer allowed on the port, foreign rules revoked, and public
        sources opened or kept."""
        items: list[ImpactItem] = []
        firewall = _firewall_impact(change)
        if firewall is not None:
            items.append(firewall)
            items.extend(
                ImpactWarning(
                    f"{change.address} opens port {firewall.port} to {source.cidr} (allow_public)",
                    first=True,
                )
                for source in firewall.added
                if is_public(source.cidr)
            )
        if change.action is not Action.DELETE:
            after = change.after or {}
            foreign = after.get("foreign")
            for rule in foreign if isinstance(foreign, list) else []:
                source = rule.get("source")
                if isinstance(source, str) and is_public(source):
                    items.append(
                        ImpactWarning(
                            f"{change.address} keeps {source} in {rule.get('group')} on port "
                            f"{after.get('port')}, a rule meshprov does not own "
                            "(exclusive = false)"
                        )
                    )
        return items


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
    port = values.get("port")
    after_foreign = (change.after or {}).get("foreign")
    kept = {r["rule_id"] for r in after_foreign} if isinstance(after_foreign, list) else set()
    revoked = tuple(
        f"{rule['source']} in {rule['group']}"
        for rule in (change.before or {}).get("foreign") or []
        if change.action is not Action.DELETE and rule["rule_id"] not in kept
    )
    if after is None:
        return FirewallImpact(change.address, port, (), (), revoked, unknown=True)
    before = before or {}
    added = tuple(SourceChange(c, after[c]) for c in after if c not in before)
    removed = tuple(SourceChange(c, before[c]) for c in before if c not in after)
    if not (added or removed or revoked):
        return None
    return FirewallImpact(change.address, port, added, removed, revoked)


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
                    f"{address}: {network} (from {where}) would open port {config['port']} to "
                    "the internet or a very wide range. Set allow_public = true if that is "
                    "really intended."
                )
    return dict(sorted(sources.items(), key=lambda kv: cidr_key(kv[0])))


def _public_zone_egress(instance: ResourceInstance) -> list[Diagnostic]:
    """A zone in allow_zones whose egress IPs include a public range opens the port to it, so
    validate holds it to the allow_cidrs rule (the plan does too, in ``desired_sources``)."""
    values = instance.values
    zones = unmark(values["allow_zones"])[0]
    if values["allow_public"] is not False or not isinstance(zones, list):
        return []
    port = values["port"]
    port = "its port" if has_unknown(port) else f"port {port}"
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
                        f"{ip} (egress_ips of {raw.address}) would open {port} to the "
                        "internet or a very wide range. Set allow_public = true if that "
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
) -> dict[str, list[str]]:
    """Spread CIDRs over the groups: each stays where it is; new ones go where there is room."""
    capacity = len(groups) * per_group
    if len(sources) > capacity:
        raise ResourceError(
            f"{address}: {len(sources)} source CIDRs do not fit in {len(groups)} security "
            f"group(s) × {per_group} rules per group = {capacity}. Add security groups to "
            "security_group_ids or raise rules_per_group to the account's quota."
        )
    placement: dict[str, list[str]] = {g: [] for g in groups}
    placed: set[str] = set()
    for group in groups:
        for cidr in sorted(current.get(group, []), key=cidr_key):
            if cidr in sources and cidr not in placed and len(placement[group]) < per_group:
                placement[group].append(cidr)
                placed.add(cidr)
    for cidr in sources:
        if cidr in placed:
            continue
        group = max(groups, key=lambda g: (per_group - len(placement[g]), -groups.index(g)))
        placement[group].append(cidr)
        placed.add(cidr)
    return {g: sorted(c, key=cidr_key) for g, c in placement.items() if c}


def _network(address: str, cidr: str, where: str) -> str:
    try:
        return str(ipaddress.ip_network(cidr, strict=False))
    except ValueError:
        raise ResourceError(
            f"{address}: {cidr!r} (from {where}) is not an IP address or CIDR"
        ) from None


def _on_port(rule: dict[str, Any], port: int, protocol: str) -> bool:
    proto = str(rule.get("IpProtocol"))
    if proto == "-1":
        return True
    if proto not in (protocol, {"tcp": "6", "udp": "17"}[protocol]):
        return False
    low, high = rule.get("FromPort", -1), rule.get("ToPort", -1)
    return low == -1 or low <= port <= high


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
