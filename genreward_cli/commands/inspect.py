"""`genreward inspect`: show any artifact, verify its provenance, export video or frames."""

from __future__ import annotations

import json

import click

from genreward_cli.options import UserPath, debug_option, json_option


def _parse_frame(value: str) -> tuple[int | None, int]:
    """``EPISODE:STEP`` -> (episode, step); ``STEP`` alone (a goal video) -> (None, step)."""
    try:
        if ":" not in value:
            return None, int(value)
        ep, t = value.split(":")
        return int(ep), int(t)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not EPISODE:STEP (e.g. 0:12), or STEP for a "
                                 "goal video", param_hint="'--frame'") from None


@click.command("inspect")
@click.argument("path", type=UserPath())
@click.option("--video", type=UserPath(dir_okay=False),
              help="Write one episode's frames as a video (.mp4 or .gif).")
@click.option("--episode", type=int, default=0, show_default=True,
              help="Which episode --video exports (its index among the file's episodes).")
@click.option("--fps", type=click.IntRange(min=1), default=8, show_default=True,
              help="Frame rate of --video.")
@click.option("--frame", nargs=2, type=(str, UserPath(dir_okay=False)), default=None,
              metavar="EPISODE:STEP OUT.png",
              help="Write one frame as an image (a goal video's: STEP OUT.png).")
@click.option("--depth", type=click.IntRange(min=0), default=5, show_default=True,
              help="How many generations of parents to follow.")
@click.option("--kind", "expect_kind", default=None,
              help="Fail (exit 2) unless the file is of this artifact kind.")
@click.option("--force", is_flag=True, help="Overwrite an existing --video or --frame file.")
@json_option
@debug_option
def inspect_cmd(path, video, episode, fps, frame, depth, expect_kind, force, as_json):
    """Show an artifact: kind, provenance (with hash checks), datasets and a summary.

    A train-agent run folder or a finetune folder shows its log; a model folder (init-model,
    train-video-model, S3D, one part of a model such as DIR/transformer) shows its parts,
    their classes and parameter counts.

    \b
      genreward inspect expert.h5
      genreward inspect expert.h5 --video ep0.mp4 --episode 0
      genreward inspect expert.h5 --frame 0:12 frame.png
      genreward inspect goal_video.h5 --frame 48 last.png
      genreward inspect runs/agent          # the run's log.h5
    """
    from genreward_cli.stages import inspect as stage

    frame = (*_parse_frame(frame[0]), frame[1]) if frame else None
    report = stage.run(path, video=video, episode=episode, fps=fps, frame=frame, depth=depth,
                       expect_kind=expect_kind, force=force).summary
    if as_json:
        from genreward_cli.metrics import json_safe

        # one line, as every stage's --json (`>> summary.jsonl`); NaN as null
        click.echo(json.dumps(json_safe(report), default=str))
    else:
        stage.print_report(report)
        for what in report.get("exported", {}).values():
            click.echo(f"wrote {what}", err=True)
