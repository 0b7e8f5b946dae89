"""The built-in functions of the configuration language, with Terraform's semantics.

``FUNCTIONS`` maps each name to a ``Function``; ``call_function`` applies the rules every call
shares: arity, sensitive marks (stripped from the arguments, put back on the result) and
unknowns (an unknown argument gives an unknown result unless the function deals with them).
Error messages follow Terraform's: ``Invalid value for "str" parameter: ...`` when one argument
is wrong, ``Call to function "x" failed: ...`` otherwise. ``try`` and ``can`` are not here: they
need unevaluated arguments, so the evaluator implements them.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import hashlib
import ipaddress
import json
import os
import posixpath
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import re2

from meshprov import yamlio
from meshprov.lang import numbers
from meshprov.lang.types import (
    ANY,
    BOOL,
    NUMBER,
    STRING,
    AnyType,
    ConversionError,
    ListType,
    MapType,
    ObjectType,
    Primitive,
    SetType,
    TupleType,
    Type,
    convert,
    friendly_name,
    infer_type,
    to_bool,
    to_number,
    to_string,
    unify,
    unknown_of,
)
from meshprov.lang.values import (
    UNKNOWN,
    HclSet,
    Null,
    Refinement,
    Unknown,
    declared_type,
    format_number,
    has_unknown,
    is_number,
    is_sensitive_deep,
    mark,
    type_name,
    unmark,
    unmark_deep,
    values_equal,
)
from meshprov.log import holds_secret

RenderTemplate = Callable[[str, str, dict], str]

_NOT_NULL = Refinement(not_null=True)


class FunctionError(Exception):
    """A call failed. ``str()`` is the diagnostic detail, ``summary`` its one-line summary."""

    def __init__(self, message: str, summary: str = "Error in function call"):
        super().__init__(message)
        self.summary = summary


class _CallFailed(Exception):
    """The call as a whole failed; ``call_function`` adds ``Call to function "x" failed``."""


@dataclass(frozen=True)
class Function:
    name: str
    impl: Callable[..., Any]
    min_args: int
    max_args: int | None  # None: variadic
    handles_unknown: bool = False  # impl receives unknowns (top level and nested) itself
    handles_marks: bool = False  # impl receives sensitive marks itself
    needs_context: bool = False  # impl's first argument is the CallContext
    # impl passes elements through: only each argument's own mark is taken off (and put on
    # the result); marks inside stay on their elements, as Terraform keeps them
    element_marks: bool = False
    # checks the static types that unknowns and typed nulls carry (None for other arguments)
    # before any value is looked at, as go-cty's type check does; raises _CallFailed
    check_types: Callable[[list[Type | None]], None] | None = None


@dataclass(frozen=True)
class CallContext:
    base_dir: Path
    render_template: RenderTemplate | None


FUNCTIONS: dict[str, Function] = {}

# Set while an implementation runs on arguments that were sensitive, so that error messages
# quoting argument text show "(sensitive value)" instead, as Terraform's do.
_redacting: contextvars.ContextVar[bool] = contextvars.ContextVar("_redacting", default=False)


def _register(
    name: str,
    min_args: int,
    max_args: int | None,
    *,
    handles_unknown: bool = False,
    handles_marks: bool = False,
    needs_context: bool = False,
    element_marks: bool = False,
    check_types: Callable[[list[Type | None]], None] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def add(impl: Callable[..., Any]) -> Callable[..., Any]:
        FUNCTIONS[name] = Function(
            name,
            impl,
            min_args,
            max_args,
            handles_unknown,
            handles_marks,
            needs_context,
            element_marks,
            check_types,
        )
        return impl

    return add


def call_function(
    name: str,
    args: list,
    base_dir: Path,
    render_template: RenderTemplate | None = None,
) -> Any:
    """Call the built-in ``name``; raises ``FunctionError`` with Terraform's wording."""
    fn = FUNCTIONS.get(name)
    if fn is None:
        raise FunctionError(f'There is no function named "{name}".', "Call to unknown function")
    _check_arity(fn, len(args))
    if fn.check_types is not None:
        try:
            fn.check_types([declared_type(arg) for arg in args])
        except _CallFailed as e:
            raise FunctionError(_sentence(f'Call to function "{name}" failed: {e}')) from None
    sensitive = False
    redact = False
    if fn.element_marks:
        stripped = []
        for arg in args:
            raw, marked = unmark(arg)
            stripped.append(raw)
            sensitive = sensitive or marked
        redact = sensitive or any(is_sensitive_deep(arg) for arg in stripped)
        args = stripped
    elif not fn.handles_marks:
        stripped = []
        for arg in args:
            raw, marked = unmark_deep(arg)
            stripped.append(raw)
            sensitive = sensitive or marked
        args = stripped
        redact = sensitive
    if not fn.handles_unknown and any(has_unknown(arg) for arg in args):
        return mark(UNKNOWN, redact)  # nested marks too: the unknown may hold any of them
    if fn.needs_context:
        args = [CallContext(base_dir, render_template), *args]
    token = _redacting.set(redact)
    try:
        result = fn.impl(*args)
    except (_CallFailed, numbers.NumberError) as e:
        raise FunctionError(_sentence(f'Call to function "{name}" failed: {e}')) from None
    finally:
        _redacting.reset(token)
    return mark(result, sensitive)


def _check_arity(fn: Function, count: int) -> None:
    if fn.max_args is None:
        expected = f"at least {fn.min_args}"
    elif fn.min_args == fn.max_args:
        expected = str(fn.min_args)
    else:
        expected = f"{fn.min_args} to {fn.max_args}"
    if count < fn.min_args:
        summary = "Not enough function arguments"
    elif fn.max_args is not None and count > fn.max_args:
        summary = "Too many function arguments"
    else:
        return
    raise FunctionError(
        f'Function "{fn.name}" expects {expected} argument(s), got {count}', summary
    )


# --- argument helpers ----------------------------------------------------------------------


def _sentence(message: str) -> str:
    return message if message.endswith(".") else message + "."


def _arg_error(param: str, message: str) -> FunctionError:
    return FunctionError(
        _sentence(f'Invalid value for "{param}" parameter: {message}'),
        "Invalid function argument",
    )


def _quote(text: str, quoted: bool = True) -> str:
    """User text for an error message, hidden when the arguments are sensitive."""
    if _redacting.get():
        return "(sensitive value)"
    return json.dumps(text, ensure_ascii=False) if quoted else text


def _str(value: Any, param: str) -> str:
    try:
        return to_string(value)
    except ConversionError as e:
        raise _arg_error(param, str(e)) from None


def _num(value: Any, param: str) -> numbers.Number:
    try:
        return to_number(value)
    except ConversionError as e:
        raise _arg_error(param, str(e)) from None


def _int(value: Any, param: str) -> int:
    number = _num(value, param)
    if not isinstance(number, int):
        raise _arg_error(param, "value must be a whole number")
    return number


