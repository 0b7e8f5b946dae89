"""Every module imports on its own, in a fresh interpreter: no import cycle hides behind the
order in which other modules happen to be imported first."""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.imports import GRAPH, HEAVY, imported, loaded

import meshprov


def _modules() -> list[str]:
    found = ["meshprov"]
    for info in pkgutil.walk_packages(meshprov.__path__, "meshprov."):
        if info.name != "meshprov.__main__":  # `python -m meshprov`: importing it runs meshprov
            found.append(info.name)
    return sorted(found)


MODULES = _modules()
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_the_package_has_its_layers():
    # walk_packages finding nothing would make every test below vacuous
    for expected in ("meshprov.engine.walk", "meshprov.providers.aws", "meshprov.cli.run"):
        assert expected in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone(module):
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"import {module} failed:\n{done.stderr}"


ENGINE = ("meshprov.engine", "meshprov.plan", "meshprov.resources", "meshprov.config")
PARSER = ("hcl2", "lark")


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_do_not_load_the_engine(flag):
    """``meshprov --version`` and ``--help`` answer from the command layer alone: no engine,
    no parser, no graph library."""
    output, modules = imported([flag])
    assert output.startswith("meshprov v" if flag == "--version" else "Usage: meshprov")
    assert loaded(modules, (*ENGINE, *HEAVY, *PARSER, *GRAPH)) == []


def test_validate_loads_no_heavy_library(tmp_path):
    """``validate`` needs no cryptography, YAML, JWT or AWS library; and with the parse cache
    filled by an earlier run, not the HCL parser either. It builds and walks the dependency
    graph, so it imports networkx (the check of ``--help`` above is not vacuous)."""
    config = tmp_path / "config"
    shutil.copytree(EXAMPLES / "quickstart", config)
    env = dict(os.environ, MESHPROV_CACHE_DIR=str(tmp_path / "cache"), MESHPROV_PARSE_CACHE="1")
    first, modules = imported(["-C", str(config), "validate"], env)
    assert "Success! The configuration is valid." in first
    assert loaded(modules, HEAVY) == []
    assert "hcl2" in modules  # the first run parses: the check below is not vacuous
    assert loaded(modules, GRAPH) == ["networkx"]
    again, modules = imported(["-C", str(config), "validate"], env)
    assert again == first
    assert loaded(modules, (*HEAVY, *PARSER)) == []
