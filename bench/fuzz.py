"""Fuzz ``meshprov validate`` and ``meshprov plan`` with mutations of the examples and modules.

Each case takes one ``.hcl`` file of an example or a module, applies one seeded mutation
(byte flips, truncation, line deletion and duplication, token swaps, deep nesting, huge
numbers, unicode, NUL, invalid UTF-8, CRLF, BOM), and runs ``validate --json`` then ``plan``
in-process (click's runner, the real command line) with a per-case time limit. A case is:

- a *traceback* if an exception escapes the command (or "Traceback" is printed);
- a *hang* if it runs past the time limit;
- *unlocated* if it reports an error without a file and line (validate: a diagnostic without
  a ``range``; plan: an ``Error:`` block without ``on FILE line N``).

The same seed always gives the same cases. ``make test`` runs 1,000 of them
(``tests/test_fuzz.py``); the long form prints the counts and the first failures:

    .venv/bin/python bench/fuzz.py --cases 20000 [--seed 14] [--timeout 10] [--show 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner

from meshprov.cli import cli

ROOT = Path(__file__).resolve().parent.parent
# every configuration that is run: examples as users run them; modules through many-zones
CONFIGS = ("examples/quickstart", "examples/kubernetes", "examples/many-zones")
SOURCES = (
    ("examples/quickstart", "examples/quickstart/main.hcl"),
    ("examples/kubernetes", "examples/kubernetes/main.hcl"),
    ("examples/many-zones", "examples/many-zones/main.hcl"),
    ("examples/many-zones", "modules/global-cp/main.hcl"),
    ("examples/many-zones", "modules/zone/main.hcl"),
)
_LOCATED = re.compile(r"\n  on \S.* line \d+")
_TOKEN = re.compile(rb'"[^"\n]*"|[A-Za-z_][A-Za-z0-9_.-]*|\d+|[{}\[\]()=,:?<>!+*/%-]')


class Hang(BaseException):
    """Raised by the timer in the command's own thread; BaseException so nothing catches it."""


@dataclass
class Case:
    index: int
    config: str
    file: str
    mutation: str
    data: bytes


@dataclass
class Outcome:
    case: Case
    command: str
    kind: str  # "ok", "traceback", "hang", "unlocated"
    detail: str = ""


@dataclass
class Counts:
    cases: int = 0
    runs: int = 0
    kinds: Counter = field(default_factory=Counter)
    mutations: Counter = field(default_factory=Counter)
    failures: list[Outcome] = field(default_factory=list)

    @property
    def tracebacks(self) -> int:
        return self.kinds["traceback"]

    @property
    def hangs(self) -> int:
        return self.kinds["hang"]

    @property
    def unlocated(self) -> int:
        return self.kinds["unlocated"]


# --- mutations -----------------------------------------------------------------------------


