"""`genreward init-model`: write a built-in preset as a diffusers pipeline directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from genreward_cli.options import debug_option, force_option, json_option, seed_option
from genreward_cli.video.presets import PRESETS


@click.command("init-model")
@click.option("--preset", type=click.Choice(list(PRESETS)), default="tiny", show_default=True,
              help="`tiny`: architecture-faithful CogVideoX image-to-video (CogVideoX-5B-I2V's "
                   "layout) at 64x64, random weights; `tiny-t2v`: the text-to-video layout "
                   "(CogVideoX-5B's), same text encoder and VAE.")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Output diffusers directory.")
@seed_option
@force_option
@json_option
@debug_option
def init_model(preset, out, seed, force, as_json):
    """Write a tiny CogVideoX pipeline with random weights (no download).

    It loads with plain diffusers: CogVideoXImageToVideoPipeline.from_pretrained(OUT) for
    `tiny`, CogVideoXPipeline.from_pretrained(OUT) for `tiny-t2v`.

    \b
      genreward init-model --preset tiny --out models/tiny
      genreward init-model --preset tiny-t2v --out models/tiny-t2v
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
        click.echo(json.dumps({"out": str(out), "preset": preset, "mode": PRESETS[preset],
                               "seed": seed}))
    else:
        click.echo(f"wrote {out}: {preset} CogVideoX {PRESETS[preset]} pipeline (seed {seed})", err=True)
