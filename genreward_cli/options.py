"""Options every stage shares (`--out`, `--seed`, `--device`, `--force`, `--json`, `--debug`),
and the checked float type of every float option (``FiniteFloat``).

They live apart from ``cli.py`` so that command modules can import them while ``cli.py``
imports the commands.
"""

from __future__ import annotations

import os

import click

from genreward_cli.ranges import range_problem

DEBUG_KEY = "genreward.debug"


def _set_debug(ctx: click.Context, _param, value: bool) -> bool:
    if value:
        ctx.meta[DEBUG_KEY] = True
    return value


debug_option = click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_debug,
    envvar="GENREWARD_DEBUG",
    help="Show the full traceback on errors.",
)


class UserPath(click.Path):
    """``click.Path`` that expands a leading ``~`` or ``~user`` as the shell would. The shell
    leaves it alone in quotes and after ``--option=``, so ``--out=~/runs/a.h5`` would otherwise
    write to a folder named ``~`` (``os.path.expanduser``)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str):
            if not value.strip():  # `--out "$OUT"` with OUT unset named the current folder
                self.fail("an empty path (a shell variable that is not set?)", param, ctx)
            value = os.path.expanduser(value)
        return super().convert(value, param, ctx)


class ModelSource(click.ParamType):
    """A model option's value: a preset name, a hub id or a local path. A path's leading ``~``
    is expanded as by ``UserPath``; names are returned as given. ``--help`` shows TEXT."""

    name = "text"

    def convert(self, value, param, ctx):
        value = click.STRING.convert(value, param, ctx)
        return os.path.expanduser(value) if value.startswith("~") else value


MODEL_SOURCE = ModelSource()


def out_option(help: str = "Output artifact path.", **kwargs):
    return click.option(
        "--out", "out", type=UserPath(dir_okay=False), required=True, help=help, **kwargs
    )


class FiniteFloat(click.ParamType):
    """A float that refuses ``nan``, ``inf`` and ``-inf`` (and, with bounds, values out of
    range) as a click usage error: exit 2 and one ``Error:`` line naming the option, before the
    command runs. ``--help`` shows it as FLOAT, like ``type=float``::

        @click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=1e-4)  # > 0
        @click.option("--alpha", type=FINITE, default=1e-2)                            # finite
    """

    name = "float"

    def __init__(self, min: float | None = None, max: float | None = None, *,
                 min_open: bool = False, max_open: bool = False):
        self.min, self.max, self.min_open, self.max_open = min, max, min_open, max_open

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        problem = range_problem(number, self.min, self.max, self.min_open, self.max_open)
        if problem:
            self.fail(f"{problem}, got {value}", param, ctx)
        return number

    def __repr__(self) -> str:
        return (f"FiniteFloat(min={self.min!r}, max={self.max!r}, min_open={self.min_open!r}, "
                f"max_open={self.max_open!r})")


def finite_float(min: float | None = None, max: float | None = None, *, min_open: bool = False,
                 max_open: bool = False) -> FiniteFloat:
    """``FiniteFloat(...)``: e.g. ``finite_float(0, min_open=True)`` for a learning rate."""
    return FiniteFloat(min, max, min_open=min_open, max_open=max_open)


FINITE = FiniteFloat()  # any finite float
POSITIVE = FiniteFloat(0, min_open=True)  # finite and > 0: learning rates
NON_NEGATIVE = FiniteFloat(0)  # finite and >= 0: weights, scales


force_option = click.option(
    "--force", is_flag=True, help="Overwrite the output if it exists."
)
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds alike
seed_option = click.option(
    "--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
    help="Random seed (all randomness)."
)
# The largest frame side an option may ask a video or encoder for, in pixels (the paper's
# videos are 480x720); a bigger one is a typo, not a size to allocate.
MAX_SIDE = 4096
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout."
)
device_option = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    envvar="GENREWARD_DEVICE",
    help="Torch device; `auto` takes a GPU when one is visible. Env: GENREWARD_DEVICE.",
)


def resolve_device(device: str) -> str:
    """Map `auto|cpu|cuda` to a torch device string; `cuda` without a GPU is bad input."""
    import torch

    from genreward_cli.errors import BadInput

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise BadInput("--device cuda: no CUDA GPU is visible to torch")
    return device


def emit(report, as_json: bool) -> None:
    """Print a stage's ``Report``: its summary as JSON on stdout under ``--json``, else its
    one line on stderr."""
    import json

    from genreward_cli.metrics import json_safe

    if as_json:
        click.echo(json.dumps(json_safe(report.summary)))
    else:
        click.echo(report.line, err=True)
