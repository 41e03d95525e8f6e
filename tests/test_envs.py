import numpy as np
import pytest

from genreward_cli.envs import EnvConfig, make_env
from genreward_cli.envs.metaworld_env import sparse_reward
from genreward_cli.envs.rollout import collect
from genreward_cli.errors import BadInput


@pytest.fixture(scope="module")
def env():
    e = make_env(EnvConfig(max_steps=256))
    yield e
    e.close()


def test_observation_shapes_and_dtypes(env):
    obs, info = env.reset(seed=0)
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    assert obs["state"].shape == (39,) and obs["state"].dtype == np.float32
    assert obs["is_first"] and not obs["is_last"] and not obs["is_terminal"]
    assert env.observation_space.contains(obs)
    obs, reward, term, trunc, info = env.step(np.zeros(4, np.float32))
    assert env.observation_space.contains(obs)
    assert not obs["is_first"] and isinstance(reward, float)
    assert isinstance(info["success"], bool) and info["env_reward"] == reward
    assert obs["image"].std() > 10, "a rendered scene, not a blank frame"


def test_same_seed_same_frames_different_seed_different_scene(env):
    a, _ = env.reset(seed=3)
    b, _ = env.reset(seed=3)
    c, _ = env.reset(seed=4)
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["state"], b["state"])
    # object positions (state[4:7]) and the goal (state[36:39]) are randomised per seed
    assert not np.allclose(a["state"][4:7], c["state"][4:7])
    assert not np.array_equal(a["image"], c["image"])


def test_episode_ends_at_256_steps(env):
    env.reset(seed=0)
    for t in range(1, 257):
        obs, _, term, trunc, _ = env.step(np.zeros(4, np.float32))
        assert not term
        assert trunc == (t == 256) and bool(obs["is_last"]) == (t == 256)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(4, np.float32))


def test_sparse_reward_pays_only_at_multiples_of_interval():
    e = make_env(EnvConfig(reward_mode="sparse", sparse_interval=16, max_steps=64))
    e.reset(seed=0)
    rng = np.random.default_rng(0)
    paid = []
    for t in range(1, 65):
        _, reward, _, _, info = e.step(rng.uniform(-1, 1, 4).astype(np.float32))
        if t % 16 == 0:
            assert reward == info["env_reward"] and reward > 0
            paid.append(t)
        else:
            assert reward == 0.0 and info["env_reward"] > 0
    e.close()
    assert paid == [16, 32, 48, 64]
    assert sparse_reward(2.5, 64, 64) == 2.5 and sparse_reward(2.5, 63, 64) == 0.0


def test_action_repeat_sums_rewards():
    one = make_env(EnvConfig(max_steps=8))
    two = make_env(EnvConfig(max_steps=4, action_repeat=2))
    one.reset(seed=1)
    two.reset(seed=1)
    a = np.array([0.5, -0.2, 0.3, 1.0], np.float32)
    r1 = [one.step(a)[1] for _ in range(8)]
    r2, trunc = [], False
    for _ in range(4):
        obs, r, _, trunc, _ = two.step(a)
        r2.append(r)
    assert trunc
    np.testing.assert_allclose(r2, np.add(r1[0::2], r1[1::2]), rtol=1e-5)
    one.close()
    two.close()


@pytest.mark.parametrize("camera", ["corner", "corner2", "corner4"])
def test_frames_are_upright(camera):
    """The empty space above the scene (black without the skybox) is at the top of the
    image; MuJoCo's raw frame has it at the bottom."""
    e = make_env(EnvConfig(camera=camera))
    image = e.reset(seed=0)[0]["image"].astype(float)
    e.close()
    assert image[:12].mean() < image[-12:].mean() - 20


def test_bad_actions_and_options(env):
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"within \[-1, 1\]"):
        env.step(np.array([2.0, 0, 0, 0], np.float32))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3, np.float32))
    with pytest.raises(BadInput, match="exceeds Meta-World's limit of 500"):
        make_env(EnvConfig(max_steps=256, action_repeat=2))
    with pytest.raises(BadInput, match="did you mean pick-place-v3"):
        make_env(EnvConfig(task="pick-plac-v3"))


def test_scripted_expert_succeeds_on_pick_place():
    episodes = list(collect(EnvConfig(), "expert", episodes=5, seed=0))
    successes = [bool(ep.success.any()) for ep in episodes]
    assert sum(successes) >= 4, successes
    assert all(np.abs(ep.action).max() <= 1.0 for ep in episodes)
    assert len({ep.seed for ep in episodes}) == 5


