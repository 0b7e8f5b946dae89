"""Syntax errors point where the mistake is, with a message that names it.

The grammar's own failure is often far from the cause (a quoted string that runs on over a
newline fails lines later; a missing "}" fails at the end of the file), so ``lang.parse``
looks for the likely cause before falling back to the grammar's "found X, expected Y".
"""

from __future__ import annotations

import pytest

from meshprov.diagnostics import Diagnostic, DiagnosticError
from meshprov.lang.parse import parse_expression, parse_file


def _error(text: str) -> Diagnostic:
    with pytest.raises(DiagnosticError) as caught:
        parse_file(text, "main.hcl")
    (diag,) = caught.value.diagnostics
    return diag


@pytest.mark.parametrize(
    ("text", "summary", "line", "column", "detail"),
    [
        # a string missing its closing quote: the grammar fails at the end of the file
        (
            'ca "root" {\n  common_name = "Root CA\n  organization = "x"\n}\n',
            "Unterminated template string",
            2,
            17,
            "No closing quote",
        ),
        # ... or parses, with the string running on into the next line
        ('a = "x\ny"\nb = 1\n', "Unterminated template string", 1, 5, "split over multiple"),
        ('a = "${x}\n"\n', "Unterminated template string", 1, 5, "No closing quote"),
        ('a = "abc', "Unterminated template string", 1, 5, "No closing quote"),
        ("pem = <<EOT\nline\n", "Unterminated template string", 1, 7, "no closing EOT line"),
        ("x = 1\n  a = <<-EOT\n  foo\n  EOTX\n", "Unterminated template string", 2, 7, "EOT"),
        # a block without its "}": point at its "{", not past the end of the file
        (
            'ca "r" {\n  x = 1\n\nzone "eu" {\n  y = 2\n}\n\n\n',
            "Unclosed configuration block",
            1,
            8,
            'no closing "}"',
        ),
        ("a = [\n", "Syntax error", 1, 5, 'no closing "]" for this "["'),
        ("a = f(1,\n", "Syntax error", 1, 6, 'no closing ")"'),
        ('z {\n  a = ["1",\n}\n', "Syntax error", 3, 1, 'the "[" opened at line 2, column 7'),
        ('z {\n  a = ["1",]]\n}\n', "Syntax error", 2, 13, 'Found "]", which closes nothing'),
        ("a = 1\n}}\n", "Syntax error", 2, 1, 'Found "}", which closes nothing'),
        (
            'ca "root" {\n  common_name =\n  organization = "x"\n}\n',
            "Syntax error",
            2,
            16,
            'Expected a value after "="',
        ),
        # strings, comments and heredocs do not confuse the bracket and quote scanner
        ('# "quote {\na = "}" /* [ */\nb = [\n', "Syntax error", 3, 5, 'no closing "]"'),
        ('a = "${ {x = "}"} }"\nb = "', "Unterminated template string", 2, 5, "No closing"),
        ('a = <<EOT\n"{[\nEOT\nb = (\n', "Syntax error", 4, 5, 'no closing ")"'),
    ],
)
def test_syntax_error_points_at_the_cause(
    text: str, summary: str, line: int, column: int, detail: str
) -> None:
    diag = _error(text)
    assert (diag.summary, diag.range.start.line, diag.range.start.column) == (
        summary,
        line,
        column,
    ), diag
    assert detail in diag.detail


def test_end_of_file_is_shown_on_the_last_line_not_past_it() -> None:
    diag = _error("a = 1 +\n\n\n")
    assert diag.range.start.line == 1
    assert "end of the file" in diag.detail


def test_expression_errors_are_placed_where_the_expression_stands() -> None:
    with pytest.raises(DiagnosticError) as caught:
        parse_expression('["eu", ', "<value for var.zones from --var>")
    (diag,) = caught.value.diagnostics
    assert diag.summary == "Syntax error"
    assert (diag.range.start.line, diag.range.start.column) == (1, 1)
    assert 'no closing "]"' in diag.detail
    with pytest.raises(DiagnosticError) as caught:
        parse_expression("[1, 2)", "<v>", line=3, column=10)
    (diag,) = caught.value.diagnostics
    assert (diag.range.start.line, diag.range.start.column) == (3, 15)
    assert 'Found ")", which closes nothing' in diag.detail


def test_valid_text_with_tricky_strings_still_parses() -> None:
    text = (
        'a = "ok" # "not a string\n'
        'b = "$${literal} %%{also}"\n'
        'c = "${ {k = "}"}["k"] }"\n'
        "d = <<-EOT\n"
        '  "quoted { [ ( in a heredoc\n'
        "  EOT\n"
        'e = "\\"escaped\\" quote"\n'
    )
    body = parse_file(text, "main.hcl").body
    assert set(body.attributes) == {"a", "b", "c", "d", "e"}
