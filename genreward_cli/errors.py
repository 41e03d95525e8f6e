"""The two kinds of error a stage reports, and the exit codes they map to (see cli.py);
and the interrupts that stop a stage (SIGTERM's, and those a child process reported)."""

import signal


class GenrewardError(Exception):
    """A failure while running (exit code 1)."""

    exit_code = 1


class BadInput(GenrewardError):
    """Bad usage or bad input: a missing file, a wrong artifact, an unknown name (exit code 2)."""

    exit_code = 2


class ReportedInterrupt(KeyboardInterrupt):
    """Ctrl-C that a child `genreward` process has already reported (its ``Aborted!``), as
    a pipeline stage does: the parent ends by SIGINT too, without a second ``Aborted!``."""


class ReportedTermination(KeyboardInterrupt):
    """SIGTERM that a child `genreward` process has already reported (its one line, exit
    143), as a pipeline stage does: the parent exits 143 too, without a second line."""


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM: unwinds like Ctrl-C (every ``finally`` and
    ``except BaseException`` cleanup runs), then exits 143. A stage that keeps resumable
    state may set ``note`` (e.g. where its checkpoints are) for the one line reported."""

    exit_code = 128 + signal.SIGTERM
    note: str | None = None
