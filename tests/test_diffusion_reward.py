"""Diffusion Reward (rewards/diffusion_reward.py, rewards/vqdiffusion.py) at the tiny preset."""

import json

import numpy as np
import pytest
import torch

from genreward_cli.errors import BadInput
from genreward_cli.rewards.base import EpisodeRecord
from genreward_cli.rewards.diffusion_reward import (
    RND, DiffusionReward, EntropyScorer, VideoModel, condition_rows,
)
from genreward_cli.rewards.vqdiffusion import (
    FrameConditionedTransformer, FrameVQGAN, convert_authors_checkpoint, entropy_reward,
    make_scheduler, posterior, strided_steps, to_authors_checkpoint,
)
from helpers import fake_episode, run, write_episodes

TASK = "pick-place-v3"  # the task of tests.helpers.write_episodes


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Three 8-step 64x64 episodes and a tiny model trained a few steps on them."""
    d = tmp_path_factory.mktemp("dr")
    rng = np.random.default_rng(0)
    write_episodes(d / "ep.h5", [fake_episode(rng, T=8, size=64) for _ in range(3)],
                   policy="expert")
    r = run("train-video-model", d / "ep.h5", "--kind", "vqdiffusion", "--preset", "tiny",
            "--codec-steps", 2, "--steps", 2, "--batch-size", 4, "--out", d / "model", "--json")
    assert r.exit_code == 0, r.output
    return d


@pytest.fixture(scope="module")
def tiny():
    return VideoModel("tiny")


def episode(T=6, seed=0):
    rng = np.random.default_rng(seed)
    return EpisodeRecord(rng.integers(0, 256, (T + 1, 64, 64, 3), dtype=np.uint8),
                         np.zeros((T, 4), np.float32), np.zeros(T, np.float32),
                         np.zeros(T, np.float32), success=rng.integers(0, 2, T).astype(bool))


def test_schedule_is_its_closed_form(tiny):
    """VQ-Diffusion's alpha1 schedule: cumulative alpha and gamma linear over the 100 steps,
    beta = (1 - alpha - gamma) / K, and the per-step factors multiply to the cumulative."""
    s = tiny.scheduler
    T, K = 100, 32
    t = np.arange(T)
    att = 0.99999 + t / (T - 1) * (0.000009 - 0.99999)
    ctt = 0.000009 + t / (T - 1) * (0.99999 - 0.000009)
    np.testing.assert_allclose(s.log_cumprod_at[:T].exp().numpy(), att, rtol=1e-5)
    np.testing.assert_allclose(s.log_cumprod_ct[:T].exp().numpy(), ctt, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(s.log_cumprod_bt[:T].exp().numpy(), (1 - att - ctt) / K,
                               rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(np.cumprod(s.log_at.exp().double().numpy()), att, rtol=1e-4)
    np.testing.assert_allclose(1 - np.cumprod(1 - s.log_ct.exp().double().numpy()), ctt,
                               rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("t", [0, 1, 9, 50, 90, 99])
def test_each_posterior_sums_to_one(tiny, t):
    g = torch.Generator().manual_seed(t)
    K, N = 32, 64
    log_x0 = torch.log_softmax(torch.randn(3, K, N, generator=g), 1)
    x_t = torch.randint(0, K + 1, (3, N), generator=g)  # codes and masks
    x_t[0] = K  # all masked
    lse = torch.logsumexp(posterior(tiny.scheduler, log_x0, x_t, t), 1)
    torch.testing.assert_close(lse, torch.zeros_like(lse), atol=2e-5, rtol=0)


def test_skip_step_9_calls_the_denoiser_11_times(tiny, monkeypatch):
    assert strided_steps(100, 9) == [99, 89, 79, 69, 59, 49, 39, 29, 19, 9, 0]
    calls = []
    real = tiny.transformer.predict_x0
    monkeypatch.setattr(tiny.transformer, "predict_x0",
                        lambda x, c, t: calls.append(t) or real(x, c, t))
    cond = torch.randint(0, 32, (2, 128))
    r = entropy_reward(tiny.transformer, tiny.scheduler, cond, 9, torch.rand(11, 2, 33, 64))
    assert calls == strided_steps(100, 9) and r.shape == (2,) and torch.isfinite(r).all()
    assert len(strided_steps(100, 0)) == 100 and strided_steps(100, 10) == list(range(99, -1, -11))


def test_conditioning_frames():
    """Row r conditions on the frames ending at o_r; the first rows repeat the frame
    (the authors' imgs_to_batch); step k uses row k + 1."""
    rows = condition_rows(5)
    assert rows[:3].tolist() == [[0, 0], [0, 1], [1, 2]]
    assert rows[4].tolist() == [3, 4]
    assert condition_rows(6, 2, 2)[:4].tolist() == [[0, 0], [1, 1], [0, 2], [1, 3]]


def test_codec_reads_minus_one_to_one(tiny, monkeypatch):
    seen = []
    real = tiny.vqgan.encode_tokens
    monkeypatch.setattr(tiny.vqgan, "encode_tokens", lambda x: seen.append(x) or real(x))
    frames = np.zeros((2, 64, 64, 3), np.uint8)
    frames[1] = 255
    tiny.tokens(frames)
    assert seen[0].min() == -1.0 and seen[0].max() == 1.0
    with pytest.raises(AssertionError, match=r"\[-1, 1\]"):
        real(torch.full((1, 3, 64, 64), 2.0))
    with pytest.raises(BadInput, match="64, 64, 3"):
        tiny.tokens(np.zeros((1, 32, 32, 3), np.uint8))


def test_deterministic_under_a_seed(tiny):
    ep = episode()
    a = EntropyScorer(tiny, 9, seed=3).raw(ep.image, [1, 2, 3])
    b = EntropyScorer(tiny, 9, seed=3).raw(ep.image, [1, 2, 3])
    c = EntropyScorer(tiny, 9, seed=4).raw(ep.image, [1, 2, 3])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_standardised_with_the_tasks_statistics(files):
    model = DiffusionReward(str(files / "model"), TASK, rnd_batch=4)
    stats = json.loads((files / "model" / "diffusion_reward.json").read_text())["statistics"]
    mean, std = stats[TASK]["9"]
    assert (model.mean, model.std) == (mean, std) and std > 0
    raw = np.array([mean + 2 * std, mean], np.float32)
    np.testing.assert_allclose(model.standardise(raw), [2.0, 0.0], atol=1e-5)
    ep = episode(T=4)
    parts = model(ep)
    want = (parts["diffusion"] * 0.05 + parts["rnd"] * 0.95 + parts["success"])
    np.testing.assert_allclose(parts["total"], want, rtol=1e-5)
    np.testing.assert_array_equal(parts["success"], ep.success.astype(np.float32))
    with pytest.raises(BadInput, match="no reward statistics for task reach-v3"):
        DiffusionReward(str(files / "model"), "reach-v3")
    with pytest.raises(BadInput, match="at skip step 4"):
        DiffusionReward(str(files / "model"), TASK, skip_step=4)
    with pytest.raises(BadInput, match=r"^--diffusion-reward-model tiny: the built-in preset "
                                       r"has random weights and no reward statistics.*"
                                       r"train-video-model EXPERT.h5 --kind vqdiffusion"):
        DiffusionReward("tiny", TASK)  # the preset has none: the error says what to do


def test_online_equals_offline(files):
    """Row k + 1 needs only o_k and o_{k+1}: step by step gives the batched values, RND
    trained the same way in both."""
    ep = episode(T=7, seed=2)
    offline = DiffusionReward(str(files / "model"), TASK, rnd_batch=4)(ep)
    online = DiffusionReward(str(files / "model"), TASK, rnd_batch=4)
    steps = [online.step(EpisodeRecord(ep.image[: k + 2], ep.action[: k + 1],
                                       ep.env_reward[: k + 1], ep.reward[: k + 1],
                                       success=ep.success[: k + 1]), k, k == ep.length - 1,
                         scored=True)
             for k in range(ep.length)]
    for name, values in offline.items():
        np.testing.assert_allclose([s[name] for s in steps], values, rtol=1e-5, atol=1e-4,
                                   err_msg=name)


def test_offline_scores_do_not_depend_on_the_episodes_order(files):
    """Offline, each episode is scored from RND's initial state: episodes scored a, b give
    each the values of b, a (trained across episodes, the later one's bonus fell)."""
    a, b = episode(T=6, seed=1), episode(T=6, seed=2)
    forward = DiffusionReward(str(files / "model"), TASK, rnd_batch=4)
    first, second = forward(a), forward(b)
    backward = DiffusionReward(str(files / "model"), TASK, rnd_batch=4)
    np.testing.assert_array_equal(backward(b)["rnd"], second["rnd"])
    np.testing.assert_array_equal(backward(a)["rnd"], first["rnd"])


def test_rnd_bonus_falls_as_it_trains_on_one_frame():
    rnd = RND(seed=0)
    frame = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    before = rnd.bonus(frame)[0]
    for _ in range(30):
        rnd.update(frame)
    assert rnd.bonus(frame)[0] < 0.5 * before


def test_converter_round_trips():
    torch.manual_seed(0)
    vqgan = FrameVQGAN(channels=(8, 8, 16, 16), latent_dim=8, num_codes=32, norm_num_groups=4)
    tr = FrameConditionedTransformer(num_attention_heads=2, attention_head_dim=8, num_layers=2,
                                     cross_attention_dim=16, num_vector_embeds=33,
                                     condition_codes=32)
    theirs = to_authors_checkpoint(vqgan, tr)
    # their layout: nn.Sequential indices, 1x1-conv attention, VQ-Diffusion block names
    assert theirs["content_codec.model.encoder.model.0.weight"].shape == (8, 3, 3, 3)
    assert theirs["content_codec.model.encoder.model.1.block.2.weight"].ndim == 4
    assert theirs["content_codec.model.codebook.embedding.weight"].shape == (32, 8)
    assert theirs["transformer.transformer.blocks.1.mlp.conv1.weight"].shape == (32, 16, 3, 3)
    assert theirs["transformer.transformer.blocks.0.ln1_1.emb.weight"].shape == (100, 16)
    assert theirs["transformer.condition_emb.emb.weight"].shape == (32, 16)
    attn = [k for k in theirs if k.endswith(".q.weight")]
    assert attn and all(theirs[k].shape[2:] == (1, 1) for k in attn)
    theirs["transformer.log_at"] = torch.zeros(100)  # a buffer of theirs, ignored
    fresh_v = FrameVQGAN(channels=(8, 8, 16, 16), latent_dim=8, num_codes=32, norm_num_groups=4)
    fresh_t = FrameConditionedTransformer(num_attention_heads=2, attention_head_dim=8,
                                          num_layers=2, cross_attention_dim=16,
                                          num_vector_embeds=33, condition_codes=32)
    v, t = convert_authors_checkpoint(theirs, fresh_v, fresh_t)
    fresh_v.load_state_dict(v)
    fresh_t.load_state_dict(t)
    for a, b in ((vqgan, fresh_v), (tr, fresh_t)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    assert torch.equal(vqgan.encode_tokens(x), fresh_v.encode_tokens(x))
    del theirs["transformer.transformer.blocks.1.mlp.conv2.bias"]
    with pytest.raises(KeyError, match="missing"):
        convert_authors_checkpoint(theirs, fresh_v, fresh_t)


def test_score_reward_and_bad_inputs(files, tmp_path):
    common = ["--reward", "diffusion-reward", "--diffusion-reward-rnd-batch", 4]
    r = run("score-reward", files / "ep.h5", *common, "--diffusion-reward-model",
            files / "model", "--diffusion-reward-task", TASK, "--out", tmp_path / "s.h5", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["weights"] == pytest.approx({"diffusion": 0.05, "rnd": 0.95, "success": 1.0})
    assert out["episodes"] == 3 and out["cost"]["calls"] == 3
    # without --diffusion-reward-task, the episodes' own task
    r = run("score-reward", files / "ep.h5", *common, "--diffusion-reward-model",
            files / "model", "--out", tmp_path / "t.h5", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["auc"] == out["auc"]
    for args, message in (
        (["--diffusion-reward-model", tmp_path / "nope", "--diffusion-reward-task", TASK],
         "no such directory"),
        (["--diffusion-reward-model", files / "model", "--diffusion-reward-task", "reach-v3"],
         "--diffusion-reward-task reach-v3: differs from the episodes' task pick-place-v3"),
        ([], "needs --diffusion-reward-model"),
    ):
        r = run("score-reward", files / "ep.h5", *common, *args, "--out", tmp_path / "bad.h5")
        assert r.exit_code == 2, (args, r.output)
        assert message in r.output and len(r.output.strip().splitlines()) == 1, r.output
        assert not (tmp_path / "bad.h5").exists()
    r = run("train-video-model", files / "ep.h5", "--preset", "tiny", "--init", tmp_path / "x",
            "--out", tmp_path / "m2")
    assert r.exit_code == 2 and "--init" in r.output and not (tmp_path / "m2").exists()
    (tmp_path / "notes.txt").write_text("hello")  # torch.load raised KeyError(104) on it
    r = run("train-video-model", files / "ep.h5", "--preset", "tiny", "--init",
            tmp_path / "notes.txt", "--out", tmp_path / "m2")
    assert r.exit_code == 2 and r.stderr.strip() == (
        f"Error: --init {tmp_path / 'notes.txt'}: not a PyTorch checkpoint (the authors' "
        "best.pth) nor a model directory"), r.stderr
    assert not (tmp_path / "m2").exists()
    # checked before the training (it failed after it, naming train-agent's option)
    r = run("train-video-model", files / "ep.h5", "--preset", "tiny", "--skip-step", 5000,
            "--codec-steps", 10**6, "--out", tmp_path / "m2")
    assert r.exit_code == 2 and r.stderr.strip() == (
        "Error: --skip-step 5000: expected 0 to 99 (the model's 100 diffusion steps)"), r.stderr


def test_a_broken_model_folder_is_refused_in_one_line(files, tmp_path):
    """A model folder without a part's weights or with a damaged diffusion_reward.json is
    refused by `inspect` (which read configs alone and said nothing) and by the reward, in
    one line (diffusers logged its own error line before ours)."""
    import shutil

    for name, damage, message in (
        ("noweights", lambda m: (m / "transformer/diffusion_pytorch_model.safetensors").unlink(),
         "transformer/ has a config.json but no weights"),
        ("badjson", lambda m: (m / "diffusion_reward.json").write_text("{bad"),
         "diffusion_reward.json: Expecting property name"),
    ):
        model = tmp_path / name
        shutil.copytree(files / "model", model)
        damage(model)
        r = run("inspect", model)
        assert r.exit_code == 2 and message in r.stderr, r.stderr
        r = run("score-reward", files / "ep.h5", "--reward", "diffusion-reward",
                "--diffusion-reward-model", model, "--out", tmp_path / "s.h5")
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert f"--diffusion-reward-model {model}: cannot load" in r.stderr
        assert not (tmp_path / "s.h5").exists()


def test_a_batch_larger_than_the_data_is_cut_to_it(files, tmp_path):
    """`--batch-size 100000000` drew that many windows (with replacement) and exhausted the
    memory: a batch holds at most the frames there are (3 episodes of 9), with a warning."""
    with pytest.warns(UserWarning, match="--batch-size 100000000 is more than the 27 frames"):
        r = run("train-video-model", files / "ep.h5", "--preset", "tiny", "--codec-steps", 1,
                "--steps", 1, "--batch-size", 100_000_000, "--out", tmp_path / "m", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads((tmp_path / "m/diffusion_reward.json").read_text())


@pytest.mark.slow
def test_train_agent_with_diffusion_reward(tmp_path):
    """A few hundred steps of train-agent at the tiny presets on reach-v3, with a model
    trained on one short expert episode of the task."""
    r = run("collect", "--task", "reach-v3", "--max-steps", 40, "--policy", "expert",
            "--episodes", 1, "--out", tmp_path / "expert.h5")
    assert r.exit_code == 0, r.output
    r = run("train-video-model", tmp_path / "expert.h5", "--preset", "tiny", "--codec-steps", 2,
            "--steps", 2, "--batch-size", 4, "--out", tmp_path / "model")
    assert r.exit_code == 0, r.output
    tiny = ["--task", "reach-v3", "--max-steps", 40, "--preset", "tiny", "--prefill", 80,
            "--train-ratio", 32, "--batch", 4, "--length", 8, "--eval-every", 0,
            "--checkpoint-every", 5]
    r = run("train-agent", *tiny, "--reward", "diffusion-reward", "--diffusion-reward-model",
            tmp_path / "model", "--diffusion-reward-rnd-batch", 8, "--steps", 200,
            "--out", tmp_path / "run", "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["steps"] == 200 and summary["episodes"] == 5
    assert summary["reward_cost"]["calls"] == 200
    r = run("train-agent", *tiny, "--reward", "diffusion-reward", "--diffusion-reward-model",
            "tiny", "--steps", 10, "--out", tmp_path / "bad")
    assert r.exit_code == 2 and "no reward statistics for task reach-v3" in r.output
    assert not (tmp_path / "bad").exists()


def test_train_video_model_seed_makes_a_run_reproducible(files, tmp_path):
    """--seed fixes the initial weights as well as the batches: two runs of the same seed
    write the same weights; another seed other ones."""
    from safetensors.numpy import load_file

    def weights(out, seed):
        r = run("train-video-model", files / "ep.h5", "--kind", "vqdiffusion", "--preset", "tiny",
                "--codec-steps", 1, "--steps", 1, "--batch-size", 4, "--seed", seed,
                "--out", out)
        assert r.exit_code == 0, r.stderr
        found = sorted(out.rglob("*.safetensors"))
        assert found
        return [load_file(f) for f in found]

    first, again, other = (weights(tmp_path / n, s) for n, s in (("a", 3), ("b", 3), ("c", 4)))
    for x, y in zip(first, again):
        assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
    assert any(not np.array_equal(x[k], z[k]) for x, z in zip(first, other) for k in x)


def test_what_train_video_model_refuses_or_warns_of(files, tmp_path):
    """Statistics of a diverged model are refused (no folder written); --task must be the
    episodes' own; videos too short for a window are refused before the codec trains, in
    one line without the batch warning; episodes of another policy than the expert's warn."""
    out = tmp_path / "m"
    r = run("train-video-model", files / "ep.h5", "--preset", "tiny", "--codec-steps", 1,
            "--steps", 1, "--batch-size", 4, "--lr", 1e30, "--out", out)
    assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "not finite (lower --lr or --codec-lr)" in r.stderr
    assert not out.exists() and not list(tmp_path.iterdir())
    r = run("train-video-model", files / "ep.h5", "--preset", "tiny", "--task", "reach-v3",
            "--steps", 1, "--out", out)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"--task reach-v3: {files / 'ep.h5'} holds episodes of {TASK}" in r.stderr
    rng = np.random.default_rng(1)
    write_episodes(tmp_path / "short.h5", [fake_episode(rng, T=1, size=64)], policy="expert")
    r = run("train-video-model", tmp_path / "short.h5", "--preset", "tiny", "--out", out)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "every video has fewer than 3 frames" in r.stderr
    write_episodes(tmp_path / "random.h5", [fake_episode(rng, T=8, size=64) for _ in range(2)])
    with pytest.warns(UserWarning, match="2 of 2 episodes are not the scripted expert's "
                                         r"\(2 random\)"):
        r = run("train-video-model", tmp_path / "random.h5", "--preset", "tiny",
                "--codec-steps", 1, "--steps", 1, "--batch-size", 4, "--out", out)
    assert r.exit_code == 0, r.stderr


@pytest.mark.parametrize("key,value,message", [
    ("statistics", {TASK: {"9": ["a", 1]}}, f"statistics of {TASK} at skip step 9 are "
                                            '["a", 1], expected [mean, std]'),
    ("statistics", {TASK: {"9": [1.0]}}, "expected [mean, std]"),
    ("statistics", {TASK: {"9": [0.0, 0.0]}}, "a finite std > 0"),
    ("statistics", [], "statistics is not {task: {skip step: [mean, std]}}"),
    ("num_condition_frames", 0, "num_condition_frames is 0, the transformer conditions on 2"),
    ("frame_skip", -1, "frame_skip is -1, expected an integer >= 1"),
])
def test_a_model_json_edited_by_hand_is_refused(files, tmp_path, key, value, message):
    """diffusion_reward.json's values that the reward indexes or divides by: an IndexError,
    a ValueError from torch.cat or a division by zero before, each now one line."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(files / "model", model)
    meta = json.loads((model / "diffusion_reward.json").read_text())
    meta[key] = value
    (model / "diffusion_reward.json").write_text(json.dumps(meta))
    out = tmp_path / "s.h5"
    r = run("score-reward", files / "ep.h5", "--reward", "diffusion-reward",
            "--diffusion-reward-model", model, "--out", out)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"--diffusion-reward-model {model}: diffusion_reward.json: " in r.stderr
    assert message in r.stderr
    assert not out.exists()
