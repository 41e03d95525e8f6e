"""Child processes end with their parent (genreward_cli/parent.py): a pipeline's stage and
collect's workers, when the parent is killed by SIGKILL and runs no cleanup."""

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="prctl(PR_SET_PDEATHSIG) is Linux's")

NO_PID = 2**22 + 1  # above Linux's largest pid_max: never a process


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, which no init may reap in a container, has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_child_whose_parent_has_ended_already_gets_the_signal_at_once():
    """The parent ended between the child's start and its prctl: the kernel would never
    send the signal, so the child sends it to itself."""
    code = ("import signal; from genreward_cli.parent import end_with_parent; "
            f"end_with_parent({NO_PID}, signal.SIGTERM); print('not ended')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == -signal.SIGTERM and r.stdout == "", (r.returncode, r.stdout, r.stderr)


def test_a_child_ends_when_its_parent_is_killed(tmp_path):
    """A parent killed by SIGKILL: its child, which called end_with_parent, gets SIGTERM."""
    ready = tmp_path / "child"
    child = ("import os, signal, sys, time; from genreward_cli.parent import end_with_parent; "
             "ok = end_with_parent(os.getppid(), signal.SIGTERM); "
             f"open({str(ready)!r}, 'w').write(f'{{os.getpid()}} {{ok}}'); time.sleep(120)")
    parent = (f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); "
              "time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", parent])
    try:
        assert wait_until(lambda: ready.exists() and ready.read_text(), 60), "child did not start"
        pid, ok = ready.read_text().split()
        assert ok == "True" and alive(int(pid))
        proc.kill()
        proc.wait()
        assert wait_until(lambda: not alive(int(pid)), 10), "the child outlived its parent"
    finally:
        proc.kill()
        if ready.exists() and alive(int(ready.read_text().split()[0])):
            os.kill(int(ready.read_text().split()[0]), signal.SIGKILL)


def kill_group(proc: subprocess.Popen) -> None:
    """Whatever of ``proc``'s session is left (a test that failed)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def start(argv: list, tmp) -> subprocess.Popen:
    """`genreward ARGV` in a new session, once it has begun writing ``tmp``."""
    proc = subprocess.Popen([sys.executable, "-m", "genreward_cli", *map(str, argv)],
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    if not wait_until(lambda: tmp.exists() or proc.poll() is not None, 180) or not tmp.exists():
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"{argv[0]} did not start writing {tmp.name}: {proc.stderr.read()}")
    return proc


def test_a_killed_pipeline_stops_its_stage_which_removes_its_output(tmp_path):
    """SIGKILL of the pipeline alone (the OOM killer, a scheduler's last resort) left its
    running stage to finish alone, holding its output's lock against a rerun. The stage now
    gets SIGTERM and stops as under `scancel`: its unfinished output removed."""
    out = tmp_path / "p"
    tmp = out / "expert.h5.tmp"
    proc = start(["pipeline", "--task", "reach-v3", "--out", out, "--episodes", 200], tmp)
    try:
        proc.kill()  # the pipeline alone
        proc.wait()
        assert wait_until(lambda: not tmp.exists(), 60), "the stage went on writing"
        # the stage's stderr is the pipeline's: its SIGTERM line, once the stage has ended
        _, stderr = proc.communicate(timeout=60)
        assert "terminated (SIGTERM); unfinished output removed" in stderr, stderr
        assert "Traceback" not in stderr and not (out / "expert.h5").exists(), stderr
    finally:
        kill_group(proc)


def test_collect_workers_end_with_a_killed_collect_without_tracebacks(tmp_path):
    """`collect --workers 2` killed by SIGKILL: each worker printed a BrokenPipeError
    traceback once it next wrote to the dead parent. They are now killed with it: stderr,
    which the workers share, closes at once and holds no traceback."""
    out, tmp = tmp_path / "eps.h5", tmp_path / "eps.h5.tmp"
    proc = start(["collect", "--task", "reach-v3", "--episodes", 200, "--max-steps", 50,
                  "--workers", 2, "--out", out], tmp)
    try:
        time.sleep(3)  # the workers stepping
        proc.kill()  # collect alone, not its process group
        _, stderr = proc.communicate(timeout=30)  # EOF once every worker has ended
        assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    finally:
        kill_group(proc)
