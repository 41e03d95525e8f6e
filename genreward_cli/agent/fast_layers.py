"""The agent's fast paths: faster computations of plain layers of ``networks.py``.

Each fast path computes what the plain layer it replaces computes, from the same parameters:
the replacements are subclasses of the plain ``nn`` layers holding the plain layers' own
parameters, so a model's ``state_dict`` (names, shapes, order) and its initial weights from a
seed are the same whichever paths it is built with, and a checkpoint loads across settings.
Only rounding differs (sums in another order). ``AgentConfig.fast`` selects them
(``--agent fast=on``, ``off`` or a comma-separated subset of the names below), and the
networks are built with the selection (``FastPaths.of(config)``); nothing switches them at
run time.

======== ============================================ =========================================
name     replaces                                     with
======== ============================================ =========================================
hot      ``nn.Linear`` whose input holds the one-hot  ``HotLinear``: the one-hot block's share
         latents (first layer of every MLP on the     as a gather of weight columns
         features, the decoder's first layer, the     (``embedding_bag``) and its weight
         RSSM's input layer)                          gradient as an ``index_add_``
tables   (with ``hot``) the weight layout of each     ``reused_tables``: laid out once per
         ``HotLinear`` call during an imagined        rollout, the weights being fixed there
         rollout
pad      ``nn.Linear`` heads with 64 or more outputs  ``PaddedLinear``: outputs padded to a
         that are not a multiple of 16 (the 255-bin   multiple of 16, without gradients
         reward and critic heads)
deconv   the decoder's last ``nn.ConvTranspose2d``    ``ThinConvTranspose2d``: forward by
         (to 3 channels)                              output phases, backward as three calls
loop     ``RSSM.observe``'s loop of module calls      ``observe_unrolled``: the same model in
                                                      larger products, weight gradients once
                                                      per sequence (``LoopLinear``)
======== ============================================ =========================================

Timings quoted below were measured on CPUs (oneDNN kernels) at Table A sizes; on a GPU the
plain layers are the better-tested choice. Under ``torch.compile`` (``--agent compile=on``)
``hot``, ``pad`` and ``deconv`` are traced as they are; ``tables`` and the ``LoopLinear`` part
of ``loop`` keep Python state between calls and stand aside (plain products). Under bf16
autocast the custom autograd functions, which autocast does not reach, cast their inputs to
the autocast dtype themselves, as ``F.linear`` and ``F.conv_transpose2d`` would be cast.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from genreward_cli.agent.config import FAST_PATHS, AgentConfig


class Latents(NamedTuple):
    """Where a layer's input holds one-hot latents: columns ``start:start + groups * classes``,
    ``groups`` blocks of ``classes`` columns, one hot column each."""

    start: int
    groups: int
    classes: int


@dataclass(frozen=True)
class FastPaths:
    """The fast paths a network is built with, and the constructors that apply them.

    ``FastPaths()`` (``PLAIN``) selects none: every method returns the plain layer it is
    given. ``names`` is a subset of ``config.FAST_PATHS``.
    """

    names: frozenset[str] = frozenset()

    def __post_init__(self):
        unknown = set(self.names) - set(FAST_PATHS)
        if unknown:
            raise ValueError(f"FastPaths: unknown names {sorted(unknown)}; valid: {FAST_PATHS}")

    @classmethod
    def of(cls, config: AgentConfig) -> FastPaths:
        """The paths ``config.fast`` selects (``AgentConfig.fast_paths``)."""
        return cls(config.fast_paths())

    def __contains__(self, name: str) -> bool:
        if name not in FAST_PATHS:
            raise ValueError(f"{name!r} is not a fast path; valid: {FAST_PATHS}")
        return name in self.names

    def latents(self, layer: nn.Linear, where: Latents | None) -> nn.Linear:
        """``layer``, whose input holds one-hot latents at ``where`` (None: it does not), as
        a ``HotLinear`` sharing its parameters with `hot`; else ``layer`` itself."""
        if where is None or "hot" not in self:
            return layer
        return HotLinear.of(layer, where, reuse_tables="tables" in self)

    def head(self, layer: nn.Linear) -> nn.Linear:
        """An output layer, as a ``PaddedLinear`` sharing its parameters with `pad` when it
        has 64 or more outputs, not a multiple of 16; else ``layer`` itself."""
        pads = layer.out_features >= 64 and layer.out_features % 16
        return PaddedLinear.of(layer) if pads and "pad" in self else layer

    def deconv(self, layer: nn.ConvTranspose2d) -> nn.ConvTranspose2d:
        """The decoder's last layer, as a ``ThinConvTranspose2d`` sharing its parameters with
        `deconv`; else ``layer`` itself."""
        return ThinConvTranspose2d.of(layer) if "deconv" in self else layer

    @property
    def loop(self) -> bool:
        """Whether ``RSSM.observe`` runs as ``observe_unrolled``."""
        return "loop" in self


PLAIN = FastPaths()


def _adopt(new: nn.Module, layer: nn.Module) -> nn.Module:
    """``new`` (built on the meta device, so without drawing random numbers) holding
    ``layer``'s own weight and bias (the same Parameter objects, or bias None)."""
    new.weight = layer.weight
    if layer.bias is None:
        new.register_parameter("bias", None)
    else:
        new.bias = layer.bias
    return new


