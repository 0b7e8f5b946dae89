"""Keeping the cyclic garbage collector off the objects that parsing, plan and apply only read."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Leave every object alive now out of the collector's passes until the block ends.

    Plan and apply keep the configuration and the state (several objects per source token and
    per resource) alive throughout, and allocate as they go, so full collections keep
    traversing all of it: at 10,000 resources one pass takes over a second, and the time per
    object grows with the heap. Frozen, those objects are not traversed; what the block
    allocates is collected as usual, and the frozen objects are thawed (and collectable) after.

    ``gc.freeze`` is process-wide: when the collector is off, or something else has frozen
    objects, this does nothing.
    """
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a file is parsed (or its tree unpickled).

    A parse allocates a parse tree and a syntax tree of several objects per source token, all
    alive until the end and free of reference cycles. With the collector running, its passes
    over that growing heap cost more than parsing itself (1,000 zone blocks: 2.7 s CPU instead
    of 1.4 s) and grow faster than the file (5,000 zone blocks: 17 s instead of 7 s).

    Afterwards the new objects are moved to the oldest generation without a pass over them
    (``gc.freeze`` then ``gc.unfreeze`` only relinks the lists): left in the youngest, the
    next young collection would traverse the whole tree to free nothing (0.38 s of a
    5,000-zone no-op plan). Not when something else holds objects frozen: that is its to undo.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if not gc.get_freeze_count():
            gc.freeze()
            gc.unfreeze()
        gc.enable()
