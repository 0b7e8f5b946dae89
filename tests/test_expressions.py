"""Expression evaluation, table-driven: each row is one Terraform-semantics case."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from tests.support.engine import Workspace

from meshprov.diagnostics import DiagnosticError
from meshprov.lang.evaluate import EvalContext, evaluate
from meshprov.lang.parse import parse_expression, parse_file
from meshprov.lang.values import MAX_VALUE_DEPTH, UNKNOWN, HclSet, Sensitive

NAMES = {
    "var": {
        "s": "hello",
        "n": 5,
        "f": Decimal("2.5"),
        "b": True,
        "l": ["a", "b", "c"],
        "m": {"x": 1, "y": 2},
        "objs": [{"name": "eu", "ip": "10.0.0.1"}, {"name": "us", "ip": "10.0.0.2"}],
        "nul": None,
        "set": HclSet(["b", "a"]),
        "u": UNKNOWN,
        "secret": Sensitive("s3cret"),
        "nested": {"a": {"b": [10, 20]}},
    },
    "local": {"greeting": "hi"},
}


def run(text: str, names: dict | None = None):
    expr = parse_expression(text, "test.hcl")
    return evaluate(expr, EvalContext(NAMES if names is None else names, Path("/tmp")))


CASES = [
    # literals and numbers
    ("1", 1),
    ("1.5", Decimal("1.5")),
    ("-3", -3),
    ('"plain"', "plain"),
    ("true", True),
    ("null", None),
    ("[]", []),
    ("{}", {}),
    # arithmetic with Terraform's conversions
    ('"5" + 1', 6),
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 / 4", Decimal("2.5")),
    ("10 / 5", 2),
    ("7 % 3", 1),
    ("-7 % 3", -1),
    ("1 - 2 + 3", 2),
    ("2 * 3 - 4 / 2", 4),
    ("-var.n", -5),
    ("var.f * 2", 5),
    # comparison and logic
    ('1 == "1"', False),
    ("1 == 1.0", True),
    ('"a" == "a"', True),
    ("[1, 2] == [1, 2]", True),
    ("{a = 1} == {a = 1}", True),
    ("true == 1", False),
    ("null == null", True),
    ("var.nul == null", True),
    ("3 > 2", True),
    ('"10" > 9', True),
    ("2 >= 2 && 1 < 2", True),
    ("!true || false", False),
    ("true || false && false", True),
    ("!(1 > 2)", True),
    # conditionals
    ('var.b ? "yes" : "no"', "yes"),
    ('var.n > 10 ? "big" : "small"', "small"),
    ('"true" ? 1 : 2', 1),
    ("false ? 1 : true ? 2 : 3", 2),
    # templates
    ('"${var.s} world"', "hello world"),
    ('"n=${var.n}"', "n=5"),
    ('"${var.b}"', True),
    ('"x${var.b}"', "xtrue"),
    ('"%{ if var.b }on%{ else }off%{ endif }"', "on"),
    ('"%{ for x in var.l }${x},%{ endfor }"', "a,b,c,"),
    ('"%{ for k, v in var.m }${k}=${v};%{ endfor }"', "x=1;y=2;"),
    ('"a  %{~ if true ~}  b  %{~ endif ~}  c"', "abc"),
    ('"$${literal}"', "${literal}"),
    ('"%%{literal}"', "%{literal}"),
    ('"tab\\there"', "tab\there"),
    ('"quote \\"x\\""', 'quote "x"'),
    ('"\\u00e9"', "é"),
    # references, index, attribute, splat
    ("var.l[1]", "b"),
    ('var.m["y"]', 2),
    ("var.m.x", 1),
    ("var.l.0", "a"),
    ("var.nested.a.b[1]", 20),
    ("var.objs[*].name", ["eu", "us"]),
    ("var.objs.*.ip", ["10.0.0.1", "10.0.0.2"]),
    ("var.objs[0].name", "eu"),
    ("var.nul[*]", []),
    ("var.s[*]", ["hello"]),
    ("local.greeting", "hi"),
    # for expressions
    ("[for x in var.l : upper(x)]", ["A", "B", "C"]),
    ('[for i, x in var.l : "${i}${x}"]', ["0a", "1b", "2c"]),
    ('[for x in var.l : x if x != "b"]', ["a", "c"]),
    ("{for k, v in var.m : k => v * 10}", {"x": 10, "y": 20}),
    ("{for o in var.objs : o.name => o.ip}", {"eu": "10.0.0.1", "us": "10.0.0.2"}),
    ('{for x in ["a", "b", "a"] : x => x...}', {"a": ["a", "a"], "b": ["b"]}),
    ("[for x in var.set : x]", ["a", "b"]),
    ("[for k, v in {b = 2, a = 1} : k]", ["a", "b"]),
    # objects and tuples
    ('{a = 1, "b" = 2}', {"a": 1, "b": 2}),
    ("{(var.s) = 1}", {"hello": 1}),
    ('{"${var.s}x" = 1}', {"hellox": 1}),
    ('[1, "a", true]', [1, "a", True]),
    # functions through the evaluator, and the expansion syntax
    ("max(var.l...)" if False else "length(var.l)", 3),
    ("max([3, 9, 2]...)", 9),
    ('join("-", var.l)', "a-b-c"),
    ('try(var.m.nope, "fallback")', "fallback"),
    ("try(var.m.x, 0)", 1),
    ("can(var.m.nope)", False),
    ("can(var.m.x)", True),
    ("tostring(true)", "true"),
    ('format("%s-%d", "a", 3)', "a-3"),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_expression(text: str, expected: object) -> None:
    result = run(text)
    assert result == expected
    assert type(result) is type(expected)


UNKNOWN_CASES = [
    "var.u",
    "var.u + 1",
    '"x${var.u}"',
    "var.u ? 1 : 2",
    "var.u.attr",
    "var.l[var.u]",
    "[for x in var.u : x]",
    "upper(var.u)",
    "var.u == 1",
    "!var.u",
    "-var.u",
    '"%{ if var.u }a%{ endif }"',
    "{for k, v in var.m : k => v if var.u}",
    "can(var.u)",
    "try(var.u, 1)",
]


@pytest.mark.parametrize("text", UNKNOWN_CASES)
def test_unknown_propagates(text: str) -> None:
    assert run(text) is UNKNOWN


def test_unknown_inside_collections_stays_inside() -> None:
    assert run("[var.u, 1]") == [UNKNOWN, 1]
    assert run("length([var.u, 1])") == 2


SENSITIVE_CASES = [
    ("var.secret", "s3cret"),
    ('"pw=${var.secret}"', "pw=s3cret"),
    ("upper(var.secret)", "S3CRET"),
    ('var.secret == "x"', False),
    ("length(var.secret)", 6),
    ('var.secret != "" ? "set" : "unset"', "set"),
    ("[for c in [var.secret] : c]", ["s3cret"]),
    ('sensitive("plain")', "plain"),
]


@pytest.mark.parametrize(("text", "inner"), SENSITIVE_CASES)
def test_sensitive_propagates(text: str, inner: object) -> None:
    from meshprov.lang.values import unmark_deep

    result = run(text)
    raw, marked = unmark_deep(result)
    assert marked
    assert raw == inner


def test_nonsensitive_removes_the_mark() -> None:
    assert run("nonsensitive(var.secret)") == "s3cret"


ERROR_CASES = [
    ('1 + "a"', "Invalid operand", 'Unsuitable value for the "+" operator'),
    ("var.nope", "Unsupported attribute", 'does not have an attribute named "nope"'),
    ("var.l[5]", "Invalid index", "the collection has 3 element(s)"),
    ('var.m["z"]', "Invalid index", 'no key "z"'),
    ("var.nul.x", "Attempt to get attribute from null value", ""),
    ("var.objs.name", "Unsupported attribute", "list of objects"),
    ("nosuch(1)", "Call to unknown function", 'no function named "nosuch"'),
    ('uper("a")', "Call to unknown function", 'Did you mean "upper"?'),
    ('"x${var.l}"', "Invalid template interpolation value", "string required"),
    ('"x${var.nul}"', "Invalid template interpolation value", "null"),
    ("1 ? 2 : 3", "Incorrect condition type", ""),
    ("null ? 1 : 2", "Null condition", ""),
    ("{for x in [1, 1] : x => x}", "Duplicate object key", "ellipsis"),
    ("[for x in 5 : x]", "Iteration over non-iterable value", ""),
    ("0 / 0", "Operation failed", "can't divide zero by zero or infinity by infinity"),
    ("var.set[0]", "Invalid index", "set"),
    ("try(var.nope, var.alsonot)", "Error in function call", "no expression succeeded"),
    ("{a = 1, a = 2}", "Duplicate object attribute", ""),
    ("undefined_name", "Unknown variable", 'no variable named "undefined_name"'),
    ('upper("a", "b")', "Too many function arguments", "expects 1 argument(s), got 2"),
]


@pytest.mark.parametrize(
    ("text", "summary", "detail"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES]
)
def test_expression_errors(text: str, summary: str, detail: str) -> None:
    with pytest.raises(DiagnosticError) as info:
        run(text)
    diag = info.value.diagnostics[0]
    assert diag.summary == summary
    assert detail in diag.detail
    assert diag.range is not None and diag.range.filename == "test.hcl"


def test_error_points_at_the_subexpression() -> None:
    with pytest.raises(DiagnosticError) as info:
        run('concat([1], [2]) == 1 ? "a" : var.l[9]', {**NAMES, "var": {**NAMES["var"]}})
    # the condition is false, so the failing index is the false branch at column 31
    rng = info.value.diagnostics[0].range
    assert (rng.start.line, rng.start.column) == (1, 31)


HEREDOC = """
a = <<EOT
hello ${var.s}
  %{ for x in var.l ~}
  - ${x}
  %{ endfor ~}
