"""The fast paths (``fast_layers.py``) compute what the plain layers of ``networks.py`` compute,
gradients included, from the same parameters; ``--agent fast`` selects them.

Tolerances come from ``tolerance.py``: two computations of the same sums in another order
agree within twice the rounding bound of sums of that many terms, relative to the same sums
over absolute values (computed here with the plain operation on |inputs|, |weights| and
|output gradient|, so the backward passes get their magnitudes too).
"""

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from test_agent_compile import (
    assert_update_matches, make_batch, pair, run_compiled_equivalence, terms,
)
from tolerance import assert_close_sums, gamma, unit_roundoff

from genreward_cli.agent.agent import DreamerAgent, DreamerTrainer
from genreward_cli.agent.config import FAST_PATHS, parse_overrides, preset
from genreward_cli.agent.fast_layers import (
    FastPaths, HotLinear, Latents, LoopLinear, PaddedLinear, ThinConvTranspose2d, gru_cell,
    reused_tables,
)
from genreward_cli.agent.networks import RSSM
from genreward_cli.errors import BadInput
from helpers import run

# compared against other kernels' results: also run with the CPU limited to AVX2 (make test)
numerics = pytest.mark.numerics


def _run(layer, x, grad, **kwargs):
    """[output, input gradient, parameter gradients...] of ``layer(x)`` under the output
    gradient ``grad`` (float32; under autocast the output is cast up first)."""
    xi = x.clone().requires_grad_()
    y = layer(xi, **kwargs)
    (y.float() * grad).sum().backward()
    return [y, xi.grad] + [p.grad for p in layer.parameters()]


def _magnitudes(fn, x, params, grad, dtype):
    """``_run``'s outputs for ``fn`` on |x|, |params| (rounded to ``dtype`` first, as autocast
    rounds them) and |grad|: the sums over absolute values of every result."""
    leaves = [t.detach().to(dtype).float().abs().requires_grad_() for t in (x, *params)]
    y = fn(*leaves)
    (y * grad.abs()).sum().backward()
    return [y] + [t.grad for t in leaves]


