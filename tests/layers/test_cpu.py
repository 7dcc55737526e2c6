"""The CPU facts that the layers' defaults read (`rnnkit.layers.cpu`)."""

import pytest

from rnnkit.layers import cpu

# As imported: the suite's conftest pins the layers' view of the machine.
WHOLE_STEPS_WHEN_SHARING = cpu.whole_steps_when_sharing


@pytest.mark.parametrize(
    "flags,whole",
    [
        ("fpu sse2 avx avx2 fma avx512f avx512bw avx512_bf16", True),  # EPYC, Zen 4
        ("fpu sse2 avx avx2 fma avx512f amx_bf16 amx_tile", True),  # Xeon, AMX
        ("fpu sse2 avx avx2 fma", False),  # EPYC, AVX2 only
        ("", True),  # unreadable, as off Linux: as with AVX-512
    ],
)
def test_loops_beside_another_run_whole_steps_on_avx512(flags, whole, monkeypatch):
    monkeypatch.setattr(cpu, "cpuinfo", lambda field: {"flags": flags}.get(field, ""))
    WHOLE_STEPS_WHEN_SHARING.cache_clear()
    try:
        assert WHOLE_STEPS_WHEN_SHARING() is whole
    finally:
        WHOLE_STEPS_WHEN_SHARING.cache_clear()


def test_cpuinfo_reads_a_field_or_answers_empty(tmp_path):
    fake = tmp_path / "cpuinfo"
    fake.write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC: 9R14\nflags\t\t: fpu avx2\n"
    )
    assert cpu.cpuinfo("model name", fake) == "AMD EPYC: 9R14"
    assert cpu.cpuinfo("flags", fake) == "fpu avx2"
    assert cpu.cpuinfo("bogomips", fake) == ""
    assert cpu.cpuinfo("flags", tmp_path / "missing") == ""
