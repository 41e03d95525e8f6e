import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys
import numpy as np
from genreward_cli.memory import keep_freed_memory

class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                               "usmblks", "fsmblks", "uordblks", "fordblks",
                                               "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
applied = keep_freed_memory() if sys.argv[1] == "keep" else False
block = np.ones(64 << 20, np.uint8)  # 64 MiB, above glibc's largest mmap threshold
print(applied, libc.mallinfo2().hblkhd)
"""


def probe(mode: str, env=None):
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True, env=env).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_keep_freed_memory_serves_large_blocks_from_the_heap():
    import os

    applied, mapped = probe("plain")
    assert not applied and mapped >= 64 << 20  # glibc's default: the block is mmapped
    applied, mapped = probe("keep")
    assert applied and mapped < 64 << 20  # now it comes from the heap
    applied, mapped = probe("keep", {**os.environ, "GENREWARD_MALLOC": "default"})
    assert not applied and mapped >= 64 << 20
