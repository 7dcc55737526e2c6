"""What the benchmarks report about the machine they ran on: the CPU's name
and its AVX-512 and bfloat16 instructions, read from /proc/cpuinfo (Linux)."""

import platform

from rnnkit.layers.cpu import cpuinfo


def cpu_name():
    """The CPU's model name, else what `platform` knows."""
    return cpuinfo("model name") or platform.processor() or platform.machine()


def bf16_flags():
    """The CPU's bfloat16 instructions (AVX-512 BF16, AMX), if any."""
    flags = cpuinfo("flags").split()
    return [f for f in flags if f in ("avx512_bf16", "amx_bf16")]


def vector_flags():
    """The CPU's widest vector instructions, which the layers' defaults read
    (`rnnkit.layers.cpu`): AVX-512, else AVX2, else none."""
    flags = cpuinfo("flags").split()
    return next((f for f in ("avx512f", "avx2") if f in flags), "none")
