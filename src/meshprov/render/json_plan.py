"""Terraform's JSON plan (``show -json``, format_version 1.2) for ``plan --json`` / ``show --json``.

The shape follows ``internal/command/jsonplan`` so tools that read Terraform plans (policy
checks, cost and diff viewers, ``terraform-json``) read meshprov's unchanged: ``resource_changes``
with Terraform's ``actions`` arrays and ``action_reason`` values, ``resource_drift``,
``output_changes``, ``planned_values``, ``prior_state``, ``variables`` and the ``errored`` /
``applyable`` / ``complete`` flags. ``provider_name`` is ``meshprov``; ``meshprov_version``
stands where Terraform writes ``terraform_version``.

One departure, on purpose: Terraform writes sensitive values in clear and leaves masking to the
reader. meshprov replaces every sensitive value by ``null`` (the ``*_sensitive`` masks still say
which), so a plan's JSON never holds a private key. ``plan.schema.json`` next to this file is the
JSON Schema of the document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from meshprov import __version__
from meshprov.addrs import InstanceAddress, InstanceKey, format_module_path
from meshprov.lang.numbers import json_dumps
from meshprov.lang.values import HclSet, Sensitive, Unknown, is_number
from meshprov.plan.encoding import redact, sensitive_mask, split_unknown
from meshprov.plan.model import Action, Mode, OutputChange, Plan, ResourceChange
from meshprov.render.notices import plan_notices
from meshprov.render.security import security_impact, warning_texts
from meshprov.state import State

FORMAT_VERSION = "1.2"
STATE_FORMAT_VERSION = "1.0"
PROVIDER_NAME = "meshprov"
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_PATH_STEP = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def render_plan_json(plan: Plan, sensitive_variables: Iterable[str] = ()) -> str:
    """The JSON document on one line, as ``terraform show -json`` prints it."""
    return json_dumps(plan_json(plan, sensitive_variables), separators=(",", ":")) + "\n"


def render_state_json(state: State) -> str:
    """``show --json`` without a plan: the state representation (``values`` when not empty)."""
    return json_dumps(state_json(state), separators=(",", ":")) + "\n"


def plan_json(plan: Plan, sensitive_variables: Iterable[str] = ()) -> dict[str, Any]:
    hidden = set(sensitive_variables)
    given = {**plan.variables, **plan.root_variables}  # root_variables: every one, final
    variables = {
        name: {"value": None if name in hidden else _plain(value)}
        for name, value in sorted(given.items())
    }
    variables.update({name: {"value": None} for name in sorted(hidden)})
    doc: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "meshprov_version": __version__,
    }
    if variables:
        doc["variables"] = dict(sorted(variables.items()))
    doc["planned_values"] = _planned_values(plan)
    if plan.drift:
        doc["resource_drift"] = [resource_change_json(c) for c in plan.drift]
    doc["resource_changes"] = [resource_change_json(c) for c in plan.changes]
    doc["output_changes"] = {o.name: _output_change(o) for o in plan.output_changes}
    if plan.prior_state.resources or plan.prior_state.outputs:
        doc["prior_state"] = state_json(plan.prior_state)
    doc["timestamp"] = plan.timestamp
    doc["applyable"] = plan.applyable
    doc["complete"] = not plan.errored and not plan.targets
    doc["errored"] = plan.errored
    doc["meshprov_warnings"] = (
        [] if plan.mode is Mode.REFRESH_ONLY else warning_texts(security_impact(plan))
    )
    doc["meshprov_notices"] = [notice.to_json() for notice in plan_notices(plan)]
    return _scrub(doc)


def state_json(state: State) -> dict[str, Any]:
    """Terraform's state representation: ``{format_version, values: {outputs, root_module}}``."""
    doc: dict[str, Any] = {
        "format_version": STATE_FORMAT_VERSION,
        "meshprov_version": __version__,
    }
    if not state.resources and not state.outputs:
        return doc
    values: dict[str, Any] = {}
    if state.outputs:
        values["outputs"] = {
            name: {
                "sensitive": bool(out.get("sensitive")),
                "value": None if out.get("sensitive") else _plain(out.get("value")),
            }
            for name, out in sorted(state.outputs.items())
        }
    resources = [
        (
            rs.instance,
            _resource_values(
                rs.address, rs.type, rs.name, rs.index, rs.attributes, rs.sensitive_attributes
            ),
        )
        for rs in sorted(state.resources.values(), key=lambda r: r.sort_key())
    ]
    values["root_module"] = _module_tree(resources)
    doc["values"] = values
    return _scrub(doc)


# --- resource changes ------------------------------------------------------------------------


def resource_change_json(change: ResourceChange) -> dict[str, Any]:
    """One ``resource_changes[]`` (or ``resource_drift[]``) entry."""
    out: dict[str, Any] = {"address": change.address}
    if change.previous_address is not None:
        out["previous_address"] = change.previous_address
    if change.module:
        out["module_address"] = change.module
    out.update(mode="managed", type=change.type, name=change.name)
    if change.index is not None:
        out["index"] = change.index
    out["provider_name"] = PROVIDER_NAME
    out["change"] = _change(change)
    reason = _action_reason(change)
    if reason:
        out["action_reason"] = reason
    return out


