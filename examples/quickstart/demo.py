"""The `make demo` walk-through: meshprov on examples/quickstart, step by step."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MESHPROV = str(Path(sys.executable).parent / "meshprov")


def step(title: str, *args: str) -> None:
    print(f"\n\033[1m$ meshprov {' '.join(args)}\033[0m  # {title}", flush=True)
    result = subprocess.run([MESHPROV, "-C", str(HERE), *args], check=False)
    if result.returncode not in (0, 2):
        sys.exit(result.returncode)


def main() -> None:
    if not shutil.which(MESHPROV):
        sys.exit("meshprov is not installed in this virtualenv; run `make demo`.")
    step("check the configuration: syntax, references, types, cycles", "validate")
    step("the dependency graph, as Mermaid", "graph", "--format", "mermaid")


if __name__ == "__main__":
    main()
