"""A no-op plan of an applied configuration renders no file and checks no key pair again:
the state keeps digests of what apply wrote and checked (``private``), so a control plane
whose inputs and files are unchanged is only read and hashed. Without those digests (a state
written before them) the plan renders and checks as before, with the same result."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.support.imports import imported, loaded

from meshprov.cli import cli

QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart"
NO_CHANGES = "No changes. Your infrastructure matches the configuration."


@pytest.fixture
def applied(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    directory = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, directory, ignore=shutil.ignore_patterns("out", "state"))
    env = dict(os.environ, MESHPROV_CACHE_DIR=str(tmp_path / "cache"), NO_COLOR="1")
    result = CliRunner().invoke(cli, ["-C", str(directory), "apply", "--auto-approve"])
    assert result.exit_code == 0, result.output
    return directory, env


def test_a_no_op_plan_renders_nothing(applied: tuple[Path, dict[str, str]]) -> None:
    directory, env = applied
    output, modules = imported(["-C", str(directory), "plan", "--detailed-exitcode"], env)
    assert NO_CHANGES in output
    # rendering writes YAML; checking a certificate and key loads them (cryptography is
    # imported once, to merge the trust bundle every control plane of the CA shares)
    assert loaded(modules, ("yaml", "jwt")) == []


def test_without_digests_the_plan_renders_and_checks_again(
    applied: tuple[Path, dict[str, str]],
) -> None:
    directory, env = applied
    path = directory / "state/default.json"
    doc = json.loads(path.read_text())
    for resource in doc["resources"]:
        resource.pop("private", None)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    output, modules = imported(["-C", str(directory), "plan", "--detailed-exitcode"], env)
    assert NO_CHANGES in output
    assert "yaml" in modules


def test_digests_that_do_not_match_are_not_trusted(applied: tuple[Path, dict[str, str]]) -> None:
    """Digests edited by hand (or from another meshprov) only make the plan do the work."""
    directory, env = applied
    path = directory / "state/default.json"
    doc = json.loads(path.read_text())
    for resource in doc["resources"]:
        if "private" in resource:
            resource["private"] = {k: "0" * 64 for k in resource["private"]}
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    output, modules = imported(["-C", str(directory), "plan", "--detailed-exitcode"], env)
    assert NO_CHANGES in output
    assert "yaml" in modules


def test_a_plan_file_holds_no_digest(applied: tuple[Path, dict[str, str]], tmp_path) -> None:
    directory, _ = applied
    planfile = tmp_path / "plan.bin"
    result = CliRunner().invoke(cli, ["-C", str(directory), "plan", "--out", str(planfile)])
    assert result.exit_code == 0, result.output
    assert '"private"' not in planfile.read_text()
    assert '"private"' in (directory / "state/default.json").read_text()
