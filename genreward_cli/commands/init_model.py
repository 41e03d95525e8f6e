"""`genreward init-model`: write a built-in preset as a diffusers pipeline directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from genreward_cli.options import debug_option, force_option, json_option, seed_option
from genreward_cli.video.presets import PRESETS


@click.command("init-model")
@click.option("--preset", type=click.Choice(PRESETS), default="tiny", show_default=True,
              help="`tiny`: architecture-faithful CogVideoX I2V at 64x64, random weights.")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Output diffusers directory.")
@seed_option
@force_option
@json_option
@debug_option
def init_model(preset, out, seed, force, as_json):
    """Write a CogVideoX image-to-video pipeline with random weights (no download).

    It loads with plain diffusers: CogVideoXImageToVideoPipeline.from_pretrained(OUT).

    \b
      genreward init-model --preset tiny --out models/tiny
    """
    from genreward_cli.errors import BadInput
    from genreward_cli.video.presets import write_preset

    out = Path(out)
    if out.exists() and not force:
        raise BadInput(f"{out}: already exists; pass --force to overwrite")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write_preset(preset, tmp, seed=seed)
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if as_json:
        click.echo(json.dumps({"out": str(out), "preset": preset, "seed": seed}))
    else:
        click.echo(f"wrote {out}: {preset} CogVideoX image-to-video pipeline (seed {seed})", err=True)