def _check(fast, plain, fn, x, grad, counts, dtype=torch.float32, **kwargs):
    """``fast(x, **kwargs)`` and ``plain(x)`` (same parameter values), under bf16 autocast when
    ``dtype`` is bfloat16: output, input gradient and parameter gradients within the bound
    for sums of ``counts`` (one number of terms for each) in ``dtype``."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        got, want = _run(fast, x, grad, **kwargs), _run(plain, x, grad)
    assert got[0].dtype == want[0].dtype and got[0].shape == want[0].shape
    assert all(g.dtype == torch.float32 for g in got[2:])  # parameters stay float32
    mags = _magnitudes(fn, x, list(plain.parameters()), grad, dtype)
    names = ["output", "input gradient"] + [f"{n} gradient" for n, _ in plain.named_parameters()]
    assert len(got) == len(want) == len(mags) == len(counts) == len(names)
    for g, w, m, n, name in zip(got, want, mags, counts, names):
        assert_close_sums(g, w, m, terms=n, dtype=dtype, msg=name)


def _onehot_input(lead, dense_before, dense_after, groups, classes, generator):
    index = torch.randint(0, classes, (*lead, groups), generator=generator)
    hot = F.one_hot(index, classes).float().flatten(-2)
    parts = [torch.randn(*lead, dense_before, generator=generator), hot,
             torch.randn(*lead, dense_after, generator=generator)]
    return torch.cat(parts, -1), index


DTYPES = [torch.float32, torch.bfloat16]


# --- hot, tables ---------------------------------------------------------------------------

@numerics
@pytest.mark.parametrize("dtype", DTYPES, ids=["fp32", "bf16"])
@pytest.mark.parametrize("before,after,bias", [(6, 0, True), (0, 3, False), (2, 2, True)])
def test_hot_linear_matches_linear(before, after, bias, dtype):
    g = torch.Generator().manual_seed(0)
    groups, classes, rows = 4, 5, 21
    x, index = _onehot_input((3, 7), before, after, groups, classes, g)
    plain = nn.Linear(x.shape[-1], 9, bias=bias)
    if bias:
        nn.init.normal_(plain.bias)
    fast = HotLinear.of(copy.deepcopy(plain), Latents(before, groups, classes))
    grad = torch.randn(3, 7, 9, generator=g)
    counts = [x.shape[-1] + 1, 9, rows] + ([rows] if bias else [])
    _check(fast, plain, F.linear, x, grad, counts, dtype, index=index)
    # without the index it is nn.Linear
    assert torch.equal(fast(x), plain(x))


@numerics
def test_hot_linear_reads_the_index_not_the_one_hot_columns():
    """The forward pass takes the one-hot block from ``index``: a wrong index gives the
    other classes' weights (so callers must pass the samples' own index)."""
    g = torch.Generator().manual_seed(1)
    x, index = _onehot_input((4,), 3, 0, 2, 3, g)
    layer = HotLinear(x.shape[-1], 5, Latents(3, 2, 3))
    shifted = (index + 1) % 3
    moved = torch.cat([x[:, :3], F.one_hot(shifted, 3).float().flatten(1)], -1)
    want = F.linear(moved, layer.weight, layer.bias)
    mag = F.linear(moved.abs(), layer.weight.abs(), layer.bias.abs())
    assert_close_sums(layer(x, shifted), want, mag.detach(), terms=x.shape[-1] + 1,
                      dtype=torch.float32)
    assert not torch.allclose(layer(x, shifted), layer(x, index))


def test_reused_tables_follow_the_weights_between_blocks():
    """Inside ``reused_tables`` a HotLinear built with `tables` lays out its table once; a new
    block after the weights changed (an optimiser step) sees the new weights; a HotLinear
    without it, and any layer outside the block, lays it out at each call."""
    g = torch.Generator().manual_seed(4)
    x, index = _onehot_input((6,), 2, 0, 3, 4, g)
    layer = HotLinear(x.shape[-1], 5, Latents(2, 3, 4), reuse_tables=True)
    opt = torch.optim.Adam(layer.parameters(), lr=0.1, fused=True)  # no version bump
    for _ in range(2):
        with reused_tables(nn.Sequential(layer)):
            first, second = layer(x, index), layer(x, index)
            assert layer._table is not None
        assert layer._table is None and not layer._caching
        assert torch.equal(first, layer(x, index)) and torch.equal(second, first)
        first.sum().backward()
        opt.step()
    plain_hot = HotLinear(x.shape[-1], 5, Latents(2, 3, 4))  # built without `tables`
    with reused_tables(plain_hot):
        plain_hot(x, index)
    assert plain_hot._table is None


# --- pad -----------------------------------------------------------------------------------

@numerics
@pytest.mark.parametrize("dtype", DTYPES, ids=["fp32", "bf16"])
def test_padded_linear_matches_linear(dtype):
    torch.manual_seed(0)
    plain = nn.Linear(7, 255)
    fast = PaddedLinear.of(copy.deepcopy(plain))
    x, grad = torch.randn(3, 5, 7), torch.randn(3, 5, 255)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16,
                                         enabled=dtype == torch.bfloat16):
        got, want = fast(x), plain(x)  # the padded path
    assert got.shape == (3, 5, 255) and got.dtype == want.dtype
    mag = F.linear(*(t.detach().to(dtype).float().abs() for t in (x, plain.weight, plain.bias)))
    assert_close_sums(got, want, mag, terms=8, dtype=dtype, msg="no-grad output")
    # with gradients it is nn.Linear: the same products, the same results
    _check(fast, plain, F.linear, x, grad, [8, 255, 15, 15], dtype)


def test_head_pads_only_wide_heads_that_are_not_multiples_of_16():
    fast = FastPaths(frozenset({"pad"}))
    assert isinstance(fast.head(nn.Linear(8, 255)), PaddedLinear)
    for out in (256, 1024, 8, 1):
        layer = nn.Linear(8, out)
        assert fast.head(layer) is layer
    layer = nn.Linear(8, 255)
    assert FastPaths().head(layer) is layer


# --- deconv --------------------------------------------------------------------------------

@numerics
@pytest.mark.parametrize("dtype", DTYPES, ids=["fp32", "bf16"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("conf,size", [((4, 2, 1), 12), ((3, 1, 1), 6)])  # by phases; fallback
def test_thin_deconv_matches_conv_transpose(bias, conf, size, dtype):
    torch.manual_seed(0)
    cin, cout, kernel, (k, stride, padding) = 8, 3, conf[0], conf
    plain = nn.ConvTranspose2d(cin, cout, k, stride, padding, bias=bias)
    plain = plain.to(memory_format=torch.channels_last)
    if bias:
        nn.init.normal_(plain.bias)
    fast = ThinConvTranspose2d.of(copy.deepcopy(plain))
    n, h = 5, 6
    x = torch.randn(n, cin, h, h).contiguous(memory_format=torch.channels_last)
    grad = torch.randn(n, cout, size, size)

    def fn(x, w, b=None):
        return F.conv_transpose2d(x, w, b, stride, padding)

    # forward: at most C_in x 3 x 3 products per output (the phases' 3x3 kernels) and the
    # bias; input gradient: C_out x k x k; weight: one product per input pixel; bias: per
    # output pixel
    counts = [cin * 9 + 1, cout * kernel * kernel, n * h * h] + ([n * size * size] if bias else [])
    _check(fast, plain, fn, x, grad, counts, dtype)


def test_thin_deconv_refuses_what_it_does_not_compute():
    with pytest.raises(ValueError, match="square stride"):
        ThinConvTranspose2d(4, 3, 4, stride=(2, 1))
    with pytest.raises(ValueError, match="groups"):
        ThinConvTranspose2d(4, 4, 4, groups=2)


# --- loop ----------------------------------------------------------------------------------

@numerics
def test_gru_cell_is_pytorchs():
    torch.manual_seed(0)
    cell = nn.GRUCell(6, 5)
    x, h = torch.randn(4, 6), torch.randn(4, 5)
    gates_x = F.linear(x, cell.weight_ih, cell.bias_ih)
    gates_h = F.linear(h, cell.weight_hh, cell.bias_hh)
    got, want = gru_cell(gates_x, gates_h, h), cell(x, h)
    # the same gates from the same products, in ATen's own elementwise kernels: h' = n + z
    # (h - n) within a few roundings (8 operations from the products) of |n| + z (|h| + |n|)
    xr, xz, xn = gates_x.chunk(3, -1)
    hr, hz, hn = gates_h.chunk(3, -1)
    z, n = torch.sigmoid(xz + hz), torch.tanh(xn + torch.sigmoid(xr + hr) * hn)
    magnitude = n.abs() + z * (h.abs() + n.abs())
    assert_close_sums(got, want, magnitude.detach(), terms=8, dtype=torch.float32)


@numerics
def test_loop_linear_gradients_match_a_plain_loop_and_survive_retain_graph():
    """The weight gradient is one product over all steps' rows: within the bound for sums of
    steps x rows terms of the per-step products added up; forward and input gradients are the
    same operations as ``nn.Linear``'s."""
    torch.manual_seed(0)
    layer = nn.Linear(4, 4)
    h0 = torch.randn(3, 4, requires_grad=True)
    steps = 5

    def run(batched):
        linear = LoopLinear(layer.weight, layer.bias) if batched else layer
        h, inputs, outputs = h0, [], []
        for _ in range(steps):
            inputs.append(h.detach())
            y = linear(h)
            y.retain_grad()
            outputs.append(y)
            h = torch.tanh(y)
        return (h ** 2).sum(), inputs, outputs

    results = []
    for batched in (False, True):
        layer.zero_grad(set_to_none=True)
        h0.grad = None
        loss, inputs, outputs = run(batched)
        loss.backward(retain_graph=True)
        once = [layer.weight.grad.clone(), layer.bias.grad.clone(), h0.grad.clone()]
        # |output gradients| and |inputs| of every step, stacked: the sums' magnitudes
        gy, xs = torch.cat([o.grad for o in outputs]).abs(), torch.cat(inputs).abs()
        loss.backward()  # a second backward through the same graph adds the same again
        results.append((once, layer.weight.grad.clone(), gy, xs))
    (want, _, gy, xs), (got, twice, _, _) = results
    rows = steps * 3
    assert_close_sums(got[0], want[0], gy.t() @ xs, terms=rows, dtype=torch.float32, msg="weight")
    assert_close_sums(got[1], want[1], gy.sum(0), terms=rows, dtype=torch.float32, msg="bias")
    assert_close_sums(got[2], want[2], gy[:3] @ layer.weight.detach().abs(), terms=4,
                      dtype=torch.float32, msg="input")
    assert torch.equal(twice, 2 * got[0])


