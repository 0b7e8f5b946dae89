"""Numbers as Terraform computes them: cty's 512-bit binary floats, shown as their shortest
decimal text, and kept exactly through state and JSON.

The expected texts below were computed with Go's ``math/big`` exactly as cty uses it
(``big.ParseFloat(s, 10, 512, big.ToNearestEven)``, ``Add``/``Sub``/``Quo``, cty's Multiply
and Modulo, ``Text('f', -1)``, and ``fmt.Sprintf`` with a ``*big.Float`` for ``format``).
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

import pytest
from tests.support.engine import Workspace

from meshprov.diagnostics import DiagnosticError
from meshprov.lang import numbers
from meshprov.lang.evaluate import EvalContext, evaluate
from meshprov.lang.parse import parse_expression

GO_BIG_FLOAT = [
    ("0.1 + 0.2", "0.3"),
    (
        "3.14159265358979323846264338327950288419716939937510582097494459 + 1",
        "4.14159265358979323846264338327950288419716939937510582097494459",
    ),
    ("0.3 - 0.1", "0.2" + "0" * 153 + "2"),
    ("1.1 * 3", "3.3" + "0" * 152 + "2"),
    ("0.1 * 1.5", "0.15"),
    ("1 / 3", "0." + "3" * 154 + "5"),
    ("2.5 / 0.1", "25"),
    ("10 / 4", "2.5"),
    ("11 % 5.1", "0.8" + "0" * 152 + "24"),
    ("-7.5 % 2", "-1.5"),
    ("15 % 10", "5"),
    (
        "99999999999999999999999999999999999999999999999999998.123 + 1",
        "99999999999999999999999999999999999999999999999999999.123",
    ),
    ("1e400", "1" + "0" * 400),
    ("0.000001", "0.000001"),
    ("1e-7", "0.0000001"),
    ("6.0", "6"),
    ('format("%.1f", 0.15)', "0.2"),  # 0.15 is a little above 0.15 in binary
    ('format("%.0f", 2.5)', "2"),  # half to even
    ('format("%e", 1234.5678)', "1.234568e+03"),
    (
        'format("%f", 100000000000000000000000000000000000001)',
        "100000000000000000000000000000000000001.000000",
    ),
    ('format("%v", 1000000)', "1e+06"),
    ('format("%g", 0.00001)', "1e-05"),
    ('format("%.3g", 123456789.123456789)', "1.23e+08"),
    ('format("%.2f", 3.14159)', "3.14"),
    # cty's division by zero is infinite, and x % 0 is x
    ("1 / 0", "+Inf"),
    ("-5 / 0", "-Inf"),
    ("5 % 0", "5"),
    ("ceil(-99999999999999999999999999999999999999999999999999998.123)", "-" + "9" * 52 + "8"),
    ("floor(99999999999999999999999999999999999999999999999999999.123)", "9" * 53),
    ("pow(3, 40)", "12157665459056929000"),  # go-cty's pow is float64 math.Pow
    ('jsondecode("0.1000000000000000000001")', "0.1000000000000000000001"),
    ("sum([0.1, 0.2, 0.3])", "0.6"),
    ('yamldecode("a: 0.1000000000000000000000001").a', "0.1000000000000000000000001"),
    ("yamlencode([0.5, 1 / 0])", "- 0.5\n- +Inf\n"),  # go-cty-yaml writes Text('f', -1)
]


def run(text: str):
    return evaluate(parse_expression(text, "numbers.hcl"), EvalContext({}, Path("/tmp")))


@pytest.mark.parametrize(("text", "shown"), GO_BIG_FLOAT, ids=[c[0] for c in GO_BIG_FLOAT])
def test_arithmetic_and_text_match_cty(text: str, shown: str) -> None:
    value = run(text)
    assert (value if isinstance(value, str) else numbers.format_number(value)) == shown
    if not isinstance(value, str):  # the text is the value: it reads back as the same number
        assert run(f"tostring({text})") == shown
        assert run(f'tonumber("{shown}")' if "Inf" not in shown else text) == value


def test_whole_numbers_are_ints_and_fractions_are_decimals() -> None:
    assert run("10 / 5") == 2 and type(run("10 / 5")) is int
    assert run("0.5 + 0.5") == 1 and type(run("0.5 + 0.5")) is int
    assert run("2.5") == Decimal("2.5")
    assert run("-(2.5)") == Decimal("-2.5")


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("0 / 0", "can't divide zero by zero or infinity by infinity"),
        ("1 / 0 - 1 / 0", "can't subtract infinity from itself"),
        ("1 / 0 + -1 / 0", "can't compute sum of opposing infinities"),
        ("0 * (1 / 0)", "can't multiply zero by infinity"),
        ("jsonencode(1 / 0)", "cannot serialize infinity as JSON"),
        ("1e1001 * 1", "Number literal out of range"),
        ("1e999 * 1e999", "the number is out of range"),
    ],
)
def test_what_cty_refuses_is_a_diagnostic(text: str, detail: str) -> None:
    with pytest.raises(DiagnosticError) as info:
        run(text)
    diag = info.value.diagnostics[0]
    assert detail in f"{diag.summary}: {diag.detail}"


def test_shortest_text_reads_back_as_the_same_number() -> None:
    rng = random.Random(16)
    ops = [numbers.add, numbers.subtract, numbers.multiply, numbers.divide, numbers.modulo]
    for _ in range(500):
        a = numbers.parse_number(f"{rng.randint(-999, 999)}.{rng.randint(0, 10**12)}")
        b = numbers.parse_number(
            f"{rng.randint(1, 999)}.{rng.randint(0, 10**12)}e-{rng.randint(0, 9)}"
        )
        assert a is not None and b is not None
        result = rng.choice(ops)(a, b)
        text = numbers.format_number(result)
        assert numbers.parse_number(text) == result
        assert numbers.exact(numbers.parse_number(text)) == numbers.exact(result)
        assert json.loads(numbers.json_dumps([result]), parse_float=numbers.json_number) == [result]


def test_exact_numbers_survive_state_and_output(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "config")
    ws.write(
        """
        output "ratio" {
          value = 11 % 5.1
        }

        output "half" {
          value = [0.5, 2]
        }
        """
    )
    ws.run("apply", "--auto-approve")
    ratio = "0.8" + "0" * 152 + "24"
    state_text = ws.state_path.read_text()
    assert f'"value": {ratio}' in state_text  # a JSON number, every digit kept
    assert ws.run("output", "--raw", "ratio").stdout == ratio
    assert ws.run("output", "ratio").stdout == ratio + "\n"
    assert ws.run("output", "--json", "half").stdout.split() == ["[", "0.5,", "2", "]"]
    assert "No changes" in ws.run("plan").stdout  # read back, the value is the same


def test_an_infinite_root_output_is_refused_before_anything_is_saved(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "config")
    ws.write(
        """
        output "boom" {
          value = { ratio = 1 / 0 }
        }
        """
    )
    result = ws.run("plan", code=1)
    assert "Error: Unsupported output value" in result.stderr
    assert "main.hcl line 2:" in result.stderr
    assert ws.state_bytes() is None
