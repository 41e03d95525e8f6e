"""The compiled update (``--agent compile=on``) against the eager one, which is the reference.

The default suite traces the compiled step with TorchDynamo alone (no code generation, a few
seconds): one graph, so no host sync and no Python fallback inside it, and the same losses,
gradients and weights as the eager update. ``compile=graphs`` (the ``cudagraphs`` backend: the
traced graph run without code generation) is compared the same way, update and policy step.
The ``slow`` tests compile it with Inductor (minutes on a 2-core CPU) and compare the same, and
check that a compiled run's state resumes exactly in the compiled path and loads in the eager
one.

Sampling: the compiled step draws from the default generator, the eager update from the
trainer's; both are seeded alike so that they draw the same numbers in the same order (with
Inductor's ``fallback_random``, its random ops call the eager kernels).
"""

from __future__ import annotations

import copy

import pytest
import torch

from tolerance import assert_close_sums

from genreward_cli.agent.agent import DeviceMetrics, DreamerAgent, DreamerTrainer
from genreward_cli.agent.behavior import BehaviorConfig
from genreward_cli.agent.config import parse_overrides, preset
from genreward_cli.errors import BadInput

WIDE = dict(deter=64, stoch=8, classes=8, units=64, layers=2, cnn_depth=8)


def make_batch(B: int, T: int, seed: int = 0, action_dim: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    is_first = torch.zeros(B, T, dtype=torch.bool)
    is_first[:, 0] = True
    is_first[0, T // 2] = True  # an episode boundary inside a sequence
    return {"image": torch.randint(0, 256, (B, T, 64, 64, 3), generator=g, dtype=torch.uint8),
            "action": torch.rand(B, T, action_dim, generator=g) * 2 - 1,
            "reward": torch.randn(B, T, generator=g) * 3,
            "cont": (torch.rand(B, T, generator=g) > 0.05).float(), "is_first": is_first}


def pair(overrides: dict, horizon: int, seed: int = 0, device: str = "cpu",
         compile_: str = "on"):
    """An eager and a compiled trainer (``compile=compile_``) with the same weights."""
    torch.manual_seed(seed)
    behavior = BehaviorConfig(horizon=horizon)
    eager_agent = DreamerAgent(preset("tiny", **overrides), 4, behavior).to(device)
    with torch.no_grad():
        # DreamerV3 zero-initialises the reward and critic outputs: at the start every return
        # and value is rounding noise, and so is the actor's REINFORCE gradient. Random
        # outputs give the advantages a value to compare.
        for head in (eager_agent.wm.reward, eager_agent.behavior.critic,
                     eager_agent.behavior.slow_critic):
            head[-1].weight.normal_(0, 0.1)
            head[-1].bias.normal_(0, 0.1)
    twin = DreamerAgent(preset("tiny", **overrides, compile=compile_), 4, behavior).to(device)
    twin.load_state_dict(copy.deepcopy(eager_agent.state_dict()))
    eager, compiled = DreamerTrainer(eager_agent, seed=1), DreamerTrainer(twin)
    eager.keep_grads = compiled.keep_grads = True
    return eager, compiled


def terms(batch: dict, horizon: int) -> int:
    """The longest reduction of the update: the reconstruction's squared errors summed over
    every pixel of the batch (a loss's gradient reaches each weight through sums of that
    many products at most, per path)."""
    B, T, H, W, C = batch["image"].shape
    return max(B * T * H * W * C, B * T * horizon)


def assert_update_matches(eager, compiled, got_metrics, want_metrics, n: int, what: str):
    """Losses, clipped gradients and weights after the step agree at float32 tolerances.

    Each value is a sum of at most ``n`` products per path; the bound is the probabilistic
    one of ``tolerance.gamma`` for ``n`` terms, relative to the largest magnitude in the
    tensor (the magnitudes of the individual products are not known here), so it is loose
    for small entries and tight for the large ones, as needed to catch a wrong term.
    """
    for k in want_metrics:
        w, g = torch.tensor(want_metrics[k]), torch.tensor(got_metrics[k])
        assert_close_sums(g, w, w.abs().clamp(min=1e-3), terms=n, dtype=torch.float32,
                          msg=f"{what} metric {k}")
    assert set(compiled.last_grads) == set(eager.last_grads)
    for name, w in eager.last_grads.items():
        g = compiled.last_grads[name]
        assert_close_sums(g.cpu(), w.cpu(), torch.full_like(w, float(w.abs().max()) + 1e-12).cpu(),
                          terms=n, dtype=torch.float32, msg=f"{what} gradient {name}")
    # Adam's first step moves each weight by about lr * sign(gradient): compare to lr
    want = dict(eager.agent.named_parameters())
    for name, p in compiled.agent.named_parameters():
        torch.testing.assert_close(p, want[name], rtol=0, atol=3e-4, msg=f"{what} weight {name}")


def test_compile_option():
    """`off` by default; `auto` compiles on CUDA only; on and off are explicit; bad values are
    errors."""
    assert preset("tiny").compile == "off" and not preset("tiny").compiled("cuda")
    c = preset("tiny", **parse_overrides(("compile=auto",)))
    assert not c.compiled("cpu") and c.compiled("cuda")
    assert c.compiled(torch.device("cuda", 0))
    assert preset("tiny", **parse_overrides(("compile=on",))).compiled("cpu")
    assert not preset("tiny", **parse_overrides(("compile=off",))).compiled("cuda")
    graphs = preset("tiny", **parse_overrides(("compile=graphs",)))
    assert graphs.compiled("cpu") and graphs.compiled("cuda")
    assert graphs.compile_kwargs(torch.device("cuda")) == {"backend": "cudagraphs"}
    assert c.compile_kwargs(torch.device("cuda")) == {"mode": "reduce-overhead"}
    assert c.compile_kwargs(torch.device("cpu")) == {"mode": "default"}
    with pytest.raises(BadInput, match="compile"):
        preset("tiny", compile="yes")
    trainer = DreamerTrainer(DreamerAgent(preset("tiny", compile="on"), 4))
    assert trainer.compiled and trainer.agent.behavior.normalizer.in_place
    assert not DreamerTrainer(DreamerAgent(preset("tiny"), 4)).compiled


def test_device_metrics_read_once():
    m = DeviceMetrics(("train/a", "train/b"), torch.tensor([1.5, -2.0]))
    assert list(m) == ["train/a", "train/b"] and len(m) == 2 and "train/a" in m
    assert m["train/b"] == -2.0 and {**m} == {"train/a": 1.5, "train/b": -2.0}
    assert isinstance(m["train/a"], float)


def test_compiled_step_is_one_graph_and_matches_eager():
    """TorchDynamo traces the whole update (both world-model and behaviour backward passes,
    clipping, three Adam steps, the slow critic) into one graph with ``fullgraph``: a host
    sync (``.item()``, a tensor in a Python branch, boolean-mask indexing) would break it.
    Run by the traced graph without code generation, it gives the eager update's losses,
    gradients and weights."""
    B, T, H = 2, 4, 3
    eager, compiled = pair({}, H)
    graphs = []

    def count(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    step = torch.compile(compiled._compiled_step, backend=count, fullgraph=True, dynamic=False)
    batch = make_batch(B, T)
    want = eager.update(batch)
    torch.manual_seed(1)  # the eager trainer's generator is seeded 1: the same draws
    with torch._dynamo.config.patch(trace_autograd_ops=True):
        values, grads = step(batch)
    assert len(graphs) == 1
    # nor does it hold an op that reads a value back to the host
    names = {getattr(n.target, "__name__", str(n.target)) for g in graphs for n in g.graph.nodes}
    assert not names & {"item", "tolist", "cpu", "numpy", "nonzero", "_local_scalar_dense",
                        "masked_select"}, names
    compiled.last_grads = dict(zip(compiled._grad_names(), grads))
    got = DeviceMetrics(tuple(want), values)
    assert list(got) == list(want)
    assert_update_matches(eager, compiled, got, want, terms(batch, H), "dynamo")


def run_compiled_equivalence(overrides: dict, device: str = "cpu", compile_: str = "on",
                             T: int = 8):
    from torch._inductor import config as inductor_config

    B, H = 2, 4
    eager, compiled = pair(overrides, H, device=device, compile_=compile_)
    batch = {k: v.to(device) for k, v in make_batch(B, T).items()}
    want = eager.update(batch)
    torch.manual_seed(1)
    with inductor_config.patch(fallback_random=True):
        got = compiled.update(batch)
    assert isinstance(got, DeviceMetrics) and list(got) == list(want)
    assert_update_matches(eager, compiled, got, want, terms(batch, H),
                          f"compile={compile_} {overrides}")
    # a second update from the stepped weights: the same again (Adam's state, the normaliser)
    batch = {k: v.to(device) for k, v in make_batch(B, T, seed=1).items()}
    eager.generator.manual_seed(2)
    want = eager.update(batch)
    torch.manual_seed(2)
    with inductor_config.patch(fallback_random=True):
        got = compiled.update(batch)
    for k in ("train/image", "train/loss", "train/return_scale"):
        assert got[k] == pytest.approx(want[k], rel=1e-3), k


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [{}, WIDE], ids=["tiny", "widened"])
def test_compiled_update_matches_eager(overrides):
    """Inductor's code for the whole update against the eager update, loss by loss and
    gradient by gradient (minutes per preset on a 2-core CPU)."""
    run_compiled_equivalence(overrides)


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("compile_", ["on", "graphs"])
def test_compiled_update_matches_eager_on_cuda(compile_):
    """The same on a GPU, where the compiled step is replayed as CUDA graphs (Inductor's
    "reduce-overhead", or the traced operators with `graphs`; the first call runs without a
    graph, the later ones replay it)."""
    run_compiled_equivalence(WIDE, device="cuda", compile_=compile_)


def test_graphs_update_matches_eager(monkeypatch):
    """compile=graphs: the update traced once through TorchDynamo and AOTAutograd with the
    ``cudagraphs`` backend and no code generation (on a CPU the graph runs uncaptured) gives
    the eager update's losses, gradients and weights, twice in a row."""
    calls = []
    real = torch.compile

    def spy(fn, **kwargs):
        calls.append(kwargs)
        return real(fn, **kwargs)

    monkeypatch.setattr(torch, "compile", spy)
    run_compiled_equivalence({}, compile_="graphs", T=4)
    assert calls == [dict(dynamic=False, fullgraph=True, backend="cudagraphs")]


@pytest.mark.slow
def test_compiled_run_resumes_exactly_and_loads_in_eager():
    """A compiled trainer's state (with the process's RNG state, which a checkpoint saves)
    resumes bit for bit in a fresh compiled trainer, and loads into an eager one."""
    B, T, H = 2, 8, 4
    batches = [make_batch(B, T, seed=s) for s in range(4)]

    def fresh(compile_):
        torch.manual_seed(0)
        agent = DreamerAgent(preset("tiny", compile=compile_), 4, BehaviorConfig(horizon=H))
        return DreamerTrainer(agent)

    first = fresh("on")
    torch.manual_seed(5)
    for b in batches[:2]:
        first.update(b)
    state, rng = copy.deepcopy(first.state_dict()), torch.get_rng_state()
    straight = [dict(first.update(b)) for b in batches[2:]]

    resumed = fresh("on")
    resumed.load_state_dict(state)
    torch.set_rng_state(rng)
    again = [dict(resumed.update(b)) for b in batches[2:]]
    assert again == straight
    for (name, p), q in zip(first.agent.named_parameters(), resumed.agent.parameters()):
        assert torch.equal(p, q), name
    assert resumed.updates == first.updates == 4

    eager = fresh("off")
    eager.load_state_dict(state)
    want = dict(DreamerAgent.state_dict(first.agent))
    assert eager.updates == 2
    assert eager.agent.behavior.normalizer.range is not None
    assert eager.wm_opt.param_groups[0]["fused"]  # its own kind of Adam, not the saver's
    out = eager.update(batches[2])
    assert all(torch.isfinite(torch.tensor(v)) for v in out.values())
    assert set(eager.agent.state_dict()) == set(want)
    # and back: the eager state into the compiled trainer, whose step keeps its one graph
    resumed.load_state_dict(eager.state_dict())
    assert not resumed.wm_opt.param_groups[0]["fused"]
    out = resumed.update(batches[3])
    assert all(torch.isfinite(torch.tensor(out[k])) for k in out)


def test_resume_may_change_compile(tmp_path):
    """`compile` says how updates run, not what they compute: a run resumes with another
    value, or from a config saved before the field existed; other agent fields still count."""
    import json

    from genreward_cli.stages.train_agent import CHECKPOINT_NAME, CONFIG_NAME, prepare_run_dir

    saved = {"steps": 10, "agent": {"deter": 32}}  # as saved before `compile` existed
    (tmp_path / CONFIG_NAME).write_text(json.dumps(saved))
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"")
    for value in ("auto", "on", "graphs", "off"):
        prepare_run_dir(tmp_path, {"steps": 20, "agent": {"deter": 32, "compile": value}},
                        resume=True, force=False)
    assert json.loads((tmp_path / CONFIG_NAME).read_text())["agent"]["compile"] == "off"
    with pytest.raises(BadInput, match="agent"):
        prepare_run_dir(tmp_path, {"steps": 20, "agent": {"deter": 64, "compile": "on"}},
                        resume=True, force=False)


def policy_inputs(agent, n: int = 2, seed: int = 0, explore: bool = True):
    """``DreamerAgent._policy_step``'s inputs for ``n`` observations mid-episode."""
    g = torch.Generator().manual_seed(seed)
    c = agent.config
    probs = torch.rand(n, c.stoch, c.classes, generator=g)
    stoch = torch.nn.functional.one_hot(probs.argmax(-1), c.classes).float()
    return (torch.randint(0, 256, (n, 64, 64, 3), generator=g, dtype=torch.uint8),
            torch.tensor([True] + [False] * (n - 1)), torch.randn(n, c.deter, generator=g),
            stoch, torch.rand(n, 4, generator=g) * 2 - 1,
            torch.rand(n * c.stoch, 1, generator=g),
            torch.randn(n, 4, generator=g) if explore else None)


@pytest.mark.parametrize("explore", [True, False])
def test_policy_step_is_one_graph_and_matches_eager(explore):
    """TorchDynamo traces the policy step (encoder, posterior step, actor, noise, clamp) into
    one graph with no op that reads a value back to the host; run by that graph it gives the
    eager step's action and posterior."""
    agent = DreamerAgent(preset("tiny", **WIDE), 4)
    graphs = []

    def count(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    step = torch.compile(agent._policy_step, backend=count, fullgraph=True, dynamic=False)
    inputs = policy_inputs(agent, explore=explore)
    with torch.no_grad():
        want_action, want = agent._policy_step(*inputs)
        got_action, got = step(*inputs)
    assert len(graphs) == 1
    names = {getattr(n.target, "__name__", str(n.target)) for g in graphs for n in g.graph.nodes}
    assert not names & {"item", "tolist", "cpu", "numpy", "nonzero", "_local_scalar_dense",
                        "masked_select", "rand", "randn", "uniform_", "normal_"}, names
    assert torch.equal(got_action, want_action)
    assert got.keys() == want.keys() == {"deter", "stoch", "index", "probs"}
    for k in want:
        assert torch.equal(got[k], want[k]), k


def test_policy_draws_its_numbers_before_the_step():
    """``policy`` draws the latents' uniforms, then the action noise, from the generator it
    is given, and nothing else: the same generator state gives the same actions, and a
    step given those draws by hand gives them too."""
    import numpy as np

    agent = DreamerAgent(preset("tiny"), 4)
    image = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    first = np.array([True, False, True])
    g = torch.Generator().manual_seed(7)
    actions, (latent, action) = agent.policy(image, first, generator=g)
    assert actions.shape == (3, 4) and actions.dtype == np.float32
    assert np.abs(actions).max() <= 1 and torch.equal(torch.from_numpy(actions), action)
    g = torch.Generator().manual_seed(7)
    uniform = torch.rand(3 * agent.config.stoch, 1, generator=g)
    noise = torch.randn(3, 4, generator=g)
    zeros = agent.wm.rssm.initial(3, "cpu")
    with torch.no_grad():
        want, post = agent._policy_step(torch.from_numpy(image), torch.from_numpy(first),
                                        zeros["deter"], zeros["stoch"], torch.zeros(3, 4),
                                        uniform, noise)
    assert torch.equal(action, want) and torch.equal(latent["stoch"], post["stoch"])
    # the next step continues from the returned state and the generator's next draws
    more, _ = agent.policy(image, np.zeros(3, bool), (latent, action), generator=g)
    assert not np.array_equal(more, actions)


def run_policy_equivalence(device: str, compile_: str):
    """Over an episode's first 6 steps, ``policy`` with ``compile=compile_`` acts as the
    eager policy does from the same generator, up to rounding."""
    import numpy as np

    torch.manual_seed(0)
    eager = DreamerAgent(preset("tiny", **WIDE), 4).to(device)
    compiled = DreamerAgent(preset("tiny", **WIDE, compile=compile_), 4).to(device)
    compiled.load_state_dict(eager.state_dict())
    frames = np.random.default_rng(1).integers(0, 256, (6, 1, 64, 64, 3), dtype=np.uint8)
    runs = []
    for agent in (eager, compiled):
        g, state, actions = torch.Generator(device).manual_seed(3), None, []
        for t, frame in enumerate(frames):
            a, state = agent.policy(frame, np.array([t == 0]), state, generator=g)
            actions.append(a)
        runs.append((np.stack(actions), state))
    (want, (want_latent, _)), (got, (got_latent, _)) = runs
    assert compiled._compiled_policy is not None and eager._compiled_policy is None
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert torch.equal(got_latent["index"], want_latent["index"])


@pytest.mark.slow
@pytest.mark.parametrize("device", [
    "cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                         reason="needs a CUDA device"))])
def test_compiled_policy_matches_eager(device):
    """With compile=on, ``policy`` runs Inductor's code for the step (on CUDA replayed as a
    CUDA graph from its second call) and acts as the eager policy does."""
    run_policy_equivalence(device, "on")


@pytest.mark.parametrize("device", [
    "cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                         reason="needs a CUDA device"))])
def test_graphs_policy_matches_eager(device):
    """With compile=graphs, ``policy`` runs the traced step (on CUDA replayed as a CUDA
    graph) and acts as the eager policy does."""
    run_policy_equivalence(device, "graphs")
