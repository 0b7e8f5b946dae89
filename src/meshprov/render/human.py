"""Terraform's human-readable rendering, with "meshprov" where Terraform says "Terraform".

``render_plan`` follows ``internal/command/jsonformat`` (plan.go and computed/renderers): the
drift note, the legend of the symbols in use, one block per change with attributes sorted and
``=`` aligned, unchanged attributes counted instead of shown, the summary line, output changes
and the no-changes messages. Also the apply summary, ``output`` and ``state show`` forms.

Sensitive values are never rendered: an attribute named in ``before_sensitive`` or
``after_sensitive`` (or a sensitive output) shows only as ``(sensitive value)``.

Departure from Terraform, for certificates: in a plan, a multi-line string of 10 lines or more is
shortened to its first and last lines and its PEM ``-----BEGIN/END ...-----`` lines, the rest
counted as ``# (N lines hidden)``. ``state show`` and ``output`` show values in full.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from meshprov.addrs import format_key, parse_instance_address
from meshprov.lang.values import (
    UNKNOWN,
    HclSet,
    Sensitive,
    format_number,
    is_number,
    mark_paths,
)
from meshprov.plan.model import Action, Mode, OutputChange, Plan, ResourceChange
from meshprov.render.redaction import visible
from meshprov.render.security import security_impact, summary_lines

__all__ = [
    "render_apply_summary",
    "render_notices",
    "render_outputs",
    "render_plan",
    "render_resource_state",
    "render_security_impact",
]

# --- styling ---------------------------------------------------------------------------------

_BOLD, _RED, _GREEN, _YELLOW, _CYAN, _GRAY = "1", "31", "32", "33", "36", "90"


class _Style:
    """ANSI styling that is a no-op when color is off."""

    def __init__(self, color: bool):
        self.color = color

    def __call__(self, text: str, *codes: str) -> str:
        if not self.color or not codes or not text:
            return text
        return f"\x1b[{';'.join(codes)}m{text}\x1b[0m"


# --- value rendering for plans and state -----------------------------------------------------

_ABSENT: Any = object()  # an attribute, map key or list element that is not there
_IMPORTANT = ("id", "name", "tags")  # always shown, as Terraform does
_LONG_TEXT = 10  # multi-line strings with at least this many lines are shortened in plans
_CONTEXT_LINES = 3  # unchanged lines kept around a change in a multi-line string diff
_MIN_HIDDEN_LINES = 2
_MAX_CHANGED_LINES = 6  # beyond this, long strings are shown as "old -> new" instead of a diff
_PEM_BOUNDARY = re.compile(r"^-----(BEGIN|END) [A-Z0-9 ]+-----$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_SYMBOLS = {
    Action.CREATE: "  +",
    Action.DELETE: "  -",
    Action.UPDATE: "  ~",
    Action.REPLACE: "-/+",
    Action.REPLACE_CBD: "+/-",
    Action.NOOP: "   ",
}


@dataclass
class _Diff:
    """One rendered value change: its action, its text (from after ``name = ``), warnings."""

    action: Action
    text: str
    warnings: list[str] = field(default_factory=list)


def _quote(text: str) -> str:
    return visible(json.dumps(text, ensure_ascii=False))


def _attr_name(name: str) -> str:
    return name if _IDENTIFIER.match(name) else _quote(name)


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple | HclSet)


def _is_primitive(value: Any) -> bool:
    return not (_is_list(value) or isinstance(value, dict))


def _same(a: Any, b: Any) -> bool:
    """Deep equality with HCL's strictness (``true != 1``); ``UNKNOWN`` equals only itself."""
    if isinstance(a, Sensitive):
        a = a.value
    if isinstance(b, Sensitive):
        b = b.value
    if a is UNKNOWN or b is UNKNOWN:
        return a is b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) or is_number(b):
        return is_number(a) and is_number(b) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if _is_list(a) and _is_list(b):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return False


