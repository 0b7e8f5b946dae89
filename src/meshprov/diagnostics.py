"""Diagnostics: what meshprov tells a user about their input, with where it points.

Every mistake a user can make becomes a ``Diagnostic``; errors are raised together as one
``DiagnosticError`` and printed by the CLI. Bugs may raise anything else; user mistakes may not.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
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
        out: dict = {"severity": self.severity, "summary": self.summary, "detail": self.detail}
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
    out = [f"{title}: {diag.summary}"]
    if diag.range is not None:
        where = f"  on {diag.range.filename} line {diag.range.start.line}"
        if diag.context:
            where += f", in {diag.context}"
        out.append("")
        out.append(where + ":")
        text = (sources or SourceCache()).line(diag.range.filename, diag.range.start.line)
        if text is not None:
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
        out.append(diag.detail)
    return "\n".join(out) + "\n"


def render_compact_warnings(warnings: Iterable[Diagnostic]) -> str:
    """Terraform's ``-compact-warnings``: each distinct summary once, where it first occurs."""
    seen: dict[str, list[Diagnostic]] = {}
    for diag in warnings:
        seen.setdefault(diag.summary, []).append(diag)
    out = ["Warnings:", ""]
    for summary, diags in seen.items():
        out.append(f"- {summary}")
        first = diags[0]
        more = f" (and {len(diags) - 1} more)" if len(diags) > 1 else ""
        if first.range is not None:
            out.append(f"  on {first.range.filename} line {first.range.start.line}{more}")
        elif more:
            out.append(f"  {more.strip(' ()')}")
    out += ["", "To see the full warning notes, run meshprov without --compact-warnings."]
    return "\n".join(out) + "\n"


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """A hint naming the closest option, or nothing: appended to a "not declared" detail."""
    match = get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f' Did you mean "{match[0]}"?' if match else ""
