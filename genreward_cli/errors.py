"""The two kinds of error a stage reports, and the exit codes they map to (see cli.py)."""


class GenrewardError(Exception):
    """A failure while running (exit code 1)."""

    exit_code = 1


class BadInput(GenrewardError):
    """Bad usage or bad input: a missing file, a wrong artifact, an unknown name (exit code 2)."""

    exit_code = 2
