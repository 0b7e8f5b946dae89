"""Built-in functions through ``call_function``, one Terraform behaviour per table row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshprov.lang.functions import FUNCTIONS, FunctionError, call_function
from meshprov.lang.numbers import parse_number
from meshprov.lang.values import UNKNOWN, HclSet, Null, Sensitive, Unknown

BASE = Path("/nonexistent/module")


def lang(v: Any) -> Any:
    """A table's Python literal as a language value: ``2.5`` is the number ``Decimal("2.5")``."""
    if isinstance(v, float):
        return parse_number(repr(v))
    if isinstance(v, list):
        return [lang(x) for x in v]
    if isinstance(v, dict):
        return {k: lang(x) for k, x in v.items()}
    return v


def shape(v: Any) -> Any:
    """The value with every Python type spelled out, so 1, 1.0 and True never compare equal."""
    if isinstance(v, float):
        return shape(lang(v))
    if isinstance(v, Sensitive):
        return ("Sensitive", shape(v.value))
    if isinstance(v, Unknown):  # typed or not: these tables check that it is unknown
        return ("Unknown",)
    if isinstance(v, Null):  # a typed null (tostring(null)) is null
        return ("NoneType", None)
    if isinstance(v, list | HclSet):
        return (type(v).__name__, [shape(x) for x in v])
    if isinstance(v, dict):
        return ("dict", {k: shape(x) for k, x in v.items()})
    return (type(v).__name__, v)


def call(name: str, *args: Any, base: Path = BASE, **kwargs: Any) -> Any:
    return call_function(name, lang(list(args)), base, **kwargs)


