"""The environment a user's ``meshprov`` command runs in, for benchmarks that run it as one.

pip compiles an installed package's bytecode, so a user's ``meshprov`` never compiles its own
modules at start-up. This checkout's editable install does not, and ``PYTHONDONTWRITEBYTECODE``
(set on some CI machines) would make every timed run compile every module (0.12 s of a
0.3 s goal). Benchmarks therefore write bytecode to a private cache (``PYTHONPYCACHEPREFIX``,
so nothing lands in the checkout) and warm it with one untimed run before timing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart"


def installed_env(pycache: Path, **extra: str) -> dict[str, str]:
    """``os.environ`` with bytecode cached under ``pycache``, plus ``extra``."""
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(pycache), **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("MESHPROV_PARSE_CACHE", None)
    return env


def warm(meshprov: list[str], env: dict[str, str], work: Path) -> None:
    """Compile the bytecode of every module a plan and an apply load: apply a copy of
    ``examples/quickstart`` under ``work`` (no AWS: its firewall is off by default)."""
    directory = work / "warm-up"
    shutil.copytree(QUICKSTART, directory, ignore=shutil.ignore_patterns("out", "state"))
    cache = {"MESHPROV_CACHE_DIR": str(work / "warm-up-cache")}
    subprocess.run(
        [*meshprov, "-C", str(directory), "apply", "--auto-approve"],
        env={**env, **cache},
        capture_output=True,
        check=True,
    )
