"""Numbers as cty holds them: binary floating point with a 512-bit mantissa.

cty parses every number with ``big.ParseFloat(text, 10, 512, big.ToNearestEven)``, computes
``+ - * /`` by rounding the exact result to 512 bits, and shows a number with
``Text('f', -1)``: the shortest decimal that reads back as the same 512-bit value. So
``0.1 + 0.2`` is ``0.3``, but ``11 % 5.1`` is ``0.8000…00024`` (156 digits), as in Terraform.

meshprov keeps such a value as that shortest decimal: an ``int`` when it is whole (integers
stay exact Python ints), otherwise a ``decimal.Decimal``; ±infinity is ``Decimal("±Infinity")``.
The shortest decimal reads back as the same binary value, so the text is the value: state and
JSON keep it exactly. Arithmetic turns each operand back into its binary value, computes
exactly, and rounds as cty does. (cty also makes some numbers at lower precision, such as the
float64 results of ``pow`` and ``log``; meshprov takes their shortest text at 512 bits.)
"""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

PRECISION = 512  # bits of mantissa, as ParseNumberVal gives

Number = int | Decimal

INFINITY = Decimal("Infinity")
NEGATIVE_INFINITY = Decimal("-Infinity")

# big.ParseFloat in base 10: sign, mantissa, an exponent of 10 (e) or of 2 (p), or Inf.
_SYNTAX = re.compile(
    r"(?P<sign>[+-]?)(?:(?P<inf>Inf|inf)|(?P<mant>[0-9]+\.?[0-9]*|\.[0-9]+)"
    r"(?:(?P<kind>[eEpP])(?P<exp>[+-]?[0-9]+))?)"
)
_INTEGER = re.compile(r"[+-]?[0-9]{1,1000}")
# cty's exponent reaches 2**31 bits; meshprov's numbers stay within ±2**3322 (about 10**1000)
# either way, so that their digits stay within what Python converts to text
_MAX_BITS = 3322
MAGNITUDE = "10^1000"
_OUT_OF_RANGE = f"the number is out of range: meshprov holds numbers up to {MAGNITUDE} in magnitude"


class NumberError(ValueError):
    """An operation cty refuses: its message is cty's."""


def is_number(value: Any) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def is_infinite(value: Number) -> bool:
    return isinstance(value, Decimal) and value.is_infinite()


def parse_number(text: str) -> Number | None:
    """The number a decimal text stands for, as ``cty.ParseNumberVal`` reads it; None if the
    text is not a number."""
    if _INTEGER.fullmatch(text):
        return _whole(int(text))
    m = _SYNTAX.fullmatch(text)
    if m is None:
        return None
    negative = m["sign"] == "-"
    if m["inf"]:
        return NEGATIVE_INFINITY if negative else INFINITY
    exponent = int(m["exp"] or 0)
    if abs(exponent) > 2 * _MAX_BITS:
        return None
    value = Fraction(Decimal(m["mant"]))
    if m["kind"] in ("p", "P"):
        value *= Fraction(2) ** exponent
    elif exponent:
        value *= Fraction(10) ** exponent
    try:
        return _from_exact(-value if negative else value)
    except NumberError:
        return None


def from_float(value: float) -> Number:
    """A float64 result (``math.log``, ``math.pow``) as a number; NaN has no number."""
    if value != value:
        raise NumberError("the result is not a real number")
    if value in (float("inf"), float("-inf")):
        return INFINITY if value > 0 else NEGATIVE_INFINITY
    number = parse_number(repr(value))
    assert number is not None
    return number


def to_float(value: Number) -> float:
    """The nearest float64, as Go's ``big.Float.Float64`` (for cty's float64 functions)."""
    if isinstance(value, Decimal) and value.is_infinite():
        return float(value)
    try:
        return float(exact(value))
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def format_number(value: Number) -> str:
    """cty's ``Text('f', -1)``: ``6``, ``2.5``, ``0.000001``, ``+Inf``."""
    if isinstance(value, int):
        return str(value)
    if value.is_infinite():
        return "-Inf" if value < 0 else "+Inf"
    return format(value, "f")


def to_json_value(value: Number) -> Number:
    """A finite number for JSON; cty cannot serialize infinity either."""
    if is_infinite(value):
        raise NumberError("cannot serialize infinity as JSON")
    return value


