import json

import numpy as np
import pytest

from genreward_cli import store
from genreward_cli.errors import BadInput
from genreward_cli.metrics import auc, spearman
from genreward_cli.rewards.base import EpisodeRecord
from genreward_cli.rewards.generative import GenerativeReward
from genreward_cli.rewards.schedule import RewardSchedule
from helpers import run


def test_algorithm_1_schedule():
    np.testing.assert_array_equal(RewardSchedule(256, 128).steps(), [127, 255])  # 128 and 256
    np.testing.assert_array_equal(RewardSchedule(256, 64).steps(), [63, 127, 191, 255])
    assert len(RewardSchedule(100, 128).steps()) == 0


def test_schedule_answers_agree():
    """steps(), is_scored() and frames_read() are one schedule: is_scored is true exactly on
    steps(); the frames read are the union of the scored steps' histories, each uniform over
    o_0..o_{k+1} with both ends included."""
    for length, interval in [(256, 128), (100, 7), (5, 1), (9, 9), (9, 10)]:
        s = RewardSchedule(length, interval, history=16)
        scored = [k for k in range(-2, length + 3) if s.is_scored(k)]
        assert scored == s.steps().tolist()
        for k in s.steps():
            h = s.history_frames(int(k))
            assert len(h) == 16 and h[0] == 0 and h[-1] == k + 1 and np.all(np.diff(h) >= 0)
        union = set().union(*(set(s.history_frames(int(k)).tolist()) for k in s.steps()))
        assert s.frames_read() == frozenset(union)
    assert RewardSchedule.every_step(4).steps().tolist() == [0, 1, 2, 3]
    assert RewardSchedule.last_step(4).steps().tolist() == [3]
    assert RewardSchedule.never(4).steps().tolist() == []
    assert RewardSchedule(4, 2).history_frames(1).size == 0  # no history asked for
    with pytest.raises(BadInput, match="at least 1"):
        RewardSchedule(4, 0)


def test_rank_metrics_closed_forms():
    assert auc([3, 4], [1, 2]) == 1.0 and auc([1, 2], [3, 4]) == 0.0
    assert auc([1, 2], [1, 2]) == 0.5  # ties count half
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


@pytest.fixture(scope="module")
def run_dir(tiny_chain):
    """Expert (sparse mode, interval 10) and random episodes of 40 steps; the goal video is
    expert episode 0 itself; an FB model on all of them (conftest's ``tiny_chain``)."""
    return tiny_chain


def load_episode(path, k=0):
    with store.open_artifact(path, "episodes") as art:
        g = art.file[f"episodes/{art.groups()[k]}"]
        return EpisodeRecord(g["image"][()], g["action"][()], g["env_reward"][()], g["reward"][()])


def test_generative_reward_values_and_schedule(run_dir):
    d = run_dir
    ep = load_episode(d / "expert.h5", 0)
    with store.open_artifact(d / "goal.h5") as goal, store.open_artifact(d / "fb.h5") as fb:
        model = GenerativeReward(goal, fb, alpha=0.5, beta=0.25, interval=20)
        parts = model(ep)
    steps = [19, 39]
    others = np.setdiff1d(np.arange(40), steps)
    # off the schedule the agent gets exactly the env reward it was paid (sparse mode here)
    np.testing.assert_array_equal(parts["total"][others], ep.reward[others])
    assert not parts["video"][others].any() and not parts["fb"][others].any()
    # at step 40 the history is the whole episode, which is the goal video: r_video = 1
    assert parts["video"][39] == pytest.approx(1.0, abs=1e-5)
    assert parts["video"][19] < parts["video"][39]
    expected = ep.reward[steps] + 0.5 * parts["video"][steps] + 0.25 * parts["fb"][steps]
    np.testing.assert_allclose(parts["total"][steps], expected, rtol=1e-6)
    np.testing.assert_array_equal(parts["env"], ep.reward)  # sparse: 0 except every 10th step
    assert not ep.reward[np.arange(40) % 10 != 9].any()
    assert model.cost.calls == 1 and model.cost.seconds > 0