def _element_key(value: Any) -> str:
    """A hashable identity for list diffs that keeps ``true`` and ``1`` apart."""
    return json.dumps(value, sort_keys=True, default=repr)


def _text_lines(text: str) -> list[str]:
    """The lines a heredoc shows: one final newline is the heredoc's own."""
    return (text[:-1] if text.endswith("\n") else text).split("\n")


def _append_to_first_line(text: str, suffix: str) -> str:
    if not suffix:
        return text
    first, sep, rest = text.partition("\n")
    return first + suffix + sep + rest


class _Renderer:
    """Renders values and diffs Terraform's way; ``symbols=False`` gives ``state show``'s form."""

    def __init__(self, style: _Style, symbols: bool = True, compact: bool = True):
        self.s = style
        self.symbols = symbols
        self.compact = compact
        self.hide_unchanged = symbols

    # -- small pieces

    @staticmethod
    def pad(indent: int) -> str:
        return "    " * indent

    def sym(self, action: Action) -> str:
        """The 3-column action symbol and a space (nothing in ``state show``)."""
        if not self.symbols:
            return ""
        return self.colored_symbol(action) + " "

    def colored_symbol(self, action: Action) -> str:
        s = self.s
        if action is Action.CREATE:
            return "  " + s("+", _GREEN)
        if action is Action.DELETE:
            return "  " + s("-", _RED)
        if action is Action.UPDATE:
            return "  " + s("~", _YELLOW)
        if action is Action.REPLACE:
            return s("-", _RED) + "/" + s("+", _GREEN)
        if action is Action.REPLACE_CBD:
            return s("+", _GREEN) + "/" + s("-", _RED)
        return "   "

    def arrow(self) -> str:
        return self.s("->", _YELLOW)

    def null_suffix(self) -> str:
        return " " + self.s("-> null", _GRAY)

    def forces(self) -> str:
        return " " + self.s("# forces replacement", _RED)

    def unchanged(self, what: str, count: int) -> str:
        plural = "" if count == 1 else "s"
        return self.s(f"# ({count} unchanged {what}{plural} hidden)", _GRAY)

    def line(self, indent: int, action: Action, text: str) -> str:
        return f"{self.pad(indent)}{self.sym(action)}{text}"

    def closing(self, indent: int, bracket: str) -> str:
        return f"{self.pad(indent)}{self.sym(Action.NOOP)}{bracket}"

    # -- whole values

    def value(self, value: Any, indent: int, action: Action) -> str:
        """A whole value; nested elements carry ``action``'s symbol (create, delete or no-op)."""
        if value is UNKNOWN:
            return "(known after apply)"
        if isinstance(value, Sensitive):
            return "(sensitive value)"
        if value is None:
            return self.s("null", _GRAY)
        if isinstance(value, bool):
            return "true" if value else "false"
        if is_number(value):
            return format_number(value)
        if isinstance(value, str):
            if "\n" not in value:
                return _quote(value)
            return self.heredoc([(Action.NOOP, line) for line in self.shorten(value)], indent)
        if _is_list(value):
            if not value:
                return "[]"
            lines = ["["]
            for item in value:
                lines.append(
                    self.line(indent + 1, action, self.value(item, indent + 1, action)) + ","
                )
            lines.append(self.closing(indent, "]"))
            return "\n".join(lines)
        if isinstance(value, dict):
            if not value:
                return "{}"
            width = max(len(_quote(str(k))) for k in value)
            lines = ["{"]
            for key in sorted(value, key=str):
                rendered = self.value(value[key], indent + 1, action)
                lines.append(
                    self.line(indent + 1, action, f"{_quote(str(key)):<{width}} = {rendered}")
                )
            lines.append(self.closing(indent, "}"))
            return "\n".join(lines)
        return _quote(str(value))

    def shorten(self, text: str) -> list[str]:
        """A long multi-line string's first, last and PEM boundary lines; the rest counted."""
        lines = _text_lines(text)
        if not self.compact or len(lines) < _LONG_TEXT:
            return lines
        keep = [
            i == 0 or i == len(lines) - 1 or bool(_PEM_BOUNDARY.match(line.strip()))
            for i, line in enumerate(lines)
        ]
        out: list[str] = []
        i = 0
        while i < len(lines):
            if keep[i]:
                out.append(lines[i])
                i += 1
                continue
            j = i
            while j < len(lines) and not keep[j]:
                j += 1
            if j - i == 1:
                out.append(lines[i])
            else:
                out.append(self.s(f"# ({j - i} lines hidden)", _GRAY))
            i = j
        return out

    def heredoc(self, lines: Sequence[tuple[Action, str]], indent: int) -> str:
        body = [self.line(indent + 1, action, visible(text)) for action, text in lines]
        return "\n".join(["<<-EOT", *body, self.closing(indent, "EOT")])

    # -- diffs

    def diff(
        self,
        before: Any,
        after: Any,
        indent: int,
        before_sensitive: bool = False,
        after_sensitive: bool = False,
        forces: bool = False,
        null_suffix: bool = True,
    ) -> _Diff | None:
        """The change from ``before`` to ``after`` (``_ABSENT`` where missing); None if neither."""
        if before is _ABSENT and after is _ABSENT:
            return None
        if isinstance(before, Sensitive) or isinstance(after, Sensitive):  # inside a block
            before_sensitive = before_sensitive or isinstance(before, Sensitive)
            after_sensitive = after_sensitive or isinstance(after, Sensitive)
        if before_sensitive or after_sensitive:
            result = self._sensitive_diff(
                before, after, indent, before_sensitive, after_sensitive, null_suffix
            )
        else:
            result = self._plain_diff(before, after, indent, null_suffix)
        if forces:
            result.text = _append_to_first_line(result.text, self.forces())
        return result

    def _sensitive_diff(
        self,
        before: Any,
        after: Any,
        indent: int,
        before_sensitive: bool,
        after_sensitive: bool,
        null_suffix: bool,
    ) -> _Diff:
        text = "(sensitive value)"
        if before is _ABSENT:
            return _Diff(Action.CREATE, text)
        if after is _ABSENT:
            return _Diff(Action.DELETE, text + (self.null_suffix() if null_suffix else ""))
        unchanged = _same(before, after)
        action = Action.NOOP if unchanged else Action.UPDATE
        warnings: list[str] = []
        if before_sensitive != after_sensitive:
            action = Action.UPDATE
            first = self.pad(indent) + "  # " + self.s("Warning", _YELLOW) + ": "
            cont = self.pad(indent) + "  # "
            if before_sensitive:
                warning = [
                    first + "this attribute value will no longer be marked as sensitive",
                    cont + "after applying this change.",
                ]
            else:
                warning = [
                    first + "this attribute value will be marked as sensitive and will not",
                    cont + "display in UI output after applying this change.",
                ]
            if unchanged:
                warning[-1] += " The value is unchanged."
            warnings = warning
        return _Diff(action, text, warnings)

    def _plain_diff(self, before: Any, after: Any, indent: int, null_suffix: bool) -> _Diff:
        if after is UNKNOWN:
            if before is _ABSENT or before is None:
                return _Diff(Action.CREATE, "(known after apply)")
            if before is UNKNOWN:
                return _Diff(Action.NOOP, "(known after apply)")
            old = self.value(before, indent, Action.DELETE)
            return _Diff(Action.UPDATE, f"{old} {self.arrow()} (known after apply)")
        if before is _ABSENT:
            return _Diff(Action.CREATE, self.value(after, indent, Action.CREATE))
        if after is _ABSENT:
            suffix = self.null_suffix() if null_suffix else ""
            return _Diff(Action.DELETE, self.value(before, indent, Action.DELETE) + suffix)
        if _same(before, after):
            return _Diff(Action.NOOP, self.value(after, indent, Action.NOOP))
        if _is_list(before) and _is_list(after):
            return self._list_diff(list(before), list(after), indent)
        if isinstance(before, dict) and isinstance(after, dict):
            return self._map_diff(before, after, indent)
        if isinstance(before, str) and isinstance(after, str) and "\n" in before + after:
            return self._text_diff(before, after, indent)
        old = self.value(before, indent, Action.DELETE)
        new = self.value(after, indent, Action.CREATE)
        return _Diff(Action.UPDATE, f"{old} {self.arrow()} {new}")

    def _list_diff(self, before: list, after: list, indent: int) -> _Diff:
        ops: list[tuple[Action, Any]] = []
        matcher = SequenceMatcher(
            None, [_element_key(x) for x in before], [_element_key(x) for x in after], False
        )
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                ops.extend((Action.NOOP, x) for x in after[j1:j2])
            else:
                ops.extend((Action.DELETE, x) for x in before[i1:i2])
                ops.extend((Action.CREATE, x) for x in after[j1:j2])
        context = all(_is_primitive(v) for _, v in ops)

        def element(action: Action, value: Any) -> str:
            rendered = self.value(value, indent + 1, action)
            return self.line(indent + 1, action, rendered) + ","

        lines = ["["]
        waiting: list[Any] = []  # unchanged elements not yet shown
        show_next = False
        for action, value in ops:
            if action is Action.NOOP and not show_next:
                waiting.append(value)
                continue
            show_next = False
            if context:
                if len(waiting) > 1:
                    lines.append(
                        self.line(
                            indent + 1, Action.NOOP, self.unchanged("element", len(waiting) - 1)
                        )
                    )
                if waiting:
                    lines.append(element(Action.NOOP, waiting[-1]))
                waiting = []
                show_next = action is not Action.NOOP
            lines.append(element(action, value))
        if waiting:
            lines.append(
                self.line(indent + 1, Action.NOOP, self.unchanged("element", len(waiting)))
            )
        lines.append(self.closing(indent, "]"))
        return _Diff(Action.UPDATE, "\n".join(lines))

    def _map_diff(self, before: dict, after: dict, indent: int) -> _Diff:
        keys = sorted(set(before) | set(after), key=str)
        width = max(len(_quote(str(k))) for k in keys)
        lines = ["{"]
        hidden = 0
        for key in keys:
            d = self.diff(before.get(key, _ABSENT), after.get(key, _ABSENT), indent + 1)
            assert d is not None
            if d.action is Action.NOOP:
                hidden += 1
                continue
            lines.extend(d.warnings)
            lines.append(self.line(indent + 1, d.action, f"{_quote(str(key)):<{width}} = {d.text}"))
        if hidden:
            lines.append(self.line(indent + 1, Action.NOOP, self.unchanged("element", hidden)))
        lines.append(self.closing(indent, "}"))
        return _Diff(Action.UPDATE, "\n".join(lines))

    def _text_diff(self, before: str, after: str, indent: int) -> _Diff:
        old, new = _text_lines(before), _text_lines(after)
        ops: list[tuple[Action, str]] = []
        for tag, i1, i2, j1, j2 in SequenceMatcher(None, old, new, False).get_opcodes():
            if tag == "equal":
                ops.extend((Action.NOOP, line) for line in new[j1:j2])
            else:
                ops.extend((Action.DELETE, line) for line in old[i1:i2])
                ops.extend((Action.CREATE, line) for line in new[j1:j2])
        changed = sum(action is not Action.NOOP for action, _ in ops)
        long = self.compact and max(len(old), len(new)) >= _LONG_TEXT
        if long and changed > _MAX_CHANGED_LINES:
            old_doc = self.heredoc([(Action.NOOP, t) for t in self.shorten(before)], indent)
            new_doc = self.heredoc([(Action.NOOP, t) for t in self.shorten(after)], indent)
            return _Diff(Action.UPDATE, f"{old_doc} {self.arrow()} {new_doc}")
        return _Diff(Action.UPDATE, self.heredoc(self._with_context(ops), indent))

    def _with_context(self, ops: list[tuple[Action, str]]) -> list[tuple[Action, str]]:
        """Terraform's multi-line diff: runs of unchanged lines collapse, keeping 3 of context."""
        out: list[tuple[Action, str]] = []
        waiting: list[str] = []

        def flush(lead: bool, trail: bool) -> None:
            leading = _CONTEXT_LINES if lead else 0
            trailing = _CONTEXT_LINES if trail else 0
            hidden = len(waiting) - leading - trailing
            if hidden < _MIN_HIDDEN_LINES:
                out.extend((Action.NOOP, t) for t in waiting)
            else:
                out.extend((Action.NOOP, t) for t in waiting[:leading])
                out.append((Action.NOOP, self.unchanged("line", hidden)))
                out.extend((Action.NOOP, t) for t in waiting[len(waiting) - trailing :])
            waiting.clear()

        for action, text in ops:
            if action is Action.NOOP:
                waiting.append(text)
                continue
            if waiting:
                flush(bool(out), True)
            out.append((action, text))
        if waiting:
            flush(True, not out)
        return out

    # -- resource blocks

    def block(
        self,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        before_sensitive: Iterable[str] = (),
        after_sensitive: Iterable[str] = (),
        replace_paths: Iterable[str] = (),
        indent: int = 0,
    ) -> str:
        """A resource's attributes from ``{`` to ``}``, sorted, ``=`` aligned, no-ops counted."""
        bsens, asens = set(before_sensitive), set(after_sensitive)
        # a nested block's sensitive attribute ("store.password") shows as (sensitive value)
        # inside it, the rest of the block in clear
        if before is not None:
            before = mark_paths(before, {n for n in bsens if "." in n})
        if after is not None:
            after = mark_paths(after, {n for n in asens if "." in n})
        forcing = {_top_level(p) for p in replace_paths}
        diffs: dict[str, _Diff] = {}
        for key in sorted(set(before or {}) | set(after or {})):
            old = (before or {}).get(key, _ABSENT)
            new = (after or {}).get(key, _ABSENT)
            d = self.diff(
                _ABSENT if old is None else old,
                _ABSENT if new is None else new,
                indent + 1,
                before_sensitive=key in bsens and old is not None,
                after_sensitive=key in asens and new is not None,
                forces=key in forcing,
            )
            if d is not None:
                diffs[key] = d
        if not diffs:
            return "{}"
        width = max(len(_attr_name(k)) for k in diffs)
        lines = ["{"]
        hidden = 0
        for key, d in diffs.items():
            if d.action is Action.NOOP and self.hide_unchanged and key not in _IMPORTANT:
                hidden += 1
                continue
            lines.extend(d.warnings)
            lines.append(self.line(indent + 1, d.action, f"{_attr_name(key):<{width}} = {d.text}"))
        if hidden:
            lines.append(self.line(indent + 1, Action.NOOP, self.unchanged("attribute", hidden)))
        lines.append(self.closing(indent, "}"))
        return "\n".join(lines)


