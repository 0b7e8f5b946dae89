"""What the global ``control_plane`` and ``zone`` share: attributes, exports and behaviour.

A control plane owns a server certificate signed by its ``ca`` and the files of SPEC §3 in its
``output_dir``. State keeps the certificate and key (the truth) and, in ``artifacts``, each
file's mode and digest, so refresh can tell which file was deleted, edited or loosened.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from meshprov import kuma, pki
from meshprov.addrs import parse_instance_address
from meshprov.diagnostics import Diagnostic, error, warning
from meshprov.files import (
    UnsafePath,
    drift_of,
    file_digest,
    leaves_dir,
    owned_parts,
    remove_orphaned_temps,
    remove_owned_files,
    write_owned_files,
    written_as,
)
from meshprov.lang.types import ANY
from meshprov.lang.values import (
    UNKNOWN,
    ResourceValue,
    Sensitive,
    Unknown,
    has_unknown,
    unmark,
)
from meshprov.plan.model import Action, ActionReason, Plan, ResourceChange
from meshprov.resources import cp_authn, cp_notices
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
from meshprov.resources.ca import KEY_ALGORITHMS, expiring, signs_under_held
from meshprov.resources.report import (
    CertificateImpact,
    ImpactItem,
    ImpactWarning,
    Notice,
    TrustBreak,
    expiry_estimate,
    reason_text,
)
from meshprov.resources.schema import (
    BOOL,
    NUMBER,
    STRING,
    STRING_LIST,
    Attr,
    Exported,
    check_duration,
    parse_duration,
    renewal_window_problem,
    shown,
)


def check_port(value: object) -> str | None:
    if isinstance(value, int) and 1 <= value <= 65535:
        return None
    return f"{shown(value)} is not a valid TCP port: use a whole number from 1 to 65535."


_KUBERNETES_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def check_kubernetes_name(value: object) -> str | None:
    """A namespace or Service name: a DNS label, as Kubernetes requires and as it appears in
    the certificate's Service-name SANs."""
    if isinstance(value, str) and _KUBERNETES_NAME_RE.match(value):
        return None
    return (
        f'"{value}" is not a valid Kubernetes name: use a DNS label of at most 63 lowercase '
        "letters, digits and dashes, starting and ending with a letter or digit."
    )


SHARED_ATTRIBUTES = (
    Attr("ca", ANY, required=True, reference="ca"),
    Attr("environment", STRING, default="universal", allowed=("universal", "kubernetes")),
    Attr("hostnames", STRING_LIST, default=()),
    Attr("addresses", STRING_LIST, default=()),
    Attr(
        "key_algorithm",
        STRING,
        default="ECDSA_P256",
        allowed=KEY_ALGORITHMS,
        forces_replacement=True,
    ),
    Attr("cert_validity", STRING, default="8760h", check=check_duration),
    Attr("renew_before", STRING, default="720h", check=check_duration),
    Attr("tls_min_version", STRING, default="TLSv1_2", allowed=("TLSv1_2", "TLSv1_3")),
    Attr(
        "api_http_interface",
        STRING,
        default="127.0.0.1",
        check=kuma.listen_interface_problem,
    ),
    Attr("api_https_port", NUMBER, default=kuma.API_HTTPS_PORT, check=check_port),
    Attr("api_separate_cert", BOOL, default=False),
    Attr("output_dir", STRING, computed=True),  # default: out/<address>
    Attr("work_dir", STRING, default="/var/lib/kong-mesh", check=kuma.host_path_problem),
    Attr("namespace", STRING, default=kuma.NAMESPACE, check=check_kubernetes_name),
    # kubernetes: the control-plane Service, whose in-cluster names the certificate carries
    Attr("service_name", STRING, default=kuma.SERVICE_NAME, check=check_kubernetes_name),
    *cp_authn.SHARED_AUTHN_ATTRIBUTES,
    # CAs every bundle that verifies this control plane holds besides its issuing chain: the
    # overlap that lets a CA be replaced without an outage (SPEC §4.1)
    Attr("trusted_cas", ANY, default=(), reference="ca"),
)

# what a control plane's dial host is made of (hostnames, else addresses, else on kubernetes
# the Service's name): an export that repeats it is as sensitive as they are
DIALLED_BY = ("hostnames", "addresses", "service_name", "namespace")

SHARED_EXPORTS = (
    Exported("cert_pem", kind="pem"),
    Exported("private_key_pem", sensitive=True, kind="pem"),
    Exported("ca_bundle_pem", kind="pem"),
    Exported("cert_not_after", kind="time"),
    Exported("cert_fingerprint", kind="text"),
    Exported("dial_host", kind="text", derived_from=DIALLED_BY),
    Exported("api_cert_pem", kind="pem", nullable=True),
    Exported("api_private_key_pem", sensitive=True, kind="pem", nullable=True),
    Exported("ca_id", kind="text"),
    *cp_authn.AUTHN_EXPORTS,
    Exported("artifacts", kind="map"),
)