def _observe_grads(rssm, c, precision):
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
        post, prior = rssm.observe(e, action, is_first, torch.Generator().manual_seed(3))
    loss = (((rssm.feat(post) - target) ** 2).sum()
            + (post["probs"].log() * prior["probs"]).sum())
    loss.backward()
    return {"embed": e.grad, **{n: p.grad for n, p in rssm.named_parameters()}}


@numerics
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_observe_unrolled_gradients_are_the_plain_loops(precision):
    """``observe_unrolled`` (`loop`) against the plain loop of module calls: the same
    gradients for every parameter and the inputs.

    The two differ only in rounding (the order of the sums). The computation's own
    sensitivity to rounding is measured on this CPU: the plain loop's gradients in bf16
    against fp32 give ``kappa = |g_bf16 - g_fp32| / u_bf16`` per tensor, the response to a
    relative perturbation u_bf16 of every product's operands (autocast's rounding). In bf16
    the two paths round the same operands to bf16 (accumulating in fp32): they agree within
    twice ``kappa u_bf16``. In fp32 they differ in the order of sums of at most n terms,
    each within ``gamma(n) = lambda sqrt(n) u`` of its magnitude instead of u: within twice
    ``kappa gamma(n)``. Plus one rounding of the result."""
    torch.manual_seed(0)
    plain = RSSM(preset("tiny", fast="off"), embed=10, action_dim=3)
    fast = RSSM(preset("tiny", fast="on"), embed=10, action_dim=3)
    fast.load_state_dict(plain.state_dict())
    c = plain.c
    want, got = (_observe_grads(r, c, precision) for r in (plain, fast))
    fp32, bf16 = (_observe_grads(plain, c, p) for p in ("fp32", "bf16"))
    assert set(want) == set(got) == set(fp32)
    # the longest sums: weight gradients over B x T rows, products over 3 x deter (the GRU's
    # hidden gates, backward) or deter + embed (the posterior's first layer) columns
    n = max(3 * 7, 3 * c.deter, c.deter + 10, c.units)
    u = unit_roundoff(torch.bfloat16 if precision == "bf16" else torch.float32)
    step = u if precision == "bf16" else gamma(n, torch.float32)
    for name, w in want.items():
        assert got[name] is not None, name
        kappa = (bf16[name].double() - fp32[name].double()).norm() / unit_roundoff(torch.bfloat16)
        bound = 2 * kappa * step + u * w.double().norm()
        diff = (got[name].double() - w.double()).norm()
        assert diff <= bound, f"{name}: |fast - plain| = {diff:.3g} > {bound:.3g}"