def _top_level(path: str) -> str:
    """``tags["a"]`` and ``tags.a`` force replacement through their attribute ``tags``."""
    return re.split(r"[.\[]", path, maxsplit=1)[0]


# --- plan ------------------------------------------------------------------------------------

_LEGEND = {
    Action.CREATE: "create",
    Action.UPDATE: "update in-place",
    Action.DELETE: "destroy",
    Action.REPLACE: "destroy and then create replacement",
    Action.REPLACE_CBD: "create replacement and then destroy",
}
_REPLACE_HEADERS = {
    "replace_because_tainted": "is tainted, so must be {replaced}",
    "replace_by_request": "will be {replaced}, as requested",
    "replace_by_triggers": "will be {replaced} due to changes in replace_triggered_by",
}
_EXTRA_REASONS = {
    "replace_because_expiring": "because it is within renew_before of expiry",
    "update_because_ca_replaced": "because its CA is being replaced",
    "update_because_key_replaced": "because its signing key is being replaced",
}
_RULE = "─" * 77


def render_plan(plan: Plan, color: bool) -> str:
    """The plan as ``meshprov plan`` prints it; ANSI colors only when ``color``."""
    s = _Style(color)
    r = _Renderer(s)
    changes = [] if plan.mode is Mode.REFRESH_ONLY else plan.resource_changes
    moves = [c for c in plan.moves if c.action is Action.NOOP]  # moved, nothing else
    outputs = [o for o in plan.output_changes if o.action is not Action.NOOP]
    sections: list[str] = []

    show_drift = bool(plan.drift) and (
        plan.mode is Mode.REFRESH_ONLY or bool(changes) or bool(outputs)
    )
    if show_drift:
        sections.append(
            s("Note:", _BOLD, _CYAN) + s(" Objects have changed outside of meshprov", _BOLD)
        )
        sections.append(
            "meshprov detected the following changes made outside of meshprov since the last "
            '"meshprov apply" which may have affected this plan:'
        )
        sections.extend(_render_change(r, c, drift=True) for c in plan.drift)
        if plan.mode is Mode.REFRESH_ONLY:
            sections.append(
                "This is a refresh-only plan, so meshprov will not take any actions to undo "
                "these. If you were expecting these changes then you can apply this plan to "
                "record the updated values in the meshprov state without changing any remote "
                "objects."
            )
        else:
            sections.append(
                "Unless you have made equivalent changes to your configuration, or ignored the "
                "relevant attributes using ignore_changes, the following plan may include "
                "actions to undo or respond to these changes."
            )

    if not changes and not outputs and not moves:
        if not show_drift:
            sections.extend(_no_changes(s, plan.mode))
        return "\n\n".join(sections) + "\n"

    if show_drift:
        sections.append(s(_RULE, _GRAY))

    if moves and not changes:
        sections.append("meshprov will perform the following actions:")
    sections.extend(
        s(f"  # {c.previous_address}", _BOLD) + s(f" has moved to {c.address}", _BOLD)
        for c in moves
    )
    if moves and not changes:
        sections.append(s("Plan:", _BOLD) + plan.summary_line().removeprefix("Plan:"))

    if changes:
        present = {c.action for c in changes}
        legend = [
            "meshprov used the selected providers to generate the following execution plan. "
            "Resource actions are indicated with the following symbols:"
        ]
        legend += [f"{r.colored_symbol(a)} {text}" for a, text in _LEGEND.items() if a in present]
        sections.append("\n".join(legend))
        if plan.errored:
            sections.append(
                "meshprov planned the following actions, but then encountered a problem:"
            )
        else:
            sections.append("meshprov will perform the following actions:")
        sections.extend(_render_change(r, c, drift=False) for c in changes)
        sections.append(s("Plan:", _BOLD) + plan.summary_line().removeprefix("Plan:"))

    if outputs:
        sections.append(s("Changes to Outputs:", _BOLD) + "\n" + _render_output_changes(r, outputs))
        if not changes:
            sections.append(
                "You can apply this plan to save these new output values to the meshprov state, "
                "without changing any real infrastructure."
            )
    return "\n\n".join(sections) + "\n"


