"""Options of the Meta-World pixel environment, with the paper's defaults."""

from __future__ import annotations

from dataclasses import dataclass

from genreward_cli.config import option

CAMERAS = ("corner", "corner2", "corner3", "corner4")
# Meta-World raises once an episode steps past this many simulator steps.
MAX_PATH_LENGTH = 500
# The largest rendered side, in pixels: beyond a few thousand the offscreen GL framebuffer
# cannot be made ("Offscreen framebuffer is not complete"); the paper renders at most 720.
MAX_RENDER = 4096
MIN_SIDE = 16  # the smallest rendered side, --size and --width alike


@dataclass(frozen=True)
class EnvConfig:
    """How a Meta-World task is turned into a pixel environment."""

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.size, self.width or self.size, 3)

    task: str = option("pick-place-v3", "Meta-World v3 task name (`genreward tasks` lists all 50).")
    # MAX_RENDER: larger offscreen framebuffers fail in GL ("framebuffer is not complete")
    size: int = option(64, "Image height and width in pixels (the agent sees 64x64).", minimum=MIN_SIDE,
                       maximum=MAX_RENDER)
    width: int = option(0, "Image width in pixels; 0 = the same as --size (square).", minimum=0,
                        maximum=MAX_RENDER)
    camera: str = option(
        "corner", "Meta-World camera; `corner` as in the paper's code.", choices=CAMERAS
    )
    max_steps: int = option(256, "Episode length in agent steps (the paper: 256).", minimum=1)
    action_repeat: int = option(1, "Simulator steps per agent action (the paper: 1).", minimum=1)
    reward_mode: str = option(
        "dense",
        "`dense`: the env reward every step. `sparse`: the env reward of the current step only "
        "every --sparse-interval steps, 0 otherwise (the paper's sparse setting).",
        choices=("dense", "sparse"),
    )
    sparse_interval: int = option(64, "Steps between sparse rewards (the paper: 64).", minimum=1)
    render_quality: str = option(
        "fast",
        "`fast`: no shadows, multisampling, reflections or skybox (8.4x the steps/s on a "
        "2-core CPU); `full`: MuJoCo's default rendering.",
        choices=("fast", "full"),
    )

    def __post_init__(self):
        # --width 0 means square; any other width is held to --size's minimum
        if 0 < self.width < MIN_SIDE:
            from genreward_cli.errors import BadInput

            raise BadInput(f"--width: must be at least {MIN_SIDE} (as --size), or 0 for the "
                           f"same as --size, got {self.width}")