def with_latents(layer: nn.Module, x: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
    """``layer(x)``, handing ``index`` (the classes of x's one-hot latents) to a
    ``HotLinear``; a plain layer reads x alone."""
    return layer(x, index) if index is not None and isinstance(layer, HotLinear) else layer(x)


def _autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The compute dtype of an active autocast on ``device``, else None. Custom autograd
    Functions are not autocast, so the layers built on them cast their inputs to it."""
    return torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else None


def _cast(dtype: torch.dtype | None, *tensors):
    """``tensors`` in ``dtype`` (None: unchanged; None entries stay None)."""
    return tuple(t if t is None or dtype is None else t.to(dtype) for t in tensors)


# --- hot, tables ---------------------------------------------------------------------------

class _HotLinear(torch.autograd.Function):
    """``x @ W.T + b`` for a 2-D x whose columns ``start:start + groups * classes`` are one-hot
    in each group of ``classes``, with ``index`` [N, groups] the hot class of each group.

    The one-hot block's share of the output is the sum of the weight columns its hot classes
    pick (``embedding_bag``), and its share of the weight gradient is the output gradient's
    rows added into those columns (``index_add_``), instead of matrix products over mostly
    zeros. The other columns are matrix products, and the input gradient is the same as
    ``F.linear``'s (for the one-hot block: the straight-through gradient of the samples).
    """

    @staticmethod
    def forward(ctx, x, index, weight, bias, start, classes, table):
        ctx.save_for_backward(x, index, weight)
        ctx.has_bias, ctx.start, ctx.classes = bias is not None, start, classes
        groups = index.shape[-1]
        end = start + groups * classes
        flat = index + torch.arange(groups, device=index.device) * classes
        if table is None:
            table = weight[:, start:end].t().contiguous()
        out = F.embedding_bag(flat, table, mode="sum")
        for lo, hi in ((0, start), (end, x.shape[-1])):
            if hi > lo:
                out = torch.addmm(out, x[:, lo:hi], weight[:, lo:hi].t())
        return out if bias is None else out.add_(bias)

    @staticmethod
    def backward(ctx, grad):
        x, index, weight = ctx.saved_tensors
        start, classes = ctx.start, ctx.classes
        dx = grad @ weight if ctx.needs_input_grad[0] else None
        dw = db = None
        if ctx.needs_input_grad[2]:
            end = start + index.shape[-1] * classes
            dw = torch.empty_like(weight)
            for lo, hi in ((0, start), (end, x.shape[-1])):
                if hi > lo:
                    dw[:, lo:hi] = grad.t() @ x[:, lo:hi]
            # accumulated in float32 whatever the compute dtype, as a matrix product does
            hot = torch.zeros(end - start, weight.shape[0], device=grad.device)
            rows = grad.float()
            for g, cls in enumerate(index.t().contiguous()):
                hot[g * classes:(g + 1) * classes].index_add_(0, cls, rows)
            dw[:, start:end] = hot.t()
        if ctx.has_bias and ctx.needs_input_grad[3]:
            db = grad.sum(0)
        return dx, None, dw, db, None, None, None


class HotLinear(nn.Linear):
    """Fast path `hot`: an ``nn.Linear`` whose input holds one-hot latents at ``where``
    (``Latents``), computed from the samples' classes instead of the one-hot columns.

    Replaces: the first ``nn.Linear`` of every MLP on DreamerV3's features [deter, stoch]
    (reward, continue, actor, critic), the decoder's first layer and the RSSM's input layer.
    Why faster: with ``index`` given, the one-hot block's multiplications by zero are skipped
    (a gather of weight columns forward, an ``index_add_`` for the weight gradient); on the
    stochastic part of the features at Table A sizes (1024 of 1536 columns, 32 groups of 32
    classes) that is two thirds of the layer's forward FLOPs. Pays on any device where the
    one-hot block is large against the dense columns; measured on CPUs.

    ``forward(x, index=None)``: x float [..., in_features]; index int64 [..., groups], the hot
    class of each group (it must be x's own: the one-hot columns are not read). Without
    ``index`` (inputs that are not exactly one-hot, such as the zero state after a reset) it
    is ``nn.Linear``. Returns [..., out_features], in the autocast dtype under autocast.

    ``reuse_tables`` (fast path `tables`): inside ``reused_tables``, the weight columns of the
    one-hot block are laid out as rows (the ``embedding_bag`` table) at the first call and
    reused, not copied at every call: for loops in which the weights do not change (an
    imagined rollout, 15 steps). Not under autocast (the cast weight is a new tensor at each
    call) nor when compiled (the compiler fuses the layout).
    """

    def __init__(self, in_features: int, out_features: int, where: Latents, bias: bool = True,
                 reuse_tables: bool = False, device=None, dtype=None):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.start, self.classes = where.start, where.classes
        self.reuse_tables = reuse_tables
        self._caching, self._table = False, None
        if where.start + where.groups * where.classes > in_features:
            raise ValueError(f"HotLinear: latents {where} beyond {in_features} input columns")

    @classmethod
    def of(cls, layer: nn.Linear, where: Latents, reuse_tables: bool = False) -> HotLinear:
        """A HotLinear holding ``layer``'s own parameters (no new ones, no random draws)."""
        new = cls(layer.in_features, layer.out_features, where, bias=layer.bias is not None,
                  reuse_tables=reuse_tables, device="meta")
        return _adopt(new, layer)

    def forward(self, x: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        if index is None:
            return super().forward(x)
        x, weight, bias = _cast(_autocast_dtype(x.device), x, self.weight, self.bias)
        table = None
        if self._caching and weight is self.weight and not torch.compiler.is_compiling():
            if self._table is None:
                end = self.start + index.shape[-1] * self.classes
                self._table = weight.detach()[:, self.start:end].t().contiguous()
            table = self._table
        lead = x.shape[:-1]
        out = _HotLinear.apply(x.reshape(-1, x.shape[-1]), index.reshape(-1, index.shape[-1]),
                               weight, bias, self.start, self.classes, table)
        return out.view(*lead, -1)


@contextlib.contextmanager
def _caching(layers: list[HotLinear]):
    saved = [(layer._caching, layer._table) for layer in layers]
    for layer in layers:
        layer._caching, layer._table = True, None
    try:
        yield
    finally:
        for layer, (caching, table) in zip(layers, saved):
            layer._caching, layer._table = caching, table


def reused_tables(*modules: nn.Module):
    """Fast path `tables`: a context in which each ``HotLinear`` of ``modules`` built with
    ``reuse_tables`` lays out its table once (see ``HotLinear``), for a block in which the
    weights do not change. The tables are dropped at the end of the block, so an optimiser
    step between two blocks is seen. A ``nullcontext`` when compiling or when no layer of
    ``modules`` reuses tables (the plain path)."""
    if torch.compiler.is_compiling():
        return contextlib.nullcontext()
    layers = [m for module in modules for m in module.modules()
              if isinstance(m, HotLinear) and m.reuse_tables]
    return _caching(layers) if layers else contextlib.nullcontext()


# --- pad -----------------------------------------------------------------------------------

class PaddedLinear(nn.Linear):
    """Fast path `pad`: ``nn.Linear`` computed with its outputs padded to a multiple of 16,
    then sliced back.

    Replaces: output layers with 64 or more outputs that are not a multiple of 16, i.e. the
    255-bin two-hot reward and critic heads. Why faster: on the CPU (oneDNN, AVX2) a product
    with 255 outputs runs at about 60% of the rate of one with 256 (39 ms against 23 ms on
    15360 rows). Only without gradients (the imagined rewards, values and slow critic): with
    gradients, padding the backward passes as well gained nothing measurable, and the layer
    is ``nn.Linear``. x float [..., in_features] -> [..., out_features], the same values.
    """

    @classmethod
    def of(cls, layer: nn.Linear) -> PaddedLinear:
        """A PaddedLinear holding ``layer``'s own parameters."""
        new = cls(layer.in_features, layer.out_features, bias=layer.bias is not None,
                  device="meta")
        return _adopt(new, layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = -self.out_features % 16
        if not pad or torch.is_grad_enabled():
            return super().forward(x)
        bias = None if self.bias is None else F.pad(self.bias, (0, pad))
        return F.linear(x, F.pad(self.weight, (0, 0, 0, pad)), bias)[..., :self.out_features]


# --- deconv --------------------------------------------------------------------------------

# A stride-2, kernel-4, padding-1 transposed convolution as a 3x3 convolution with four
# outputs per channel, one per output pixel phase (a, b) = (row, column) parity: output pixel
# (2i + a, 2j + b) reads input pixels (i + dy, j + dx) through kernel tap (ky, kx) =
# (_TAP[a][dy], _TAP[b][dx]), where the tap exists.
_TAP = ({-1: 3, 0: 1}, {0: 2, 1: 0})


def _phase_index() -> torch.Tensor:
    """[2, 2, 3, 3] (a, b, dy + 1, dx + 1) -> flat tap ky * 4 + kx, or 16 (a zero)."""
    idx = torch.full((2, 2, 3, 3), 16, dtype=torch.long)
    for a in (0, 1):
        for b in (0, 1):
            for dy, ky in _TAP[a].items():
                for dx, kx in _TAP[b].items():
                    idx[a, b, dy + 1, dx + 1] = ky * 4 + kx
    return idx


_PHASES = _phase_index()


def _deconv_by_phases(x, weight, bias):
    """conv_transpose2d(x, weight, bias, stride=2, padding=1) for 4x4 kernels, channels-last.

    A 3x3 convolution to 4 x C_out channels, then the phases interleaved. It spends 2.25x the
    multiplications of the transposed convolution (9 taps per phase instead of 4), and with
    three output channels it still takes about half the time of oneDNN's transposed kernel.
    """
    cin, cout = weight.shape[:2]
    n, _, h, w = x.shape
    # [ci, co, 2, 2, 3, 3]: the taps of each phase, zero where a phase has none
    taps = F.pad(weight.flatten(2), (0, 1))[:, :, _PHASES.to(weight.device)]
    kernel = taps.permute(2, 3, 1, 0, 4, 5).reshape(4 * cout, cin, 3, 3)
    y = F.conv2d(x, kernel, None if bias is None else bias.repeat(4), padding=1)
    y = y.permute(0, 2, 3, 1).reshape(n, h, w, 2, 2, cout).permute(0, 1, 3, 2, 4, 5)
    return y.reshape(n, 2 * h, 2 * w, cout).permute(0, 3, 1, 2)


class _SplitBackwardDeconv(torch.autograd.Function):
    """conv_transpose2d whose backward computes the input, weight and bias gradients as three
    separate calls, each only when needed."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        ctx.save_for_backward(x, weight)
        ctx.conf = stride, padding
        if weight.shape[2:] == (4, 4) and (stride, padding) == (2, 1):
            return _deconv_by_phases(x, weight, bias)
        return F.conv_transpose2d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding = ctx.conf
        grad = grad.contiguous(memory_format=torch.channels_last)
        dx = dw = db = None

        def conv_backward(mask):
            return torch.ops.aten.convolution_backward(
                grad, x, weight, None, [stride] * 2, [padding] * 2, [1, 1], True, [0, 0], 1, mask)

        if ctx.needs_input_grad[0]:
            dx = conv_backward([True, False, False])[0]
        if ctx.needs_input_grad[1]:
            dw = conv_backward([False, True, False])[1]
        if ctx.needs_input_grad[2]:
            db = grad.sum((0, 2, 3))
        return dx, dw, db, None, None


class ThinConvTranspose2d(nn.ConvTranspose2d):
    """Fast path `deconv`: ``nn.ConvTranspose2d`` with the same parameters and outputs,
    faster on the CPU for few output channels.

    Replaces: the decoder's last layer (to 3 channels, 4x4 kernel, stride 2, padding 1, with
    bias), on channels-last tensors. Why faster, on the CPU at Table A sizes inside the S
    update: PyTorch's own backward of this layer (oneDNN, channels-last, bias) took
    170-260 ms for 6.4 GFLOP; the same three gradients as separate calls take about 40 ms.
    The forward pass, with a 4x4 kernel at stride 2, is a 3x3 convolution to the four output
    phases (``_deconv_by_phases``): 53 ms instead of 98 ms. Other kernels and strides use
    ``F.conv_transpose2d`` forward. Square stride and padding only, without dilation, groups
    or output padding (``ValueError`` otherwise). x float [N, C_in, H, W] ->
    [N, C_out, 2H, 2W] at stride 2, in the autocast dtype under autocast.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if (self.groups != 1 or self.dilation != (1, 1) or self.output_padding != (0, 0)
                or self.stride[0] != self.stride[1] or self.padding[0] != self.padding[1]):
            raise ValueError("ThinConvTranspose2d: square stride and padding only, without "
                             "dilation, groups or output padding")

    @classmethod
    def of(cls, layer: nn.ConvTranspose2d) -> ThinConvTranspose2d:
        """A ThinConvTranspose2d holding ``layer``'s own parameters."""
        new = cls(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                  layer.padding, layer.output_padding, layer.groups, layer.bias is not None,
                  layer.dilation, device="meta")
        return _adopt(new, layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, weight, bias = _cast(_autocast_dtype(x.device), x, self.weight, self.bias)
        return _SplitBackwardDeconv.apply(x, weight, bias, self.stride[0], self.padding[0])


# --- loop ----------------------------------------------------------------------------------

class _LoopWeights(torch.autograd.Function):
    """Hands a loop the weight (and bias) of a ``LoopLinear``; its backward runs after every
    step's (autograd waits for all uses of its output) and computes their gradients as one
    product over all steps."""

    @staticmethod
    def forward(ctx, steps, weight, bias):
        ctx.steps = steps
        return (weight.clone(),) if bias is None else (weight.clone(), bias.clone())

    @staticmethod
    def backward(ctx, *unused):
        steps = ctx.steps
        done = sorted(steps.grads)  # the steps whose output reached the loss
        if not done:
            return None, None, None
        x = torch.cat([steps.inputs[t] for t in done])
        g = torch.cat([steps.grads[t] for t in done])
        return None, g.t() @ x, g.sum(0) if ctx.needs_input_grad[2] else None


class _LoopStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, steps, step):
        ctx.save_for_backward(weight)
        ctx.steps, ctx.step = steps, step
        steps.inputs[step] = x.detach()
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad):
        (weight,) = ctx.saved_tensors
        ctx.steps.grads[ctx.step] = grad
        return grad @ weight if ctx.needs_input_grad[0] else None, None, None, None, None


class _Steps:
    """Each step's input (forward) and output gradient (backward), by step number."""

    def __init__(self):
        self.inputs: dict[int, torch.Tensor] = {}
        self.grads: dict[int, torch.Tensor] = {}


class LoopLinear:
    """Part of fast path `loop`: ``F.linear(x, weight, bias)`` applied at every step of a
    loop, whose weight gradient is one product over all steps instead of one small product
    per step.

    Autograd computes a weight's gradient at each use: in filtering, 64 products of 16 rows
    each (the batch), on the CPU at a third of the rate of one product of 1024 rows, then
    added up. Here each step's backward keeps its output gradient, and the weight's gradient
    is computed once from all of them. The input gradients are the usual ones. x float
    [N, in] -> [N, out], in the autocast dtype under autocast. Eager only (it keeps Python
    state across the backward pass).
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        self.dtype = _autocast_dtype(weight.device)
        weight, bias = _cast(self.dtype, weight, bias)
        self.steps = _Steps()  # the graph refers to it, not to this object: no cycle
        proxies = _LoopWeights.apply(self.steps, weight, bias)
        self.weight, self.bias = proxies[0], (proxies[1] if bias is not None else None)
        self.count = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        (x,) = _cast(self.dtype, x)
        self.count += 1
        return _LoopStep.apply(x, self.weight, self.bias, self.steps, self.count - 1)


def gru_cell(gates_x: torch.Tensor, gates_h: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``nn.GRUCell`` from its two products (x W_ih + b_ih, h W_hh + b_hh), as PyTorch
    computes it: r, z, n gates in that order. All [N, 3 * hidden] and h [N, hidden]."""
    xr, xz, xn = gates_x.chunk(3, -1)
    hr, hz, hn = gates_h.chunk(3, -1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return n + z * (h - n)


def observe_unrolled(rssm, embed: torch.Tensor, action: torch.Tensor, is_first: torch.Tensor,
                     generator: torch.Generator | None = None):
    """Fast path `loop`: ``RSSM.observe`` (the plain loop of module calls, which is the
    definition), computed from the same parameters in fewer, larger matrix products.

    - The embeddings' share of the posterior's first layer (which acts on [h, e]) for all
      steps at once, before the loop, with the weight's h and e columns split.
    - Each step written as its products (``gru_cell`` from the GRU's two), and, when
      gradients are recorded and not compiling, each weight's gradient computed once for the
      whole sequence (``LoopLinear``) instead of once per step.

    Why faster: on the CPU, per-step weight gradients of a 16-row batch run at a third of the
    rate of one product over the 64 steps' rows. The same random draws in the same order as
    the plain loop. Arguments and result as ``RSSM.observe``: embed [B, T, E], action
    [B, T, A], is_first bool [B, T] -> (posterior, prior) dicts of [B, T, ...].
    """
    B, T = embed.shape[:2]
    deter_size = rssm.c.deter
    w_deter, w_embed = rssm.post[0].weight.split([deter_size, embed.shape[-1]], 1)
    embed_share = F.linear(embed, w_embed).unbind(1)
    gru, head = rssm.gru, rssm.post[3]
    weights = {"inp": (rssm.inp[0].weight, None), "ih": (gru.weight_ih, gru.bias_ih),
               "hh": (gru.weight_hh, gru.bias_hh), "post": (w_deter, None),
               "logits": (head.weight, head.bias)}
    batched = torch.is_grad_enabled() and not torch.compiler.is_compiling()
    linear = {k: LoopLinear(w, b) if batched else (lambda x, w=w, b=b: F.linear(x, w, b))
              for k, (w, b) in weights.items()}
    state = rssm.initial(B, embed.device)
    posts = []
    for t in range(T):
        state, act = rssm.reset(state, action[:, t], is_first[:, t])
        x = linear["inp"](torch.cat([state["stoch"].flatten(1), act], -1))
        x = rssm.inp[2](rssm.inp[1](x))  # LayerNorm, SiLU
        deter = rssm.gru_norm(gru_cell(linear["ih"](x), linear["hh"](state["deter"]),
                                       state["deter"]))
        x = rssm.post[2](rssm.post[1](linear["post"](deter) + embed_share[t]))
        state = rssm.sampled(deter, rssm.probs(linear["logits"](x)), generator)
        posts.append(state)
    post = {k: torch.stack([s[k] for s in posts], 1) for k in posts[0]}
    return post, rssm.prior_state(post["deter"])


__all__ = ["FastPaths", "HotLinear", "Latents", "LoopLinear", "PLAIN", "PaddedLinear",
           "ThinConvTranspose2d", "gru_cell", "observe_unrolled", "reused_tables",
           "with_latents"]
