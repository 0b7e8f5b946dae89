"""The fuzzing harness (bench/fuzz.py) at a fixed seed: 1,000 mutated examples and modules
through validate and plan, with no traceback, no hang, and a file and line for every error."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "fuzz.py"


def _harness():
    spec = importlib.util.spec_from_file_location("meshprov_fuzz", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


fuzz = _harness()


def test_cases_are_seeded_and_cover_every_mutation_and_source() -> None:
    first = [(c.file, c.mutation, c.data) for c in fuzz.cases(14, 120)]
    assert first == [(c.file, c.mutation, c.data) for c in fuzz.cases(14, 120)]
    assert first != [(c.file, c.mutation, c.data) for c in fuzz.cases(15, 120)]
    assert {m for _, m, _ in first} == set(fuzz.MUTATIONS)
    assert {f for f, _, _ in first} == {f for _, f in fuzz.SOURCES}
    originals = {f: (fuzz.ROOT / f).read_bytes() for _, f in fuzz.SOURCES}
    assert sum(data != originals[f] for f, _, data in first) >= 110


def test_the_harness_counts_what_it_should(tmp_path: Path) -> None:
    """A traceback and a missing location are seen (so a 0 below means something)."""
    case = fuzz.Case(0, "examples/quickstart", "examples/quickstart/main.hcl", "test", b"")

    class Result:
        stdout = '{"diagnostics": [{"severity": "error", "summary": "x", "detail": ""}]}'
        stderr = "Error: x\n\nno location\n"
        stderr_bytes = b""
        exception = KeyError("boom")

    assert fuzz._classify(case, "validate", Result(), 0.0).kind == "traceback"
    Result.exception = SystemExit(1)
    assert fuzz._classify(case, "validate", Result(), 0.0).kind == "unlocated"
    assert fuzz._classify(case, "plan", Result(), 0.0).kind == "unlocated"


def test_a_thousand_mutations_give_diagnostics_never_tracebacks_or_hangs() -> None:
    counts = fuzz.fuzz(seed=14, count=1000, timeout=10.0)
    report = "\n".join(
        f"case {o.case.index} ({o.case.mutation} of {o.case.file}), {o.command}: "
        f"{o.kind}: {o.detail}"
        for o in counts.failures
    )
    assert counts.cases == 1000
    assert counts.tracebacks == 0, report
    assert counts.hangs == 0, report
    assert counts.unlocated == 0, report