def _seq(value: Any) -> list | None:
    """The elements of a list, tuple or set; None for anything else."""
    return list(value) if isinstance(value, list | HclSet) else None


def _unified(items: list) -> list:
    """Elements converted to their one common type, as go-cty builds a list or set from them
    (``[1]`` and ``["a"]`` together are strings); unchanged when they have none."""
    common = unify([infer_type(v) for v in items])
    if common is None or isinstance(common, AnyType):
        return items
    return [convert(v, common) for v in items]


def _static_length(value: Unknown) -> int | None:
    """The length of an unknown known from its type (a tuple's, an object's)."""
    if isinstance(value.type, TupleType):
        return len(value.type.elems)
    if isinstance(value.type, ObjectType):
        return len(value.type.attrs)
    return None


def _not_null(value: Any, param: str) -> None:
    if value is None:
        raise _arg_error(param, "argument must not be null")


def _string_list(value: Any, param: str) -> list[str | None]:
    """A list(string) parameter: elements converted to strings, nulls kept for the caller."""
    _not_null(value, param)
    items = _seq(value)
    if items is None:
        raise _arg_error(param, "list of string required")
    out: list[str | None] = []
    for i, item in enumerate(items):
        try:
            out.append(None if item is None else to_string(item))
        except ConversionError as e:
            raise _arg_error(param, f"element {i}: {e}") from None
    return out


# --- numbers -------------------------------------------------------------------------------


@_register("abs", 1, 1)
def _abs(num: Any) -> numbers.Number:
    return numbers.absolute(_num(num, "num"))


@_register("ceil", 1, 1)
def _ceil(num: Any) -> numbers.Number:
    return numbers.ceil(_num(num, "num"))


@_register("floor", 1, 1)
def _floor(num: Any) -> numbers.Number:
    return numbers.floor(_num(num, "num"))


@_register("max", 0, None)
def _max(*values: Any) -> numbers.Number:
    if not values:
        raise _CallFailed("must pass at least one number")
    return max(_num(n, "numbers") for n in values)


@_register("min", 0, None)
def _min(*values: Any) -> numbers.Number:
    if not values:
        raise _CallFailed("must pass at least one number")
    return min(_num(n, "numbers") for n in values)


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@_register("parseint", 2, 2)
def _parseint(number: Any, base: Any) -> int:
    if not isinstance(number, str):
        raise _arg_error("number", f"first argument must be a string, not {type_name(number)}")
    radix = _int(base, "base")
    if not 2 <= radix <= 62:
        raise _arg_error("base", "base must be a whole number between 2 and 62 inclusive")
    digits, sign = number, 1
    if digits[:1] in ("+", "-"):
        sign = -1 if digits[0] == "-" else 1
        digits = digits[1:]
    # Go's big.Int: up to base 36 letters are case-insensitive; above, A-Z are 36..61.
    values = [_DIGITS.find(ch.lower() if radix <= 36 else ch) for ch in digits]
    if not values or not all(0 <= v < radix for v in values):
        raise _arg_error("number", f"cannot parse {_quote(number)} as a base {radix} integer")
    value = 0
    for v in values:
        value = value * radix + v
    return sign * value


# --- format --------------------------------------------------------------------------------

_VERB_RE = re.compile(
    r"%(?P<flags>[-+# 0]*)(?:\[(?P<index>[1-9][0-9]*)\])?(?P<width>[1-9][0-9]*)?"
    r"(?:\.(?P<prec>[0-9]*))?"
)


# Go's fmt takes no width or precision above a million ("crazy long number most likely"):
# padding past it would only exhaust memory
MAX_PADDING = 1_000_000


@dataclass(frozen=True)
class _Verb:
    raw: str
    offset: int
    mode: str
    flags: str
    width: int | None
    prec: int | None


def _go_rune(ch: str) -> str:
    return "'" + ch.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _format(fmt: str, args: list) -> str:
    """go-cty's printf: verbs %v %#v %t %b %d %o %x %X %e %E %f %g %G %s %q, [n] indexes."""
    out: list[str] = []
    pos, next_arg, highest = 0, 1, 0
    while pos < len(fmt):
        if fmt[pos] != "%":
            out.append(fmt[pos])
            pos += 1
            continue
        if fmt.startswith("%%", pos):
            out.append("%")
            pos += 2
            continue
        m = _VERB_RE.match(fmt, pos)
        assert m is not None  # the pattern matches a lone "%"
        end = m.end()
        if end >= len(fmt):
            raise _CallFailed(f"invalid format string starting at offset {pos}")
        mode = fmt[end]
        if not (mode.isascii() and mode.isalpha()):
            raise _CallFailed(f"unrecognized format character {_go_rune(mode)} at offset {end}")
        for number in (m["width"], m["prec"]):
            if number and (len(number) > 7 or int(number) > MAX_PADDING):
                raise _CallFailed(
                    f"width or precision of {json.dumps(fmt[pos : end + 1])} at offset {pos} "
                    f"is more than {MAX_PADDING}"
                )
        verb = _Verb(
            raw=fmt[pos : end + 1],
            offset=pos,
            mode=mode,
            flags=m["flags"],
            width=int(m["width"]) if m["width"] else None,
            prec=int(m["prec"] or 0) if m["prec"] is not None else None,
        )
        wanted = m["index"] or str(next_arg)  # digits: int() of 5000 of them fails
        if len(wanted) > 9 or int(wanted) > len(args):
            raise _CallFailed(
                f"not enough arguments for {json.dumps(verb.raw)} at {pos}: "
                f"need index {wanted} but have {len(args)} total"
            )
        arg_num = int(wanted)
        out.append(_format_verb(verb, args[arg_num - 1]))
        next_arg = arg_num + 1
        highest = max(highest, arg_num)
        pos = end + 1
    if len(args) > highest:
        if highest == 0:
            raise _CallFailed("too many arguments; no verbs in format string")
        raise _CallFailed(f"too many arguments; only {highest} used by format string")
    return "".join(out)


def _format_verb(verb: _Verb, arg: Any) -> str:
    where = f"{json.dumps(verb.raw)} at {verb.offset}"
    if arg is None:
        if verb.mode == "v":
            return _pad(verb, "null")
        raise _CallFailed(f"unsupported value for {where}: null value cannot be formatted")
    try:
        if verb.mode == "v":
            if "#" not in verb.flags and isinstance(arg, str):
                return _pad(verb, arg)
            if "#" not in verb.flags and is_number(arg):
                return _pad(verb, numbers.go_text(arg, "g", -1))
            return _pad(verb, _json(arg))
        if verb.mode == "t":
            return "true" if to_bool(arg) else "false"
        if verb.mode in "bdoxX":
            number = to_number(arg)
            if not isinstance(number, int):
                raise _CallFailed(f"unsupported value for {where}: an integer is required")
            return _format_integer(verb, number)
        if verb.mode in "eEfgG":
            return _format_float(verb, to_number(arg))
        if verb.mode in "sq":
            text = to_string(arg)
            if verb.prec:
                text = text[: verb.prec]
            return _pad(verb, _json_string(text) if verb.mode == "q" else text)
    except ConversionError as e:
        raise _CallFailed(f"unsupported value for {where}: {e}") from None
    raise _CallFailed(
        f"unsupported format verb {_go_rune(verb.mode)} in {json.dumps(verb.raw)} "
        f"at offset {verb.offset}"
    )


