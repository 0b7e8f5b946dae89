"""How ``toset`` grows with the number of elements: 10,000 against 100,000 strings.

Goal: linear, so 100,000 strings take at most 12 times as long as 10,000 (the sort that keeps
a set's order is n log n, a little over 10x). Times are CPU seconds, best of ``--repeat``, so
other processes on a busy machine stretch them less.

    python bench/sets.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path

from meshprov.lang.functions import call_function


def toset_seconds(count: int, repeat: int) -> float:
    # duplicates included, as real lists have them: every tenth string appears twice
    strings = [f"zone-{i:06d}" for i in range(count)] + [
        f"zone-{i:06d}" for i in range(0, count, 10)
    ]
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        result = call_function("toset", [strings], Path("."))
        best = min(best, time.process_time() - start)
        assert len(result) == count
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    gc.set_threshold(100_000, 10, 10)  # as meshprov's CLI runs
    small = toset_seconds(10_000, args.repeat)
    large = toset_seconds(100_000, args.repeat)
    ratio = large / small
    print(f"toset  10,000 strings: {small:.4f} s")
    print(f"toset 100,000 strings: {large:.4f} s")
    print(f"ratio: {ratio:.1f}x (goal <= 12x): {'PASS' if ratio <= 12 else 'FAIL'}")


if __name__ == "__main__":
    main()
