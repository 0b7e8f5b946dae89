"""``zone``: a zone and its zone control plane."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshprov import kuma
from meshprov.diagnostics import Diagnostic, error, warning
from meshprov.kuma import ControlPlaneSpec, ProxyAuthn, ZoneSettings, url_host
from meshprov.lang.types import ANY
from meshprov.lang.values import UNKNOWN, ResourceValue, has_unknown, unmark
from meshprov.plan.model import Plan, ResourceChange
from meshprov.resources import control_plane, cp_authn
from meshprov.resources.base import ResourceInstance
from meshprov.resources.control_plane_common import (
    API_HTTP_OPEN,
    DIALLED_BY,
    SHARED_ATTRIBUTES,
    SHARED_EXPORTS,
    ControlPlaneType,
    block_label,
    check_port,
    fixed_port_problems,
    plain,
)
from meshprov.resources.control_plane_verify import verify_control_plane
from meshprov.resources.report import CheckRow, VerifyContext
from meshprov.resources.schema import (
    BOOL,
    NUMBER,
    STRING,
    STRING_LIST,
    Attr,
    Exported,
    ResourceSchema,
)

if TYPE_CHECKING:
    from meshprov.state.model import ResourceState

PROXY_AUTHN_DISABLED = "proxy_authn_disabled"  # the diagnostic code of dp_authn = "none"
TLS13_DP_SERVER = "tls13_dp_server"  # ... of tls_min_version = "TLSv1_3" on a zone
_RFC1035_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def check_zone_name(value: object) -> str | None:
    if isinstance(value, str) and _RFC1035_LABEL_RE.match(value):
        return None
    return (
        f'"{value}" is not a valid zone name: use an RFC 1035 label of at most 63 lowercase '
        "letters, digits and dashes, starting with a letter and not ending with a dash."
    )


SCHEMA = ResourceSchema(
    "zone",
    attributes=(
        *SHARED_ATTRIBUTES,
        Attr("name", STRING, check=check_zone_name, computed=True),  # default: the label
        Attr("global", ANY, reference="control_plane"),
        Attr("egress_ips", STRING_LIST, computed=True),  # default: addresses
        Attr("dp_port", NUMBER, default=kuma.DP_SERVER_PORT, check=check_port),
        Attr("mads_tls", BOOL, default=True),
        # default: the token kind on universal, service-account tokens on kubernetes
        Attr(
            "dp_authn",
            STRING,
            allowed=(ProxyAuthn.DP_TOKEN, ProxyAuthn.SERVICE_ACCOUNT_TOKEN, ProxyAuthn.NONE),
            computed=True,
        ),
        Attr(
            "zone_proxy_authn",
            STRING,
            allowed=(ProxyAuthn.ZONE_TOKEN, ProxyAuthn.SERVICE_ACCOUNT_TOKEN, ProxyAuthn.NONE),
            computed=True,
        ),
        *cp_authn.ZONE_AUTHN_ATTRIBUTES,
    ),
    exported=(
        *SHARED_EXPORTS,
        Exported("zone_name", kind="text", derived_from=("name",)),
        Exported("cp_url", kind="text", derived_from=(*DIALLED_BY, "dp_port")),
        Exported("egress_cidrs", kind="list", derived_from=("egress_ips", "addresses")),
        Exported(
            "global_address", kind="text", nullable=True, derived_from=("global.kds_address",)
        ),
    ),
)


class ZoneType(ControlPlaneType):
    schema = SCHEMA
    mermaid_shape = ('("', '")')
    impact_codes = frozenset({API_HTTP_OPEN, PROXY_AUTHN_DISABLED, cp_authn.UNAUTHENTICATED_ADMIN})
    serves_data_planes = True
    port_arguments = ("api_https_port", "dp_port")

    def setting_warnings(self, change: ResourceChange, config_dir: Path) -> list[str]:
        found = super().setting_warnings(change, config_dir)
        after = change.after or {}
        if after.get("mads_tls") is False:
            found.append(f"{change.address} serves MADS (5676) without TLS (mads_tls = false)")
        for setting, who in _AUTHN_SETTINGS:
            if after.get(setting) == "none":
                found.append(f'{change.address} does not authenticate {who} ({setting} = "none")')
        return found

    def trust_clients(self, change: ResourceChange, plan: Plan) -> tuple[str, ...]:
        after = change.after or {}
        prometheus = ("Prometheus",) if after.get("mads_tls") else ()
        return ("data plane proxies", "kumactl", *prometheus)

    def check(self, instances: list[ResourceInstance]) -> list[Diagnostic]:
        found = super().check(instances)
        by_global: dict[str, dict[str, ResourceInstance]] = defaultdict(dict)
        egress_owner: dict[str, ResourceInstance] = {}
        for instance in instances:
            values = instance.values
            for setting in ("dp_authn", "zone_proxy_authn"):
                found.extend(_authn_problems(instance, setting))
            found.extend(fixed_port_problems(instance, {"dp_port": kuma.DP_SERVER_PORT}))
            found.extend(_tls13_warning(instance))
            name = values["name"]
            if name is None:
                name = self.default_name(str(instance.address))
                problem = check_zone_name(name)
                if problem:
                    found.append(
                        error(
                            "Invalid zone name",
                            f"{instance.address}: the zone name defaults to the block label, "
                            f"but {problem} Set name explicitly.",
                            instance.range,
                        )
                    )
            # zones are grouped by the global they reference (its address: during validate
            # its exports, kds_address included, are all unknown)
            global_cp, _ = unmark(values.get("global"))
            key = str(global_cp.address) if isinstance(global_cp, ResourceValue) else None
            if isinstance(name, str) and key is not None:
                first = by_global[key].get(name)
                if first is not None:
                    found.append(
                        error(
                            "Duplicate zone name",
                            f'{instance.address} and {first.address} are both named "{name}" '
                            "under the same global control plane; Kuma zone names must be "
                            "unique per global.",
                            instance.argument_range("name"),
                        )
                    )
                by_global[key].setdefault(name, instance)
            found.extend(self._egress_problems(instance, egress_owner))
        return found

    def _egress_problems(
        self, instance: ResourceInstance, owners: dict[str, ResourceInstance]
    ) -> list[Diagnostic]:
        values = instance.values
        ips = values["egress_ips"] if values["egress_ips"] is not None else values["addresses"]
        if has_unknown(ips):
            return []
        found = []
        for ip in ips:
            try:
                network = network_of(ip)
            except ValueError:
                found.append(
                    error(
                        "Invalid egress IP",
                        f'"{ip}" is not an IP address or CIDR.',
                        instance.argument_range("egress_ips"),
                    )
                )
                continue
            first = owners.setdefault(network, instance)
            if first is not instance:
                found.append(
                    error(
                        "Zones share an egress IP",
                        f"{instance.address} and {first.address} both dial the global from "
                        f"{network}: a firewall could not tell them apart. Give each zone the "
                        "egress IPs only it uses.",
                        instance.argument_range("egress_ips"),
                    )
                )
        return found

    def own_exports(self, address: str, planned: dict[str, Any], config: dict[str, Any]) -> None:
        if planned["name"] is None:
            # check() reports a default that is not a valid zone name, in validate and plan
            planned["name"] = self.default_name(address)
        if planned["egress_ips"] is None:
            planned["egress_ips"] = planned["addresses"]
        for setting in _AUTHN_DEFAULTS:
            if planned[setting] is None:
                planned[setting] = default_authn(planned["environment"], setting)
        planned["zone_name"] = planned["name"]
        planned["egress_cidrs"] = egress_cidrs(planned["egress_ips"])
        dial_host = planned["dial_host"]
        planned["cp_url"] = (
            UNKNOWN
            if dial_host is UNKNOWN
            else f"https://{url_host(dial_host)}:{planned['dp_port']}"
        )
        global_cp = plain(config.get("global"))
        planned["global_address"] = global_cp["kds_address"] if global_cp else None

    def verify(self, instance: ResourceState, context: VerifyContext) -> list[CheckRow]:
        return verify_control_plane(instance, context, SCHEMA, control_plane.SCHEMA)

    @staticmethod
    def default_name(address: str) -> str:
        """The block label with ``_`` → ``-``: ``zone.us_east`` → ``us-east``."""
        return block_label(address).replace("_", "-")

    def spec(
        self, address: str, attributes: dict[str, Any], config: dict[str, Any]
    ) -> ControlPlaneSpec:
        global_cp = plain(config.get("global"))
        zone = ZoneSettings(
            dp_port=attributes["dp_port"],
            mads_tls=attributes["mads_tls"],
            dp_authn=attributes["dp_authn"],
            zone_proxy_authn=attributes["zone_proxy_authn"],
            global_address=attributes["global_address"],
            kds_ca_pem=global_cp["ca_bundle_pem"] if global_cp else None,
            dp_token_path=attributes["dp_token_path"],
        )
        return ControlPlaneSpec(
            **self.base_spec(attributes["zone_name"], attributes, config), zone=zone
        )


_AUTHN_SETTINGS = (("dp_authn", "data plane proxies"), ("zone_proxy_authn", "zone proxies"))
# the proxy authentication of each setting on universal, where proxies present tokens
_AUTHN_DEFAULTS = {"dp_authn": ProxyAuthn.DP_TOKEN, "zone_proxy_authn": ProxyAuthn.ZONE_TOKEN}


def default_authn(environment: Any, setting: str) -> Any:
    """``dp_authn``/``zone_proxy_authn`` when unset: the token kind on universal; on
    kubernetes ``serviceAccountToken``, the only credential injected sidecars present (and
    Kuma's own default there)."""
    if has_unknown(environment):
        return UNKNOWN
    if environment == "kubernetes":
        return ProxyAuthn.SERVICE_ACCOUNT_TOKEN
    return _AUTHN_DEFAULTS[setting]


def _authn_problems(instance: ResourceInstance, setting: str) -> list[Diagnostic]:
    value = instance.values[setting]
    rng = instance.argument_range(setting)
    if value == _AUTHN_DEFAULTS[setting] and instance.values["environment"] == "kubernetes":
        return [
            error(
                "Token authentication on Kubernetes",
                f"{instance.address} runs on kubernetes, where injected sidecars and zone proxies "
                f'present service-account tokens only: {setting} = "{value}" would reject every '
                "proxy. "
                f'Remove {setting} (it defaults to "serviceAccountToken" there).',
                rng,
            )
        ]
    if value == ProxyAuthn.SERVICE_ACCOUNT_TOKEN and instance.values["environment"] != "kubernetes":
        return [
            error(
                "Authentication mode needs Kubernetes",
                f'{setting} = "serviceAccountToken" works only with environment = "kubernetes"; '
                f"{instance.address} runs on universal, where proxies authenticate with tokens.",
                rng,
            )
        ]
    if value == "none":
        who = dict(_AUTHN_SETTINGS)[setting]
        return [
            warning(
                "Proxy authentication disabled",
                f'{instance.address} sets {setting} = "none": any {who} that can reach the '
                "control plane get configuration and certificates without proving who they are.",
                rng,
                code=PROXY_AUTHN_DISABLED,
            )
        ]
    return []


def _tls13_warning(instance: ResourceInstance) -> list[Diagnostic]:
    if instance.values["tls_min_version"] != "TLSv1_3":
        return []
    return [
        warning(
            "TLS 1.3 minimum on a zone",
            f'{instance.address} sets tls_min_version = "TLSv1_3": it also raises the minimum of '
            "the DP server (5678), and Envoy's xDS client offers at most TLS 1.2 by default, so "
            'data plane proxies may fail to connect. Keep "TLSv1_2" unless the proxies are '
            "configured to offer TLS 1.3.",
            instance.argument_range("tls_min_version"),
            code=TLS13_DP_SERVER,
        )
    ]


def egress_cidrs(egress_ips: Any) -> Any:
    """Each egress IP as a /32 or /128 network (a CIDR stays as it is, normalised).

    Unknown while an entry is not an IP or CIDR: ``check`` reports it as an error.
    """
    if has_unknown(egress_ips):
        return UNKNOWN
    try:
        return [network_of(ip) for ip in egress_ips]
    except ValueError:
        return UNKNOWN


def network_of(ip: Any) -> str:
    """An egress IP as its network (``10.0.0.1`` → ``10.0.0.1/32``); ValueError if neither an
    IP nor a CIDR."""
    return _network(ip) if isinstance(ip, str) else str(ipaddress.ip_network(ip, strict=False))


@functools.cache  # check and plan both ask, for every zone
def _network(ip: str) -> str:
    return str(ipaddress.ip_network(ip, strict=False))