# --- the selection, and whole updates --------------------------------------------------------

def test_fast_option_selects_paths():
    assert preset("tiny").fast == "on" and preset("tiny").fast_paths() == frozenset(FAST_PATHS)
    assert preset("tiny", fast="off").fast_paths() == frozenset()
    c = preset("tiny", **parse_overrides(("fast=hot, loop",)))
    assert c.fast_paths() == {"hot", "loop"}
    for bad in ("hot,foo", "", "on,hot", "tables"):
        with pytest.raises(BadInput, match="--agent fast") as e:
            preset("tiny", fast=bad)
        assert "\n" not in str(e.value)
    with pytest.raises(BadInput, match=", ".join(FAST_PATHS)):
        preset("tiny", fast="foo")
    with pytest.raises(BadInput, match="expected str"):
        preset("tiny", fast=1)


def _layer_kinds(fast: str) -> set[str]:
    agent = DreamerAgent(preset("tiny", fast=fast), 4)
    return {type(m).__name__ for m in agent.modules()} | (
        {"loop"} if agent.wm.rssm.fast.loop else set())


def test_each_path_builds_its_layers_and_off_builds_none():
    fast_kinds = {"HotLinear", "PaddedLinear", "ThinConvTranspose2d", "loop"}
    assert not _layer_kinds("off") & fast_kinds
    assert _layer_kinds("on") >= fast_kinds
    for name, kind in (("hot", "HotLinear"), ("pad", "PaddedLinear"),
                       ("deconv", "ThinConvTranspose2d"), ("loop", "loop")):
        assert _layer_kinds(name) & fast_kinds == {kind}, name
    tables = DreamerAgent(preset("tiny", fast="hot,tables"), 4)
    assert all(m.reuse_tables for m in tables.modules() if isinstance(m, HotLinear))


def _twins(horizon: int, precision: str = "fp32"):
    """A fast=on and a fast=off trainer with the same weights (random reward and critic
    outputs, as ``test_agent_compile.pair`` makes them) and generators."""
    fast, _ = pair({"fast": "on", "precision": precision}, horizon)
    plain = DreamerTrainer(DreamerAgent(preset("tiny", fast="off", precision=precision), 4,
                                        fast.agent.behavior.b), seed=1)
    plain.agent.load_state_dict(copy.deepcopy(fast.agent.state_dict()))
    plain.keep_grads = True
    return plain, fast


