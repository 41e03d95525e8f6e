"""The agent's faster layers compute what the plain PyTorch layers compute, gradients included."""

import pytest
import torch
import torch.nn as nn

from genreward_cli.agent.networks import ThinConvTranspose2d
from tolerance import assert_close_sums, unit_roundoff

# compared against other kernels' results: also run with the CPU limited to AVX2 (make test)
pytestmark = pytest.mark.numerics


def _pair(bias: bool, kernel=4, stride=2, padding=1):
    torch.manual_seed(0)
    conf = (8, 3, kernel, stride, padding)
    ref = nn.ConvTranspose2d(*conf, bias=bias).to(memory_format=torch.channels_last)
    if bias:
        nn.init.normal_(ref.bias)
    thin = ThinConvTranspose2d(*conf, bias=bias).to(memory_format=torch.channels_last)
    thin.load_state_dict(ref.state_dict())
    return ref, thin


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("input_grad", [True, False])
@pytest.mark.parametrize("conf,size", [((4, 2, 1), 12), ((3, 1, 1), 6)])  # by phases; fallback
def test_thin_deconv_matches_conv_transpose_with_gradients(bias, input_grad, conf, size):
    ref, thin = _pair(bias, *conf)
    x = torch.randn(5, 8, 6, 6).contiguous(memory_format=torch.channels_last)
    target = torch.randn(5, 3, size, size)
    outs, grads = [], []
    for layer in (ref, thin):
        xi = x.clone().requires_grad_(input_grad)
        y = layer(xi)
        ((y - target) ** 2).sum().backward()
        outs.append(y)
        grads.append([xi.grad] + [p.grad for p in layer.parameters()])
    assert outs[1].shape == (5, 3, size, size)
    torch.testing.assert_close(outs[1], outs[0])
    for got, want in zip(grads[1], grads[0]):
        assert (got is None) == (want is None)
        if want is not None:
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert (grads[1][0] is not None) == input_grad


def test_thin_deconv_follows_bf16_autocast():
    """Under bf16 autocast both layers sum the same bf16 products in their own order (and,
    on CPUs without bf16 instructions, round partial sums to bf16): they agree within the
    bf16 bound for sums of that many terms, on any CPU."""
    ref, thin = _pair(True)
    x = torch.randn(5, 8, 6, 6).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want, got = ref(x), thin(x)
    assert got.dtype == want.dtype == torch.bfloat16
    # |x| |W| + |b| over the operands as autocast rounds them; each output sums
    # in_channels x (kernel / stride)^2 products and the bias
    xa, wa, ba = (t.detach().bfloat16().float().abs() for t in (x, ref.weight, ref.bias))
    magnitude = nn.functional.conv_transpose2d(xa, wa, ba, stride=2, padding=1)
    assert_close_sums(got, want, magnitude, terms=8 * 2 * 2 + 1, dtype=torch.bfloat16,
                      msg="output")
    got.float().sum().backward()
    assert thin.weight.grad.dtype == torch.float32  # the parameter stays fp32
    want.float().sum().backward()
    # dL/dW sums x times an output gradient of ones over every (sample, input position)
    wa = wa.clone().requires_grad_()
    nn.functional.conv_transpose2d(xa, wa, stride=2, padding=1).sum().backward()
    assert_close_sums(thin.weight.grad, ref.weight.grad, wa.grad, terms=5 * 6 * 6,
                      dtype=torch.bfloat16, msg="weight gradient")


def _onehot_input(lead, dense_before, dense_after, groups, classes, generator):
    index = torch.randint(0, classes, (*lead, groups), generator=generator)
    hot = torch.nn.functional.one_hot(index, classes).float().flatten(-2)
    parts = [torch.randn(*lead, dense_before, generator=generator), hot,
             torch.randn(*lead, dense_after, generator=generator)]
    return torch.cat(parts, -1), index


@pytest.mark.parametrize("before,after,bias", [(6, 0, True), (0, 3, False), (2, 2, True)])
def test_hot_linear_matches_linear_with_gradients(before, after, bias):
    from genreward_cli.agent.networks import HotLinear

    g = torch.Generator().manual_seed(0)
    groups, classes = 4, 5
    x, index = _onehot_input((3, 7), before, after, groups, classes, g)
    layer = HotLinear(x.shape[-1], 9, before, groups, classes, bias=bias)
    ref = nn.Linear(x.shape[-1], 9, bias=bias)
    ref.load_state_dict(layer.state_dict())
    target = torch.randn(3, 7, 9, generator=g)
    results = []
    for module, kwargs in ((ref, {}), (layer, {"index": index})):
        xi = x.clone().requires_grad_()
        y = module(xi, **kwargs)
        ((y - target) ** 2).sum().backward()
        results.append([y, xi.grad] + [p.grad for p in module.parameters()])
    for got, want in zip(results[1], results[0]):
        torch.testing.assert_close(got, want)
    assert results[1][0].shape == (3, 7, 9)
    # without the index it is nn.Linear
    torch.testing.assert_close(layer(x), ref(x))