def test_score_reward_cli_and_bad_inputs(run_dir, tmp_path):
    d = run_dir
    r = run("score-reward", d / "expert.h5", d / "random.h5", "--reward", "genreward", "--goal",
            d / "goal.h5", "--fb", d / "fb.h5", "--reward-interval", 20, "--out", tmp_path / "s.h5",
            "--plot", tmp_path / "s.png", "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["episodes"] == 4 and set(summary["components"]) == {"env", "video", "fb"}
    assert summary["task"] == "reach-v3"
    with store.open_artifact(tmp_path / "s.h5", "reward_score") as art:
        assert list(art.file["expert"][()]) == [True, True, False, False]
        assert 0.0 <= art.attrs["auc"] <= 1.0
    assert (tmp_path / "s.png").exists()
    for reward in ("vlm-rm", "clip-video"):
        r = run("score-reward", d / "expert.h5", d / "random.h5", "--reward", reward,
                "--clip-model", "tiny", "--out", tmp_path / f"{reward}.h5")
        assert r.exit_code == 0, (reward, r.stderr)
    # another method's options are named as ignored (one warning), the run goes on
    with pytest.warns(UserWarning, match=r"^--reward env does not use --goal, --clip-model: "
                                         r"ignored$"):
        r = run("score-reward", d / "expert.h5", d / "random.h5", "--reward", "env", "--goal",
                d / "goal.h5", "--clip-model", "tiny", "--out", tmp_path / "env.h5")
    assert r.exit_code == 0, r.stderr
    # an ablated term's model and weight: named as unread (they were silently dropped)
    with pytest.warns(UserWarning, match=r"^--reward genreward --no-fb-reward does not use "
                                         r"--fb, --beta: ignored$"):
        r = run("score-reward", d / "expert.h5", "--reward", "genreward", "--goal",
                d / "goal.h5", "--fb", d / "fb.h5", "--beta", 0.1, "--no-fb-reward",
                "--reward-interval", 20, "--json", "--out", tmp_path / "nofb.h5")
    assert r.exit_code == 0, r.stderr
    assert set(json.loads(r.stdout)["components"]) == {"env", "video"}
    # random episodes alone rank nothing: the nan AUC comes with a note saying why
    r = run("score-reward", d / "random.h5", "--reward", "env", "--out", tmp_path / "rnd.h5")
    assert r.exit_code == 0, r.stderr
    assert "AUC expert vs random nan" in r.stderr
    assert "note: the episodes are all random, so the AUC is nan: give expert and random " \
        "episodes" in r.stderr, r.stderr
    r = run("score-reward", d / "expert.h5", d / "random.h5", "--reward", "env",
            "--out", tmp_path / "both.h5")
    assert r.exit_code == 0 and "so the AUC is nan" not in r.stderr, r.stderr
    bad = [
        (["--reward", "viper"], "'viper' is not one of"),
        (["--reward", "genreward"], "needs --goal"),
        (["--reward", "genreward", "--goal", d / "goal.h5"], "needs --fb"),
        (["--reward", "genreward", "--goal", d / "fb.h5", "--fb", d / "fb.h5"], "expected 'goal'"),
    ]
    for args, message in bad:
        r = run("score-reward", d / "expert.h5", *args, "--out", tmp_path / "bad.h5")
        assert r.exit_code == 2 and message in r.stderr, (args, r.stderr)
    # a goal encoded with another image encoder configuration than the FB model's
    r = run("encode-goal", d / "expert.h5", d / "gf.h5", "--vae", "tiny", "--image-encoder", "tiny",
            "--image-resolution", 32, "--out", tmp_path / "goal32.h5")
    assert r.exit_code == 0
    r = run("score-reward", d / "expert.h5", "--goal", tmp_path / "goal32.h5", "--fb", d / "fb.h5",
            "--out", tmp_path / "bad.h5")
    assert r.exit_code == 2 and "trained with another image encoder" in r.stderr
    # episodes rendered at another resolution than the goal
    assert run("collect", "--task", "reach-v3", "--size", 48, "--max-steps", 20, "--episodes", 1,
               "--out", tmp_path / "small.h5").exit_code == 0
    r = run("score-reward", tmp_path / "small.h5", "--goal", d / "goal.h5", "--fb", d / "fb.h5",
            "--reward-interval", 10, "--out", tmp_path / "bad.h5")
    assert r.exit_code == 2 and "frames are 48x48, the goal was encoded at 64x64: collect " \
        "the episodes at that size (--size 64), or encode the goal at theirs (encode-goal " \
        "--height 48 --width 48)" in r.stderr, r.stderr
    # episodes of another task: not with this goal or demonstration, nor mixed with these
    assert run("collect", "--task", "pick-place-v3", "--max-steps", 20, "--episodes", 1,
               "--out", tmp_path / "other.h5").exit_code == 0
    for args, message in [
        ([tmp_path / "other.h5", "--goal", d / "goal.h5", "--fb", d / "fb.h5"],
         "a goal for reach-v3, not for the episodes' task pick-place-v3"),
        ([d / "expert.h5", tmp_path / "other.h5", "--reward", "env"],
         f"episodes of several tasks: {d / 'expert.h5'} (reach-v3), {tmp_path / 'other.h5'} "
         "(pick-place-v3); score one task at a time"),
        ([d / "expert.h5", "--reward", "roboclip", "--s3d-model", "tiny", "--roboclip-demo",
          tmp_path / "other.h5"], "a demonstration of pick-place-v3, not of the episodes' task "
                                  "reach-v3"),
    ]:
        r = run("score-reward", *args, "--out", tmp_path / "bad.h5")
        assert r.exit_code == 2 and message in r.stderr, (args, r.stderr)
    assert not (tmp_path / "bad.h5").exists()


def test_score_reward_reports_each_components_share(run_dir, tmp_path):
    """The shares score-reward reports are sum |w c| / sum |total| over the episodes' steps,
    recomputed here from the model; the note fires for the tiny video term only."""
    d = run_dir
    r = run("score-reward", d / "expert.h5", d / "random.h5", "--goal", d / "goal.h5", "--fb",
            d / "fb.h5", "--reward-interval", 20, "--alpha", 0.01, "--beta", 0.5,
            "--out", tmp_path / "s.h5", "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    with store.open_artifact(d / "goal.h5") as goal, store.open_artifact(d / "fb.h5") as fb:
        model = GenerativeReward(goal, fb, alpha=0.01, beta=0.5, interval=20)
        parts = [model(load_episode(p, k)) for p in (d / "expert.h5", d / "random.h5")
                 for k in range(2)]
    total = sum(np.abs(p["total"].astype(np.float64)).sum() for p in parts)
    for name, w in (("env", 1.0), ("video", 0.01), ("fb", 0.5)):
        expected = sum(np.abs(w * p[name].astype(np.float64)).sum() for p in parts) / total
        assert summary["shares"][name] == pytest.approx(expected, rel=1e-5), name
    assert summary["weights"] == {"env": 1.0, "video": 0.01, "fb": 0.5}
    cost = summary["cost"]  # 4 episodes of 40 steps, one call each
    assert cost["calls"] == 4 and cost["ms_per_step"] == pytest.approx(1000 * cost["seconds"] / 160)
    flagged = [line.split()[0] for line in summary["advice"]]
    assert flagged == [n for n in ("env", "video", "fb") if summary["shares"][n] < 0.01]
    assert "video" in flagged  # 0.01 x a cosine at 2 steps against a return of several units
    with store.open_artifact(tmp_path / "s.h5", "reward_score") as art:
        per_episode = art.file["shares/video"][()]
        assert per_episode.shape == (4,) and per_episode.dtype == np.float32
        first = np.abs(0.01 * parts[0]["video"]).sum() / np.abs(parts[0]["total"]).sum()
        assert per_episode[0] == pytest.approx(first, rel=1e-4)
    # without --json: one line per component share and the note
    r = run("score-reward", d / "expert.h5", d / "random.h5", "--goal", d / "goal.h5", "--fb",
            d / "fb.h5", "--reward-interval", 20, "--out", tmp_path / "s2.h5")
    assert r.exit_code == 0 and "note: video is " in r.stderr and "--alpha " in r.stderr
    # an ablated component has no figures of its own
    r = run("score-reward", d / "expert.h5", d / "random.h5", "--goal", d / "goal.h5",
            "--no-fb-reward", "--reward-interval", 20, "--out", tmp_path / "s3.h5", "--json")
    assert r.exit_code == 0, r.stderr
    assert set(json.loads(r.stdout)["components"]) == {"env", "video"} and "fb alone" not in r.stderr
    with store.open_artifact(tmp_path / "s3.h5", "reward_score") as art:
        assert set(json.loads(art.attrs["components"])) == {"env", "video"}


def test_score_reward_relative_alpha_and_short_episodes(run_dir, tmp_path):
    d = run_dir
    r = run("score-reward", d / "expert.h5", d / "random.h5", "--goal", d / "goal.h5", "--fb",
            d / "fb.h5", "--reward-interval", 20, "--alpha-mode", "relative", "--alpha", 0.5,
            "--out", tmp_path / "s.h5", "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    paid = np.concatenate([load_episode(p, k).reward for p in (d / "expert.h5", d / "random.h5")
                           for k in range(2)])
    sigma = float(np.std(paid.astype(np.float64)))
    assert summary["sigma_env"] == pytest.approx(sigma, rel=1e-6)
    assert summary["weights"]["video"] == pytest.approx(0.5 * sigma, rel=1e-6)
    assert summary["weights"]["fb"] == pytest.approx(1e-5 * sigma, rel=1e-6)
    for args, message in (
        (["--reward", "env", "--alpha-mode", "relative"], "has no such weights"),
        # 40-step episodes never reach step 128
        (["--goal", d / "goal.h5", "--fb", d / "fb.h5"], "too few for any step to get"),
    ):
        r = run("score-reward", d / "expert.h5", *args, "--out", tmp_path / "bad.h5")
        assert r.exit_code == 2 and message in r.stderr, (args, r.stderr)
        assert not (tmp_path / "bad.h5").exists()
    # episodes of several lengths, all too short: the message gives their range, not the
    # shortest as every episode's length
    from helpers import fake_episode, write_episodes

    def reach(h5):
        for g in [h5, *h5["episodes"].values()]:
            g.attrs["task"] = "reach-v3"

    rng = np.random.default_rng(0)
    mixed = write_episodes(tmp_path / "mixed.h5", [fake_episode(rng, T=T, size=64)
                                                   for T in (20, 50, 30)], mutate=reach)
    r = run("score-reward", mixed, d / "expert.h5", "--goal", d / "goal.h5", "--fb", d / "fb.h5",
            "--reward-interval", 64, "--out", tmp_path / "bad.h5")
    assert r.exit_code == 2, r.stderr
    assert "Error: 5 of 5 episodes have 20 to 50 steps, too few for any step" in r.stderr, r.stderr


class ReplayedEnv:
    """Stands in for the env: serves a recorded episode's frame at any size, counting renders."""

    def __init__(self, image):
        self.image, self.t, self.renders = image, 0, []

    def render_at(self, h, w):
        from genreward_cli.video.clips import resize_frames

        self.renders.append(self.t)
        return resize_frames(self.image[self.t][None], h, w)[0]


def replay_online(model, ep, env):
    from genreward_cli.rewards.online import OnlineReward

    online = OnlineReward(model, env, ep.length, ep.image.shape[1:], ep.action.shape[1])
    online.reset({"image": ep.image[0]})
    parts = []
    for k in range(ep.length):
        env.t = k + 1
        parts.append(online.step({"image": ep.image[k + 1]}, ep.action[k], ep.reward[k],
                                 ep.env_reward[k], k == ep.length - 1))
    return {n: np.asarray([p[n] for p in parts], np.float32) for n in model.names}


def test_online_rewards_match_offline_and_render_only_sampled_frames(run_dir, tmp_path):
    """Stepping a reward model through an episode gives what scoring it whole gives; a goal
    at another size than the agent's frames is served by renders at the sampled frames only."""
    from genreward_cli.video.clips import resize_frames, uniform_indices

    d = run_dir
    ep = load_episode(d / "expert.h5", 0)
    r = run("encode-goal", d / "expert.h5", d / "gf.h5", "--vae", "tiny", "--image-encoder", "tiny",
            "--height", 32, "--width", 48, "--out", tmp_path / "goal_small.h5")
    assert r.exit_code == 0, r.stderr
    for goal, size in ((d / "goal.h5", (64, 64)), (tmp_path / "goal_small.h5", (32, 48))):
        with store.open_artifact(goal) as g, store.open_artifact(d / "fb.h5") as fb:
            model = GenerativeReward(g, fb, alpha=0.5, beta=0.25, interval=20)
        env = ReplayedEnv(ep.image)
        online = replay_online(model, ep, env)
        big = EpisodeRecord(resize_frames(ep.image, *size), ep.action, ep.env_reward, ep.reward)
        video = model(big)["video"]  # r_video from frames at the goal's size
        offline = model(ep) if size == (64, 64) else None
        np.testing.assert_allclose(online["video"], video, rtol=1e-4, atol=1e-5)
        if offline is not None:
            for name in model.names:
                np.testing.assert_allclose(online[name], offline[name], rtol=1e-4, atol=1e-5)
            assert env.renders == []  # the agent's own frames served
        else:
            wanted = set(uniform_indices(21, 16)) | set(uniform_indices(41, 16))
            assert sorted(env.renders) == sorted(wanted) and len(wanted) < 41
            assert online["video"][39] > 0.99  # the whole demonstration is the goal video
    for name, cls in (("clip-video", "CLIPVideoReward"), ("vlm-rm", "VLMReward")):
        from genreward_cli.goal.clip import FrameScorer
        from genreward_cli.rewards import baselines

        model = getattr(baselines, cls)(FrameScorer("tiny", "", device="cpu"), "reach the goal")
        online, offline = replay_online(model, ep, ReplayedEnv(ep.image)), model(ep)
        np.testing.assert_allclose(online["total"], offline["total"], rtol=1e-4, atol=1e-5)
        assert (online["total"] != 0).sum() == (1 if name == "clip-video" else ep.length)


def test_a_wide_goal_frame_is_seen_as_the_fb_states_are(run_dir, tmp_path):
    """With a 32x48 goal and FB trained on 64x64 frames, z* = B(psi(I*)) embeds the goal
    frame's centre square, in train-fb and in the reward alike, and offline r_FB on wide
    recorded frames reads only their centre, as the square renders online show it."""
    from genreward_cli.goal.image_encoder import ImageEncoder, fb_goal_embedding
    from genreward_cli.video.clips import resize_frames

    d = run_dir
    wide_steps = [
        ("collect", "--task", "reach-v3", "--max-steps", 20, "--policy", "expert", "--episodes", 1,
         "--size", 32, "--width", 48, "--out", tmp_path / "wide.h5"),
        ("select-frame", tmp_path / "wide.h5", "--frame-index", 20, "--clip-model", "tiny",
         "--out", tmp_path / "gf_wide.h5"),
        ("encode-goal", tmp_path / "wide.h5", tmp_path / "gf_wide.h5", "--vae", "tiny",
         "--image-encoder", "tiny", "--out", tmp_path / "goal_wide.h5"),
    ]
    for args in wide_steps:
        r = run(*args)
        assert r.exit_code == 0, (args[0], r.stderr)
    r = run("train-fb", d / "expert.h5", d / "random.h5", tmp_path / "goal_wide.h5", "--steps", 5,
            "--out", tmp_path / "fb_wide.h5")
    assert r.exit_code == 0, r.stderr
    with store.open_artifact(tmp_path / "goal_wide.h5") as g, \
            store.open_artifact(tmp_path / "fb_wide.h5") as fb:
        frame, whole = g.file["frame"][()], g.file["frame_embedding"][()]
        trained_with = fb.file["goal_embedding"][()]
        model = GenerativeReward(g, fb, alpha=0.5, beta=0.25, interval=20, use_video=False)
    assert frame.shape == (32, 48, 3) and model.fb_size == (64, 64)
    expected = fb_goal_embedding(ImageEncoder(model.image_encoder.config), frame, (64, 64))
    np.testing.assert_allclose(model.goal_embedding.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(trained_with, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(expected - whole).max() > 1e-3  # not the whole frame squashed
    ep = load_episode(d / "expert.h5", 0)
    wide = resize_frames(ep.image, 64, 96)
    wide[:, :, :16], wide[:, :, -16:] = 0, 255
    sides = wide.copy()
    sides[:, :, :16], sides[:, :, -16:] = 255, 0
    parts = [model(EpisodeRecord(x, ep.action, ep.env_reward, ep.reward))["fb"] for x in (wide, sides)]
    np.testing.assert_array_equal(parts[0], parts[1])
    assert parts[0][[19, 39]].all()


def test_every_reward_option_belongs_to_a_reward():
    """The table of options each reward reads covers every reward and every option, so no
    option is warned about as ignored by the reward that reads it."""
    from genreward_cli.rewards import REWARDS
    from genreward_cli.rewards.build import REWARD_OPTIONS, USES

    assert set(USES) == set(REWARDS)
    assert {o for used in USES.values() for o in used} == set(REWARD_OPTIONS) - {"reward"}


def test_a_baseline_with_the_env_reward_added(run_dir, tmp_path):
    """--add-env-reward: a baseline's total is its own plus the env reward as paid (sparse in
    these episodes), offline and online alike; its own terms are unchanged, the accounting
    weighs the env at 1, genreward and env refuse it, and the run's label says it."""
    from genreward_cli.goal.clip import FrameScorer
    from genreward_cli.rewards.base import WithEnvReward
    from genreward_cli.rewards.baselines import CLIPVideoReward, VLMReward
    from genreward_cli.stages.evaluate import method_name

    d = run_dir
    ep = load_episode(d / "expert.h5", 0)
    assert ep.reward.any() and not np.array_equal(ep.reward, ep.env_reward)  # sparse
    scorer = FrameScorer("tiny", "", device="cpu")
    for cls in (VLMReward, CLIPVideoReward):
        alone = cls(scorer, "reach the goal")
        own = alone(ep)
        model = WithEnvReward(cls(scorer, "reach the goal"))
        assert model.names == ("env", "clip", "total") and model.name == f"{alone.name} +env"
        parts = model(ep)
        np.testing.assert_array_equal(parts["env"], ep.reward)
        np.testing.assert_array_equal(parts["clip"], own["clip"])
        np.testing.assert_allclose(parts["total"], own["total"] + ep.reward, rtol=1e-6)
        online = replay_online(model, ep, ReplayedEnv(ep.image))
        np.testing.assert_allclose(online["total"], parts["total"], rtol=1e-4, atol=1e-5)
        assert model.weights() == {"env": 1.0, "clip": 1.0}
        assert model.schedule(40).steps().tolist() == alone.schedule(40).steps().tolist()
        assert model.cost.calls > 0 and model.cost is model.base.cost
    r = run("score-reward", d / "expert.h5", d / "random.h5", "--reward", "clip-video",
            "--clip-model", "tiny", "--add-env-reward", "--out", tmp_path / "s.h5", "--json")
    assert r.exit_code == 0, r.stderr
    assert set(json.loads(r.stdout)["components"]) == {"env", "clip"}
    with store.open_artifact(tmp_path / "s.h5", "reward_score") as art:
        assert art.attrs["reward"] == "clip-video +env"  # its Spearman includes the env term
    for reward, says in (("env", "--reward env is the env reward"),
                         ("genreward", "--reward genreward adds the env reward already (eq. 10)")):
        r = run("score-reward", d / "expert.h5", "--reward", reward, "--goal", d / "goal.h5",
                "--add-env-reward", "--out", tmp_path / "x.h5")
        assert r.exit_code == 2 and f"Error: --add-env-reward: {says}" in r.stderr, r.stderr
    assert not (tmp_path / "x.h5").exists()
    assert method_name({"reward": "roboclip", "s3d_model": "tiny", "add_env_reward": True}) \
        == "roboclip +env"
    assert method_name({"reward": "roboclip", "s3d_model": "tiny"}) == "roboclip"


@pytest.mark.parametrize("option", ["--alpha", "--beta"])
def test_negative_reward_weights_are_refused(tiny_chain, tmp_path, option):
    """`--alpha -0.01` was taken, its advice ("--alpha 491 would make it 10%") flipping the
    sign silently: eq. 10's weights are at least 0."""
    out = tmp_path / "s.h5"
    r = run("score-reward", tiny_chain / "expert.h5", "--goal", tiny_chain / "goal.h5", "--fb",
            tiny_chain / "fb.h5", option, "-0.01", "--out", out)
    assert r.exit_code == 2, r.stderr
    assert f"Invalid value for '{option}': must be at least 0, got -0.01" in r.stderr
    assert not out.exists()
