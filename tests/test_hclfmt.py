"""Tests for meshprov.hclfmt: canonical HCL formatting that keeps comments and meaning."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import hcl2.api
import pytest

from meshprov import hclfmt
from meshprov.diagnostics import DiagnosticError
from meshprov.hclfmt import FormatResult, format_paths, format_source, unified_diff

FIXTURES = Path(__file__).parent / "fixtures" / "fmt"
CASES = sorted(p.name.removesuffix(".in.hcl") for p in FIXTURES.glob("*.in.hcl"))


def _fixture(name: str) -> tuple[str, str]:
    source = (FIXTURES / f"{name}.in.hcl").read_text(encoding="utf-8")
    expected = (FIXTURES / f"{name}.out.hcl").read_text(encoding="utf-8")
    return source, expected


def _comments(text: str) -> list[str]:
    """Every comment's text, found with the formatter's own tokenizer (strings are skipped)."""
    tokens, _ = hclfmt._lex(text)
    return [t.text.rstrip() for t in tokens if t.kind in ("comment", "lcomment")]


def _heredocs(text: str) -> list[str]:
    tokens, _ = hclfmt._lex(text)
    return [t.text for t in tokens if t.kind == "heredoc"]


def test_fixture_set_is_complete() -> None:
    assert len(CASES) >= 8
    for name in CASES:
        assert (FIXTURES / f"{name}.out.hcl").is_file(), name


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    source, expected = _fixture(name)
    assert format_source(source, f"{name}.in.hcl") == expected


@pytest.mark.parametrize("name", CASES)
def test_idempotent(name: str) -> None:
    source, expected = _fixture(name)
    once = format_source(source, "x.hcl")
    assert format_source(once, "x.hcl") == once
    assert format_source(expected, "x.hcl") == expected


@pytest.mark.parametrize("name", CASES)
def test_meaning_preserved(name: str) -> None:
    """The golden rule: python-hcl2 loads the same data (comments included) before and after."""
    source, expected = _fixture(name)
    assert hcl2.api.loads(format_source(source, "x.hcl")) == hcl2.api.loads(source)
    assert hcl2.api.loads(expected) == hcl2.api.loads(source)


@pytest.mark.parametrize("name", CASES)
def test_comments_and_heredocs_survive_byte_for_byte(name: str) -> None:
    source, _ = _fixture(name)
    formatted = format_source(source, "x.hcl")
    assert _comments(formatted) == _comments(source)
    assert _heredocs(formatted) == _heredocs(source)


def test_already_formatted_file_is_unchanged() -> None:
    source, expected = _fixture("already_formatted")
    assert source == expected


def test_templates_are_kept_verbatim() -> None:
    source, _ = _fixture("templates")
    formatted = format_source(source, "templates.hcl")
    strings = re.findall(r'= *(".*")$', source, flags=re.MULTILINE)
    assert strings
    for literal in strings:
        assert literal in formatted


def test_heredoc_body_keeps_trailing_spaces_and_tabs() -> None:
    source, _ = _fixture("heredocs")
    formatted = format_source(source, "heredocs.hcl")
    assert '    echo "${var.name}"   \n' in formatted
    assert "\ta tab-indented line\n" in formatted
    assert '     "b": [1,2]\n' in formatted


def test_alignment_chains_break_at_blank_lines_comments_and_blocks() -> None:
    source = "a = 1\nbbb = 2\n\ncc = 3\n# note\nd = 4\nblk {\n  x = 1\n  yy = 2\n}\n"
    assert format_source(source, "x.hcl") == (
        "a   = 1\nbbb = 2\n\ncc = 3\n# note\nd = 4\nblk {\n  x  = 1\n  yy = 2\n}\n"
    )


def test_trailing_comments_are_aligned() -> None:
    source = 'a = 1 # one\nbungle = "bonce" # two\nzebra = "striped" // three\n'
    assert format_source(source, "x.hcl") == (
        'a      = 1         # one\nbungle = "bonce"   # two\nzebra  = "striped" // three\n'
    )


def test_alignment_counts_characters_not_bytes() -> None:
    source = 'a = "é" # x\nbb = "🇬🇧" # y\nccc = "e" # z\n'
    assert format_source(source, "x.hcl") == ('a   = "é" # x\nbb  = "🇬🇧" # y\nccc = "e" # z\n')


def test_empty_and_blank_files() -> None:
    assert format_source("", "x.hcl") == ""
    assert format_source("\n\n  \n", "x.hcl") == ""
    assert format_source("# just a comment", "x.hcl") == "# just a comment\n"


def test_crlf_line_endings_are_kept() -> None:
    source = "a=1\r\nbb = <<EOT\r\n  body  \r\nEOT\r\n"
    formatted = format_source(source, "x.hcl")
    assert formatted == "a  = 1\r\nbb = <<EOT\r\n  body  \r\nEOT\r\n"
    assert hcl2.api.loads(formatted) == hcl2.api.loads(source)


def test_conservative_fallback_when_respacing_would_change_meaning() -> None:
    # python-hcl2 reads "1 .5" as an index into 1 but "1.5" as a number, so joining the
    # tokens would change what the file means: only indentation and "=" alignment happen.
    source = "a = 1 .5\nbb   =    2\n"
    formatted = format_source(source, "x.hcl")
    assert formatted == "a  = 1 .5\nbb =    2\n"
    assert hcl2.api.loads(formatted) == hcl2.api.loads(source)
    assert format_source(formatted, "x.hcl") == formatted


def test_unformattable_file_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def corrupt(text: str, respace: bool) -> str:
        return text.replace("1", "2")

    monkeypatch.setattr(hclfmt, "_render", corrupt)
    source = "a = 1\n"
    assert format_source(source, "x.hcl") == source


def test_non_fixed_point_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def grows(text: str, respace: bool) -> str:
        return text.rstrip("\n") + " \n"  # same meaning, but never a fixed point

    monkeypatch.setattr(hclfmt, "_render", grows)
    source = "a = 1\n"
    assert format_source(source, "x.hcl") == source


@pytest.mark.parametrize(
    ("source", "line", "column", "summary", "detail"),
    [
        ("a = 1\nb = \n", 2, 5, "Syntax error", 'Expected a value after "=", but the line ends'),
        ('zone "eu" {\n  ca = ca.root\n  dp_port = @\n}\n', 3, 13, "Syntax error", 'found "@"'),
        ("a = 1 2\n", 1, 7, "Syntax error", 'found "2"'),
        (
            'ca "x" {\n  common_name = "x"\n',
            1,
            8,
            "Unclosed configuration block",
            'There is no closing "}" for this "{"',
        ),
        ('x {\n  a = "unterminated\n}\n', 2, 7, "Unterminated template string", "No closing"),
        (
            "a = <<EOT\nno end\n",
            1,
            5,
            "Unterminated template string",
            "There is no closing EOT line for this heredoc",
        ),
        ("a = 1\n}\n", 2, 1, "Syntax error", 'Found "}", which closes nothing'),
        ("a = [1,\n", 1, 5, "Syntax error", 'There is no closing "]" for this "["'),
    ],
)
def test_syntax_error_is_a_diagnostic(
    source: str, line: int, column: int, summary: str, detail: str
) -> None:
    with pytest.raises(DiagnosticError) as info:
        format_source(source, "conf/main.hcl")
    (diag,) = info.value.diagnostics
    assert diag.severity == "error"
    assert diag.summary == summary
    assert detail in diag.detail
    assert diag.range is not None
    assert diag.range.filename == "conf/main.hcl"
    assert (diag.range.start.line, diag.range.start.column) == (line, column)
    lines = source.split("\n")
    offset = sum(len(s) + 1 for s in lines[: line - 1]) + column - 1
    assert diag.range.start.byte == offset
    assert diag.range.end >= diag.range.start


@pytest.mark.parametrize(
    "source",
    ["{", "}", "= 1", "a = {", "a = [}", 'a = "${', "a = 1 +", "\x00", "a = ~", "€ = 1", "a" * 500],
)
def test_bad_input_never_raises_anything_else(source: str) -> None:
    with pytest.raises(DiagnosticError):
        format_source(source, "x.hcl")


def test_format_paths_and_result(tmp_path: Path) -> None:
    (tmp_path / "good.hcl").write_text("a = 1\n", encoding="utf-8")
    (tmp_path / "bad.hcl").write_text("a=1\nbb=2\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not hcl {", encoding="utf-8")
    results = format_paths([tmp_path])
    assert [r.path.name for r in results] == ["bad.hcl", "good.hcl"]
    bad, good = results
    assert bad.changed and not good.changed
    assert bad.formatted == "a  = 1\nbb = 2\n"
    assert bad.original == "a=1\nbb=2\n"
    with pytest.raises(dataclasses.FrozenInstanceError):
        bad.formatted = ""  # type: ignore[misc]
    assert format_paths([tmp_path / "good.hcl"]) == [good]


def test_format_paths_collects_every_error(tmp_path: Path) -> None:
    (tmp_path / "a.hcl").write_text("a = \n", encoding="utf-8")
    (tmp_path / "b.hcl").write_text("x {\n", encoding="utf-8")
    (tmp_path / "c.hcl").write_bytes(b'a = "\xff"\n')
    with pytest.raises(DiagnosticError) as info:
        format_paths([tmp_path / name for name in ("a.hcl", "b.hcl", "c.hcl", "missing.hcl")])
    summaries = [d.summary for d in info.value.diagnostics]
    assert summaries[2:] == ["Invalid file encoding", "Failed to read file"]
    assert info.value.diagnostics[0].range is not None
    assert info.value.diagnostics[0].range.filename == str(tmp_path / "a.hcl")


def test_unified_diff() -> None:
    result = FormatResult(Path("conf/main.hcl"), "a=1\nbb = 2\n", "a  = 1\nbb = 2\n")
    expected = [
        "--- old/conf/main.hcl",
        "+++ new/conf/main.hcl",
        "@@ -1,2 +1,2 @@",
        "-a=1",
        "+a  = 1",
        " bb = 2",
    ]
    assert unified_diff(result) == "".join(line + "\n" for line in expected)


def test_unified_diff_unchanged_and_missing_final_newline() -> None:
    assert unified_diff(FormatResult(Path("x.hcl"), "a = 1\n", "a = 1\n")) == ""
    diff = unified_diff(FormatResult(Path("x.hcl"), "a = 1", "a = 1\n"))
    assert diff.splitlines()[:2] == ["--- old/x.hcl", "+++ new/x.hcl"]
    assert "-a = 1\n\\ No newline at end of file\n+a = 1\n" in diff


@pytest.mark.parametrize(
    "source",
    ['zone "eu" {\n  ca = ca.root\n', "a = [1,\n", 'x {\n  a = "open\n}\n', "a = 1 2\n"],
)
def test_fmt_and_validate_say_the_same_about_a_syntax_error(source: str) -> None:
    from meshprov.lang.parse import parse_file

    with pytest.raises(DiagnosticError) as fmt_info:
        format_source(source, "main.hcl")
    with pytest.raises(DiagnosticError) as validate_info:
        parse_file(source, "main.hcl")
    assert fmt_info.value.diagnostics == validate_info.value.diagnostics
