"""Every module imports on its own, in a fresh interpreter: no import cycle hides behind the
order in which other modules happen to be imported first."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import meshprov


def _modules() -> list[str]:
    found = ["meshprov"]
    for info in pkgutil.walk_packages(meshprov.__path__, "meshprov."):
        if info.name != "meshprov.__main__":  # `python -m meshprov`: importing it runs meshprov
            found.append(info.name)
    return sorted(found)


MODULES = _modules()


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


def test_version_does_not_load_the_engine():
    """``meshprov --version`` answers from the command layer alone."""
    script = (
        "import sys\n"
        "from meshprov.cli import main\n"
        "sys.argv = ['meshprov', '--version']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('meshprov.engine', "
        "'meshprov.plan', 'meshprov.resources', 'meshprov.config', 'networkx', 'boto3')))\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("meshprov v")
    assert done.stdout.splitlines()[-1] == "[]"
