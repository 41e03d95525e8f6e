import pytest
import torch

from genreward_cli.agent.dists import (
    TwoHotDist, bins, kl_losses, sample_categorical, symexp, symlog, twohot, unimix_probs,
)
from genreward_cli.agent.normalize import PercentileNormalizer


def test_symlog_symexp_round_trip():
    x = torch.tensor([-1e6, -100.0, -1.0, 0.0, 0.5, 3.0, 1e4])
    torch.testing.assert_close(symexp(symlog(x)), x, rtol=1e-5, atol=1e-5)
    assert symlog(torch.tensor(0.0)) == 0 and symlog(torch.tensor(-3.0)) == -symlog(torch.tensor(3.0))


def test_twohot_round_trip_and_shape():
    y = torch.tensor([[-250.0, -1.5, 0.0], [0.3, 7.0, 1234.5]])
    enc = twohot(y)
    assert enc.shape == (2, 3, 255)
    torch.testing.assert_close(enc.sum(-1), torch.ones(2, 3))
    assert ((enc > 0).sum(-1) <= 2).all()
    # the expected bin of the encoding decodes back to y
    decoded = symexp((enc * bins()).sum(-1))
    torch.testing.assert_close(decoded, y, rtol=1e-4, atol=1e-4)
    # a head whose logits put all mass on the encoding predicts y
    dist = TwoHotDist(torch.log(enc.clamp(min=1e-12)))
    torch.testing.assert_close(dist.mean(), y, rtol=1e-3, atol=1e-3)
    assert (dist.log_prob(y) > dist.log_prob(y + 5.0)).all()


@pytest.mark.numerics  # also run on AVX2 kernels only (make test)
def test_twohot_of_bf16_logits_decodes_in_fp32():
    """A head computed under bf16 autocast still decodes with fp32 bins: in bf16 the bin
    centres near 20 are off by up to 0.06 in symlog space, 6% of the decoded value."""
    logits = torch.full((2, 255), -1e4)
    logits[0, 250], logits[1, 3] = 1e4, 1e4  # all mass on one bin each
    got = TwoHotDist(logits.to(torch.bfloat16)).mean()
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, symexp(bins()[[250, 3]]), rtol=1e-6, atol=0)