def _change(change: ResourceChange) -> dict[str, Any]:
    before = _plain(redact(change.before, change.before_sensitive))
    after_raw = change.after if change.action is not Action.DELETE else None
    # unknown first: a key to be generated is "known after apply" and sensitive at once
    after_known, after_unknown = split_unknown(after_raw)
    after = _plain(redact(after_known, change.after_sensitive))
    out: dict[str, Any] = {
        "actions": change.action.actions,
        "before": before,
        "after": after,
        "after_unknown": after_unknown if after_unknown is not False else {},
        "before_sensitive": (
            sensitive_mask(change.before, change.before_sensitive)
            if change.before is not None
            else False
        ),
        "after_sensitive": (
            sensitive_mask(after_raw, change.after_sensitive) if after_raw is not None else False
        ),
    }
    if change.action.is_replace and change.replace_paths:
        out["replace_paths"] = [path_steps(p) for p in change.replace_paths]
    return out


def _action_reason(change: ResourceChange) -> str | None:
    if change.action is Action.NOOP:
        return None
    if change.reason:
        return change.reason
    if change.action.is_replace:
        return "replace_because_cannot_update"
    return None


def path_steps(path: str) -> list[str | int]:
    """``tags["a"]`` → ``["tags", "a"]``, ``addresses[0]`` → ``["addresses", 0]``."""
    steps: list[str | int] = []
    pos = 0
    while pos < len(path):
        m = _PATH_STEP.match(path, pos)
        if m is None:  # not a path we can split: keep it whole
            return [path]
        name, number, quoted = m.groups()
        steps.append(name if name is not None else int(number) if number else json.loads(quoted))
        pos = m.end()
    return steps


def _output_change(change: OutputChange) -> dict[str, Any]:
    hide = change.sensitive
    before = None if hide or change.action is Action.CREATE else _plain(change.before)
    after_raw = None if change.action is Action.DELETE else change.after
    after_known, after_unknown = split_unknown(after_raw)
    return {
        "actions": change.action.actions,
        "before": before,
        "after": None if hide else _plain(after_known),
        "after_unknown": after_unknown,
        "before_sensitive": hide,
        "after_sensitive": hide,
    }


# --- values representations -----------------------------------------------------------------


def _planned_values(plan: Plan) -> dict[str, Any]:
    outputs = {}
    for o in plan.output_changes:
        if o.action is Action.DELETE:
            continue
        entry: dict[str, Any] = {"sensitive": o.sensitive}
        if o.sensitive:
            entry["value"] = None
        elif not isinstance(o.after, Unknown):
            entry["value"] = _plain(_omit_unknown(o.after))
        outputs[o.name] = entry
    resources: list[tuple[InstanceAddress, dict[str, Any]]] = []
    for change in plan.changes:
        if change.action is Action.DELETE or change.after is None:
            continue
        resources.append(
            (
                change.instance,
                _resource_values(
                    change.address,
                    change.type,
                    change.name,
                    change.index,
                    change.after,
                    change.after_sensitive,
                ),
            )
        )
    values: dict[str, Any] = {}
    if outputs:
        values["outputs"] = outputs
    values["root_module"] = _module_tree(resources)
    return values


def _resource_values(
    address: str,
    rtype: str,
    name: str,
    index: InstanceKey,
    attributes: dict[str, Any],
    sensitive: Iterable[str],
) -> dict[str, Any]:
    out: dict[str, Any] = {"address": address, "mode": "managed", "type": rtype, "name": name}
    if index is not None:
        out["index"] = index
    out["provider_name"] = PROVIDER_NAME
    out["schema_version"] = 0
    hidden = set(sensitive)
    values = {
        k: _plain(_omit_unknown(v))
        for k, v in (redact(attributes, hidden) or {}).items()
        if not isinstance(v, Unknown)
    }
    out["values"] = values
    out["sensitive_values"] = sensitive_mask(attributes, hidden)
    return out


def _module_tree(resources: list[tuple[InstanceAddress, dict[str, Any]]]) -> dict[str, Any]:
    """``root_module`` with ``child_modules`` nested by module instance path."""
    root: dict[str, Any] = {"resources": [], "children": {}}
    for instance, resource in resources:
        node = root
        path = instance.module
        for depth in range(1, len(path) + 1):
            address = format_module_path(path[:depth])
            node = node["children"].setdefault(
                address, {"address": address, "resources": [], "children": {}}
            )
        node["resources"].append(resource)

    def finish(node: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in node.items() if k not in ("children", "resources")}
        if node["resources"]:
            out["resources"] = sorted(node["resources"], key=lambda r: r["address"])
        if node["children"]:
            out["child_modules"] = [finish(node["children"][k]) for k in sorted(node["children"])]
        return out

    return finish(root)


def _omit_unknown(value: Any) -> Any:
    """A value with unknown map entries left out (and unknown list elements as null)."""
    if isinstance(value, dict):
        return {k: _omit_unknown(v) for k, v in value.items() if not isinstance(v, Unknown)}
    if isinstance(value, list | tuple | HclSet):
        return [None if isinstance(v, Unknown) else _omit_unknown(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """JSON-ready: sets and tuples as lists, keys as strings, sensitive wrappers as null."""
    if isinstance(value, Sensitive):
        return None
    if isinstance(value, Unknown):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | HclSet | set | frozenset):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | str) or is_number(value):
        return value
    return str(value)


def _scrub(value: Any) -> Any:
    """Belt and braces: any string that holds a private key becomes null."""
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str) and _PRIVATE_KEY.search(value):
        return None
    return value
