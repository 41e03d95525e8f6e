"""DreamerV3's networks, written with plain PyTorch layers: the reference path.

CNN encoder and decoder for square images, MLPs, and the RSSM with categorical latents
(Hafner et al. 2023; layout after danijar/dreamerv3, ``dreamerv3/nets.py`` of the 2023 release
and ``dreamerv3/rssm.py``, with the paper's GRU cell and stride-2 convolutions).

Every layer is an ``nn.Linear``, ``nn.Conv2d``, ``nn.ConvTranspose2d``, ``nn.GRUCell`` or a
norm. ``fast_layers.py`` holds faster computations of some of them from the same parameters;
the constructors here apply those ``AgentConfig.fast`` selects (``FastPaths.latents``,
``.head``, ``.deconv``, and ``RSSM.observe`` for `loop`), and with ``fast=off`` none: the
modules below run as written. The parameter names and shapes are the same either way.

The ``index`` arguments (the sampled classes of the one-hot latents in a feature vector) are
hints for the `hot` fast path: the plain layers read the features alone.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from genreward_cli.agent import fast_layers
from genreward_cli.agent.config import AgentConfig
from genreward_cli.agent.dists import sample_categorical, unimix_probs
from genreward_cli.agent.fast_layers import PLAIN, FastPaths, Latents, with_latents


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of [N, C, H, W] (on channels-last tensors the permutes are
    views, so no copy is made)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def feat_latents(c: AgentConfig) -> Latents:
    """Where the one-hot latents sit in ``RSSM.feat`` ([deter, stoch]): after the ``deter``
    columns, ``stoch`` groups of ``classes``."""
    return Latents(c.deter, c.stoch, c.classes)


class MLP(nn.Sequential):
    """Linear, LayerNorm, SiLU blocks and an optional output layer (see ``mlp``)."""

    def forward(self, x: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """x float [..., in] -> [..., out]. ``index`` int64 [..., groups], optional: the classes
        of x's one-hot latents, handed to a first layer of the `hot` fast path."""
        first, *rest = self
        x = with_latents(first, x, index)
        for module in rest:
            x = module(x)
        return x


def mlp(inp: int, units: int, layers: int, out: int | None = None, zero_out: bool = False,
        latents: Latents | None = None, fast: FastPaths = PLAIN) -> MLP:
    """DreamerV3's MLP: ``layers`` x (Linear without bias, LayerNorm, SiLU), then a Linear to
    ``out`` if given (zero-initialised with ``zero_out``, as DreamerV3 does for the reward and
    critic outputs).

    ``latents``: where the input's one-hot latents sit, if it has any; with ``fast``'s `hot`
    the first layer is then a ``HotLinear``, and with `pad` a wide head a ``PaddedLinear``
    (same parameters). ``fast`` defaults to none: plain layers.
    """
    mods: list[nn.Module] = []
    for i in range(layers):
        linear = nn.Linear(inp if i == 0 else units, units, bias=False)
        mods += [fast.latents(linear, latents) if i == 0 else linear, nn.LayerNorm(units),
                 nn.SiLU()]
    if out is not None:
        head = nn.Linear(units if layers else inp, out)
        if zero_out:
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        mods.append(fast.head(head) if layers else fast.latents(head, latents))
    return MLP(*mods)


class Encoder(nn.Module):
    """uint8 [N, H, W, 3] -> float [N, embed]: stride-2 4x4 convolutions (no bias), each
    followed by LayerNorm over channels and SiLU, down to 4x4; channels ``cnn_depth * 2^i``."""

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


class Decoder(nn.Module):
    """[N, feat] -> image mean [N, H, W, 3] in [-0.5, 0.5] units (MSE likelihood): a Linear to
    the encoder's last feature map, then stride-2 4x4 transposed convolutions mirroring the
    encoder (LayerNorm and SiLU between them, bias on the last only)."""

    def __init__(self, c: AgentConfig, encoder: Encoder):
        super().__init__()
        fast = FastPaths.of(c)
        ch, size = encoder.out_channels, encoder.out_size
        self.shape = (ch, size, size)
        self.linear = fast.latents(nn.Linear(c.feat, ch * size * size), feat_latents(c))
        mods = []
        for i in reversed(range(encoder.stages)):
            out = 3 if i == 0 else c.cnn_depth * 2 ** (i - 1)
            deconv = nn.ConvTranspose2d(ch, out, 4, 2, 1, bias=i == 0)
            mods.append(fast.deconv(deconv) if i == 0 else deconv)
            if i:
                mods += [ChannelNorm(out), nn.SiLU()]
            ch = out
        self.net = nn.Sequential(*mods).to(memory_format=torch.channels_last)

    def forward(self, feat: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """``index`` [N, stoch], optional: the classes of feat's one-hot latents (`hot`)."""
        x = with_latents(self.linear, feat, index).view(-1, *self.shape)
        x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x).permute(0, 2, 3, 1)


