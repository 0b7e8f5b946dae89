"""What ``meshprov verify`` checks for a ``token`` (SPEC §5).

A token is checked against every control plane of the state it is meant for, with the public
keys as that control plane's written config holds them (``kuma-cp.yaml``, or the Helm values'
``kuma.controlPlane.config``), not as state remembers them:

- ``signature`` its kid is listed and its RS256 signature verifies with that key;
- ``expiry``    it has not expired (a warning within ``renew_before``: the next plan renews it);
- ``claims``    its zone is the control plane's zone name (zone tokens), its mesh the mesh the
                key is bound to (dataplane tokens);
- ``output_file`` the file it was written to holds it, one line, mode 0600.

Which control planes a token is for: a user token, those listing its key in
``user_token_keys``; a dataplane token, the zones listing its key in ``dp_token_keys``; a zone
proxy token, the zones of its ``zone`` name; a KDS token, the globals of the zones presenting
it (or, for a zone outside this state, the globals listing its key). Details never hold the
token itself.
"""

from __future__ import annotations

import os
from typing import Any

from meshprov import kuma
from meshprov.resources import control_plane, cp_authn, zone
from meshprov.resources.ca import expiring
from meshprov.resources.control_plane_verify import (
    CHANNEL_API,
    CHANNEL_DP,
    CHANNEL_KDS,
    check_token,
    written_public_keys,
)
from meshprov.resources.report import CheckRow, RowBuilder, VerifyContext
from meshprov.state.model import ResourceState

# the channel a kind of token authenticates, and where its rows go (after the control
# planes' rows of that channel)
_CHANNELS = {
    "user": (CHANNEL_API, (1, 1)),
    "dataplane": (CHANNEL_DP, (0, 1)),
    "zone_proxy": (CHANNEL_DP, (0, 1)),
    "zone_cp": (CHANNEL_KDS, (3, 2)),
}
_SCHEMAS = {"zone": zone.SCHEMA, "control_plane": control_plane.SCHEMA}
_KEY_LIST = {kind: attribute for attribute, kind in cp_authn.KEY_LISTS.items()}


def verify_token(instance: ResourceState, context: VerifyContext) -> list[CheckRow]:
    attrs = instance.attributes
    kind = str(attrs.get("kind"))
    channel, order = _CHANNELS.get(kind, (CHANNEL_API, (1, 1)))
    validator = kuma.TOKEN_VALIDATORS.get(kind)
    token = attrs.get("token")
    targets = _targets(instance, context)
    if validator is None or not isinstance(token, str) or not targets:
        row = RowBuilder(channel, instance.address, order)
        _output_file(row, instance, context)
        row.failed(
            "accepted",
            f"no control plane in the state accepts tokens of its key {attrs.get('signing_key')}",
        )
        return [row.build("")]
    rows = []
    for index, (target, claims) in enumerate(targets):
        row = RowBuilder(channel, f"{instance.address} → {target.address}", order)
        if index == 0:
            _output_file(row, instance, context)
        keys, where, problem = written_public_keys(
            target, context, _SCHEMAS[target.type], validator
        )
        if problem is not None or keys is None:
            row.failed(
                "signature",
                problem or f"{where} lists no {kind} token public keys: it accepts none of ours",
            )
            rows.append(row.build(""))
            continue
        checked = check_token(row, token, keys, where, context.now, claims)
        if checked is not None and expiring(
            attrs.get("expires_at"), str(attrs.get("renew_before")), context.now
        ):
            row.warn("expiry", "within renew_before of expiry: the next plan reissues it")
        summary = f"verifies with {checked.kid} in {where}" if checked else ""
        rows.append(row.build(summary))
    return rows


def _targets(
    instance: ResourceState, context: VerifyContext
) -> list[tuple[ResourceState, dict[str, Any]]]:
    """The control planes the token is for, each with the claims it checks against what it
    knows (a zone's name, a key's mesh), not against what the token's own state says."""
    attrs = instance.attributes
    kind = attrs.get("kind")
    key = str(attrs.get("signing_key"))
    resources = context.state.resources
    cps = [rs for rs in resources.values() if rs.type in _SCHEMAS]
    if kind == "zone_proxy":
        return [
            (rs, {"Zone": rs.attributes.get("zone_name")})
            for rs in cps
            if rs.type == "zone" and rs.attributes.get("zone_name") == attrs.get("zone")
        ]
    if kind == "zone_cp":
        pairs = [
            (resources.get(str(rs.attributes.get("global"))), rs.attributes.get("zone_name"))
            for rs in cps
            if rs.attributes.get("kds_token") == instance.address
        ]
        found = [(g, {"Zone": name, "Scope": ["cp"]}) for g, name in pairs if g is not None]
        if found:
            return found
    claims: dict[str, Any] = {}
    if kind == "dataplane":
        signing_key = resources.get(key)
        mesh = signing_key.attributes.get("mesh") if signing_key is not None else None
        claims = {"Mesh": mesh} if mesh else {}
    attribute = _KEY_LIST.get(str(kind), "")
    return [(rs, claims) for rs in cps if key in (rs.attributes.get(attribute) or [])]


def _output_file(row: RowBuilder, instance: ResourceState, context: VerifyContext) -> None:
    relative = instance.attributes.get("output_file")
    if not relative:
        return
    path = context.config_dir / str(relative)
    try:
        text = path.read_text()
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        row.failed("output_file", f"{relative} is missing")
        return
    except (OSError, UnicodeDecodeError) as exc:
        row.failed("output_file", f"cannot read {relative}: {exc}")
        return
    if text != f"{instance.attributes.get('token')}\n":
        row.failed("output_file", f"{relative} does not hold the token in state, on one line")
    elif mode & 0o077:
        row.failed("output_file", f"{relative} has mode {mode:04o}, want 0600")
    else:
        row.passed("output_file", f"{relative} holds it (0600)")
