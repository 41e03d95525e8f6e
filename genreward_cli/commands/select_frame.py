"""`genreward select-frame`: the goal frame of a goal video, by CLIP (paper eq. 6)."""

from __future__ import annotations

import click

from genreward_cli.goal.clip import (
    CLIP_CROP_HELP, CLIP_CROPS, DEFAULT_CLIP_CROP, DEFAULT_CLIP_MODEL, DEFAULT_CLIP_PRETRAINED,
)
from genreward_cli.options import (
    MODEL_SOURCE, UserPath, debug_option, device_option, emit, force_option, json_option,
    out_option,
)


@click.command("select-frame")
@click.argument("goal_video", type=UserPath(dir_okay=False))
@click.option("--episode", type=click.IntRange(min=0), default=0, show_default=True,
              help="With an `episodes` file as GOAL_VIDEO (a recorded demonstration): which one.")
@click.option("--text", default=None,
              help="Task description G; default: the video's prompt. CLIP reads 77 tokens: a "
                   "longer text warns, and the part read is recorded as attr `text_seen`.")
@click.option("--clip-model", default=DEFAULT_CLIP_MODEL, show_default=True,
              help="OpenCLIP architecture, or `tiny` (built-in, random weights).")
@click.option("--clip-pretrained", type=MODEL_SOURCE,
              default=DEFAULT_CLIP_PRETRAINED, show_default=True,
              help="OpenCLIP pretrained tag or a local checkpoint path.")
@click.option("--clip-crop", type=click.Choice(list(CLIP_CROPS)), default=DEFAULT_CLIP_CROP,
              show_default=True, help=CLIP_CROP_HELP)
@click.option("--top-k", type=click.IntRange(min=1), default=5, show_default=True,
              help="How many best frames to record.")
@click.option("--frame-index", type=click.IntRange(min=0), default=None,
              help="Use this frame as the goal instead of the CLIP argmax (scores still recorded).")
@click.option("--plot", type=UserPath(dir_okay=False), default=None,
              help="Write the scores-over-frames figure (png/jpg/pdf/svg) with "
                   "thumbnails.")
@out_option("Output `goal_frame` artifact (.h5).")
@device_option
@force_option
@json_option
@debug_option
def select_frame(goal_video, episode, text, clip_model, clip_pretrained, clip_crop, top_k, frame_index, plot, out,
                 device, force, as_json):
    """Pick the goal frame I*: the frame whose CLIP embedding is closest to the text.

    GOAL_VIDEO is a `goal_video` from `generate`, or an `episodes` file whose --episode is
    used as the goal video (a recorded demonstration: an oracle goal for ablations).

    CLIP sees each whole frame, resized to its square input (--clip-crop none); `center` is
    OpenCLIP's own short-side resize and centre crop, which drops the sides of wide frames.
    The artifact records attrs `text` (as given), `text_seen` (the part within CLIP's 77
    tokens) and `clip_crop`.

    \b
      genreward select-frame goal_video.h5 --out goal_frame.h5 --plot scores.png
      genreward select-frame goal_video.h5 --clip-model tiny --out goal_frame.h5
    """
    from genreward_cli.options import resolve_device
    from genreward_cli.stages import select_frame as stage

    from genreward_cli.store import output_lock

    with output_lock(out, plot):  # a second writer of the same outputs is refused at once
        emit(stage.run(goal_video, out=out, episode=episode, text=text, clip_model=clip_model,
                       clip_pretrained=clip_pretrained, clip_crop=clip_crop, top_k=top_k,
                       frame_index=frame_index, plot=plot, device=resolve_device(device),
                       force=force), as_json)
