"""VLM-RM with goal-baseline regularisation (Rocamonde et al.): r = 1 - ||(x - g) P||^2 / 2."""

import json

import click
import numpy as np
import pytest

from genreward_cli import store
from genreward_cli.errors import BadInput
from genreward_cli.goal.clip import FrameScorer
from genreward_cli.rewards.base import EpisodeRecord
from genreward_cli.rewards.baselines import VLMReward
from genreward_cli.commands.reward_options import reward_options
from genreward_cli.rewards.build import REWARD_OPTIONS
from helpers import run

TEXT = "reach the goal position with the gripper"
BASELINE = "a robot arm"


@pytest.fixture(scope="module")
def scorer():
    return FrameScorer("tiny")


@pytest.fixture(scope="module")
def episode():
    image = np.random.default_rng(0).integers(0, 256, (7, 64, 64, 3), dtype=np.uint8)
    zeros = np.zeros(6, np.float32)
    return EpisodeRecord(image, np.zeros((6, 4), np.float32), zeros, zeros)


def embeddings(scorer, frames, text, baseline):
    """x, g, b by hand: float64, normalised."""
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    x = scorer.encode_images(frames).cpu().numpy().astype(np.float64)
    g, b = (scorer.encode_text(t).cpu().numpy().astype(np.float64) for t in (text, baseline))
    return unit(x), unit(g), unit(b)


def test_strength_zero_is_the_clip_cosine_whatever_the_baseline(scorer, episode):
    cosine = scorer.scores(episode.image[1:], TEXT)
    r = VLMReward(scorer, TEXT, BASELINE, 0.0)(episode)
    np.testing.assert_allclose(r["total"], cosine, atol=1e-6)
    assert r["total"].dtype == np.float32 and r["total"].shape == (6,)
    other = VLMReward(scorer, TEXT, "a table in a room", 0.0)(episode)["total"]
    np.testing.assert_array_equal(other, r["total"])  # a = 0: P = I, b plays no part
    # a task text equal to the baseline has no direction, which a = 0 never reads
    np.testing.assert_allclose(VLMReward(scorer, TEXT, TEXT, 0.0)(episode)["total"], cosine,
                               atol=1e-6)


def test_strength_one_projects_onto_goal_minus_baseline(scorer, episode):
    x, g, b = embeddings(scorer, episode.image[1:], TEXT, BASELINE)
    d = g - b
    by_hand = 1 - ((x - g) @ d) ** 2 / (2 * d @ d)
    r = VLMReward(scorer, TEXT, BASELINE, 1.0)(episode)["total"]
    np.testing.assert_allclose(r, by_hand, rtol=1e-5, atol=1e-6)
    assert np.all(r <= 1.0)
    # between the two, the authors' D x D matrix P = a d d^T / |d|^2 + (1 - a) I
    for a in (0.25, 0.5, 0.9):
        P = a * np.outer(d, d) / (d @ d) + (1 - a) * np.eye(len(d))
        by_hand = 1 - np.sum(((x - g) @ P) ** 2, axis=-1) / 2
        r = VLMReward(scorer, TEXT, BASELINE, a)(episode)["total"]
        np.testing.assert_allclose(r, by_hand, rtol=1e-5, atol=1e-6)


def test_online_steps_match_the_whole_episode(scorer, episode):
    model = VLMReward(scorer, TEXT, BASELINE, 0.5)
    offline = model(episode)["total"]
    online = [model.step_components(episode, k, k == 5)["total"] for k in range(6)]
    np.testing.assert_allclose(online, offline, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(model.scored_steps(6), np.arange(6))


def test_bad_strengths_and_an_empty_direction_are_refused(scorer):
    for a in (-0.1, 1.5, float("nan")):
        with pytest.raises(BadInput, match="--baseline-strength"):
            VLMReward(scorer, TEXT, BASELINE, a)
    with pytest.raises(BadInput, match="no direction"):
        VLMReward(scorer, TEXT, TEXT, 0.5)


def test_a_long_baseline_prompt_warns_like_the_task_text():
    long = " ".join(["a robot arm"] * 30)
    fresh = FrameScorer("tiny")
    with pytest.warns(UserWarning, match="CLIP tokens"):
        VLMReward(fresh, TEXT, long, 0.5)


def test_the_options_are_recorded():
    @reward_options
    def command(**options):
        pass

    params = {p.name for p in click.command()(command).params}
    assert params == set(REWARD_OPTIONS)
    assert {"baseline_prompt", "baseline_strength"} <= params


def test_score_reward_vlm_rm_cli(scorer, tmp_path):
    common = ["--task", "reach-v3", "--max-steps", 20, "--episodes", 1]
    for policy, seed in (("expert", 0), ("random", 1)):
        r = run("collect", *common, "--policy", policy, "--seed", seed,
                "--out", tmp_path / f"{policy}.h5")
        assert r.exit_code == 0, r.stderr
    episodes = [tmp_path / "expert.h5", tmp_path / "random.h5"]
    images = []
    for path in episodes:
        with store.open_artifact(path, "episodes") as art:
            images.append(art.file[f"episodes/{art.groups()[0]}/image"][()])
            if path == episodes[0]:
                prompt = art.attrs["prompt"]
                prompt = prompt.decode() if isinstance(prompt, bytes) else str(prompt)
    for a in (0.0, 1.0):
        out = tmp_path / f"vlm{a}.h5"
        r = run("score-reward", *episodes, "--reward", "vlm-rm", "--clip-model", "tiny",
                "--baseline-prompt", "a robot arm on a table", "--baseline-strength", a,
                "--out", out, "--json")
        assert r.exit_code == 0, r.stderr
        assert json.loads(r.stdout)["episodes"] == 2
        with store.open_artifact(out, "reward_score") as art:
            config = json.loads(art.attrs["config"])
            returns = art.file["episode_return"][()]
        assert config["baseline_prompt"] == "a robot arm on a table"
        assert config["baseline_strength"] == a
        if a == 0.0:  # the plain cosine with the episodes' prompt
            expected = [scorer.scores(im[1:], prompt).sum() for im in images]
        else:
            x = [embeddings(scorer, im[1:], prompt, "a robot arm on a table") for im in images]
            expected = [np.sum(1 - ((x - g) @ (g - b)) ** 2 / (2 * (g - b) @ (g - b)))
                        for x, g, b in x]
        np.testing.assert_allclose(returns, expected, rtol=1e-4, atol=1e-4)
    for a in ("1.5", "-0.1", "nan"):
        r = run("score-reward", *episodes, "--reward", "vlm-rm", "--clip-model", "tiny",
                "--baseline-strength", a, "--out", tmp_path / "bad.h5")
        assert r.exit_code == 2, (a, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:"), r.stderr
        assert "--baseline-strength" in lines[0], r.stderr
    assert not (tmp_path / "bad.h5").exists()
