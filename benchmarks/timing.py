"""Interleaved timing shared by the benchmarks: each repetition runs every
contender once, so slow spells of a shared machine hit them all alike."""

import statistics
import time


def interleaved_medians(contenders, repeats):
    """`{name: median seconds}` of `repeats` interleaved runs, after one
    warm-up run each (tracing and compilation are not timed)."""
    for run in contenders.values():
        run()
    seconds = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in seconds.items()}
