"""A child process that ends when the process that started it ends, however that ends.

`pipeline` runs each stage as a `genreward` process, and `collect --workers` runs one
environment per worker process. A parent killed by SIGKILL (or by the OOM killer, or a
node's scheduler at its time limit) runs no cleanup: its child went on alone, a stage to its
end holding its output's lock, a worker into a BrokenPipeError traceback. Linux's
``prctl(PR_SET_PDEATHSIG)`` has the kernel send the child a signal when its parent ends; a
stage then stops as on SIGTERM (unfinished output removed, checkpoints kept), a worker ends.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

# The environment variable through which `pipeline` gives its stage processes its pid.
PARENT_PID_VAR = "GENREWARD_PARENT_PID"


def end_with_parent(parent_pid: int, signum: int = signal.SIGTERM) -> bool:
    """Have the kernel send this process ``signum`` when its parent ends; if the parent
    (``parent_pid``, the pid that started this process) has ended already, send it now.

    Call it from the main thread, early in the child. Linux only (``prctl``); elsewhere it
    does nothing and returns False, as where libc cannot be loaded. Returns True once set.
    The signal goes when the *thread* that started the child ends, so the parent starts its
    children from its main thread.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent_pid:  # the parent ended before the prctl: re-parented already
        os.kill(os.getpid(), signum)
    return True


def end_with_pipeline() -> bool:
    """In a stage process that `pipeline` started (its pid in ``GENREWARD_PARENT_PID``):
    :func:`end_with_parent` with SIGTERM, which the stage handles as ``scancel`` does. The
    variable is removed, so that processes the stage starts do not inherit it. Returns
    whether it was set."""
    pid = os.environ.pop(PARENT_PID_VAR, None)
    if not pid or not pid.isdigit():
        return False
    return end_with_parent(int(pid), signal.SIGTERM)
