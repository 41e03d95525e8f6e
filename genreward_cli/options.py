"""Options every stage shares (`--out`, `--seed`, `--device`, `--force`, `--json`, `--debug`).

They live apart from ``cli.py`` so that command modules can import them while ``cli.py``
imports the commands.
"""

from __future__ import annotations

import click

DEBUG_KEY = "genreward.debug"
ARGV_KEY = "genreward.argv"


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


def out_option(help: str = "Output artifact path.", **kwargs):
    return click.option(
        "--out", "out", type=click.Path(dir_okay=False), required=True, help=help, **kwargs
    )


force_option = click.option(
    "--force", is_flag=True, help="Overwrite the output if it exists."
)
seed_option = click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed (all randomness)."
)
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