API_HTTP_OPEN = "api_http_open"  # the diagnostic code of a plain-HTTP API on every interface
OUTPUT_OUTSIDE = "output_outside"  # ... of an output_dir outside the configuration directory

# attributes that change when the certificate is reissued
_ISSUED = ("cert_pem", "private_key_pem", "cert_not_after", "cert_fingerprint")
_API_ISSUED = ("api_cert_pem", "api_private_key_pem")
# arguments whose change means a new certificate (the SANs, its lifetime)
_CERT_INPUTS = ("hostnames", "addresses", "cert_validity", "api_separate_cert")


def _known(value: Any, stand_in: str) -> Any:
    return stand_in if isinstance(value, Unknown) else value


def trust_bundle(config: dict[str, Any]) -> Any:
    """What clients verify this control plane with: the issuing CA's chain, then each trusted
    CA's chain, every certificate once (SPEC §1.4); UNKNOWN while a chain is."""
    trusted = unmark(config["trusted_cas"])[0] or []
    if isinstance(trusted, Unknown):
        return UNKNOWN
    chains = [plain(ca) for ca in [config["ca"], *trusted]]
    pems = [ca["chain_pem"] if isinstance(ca, dict) else UNKNOWN for ca in chains]
    if has_unknown(pems):
        return UNKNOWN
    return pki.merge_bundles(*cast(list[str], pems))


def certificate_hostnames(values: dict[str, Any]) -> list[str]:
    """The DNS names a control plane's certificates carry besides ``localhost``: its
    ``hostnames`` and, on kubernetes, the Service's in-cluster names (SPEC §1.4)."""
    names = list(values["hostnames"])
    if values["environment"] == "kubernetes":
        names += kuma.service_hostnames(values["service_name"], values["namespace"])
    return list(dict.fromkeys(names))


def dial_host(values: dict[str, Any]) -> Any:
    """The name others dial: the first hostname, else the first address; on kubernetes with
    neither, the Service name sidecars dial (``<svc>.<ns>``). Unknown when there is none:
    ``check`` reports a control plane without names."""
    hosts = [*values["hostnames"], *values["addresses"]]
    if hosts:
        return hosts[0]
    if values["environment"] == "kubernetes":
        return kuma.service_dial_host(values["service_name"], values["namespace"])
    return UNKNOWN


def missing_service_names(cert_pem: Any, values: dict[str, Any]) -> list[str]:
    """The Service names a kubernetes control plane's stored certificate lacks (one issued by
    an earlier meshprov, or for another namespace or Service): the plan reissues it."""
    if values.get("environment") != "kubernetes" or not isinstance(cert_pem, str):
        return []
    names = kuma.service_hostnames(values["service_name"], values["namespace"])
    try:
        return pki.missing_sans(pki.load_certificate(cert_pem), names, [])
    except ValueError:  # not a certificate: refresh reports it and the plan reissues anyway
        return []


def plain(value: Any) -> Any:
    """A configuration value without marks; a referenced instance as a plain dict."""
    raw, _ = unmark(value)
    if isinstance(raw, ResourceValue):
        # most values carry no mark: test for one before calling to strip it
        return {k: unmark(v)[0] if isinstance(v, Sensitive) else v for k, v in raw.items()}
    return raw


