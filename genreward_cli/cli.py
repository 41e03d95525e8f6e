"""The `genreward` command: a click group of pipeline stages that hand over HDF5 files.

Error mapping: bad usage or bad input (BadInput, click's usage errors) exits 2, a failure
while running exits 1; either prints one line on stderr, with the traceback only under
``--debug`` (or GENREWARD_DEBUG=1). Ctrl-C prints ``Aborted!`` and the process then ends
by SIGINT (status 130 in a shell; see :func:`main`); SIGTERM (what a batch system sends at
its time limit, or ``scancel``) exits 143 (128 + 15) with one line.
Both unwind the stage like an error, so it removes its unfinished output (``OUT.tmp``).
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
import warnings

import click

from genreward_cli import __version__
from genreward_cli.errors import (  # Terminated: imported from here too
    GenrewardError, ReportedInterrupt, ReportedTermination, Terminated,
)
from genreward_cli.options import DEBUG_KEY, debug_option
from genreward_cli.store.provenance import COMMAND_ARGS


class _Reported(click.ClickException):
    """A one-line error with the exit code of the error it reports."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def _quiet_unraisable(unraisable) -> None:
    """``sys.unraisablehook`` once a SIGTERM or Ctrl-C is reported: finalisers' errors go
    unprinted."""


# SIGINT and SIGTERM received by this process during the command (``StageGroup`` clears it)
_signals: list[int] = []


def _on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
    _signals.append(signal.SIGTERM)
    raise Terminated()


def _on_sigint(signum, frame):
    """Python's own SIGINT handler (raise KeyboardInterrupt), recording the interrupt."""
    _signals.append(signal.SIGINT)
    raise KeyboardInterrupt


def _redeliver_stop(unraisable) -> None:
    """``sys.unraisablehook`` during a command: a stop that Python had to swallow is sent
    to the main thread again.

    A signal handler runs wherever the main thread is at the time, which may be a finaliser
    or a weakref callback that the garbage collector runs (``weakref.py``'s ``remove``).
    Python cannot propagate an exception from there: it prints ``Exception ignored in``
    and goes on, so without this a Ctrl-C or SIGTERM could be lost and the command ran on
    to its end (exit 0). Here the same signal is simulated again
    (:func:`_thread.interrupt_main`) from a timer thread 10 ms later, once this hook has
    returned (from inside the hook it would be raised in the hook, and swallowed again); if
    that lands in a finaliser too, this runs again. Other unraisable errors are printed as
    Python does."""
    kind = unraisable.exc_type
    if kind is not None and issubclass(kind, KeyboardInterrupt) and _signals:
        signum = signal.SIGTERM if issubclass(kind, Terminated) else signal.SIGINT
        if signum == signal.SIGTERM:  # its handler made the next SIGTERM kill at once
            signal.signal(signal.SIGTERM, _on_sigterm)
        resend = threading.Timer(0.01, _thread.interrupt_main, args=(signum,))
        resend.daemon = True
        resend.start()
        return
    sys.__unraisablehook__(unraisable)


