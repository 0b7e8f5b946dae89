"""Deeply nested input: parse and evaluate it on a thread with room for deep recursion.

The parser's tree builder and the evaluator recurse once per level of nesting, and Python
stops at 1,000 frames: 200 nested ``[``, 200 nested calls or 600 chained ``+`` are enough.
HCL accepts such input, so instead of rejecting it, a call that runs out of frames runs again
on a thread with a 256 MiB stack and a raised recursion limit. The retry costs nothing for
ordinary input, which never reaches it. Input that exhausts even that (tens of thousands of
levels) is reported as too deeply nested, with its file and line.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_STACK_BYTES = 256 * 1024 * 1024
_RECURSION_LIMIT = 30_000  # at most ~8 KiB of C stack per Python frame: inside the stack

_state = threading.local()
_limit_lock = threading.Lock()
_raised = 0  # deep calls running; the limit is restored when the last one ends


def in_deep_thread() -> bool:
    return getattr(_state, "deep", False)


def call_with_deep_stack(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on a thread with a large stack; re-raises what ``fn`` raises.

    A ``RecursionError`` from it means the input nests deeper than even that allows.
    """
    global _raised
    outcome: list = [None, None]

    def run() -> None:
        _state.deep = True
        try:
            outcome[0] = fn(*args)
        except BaseException as exc:  # handed to the caller's thread
            outcome[1] = exc

    with _limit_lock:
        if _raised == 0:
            _state_saved_limit[0] = sys.getrecursionlimit()
            sys.setrecursionlimit(max(_RECURSION_LIMIT, _state_saved_limit[0]))
        _raised += 1
        previous = threading.stack_size(_STACK_BYTES)
        try:
            worker = threading.Thread(target=run, name="meshprov-deep", daemon=True)
            worker.start()
        finally:
            threading.stack_size(previous)
    try:
        worker.join()
    finally:
        with _limit_lock:
            _raised -= 1
            if _raised == 0:
                sys.setrecursionlimit(_state_saved_limit[0])
    if outcome[1] is not None:
        raise outcome[1]
    return outcome[0]


_state_saved_limit = [sys.getrecursionlimit()]


def retry_deeper(fn: Callable[..., T], args: tuple, too_deep: Callable[[], Exception]) -> T:
    """``fn(*args)``; if it runs out of frames, again with a deep stack; then ``too_deep()``."""
    try:
        return fn(*args)
    except RecursionError:
        if in_deep_thread():
            raise
    try:
        return call_with_deep_stack(fn, *args)
    except RecursionError:
        raise too_deep() from None
