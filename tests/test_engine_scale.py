"""The engine at a few hundred instances: wide fan-outs whose operations finish out of order,
targeted destroys that follow long dependency chains, and the garbage-collector freeze.

(How it scales with thousands of resources is measured by ``bench/engine.py``.)
"""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
from tests.support.engine import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "config")


def state_addresses(ws: Workspace) -> list[str]:
    doc = json.loads((ws.dir / "state" / "default.json").read_text())
    return [r["address"] for r in doc["resources"]]


def test_wide_fan_out_whose_operations_finish_out_of_order(ws: Workspace) -> None:
    # the delays make later instances finish before earlier ones, across two counted blocks
    # and a block depending on both
    ws.write(
        """
test_thing "root" {
  value = "r"
}

test_thing "a" {
  count  = 60
  value  = "a${count.index}-${test_thing.root.id}"
  delay  = count.index % 7 == 0 ? 0.05 : 0
  parent = test_thing.root
}

test_thing "b" {
  count  = 40
  value  = "b${count.index}"
  delay  = count.index % 5 == 0 ? 0.03 : 0
  parent = test_thing.root
}

test_thing "last" {
  value = "${length(test_thing.a)}/${length(test_thing.b)}/${test_thing.a[59].id}"
}
"""
    )
    result = ws.run("apply", "--auto-approve", "--parallelism", "8")
    assert "Apply complete! Resources: 102 added, 0 changed, 0 destroyed." in result.stdout
    assert len(state_addresses(ws)) == 102
    assert "No changes." in ws.run("plan").stdout


def test_targeted_destroy_follows_a_long_chain_of_dependents(ws: Workspace) -> None:
    blocks = ['test_thing "r0" {\n  value = "0"\n}\n']
    blocks += [
        f'test_thing "r{i}" {{\n  value  = "{i}"\n  parent = test_thing.r{i - 1}\n}}\n'
        for i in range(1, 40)
    ]
    blocks.append('test_thing "solo" {\n  value = "s"\n}\n')
    ws.write("\n".join(blocks))
    ws.run("apply", "--auto-approve")
    out = ws.run("destroy", "--auto-approve", "--target", "test_thing.r0").stdout
    assert "Destroy complete! Resources: 40 destroyed." in out
    assert state_addresses(ws) == ["test_thing.solo"]


def test_frozen_heap_thaws_and_leaves_a_foreign_freeze_alone() -> None:
    from meshprov.heap import frozen_heap

    foreign = gc.get_freeze_count()  # an in-process CLI run may have frozen the heap already
    if not foreign:
        with frozen_heap():
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() == 0
        gc.freeze()  # now someone else's freeze: not frozen_heap's to undo
    try:
        frozen = gc.get_freeze_count()
        with frozen_heap():
            pass
        # still frozen (not thawed by frozen_heap); frozen objects may die meanwhile, so the
        # count can only have gone down
        assert 0 < gc.get_freeze_count() <= frozen
    finally:
        if not foreign:
            gc.unfreeze()


def test_what_a_parse_builds_leaves_the_young_generation_untraversed() -> None:
    """A parse's tree lives as long as the run: it goes to the oldest generation at once,
    where no young collection traverses it, and a foreign freeze is left as it was."""
    from meshprov.heap import gc_paused

    if gc.get_freeze_count() or not gc.isenabled():
        pytest.skip("the heap is frozen or the collector off in this process")
    thresholds = gc.get_threshold()
    gc.set_threshold(10**7, 10, 10)  # no collection of its own moves anything during the test
    try:
        with gc_paused():
            tree = [{"block": [i, str(i)]} for i in range(1000)]
        oldest = {id(o) for o in gc.get_objects(generation=2)}
    finally:
        gc.set_threshold(*thresholds)
    assert id(tree) in oldest and id(tree[-1]) in oldest
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    gc.freeze()  # someone else's freeze: gc_paused neither thaws nor adds to it
    try:
        frozen = gc.get_freeze_count()
        with gc_paused():
            young = [{"block": [i]} for i in range(10)]
        assert 0 < gc.get_freeze_count() <= frozen
        assert id(young) not in {id(o) for o in gc.get_objects(generation=2)}
    finally:
        gc.unfreeze()
