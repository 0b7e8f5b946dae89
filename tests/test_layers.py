"""Every module imports on its own, in a fresh interpreter: no import cycle hides behind the
order in which other modules happen to be imported first."""

from __future__ import annotations

import ast
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


# what `meshprov --version`, `--help` and `validate` have no use for; importing them costs more
# than validating a small configuration does (networkx alone took 0.1-0.35 s)
HEAVY = ("cryptography", "networkx", "yaml", "jsonschema", "botocore", "boto3", "jwt")
ENGINE = ("meshprov.engine", "meshprov.plan", "meshprov.resources", "meshprov.config")
PARSER = ("hcl2", "lark")


def _imported(args: list[str], env: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """Run ``meshprov ARGS`` in a fresh interpreter: its output, and the top-level packages
    and meshprov modules it imported."""
    script = (
        "import sys\n"
        "from meshprov.cli import main\n"
        f"sys.argv = ['meshprov', *{args!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('meshprov.') or '.' not in m))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    *output, modules = done.stdout.splitlines()
    return "\n".join(output), ast.literal_eval(modules)


def _loaded(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [
        m for m in modules if m.startswith(prefixes) and m.split(".")[0] in {*prefixes, "meshprov"}
    ]


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_do_not_load_the_engine(flag):
    """``meshprov --version`` and ``--help`` answer from the command layer alone."""
    output, modules = _imported([flag])
    assert output.startswith("meshprov v" if flag == "--version" else "Usage: meshprov")
    assert _loaded(modules, (*ENGINE, *HEAVY, *PARSER)) == []


def test_validate_loads_no_heavy_library(tmp_path):
    """``validate`` needs no cryptography, YAML, JWT or AWS library; and with the parse cache
    filled by an earlier run, not the HCL parser either."""
    config = tmp_path / "config"
    shutil.copytree(EXAMPLES / "quickstart", config)
    env = dict(os.environ, MESHPROV_CACHE_DIR=str(tmp_path / "cache"), MESHPROV_PARSE_CACHE="1")
    first, modules = _imported(["-C", str(config), "validate"], env)
    assert "Success! The configuration is valid." in first
    assert _loaded(modules, HEAVY) == []
    assert "hcl2" in modules  # the first run parses: the check below is not vacuous
    again, modules = _imported(["-C", str(config), "validate"], env)
    assert again == first
    assert _loaded(modules, (*HEAVY, *PARSER)) == []
