"""What the benchmarks report about the machine they ran on: the CPU's name
and its bfloat16 instructions, read from /proc/cpuinfo (Linux)."""

import platform


def cpuinfo(field):
    """The first `field` of /proc/cpuinfo ("" where there is none)."""
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.split(":")[0].strip() == field:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_name():
    """The CPU's model name, else what `platform` knows."""
    return cpuinfo("model name") or platform.processor() or platform.machine()


def bf16_flags():
    """The CPU's bfloat16 instructions (AVX-512 BF16, AMX), if any."""
    flags = cpuinfo("flags").split()
    return [f for f in flags if f in ("avx512_bf16", "amx_bf16")]