def test_parallel_workers_give_the_same_episodes():
    config = EnvConfig(max_steps=20)
    serial = list(collect(config, "random", episodes=3, seed=7, workers=1))
    parallel = list(collect(config, "random", episodes=3, seed=7, workers=2))
    assert [e.index for e in parallel] == [0, 1, 2]
    for a, b in zip(serial, parallel):
        assert a.seed == b.seed
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.action, b.action)
        np.testing.assert_allclose(a.reward, b.reward)


def test_no_more_workers_than_episodes(monkeypatch):
    """`collect --episodes 1 --workers 2` (the tiny pipeline's expert cut) started a second
    environment process whose episode was thrown away: one episode runs in this process."""
    from genreward_cli.envs import rollout

    def vector(config, policy, episodes, seed, workers, on_step):
        assert workers <= episodes, (workers, episodes)
        raise AssertionError("one episode needs no worker processes")
        yield

    monkeypatch.setattr(rollout, "_run_vector", vector)
    (ep,) = collect(EnvConfig(max_steps=5), "random", episodes=1, seed=7, workers=2)
    assert ep.index == 0 and ep.action.shape == (5, 4)


def test_every_task_builds_resets_and_renders():
    from genreward_cli.envs.tasks import TASKS

    for task in TASKS:
        e = make_env(EnvConfig(task=task, size=32, max_steps=2))
        obs, _ = e.reset(seed=0)
        obs, reward, *_ = e.step(np.zeros(4, np.float32))
        e.close()
        assert obs["image"].shape == (32, 32, 3) and obs["image"].std() > 5, task
        assert np.isfinite(reward), task


def test_rendering_then_loading_torch_models_does_not_crash():
    """Mesa's llvmpipe and triton both carry LLVM; the wrong load order segfaults."""
    import subprocess
    import sys

    code = (
        "from genreward_cli.envs import EnvConfig, make_env\n"
        "e = make_env(EnvConfig(size=32)); e.reset(seed=0); e.close()\n"
        "import triton.runtime\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-500:]


def test_building_an_env_starts_no_python_subprocess():
    """pyGLFW, imported by gymnasium's renderer, read each candidate library's version in a
    Python subprocess; one started by a `collect --workers` worker outlived a Ctrl-C and
    printed a BrokenPipeError after `Aborted!`. The offscreen backends pin its library.
    (ctypes' find_library runs `ldconfig -p`: not Python, it prints nothing of its own.)"""
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "started = []\n"
        "sys.addaudithook(lambda event, args: started.append(args[1]) "
        "if event == 'subprocess.Popen' and args[0] == sys.executable else None)\n"
        "from genreward_cli.envs import EnvConfig, make_env\n"
        "e = make_env(EnvConfig(size=32)); e.reset(seed=0); e.close()\n"
        "print(repr(started))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYGLFW_LIBRARY"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.strip() == "[]", proc.stdout[-500:]


def test_a_garbage_collected_env_does_not_blank_a_live_one():
    """MuJoCo frees GL objects on the current context: a dead env freed by the garbage
    collector used to delete the live env's framebuffers (black frames)."""
    import gc

    live = make_env(EnvConfig(size=32))
    live.reset(seed=0)
    dead = make_env(EnvConfig(size=32, camera="corner2"))
    dead.reset(seed=0)
    del dead  # not closed: left to the garbage collector
    gc.collect()
    image = live.reset(seed=0)[0]["image"]
    live.close()
    assert image.std() > 10


def _marker_pixel(env, xyz, size):
    """Place the puck at ``xyz``, recolour it, and return (changed-pixel count, centroid
    (row, col) of the pixels that changed, its pinhole projection (row, col) in a true photo)."""
    import mujoco

    e = env._env
    m, d = e.model, e.data
    e._set_obj_xyz(np.asarray(xyz, float))
    mujoco.mj_forward(m, d)
    body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "obj")
    geoms = np.flatnonzero(m.geom_bodyid == body)
    height, width = size
    render = (lambda: env.render_at(height, width)) if size != env.config.image_shape[:2] else env.render
    before = render().astype(int)
    rgba, mat = m.geom_rgba[geoms].copy(), m.geom_matid[geoms].copy()
    m.geom_rgba[geoms], m.geom_matid[geoms] = [0, 1, 0, 1], -1
    after = render().astype(int)
    m.geom_rgba[geoms], m.geom_matid[geoms] = rgba, mat
    rows, cols = np.nonzero(np.abs(after - before).sum(-1) > 30)
    # A true photo: upright (image-up is the camera axis that points up in the world) and not
    # mirrored (image-right = up x toward-viewer, a right-handed frame).
    cam = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_CAMERA, env.config.camera)
    axes = d.cam_xmat[cam].reshape(3, 3)
    back = axes[:, 2]  # MuJoCo cameras look along -z
    up = axes[:, 1] if axes[2, 1] > 0 else -axes[:, 1]
    right = np.cross(up, back)
    p = d.xpos[body] - d.cam_xpos[cam]
    f = (height / 2) / np.tan(np.deg2rad(m.cam_fovy[cam]) / 2)
    depth = -(p @ back)
    expected = (height / 2 - f * (p @ up) / depth, width / 2 + f * (p @ right) / depth)
    return len(rows), (rows.mean() if len(rows) else np.nan, cols.mean() if len(cols) else np.nan), expected


