"""meshprov.yamlio writes and reads YAML with libyaml when PyYAML has it, and the text is the
same byte for byte as PyYAML's pure-Python emitter writes (the fallback without libyaml)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from meshprov import pki, yamlio
from meshprov.diagnostics import DiagnosticError
from meshprov.lang import numbers
from meshprov.lang.evaluate import EvalContext, evaluate
from meshprov.lang.parse import parse_expression

PEM = pki.issue_ca(
    "YAML test CA", None, "ECDSA_P256", timedelta(days=1), datetime.now(UTC)
).cert_pem
LIBYAML_DUMPER = getattr(yaml, "CSafeDumper", None)
DOCUMENTS = [
    {"scrape_configs": [{"job_name": "kuma-dataplanes", "tls_config": {"ca_file": "/a/ca.crt"}}]},
    {"kuma": {"controlPlane": {"tls": {"general": {"caBundle": "Zm9v" * 300}}, "zone": "eu-1"}}},
    {"pem": PEM, "groups": ["mesh-system:admin"], "empty": "", "yes": "no", "n": None, "i": 5},
    {"unicode": "zone ☃ é", "long": "word " * 60, "quote": 'it\'s "x"', "lines": "a\nb\n"},
]


@pytest.fixture
def pure_python(monkeypatch):
    """PyYAML as it is without libyaml: no C classes (yamlio caches its classes: cleared)."""
    for name in ("CSafeDumper", "CSafeLoader"):
        monkeypatch.delattr(yaml, name)
    monkeypatch.setattr(yaml, "__with_libyaml__", False)
    yamlio._dumper.cache_clear()
    yamlio._loader.cache_clear()
    yield
    yamlio._dumper.cache_clear()
    yamlio._loader.cache_clear()


def _written() -> list[str]:
    """What meshprov writes: artifacts (block style, keys in order, PEM as literal blocks) and
    ``yamlencode`` (every string double-quoted, keys sorted, never folded)."""
    out = []
    for document in DOCUMENTS:
        out.append(yamlio.dump(document, sort_keys=False))
        out.append(yamlio.dump(document, strings="literal", sort_keys=False))
        out.append(
            yamlio.dump(
                document,
                strings="double-quoted",
                sort_keys=True,
                default_flow_style=False,
                allow_unicode=True,
                wrap=False,
            )
        )
    out.append(yamlio.dump_all(DOCUMENTS, sort_keys=False))
    return out


def test_libyaml_is_there_to_be_used():
    assert yaml.__with_libyaml__  # otherwise the comparison below compares a thing with itself
    assert issubclass(yamlio._dumper("plain"), LIBYAML_DUMPER)


def test_libyaml_writes_what_the_pure_python_emitter_writes(request):
    with_libyaml = _written()
    request.getfixturevalue("pure_python")
    assert not issubclass(yamlio._dumper("plain"), LIBYAML_DUMPER)
    assert _written() == with_libyaml


def test_what_is_written_reads_back():
    for document in DOCUMENTS:
        for strings in ("plain", "literal", "double-quoted"):
            assert yamlio.load(yamlio.dump(document, strings=strings)) == document
    assert yamlio.load_all(yamlio.dump_all(DOCUMENTS)) == DOCUMENTS
    assert "|" in yamlio.dump({"pem": PEM}, strings="literal")  # PEM as a readable block


@pytest.mark.parametrize("libyaml", [True, False])
def test_bad_yaml_is_a_value_error_with_its_line(libyaml, request):
    if not libyaml:
        request.getfixturevalue("pure_python")
    with pytest.raises(ValueError) as caught:
        yamlio.load("a: 1\nb: [2\nc: 3\n")
    assert isinstance(caught.value, yamlio.YAMLError)
    assert caught.value.line == 3
    assert "expected ',' or ']'" in caught.value.problem  # libyaml and PyYAML word it apart
    assert "line 3" in str(caught.value)


@pytest.mark.parametrize("libyaml", [True, False])
def test_yamlencode_and_yamldecode_keep_numbers_exact(libyaml, request):
    """Terraform's ``yamlencode``/``yamldecode`` through yamlio's number hooks, with libyaml and
    without: numbers written as their exact text (infinity as go-cty-yaml's ``+Inf``), and
    floats read at cty's precision, not as a float64."""
    if not libyaml:
        request.getfixturevalue("pure_python")
    encoded = _evaluate("yamlencode({a = 0.1000000000000000000000001, b = [1, -2.5, 1 / 0]})")
    assert encoded == '"a": 0.1000000000000000000000001\n"b":\n- 1\n- -2.5\n- +Inf\n'
    assert _evaluate("yamlencode(0.5)") == "0.5\n...\n"
    decoded = _evaluate('yamldecode("a: 0.1000000000000000000000001\\nb: [1_000.5, -.inf, 6.0]")')
    assert decoded == {
        "a": Decimal("0.1000000000000000000000001"),
        "b": [Decimal("1000.5"), numbers.NEGATIVE_INFINITY, 6],
    }
    with pytest.raises(DiagnosticError) as caught:
        _evaluate('yamldecode("a: .nan")')
    assert "floating point NaN is not supported" in caught.value.diagnostics[0].detail


def _evaluate(text: str) -> object:
    return evaluate(parse_expression(text, "yaml.hcl"), EvalContext({}, Path("/tmp")))