# --- arithmetic, as cty's Value.Add/Subtract/Multiply/Divide/Modulo --------------------------


def _whole(value: int) -> Number:
    """A whole number: exact up to 512 bits, rounded beyond, as cty holds it."""
    return value if value.bit_length() <= PRECISION else _from_exact(Fraction(value))


def _held(*values: int) -> bool:
    """Whole numbers that cty holds exactly, so Python's int arithmetic is cty's."""
    return all(v.bit_length() <= PRECISION for v in values)


def add(a: Number, b: Number) -> Number:
    if isinstance(a, int) and isinstance(b, int) and _held(a, b):
        return _whole(a + b)
    if is_infinite(a) or is_infinite(b):
        if is_infinite(a) and is_infinite(b) and (a > 0) != (b > 0):
            raise NumberError("can't compute sum of opposing infinities")
        return a if is_infinite(a) else b
    return _from_exact(exact(a) + exact(b))


def subtract(a: Number, b: Number) -> Number:
    if is_infinite(a) and is_infinite(b) and (a > 0) == (b > 0):
        raise NumberError("can't subtract infinity from itself")
    return add(a, negate(b))


def negate(a: Number) -> Number:
    return -a if isinstance(a, int) else a.copy_negate()  # Decimal's "-" rounds to 28 digits


def absolute(a: Number) -> Number:
    return abs(a) if isinstance(a, int) else a.copy_abs()


def multiply(a: Number, b: Number) -> Number:
    if isinstance(a, int) and isinstance(b, int) and _held(a, b):
        return _whole(a * b)
    if is_infinite(a) or is_infinite(b):
        if a == 0 or b == 0:
            raise NumberError("can't multiply zero by infinity")
        return INFINITY if (a > 0) == (b > 0) else NEGATIVE_INFINITY
    return _from_exact(exact(a) * exact(b))