class ControlPlaneType(ResourceType):
    """Planning, issuing, writing and checking a control plane's certificate and files."""

    refresh_waits = False  # reads local files only

    # a new certificate and key are written over the old files, never leaving none
    create_before_destroy = True
    impact_codes = frozenset({API_HTTP_OPEN, OUTPUT_OUTSIDE, cp_authn.UNAUTHENTICATED_ADMIN})

    # --- what a subclass adds ----------------------------------------------------------------

    def own_exports(self, address: str, planned: dict[str, Any], config: dict[str, Any]) -> None:
        """Fill in the exports that follow from the arguments (addresses, URLs, names)."""
        raise NotImplementedError

    def spec(
        self, address: str, attributes: dict[str, Any], config: dict[str, Any]
    ) -> kuma.ControlPlaneSpec:
        """The Kong Mesh settings the artifacts are rendered from."""
        raise NotImplementedError

    def files_unknown(self, config: dict[str, Any]) -> bool:
        """Whether an argument only the files hold is known only after apply."""
        return False

    def base_spec(
        self, name: str, attributes: dict[str, Any], config: dict[str, Any]
    ) -> dict[str, Any]:
        """The ``ControlPlaneSpec`` fields both kinds fill the same way."""
        return {
            "name": name,
            "environment": attributes["environment"],
            "work_dir": attributes["work_dir"],
            "namespace": attributes["namespace"],
            "dial_host": attributes["dial_host"],
            "tls_min_version": attributes["tls_min_version"],
            "api_http_interface": attributes["api_http_interface"],
            "api_https_port": attributes["api_https_port"],
            "cert_pem": attributes["cert_pem"],
            "key_pem": attributes["private_key_pem"],
            "ca_chain_pem": plain(config["ca"])["chain_pem"],
            "ca_bundle_pem": attributes["ca_bundle_pem"],
            "api_cert_pem": attributes["api_cert_pem"],
            "api_key_pem": attributes["api_private_key_pem"],
            "authn": cp_authn.settings(attributes, config),
        }

    # --- checks ----------------------------------------------------------------------------

    def check(self, instances: list[ResourceInstance]) -> list[Diagnostic]:
        found: list[Diagnostic] = []
        for instance in instances:
            found.extend(self.check_instance(instance))
        return found

    def check_instance(self, instance: ResourceInstance) -> list[Diagnostic]:
        """Rules about one control plane's own arguments."""
        values = instance.values
        found: list[Diagnostic] = cp_authn.check(instance)
        hostnames, addresses = values["hostnames"], values["addresses"]
        if (
            not has_unknown([hostnames, addresses, values["environment"]])
            and not hostnames
            and not addresses
            and values["environment"] != "kubernetes"  # there the Service names suffice
        ):
            found.append(
                error(
                    "Missing certificate names",
                    f"{instance.address} needs at least one of hostnames or addresses: they are "
                    "the names its certificate is valid for, and the first is what others dial.",
                    instance.range,
                )
            )
        too_long = renewal_window_problem(
            values["cert_validity"],
            values["renew_before"],
            int(pki.CLOCK_SKEW.total_seconds()),
            "cert_validity",
        )
        if too_long:
            found.append(
                error(
                    "renew_before not shorter than cert_validity",
                    f"{too_long}: {instance.address}'s certificate would be reissued on every "
                    "plan. Shorten renew_before or lengthen cert_validity.",
                    instance.argument_range("renew_before"),
                )
            )
        found.extend(fixed_port_problems(instance, {"api_https_port": kuma.API_HTTPS_PORT}))
        found.extend(port_collisions(instance, self.port_arguments, self.serves_data_planes))
        for ip in [] if has_unknown(addresses) else addresses:
            if _is_scoped_ip(ip):
                found.append(
                    error(
                        "Invalid IP address",
                        f'"{ip}" in addresses has an IPv6 zone id (after "%"): it names a '
                        "network interface of one host, which no certificate can hold and no "
                        "other host can dial. Give the address without it.",
                        instance.argument_range("addresses"),
                    )
                )
            elif not _is_ip(ip):
                found.append(
                    error(
                        "Invalid IP address",
                        f'"{ip}" in addresses is not an IP address; DNS names go in hostnames.',
                        instance.argument_range("addresses"),
                    )
                )
        for name in [] if has_unknown(hostnames) else hostnames:
            problem = _hostname_problem(name)
            if problem:
                found.append(
                    error("Invalid hostname", problem, instance.argument_range("hostnames"))
                )
        if not has_unknown(hostnames) and hostnames and str(hostnames[0]).startswith("*."):
            found.append(
                error(
                    "Wildcard hostname dialled",
                    f'The first of hostnames, "{hostnames[0]}", is the name others dial '
                    f"{instance.address} by (kuma-dp.env, kumactl.sh, the KDS address), and a "
                    "wildcard names no host. Put the name clients dial first; the wildcard may "
                    "follow it.",
                    instance.argument_range("hostnames"),
                )
            )
        output_dir = values["output_dir"]
        if isinstance(output_dir, str) and leaves_dir(instance.config_dir, output_dir):
            found.append(
                warning(
                    "Files written outside the configuration directory",
                    f"{instance.address} writes its certificate, key and settings to output_dir "
                    f'= "{output_dir}", outside the configuration directory: meshprov will '
                    "replace and remove its files there. Check that is where they belong.",
                    instance.argument_range("output_dir"),
                    code=OUTPUT_OUTSIDE,
                )
            )
        interface = values["api_http_interface"]
        if kuma.binds_every_interface(interface):
            found.append(
                warning(
                    "Plain HTTP API open on every interface",
                    f'{instance.address} sets api_http_interface = "{interface}": the API server '
                    "answers plain, unauthenticated-by-TLS HTTP on port 5681 on every interface. "
                    'Keep the default "127.0.0.1" and use HTTPS on the api_https_port.',
                    instance.argument_range("api_http_interface"),
                    code=API_HTTP_OPEN,
                )
            )
        return found

    def written_paths(self, instance: ResourceInstance) -> frozenset[str]:
        """Every file of SPEC §3 this control plane may write, under its output directory."""
        output_dir = instance.values.get("output_dir")
        if output_dir is None:
            output_dir = default_output_dir(str(instance.address))
        if has_unknown(output_dir):
            return frozenset()
        base = os.path.normpath(output_dir)  # the files' own names are normal already
        return frozenset(os.path.join("" if base == "." else base, f) for f in kuma.ALL_FILES)

    # --- plan ------------------------------------------------------------------------------

    def plan(self, request: PlanRequest) -> PlannedChange:
        config = request.config
        prior = request.prior
        planned = self.planned_arguments(config)
        if planned["output_dir"] is None:
            planned["output_dir"] = default_output_dir(request.address)
        planned["dial_host"] = dial_host(planned)
        ca = plain(config["ca"])
        planned["ca_id"] = ca["id"] if isinstance(ca, dict) else UNKNOWN
        planned["ca_bundle_pem"] = trust_bundle(config)
        self.own_exports(request.address, planned, config)
        planned["accepted_kids"] = cp_authn.accepted_kids(config)
        planned["token_ids"] = cp_authn.token_ids(config)
        replace = tuple(
            a.name
            for a in self.schema.attributes
            if a.forces_replacement and prior is not None and planned[a.name] != prior.get(a.name)
        )
        reason = None
        if prior is None or replace:
            reissue = True
        elif prior.get("cert_pem") is None:  # refresh found the certificate or key unusable
            reissue, reason = True, ActionReason.REPLACE_BECAUSE_CANNOT_UPDATE
        elif expiring(
            prior.get("cert_not_after"),
            planned["renew_before"],
            request.context.now,
            ca["not_after"] if isinstance(ca, dict) else None,
        ):
            reissue, reason = True, ActionReason.REPLACE_BECAUSE_EXPIRING
        elif planned["ca_id"] != prior.get("ca_id"):
            reissue, reason = True, ActionReason.UPDATE_BECAUSE_CA_REPLACED
        else:
            reissue = any(planned[k] != prior.get(k) for k in _CERT_INPUTS) or bool(
                missing_service_names(prior.get("cert_pem"), planned)
            )
            if not reissue and planned["accepted_kids"] is UNKNOWN:
                reason = ActionReason.UPDATE_BECAUSE_KEY_REPLACED
        if reissue:
            planned.update(dict.fromkeys(_ISSUED, UNKNOWN))
            separate = planned["api_separate_cert"]
            planned.update(dict.fromkeys(_API_ISSUED, UNKNOWN if separate else None))
            planned["artifacts"] = UNKNOWN
        else:
            assert prior is not None  # no prior always reissues
            for key in (*_ISSUED, *_API_ISSUED):
                planned[key] = prior[key]
            planned["artifacts"] = self._expected_artifacts(request, planned)
        return PlannedChange(planned, replace, reason)

    def _expected_artifacts(self, request: PlanRequest, planned: dict[str, Any]) -> Any:
        """The files' digests with the certificate kept, or UNKNOWN while an input is.

        A trust bundle known only after apply (a trusted CA created by this plan) leaves
        only the files that hold it unknown: the files are rendered with two different
        stand-ins for it, and those that differ are the ones it reaches. So the notices can
        tell that kuma-cp reads none of them.

        Files whose inputs are those apply last wrote them from, and that refresh found as
        written, are not rendered again: their digests are the ones in state."""
        # the certificate, an address the files name, a CA only they hold
        if has_unknown({**planned, "ca_bundle_pem": None}) or self.files_unknown(request.config):
            return UNKNOWN
        global_cp = plain(request.config.get("global"))
        bundles = [planned["ca_bundle_pem"]]
        if isinstance(global_cp, dict):
            bundles.append(global_cp["ca_bundle_pem"])
        if not any(isinstance(bundle, Unknown) for bundle in bundles):
            # no stand-in is needed: one rendering tells, or none when state has its digest
            spec = self.spec(request.address, planned, request.config)
            recorded = request.prior.get("artifacts") if request.prior else None
            rendered = request.prior_private.get("rendered")
            if rendered is not None and rendered == _rendered(spec, recorded):
                return dict(cast(dict, recorded))
            specs = [spec]
        else:
            specs = []
            for stand_in in ("# known after apply: 1\n", "# known after apply: 2\n"):
                own = {**planned, "ca_bundle_pem": _known(planned["ca_bundle_pem"], stand_in)}
                given = request.config
                if isinstance(global_cp, dict):
                    bundle = _known(global_cp["ca_bundle_pem"], stand_in)
                    given = {**given, "global": {**global_cp, "ca_bundle_pem": bundle}}
                specs.append(self.spec(request.address, own, given))
        digests = []
        for spec in specs:
            files = kuma.render_artifacts(spec)
            digests.append({p: file_digest(a.content, a.mode) for p, a in files.items()})
        first, second = digests[0], digests[-1]
        return {p: first[p] if first[p] == second.get(p) else UNKNOWN for p in sorted(first)}

    # --- apply -----------------------------------------------------------------------------

    def apply(self, request: ApplyRequest) -> dict[str, Any]:
        planned = dict(request.planned)
        config = request.config
        prior = request.prior
        attributes = {k: v for k, v in planned.items() if k not in ("artifacts",)}
        # config is fully known now; a replacement is planned with every export unknown,
        # kds_port and dial_host included: derive what follows from the arguments again
        arguments = self.planned_arguments(config)
        attributes.update({k: v for k, v in arguments.items() if has_unknown(attributes.get(k))})
        attributes["dial_host"] = dial_host(attributes)
        if prior is None or planned.get("cert_pem") is UNKNOWN:
            attributes.update(self._issue(attributes, config, request.context))
        else:
            for key in (*_ISSUED, *_API_ISSUED):
                attributes[key] = prior[key]
        # values the plan could not know yet (the CA's chain after its own replacement)
        attributes["ca_id"] = plain(config["ca"])["id"]
        attributes["ca_bundle_pem"] = trust_bundle(config)
        self.own_exports(request.address, attributes, config)
        attributes["accepted_kids"] = cp_authn.accepted_kids(config)
        attributes["token_ids"] = cp_authn.token_ids(config)
        files = kuma.render_artifacts(self.spec(request.address, attributes, config))
        out = request.context.config_dir / attributes["output_dir"]
        try:
            # we hold the state lock: a temp file left by a killed write may hold a key
            remove_orphaned_temps(out, files)
            write_owned_files(
                out, [(relative, a.content, a.mode) for relative, a in sorted(files.items())]
            )
        except UnsafePath as exc:
            raise ResourceError(f"refusing to write in {out}: {exc}") from None
        except OSError as exc:
            raise ResourceError(f"cannot write {exc.filename or out}: {exc.strerror}") from None
        attributes["artifacts"] = {
            path: file_digest(a.content, a.mode) for path, a in sorted(files.items())
        }
        if prior is not None:
            self._remove_stale(request.context, prior, attributes)
        return attributes

    def _issue(self, planned: dict[str, Any], config: dict[str, Any], context: Context) -> dict:
        ca = plain(config["ca"])
        issuer = pki.Issuer(ca["cert_pem"], ca["private_key_pem"])
        validity = timedelta(seconds=parse_duration(planned["cert_validity"]))

        def issue() -> pki.Issued:
            return pki.issue_server(
                certificate_hostnames(planned),
                planned["addresses"],
                planned["key_algorithm"],
                validity,
                context.now,
                issuer,
            )

        try:
            server = issue()
            api = issue() if planned["api_separate_cert"] else None
        except ValueError as exc:  # a CA whose key is not its certificate's
            raise ResourceError(str(exc)) from None
        return {
            "cert_pem": server.cert_pem,
            "private_key_pem": server.key_pem,
            "cert_not_after": pki.rfc3339(pki.not_after(server.cert_pem)),
            "cert_fingerprint": pki.fingerprint(server.cert_pem),
            "api_cert_pem": api.cert_pem if api else None,
            "api_private_key_pem": api.key_pem if api else None,
        }

    # --- what a change means ----------------------------------------------------------------

    def impact(self, change: ResourceChange, plan: Plan) -> list[ImpactItem]:
        """The certificate issued, reissued or removed, and insecure settings it is given."""
        items: list[ImpactItem] = []
        certificate = _certificate_impact(change, plan.timestamp)
        if certificate is not None:
            items.append(certificate)
        if _breaks_trust(change, plan):
            before, after = change.before or {}, change.after or {}
            clients = self.trust_clients(change, plan)
            items.append(TrustBreak(change.address, str(after["ca"]), str(before["ca"]), clients))
        if change.action is not Action.DELETE:
            items.extend(
                ImpactWarning(text) for text in self.setting_warnings(change, plan.config_dir)
            )
        items.extend(cp_authn.impact(change))
        return items

    def trust_clients(self, change: ResourceChange, plan: Plan) -> tuple[str, ...]:
        """Who verifies this control plane with the bundle in state (SPEC §4.1)."""
        raise NotImplementedError

    def setting_warnings(self, change: ResourceChange, config_dir: Path) -> list[str]:
        """Insecure settings in ``change.after`` (planned in ``config_dir``), one sentence
        each."""
        after = change.after or {}
        found = []
        interface = after.get("api_http_interface")
        if kuma.binds_every_interface(interface):
            listen = kuma.url_host(str(interface).strip()) or "*"
            found.append(
                f"{change.address} serves the API over plain HTTP on {listen}:5681 "
                "(api_http_interface)"
            )
        output_dir = after.get("output_dir")
        if isinstance(output_dir, str) and leaves_dir(config_dir, output_dir):
            found.append(
                f"{change.address} writes its key and certificate outside the configuration "
                f"directory, to {output_dir} (output_dir)"
            )
        return found

    def notices(self, change: ResourceChange) -> list[Notice]:
        """SPEC §4.1: Kong Mesh reads certificates and settings at start, so what apply
        rewrites takes effect only once kuma-cp (or the Helm release) restarts."""
        if change.action is Action.DELETE or change.after is None:
            return []
        files = cp_notices.changed_files(
            (change.before or {}).get("artifacts"), change.after.get("artifacts")
        )
        return [
            *cp_authn.notices(change, files),
            *cp_notices.notices(change, self.serves_data_planes),
        ]

    serves_data_planes = False  # a zone's data plane proxies verify it with its CA bundle
    port_arguments: tuple[str, ...] = ("api_https_port",)  # the ports kuma-cp listens on

    # --- delete and refresh ----------------------------------------------------------------

    def delete(self, address: str, prior: dict[str, Any], context: Context) -> None:
        self._remove_stale(context, prior, None)

    def delete_replaced(
        self, address: str, prior: dict[str, Any], new: dict[str, Any], context: Context
    ) -> None:
        self._remove_stale(context, prior, new)

    def _remove_stale(
        self, context: Context, prior: dict[str, Any], new: dict[str, Any] | None
    ) -> None:
        """Remove the files ``prior`` wrote that ``new`` (if any) did not write again: only
        those paths, inside the directory ``prior`` recorded, never through a symlink, and
        only while they hold what ``prior`` recorded writing (state names the directory: it
        could name anyone's)."""
        old_dir = context.config_dir / _recorded(prior, "output_dir", str)
        keep: set[str] = set()
        if new is not None and _same_dir(context.config_dir / new["output_dir"], old_dir):
            keep = set(new.get("artifacts") or {})
        recorded = _recorded(prior, "artifacts", dict)
        stale = [p for p in recorded if p not in keep]
        try:
            left = remove_owned_files(
                old_dir, stale, lambda path, data: _ours(recorded[path], data)
            )
        except UnsafePath as exc:
            raise ResourceError(
                f"refusing to remove an artifact recorded in state: {exc}. Nothing was removed; "
                "the state was edited by hand?"
            ) from None
        except OSError as exc:
            raise ResourceError(
                f"cannot remove {exc.filename or old_dir}: {exc.strerror}"
            ) from None
        if left:
            raise ResourceError(
                f"left {', '.join(left)} in {old_dir}: not what meshprov wrote there (changed "
                "since, or the state names files meshprov never wrote). Remove them yourself "
                "if they are not needed, and run meshprov again"
            )

    def private(
        self, address: str, attributes: dict[str, Any], config: dict[str, Any]
    ) -> dict[str, str]:
        """``rendered``: a digest of the files' inputs and of the digests of the files written
        from them, so a plan with the same inputs, finding the same files, renders nothing.
        ``verified``: a digest of the attributes, kept only when their certificates and keys
        are sound pairs from their CA, so refresh need not check them again while the state
        holds exactly these attributes."""
        spec = self.spec(address, attributes, config)
        found = {"rendered": _rendered(spec, attributes["artifacts"])}
        if not _stored_pair_problems(attributes):
            found["verified"] = attributes_digest(attributes)
        return found

    def refresh(
        self,
        address: str,
        prior: dict[str, Any],
        context: Context,
        prior_private: Mapping[str, str] = NO_PRIVATE,
    ) -> RefreshResult:
        """The certificate and key in state (the truth the files are written from) must be a
        pair signed by the CA; then each file written must be as recorded."""
        # attributes exactly as apply wrote them, when their pairs were checked then
        verified = prior_private.get("verified") == attributes_digest(prior)
        problems = [] if verified else _stored_pair_problems(prior)
        if problems:  # the plan reissues: the files are rewritten from a new certificate
            return RefreshResult(
                {**prior, "cert_pem": None, "private_key_pem": None}, tuple(problems)
            )
        out = context.config_dir / _recorded(prior, "output_dir", str)
        recorded = _recorded(prior, "artifacts", dict)
        actual: dict[str, str | None] = {}
        notes = []
        for relative, digest in recorded.items():
            try:
                owned_parts(relative)
            except UnsafePath as exc:
                raise ResourceError(f"an artifact recorded in state is refused: {exc}") from None
            path = os.path.join(out, relative)  # a string: thousands of files, no Path each
            try:
                actual[relative], note = drift_of(path, digest, relative)
            except OSError as exc:
                raise ResourceError(f"cannot read {path}: {exc.strerror}") from None
            if note:
                notes.append(note)
        key_path, cert_path = out / kuma.Files.KEY, out / kuma.Files.CERT
        # the files apply wrote from a verified pair, as it wrote them, are that pair
        as_written = verified and all(
            actual.get(f) == recorded.get(f) for f in (kuma.Files.KEY, kuma.Files.CERT)
        )
        if (
            kuma.Files.KEY in recorded
            and not as_written
            and key_path.exists()
            and cert_path.exists()
        ):
            try:
                matches = pki.key_matches(cert_path.read_text(), key_path.read_text())
            except ValueError:
                matches = False
            if not matches:
                notes.append(
                    f"{kuma.Files.KEY} does not match the certificate in {kuma.Files.CERT}"
                )
        if not notes:
            return RefreshResult(prior)
        return RefreshResult({**prior, "artifacts": actual}, tuple(notes))


