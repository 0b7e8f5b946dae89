"""``meshprov verify`` output: the channel table with the failures under it, or JSON.

The table has one row per channel and control plane (``CHANNEL | CONTROL PLANE | RESULT |
DETAIL``); DETAIL is the first failure, else the first warning, else what was established,
shortened to fit a line. The full text of every failure and warning follows the table; a
problem shared by several channels (one key file serves them all) is listed once, naming them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from meshprov.resources.report import CheckResult
from meshprov.verify import Report

__all__ = ["render_verify_json", "render_verify_text"]

_DETAIL_WIDTH = 90
_COLORS = {"ok": "32", "WARN": "33", "FAIL": "31"}


def _style(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_verify_text(report: Report, color: bool) -> str:
    header = ("CHANNEL", "CONTROL PLANE", "RESULT", "DETAIL")
    cells = [
        (row.channel, row.control_plane, row.result, _shorten(row.detail, _DETAIL_WIDTH))
        for row in report.rows
    ]
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(3)]

    def line(cell: tuple[str, str, str, str], result: str | None) -> str:
        padded = [cell[i].ljust(widths[i]) for i in range(3)]
        if result is not None:
            padded[2] = _style(padded[2], _COLORS[result], color)
        return "  ".join([*padded, cell[3]]).rstrip()

    lines = [line(header, None)]
    lines += [line(cell, row.result) for cell, row in zip(cells, report.rows, strict=True)]
    failures = [c for c in report.checks if not c.ok]
    warnings = [c for c in report.checks if c.ok and c.warning]
    for title, found, mark in (("Failures", failures, "FAIL"), ("Warnings", warnings, "WARN")):
        if found:
            lines += ["", _style(f"{title}:", _COLORS[mark], color)]
            lines += [f"  - {text}" for text in _grouped(found)]
    failed_rows = sum(not row.ok for row in report.rows)
    total = len(report.rows)
    lines.append("")
    if failed_rows:
        lines.append(
            _style("Error:", "1;31", color)
            + f" verify failed: {failed_rows} of {total} rows failed "
            f"({len(_grouped(failures))} problems)."
        )
    else:
        note = f", {len(_grouped(warnings))} warning(s)" if warnings else ""
        lines.append(
            _style("Success!", "1;32", color)
            + f" All {total} rows passed ({len(report.checks)} checks{note})."
        )
    return "\n".join(lines) + "\n"


def _grouped(results: Iterable[CheckResult]) -> list[str]:
    """One entry per distinct problem, naming the rows it shows in: a key file serves several
    channels, and a global's certificate every zone → global pair."""
    rows: dict[tuple[str, str], list[str]] = {}
    for result in results:
        where = rows.setdefault((result.check, result.detail), [])
        label = f"{result.channel} {result.control_plane}"
        if label not in where:
            where.append(label)
    return [
        f"{check}: {detail}\n    in: {'; '.join(where)}" for (check, detail), where in rows.items()
    ]


def render_verify_json(report: Report) -> str:
    document = {
        "ok": report.ok,
        "as_of": report.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "rows": [row.to_json() for row in report.rows],
        "checks": [check.to_json() for check in report.checks],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
