"""What a meshprov command imports, run in a fresh interpreter as a user runs it."""

from __future__ import annotations

import ast
import subprocess
import sys

# what commands that do not sign, parse certificates, write YAML or call AWS have no use for:
# importing them costs more than validating a small configuration does
HEAVY = ("cryptography", "yaml", "jsonschema", "botocore", "boto3", "jwt")
# the dependency graph's library: the commands that read a configuration build and walk one
GRAPH = ("networkx",)


def imported(args: list[str], env: dict[str, str] | None = None) -> tuple[str, list[str]]:
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


def loaded(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [
        m for m in modules if m.startswith(prefixes) and m.split(".")[0] in {*prefixes, "meshprov"}
    ]
