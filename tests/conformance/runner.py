"""Run the conformance rows through meshprov's parser and evaluator.

``python tests/conformance/runner.py`` prints pass counts per source file and the rows that
fail without being listed in ``known_failures.json``; the pytest suite
(``test_conformance.py``) runs the same rows.

Values are compared with their sensitive marks, unknowns and nulls, element by element.
Unknowns carry their cty type and refinements into evaluation, but results are compared
without types: meshprov's known values do not tell a list from a tuple or a map from an object,
and the type of a null or unknown is not compared; that limit is the same for every row. A
``$set`` is built as ``cty.SetVal`` builds it: the marks of its elements move onto the set.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshprov.diagnostics import DiagnosticError
from meshprov.lang.evaluate import EvalContext, evaluate
from meshprov.lang.numbers import format_number, parse_number
from meshprov.lang.parse import parse_expression
from meshprov.lang.types import AnyType, type_from_json, unknown_of
from meshprov.lang.values import (
    HclSet,
    Null,
    Refinement,
    Sensitive,
    Unknown,
    mark,
    unmark_deep,
    untyped,
)

HERE = Path(__file__).parent
KNOWN_FAILURES = HERE / "known_failures.json"


@dataclass(frozen=True)
class Row:
    file: str
    id: str
    expr: str
    vars: dict
    want: Any
    error: bool

    @property
    def key(self) -> str:
        return f"{self.file}#{self.id}"


def load_rows() -> list[Row]:
    rows = []
    for path in sorted(HERE.glob("*__*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for r in data["rows"]:
            rows.append(
                Row(path.stem, r["id"], r["expr"], r["vars"], r.get("want"), r.get("error", False))
            )
    return rows


def known_failures() -> dict[str, str]:
    return json.loads(KNOWN_FAILURES.read_text(encoding="utf-8"))


def decode(v: Any) -> Any:
    """The converter's typed JSON → a meshprov value."""
    if isinstance(v, str | bool) or v is None:
        return v
    if isinstance(v, dict):
        if "$number" in v:
            # the converter writes cty's infinities as JSON's "Infinity"; cty's text is "Inf"
            return parse_number(v["$number"].replace("Infinity", "Inf"))
        if "$null" in v:
            t = type_from_json(v["$null"])
            return None if isinstance(t, AnyType) else Null(t)
        if "$unknown" in v:
            return unknown_of(type_from_json(v["$unknown"]), refinement(v.get("$refine", {})))
        if "$sensitive" in v:
            return Sensitive(decode(v["$sensitive"]))
        for key in ("$list", "$tuple"):
            if key in v:
                return [decode(x) for x in v[key]]
        if "$set" in v:  # cty.SetVal moves its elements' marks onto the set
            raw, marked = unmark_deep(HclSet(decode(x) for x in v["$set"]))
            return mark(raw, marked)
        for key in ("$map", "$object"):
            if key in v:
                return {k: decode(x) for k, x in v[key].items()}
    raise ValueError(f"cannot decode {v!r}")


def refinement(refine: dict) -> Refinement:
    """The converter's ``$refine`` (go-cty's refinement of an unknown) → a ``Refinement``."""

    def bound(name: str) -> tuple[Any, bool] | None:
        return (decode(refine[name][0]), refine[name][1]) if name in refine else None

    low, high = refine.get("length", (0, None))
    return Refinement(
        not_null=refine.get("not_null", False),
        prefix=refine.get("prefix", ""),
        lower=bound("lower"),
        upper=bound("upper"),
        length=(low, high),
    )


def canon(v: Any) -> Any:
    """A comparable form that keeps marks and unknowns at every level."""
    if isinstance(v, Sensitive):
        while isinstance(v, Sensitive):
            v = v.value
        return ["sensitive", canon(v)]
    if isinstance(v, Unknown):
        return ["unknown"]
    if v is None or isinstance(v, bool | str):
        return [type(v).__name__, v]
    if isinstance(v, HclSet):
        return ["set", sorted((canon(x) for x in v), key=repr)]
    if isinstance(v, list):
        return ["list", [canon(x) for x in v]]
    if isinstance(v, dict):
        return ["map", {k: canon(x) for k, x in v.items()}]
    return ["number", format_number(v)]


@dataclass(frozen=True)
class Outcome:
    passed: bool
    got: str


def run_row(row: Row) -> Outcome:
    try:
        names = {k: decode(v) for k, v in row.vars.items()}
        expr = parse_expression(row.expr, "conformance.hcl")
        got = evaluate(expr, EvalContext(names, HERE))
    except DiagnosticError as exc:
        return Outcome(row.error, "error: " + exc.diagnostics[0].summary)
    if row.error:
        return Outcome(False, f"no error; got {canon(got)}")
    want = canon(untyped(decode(row.want)))  # compared without the types of nulls and unknowns
    have = canon(untyped(got))
    return Outcome(want == have, f"got {have}, want {want}")


def main() -> int:
    listed = known_failures()
    by_file: dict[str, list[int]] = {}
    unexpected = []
    for row in load_rows():
        try:
            outcome = run_row(row)
        except Exception as exc:  # a traceback is a failure the report must show
            outcome = Outcome(False, f"exception {type(exc).__name__}: {exc}")
        counts = by_file.setdefault(row.file, [0, 0])
        counts[0] += outcome.passed
        counts[1] += 1
        if not outcome.passed and row.key not in listed:
            unexpected.append(f"{row.key}: {row.expr} -> {outcome.got}")
    total = [sum(c[0] for c in by_file.values()), sum(c[1] for c in by_file.values())]
    for name, (ok, n) in sorted(by_file.items()):
        print(f"{name:40} {ok:5} / {n}")
    print(f"{'total':40} {total[0]:5} / {total[1]} ({100 * total[0] / total[1]:.1f}%)")
    print(f"listed failures: {len(listed)}; unlisted failures: {len(unexpected)}")
    if "-v" in sys.argv:
        print("\n".join(unexpected))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
