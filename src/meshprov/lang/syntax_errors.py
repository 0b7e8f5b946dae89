"""One front end for HCL syntax errors: what ``validate`` (``lang.parse``) and ``fmt``
(``hclfmt``) say about the same broken file.

python-hcl2's LALR parser reports the token where it gave up; that is often far from the
mistake (a quoted string runs on over newlines, a block is never closed). The file is scanned
for what is still open at that point, so the diagnostic names the opener, as HCL's does.
"""

from __future__ import annotations

import re

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from meshprov.diagnostics import Diagnostic, Pos, SourceRange, error

_EXPRESSION_START = {"INT_LITERAL", "LSQB", "LBRACE", "DBLQUOTE"}
_STRING_INSIDE = {"STRING_CHARS", "INTERP_START", "DIRECTIVE_START"}
_KEYWORDS = {"IF", "IN", "FOR", "FOR_EACH", "ELSE", "ENDIF", "ENDFOR", "TRUE", "FALSE", "NULL"}
_OPERATORS = {
    "DOUBLE_EQ", "NEQ", "LT", "GT", "LEQ", "GEQ", "MINUS", "ASTERISK", "SLASH", "PERCENT",
    "DOUBLE_AMP", "DOUBLE_PIPE", "PLUS", "QMARK",
}  # fmt: skip
_EXPECTED_NAMES = {
    "$END": "the end of the file",
    "NAME": "an identifier",
    "NL_OR_COMMENT": "a newline",
    "EQ": '"="',
    "COLON": '":"',
    "COMMA": '","',
    "DOT": '"."',
    "LBRACE": '"{"',
    "RBRACE": '"}"',
    "LSQB": '"["',
    "RSQB": '"]"',
    "LPAR": '"("',
    "RPAR": '")"',
    "DBLQUOTE": "a quoted string",
    "INT_LITERAL": "a number",
    "FLOAT_LITERAL": "a number",
    "FOR_OBJECT_ARROW": '"=>"',
    "ELLIPSIS": '"..."',
    "ATTR_SPLAT": '".*"',
    "FULL_SPLAT_START": '"[*]"',
}


def _describe_expected(expected: set[str]) -> str:
    if expected >= _EXPRESSION_START:
        return "an expression"
    if expected & _STRING_INSIDE:
        return 'the closing quote (") of the string'
    names: list[str] = []
    if "NAME" in expected:
        expected = expected - _KEYWORDS
    if expected & _OPERATORS:
        names.append("an operator")
        expected = expected - _OPERATORS
    for term in sorted(expected):
        name = _EXPECTED_NAMES.get(term, term.lower())
        if name not in names:
            names.append(name)
    if not names:
        return "something else"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def syntax_error(
    exc: UnexpectedInput, text: str, filename: str, line0: int = 1, col0: int = 1
) -> Diagnostic:
    line = getattr(exc, "line", None) or 1
    column = getattr(exc, "column", None) or 1
    at_end = isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    )
    where = getattr(exc, "pos_in_stream", None)
    unclosed, brackets = _scan(text, len(text) if at_end or where is None else where)
    innermost = brackets[-1] if brackets else None
    raw_found = str(exc.token).lstrip(" \t") if isinstance(exc, UnexpectedToken) else ""
    found = raw_found.strip().splitlines()[0] if raw_found.strip() else ""
    before = text[:where].rsplit("\n", 1)[-1].rstrip() if where is not None else ""
    summary = "Syntax error"
    if unclosed is not None:
        # the grammar lets a quoted string run on over newlines and fails somewhere later
        opener, line, column = unclosed
        summary = "Unterminated template string"
        detail = UNTERMINATED_DETAIL
        if opener == "<<":
            marker = _HEREDOC_START_RE.match(text.splitlines(keepends=True)[line - 1], column - 1)
            detail = (
                f"There is no closing {marker.group(1) if marker else 'marker'} line for this "
                "heredoc before the end of the file. The closing marker must stand alone on its "
                "own line."
            )
    elif innermost is not None and at_end:
        opener, line, column = innermost
        header = text.splitlines()[line - 1][: column - 1]
        if opener == "{" and _BLOCK_HEADER_RE.match(header):
            summary = "Unclosed configuration block"
        detail = (
            f'There is no closing "{_CLOSERS[opener]}" for this "{opener}" before the end of the '
            "file. This may be caused by incorrect nesting elsewhere in this file."
        )
    elif isinstance(exc, UnexpectedEOF) or line < 1:
        line, column = _end_of_text(text)
        detail = "The file ends before the expression or block is complete."
    elif isinstance(exc, UnexpectedCharacters):
        char = exc.char if exc.char != "\n" else "newline"
        detail = f"This character is not expected here: {char!r}."
        if exc.allowed:
            detail += f" Expected {_describe_expected(set(exc.allowed))}."
    elif found in ("}", "]", ")") and not any(_CLOSERS[b[0]] == found for b in brackets):
        detail = f'Found "{found}", which closes nothing: no "{_OPENERS[found]}" is open here.'
    elif found in ("}", "]", ")") and innermost is not None and found != _CLOSERS[innermost[0]]:
        opener, open_line, open_column = innermost
        detail = (
            f'Found "{found}", but the "{opener}" opened at line {line0 + open_line - 1}, column '
            f"{open_column + (col0 - 1 if open_line == 1 else 0)} is not closed yet: it needs a "
            f'"{_CLOSERS[opener]}" first.'
        )
    elif isinstance(exc, UnexpectedToken) and before.endswith("=") and raw_found[:1] in "\r\n":
        detail = 'Expected a value after "=", but the line ends here.'
    elif isinstance(exc, UnexpectedToken):
        if exc.token.type == "$END":
            found_text = "the end of the file"
        elif exc.token.type == "NL_OR_COMMENT":
            found_text = "a comment" if found else "a newline"
        else:
            shown = found if len(found) <= 40 else found[:37] + "..."
            found_text = f"'{shown}'" if '"' in shown else f'"{shown}"'
        detail = f"Expected {_describe_expected(set(exc.expected or ()))}, but found {found_text}."
    else:
        detail = str(exc).splitlines()[0]
    if line > len(text.splitlines()):  # "$END" sits after the last line: show the last one
        line, column = _end_of_text(text)
    abs_line = line0 + line - 1
    abs_col = column + (col0 - 1 if line == 1 else 0)
    byte, width = _byte_span(text, line, column)
    start, end = Pos(abs_line, abs_col, byte), Pos(abs_line, abs_col + 1, byte + width)
    return error(summary, detail, SourceRange(filename, start, end))


