"""Run the real ``meshprov`` CLI with the test-only resource type registered (for subprocesses)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import tests.support.testtype  # noqa: F401  (registers test_thing)

from meshprov.cli import main

main()
