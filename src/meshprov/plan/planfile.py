"""Saved plans (``plan --out FILE``): everything ``apply FILE`` needs, and no secret.

A plan file records the prior state's lineage and serial and a digest of the configuration and
variables, so ``apply`` can refuse a stale plan. Sensitive attribute values (private keys) and
sensitive variables are left out; ``apply`` takes them from the state, which must be the very
state the plan was made from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meshprov import __version__
from meshprov.addrs import parse_instance_address
from meshprov.diagnostics import DiagnosticError
from meshprov.files import write_atomic
from meshprov.lang.numbers import json_dumps, json_number
from meshprov.plan.encoding import join_unknown, redact, restore, split_unknown
from meshprov.plan.model import Action, ActionReason, Mode, OutputChange, Plan, ResourceChange
from meshprov.state import ResourceState, State, StateEncryption, StateError
from meshprov.state.encryption import CONTENT_PLAN, decode, encode, is_envelope

# A plan file's encryption: the configuration's, or a function giving it (called only when the
# file turns out to be encrypted, so plaintext plans need no passphrase).
PlanEncryption = StateEncryption | Callable[[], StateEncryption | None] | None

FORMAT = "meshprov-plan"
VERSION = 1


def write_plan(
    plan: Plan,
    path: Path,
    sensitive_variables: set[str],
    encryption: StateEncryption | None = None,
) -> None:
    """Write the plan file (0600), sealed when state encryption is configured."""
    data = encode(dumps_plan(plan, sensitive_variables), CONTENT_PLAN, encryption)
    try:
        write_atomic(path, data, 0o600)
    except OSError as exc:
        raise DiagnosticError.single(
            "Failed to write plan file", f"{path}: {exc.strerror or exc}"
        ) from None


def dumps_plan(plan: Plan, sensitive_variables: set[str]) -> bytes:
    prior = plan.prior_state
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "meshprov_version": __version__,
        "mode": plan.mode.value,
        "timestamp": plan.timestamp,
        "prior_lineage": plan.prior_lineage,
        "prior_serial": plan.prior_serial,
        "config_digest": plan.config_digest,
        "targets": list(plan.targets),
        "replace": list(plan.replace),
        "variables": {k: v for k, v in plan.variables.items() if k not in sensitive_variables},
        "root_variables": plan.root_variables,
        "changes": [_change_json(c) for c in plan.changes],
        "drift": [_change_json(c) for c in plan.drift],
        "output_changes": [_output_json(o) for o in plan.output_changes],
        "prior_state": {
            "outputs": {
                k: ({**v, "value": None} if v.get("sensitive") else v)
                for k, v in prior.outputs.items()
            },
            "resources": [
                {
                    **_without_private(rs),
                    "attributes": redact(rs.attributes, rs.sensitive_attributes),
                }
                for rs in prior.resources.values()
            ],
        },
    }
    return (json_dumps(doc, indent=2, sort_keys=True, default=_default) + "\n").encode()


def _without_private(rs: ResourceState) -> dict[str, Any]:
    """A state entry without what its type keeps private (digests of what apply wrote, keys
    included): a plan file needs none of it, apply reads the state again."""
    doc = rs.to_json()
    doc.pop("private", None)
    return doc


def _default(value: Any) -> Any:
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} in a plan file")


def _change_json(change: ResourceChange) -> dict:
    # unknown first: a key to be generated is both "known after apply" and sensitive
    known, after_unknown = split_unknown(change.after)
    after = redact(known, change.after_sensitive)
    return {
        "address": change.address,
        "module": change.module,
        "type": change.type,
        "name": change.name,
        "index": change.index,
        "action": change.action.value,
        "before": redact(change.before, change.before_sensitive),
        "after": after,
        "after_unknown": after_unknown,
        "before_sensitive": sorted(change.before_sensitive),
        "after_sensitive": sorted(change.after_sensitive),
        "replace_paths": list(change.replace_paths),
        "reason": change.reason,
        "dependencies": list(change.dependencies),
        "notes": list(change.notes),
        "previous_address": change.previous_address,
    }


def _output_json(change: OutputChange) -> dict:
    after, after_unknown = split_unknown(None if change.sensitive else change.after)
    return {
        "name": change.name,
        "action": change.action.value,
        "before": None if change.sensitive else change.before,
        "after": after,
        "after_unknown": after_unknown,
        "sensitive": change.sensitive,
    }


def load_plan_document(path: Path, encryption: PlanEncryption = None) -> dict:
    """Read and check a plan file's envelope; the document is trusted only after this."""
    try:
        data = path.read_bytes()
        if callable(encryption) and not isinstance(encryption, StateEncryption):
            encryption = encryption() if is_envelope(data) else None
        data, _ = decode(data, CONTENT_PLAN, str(path), encryption)
        doc = json.loads(data, parse_float=json_number)
    except StateError as exc:
        raise DiagnosticError.single("Failed to read plan file", str(exc)) from None
    except IsADirectoryError:
        raise DiagnosticError.single(
            "Failed to read plan file", f"{path} is a directory, not a plan file."
        ) from None
    except OSError as exc:
        raise DiagnosticError.single(
            "Failed to read plan file", f"{path}: {exc.strerror or exc}."
        ) from None
    except (ValueError, RecursionError):  # not JSON, not UTF-8: the bytes are not worth quoting
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DiagnosticError.single(
            "Failed to read plan file",
            f"{path} is not a meshprov plan file (one that `meshprov plan --out` wrote); it may "
            "be truncated or another file.",
        )
    if doc.get("version") != VERSION:
        raise DiagnosticError.single(
            "Failed to read plan file",
            f"{path} has plan format version {doc.get('version')}; this meshprov "
            f"({__version__}) reads version {VERSION}.",
        )
    # what is read before the plan itself (plan_from_document checks that)
    serial, lineage = doc.get("prior_serial"), doc.get("prior_lineage")
    if (
        isinstance(serial, bool)
        or not isinstance(serial, int)
        or not isinstance(lineage, str)
        or not isinstance(doc.get("variables"), dict)
    ):
        raise _damaged(path, "its prior_serial, prior_lineage or variables are")
    return doc


