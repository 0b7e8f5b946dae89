"""Terraform's date and time functions on given timestamps: formatdate, timeadd, timecmp.

Only the pure ones: ``timestamp`` and ``plantimestamp`` depend on the clock and are left out
(SPEC §1.1). Timestamps are RFC 3339, as Terraform's; durations are Go's (``"1h30m"``).
Registered into ``functions.FUNCTIONS`` when ``lang.functions`` imports this module.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from meshprov.lang.functions import _arg_error, _CallFailed, _register, _str

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})\Z"
)


def parse_timestamp(text: str) -> datetime:
    m = _RFC3339.match(text)
    if m is None:
        if "T" not in text and re.match(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError("not a valid RFC3339 timestamp: missing required time introducer 'T'")
        raise ValueError(f"not a valid RFC3339 timestamp: cannot use {text!r} as year")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction = m.group(7) or ""
    zone = m.group(8)
    if zone == "Z":
        tz = UTC
    else:
        sign = -1 if zone[0] == "-" else 1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        for what, number, limit in (("hour", hours, 23), ("minute", minutes, 59)):
            if number > limit:  # Go's words; Python's timezone() would say its own
                raise ValueError(
                    f"not a valid RFC3339 timestamp: time zone offset {what} out of range"
                )
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    if hour > 23:
        raise ValueError("not a valid RFC3339 timestamp: hour must be between 0 and 23 inclusive")
    try:
        micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as e:
        raise ValueError(f"not a valid RFC3339 timestamp: {e}") from None


def format_rfc3339(moment: datetime) -> str:
    offset = moment.utcoffset() or timedelta()
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if offset == timedelta() and moment.tzinfo is UTC:
        return base + "Z"
    return base + _offset(offset, colon=True)


def _offset(offset: timedelta, colon: bool) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{':' if colon else ''}{mins:02d}"


def _timestamp(value: Any, param: str) -> datetime:
    try:
        return parse_timestamp(_str(value, param))
    except ValueError as e:
        raise _arg_error(param, str(e)) from None


_MONTHS = "January February March April May June July August September October November December"
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday"


@_register("formatdate", 2, 2)
def _formatdate(spec: Any, timestamp: Any) -> str:
    fmt = _str(spec, "format")
    moment = _timestamp(timestamp, "time")
    out: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "'":
            end = i + 1
            literal = []
            while True:
                if end >= len(fmt):
                    raise _arg_error("format", "unterminated literal '")
                if fmt[end] == "'":
                    if fmt[end + 1 : end + 2] == "'":
                        literal.append("'")
                        end += 2
                        continue
                    break
                literal.append(fmt[end])
                end += 1
            out.append("".join(literal) if end > i + 1 else "'")
            i = end + 1
            continue
        if not ch.isalpha():
            out.append(ch)
            i += 1
            continue
        j = i
        while j < len(fmt) and fmt[j] == ch:
            j += 1
        out.append(_format_verb(fmt[i:j], moment))
        i = j
    return "".join(out)


def _format_verb(tok: str, t: datetime) -> str:
    hour12 = t.hour % 12 or 12
    verbs = {
        "YYYY": f"{t.year:04d}",
        "YY": f"{t.year % 100:02d}",
        "M": str(t.month),
        "MM": f"{t.month:02d}",
        "MMM": _MONTHS.split()[t.month - 1][:3],
        "MMMM": _MONTHS.split()[t.month - 1],
        "D": str(t.day),
        "DD": f"{t.day:02d}",
        "EEE": _DAYS.split()[t.weekday()][:3],
        "EEEE": _DAYS.split()[t.weekday()],
        "h": str(t.hour),
        "hh": f"{t.hour:02d}",
        "H": str(hour12),
        "HH": f"{hour12:02d}",
        "AA": "AM" if t.hour < 12 else "PM",
        "aa": "am" if t.hour < 12 else "pm",
        "m": str(t.minute),
        "mm": f"{t.minute:02d}",
        "s": str(t.second),
        "ss": f"{t.second:02d}",
    }
    if tok in verbs:
        return verbs[tok]
    offset = t.utcoffset() or timedelta()
    if tok == "ZZZZZ":
        return _offset(offset, colon=True)
    if tok == "ZZZZ":
        return _offset(offset, colon=False)
    if tok == "ZZZ":
        return "UTC" if offset == timedelta() else _offset(offset, colon=False)
    if tok == "Z":
        return "Z" if offset == timedelta() else _offset(offset, colon=True)
    kinds = {
        "Y": 'year must either be "YY" or "YYYY"',
        "M": 'month must be "M", "MM", "MMM", or "MMMM"',
        "D": 'day of month must either be "D" or "DD"',
        "E": 'day of week must either be "EEE" or "EEEE"',
        "h": '24-hour must either be "h" or "hh"',
        "H": '12-hour must either be "H" or "HH"',
        "m": 'minute must either be "m" or "mm"',
        "s": 'second must either be "s" or "ss"',
        "Z": "timezone must be Z, ZZZZ, or ZZZZZ",
        "A": f'must be "{tok[0]}{tok[0]}"',
        "a": f'must be "{tok[0]}{tok[0]}"',
    }
    if tok[0] in kinds:
        raise _arg_error("format", f'invalid date format verb "{tok}": {kinds[tok[0]]}')
    raise _arg_error("format", f'invalid date format verb "{tok}"')


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1,
    "m": 60,
    "h": 3600,
}


_MAX_GO_DURATION_SECONDS = (2**63 - 1) / 1e9  # about 292 years


def parse_go_duration(text: str) -> timedelta:
    """Go's time.ParseDuration: ``"1h30m"``, ``"-10s"``, ``"1.5h"``, ``"0"``."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return timedelta()
    seconds = 0.0
    pos = 0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if m is None:
            raise ValueError(f'time: invalid duration "{text}"')
        seconds += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if not body or seconds > _MAX_GO_DURATION_SECONDS:  # Go's int64 nanoseconds overflow
        raise ValueError(f'time: invalid duration "{text}"')
    return timedelta(seconds=-seconds if text.startswith("-") else seconds)


@_register("timeadd", 2, 2)
def _timeadd(timestamp: Any, duration: Any) -> str:
    moment = _timestamp(timestamp, "timestamp")
    try:
        delta = parse_go_duration(_str(duration, "duration"))
    except ValueError as e:
        raise _arg_error("duration", str(e)) from None
    try:
        return format_rfc3339(moment + delta)
    except OverflowError:
        raise _CallFailed("the result is outside the range of supported times") from None


@_register("timecmp", 2, 2)
def _timecmp(a: Any, b: Any) -> int:
    first = _timestamp(a, "timestamp_a")
    second = _timestamp(b, "timestamp_b")
    return (first > second) - (first < second)