def _pad(verb: _Verb, text: str) -> str:
    size = len(graphemes(text))  # go-cty pads to a width in user-perceived characters
    if verb.width is None or size >= verb.width:
        return text
    fill = "0" if "0" in verb.flags else " "
    if "-" in verb.flags:
        return text + " " * (verb.width - size)
    return fill * (verb.width - size) + text


def _pad_number(verb: _Verb, negative: bool, prefix: str, digits: str, zero_ok: bool) -> str:
    """Go's sign, width and zero-padding rules for a formatted number."""
    flags = verb.flags
    sign = "-" if negative else "+" if "+" in flags else " " if " " in flags else ""
    body = sign + prefix + digits
    width = verb.width or 0
    if len(body) >= width:
        return body
    if "-" in flags:
        return body.ljust(width)
    if "0" in flags and zero_ok:
        return sign + prefix + digits.rjust(width - len(sign) - len(prefix), "0")
    return body.rjust(width)


def _format_integer(verb: _Verb, number: int) -> str:
    digits = format(abs(number), verb.mode)
    if verb.prec is not None:
        digits = digits.rjust(verb.prec, "0")
    prefix = {"b": "0b", "o": "0", "x": "0x", "X": "0X"}.get(verb.mode, "")
    prefix = prefix if "#" in verb.flags else ""
    return _pad_number(verb, number < 0, prefix, digits, zero_ok=verb.prec is None)


def _format_float(verb: _Verb, number: numbers.Number) -> str:
    """Go's ``fmt`` with a ``*big.Float``, as go-cty formats: the exact binary value rounded
    half to even (``%f`` and ``%e`` default to 6 digits, ``%g`` to the shortest)."""
    if numbers.is_infinite(number):  # "+Inf" or "-Inf", never zero-padded
        body = ("-" if number < 0 else " " if " " in verb.flags else "+") + "Inf"
        width = verb.width or 0
        return body.ljust(width) if "-" in verb.flags else body.rjust(width)
    prec = verb.prec if verb.prec is not None else -1 if verb.mode in "gG" else 6
    digits = numbers.go_text(numbers.absolute(number), verb.mode, prec)
    return _pad_number(verb, number < 0, "", digits, zero_ok=True)


@_register("format", 1, None)
def _format_fn(fmt: Any, *args: Any) -> str:
    return _format(_str(fmt, "format"), list(args))


@_register("formatlist", 1, None, handles_unknown=True)
def _formatlist(fmt: Any, *args: Any) -> Any:
    columns: list[list | None] = []  # None: a single value, used in every iteration
    unknown = has_unknown(fmt)
    for a in args:
        if isinstance(a, Unknown) and not isinstance(a.type, Primitive):
            known = _static_length(a)  # an unknown tuple's length is known from its type
            columns.append(None if known is None else [UNKNOWN] * known)
            unknown = True
        elif isinstance(a, HclSet) and has_unknown(a):
            columns.append(None)  # unknown elements may turn out equal: the length is unknown
            unknown = True
        else:
            columns.append(None if isinstance(a, Unknown) else _seq(a))
    length, chooser = None, 0
    for i, column in enumerate(columns):
        if column is None:
            continue
        if length is None:
            length, chooser = len(column), i
        elif len(column) != length:
            raise _arg_error(
                "args",
                f"argument {i + 1} has length {len(column)}, which is inconsistent with "
                f"argument {chooser + 1} of length {length}",
            )
    if unknown:
        return unknown_of(ListType(STRING), _NOT_NULL)
    text = _str(fmt, "format")
    if not args:
        return [_format(text, [])]
    results: list[Any] = []
    for iteration in range(1 if length is None else length):
        row = [a if c is None else c[iteration] for a, c in zip(args, columns, strict=True)]
        if any(has_unknown(v) for v in row):
            results.append(UNKNOWN)  # only this element waits for apply
            continue
        try:
            results.append(_format(text, row))
        except _CallFailed as e:
            raise _CallFailed(f"error on format iteration {iteration}: {e}") from None
    return results


# --- strings -------------------------------------------------------------------------------


@_register("join", 1, None)
def _join(separator: Any, *lists: Any) -> str:
    sep = _str(separator, "separator")
    if not lists:
        raise _CallFailed("at least one list is required")
    items: list[str] = []
    for list_number, value in enumerate(lists, start=1):
        for i, item in enumerate(_string_list(value, "lists")):
            if item is None:
                where = f"element {i} of list {list_number}" if len(lists) > 1 else f"element {i}"
                raise _arg_error("lists", f"{where} is null; cannot concatenate null values")
            items.append(item)
    return sep.join(items)


@_register("split", 2, 2)
def _split(separator: Any, string: Any) -> list[str]:
    sep, text = _str(separator, "separator"), _str(string, "str")
    if sep == "":
        return list(text)  # Go's strings.Split with an empty separator splits characters
    return text.split(sep)


@_register("lower", 1, 1)
def _lower(string: Any) -> str:
    return _go_case(_str(string, "str"), str.lower)


@_register("upper", 1, 1)
def _upper(string: Any) -> str:
    return _go_case(_str(string, "str"), str.upper)


def _go_case(text: str, convert: Callable[[str], str]) -> str:
    """Go's strings.ToUpper/ToLower map one character to one: a character whose Unicode
    case mapping is several characters ("ﬄ" → "FFL") stays as it is."""
    if text.isascii():
        return convert(text)
    return "".join(c if len(mapped := convert(c)) != 1 else mapped for c in text)


def _is_word_separator(ch: str) -> bool:
    """Go's strings.Title rule: ASCII non-alphanumerics (not "_") and Unicode spaces."""
    if ch.isascii():
        return not (ch.isalnum() or ch == "_")
    if ch.isalpha() or ch.isdigit():
        return False
    return ch.isspace()


@_register("title", 1, 1)
def _title(string: Any) -> str:
    out, previous = [], " "
    for ch in _str(string, "str"):
        upper = ch.upper()
        # only the first letter of a word changes; the rest keep their case, unlike str.title
        out.append(upper if _is_word_separator(previous) and len(upper) == 1 else ch)
        previous = ch
    return "".join(out)


@_register("trimspace", 1, 1)
def _trimspace(string: Any) -> str:
    return _str(string, "str").strip()


@_register("trim", 2, 2)
def _trim(string: Any, cutset: Any) -> str:
    return _str(string, "str").strip(_str(cutset, "cutset"))


@_register("trimprefix", 2, 2)
def _trimprefix(string: Any, prefix: Any) -> str:
    return _str(string, "str").removeprefix(_str(prefix, "prefix"))


