"""DreamerV3's networks: CNN encoder and decoder for 64x64 images, MLPs, and the RSSM."""

from __future__ import annotations

import contextlib
import contextvars

import torch
import torch.nn as nn
import torch.nn.functional as F

from genreward_cli.agent.config import AgentConfig
from genreward_cli.agent.dists import sample_categorical, unimix_probs


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of [N, C, H, W] (on channels-last tensors the permutes are
    views, so no copy is made)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def _autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The compute dtype of an active autocast on ``device``, else None. Custom autograd
    Functions are not autocast, so the layers built on them cast their inputs to it."""
    return torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else None


def _cast(dtype: torch.dtype | None, *tensors):
    """``tensors`` in ``dtype`` (None: unchanged; None entries stay None)."""
    return tuple(t if t is None or dtype is None else t.to(dtype) for t in tensors)


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


_TABLES: contextvars.ContextVar[dict | None] = contextvars.ContextVar("tables", default=None)


@contextlib.contextmanager
def reuse_tables():
    """Within this block each ``HotLinear`` lays out its one-hot block's weight columns as
    rows (the ``embedding_bag`` table) once, not at every call: for loops in which the weights
    do not change, such as an imagined rollout."""
    token = _TABLES.set({})
    try:
        yield
    finally:
        _TABLES.reset(token)


class HotLinear(nn.Linear):
    """A linear layer whose input holds the one-hot categorical latents (32 groups of 32
    classes at Table A sizes) from column ``start``.

    Called with the samples' ``index`` [..., groups], it skips the multiplications by zero:
    on the stochastic part of DreamerV3's features (1024 of 1536 columns) that is two thirds
    of the layer's forward FLOPs. Without ``index`` (inputs that are not exactly one-hot, such
    as the zero state at the start of a sequence) it is ``nn.Linear``. Same parameters either
    way.
    """

    def __init__(self, inp: int, out: int, start: int, groups: int, classes: int, bias=True):
        super().__init__(inp, out, bias=bias)
        self.start, self.classes = start, classes
        assert start + groups * classes <= inp

    def forward(self, x: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        if index is None:
            return super().forward(x)
        x, weight, bias = _cast(_autocast_dtype(x.device), x, self.weight, self.bias)
        # compiled: no table cache (a context variable; the compiler fuses the layout anyway)
        tables, table = None if torch.compiler.is_compiling() else _TABLES.get(), None
        if tables is not None and weight is self.weight:  # not for a cast: a new tensor
            table = tables.get(self)
            if table is None:
                end = self.start + index.shape[-1] * self.classes
                table = tables[self] = weight.detach()[:, self.start:end].t().contiguous()
        lead = x.shape[:-1]
        out = _HotLinear.apply(x.reshape(-1, x.shape[-1]), index.reshape(-1, index.shape[-1]),
                               weight, bias, self.start, self.classes, table)
        return out.view(*lead, -1)


class PaddedLinear(nn.Linear):
    """``nn.Linear`` computed with its outputs padded to a multiple of 16, then sliced back.

    For the 255-bin two-hot heads: on the CPU a product with 255 outputs runs at about 60% of
    the rate of one with 256 (39 ms against 23 ms on 15360 rows). Same parameters and values.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = -self.out_features % 16
        if not pad or torch.is_grad_enabled():  # padding the passes with gradients as well
            return super().forward(x)  # gained nothing measurable
        bias = None if self.bias is None else F.pad(self.bias, (0, pad))
        return F.linear(x, F.pad(self.weight, (0, 0, 0, pad)), bias)[..., :self.out_features]


def feat_hot(c: AgentConfig) -> tuple[int, int, int]:
    """Where the one-hot latents sit in ``RSSM.feat`` ([deter, stoch]), for ``mlp(hot=...)``."""
    return c.deter, c.stoch, c.classes


