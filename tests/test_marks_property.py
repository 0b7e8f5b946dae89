"""No mark is ever dropped: random expressions over sensitive inputs, and every result that
holds a secret's text holds it under a sensitive mark.

The expressions are generated from a fixed seed (so a failure reproduces), a few levels deep,
from the constructs that move values around: function calls, templates and directives,
conditionals, ``for`` expressions, indexes, splats and operators. A result counts as leaking
when a secret's text (or number) appears anywhere in it outside a ``Sensitive`` wrapper.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from meshprov.diagnostics import DiagnosticError
from meshprov.lang.evaluate import EvalContext, evaluate
from meshprov.lang.parse import parse_expression
from meshprov.lang.values import UNKNOWN, HclSet, Sensitive

SECRETS = ("sekritA", "sekritB", "sekritC", "sekritD", "sekritE")
SECRET_NUMBER = 4273

NAMES = {
    "s": Sensitive("sekritA"),
    "sl": Sensitive(["sekritB", "x"]),
    "sm": Sensitive({"k": "sekritC", "j": "y"}),
    "l": ["a", Sensitive("sekritD"), "c"],
    "m": {"a": Sensitive("sekritE"), "b": "bee"},
    "n": Sensitive(SECRET_NUMBER),
    "objs": [{"name": Sensitive("sekritA"), "v": 1}, {"name": "bob", "v": 2}],
    "p": "plain",
    "u": UNKNOWN,
    "t": True,
}

# (template, arity): each {} is filled by a generated sub-expression
COMBINATORS = [
    ("upper({})", 1),
    ("lower({})", 1),
    ("tostring({})", 1),
    ('join("-", {})', 1),
    ("concat({}, {})", 2),
    ("values({})", 1),
    ("keys({})", 1),
    ("merge({}, {})", 2),
    ("flatten([{}, {}])", 2),
    ("tolist({})", 1),
    ("toset({})", 1),
    ("reverse({})", 1),
    ("element({}, 1)", 1),
    ("slice({}, 0, 1)", 1),
    ('lookup({}, "k", {})', 2),
    ('lookup({}, "a", "none")', 1),
    ("coalesce({}, {})", 2),
    ("coalescelist({}, {})", 2),
    ("compact({})", 1),
    ("distinct({})", 1),
    ("sort({})", 1),
    ("one([{}])", 1),
    ('zipmap(["z", "w"], [{}, {}])', 2),
    ('format("%s/%v", {}, {})', 2),
    ('formatlist("%s!", {})', 1),
    ("jsonencode({})", 1),
    ("yamlencode({})", 1),
    ("jsondecode(jsonencode({}))", 1),
    ("base64decode(base64encode({}))", 1),
    ('replace({}, "x", "y")', 1),
    ("trimspace({})", 1),
    ("substr({}, 0, 5)", 1),
    ('split("e", {})', 1),
    ("chunklist({}, 1)", 1),
    ("transpose({{q = {}}})", 1),
    ("try({}, {})", 2),
    ('"${{{}}}-${{{}}}"', 2),
    ('"%{{ if t }}${{{}}}%{{ else }}${{{}}}%{{ endif }}"', 2),
    ('"%{{ if u }}${{{}}}%{{ endif }}"', 1),
    ('"%{{ for x in {} }}${{x}},%{{ endfor }}"', 1),
    ("t ? {} : {}", 2),
    ("u ? {} : {}", 2),
    ("!t ? {} : {}", 2),
    ("[for x in {} : x]", 1),
    ("{{for k, v in {} : k => v}}", 1),
    ("[{}, {}]", 2),
    ("{{a = {}, b = {}}}", 2),
    ("{}[0]", 1),
    ('{}["k"]', 1),
    ("{}.name", 1),
    ("{}[*].name", 1),
    ("{} == {}", 2),
    ("{} + 1", 1),
    ("length({})", 1),
]
LEAVES = [*NAMES, '"lit"', "1", "[]", "{}"]


def generate(rng: random.Random, depth: int) -> str:
    if depth == 0 or rng.random() < 0.25:
        return rng.choice(LEAVES)
    template, arity = rng.choice(COMBINATORS)
    return template.format(*(generate(rng, depth - 1) for _ in range(arity)))


def leaks(value: Any) -> list[str]:
    """Secret texts found outside any Sensitive wrapper."""
    if isinstance(value, Sensitive):
        return []
    if isinstance(value, str):
        return [s for s in SECRETS if s in value]
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [str(value)] if value == SECRET_NUMBER else []
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in leaks(k) + leaks(v)]
    if isinstance(value, list | HclSet):
        return [x for v in value for x in leaks(v)]
    return []


@pytest.mark.parametrize("seed", range(4))
def test_no_result_holds_a_secret_unmarked(seed: int) -> None:
    rng = random.Random(seed)
    evaluated = 0
    for _ in range(500):
        text = generate(rng, 4)
        try:
            result = evaluate(parse_expression(text, "prop.hcl"), EvalContext(NAMES, Path(".")))
        except DiagnosticError:
            continue  # a type error is fine; a traceback is not (it would fail the test)
        evaluated += 1
        assert leaks(result) == [], f"{text} leaked: {result!r}"
    assert evaluated > 100  # the generator must mostly build valid expressions