def _no_changes(s: _Style, mode: Mode) -> list[str]:
    lead = s("No changes.", _BOLD, _GREEN)
    if mode is Mode.REFRESH_ONLY:
        return [
            lead + s(" Your infrastructure still matches the configuration.", _BOLD),
            "meshprov has checked that the real remote objects still match the result of your "
            "most recent changes, and found no differences.",
        ]
    if mode is Mode.DESTROY:
        return [
            lead + s(" No objects need to be destroyed.", _BOLD),
            "Either you have not created any objects yet or the existing objects were already "
            "deleted outside of meshprov.",
        ]
    return [
        lead + s(" Your infrastructure matches the configuration.", _BOLD),
        "meshprov has compared your real infrastructure against your configuration and found no "
        "differences, so no changes are needed.",
    ]


def _render_change(r: _Renderer, change: ResourceChange, drift: bool) -> str:
    """``  # ADDR will be ...``, reason and note lines, then the resource block."""
    lines = [_header(r.s, change, drift)]
    reason = _reason_line(change)
    if reason and not drift:
        lines.append(f"  # ({reason})")
    if change.previous_address is not None and not drift:
        lines.append(f"  # (moved from {change.previous_address})")
    lines.extend(f"  # ({note})" for note in change.notes)
    body = r.block(
        change.before,
        change.after,
        change.before_sensitive,
        change.after_sensitive,
        change.replace_paths,
    )
    lines.append(
        f'{r.colored_symbol(change.action)} resource "{change.type}" "{change.name}" {body}'
    )
    return "\n".join(lines)


