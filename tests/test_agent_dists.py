import torch

from genreward_cli.agent.dists import (
    TwoHotDist, bins, kl_losses, sample_onehot, symexp, symlog, twohot, unimix_probs,
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


def test_unimix_and_straight_through_sample():
    logits = torch.tensor([[[10.0, -10.0, -10.0, -10.0]]], requires_grad=True)
    probs = unimix_probs(logits)
    assert probs.min() >= 0.01 / 4 - 1e-7
    torch.testing.assert_close(probs.sum(-1), torch.ones(1, 1))
    s = sample_onehot(probs, torch.Generator().manual_seed(0))
    assert set(s.detach().flatten().tolist()) <= {0.0, 1.0} and s.detach().sum() == 1
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
