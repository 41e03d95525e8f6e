"""The TADPoLe reward (rewards/tadpole.py) at the tiny Stable Diffusion preset, on a CPU."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from genreward_cli import store
from genreward_cli.rewards.base import EpisodeRecord
from genreward_cli.rewards.tadpole import TADPoLeReward, symlog, tadpole_terms
from helpers import run

TEXT = "reach the goal position with the gripper"


@pytest.fixture(scope="module")
def model():
    return TADPoLeReward("tiny", TEXT)


def episode(T=6, size=64, seed=0, success=True):
    rng = np.random.default_rng(seed)
    return EpisodeRecord(rng.integers(0, 256, (T + 1, size, size, 3), dtype=np.uint8),
                         rng.uniform(-1, 1, (T, 4)).astype(np.float32),
                         np.zeros(T, np.float32), np.zeros(T, np.float32),
                         success=rng.integers(0, 2, T).astype(bool) if success else None)


class StubUNet(torch.nn.Module):
    """Predicts a constant: ``uncond`` for rows whose text states are the empty prompt's,
    ``text`` for the others; records the timesteps and inputs it sees."""

    def __init__(self, uncond_states, uncond=0.0, text=0.1):
        super().__init__()
        self.uncond_states, self.uncond, self.text = uncond_states, uncond, text
        self.calls = []

    def forward(self, sample, timestep, encoder_hidden_states):
        self.calls.append((sample.clone(), timestep.clone()))
        is_uncond = torch.tensor([torch.equal(s, self.uncond_states[0])
                                  for s in encoder_hidden_states])
        value = torch.where(is_uncond, self.uncond, self.text).to(sample.dtype)
        return SimpleNamespace(sample=value[:, None, None, None].expand_as(sample).clone())


@pytest.fixture
def stub(model):
    real = model.unet
    model.unet = StubUNet(model.uncond_embedding)
    yield model.unet
    model.unet = real


def test_terms_by_hand():
    u, c, n = torch.zeros(1, 4, 2, 2), torch.full((1, 4, 2, 2), 0.1), torch.full((1, 4, 2, 2), 0.1)
    align, recon = tadpole_terms(u, c, n)
    # 2000 * 0.1^2 = 20; 200 * (0.1^2 - 0) = 2
    assert align.item() == pytest.approx(np.log(21.0), rel=1e-6)
    assert recon.item() == pytest.approx(np.log(3.0), rel=1e-6)
    assert tadpole_terms(c, u, n)[1].item() == pytest.approx(-np.log(3.0), rel=1e-6)
    assert symlog(np.array([-1.0, 0.0, np.e - 1])).tolist() == pytest.approx([-np.log(2), 0, 1])


def test_formula_on_a_stub_unet(model, stub):
    """With the UNet's predictions known, each step's terms are the hand-computed ones from
    the same noise draws, and every step adds 2 x success."""
    ep = episode()
    parts = model(ep)
    key = model.episode_key(ep.image[0])
    for k in range(ep.length):
        _, noise = model.draws(key, k, (4, 8, 8))
        want_align = np.log1p(2000 * 0.1 ** 2)
        diff = float(((0.0 - noise) ** 2).mean() - ((0.1 - noise) ** 2).mean())
        want_recon = np.sign(diff) * np.log1p(abs(200 * diff))
        assert parts["alignment"][k] == pytest.approx(want_align, rel=1e-5)
        assert parts["reconstruction"][k] == pytest.approx(want_recon, rel=1e-4, abs=1e-5)
    np.testing.assert_array_equal(parts["success"], 2.0 * ep.success)
    np.testing.assert_allclose(parts["total"], parts["alignment"] + parts["reconstruction"]
                               + parts["success"], rtol=1e-6)
    # one UNet call per batch, unconditional rows first then the text rows, on one latent
    sample, _ = stub.calls[0]
    half = len(sample) // 2
    assert torch.equal(sample[:half], sample[half:])


def test_identical_text_and_empty_prompt_give_zero(model):
    text = model.text_embedding
    model.text_embedding = model.uncond_embedding.clone()
    try:
        parts = model(episode())
    finally:
        model.text_embedding = text
    np.testing.assert_allclose(parts["alignment"], 0.0, atol=1e-6)
    np.testing.assert_allclose(parts["reconstruction"], 0.0, atol=1e-6)
    assert np.abs(model(episode())["alignment"]).min() > 0  # the task text differs


def test_timestep_per_episode_and_ddim_noise(model, stub):
    """One timestep per episode, in [500, 600); the latent is noised with DDIM's
    alphas_cumprod at it: x_t = sqrt(a) z + sqrt(1 - a) eps, z the scaled posterior sample."""
    from diffusers import DDIMScheduler

    assert isinstance(model.scheduler, DDIMScheduler)
    ep = episode(T=5)
    model(ep)
    ts = {int(t) for _, t in stub.calls}
    assert len(ts) == 1 and 500 <= ts.pop() < 600
    for k in range(ep.length):
        model.step_components(ep, k, k == ep.length - 1)
    assert len({int(t) for _, t in stub.calls}) == 1
    drawn = [model.timestep(model.episode_key(episode(seed=s).image[0])) for s in range(40)]
    assert all(500 <= t < 600 for t in drawn) and len(set(drawn)) > 10

    t = int(stub.calls[0][1])
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    alpha = torch.cumprod(1 - betas, 0)[t]
    assert float(model.scheduler.alphas_cumprod[t]) == pytest.approx(float(alpha), rel=1e-5)
    key = model.episode_key(ep.image[0])
    with torch.no_grad():
        dist = model.vae.encode(model._pixels(ep.image[1:2])).latent_dist
    sample, noise = model.draws(key, 0, (4, 8, 8))
    z = (dist.mean[0] + dist.std[0] * sample) * model.vae.config.scaling_factor
    want = alpha.float() ** 0.5 * z + (1 - alpha.float()) ** 0.5 * noise
    got = stub.calls[-ep.length][0][0]  # step 0's online call, the noisy latent
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_uint8_frames_reach_the_vae_in_minus_one_to_one(model):
    seen = []
    encode = model.vae.encode

    def spy(x):
        seen.append((float(x.min()), float(x.max()), x.dtype))
        return encode(x)

    ep = episode(T=2)
    ep.image[1, :32] = 0
    ep.image[1, 32:] = 255
    model.vae.encode = spy
    try:
        model(ep)
        model.step_components(ep, 0, False)
    finally:
        del model.vae.encode
    assert seen[0][:2] == (-1.0, 1.0) and seen[1][:2] == (-1.0, 1.0)
    assert seen[0][2] == torch.float32


def test_online_steps_equal_offline_and_repeat(model):
    """Stepping through OnlineReward gives what scoring the episode whole gives; every step is
    scored at the model's render size (the tiny model reads 64x64: the agent's own frames)."""
    from genreward_cli.rewards.online import OnlineReward

    ep = episode(T=7, seed=3)
    offline = model(ep)
    assert model.scored_steps(7).tolist() == list(range(7))
    plan = model.frame_plan(7)["tadpole"]
    assert plan.size == (64, 64) and plan.indices == frozenset(range(8))
    online = OnlineReward(model, env=None, max_steps=7, image_shape=(64, 64, 3), action_dim=4)
    online.reset({"image": ep.image[0]})
    calls = model.cost.calls
    parts = [online.step({"image": ep.image[k + 1]}, ep.action[k], 0.0, 0.0, k == 6,
                         success=bool(ep.success[k])) for k in range(7)]
    assert model.cost.calls == calls + 7 and model.cost.seconds > 0
    for name in model.names:
        np.testing.assert_allclose([p[name] for p in parts], offline[name], rtol=1e-4, atol=1e-4)
    again = model(ep)
    for name in model.names:
        np.testing.assert_array_equal(again[name], offline[name])
    other = TADPoLeReward("tiny", TEXT, seed=1)(ep)
    assert not np.allclose(other["reconstruction"], offline["reconstruction"])


def test_no_success_flags_warn_once(model):
    model._warned_success = False
    with pytest.warns(UserWarning, match="no success flags"):
        parts = model(episode(success=False))
    assert not parts["success"].any()


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    d = tmp_path_factory.mktemp("tadpole")
    common = ["--task", "reach-v3", "--max-steps", 20, "--episodes", 1]
    assert run("collect", *common, "--policy", "expert", "--out", d / "expert.h5").exit_code == 0
    assert run("collect", *common, "--policy", "random", "--seed", 1,
               "--out", d / "random.h5").exit_code == 0
    return d


def test_score_reward_cli(collected, tmp_path):
    d = collected
    r = run("score-reward", d / "expert.h5", d / "random.h5", "--reward", "tadpole",
            "--tadpole-model", "tiny", "--out", tmp_path / "s.h5", "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert set(summary["components"]) == {"alignment", "reconstruction", "success"}
    assert summary["cost"]["calls"] == 2 and summary["cost"]["ms_per_call"] > 0
    with store.open_artifact(tmp_path / "s.h5") as art:
        config = json.loads(art.attrs["config"])
        assert config["tadpole_model"] == "tiny" and config["tadpole_noise_level"] == 500
        success = art.file["components/success"][()]
    with store.open_artifact(d / "expert.h5", "episodes") as art:
        flags = art.file[f"episodes/{art.groups()[0]}/success"][()]
    assert success[0] == pytest.approx(2.0 * flags.sum())

    for model, message in ((tmp_path / "missing", "no such directory"),
                           (tmp_path, "no model_index.json")):
        r = run("score-reward", d / "expert.h5", "--reward", "tadpole", "--tadpole-model", model,
                "--out", tmp_path / "bad.h5")
        assert r.exit_code == 2 and message in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "bad.h5").exists()
    r = run("score-reward", d / "expert.h5", "--reward", "tadpole", "--tadpole-noise-level", 950,
            "--out", tmp_path / "bad.h5")
    assert r.exit_code == 2 and not (tmp_path / "bad.h5").exists()


def test_train_agent_runs(tmp_path):
    out = tmp_path / "agent"
    r = run("train-agent", "--task", "reach-v3", "--reward", "tadpole", "--tadpole-model", "tiny",
            "--preset", "tiny", "--max-steps", 20, "--prefill", 10, "--train-ratio", 8,
            "--batch", 2, "--length", 4, "--eval-every", 0, "--steps", 30, "--out", out, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["steps"] == 30
    with store.open_artifact(out / "log.h5") as art:
        names = set(art.file["rewards"])
        assert {"alignment", "reconstruction", "success", "total"} <= names
        assert np.isfinite(art.file["rewards/total"][()]).all()
