"""Progress bars on stderr (rich), so stdout stays clean for --json.

Where stderr is no terminal (a pipe, a batch job's log), rich's Progress ends every bar with
a line break, which after a transient bar (that shows nothing there) is an empty line before
the stage's last line or its one-line error; :func:`_progress` ends only a bar it showed.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, the noun in the plural unless ``n`` is 1 (English ``-s``):
    ``counted(1, "episode")`` is ``"1 episode"``, ``counted(3, "random episode")`` is
    ``"3 random episodes"``."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def quoted(text: str, limit: int = 60) -> str:
    """``text`` quoted as ``repr`` does, cut to its first ``limit`` characters with ``...``
    before the closing quote when longer: a long prompt in a one-line report.
    ``quoted("pick up the fork")`` is ``"'pick up the fork'"``."""
    if len(text) <= limit:
        return repr(text)
    cut = repr(text[:limit])  # its own quotes: the whole text's may differ (`'` inside)
    return cut[:-1] + "..." + cut[-1]


LOG_WIDTH = 200  # columns of a report or kept bar written to a file or pipe


def console(stderr: bool = False):
    """A rich Console on stdout or stderr. Where that is no terminal (a batch job's log, a
    pipe) and ``COLUMNS`` is unset, it is ``LOG_WIDTH`` columns wide instead of rich's 80, so
    that tables and a kept bar's last line are written whole, not cut with an ellipsis."""
    import errno
    import os

    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich's own exits 1 at once (SystemExit, stdout onto /dev/null); the command
            # ends as `genreward ... | head` should instead: by SIGPIPE (cli.end_by_sigpipe)
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    out = _Console(stderr=stderr)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out = _Console(stderr=stderr, width=LOG_WIDTH)
    return out


def _progress(*columns, transient: bool):
    """A rich Progress on stderr that ends without rich's empty line on a non-terminal."""
    from rich.progress import Progress

    class _Progress(Progress):
        def stop(self) -> None:
            if self.disable:
                return
            self.live.stop()
            # on a non-terminal only a kept bar was written (its final state, unterminated)
            if not self.console.is_interactive and not self.console.is_jupyter \
                    and not self.live.transient:
                self.console.print()

    return _Progress(*columns, console=console(stderr=True), transient=transient)


LOG_EVERY = 60.0  # seconds between the progress lines written to a non-terminal


def _log_lines(progress, task, every: float | None = None) -> Callable[[], None]:
    """Where stderr is no terminal (a batch job's log), rich draws nothing until a bar ends:
    the returned function, called after each advance, writes one plain line (``DESCRIPTION:
    N/TOTAL (P%), M s`` and the status, if any) at most every ``every`` seconds (default
    ``LOG_EVERY``), so that a long stage shows in its log that it is alive and how far it is.
    On a terminal it does nothing."""
    import time

    if progress.console.is_terminal:
        return lambda: None
    every = LOG_EVERY if every is None else every
    last = [time.monotonic()]

    def log() -> None:
        now = time.monotonic()
        if now - last[0] < every:
            return
        last[0] = now
        t = progress.tasks[task]
        done = f"{t.completed:.0f}/{t.total:.0f} ({t.percentage:.0f}%)" if t.total else \
            f"{t.completed:.0f}"
        status = t.fields.get("status") or ""
        progress.console.print(f"{t.description}: {done}, {t.elapsed or 0:.0f} s"
                               + (f"  {status}" if status else ""), highlight=False,
                               markup=False)

    return log


@contextlib.contextmanager
def progress_bar(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; the bar shows rate and time left, on stderr."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with _progress(*columns, transient=True) as progress:
        task = progress.add_task(description, total=total)
        log = _log_lines(progress, task)

        def advance(n: int = 1) -> None:
            progress.advance(task, n)
            log()

        yield advance


@contextlib.contextmanager
def live_bar(total: int, description: str, done: int = 0) -> Iterator[Callable[..., None]]:
    """A progress bar with a live status line (rate, and e.g. the latest episode's figures);
    yields ``update(advance=0, status=None)``. On stderr."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(bar_width=16),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
    )
    with _progress(*columns, transient=False) as progress:
        task = progress.add_task(description, total=total, completed=done, status="")

        log = _log_lines(progress, task)

        def update(advance: int = 0, status: str | None = None) -> None:
            if status is None:
                progress.advance(task, advance)
            else:
                progress.update(task, advance=advance, status=status)
            log()

        yield update