def test_unimix_and_straight_through_sample():
    logits = torch.tensor([[[10.0, -10.0, -10.0, -10.0]]], requires_grad=True)
    probs = unimix_probs(logits)
    assert probs.min() >= 0.01 / 4 - 1e-7
    torch.testing.assert_close(probs.sum(-1), torch.ones(1, 1))
    s, index = sample_categorical(probs, torch.Generator().manual_seed(0))
    assert set(s.detach().flatten().tolist()) <= {0.0, 1.0} and s.detach().sum() == 1
    assert index.shape == (1, 1) and index.dtype == torch.int64
    assert s.detach()[0, 0, index[0, 0]] == 1  # the index is the hot class
    (s * torch.arange(4.0)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_kl_balancing_sends_each_term_to_its_side():
    post_logits = torch.randn(5, 32, 32, requires_grad=True)
    prior_logits = torch.randn(5, 32, 32, requires_grad=True)
    dyn, rep = kl_losses(unimix_probs(post_logits), unimix_probs(prior_logits), free=0.0)
    assert dyn.shape == (5,) and (dyn > 0).all()
    torch.testing.assert_close(dyn, rep)  # same value, different gradients
    dyn.sum().backward(retain_graph=True)
    assert post_logits.grad is None and prior_logits.grad.abs().sum() > 0
    prior_logits.grad = None
    rep.sum().backward()
    assert prior_logits.grad is None and post_logits.grad.abs().sum() > 0
    # free bits: below 1 nat the loss is constant, so no gradient
    same = torch.zeros(2, 32, 32, requires_grad=True)
    dyn, rep = kl_losses(unimix_probs(same), unimix_probs(same.detach().clone().requires_grad_()))
    assert (dyn == 1.0).all()


def test_percentile_normalizer():
    norm = PercentileNormalizer(decay=0.0)
    returns = torch.arange(101.0)  # 5th and 95th percentiles are 5 and 95
    assert float(norm.update(returns)) == 90.0
    assert float(PercentileNormalizer().update(torch.zeros(10))) == 1.0  # never scales up
    norm = PercentileNormalizer(decay=0.5)
    norm.update(returns)
    assert float(norm.update(returns * 2)) == (90 + 180) / 2


def fixed_batch(B=2, T=8, size=64, A=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.zeros(B, T, size, size, 3, dtype=torch.uint8)
    for b in range(B):  # a bright square moving right: structure to reconstruct
        for t in range(T):
            x = 4 + 4 * t + 8 * b
            image[b, t, 20:36, x:x + 16] = torch.tensor([220, 60, 60], dtype=torch.uint8)
    is_first = torch.zeros(B, T, dtype=torch.bool)
    is_first[:, 0] = True
    return {"image": image, "action": torch.rand(B, T, A, generator=g) * 2 - 1,
            "reward": torch.rand(B, T, generator=g) * 10, "cont": torch.ones(B, T),
            "is_first": is_first}


def test_world_model_shapes():
    from genreward_cli.agent.config import preset
    from genreward_cli.agent.world_model import WorldModel

    c = preset("tiny")
    wm = WorldModel(c, action_dim=4)
    batch = fixed_batch()
    loss, metrics, post = wm.loss(batch, torch.Generator().manual_seed(0))
    assert post["deter"].shape == (2, 8, c.deter)
    assert post["stoch"].shape == (2, 8, c.stoch, c.classes)
    assert wm.rssm.feat(post).shape == (2, 8, c.feat)
    assert loss.ndim == 0 and set(metrics) >= {"image", "reward", "cont", "dyn", "rep"}
    assert metrics["dyn"] >= c.free_nats
    # the reward head starts at zero (zero-initialised output): predicts 0 for everything
    feat = wm.rssm.feat(post)
    torch.testing.assert_close(TwoHotDist(wm.reward(feat)).mean(), torch.zeros(2, 8))


@pytest.mark.parametrize("precision", ["fp32", pytest.param("bf16", marks=pytest.mark.slow)])
def test_world_model_reconstruction_loss_falls_on_a_fixed_batch(precision):
    """Tiny preset, 60 Adam steps on one batch: the image loss falls by at least half."""
    from genreward_cli.agent.config import preset
    from genreward_cli.agent.world_model import WorldModel

    torch.manual_seed(0)
    wm = WorldModel(preset("tiny", precision=precision), action_dim=4)
    opt = torch.optim.Adam(wm.parameters(), lr=3e-3)
    batch = fixed_batch()
    g = torch.Generator().manual_seed(0)
    first = None
    for _ in range(60):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss, metrics, _ = wm.loss(batch, g)
        assert loss.dtype == torch.float32
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else metrics["image"]
    assert metrics["image"] < 0.5 * first, (first, metrics["image"])


@pytest.mark.numerics  # also run on AVX2 kernels only (make test)
def test_bf16_update_is_close_to_fp32_and_keeps_fp32_weights():
    """Mixed precision computes the same losses, to bf16's precision, from the same weights;
    weights, optimiser states and the recurrent state stay float32."""
    from genreward_cli.agent.agent import DreamerAgent, DreamerTrainer
    from genreward_cli.agent.config import preset

    torch.manual_seed(0)
    fp32 = DreamerAgent(preset("tiny"), 4)
    bf16 = DreamerAgent(preset("tiny", precision="bf16"), 4)
    bf16.load_state_dict(fp32.state_dict())
    batch = fixed_batch()
    m32 = DreamerTrainer(fp32, seed=1).update(batch)
    trainer = DreamerTrainer(bf16, seed=1)
    m16 = trainer.update(batch)
    for key in ("train/image", "train/reward", "train/cont", "train/critic"):
        assert m16[key] == pytest.approx(m32[key], rel=0.05), key
    assert m16["train/image"] != m32["train/image"]  # it did compute in bfloat16
    assert all(p.dtype == torch.float32 for p in bf16.parameters())
    assert all(v.dtype == torch.float32 for s in trainer.wm_opt.state.values() for v in s.values()
               if v.is_floating_point())
    image = batch["image"][:, 0].numpy()
    action, (latent, _) = bf16.policy(image, [True, True], generator=torch.Generator().manual_seed(0))
    assert action.dtype == "float32" and latent["deter"].dtype == torch.float32


def test_lambda_returns_closed_form():
    from genreward_cli.agent.behavior import lambda_returns

    reward = torch.tensor([[1.0, 1.0, 1.0]])
    cont = torch.ones(1, 3)
    value = torch.tensor([[0.0, 0.0, 0.0, 10.0]])
    # lambda = 1: discounted sum of rewards plus the bootstrapped last value
    out = lambda_returns(reward, cont, value, gamma=0.5, lam=1.0)
    torch.testing.assert_close(out[0, 0], torch.tensor(1 + 0.5 + 0.25 + 0.125 * 10))
    # lambda = 0: one-step TD targets
    out = lambda_returns(reward, cont, value, gamma=0.5, lam=0.0)
    torch.testing.assert_close(out, torch.tensor([[1.0, 1.0, 6.0]]))
    # a terminal (cont 0) cuts the bootstrap
    out = lambda_returns(reward, torch.tensor([[1.0, 0.0, 1.0]]), value, gamma=0.5, lam=1.0)
    torch.testing.assert_close(out[0, 0], torch.tensor(1.5))


def test_behavior_losses_and_imagination_shapes():
    from genreward_cli.agent.behavior import Behavior, BehaviorConfig
    from genreward_cli.agent.config import preset
    from genreward_cli.agent.world_model import WorldModel

    c = preset("tiny")
    wm, beh = WorldModel(c, 4), Behavior(c, 4, BehaviorConfig(horizon=5))
    g = torch.Generator().manual_seed(0)
    _, _, post = wm.loss(fixed_batch(), g)
    start = {k: v.flatten(0, 1) for k, v in post.items()}
    feats, index, actions = beh.imagine(wm, start, g)
    assert feats.shape == (16, 6, c.feat) and actions.shape == (16, 5, 4)
    assert index.shape == (16, 6, c.stoch) and index.dtype == torch.int64
    # the index names the hot class of every group of the features' one-hot latents
    hot = feats[..., c.deter:].view(16, 6, c.stoch, c.classes)
    assert (hot.sum(-1) == 1).all()
    assert (hot.gather(-1, index[..., None]) == 1).all()
    assert torch.isfinite(actions).all()  # unclipped samples; the model sees them clipped
    actor_loss, critic_loss, m = beh.loss(wm, start, g)
    actor_loss.backward()
    critic_loss.backward()
    assert all(p.grad is not None for p in beh.actor.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in beh.critic.parameters())
    assert all(p.grad is None for p in wm.parameters()), "behaviour losses must not train the model"
