"""What CPU this is, in the terms that decide the agent's speed: its model, the vector
instruction set PyTorch's kernels use, and whether it has native bfloat16 arithmetic.

Speed figures name the machine they came from (``describe()``), and ``--agent precision=bf16``
warns on a CPU without native bf16, where it is several times slower than fp32 instead of
faster.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache

# Instruction-set flags of /proc/cpuinfo that give bfloat16 arithmetic in hardware: the
# AVX-512 BF16 dot products (Cooper Lake, Zen 4 and later) and Intel AMX tiles (Sapphire
# Rapids and later). oneDNN and ATen use these for bf16 matrix products and convolutions;
# without them bf16 is converted to fp32 around every kernel.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")

# Measured at the S preset on a 2-core AMD EPYC with AVX2 only: one fp32 update 26-42 s, one
# bf16 update 214 s under the same load (bench/RESULTS.md, "bf16 without native bf16").
NO_BF16_SLOWDOWN = "about 5x slower than fp32"


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (Linux), or an empty set where unreadable."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``model name`` of /proc/cpuinfo), else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def native_bf16() -> bool | None:
    """True when the CPU has bfloat16 instructions (``NATIVE_BF16_FLAGS``), False when it
    has none, None when its flags cannot be read (not Linux)."""
    flags = cpu_flags()
    if not flags:
        return None
    return any(f in flags for f in NATIVE_BF16_FLAGS)


def kernel_isa() -> str:
    """The instruction set PyTorch's CPU kernels dispatch to (``AVX2``, ``AVX512``, ...), as
    limited by ``ATEN_CPU_CAPABILITY``; ``ONEDNN_MAX_CPU_ISA`` is appended when set."""
    import torch

    isa = torch.backends.cpu.get_cpu_capability()
    onednn = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return f"{isa}, oneDNN max {onednn}" if onednn else isa


def describe() -> str:
    """One line naming the CPU for speed figures, e.g.
    ``AMD EPYC; kernels AVX2; no native bf16; 2 threads``."""
    import torch

    bf16 = {True: "native bf16 (" + ", ".join(f for f in NATIVE_BF16_FLAGS if f in cpu_flags())
            + ")", False: "no native bf16", None: "bf16 support unknown"}[native_bf16()]
    avx512 = sorted(f for f in cpu_flags() if f.startswith("avx512"))
    isa = f"kernels {kernel_isa()}"
    if avx512:
        isa += f" (CPU has {len(avx512)} AVX-512 extensions)"
    return f"{cpu_model()}; {isa}; {bf16}; {torch.get_num_threads()} threads"


def bf16_warning(device: str) -> str | None:
    """The one-line warning for bf16 compute on ``device`` (``cpu``/``cuda``) where the CPU
    lacks bf16 instructions, or None when there is nothing to say."""
    if str(device).split(":")[0] != "cpu" or native_bf16() is not False:
        return None
    return (f"precision=bf16 on {cpu_model()}, which has no bf16 instructions "
            f"({'/'.join(NATIVE_BF16_FLAGS)}): bf16 is emulated there, {NO_BF16_SLOWDOWN} "
            f"(measured at the S preset on an AVX2-only CPU); use precision=fp32")
