"""Canonical HCL formatting, like ``terraform fmt``, keeping comments, heredocs and templates.

Token-based like HashiCorp's ``hclwrite``: only the whitespace between tokens changes. python-hcl2
parses (syntax errors become diagnostics) and vets every result: the formatted text must load to
the same data, comments included, or a more conservative result (or the original) is returned.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2.api
from lark.exceptions import UnexpectedInput

from meshprov.diagnostics import Diagnostic, DiagnosticError, Pos, SourceRange, decode_source, error
from meshprov.files import read_regular_file
from meshprov.lang.syntax_errors import syntax_error

__all__ = ["FormatResult", "format_paths", "format_source", "unified_diff"]

INDENT = "  "


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormatResult:
    """One file's formatting: where it is, what it held and what it should hold."""

    path: Path
    original: str
    formatted: str

    @property
    def changed(self) -> bool:
        return self.original != self.formatted


def format_source(text: str, filename: str) -> str:
    """Return ``text`` canonically formatted; raise ``DiagnosticError`` if it is not valid HCL.

    Idempotent, and never changes meaning: the result loads to the same data as ``text``.
    """
    reference = _load(text, filename)
    out = _format_once(text, reference)
    if out != text and _format_once(out, reference) != out:
        # Not a fixed point (should not happen): leave the file as it is rather than
        # produce a result that a second ``fmt`` would change again.
        return text
    return out


def format_paths(paths: list[Path]) -> list[FormatResult]:
    """Format files (a directory stands for its ``*.hcl`` files, not recursively).

    Nothing is written. Errors for all files are collected and raised together.
    """
    results: list[FormatResult] = []
    problems: list[Diagnostic] = []
    for path in _expand(paths):
        try:
            text = decode_source(read_regular_file(path), str(path))
        except DiagnosticError as exc:
            problems.extend(exc.diagnostics)
            continue
        except OSError as exc:
            problems.append(error("Failed to read file", f"{path}: {exc.strerror or exc}."))
            continue
        try:
            results.append(FormatResult(path, text, format_source(text, str(path))))
        except DiagnosticError as exc:
            problems.extend(exc.diagnostics)
    if problems:
        raise DiagnosticError(problems)
    return results


def unified_diff(result: FormatResult) -> str:
    """The change as a unified diff with ``--- old/NAME`` / ``+++ new/NAME`` headers."""
    if not result.changed:
        return ""
    name = result.path.as_posix().lstrip("/")
    lines = difflib.unified_diff(
        _lines(result.original),
        _lines(result.formatted),
        fromfile=f"old/{name}",
        tofile=f"new/{name}",
    )
    out = []
    for line in lines:
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _lines(text: str) -> list[str]:
    """Split at "\n" only (``str.splitlines`` also splits at form feeds and the like)."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _expand(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.glob("*.hcl") if p.is_file()))
        else:
            out.append(path)
    return out


# --------------------------------------------------------------------------------------------
# Parsing with python-hcl2: syntax errors and the meaning check
# --------------------------------------------------------------------------------------------


def _load(text: str, filename: str) -> dict[str, Any]:
    """Load ``text`` with python-hcl2 (comments included), turning failures into diagnostics."""
    try:
        return hcl2.api.loads(text)
    except UnexpectedInput as exc:
        raise DiagnosticError([syntax_error(exc, text, filename)]) from None
    except Exception as exc:  # python-hcl2 raises assorted errors for odd input
        raise DiagnosticError.single(
            "Syntax error",
            f"The file could not be parsed as HCL: {exc}",
            _range(text, filename, 1, 1, 1),
        ) from None


def _load_or_none(text: str) -> dict[str, Any] | None:
    try:
        return hcl2.api.loads(text)
    except Exception:
        return None


def _range(text: str, filename: str, line: int, column: int, width: int) -> SourceRange:
    lines = text.split("\n")
    line = min(max(line, 1), len(lines))
    current = lines[line - 1]
    column = min(max(column, 1), len(current) + 1)
    byte = sum(len(s.encode("utf-8")) + 1 for s in lines[: line - 1])
    byte += len(current[: column - 1].encode("utf-8"))
    end_col = min(column + width, len(current) + 2)
    end_byte = byte + len(current[column - 1 : end_col - 1].encode("utf-8"))
    return SourceRange(filename, Pos(line, column, byte), Pos(line, end_col, end_byte))


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def _format_once(text: str, reference: dict[str, Any]) -> str:
    """Format ``text`` as well as can be done without changing what it loads to.

    python-hcl2's own ``BaseFormatter`` is not used: it is made for trees built from dicts, and
    on parsed source it loses indentation, moves comments onto new lines and crashes on
    conditionals. Its ``loads`` is the judge instead.
    """
    crlf = "\r\n" in text and "\n" not in text.replace("\r\n", "")
    work = text.replace("\r\n", "\n") if crlf else text
    for respace in (True, False):
        out = _render(work, respace=respace)
        if out is None:
            continue
        if crlf:
            out = out.replace("\n", "\r\n")
        if out == text or _load_or_none(out) == reference:
            return out
    return text


class _LexError(Exception):
    """The text has something the formatter's tokenizer does not understand."""