@_register("trimsuffix", 2, 2)
def _trimsuffix(string: Any, suffix: Any) -> str:
    return _str(string, "str").removesuffix(_str(suffix, "suffix"))


@_register("startswith", 2, 2, handles_unknown=True)
def _startswith(string: Any, prefix: Any) -> Any:
    if isinstance(prefix, Unknown):
        return UNKNOWN
    wanted = _str(prefix, "prefix")
    if isinstance(string, Unknown):  # a known prefix of the unknown string may decide it
        known = string.refinement.prefix
        if known.startswith(wanted):
            return True
        return False if len(known) >= len(wanted) else unknown_of(BOOL, _NOT_NULL)
    return _str(string, "str").startswith(wanted)


@_register("endswith", 2, 2)
def _endswith(string: Any, suffix: Any) -> bool:
    return _str(string, "str").endswith(_str(suffix, "suffix"))


@_register("strcontains", 2, 2)
def _strcontains(string: Any, substr: Any) -> bool:
    return _str(substr, "substr") in _str(string, "str")


@_register("substr", 3, 3)
def _substr(string: Any, offset: Any, length: Any) -> str:
    text = graphemes(_str(string, "str"))  # offsets count user-perceived characters
    start, count = _int(offset, "offset"), _int(length, "length")
    if start < 0:
        start = max(start + len(text), 0)  # negative offsets count from the end
    if start >= len(text) or count == 0:
        return ""
    rest = text[start:]
    return "".join(rest if count < 0 else rest[:count])


@_register("replace", 3, 3)
def _replace(string: Any, substr: Any, replacement: Any) -> str:
    text = _str(string, "str")
    search = _str(substr, "substr")
    new = _str(replacement, "replace")
    if len(search) > 1 and search.startswith("/") and search.endswith("/"):
        try:
            pattern = _compile_re2(search[1:-1])
        except _RegexpError as e:
            raise _CallFailed(f"error parsing regexp: {e}") from None
        return pattern.sub(lambda m: _expand(new, m), text)
    return text.replace(search, new)


@_register("regex", 2, 2)
def _regex(pattern: Any, string: Any) -> Any:
    compiled = _regex_pattern(pattern)
    match = compiled.search(_str(string, "string"))
    if match is None:
        raise _CallFailed("pattern did not match any part of the given string")
    return _match_value(compiled, match)


@_register("regexall", 2, 2)
def _regexall(pattern: Any, string: Any) -> list:
    compiled = _regex_pattern(pattern)
    out, end = [], -1
    for m in compiled.finditer(_str(string, "string")):
        if m.start() == m.end() == end:
            continue  # Go ignores an empty match abutting the previous match
        out.append(_match_value(compiled, m))
        end = m.end()
    return out


def _regex_pattern(pattern: Any) -> Any:
    try:
        compiled = _compile_re2(_str(pattern, "pattern"))
    except _RegexpError as e:
        raise _arg_error("pattern", f"invalid regexp pattern: {e}") from None
    named = compiled.groupindex
    if named and len(named) != compiled.groups:
        raise _arg_error(
            "pattern", "invalid regexp pattern: cannot mix both named and unnamed capture groups"
        )
    return compiled


def _match_value(compiled: Any, match: Any) -> Any:
    """What regex returns for one match: the string, a list of groups, or a map of names."""
    if compiled.groupindex:
        return dict(sorted(match.groupdict().items()))
    if compiled.groups:
        return list(match.groups())  # groups that did not take part are null
    return match.group(0)


class _RegexpError(Exception):
    """RE2 rejected a pattern; the message is RE2's, as Terraform shows Go's."""


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # RE2 would log rejected patterns to stderr itself


@lru_cache(maxsize=256)
def _compile_re2(pattern: str) -> Any:
    """Compile with RE2 itself, the engine (and syntax) of Go's regexp: matching takes time
    linear in the input, so no pattern can hang a run (``(a+)+$`` on a long string)."""
    try:
        return re2.compile(pattern, options=_RE2_OPTIONS)
    except re2.error as e:
        message = e.args[0] if e.args else "invalid pattern"
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        if "invalid escape sequence: \\" in message and message[-1:].isdigit():
            message += " (RE2, the engine Terraform uses, has no backreferences)"
        raise _RegexpError(message) from None


_TEMPLATE_NAME = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def _expand(template: str, match: Any) -> str:
    """Go's Regexp.Expand: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``."""
    out: list[str] = []
    i = 0
    while i < len(template):
        if template[i] != "$":
            out.append(template[i])
            i += 1
            continue
        if template.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        ref = _TEMPLATE_NAME.match(template, i)
        if ref is None:
            out.append("$")
            i += 1
            continue
        name = ref[1] or ref[2]
        if name.isdigit():
            number = int(name)
            group = match.group(number) if number <= match.re.groups else None
        else:
            group = match.groupdict().get(name)
        out.append(group or "")  # unknown or unmatched groups expand to nothing
        i = ref.end()
    return "".join(out)


# --- collections ---------------------------------------------------------------------------


@_register("length", 1, 1, handles_unknown=True, element_marks=True)
def _length(value: Any) -> Any:
    if isinstance(value, Unknown):
        known = _static_length(value)
        return unknown_of(NUMBER, _NOT_NULL) if known is None else known
    _not_null(value, "value")
    if isinstance(value, str):
        return len(graphemes(value))
    if isinstance(value, list | HclSet | dict):
        return len(value)
    raise _arg_error("value", "argument must be a string, a collection type, or a structural type")


@_register("concat", 1, None, handles_unknown=True, element_marks=True)
def _concat(*seqs: Any) -> Any:
    if any(isinstance(s, Unknown) for s in seqs):
        return UNKNOWN
    out: list = []
    for seq in seqs:
        _not_null(seq, "seqs")
        if not isinstance(seq, list):
            raise _CallFailed(f"all arguments must be lists or tuples; got {type_name(seq)}")
        out.extend(seq)
    return _unified(out)


@_register("contains", 2, 2, handles_unknown=True)
def _contains(collection: Any, value: Any) -> Any:
    if isinstance(collection, Unknown):
        return UNKNOWN
    if collection is None:
        raise _CallFailed("cannot search a nil list or set")
    items = _seq(collection)
    if items is None:
        raise _CallFailed("argument must be list, tuple, or set")
    if not items:
        return False
    if has_unknown(value):
        return UNKNOWN
    undecided = False
    for item in items:
        if has_unknown(item):
            undecided = True  # it may turn out equal; keep looking for a certain match
        elif values_equal(item, value):
            return True
    return UNKNOWN if undecided else False


@_register("distinct", 1, 1)
def _distinct(collection: Any) -> list:
    _not_null(collection, "list")
    items = _seq(collection)
    if items is None:
        raise _arg_error("list", "list of any single type required")
    out: list = []
    for item in items:
        if not any(values_equal(item, seen) for seen in out):
            out.append(item)
    return out