EOT
b = <<-EOT
    indented
      more ${var.n}
    EOT
"""


def test_heredocs() -> None:
    body = parse_file(HEREDOC, "h.hcl").body
    ctx = EvalContext(NAMES, Path("/tmp"))
    # "~}" strips the newline and indentation after each directive, as in Terraform
    assert evaluate(body.attributes["a"].expr, ctx) == "hello hello\n  - a\n  - b\n  - c\n  "
    assert evaluate(body.attributes["b"].expr, ctx) == "indented\n  more 5\n"


def test_templatefile(tmp_path: Path) -> None:
    (tmp_path / "t.tpl").write_text("zones:%{ for z in zones }\n- ${upper(z)}%{ endfor }\n")
    expr = parse_expression('templatefile("t.tpl", { zones = ["eu", "us"] })', "x.hcl")
    assert evaluate(expr, EvalContext({}, tmp_path)) == "zones:\n- EU\n- US\n"


def test_file_reads_relative_to_module(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("content")
    expr = parse_expression('file("x.txt")', "x.hcl")
    assert evaluate(expr, EvalContext({}, tmp_path)) == "content"


# --- deeply nested input: HCL accepts it, so meshprov evaluates it -------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[" * 200 + "]" * 200, "nested"),
        ("upper(" * 200 + '"a"' + ")" * 200, "A"),
        ("+".join(["1"] * 600), 600),
        ("+".join(["1"] * 5000), 5000),
    ],
    ids=["200 nested [", "200 nested upper(", "600 chained +", "5000 chained +"],
)
def test_deep_nesting_evaluates(text: str, expected: object) -> None:
    result = run(text)
    if expected == "nested":
        depth = 0
        while isinstance(result, list) and result:
            result, depth = result[0], depth + 1
        assert (result, depth) == ([], 199)
    else:
        assert result == expected


def test_deep_nesting_in_a_configuration_plans_and_applies(tmp_path: Path) -> None:
    """The dependency graph reads the references inside deeply nested expressions too: it
    ran out of frames (a crash) on what the parser and evaluator take."""
    ws = Workspace(tmp_path)
    parens = "(" * 3000 + "var.n + length(test_thing.base.value)" + ")" * 3000
    calls = "max(" * 1000 + "var.n" + ")" * 1000
    ws.write(
        'variable "n" {\n  default = 1\n}\n\ntest_thing "base" {\n  value = "b"\n}\n\n'
        f'test_thing "deep" {{\n  value = "${{{parens}}} ${{{"+".join(["1"] * 3000)}}} '
        f'${{{calls}}} ${{length({"[" * 1000 + "var.n" + "]" * 1000})}}"\n}}\n'
    )
    ws.run("validate")
    ws.run("apply", "--auto-approve")
    assert ws.world("test_thing.deep")["value"] == "2 3000 1 1"
    assert ws.resources()["test_thing.deep"]["dependencies"] == ["test_thing.base"]


@pytest.mark.parametrize("made_by", ["literal", "jsondecode"])
def test_a_value_nested_past_what_meshprov_stores_is_a_diagnostic(
    tmp_path: Path, made_by: str
) -> None:
    """Evaluated on the deep stack, such a value then ran every walker of values (marks, the
    state's JSON, the plan's text) out of frames: validate and plan crashed."""

    def config(depth: int) -> str:
        nested = "[" * depth + "]" * depth
        value = f'jsondecode("{nested}")' if made_by == "jsondecode" else nested
        return f'locals {{\n  ok = 1\n}}\n\noutput "deep" {{\n  value = {value}\n}}\n'

    ws = Workspace(tmp_path)
    ws.write(config(MAX_VALUE_DEPTH + 1))
    for args in (("validate",), ("plan",)):
        result = ws.run(*args, "--no-color", code=1)
        assert "Error: Value nested too deeply" in result.stderr
        assert re.search(r"on \S*main\.hcl line 6", result.stderr), result.stderr
    ws.write(config(MAX_VALUE_DEPTH))
    ws.run("apply", "--auto-approve")
    assert json.loads(ws.run("output", "--json").stdout)["deep"]["value"]
    ws.run("show")


def test_nesting_beyond_any_stack_is_a_diagnostic_with_the_line() -> None:
    text = "locals {\n  ok = 1\n  x = " + "[" * 10_000 + "]" * 10_000 + "\n}\n"
    with pytest.raises(DiagnosticError) as info:
        parse_file(text, "deep.hcl")
    diag = info.value.diagnostics[0]
    assert diag.summary == "Expression nested too deeply"
    assert (diag.range.filename, diag.range.start.line) == ("deep.hcl", 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[{name = "a"}, {name = "b"}].*.name[0]', "a"),  # [0] applies to the splat's result
        ('[{n = ["a"]}, {n = ["b"]}][*].n[0]', ["a", "b"]),  # ... but is part of a full splat
        ('[{s = "foo"}, {s = "bar"}][*].s[*]', [["foo"], ["bar"]]),  # a splat per element
        ('"x"[*]', ["x"]),
    ],
)
def test_splats_as_hcl(text: str, expected: object) -> None:
    assert run(text) == expected


def test_bare_keyword_object_keys_are_names() -> None:
    assert run('{null = "yes", true = 1}') == {"null": "yes", "true": 1}


def test_a_reference_as_object_key_must_be_parenthesised() -> None:
    with pytest.raises(DiagnosticError) as info:
        run('{var.greeting = "world"}')
    assert info.value.diagnostics[0].summary == "Ambiguous attribute key"
    assert run('{(var.m.x) = "world"}', {"var": {"m": {"x": "k"}}}) == {"k": "world"}


def test_indented_heredoc_strips_unicode_space_indentation() -> None:
    text = "x = <<-EOT\n\u3000\u3000a\n\u3000\u3000\u3000b\n\u3000\u3000EOT\n"
    expr = parse_file(text, "h.hcl").body.attributes["x"].expr
    assert evaluate(expr, EvalContext({}, Path("/tmp"))) == "a\n\u3000b\n"


# --- static types and refinements of unknowns (cty's) ----------------------------------------

STATIC_CASES = [
    # a template over an unknown is a string, not null, whose beginning is known
    ('startswith("https://${var.u}", "https://")', True),
    ('startswith("https://${var.u}", "http:")', False),
    ('startswith("h${var.u}", "h")', UNKNOWN),  # "h" could still combine with what follows
    ('length(["a", var.u])', 2),
    ('length("x${var.u}")', UNKNOWN),
    ('"x${var.u}"[*]', [UNKNOWN]),  # not null, so a one-element tuple
    ("var.u[*]", UNKNOWN),  # it may be null (no element) or a list
    ("(var.u ? 1 : 5) < 10", True),  # an unknown condition over numbers gives their range
    ("(var.u ? 1 : 5) > 5", False),
    ("(var.u ? 1 : 5) >= 5", UNKNOWN),
    ("tostring(null) == null", True),
]


@pytest.mark.parametrize(("text", "expected"), STATIC_CASES)
def test_what_is_known_before_apply(text: str, expected: object) -> None:
    assert run(text) == expected


STATIC_ERRORS = [
    ('[for c in "x${var.u}" : c]', "Iteration over non-iterable value"),
    ('"x${var.u}"["key"]', "Invalid index"),
    ('"x${var.u}".name', "Unsupported attribute"),
    ('"x${var.u}".*.name', "Unsupported attribute"),
    ('tobool(tolist(["x${var.u}"]))', "Invalid function argument"),
    ("merge({}, tostring(null))", "Error in function call"),
    ('merge({}, "x${var.u}")', "Error in function call"),
    ('jsondecode("ab${var.u}")', "Error in function call"),
]


@pytest.mark.parametrize(("text", "summary"), STATIC_ERRORS)
def test_static_type_errors_before_apply(text: str, summary: str) -> None:
    with pytest.raises(DiagnosticError) as info:
        run(text)
    assert info.value.diagnostics[0].summary == summary


def test_unknowns_leave_evaluation_untyped() -> None:
    """The engine, the planner and the types see one unknown, whatever evaluation knew."""
    value = run('["https://${var.u}", upper("x${var.u}"), {a = tostring(var.u)}]')
    assert value[0] is UNKNOWN
    assert value[1] is UNKNOWN
    assert value[2]["a"] is UNKNOWN
    assert run("tostring(null)") is None
