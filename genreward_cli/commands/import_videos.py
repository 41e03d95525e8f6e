"""`genreward import-videos`: a folder of mp4 clips and their prompts into a `videos` artifact."""

from __future__ import annotations

import click

from genreward_cli.options import (
    MAX_SIDE, UserPath, debug_option, emit, force_option, json_option, out_option,
)


@click.command("import-videos")
@click.argument("folder", type=UserPath(file_okay=False))
@click.option("--prompts", type=UserPath(dir_okay=False), required=True,
              help="CSV with columns file,prompt (one row per video in FOLDER).")
@click.option("--frames", type=click.IntRange(min=0), default=49, show_default=True,
              help="Frames per clip, uniformly sampled (49 = CogVideoX); 0 keeps all.")
@click.option("--height", type=click.IntRange(min=0, max=MAX_SIDE), default=480, show_default=True,
              help="Frame height after resizing; 0 keeps the source's.")
@click.option("--width", type=click.IntRange(min=0, max=MAX_SIDE), default=720, show_default=True,
              help="Frame width after resizing (720 = CogVideoX-5B-I2V); 0 keeps the source's.")
@out_option("Output `videos` artifact (.h5).")
@force_option
@json_option
@debug_option
def import_videos(folder, prompts, frames, height, width, out, force, as_json):
    """Read real-domain clips (Bridge / RT-1 style mp4 files) for `finetune`.

    Each clip is uniformly resampled to --frames frames and resized (bilinear, antialiased,
    aspect ratio not kept) to --height x --width; use the model's native values. A clip
    shorter than --frames has frames repeated, and one of another aspect ratio is stretched:
    a warning names them.

    \b
      genreward import-videos bridge/ --prompts bridge/prompts.csv --out bridge.h5
    """
    from genreward_cli.stages import import_videos as stage

    from genreward_cli.store import output_lock

    with output_lock(out):  # a second writer of the same --out is refused at once
        emit(stage.run(folder, prompts=prompts, out=out, frames=frames, height=height, width=width,
                       force=force), as_json)
