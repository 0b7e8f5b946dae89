"""What the commands people run most often cost on a small configuration: start-up included.

Runs, as a user does (a process each, the installed ``meshprov`` script), against
``python -c pass`` in the same run:

* ``meshprov --version`` and ``meshprov --help``;
* ``meshprov validate`` of a copy of ``examples/quickstart`` (no AWS: the firewall is off);
* ``meshprov plan`` of that copy once applied: the no-op plan (parse cache warm, as on a
  second run).

Bytecode is cached as for an installed meshprov (``userenv.py``): the apply that prepares the
no-op plan runs first, untimed, and compiles it. Each command runs ``--repeat`` times (default
7), alternating commands so that a burst of load on the machine spreads over all of them; the
median wall and CPU (user + sys) seconds are printed, with the overhead over ``python -c
pass``, and the heavy libraries each command imports (read from ``-X importtime``):
``validate`` and ``plan`` build and walk the dependency graph, so their figures include
importing networkx; ``--version`` and ``--help`` do not load it.

Goals: ``--version`` and ``--help`` within 0.1 s wall, ``validate`` and the no-op ``plan``
within 0.3 s.

    .venv/bin/python bench/startup.py [--repeat 7] [--strict]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from userenv import installed_env

HERE = Path(__file__).resolve()
QUICKSTART = HERE.parent.parent / "examples" / "quickstart"
HEAVY = ("cryptography", "networkx", "yaml", "jsonschema", "botocore", "boto3", "hcl2", "lark")
GOALS = {"--version": 0.1, "--help": 0.1, "validate": 0.3, "plan (no-op)": 0.3}


def meshprov_command() -> list[str]:
    script = Path(sys.executable).with_name("meshprov")
    return [str(script)] if script.exists() else [sys.executable, "-m", "meshprov"]


def run_once(
    args: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)
) -> tuple[float, float]:
    """Wall and CPU (user + sys) seconds of one command, whose exit code must be in ``ok``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in ok:
        sys.exit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_imports(args: list[str], env: dict[str, str]) -> list[str]:
    """The heavy top-level packages ``meshprov ARGS`` imports (``-X importtime`` of a run)."""
    run = "from meshprov.cli import main; main()"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", run, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seen = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:"):
            top = line.rsplit("|", 1)[1].strip().split(".")[0]
            if top in HEAVY:
                seen.add(top)
    return sorted(seen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per command (median)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a goal is missed")
    opts = parser.parse_args()
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"meshprov start-up, median of {opts.repeat}; Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, load average {load}\n"
    )
    with tempfile.TemporaryDirectory(prefix="meshprov-bench-") as tmp:
        work = Path(tmp)
        validated, applied = work / "validate", work / "applied"
        for directory in (validated, applied):
            shutil.copytree(QUICKSTART, directory, ignore=shutil.ignore_patterns("out", "state"))
        env = installed_env(work / "pycache", MESHPROV_CACHE_DIR=str(work / "cache"), NO_COLOR="1")
        meshprov = meshprov_command()
        # untimed: compiles the bytecode every timed run then reads, as an installed one would
        run_once([*meshprov, "-C", str(applied), "apply", "--auto-approve"], env)
        commands = {  # meshprov's arguments
            "--version": ["--version"],
            "--help": ["--help"],
            "validate": ["-C", str(validated), "validate"],
            "plan (no-op)": ["-C", str(applied), "plan", "--detailed-exitcode"],
        }
        runs: dict[str, list[tuple[float, float]]] = {"python -c pass": []}
        runs.update((name, []) for name in commands)
        for _ in range(opts.repeat):
            runs["python -c pass"].append(run_once([sys.executable, "-c", "pass"], env))
            for name, args in commands.items():
                runs[name].append(run_once([*meshprov, *args], env))
        base = statistics.median(wall for wall, _ in runs["python -c pass"])
        print(
            f"{'command':<16}{'wall s':>8}{'cpu s':>8}{'overhead s':>12}{'goal s':>8}"
            "  heavy imports"
        )
        ok = True
        for name, samples in runs.items():
            wall = statistics.median(w for w, _ in samples)
            cpu = statistics.median(c for _, c in samples)
            goal = GOALS.get(name)
            verdict = ""
            if goal is not None:
                passed = wall <= goal
                ok &= passed
                verdict = f"{goal:>8.1f}  {'PASS' if passed else 'FAIL'}"
            heavy = ""
            if name in commands:
                heavy = ", ".join(heavy_imports(commands[name], env)) or "none"
            print(f"{name:<16}{wall:>8.3f}{cpu:>8.3f}{wall - base:>12.3f}{verdict:<14}  {heavy}")
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nload average {load}; {'all goals met' if ok else 'FAIL'}")
    return 1 if opts.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