def _header(s: _Style, change: ResourceChange, drift: bool) -> str:
    address = s(f"  # {change.address}", _BOLD)
    action = change.action
    if drift:
        return address + (" has been deleted" if action is Action.DELETE else " has changed")
    if action is Action.CREATE:
        return address + " will be created"
    if action is Action.UPDATE:
        return address + " will be updated in-place"
    if action is Action.DELETE:
        return address + " will be " + s("destroyed", _BOLD, _RED)
    template = _REPLACE_HEADERS.get(change.reason or "", "must be {replaced}")
    return address + " " + template.format(replaced=s("replaced", _BOLD, _RED))


def _reason_line(change: ResourceChange) -> str | None:
    """The ``(because ...)`` note under the header, for the reasons that have one."""
    reason = change.reason or ""
    if reason in _EXTRA_REASONS:
        return _EXTRA_REASONS[reason]
    if change.action is not Action.DELETE:
        return None
    if reason == "delete_because_no_resource_config":
        return f"because {_resource_address(change)} is not in configuration"
    if reason == "delete_because_no_module":
        return f"because {change.module} is not in configuration"
    if reason == "delete_because_count_index":
        return f"because index {format_key(change.index)} is out of range for count"
    if reason == "delete_because_each_key":
        return f"because key {format_key(change.index)} is not in for_each map"
    if reason == "delete_because_wrong_repetition":
        if change.index is None:
            return "because resource uses count or for_each"
        if isinstance(change.index, int):
            return "because resource does not use count"
        return "because resource does not use for_each"
    return None


