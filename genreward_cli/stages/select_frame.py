"""The `select-frame` stage: the goal frame I* of a goal video, the frame whose CLIP embedding
is closest to the task text (paper eq. 6), as a `goal_frame` artifact."""

from __future__ import annotations

import os

from genreward_cli import media, store
from genreward_cli.errors import BadInput
from genreward_cli.goal.clip import (
    DEFAULT_CLIP_CROP, DEFAULT_CLIP_MODEL, DEFAULT_CLIP_PRETRAINED,
)
from genreward_cli.progress import quoted
from genreward_cli.stages import Report


def run(goal_video: str | os.PathLike, *, out: str | os.PathLike, episode: int = 0,
        text: str | None = None, clip_model: str = DEFAULT_CLIP_MODEL,
        clip_pretrained: str = DEFAULT_CLIP_PRETRAINED, clip_crop: str = DEFAULT_CLIP_CROP,
        top_k: int = 5, frame_index: int | None = None, plot: str | None = None,
        device: str = "cpu", force: bool = False) -> Report:
    """Score every frame of ``goal_video`` (a `goal_video`, or an `episodes` file whose
    ``episode`` is used) against ``text`` (default: the video's prompt) with CLIP, and write
    the best frame (or frame ``frame_index``), the scores f32 [F] and the ``top_k`` best
    indices to the `goal_frame` artifact ``out``; ``plot`` also writes the scores-over-frames
    figure (png). ``clip_crop`` is a key of ``goal.clip.CLIP_CROPS``; ``device`` a torch
    device string (already resolved).

    Raises BadInput (exit code 2) for an unreadable goal video, a model that cannot be
    loaded, ``frame_index`` past the last frame, or an existing ``out`` / ``plot`` without
    ``force``.
    """
    from genreward_cli.goal.clip import FrameScorer, select
    from genreward_cli.goal.plot import plot_scores
    from genreward_cli.goal.source import load_goal_video

    if text is not None and not text.strip():  # `--text "$T"` with T unset
        raise BadInput("--text: empty; leave it out for the goal video's prompt, or give the "
                       "task text")
    inputs = [goal_video, clip_model, clip_pretrained]
    store.check_distinct_outputs(out=out, plot=plot)
    store.check_output(out, force, inputs)
    if plot:
        store.check_output(media.check_figure_path(plot), force, inputs)
    source = load_goal_video(goal_video, episode)
    frames, parent = source.frames, source.ref
    if len(frames) == 0:
        raise BadInput(f"{goal_video}: the goal video has no frames")
    if frame_index is not None and frame_index >= len(frames):  # before CLIP is loaded
        raise BadInput(f"--frame-index {frame_index}: the video has {len(frames)} frames")
    text = text or source.prompt
    scorer = FrameScorer(clip_model, clip_pretrained, device=device, crop=clip_crop)
    text_seen, _ = scorer.text_seen(text)
    scores = scorer.scores(frames, text)
    index, topk = select(scores, top_k)
    if frame_index is not None:
        index = frame_index
    clip_model = store.record_path(clip_model)  # local paths absolute, names as given
    # the weights used, in the config as in the attribute: `tiny` ignores --clip-pretrained
    clip_pretrained = store.record_path(scorer.pretrained)
    config = {"episode": episode, "text": text, "clip_model": clip_model,
              "clip_pretrained": clip_pretrained,
              "clip_crop": clip_crop, "top_k": top_k, "frame_index": frame_index, "device": device}
    with store.write_artifact(out, "goal_frame", config=config, parents=[parent],
                              force=force) as h5:
        store.array_dataset(h5, "frame", frames[index])
        store.array_dataset(h5, "scores", scores)
        store.array_dataset(h5, "topk", topk)
        h5.attrs.update(index=index, text=text, text_seen=text_seen, clip_model=clip_model,
                        clip_pretrained=clip_pretrained,
                        clip_crop=clip_crop)
    if plot:
        plot_scores(plot, frames, scores, index, text)
    summary = {"out": str(out), "index": index, "score": float(scores[index]),
               "topk": topk.tolist(), "frames": len(frames), "text": text, "text_seen": text_seen,
               "clip_crop": clip_crop}
    line = (f"wrote {out}: goal frame {index} of {len(frames)} "
            f"(score {scores[index]:.3f}) for {quoted(text)}")
    return Report(line, summary)