def _byte_span(text: str, line: int, column: int) -> tuple[int, int]:
    """UTF-8 byte offset and width of the character at ``line``:``column`` of ``text``."""
    lines = text.split("\n")
    line = min(max(line, 1), len(lines))
    current = lines[line - 1]
    before = sum(len(s.encode("utf-8")) + 1 for s in lines[: line - 1])
    char = current[column - 1 : column]
    return before + len(current[: column - 1].encode("utf-8")), len(char.encode("utf-8"))


UNTERMINATED_DETAIL = (
    "No closing quote was found for the string on this line. Quoted strings may not be split "
    'over multiple lines: use the \\n escape for a newline, or a heredoc ("<<EOT") for '
    "multi-line text."
)
_HEREDOC_START_RE = re.compile(r"<<-?([A-Za-z_][\w-]*)[ \t]*\r?\n")
_BLOCK_HEADER_RE = re.compile(r'^\s*[A-Za-z_][\w-]*(\s+("[^"\n]*"|[A-Za-z_][\w-]*))*\s*$')
_CLOSERS = {"{": "}", "[": "]", "(": ")", "${": "}"}
_OPENERS = {"}": "{", "]": "[", ")": "("}

Opener = tuple[str, int, int]  # an opening '"', "<<", "{", "[", "(" or "${", with line and column


def _end_of_text(text: str) -> tuple[int, int]:
    """Line and column just after the last non-blank line: where "end of file" is shown."""
    lines = text.splitlines() or [""]
    last = max((i for i, ln in enumerate(lines) if ln.strip()), default=len(lines) - 1)
    return last + 1, len(lines[last].rstrip()) + 1


def _scan(text: str, until: int) -> tuple[Opener | None, list[Opener]]:
    """What a failed parse most likely tripped over, for a better message than the grammar's.

    Returns a quoted string opened before offset ``until`` that a newline or the end of the
    text interrupts (``'"'``), or a heredoc that never closes (``"<<"``); and the brackets
    still open at ``until``, innermost last. A small scanner over comments, heredocs, quoted
    strings and the ``${ }``/``%{ }`` sequences inside them (in which strings nest), only
    called once the parse has failed.
    """
    stack: list[tuple[str, int, int, int]] = []  # (opener, line, column, offset)
    open_at_until: list[Opener] = []
    line, col, i, n = 1, 1, 0, len(text)
    while i < n:
        if i == until:
            open_at_until = _open_brackets(stack)
        ch = text[i]
        step = 1
        if stack and stack[-1][0] == '"':
            if ch == "\\":
                step = 2
            elif ch == '"':
                stack.pop()
            elif ch == "\n":
                if stack[-1][3] <= until:
                    return stack[-1][:3], open_at_until
                stack.pop()  # after the failure: not what broke the parse
            elif text.startswith(("$${", "%%{"), i):
                step = 3
            elif text.startswith(("${", "%{"), i):
                stack.append(("${", line, col, i))
                step = 2
        elif ch == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            step = (end if end >= 0 else n) - i
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            step = (end + 2 if end >= 0 else n) - i
        elif heredoc := _HEREDOC_START_RE.match(text, i):
            closing = re.compile(rf"^[ \t]*{re.escape(heredoc.group(1))}[ \t]*$", re.M)
            close = closing.search(text, heredoc.end())
            if close is None:
                return (("<<", line, col) if i <= until else None), open_at_until
            step = close.end() - i
        elif ch in '"{[(':
            stack.append((ch, line, col, i))
        elif ch in "}])" and stack and _CLOSERS[stack[-1][0]] == ch:
            stack.pop()
        skipped = text[i : i + step]
        newlines = skipped.count("\n")
        line += newlines
        col = len(skipped) - skipped.rfind("\n") if newlines else col + len(skipped)
        i += step
    if stack and stack[-1][0] == '"' and stack[-1][3] <= until:
        return stack[-1][:3], open_at_until
    return None, open_at_until if until < n else _open_brackets(stack)


def _open_brackets(stack: list[tuple[str, int, int, int]]) -> list[Opener]:
    return [entry[:3] for entry in stack if entry[0] != '"']
