"""SIGTERM (a batch system's time limit) and Ctrl-C stop a stage and remove its unfinished
output: exit 143 with one line for SIGTERM, `Aborted!` and exit 1 for Ctrl-C."""

import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from genreward_cli import store
from genreward_cli.cli import Terminated, _on_sigterm, cli


@pytest.fixture
def stop_handlers():
    """The SIGTERM handler `genreward` (main) installs, in this process for the test; and
    Python's own SIGINT handler, which a background job (`make test &`) starts without:
    SIGINT is ignored there."""
    old = signal.signal(signal.SIGTERM, _on_sigterm)
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGTERM, old)
    signal.signal(signal.SIGINT, old_int)


@pytest.mark.parametrize("signum, code, line", [
    (signal.SIGTERM, 143, "Error: terminated (SIGTERM); unfinished output removed"),
    (signal.SIGINT, 1, "Aborted!"),
])
def test_a_signal_mid_stage_removes_the_unfinished_output(tmp_path, monkeypatch,
                                                          stop_handlers, signum, code, line):
    import genreward_cli.envs.rollout as rollout

    out = tmp_path / "new" / "deeper" / "eps.h5"  # folders the stage makes
    seen = []

    def signalled(*a, on_step, **k):
        on_step(1)
        seen.append((out.parent / "eps.h5.tmp").exists())  # the write under way
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler raises here
        raise AssertionError("not interrupted")
        yield

    monkeypatch.setattr(rollout, "collect", signalled)
    result = CliRunner().invoke(cli, ["collect", "--episodes", "1", "--out", str(out)])
    assert seen == [True], result.output
    assert result.exit_code == code, result.stderr
    assert result.stderr.strip().splitlines()[-1] == line
    assert not list(tmp_path.iterdir()), "no output, no OUT.tmp, no empty folder it made"


def test_a_model_folder_stopped_midway_leaves_no_folder_it_made(tmp_path):
    """`init-model --out new/deep/model` stopped while it writes: no PATH.tmp, no new/."""
    (tmp_path / "kept").mkdir()
    for path in (tmp_path / "new" / "deep" / "model", tmp_path / "kept" / "model"):
        with pytest.raises(Terminated):
            with store.replacing_dir(path) as tmp:
                (tmp / "config.json").write_text("{}")
                raise Terminated()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["kept"]


def test_replacing_removes_its_tmp_when_interrupted(tmp_path):
    path = tmp_path / "checkpoint.pt"
    with pytest.raises(Terminated):
        with store.replacing(path) as tmp:
            tmp.write_bytes(b"half")
            raise Terminated()
    assert not list(tmp_path.iterdir())
    with store.replacing(path) as tmp:
        tmp.write_bytes(b"whole")
    assert path.read_bytes() == b"whole" and not tmp.exists()


