"""How every `genreward` process uses the C allocator on Linux.

glibc hands each freed block larger than its mmap threshold (32 MiB at most) back to the
kernel, so a training update that allocates hundreds of MiB of activations maps them afresh,
and the kernel zero-fills every page, on each update. On the 2-core CPU a DreamerV3 S update
spent about a third of its time in the kernel that way: `bench/agent.py --preset S` took 8.2 s
per update with glibc's defaults and 5.2 s with freed memory kept in the heap, which is what
``keep_freed_memory`` sets (the same as running with ``MALLOC_MMAP_MAX_=0`` and a 2 GiB
``MALLOC_TRIM_THRESHOLD_``). The price is a larger resident size: 3.8 GiB instead of 3.2 GiB
at peak for that benchmark. ``GENREWARD_MALLOC=default`` leaves glibc's settings alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Serve every allocation from the heap and keep up to 2 GiB of freed memory there.

    Returns whether the setting was applied: only with glibc, and not when
    ``GENREWARD_MALLOC=default``. Elsewhere the allocator is left as it is (it changes speed,
    never results).
    """
    if os.environ.get("GENREWARD_MALLOC") == "default" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # another C library (musl, ...)
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
