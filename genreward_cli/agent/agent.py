"""The DreamerV3 agent (networks, inference) apart from its trainer (losses, optimisers)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn as nn
from torch.optim.adam import adam

from genreward_cli.agent.behavior import Behavior, BehaviorConfig
from genreward_cli.agent.config import AgentConfig
from genreward_cli.agent.world_model import WorldModel
from genreward_cli.errors import BadInput


class DreamerAgent(nn.Module):
    """World model + actor-critic; ``policy`` filters observations and acts."""

    def __init__(self, config: AgentConfig, action_dim: int,
                 behavior: BehaviorConfig = BehaviorConfig()):
        super().__init__()
        self.config = config
        self.action_dim = action_dim
        self.wm = WorldModel(config, action_dim)
        self.behavior = Behavior(config, action_dim, behavior)
        self._compiled_policy = None  # built at the first compiled policy step

    @property
    def device(self):
        return next(self.parameters()).device

    def autocast(self):
        """The compute precision of ``config.precision``: bf16 autocast, or plain fp32."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=self.config.precision == "bf16")

    @torch.no_grad()
    def policy(self, image: np.ndarray, is_first: np.ndarray, state=None, explore=True,
               generator=None):
        """Act on a batch of observations: filter them into the RSSM state, then sample the
        actor (``explore``) or take its mode.

        The random numbers are drawn first, from ``generator`` (the latents' uniforms, then
        the action noise), and the step itself is ``_policy_step``: with ``config.compile``
        on for this device (``AgentConfig.compiled``) that step runs compiled
        (``AgentConfig.compile_kwargs``; on CUDA replayed as a CUDA graph), drawing the same
        numbers as the eager step, so a run acts alike either way up to rounding.

        Args:
            image: uint8 [N, H, W, 3]; is_first: bool [N].
            state: (rssm state, previous action) or None at the start.
        Returns:
            actions float32 [N, A] in [-1, 1], and the next state.
        """
        n = len(image)
        dev = self.device
        if state is None:
            state = (self.wm.rssm.initial(n, dev), torch.zeros(n, self.action_dim, device=dev))
        latent, prev_action = state
        c = self.config
        uniform = torch.rand(n * c.stoch, 1, generator=generator, device=dev)
        noise = torch.randn(n, self.action_dim, generator=generator, device=dev) if explore \
            else None
        first = torch.from_numpy(np.asarray(is_first, bool)).to(dev)
        inputs = (torch.from_numpy(image).to(dev), first, latent["deter"], latent["stoch"],
                  prev_action, uniform, noise)
        if not c.compiled(dev):
            action, latent = self._policy_step(*inputs)
        else:
            if self._compiled_policy is None:
                self._compiled_policy = torch.compile(self._policy_step, dynamic=False,
                                                      fullgraph=True, **c.compile_kwargs(dev))
            if dev.type == "cuda":
                torch.compiler.cudagraph_mark_step_begin()
            action, latent = self._compiled_policy(*inputs)
            # a CUDA graph's outputs are overwritten by its next replay
            action, latent = action.clone(), {k: v.clone() for k, v in latent.items()}
        return action.cpu().numpy().astype(np.float32), (latent, action)

    def _policy_step(self, image, first, deter, stoch, prev_action, uniform, noise):
        """The policy step on the device, without host syncs or random draws of its own:
        image uint8 [N, H, W, 3], first bool [N], the RSSM state's deter [N, D] and stoch
        [N, S, K], the previous action [N, A], the latents' uniforms [N * S, 1] and the action
        noise [N, A] (None: the actor's mode). Returns the action float32 [N, A] clamped to
        [-1, 1] and the posterior state (deter, stoch, index, probs)."""
        with self.autocast():
            embed = self.wm.encoder(image)
            latent, _ = self.wm.rssm.obs_step({"deter": deter, "stoch": stoch}, prev_action,
                                              embed, first, uniform=uniform)
            dist = self.behavior.actor(self.wm.rssm.feat(latent), latent["index"])
        action = dist.mean
        if noise is not None:
            action = action + dist.stddev * noise
        return action.clamp(-1, 1), latent