def divide(a: Number, b: Number) -> Number:
    if (is_infinite(a) and is_infinite(b)) or (a == 0 and b == 0):
        raise NumberError("can't divide zero by zero or infinity by infinity")
    if b == 0 or is_infinite(a):  # x/0 and inf/x are infinite, with the quotient's sign
        return NEGATIVE_INFINITY if (a < 0) != (b < 0) else INFINITY
    if is_infinite(b):
        return 0
    if isinstance(a, int) and isinstance(b, int) and _held(a, b) and a % b == 0:
        return _whole(a // b)
    return _from_exact(exact(a) / exact(b))


def modulo(a: Number, b: Number) -> Number:
    """cty's Modulo: the remainder has the dividend's sign; ``x % 0`` is ``x``; with an
    infinite operand the result is the infinite product."""
    if is_infinite(a) or is_infinite(b):
        try:
            return multiply(a, b)
        except NumberError:
            raise NumberError("can't use modulo with zero and infinity") from None
    if b == 0:
        return a
    if isinstance(a, int) and isinstance(b, int) and _held(a, b):
        quotient = abs(a) // abs(b)
        return a - b * (quotient if (a < 0) == (b < 0) else -quotient)
    ratio = exact(divide(a, b))
    whole = int(ratio)  # big.Float.Int truncates toward zero
    product = exact(_from_exact(exact(b) * whole))
    return _from_exact(exact(a) - product)


def floor(a: Number) -> Number:
    if isinstance(a, int) or a.is_infinite():
        return a
    value = exact(a)
    return value.numerator // value.denominator


def ceil(a: Number) -> Number:
    if isinstance(a, int) or a.is_infinite():
        return a
    value = exact(a)
    return -(-value.numerator // value.denominator)


# --- the binary value behind a number, and back ----------------------------------------------


def exact(value: Number) -> Fraction:
    """The exact binary value a finite number stands for."""
    if isinstance(value, int):
        return Fraction(value) if value.bit_length() <= PRECISION else _binary_value(Decimal(value))
    return _binary_value(value)


@lru_cache(maxsize=4096)
def _binary_value(value: Decimal) -> Fraction:
    fraction = Fraction(value)
    mantissa, exponent = _round(abs(fraction))
    magnitude = Fraction(mantissa) * Fraction(2) ** exponent
    return -magnitude if fraction < 0 else magnitude


def exact_decimal(value: Number) -> Decimal:
    """The exact binary value as a decimal (it always has a finite expansion), for formats
    that round it to a number of digits, as Go's ``%f``/``%e`` do."""
    if isinstance(value, int) and value.bit_length() <= PRECISION:
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_infinite():
        return value
    fraction = exact(value)
    digits, point = _decimal_digits(abs(fraction.numerator), fraction.denominator.bit_length() - 1)
    return Decimal((int(fraction < 0), tuple(map(int, digits)), point - len(digits)))


def _round(value: Fraction) -> tuple[int, int]:
    """``value`` (> 0) rounded to PRECISION bits, to nearest even: (mantissa, exponent) with
    ``2**(PRECISION-1) <= mantissa < 2**PRECISION``."""
    n, d = value.numerator, value.denominator
    shift = n.bit_length() - d.bit_length() - PRECISION
    while True:
        num, den = (n, d << shift) if shift >= 0 else (n << -shift, d)
        mantissa, remainder = divmod(num, den)
        if mantissa >> PRECISION:
            shift += 1
        elif not mantissa >> (PRECISION - 1):
            shift -= 1
        else:
            break
    if 2 * remainder > den or (2 * remainder == den and mantissa & 1):
        mantissa += 1
        if mantissa >> PRECISION:
            mantissa >>= 1
            shift += 1
    return mantissa, shift


def _from_exact(value: Fraction) -> Number:
    """An exact result rounded to 512 bits, as its shortest decimal (cty's ``Text('f', -1)``)."""
    if value == 0:
        return 0
    if value.denominator == 1 and abs(value.numerator).bit_length() <= PRECISION:
        return value.numerator  # a whole number cty holds exactly
    mantissa, exponent = _round(abs(value))
    if abs(exponent + PRECISION) > _MAX_BITS:
        raise NumberError(_OUT_OF_RANGE)
    digits, point = _shortest(mantissa, exponent)
    if point >= len(digits):
        whole = int(digits) * 10 ** (point - len(digits))
        return -whole if value < 0 else whole
    return Decimal((int(value < 0), tuple(map(int, digits)), point - len(digits)))


def _decimal_digits(mantissa: int, shift: int) -> tuple[str, int]:
    """Go's ``decimal.init``: the digits (no trailing zeros) of ``mantissa * 2**-shift`` and
    the position of the decimal point (``0.<digits> × 10**point``)."""
    if mantissa == 0:
        return "", 0
    if shift <= 0:
        text = str(mantissa << -shift)
        point = len(text)
    else:
        zeros = (mantissa & -mantissa).bit_length() - 1
        drop = min(zeros, shift)
        mantissa >>= drop
        shift -= drop
        text = str(mantissa * 5**shift)
        point = len(text) - shift
    return text.rstrip("0"), point


def _shortest(mantissa: int, exponent: int) -> tuple[str, int]:
    """Go's ``roundShortest`` for a PRECISION-bit ``mantissa * 2**exponent``: the fewest
    digits that read back as the same value, and the decimal point's position."""
    digits, point = _decimal_digits(mantissa, -exponent)
    half = mantissa << 1  # its last bit is half an ulp
    lower, _ = _decimal_digits(half - 1, 1 - exponent)
    upper, _ = _decimal_digits(half + 1, 1 - exponent)
    inclusive = mantissa % 2 == 0
    for i, m in enumerate(digits):
        low = lower[i] if i < len(lower) else "0"
        up = upper[i] if i < len(upper) else "0"
        okdown = low != m or (inclusive and i + 1 == len(lower))
        okup = m != up and (inclusive or int(m) + 1 < int(up) or i + 1 < len(upper))
        if okdown and okup:
            return _round_digits(digits, point, i + 1)
        if okdown:
            return _trim(digits[: i + 1], point)
        if okup:
            return _round_up(digits, point, i + 1)
    return digits, point


def _trim(digits: str, point: int) -> tuple[str, int]:
    digits = digits.rstrip("0")
    return (digits, point) if digits else ("", 0)


def _round_up(digits: str, point: int, n: int) -> tuple[str, int]:
    kept = digits[:n].rstrip("9")
    if not kept:
        return "1", point + 1
    return kept[:-1] + str(int(kept[-1]) + 1), point


def _round_digits(digits: str, point: int, n: int) -> tuple[str, int]:
    if n < 0 or n >= len(digits):
        return digits, point
    if digits[n] == "5" and n + 1 == len(digits):
        up = n > 0 and int(digits[n - 1]) % 2 == 1
    else:
        up = digits[n] >= "5"
    return _round_up(digits, point, n) if up else _trim(digits[:n], point)


# --- Go's formatting of a big.Float (big.Float.Append), for format() -----------------------


def go_text(value: Number, verb: str, prec: int) -> str:
    """``big.Float.Text(verb, prec)`` for verb e, E, f, g or G; ``prec < 0`` is the shortest
    text that reads back as the same number."""
    if is_infinite(value):
        return "-Inf" if value < 0 else "+Inf"
    sign = "-" if value < 0 else ""
    shortest = prec < 0
    if shortest:
        digits, point = _digits(absolute(value))
        if verb in "eE":
            prec = len(digits) - 1
        elif verb == "f":
            prec = max(len(digits) - point, 0)
        else:
            prec = len(digits)
    else:
        digits, point = _digits(absolute(exact_decimal(value)))
        if verb in "eE":
            digits, point = _round_digits(digits, point, 1 + prec)
        elif verb == "f":
            digits, point = _round_digits(digits, point, point + prec)
        else:
            prec = max(prec, 1)
            digits, point = _round_digits(digits, point, prec)
    if verb in "eE":
        return sign + _fmt_e(verb, prec, digits, point)
    if verb == "f":
        return sign + _fmt_f(prec, digits, point)
    eprec = 6 if shortest else prec
    if not shortest and eprec > len(digits) >= point:
        eprec = len(digits)
    if point - 1 < -4 or point - 1 >= eprec:
        return sign + _fmt_e(chr(ord(verb) - 2), min(prec, len(digits)) - 1, digits, point)
    if prec > point:
        prec = len(digits)
    return sign + _fmt_f(max(prec - point, 0), digits, point)


def _digits(value: Number) -> tuple[str, int]:
    """A finite number's digits (no trailing zeros) and decimal point position."""
    if isinstance(value, int):
        raw, exponent = str(value), 0
    else:
        parts = value.as_tuple()
        raw = "".join(map(str, parts.digits))
        assert isinstance(parts.exponent, int)
        exponent = parts.exponent
    raw = raw.lstrip("0")
    return _trim(raw, len(raw) + exponent) if raw else ("", 0)


def _at(digits: str, i: int) -> str:
    return digits[i] if 0 <= i < len(digits) else "0"


def _fmt_e(verb: str, prec: int, digits: str, point: int) -> str:
    out = digits[0] if digits else "0"
    if prec > 0:
        out += "." + digits[1 : prec + 1].ljust(prec, "0")
    exponent = point - 1 if digits else 0
    return f"{out}{verb}{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def _fmt_f(prec: int, digits: str, point: int) -> str:
    out = digits[:point].ljust(point, "0") if point > 0 else "0"
    if prec > 0:
        out += "." + "".join(_at(digits, point + i) for i in range(prec))
    return out


# --- numbers in JSON documents ---------------------------------------------------------------


def json_dumps(document: Any, **options: Any) -> str:
    """``json.dumps`` that writes decimal numbers exactly, as JSON numbers (the standard
    encoder knows only floats). Infinity, as in cty, cannot be written."""
    numbers: dict[str, str] = {}
    token = "meshprov-number-" + uuid.uuid4().hex + "-"

    def encode(value: Any) -> Any:
        if isinstance(value, Decimal):
            key = f"{token}{len(numbers)}"
            numbers[key] = format_number(to_json_value(value))
            return key
        fallback = options.get("default")
        if fallback is None:
            raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
        return fallback(value)

    written = json.dumps(document, **{**options, "default": encode})
    if not numbers:
        return written
    return re.sub(f'"({re.escape(token)}[0-9]+)"', lambda m: numbers[m[1]], written)


def json_number(text: str) -> Number:
    """``parse_float`` for ``json.loads``: a JSON number with a fraction or exponent."""
    number = parse_number(text)
    if number is None:
        raise NumberError(f"{text} is not a number")
    return number
