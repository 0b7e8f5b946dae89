"""Diagnostics: what meshprov tells a user about their input, with where it points.

Every mistake a user can make becomes a ``Diagnostic``; errors are raised together as one
``DiagnosticError`` and printed by the CLI. Bugs may raise anything else; user mistakes may not.
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from difflib import get_close_matches
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Pos:
    """A position in a source file: 1-based line and column, 0-based byte offset."""

    line: int
    column: int
    byte: int = 0


@dataclass(frozen=True)
class SourceRange:
    """A span of a source file."""

    filename: str
    start: Pos
    end: Pos

    def __str__(self) -> str:
        return f"{self.filename}:{self.start.line},{self.start.column}"

    def to_json(self) -> dict:
        return {
            "filename": self.filename,
            "start": {
                "line": self.start.line,
                "column": self.start.column,
                "byte": self.start.byte,
            },
            "end": {"line": self.end.line, "column": self.end.column, "byte": self.end.byte},
        }


# codes of warnings about how meshprov was run rather than about what a plan does
TARGETING = "targeting"
UNDECLARED_VARIABLE = "undeclared_variable"
RUN_CODES = frozenset({TARGETING, UNDECLARED_VARIABLE})


@dataclass(frozen=True)
class Diagnostic:
    """One message for the user: its severity, a one-line summary, detail and a source range."""

    severity: Severity
    summary: str
    detail: str = ""
    range: SourceRange | None = None
    context: str = ""  # e.g. 'zone "eu"': printed as ", in zone "eu"" after the location
    # a stable, machine-readable name for what is reported (e.g. "api_http_open"): code such
    # as the security impact matches on it, never on the wording of the summary
    code: str = ""

    def to_json(self) -> dict:
        out: dict = {
            "severity": self.severity,
            "summary": SECRETS.redact(self.summary),
            "detail": SECRETS.redact(self.detail),
        }
        if self.range is not None:
            out["range"] = self.range.to_json()
        return out


def error(
    summary: str,
    detail: str = "",
    rng: SourceRange | None = None,
    context: str = "",
    *,
    code: str = "",
) -> Diagnostic:
    return Diagnostic("error", summary, detail, rng, context, code)


def warning(
    summary: str,
    detail: str = "",
    rng: SourceRange | None = None,
    context: str = "",
    *,
    code: str = "",
) -> Diagnostic:
    return Diagnostic("warning", summary, detail, rng, context, code)


class DiagnosticError(Exception):
    """Raised when user input is wrong; carries every diagnostic found (errors and warnings)."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = tuple(diagnostics)
        super().__init__("; ".join(d.summary for d in self.diagnostics))

    @classmethod
    def single(
        cls, summary: str, detail: str = "", rng: SourceRange | None = None, context: str = ""
    ) -> DiagnosticError:
        return cls([error(summary, detail, rng, context)])


