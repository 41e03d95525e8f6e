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


REPLAYS = """
import numpy as np
from genreward_cli.agent.replay import Replay
from genreward_cli.memory import keep_freed_memory

assert keep_freed_memory()
for _ in range(3):
    replay = Replay(100_000, (64, 64, 3), 4)  # 1.2 GB of frames
    replay.add(np.full((64, 64, 3), 7, np.uint8), np.zeros(4, np.float32), 0.0, True, False)
    assert replay.image[0].max() == 7 and replay.image[1:1000].max() == 0
    above = np.ones(10 << 20, np.uint8)  # allocated after it: the heap cannot shrink below this
    del replay
# this process's peak (ru_maxrss would carry over the parent's peak across exec)
print(next(int(line.split()[1]) << 10 for line in open("/proc/self/status") if line.startswith("VmHWM")))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_replay_buffers_stay_out_of_the_kept_heap():
    """Three 1.2 GB replays in one process that keeps freed memory: none becomes resident.

    From the heap, the second replay would reuse the first's freed block, which calloc clears
    in full, making all of it resident."""
    peak = int(subprocess.run([sys.executable, "-c", REPLAYS], capture_output=True, text=True,
                              check=True).stdout)
    assert peak < 1 << 30, f"peak resident {peak / 2**30:.2f} GiB"