def _flip(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(buf))
        buf[i] ^= 1 << rng.randrange(8)
    return bytes(buf)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _delete_line(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    del lines[rng.randrange(len(lines))]
    return b"\n".join(lines)


def _duplicate_line(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    i = rng.randrange(len(lines))
    lines.insert(i, lines[rng.randrange(len(lines))])
    return b"\n".join(lines)


def _tokens(data: bytes) -> list[re.Match[bytes]]:
    return list(_TOKEN.finditer(data))


def _swap_tokens(rng: random.Random, data: bytes) -> bytes:
    tokens = _tokens(data)
    a, b = sorted(rng.sample(range(len(tokens)), 2))
    ta, tb = tokens[a], tokens[b]
    return (
        data[: ta.start()]
        + tb.group()
        + data[ta.end() : tb.start()]
        + ta.group()
        + data[tb.end() :]
    )


def _replace_token(data: bytes, rng: random.Random, text: bytes) -> bytes:
    token = rng.choice(_tokens(data))
    return data[: token.start()] + text + data[token.end() :]


def _value_spot(rng: random.Random, data: bytes) -> int:
    """An offset just after an ``=`` (where an expression starts), or anywhere."""
    spots = [m.end() for m in re.finditer(rb"= ", data)]
    return rng.choice(spots) if spots else rng.randrange(len(data) + 1)


_OPENERS = (b"[", b"(", b"{", b"upper(", b"!", b"-", b"1+", b"[for x in ", b"{a=")


def _deep_nesting(rng: random.Random, data: bytes) -> bytes:
    opener = rng.choice(_OPENERS)
    depth = rng.choice((50, 200, 600, 2000, 5000))
    closer = {b"[": b"]", b"(": b")", b"{": b"}", b"upper(": b")", b"{a=": b"}"}.get(opener, b"")
    at = _value_spot(rng, data)
    middle = opener * depth + b'"x"' + (closer * depth if rng.random() < 0.7 else b"")
    return data[:at] + middle + data[at:]


def _huge_number(rng: random.Random, data: bytes) -> bytes:
    digits = rng.choice((20, 310, 4301, 20000))
    number = b"9" * digits
    number += rng.choice((b"", b".5", b"e999999999", b"e-400"))
    return _replace_token(data, rng, number)


_UNICODE = (
    "\u202e",
    "\u0000",
    "\ufeff",
    "\U0001f600",
    "e\u0301",
    "\u00a0",
    "\u2028",
    "\\uD800",
    "\\uDFFF",
    "\\U0010FFFF",
    "\\U00110000",
    "\u0130",
    "\ud7ff",
    "ǅ",
)


def _unicode(rng: random.Random, data: bytes) -> bytes:
    text = rng.choice(_UNICODE).encode("utf-8", "surrogatepass")
    if rng.random() < 0.5:  # inside a string literal
        quotes = [m.start() + 1 for m in re.finditer(rb'"', data)]
        at = rng.choice(quotes) if quotes else 0
    else:
        at = rng.randrange(len(data) + 1)
    return data[:at] + text + data[at:]


def _nul(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + b"\0" + data[at:]


def _invalid_utf8(rng: random.Random, data: bytes) -> bytes:
    junk = rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80\x80"))
    at = rng.randrange(len(data) + 1)
    return data[:at] + junk + data[at:]


def _crlf(rng: random.Random, data: bytes) -> bytes:
    if rng.random() < 0.5:
        return data.replace(b"\n", b"\r\n")
    return data.replace(b"\n", b"\r")


def _bom(rng: random.Random, data: bytes) -> bytes:
    return rng.choice((b"\xef\xbb\xbf", b"\xff\xfe", b"\xef\xbb\xbf\xef\xbb\xbf")) + data


MUTATIONS: dict[str, Callable[[random.Random, bytes], bytes]] = {
    "byte_flip": _flip,
    "truncate": _truncate,
    "delete_line": _delete_line,
    "duplicate_line": _duplicate_line,
    "swap_tokens": _swap_tokens,
    "deep_nesting": _deep_nesting,
    "huge_number": _huge_number,
    "unicode": _unicode,
    "nul": _nul,
    "invalid_utf8": _invalid_utf8,
    "crlf": _crlf,
    "bom": _bom,
}


def cases(seed: int, count: int) -> Iterator[Case]:
    """``count`` cases, the same for the same seed: every mutation of every source in turn,
    each with its own random choices."""
    originals = {file: (ROOT / file).read_bytes() for _, file in SOURCES}
    names = sorted(MUTATIONS)
    for index in range(count):
        rng = random.Random(f"{seed}:{index}")
        config, file = SOURCES[index % len(SOURCES)]
        mutation = names[(index // len(SOURCES)) % len(names)]
        data = originals[file]
        for _ in range(1 if rng.random() < 0.8 else rng.randint(2, 3)):
            data = MUTATIONS[mutation](rng, data) if data else data
        yield Case(index, config, file, mutation, data)


# --- running -------------------------------------------------------------------------------


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``Hang`` in this (the main) thread after ``seconds``."""

    def expire(_signum: int, _frame: object) -> None:
        raise Hang

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# Fake credentials and an endpoint nothing listens on: a plan that reaches AWS fails at once,
# with a diagnostic, instead of waiting on the network.
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "fuzz",
    "AWS_SECRET_ACCESS_KEY": "fuzz",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_MAX_ATTEMPTS": "1",
    "NO_COLOR": "1",
}


def _classify(case: Case, command: str, result, elapsed: float) -> Outcome:
    output = result.stdout + (result.stderr if result.stderr_bytes is not None else "")
    exc = result.exception
    if (exc is not None and not isinstance(exc, SystemExit)) or "Traceback" in output:
        detail = f"{type(exc).__name__}: {exc}"[:300] if exc else output[-300:]
        return Outcome(case, command, "traceback", detail)
    if command == "validate":
        try:
            report = json.loads(result.stdout)
        except ValueError:
            return Outcome(case, command, "unlocated", f"not JSON: {result.stdout[:200]!r}")
        for diag in report.get("diagnostics", []):
            if diag["severity"] == "error" and "range" not in diag:
                return Outcome(case, command, "unlocated", diag["summary"])
        return Outcome(case, command, "ok")
    for block in ("\n" + result.stderr).split("\nError: ")[1:]:
        if not _LOCATED.search("\n" + block):
            return Outcome(case, command, "unlocated", block[:200])
    return Outcome(case, command, "ok")


def run_case(case: Case, workdir: Path, timeout: float) -> list[Outcome]:
    """Write the mutated file into the working copy, run validate (and plan), restore it."""
    target = workdir / case.file
    original = target.read_bytes()
    target.write_bytes(case.data)
    directory = workdir / case.config
    outcomes = []
    try:
        for command, args in (
            ("validate", ["-C", str(directory), "validate", "--json"]),
            ("plan", ["-C", str(directory), "plan", "--no-color"]),
        ):
            runner = CliRunner(env=ENVIRONMENT)
            started = time.monotonic()
            try:
                with time_limit(timeout):
                    result = runner.invoke(cli, args, catch_exceptions=True)
            except Hang:
                outcomes.append(Outcome(case, command, "hang", f"over {timeout:g}s"))
                break
            outcome = _classify(case, command, result, time.monotonic() - started)
            outcomes.append(outcome)
            if command == "validate" and outcome.kind == "ok" and result.exit_code != 0:
                break  # plan validates first: it would report the same errors
    finally:
        target.write_bytes(original)
        shutil.rmtree(directory / ".meshprov", ignore_errors=True)
    return outcomes


def fuzz(seed: int, count: int, timeout: float) -> Counts:
    counts = Counts()
    with tempfile.TemporaryDirectory(prefix="meshprov-fuzz-") as tmp:
        workdir = Path(tmp)
        # the parse cache on, in here: unmutated files (the modules) are parsed once
        ENVIRONMENT["MESHPROV_CACHE_DIR"] = str(workdir / "cache")
        for part in ("examples", "modules"):
            shutil.copytree(ROOT / part, workdir / part)
        cwd = os.getcwd()
        os.chdir(workdir)
        try:
            for case in cases(seed, count):
                counts.cases += 1
                counts.mutations[case.mutation] += 1
                for outcome in run_case(case, workdir, timeout):
                    counts.runs += 1
                    counts.kinds[outcome.kind] += 1
                    if outcome.kind != "ok":
                        counts.failures.append(outcome)
        finally:
            os.chdir(cwd)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per command")
    parser.add_argument("--show", type=int, default=5, help="failures to print")
    args = parser.parse_args()
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    started = time.monotonic()
    counts = fuzz(args.seed, args.cases, args.timeout)
    took = time.monotonic() - started
    print(f"seed {args.seed}: {counts.cases} cases, {counts.runs} command runs in {took:.1f}s")
    print(
        f"tracebacks: {counts.tracebacks}  hangs: {counts.hangs}  "
        f"errors without file:line: {counts.unlocated}"
    )
    for outcome in counts.failures[: args.show]:
        case = outcome.case
        print(
            f"- case {case.index} ({case.mutation} of {case.file}), {outcome.command}: "
            f"{outcome.kind}: {outcome.detail}"
        )
    sys.exit(1 if counts.tracebacks or counts.hangs or counts.unlocated else 0)


if __name__ == "__main__":
    main()