@dataclass
class _Tok:
    """A token: ``kind`` is ``nl ident number string heredoc comment lcomment`` or the
    punctuation itself; ``before`` is the whitespace written in front of it."""

    kind: str
    text: str
    before: str = ""


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_HEREDOC = re.compile(r"<<(-?)([A-Za-z][A-Za-z0-9._-]*)\r?\n")
_PUNCT = (
    "...", "=>", "==", "!=", "<=", ">=", "&&", "||", "::",
    "{", "}", "[", "]", "(", ")", ",", ".", "?", ":", "=", "+", "-", "*", "/", "%", "<", ">",
    "!", "~",
)  # fmt: skip
_SPACE = " \t\r"


def _lex(text: str, pos: int = 0, nested: bool = False) -> tuple[list[_Tok], int]:
    """Tokenize from ``pos``. ``nested`` scans a ``${``/``%{`` sequence up to its ``}``."""
    tokens: list[_Tok] = []
    n = len(text)
    i = pos
    depth = 0
    gap_start = i
    while i < n:
        c = text[i]
        if c in _SPACE:
            i += 1
            continue
        gap = text[gap_start:i]
        start = i
        if c == "\n":
            tokens.append(_Tok("nl", "\n"))
            i += 1
            gap_start = i
            continue
        if c == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            tokens.append(_Tok("lcomment", text[i:end].rstrip(), gap))
            i = gap_start = end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end == -1:
                raise _LexError("unterminated comment")
            i = end + 2
            kind = "comment"
        elif c == '"':
            i = _scan_string(text, i)
            kind = "string"
        elif c == "<" and (m := _HEREDOC.match(text, i)) is not None:
            i = _scan_heredoc(text, m)
            kind = "heredoc"
        elif nested and c == "\\":
            i += 2  # python-hcl2 allows \"...\" strings inside template directives
            kind = "escape"
        elif (m := _IDENT.match(text, i)) is not None:
            i = m.end()
            kind = "ident"
        elif (m := _NUMBER.match(text, i)) is not None:
            i = m.end()
            kind = "number"
        else:
            punct = next((p for p in _PUNCT if text.startswith(p, i)), None)
            if punct is None:
                raise _LexError(f"unexpected character {c!r}")
            i += len(punct)
            kind = punct
            if nested and punct == "{":
                depth += 1
            elif nested and punct == "}":
                if depth == 0:
                    return tokens, i
                depth -= 1
        tokens.append(_Tok(kind, text[start:i], gap))
        gap_start = i
    if nested:
        raise _LexError("unterminated template sequence")
    return tokens, i


def _scan_string(text: str, pos: int) -> int:
    """Return the index just past the quoted template that opens at ``pos``."""
    i = pos + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        elif text.startswith(("$${", "%%{"), i):
            i += 3
        elif text.startswith(("${", "%{"), i):
            _, i = _lex(text, i + 2, nested=True)
        else:
            i += 1
    raise _LexError("unterminated string")


def _scan_heredoc(text: str, match: re.Match[str]) -> int:
    """Return the index just past the closing marker of the heredoc ``match`` opens."""
    marker = match.group(2)
    i = match.end()
    n = len(text)
    while i < n:
        end = text.find("\n", i)
        end = n if end == -1 else end
        if text[i:end].rstrip("\r").lstrip() == marker:
            return end
        i = end + 1
    raise _LexError("unterminated heredoc")


@dataclass
class _Line:
    """A line split into hclwrite's cells: ``lead``, then ``assign`` (from a top-level
    ``=``), then a trailing one-line ``comment``."""

    lead: list[_Tok]
    assign: list[_Tok]
    comment: list[_Tok]

    def tokens(self) -> list[_Tok]:
        return self.lead + self.assign + self.comment


_OPENERS = {"{", "[", "("}
_CLOSERS = {"}", "]", ")"}


def _brackets(tokens: Iterable[_Tok]) -> int:
    return sum((t.kind in _OPENERS) - (t.kind in _CLOSERS) for t in tokens)


def _split_lines(tokens: list[_Tok]) -> list[_Line]:
    raw: list[list[_Tok]] = [[]]
    for tok in tokens:
        if tok.kind == "nl":
            raw.append([])
        else:
            raw[-1].append(tok)
    # No blank lines at the start or end, and never two in a row.
    while raw and not raw[0]:
        raw.pop(0)
    while raw and not raw[-1]:
        raw.pop()
    squeezed: list[list[_Tok]] = []
    for toks in raw:
        if toks or (squeezed and squeezed[-1]):
            squeezed.append(toks)
    lines = []
    for toks in squeezed:
        lead, assign, comment = toks, [], []
        if len(lead) > 1 and lead[-1].kind == "lcomment":
            lead, comment = lead[:-1], lead[-1:]
        for i, tok in enumerate(lead):
            if i > 0 and tok.kind == "=":
                if _brackets(lead[i:]) == 0:
                    lead, assign = lead[:i], lead[i:]
                break
        lines.append(_Line(lead, assign, comment))
    return lines


