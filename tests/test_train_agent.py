"""`train-agent` and `evaluate` end to end through the CLI, at the tiny preset on reach-v3."""

import csv
import json
import shutil
import warnings

import h5py
import numpy as np
import pytest
import torch

from genreward_cli import store
from helpers import run

# 40-step episodes, a generative reward every 20 steps, 4 x 8 batches at ratio 32 (one
# update per env step after an 80-step prefill), evaluations every 80 steps.
TINY = ["--task", "reach-v3", "--max-steps", 40, "--preset", "tiny", "--prefill", 80,
        "--train-ratio", 32, "--batch", 4, "--length", 8, "--eval-every", 80,
        "--eval-episodes", 2, "--checkpoint-every", 1, "--reward-interval", 20]


@pytest.fixture(scope="module")
def files(tiny_chain, tmp_path_factory):
    """conftest's ``tiny_chain`` (episodes, goal frame, FB), with the goal encoded at 48x48,
    so the video reward renders its own frames."""
    d = tmp_path_factory.mktemp("agent")
    for name in ("expert.h5", "random.h5", "gf.h5", "fb.h5"):
        (d / name).symlink_to(tiny_chain / name)
    r = run("encode-goal", d / "expert.h5", d / "gf.h5", "--vae", "tiny", "--image-encoder", "tiny",
            "--height", 48, "--width", 48, "--out", d / "goal.h5")
    assert r.exit_code == 0, r.stderr
    return d


