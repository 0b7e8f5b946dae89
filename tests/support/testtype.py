"""``test_thing``: a small resource type for the engine's tests, registered like any other.

Its "world" is a directory of JSON files (``<config dir>/world/<address>.json``), so tests can
change or delete objects behind meshprov's back and watch refresh find the drift. Arguments:
``value`` (updatable), ``key`` (forces replacement), ``fail`` (apply raises), ``delay`` (seconds
apply sleeps, for interrupt tests), ``parent`` (a reference to another test_thing), ``crash``
(plan raises an unexpected exception holding the prior secret: a bug, for the crash handler),
and, to prove the reporting interface, ``impact`` (a security-impact note) and ``notice`` (an
after-apply action), both reported when set. Exports: ``id`` (known after apply) and ``secret``
(sensitive). ``verify`` checks that each instance's world file still holds its ``id``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from meshprov.lang.numbers import json_dumps, json_number
from meshprov.lang.types import ANY, BOOL, NUMBER, STRING
from meshprov.plan.model import Action, Plan, ResourceChange
from meshprov.resources import register
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
from meshprov.resources.report import (
    CheckRow,
    ImpactItem,
    ImpactNote,
    Notice,
    RowBuilder,
    VerifyContext,
)
from meshprov.resources.schema import Attr, Exported, ResourceSchema
from meshprov.state.model import ResourceState

SCHEMA = ResourceSchema(
    "test_thing",
    attributes=(
        Attr("value", STRING, default=""),
        Attr("key", STRING, default="", forces_replacement=True),
        Attr("fail", BOOL, default=False),
        Attr("delay", NUMBER, default=0),
        Attr("parent", ANY, reference="test_thing"),
        Attr("crash", BOOL, default=False),
        Attr("impact", STRING),
        Attr("notice", STRING),
    ),
    exported=(Exported("id"), Exported("secret", sensitive=True)),
)


def world_file(context: Context, address: str) -> Path:
    safe = address.replace('"', "").replace("[", "_").replace("]", "")
    return context.config_dir / "world" / f"{safe}.json"


class ThingType(ResourceType):
    schema = SCHEMA

    def plan(self, request: PlanRequest) -> PlannedChange:
        if request.config["crash"]:
            secret = (request.prior or {}).get("secret")
            value = request.config["value"]  # a sensitive variable's, in the crash test
            raise RuntimeError(f"a bug planning {request.address} over {secret} with {value}")
        return super().plan(request)

    def apply(self, request: ApplyRequest) -> dict[str, Any]:
        config = request.config
        if config["delay"]:
            time.sleep(float(config["delay"]))  # a number is an int or a Decimal
        if config["fail"]:
            raise ResourceError(f"{request.address} was told to fail")
        attributes = self.planned_arguments(config)
        digest = hashlib.sha256(f"{request.address}/{attributes['key']}".encode()).hexdigest()
        attributes["id"] = digest[:16]
        attributes["secret"] = f"-----BEGIN PRIVATE KEY-----{digest[16:32]}"
        path = world_file(request.context, request.address)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")  # atomic, so a SIGKILL'ed apply leaves no torn object
        tmp.write_text(json_dumps(attributes, sort_keys=True))  # numbers exactly
        tmp.replace(path)
        return attributes

    def delete(self, address: str, prior: dict[str, Any], context: Context) -> None:
        world_file(context, address).unlink(missing_ok=True)

    def refresh(
        self,
        address: str,
        prior: dict[str, Any],
        context: Context,
        prior_private: Mapping[str, str] = NO_PRIVATE,
    ) -> RefreshResult:
        path = world_file(context, address)
        if not path.exists():
            return RefreshResult(None, (f"{path.name} was deleted",))
        current = json.loads(path.read_text(), parse_float=json_number)
        notes = tuple(f"{k} was changed" for k in sorted(current) if current[k] != prior.get(k))
        return RefreshResult(current, notes)

    def impact(self, change: ResourceChange, plan: Plan) -> list[ImpactItem]:
        text = (change.after or {}).get("impact")
        return [ImpactNote(change.address, text)] if isinstance(text, str) and text else []

    def notices(self, change: ResourceChange) -> list[Notice]:
        action = (change.after or {}).get("notice")
        if change.action is Action.DELETE or not isinstance(action, str) or not action:
            return []
        return [Notice(change.address, action, "its notice argument asks for it")]

    def verify(self, instance: ResourceState, context: VerifyContext) -> list[CheckRow]:
        row = RowBuilder("test world", instance.address)
        path = world_file(context.context, instance.address)
        try:
            found = json.loads(path.read_text()).get("id")
        except FileNotFoundError:
            row.failed("world", f"{path.name} is missing")
            return [row.build("")]
        want = instance.attributes.get("id")
        if found == want:
            row.passed("world", f"{path.name} holds id {want}")
        else:
            row.failed("world", f"{path.name} holds id {found}, state says {want}")
        return [row.build(f"{path.name} matches the state")]


register(ThingType())
