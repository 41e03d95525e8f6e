"""A Meta-World v3 task as a gymnasium environment with pixel observations.

Observations are a dict, as DreamerV3's embodied envs have them:

- ``image``: uint8 [H, W, 3], RGB, a true image of what the camera sees: upright and not
  mirrored. Meta-World's corner cameras are mounted upside down (their image-up axis points at
  the floor), so their picture comes out rotated by 180 degrees; it is rotated back here (both
  axes reversed). A vertical flip alone would leave a left-right mirror image.
- ``state``: float32 [39], Meta-World's goal-observable state vector.
- ``is_first``, ``is_last``, ``is_terminal``: bool scalars. Meta-World never terminates, so an
  episode ends by the time limit: ``is_last`` without ``is_terminal``.

``info`` carries ``success`` (bool) and ``env_reward`` (the dense reward, also in sparse mode).

Initial object and goal positions are drawn from the env's own RNG, seeded by
``reset(seed=...)``: the same seed gives the same scene, different seeds different scenes
(Meta-World freezes them otherwise).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from genreward_cli.envs import gl
from genreward_cli.envs.config import MAX_PATH_LENGTH, EnvConfig
from genreward_cli.envs.tasks import check_task
from genreward_cli.errors import BadInput

STATE_DIM = 39
MAX_RENDER = 2048
ACTION_DIM = 4


def _bool_space() -> gym.spaces.Box:
    return gym.spaces.Box(0, 1, shape=(), dtype=bool)


def camera_upside_down(model, camera: str) -> bool:
    """Whether ``camera``'s image-up axis (its local +y) points below the horizon.

    Such a camera's picture, as gymnasium's renderer returns it (top row first), shows the
    scene rotated by 180 degrees; true for all four Meta-World ``corner`` cameras.
    Raises BadInput for an unknown camera name.
    """
    import mujoco

    cid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
    if cid < 0:
        raise BadInput(f"camera {camera!r}: not in the model")
    return bool(model.cam_mat0[cid].reshape(3, 3)[2, 1] < 0)  # world z of the camera's +y


def _make_viewer(env, quality: str):
    """Create the offscreen viewer; for `fast`, switch off what a small agent image does not
    need (shadow map, multisampling, reflections, skybox: ~10x faster on a CPU)."""
    import mujoco

    if quality == "fast":
        env.model.vis.quality.shadowsize = 0  # read when the GL context is created
        env.model.vis.quality.offsamples = 0
    viewer = env.mujoco_renderer._get_viewer(render_mode="rgb_array")
    if quality == "fast":
        for flag in ("mjRND_SHADOW", "mjRND_REFLECTION", "mjRND_SKYBOX"):
            viewer.scn.flags[getattr(mujoco.mjtRndFlag, flag)] = 0
    return viewer


class MetaWorldPixelEnv(gym.Env):
    """One Meta-World task with image and state observations (see module docstring)."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, config: EnvConfig, extra_sizes: tuple[tuple[int, int], ...] = ()):
        """``extra_sizes``: (height, width) pairs that ``render_at`` will be asked for (the
        offscreen buffer is sized for them when the GL context is created)."""
        check_task(config.task)
        for h, w in extra_sizes:
            if not (16 <= h <= MAX_RENDER and 16 <= w <= MAX_RENDER):
                raise BadInput(f"cannot render {h}x{w} frames: sizes go from 16 to {MAX_RENDER}")
        if config.max_steps * config.action_repeat > MAX_PATH_LENGTH:
            raise BadInput(
                f"--max-steps {config.max_steps} x --action-repeat {config.action_repeat} exceeds "
                f"Meta-World's limit of {MAX_PATH_LENGTH} simulator steps per episode"
            )
        gl.check()
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS

        self.config = config
        self.render_mode = "rgb_array"
        env = ALL_V3_ENVIRONMENTS[config.task](
            render_mode="rgb_array",
            camera_name=config.camera,
            width=config.image_shape[1],
            height=config.image_shape[0],
        )
        # Goal-observable, with fresh random positions drawn from the env's seeded RNG.
        env._partially_observable = False
        env.__dict__.pop("sawyer_observation_space", None)  # cached property: recompute
        env._freeze_rand_vec = False
        env.seeded_rand_vec = True
        env._set_task_called = True
        vis = env.model.vis.global_  # read when the GL context is created
        vis.offheight = max([vis.offheight] + [h for h, _ in extra_sizes])
        vis.offwidth = max([vis.offwidth] + [w for _, w in extra_sizes])
        self._viewer = _make_viewer(env, config.render_quality)
        self._env = env
        self._rotate = camera_upside_down(env.model, config.camera)
        self.observation_space = gym.spaces.Dict(
            {
                "image": gym.spaces.Box(0, 255, config.image_shape, np.uint8),
                "state": gym.spaces.Box(-np.inf, np.inf, (STATE_DIM,), np.float32),
                "is_first": _bool_space(),
                "is_last": _bool_space(),
                "is_terminal": _bool_space(),
            }
        )
        self.action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
        self._step = 0
        self._needs_reset = True

    def render(self) -> np.ndarray:
        """The current frame: uint8 [H, W, 3], RGB, a true image (upright, not mirrored).

        Every frame this env gives out (observations, ``render_at``, ``initial_frame``) comes
        from here: an upside-down camera's picture is rotated by 180 degrees."""
        # Freeing any other env's EGL context releases this thread's current context (MuJoCo's
        # `GLContext.free` calls eglReleaseThread), after which frames come out black: make
        # ours current before every render. Cheap, and it keeps several envs in one process
        # (tests, evaluation next to training) correct.
        self._viewer.make_context_current()
        frame = self._env.render()  # the camera's picture, top row first
        return np.ascontiguousarray(frame[::-1, ::-1] if self._rotate else frame)

    def render_at(self, height: int, width: int) -> np.ndarray:
        """The current frame at another size (same camera): uint8 [height, width, 3]. Only
        the steps that need it pay for a large render; the agent keeps its small frames."""
        import mujoco

        vis = self._env.model.vis.global_
        if height > vis.offheight or width > vis.offwidth:
            raise BadInput(f"cannot render {height}x{width}: the offscreen buffer is "
                           f"{vis.offheight}x{vis.offwidth}; pass the size as extra_sizes")
        viewport = self._viewer.viewport
        self._viewer.viewport = mujoco.MjrRect(0, 0, width, height)
        try:
            return self.render()
        finally:
            self._viewer.viewport = viewport

    def _obs(self, state, first=False, last=False) -> dict[str, Any]:
        return {
            "image": self.render(),
            "state": np.asarray(state, np.float32),
            "is_first": np.asarray(first, dtype=bool),
            "is_last": np.asarray(last, dtype=bool),
            "is_terminal": np.asarray(False, dtype=bool),
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._env.seed(int(seed))
        state, _ = self._env.reset()
        self._step = 0
        self._needs_reset = False
        return self._obs(state, first=True), {"success": False, "env_reward": 0.0}

    def step(self, action):
        if self._needs_reset:
            raise RuntimeError("call reset() before step(); the episode has ended")
        action = np.asarray(action, np.float32)
        if action.shape != (ACTION_DIM,):
            raise ValueError(f"action must have shape ({ACTION_DIM},), got {action.shape}")
        if not np.all(np.isfinite(action)) or np.any(np.abs(action) > 1.0 + 1e-6):
            raise ValueError(f"action must be finite and within [-1, 1], got {action}")
        reward = 0.0
        success = False
        info: dict[str, Any] = {}
        for _ in range(self.config.action_repeat):
            state, r, _, _, info = self._env.step(action)
            reward += float(r)
            success = success or bool(info.get("success", 0.0))
        self._step += 1
        last = self._step >= self.config.max_steps
        self._needs_reset = last
        env_reward = reward
        if self.config.reward_mode == "sparse":
            reward = sparse_reward(env_reward, self._step, self.config.sparse_interval)
        info = {k: v for k, v in info.items() if np.isscalar(v)}
        info.update(success=success, env_reward=env_reward)
        return self._obs(state, last=last), reward, False, last, info

    def close(self):
        """Free the GL resources with our own context current, then the context.

        MuJoCo frees an ``MjrContext`` on whatever GL context is current: left to the garbage
        collector, a dead env's free deletes the framebuffers of a live one (its frames turn
        black; Metaworld #448). Freeing here, with our context current, avoids that.
        """
        viewer = self.__dict__.pop("_viewer", None)
        if viewer is None:
            return
        try:
            viewer.make_context_current()
            viewer.con.free()
        finally:
            self._env.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def initial_frame(config: EnvConfig, seed: int) -> np.ndarray:
    """The first observation image of an episode seeded ``seed``: uint8 [H, W, 3], RGB, the
    same true (upright, not mirrored) image as the env's observations."""
    env = MetaWorldPixelEnv(config)
    try:
        return env.reset(seed=seed)[0]["image"]
    finally:
        env.close()


def sparse_reward(env_reward: float, step: int, interval: int) -> float:
    """The paper's sparse setting: pay the env reward of step ``step`` (1-based) only at
    multiples of ``interval`` (64, 128, ...), 0 before that."""
    return env_reward if step % interval == 0 else 0.0