def _stored_pair_problems(attributes: dict[str, Any]) -> list[str]:
    """Why the certificates and keys in ``attributes`` cannot be trusted (SPEC: state is a
    file a person can edit), or nothing."""
    problems = pki.stored_pair_problems(
        attributes.get("cert_pem"),
        attributes.get("private_key_pem"),
        attributes.get("ca_bundle_pem"),
    )
    if attributes.get("api_cert_pem") is not None:
        problems += [
            f"API server: {p}"
            for p in pki.stored_pair_problems(
                attributes.get("api_cert_pem"),
                attributes.get("api_private_key_pem"),
                attributes.get("ca_bundle_pem"),
            )
        ]
    return problems


def _rendered(spec: kuma.ControlPlaneSpec, artifacts: Any) -> str:
    """The files' inputs (``kuma.rendering_digest``) with the digests recorded for them."""
    recorded = json.dumps(artifacts, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(f"{kuma.rendering_digest(spec)}\0{recorded}".encode()).hexdigest()


def fixed_port_problems(instance: ResourceInstance, ports: dict[str, int]) -> list[Diagnostic]:
    """On kubernetes the chart's Services have fixed ports: a port attribute (name → the only
    value allowed there) set to anything else would move kuma-cp but not its Service."""
    values = instance.values
    if values["environment"] != "kubernetes":
        return []
    return [
        error(
            "Port fixed on Kubernetes",
            f"{instance.address} runs on kubernetes, where the kong-mesh chart's Service fixes "
            f"{name} at {port}: kuma-cp would listen on {values[name]}, and nothing on the port "
            f"clients dial. Remove {name}.",
            instance.argument_range(name),
        )
        for name, port in ports.items()
        if isinstance(values[name], int) and values[name] != port
    ]


def port_collisions(
    instance: ResourceInstance, arguments: tuple[str, ...], zone: bool
) -> list[Diagnostic]:
    """Two of kuma-cp's listeners on one port: it would not start ("address already in use").
    ``arguments`` are the port attributes meshprov sets; kuma-cp has fixed ports besides."""
    values = instance.values
    environment = values["environment"]
    taken = {} if has_unknown(environment) else kuma.fixed_listen_ports(zone, environment)
    found = []
    # of two ports that meet, the one set in the configuration is the one to change
    for name in sorted(arguments, key=lambda n: n in instance.argument_ranges):
        port = values[name]
        if not isinstance(port, int):
            continue
        if port in taken:
            found.append(
                error(
                    "Port already in use",
                    f"{instance.address}: {name} = {port} is also the port of {taken[port]}: "
                    "kuma-cp would fail to start (address already in use). Choose another port.",
                    instance.argument_range(name),
                )
            )
        taken.setdefault(port, name)
    return found


def _breaks_trust(change: ResourceChange, plan: Plan) -> bool:
    """SPEC §4.1: the reissued certificate does not verify with the bundle its clients hold
    now (the one in state: every client of this control plane is given that bundle)."""
    before, after = change.before or {}, change.after or {}
    if change.action is Action.CREATE or change.after is None:
        return False
    if not isinstance(after.get("cert_pem"), Unknown):
        return False  # the certificate clients verify stays
    held = before.get("ca_bundle_pem")
    if not isinstance(held, str):
        return False
    if after.get("ca_id") == before.get("ca_id"):
        return False  # the same CA: every bundle holds the issuing chain
    return not signs_under_held(after.get("ca"), plan, pki.signer_identities(held))


def _certificate_impact(change: ResourceChange, timestamp: str) -> CertificateImpact | None:
    after = change.after or {}
    before = change.before or {}
    if change.action is Action.DELETE:
        return CertificateImpact(change.address, "removed")
    expires = expiry_estimate(timestamp, after.get("cert_validity"))
    if change.action is Action.CREATE:
        return CertificateImpact(change.address, "issued", "", expires)
    if not isinstance(after.get("cert_pem"), Unknown):
        return None  # the certificate stays; only files or settings change
    return CertificateImpact(change.address, "reissued", _why(change, before, after), expires)


def _why(change: ResourceChange, before: dict[str, Any], after: dict[str, Any]) -> str:
    """Why a certificate is issued again, in a few words."""
    why = reason_text(change.reason)
    if why:
        return why
    if change.replace_paths:
        return ", ".join(change.replace_paths) + " changed"
    if any(after.get(k) != before.get(k) for k in ("hostnames", "addresses")):
        return "SANs changed"
    if missing_service_names(before.get("cert_pem"), after):
        return "Kubernetes Service names missing"
    if after.get("cert_validity") != before.get("cert_validity"):
        return "validity changed"
    if after.get("api_separate_cert") != before.get("api_separate_cert"):
        return "api_separate_cert changed"
    return ""


def _is_ip(text: Any) -> bool:
    ip = _ip_address(text) if isinstance(text, str) else None
    return ip is not None and getattr(ip, "scope_id", None) is None


def _is_scoped_ip(text: Any) -> bool:
    """An IPv6 address with a zone id, ``fe80::1%eth0``: valid to Python, not in a SAN."""
    ip = _ip_address(text) if isinstance(text, str) else None
    return ip is not None and getattr(ip, "scope_id", None) is not None


@functools.cache  # check and plan ask about the same addresses and hostnames, each zone's
def _ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


_DNS_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def _hostname_problem(name: Any) -> str | None:
    """Why ``name`` cannot be a DNS name in a certificate (and be dialled), or None."""
    if _is_ip(name):
        return f'"{name}" in hostnames is an IP address; IP addresses go in addresses.'
    labels = name.split(".")
    if labels[0] == "*":  # a wildcard covers one label
        labels = labels[1:]
    if len(name) <= 253 and labels and all(_DNS_LABEL_RE.fullmatch(label) for label in labels):
        return None
    return (
        f'"{name}" in hostnames is not a DNS name: use dot-separated labels of letters, digits '
        "and dashes (an internationalised name in its xn-- form)."
    )


def block_label(address: str) -> str:
    """The resource's name label: ``module.m["a"].zone.us_east["10.0.0.1"]`` → ``us_east``."""
    return parse_instance_address(address).name


def default_output_dir(address: str) -> str:
    """``out/<address>`` as one directory name: ``zone.z["eu"]`` → ``out/zone.z.eu``.

    In an instance key every character but letters, digits, ``.``, ``_`` and ``-`` becomes
    ``_``: a ``for_each`` key is data, and ``"../../tmp/x"`` must not lead out of ``out/``.
    """
    parsed = parse_instance_address(address)
    parts: list[str] = []
    for call, key in parsed.module:
        parts += ["module", call, *_key_part(key)]
    parts += [parsed.type, parsed.name, *_key_part(parsed.key)]
    return "out/" + ".".join(parts)


def _key_part(key: Any) -> list[str]:
    return [] if key is None else [_UNSAFE_KEY_CHARACTERS.sub("_", str(key))]


_UNSAFE_KEY_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]")


def _ours(recorded: Any, content: bytes) -> bool:
    """Whether a file to remove is meshprov's: what it wrote, or one refresh found missing
    (null: a plan made in another checkout, where out/ is not), never one found changed."""
    return recorded is None or written_as(recorded, content)


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normpath(a) == os.path.normpath(b)


def _recorded(prior: dict[str, Any], name: str, kind: type) -> Any:
    """An attribute read back from state, checked: hand-edited state gets a diagnostic."""
    value = prior.get(name)
    if value is None and kind is dict:
        return {}
    if not isinstance(value, kind):
        raise ResourceError(
            f"the state's {name} is not a {'string' if kind is str else 'map'}; "
            "the state was edited by hand?"
        )
    return value