@_register("element", 2, 2, handles_unknown=True, element_marks=True)
def _element(collection: Any, index: Any) -> Any:
    if isinstance(index, Unknown):
        return UNKNOWN
    position = _int(index, "index")
    if isinstance(collection, Unknown):
        return UNKNOWN
    _not_null(collection, "list")
    if not isinstance(collection, list):
        raise _CallFailed(f"cannot read elements from {type_name(collection)}")
    if not collection:
        raise _CallFailed("cannot use element function with an empty list")
    if not -(2**63) <= position < 2**63:
        raise _arg_error(
            "index",
            "value must be a whole number, between -9223372036854775808 and 9223372036854775807",
        )
    # wraps around; since Terraform 1.10 a negative index counts back from the end
    return collection[position % len(collection)]


@_register("flatten", 1, 1, element_marks=True, handles_unknown=True)
def _flatten(collection: Any) -> Any:
    if isinstance(collection, Unknown):
        return UNKNOWN
    _not_null(collection, "list")
    if _seq(collection) is None:
        raise _CallFailed("can only flatten lists, sets and tuples")
    out: list = []
    marked_lists = False

    def walk(items: list) -> None:
        nonlocal marked_lists
        for item in items:
            raw, marked = unmark(item)
            if isinstance(raw, Unknown) and not isinstance(raw.type, Primitive | ObjectType):
                raise _MaybeSequence  # it may be a list to flatten: the result is unknown
            inner = _seq(raw)
            if inner is None:
                out.append(item)
            else:  # as cty, a marked inner list marks the whole result
                marked_lists = marked_lists or marked
                walk(inner)

    try:
        walk(list(collection))
    except _MaybeSequence:
        return mark(UNKNOWN, is_sensitive_deep(collection))
    return mark(out, marked_lists)


class _MaybeSequence(Exception):
    """flatten met an unknown that may turn out a list."""


@_register("keys", 1, 1, handles_unknown=True, element_marks=True)
def _keys(mapping: Any) -> Any:
    if isinstance(mapping, Unknown):  # an object's attribute names are known from its type
        if isinstance(mapping.type, ObjectType):
            return [a.name for a in mapping.type.attrs]
        return UNKNOWN
    _not_null(mapping, "inputMap")
    if not isinstance(mapping, dict):
        raise _arg_error("inputMap", "must have map or object type")
    return sorted(mapping)


@_register("values", 1, 1, handles_unknown=True, element_marks=True)
def _values(mapping: Any) -> Any:
    if isinstance(mapping, Unknown):
        return UNKNOWN
    _not_null(mapping, "mapping")
    if not isinstance(mapping, dict):
        raise _CallFailed("values() requires a map as the first argument")
    return [mapping[k] for k in sorted(mapping)]


@_register("lookup", 2, 3, element_marks=True, handles_unknown=True)
def _lookup(mapping: Any, key: Any, *default: Any) -> Any:
    if isinstance(mapping, Unknown) or isinstance(key, Unknown):
        return UNKNOWN  # unknowns elsewhere in the map do not matter
    _not_null(mapping, "inputMap")
    if not isinstance(mapping, dict):
        raise _arg_error("inputMap", "lookup() requires a map as the first argument")
    name = _str(key, "key")
    fallback = [_like_elements(d, mapping) for d in default]  # checked even when not used
    if name in mapping:
        return mapping[name]
    if fallback:
        return fallback[0]
    raise _CallFailed(f"lookup failed to find key {_quote(name)}")


def _like_elements(default: Any, mapping: dict) -> Any:
    """Terraform converts lookup's default to the map's element type: a number default of a
    map of strings comes back a string, a string default of a map of maps is an error."""
    common = unify([infer_type(v) for v in mapping.values()])
    if common is None:
        return default
    try:
        return convert(default, common)
    except ConversionError as e:
        raise _arg_error("default", str(e)) from None


def _maps_or_objects(types: list[Type | None]) -> None:
    """merge's arguments: a null or unknown *string* is no map, whatever its value."""
    for t in types:
        if t is not None and not isinstance(t, AnyType | MapType | ObjectType):
            raise _CallFailed(f'arguments must be maps or objects, got "{friendly_name(t)}"')


@_register("merge", 0, None, handles_unknown=True, element_marks=True, check_types=_maps_or_objects)
def _merge(*maps: Any) -> Any:
    if any(isinstance(m, Unknown) for m in maps):
        return UNKNOWN
    present = [m for m in maps if m is not None]
    out: dict = {}
    for m in present:
        if not isinstance(m, dict):
            raise _CallFailed(f'arguments must be maps or objects, got "{type_name(m)}"')
        out.update(m)
    return dict(sorted(out.items()))


@_register("range", 1, 3)
def _range(*params: Any) -> list:
    values = [_num(p, "params") for p in params]
    start: numbers.Number
    if len(values) == 1:
        start, end = 0, values[0]
        step: numbers.Number = -1 if end < 0 else 1
    elif len(values) == 2:
        start, end = values
        step = -1 if end < start else 1
    else:
        start, end, step = values
    if step == 0:
        raise _arg_error("params", "step must not be zero")
    down = step < 0
    if down and end > start:
        raise _arg_error("params", "end must be less than start when step is negative")
    if not down and end < start:
        raise _arg_error("params", "end must be greater than start when step is positive")
    out: list = []
    current = start
    while (current > end) if down else (current < end):
        if len(out) >= 1024:
            raise _CallFailed(
                "more than 1024 values were generated; either decrease the difference between "
                "start and end or use a smaller step"
            )
        out.append(current)
        current = numbers.add(current, step)
    return out


@_register("reverse", 1, 1, handles_unknown=True, element_marks=True)
def _reverse(collection: Any) -> Any:
    if isinstance(collection, Unknown):
        return UNKNOWN
    _not_null(collection, "list")
    items = _seq(collection)
    if items is None:
        raise _arg_error(
            "list", f"can only reverse list or tuple values, not {type_name(collection)}"
        )
    return items[::-1]


@_register("setunion", 1, None, handles_unknown=True)
def _setunion(*sets: Any) -> Any:
    if any(isinstance(s, Unknown) for s in sets):
        return UNKNOWN
    everything: list = []
    for value in sets:
        _not_null(value, "sets")
        items = _seq(value)
        if items is None:
            raise _arg_error("sets", "set of any single type required")
        everything.extend(items)
    try:
        return convert(everything, SetType(ANY))
    except ConversionError:
        raise _CallFailed("given sets must all have compatible element types") from None


