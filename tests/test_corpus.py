"""The corpus of broken configurations: every user mistake gets a precise diagnostic, never a
traceback.

Each directory under ``tests/corpus`` is a configuration with one mistake and an
``expected.json``::

    {"summary": "...", "file": "main.hcl", "line": 7,
     "detail_contains": "...",          # optional: a string, or a list of strings
     "args": ["--var", "name=value"],   # optional extra arguments for validate
     "env": {"MESHPROV_VAR_x": "..."}}  # optional extra environment variables

``file`` is relative to the case directory (``null``, with ``line`` null, for a diagnostic
that points at no file, such as a bad ``--var``). Each case runs the real CLI in a subprocess
from inside the case directory, as users run it (all cases in parallel), and once more with
``--json`` in-process, which also shows that no exception escapes the command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from meshprov.cli import cli

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.json").is_file())
_MESHPROV = (sys.executable, "-m", "meshprov")


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHPROV_VAR_")}
    return {**env, **(extra or {})}


def _details(expected: dict) -> list[str]:
    wanted = expected.get("detail_contains", [])
    return [wanted] if isinstance(wanted, str) else wanted


def _run(case: str) -> Run:
    directory = CORPUS / case
    expected = json.loads((directory / "expected.json").read_text())
    proc = subprocess.run(
        [*_MESHPROV, "-C", str(directory), "validate", *expected.get("args", [])],
        cwd=directory,
        env=_environment(expected.get("env")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest) -> dict[str, Run]:
    """The text runs of every selected case, done concurrently."""
    selected = sorted(
        {
            item.callspec.params["case"]
            for item in request.session.items
            if getattr(item, "originalname", None) == "test_corpus_case"
        }
    )
    with ThreadPoolExecutor(max_workers=min(8, 2 * (os.cpu_count() or 2))) as pool:
        return dict(zip(selected, pool.map(_run, selected), strict=True))


def _run_json(case: str, monkeypatch: pytest.MonkeyPatch) -> Result:
    directory = CORPUS / case
    expected = json.loads((directory / "expected.json").read_text())
    monkeypatch.chdir(directory)
    for name in [k for k in os.environ if k.startswith("MESHPROV_VAR_")]:
        monkeypatch.delenv(name)
    for name, value in expected.get("env", {}).items():
        monkeypatch.setenv(name, value)
    args = ["-C", str(directory), "validate", "--json", *expected.get("args", [])]
    return CliRunner().invoke(cli, args, catch_exceptions=True)


def _first_error_block(stderr: str) -> str:
    """The text of the first ``Error:`` diagnostic, up to the next diagnostic."""
    start = stderr.find("Error: ")
    assert start >= 0, f"no error diagnostic in stderr:\n{stderr}"
    rest = stderr[start:]
    ends = [i for i in (rest.find("\nError: ", 1), rest.find("\nWarning: ", 1)) if i > 0]
    return rest[: min(ends)] if ends else rest


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES)
def test_corpus_case(case: str, runs: dict[str, Run], monkeypatch: pytest.MonkeyPatch) -> None:
    expected = json.loads((CORPUS / case / "expected.json").read_text())
    summary, file, line = expected["summary"], expected["file"], expected["line"]

    text = runs[case]
    assert "Traceback" not in text.stderr, text.stderr
    assert text.returncode == 1, f"exit {text.returncode}\n{text.stdout}{text.stderr}"
    block = _first_error_block(text.stderr)
    assert block.splitlines()[0] == f"Error: {summary}", text.stderr
    if file is None:
        assert "\n  on " not in block, text.stderr
    else:
        location = f"\n  on {file} line {line}"
        assert location + ":" in block or location + ", in " in block, text.stderr
    for wanted in _details(expected):
        assert wanted in block, text.stderr

    machine = _run_json(case, monkeypatch)
    assert isinstance(machine.exception, SystemExit), machine.exc_info
    assert machine.exit_code == 1, machine.output
    report = json.loads(machine.stdout)
    assert report["valid"] is False
    assert report["error_count"] >= 1
    first = next(d for d in report["diagnostics"] if d["severity"] == "error")
    assert first["summary"] == summary
    if file is None:
        assert "range" not in first
    else:
        assert first["range"]["filename"] == file
        assert first["range"]["start"]["line"] == line
    for wanted in _details(expected):
        assert wanted in first["detail"]


def test_undeclared_variable_in_var_file_is_only_a_warning(tmp_path: Path) -> None:
    """Like Terraform, a value in a variables file for an undeclared variable warns (a
    --var for one is an error: see the corpus case var_for_undeclared_variable)."""
    (tmp_path / "main.hcl").write_text('variable "region" {\n  default = "eu-west-1"\n}\n')
    (tmp_path / "extra.auto.vars.hcl").write_text('region = "us-east-1"\nregoin = "x"\n')
    (tmp_path / "prod.vars.hcl").write_text('\nzones = ["eu"]\n')
    proc = subprocess.run(
        [*_MESHPROV, "-C", str(tmp_path), "validate", "--var-file", "prod.vars.hcl"],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Success! The configuration is valid." in proc.stdout
    # one warning per variable; the terminal shows the first and counts the rest, as
    # Terraform consolidates warnings that share a summary
    assert proc.stderr.count("Warning: Value for undeclared variable") == 1
    assert "  on extra.auto.vars.hcl line 2:" in proc.stderr
    assert 'Did you mean "region"?' in proc.stderr
    assert "(and one more similar warning elsewhere)" in proc.stderr

    proc = subprocess.run(
        [*_MESHPROV, "-C", str(tmp_path), "validate", "--json"],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(proc.stdout)
    assert proc.returncode == 0
    assert report["valid"] is True
    assert report["warning_count"] == 1
    assert report["diagnostics"][0]["range"]["filename"] == "extra.auto.vars.hcl"
