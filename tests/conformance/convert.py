"""Convert HashiCorp's public Go test tables into meshprov conformance rows.

Usage: ``python tests/conformance/convert.py MIRROR_DIR`` where MIRROR_DIR holds bare git
mirrors named ``hashicorp+hcl``, ``hashicorp+terraform`` and ``zclconf+go-cty`` (each with a
``repo`` directory, as the project's source-fetch tool lays them out). The commits are pinned
below, so the rows are reproducible; each row records its repository, file, commit and line.

Each test table (``tests := []struct{...}{...}``) is parsed with a small parser for Go
composite literals. cty values become a typed JSON encoding (see ``runner.decode``); a row is
``{"expr": HCL expression, "vars": {name: value}, "want": value, "error": bool}``. Rows that
cannot be expressed (custom Go functions, values computed by Go code, marks other than one
mark) are counted in ``unconverted`` with the reason, never dropped silently.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from meshprov.lang.values import safe_known_prefix

HERE = Path(__file__).parent

SOURCES = {
    "hashicorp/hcl": ("2efc2662361a9f5fd39f5d0cd46970ce4c3f7be2", ["hclsyntax/expression_test.go"]),
    "hashicorp/terraform": (
        "883c7221ee2e0bc2fad6912fd4b3cc4b53a598a7",
        [
            "internal/lang/functions_test.go",
            *(
                f"internal/lang/funcs/{name}_test.go"
                for name in [
                    "cidr",
                    "collection",
                    "conversion",
                    "crypto",
                    "datetime",
                    "encoding",
                    "filesystem",
                    "number",
                    "sensitive",
                    "string",
                ]
            ),
        ],
    ),
    "zclconf/go-cty": (
        "dcb5db6917182028fab2819852b7cdc72e2b7ec9",
        [
            f"cty/function/stdlib/{name}_test.go"
            for name in [
                "bool",
                "bytes",
                "collection",
                "conversion",
                "csv",
                "datetime",
                "format",
                "general",
                "json",
                "number",
                "regexp",
                "sequence",
                "set",
                "string",
                "string_replace",
            ]
        ],
    ),
}


class Unconvertible(Exception):
    """This row cannot be expressed as data; the message says why."""


# --- a tokenizer and parser for the Go literals used in test tables -------------------------

_TOKEN = re.compile(
    r"""(?P<ws>\s+|//[^\n]*|/\*.*?\*/)
      |(?P<raw>`[^`]*`)
      |(?P<str>"(?:[^"\\\n]|\\.)*")
      |(?P<rune>'(?:[^'\\\n]|\\.)+')
      |(?P<num>0[xX][0-9a-fA-F_]+|(?:\d[\d_]*\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))
      |(?P<id>[A-Za-z_][A-Za-z0-9_]*)
      |(?P<op>:=|\.\.\.|<<|>>|&&|\|\||==|!=|<=|>=|[-+*/%&|^!<>=(){}\[\],;.:])""",
    re.VERBOSE | re.DOTALL,
)


@dataclass
class Tok:
    kind: str
    text: str
    line: int


def tokenize(src: str) -> list[Tok]:
    out, pos, line = [], 0, 1
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:
            raise ValueError(f"cannot tokenize at line {line}: {src[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append(Tok(kind, m.group(), line))
        line += m.group().count("\n")
        pos = m.end()
    return out


@dataclass
class Node:
    kind: str  # str num id call composite sel unary binary index
    line: int
    value: object = None
    args: list = field(default_factory=list)
    fn: Node | None = None


def go_string(tok: Tok) -> str:
    if tok.kind == "raw":
        return tok.text[1:-1].replace("\r", "")
    body = tok.text[1:-1]
    return _unescape_go(body)


def _unescape_go(body: str) -> str:
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        n = body[i + 1]
        simple = {"n": b"\n", "t": b"\t", "r": b"\r", '"': b'"', "\\": b"\\", "'": b"'"}
        simple |= {"a": b"\a", "b": b"\b", "f": b"\f", "v": b"\v"}
        if n in simple:
            out += simple[n]
            i += 2
        elif n == "x":
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        elif n in "uU":
            width = 4 if n == "u" else 8
            out += chr(int(body[i + 2 : i + 2 + width], 16)).encode("utf-8", "surrogatepass")
            i += 2 + width
        elif n in "01234567":
            out.append(int(body[i + 1 : i + 4], 8))
            i += 4
        else:
            raise Unconvertible(f"escape \\{n}")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise Unconvertible("string literal is not valid UTF-8") from None


class Parser:
    def __init__(self, toks: list[Tok], pos: int = 0):
        self.toks, self.pos = toks, pos
        self.fields: list[str] = []

    def peek(self, offset: int = 0) -> Tok:
        i = self.pos + offset
        return self.toks[i] if i < len(self.toks) else Tok("eof", "", 0)

    def take(self, text: str | None = None) -> Tok:
        tok = self.peek()
        if tok.kind == "eof":
            raise ValueError("unexpected end of file")
        if text is not None and tok.text != text:
            raise ValueError(f"line {tok.line}: expected {text!r}, found {tok.text!r}")
        self.pos += 1
        return tok

    def skip_balanced(self) -> None:
        """Skip a bracketed group starting at the current ``{``/``(``/``[``."""
        depth = 0
        while True:
            t = self.take().text
            if t in "{([":
                depth += 1
            elif t in "})]":
                depth -= 1
                if depth == 0:
                    return

    def type_(self) -> str:
        """A type expression, returned as text: []T, map[K]V, *T, struct{...}, pkg.T."""
        t = self.peek()
        if t.text == "[":
            self.take("[")
            size = "" if self.peek().text == "]" else self.take().text
            self.take("]")
            return f"[{size}]" + self.type_()
        if t.text == "*":
            self.take()
            return "*" + self.type_()
        if t.text == "map":
            self.take()
            self.take("[")
            key = self.type_()
            self.take("]")
            return f"map[{key}]" + self.type_()
        if t.text in ("struct", "interface"):
            self.take()
            start = self.pos
            self.skip_balanced()
            self.fields = _struct_fields(self.toks[start + 1 : self.pos - 1])
            inner = " ".join(x.text for x in self.toks[start + 1 : self.pos - 1])
            return t.text + "{" + inner + "}"
        if t.text == "func":
            raise Unconvertible("a Go function literal")
        name = self.take().text
        while self.peek().text == ".":
            self.take()
            name += "." + self.take().text
        return name

    def expr(self) -> Node:
        left = self.unary()
        while self.peek().text in ("+", "-", "*", "/", "<<", "|", "&&", "||", "==", "%"):
            op = self.take()
            left = Node("binary", op.line, op.text, [left, self.unary()])
        return left

    def unary(self) -> Node:
        t = self.peek()
        if t.text in ("-", "&", "!", "+", "*"):
            self.take()
            return Node("unary", t.line, t.text, [self.unary()])
        return self.postfix(self.primary())

    def primary(self) -> Node:
        t = self.peek()
        if t.kind in ("str", "raw"):
            self.take()
            try:
                return Node("str", t.line, go_string(t))
            except Unconvertible as e:
                return Node("opaque", t.line, str(e))
        if t.kind == "num":
            self.take()
            return Node("num", t.line, t.text.replace("_", ""))
        if t.kind == "rune":
            self.take()
            return Node("num", t.line, str(ord(_unescape_go(t.text[1:-1]))))
        if t.text == "(":
            self.take()
            inner = self.expr()
            self.take(")")
            return inner
        if t.text == "{":  # elided composite type inside a composite literal
            return self.composite("", t.line)
        if t.text == "func":  # a function literal: kept opaque
            self.take()
            self.skip_balanced()
            while self.peek().text != "{":
                self.take()
            self.skip_balanced()
            return Node("opaque", t.line, "a Go function literal")
        if t.text in ("[", "map", "struct"):
            typ = self.type_()
            return self.composite(typ, t.line)
        if t.kind == "id":
            self.take()
            return Node("id", t.line, t.text)
        raise ValueError(f"line {t.line}: unexpected {t.text!r}")

    def postfix(self, node: Node) -> Node:
        while True:
            t = self.peek()
            if t.text == ".":
                self.take()
                if self.peek().text == "(":  # type assertion
                    self.skip_balanced()
                    continue
                name = self.take().text
                if node.kind == "id" and "." not in node.value and node.value[0].islower():
                    node = Node("id", node.line, f"{node.value}.{name}")
                else:
                    node = Node("sel", t.line, name, [node])
            elif t.text == "(":
                self.take()
                args = []
                while self.peek().text != ")":
                    args.append(self.expr())
                    if self.peek().text == "...":
                        self.take()
                    if self.peek().text == ",":
                        self.take()
                self.take(")")
                node = Node("call", t.line, None, args, node)
            elif t.text == "[":
                self.take()
                idx = self.expr()
                self.take("]")
                node = Node("index", t.line, None, [node, idx])
            elif t.text == "{" and node.kind == "id" and _typeish(node.value):
                node = self.composite(node.value, t.line)
            else:
                return node

    def composite(self, typ: str, line: int) -> Node:
        self.take("{")
        elems: list[tuple[Node | None, Node]] = []
        while self.peek().text != "}":
            first = self.expr()
            if self.peek().text == ":":
                self.take()
                elems.append((first, self.expr()))
            else:
                elems.append((None, first))
            if self.peek().text == ",":
                self.take()
        self.take("}")
        return Node("composite", line, typ, elems)


def _typeish(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last[:1].isupper() or name in ("testCase", "test", "tc")


# --- cty values → typed JSON ---------------------------------------------------------------


def ty(node: Node, consts: dict[str, Node] | None = None) -> object:
    """A cty type expression in cty's JSON form: ``"string"``, ``["list", "string"]``,
    ``["object", {"a": "number"}]``, ``["tuple", ["string"]]``, ``"dynamic"``."""
    if node.kind == "id":
        simple = {
            "cty.String": "string",
            "cty.Number": "number",
            "cty.Bool": "bool",
            "cty.DynamicPseudoType": "dynamic",
            "cty.EmptyObject": ["object", {}],
            "cty.EmptyTuple": ["tuple", []],
        }
        if node.value in simple:
            return simple[node.value]
        if consts and node.value in consts:
            return ty(consts[node.value], consts)
        raise Unconvertible(f"type {node.value}")
    if node.kind == "call" and node.fn.kind == "id":
        name = node.fn.value
        for go, short in (("cty.List", "list"), ("cty.Set", "set"), ("cty.Map", "map")):
            if name == go:
                return [short, ty(node.args[0], consts)]
        if name == "cty.Object" and node.args[0].kind == "composite":
            attrs = node.args[0].args
            return ["object", {_go_str(k, consts or {}): ty(v, consts) for k, v in attrs}]
        if name == "cty.Tuple" and node.args[0].kind == "composite":
            return ["tuple", [ty(v, consts) for _, v in node.args[0].args]]
    raise Unconvertible("a type computed in Go")


_COLLECTIONS = {
    "cty.ListVal": "$list",
    "cty.SetVal": "$set",
    "cty.TupleVal": "$tuple",
}
_EMPTY = {
    "cty.ListValEmpty": "$list",
    "cty.SetValEmpty": "$set",
    "cty.MapValEmpty": "$map",
}


def value(node: Node, consts: dict[str, Node]) -> object:
    """A cty value expression → the typed JSON encoding the runner decodes."""
    if node.kind == "id":
        name = node.value
        fixed = {
            "cty.True": True,
            "cty.False": False,
            "cty.Zero": {"$number": "0"},
            "cty.DynamicVal": {"$unknown": "dynamic"},
            "cty.EmptyObjectVal": {"$object": {}},
            "cty.EmptyTupleVal": {"$tuple": []},
            "cty.NilVal": {"$null": "dynamic"},  # the zero Value: null, of no type
            "cty.PositiveInfinity": {"$number": "Infinity"},
            "cty.NegativeInfinity": {"$number": "-Infinity"},
        }
        if name in fixed:
            return fixed[name]
        if name in consts:
            return value(consts[name], consts)
        raise Unconvertible(f"value {name} computed in Go")
    if node.kind == "sel":
        base = node.args[0]
        if node.value in ("NewValue", "Refine"):
            return value(base, consts)
        raise Unconvertible(f"method .{node.value}")
    if node.kind != "call":
        raise Unconvertible(f"a {node.kind} expression where a cty value is expected")
    fn = node.fn
    if fn.kind == "sel":  # a method call on a value
        method = fn.value
        base = fn.args[0]
        if method in ("NewValue", "Refine"):
            return value(base, consts)
        if method in _REFINEMENTS:
            return _refine(value(base, consts), method, node.args, consts)
        if method == "Mark":
            mark = fn.args and node.args and node.args[0]
            if mark and mark.kind == "id" and mark.value == "marks.Ephemeral":
                raise Unconvertible("an ephemeral mark: meshprov has no ephemeral values")
            return {"$sensitive": value(base, consts)}
        if method == "WithMarks":
            return {"$sensitive": value(base, consts)}
        raise Unconvertible(f"method .{method}")
    if fn.kind != "id":
        raise Unconvertible("a value computed in Go")
    name, args = fn.value, node.args
    if name == "cty.StringVal":  # cty normalises every string to NFC
        return unicodedata.normalize("NFC", _go_str(args[0], consts))
    if name in ("cty.NumberIntVal", "cty.NumberUIntVal", "cty.NumberFloatVal"):
        return {"$number": _go_num(args[0], consts)}
    if name == "cty.MustParseNumberVal":
        return {"$number": _go_str(args[0], consts)}
    if name == "cty.BoolVal":
        if args[0].kind == "id" and args[0].value in ("true", "false"):
            return args[0].value == "true"
        raise Unconvertible("bool computed in Go")
    if name == "cty.NullVal":
        return {"$null": ty(args[0], consts)}
    if name == "cty.UnknownVal":
        return {"$unknown": ty(args[0], consts)}
    if name in _COLLECTIONS:
        items = args[0]
        if items.kind != "composite":
            raise Unconvertible("elements computed in Go")
        return {_COLLECTIONS[name]: [value(v, consts) for _, v in items.args]}
    if name in _EMPTY:
        return {_EMPTY[name]: [] if name != "cty.MapValEmpty" else {}, "$type": ty(args[0], consts)}
    if name in ("cty.MapVal", "cty.ObjectVal"):
        items = args[0]
        if items.kind != "composite":
            raise Unconvertible("attributes computed in Go")
        key = "$map" if name == "cty.MapVal" else "$object"
        return {key: {_go_str(k, consts): value(v, consts) for k, v in items.args}}
    raise Unconvertible(f"{name}(...)")


_REFINEMENTS = {
    "RefineNotNull",
    "NotNull",
    "Null",
    "StringPrefix",
    "StringPrefixFull",
    "NumberRangeInclusive",
    "NumberRangeLowerBound",
    "NumberRangeUpperBound",
    "CollectionLengthLowerBound",
    "CollectionLengthUpperBound",
    "CollectionLength",
}


def _refine(val: object, method: str, args: list[Node], consts: dict[str, Node]) -> object:
    """A refinement of an unknown, kept as ``$refine`` beside its ``$unknown`` type (go-cty's
    ``Refine()`` builder); refining a known value changes nothing."""
    if not isinstance(val, dict):
        return val
    if "$sensitive" in val:
        return {"$sensitive": _refine(val["$sensitive"], method, args, consts)}
    if "$unknown" not in val:
        return val
    if method == "Null":
        return {"$null": val["$unknown"]}
    refine = dict(val.get("$refine", {}))
    if method in ("RefineNotNull", "NotNull"):
        refine["not_null"] = True
    elif method == "StringPrefix":
        refine["prefix"] = safe_known_prefix(_go_str(args[0], consts))
    elif method == "StringPrefixFull":
        refine["prefix"] = _go_str(args[0], consts)
    elif method == "NumberRangeInclusive":
        refine["lower"] = [value(args[0], consts), True]
        refine["upper"] = [value(args[1], consts), True]
    elif method in ("NumberRangeLowerBound", "NumberRangeUpperBound"):
        inclusive = args[1].kind == "id" and args[1].value == "true"
        refine["lower" if "Lower" in method else "upper"] = [value(args[0], consts), inclusive]
    else:
        low, high = refine.get("length", [0, None])
        if method != "CollectionLengthUpperBound":
            low = int(_go_num(args[0], consts))
        if method != "CollectionLengthLowerBound":
            high = int(_go_num(args[0], consts))
        refine["length"] = [low, high]
    return {**val, "$refine": refine}


def _go_str(node: Node, consts: dict[str, Node]) -> str:
    if node.kind == "str":
        return node.value
    if node.kind == "binary" and node.value == "+":
        return _go_str(node.args[0], consts) + _go_str(node.args[1], consts)
    if node.kind == "id" and node.value in consts:
        return _go_str(consts[node.value], consts)
    if node.kind == "call" and node.fn.kind == "id" and node.fn.value == "strings.Repeat":
        return _go_str(node.args[0], consts) * int(_go_num(node.args[1], consts))
    raise Unconvertible("a string computed in Go")


def _go_num(node: Node, consts: dict[str, Node]) -> str:
    if node.kind == "num":
        text = node.value
        return str(int(text, 16)) if text.lower().startswith("0x") else text
    if node.kind == "unary" and node.value == "-":
        return "-" + _go_num(node.args[0], consts)
    if node.kind == "call" and node.fn.kind == "id" and node.fn.value in _NUM_CASTS:
        return _go_num(node.args[0], consts)
    if node.kind == "id" and node.value in _NUM_CONSTS:
        return _NUM_CONSTS[node.value]
    if node.kind == "binary" and node.value == "<<":
        return str(int(_go_num(node.args[0], consts)) << int(_go_num(node.args[1], consts)))
    raise Unconvertible("a number computed in Go")


_NUM_CASTS = {"int", "int64", "uint64", "float64", "int32", "uint32"}
_NUM_CONSTS = {
    "math.MaxInt64": str(2**63 - 1),
    "math.MaxInt": str(2**63 - 1),
    "math.MinInt64": str(-(2**63)),
    "math.MaxInt32": str(2**31 - 1),
    "math.MaxUint64": str(2**64 - 1),
    "math.Pi": "3.141592653589793",
}


# --- tables ---------------------------------------------------------------------------------


@dataclass
class Table:
    test: str
    fields: list[str]
    entries: list[tuple[str | None, Node]]  # (map key, entry composite)
    body: list[Tok]  # tokens of the rest of the test function
    locals: dict[str, Node]  # NAME := value in the test function


def find_tables(toks: list[Tok]) -> list[Table]:
    """Every table literal of type []struct{...} or map[string]struct{...} in a Test func."""
    tables = []
    i = 0
    test = ""
    func_end = 0
    while i < len(toks):
        t = toks[i]
        if t.text == "func" and toks[i + 1].text.startswith("Test"):
            test = toks[i + 1].text
            j = i + 2
            while toks[j].text != "{":
                j += 1
            p = Parser(toks, j)
            p.skip_balanced()
            func_end = p.pos
            local_values = _locals(toks[j:func_end])
        if (
            test
            and i < func_end
            and t.text == "struct"
            and toks[i + 1].text == "{"
            and toks[i - 1].text in ("]",)
        ):
            start = i - 1
            while toks[start].text != "[" or toks[start - 1].text in ("map",):
                start -= 1
            if toks[start - 1].text == "map":
                start -= 1
            p = Parser(toks, start)
            try:
                typ = p.type_()
            except (Unconvertible, ValueError):
                i += 1
                continue
            if p.peek().text != "{":
                i += 1
                continue
            if "struct{" not in typ:
                i += 1
                continue
            fields = p.fields
            comp = p.composite(typ, toks[start].line)
            entries = []
            for k, v in comp.args:
                key = k.value if k is not None and k.kind == "str" else None
                entries.append((key, v))
            tables.append(Table(test, fields, entries, toks[p.pos : func_end], local_values))
            i = max(p.pos, i + 1)  # never back: a table is read once
            continue
        i += 1
    return tables


def _locals(toks: list[Tok]) -> dict[str, Node]:
    """``NAME := value`` statements of a function (values the table refers to by name)."""
    out: dict[str, Node] = {}
    for i in range(1, len(toks) - 2):
        starts = toks[i - 1].text not in (",", ".", "(", "=", ":=", "[")
        if toks[i + 1].text == ":=" and toks[i].kind == "id" and starts:
            if toks[i].text == "tests":
                continue
            with contextlib.suppress(ValueError, Unconvertible):
                out[toks[i].text] = Parser(toks, i + 2).expr()
    return out


def _struct_fields(toks: list[Tok]) -> list[str]:
    """Field names of a struct type, in order: each line declares ``NAME[, NAME...] TYPE``."""
    names: list[str] = []
    lines: dict[int, list[Tok]] = {}
    for t in toks:
        lines.setdefault(t.line, []).append(t)
    for line in lines.values():
        i = 0
        while i + 1 < len(line) and line[i].kind == "id" and line[i + 1].text == ",":
            names.append(line[i].text)
            i += 2
        if i + 1 < len(line) and line[i].kind == "id":
            names.append(line[i].text)
    return names


# --- Terraform's names for Go function values ------------------------------------------------


def function_names(tf_source: str) -> dict[str, dict[str, str]]:
    """Per Go package (``funcs``, ``stdlib``): function value name → Terraform's name.

    Per package, because both have e.g. an ``IndexFunc`` and a ``LengthFunc``, and Terraform
    registers only one of them (go-cty's Index is the ``[ ]`` operator, not ``index()``).
    """
    names: dict[str, dict[str, str]] = {"funcs": {}, "stdlib": {}}
    for m in re.finditer(r'"([a-z0-9_]+)":\s+(funcs|stdlib)\.([A-Za-z0-9]+Func)\b', tf_source):
        names[m.group(2)].setdefault(m.group(3), m.group(1))
    return names


_WANT = ("Want", "want", "Expected", "expected", "Result", "result", "WantVal")
_ERR = ("Err", "err", "WantErr", "wantErr", "ExpectedErr", "WantError", "wantError", "Error")


# go-cty's operator functions, which HCL's operators call
_OPERATORS = {
    "Not": "!a0",
    "And": "a0 && a1",
    "Or": "a0 || a1",
    "Add": "a0 + a1",
    "Subtract": "a0 - a1",
    "Multiply": "a0 * a1",
    "Divide": "a0 / a1",
    "Modulo": "a0 % a1",
    "Negate": "-a0",
    "GreaterThan": "a0 > a1",
    "GreaterThanOrEqualTo": "a0 >= a1",
    "LessThan": "a0 < a1",
    "LessThanOrEqualTo": "a0 <= a1",
    "Equal": "a0 == a1",
    "NotEqual": "a0 != a1",
}


def rows_for_table(table: Table, go_names: dict[str, str], consts: dict[str, Node]) -> tuple:
    """Rows of one function table: find the call in the test body to learn function and order."""
    text = " ".join(t.text for t in table.body)
    loop_var = re.search(r"for (?:\w+ , )?(\w+) := range", text)
    var = loop_var.group(1) if loop_var else "test"
    call = re.search(
        rf"(\w+(?: \. \w+)?) \. Call \( \[ \] cty \. Value \{{ ((?:{var} \. \w+ ,? ?)+)\}}", text
    )
    spread = re.search(rf"(\w+(?: \. \w+)?) \. Call \( {var} \. (\w+) \)", text)
    direct = re.search(rf"(?<![.\w])(\w+) \( ((?:{var} \. \w+ (?:\.\.\. )?,? ?)+)\)", text)
    to_func = re.search(rf"MakeToFunc \( {var} \. (\w+) \)", text)
    fn_name: str | None = None
    arg_fields: list[str] | None = None
    spread_field: str | None = None
    if call:
        fn_name = go_names.get(call.group(1).split(" . ")[-1])
        arg_fields = re.findall(rf"{var} \. (\w+)", call.group(2))
    elif spread:
        fn_name = go_names.get(spread.group(1).split(" . ")[-1])
        spread_field = spread.group(2)
    elif direct:
        go = direct.group(1)
        fn_name = _OPERATORS.get(go) or go_names.get(go + "Func")
        arg_fields = re.findall(rf"{var} \. (\w+)", direct.group(2))
        if "..." in direct.group(2):  # the last field holds the remaining arguments
            spread_field = arg_fields.pop()
    if to_func:
        fn_name = "$to:" + to_func.group(1)
    return fn_name, arg_fields, spread_field


def convert_entry(table: Table, entry: Node, fn: str, arg_fields, spread_field, consts) -> dict:
    fields = _entry_fields(table, entry)
    want_field = next((f for f in _WANT if f in fields), None)
    err_field = next((f for f in _ERR if f in fields), None)
    args = []
    for f in arg_fields or ():
        if f not in fields:
            raise Unconvertible(f"field {f} not given")
        args.append(value(fields[f], consts))
    if spread_field:
        spread = fields.get(spread_field)
        if spread is None or spread.kind != "composite":
            raise Unconvertible("arguments computed in Go")
        args.extend(value(v, consts) for _, v in spread.args)
    error = False
    if err_field is not None:
        err = fields[err_field]
        if err.kind == "id":
            error = err.value not in ("false", "nil")
        elif err.kind == "str":
            error = err.value != ""
        else:
            error = True
    names = [f"a{i}" for i in range(len(args))]
    if fn.startswith("$to:"):
        fn = _to_function(fields.get(fn[4:]))
    expr = fn if fn in _OPERATORS.values() else f"{fn}({', '.join(names)})"
    row: dict = {"line": entry.line, "expr": expr, "vars": dict(zip(names, args, strict=True))}
    if error:
        row["error"] = True
    elif want_field is not None:
        row["want"] = value(fields[want_field], consts)
    elif fn == "sensitive" and len(args) == 1:  # the test checks the result is marked
        row["want"] = args[0] if _is_marked(args[0]) else {"$sensitive": args[0]}
    else:
        raise Unconvertible("no expected value")
    return row


def _is_marked(v: object) -> bool:
    return isinstance(v, dict) and "$sensitive" in v


def _to_function(node: Node | None) -> str:
    if node is None:
        raise Unconvertible("no target type")
    name = ty(node)
    kind = name if isinstance(name, str) else name[0]
    if kind in ("string", "number", "bool", "list", "set", "map"):
        return "to" + kind
    raise Unconvertible(f"conversion to {name}")


def _entry_fields(table: Table, entry: Node) -> dict[str, Node]:
    if entry.kind != "composite":
        raise Unconvertible("table entry computed in Go")
    out: dict[str, Node] = {}
    for i, (k, v) in enumerate(entry.args):
        if k is not None:
            out[str(k.value)] = v
        elif i < len(table.fields):
            out[table.fields[i]] = v
    return out


def hcl_row(table: Table, entry: Node, go_names: dict[str, str], consts) -> dict:
    """An hclsyntax row: input, ctx (Variables, Functions), want, diagCount."""
    fields = _entry_fields(table, entry)
    src = fields.get("input") or fields.get("Input")
    if src is None or src.kind != "str":
        raise Unconvertible("input computed in Go")
    row: dict = {"line": entry.line, "expr": src.value, "vars": {}}
    ctx = fields.get("ctx")
    if ctx is not None and not (ctx.kind == "id" and ctx.value == "nil"):
        if ctx.kind == "unary":
            ctx = ctx.args[0]
        for k, v in ctx.args:
            if k.value == "Variables":
                if v.kind != "composite":
                    raise Unconvertible("variables computed in Go")
                for name, val in v.args:
                    row["vars"][_go_str(name, consts)] = value(val, consts)
            elif k.value == "Functions":
                if v.kind != "composite":
                    raise Unconvertible("functions computed in Go")
                for name, val in v.args:
                    go = val.value.split(".")[-1] if val.kind == "id" else None
                    if go_names.get(go or "") != _go_str(name, consts):
                        raise Unconvertible("a function defined by the test itself")
            else:
                raise Unconvertible(f"context field {k.value}")
    diags = fields.get("diagCount")
    count = int(diags.value) if diags is not None and diags.kind == "num" else 0
    if count:
        row["error"] = True
    else:
        row["want"] = value(fields["want"], consts)
    return row


_FILE_CALL = re.compile(r"\b(file\w*|templatefile)\(")


def tf_functions_rows(toks: list[Tok], consts) -> tuple[list, list]:
    """Terraform's TestFunctions: map[function name][]struct{src string; want cty.Value}."""
    i = next(i for i, t in enumerate(toks) if t.text == "tests" and toks[i + 1].text == ":=")
    p = Parser(toks, i + 2)
    typ = p.type_()
    assert typ.startswith("map")
    comp = p.composite(typ, toks[i].line)
    rows, skipped = [], []
    for _group, entries in comp.args:
        for entry in entries.args:
            node = entry[1]
            try:
                fields = {["src", "want"][j]: v for j, (_, v) in enumerate(node.args)} | {
                    k.value: v for k, v in node.args if k is not None
                }
                src = fields["src"]
                if src.kind != "str":
                    raise Unconvertible("source computed in Go")
                if "testdata" in src.value or _FILE_CALL.search(src.value):
                    raise Unconvertible("reads Terraform's own test files")
                if "local." in src.value:
                    raise Unconvertible("refers to locals of Terraform's test module")
                rows.append(
                    {
                        "line": node.line,
                        "expr": src.value,
                        "vars": {},
                        "want": value(fields["want"], consts),
                    }
                )
            except Unconvertible as e:
                skipped.append({"line": node.line, "reason": str(e)})
    return rows, skipped


def package_consts(toks: list[Tok]) -> dict[str, Node]:
    """Package-level ``var``/``const`` NAME = literal, used by some tables."""
    consts: dict[str, Node] = {}
    for i, t in enumerate(toks):
        if t.text in ("var", "const") and toks[i + 1].kind == "id" and toks[i + 2].text == "=":
            with contextlib.suppress(ValueError, Unconvertible, IndexError):
                consts[toks[i + 1].text] = Parser(toks, i + 3).expr()
    return consts


def convert_file(repo: str, commit: str, path: str, text: str, go_names) -> dict:
    toks = tokenize(text)
    consts = package_consts(toks)
    rows: list[dict] = []
    skipped: list[dict] = []
    if path.endswith("internal/lang/functions_test.go"):
        rows, skipped = tf_functions_rows(toks, consts)
        for r in rows:
            r["id"] = f"TestFunctions:{r['line']}"
    else:
        for table in find_tables(toks):
            consts = {**package_consts(toks), **table.locals}
            is_hcl = "input" in table.fields and "diagCount" in table.fields
            fn = arg_fields = spread = None
            if not is_hcl:
                fn, arg_fields, spread = rows_for_table(table, go_names, consts)
                if fn is None:
                    for _, entry in table.entries:
                        skipped.append(
                            {
                                "test": table.test,
                                "line": entry.line,
                                "reason": "the test does not call one Terraform function "
                                "with the row's values",
                            }
                        )
                    continue
            for _, entry in table.entries:
                try:
                    if is_hcl:
                        row = hcl_row(table, entry, go_names, consts)
                    else:
                        row = convert_entry(table, entry, fn, arg_fields, spread, consts)
                except (Unconvertible, KeyError, IndexError, ValueError) as e:
                    reason = str(e) if isinstance(e, Unconvertible) else f"unparsed ({e})"
                    skipped.append({"test": table.test, "line": entry.line, "reason": reason})
                    continue
                row["id"] = f"{table.test}:{row['line']}"
                rows.append(row)
    return {
        "source": {"repo": repo, "file": path, "commit": commit},
        "rows": rows,
        "unconverted": skipped,
    }


def main(mirrors: Path) -> None:
    tf_commit = SOURCES["hashicorp/terraform"][0]
    tf_dir = mirrors / "hashicorp+terraform" / "repo"
    names = function_names(_git_show(tf_dir, tf_commit, "internal/lang/functions.go"))
    for repo, (commit, paths) in SOURCES.items():
        go_names = names["funcs" if repo == "hashicorp/terraform" else "stdlib"]
        git_dir = mirrors / repo.replace("/", "+") / "repo"
        for path in paths:
            data = convert_file(repo, commit, path, _git_show(git_dir, commit, path), go_names)
            out = HERE / (repo.split("/")[1] + "__" + Path(path).stem + ".json")
            out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
            print(f"{out.name}: {len(data['rows'])} rows, {len(data['unconverted'])} unconverted")


def _git_show(git_dir: Path, commit: str, path: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror"))
