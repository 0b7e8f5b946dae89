"""The pull-request comment of a plan (``plan --markdown FILE``, ``show --markdown``).

Modelled on what Atlantis, tfcmt and setup-terraform post, and on what their users ask for:

* a hidden marker line first, ``<!-- meshprov-plan: DIR -->``, so CI finds and updates its own
  earlier comment for the configuration instead of adding another;
* the summary line (``Plan: A to add, C to change, D to destroy.``) in the title, never folded;
* a warning banner when anything is destroyed or replaced, and replacements counted apart;
* a **Security impact** section (``render/security.py``): firewall sources per port with zone
  names, certificates issued or reissued and why, CAs created or replaced, warnings;
* an **After apply** section (``render/notices.py``): restarts and upgrades the change needs;
* the addresses per action; a Mermaid picture of the changed part of the topology;
* then the plan itself inside ``<details>`` in a ```` ```diff ```` fence, its ``+``/``-``/``~``
  markers moved to column 0 (``~`` as ``!``) so GitHub colours them.

GitHub refuses comments over 65,536 characters. Everything above the fold is bounded (long
lists end in "and N more", big topologies are drawn per resource rather than per instance), and
when the whole is still too long the plan body is cut in the middle, with a note saying so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from meshprov import __version__
from meshprov.addrs import parse_instance_address
from meshprov.plan.model import Action, Mode, Plan, ResourceChange
from meshprov.render.graph import COLOURS, LEGEND, action_class, mermaid_classes, mermaid_escape
from meshprov.render.human import render_plan
from meshprov.render.notices import grouped, plan_notices
from meshprov.render.security import SecurityImpact, plural, security_impact
from meshprov.resources import SCHEMAS, TYPES
from meshprov.resources.base import ResourceType

COMMENT_LIMIT = 65_536  # GitHub's maximum comment length, in characters
MARKER_PREFIX = "<!-- meshprov-plan: "
LIST_LIMIT = 30  # addresses listed per action before "and N more"
SECURITY_LIST_LIMIT = 20  # sources or certificates listed per line
CA_LIMIT = 30
WARNING_LIMIT = 30
NOTICE_LIMIT = 30  # groups of after-apply notices (each names at most a few addresses)
DRIFT_LIMIT = 20
MAX_DIAGRAM_NODES = 40  # beyond this the diagram shows resources, not instances
_MIN_BODY = 2_000  # room kept for the plan body before optional sections are dropped
_SYMBOL = re.compile(r"^(\s*)(-/\+|\+/-|[-+~])(?= |$)")
_ACTION_TITLES = (
    ("create", "Create"),
    ("update", "Update in-place"),
    ("replace", "Replace"),
    ("delete", "Destroy"),
)


# --- the marker and the config directory ------------------------------------------------------


def config_label(directory: Path, cwd: Path | None = None) -> str:
    """The configuration directory as the comment names it: relative to the git repository's
    root when inside one, else to the working directory; ``.`` for the root itself."""
    target = directory.resolve()
    for base in (target, *target.parents):
        if (base / ".git").exists():
            return target.relative_to(base).as_posix() or "."
    here = (cwd or Path.cwd()).resolve()
    try:
        return target.relative_to(here).as_posix() or "."
    except ValueError:
        return target.as_posix()


def marker(label: str) -> str:
    """The first line of the comment: CI finds its earlier comment by it (exact match)."""
    return f"{MARKER_PREFIX}{label.replace('--', '-&#45;')} -->"


# --- the plan body as a diff --------------------------------------------------------------------


def diff_lines(plan_text: str) -> list[str]:
    """The human plan with its action markers in column 0, as GitHub's ``diff`` colours them.

    A line whose first non-blank is ``+`` or ``-`` (then a space) starts with that character;
    ``~``, ``-/+`` and ``+/-`` become ``!``; every other line is indented by two spaces, so
    columns stay aligned and nothing else starts with a diff marker.
    """
    out = []
    for line in plan_text.splitlines():
        m = _SYMBOL.match(line)
        if m is None:
            out.append(("  " + line).rstrip())
            continue
        symbol = m.group(2)
        mark = symbol if symbol in ("+", "-") else "!"
        blanked = line[: m.start(2)] + " " * len(symbol) + line[m.end(2) :]
        out.append((mark + " " + blanked).rstrip())
    return out


# --- the comment ------------------------------------------------------------------------------


@dataclass
class _Sections:
    head: list[str]  # marker, title, summary, banners, security impact: never cut
    changes: list[str]  # per-action lists (bounded)
    diagram: list[str]  # the Mermaid picture (bounded)
    footer: list[str]


def render_markdown(
    plan: Plan,
    config_dir: str,
    *,
    limit: int = COMMENT_LIMIT,
    plan_text: str | None = None,
) -> str:
    """The comment for ``plan`` made in ``config_dir`` (as ``config_label`` names it)."""
    changes = [] if plan.mode is Mode.REFRESH_ONLY else plan.resource_changes
    outputs = [o for o in plan.output_changes if o.action is not Action.NOOP]
    title = f"### meshprov plan for {_code(config_dir)}"
    if not plan.has_changes:
        return (
            "\n\n".join([marker(config_dir), title, _no_changes(plan.mode), _footer(plan)]) + "\n"
        )

    impact = security_impact(plan)
    head = [marker(config_dir), title, _summary(plan)]
    head.extend(_banners(plan, changes))
    security = _security_section(impact)
    if security:
        head.append(security)
    after_apply = _notices_section(plan)
    if after_apply:
        head.append(after_apply)
    sections = _Sections(
        head=head,
        changes=[_changes_section(changes, outputs)] if changes or outputs else [],
        diagram=[_diagram_section(plan, changes)] if changes else [],
        footer=[_footer(plan)],
    )
    text = plan_text if plan_text is not None else render_plan(plan, color=False)
    return _assemble(sections, diff_lines(text), limit)


def _assemble(sections: _Sections, body: list[str], limit: int) -> str:
    """Put it together; drop the picture, then the lists, then cut the body to fit ``limit``."""
    fence = "`" * max(3, _longest_backtick_run("\n".join(body)) + 1)
    optional = [sections.changes, sections.diagram]

    def compose(body_lines: list[str], omitted: int) -> str:
        parts = [*sections.head, *sections.changes, *sections.diagram]
        if omitted:
            summary = f"Show plan (shortened: {omitted:,} of {len(body):,} lines omitted)"
        else:
            summary = f"Show plan ({plural(len(body), 'line')})"
        parts.append(
            f"<details><summary>{summary}</summary>\n\n{fence}diff\n"
            + "\n".join(body_lines)
            + f"\n{fence}\n\n</details>"
        )
        parts.extend(sections.footer)
        return "\n\n".join(parts) + "\n"

    whole = compose(body, 0)
    if len(whole) <= limit:
        return whole
    # make room for the body: the picture goes first, then the address lists
    for part in reversed(optional):
        if len(compose([], 0)) + _MIN_BODY <= limit:
            break
        part.clear()
    note = (
        "@@ {n:,} lines omitted here: the whole plan does not fit in one comment "
        f"({COMMENT_LIMIT:,} characters). Run `meshprov show PLANFILE` on the saved plan. @@"
    )
    room = limit - len(compose([note.format(n=len(body))], len(body))) - 16
    head_lines, tail_lines = _cut_middle(body, room)
    omitted = len(body) - len(head_lines) - len(tail_lines)
    result = compose([*head_lines, note.format(n=omitted), *tail_lines], omitted)
    if len(result) <= limit:
        return result
    # only a pathological head (thousands of firewalls) gets here: keep the limit regardless
    cut = "\n\n**… the rest of this comment is cut: it would exceed GitHub's limit.**\n"
    return result[: limit - len(cut)] + cut


def _cut_middle(lines: Sequence[str], room: int) -> tuple[list[str], list[str]]:
    """As many first and last lines as fit in ``room`` characters, half each."""
    half = max(0, room // 2)
    head: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > half:
            break
        head.append(line)
        used += len(line) + 1
    tail: list[str] = []
    used = 0
    for line in reversed(lines[len(head) :]):
        if used + len(line) + 1 > half:
            break
        tail.append(line)
        used += len(line) + 1
    return head, tail[::-1]


def _longest_backtick_run(text: str) -> int:
    return max((len(m) for m in re.findall(r"`+", text)), default=0)


def _code(text: str) -> str:
    """Inline code that survives backticks inside."""
    if "`" not in text:
        return f"`{text}`"
    ticks = "`" * (_longest_backtick_run(text) + 1)
    return f"{ticks} {text} {ticks}"


def _no_changes(mode: Mode) -> str:
    if mode is Mode.REFRESH_ONLY:
        return "**No changes.** Your infrastructure still matches the configuration."
    if mode is Mode.DESTROY:
        return "**No changes.** No objects need to be destroyed."
    return "**No changes.** Your infrastructure matches the configuration."


def _summary(plan: Plan) -> str:
    if plan.mode is Mode.REFRESH_ONLY:
        count = plural(len(plan.drift), "object")
        return (
            f"**Refresh-only plan: {count} changed outside of meshprov.** Applying it records "
            "them in the state and changes nothing else."
        )
    line = f"**{plan.summary_line()}**"
    replaced = sum(c.action.is_replace for c in plan.resource_changes)
    if replaced:
        line += f" Of these, {plural(replaced, 'replacement')} (counted in both add and destroy)."
    if plan.mode is Mode.DESTROY:
        line += " — a **destroy** plan"
    return line


def _banners(plan: Plan, changes: list[ResourceChange]) -> list[str]:
    out = []
    deleted = sum(c.action is Action.DELETE for c in changes)
    replaced = sum(c.action.is_replace for c in changes)
    if deleted or replaced:
        what = " and ".join(
            text
            for count, text in (
                (deleted, f"**destroys {plural(deleted, 'resource')}**"),
                (replaced, f"**replaces {plural(replaced, 'resource')}**"),
            )
            if count
        )
        out.append(
            "> [!WARNING]\n"
            f"> :warning: This plan {what}. Review them before applying: a destroyed CA or "
            "control plane takes its certificates, keys and files with it."
        )
    if plan.drift:
        notes = [
            f"{_code(c.address)}"
            + (f" ({'; '.join(c.notes)})" if c.notes else "")
            + (" was deleted" if c.action is Action.DELETE and not c.notes else "")
            for c in plan.drift
        ]
        listed = "\n".join(f"> - {n}" for n in notes[:DRIFT_LIMIT])
        more = len(notes) - DRIFT_LIMIT
        if more > 0:
            listed += f"\n> - … and {more:,} more"
        out.append(
            "> [!NOTE]\n> **Objects have changed outside of meshprov** since the last apply:\n"
            + listed
        )
    if plan.targets:
        out.append(
            "> [!NOTE]\n> Resource targeting is in effect ("
            + ", ".join(_code(t) for t in plan.targets)
            + "): this plan may not show every change the configuration asks for."
        )
    return out


# --- security impact --------------------------------------------------------------------------


def _listing(items: Sequence[str], limit: int = SECURITY_LIST_LIMIT) -> str:
    shown = ", ".join(items[:limit])
    rest = len(items) - limit
    return f"{shown} and {rest:,} more" if rest > 0 else shown


def _security_section(impact: SecurityImpact) -> str:
    if impact.empty:
        return ""
    lines = ["#### :shield: Security impact", ""]
    for fw in impact.firewalls:
        lines.append(f"- **Firewall** {_code(fw.address)} ({fw.reaches(_code)})")
        if fw.unknown:
            lines.append("  - the allowed sources are known only after apply")
        if fw.added:
            items = [f"{_code(s.cidr)} ({_source(s.label)})" for s in fw.added]
            lines.append(
                f"  - :heavy_plus_sign: **allows** {plural(len(items), 'new source')}: "
                + _listing(items)
            )
        if fw.removed:
            items = [f"{_code(s.cidr)} ({_source(s.label)})" for s in fw.removed]
            lines.append(
                f"  - :heavy_minus_sign: **stops allowing** {plural(len(items), 'source')}: "
                + _listing(items)
            )
        if fw.revoked:
            items = [_code(r) for r in fw.revoked]
            lines.append(
                f"  - :heavy_minus_sign: **revokes** {plural(len(items), 'rule')} meshprov does "
                "not own: " + _listing(items)
            )
    groups = impact.certificate_groups()
    if groups:
        lines.append("- **Certificates**")
        for group in groups:
            text = f"  - {plural(len(group.addresses), 'certificate')} **{group.action}**"
            if group.why:
                text += f" because {group.why}"
            if group.expires:
                text += f" (valid until about {group.expires})"
            text += ": " + _listing([_code(a) for a in group.addresses])
            lines.append(text)
    if impact.cas:
        lines.append("- **Certificate authorities**")
        for ca in impact.cas[:CA_LIMIT]:
            text = f"  - {_code(ca.address)} **{ca.action}**"
            if ca.why:
                text += f" because {ca.why}"
            if ca.reissues:
                text += f", which reissues {plural(ca.reissues, 'certificate')} it signed"
            if ca.expires:
                text += f" (valid until about {ca.expires})"
            lines.append(text)
        if len(impact.cas) > CA_LIMIT:
            lines.append(f"  - … and {len(impact.cas) - CA_LIMIT:,} more")
    for note in impact.notes[:WARNING_LIMIT]:
        lines.append(f"- {_code(note.address)}: {_escape(note.text)}")
    if len(impact.notes) > WARNING_LIMIT:
        lines.append(f"- … and {len(impact.notes) - WARNING_LIMIT:,} more")
    breaks = impact.trust_break_groups()[:WARNING_LIMIT]
    lines.extend(f"- :rotating_light: **{_escape(group.text())}**" for group in breaks)
    lines.extend(f"- {_escape(step)}" for step in dict.fromkeys(g.procedure for g in breaks))
    for warning in impact.warnings[:WARNING_LIMIT]:
        lines.append(f"- :warning: {_escape(warning)}")
    if len(impact.warnings) > WARNING_LIMIT:
        lines.append(f"- :warning: … and {len(impact.warnings) - WARNING_LIMIT:,} more warnings")
    return "\n".join(lines)


def _notices_section(plan: Plan) -> str:
    """**After apply** (SPEC §4.1): what the operator must do, grouped and bounded."""
    groups = grouped(plan_notices(plan))
    if not groups:
        return ""
    lines = ["#### :arrows_counterclockwise: After apply", ""]
    for group in groups[:NOTICE_LIMIT]:
        addresses = _listing([_code(a) for a in group.addresses])
        lines.append(f"- **{_escape(group.action)}** ({_escape(group.reason)}): {addresses}")
    if len(groups) > NOTICE_LIMIT:
        lines.append(f"- … and {len(groups) - NOTICE_LIMIT:,} more")
    return "\n".join(lines)


def _source(label: str) -> str:
    return "allow_cidrs" if label == "cidr" else f"zone {_code(label)}"


def _escape(text: str) -> str:
    """Plain text in Markdown: no HTML, no accidental emphasis or links, and no @mention (a
    token's user "@org/team" would notify the team): GitHub leaves code alone."""
    parts = _MENTION.split(text)
    return "".join(
        _code(part) if i % 2 else re.sub(r"([\\`*_\[\]<>|])", r"\\\1", part)
        for i, part in enumerate(parts)
    )


# what GitHub links as a mention: @user or @org/team, not inside a word (an e-mail address)
_MENTION = re.compile(r"(?<![A-Za-z0-9_`])(@[A-Za-z0-9][A-Za-z0-9-]*(?:/[A-Za-z0-9_.-]+)?)")


# --- per-action lists ---------------------------------------------------------------------------


def _changes_section(changes: list[ResourceChange], outputs: list) -> str:
    lines = ["#### Changes", ""]
    for cls, title in _ACTION_TITLES:
        picked = [c for c in changes if action_class(c.action) == cls]
        if not picked:
            continue
        items = [_code(c.address) + _why(c) for c in picked[:LIST_LIMIT]]
        more = len(picked) - LIST_LIMIT
        line = f"- **{title}** ({len(picked):,}): " + ", ".join(items)
        if more > 0:
            line += f" and {more:,} more"
        lines.append(line)
    if outputs:
        names = [f"{_code(o.name)} ({LEGEND[action_class(o.action)]})" for o in outputs]
        lines.append(f"- **Outputs** ({len(outputs):,}): " + _listing(names, LIST_LIMIT))
    return "\n".join(lines)


_WHY = {
    "replace_because_expiring": "expiring",
    "replace_because_tainted": "tainted",
    "replace_by_request": "requested",
    "replace_by_triggers": "replace_triggered_by",
    "update_because_ca_replaced": "CA replaced",
    "update_because_key_replaced": "signing key replaced",
    "delete_because_no_resource_config": "not in configuration",
    "delete_because_no_module": "module not in configuration",
    "delete_because_count_index": "count index out of range",
    "delete_because_each_key": "key not in for_each",
    "delete_because_wrong_repetition": "count/for_each changed",
}


def _why(change: ResourceChange) -> str:
    if change.reason in _WHY:
        return f" ({_WHY[change.reason]})"
    if change.action.is_replace and change.replace_paths:
        return " (" + ", ".join(change.replace_paths) + " changed)"
    return ""


# --- topology picture ---------------------------------------------------------------------------


def _diagram_section(plan: Plan, changes: list[ResourceChange]) -> str:
    nodes, edges = _topology(plan, changes)
    if not nodes:
        return ""
    return (
        "#### Topology\n\n```mermaid\n"
        + _mermaid(nodes, edges)
        + "```\n\n"
        + " · ".join(
            f"{_SWATCH[cls]} {LEGEND[cls]}" for cls in COLOURS if cls in set(nodes.values())
        )
    )


_SWATCH = {
    "create": ":green_square:",
    "update": ":yellow_square:",
    "replace": ":orange_square:",
    "delete": ":red_square:",
    "noop": ":white_large_square:",
}


def _topology(
    plan: Plan, changes: list[ResourceChange]
) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """Changed instances and their direct neighbours (node → action class), and the edges.

    Edges follow references (``ca``, ``global``, ``parent``, ``allow_zones``...) from what is
    depended on to what depends on it. Over ``MAX_DIAGRAM_NODES``, instances of one resource
    that fare alike are drawn as one node (``zone.z ×500``).
    """
    every = {c.address: c for c in plan.changes}
    edges: set[tuple[str, str]] = set()
    for change in plan.changes:
        schema = SCHEMAS.get(change.type)
        if schema is None:
            continue
        for attr in schema.attributes:
            if not attr.reference:
                continue
            for values in (change.before, change.after):
                for target in _addresses((values or {}).get(attr.name)):
                    if target in every and target != change.address:
                        edges.add((target, change.address))
    changed = {c.address for c in changes}
    keep = set(changed)
    for src, dst in edges:
        if src in changed or dst in changed:
            keep.update((src, dst))
    nodes = {a: action_class(every[a].action) for a in every if a in keep}
    edges = {(s, d) for s, d in edges if s in keep and d in keep}
    if len(nodes) <= MAX_DIAGRAM_NODES:
        return nodes, edges
    return _grouped(nodes, edges, {a: every[a].instance.static for a in nodes})


def _addresses(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def _grouped(
    nodes: dict[str, str], edges: set[tuple[str, str]], statics: dict[str, str]
) -> tuple[dict[str, str], set[tuple[str, str]]]:
    group_of: dict[str, str] = {}
    counts: dict[tuple[str, str], int] = {}
    for address, cls in nodes.items():
        key = (statics[address], cls)
        counts[key] = counts.get(key, 0) + 1
    for address, cls in nodes.items():
        static = statics[address]
        n = counts[(static, cls)]
        group_of[address] = static if n == 1 else f"{static} ×{n:,}"
        if sum(1 for (s, _) in counts if s == static) > 1:
            group_of[address] += f" ({LEGEND[cls]})"
    grouped_nodes = {group_of[a]: cls for a, cls in nodes.items()}
    grouped_edges = {(group_of[s], group_of[d]) for s, d in edges if group_of[s] != group_of[d]}
    return grouped_nodes, grouped_edges


def _mermaid(nodes: dict[str, str], edges: set[tuple[str, str]]) -> str:
    ids = {node: f"n{i}" for i, node in enumerate(sorted(nodes))}
    lines = ["flowchart LR"]
    for node, ident in ids.items():
        label = node.split(" ", 1)[0]
        try:
            rtype = parse_instance_address(label).type
        except ValueError:
            rtype = ""
        resource_type = TYPES.get(rtype)
        left, right = resource_type.mermaid_shape if resource_type else ResourceType.mermaid_shape
        lines.append(f"  {ident}{left}{mermaid_escape(node)}{right}")
    for src, dst in sorted(edges):
        lines.append(f"  {ids[src]} --> {ids[dst]}")
    lines.extend(mermaid_classes({ids[n]: cls for n, cls in nodes.items()}))
    return "\n".join(lines) + "\n"


def _footer(plan: Plan) -> str:
    return f"<sub>meshprov {__version__} · planned at {plan.timestamp}</sub>"