@dataclass
class Diagnostics:
    """An accumulator: collect diagnostics, then raise them all at once if any is an error."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diag: Diagnostic) -> None:
        self.items.append(diag)

    def extend(self, diags: Iterable[Diagnostic]) -> None:
        self.items.extend(diags)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.items)

    def raise_if_errors(self) -> None:
        if self.has_errors:
            raise DiagnosticError(self.items)


SENSITIVE_TEXT = "(sensitive value)"
# a secret this short is redacted only where a message quotes it ("abc"): bare, it would also
# match ordinary words and line numbers
_BARE_MINIMUM = 6


class Secrets:
    """Every text this process has seen marked sensitive, so no diagnostic can show it.

    Diagnostics are built in many places (type conversion, allowed values, functions, index
    errors, a cloud's error message echoing an argument), most of which see only a plain
    string. Rather than trust each to check a mark, the values are remembered when they are
    marked (``lang.values.Sensitive``) and replaced where diagnostics become text: in
    ``render_text`` (summary, detail and the quoted source line) and ``Diagnostic.to_json``.
    """

    def __init__(self) -> None:
        self._texts: set[str] = set()
        self._forms: set[str] = set()
        self._ordered: list[str] = []  # longest first: a secret containing another goes whole
        self._negated_lengths: list[int] = []  # -len of each in _ordered: ascending, to bisect
        self._lock = threading.Lock()

    def add(self, text: str) -> None:
        if not text or text in self._texts:
            return
        with self._lock:
            self._texts.add(text)
            # as printed, and escaped as JSON or Python would show a multi-line PEM
            self._forms.update((text, json.dumps(text)[1:-1], repr(text)[1:-1]))
            self._ordered = []  # sorted when a diagnostic is next rendered, not per secret

    def clear(self) -> None:
        """Forget every secret: a new command starts with none (in-process runs, e.g. tests,
        would otherwise redact one command's secrets from the next one's messages)."""
        with self._lock:
            self._texts.clear()
            self._forms.clear()
            self._ordered = []

    def _fitting(self, text: str) -> list[str]:
        """The secrets no longer than ``text``, longest first: only those can occur in it (a
        plan of many zones holds thousands of keys and tokens, each longer than a message)."""
        with self._lock:
            if len(self._ordered) != len(self._forms):
                self._ordered = sorted(self._forms, key=len, reverse=True)
                self._negated_lengths = [-len(secret) for secret in self._ordered]
            start = bisect_left(self._negated_lengths, -len(text))
            return self._ordered[start:]

    def redact(self, text: str) -> str:
        for secret in self._fitting(text):
            if secret not in text:
                continue
            if len(secret) >= _BARE_MINIMUM:
                text = text.replace(secret, SENSITIVE_TEXT)
            else:
                for quote in ('"', "'"):
                    text = text.replace(f"{quote}{secret}{quote}", SENSITIVE_TEXT)
        return text


SECRETS = Secrets()


def decode_source(data: bytes, filename: str) -> str:
    """A source file's text; invalid UTF-8 is an error at its line and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[line_start : exc.start].decode("utf-8", "replace")) + 1
        at = Pos(line, column, exc.start)
        raise DiagnosticError.single(
            "Invalid file encoding",
            f"The byte 0x{data[exc.start]:02x} at line {line}, column {column} is not valid "
            "UTF-8; configuration files must be UTF-8 encoded.",
            SourceRange(filename, at, Pos(line, column + 1, exc.start + 1)),
        ) from None


class SourceCache:
    """Source text of loaded files, so diagnostics can quote the line they point at."""

    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = {}

    def add(self, filename: str, text: str) -> None:
        self._lines[filename] = text.splitlines()

    def line(self, filename: str, line: int) -> str | None:
        lines = self._lines.get(filename)
        if lines is None:
            try:
                data = Path(filename).read_bytes()
            except OSError:
                return None
            lines = data.decode("utf-8", "replace").splitlines()
            self._lines[filename] = lines
        if 1 <= line <= len(lines):
            return lines[line - 1]
        return None


def render_text(diag: Diagnostic, sources: SourceCache | None = None) -> str:
    """Terraform-style text: ``Error: summary``, the location and snippet, then the detail."""
    title = "Error" if diag.severity == "error" else "Warning"
    out = [f"{title}: {SECRETS.redact(diag.summary)}"]
    if diag.range is not None:
        where = f"  on {diag.range.filename} line {diag.range.start.line}"
        if diag.context:
            where += f", in {diag.context}"
        out.append("")
        out.append(where + ":")
        text = (sources or SourceCache()).line(diag.range.filename, diag.range.start.line)
        if text is not None and SECRETS.redact(text) != text:
            out.append(f"{diag.range.start.line:>4}: {SECRETS.redact(text)}")
        elif text is not None:
            out.append(f"{diag.range.start.line:>4}: {text}")
            if (
                diag.range.end.line == diag.range.start.line
                and diag.range.end.column > diag.range.start.column
            ):
                pad = " " * (6 + diag.range.start.column - 1)
                out.append(pad + "^" * (diag.range.end.column - diag.range.start.column))
    elif diag.context:
        out.append("")
        out.append(f"  with {diag.context}")
    if diag.detail:
        out.append("")
        out.append(SECRETS.redact(diag.detail))
    return "\n".join(out) + "\n"


def consolidate_warnings(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Terraform's consolidation of warnings on the terminal (``ConsolidateWarnings(1)``): of
    the warnings with a source location that share a summary, the first stands for them all,
    its detail ending "(and N more similar warnings elsewhere)". Errors and warnings without a
    location pass as they are; machine-readable output keeps every warning."""
    out: list[Diagnostic] = []
    groups: dict[str, tuple[int, int]] = {}  # summary -> (index in out, how many more)
    for diag in diagnostics:
        if diag.severity != "warning" or diag.range is None:
            out.append(diag)
        elif diag.summary in groups:
            index, more = groups[diag.summary]
            groups[diag.summary] = (index, more + 1)
        else:
            groups[diag.summary] = (len(out), 0)
            out.append(diag)
    for index, more in groups.values():
        if more:
            note = (
                "(and one more similar warning elsewhere)"
                if more == 1
                else f"(and {more} more similar warnings elsewhere)"
            )
            first = out[index]
            detail = f"{first.detail}\n\n{note}" if first.detail else note
            out[index] = replace(first, detail=detail)
    return out


def render_compact_warnings(warnings: Iterable[Diagnostic]) -> str:
    """Terraform's ``-compact-warnings``: each distinct summary once, where it first occurs."""
    seen: dict[str, list[Diagnostic]] = {}
    for diag in warnings:
        seen.setdefault(diag.summary, []).append(diag)
    out = ["Warnings:", ""]
    for summary, diags in seen.items():
        out.append(f"- {SECRETS.redact(summary)}")
        first = diags[0]
        more = f" (and {len(diags) - 1} more)" if len(diags) > 1 else ""
        if first.range is not None:
            out.append(f"  on {first.range.filename} line {first.range.start.line}{more}")
        elif more:
            out.append(f"  {more.strip(' ()')}")
    out += ["", "To see the full warning notes, run meshprov without --compact-warnings."]
    return "\n".join(out) + "\n"


def named(names: Sequence[str], limit: int = 3) -> str:
    """Names for a message: the first ``limit``, then how many more (``a, b, c and 4 more``)."""
    shown = ", ".join(names[:limit])
    rest = len(names) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """A hint naming the closest option, or nothing: appended to a "not declared" detail."""
    match = get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f' Did you mean "{match[0]}"?' if match else ""
