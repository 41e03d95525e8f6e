"""Shared test set-up: the environment every test runs in, the ``slow`` marker, and the
``cli`` and ``tiny_chain`` fixtures."""

import tempfile

import pytest

from helpers import run

_ENV = pytest.MonkeyPatch()


def pytest_configure(config):
    """Before any test module is imported (MuJoCo reads MUJOCO_GL when imported): offscreen
    EGL rendering, no hub access, and built-in presets materialised in a cache of the test
    session's own, never in the user's. Undone when the session ends."""
    import os

    if "MUJOCO_GL" not in os.environ:
        _ENV.setenv("MUJOCO_GL", "egl")
    if "HF_HUB_OFFLINE" not in os.environ:
        _ENV.setenv("HF_HUB_OFFLINE", "1")
    _ENV.setenv("GENREWARD_CACHE", tempfile.mkdtemp(prefix="genreward-test-cache-"))


def pytest_unconfigure(config):
    _ENV.undo()


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow (make test-all)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cli():
    """``cli("collect", "--task", ...)``: one `genreward` command in this process
    (``helpers.run``)."""
    return run


@pytest.fixture(scope="session")
def tiny_chain(tmp_path_factory):
    """The goal chain at tiny presets, built once per session, read-only for the tests: a
    directory with ``expert.h5`` (2 scripted reach-v3 episodes of 40 steps, sparse mode,
    interval 10), ``random.h5`` (2 random ones, seed 1, same mode), ``gf.h5`` (expert
    episode 0's frame 40 as the goal frame, tiny CLIP), ``goal.h5`` (tiny VAE and image
    encoder, 64x64) and ``fb.h5`` (FB d=16, 32 units, 10 updates on both files)."""
    d = tmp_path_factory.mktemp("tiny_chain")
    common = ["--task", "reach-v3", "--max-steps", 40, "--reward-mode", "sparse",
              "--sparse-interval", 10]
    steps = [
        ("collect", *common, "--policy", "expert", "--episodes", 2, "--out", d / "expert.h5"),
        ("collect", *common, "--policy", "random", "--episodes", 2, "--seed", 1,
         "--out", d / "random.h5"),
        ("select-frame", d / "expert.h5", "--frame-index", 40, "--clip-model", "tiny",
         "--out", d / "gf.h5"),
        ("encode-goal", d / "expert.h5", d / "gf.h5", "--vae", "tiny", "--image-encoder", "tiny",
         "--out", d / "goal.h5"),
        ("train-fb", d / "expert.h5", d / "random.h5", d / "goal.h5", "--steps", 10,
         "--z-dim", 16, "--hidden-dim", 32, "--batch-size", 32, "--out", d / "fb.h5"),
    ]
    for args in steps:
        r = run(*args)
        assert r.exit_code == 0, (args[0], r.stderr)
    return d