@_register("slice", 3, 3, handles_unknown=True, element_marks=True)
def _slice(collection: Any, start_index: Any, end_index: Any) -> Any:
    if any(isinstance(v, Unknown) for v in (collection, start_index, end_index)):
        return UNKNOWN
    _not_null(collection, "list")
    if isinstance(collection, HclSet):
        raise _arg_error(
            "list",
            "cannot slice a set, because its elements do not have indices; explicitly convert "
            "to a list if the ordering of the result is not important",
        )
    if not isinstance(collection, list):
        raise _arg_error("list", "must be a list or tuple value")
    start, end = _int(start_index, "start_index"), _int(end_index, "end_index")
    if start < 0:
        raise _arg_error("start_index", "start index must not be less than zero")
    if start > len(collection):
        raise _arg_error(
            "start_index", "start index must not be greater than the length of the list"
        )
    if end < 0:
        raise _arg_error("end_index", "end index must not be less than zero")
    if end > len(collection):
        raise _arg_error("end_index", "end index must not be greater than the length of the list")
    if start > end:
        raise _arg_error("start_index", "start index must not be greater than end index")
    return collection[start:end]


@_register("sort", 1, 1, handles_unknown=True)
def _sort(collection: Any) -> Any:
    if isinstance(collection, Unknown):
        return UNKNOWN
    if isinstance(collection, list | HclSet) and any(has_unknown(v) for v in collection):
        return [UNKNOWN] * len(collection)  # the order is unknown, the length is not
    strings = []
    for i, item in enumerate(_string_list(collection, "list")):
        if item is None:
            raise _CallFailed(f"given list element {i} is null; a null string cannot be sorted")
        strings.append(item)
    return sorted(strings)  # by code point, which is Go's byte-wise UTF-8 order


def _to_collection(value: Any, want: ListType | SetType | MapType) -> Any:
    if value is None:
        return value
    try:
        return convert(value, want)
    except ConversionError:
        raise _arg_error(
            "v", f"cannot convert {_type_noun(value)} to {friendly_name(want)}"
        ) from None


def _type_noun(value: Any) -> str:
    if isinstance(value, Unknown) and value.type is not None:
        return friendly_name(value.type)
    return type_name(value)


def _to_primitive(value: Any, want: Primitive) -> Any:
    """An unknown converts when its type can: ``tostring`` of an unknown tuple is an error;
    null becomes a null of that type."""
    if value is None:
        return Null(want)
    try:
        return convert(value, want)
    except ConversionError:
        raise _arg_error("v", f"cannot convert {_type_noun(value)} to {want.name}") from None


@_register("toset", 1, 1, handles_unknown=True, element_marks=True)
def _toset(value: Any) -> Any:
    return _to_collection(value, SetType(ANY))


@_register("tolist", 1, 1, handles_unknown=True, element_marks=True)
def _tolist(value: Any) -> Any:
    return _to_collection(value, ListType(ANY))


@_register("tomap", 1, 1, handles_unknown=True, element_marks=True)
def _tomap(value: Any) -> Any:
    return _to_collection(value, MapType(ANY))


@_register("tostring", 1, 1, handles_unknown=True)
def _tostring(value: Any) -> Any:
    if value is None or isinstance(value, Unknown):
        return _to_primitive(value, STRING)
    try:
        return to_string(value)
    except ConversionError:
        raise _arg_error("v", f"cannot convert {type_name(value)} to string") from None


@_register("tonumber", 1, 1, handles_unknown=True)
def _tonumber(value: Any) -> Any:
    if value is None or isinstance(value, Unknown):
        return _to_primitive(value, NUMBER)
    if is_number(value):
        return value
    if isinstance(value, str):
        try:
            return to_number(value)
        except ConversionError:
            raise _arg_error(
                "v",
                f"cannot convert {_quote(value)} to number; given string must be a decimal "
                "representation of a number",
            ) from None
    raise _arg_error("v", f"cannot convert {type_name(value)} to number")


@_register("tobool", 1, 1, handles_unknown=True)
def _tobool(value: Any) -> Any:
    if value is None or isinstance(value, Unknown):
        return _to_primitive(value, BOOL)
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return to_bool(value)
        except ConversionError:
            raise _arg_error(
                "v",
                f'cannot convert {_quote(value)} to bool; only the strings "true" or "false" '
                "are allowed",
            ) from None
    raise _arg_error("v", f"cannot convert {type_name(value)} to bool")


@_register("zipmap", 2, 2, handles_unknown=True, element_marks=True)
def _zipmap(keys: Any, values: Any) -> Any:
    keys, keys_marked = unmark_deep(keys)
    if has_unknown(keys) or isinstance(values, Unknown):
        return mark(UNKNOWN, keys_marked)  # unknown values simply become unknown map values
    return mark(_zip(_string_list(keys, "keys"), values), keys_marked)


def _zip(names: list, values: Any) -> dict:
    _not_null(values, "values")
    items = _seq(values)
    if items is None:
        raise _arg_error("values", "values argument must be a list or tuple value")
    if len(names) != len(items):
        raise _CallFailed(
            f"number of keys ({len(names)}) does not match number of values ({len(items)})"
        )
    out = {}
    for i, (name, item) in enumerate(zip(names, items, strict=True)):
        if name is None:
            raise _CallFailed(f"keys list has null value at index {i}")
        out[name] = item
    return out


@_register("coalesce", 0, None, handles_unknown=True)
def _coalesce(*vals: Any) -> Any:
    common = unify([infer_type(v) for v in vals])
    if common is None:
        raise _CallFailed("all arguments must have the same type")
    for value in vals:
        if isinstance(value, Unknown):
            return UNKNOWN  # an earlier argument cannot be skipped until it is known
        if value is None or (common == STRING and value == ""):
            continue
        return convert(value, common)
    raise _CallFailed("no non-null, non-empty-string arguments")


@_register("coalescelist", 0, None, handles_unknown=True)
def _coalescelist(*vals: Any) -> Any:
    if not vals:
        raise _CallFailed("at least one argument is required")
    for value in vals:
        if not isinstance(value, list | Unknown):
            raise _CallFailed("coalescelist arguments must be lists or tuples")
    for value in vals:
        if isinstance(value, Unknown):
            return UNKNOWN
        if value:
            return value
    raise _CallFailed("no non-null arguments")


@_register("compact", 1, 1)
def _compact(collection: Any) -> list[str]:
    return [item for item in _string_list(collection, "list") if item]


@_register("one", 1, 1, handles_unknown=True, element_marks=True)
def _one(collection: Any) -> Any:
    if isinstance(collection, Unknown):
        t = collection.type
        if isinstance(t, TupleType) and len(t.elems) <= 1:
            return unknown_of(t.elems[0] if t.elems else ANY)  # it may be null
        if t is None or isinstance(t, ListType | SetType):
            return UNKNOWN
        raise _arg_error(
            "list", "must be a list, set, or tuple value with either zero or one elements"
        )
    _not_null(collection, "list")
    items = _seq(collection)
    if isinstance(collection, HclSet) and len(collection) > 1 and has_unknown(collection):
        return UNKNOWN  # unknown set elements may turn out equal: one element after all
    if items is None or len(items) > 1:
        raise _arg_error(
            "list", "must be a list, set, or tuple value with either zero or one elements"
        )
    return items[0] if items else None


