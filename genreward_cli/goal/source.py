"""Where a goal video comes from: a generated `goal_video`, or a recorded episode (an oracle
demonstration, for ablations and for checking rewards against real goals)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genreward_cli.errors import BadInput
from genreward_cli.store import text


@dataclass
class GoalVideo:
    frames: np.ndarray  # uint8 [F, H, W, 3]
    prompt: str
    model: str | None  # the video model that generated it, if any
    ref: dict  # the artifact as a parent entry
    task: str | None = None  # the Meta-World task it shows, when known
    camera: str | None = None


def _config_camera(art) -> str | None:
    """The camera in the artifact's config; None when it has no config (BadInput for a
    garbled one)."""
    return art.config.get("camera") if "config" in art.attrs else None


def _text(value) -> str:
    return text(value)


def load_goal_video(path, episode: int = 0) -> GoalVideo:
    """Frames and prompt of a `goal_video`, or of episode ``episode`` of an `episodes` file."""
    from genreward_cli import store

    with store.open_artifact(path, ("goal_video", "episodes")) as art:
        if art.kind.name == "goal_video":
            task = _text(art.attrs["task"]) if "task" in art.attrs else None
            model = art.resolve(_text(art.attrs["model"]), "its video model")
            return GoalVideo(art.file["frames"][()], _text(art.attrs["prompt"]), model,
                             art.ref(), task, _config_camera(art) if task else None)
        names = art.groups()
        if not 0 <= episode < len(names):
            raise BadInput(f"{path}: episode {episode} out of range (the file has "
                           f"{len(names)} episode{'' if len(names) == 1 else 's'})")
        g = art.file[f"episodes/{names[episode]}"]
        return GoalVideo(g["image"][()], _text(g.attrs["prompt"]), None, art.ref(),
                         _text(g.attrs["task"]), _config_camera(art))
