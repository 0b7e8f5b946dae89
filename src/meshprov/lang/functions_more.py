"""Terraform's remaining pure functions: collections, numbers, strings and encodings.

They register into ``functions.FUNCTIONS`` when ``lang.functions`` imports this module, and
share its argument helpers, so their errors read like the others'. Hashes, files and time
functions live in ``functions_files`` and ``functions_time``.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import itertools
import math
import os
import urllib.parse
import uuid
import zlib
from typing import Any

from meshprov import yamlio
from meshprov.lang import numbers
from meshprov.lang.functions import (
    MAX_PADDING,
    CallContext,
    _arg_error,
    _CallFailed,
    _int,
    _not_null,
    _num,
    _quote,
    _register,
    _seq,
    _str,
    _string_list,
    _unified,
    graphemes,
    render_template_text,
)
from meshprov.lang.types import ConversionError, to_bool, to_number, to_string
from meshprov.lang.values import (
    UNKNOWN,
    HclSet,
    Unknown,
    equality_key,
    has_unknown,
    is_number,
    mark,
    type_name,
    unmark,
    unmark_deep,
)

# --- collections ---------------------------------------------------------------------------


def _bools(value: Any, param: str) -> list:
    _not_null(value, param)
    items = _seq(value)
    if items is None:
        raise _arg_error(param, "list of bool required")
    out: list[Any] = []
    for i, item in enumerate(items):
        if item is None or isinstance(item, Unknown):
            out.append(item)
            continue
        try:
            out.append(to_bool(item))
        except ConversionError as e:
            raise _arg_error(param, f"element {i}: {e}") from None
    return out


@_register("alltrue", 1, 1, handles_unknown=True)
def _alltrue(values: Any) -> Any:
    if isinstance(values, Unknown):
        return UNKNOWN
    for item in _bools(values, "list"):
        if isinstance(item, Unknown):
            return UNKNOWN
        if not item:  # a null counts as false
            return False
    return True


@_register("anytrue", 1, 1, handles_unknown=True)
def _anytrue(values: Any) -> Any:
    if isinstance(values, Unknown):
        return UNKNOWN
    unknown = False
    for item in _bools(values, "list"):
        if isinstance(item, Unknown):
            unknown = True
        elif item:
            return True
    return UNKNOWN if unknown else False


@_register("chunklist", 2, 2, element_marks=True, handles_unknown=True)
def _chunklist(values: Any, size: Any) -> Any:
    if isinstance(values, Unknown) or isinstance(size, Unknown):
        return UNKNOWN
    _not_null(values, "list")
    items = _seq(values)
    if items is None:
        raise _arg_error("list", "list required")
    if size is None:
        raise _arg_error("size", "argument must not be null")
    count = _int(size, "size")
    if count < 0:
        raise _CallFailed("the size argument must be positive")
    if not items:
        return []
    if count == 0:
        return [items]
    return [items[i : i + count] for i in range(0, len(items), count)]


@_register("matchkeys", 3, 3)
def _matchkeys(values: Any, keys: Any, searchset: Any) -> list:
    seqs = []
    for param, arg in (("values", values), ("keys", keys), ("searchset", searchset)):
        _not_null(arg, param)
        seq = _seq(arg)
        if seq is None:
            raise _arg_error(param, "list required")
        seqs.append(seq)
    vals, ks, search = seqs
    if len(vals) != len(ks):
        raise _CallFailed("length of keys and values should be equal")
    # the searchset takes the keys' element type: [1, "3"] searches keys 1 and 3
    convert_like = _converter_like(ks[0]) if ks else (lambda v: v)
    wanted = set()
    for item in search:
        with contextlib.suppress(ConversionError):
            wanted.add(equality_key(convert_like(item)))
    return [v for v, k in zip(vals, ks, strict=True) if equality_key(k) in wanted]


def _converter_like(example: Any) -> Any:
    raw = unmark(example)[0]
    if is_number(raw):
        return to_number
    if isinstance(raw, bool):
        return to_bool
    if isinstance(raw, str):
        return to_string
    return lambda v: v


@_register("setintersection", 1, None)
def _setintersection(first: Any, *others: Any) -> HclSet:
    sets = [_set_arg(s) for s in (first, *others)]
    common = set.intersection(*({equality_key(v) for v in s} for s in sets))
    return HclSet(v for v in sets[0] if equality_key(v) in common)


@_register("setsubtract", 2, 2)
def _setsubtract(a: Any, b: Any) -> HclSet:
    left, right = _set_arg(a, "a"), _set_arg(b, "b")
    drop = {equality_key(v) for v in right}
    return HclSet(v for v in left if equality_key(v) not in drop)


@_register("setproduct", 0, None, element_marks=True, handles_unknown=True)
def _setproduct(*sets: Any) -> Any:
    if len(sets) < 2:
        raise _CallFailed("at least two arguments are required")
    seqs = []
    for s in sets:
        if isinstance(s, Unknown):
            continue
        _not_null(s, "sets")
        items = _seq(s)
        if items is None:
            raise _arg_error("sets", "a set or a list is required")
        seqs.append(_unified(items))
    as_set = all(isinstance(s, HclSet) for s in sets if not isinstance(s, Unknown))
    if any(not items for items in seqs):  # anything times nothing is nothing, known or not
        return HclSet() if as_set else []
    if len(seqs) < len(sets):
        return UNKNOWN
    if any(has_unknown(items) for items in seqs):
        return UNKNOWN
    product = [list(t) for t in itertools.product(*seqs)]
    if not as_set:  # any list gives a list, whose elements keep their marks
        return product
    # a set's elements carry no marks of their own in cty: they mark the whole set
    raw, sensitive = unmark_deep(product)
    return mark(HclSet(raw), sensitive)


def _set_arg(value: Any, param: str = "first_set") -> list:
    _not_null(value, param)
    items = _seq(value)
    if items is None:
        raise _arg_error(param, "set required")
    return items


@_register("transpose", 1, 1)
def _transpose(values: Any) -> dict:
    _not_null(values, "values")
    if not isinstance(values, dict):
        raise _arg_error("values", "map of list of string required")
    out: dict[str, list[str]] = {}
    for key, items in values.items():
        if items is None:
            raise _CallFailed("input must not contain null list")
        for item in _string_list(items, "values"):
            if item is None:
                raise _CallFailed("input list must not contain null string")
            out.setdefault(item, []).append(key)
    return {k: sorted(v) for k, v in sorted(out.items())}


@_register("sum", 1, 1)
def _sum(values: Any) -> Any:
    _not_null(values, "list")
    items = _seq(values) if not isinstance(values, dict) else list(values.values())
    if items is None:
        raise _CallFailed(f"cannot sum {type_name(values)}")
    if not items:
        raise _CallFailed("cannot sum an empty list")
    total: numbers.Number = 0
    for item in items:
        if item is None:
            raise _CallFailed("argument must be list, set, or tuple of number values")
        total = numbers.add(total, _num(item, "list"))
    return total


@_register("ephemeralasnull", 1, 1, handles_unknown=True)
def _ephemeralasnull(value: Any) -> Any:
    return value  # meshprov has no ephemeral values: every value passes through unchanged


@_register("issensitive", 1, 1, handles_unknown=True, handles_marks=True)
def _issensitive(value: Any) -> bool:
    return unmark(value)[1]


# --- numbers -------------------------------------------------------------------------------


@_register("log", 2, 2)
def _log(number: Any, base: Any) -> Any:
    num, b = numbers.to_float(_num(number, "num")), numbers.to_float(_num(base, "base"))
    top, bottom = _ln(num), _ln(b)
    if bottom == 0:  # Go's float division: ±Inf, or NaN for 0/0
        result = math.nan if top == 0 or math.isnan(top) else math.copysign(math.inf, top)
    else:
        result = top / bottom
    if math.isnan(result):
        raise _CallFailed("the result of log is not a real number")
    return numbers.from_float(result)


def _ln(x: float) -> float:
    if x == 0:
        return -math.inf
    if x < 0:
        return math.nan
    return math.log(x)


@_register("pow", 2, 2)
def _pow(number: Any, power: Any) -> Any:
    """go-cty's pow is Go's float64 ``math.Pow``: ``pow(3, 40)`` is 12157665459056929000."""
    num, p = numbers.to_float(_num(number, "num")), numbers.to_float(_num(power, "power"))
    try:
        return numbers.from_float(math.pow(num, p))
    except OverflowError:
        odd = p.is_integer() and p % 2 == 1
        return numbers.from_float(math.copysign(math.inf, num) if odd else math.inf)
    except ValueError:
        if num == 0:  # Go: zero to a negative power is infinite
            return numbers.INFINITY
        raise _CallFailed("the result of pow is not a real number") from None


@_register("signum", 1, 1)
def _signum(number: Any) -> int:
    num = _num(number, "num")
    return (num > 0) - (num < 0)


# --- strings -------------------------------------------------------------------------------


@_register("chomp", 1, 1)
def _chomp(string: Any) -> str:
    text = _str(string, "str")
    while text.endswith(("\r\n", "\n", "\r")):
        text = text[:-2] if text.endswith("\r\n") else text[:-1]
    return text


@_register("indent", 2, 2)
def _indent(spaces: Any, string: Any) -> str:
    count = _int(spaces, "spaces")
    if count > MAX_PADDING:
        raise _arg_error("spaces", f"must be at most {MAX_PADDING}")
    pad = " " * count
    return _str(string, "str").replace("\n", "\n" + pad)


@_register("strrev", 1, 1)
def _strrev(string: Any) -> str:
    return "".join(reversed(graphemes(_str(string, "str"))))


@_register("urlencode", 1, 1)
def _urlencode(string: Any) -> str:
    return urllib.parse.quote_plus(_str(string, "str"), safe="-._~")


# --- encodings -----------------------------------------------------------------------------


@_register("csvdecode", 1, 1)
def _csvdecode(string: Any) -> list:
    records = _go_csv(_str(string, "str"))
    if not records:
        raise _CallFailed("missing header line")
    (_, header), body = records[0], records[1:]
    if len(set(header)) != len(header):
        name = next(n for i, n in enumerate(header) if n in header[:i])
        raise _CallFailed(f"duplicate column name {_quote(name)}")
    out = []
    for line, row in body:
        if len(row) != len(header):
            raise _csv_error(line, "wrong number of fields")
        out.append(dict(zip(header, row, strict=True)))
    return out


def _go_csv(text: str) -> list[tuple[int, list[str]]]:
    """Go's ``encoding/csv`` reader with its defaults, as go-cty's csvdecode reads: each
    record with the line it starts on. Empty lines are skipped, ``\r\n`` is ``\n``, and a
    quote is only allowed around a whole field (``""`` inside it)."""
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    records: list[tuple[int, list[str]]] = []
    number = 0
    while number < len(lines):
        start, line = number + 1, lines[number]
        number += 1
        if line == "":
            continue
        fields: list[str] = []
        while True:
            if not line.startswith('"'):
                field, comma, line = line.partition(",")
                if '"' in field:
                    raise _csv_error(number, 'bare " in non-quoted-field')
                fields.append(field)
                if comma:
                    continue
                break
            line, value = line[1:], ""
            while True:
                quote = line.find('"')
                if quote < 0:
                    if number >= len(lines):
                        raise _csv_error(number, _MISPLACED_QUOTE)
                    value += line + "\n"
                    line = lines[number]
                    number += 1
                    continue
                value += line[:quote]
                line = line[quote + 1 :]
                if line.startswith('"'):
                    value += '"'
                    line = line[1:]
                elif line.startswith(",") or line == "":
                    break
                else:
                    raise _csv_error(number, _MISPLACED_QUOTE)
            fields.append(value)
            if line == "":
                break
            line = line[1:]
        records.append((start, fields))
    return records


_MISPLACED_QUOTE = 'extraneous or missing " in quoted-field'


def _csv_error(line: int, problem: str) -> _CallFailed:
    return _CallFailed(f"CSV parse error on line {line}: {problem}")  # go-cty's csvError


# Python's codecs that are no character set: transforms (rot13, hex, zlib: not text encodings
# at all) and these, which IANA does not name either
_NOT_CHARACTER_SETS = {
    "charmap",
    "idna",
    "punycode",
    "raw-unicode-escape",
    "undefined",
    "unicode-escape",
    "utf-8-sig",
}


def _encoding(name: Any) -> str:
    given = _str(name, "encoding")
    try:
        codec = codecs.lookup(given)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        codec = None
    if codec is None or not codec._is_text_encoding or codec.name in _NOT_CHARACTER_SETS:
        raise _arg_error(
            "encoding",
            f"{_quote(given)} is not a supported IANA encoding name or alias in this "
            "Terraform version",
        )
    return codec.name


@_register("textencodebase64", 2, 2)
def _textencodebase64(string: Any, encoding: Any) -> str:
    codec = _encoding(encoding)
    text = _str(string, "string")
    try:
        data = text.encode(codec)
    except UnicodeError as e:  # UnicodeEncodeError, or a codec's own (utf-16 of a lone half)
        raise _arg_error(
            "string",
            f"the given string contains characters that cannot be represented in {codec}: {e}",
        ) from None
    return base64.b64encode(data).decode("ascii")


@_register("textdecodebase64", 2, 2)
def _textdecodebase64(source: Any, encoding: Any) -> str:
    codec = _encoding(encoding)
    text = _str(source, "source")
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError:
        raise _arg_error("source", "the given value is has an invalid base64 symbol") from None
    try:
        return data.decode(codec)
    except UnicodeError:
        raise _arg_error("source", f"the given value is not valid {codec}") from None


@_register("base64gzip", 1, 1)
def _base64gzip(string: Any) -> str:
    data = _str(string, "str").encode("utf-8")
    # the bytes Go's compress/gzip writes: no name, no time, "unknown" OS, a sync-flushed
    # deflate stream closed by an empty stored block
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH) + b"\x01\x00\x00\xff\xff"
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = zlib.crc32(data).to_bytes(4, "little") + (len(data) & 0xFFFFFFFF).to_bytes(
        4, "little"
    )
    return base64.b64encode(header + body + trailer).decode("ascii")


@_register("yamldecode", 1, 1)
def _yamldecode(string: Any) -> Any:
    text = _str(string, "src")
    try:
        docs = yamlio.load_all(text, floats=_yaml_float)
    except yamlio.YAMLError as e:
        raise _CallFailed(f"on line {e.line or 1}: {e.problem}") from None
    if len(docs) > 1:
        raise _CallFailed("multiple YAML documents are not supported")
    return _from_yaml(docs[0] if docs else None)


def _yaml_float(text: str, value: float) -> Any:
    """YAML's floats read from their text at cty's precision, as go-cty-yaml reads them."""
    text = text.replace("_", "")
    if text.lower() in (".inf", "+.inf", "-.inf"):
        return numbers.NEGATIVE_INFINITY if text.startswith("-") else numbers.INFINITY
    if text.lower() == ".nan":
        raise numbers.NumberError("floating point NaN is not supported")
    number = numbers.parse_number(text)
    return numbers.from_float(value) if number is None else number


def _from_yaml(value: Any) -> Any:
    if isinstance(value, dict):
        return {_yaml_key(k): _from_yaml(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_yaml(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if value is None or isinstance(value, bool | int | str) or is_number(value):
        return value
    return str(value)  # dates and timestamps arrive as their text, as in Terraform


def _yaml_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if is_number(key):
        return numbers.format_number(key)
    return str(key)


# --- paths and identifiers -----------------------------------------------------------------


@_register("pathexpand", 1, 1)
def _pathexpand(path: Any) -> str:
    return os.path.expanduser(_str(path, "path"))


_UUID_NAMESPACES = {
    "dns": uuid.NAMESPACE_DNS,
    "url": uuid.NAMESPACE_URL,
    "oid": uuid.NAMESPACE_OID,
    "x500": uuid.NAMESPACE_X500,
}


@_register("uuidv5", 2, 2)
def _uuidv5(namespace: Any, name: Any) -> str:
    given = _str(namespace, "namespace")
    space = _UUID_NAMESPACES.get(given)
    if space is None:
        try:
            space = uuid.UUID(given)
        except ValueError:
            raise _CallFailed(
                f"uuidv5() doesn't support namespace {given} (invalid UUID length: {len(given)})"
            ) from None
    return str(uuid.uuid5(space, _str(name, "name")))


@_register("templatestring", 2, 2, needs_context=True)
def _templatestring(ctx: CallContext, template: Any, variables: Any) -> Any:
    return render_template_text(ctx, _str(template, "template"), "<templatestring>", variables)