@_register("index", 2, 2, handles_unknown=True)
def _index(collection: Any, value: Any) -> Any:
    if isinstance(collection, Unknown) or has_unknown(value):
        return UNKNOWN
    _not_null(collection, "list")
    if not isinstance(collection, list):
        raise _arg_error("list", "argument must be a list or tuple")
    for i, item in enumerate(collection):
        if has_unknown(item):
            return UNKNOWN  # it may equal the value: the answer is not known before apply
        if values_equal(item, value):
            return i
    raise _CallFailed("item not found")


# --- IP networks ---------------------------------------------------------------------------

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(prefix: Any) -> _Network:
    text = _str(prefix, "prefix")
    try:
        # strict=False: like Terraform, "10.0.0.5/24" means the network 10.0.0.0/24
        network = ipaddress.ip_network(_decimal_octets(text), strict=False)
    except ValueError:
        raise _arg_error(
            "prefix", f"invalid CIDR expression: invalid CIDR address: {_quote(text, quoted=False)}"
        ) from None
    mapped = network.network_address.ipv4_mapped if network.version == 6 else None
    if mapped is not None and network.prefixlen >= 96:
        # an IPv4-mapped IPv6 prefix is the IPv4 network it maps, as Go's net package has it
        return ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}", strict=False)
    return network


_OCTETS = re.compile(r"(?<![\w.:])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?=/|\Z)")


def _decimal_octets(text: str) -> str:
    """Terraform's CIDR parser (Go's before 1.17) reads "010" as the decimal octet 10."""
    return _OCTETS.sub(lambda m: ".".join(str(int(g)) for g in m.groups()), text)


def _address(network: _Network, value: int) -> str:
    if network.version == 4:
        return str(ipaddress.IPv4Address(value))
    return str(ipaddress.IPv6Address(value))


@_register("cidrhost", 2, 2)
def _cidrhost(prefix: Any, hostnum: Any) -> str:
    network = _network(prefix)
    number = _int(hostnum, "hostnum")
    host_count = network.num_addresses
    index = host_count + number if number < 0 else number  # -1 is the last address
    if not 0 <= index < host_count:
        raise _arg_error(
            "hostnum",
            f"prefix of {network.prefixlen} does not accommodate a host numbered {number}",
        )
    return _address(network, int(network.network_address) + index)


@_register("cidrnetmask", 1, 1)
def _cidrnetmask(prefix: Any) -> str:
    text = _str(prefix, "prefix")
    network = _network(text)
    if network.version != 4:
        shown = _quote(text, quoted=False)
        raise _arg_error("prefix", f"IPv6 addresses cannot have a netmask: {shown}")
    return str(network.netmask)


@_register("cidrsubnet", 3, 3)
def _cidrsubnet(prefix: Any, newbits: Any, netnum: Any) -> str:
    network = _network(prefix)
    bits, number = _int(newbits, "newbits"), _int(netnum, "netnum")
    new_len = network.prefixlen + bits
    if bits < 0 or new_len > network.max_prefixlen:
        raise _CallFailed(
            f"insufficient address space to extend prefix of {network.prefixlen} by {bits}"
        )
    if not 0 <= number < 2**bits:
        raise _CallFailed(
            f"prefix extension of {bits} does not accommodate a subnet numbered {number}"
        )
    base = int(network.network_address) + (number << (network.max_prefixlen - new_len))
    return f"{_address(network, base)}/{new_len}"


@_register("cidrsubnets", 1, None)
def _cidrsubnets(prefix: Any, *newbits: Any) -> list[str]:
    network = _network(prefix)
    total_bits = network.max_prefixlen
    modulus = 2**total_bits

    def host_mask(length: int) -> int:
        return (1 << (total_bits - length)) - 1

    lengths = []
    for extend in (_int(b, "newbits") for b in newbits):
        if extend < 1:
            raise _arg_error("newbits", "must extend prefix by at least one bit")
        if extend > 32:
            raise _arg_error("newbits", "may not extend prefix by more than 32 bits")
        if network.prefixlen + extend > total_bits:
            raise _arg_error(
                "newbits",
                f"would extend prefix to {network.prefixlen + extend} bits, which is too long "
                f"for an IPv{network.version} address",
            )
        lengths.append(network.prefixlen + extend)
    if not lengths:
        return []
    # Terraform (go-cidr) allocates consecutively, each subnet aligned to its own size,
    # starting from the block just before the base network so the first lands at its start.
    current_len = lengths[0]
    current = ((int(network.network_address) - 1) % modulus) & ~host_mask(current_len)
    out = []
    for length in lengths:
        last = (current | host_mask(current_len)) & ~host_mask(length)
        following = ((last | host_mask(length)) + 1) % modulus
        if following == 0 or following not in _int_range(network):
            raise _CallFailed(
                f"not enough remaining address space for a subnet with a prefix of {length} "
                f"bits after {_address(network, current)}/{current_len}"
            )
        current, current_len = following, length
        out.append(f"{_address(network, current)}/{length}")
    return out


def _int_range(network: _Network) -> range:
    first = int(network.network_address)
    return range(first, first + network.num_addresses)


# --- files ---------------------------------------------------------------------------------


def _resolve(ctx: CallContext, path: str, expand_home: bool = True) -> Path:
    """A path relative to the module directory; file functions also expand "~" as Terraform's."""
    resolved = Path(os.path.expanduser(path) if expand_home else path)
    return resolved if resolved.is_absolute() else ctx.base_dir / resolved


def from_file(content: Any, raw: bytes) -> Any:
    """What a file function returns for a file holding ``raw``: marked sensitive when the file
    holds a private key or a token (``file("ca.key")``), so no plan, output or comment can show
    it, whatever it then goes through. Terraform leaves that to the author."""
    return mark(content, holds_secret(raw.decode("latin-1")))


def file_path(ctx: CallContext, given: str, expand_home: bool = True) -> Path:
    """``_resolve`` for a function that opens the file: a NUL, which no file name holds, is an
    error on the argument (the operating system refuses it, as it does for Terraform)."""
    if "\0" in given:
        raise _arg_error("path", f"{_quote(given)} contains a NUL character: invalid argument")
    return _resolve(ctx, given, expand_home)


def read_file(ctx: CallContext, path: Any) -> tuple[bytes, Path]:
    """The bytes of a file of the configuration, and where it is; Terraform's messages."""
    given = _str(path, "path")
    resolved = file_path(ctx, given)
    try:
        return resolved.read_bytes(), resolved
    except FileNotFoundError:
        raise _arg_error(
            "path",
            f"no file exists at {_quote(given)}; this function works only with files that are "
            "distributed as part of the configuration source code, so if this file will be "
            "created by a resource in this configuration you must instead obtain this result "
            "from an attribute of that resource",
        ) from None
    except OSError as e:
        raise _arg_error("path", f"failed to read {_quote(given)}: {e.strerror}") from None


