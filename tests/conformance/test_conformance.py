"""HashiCorp's own test tables, converted to rows (``convert.py``), through meshprov.

A row that fails must be listed in ``known_failures.json`` with the reason; a listed row that
starts passing fails the suite too, so the list stays exact. ``python tests/conformance/runner.py``
prints the pass rate (the goal is 99%; see the list for what keeps it lower).
"""

from __future__ import annotations

import pytest
from tests.conformance.runner import known_failures, load_rows, run_row

ROWS = load_rows()
LISTED = known_failures()


@pytest.mark.parametrize("row", ROWS, ids=[r.key for r in ROWS])
def test_row(row):
    outcome = run_row(row)
    if row.key in LISTED:
        assert not outcome.passed, f"now passes; remove it from known_failures.json: {row.key}"
    else:
        assert outcome.passed, f"{row.expr}: {outcome.got}"


def test_listed_rows_exist():
    keys = {r.key for r in ROWS}
    assert sorted(k for k in LISTED if k not in keys) == []
