"""Type constraints and conversion, one Terraform behaviour per table row."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from meshprov.diagnostics import DiagnosticError, Pos, SourceRange
from meshprov.lang import ast
from meshprov.lang.types import (
    ANY,
    BOOL,
    NUMBER,
    STRING,
    ConversionError,
    ListType,
    MapType,
    ObjectAttr,
    ObjectType,
    SetType,
    TupleType,
    convert,
    parse_type,
    to_bool,
    to_number,
    to_string,
)
from meshprov.lang.values import UNKNOWN, HclSet, Sensitive

R = SourceRange("variables.hcl", Pos(1, 1), Pos(1, 10))


def name(n: str) -> ast.Name:
    return ast.Name(R, n)


def lit(v: Any) -> ast.Literal:
    return ast.Literal(R, v)


def call(fn: str, *args: ast.Expression) -> ast.FunctionCall:
    return ast.FunctionCall(R, fn, args, False)


def tup(*items: ast.Expression) -> ast.TupleExpr:
    return ast.TupleExpr(R, items)


def obj(**attrs: ast.Expression) -> ast.ObjectExpr:
    return ast.ObjectExpr(R, tuple(ast.ObjectItem(lit(k), v) for k, v in attrs.items()))


def shape(v: Any) -> Any:
    """The value with every Python type spelled out, so 1, 1.0 and True never compare equal."""
    if isinstance(v, Sensitive):
        return ("Sensitive", shape(v.value))
    if isinstance(v, list | HclSet):
        return (type(v).__name__, [shape(x) for x in v])
    if isinstance(v, dict):
        return ("dict", {k: shape(x) for k, x in v.items()})
    return (type(v).__name__, v)


SERVER = ObjectType(
    (
        ObjectAttr("host", STRING),
        ObjectAttr("port", NUMBER, True, 5685),
        ObjectAttr("tags", ListType(STRING), True),
    )
)


# --- parse_type ----------------------------------------------------------------------------

PARSE_CASES = [
    (name("string"), STRING, "string"),
    (name("number"), NUMBER, "number"),
    (name("bool"), BOOL, "bool"),
    (name("any"), ANY, "any"),
    (call("list", name("string")), ListType(STRING), "list(string)"),
    (call("set", name("number")), SetType(NUMBER), "set(number)"),
    (call("map", name("any")), MapType(ANY), "map(any)"),
    (call("list", call("map", name("bool"))), ListType(MapType(BOOL)), "list(map(bool))"),
    (
        call("tuple", tup(name("string"), name("number"))),
        TupleType((STRING, NUMBER)),
        "tuple([string,number])",
    ),
    (
        call("object", obj(b=name("number"), a=name("string"))),
        ObjectType((ObjectAttr("a", STRING), ObjectAttr("b", NUMBER))),
        "object({a=string,b=number})",
    ),
    (
        call("object", obj(a=call("optional", name("number"), lit(5)))),
        ObjectType((ObjectAttr("a", NUMBER, True, 5),)),
        "object({a=optional(number, 5)})",
    ),
    (
        call("object", obj(a=call("optional", name("string")))),
        ObjectType((ObjectAttr("a", STRING, True, None),)),
        "object({a=optional(string)})",
    ),
    (
        # the default is converted to the attribute's type when the type is parsed
        call("object", obj(p=call("optional", name("string"), lit(8)))),
        ObjectType((ObjectAttr("p", STRING, True, "8"),)),
        'object({p=optional(string, "8")})',
    ),
    (
        call("object", obj(l=call("optional", call("list", name("string")), tup(lit("a"))))),
        ObjectType((ObjectAttr("l", ListType(STRING), True, ["a"]),)),
        'object({l=optional(list(string), ["a"])})',
    ),
    (
        call(
            "object",
            ast.ObjectExpr(R, (ast.ObjectItem(name("host"), name("string")),)),
        ),
        ObjectType((ObjectAttr("host", STRING),)),
        "object({host=string})",
    ),
]


@pytest.mark.parametrize(("expr", "expected", "text"), PARSE_CASES)
def test_parse_type(expr: ast.Expression, expected: Any, text: str) -> None:
    parsed = parse_type(expr)
    assert parsed == expected
    assert str(parsed) == text


PARSE_ERRORS = [
    (name("strin"), 'The keyword "strin" is not a valid type specification.'),
    (name("list"), "The list type constructor requires one argument specifying the element type."),
    (name("null"), 'The keyword "null" cannot be used in a type specification.'),
    (call("string", name("number")), 'Primitive type keyword "string" does not expect arguments.'),
    (
        call("list", name("string"), name("number")),
        "The list type constructor requires one argument specifying the element type.",
    ),
    (call("array", name("string")), 'Keyword "array" is not a valid type constructor.'),
    (
        call("optional", name("string")),
        'Keyword "optional" is valid only as a modifier for object type attributes.',
    ),
    (call("tuple", name("string")), "Tuple type constructor requires a list of element types."),
    (
        call("object", name("string")),
        "Object type constructor requires a map whose keys are attribute names and whose "
        "values are the corresponding attribute types.",
    ),
    (
        lit("string"),
        'Type constraints are keywords, not strings: remove the quotes around "string".',
    ),
    (
        call("object", obj(a=call("optional", name("number"), name("var")))),
        "The default value of an optional attribute must be a constant: a literal, or a list "
        "or object of literals.",
    ),
]


@pytest.mark.parametrize(("expr", "detail"), PARSE_ERRORS)
def test_parse_type_errors(expr: ast.Expression, detail: str) -> None:
    with pytest.raises(DiagnosticError) as info:
        parse_type(expr)
    (diag,) = info.value.diagnostics
    assert diag.summary == "Invalid type specification"
    assert diag.detail == detail
    assert diag.range == R


def test_parse_type_rejects_incompatible_default() -> None:
    with pytest.raises(DiagnosticError) as info:
        parse_type(call("object", obj(a=call("optional", name("number"), lit("x")))))
    (diag,) = info.value.diagnostics
    assert diag.summary == "Invalid default value for optional attribute"
    assert diag.detail == (
        "This default value is not compatible with the attribute's type constraint: "
        "a number is required."
    )


# --- convert -------------------------------------------------------------------------------

CONVERT_CASES = [
    ("5", NUMBER, 5),
    ("2.5", NUMBER, Decimal("2.5")),
    ("-1e3", NUMBER, -1000),
    ("1.0", NUMBER, 1),
    (5, STRING, "5"),
    (Decimal("2.5"), STRING, "2.5"),
    (6, NUMBER, 6),
    ("1e400", NUMBER, 10**400),  # cty holds it in 512 bits, and shows its shortest digits
    ("0.1", STRING, "0.1"),
    (True, STRING, "true"),
    (False, STRING, "false"),
    ("true", BOOL, True),
    ("false", BOOL, False),
    ("x", ANY, "x"),
    ([1, "a"], ANY, [1, "a"]),
    (None, STRING, None),
    (None, SERVER, None),
    ([1, 2], ListType(STRING), ["1", "2"]),
    (HclSet(["b", "a"]), ListType(STRING), ["a", "b"]),
    (["b", "a", "b"], SetType(STRING), HclSet(["a", "b"])),
    ({"a": 1, "b": True}, MapType(STRING), {"a": "1", "b": "true"}),
    ([1, "2"], TupleType((STRING, NUMBER)), ["1", 2]),
    # any inside a collection: one common type for every element, as Terraform unifies
    (["a", 1], ListType(ANY), ["a", "1"]),
    ([1, 2], ListType(ANY), [1, 2]),
    ({"a": 1, "b": "x"}, MapType(ANY), {"a": "1", "b": "x"}),
    ([{"a": 1}, {"a": "x"}], ListType(ANY), [{"a": "1"}, {"a": "x"}]),
    ([[1], ["a"]], ListType(ListType(ANY)), [["1"], ["a"]]),
    ([None, 1], ListType(ANY), [None, 1]),
    # objects: defaults for absent or null optional attributes, extras dropped
    ({"host": "cp"}, SERVER, {"host": "cp", "port": 5685, "tags": None}),
    ({"host": "cp", "port": None}, SERVER, {"host": "cp", "port": 5685, "tags": None}),
    ({"host": "cp", "port": "9"}, SERVER, {"host": "cp", "port": 9, "tags": None}),
    ({"host": "cp", "zone": "eu"}, SERVER, {"host": "cp", "port": 5685, "tags": None}),
    ({"host": None}, SERVER, {"host": None, "port": 5685, "tags": None}),
    (
        [{"host": "a"}, {"host": "b", "port": 1}],
        ListType(SERVER),
        [{"host": "a", "port": 5685, "tags": None}, {"host": "b", "port": 1, "tags": None}],
    ),
    # unknown and sensitive values
    (UNKNOWN, NUMBER, UNKNOWN),
    (UNKNOWN, SERVER, UNKNOWN),
    ([UNKNOWN, 1], ListType(STRING), [UNKNOWN, "1"]),
    ({"host": UNKNOWN}, SERVER, {"host": UNKNOWN, "port": 5685, "tags": None}),
    (Sensitive("5"), NUMBER, Sensitive(5)),
    ([Sensitive(1)], ListType(STRING), [Sensitive("1")]),
    (Sensitive({"host": "cp"}), SERVER, Sensitive({"host": "cp", "port": 5685, "tags": None})),
]


@pytest.mark.parametrize(("value", "want", "expected"), CONVERT_CASES)
def test_convert(value: Any, want: Any, expected: Any) -> None:
    assert shape(convert(value, want)) == shape(expected)


CONVERT_ERRORS = [
    ("abc", NUMBER, "a number is required"),
    ("5 ", NUMBER, "a number is required"),
    ("\u0663", NUMBER, "a number is required"),
    ("yes", BOOL, "a bool is required"),
    ("True", BOOL, "a bool is required"),
    (1, BOOL, "bool required"),
    (True, NUMBER, "number required"),
    ([1], STRING, "string required"),
    ({"a": 1}, ListType(STRING), "list of string required"),
    ("x", MapType(NUMBER), "map of number required"),
    ([1], MapType(STRING), "map of string required"),
    ("x", SERVER, "object required"),
    ([1], TupleType((STRING, NUMBER)), "tuple of 2 elements required"),
    ([1, "x"], ListType(NUMBER), "element 1: a number is required"),
    ({"a": "x"}, MapType(BOOL), 'element "a": a bool is required'),
    ({"port": 1}, SERVER, 'attribute "host" is required'),
    (
        {},
        ObjectType((ObjectAttr("a", STRING), ObjectAttr("b", STRING))),
        'attributes "a" and "b" are required',
    ),
    ({"host": "cp", "port": "http"}, SERVER, 'attribute "port": a number is required'),
    (
        [{"host": "a"}, {"host": "b", "tags": "x"}],
        ListType(SERVER),
        'element 1: attribute "tags": list of string required',
    ),
    ([1, True], ListType(ANY), "all list elements must have the same type"),
    ({"a": [1], "b": "x"}, MapType(ANY), "all map elements must have the same type"),
    (Sensitive("abc"), NUMBER, "a number is required"),
]


@pytest.mark.parametrize(("value", "want", "message"), CONVERT_ERRORS)
def test_convert_errors(value: Any, want: Any, message: str) -> None:
    with pytest.raises(ConversionError) as info:
        convert(value, want)
    assert str(info.value) == message


# --- primitive helpers ---------------------------------------------------------------------

HELPER_CASES = [
    (to_number, "42", 42),
    (to_number, "7.0", 7),
    (to_number, "0.1", Decimal("0.1")),
    (to_string, 10, "10"),
    (to_string, Decimal("0.5"), "0.5"),
    (to_string, Decimal("-Infinity"), "-Inf"),
    (to_string, True, "true"),
    (to_string, "s", "s"),
    (to_bool, "false", False),
    (to_bool, True, True),
]


@pytest.mark.parametrize(("helper", "value", "expected"), HELPER_CASES)
def test_primitive_helpers(helper: Any, value: Any, expected: Any) -> None:
    assert shape(helper(value)) == shape(expected)


HELPER_ERRORS = [
    (to_number, "ten", "a number is required"),
    (to_number, None, "argument must not be null"),
    (to_string, [], "string required"),
    (to_bool, "1", "a bool is required"),
    (to_bool, 0, "bool required"),
]


@pytest.mark.parametrize(("helper", "value", "message"), HELPER_ERRORS)
def test_primitive_helper_errors(helper: Any, value: Any, message: str) -> None:
    with pytest.raises(ConversionError, match=f"^{message}$"):
        helper(value)


def test_sets_deduplicate_by_hcl_equality_not_python_equality():
    from meshprov.lang.values import UNKNOWN, HclSet, Sensitive

    assert list(HclSet([1, Decimal("1.0"), True, "1", None, None])) == [None, True, 1, "1"]
    assert list(HclSet([[1, "a"], [1, "a"], {"k": 1}, {"k": Sensitive(1)}])) == [
        [1, "a"],
        {"k": 1},
    ]
    assert len(HclSet([UNKNOWN, UNKNOWN])) == 2  # an unknown equals nothing