def _read_text(ctx: CallContext, path: Any) -> tuple[str, Path]:
    data, resolved = read_file(ctx, path)
    try:
        return data.decode("utf-8"), resolved
    except UnicodeDecodeError:
        raise _arg_error(
            "path",
            f"contents of {_quote(_str(path, 'path'))} are not valid UTF-8; use the filebase64 "
            "function to obtain the Base64 encoded contents or the other file functions (e.g. "
            "filemd5, filesha256) to obtain file hashing results instead",
        ) from None


@_register("file", 1, 1, needs_context=True)
def _file(ctx: CallContext, path: Any) -> Any:
    text = _read_text(ctx, path)[0]
    return from_file(text, text.encode())


@_register("fileexists", 1, 1, needs_context=True)
def _fileexists(ctx: CallContext, path: Any) -> bool:
    given = _str(path, "path")
    try:
        mode = file_path(ctx, given).stat().st_mode
    except FileNotFoundError:
        return False
    except OSError as e:
        raise _CallFailed(f"failed to stat {_quote(given)}: {e.strerror}") from None
    if stat.S_ISREG(mode):
        return True
    raise _CallFailed(
        f'{_quote(given, quoted=False)} is not a regular file, but "{stat.filemode(mode)}"'
    )


_TEMPLATE_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@_register("templatefile", 2, 2, needs_context=True)
def _templatefile(ctx: CallContext, path: Any, variables: Any) -> Any:
    text, resolved = _read_text(ctx, path)
    rendered = render_template_text(ctx, text, str(resolved), variables)
    raw, _ = unmark(rendered)
    return from_file(rendered, raw.encode()) if isinstance(raw, str) else rendered


def render_template_text(ctx: CallContext, text: str, filename: str, variables: Any) -> Any:
    """What templatefile and templatestring share: the variables' checks, then the render."""
    if not isinstance(variables, dict):
        raise _arg_error("vars", "invalid vars value: must be a map")
    for name in variables:
        if not _TEMPLATE_VAR.fullmatch(name):
            raise _arg_error(
                "vars",
                f"invalid template variable name {json.dumps(name)}: must start with a letter, "
                "followed by zero or more letters, digits, and underscores",
            )
    if ctx.render_template is None:
        raise _CallFailed("templates are not available here")
    return ctx.render_template(text, filename, variables)


def graphemes(text: str) -> Sequence[str]:
    """The user-perceived characters of ``text`` (Unicode grapheme clusters), as Terraform
    counts them in length, substr, strrev and format's padding."""
    import regex

    return text if text.isascii() and "\r\n" not in text else regex.findall(r"\X", text)


@_register("abspath", 1, 1, needs_context=True)
def _abspath(ctx: CallContext, path: Any) -> str:
    resolved = _resolve(ctx, _str(path, "path"), expand_home=False)
    return Path(os.path.normpath(resolved)).as_posix()


def _go_clean(path: str) -> str:
    cleaned = posixpath.normpath(path) if path else "."
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


@_register("basename", 1, 1)
def _basename(path: Any) -> str:
    text = _str(path, "path")
    if text == "":
        return "."
    stripped = text.rstrip("/")
    return stripped.rsplit("/", 1)[-1] if stripped else "/"


@_register("dirname", 1, 1)
def _dirname(path: Any) -> str:
    text = _str(path, "path")
    return _go_clean(text[: text.rfind("/") + 1])


# --- encodings -----------------------------------------------------------------------------


def _json_string(text: str) -> str:
    """A JSON string as Go's encoder writes it: HTML-significant characters escaped."""
    encoded = json.dumps(text, ensure_ascii=False)
    for ch, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        encoded = encoded.replace(ch, escape)
    return encoded.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _json(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return format_number(numbers.to_json_value(value))
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, list | HclSet):
        return "[" + ",".join(_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_json_string(k)}:{_json(value[k])}" for k in sorted(value)) + "}"
    raise _CallFailed(f"cannot encode a {type_name(value)} value as JSON")


@_register("jsonencode", 1, 1)
def _jsonencode(value: Any) -> str:
    return _json(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON literal {name}")


@_register("jsondecode", 1, 1, handles_unknown=True)
def _jsondecode(string: Any) -> Any:
    if isinstance(string, Unknown):  # a known prefix can already rule out a JSON document
        start = string.refinement.prefix.lstrip(" \t\r\n")[:1]
        if start and start not in '{["-0123456789.tfn':
            raise _CallFailed(f"a JSON document cannot begin with the character {start!r}")
        return UNKNOWN
    text = _str(string, "str")
    try:
        value = json.loads(
            text,
            parse_float=numbers.json_number,
            parse_int=numbers.json_number,
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as e:
        raise _CallFailed(f"invalid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    except ValueError as e:
        raise _CallFailed(str(e)) from None
    # an escaped lone surrogate ("\\ud800") is no character: Go's decoder gives U+FFFD
    return _replace_surrogates(value) if "\\u" in text else value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    """Sets as lists, for serializers that only know lists."""
    if isinstance(value, list | HclSet):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@_register("yamlencode", 1, 1)
def _yamlencode(value: Any) -> str:
    # As Terraform's encoder (go-cty-yaml over libyaml) writes it: every string and key
    # double-quoted, no line wrapping, and "..." ending a document that is a bare scalar.
    text = yamlio.dump(
        _plain(value),
        strings="double-quoted",
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        wrap=False,
        decimals=_yaml_number,
    )
    if not isinstance(value, list | HclSet | dict) and not text.endswith("...\n"):
        text += "...\n"
    return text


def _yaml_number(n: Decimal) -> tuple[str, str]:
    """A number's text, plain, as go-cty-yaml writes it: a float, or a string when infinite."""
    return ("str" if n.is_infinite() else "float"), format_number(n)


@_register("base64encode", 1, 1)
def _base64encode(string: Any) -> str:
    return base64.b64encode(_str(string, "str").encode("utf-8")).decode("ascii")


@_register("base64decode", 1, 1)
def _base64decode(string: Any) -> str:
    text = _str(string, "str")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _CallFailed(f"failed to decode base64 data {_quote(text)}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _CallFailed("the result of decoding the provided string is not valid UTF-8") from None


@_register("sha256", 1, 1)
def _sha256(string: Any) -> str:
    return hashlib.sha256(_str(string, "str").encode("utf-8")).hexdigest()


# --- sensitivity ---------------------------------------------------------------------------


@_register("sensitive", 1, 1, handles_unknown=True, handles_marks=True)
def _sensitive(value: Any) -> Any:
    return mark(value, True)


@_register("nonsensitive", 1, 1, handles_unknown=True, handles_marks=True)
def _nonsensitive(value: Any) -> Any:
    # Like Terraform, only the value's own mark goes: marks nested inside it stay.
    return unmark(value)[0]


# the rest of Terraform's functions register themselves into FUNCTIONS on import
from meshprov.lang import functions_crypto, functions_more, functions_time  # noqa: E402, F401