CASES = [
    # numbers
    ("abs", [-3.5], 3.5),
    ("ceil", [1.2], 2),
    ("floor", [-1.2], -2),
    ("floor", ["7"], 7),
    ("max", [3, 12, "9"], 12),
    ("min", [3, 1.5], 1.5),
    ("parseint", ["FF", 16], 255),
    ("parseint", ["-1010", 2], -10),
    ("parseint", ["zZ", 62], 35 * 62 + 61),
    # format
    ("format", ["Hello, %s!", "Ander"], "Hello, Ander!"),
    ("format", ["%d items", "3"], "3 items"),
    ("format", ["%.2f", 3.14159], "3.14"),
    ("format", ["%5.1f|%-4d|%04d", 2.25, 7, -7], "  2.2|7   |-007"),
    ("format", ["%q", 'say "hi" <b>'], '"say \\"hi\\" \\u003cb\\u003e"'),
    ("format", ["%v %v %v", "s", 1000000, [1, "a"]], 's 1e+06 [1,"a"]'),
    ("format", ["%#v %v", "s", None], '"s" null'),
    ("format", ["%t %%", True], "true %"),
    ("format", ["%x %X %o %b %e", 255, 255, 8, 5, 1234.5678], "ff FF 10 101 1.234568e+03"),
    ("format", ["%[2]s-%[1]s", "a", "b"], "b-a"),
    ("format", ["%.3s", "abcdef"], "abc"),
    ("formatlist", ["%s=%s", ["a", "b"], ["1", "2"]], ["a=1", "b=2"]),
    ("formatlist", ["https://%s:%d", ["a", "b"], 443], ["https://a:443", "https://b:443"]),
    ("formatlist", ["%s", []], []),
    # strings
    ("join", [", ", ["a", "b"], ["c"]], "a, b, c"),
    ("join", ["-", [1, True]], "1-true"),
    ("split", [",", "a,b,,c"], ["a", "b", "", "c"]),
    ("split", [",", ""], [""]),
    ("lower", ["HeLLo"], "hello"),
    ("upper", [5], "5"),
    ("title", ["hello wORLD-foo_bar"], "Hello WORLD-Foo_bar"),
    ("trimspace", ["\n  hi \t"], "hi"),
    ("trim", ["?!hello?!", "!?"], "hello"),
    ("trimprefix", ["helloworld", "hello"], "world"),
    ("trimsuffix", ["helloworld", "world"], "hello"),
    ("replace", ["1 + 2 + 3", "+", "-"], "1 - 2 - 3"),
    ("replace", ["hello world", "/w.*d/", "everybody"], "hello everybody"),
    ("replace", ["key=value", "/(\\w+)=(\\w+)/", "$2=${1}"], "value=key"),
    ("substr", ["hello world", 1, 4], "ello"),
    ("substr", ["hello world", -5, -1], "world"),
    ("substr", ["hello", 2, 100], "llo"),
    ("substr", ["hello", 9, 2], ""),
    ("startswith", ["hello", "he"], True),
    ("endswith", ["hello", "x"], False),
    ("strcontains", ["hello", "ell"], True),
    ("regex", ["[a-z]+", "53453453.345345aaabbbccc23454"], "aaabbbccc"),
    ("regex", ["(\\d\\d\\d\\d)-(\\d\\d)-(\\d\\d)", "2019-02-01"], ["2019", "02", "01"]),
    ("regex", ["(a)|(b)", "b"], [None, "b"]),
    (
        "regex",
        ["^(?:(?P<scheme>[^:/?#]+):)?(?://(?P<host>[^/?#]*))?", "https://kuma.io/docs"],
        {"host": "kuma.io", "scheme": "https"},
    ),
    ("regex", ["[[:digit:]]+\\z", "port 5685"], "5685"),
    ("regexall", ["[a-z]+", "1a2bb3"], ["a", "bb"]),
    ("regexall", ["(\\d)([a-z])", "1a2b"], [["1", "a"], ["2", "b"]]),
    ("regexall", ["(?P<d>\\d)", "1a2"], [{"d": "1"}, {"d": "2"}]),
    ("regexall", ["x", "abc"], []),
    ("jsondecode", ['["\\ud800", "\\ud83d\\ude00"]'], ["\ufffd", "\U0001f600"]),
    # collections
    ("length", ["héllo"], 5),
    ("length", [[1, 2, 3]], 3),
    ("length", [{"a": 1}], 1),
    ("length", [HclSet(["a", "a"])], 1),
    ("concat", [["a"], ["b", "c"]], ["a", "b", "c"]),
    ("contains", [["a", "b"], "b"], True),
    ("contains", [[1, 2], "1"], False),
    ("distinct", [["b", "a", "b", "c", "a"]], ["b", "a", "c"]),
    ("element", [["a", "b", "c"], 4], "b"),
    ("element", [["a", "b", "c"], -1], "c"),
    ("flatten", [[["a", "b"], [], ["c", ["d"]]]], ["a", "b", "c", "d"]),
    ("keys", [{"b": 1, "a": 2}], ["a", "b"]),
    ("values", [{"b": 1, "a": 2}], [2, 1]),
    ("lookup", [{"a": "x"}, "a", "d"], "x"),
    ("lookup", [{"a": "x"}, "b", "d"], "d"),
    ("merge", [{"a": 1, "b": 2}, None, {"b": 3, "c": 4}], {"a": 1, "b": 3, "c": 4}),
    ("merge", [], {}),
    ("range", [3], [0, 1, 2]),
    ("range", [1, 4], [1, 2, 3]),
    ("range", [4, 1], [4, 3, 2]),
    ("range", [0, 1, 0.25], [0, 0.25, 0.5, 0.75]),
    ("range", [10, 0, -3], [10, 7, 4, 1]),
    ("reverse", [[1, 2, 3]], [3, 2, 1]),
    ("setunion", [["a", "b"], ["b", "c"]], HclSet(["a", "b", "c"])),
    ("slice", [["a", "b", "c", "d"], 1, 3], ["b", "c"]),
    ("sort", [["b", "a", "10", "9"]], ["10", "9", "a", "b"]),
    ("toset", [["b", "a", "b"]], HclSet(["a", "b"])),
    ("toset", [["a", 1]], HclSet(["1", "a"])),
    ("tolist", [HclSet(["b", "a"])], ["a", "b"]),
    ("tomap", [{"a": 1, "b": "x"}], {"a": "1", "b": "x"}),
    ("tostring", [True], "true"),
    ("tostring", [2.5], "2.5"),
    ("tostring", [None], None),
    ("tonumber", ["5"], 5),
    ("tonumber", ["0.5"], 0.5),
    ("tobool", ["true"], True),
    ("zipmap", [["a", "b"], [1, 2]], {"a": 1, "b": 2}),
    ("coalesce", [None, "", "b", "c"], "b"),
    ("coalesce", [None, 1, "x"], "1"),
    ("coalescelist", [[], ["a"], ["b"]], ["a"]),
    ("compact", [["a", "", None, "b"]], ["a", "b"]),
    ("one", [[]], None),
    ("one", [["x"]], "x"),
    ("one", [HclSet(["x"])], "x"),
    ("index", [["a", "b", "c"], "b"], 1),
    # networks
    ("cidrhost", ["10.0.0.0/24", 5], "10.0.0.5"),
    ("cidrhost", ["10.12.112.0/20", -1], "10.12.127.255"),
    ("cidrhost", ["fd00:fd12:3456:7890::/56", 16], "fd00:fd12:3456:7800::10"),
    ("cidrnetmask", ["172.16.0.0/12"], "255.240.0.0"),
    ("cidrsubnet", ["172.16.0.0/12", 4, 2], "172.18.0.0/16"),
    ("cidrsubnet", ["fd00:fd12:3456:7890::/56", 16, 162], "fd00:fd12:3456:7800:a200::/72"),
    ("cidrsubnets", ["10.0.0.0/16", 4, 4, 8], ["10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/24"]),
    (
        "cidrsubnets",
        ["10.1.0.0/16", 4, 4, 8, 4],
        ["10.1.0.0/20", "10.1.16.0/20", "10.1.32.0/24", "10.1.48.0/20"],
    ),
    (
        "cidrsubnets",
        ["fd00:fd12:3456:7890::/56", 16, 16, 16, 32],
        [
            "fd00:fd12:3456:7800::/72",
            "fd00:fd12:3456:7800:100::/72",
            "fd00:fd12:3456:7800:200::/72",
            "fd00:fd12:3456:7800:300::/88",
        ],
    ),
    # paths
    ("basename", ["/etc/kuma/tls.crt"], "tls.crt"),
    ("basename", ["out/zone/"], "zone"),
    ("dirname", ["/etc/kuma/tls.crt"], "/etc/kuma"),
    ("dirname", ["tls.crt"], "."),
    ("abspath", ["certs/../tls"], "/nonexistent/module/tls"),
    # encodings
    (
        "jsonencode",
        [{"b": [1, 2.5, True, None], "a": "x<y"}],
        '{"a":"x\\u003cy","b":[1,2.5,true,null]}',
    ),
    ("jsonencode", [HclSet(["b", "a"])], '["a","b"]'),
    ("jsondecode", ['{"a": 1.0, "b": [true, null, "x"]}'], {"a": 1, "b": [True, None, "x"]}),
    ("yamlencode", [{"b": [1, "x"], "a": {"c": None}}], '"a":\n  "c": null\n"b":\n- 1\n- "x"\n'),
    ("yamlencode", ["x"], '"x"\n...\n'),
    ("base64encode", ["Hello World"], "SGVsbG8gV29ybGQ="),
    ("base64decode", ["SGVsbG8gV29ybGQ="], "Hello World"),
    ("sha256", ["hello"], "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
]


@pytest.mark.parametrize(("name", "args", "expected"), CASES)
def test_function(name: str, args: list, expected: Any) -> None:
    assert shape(call(name, *args)) == shape(expected)


def arg(param: str, message: str) -> tuple[str, str]:
    return ("Invalid function argument", f'Invalid value for "{param}" parameter: {message}.')


def failed(name: str, message: str) -> tuple[str, str]:
    return ("Error in function call", f'Call to function "{name}" failed: {message}.')


ERRORS = [
    (
        "upper",
        ["a", "b"],
        ("Too many function arguments", 'Function "upper" expects 1 argument(s), got 2'),
    ),
    (
        "range",
        [],
        ("Not enough function arguments", 'Function "range" expects 1 to 3 argument(s), got 0'),
    ),
    (
        "join",
        [],
        ("Not enough function arguments", 'Function "join" expects at least 1 argument(s), got 0'),
    ),
    ("nosuch", [], ("Call to unknown function", 'There is no function named "nosuch".')),
    ("upper", [[1]], arg("str", "string required")),
    ("upper", [None], arg("str", "argument must not be null")),
    ("abs", ["x"], arg("num", "a number is required")),
    ("max", [], failed("max", "must pass at least one number")),
    ("parseint", ["12", 1], arg("base", "base must be a whole number between 2 and 62 inclusive")),
    ("parseint", ["9", 8], arg("number", 'cannot parse "9" as a base 8 integer')),
    (
        "format",
        ["%s", "a", "b"],
        failed("format", "too many arguments; only 1 used by format string"),
    ),
    (
        "format",
        ["%d"],
        failed("format", 'not enough arguments for "%d" at 0: need index 1 but have 0 total'),
    ),
    (
        "format",
        ["%d", 1.5],
        failed("format", 'unsupported value for "%d" at 0: an integer is required'),
    ),
    (
        "format",
        ["%s", None],
        failed("format", 'unsupported value for "%s" at 0: null value cannot be formatted'),
    ),
    ("format", ["%s", [1]], failed("format", 'unsupported value for "%s" at 0: string required')),
    ("format", ["%z", 1], failed("format", "unsupported format verb 'z' in \"%z\" at offset 0")),
    ("format", ["100%"], failed("format", "invalid format string starting at offset 3")),
    (
        "formatlist",
        ["%s%s", ["a", "b"], ["c"]],
        arg("args", "argument 2 has length 1, which is inconsistent with argument 1 of length 2"),
    ),
    ("join", [",", ["a", None]], arg("lists", "element 1 is null; cannot concatenate null values")),
    (
        "regex",
        ["[a-z]+", "123"],
        failed("regex", "pattern did not match any part of the given string"),
    ),
    (  # RE2 matches in linear time: this would backtrack for ever in a backtracking engine
        "regex",
        ["(a+)+$", "a" * 50_000 + "!"],
        failed("regex", "pattern did not match any part of the given string"),
    ),
    (
        "regex",
        ["(a)\\1", "aa"],
        arg(
            "pattern",
            "invalid regexp pattern: invalid escape sequence: \\1 (RE2, the engine Terraform "
            "uses, has no backreferences)",
        ),
    ),
    (
        "regex",
        ["(a)(?P<n>b)", "ab"],
        arg("pattern", "invalid regexp pattern: cannot mix both named and unnamed capture groups"),
    ),
    (
        "length",
        [5],
        arg("value", "argument must be a string, a collection type, or a structural type"),
    ),
    ("concat", [["a"], "b"], failed("concat", "all arguments must be lists or tuples; got string")),
    ("element", [[], 0], failed("element", "cannot use element function with an empty list")),
    ("keys", ["x"], arg("inputMap", "must have map or object type")),
    ("lookup", [{"a": 1}, "b"], failed("lookup", 'lookup failed to find key "b"')),
    ("merge", [{"a": 1}, ["b"]], failed("merge", 'arguments must be maps or objects, got "tuple"')),
    ("range", [1, 5, 0], arg("params", "step must not be zero")),
    ("range", [1, 5, -1], arg("params", "end must be less than start when step is negative")),
    (
        "slice",
        [["a"], 0, 2],
        arg("end_index", "end index must not be greater than the length of the list"),
    ),
    (
        "slice",
        [HclSet(["a"]), 0, 1],
        arg(
            "list",
            "cannot slice a set, because its elements do not have indices; explicitly convert "
            "to a list if the ordering of the result is not important",
        ),
    ),
    ("tostring", [[1]], arg("v", "cannot convert tuple to string")),
    (
        "tonumber",
        ["five"],
        arg(
            "v",
            'cannot convert "five" to number; given string must be a decimal representation '
            "of a number",
        ),
    ),
    (
        "tobool",
        ["yes"],
        arg("v", 'cannot convert "yes" to bool; only the strings "true" or "false" are allowed'),
    ),
    ("tolist", [["a", [1]]], arg("v", "cannot convert tuple to list of any single type")),
    (
        "zipmap",
        [["a"], [1, 2]],
        failed("zipmap", "number of keys (1) does not match number of values (2)"),
    ),
    ("coalesce", [None, ""], failed("coalesce", "no non-null, non-empty-string arguments")),
    ("coalesce", [1, True], failed("coalesce", "all arguments must have the same type")),
    (
        "one",
        [[1, 2]],
        arg("list", "must be a list, set, or tuple value with either zero or one elements"),
    ),
    ("index", [["a"], "z"], failed("index", "item not found")),
    (
        "cidrhost",
        ["10.0.0.0/24", 256],
        arg("hostnum", "prefix of 24 does not accommodate a host numbered 256"),
    ),
    (
        "cidrhost",
        ["10.0.0/24", 1],
        arg("prefix", "invalid CIDR expression: invalid CIDR address: 10.0.0/24"),
    ),
    ("cidrnetmask", ["fd00::/8"], arg("prefix", "IPv6 addresses cannot have a netmask: fd00::/8")),
    (
        "cidrsubnet",
        ["10.0.0.0/30", 4, 0],
        failed("cidrsubnet", "insufficient address space to extend prefix of 30 by 4"),
    ),
    (
        "cidrsubnet",
        ["10.0.0.0/16", 2, 4],
        failed("cidrsubnet", "prefix extension of 2 does not accommodate a subnet numbered 4"),
    ),
    (
        "cidrsubnets",
        ["10.0.0.0/30", 1, 1, 1],
        failed(
            "cidrsubnets",
            "not enough remaining address space for a subnet with a prefix of 31 bits after "
            "10.0.0.2/31",
        ),
    ),
    ("cidrsubnets", ["10.0.0.0/16", 0], arg("newbits", "must extend prefix by at least one bit")),
    (
        "jsondecode",
        ['{"a":'],
        failed("jsondecode", "invalid JSON: Expecting value at line 1, column 6"),
    ),
    (
        "base64decode",
        ["not base64!"],
        failed("base64decode", 'failed to decode base64 data "not base64!"'),
    ),
    (
        "file",
        ["missing.txt"],
        arg(
            "path",
            'no file exists at "missing.txt"; this function works only with files that are '
            "distributed as part of the configuration source code, so if this file will be "
            "created by a resource in this configuration you must instead obtain this result "
            "from an attribute of that resource",
        ),
    ),
    # past Go's int64 nanoseconds (about 292 years) a duration is invalid, as in Terraform; it
    # overflowed Python's timedelta, a crash
    (
        "timeadd",
        ["2020-01-01T00:00:00Z", "99999999999999h"],
        arg("duration", 'time: invalid duration "99999999999999h"'),
    ),
    (
        "timeadd",
        ["9999-12-31T23:00:00Z", "2h"],
        failed("timeadd", "the result is outside the range of supported times"),
    ),
    # what ran into Python's limits (a crash) is an error on the call, as Terraform's limits are
    *(
        ("textencodebase64" if i % 2 else "textdecodebase64", [value, encoding], expected)
        for i, (value, encoding, expected) in enumerate(
            [
                (
                    "YQ==",
                    name,
                    arg(
                        "encoding",
                        f'"{shown}" is not a supported IANA encoding name '
                        "or alias in this Terraform version",
                    ),
                )
                for name, shown in [
                    ("rot13", "rot13"),  # a transform, not a character set
                    ("hex", "hex"),
                    ("undefined", "undefined"),  # Python's codec that always fails
                    ("idna", "idna"),
                    ("unicode_escape", "unicode_escape"),
                    ("utf\0", "utf\\u0000"),  # a NUL in the name
                ]
            ]
        )
    ),
    (
        "indent",
        [10**20, "a\nb"],
        arg("spaces", "must be at most 1000000"),
    ),
    (
        "format",
        ["%99999999999999999999d", 1],
        failed(
            "format",
            'width or precision of "%99999999999999999999d" at offset 0 is more than 1000000',
        ),
    ),
    (
        "format",
        ["%.1000001f", 1],
        failed("format", 'width or precision of "%.1000001f" at offset 0 is more than 1000000'),
    ),
    (
        "format",
        ["%[" + "9" * 5000 + "]d", 1],
        failed(
            "format",
            f'not enough arguments for "%[{"9" * 5000}]d" at 0: need index '
            f"{'9' * 5000} but have 1 total",
        ),
    ),
    (
        "formatdate",
        ["YYYY", "2020-01-01T00:00:00+99:00"],
        arg("time", "not a valid RFC3339 timestamp: time zone offset hour out of range"),
    ),
    # values quoted in messages are hidden when the argument is sensitive
    (
        "tonumber",
        [Sensitive("secret")],
        arg(
            "v",
            "cannot convert (sensitive value) to number; given string must be a decimal "
            "representation of a number",
        ),
    ),
    (
        "lookup",
        [{"a": 1}, Sensitive("token")],
        failed("lookup", "lookup failed to find key (sensitive value)"),
    ),
    (
        "base64decode",
        [Sensitive("hunter2!")],
        failed("base64decode", "failed to decode base64 data (sensitive value)"),
    ),
]


@pytest.mark.parametrize(("name", "args", "expected"), ERRORS)
def test_function_errors(name: str, args: list, expected: tuple[str, str]) -> None:
    with pytest.raises(FunctionError) as info:
        call(name, *args)
    assert (info.value.summary, str(info.value)) == expected


UNKNOWN_CASES = [
    ("upper", [UNKNOWN], UNKNOWN),
    ("join", [",", ["a", UNKNOWN]], UNKNOWN),
    ("format", ["%s-%s", "a", UNKNOWN], UNKNOWN),
    ("jsonencode", [{"a": UNKNOWN}], UNKNOWN),
    ("lookup", [{"a": 1, "b": UNKNOWN}, "a"], 1),  # other elements' unknowns do not matter
    ("lookup", [{"a": 1}, UNKNOWN], UNKNOWN),
    ("index", [["a", "b", UNKNOWN], "a"], 0),
    ("index", [["b", UNKNOWN, "a"], "a"], UNKNOWN),
    # functions that look at structure pass unknown elements through
    ("length", [UNKNOWN], UNKNOWN),
    ("length", [[UNKNOWN, "b"]], 2),
    ("length", [{"a": UNKNOWN}], 1),
    ("keys", [{"b": UNKNOWN, "a": 1}], ["a", "b"]),
    ("values", [{"b": UNKNOWN, "a": 1}], [1, UNKNOWN]),
    ("concat", [["a"], [UNKNOWN]], ["a", UNKNOWN]),
    ("concat", [["a"], UNKNOWN], UNKNOWN),
    ("merge", [{"a": 1}, {"b": UNKNOWN}], {"a": 1, "b": UNKNOWN}),
    ("merge", [{"a": 1}, UNKNOWN], UNKNOWN),
    ("element", [["a", UNKNOWN], 0], "a"),
    ("element", [["a", "b"], UNKNOWN], UNKNOWN),
    ("slice", [["a", UNKNOWN, "c"], 1, 3], [UNKNOWN, "c"]),
    ("reverse", [[UNKNOWN, 1]], [1, UNKNOWN]),
    ("zipmap", [["a", "b"], [UNKNOWN, 2]], {"a": UNKNOWN, "b": 2}),
    ("zipmap", [["a", UNKNOWN], [1, 2]], UNKNOWN),
    ("contains", [["a", UNKNOWN], "a"], True),
    ("contains", [["a", UNKNOWN], "b"], UNKNOWN),
    ("formatlist", ["%s!", ["a", UNKNOWN]], ["a!", UNKNOWN]),
    ("coalesce", ["a", UNKNOWN], "a"),
    ("coalesce", [None, UNKNOWN, "b"], UNKNOWN),
    ("coalescelist", [["a"], UNKNOWN], ["a"]),
    ("one", [[UNKNOWN]], UNKNOWN),
    ("tolist", [[UNKNOWN, "a"]], [UNKNOWN, "a"]),
    ("sensitive", [UNKNOWN], Sensitive(UNKNOWN)),
]


@pytest.mark.parametrize(("name", "args", "expected"), UNKNOWN_CASES)
def test_unknown_propagation(name: str, args: list, expected: Any) -> None:
    assert shape(call(name, *args)) == shape(expected)


SENSITIVE_CASES = [
    ("sensitive", ["pw"], Sensitive("pw")),
    ("sensitive", [Sensitive("pw")], Sensitive("pw")),
    ("nonsensitive", [Sensitive("pw")], "pw"),
    ("nonsensitive", ["plain"], "plain"),
    ("nonsensitive", [Sensitive([Sensitive("a")])], [Sensitive("a")]),
    ("upper", [Sensitive("pw")], Sensitive("PW")),
    ("length", [Sensitive("four")], Sensitive(4)),
    ("join", ["-", ["a", Sensitive("b")]], Sensitive("a-b")),
    # marks stay on the elements that carry them, as in Terraform
    ("merge", [{"a": 1}, {"b": Sensitive(2)}], {"a": 1, "b": Sensitive(2)}),
    ("length", [["a", Sensitive("b")]], 2),
    ("values", [{"hello": Sensitive("world")}], [Sensitive("world")]),
    # as cty places it: a marked inner list marks the whole result, not each element it gives
    ("flatten", [[Sensitive(["a", "b"]), ["c"]]], Sensitive(["a", "b", "c"])),
    ("flatten", [[[Sensitive("a"), "b"], ["c"]]], [Sensitive("a"), "b", "c"]),
    ("zipmap", [["k"], [Sensitive("v")]], {"k": Sensitive("v")}),
    ("zipmap", [[Sensitive("k")], ["v"]], Sensitive({"k": "v"})),
    ("element", [["a", Sensitive("b")], 0], "a"),
    ("keys", [Sensitive({"a": 1})], Sensitive(["a"])),
    ("format", ["%s:%s", "user", Sensitive("pw")], Sensitive("user:pw")),
    ("upper", [Sensitive(UNKNOWN)], Sensitive(UNKNOWN)),
    # go-cty's concat allows marked arguments: marks stay on the elements (per element)
    ("concat", [[Sensitive("a")], [UNKNOWN]], [Sensitive("a"), UNKNOWN]),
    ("concat", [Sensitive(["a"]), ["b"]], Sensitive(["a", "b"])),
    ("length", [[Sensitive("a"), "b"]], 2),
    ("values", [{"k": Sensitive("a")}], [Sensitive("a")]),
]


@pytest.mark.parametrize(("name", "args", "expected"), SENSITIVE_CASES)
def test_sensitive_propagation(name: str, args: list, expected: Any) -> None:
    assert shape(call(name, *args)) == shape(expected)


def test_every_pure_terraform_function_is_registered() -> None:
    # Terraform's function table (internal/lang/functions.go) minus what SPEC §1.1 keeps out
    # (bcrypt, timestamp, uuid: nondeterministic; plantimestamp needs a plan time); convert,
    # whose second argument is a type, is the evaluator's, as try and can are; list and map
    # were removed from Terraform in 0.12.
    names = [
        "abs",
        "abspath",
        "alltrue",
        "anytrue",
        "base64decode",
        "base64encode",
        "base64gzip",
        "base64sha256",
        "base64sha512",
        "basename",
        "ceil",
        "chomp",
        "chunklist",
        "cidrhost",
        "cidrnetmask",
        "cidrsubnet",
        "cidrsubnets",
        "coalesce",
        "coalescelist",
        "compact",
        "concat",
        "contains",
        "csvdecode",
        "dirname",
        "distinct",
        "element",
        "endswith",
        "ephemeralasnull",
        "file",
        "filebase64",
        "filebase64sha256",
        "filebase64sha512",
        "fileexists",
        "filemd5",
        "fileset",
        "filesha1",
        "filesha256",
        "filesha512",
        "flatten",
        "floor",
        "format",
        "formatdate",
        "formatlist",
        "indent",
        "index",
        "issensitive",
        "join",
        "jsondecode",
        "jsonencode",
        "keys",
        "length",
        "log",
        "lookup",
        "lower",
        "matchkeys",
        "max",
        "md5",
        "merge",
        "min",
        "nonsensitive",
        "one",
        "parseint",
        "pathexpand",
        "pow",
        "range",
        "regex",
        "regexall",
        "replace",
        "reverse",
        "rsadecrypt",
        "sensitive",
        "setintersection",
        "setproduct",
        "setsubtract",
        "setunion",
        "sha1",
        "sha256",
        "sha512",
        "signum",
        "slice",
        "sort",
        "split",
        "startswith",
        "strcontains",
        "strrev",
        "substr",
        "sum",
        "templatefile",
        "templatestring",
        "textdecodebase64",
        "textencodebase64",
        "timeadd",
        "timecmp",
        "title",
        "tobool",
        "tolist",
        "tomap",
        "tonumber",
        "toset",
        "tostring",
        "transpose",
        "trim",
        "trimprefix",
        "trimspace",
        "trimsuffix",
        "upper",
        "urlencode",
        "uuidv5",
        "values",
        "yamldecode",
        "yamlencode",
        "zipmap",
    ]
    assert sorted(FUNCTIONS) == names
    assert not {"bcrypt", "timestamp", "uuid", "plantimestamp"} & set(FUNCTIONS)


# --- files: relative paths resolve against the module directory ------------------------------


@pytest.fixture
def module_dir(tmp_path: Path) -> Path:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    (tmp_path / "zone.tpl").write_text("zone ${name}", encoding="utf-8")
    (tmp_path / "binary.bin").write_bytes(b"\xff\xfe")
    return tmp_path


FILE_CASES = [
    ("file", ["certs/ca.pem"], "-----BEGIN CERTIFICATE-----\n"),
    ("fileexists", ["certs/ca.pem"], True),
    ("fileexists", ["certs/missing.pem"], False),
]


@pytest.mark.parametrize(("name", "args", "expected"), FILE_CASES)
def test_file_functions(module_dir: Path, name: str, args: list, expected: Any) -> None:
    assert shape(call(name, *args, base=module_dir)) == shape(expected)


FILE_ERRORS = [
    ("file", ["binary.bin"], 'Invalid value for "path" parameter: contents of "binary.bin" are'),
    ("fileexists", ["certs"], 'Call to function "fileexists" failed: certs is not a regular file'),
    ("templatefile", ["zone.tpl", ["x"]], 'Invalid value for "vars" parameter: invalid vars value'),
    ("templatefile", ["zone.tpl", {"bad name": 1}], 'invalid template variable name "bad name"'),
    ("fileset", ["a" * 400, "*"], 'failed to glob pattern "*": File name too long'),
    # a NUL, which no file name holds, is an error on the argument (it crashed the stat)
    *(
        (name, [*args], 'Invalid value for "path" parameter: "a\\u0000b" contains a NUL')
        for name, args in [
            ("file", ["a\0b"]),
            ("fileexists", ["a\0b"]),
            ("filebase64", ["a\0b"]),
            ("filesha256", ["a\0b"]),
            ("templatefile", ["a\0b", {}]),
            ("fileset", ["a\0b", "*"]),
        ]
    ),
]


@pytest.mark.parametrize(("name", "args", "message"), FILE_ERRORS)
def test_file_function_errors(module_dir: Path, name: str, args: list, message: str) -> None:
    with pytest.raises(FunctionError) as info:
        call(name, *args, base=module_dir)
    assert message in str(info.value)


def test_templatefile_renders_with_the_injected_engine(module_dir: Path) -> None:
    seen = []

    def render(text: str, filename: str, variables: dict) -> str:
        seen.append((text, filename, variables))
        return text.replace("${name}", variables["name"])

    result = call(
        "templatefile", "zone.tpl", {"name": "eu"}, base=module_dir, render_template=render
    )
    assert result == "zone eu"
    assert seen == [("zone ${name}", str(module_dir / "zone.tpl"), {"name": "eu"})]


def test_templatefile_marks_the_result_when_a_variable_is_sensitive(module_dir: Path) -> None:
    result = call(
        "templatefile",
        "zone.tpl",
        {"name": Sensitive("eu")},
        base=module_dir,
        render_template=lambda text, filename, variables: variables["name"],
    )
    assert result == Sensitive("eu")


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("cidrhost", ["010.001.0.0/24", 6], "10.1.0.6"),  # leading zeros are decimal
        ("cidrsubnet", ["::ffff:192.168.0.0/112", 8, 6], "192.168.6.0/24"),  # IPv4-mapped
        ("cidrsubnet", ["fe80::/48", 33, 6], "fe80::3:0:0:0/81"),
        ("length", ["wé́́é́́é́́!"], 5),  # grapheme clusters, as Terraform counts
        ("substr", ["💃🏿ab", 0, 2], "💃🏿a"),
        ("format", ["%3s|", "💃🏿"], "  💃🏿|"),
        ("upper", ["baﬄe"], "BAﬄE"),
    ],
)
def test_terraform_specific_semantics(name: str, args: list, expected: Any) -> None:
    assert call(name, *args) == expected