class MLP(nn.Sequential):
    """Linear, LayerNorm, SiLU blocks and an optional output layer; ``index`` (the one-hot
    latents' classes) goes to a first layer that is a ``HotLinear``."""

    def forward(self, x: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        first, *rest = self
        x = first(x) if index is None else first(x, index)
        for module in rest:
            x = module(x)
        return x


def mlp(inp: int, units: int, layers: int, out: int | None = None, zero_out: bool = False,
        hot: tuple[int, int, int] | None = None) -> MLP:
    """``hot=(start, groups, classes)``: where the input's one-hot latents sit (see
    ``HotLinear``)."""
    mods: list[nn.Module] = []
    for i in range(layers):
        linear = (HotLinear(inp, units, *hot, bias=False) if i == 0 and hot
                  else nn.Linear(inp if i == 0 else units, units, bias=False))
        mods += [linear, nn.LayerNorm(units), nn.SiLU()]
    if out is not None:
        head = (HotLinear(inp, out, *hot) if not layers and hot
                else (PaddedLinear if out >= 64 else nn.Linear)(units if layers else inp, out))
        if zero_out:  # DreamerV3 zero-initialises reward and critic outputs
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        mods.append(head)
    return MLP(*mods)


class Encoder(nn.Module):
    """uint8 [N, H, W, 3] -> [N, embed]; stride-2 convs down to 4x4, LayerNorm, SiLU."""

    def __init__(self, c: AgentConfig):
        super().__init__()
        depth, mods, ch = c.cnn_depth, [], 3
        self.stages = 0
        size = c.image_size
        while size > 4:
            out = depth * 2 ** self.stages
            mods += [nn.Conv2d(ch, out, 4, 2, 1, bias=False), ChannelNorm(out), nn.SiLU()]
            ch, size, self.stages = out, size // 2, self.stages + 1
        # Channels-last (NHWC) convolutions: ~20% faster on the CPU's oneDNN kernels, and the
        # frames arrive as NHWC anyway.
        self.net = nn.Sequential(*mods).to(memory_format=torch.channels_last)
        self.out_channels, self.out_size = ch, size
        self.embed = ch * size * size

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.permute(0, 3, 1, 2).float() / 255.0 - 0.5  # an NHWC-strided view
        return self.net(x.contiguous(memory_format=torch.channels_last)).flatten(1)


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
    """The decoder's last layer (to 3 channels): the same parameters and outputs as
    ``nn.ConvTranspose2d``, faster on the CPU.

    Inside the S update, PyTorch's own backward of this layer (oneDNN, channels-last, bias)
    took 170-260 ms for 6.4 GFLOP; the same three gradients as separate calls take about
    40 ms. The forward pass, with a 4x4 kernel at stride 2, is a 3x3 convolution to the four
    output phases (``_deconv_by_phases``): 53 ms instead of 98 ms. Square stride and padding
    only, without dilation, groups or output padding: what the decoder uses.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        assert self.groups == 1 and self.dilation == (1, 1) and self.output_padding == (0, 0)
        assert self.stride[0] == self.stride[1] and self.padding[0] == self.padding[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, weight, bias = _cast(_autocast_dtype(x.device), x, self.weight, self.bias)
        return _SplitBackwardDeconv.apply(x, weight, bias, self.stride[0], self.padding[0])


class Decoder(nn.Module):
    """[N, feat] -> image mean [N, H, W, 3] in [-0.5, 0.5] units (MSE likelihood)."""

    def __init__(self, c: AgentConfig, encoder: Encoder):
        super().__init__()
        ch, size = encoder.out_channels, encoder.out_size
        self.shape = (ch, size, size)
        self.linear = HotLinear(c.feat, ch * size * size, *feat_hot(c))
        mods = []
        for i in reversed(range(encoder.stages)):
            out = 3 if i == 0 else c.cnn_depth * 2 ** (i - 1)
            deconv = ThinConvTranspose2d if i == 0 else nn.ConvTranspose2d
            mods.append(deconv(ch, out, 4, 2, 1, bias=i == 0))
            if i:
                mods += [ChannelNorm(out), nn.SiLU()]
            ch = out
        self.net = nn.Sequential(*mods).to(memory_format=torch.channels_last)

    def forward(self, feat: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """``index``: the classes of feat's one-hot latents, when they are samples."""
        x = self.linear(feat, index).view(-1, *self.shape)
        x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x).permute(0, 2, 3, 1)


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
    """``F.linear(x, weight, bias)`` applied at every step of a loop, whose weight gradient is
    one product over all steps instead of one small product per step.

    Autograd computes a weight's gradient at each use: in filtering, 64 products of 16 rows
    each (the batch), at a third of the rate of one product of 1024 rows or less, then added
    up.
    Here each step's backward keeps its output gradient, and the weight's gradient is computed
    once from all of them. The input gradients are the usual ones.
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
    computes it: r, z, n gates in that order."""
    xr, xz, xn = gates_x.chunk(3, -1)
    hr, hz, hn = gates_h.chunk(3, -1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return n + z * (h - n)


class RSSM(nn.Module):
    """Recurrent state-space model with categorical latents (DreamerV3).

    State: deter h [N, deter], stoch z [N, stoch, classes] (one-hot samples) and, for
    sampled states, index [N, stoch] (the hot class of each group, for ``HotLinear``).
    img_step: h' = GRU([z, a], h), prior p(z'|h'); obs_step adds the posterior q(z'|h', e).
    """

    def __init__(self, c: AgentConfig, embed: int, action_dim: int):
        super().__init__()
        self.c = c
        self.inp = mlp(c.stoch * c.classes + action_dim, c.units, 1, hot=(0, c.stoch, c.classes))
        self.gru = nn.GRUCell(c.units, c.deter)
        self.gru_norm = nn.LayerNorm(c.deter)
        self.prior = mlp(c.deter, c.units, 1, c.stoch * c.classes)
        self.post = mlp(c.deter + embed, c.units, 1, c.stoch * c.classes)

    def initial(self, n: int, device) -> dict[str, torch.Tensor]:
        c = self.c
        return {"deter": torch.zeros(n, c.deter, device=device),
                "stoch": torch.zeros(n, c.stoch, c.classes, device=device)}

    def _probs(self, logits: torch.Tensor) -> torch.Tensor:
        return unimix_probs(logits.view(*logits.shape[:-1], self.c.stoch, self.c.classes),
                            self.c.unimix)

    def _sample(self, deter, probs, generator) -> dict[str, torch.Tensor]:
        stoch, index = sample_categorical(probs, generator)
        return {"deter": deter, "stoch": stoch, "index": index, "probs": probs}

    def _deter(self, state, action) -> torch.Tensor:
        """h' = GRU([z, a], h)."""
        x = torch.cat([state["stoch"].flatten(1), action], -1)
        x = self.inp(x, state.get("index"))  # the gather applies where z is a sample
        return self.gru_norm(self.gru(x, state["deter"]))

    def img_step(self, state, action, generator=None):
        """One step of the prior: h', and z' sampled from p(z'|h')."""
        deter = self._deter(state, action)
        return self._sample(deter, self._probs(self.prior(deter)), generator)

    def _post_weights(self):
        """The posterior's first layer acts on [h, e]: its weight split into the h and e
        columns, so e's share can be computed for a whole sequence at once."""
        weight = self.post[0].weight
        return weight[:, :self.c.deter], weight[:, self.c.deter:]

    def _step_linears(self, batched_grads: bool) -> dict:
        """The matrix products of one filtering step. ``batched_grads``: as ``LoopLinear``s,
        for a loop whose weight gradients are wanted."""
        gru, w_deter = self.gru, self._post_weights()[0]
        weights = {"inp": (self.inp[0].weight, None), "ih": (gru.weight_ih, gru.bias_ih),
                   "hh": (gru.weight_hh, gru.bias_hh), "post": (w_deter, None),
                   "logits": (self.post[3].weight, self.post[3].bias)}
        if batched_grads:
            return {k: LoopLinear(w, b) for k, (w, b) in weights.items()}
        return {k: (lambda x, w=w, b=b: F.linear(x, w, b)) for k, (w, b) in weights.items()}

    def _filter(self, state, action, embed_share, linear, is_first, generator):
        """One filtering step with the products of ``_step_linears``: inp and post are
        [Linear, LayerNorm, SiLU(, Linear)] (one layer each), gru a GRUCell."""
        keep = (~is_first).float()
        stoch, deter = (state[k] * keep.view(-1, *[1] * (state[k].dim() - 1))
                        for k in ("stoch", "deter"))  # reset states are zero, not samples
        x = linear["inp"](torch.cat([stoch.flatten(1), action * keep[:, None]], -1))
        x = self.inp[2](self.inp[1](x))
        deter = self.gru_norm(gru_cell(linear["ih"](x), linear["hh"](deter), deter))
        x = self.post[2](self.post[1](linear["post"](deter) + embed_share))
        return self._sample(deter, self._probs(linear["logits"](x)), generator)

    def obs_step(self, state, action, embed, is_first, generator=None):
        """One filtering step; ``is_first`` [N] resets the state and action to zero.
        Returns the posterior and the prior's probabilities."""
        post = self._filter(state, action, F.linear(embed, self._post_weights()[1]),
                            self._step_linears(False), is_first, generator)
        return post, {"deter": post["deter"], "probs": self._probs(self.prior(post["deter"]))}

    def observe(self, embed, action, is_first, generator=None, batched_grads=True):
        """Filter a sequence: embed [B, T, E], action [B, T, A] (the action before each step),
        is_first [B, T]. Returns posterior and prior dicts of [B, T, ...].

        The same model as ``obs_step`` step by step, computed in fewer, larger matrix
        products: the embeddings' share of the posterior's first layer for all steps at once
        before the loop, the prior (which filtering does not sample) for all steps at once
        after it, and, when gradients are recorded and ``batched_grads``, each weight's
        gradient once for the whole sequence (``LoopLinear``)."""
        B, T = embed.shape[:2]
        embed_share = F.linear(embed, self._post_weights()[1]).unbind(1)
        # compiled: plain products (LoopLinear keeps Python state across its backward passes)
        linear = self._step_linears(batched_grads and torch.is_grad_enabled()
                                    and not torch.compiler.is_compiling())
        state = self.initial(B, embed.device)
        posts = []
        for t in range(T):
            state = self._filter(state, action[:, t], embed_share[t], linear, is_first[:, t],
                                 generator)
            posts.append(state)
        post = {k: torch.stack([s[k] for s in posts], 1) for k in posts[0]}
        return post, {"deter": post["deter"], "probs": self._probs(self.prior(post["deter"]))}

    def feat(self, state) -> torch.Tensor:
        return torch.cat([state["deter"], state["stoch"].flatten(-2)], -1)


__all__ = ["MLP", "Decoder", "Encoder", "HotLinear", "RSSM", "feat_hot", "mlp"]