class DeviceMetrics(Mapping):
    """An update's metrics held on the device as one float32 tensor, copied to the host (one
    sync) the first time a value is read, so that an update does not wait for the device.

    A read-only mapping of name -> Python float, like the dict of an eager update."""

    def __init__(self, keys: tuple[str, ...], values: torch.Tensor):
        self._keys, self._values, self._floats = keys, values, None

    def _read(self) -> dict[str, float]:
        if self._floats is None:
            self._floats = dict(zip(self._keys, self._values.tolist()))
            self._values = None
        return self._floats

    def __getitem__(self, key: str) -> float:
        return self._read()[key]

    def __contains__(self, key) -> bool:
        return key in self._keys

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


_ADAM_KINDS = ("foreach", "fused", "capturable")  # how an Adam step runs, not what it computes


class DreamerTrainer:
    """Optimisers and the update: world model on replayed sequences, then actor and critic
    on trajectories imagined from every posterior state of the batch.

    With ``config.compile`` resolved to on (``AgentConfig.compiled``), ``update`` runs the
    same code compiled by ``torch.compile`` (``AgentConfig.compile_kwargs``: Inductor, in
    mode "reduce-overhead" on CUDA, which replays CUDA graphs, "default" elsewhere; with
    `graphs`, the traced operators without code generation, replayed as CUDA graphs on CUDA)
    as one step: forward passes, backward passes (traced into the graph), gradient clipping,
    Adam steps (foreach; on CUDA capturable, with learning rates as tensors), and the slow
    critic's update. Shapes are fixed by the first batch (another shape recompiles). The step
    has no host syncs and no Python state that changes between steps: sampling draws from the
    device's default generator (saved with the process's RNG states in a checkpoint) instead
    of ``self.generator``, the return normaliser's range is a tensor
    updated in place, and the metrics come back as a ``DeviceMetrics``.
    """

    def __init__(self, agent: DreamerAgent, seed: int = 0):
        c, b = agent.config, agent.behavior.b
        self.agent = agent
        self.compiled = c.compiled(agent.device)
        traceable = hasattr(torch._dynamo.config, "trace_autograd_ops")
        if self.compiled and not traceable and c.compile == "auto":
            import warnings

            warnings.warn(f"--agent compile=auto: torch {torch.__version__} cannot trace backward "
                          "passes into a compiled graph; the updates run eager", stacklevel=2)
            self.compiled = False
        elif self.compiled and not traceable:
            raise BadInput(f"--agent compile={c.compile}: torch {torch.__version__} cannot trace "
                           "backward passes into a compiled graph "
                           "(torch._dynamo.config.trace_autograd_ops); use --agent compile=off "
                           "or a newer torch")
        cuda = agent.device.type == "cuda"
        if self.compiled and cuda:
            # for CUDA graphs: learning rates as tensors (a change needs no recompilation) and
            # the step counts on the device (capturable); the compiler does not trace the fused
            # kernel, so the foreach form, which it fuses itself
            self.lrs = [torch.tensor(lr, device=agent.device, dtype=torch.float32)
                        for lr in (c.model_lr, b.actor_lr, b.critic_lr)]
            for lr in self.lrs:  # read in place by the graph, not copied in at each replay
                torch._dynamo.mark_static_address(lr)
            kinds = dict(foreach=True, capturable=True)
        elif self.compiled:  # on the CPU (no capturable optimiser there): float rates
            self.lrs = [c.model_lr, b.actor_lr, b.critic_lr]
            kinds = dict(foreach=True)
        else:
            self.lrs = [c.model_lr, b.actor_lr, b.critic_lr]
            kinds = dict(fused=True)  # one kernel over all parameters (CPU and GPU)
        self.wm_opt = torch.optim.Adam(agent.wm.parameters(), lr=self.lrs[0], eps=1e-8, **kinds)
        self.actor_opt = torch.optim.Adam(agent.behavior.actor.parameters(), lr=self.lrs[1],
                                          eps=1e-5, **kinds)
        self.critic_opt = torch.optim.Adam(agent.behavior.critic.parameters(), lr=self.lrs[2],
                                           eps=1e-5, **kinds)
        # all sampling in an eager update draws from this generator, on the agent's device
        self.generator = torch.Generator(device=agent.device).manual_seed(seed)
        self.updates = 0
        # for tests and debugging: each update keeps the clipped gradients it stepped with,
        # {parameter name: tensor}, in ``last_grads`` (set before the first compiled update)
        self.keep_grads = False
        self.last_grads: dict[str, torch.Tensor] = {}
        self._step = None
        self.compile_seconds = 0.0  # the first compiled update's extra time (tracing, codegen)
        if self.compiled:
            agent.behavior.normalizer.keep_in_place(agent.device)
            self._init_adam_state()
            self._graphs = cuda  # replayed as CUDA graphs (both backends, on a GPU)

    def _optimizers(self):
        return self.wm_opt, self.actor_opt, self.critic_opt

    def state_dict(self) -> dict:
        """Everything an update depends on; learning rates saved as floats, so that a compiled
        run's state loads into an eager trainer and the reverse."""
        opts = {}
        for name, opt in zip(("wm_opt", "actor_opt", "critic_opt"), self._optimizers()):
            state = opt.state_dict()
            state["param_groups"] = [{**g, "lr": float(g["lr"])} for g in state["param_groups"]]
            opts[name] = state
        return {"agent": self.agent.state_dict(), **opts,
                "normalizer": self.agent.behavior.normalizer.state_dict(),
                "generator": self.generator.get_state(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state["agent"])
        for name, opt, lr in zip(("wm_opt", "actor_opt", "critic_opt"), self._optimizers(),
                                 self.lrs):
            kept = {p: dict(opt.state[p]) for p in opt.param_groups[0]["params"]
                    if self.compiled}
            flags = [{k: g[k] for k in _ADAM_KINDS} for g in opt.param_groups]
            opt.load_state_dict(state[name])
            for p, old in kept.items():  # the compiled step's tensors, at the same addresses
                for k, t in old.items():
                    if k in opt.state[p]:
                        t.copy_(opt.state[p][k])
                    else:  # saved before the first step
                        t.zero_()
                opt.state[p].update(old)
            for group, own in zip(opt.param_groups, flags):
                # this trainer's kind of Adam (fused eager, foreach compiled), whichever saved
                # the state, and its kind of learning rate: a tensor when compiled on CUDA
                group.update(own)
                if isinstance(lr, torch.Tensor):
                    lr.fill_(float(group["lr"]))
                    group["lr"] = lr
                else:
                    group["lr"] = float(group["lr"])
        self.agent.behavior.normalizer.load_state_dict(state["normalizer"])
        self.generator.set_state(state["generator"].cpu())
        self.updates = state["updates"]

    def _update(self, batch: dict[str, torch.Tensor], generator, lazy: bool):
        """One update. Returns (metrics, gradients): metrics by name, Python floats, or with
        ``lazy`` 0-d tensors (the compiled step, which then has no host syncs); the clipped
        gradients in ``_grad_names`` order with ``keep_grads``, else an empty list."""
        a, c = self.agent, self.agent.config
        with a.autocast():
            loss, metrics, post = a.wm.loss(batch, generator, lazy=lazy)
        # detached before the backward pass: nothing that outlives it refers to its graph
        start = {k: v.detach().flatten(0, 1) for k, v in post.items()
                 if k in ("deter", "stoch", "index")}
        del post
        learn = self._learn_in_graph if lazy else self._learn
        grads = [learn(self.wm_opt, loss, c.grad_clip)]
        with a.autocast():
            actor_loss, critic_loss, bm = a.behavior.loss(a.wm, start, generator, lazy=lazy)
        clip = a.behavior.b.grad_clip
        grads.append(learn(self.actor_opt, actor_loss, clip))
        grads.append(learn(self.critic_opt, critic_loss, clip))
        a.behavior.update_slow_critic()
        if not lazy:
            a.wm.zero_grad(set_to_none=True)  # behaviour gradients never train the model
        metrics.update(bm)
        return metrics, [g for gs in grads for g in gs] if self.keep_grads else []

    def _learn(self, opt: torch.optim.Optimizer, loss: torch.Tensor, max_norm: float):
        """Eager: gradients of ``loss`` into ``.grad``, clipped to ``max_norm``, one Adam step.
        Returns copies of the clipped gradients with ``keep_grads``, else an empty list."""
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = opt.param_groups[0]["params"]
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        kept = [p.grad.clone() for p in params] if self.keep_grads else []
        opt.step()
        return kept

    def _learn_in_graph(self, opt: torch.optim.Optimizer, loss: torch.Tensor,
                        max_norm: float) -> None:
        """``_learn`` for the compiled step, the same arithmetic in a form that traces into one
        graph: the gradients from ``torch.autograd.grad`` (not stored in ``.grad``), clipped
        as ``clip_grad_norm_`` does, then PyTorch's functional Adam on the optimiser's own
        state tensors (made in ``_init_adam_state``)."""
        params, exp_avgs, exp_avg_sqs, steps = self._adam_lists[id(opt)]
        grads = torch.autograd.grad(loss, params)
        group = opt.param_groups[0]
        with torch.no_grad():
            total = torch.nn.utils.get_total_norm(grads)
            grads = torch._foreach_mul(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))
            kept = [g.clone() for g in grads] if self.keep_grads else []
            beta1, beta2 = group["betas"]
            adam(
                params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False,
                has_complex=False, beta1=beta1, beta2=beta2, lr=group["lr"],
                weight_decay=group["weight_decay"], eps=group["eps"], maximize=False,
                foreach=group["foreach"], capturable=group["capturable"], differentiable=False,
                fused=group["fused"], grad_scale=None, found_inf=None,
                decoupled_weight_decay=group["decoupled_weight_decay"])
        return kept

    def _init_adam_state(self) -> None:
        """The Adam states as ``Adam`` makes them at its first step (zeros; the step count a
        0-d float32 tensor on the device), made now so that the compiled step finds them and
        their addresses stay fixed (``load_state_dict`` copies into them)."""
        self._adam_lists = {}
        for opt in self._optimizers():
            (group,) = opt.param_groups
            lists: tuple[list, list, list, list] = ([], [], [], [])
            for p in group["params"]:
                state = opt.state[p]
                if not state:
                    state["step"] = torch.zeros(
                        (), dtype=torch.float32,
                        device=p.device if group["capturable"] or group["fused"] else "cpu")
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                for t in state.values():
                    torch._dynamo.mark_static_address(t)
                for out, t in zip(lists, (p, state["exp_avg"], state["exp_avg_sq"], state["step"])):
                    out.append(t)
            self._adam_lists[id(opt)] = lists

    def _compiled_step(self, batch: dict[str, torch.Tensor]):
        """The compiled update's body: the metrics stacked in one float32 tensor [11], and the
        clipped gradients (a list, empty unless ``keep_grads``)."""
        metrics, grads = self._update(batch, None, lazy=True)
        return torch.stack([v.float() for v in metrics.values()]), grads

    def _grad_names(self) -> list[str]:
        """The names of the parameters whose gradients ``_update`` returns, in its order."""
        names = {p: n for n, p in self.agent.named_parameters()}
        return [names[p] for opt in self._optimizers() for p in opt.param_groups[0]["params"]]

    def _metric_names(self) -> tuple[str, ...]:
        """The metrics' names in the compiled step's order (known without running it)."""
        return ("image", "reward", "cont", "dyn", "rep", "loss", "actor", "critic", "return",
                "entropy", "return_scale")

    def update(self, batch: dict[str, torch.Tensor]) -> Mapping[str, float]:
        """One update on ``batch`` (see ``WorldModel.loss`` for its keys and shapes).

        Returns ``train/...`` metrics (world-model loss terms, actor and critic losses, mean
        imagined return, entropy, return scale): a dict of floats (eager), or a
        ``DeviceMetrics`` read lazily (compiled). The compiled step is built at the first
        call; ``compile_seconds`` then holds that call's time.
        """
        if not self.compiled:
            metrics, grads = self._update(batch, self.generator, lazy=False)
            if self.keep_grads:
                self.last_grads = dict(zip(self._grad_names(), grads))
            self.updates += 1
            return {f"train/{k}": v for k, v in metrics.items()}
        import time

        first = self._step is None
        if first:
            # one graph or an error (fullgraph): a break would mean a host sync or a piece
            # left to Python, each a separate launch
            self._step = torch.compile(self._compiled_step, dynamic=False, fullgraph=True,
                                       **self.agent.config.compile_kwargs(self.agent.device))
            begin = time.perf_counter()
        if self._graphs:
            torch.compiler.cudagraph_mark_step_begin()
        with torch._dynamo.config.patch(trace_autograd_ops=True):  # backward passes in the graph
            values, grads = self._step(batch)
        if self._graphs:  # the graph's outputs are overwritten by its next replay
            values, grads = values.clone(), [g.clone() for g in grads]
        if self.keep_grads:
            self.last_grads = dict(zip(self._grad_names(), grads))
        if first:
            if self.agent.device.type == "cuda":
                torch.cuda.synchronize()
            self.compile_seconds = time.perf_counter() - begin
        self.updates += 1
        return DeviceMetrics(tuple(f"train/{k}" for k in self._metric_names()), values)