@pytest.mark.parametrize("camera", ["corner", "corner2", "corner3", "corner4"])
def test_frames_are_true_images_not_mirrored(camera):
    """An object's pixels sit where a pinhole camera puts it in an upright, non-mirrored
    photo, at a square and a wide size and through ``render_at``; two objects apart keep their
    left-right order (a vertical flip alone mirrors them: 30 px off at 256 px)."""
    from genreward_cli.envs.metaworld_env import MetaWorldPixelEnv

    e = MetaWorldPixelEnv(EnvConfig(camera=camera, size=180, width=300), extra_sizes=((240, 240),))
    try:
        e.reset(seed=0)
        for size in ((180, 300), (240, 240)):
            centroids = []
            for xyz in ([-0.15, 0.6, 0.02], [0.15, 0.6, 0.02], [0.0, 0.8, 0.02]):
                n, got, expected = _marker_pixel(e, xyz, size)
                assert n >= 12, (camera, size, xyz, n)
                np.testing.assert_allclose(got, expected, atol=2.5, err_msg=f"{camera} {size} {xyz}")
                centroids.append(got)
            cols = [c for _, c in centroids]
            assert max(cols) - min(cols) > 10  # the objects are apart: left tells from right
    finally:
        e.close()


def test_initial_frame_is_the_observation_image():
    """generate --task conditions on `initial_frame`: the same true image the agent sees."""
    from genreward_cli.envs.metaworld_env import initial_frame

    config = EnvConfig(size=48, width=80)
    e = make_env(config)
    obs = e.reset(seed=5)[0]["image"]
    e.close()
    np.testing.assert_array_equal(initial_frame(config, 5), obs)


def test_the_centre_of_a_wide_render_is_the_square_render():
    """Meta-World's cameras fix the vertical field of view: the centre 64x64 of a 64x96
    render is the 64x64 render, and a 64x40 render is its centre 40 columns, which is why a
    wide goal frame is cropped, and a narrow one padded, not squashed, to be seen as square
    FB states (``goal.image_encoder.state_view``)."""
    from genreward_cli.envs.metaworld_env import MetaWorldPixelEnv
    from genreward_cli.goal.image_encoder import state_view
    from genreward_cli.video.clips import resize_frames

    e = MetaWorldPixelEnv(EnvConfig(size=64, width=96), extra_sizes=((64, 64), (64, 40)))
    try:
        e.reset(seed=0)
        wide, square, narrow = e.render(), e.render_at(64, 64), e.render_at(64, 40)
    finally:
        e.close()
    seen = state_view(narrow[None], (64, 64))[0].astype(int)
    assert np.abs(seen[:, 12:52] - square[:, 12:52]).mean() < 1.0
    assert not seen[:, :12].any() and not seen[:, 52:].any()  # what it does not show
    assert wide.shape == (64, 96, 3) and square.shape == (64, 64, 3)
    cropped = state_view(wide[None], (64, 64))[0].astype(int)
    squashed = resize_frames(wide[None], 64, 64)[0].astype(int)
    crop_err = np.abs(cropped - square).mean()
    assert crop_err < 1.0, crop_err
    assert np.abs(squashed - square).mean() > 5 * max(crop_err, 1.0)
