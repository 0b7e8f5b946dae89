"""meshprov.yamlio writes and reads YAML with libyaml when PyYAML has it, and the text is the
same byte for byte as PyYAML's pure-Python emitter writes (the fallback without libyaml)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from meshprov import pki, yamlio

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
    """PyYAML as it is without libyaml: no C classes (yamlio caches its dumpers: cleared)."""
    for name in ("CSafeDumper", "CSafeLoader"):
        monkeypatch.delattr(yaml, name)
    monkeypatch.setattr(yaml, "__with_libyaml__", False)
    yamlio._dumper.cache_clear()
    yield
    yamlio._dumper.cache_clear()


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