@numerics
def test_update_with_fast_paths_matches_the_plain_update():
    """One world-model and actor-critic update from the same weights, batch and draws: the same
    losses, loss by loss, the same clipped gradients and the same weights after the step, at
    the float32 bound of ``test_agent_compile.assert_update_matches``."""
    B, T, H = 2, 8, 4
    plain, fast = _twins(H)
    batch = make_batch(B, T)
    want, got = plain.update(batch), fast.update(batch)
    assert list(got) == list(want)
    assert_update_matches(plain, fast, got, want, terms(batch, H), "fast=on against off")


def test_bf16_updates_run_with_and_without_fast_paths():
    """Under bf16 autocast both settings update: finite losses, float32 weights and gradients.
    (Their agreement is checked layer by layer above; over a whole update bf16 rounding
    reaches the categorical samples, so the two are not comparable at a bf16 bound.)"""
    plain, fast = _twins(3, "bf16")
    batch = make_batch(2, 4)
    for trainer in (plain, fast):
        metrics = trainer.update(batch)
        assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
        assert all(g.dtype == torch.float32 and torch.isfinite(g).all()
                   for g in trainer.last_grads.values())
        assert all(p.dtype == torch.float32 for p in trainer.agent.parameters())


@numerics
def test_a_checkpoint_resumes_across_settings():
    """A fast=on trainer's state loads into a fast=off trainer (and back): the next updates
    from it agree as one update does."""
    B, T, H = 2, 8, 4
    plain, fast = _twins(H)
    fast.update(make_batch(B, T))
    plain.load_state_dict(copy.deepcopy(fast.state_dict()))
    batch = make_batch(B, T, seed=1)
    want, got = plain.update(batch), fast.update(batch)
    assert_update_matches(plain, fast, got, want, terms(batch, H), "resumed, fast=on against off")
    fast.load_state_dict(plain.state_dict())
    assert fast.updates == plain.updates == 2


def test_compiled_plain_step_is_one_graph_and_matches_eager(monkeypatch):
    """``--agent compile=on`` with ``fast=off``: ``test_agent_compile``'s one-graph test on
    the plain update (the RSSM as module calls, ``nn.GRUCell``): TorchDynamo traces it into
    one graph without host reads, which gives the eager update's results."""
    import test_agent_compile

    monkeypatch.setattr(test_agent_compile, "pair", lambda overrides, horizon, **kwargs: pair(
        {**overrides, "fast": "off"}, horizon, **kwargs))
    test_agent_compile.test_compiled_step_is_one_graph_and_matches_eager()


@pytest.mark.slow
def test_compiled_plain_update_matches_eager():
    """Inductor's code for the plain update (fast=off) against the eager one (minutes)."""
    run_compiled_equivalence({"fast": "off"})


# --- through the command line ----------------------------------------------------------------

SHORT = ["--task", "reach-v3", "--reward", "env", "--preset", "tiny", "--max-steps", 40,
         "--prefill", 8, "--train-ratio", 32, "--batch", 4, "--length", 8, "--eval-every", 0]


def test_train_agent_runs_plain_and_resumes_with_fast_paths(tmp_path):
    """`--agent fast=off` trains (4 updates); the run resumes with fast=on, a speed choice,
    not a change of model, keeping the run's other --agent fields without repeating them."""
    import json

    out = tmp_path / "run"
    r = run("train-agent", *SHORT, "--steps", 12, "--agent", "fast=off", "--agent", "deter=24",
            "--out", out)
    assert r.exit_code == 0, r.stderr
    saved = json.loads((out / "config.json").read_text())["agent"]
    assert saved["fast"] == "off" and saved["deter"] == 24
    r = run("train-agent", "--out", out, "--resume", "--steps", 14, "--agent", "fast=on",
            "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["steps"] == 14
    saved = json.loads((out / "config.json").read_text())["agent"]
    assert saved["fast"] == "on" and saved["deter"] == 24
    r = run("train-agent", "--out", out, "--resume", "--steps", 16, "--agent", "deter=32")
    # a model change is refused, named field by field
    assert r.exit_code == 2 and "agent.deter=24 (now 32)" in r.stderr, r.stderr
    assert "classes" not in r.stderr


def test_train_agent_refuses_an_unknown_fast_path(tmp_path):
    r = run("train-agent", *SHORT, "--steps", 30, "--agent", "fast=hot,fused", "--out",
             tmp_path / "run")
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "'fused'" in lines[0] and ", ".join(FAST_PATHS) in lines[0], lines
    assert not (tmp_path / "run").exists()