def install_stop_handlers() -> None:
    """What :func:`main` installs before a command: SIGTERM raises :class:`Terminated`,
    Ctrl-C raises KeyboardInterrupt (recorded, unless SIGINT is ignored, as in a
    background job), and a stop swallowed in a finaliser is raised again
    (:func:`_redeliver_stop`)."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when ignored
        signal.signal(signal.SIGINT, _on_sigint)
    sys.unraisablehook = _redeliver_stop


_ARGS_TOKEN = "genreward.args_token"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class StageGroup(click.Group):
    """Maps exceptions from stages to one-line errors and exit codes, and keeps the command
    line for the provenance of what the stages write."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        _signals.clear()  # a command run again in one process (tests) starts unsignalled
        ctx.meta[_ARGS_TOKEN] = COMMAND_ARGS.set(tuple(args))
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return self._invoke(ctx)
        finally:
            token = ctx.meta.pop(_ARGS_TOKEN, None)
            if token is not None:
                COMMAND_ARGS.reset(token)

    def _invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as e:
            # one line, as every other error: click's own adds the usage and a help hint
            if type(e).__name__ == "NoArgsIsHelpError" or ctx.meta.get(DEBUG_KEY):
                raise
            path = (e.ctx or ctx).command_path.split()[1:]  # after the program's own name
            where = " ".join(["genreward", *path])
            raise _Reported(f"{_one_line(e.format_message())} (see {where} --help)",
                            e.exit_code) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except GenrewardError as e:
            if ctx.meta.get(DEBUG_KEY):
                raise
            if _signals:  # e.g. a pipeline's stage that the same Ctrl-C ended as it started
                self._stopped(_signals[-1])
            raise _Reported(_one_line(e), e.exit_code) from None
        except Terminated as e:
            self._stopped(signal.SIGTERM, e.note)
        except ReportedTermination:  # a stage process printed the SIGTERM line: exit as it did
            sys.unraisablehook = _quiet_unraisable
            raise click.exceptions.Exit(Terminated.exit_code) from None
        except ReportedInterrupt:  # a stage process printed `Aborted!`: end as it did
            _signals.append(signal.SIGINT)
            raise click.exceptions.Exit(1) from None
        except KeyboardInterrupt as e:
            self._stopped(signal.SIGINT, getattr(e, "note", None))
        except Exception as e:  # a failure while running: exit 1
            if isinstance(e, BrokenPipeError) and stdout_gone():  # `genreward tasks | head`
                end_by_sigpipe()
            if ctx.meta.get(DEBUG_KEY):
                raise
            if _signals:  # the signal, raised inside C code that made it another error
                self._stopped(_signals[-1])  # (ctypes: "ArgumentError: argument 2: Keyb...")
            msg = f"{type(e).__name__}: {_one_line(e)} (rerun with --debug for the traceback)"
            raise _Reported(msg, 1) from None

    @staticmethod
    def _stopped(signum: int, note: str | None = None):
        """Report a stop by ``signum``: SIGTERM's one line (exit 143), Ctrl-C's `Aborted!`
        (after ``note``, when the stage left one).

        The signal can land inside any constructor (e.g. MuJoCo's GLContext before it holds
        its context): the finaliser of such a half-made object then fails at exit, and its
        traceback would follow the line reported, so finalisers' errors go unprinted."""
        sys.unraisablehook = _quiet_unraisable
        if signum == signal.SIGTERM:
            raise _Reported("terminated (SIGTERM); unfinished output removed"
                            + (f"; {note}" if note else ""), Terminated.exit_code) from None
        if note:  # e.g. where a stopped run stands, on the line before `Aborted!`
            click.echo(note, err=True)
        raise click.Abort() from None


def stdout_gone() -> bool:
    """Whether stdout is a pipe whose reader has ended (``genreward tasks | head -3``):
    the kernel reports POLLERR on a pipe's write end once no reader holds it. False where
    stdout has no file descriptor (tests) or cannot be polled."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def end_by_sigpipe() -> None:
    """End quietly, as a command-line tool whose reader has gone does (``yes | head``): by
    SIGPIPE (141 in a shell), with nothing more written. Python ignores SIGPIPE, so each write
    raised BrokenPipeError instead, which was reported as a failure (exit 1), and the flush of
    stdout at exit printed another. Called once the command has unwound (its outputs are
    complete or removed)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the exit's flush then goes nowhere
    except (OSError, ValueError):
        pass
    sys.stderr.flush()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)


