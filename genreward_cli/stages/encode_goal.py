"""The `encode-goal` stage: the goal video's VAE latent (the video-level goal, eq. 4) and the
goal frame's image embedding psi(I*) (the frame-level goal), as a `goal` artifact that also
holds both encoders' full configurations."""

from __future__ import annotations

import json
import os
import warnings

from genreward_cli import store
from genreward_cli.errors import BadInput
from genreward_cli.goal.image_encoder import DEFAULT_IMAGE_ENCODER
from genreward_cli.stages import Report


def run(goal_video: str | os.PathLike, goal_frame: str | os.PathLike, *,
        out: str | os.PathLike, episode: int = 0, vae: str | None = None,
        image_encoder: str = DEFAULT_IMAGE_ENCODER, image_resolution: int = 0, frames: int = 16,
        height: int = 0, width: int = 0, latent: str = "mean", dtype: str = "float32",
        seed: int = 0, device: str = "cpu", force: bool = False) -> Report:
    """Encode ``goal_video`` (a `goal_video`, or an `episodes` file whose ``episode`` is the
    goal video) with the VAE of ``vae`` (default: the model that generated it) over
    ``frames`` frames resized to ``height`` x ``width`` (0: the video's), and the frame of
    ``goal_frame`` with ``image_encoder`` at ``image_resolution`` (0: its default), into the
    `goal` artifact ``out``: video_latent f32 [C,F',h,w], frame_embedding f32 [D], frame u8
    [H,W,3], attrs video_encoder and image_encoder (JSON configs), prompt, task, camera.
    ``latent`` is `mean` or `sample` (drawn with ``seed``), ``dtype`` the VAE's precision;
    ``device`` a torch device string (already resolved).

    Raises BadInput (exit code 2) for unreadable or swapped inputs, an episode without ``vae``, a goal
    frame whose size differs from the video's or that was selected from a video of another
    task, an encoder that cannot be loaded, or an existing ``out`` without ``force``. Warns
    when the goal frame was selected from another video of the same task (or of none known).
    """
    from genreward_cli.goal.image_encoder import ImageEncoder, ImageEncoderConfig
    from genreward_cli.goal.source import load_goal_video
    from genreward_cli.goal.video_encoder import VideoEncoder, VideoEncoderConfig

    store.check_output(out, force, [goal_video, goal_frame, vae, image_encoder])
    if (store.kind_of(goal_video) == "goal_frame"
            and store.kind_of(goal_frame) in ("goal_video", "episodes")):
        raise BadInput(f"{goal_video} is a goal frame and {goal_frame} a goal video: give them "
                       "the other way round (encode-goal GOAL_VIDEO GOAL_FRAME)")
    source = load_goal_video(goal_video, episode)
    video, prompt, model, video_ref = source.frames, source.prompt, source.model, source.ref
    if vae is None and model is None:
        raise BadInput(f"{goal_video}: a recorded episode has no video model; pass --vae")
    with store.open_artifact(goal_frame, "goal_frame") as art:
        frame = art.file["frame"][()]
        frame_ref = art.ref()
        sources = [p for p in art.parents if p.get("kind") in ("goal_video", "episodes")]
        frame_episode = art.config.get("episode")
        frame_source = art.resolve(sources[0]["path"]) if sources else None
    if len(video) == 0:
        raise BadInput(f"{goal_video}: the goal video has no frames")
    if frame.shape != video.shape[1:]:
        raise BadInput(f"{goal_frame}: frame is {frame.shape[0]}x{frame.shape[1]}, but the frames of "
                       f"{goal_video} are {video.shape[1]}x{video.shape[2]}: mismatched resolutions")
    if sources and sources[0]["sha256"] != video_ref["sha256"]:
        other = _recorded_task(frame_source)
        if other is not None and source.task is not None and other != source.task:
            # a goal of two tasks: every later stage would take it as the video's task's
            raise BadInput(f"{goal_frame}: its frame was selected from {sources[0]['path']}, "
                           f"a video of {other}; {goal_video} is of {source.task}: select the "
                           "goal frame from this goal video")
        warnings.warn(f"{goal_frame} was selected from {sources[0]['path']}, not from this "
                      f"{goal_video} (different sha256)")
    elif (sources and video_ref["kind"] == "episodes" and frame_episode is not None
          and int(frame_episode) != episode):
        # an oracle goal is one episode's video and a frame of that same episode
        raise BadInput(f"{goal_frame}: its frame comes from episode {frame_episode} of "
                       f"{goal_video}, the video from --episode {episode}: pass --episode "
                       f"{frame_episode}")
    if vae is None:  # the goal video's model, as recorded (older files: relative to it)
        from genreward_cli.video.model import resolve

        vae = store.resolve_recorded(model, goal_video)
        try:
            resolve(vae, option="its model")
        except BadInput as e:
            raise BadInput(f"{goal_video}: {e}; pass --vae") from None
    vae = store.record_path(vae)  # a local model: absolute, so the goal file works anywhere
    video_config = VideoEncoderConfig(vae=vae, height=height or video.shape[1],
                                      width=width or video.shape[2], frames=frames, latent=latent,
                                      dtype=dtype)
    image_encoder = store.record_path(image_encoder)
    image_config = ImageEncoderConfig.for_model(image_encoder, image_resolution)
    z = VideoEncoder(video_config, device=device).encode(video, seed=seed)
    e = ImageEncoder(image_config, device=device).encode(frame[None])[0]
    config = {"episode": episode, "video_encoder": json.loads(video_config.to_json()),
              "image_encoder": json.loads(image_config.to_json()), "seed": seed, "device": device}
    with store.write_artifact(out, "goal", config=config, parents=[video_ref, frame_ref],
                              force=force) as h5:
        store.array_dataset(h5, "video_latent", z)
        store.array_dataset(h5, "frame_embedding", e)
        store.array_dataset(h5, "frame", frame)
        h5.attrs.update(video_encoder=video_config.to_json(), image_encoder=image_config.to_json(),
                        prompt=prompt)
        if source.task:  # train-agent refuses a goal made for another task or camera
            h5.attrs["task"] = source.task
        if source.camera:
            h5.attrs["camera"] = source.camera
    summary = {"out": str(out), "video_latent": list(z.shape), "frame_embedding": list(e.shape)}
    line = f"wrote {out}: video latent {list(z.shape)}, frame embedding {list(e.shape)}"
    return Report(line, summary)


def _recorded_task(path: str | None) -> str | None:
    """The task a `goal_video` (with ``--task``) or an `episodes` file at ``path`` records;
    None where the file is gone, unreadable or records none."""
    from genreward_cli.errors import GenrewardError

    if not path or not os.path.isfile(path):
        return None
    try:
        with store.open_artifact(path, ("goal_video", "episodes")) as art:
            return store.text(art.attrs["task"]) if "task" in art.attrs else None
    except GenrewardError:
        return None