def _damaged(path: Path, what: str) -> DiagnosticError:
    return DiagnosticError.single(
        "Failed to read plan file",
        f"{path} was changed or damaged after `meshprov plan --out` wrote it ({what} missing "
        "or not what meshprov writes). Make a new plan.",
    )


def read_plan(
    path: Path, current: State, config_dir: Path, encryption: PlanEncryption = None
) -> Plan:
    """Load a saved plan, to apply in ``config_dir``; refuse one made from another state or an
    older serial of this one."""
    doc = load_plan_document(path, encryption)
    # A plan made before any state was written (serial 0) has a lineage nobody kept, as
    # Terraform's first plan has none: only the serial can tell whether it is stale.
    first_plan = doc["prior_serial"] == 0
    if doc["prior_lineage"] != current.lineage and not first_plan:
        raise DiagnosticError.single(
            "Saved plan does not match the given state",
            "The given plan file can not be applied because it was created from a different "
            "state lineage.",
        )
    if doc["prior_serial"] != current.serial:
        raise DiagnosticError.single(
            "Saved plan is stale",
            "The given plan file can no longer be applied because the state was changed by "
            "another operation after the plan was created.",
        )
    return plan_from_document(doc, current, path, config_dir)


def plan_from_document(doc: dict, current: State | None, path: Path, config_dir: Path) -> Plan:
    """The plan a document (of the file at ``path``) describes, shown or applied in
    ``config_dir``; secrets come back from ``current`` when given. A document that does not
    decode is a diagnostic, not a crash."""
    try:
        return _plan(doc, current, config_dir)
    except KeyError as exc:
        raise _damaged(path, f"its field {exc.args[0]!r} is") from None
    except (TypeError, ValueError, AttributeError, StateError):
        raise _damaged(path, "a field is") from None


def _plan(doc: dict, current: State | None, config_dir: Path) -> Plan:
    current = current or State(lineage=doc["prior_lineage"], serial=doc["prior_serial"])
    prior = _prior_state(doc["prior_state"], current)
    changes = tuple(_change(c, current) for c in doc["changes"])
    return Plan(
        mode=Mode(doc["mode"]),
        changes=changes,
        drift=tuple(_change(c, current) for c in doc["drift"]),
        output_changes=tuple(_output(o) for o in doc["output_changes"]),
        prior_state=prior,
        prior_lineage=current.lineage,
        prior_serial=doc["prior_serial"],
        config_digest=doc["config_digest"],
        variables=doc["variables"],
        root_variables=doc.get("root_variables", {}),
        timestamp=doc["timestamp"],
        config_dir=config_dir,
        targets=tuple(doc["targets"]),
        replace=tuple(doc["replace"]),
    )


def _prior_state(doc: dict, current: State) -> State:
    resources = {}
    for item in doc["resources"]:
        rs = ResourceState.from_json(item, "plan file")
        live = current.resources.get(rs.address)
        rs.attributes = restore(
            rs.attributes, rs.sensitive_attributes, live.attributes if live else None
        )
        resources[rs.address] = rs
    outputs = {
        k: (current.outputs.get(k, v) if v.get("sensitive") else v)
        for k, v in doc["outputs"].items()
    }
    return State(
        lineage=current.lineage, serial=current.serial, outputs=outputs, resources=resources
    )


def _change(doc: dict, current: State) -> ResourceChange:
    parse_instance_address(doc["address"])  # ValueError: the plan is damaged
    live = current.resources.get(doc["address"])
    return ResourceChange(
        address=doc["address"],
        module=doc["module"],
        type=doc["type"],
        name=doc["name"],
        index=doc["index"],
        action=Action(doc["action"]),
        before=restore(doc["before"], doc["before_sensitive"], live.attributes if live else None),
        after=join_unknown(doc["after"], doc["after_unknown"]),
        before_sensitive=frozenset(doc["before_sensitive"]),
        after_sensitive=frozenset(doc["after_sensitive"]),
        replace_paths=tuple(doc["replace_paths"]),
        reason=ActionReason(doc["reason"]) if doc["reason"] else None,
        dependencies=tuple(doc["dependencies"]),
        notes=tuple(doc["notes"]),
        previous_address=doc.get("previous_address"),
    )


def _output(doc: dict) -> OutputChange:
    return OutputChange(
        name=doc["name"],
        action=Action(doc["action"]),
        before=doc["before"],
        after=join_unknown(doc["after"], doc["after_unknown"]),
        sensitive=doc["sensitive"],
    )