def _indent(lines: list[_Line]) -> None:
    """hclwrite's indentation: one level per line that opens more brackets than it closes."""
    stack: list[int] = []
    for line in lines:
        if not line.lead:
            continue
        net = _brackets(line.lead) + _brackets(line.assign)
        if net > 0:
            line.lead[0].before = INDENT * len(stack)
            stack.append(net)
            continue
        closed = -net
        while closed > 0 and stack:
            if closed >= stack[-1]:
                closed -= stack.pop()
            else:
                stack[-1] -= closed
                closed = 0
        line.lead[0].before = INDENT * len(stack)


_NEGATION_FOLLOWS = {
    None, "(", "{", "[", "=", ":", ",", "?", "=>", "+", "-", "*", "/", "%",
    "==", "!=", "<", ">", "<=", ">=", "&&", "||", "!",
}  # fmt: skip


def _space_after(subject: _Tok, before: _Tok | None, after: _Tok) -> bool:
    """hclwrite's ``spaceAfterToken``: whether one space separates ``subject`` and ``after``."""
    s, a = subject.kind, after.kind
    if s == "ident" and a == "(":
        return False
    if (s == "ident" and a == "::") or (s == "::" and a == "ident"):
        return False
    if s == "." or a == ".":
        return False
    if a in (",", "..."):
        return False
    if s == ",":
        return True
    if s == "ident" and subject.text == "in" and before is not None and before.kind == "ident":
        return True
    if a == "[" and (s in ("ident", "number", "string") or s in _CLOSERS):
        return False
    if s == "!":
        return False
    if s == "-":
        return (before.kind if before is not None else None) not in _NEGATION_FOLLOWS
    if s == "{" or a == "}":
        return not (s == "{" and a == "}")
    return s not in _OPENERS and a not in _CLOSERS


def _respace(line: _Line) -> None:
    for cell in (line.lead, line.assign):
        for i in range(len(cell) - 1):
            before = cell[i - 1] if i > 0 else None
            cell[i + 1].before = " " if _space_after(cell[i], before, cell[i + 1]) else ""
    if line.assign:
        line.assign[0].before = " "
    if line.comment:
        line.comment[0].before = " "


def _width(tokens: list[_Tok]) -> int:
    """The column after ``tokens`` on the physical line where they end."""
    text = "".join(t.before + t.text for t in tokens)
    return _columns(text[text.rfind("\n") + 1 :])


def _columns(text: str) -> int:
    """Columns as hclwrite counts them: grapheme clusters, roughly (no third-party tables)."""
    if text.isascii():
        return len(text)
    count = 0
    joined = False  # the previous character was a zero-width joiner
    flag_half = False  # an odd regional indicator was just counted
    for ch in text:
        if joined:
            joined = False
            continue
        if ch == "\u200d":
            joined = True
            continue
        if unicodedata.category(ch) in ("Mn", "Me", "Cf") or 0x1F3FB <= ord(ch) <= 0x1F3FF:
            continue
        if 0x1F1E6 <= ord(ch) <= 0x1F1FF:
            flag_half = not flag_half
            if not flag_half:
                continue
        else:
            flag_half = False
        count += 1
    return count


def _align(lines: list[_Line], cell: str) -> None:
    """Pad the first token of ``cell`` so it lines up across consecutive lines having one."""
    chain: list[_Line] = []

    def close() -> None:
        if not chain:
            return
        widths = [_width(ln.lead if cell == "assign" else ln.lead + ln.assign) for ln in chain]
        target = max(widths)
        for ln, width in zip(chain, widths, strict=True):
            getattr(ln, cell)[0].before = " " * (target - width + 1)
        chain.clear()

    for line in lines:
        if getattr(line, cell):
            chain.append(line)
        else:
            close()
    close()


def _render(text: str, respace: bool) -> str | None:
    """Format ``text``; ``respace=False`` keeps the original spacing inside each line and
    only re-indents, aligns ``=`` and strips trailing whitespace."""
    try:
        tokens, _ = _lex(text)
    except (_LexError, RecursionError):
        return None
    lines = _split_lines(tokens)
    _indent(lines)
    if respace:
        for line in lines:
            _respace(line)
    else:
        for line in lines:
            if line.assign:
                line.assign[0].before = line.assign[0].before or " "
    _align(lines, "assign")
    if respace:
        _align(lines, "comment")
    if not lines:
        return ""
    return "\n".join("".join(t.before + t.text for t in line.tokens()) for line in lines) + "\n"
