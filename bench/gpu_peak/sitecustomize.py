"""Loaded by every Python process started with this folder on PYTHONPATH (bench/
paper_pipeline_gpu.py puts it there for the pipeline's stages): when GENREWARD_PEAK_LOG is
set, the process appends one JSON line to that file as it exits, with its command line, its
start and end times (Unix seconds) and, when it used CUDA through torch,
torch.cuda.max_memory_allocated and max_memory_reserved (bytes) of device 0."""

import atexit
import json
import os
import sys
import time

_LOG = os.environ.get("GENREWARD_PEAK_LOG")
_START = time.time()


def _write() -> None:
    row = {"argv": sys.argv, "start": _START, "end": time.time(), "allocated": None,
           "reserved": None}
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_initialized():
            row["allocated"] = int(torch.cuda.max_memory_allocated(0))
            row["reserved"] = int(torch.cuda.max_memory_reserved(0))
    except Exception:  # a report must never change how the stage ends
        pass
    try:
        with open(_LOG, "a") as f:
            f.write(json.dumps(row) + "\n")
    except OSError:
        pass


if _LOG:
    atexit.register(_write)
