"""What the time loops' defaults read from the CPU: its instruction set.

The fastest way to run a step differs between CPUs, not only between sizes,
so a default measured on one CPU can be wrong on another (see
`whole_steps_when_sharing`).
"""

import functools


def cpuinfo(field, path="/proc/cpuinfo"):
    """The first `field` of /proc/cpuinfo ("" where there is none, as off
    Linux)."""
    try:
        with open(path) as file:
            for line in file:
                if line.split(":")[0].strip() == field:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


@functools.cache
def whole_steps_when_sharing():
    """Whether an inference loop that shares the cores with another one (the
    other direction of `rnnkit.layers.Bidirectional`, or the other half of
    a batch, `batch_halves`) runs each step's recurrent matmul for all gates
    at once rather than one gate per matmul: True on CPUs with AVX-512
    (`avx512f`), and where the flags cannot be read.

    Measured at B=64, T=100, H=128 on 2 cores, traced calls against Keras:
    with AVX-512, the two loops side by side ran best with the fewest ops per
    step. On an AMD EPYC with AVX-512, rnnkit's bidirectional GRU and LSTM
    ran 1.08x Keras's with all gates at once and 0.92-0.93x gate by gate in
    halves; a lone LSTM run in halves 1.58-1.60x Keras's with all gates at
    once and 1.44x gate by gate. On an Intel Xeon with AMX, all gates at
    once ran the bidirectional LSTM 14-22% and the GRU 4-7% faster. On an
    AMD EPYC with AVX2 only, the opposite: the bidirectional layers ran
    1.29-1.50x Keras's gate by gate in halves, 1.07-1.09x with all gates at
    once.
    """
    flags = cpuinfo("flags").split()
    return not flags or "avx512f" in flags