class RSSM(nn.Module):
    """Recurrent state-space model with categorical latents (DreamerV3).

    State: deter h [N, deter] and stoch z [N, stoch, classes] (float; one-hot samples with
    straight-through gradients); a sampled state also holds index [N, stoch] (int64, the hot
    class of each group) and probs [N, stoch, classes] (the distribution it was drawn from).

    - img_step: h' = GRU(inp([z, a]), h) with LayerNorm, z' ~ p(z' | h') (the prior MLP).
    - obs_step: the same h' (from a zero state and action where ``is_first``), then
      z' ~ q(z' | h', e) (the posterior MLP on [h', e]).
    - observe: obs_step over a sequence; the priors, which filtering does not sample, from
      the h sequence afterwards (as ``RSSM.loss`` in danijar/dreamerv3 ``dreamerv3/rssm.py``).
    """

    def __init__(self, c: AgentConfig, embed: int, action_dim: int):
        super().__init__()
        self.c = c
        self.fast = fast = FastPaths.of(c)
        self.inp = mlp(c.stoch * c.classes + action_dim, c.units, 1,
                       latents=Latents(0, c.stoch, c.classes), fast=fast)
        self.gru = nn.GRUCell(c.units, c.deter)
        self.gru_norm = nn.LayerNorm(c.deter)
        self.prior = mlp(c.deter, c.units, 1, c.stoch * c.classes, fast=fast)
        self.post = mlp(c.deter + embed, c.units, 1, c.stoch * c.classes, fast=fast)

    def initial(self, n: int, device) -> dict[str, torch.Tensor]:
        """The zero state of ``n`` sequences (no index: not a sample)."""
        c = self.c
        return {"deter": torch.zeros(n, c.deter, device=device),
                "stoch": torch.zeros(n, c.stoch, c.classes, device=device)}

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        """[..., stoch * classes] logits -> [..., stoch, classes] float32 probabilities, with
        ``unimix`` uniform mixed in."""
        return unimix_probs(logits.view(*logits.shape[:-1], self.c.stoch, self.c.classes),
                            self.c.unimix)

    def sampled(self, deter, probs, generator=None, uniform=None) -> dict[str, torch.Tensor]:
        """The state of ``deter`` with z drawn from ``probs`` (one uniform per group: from
        ``uniform`` [N * stoch, 1] when given, else from ``generator``)."""
        stoch, index = sample_categorical(probs, generator, uniform)
        return {"deter": deter, "stoch": stoch, "index": index, "probs": probs}

    def prior_state(self, deter: torch.Tensor) -> dict[str, torch.Tensor]:
        """The prior p(z | h) of h [..., deter], not sampled: deter and probs."""
        return {"deter": deter, "probs": self.probs(self.prior(deter))}

    def reset(self, state, action, is_first):
        """``state`` and ``action`` [N, A] with the sequences where ``is_first`` [N] (bool)
        zeroed. The reset state holds no index: zeros are not a sample."""
        keep = (~is_first).float()[:, None]
        return ({"deter": state["deter"] * keep, "stoch": state["stoch"] * keep[..., None]},
                action * keep)

    def _deter(self, state, action) -> torch.Tensor:
        """h' = LayerNorm(GRU(inp([z, a]), h))."""
        x = torch.cat([state["stoch"].flatten(1), action], -1)
        x = self.inp(x, state.get("index"))
        return self.gru_norm(self.gru(x, state["deter"]))

    def img_step(self, state, action, generator=None):
        """One step of the prior from a sampled state: h', and z' drawn from p(z' | h')."""
        deter = self._deter(state, action)
        return self.sampled(deter, self.prior_state(deter)["probs"], generator)

    def _post_step(self, state, action, embed, is_first, generator, uniform=None):
        """One filtering step's posterior state: h', and z' drawn from q(z' | h', e)."""
        state, action = self.reset(state, action, is_first)
        deter = self._deter(state, action)
        probs = self.probs(self.post(torch.cat([deter, embed], -1)))
        return self.sampled(deter, probs, generator, uniform)

    def obs_step(self, state, action, embed, is_first, generator=None, uniform=None):
        """One filtering step: state (or ``initial``), action [N, A] (the previous action),
        embed [N, E], is_first bool [N] (resets state and action to zero). Returns the
        posterior state and the prior (deter, probs) of the same h'. z' is drawn with the
        uniforms ``uniform`` [N * stoch, 1] float32 when given, else from ``generator``."""
        post = self._post_step(state, action, embed, is_first, generator, uniform)
        return post, self.prior_state(post["deter"])

    def observe(self, embed, action, is_first, generator=None):
        """Filter a sequence: embed [B, T, E], action [B, T, A] (the action before each step),
        is_first bool [B, T]. Returns posterior and prior dicts of [B, T, ...], the posterior
        drawing one uniform per group and step, in step order.

        With the `loop` fast path, ``fast_layers.observe_unrolled`` computes the same."""
        if self.fast.loop:
            return fast_layers.observe_unrolled(self, embed, action, is_first, generator)
        state = self.initial(embed.shape[0], embed.device)
        posts = []
        for t in range(embed.shape[1]):
            state = self._post_step(state, action[:, t], embed[:, t], is_first[:, t], generator)
            posts.append(state)
        post = {k: torch.stack([s[k] for s in posts], 1) for k in posts[0]}
        return post, self.prior_state(post["deter"])

    def feat(self, state) -> torch.Tensor:
        """[..., deter + stoch * classes]: h and the flattened z."""
        return torch.cat([state["deter"], state["stoch"].flatten(-2)], -1)


__all__ = ["MLP", "Decoder", "Encoder", "RSSM", "feat_latents", "mlp"]