def test_hot_linear_reads_the_index_not_the_one_hot_columns():
    """The forward pass takes the one-hot block from ``index``: a wrong index gives the
    other classes' weights (so callers must pass the samples' own index)."""
    from genreward_cli.agent.networks import HotLinear

    g = torch.Generator().manual_seed(1)
    x, index = _onehot_input((4,), 3, 0, 2, 3, g)
    layer = HotLinear(x.shape[-1], 5, 3, 2, 3)
    shifted = (index + 1) % 3
    want = nn.functional.linear(
        torch.cat([x[:, :3], nn.functional.one_hot(shifted, 3).float().flatten(1)], -1),
        layer.weight, layer.bias)
    torch.testing.assert_close(layer(x, shifted), want)


def test_hot_linear_follows_bf16_autocast():
    from genreward_cli.agent.networks import HotLinear

    g = torch.Generator().manual_seed(2)
    x, index = _onehot_input((16,), 8, 0, 4, 8, g)
    layer = HotLinear(x.shape[-1], 12, 8, 4, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, want = layer(x, index), layer(x)
    assert got.dtype == want.dtype == torch.bfloat16
    # |x| |W|^T + |b| over the bf16-rounded operands: sums of 8 dense + 32 one-hot terms + bias
    xa, wa, ba = (t.detach().bfloat16().float().abs() for t in (x, layer.weight, layer.bias))
    assert_close_sums(got, want, nn.functional.linear(xa, wa, ba), terms=x.shape[-1] + 1,
                      dtype=torch.bfloat16)
    got.float().sum().backward()
    assert layer.weight.grad.dtype == torch.float32


def test_observe_is_obs_step_repeated():
    """``observe`` computes the embeddings' share of the posterior and the prior for the
    whole sequence at once; step by step, ``obs_step`` gives the same states and samples."""
    from genreward_cli.agent.config import preset
    from genreward_cli.agent.networks import RSSM

    torch.manual_seed(0)
    c = preset("tiny")
    rssm = RSSM(c, embed=10, action_dim=3)
    B, T = 3, 6
    embed, action = torch.randn(B, T, 10), torch.rand(B, T, 3) * 2 - 1
    is_first = torch.zeros(B, T, dtype=torch.bool)
    is_first[:, 0] = True
    is_first[1, 3] = True  # an episode boundary inside the sequence
    post, prior = rssm.observe(embed, action, is_first, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    state = rssm.initial(B, "cpu")
    for t in range(T):
        state, step_prior = rssm.obs_step(state, action[:, t], embed[:, t], is_first[:, t], g)
        for key in ("deter", "stoch", "probs"):
            torch.testing.assert_close(post[key][:, t], state[key], rtol=1e-5, atol=1e-6)
        assert torch.equal(post["index"][:, t], state["index"])
        # the posterior network on the concatenation [h, e], as the model is written
        whole = rssm._probs(rssm.post(torch.cat([state["deter"], embed[:, t]], -1)))
        torch.testing.assert_close(state["probs"], whole, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(prior["probs"][:, t], step_prior["probs"], rtol=1e-5, atol=1e-6)
    assert post["stoch"].shape == (B, T, c.stoch, c.classes)
    assert prior["probs"].shape == (B, T, c.stoch, c.classes)


def test_padded_linear_matches_linear():
    from genreward_cli.agent.networks import PaddedLinear

    torch.manual_seed(0)
    layer, ref = PaddedLinear(7, 255), nn.Linear(7, 255)
    ref.load_state_dict(layer.state_dict())
    x = torch.randn(3, 5, 7)
    with torch.no_grad():  # the padded path
        got = layer(x)
    assert got.shape == (3, 5, 255)
    torch.testing.assert_close(got, ref(x).detach())
    layer(x).sum().backward()  # with gradients: nn.Linear's path
    ref(x).sum().backward()
    torch.testing.assert_close(layer.weight.grad, ref.weight.grad)


def test_gru_cell_is_pytorchs():
    from genreward_cli.agent.networks import gru_cell

    torch.manual_seed(0)
    cell = nn.GRUCell(6, 5)
    x, h = torch.randn(4, 6), torch.randn(4, 5)
    got = gru_cell(nn.functional.linear(x, cell.weight_ih, cell.bias_ih),
                   nn.functional.linear(h, cell.weight_hh, cell.bias_hh), h)
    torch.testing.assert_close(got, cell(x, h))


def _observe_grads(rssm, c, batched, precision):
    """Gradients of a loss on ``observe``'s posterior and prior, for every parameter and the
    embeddings, in ``precision`` (``fp32``, or ``bf16`` autocast)."""
    B, T = 3, 7
    g = torch.Generator().manual_seed(0)
    embed, action = torch.randn(B, T, 10, generator=g), torch.rand(B, T, 3, generator=g) * 2 - 1
    target = torch.randn(B, T, c.feat, generator=g)
    is_first = torch.zeros(B, T, dtype=torch.bool)
    is_first[:, 0] = is_first[2, 4] = True
    rssm.zero_grad(set_to_none=True)
    e = embed.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        post, prior = rssm.observe(e, action, is_first, torch.Generator().manual_seed(3),
                                   batched_grads=batched)
    loss = (((rssm.feat(post) - target) ** 2).sum()
            + (post["probs"].log() * prior["probs"]).sum())
    loss.backward()
    return {"embed": e.grad, **{n: p.grad for n, p in rssm.named_parameters()}}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_observe_batched_weight_gradients_are_the_per_step_ones(precision):
    """``LoopLinear`` computes each weight's gradient once over the sequence: the same
    gradients as autograd's per-step products, for every parameter and the inputs.

    The two differ only in rounding (the order and width of the weight gradients' sums). The
    computation's own sensitivity to rounding is measured on this CPU: its per-step gradients
    in bf16 against fp32 give ``kappa = |g_bf16 - g_fp32| / u_bf16`` per tensor; to first order
    a computation in a format with unit roundoff u is off by about ``kappa u``. The two paths
    must agree within twice that (one such error each) plus one rounding of the result."""
    from genreward_cli.agent.config import preset
    from genreward_cli.agent.networks import RSSM

    torch.manual_seed(0)
    c = preset("tiny")
    rssm = RSSM(c, embed=10, action_dim=3)
    per_step, batched = (_observe_grads(rssm, c, b, precision) for b in (False, True))
    fp32, bf16 = (_observe_grads(rssm, c, False, p) for p in ("fp32", "bf16"))
    assert set(per_step) == set(batched) == set(fp32)
    u = unit_roundoff(torch.bfloat16 if precision == "bf16" else torch.float32)
    for name, want in per_step.items():
        assert batched[name] is not None, name
        kappa = (bf16[name].double() - fp32[name].double()).norm() / unit_roundoff(torch.bfloat16)
        bound = 2 * kappa * u + u * want.double().norm()
        diff = (batched[name].double() - want.double()).norm()
        assert diff <= bound, f"{name}: |batched - per-step| = {diff:.3g} > {bound:.3g}"


def test_reused_tables_follow_the_weights_between_blocks():
    """Inside ``reuse_tables`` a HotLinear lays out its table once; a new block after the
    weights changed (an optimiser step) sees the new weights."""
    from genreward_cli.agent.networks import HotLinear, reuse_tables

    g = torch.Generator().manual_seed(4)
    x, index = _onehot_input((6,), 2, 0, 3, 4, g)
    layer = HotLinear(x.shape[-1], 5, 2, 3, 4)
    opt = torch.optim.Adam(layer.parameters(), lr=0.1, fused=True)  # no version bump
    for _ in range(2):
        with reuse_tables():
            first, second = layer(x, index), layer(x, index)
        torch.testing.assert_close(first, layer(x))
        torch.testing.assert_close(second, first)
        first.sum().backward()
        opt.step()


def test_loop_linear_gradients_match_a_plain_loop_and_survive_retain_graph():
    from genreward_cli.agent.networks import LoopLinear

    torch.manual_seed(0)
    layer = nn.Linear(4, 4)
    h0 = torch.randn(3, 4, requires_grad=True)

    def run(batched):
        linear = LoopLinear(layer.weight, layer.bias) if batched else layer
        h = h0
        for _ in range(5):
            h = torch.tanh(linear(h))
        return (h ** 2).sum()

    grads = []
    for batched in (False, True):
        layer.zero_grad(set_to_none=True)
        h0.grad = None
        loss = run(batched)
        loss.backward(retain_graph=True)
        once = [layer.weight.grad.clone(), layer.bias.grad.clone(), h0.grad.clone()]
        loss.backward()  # a second backward through the same graph adds the same again
        grads.append(once + [layer.weight.grad.clone()])
    for got, want in zip(grads[1], grads[0]):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(grads[1][3], 2 * grads[1][0])
