"""``-C DIR`` is Terraform's ``-chdir``: every relative path given on the command line is
relative to DIR, like the configuration's own paths, whatever directory meshprov runs in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.engine import WRAPPER, Result, Workspace

CONFIG = """
variable "value" {
  type = string
}

test_thing "a" {
  value = var.value
}
"""


def meshprov(cwd: Path, *args: str, code: int = 0) -> Result:
    """meshprov run from ``cwd`` on the configuration ``config`` below it (a relative -C)."""
    proc = subprocess.run(
        [sys.executable, str(WRAPPER), "-C", "config", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
    result = Result(proc.returncode, proc.stdout, proc.stderr)
    assert result.code == code, f"exit {result.code}, expected {code}:\n{result.output}"
    assert "Traceback" not in result.output
    return result


def test_every_relative_path_on_the_command_line_is_relative_to_the_chdir_directory(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path / "config")
    ws.write(CONFIG)
    (ws.dir / "prod.vars.hcl").write_text('value = "from config/prod.vars.hcl"\n')
    # a file of the same name where meshprov runs is not the one meant
    (tmp_path / "prod.vars.hcl").write_text('value = "from ./prod.vars.hcl"\n')

    plan = meshprov(
        tmp_path, "plan", "--no-color", "--var-file", "prod.vars.hcl", "--out", "review.plan",
        "--markdown", "review.md",
    )  # fmt: skip
    assert "from config/prod.vars.hcl" in plan.stdout and "from ./" not in plan.stdout
    assert (ws.dir / "review.plan").is_file() and (ws.dir / "review.md").is_file()
    assert not (tmp_path / "review.plan").exists() and not (tmp_path / "review.md").exists()
    # what the plan says to run next works from here
    assert "Saved the plan to: config/review.plan" in plan.stdout
    assert "    meshprov -C config apply review.plan\n" in plan.stdout

    assert "from config/prod.vars.hcl" in meshprov(tmp_path, "show", "review.plan").stdout
    assert "test_thing.a" in meshprov(tmp_path, "graph", "--plan", "review.plan").stdout
    meshprov(tmp_path, "apply", "review.plan")
    assert ws.world("test_thing.a")["value"] == "from config/prod.vars.hcl"

    pulled = meshprov(tmp_path, "state", "pull").stdout
    (ws.dir / "pulled.json").write_text(pulled)
    meshprov(tmp_path, "state", "push", "pulled.json")
    assert json.loads(ws.state_path.read_text())["lineage"] == json.loads(pulled)["lineage"]

    (ws.dir / "messy.hcl").write_text('test_thing "b" {\nvalue="x"\n}\n')
    assert meshprov(tmp_path, "fmt", "--check", "messy.hcl", code=3).stdout == (
        "config/messy.hcl\n"
    )
    assert set(p.name for p in tmp_path.iterdir()) == {"config", "prod.vars.hcl"}


def test_a_missing_file_is_named_by_where_it_was_looked_for(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "config")
    ws.write(CONFIG)
    (tmp_path / "here.plan").write_text("a file beside, not in, the configuration directory")
    for args in (("show", "here.plan"), ("apply", "here.plan"), ("graph", "--plan", "here.plan")):
        assert "config/here.plan" in meshprov(tmp_path, *args, code=1).stderr
    missing = meshprov(tmp_path, "validate", "--var-file", "none.vars.hcl", code=1)
    assert "The file config/none.vars.hcl does not exist." in missing.stderr
    # an absolute path is used as it is
    outside = tmp_path / "outside.vars.hcl"
    outside.write_text('value = "absolute"\n')
    meshprov(tmp_path, "plan", "--var-file", str(outside), "--out", str(tmp_path / "abs.plan"))
    assert (tmp_path / "abs.plan").is_file()