def _resource_address(change: ResourceChange) -> str:
    own = f"{change.type}.{change.name}"
    return f"{change.module}.{own}" if change.module else own


def _render_output_changes(r: _Renderer, outputs: Sequence[OutputChange]) -> str:
    width = max(len(_attr_name(o.name)) for o in outputs)
    lines = []
    for o in sorted(outputs, key=lambda o: o.name):
        # a saved plan holds no sensitive value: there, None stands for a hidden one
        kept = o.sensitive
        d = r.diff(
            _ABSENT if o.action is Action.CREATE or (o.before is None and not kept) else o.before,
            _ABSENT if o.action is Action.DELETE or (o.after is None and not kept) else o.after,
            0,
            before_sensitive=o.sensitive,
            after_sensitive=o.sensitive,
        )
        text = d.text if d is not None else r.value(None, 0, Action.NOOP)
        lines.append(f"{r.sym(o.action)}{_attr_name(o.name):<{width}} = {text}")
    return "\n".join(lines)


def render_security_impact(plan: Plan, color: bool) -> str:
    """The ``Security impact:`` block that ends a plan, or '' when there is nothing to say.

    The same facts as the Markdown comment's section (``render/security.py``), in a few lines.
    """
    if plan.mode is Mode.REFRESH_ONLY:
        return ""
    lines = summary_lines(security_impact(plan))
    if not lines:
        return ""
    s = _Style(color)
    body = "\n".join(
        "  " + (s(line, _YELLOW) if line.startswith("warning:") else line) for line in lines
    )
    return s("Security impact:", _BOLD) + "\n" + body + "\n"