def _format_warning(message, category, filename, lineno, line=None):
    return f"Warning: {message}\n"


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=StageGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="genreward")
@debug_option
def cli():
    """genreward: pretrained video diffusion models as goal-driven rewards for RL.

    Each stage reads files, writes one HDF5 artifact, and runs alone (on its own node if you
    like). Quickstart on a CPU:

    \b
      genreward tasks                                  # the 50 Meta-World tasks
      genreward collect --task pick-place-v3 --policy expert --episodes 5 --out expert.h5
      genreward collect --task pick-place-v3 --policy random --episodes 5 --out random.h5
      genreward inspect expert.h5 --video ep0.mp4      # tree, provenance, a video
      genreward init-model --preset tiny --out models/tiny
      genreward finetune --videos expert.h5 --model models/tiny --steps 200 --out models/ft
      genreward generate --task pick-place-v3 --model models/ft --out goal_video.h5
      genreward select-frame goal_video.h5 --clip-model tiny --out goal_frame.h5
      genreward encode-goal goal_video.h5 goal_frame.h5 --image-encoder tiny --out goal.h5
      genreward train-fb random.h5 expert.h5 goal.h5 --z-dim 64 --hidden-dim 128 --steps 2000 --out fb.h5
      genreward score-reward expert.h5 random.h5 --goal goal.h5 --fb fb.h5 --out score.h5

    Exit codes: 0 success, 2 bad usage or input, 1 failure while running, 143 SIGTERM;
    after Ctrl-C (`Aborted!`) the process ends by SIGINT (130 in a shell), and when a reader
    of its output stops early (`| head`) by SIGPIPE (141).
    """
    warnings.formatwarning = _format_warning


def _register() -> None:
    from genreward_cli.commands import (
        collect, encode_goal, evaluate, finetune, generate, import_videos, init_model, inspect,
        pipeline, score_reward, select_frame, tasks, train_agent, train_fb, train_video_model,
    )

    cli.add_command(collect.collect)
    cli.add_command(import_videos.import_videos)
    cli.add_command(finetune.finetune)
    cli.add_command(init_model.init_model)
    cli.add_command(generate.generate)
    cli.add_command(select_frame.select_frame)
    cli.add_command(encode_goal.encode_goal)
    cli.add_command(train_fb.train_fb)
    cli.add_command(score_reward.score_reward)
    cli.add_command(train_agent.train_agent)
    cli.add_command(train_video_model.train_video_model)
    cli.add_command(evaluate.evaluate)
    cli.add_command(pipeline.pipeline)
    cli.add_command(inspect.inspect_cmd)
    cli.add_command(tasks.tasks)


_register()


def _quiet_interrupt(kind, value, tb) -> None:
    """``sys.excepthook`` for the KeyboardInterrupt that :func:`main` re-raises: click has
    printed ``Aborted!`` already."""
    if not issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)


def main() -> None:
    """The `genreward` entry point: the click group, with SIGTERM mapped to
    :class:`Terminated`.

    After Ctrl-C (click prints ``Aborted!``) the process ends by SIGINT, not with exit code
    1: KeyboardInterrupt is re-raised to the interpreter, which finalises as usual and then
    kills itself with SIGINT. A shell loop (``for seed in 1 2 3; do genreward ...; done``)
    stops at the first Ctrl-C only when its command dies of SIGINT (a command that exits
    1 is taken to have handled the signal, and the loop goes on); and Python sets that
    outcome anyway when the interrupt lands inside C code running Python (during an import),
    which made the exit code 1 or SIGINT by chance.
    """
    from genreward_cli.memory import keep_freed_memory
    from genreward_cli.parent import end_with_pipeline

    keep_freed_memory()  # before any large tensor: see memory.py
    install_stop_handlers()
    end_with_pipeline()  # a stage of `pipeline`: stopped (SIGTERM) if the pipeline is killed
    try:
        cli(prog_name="genreward")
    except SystemExit as stop:
        if signal.SIGINT in _signals and stop.code == 1:  # click's `Aborted!`
            sys.excepthook = _quiet_interrupt
            raise KeyboardInterrupt from None
        try:  # what is left in stdout's buffer, while a reader may still take it
            sys.stdout.flush()
        except BrokenPipeError:  # it would fail at exit, with Python's own message
            end_by_sigpipe()
        raise


if __name__ == "__main__":  # python -m genreward_cli.cli
    main()
