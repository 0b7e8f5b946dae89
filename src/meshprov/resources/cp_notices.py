"""What a control plane's change asks the operator to do after apply (SPEC §4.1).

Kong Mesh 2.14 reads its certificates, key and settings when kuma-cp starts, and a data plane
trusts only the CA bundle it started with (``reference/kuma-authn-and-k8s.md`` §5). So each
file apply rewrites says who must pick it up: kuma-cp (a restart), the data plane proxies (the
new bundle, then a restart), the zone control plane (the global's bundle, re-read on every KDS
reconnect), kumactl, Prometheus; on Kubernetes the Secrets, the Helm release and the pods.
"""

from __future__ import annotations

from typing import Any

from meshprov import kuma, pki
from meshprov.lang.values import Unknown
from meshprov.plan.model import Action, ActionReason, ResourceChange
from meshprov.resources.report import Notice

Files = kuma.Files

# files that change with the certificate (said once as "its certificate and key are reissued")
_CERT_FILES = frozenset({Files.CERT, Files.KEY, Files.API_CERT, Files.API_KEY, Files.SECRETS})


def notices(change: ResourceChange, serves_data_planes: bool) -> list[Notice]:
    """The actions ``change`` needs, each with its reason; none for a delete."""
    if change.action is Action.DELETE or change.after is None:
        return []
    before, after = change.before or {}, change.after
    facts = _Facts(
        created=change.action is Action.CREATE,
        reissued=change.action.creates or isinstance(after.get("cert_pem"), Unknown),
        files=changed_files(before.get("artifacts"), after.get("artifacts")),
    )
    facts.bundle = not facts.created and _new_bundle(before, after)
    facts.key_replaced = change.reason is ActionReason.UPDATE_BECAUSE_KEY_REPLACED
    if after.get("environment") == "kubernetes":
        return _kubernetes(change.address, facts, serves_data_planes)
    return _universal(change.address, facts, serves_data_planes)


def _new_bundle(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Clients need the new bundle when it holds other CAs (not merely in another order)."""
    new, old = after.get("ca_bundle_pem"), before.get("ca_bundle_pem")
    if not isinstance(new, str) or not isinstance(old, str):
        return True  # known after apply
    if new == old:
        return False
    held, given = pki.bundle_fingerprints(old), pki.bundle_fingerprints(new)
    # a bundle without a readable certificate differs by its text alone
    return not given or set(given) != set(held)


class _Facts:
    """What a change rewrites: the certificate, the bundle, which files (None: unknown yet)."""

    def __init__(self, created: bool, reissued: bool, files: list[str] | None):
        self.created = created
        self.reissued = reissued
        self.files = files
        self.bundle = False
        self.key_replaced = False  # a token public key it accepts

    def changed(self, path: str) -> bool:
        """``path`` is known to change (an update whose files are known)."""
        return not self.created and self.files is not None and path in self.files

    def reasons(self, read: frozenset[str] | None = None) -> str:
        """Why what reads ``read`` (every file when None) must pick the change up."""
        if self.created:
            return "its certificate, key and configuration are new"
        parts = []
        if self.reissued:
            parts.append("its certificate and key are reissued")
        if self.key_replaced:
            parts.append("a token public key it accepts is replaced (kuma-cp reads them at start)")
        if self.files is None:
            if not parts:
                parts.append("its configuration files are rewritten with values known after apply")
            return "; ".join(parts)
        said = _CERT_FILES if self.reissued else frozenset()
        rewritten = [f for f in self.files if f not in said and (read is None or f in read)]
        if rewritten:
            parts.append(", ".join(rewritten) + (" changes" if len(rewritten) == 1 else " change"))
        return "; ".join(parts)


def _universal(address: str, facts: _Facts, serves_data_planes: bool) -> list[Notice]:
    found = []
    why = facts.reasons(kuma.READ_BY_KUMA_CP_AT_START)
    if why:
        found.append(Notice(address, "restart kuma-cp", why))
    if serves_data_planes:
        found.extend(_data_plane_hosts(address, facts))
    if facts.changed(Files.KDS_CA):
        found.append(
            Notice(
                address,
                f"put the new {Files.KDS_CA} on the zone control plane host",
                "the global's CA bundle changed; kuma-cp re-reads it on every KDS reconnect, "
                "no restart",
            )
        )
    if facts.changed(Files.KUMACTL):
        found.append(
            Notice(
                address,
                f"run {Files.KUMACTL} again",
                f"{Files.KUMACTL} changes: kumactl keeps the address it was registered with",
            )
        )
    if facts.changed(Files.PROMETHEUS):
        found.append(
            Notice(
                address,
                f"reload Prometheus with {Files.PROMETHEUS}",
                f"{Files.PROMETHEUS} changes: the MADS scrape job's address or CA file",
            )
        )
    return found


def _data_plane_hosts(address: str, facts: _Facts) -> list[Notice]:
    """kuma-dp reads its env file and the CA bundle when it starts."""
    copied, why = [], []
    if facts.bundle:
        copied.append(Files.CA)
        why.append("the CA bundle changed: kuma-dp trusts only the bundle it started with")
    if facts.changed(Files.DP_ENV):
        copied.append(Files.DP_ENV)
        why.append(f"{Files.DP_ENV} changes: kuma-dp reads it when it starts")
    if not copied:
        return []
    action = f"copy {' and '.join(copied)} to the data plane hosts and restart kuma-dp"
    return [Notice(address, action, "; ".join(why))]


# what reaches kuma-cp on Kubernetes: the Secrets and the chart's values
_HELM_RELEASE = frozenset({Files.SECRETS, Files.VALUES})


def _kubernetes(address: str, facts: _Facts, serves_data_planes: bool) -> list[Notice]:
    secrets = facts.created or facts.files is None or Files.SECRETS in facts.files
    values = facts.created or facts.files is None or Files.VALUES in facts.files
    if facts.created:
        steps = [f"kubectl apply -f {Files.SECRETS}", f"helm upgrade --install with {Files.VALUES}"]
    else:
        steps = [f"kubectl apply -f {Files.SECRETS}"] if secrets else []
        if values:
            steps.append(f"helm upgrade with {Files.VALUES}")
        if secrets:
            # the chart restarts kuma-cp only for the Secrets it created itself
            steps.append("kubectl rollout restart the control-plane Deployment")
    found = []
    if steps:
        found.append(Notice(address, ", then ".join(steps), facts.reasons(_HELM_RELEASE)))
    if facts.bundle and serves_data_planes:
        found.append(
            Notice(
                address,
                "restart the data plane pods",
                "the CA bundle changed: injected sidecars get it when they start",
            )
        )
    return found


def changed_files(before: Any, after: Any) -> list[str] | None:
    """The artifacts whose digest a change alters, or None while every new one is unknown."""
    if not isinstance(after, dict):
        return None
    old = before if isinstance(before, dict) else {}
    # a file whose digest is known only after apply holds a value that changes
    return sorted(
        p for p in {*old, *after} if isinstance(after.get(p), Unknown) or old.get(p) != after.get(p)
    )