def render_notices(plan: Plan, color: bool) -> str:
    """The ``After apply:`` block (SPEC §4.1) that ends a plan and an apply, or ''."""
    from meshprov.render.notices import grouped, plan_notices
    from meshprov.render.security import listing

    groups = grouped(plan_notices(plan))
    if not groups:
        return ""
    s = _Style(color)
    body = "".join(
        f"  {listing(group.addresses)}: {group.action} ({group.reason})\n" for group in groups
    )
    return s("After apply:", _BOLD) + "\n" + body


# --- apply summary, outputs, state show -------------------------------------------------------


def render_apply_summary(added: int, changed: int, destroyed: int, destroy_mode: bool) -> str:
    """Terraform's last line after apply (or destroy)."""
    if destroy_mode:
        return f"Destroy complete! Resources: {destroyed} destroyed."
    return f"Apply complete! Resources: {added} added, {changed} changed, {destroyed} destroyed."


def render_outputs(outputs: dict[str, dict], bare: bool = False) -> str:
    """``Outputs:`` and ``name = value`` lines, as after apply and in ``meshprov output``.

    Each entry is ``{"value": ..., "sensitive": bool}`` as in the state. Empty input gives ''.
    ``bare``: only the values, one a line (``meshprov output NAME``).
    """
    if not outputs:
        return ""
    if bare:
        return "".join(
            ("<sensitive>" if out.get("sensitive") else _hcl_value(out.get("value"), 0)) + "\n"
            for _, out in sorted(outputs.items())
        )
    lines = ["Outputs:", ""]
    for name in sorted(outputs):
        out = outputs[name]
        value = "<sensitive>" if out.get("sensitive") else _hcl_value(out.get("value"), 0)
        lines.append(f"{name} = {value}")
    return "\n".join(lines) + "\n"