def train(files, out, *extra):
    r = run("train-agent", *TINY, "--reward", "genreward", "--goal", files / "goal.h5", "--fb",
            files / "fb.h5", "--out", out, "--json", *extra)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_train_agent_writes_a_run_that_resumes_exactly(files, tmp_path):
    summary = train(files, tmp_path / "straight", "--steps", 160, "--fb-train-steps", 120)
    assert summary["steps"] == 160 and summary["episodes"] == 4 and summary["updates"] == 81
    assert {p.name for p in (tmp_path / "straight").iterdir()} >= {
        "config.json", "checkpoint.pt", "log.h5", "metrics.jsonl", "tensorboard"}
    with store.open_artifact(tmp_path / "straight" / "log.h5", "agent_log") as art:
        f = art.file
        np.testing.assert_array_equal(f["episodes/step"][()], [40, 80, 120, 160])
        # Algorithm 1: the generative reward at steps 20 and 40 of each episode, env elsewhere
        steps = f["rewards/step"][()]
        np.testing.assert_array_equal(steps, [19, 39, 59, 79, 99, 119, 139, 159])
        video, fb, env, total = (f[f"rewards/{k}"][()] for k in ("video", "fb", "env", "total"))
        assert (video > 0).all() and (video <= 1).all() and (fb != 0).all()
        np.testing.assert_allclose(total, env + 1e-2 * video + 1e-5 * fb, rtol=1e-5)
        # the learned-from return adds exactly the generative terms to the env reward paid
        extra = (total - env).reshape(4, 2).sum(1)
        np.testing.assert_allclose(f["episodes/learn_return"][()] - f["episodes/return"][()],
                                   extra, rtol=1e-3, atol=1e-4)
        # each episode's share of r_video: sum |alpha r_video| / sum |total| (reach's dense
        # reward is positive, so sum |total| is the learned-from return)
        share = f["shares/video"][()]
        np.testing.assert_allclose(share, 1e-2 * np.abs(video).reshape(4, 2).sum(1)
                                   / f["episodes/learn_return"][()], rtol=1e-3)
        assert json.loads(art.attrs["weights"]) == {"env": 1.0, "video": 1e-2, "fb": 1e-5}
        assert f["eval/return"].shape == (2, 2) and list(f["eval/step"][()]) == [80, 160]
        straight = {k: f[k][()] for k in ("episodes/step", "episodes/return", "episodes/success",
                                          "episodes/learn_return", "eval/return", "rewards/step",
                                          "rewards/video", "rewards/fb", "rewards/total",
                                          "shares/env", "shares/video", "shares/fb")}
        straight.update({f"weights/agent/{n}": v[()] for n, v in f["weights/agent"].items()})
    lines = [json.loads(x) for x in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert any("train/image" in x for x in lines) and any("fb/loss" in x for x in lines)

    # the same run in two parts: 90 steps, 10 into the third episode (after its first
    # frames for the video reward were rendered at 48x48), then --resume (options from
    # config.json) to 160: the episode goes on where it stopped, and the log and every
    # weight are the uninterrupted run's, exactly
    part = train(files, tmp_path / "split", "--steps", 90, "--fb-train-steps", 120)
    assert part["steps"] == 90 and part["episodes"] == 2
    r = run("train-agent", "--out", tmp_path / "split", "--resume", "--steps", 160, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["episodes"] == 4
    with store.open_artifact(tmp_path / "split" / "log.h5", "agent_log") as art:
        assert set(art.file["weights/agent"]) == {k.split("/", 2)[2] for k in straight
                                                   if k.startswith("weights/")}
        for k, v in straight.items():
            np.testing.assert_array_equal(art.file[k][()], v, err_msg=k)

    # evaluate the run: an `eval` artifact and a rollout video
    r = run("evaluate", tmp_path / "straight", "--episodes", 2, "--out", tmp_path / "eval.h5",
            "--video", tmp_path / "roll.mp4", "--json")
    assert r.exit_code == 0, r.stderr
    with store.open_artifact(tmp_path / "eval.h5", "eval") as art:
        returns = art.file["return"][()]
        assert returns.shape == (2,) and art.attrs["mean"] == pytest.approx(returns.mean())
        assert list(art.file["length"][()]) == [40, 40]
    assert (tmp_path / "roll.mp4").stat().st_size > 0
    assert json.loads(r.stdout)["method"] == "genreward interval=20"  # not Table A's 128
    # an ablation's evaluation carries the label `evaluate --compare` gives it (it said
    # `genreward` alone, as the reward model's name)
    ablation = tmp_path / "ablation"
    shutil.copytree(tmp_path / "straight", ablation)
    with h5py.File(ablation / "log.h5", "r+") as f:
        f.attrs["config"] = json.dumps({**json.loads(f.attrs["config"]), "no_fb_reward": True})
    r = run("evaluate", ablation, "--episodes", 1, "--out", tmp_path / "eval_fb.h5")
    assert r.exit_code == 0, r.stderr
    assert "(genreward -fb interval=20, 160 steps)" in r.stderr.strip().splitlines()[-1]
    with store.open_artifact(tmp_path / "eval_fb.h5", "eval") as art:
        assert art.attrs["method"] == "genreward -fb interval=20"
        assert art.attrs["reward"] == "genreward"
    r = run("inspect", tmp_path / "eval.h5", "--json")
    assert json.loads(r.stdout)["summary"]["return_mean"] == pytest.approx(float(returns.mean()))
    r = run("inspect", tmp_path / "straight" / "log.h5", "--json")
    summary = json.loads(r.stdout)["summary"]
    assert summary["steps"] == 160 and summary["episodes"] == 4 and summary["evaluations"] == 2

    # compare two runs (an env-reward baseline next to it)
    r = run("train-agent", *TINY, "--reward", "env", "--steps", 80, "--out", tmp_path / "env")
    assert r.exit_code == 0, r.stderr
    with pytest.warns(UserWarning, match="share seed 0; counted as 1 seed"):
        r = run("evaluate", "--compare", tmp_path / "straight", tmp_path / "split",
                tmp_path / "env", "--plot", tmp_path / "curves.png", "--csv",
                tmp_path / "final.csv", "--json")
    assert r.exit_code == 0, r.stderr
    rows = {row["method"]: row for row in csv.DictReader(open(tmp_path / "final.csv"))}
    # the method's label names its reward interval, 20 here, not Table A's 128
    rows["genreward"] = rows.pop("genreward interval=20")
    assert rows["genreward"]["seeds"] == "1" and rows["genreward"]["runs"] == "2"
    assert rows["genreward"]["step"] == "160" and rows["genreward"]["episode_steps"] == "40"
    assert float(rows["genreward"]["return_std"]) == 0.0  # the two runs are the same run
    assert rows["env"]["step"] == "80" and (tmp_path / "curves.png").stat().st_size > 0
    # each method's mean share of its learned-from return, the run's own episodes averaged
    assert float(rows["genreward"]["share_video"]) == pytest.approx(float(np.mean(share)), rel=1e-4)
    assert float(rows["env"]["share_env"]) == 1.0 and rows["env"]["share_video"] == ""


def test_replay_on_the_device_trains_the_host_runs_weights(tmp_path):
    """--replay-device device (a copy of the replay gathered from, here on the CPU) gives
    the weights of a run gathering from the host buffer, also when a run changes it on
    --resume."""
    def weights(out):
        with store.open_artifact(out / "log.h5", "agent_log") as art:
            return {n: v[()] for n, v in art.file["weights/agent"].items()}

    env = [*TINY, "--reward", "env", "--json"]
    r = run("train-agent", *env, "--steps", 120, "--replay-device", "host", "--out", tmp_path / "host")
    assert r.exit_code == 0, r.stderr
    r = run("train-agent", *env, "--steps", 100, "--replay-device", "device", "--out", tmp_path / "dev")
    assert r.exit_code == 0, r.stderr
    assert json.loads((tmp_path / "dev" / "config.json").read_text())["replay_device"] == "device"
    r = run("train-agent", "--out", tmp_path / "dev", "--resume", "--steps", 120,
            "--replay-device", "host", "--json")
    assert r.exit_code == 0, r.stderr
    host, dev = weights(tmp_path / "host"), weights(tmp_path / "dev")
    assert host.keys() == dev.keys() and len(host) > 10
    for name in host:
        np.testing.assert_array_equal(dev[name], host[name], err_msg=name)
    # the run directory is checked before the replay is made: an existing run is the error,
    # not a replay too large for the machine
    r = run("train-agent", *env, "--capacity", 10**13, "--out", tmp_path / "host")
    assert r.exit_code == 2 and "already holds a run" in r.stderr, r.stderr
    r = run("train-agent", *env, "--replay-device", "gpu", "--out", tmp_path / "bad")
    assert r.exit_code == 2 and "'gpu' is not one of 'auto', 'device', 'host'" in r.stderr
    assert not (tmp_path / "bad").exists()


def test_relative_alpha_weighs_by_the_prefills_env_reward_scale(files, tmp_path):
    """--alpha-mode relative: after the 80-step prefill the weights are alpha sigma and beta
    sigma, sigma logged once; episodes after the prefill learn from exactly those weights."""
    summary = train(files, tmp_path / "rel", "--steps", 160, "--alpha-mode", "relative",
                    "--alpha", 0.5, "--beta", 0.25)
    assert summary["episodes"] == 4
    lines = [json.loads(x) for x in (tmp_path / "rel" / "metrics.jsonl").read_text().splitlines()]
    scale = [x for x in lines if "reward/sigma_env" in x]
    assert len(scale) == 1 and scale[0]["step"] == 80
    sigma = scale[0]["reward/sigma_env"]
    assert sigma > 0 and scale[0]["reward/alpha"] == pytest.approx(0.5 * sigma)
    with store.open_artifact(tmp_path / "rel" / "log.h5", "agent_log") as art:
        f = art.file
        assert json.loads(art.attrs["weights"])["video"] == pytest.approx(0.5 * sigma)
        video, fb, env = (f[f"rewards/{k}"][()].reshape(4, 2) for k in ("video", "fb", "env"))
        gained = (f["episodes/learn_return"][()] - f["episodes/return"][()])
        np.testing.assert_allclose(gained[2:], (0.5 * sigma * video + 0.25 * sigma * fb)[2:].sum(1),
                                   rtol=1e-3, atol=1e-4)
        # the prefill's episodes were logged before sigma was known: no generative term
        np.testing.assert_allclose(gained[:2], 0.0, atol=1e-4)


def test_relative_scale_relabels_the_prefill_in_the_replay():
    from genreward_cli.agent.replay import Replay
    from genreward_cli.stages.train_agent import RewardAccounting

    class Model:  # GenerativeReward's weighting interface
        alpha_mode, scale = "relative", None

        def set_scale(self, sigma):
            self.scale = sigma

        alpha = property(lambda self: 2.0 * self.scale)
        beta = property(lambda self: 3.0 * self.scale)

        def weights(self):
            return {"env": 1.0, "video": self.alpha, "fb": self.beta}

    model, replay = Model(), Replay(16, (4, 4, 3), 2)
    accounting = RewardAccounting(model, replay, prefill=4)
    env = [0.0, 2.0, 0.0, 2.0]  # standard deviation 1
    for step, r in enumerate(env):
        parts = {"env": r, "video": 0.5, "fb": 1.0, "total": r}  # provisional scale 0
        replay.add(np.zeros((4, 4, 3), np.uint8), np.zeros(2, np.float32), r, False, False)
        line = accounting.step(step, parts, scored=step in (1, 3))
        assert (line is None) == (step < 3)
    assert model.scale == pytest.approx(1.0) and "alpha 2 and beta 3" in line
    # steps 1 and 3 got 2 * 0.5 + 3 * 1 = 4 added; the others are untouched
    np.testing.assert_allclose(replay.reward[:4], [0.0, 6.0, 0.0, 6.0])
    shares = accounting.end_episode()
    assert shares["video"] == 0.0  # the prefill ran at scale 0: provisional shares


def test_train_agent_bad_inputs(files, tmp_path):
    d = files
    r = run("encode-goal", d / "expert.h5", d / "gf.h5", "--vae", "tiny", "--image-encoder", "tiny",
            "--image-resolution", 32, "--out", tmp_path / "goal32.h5")
    assert r.exit_code == 0
    bad = [
        (["--reward", "viper"], "'viper' is not one of"),
        (["--task", "pick-place-v3", "--goal", d / "goal.h5", "--fb", d / "fb.h5"],
         "a goal for reach-v3, not for --task pick-place-v3"),
        (["--camera", "corner2", "--goal", d / "goal.h5", "--fb", d / "fb.h5"],
         "a goal seen from camera corner, not --camera corner2"),
        (["--goal", tmp_path / "goal32.h5", "--fb", d / "fb.h5"], "trained with another image encoder"),
        (["--goal", d / "goal.h5", "--fb", d / "goal.h5"], "expected 'fb'"),
        (["--goal", d / "goal.h5", "--fb", d / "fb.h5", "--size", 32, "--fb-train-steps", 10],
         "the FB model was trained on 64x64 frames, the agent sees 32x32"),
        (["--reward", "env", "--fb-train-steps", 10], "needs --reward genreward with --fb"),
        # 40-step episodes never reach step 128: the run would learn from r_env alone
        (["--goal", d / "goal.h5", "--fb", d / "fb.h5", "--max-steps", 40],
         "--max-steps 40: too few steps per episode for any step to get the genreward reward "
         "(--reward-interval 128)"),
        (["--reward", "env", "--width", 48], "the agent's encoder takes square frames"),
        (["--reward", "env", "--agent", "dter=1"], "unknown AgentConfig option(s): dter"),
        (["--reward", "env", "--agent", "precision=fp16"],
         "--agent precision: 'fp16' is not one of fp32, bf16"),
        (["--reward", "env", "--agent", "deter=wide"], "--agent deter: expected int, got str 'wide'"),
        # 1.2e17 bytes: more than any machine's address space
        (["--reward", "env", "--capacity", 10**13], "--capacity 10000000000000: the replay does "
                                                     "not fit in this machine's memory"),
        (["--reward", "env", "--capacity", 10, "--length", 16],
         "--capacity 10: the replay must hold one --length 16 sequence; give at least 16"),
    ]
    if not torch.cuda.is_available():
        bad.append((["--reward", "env", "--device", "cuda"], "--device cuda: no CUDA GPU"))
    for args, message in bad:
        r = run("train-agent", "--task", "reach-v3", "--preset", "tiny", *args, "--out", tmp_path / "run")
        assert r.exit_code == 2 and message in r.stderr, (args, r.stderr)
        assert not (tmp_path / "run").exists(), args
    r = run("train-agent", "--out", tmp_path / "none", "--resume")
    assert r.exit_code == 2 and "no run to continue" in r.stderr
    own = tmp_path / "own"  # a folder of the user's: no run is written into it, nor emptied,
    own.mkdir()             # even where some of its files have a run's file names
    mine = {"notes.txt": "important", "config.json": '{"lr": 1}', "metrics.jsonl": '{"my": 1}\n'}
    for name, text in mine.items():
        (own / name).write_text(text)
    for force in ([], ["--force"]):
        r = run("train-agent", "--task", "reach-v3", "--preset", "tiny", "--reward", "env",
                "--out", own, *force)
        assert r.exit_code == 2 and f"--out {own}: a folder holding config.json, " \
            "metrics.jsonl, notes.txt, not a run" in r.stderr, (force, r.stderr)
        assert {p.name: p.read_text() for p in own.iterdir()} == mine
    r = run("evaluate", d / "expert.h5", "--out", tmp_path / "e.h5")
    assert r.exit_code == 2 and "expected 'agent_log'" in r.stderr


def test_a_run_that_ends_within_its_prefill_says_it_never_updates(tmp_path):
    """`--steps` within `--prefill` (5000 by default: the help's tiny example once gave
    --steps 5000, which at Table A's ratio owes half an update) takes random actions only and
    is never updated: one warning says so; a run that updates gets none. Unit cases below."""
    short = ["--task", "reach-v3", "--reward", "env", "--preset", "tiny", "--max-steps", 10,
             "--train-ratio", 32, "--batch", 2, "--length", 4, "--eval-every", 0]
    with pytest.warns(UserWarning, match=r"^--steps 20 with --prefill 21: every step takes a "
                                         r"random action; the agent is never updated:"):
        r = run("train-agent", *short, "--steps", 20, "--prefill", 21, "--json",
                "--out", tmp_path / "within")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["updates"] == 0
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="--steps")  # the warning would fail the run
        r = run("train-agent", *short, "--steps", 20, "--prefill", 20, "--json",
                "--out", tmp_path / "past")  # its last step owes 32 / (2 x 4) = 4 updates
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["updates"] == 4
    from genreward_cli.agent.loop import LoopConfig
    from genreward_cli.stages.train_agent import prefill_warning

    assert prefill_warning(LoopConfig(steps=5000, prefill=5000)).endswith(  # owes 0.5
        "give a smaller --prefill (the tiny pipeline uses 256) or more --steps")
    assert prefill_warning(LoopConfig(steps=200, prefill=256)).endswith(": give more --steps")
    assert prefill_warning(LoopConfig(steps=5001, prefill=5000)) is None  # owes one
    assert prefill_warning(LoopConfig(steps=63, prefill=0, train_ratio=1024))  # replay < 64
    assert prefill_warning(LoopConfig(steps=64, prefill=0, train_ratio=1024)) is None
    # past the prefill, the cause is named: the sequence length, or a low train ratio
    assert prefill_warning(LoopConfig(steps=120, prefill=20, length=64, batch=16,
                                      train_ratio=1)) == (
        "--steps 120: updates start at env step 64 (--length 64, the sequence an update "
        "replays) and come 0.000977 per step (--train-ratio 1 / (--batch 16 x --length 64)), "
        "0.056 in all; the agent is never updated: give more --steps")
    assert prefill_warning(LoopConfig(steps=300, prefill=100, length=8, batch=4,
                                      train_ratio=0.1)).startswith(
        "--steps 300: updates start at env step 100 (--prefill 100) and come 0.00313 per step")
    r = run("train-agent", *short, "--steps", 20, "--train-ratio", 0, "--out", tmp_path / "z")
    assert r.exit_code == 2 and "--train-ratio" in r.stderr and not (tmp_path / "z").exists()


def test_the_live_line_ends_with_the_runs_updates_and_lists_each_component(tmp_path):
    """The live line was refreshed only when an episode ended: the updates after the last
    one were missing from it (`updates 16` above a run's `21 updates`). Its components are
    the reward model's own (Diffusion Reward's showed none)."""
    import re

    from genreward_cli.stages.train_agent import _status

    r = run("train-agent", "--task", "reach-v3", "--reward", "env", "--preset", "tiny",
            "--max-steps", 10, "--train-ratio", 32, "--batch", 2, "--length", 4,
            "--eval-every", 0, "--prefill", 10, "--steps", 25, "--json", "--out", tmp_path / "a")
    assert r.exit_code == 0, r.stderr
    shown = re.findall(r"updates (\d+)", r.stderr)
    assert shown and int(shown[-1]) == json.loads(r.stdout)["updates"] == 64, r.stderr
    ep = {"episode": 3, "episode/return": 1.5, "episode/success": True,
          "episode/reward_diffusion": 0.25, "episode/reward_rnd": 0.5,
          "episode/reward_success": 1.0, "episode/reward_total": 1.75}
    assert _status(ep, 7, 2.0) == ("2.0 steps/s  ep 3  return 1.5  success yes  diffusion 0.25  "
                                   "rnd 0.5  success reward 1  updates 7")
    # an ablated component (r_FB under --no-fb-reward, always 0) is not shown
    ep = {"episode": 1, "episode/return": 2.0, "episode/success": False,
          "episode/reward_env": 2.0, "episode/reward_video": -0.5, "episode/reward_fb": 0.0,
          "episode/reward_total": 1.5}
    assert _status(ep, 0, 1.0, ablated=("fb",)) == ("1.0 steps/s  ep 1  return 2.0  success no  "
                                                    "video -0.5  updates 0")


def test_the_live_line_is_refreshed_within_an_episode(tmp_path, monkeypatch):
    """The live line changed only when an episode ended: a slow run (the paper preset on a
    CPU) showed the prefill's speed and `updates 0` for minutes after the prefill. It is now
    refreshed within episodes too, also before the first one ends. Here every refresh is
    written (a non-terminal's log lines, every 0 s) in a run that ends before its first
    episode: 10 prefill steps, then 4 updates per step."""
    import re

    from genreward_cli import progress
    from genreward_cli.stages import train_agent

    monkeypatch.setattr(progress, "LOG_EVERY", 0.0)
    monkeypatch.setattr(train_agent, "LIVE_EVERY", 0.0)
    r = run("train-agent", "--task", "reach-v3", "--reward", "env", "--preset", "tiny",
            "--max-steps", 40, "--train-ratio", 32, "--batch", 2, "--length", 4,
            "--eval-every", 0, "--prefill", 10, "--steps", 20, "--json", "--out", tmp_path / "a")
    assert r.exit_code == 0, r.stderr
    shown = [int(n) for n in re.findall(r"no episode yet  updates (\d+)", r.stderr)]
    assert len(shown) >= 10, r.stderr  # one per step and update after the prefill
    assert shown == sorted(shown) and 0 < shown[len(shown) // 2] < shown[-1], r.stderr
    assert shown[-1] == json.loads(r.stdout)["updates"] == 44  # 4 x steps 10 to 20


def test_reports_on_a_run_shorter_than_one_episode(tmp_path, monkeypatch):
    """A run that ends before its first episode does (30 steps of 40-step episodes) exits 0
    and says no episode has finished; so do its resume, inspect, evaluate, evaluate --compare
    and the pipeline's closing report."""
    out = tmp_path / "agent"
    short = ["--task", "reach-v3", "--reward", "env", "--preset", "tiny", "--max-steps", 40,
             "--prefill", 10, "--train-ratio", 32, "--batch", 4, "--length", 8, "--eval-every", 0]
    r = run("train-agent", *short, "--steps", 30, "--out", out)
    assert r.exit_code == 0, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"wrote {out}: 30 steps, 0 episodes, ") and "steps/s" in last
    assert "no episode has finished yet (episodes are 40 steps)" in last
    r = run("train-agent", "--out", out, "--resume", "--steps", 35, "--json")  # still mid-episode
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["steps"] == 35 and summary["episodes"] == 0 and summary["episode_steps"] == 40
    assert summary["mean_return_last10"] is None and summary["success_last10"] is None
    # --steps below the step reached is refused, and the run is left as it was
    before = {p.name: p.read_bytes() for p in (out / "config.json", out / "checkpoint.pt")}
    r = run("train-agent", "--out", out, "--resume", "--steps", 20)
    assert r.exit_code == 2
    assert "--resume --steps 20: " in r.stderr and "is already at step 35" in r.stderr
    assert {p.name: p.read_bytes() for p in (out / "config.json", out / "checkpoint.pt")} == before
    # a resume at the step reached takes no step: no speed to report
    r = run("train-agent", "--out", out, "--resume", "--steps", 35, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["steps"] == 35 and json.loads(r.stdout)["steps_per_s"] is None
    # a resume that changes the reward is refused before the new reward model is built
    r = run("train-agent", "--out", out, "--resume", "--steps", 50, "--reward", "vlm-rm")
    assert r.exit_code == 2
    assert "was run with other options: " in r.stderr and "reward='env' (now 'vlm-rm')" in r.stderr
    # a config.json replaced by another file (a CSV written over it): exit 2, naming it
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    saved = json.loads((out / "config.json").read_text())
    no_task, no_prefill = ({k: v for k, v in saved.items() if k != key}
                           for key in ("task", "prefill"))  # resumed on defaults, or failed
    del saved["behavior"]["critic_lr"]
    for text, says in (("task,return\nreach-v3,1\n", "not the JSON"),
                       ("[1, 2]", "not the JSON"), ("{}", "lacks 'task'"),
                       (json.dumps(no_task), "lacks 'task'"),
                       (json.dumps(no_prefill), "lacks 'prefill'"),
                       (json.dumps({**saved, "agent": None}), "has null for 'agent'"),
                       (json.dumps(saved), "lacks 'behavior.critic_lr'")):
        (broken / "config.json").write_text(text)
        r = run("train-agent", "--out", broken, "--resume", "--steps", 50)
        assert r.exit_code == 2, r.stderr
        line, = r.stderr.strip().splitlines()
        assert line.startswith(f"Error: {broken / 'config.json'}: {says}") \
            and line.endswith("the run's options are lost, so it cannot be resumed"), line
    # a value of the wrong type or range in it: named as its key there, not as an option
    # the user never gave (`--max-steps: expected int`)
    full = json.loads((out / "config.json").read_text())
    for key, value, says in (("max_steps", "abc", "max_steps: expected int, got str 'abc'"),
                             ("prefill", -3, "prefill: must be at least 0, got -3"),
                             ("task", "nope-v3", "task: unknown Meta-World task 'nope-v3'")):
        (broken / "config.json").write_text(json.dumps({**full, key: value}))
        r = run("train-agent", "--out", broken, "--resume", "--steps", 50)
        assert r.exit_code == 2, r.stderr
        line, = r.stderr.strip().splitlines()
        assert line.startswith(f"Error: {broken / 'config.json'}: {says}"), line
    # a checkpoint emptied, written over or cut short: EOFError, ValueError or OSError and
    # exit 1 before; one line naming it, exit 2, and the file left for the user to look at
    shutil.copytree(out, broken, dirs_exist_ok=True)
    whole = (out / "checkpoint.pt").read_bytes()
    for damaged in (b"", b"garbage\n", whole[:len(whole) // 2], b"\x80\x04K\x07."):
        (broken / "checkpoint.pt").write_bytes(damaged)
        r = run("train-agent", "--out", broken, "--resume", "--steps", 50)
        assert r.exit_code == 2, r.stderr
        line, = r.stderr.strip().splitlines()
        assert line.startswith(f"Error: {broken / 'checkpoint.pt'}: ") and (
            "a damaged checkpoint (" in line or "not a checkpoint (a int" in line), line
        assert line.endswith("train anew with --force"), line
        assert "internal" not in line  # torch's zip reader's second sentence is left out
        assert (broken / "checkpoint.pt").read_bytes() == damaged
    import torch

    torch.save({"model": {}}, broken / "checkpoint.pt")  # some other program's checkpoint
    r = run("train-agent", "--out", broken, "--resume", "--steps", 50)
    assert r.exit_code == 2, r.stderr
    assert r.stderr.startswith(f"Error: {broken / 'checkpoint.pt'}: not a checkpoint of this "
                               "run (KeyError: 'trainer')"), r.stderr
    # SIGTERM mid-run: the one line says where the run stands and how to go on
    from genreward_cli.cli import Terminated
    from genreward_cli.stages import acting

    def terminated(*args, **kwargs):
        raise Terminated()

    with monkeypatch.context() as m:
        m.setattr(acting, "train", terminated)
        r = run("train-agent", "--out", out, "--resume", "--steps", 50)
        assert r.exit_code == 143
        assert r.stderr.strip().endswith(f"the run in {out} stays at its last checkpoint "
                                         "(step 35): rerun with --resume to continue")
        # a new run stopped before its first checkpoint keeps nothing: a plain rerun starts
        # it (it used to leave a folder that --resume refused and that refused a plain rerun)
        (tmp_path / "made").mkdir()
        for fresh in (tmp_path / "fresh" / "deeper", tmp_path / "made"):
            r = run("train-agent", *short, "--steps", 30, "--out", fresh)
            assert r.exit_code == 143
            assert r.stderr.strip().endswith(
                "stopped before its first checkpoint (one every 10 episodes: "
                "--checkpoint-every), so nothing is kept: rerun to start over")
        # the folders it made go too; one that was there stays, emptied
        assert not (tmp_path / "fresh").exists() and not any((tmp_path / "made").iterdir())

        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt()

        m.setattr(acting, "train", interrupted)  # Ctrl-C: the same line, then `Aborted!`
        r = run("train-agent", *short, "--steps", 30, "--out", tmp_path / "fresh")
        assert r.exit_code == 1
        assert r.stderr.strip().splitlines()[-2:] == [
            "stopped before its first checkpoint (one every 10 episodes: --checkpoint-every), "
            "so nothing is kept: rerun to start over",
            "Aborted!"]
        assert not (tmp_path / "fresh").exists()
    # SIGTERM while the final log.h5 is written, after the checkpoint: the run keeps that
    # checkpoint and says so (it said "unfinished output removed"), and --resume writes the log
    from genreward_cli.stages import train_agent as stage

    def log_interrupted(*args, **kwargs):
        raise Terminated()

    cut = tmp_path / "cut"
    shutil.copytree(out, cut)
    with monkeypatch.context() as m:
        m.setattr(stage, "write_agent_log", log_interrupted)
        r = run("train-agent", "--out", cut, "--resume", "--steps", 40)
    assert r.exit_code == 143
    assert r.stderr.strip().endswith(f"the run in {cut} stays at its last checkpoint "
                                     "(step 40): rerun with --resume to continue"), r.stderr
    r = run("train-agent", "--out", cut, "--resume", "--steps", 40, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["steps"] == 40, r.stderr
    with store.open_artifact(cut / "log.h5", "agent_log") as art:
        assert int(art.attrs["steps"]) == 40
    # resumed after an episode: its live line shows that episode until the next one ends
    r = run("train-agent", "--out", cut, "--resume", "--steps", 45)
    assert r.exit_code == 0, r.stderr
    assert "ep 1  return " in r.stderr and "no episode yet" not in r.stderr, r.stderr
    assert "1 episode, " in r.stderr and "; last episode: return " in r.stderr, r.stderr
    # a run killed outright (SIGKILL) before its first checkpoint: told what to do
    killed = tmp_path / "killed"
    killed.mkdir()
    shutil.copy(out / "config.json", killed / "config.json")
    r = run("train-agent", *short, "--steps", 30, "--out", killed)
    assert r.exit_code == 2
    assert "holds a run stopped before its first checkpoint; pass --force" in r.stderr
    r = run("train-agent", "--out", killed, "--resume", "--steps", 30)
    assert r.exit_code == 2
    assert "stopped before its first checkpoint, so there is nothing to resume" in r.stderr

    r = run("inspect", out / "log.h5", "--json")
    assert r.exit_code == 0, r.stderr
    s = json.loads(r.stdout)["summary"]
    assert s["steps"] == 35 and s["episodes"] == 0 and s["last10_return_mean"] is None
    assert s["note"].startswith("no episode has finished yet")
    r = run("inspect", out / "log.h5")
    assert r.exit_code == 0 and "no episode has finished yet" in r.stdout
    r = run("inspect", out, "--json")  # the run folder: its log
    assert r.exit_code == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["kind"] == "agent_log" and rep["folder"] == str(out) and rep["summary"] == s

    # the policy can be evaluated (its own episodes finish); the line notes the training's
    r = run("evaluate", out, "--episodes", 1, "--out", tmp_path / "eval.h5")
    assert r.exit_code == 0, r.stderr
    assert "over 1 episode, success" in r.stderr and "in training, no episode has finished yet" in r.stderr
    r = run("evaluate", "--compare", out, "--plot", tmp_path / "c.png", "--csv", tmp_path / "c.csv")
    assert r.exit_code == 0, r.stderr
    assert ("env on reach-v3 (dense, 40-step episodes): no episode has finished yet in its "
            "1 run(s)") in r.stderr
    row, = csv.DictReader(open(tmp_path / "c.csv"))
    assert row["method"] == "env" and row["step"] == row["return_mean"] == row["success"] == ""
    r = run("evaluate", "--compare", out, "--json")
    assert r.exit_code == 0, r.stderr
    row, = json.loads(r.stdout)["rows"]
    assert row["step"] is None and row["return_mean"] is None and row["return_std"] is None

    # the pipeline's report on such a run (its stages stubbed as done: only the report runs)
    from genreward_cli.stages import pipeline

    root = tmp_path / "pipe"
    root.mkdir()
    out.rename(root / "agent")
    (tmp_path / "eval.h5").rename(root / "eval.h5")
    with store.write_artifact(root / "goal_frame.h5", "goal_frame", config={},
                                  parents=[]) as h5:
        store.array_dataset(h5, "frame", np.zeros((8, 8, 3), np.uint8))
        store.array_dataset(h5, "scores", np.asarray([0.1, 0.3], np.float32))
        store.array_dataset(h5, "topk", np.asarray([1, 0], np.int64))
        h5.attrs.update(index=1, text="reach", clip_model="tiny", clip_pretrained="")
    monkeypatch.chdir(root)
    monkeypatch.setattr(pipeline, "status", lambda stage, root: ("done", "up to date"))

    def run_in_process(stage, root, mode):  # `evaluate --compare agent`, in this process
        r = run(*pipeline.stage_argv(stage, mode))  # as run_stage
        assert r.exit_code == 0, r.stderr
        return 0.0

    monkeypatch.setattr(pipeline, "run_stage", run_in_process)
    r = run("pipeline", "--task", "reach-v3", "--out", root, "--json")
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["agent"] == {"steps": 35, "episodes": 0, "episode_steps": 40}
    assert report["eval"]["episodes"] == 1
    r = run("pipeline", "--task", "reach-v3", "--out", root)
    assert r.exit_code == 0, r.stderr
    text = " ".join(r.stderr.split())
    assert "learning curve: none yet, no episode has finished yet in training (35 steps of " \
           "40-step episodes)" in text


@pytest.mark.parametrize("episodes,label", [(1, "last episode: "), (3, "last 3 episodes: "),
                                            (12, "last 10 episodes: ")])
def test_summary_line_counts_the_episodes_it_averages(episodes, label):
    """A run of three episodes said "last 10 episodes"; the line names how many it means."""
    from genreward_cli.stages.train_agent import summary_line

    line = summary_line("run", {"episodes": episodes, "steps": 500 * episodes, "updates": 7,
                                "mean_return_last10": 12.5, "success_last10": 0.5,
                                "episode_steps": 500, "steps_per_s": None})
    assert f"; {label}return 12.5, success 50%" in line, line


def test_the_live_speed_right_after_the_first_update_is_not_zero():
    """The speed counts from the first update; a refresh at that update, before any step
    since, showed 0.0 steps/s: until a step passes, the run's speed from its start."""
    from genreward_cli.stages.train_agent import live_rate

    start, first_update = (0.0, 0), (10.0, 256)  # 256 prefill steps in 10 s
    assert live_rate(10.5, 256, first_update, start) == pytest.approx(256 / 10.5)
    assert live_rate(14.0, 260, first_update, start) == pytest.approx(1.0)  # 4 steps in 4 s