def signalled_while_writing(argv: list, tmp, signum: int, after: float, group: bool = True,
                            wait: float = 120) -> tuple[int, str]:
    """Run `genreward ARGV` in a new session (SIGINT at its default, as in a terminal, even
    when the tests run in a background job, which ignores SIGINT), send ``signum`` to its
    process group (or, without ``group``, to it alone) ``after`` seconds once it has begun
    writing ``tmp``; return its exit status and stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "genreward_cli", *map(str, argv)],
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 180
        while not tmp.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert tmp.exists(), f"{argv[0]} did not start writing {tmp.name}"
        time.sleep(after)
        os.killpg(proc.pid, signum) if group else proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=wait)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, stderr


def test_sigterm_to_a_genreward_process(tmp_path):
    """The real thing: `kill -TERM` while `collect` writes (about 10 s: importing torch)."""
    out, tmp = tmp_path / "eps.h5", tmp_path / "eps.h5.tmp"
    rc, stderr = signalled_while_writing(["collect", "--task", "reach-v3", "--episodes", 500,
                                          "--max-steps", 50, "--out", out], tmp,
                                         signal.SIGTERM, after=1, group=False)
    assert rc == 143, stderr
    assert stderr.strip().splitlines()[-1] == "Error: terminated (SIGTERM); unfinished output removed"
    assert not tmp.exists() and not out.exists()


def test_ctrl_c_to_collect_with_workers_is_one_line(tmp_path):
    """A terminal's Ctrl-C reaches the whole process group, the workers of `collect
    --workers 2` too: `Aborted!` alone, the process ends by SIGINT, no output left (the
    workers ignore SIGINT and are closed by the parent, rather than each printing its
    KeyboardInterrupt)."""
    out, tmp = tmp_path / "eps.h5", tmp_path / "eps.h5.tmp"
    rc, stderr = signalled_while_writing(["collect", "--task", "reach-v3", "--episodes", 200,
                                          "--max-steps", 50, "--workers", 2, "--out", out],
                                         tmp, signal.SIGINT, after=3)  # workers stepping
    assert rc == -signal.SIGINT, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip() and "\r" not in ln]
    assert lines[-1] == "Aborted!", stderr
    assert "Traceback" not in stderr and "Worker" not in stderr, stderr
    assert "Warning" not in stderr and "\x1b[" not in stderr, stderr
    assert not tmp.exists() and not out.exists()


@pytest.mark.parametrize("group", [True, False])
@pytest.mark.parametrize("signum, code, line", [
    (signal.SIGINT, -signal.SIGINT, "Aborted!"),
    (signal.SIGTERM, 143, "Error: terminated (SIGTERM); unfinished output removed"),
])
def test_a_signal_to_a_pipeline_is_reported_once(tmp_path, group, signum, code, line):
    """Ctrl-C or `scancel` (to the process group) reaches the pipeline and its running
    stage: one line (it was one from each), the stage's exit, no output left. A signal to
    the pipeline alone is passed on to the stage as the same signal (SIGINT was SIGTERM)."""
    out = tmp_path / "p"
    tmp = out / "expert.h5.tmp"
    rc, stderr = signalled_while_writing(["pipeline", "--task", "reach-v3", "--out", out,
                                          "--episodes", 200], tmp, signum, after=1,
                                         group=group)
    assert rc == code, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip() and "\r" not in ln]
    assert lines[-1] == line and stderr.count(line) == 1, stderr
    assert "Traceback" not in stderr, stderr
    assert not tmp.exists() and not (out / "expert.h5").exists()


@pytest.mark.parametrize("after", [0.4, 0.7, 1.0])
def test_ctrl_c_while_the_command_loads_is_aborted_not_a_traceback(tmp_path, after):
    """The first seconds of every command import torch and diffusers: a Ctrl-C then printed
    Python's KeyboardInterrupt traceback from an import or, landing in torch's pybind11
    initialisation, "terminate called after throwing an instance of
    'pybind11::error_already_set'" and an abort (SIGABRT). At several moments of the load:
    `Aborted!` and an end by SIGINT."""
    proc = subprocess.Popen([sys.executable, "-m", "genreward_cli", "tasks"],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(after)  # Python runs; the imports take seconds more
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGINT, stderr
    assert stderr == "Aborted!\n" and stdout == "", stderr


INTERRUPTED = """
import os, signal, sys
import genreward_cli.envs.rollout as rollout
from genreward_cli.cli import main


def collect(*a, on_step, **k):
    on_step(1)
    os.killpg(0, signal.SIGINT)  # a terminal's Ctrl-C: the shell running the loop gets it too
    raise AssertionError("not interrupted")
    yield


rollout.collect = collect
sys.argv = ["genreward", "collect", "--episodes", "1", "--out", sys.argv[1]]
main()
"""


def test_ctrl_c_stops_a_shell_loop_over_seeds(tmp_path):
    """After `Aborted!` the stage dies of SIGINT (it exited 1), so a shell script's loop
    over seeds stops at the first Ctrl-C: bash goes on after a command that exits 1 on
    SIGINT, taking the signal as handled."""
    script = ('for seed in 1 2; do "$0" -c "$1" "$2/eps$seed.h5"; echo "exit $?"; done; '
              'echo "loop finished"')
    proc = subprocess.run(["bash", "-c", script, sys.executable, INTERRUPTED, str(tmp_path)],
                          capture_output=True, text=True, timeout=240, start_new_session=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"},
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.returncode == -signal.SIGINT, (proc.stdout, proc.stderr)
    assert proc.stdout == "", proc.stdout  # neither the second seed nor the loop's end
    assert [ln for ln in proc.stderr.splitlines() if ln.strip()] == ["Aborted!"], proc.stderr
    assert not list(tmp_path.iterdir())


# the end of each script below: `genreward collect --out ARGV[1]` through main(), with its
# `collect` stage in place of the rollouts, signalled with ARGV[2]
UNDER_MAIN = """

SIGNAL = getattr(signal, sys.argv[2])
rollout.collect = collect
sys.argv = ["genreward", "collect", "--episodes", "1", "--out", sys.argv[1]]
main()
"""


IN_CTYPES = """
import ctypes, os, signal, sys, time
import genreward_cli.envs.rollout as rollout
from genreward_cli.cli import main


class Argument:  # the signal lands while ctypes converts an argument (PyOpenGL, MuJoCo's EGL)
    @property
    def _as_parameter_(self):
        os.kill(os.getpid(), SIGNAL)
        time.sleep(5)  # the handler raises here


def collect(*a, on_step, **k):
    on_step(1)
    ctypes.CDLL(None).abs(Argument())
    raise AssertionError("not interrupted")
    yield
""" + UNDER_MAIN


IN_A_FINALISER = """
import signal, sys, time
import genreward_cli.envs.rollout as rollout
from genreward_cli.cli import main


class Finalised:  # the garbage collector runs its finaliser, where the handler then raises
    def __del__(self):
        signal.raise_signal(SIGNAL)
        for _ in range(100_000):
            pass


def collect(*a, on_step, **k):
    on_step(1)
    Finalised()
    for _ in range(50):
        time.sleep(0.01)
    raise AssertionError("not interrupted")
    yield
""" + UNDER_MAIN


# Where Python turns the exception that a signal handler raises into something else:
# - ctypes, while it converts an argument, makes it ArgumentError ("argument 1:
#   KeyboardInterrupt: "): a Ctrl-C there was reported as a failure, exit 1, followed by
#   half-made GL objects' finaliser tracebacks;
# - a finaliser or a weakref callback run by the garbage collector swallows it ("Exception
#   ignored in"): the stop was lost, and `collect` ran on and wrote its output (exit 0).
@pytest.mark.parametrize("script", [IN_CTYPES, IN_A_FINALISER], ids=["ctypes", "finaliser"])
@pytest.mark.parametrize("signame, code, line", [
    ("SIGINT", -signal.SIGINT, "Aborted!"),
    ("SIGTERM", 143, "Error: terminated (SIGTERM); unfinished output removed"),
])
def test_a_signal_where_python_hides_it_is_still_the_signal(tmp_path, script, signame, code,
                                                             line):
    """The command still ends as the signal says, with its one line and no output."""
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "eps.h5"), signame],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"},
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.returncode == code, proc.stderr
    assert [ln for ln in proc.stderr.splitlines() if ln.strip()] == [line], proc.stderr
    assert not list(tmp_path.iterdir())


HALF_MADE = """
import os, signal, sys
import genreward_cli.envs.rollout as rollout
from genreward_cli.cli import main


class Context:  # like MuJoCo's GLContext: its finaliser needs what __init__ sets last
    def __init__(self):
        os.kill(os.getpid(), signal.SIGTERM)  # the handler raises here, before _context is set
        self._context = 1

    def __del__(self):
        self._context


def collect(*a, **k):  # kept alive to exit, as an env keeps its renderer
    keep.append(Context.__new__(Context))
    keep[-1].__init__()
    yield


keep = []
rollout.collect = collect
sys.argv = ["genreward", "collect", "--episodes", "1", "--out", sys.argv[1]]
main()
"""


def test_sigterm_inside_a_constructor_still_ends_with_one_line(tmp_path):
    """SIGTERM landing in an object's __init__ leaves it half made; its finaliser's error at
    exit is not printed after the one line (it was, from MuJoCo's GLContext, mid-`collect`)."""
    proc = subprocess.run([sys.executable, "-c", HALF_MADE, str(tmp_path / "eps.h5")],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "Error: terminated (SIGTERM); unfinished output removed"], proc.stderr


@pytest.mark.parametrize("stop_at, kept", [(1, False), (3, True)])
def test_a_stopped_finetune_leaves_its_checkpoints_or_nothing(tmp_path, monkeypatch,
                                                             stop_handlers, stop_at, kept):
    """SIGTERM before the first checkpoint leaves no (empty) output folder; after one, the
    folder and its checkpoints stay for --resume."""
    import numpy as np

    from genreward_cli.video.finetune import VideoFinetuner
    from helpers import fake_episode, write_episodes

    videos = write_episodes(tmp_path / "e.h5", [fake_episode(np.random.default_rng(0), T=4,
                                                             size=64)])
    step = VideoFinetuner.train_step

    def stopping(self, data):
        if self.step + 1 == stop_at:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises here
        return step(self, data)

    monkeypatch.setattr(VideoFinetuner, "train_step", stopping)
    out = tmp_path / "new" / "ft"  # with a folder above it that the run makes
    result = CliRunner().invoke(cli, ["finetune", "--videos", str(videos), "--model", "tiny",
                                      "--steps", "5", "--checkpoint-every", "2", "--out",
                                      str(out)])
    assert result.exit_code == 143, result.stderr
    if kept:
        assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-0000002.pt"]
        assert "rerun with --resume" in result.stderr
    else:
        assert not (tmp_path / "new").exists(), list((tmp_path / "new").iterdir())


@pytest.mark.parametrize("args", [["tasks"], ["tasks", "--json"]], ids=["table", "json"])
def test_a_reader_that_stops_reading_ends_the_command_as_sigpipe_quietly(args):
    """`genreward tasks | head -3`: the writes after head has gone raised BrokenPipeError,
    reported as `Error: BrokenPipeError ...` and exit 1 (rich's table: exit 1 silently). It
    ends now as `yes | head` does, by SIGPIPE with nothing on stderr. The reader is gone
    before anything is written, so every write fails whatever the timing."""
    proc = subprocess.Popen([sys.executable, "-m", "genreward_cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    proc.stdout.close()  # the only reader: the pipe's write end now fails
    stderr = proc.stderr.read()
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGPIPE and stderr == "", (proc.returncode, stderr)