def _hcl_value(value: Any, indent: int) -> str:
    """A value in the syntax of ``terraform output`` (``repl.FormatValue``): 2-space indents."""
    if value is UNKNOWN:
        return "(known after apply)"
    if isinstance(value, Sensitive):
        return "(sensitive value)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return format_number(value)
    if isinstance(value, str):
        if "\n" not in value:
            return _quote(value)
        lines = _text_lines(value)
        delimiter = "EOT"
        while any(line.strip() == delimiter for line in lines):
            delimiter += "_"
        pad = " " * indent
        operator = "<<-" if indent else "<<"
        body = "".join(f"\n{pad}{visible(line)}" for line in lines)
        return f"{operator}{delimiter}{body}\n{pad}{delimiter}"
    inner = " " * (indent + 2)
    if _is_list(value):
        if not value:
            return "[]"
        items = "".join(f"\n{inner}{_hcl_value(v, indent + 2)}," for v in value)
        return f"[{items}\n{' ' * indent}]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = "".join(
            f"\n{inner}{_quote(str(k))} = {_hcl_value(value[k], indent + 2)}"
            for k in sorted(value, key=str)
        )
        return f"{{{items}\n{' ' * indent}}}"
    return _quote(str(value))


def render_resource_state(
    address: str, type: str, attributes: dict[str, Any], sensitive: list[str]
) -> str:
    """``meshprov state show ADDR``: the instance as HCL-like text, secrets hidden."""
    try:
        name = parse_instance_address(address).name
    except ValueError:
        name = re.sub(r"\[.*\]$", "", address).rsplit(".", 1)[-1]
    r = _Renderer(_Style(False), symbols=False, compact=False)
    body = r.block(attributes, attributes, sensitive, sensitive)
    return f'# {address}:\nresource "{type}" "{name}" {body}\n'
