"""The DreamerV3 world model and its loss: reconstruction, reward (two-hot), continue, KL."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from genreward_cli.agent.config import AgentConfig
from genreward_cli.agent.dists import TwoHotDist, kl_losses
from genreward_cli.agent.fast_layers import FastPaths
from genreward_cli.agent.networks import RSSM, Decoder, Encoder, feat_latents, mlp


class WorldModel(nn.Module):
    """Encoder, RSSM, decoder, and the reward (two-hot, 255 bins) and continue heads on the
    RSSM's features, built with the fast paths ``c.fast`` selects (see ``networks.py``)."""

    def __init__(self, c: AgentConfig, action_dim: int):
        super().__init__()
        self.c = c
        self.encoder = Encoder(c)
        self.rssm = RSSM(c, self.encoder.embed, action_dim)
        self.decoder = Decoder(c, self.encoder)
        fast, latents = FastPaths.of(c), feat_latents(c)
        self.reward = mlp(c.feat, c.units, c.layers, 255, zero_out=True, latents=latents,
                          fast=fast)
        self.cont = mlp(c.feat, c.units, c.layers, 1, latents=latents, fast=fast)

    def loss(self, batch: dict[str, torch.Tensor], generator=None, lazy: bool = False):
        """World-model loss on a batch of sequences.

        Args:
            batch: image uint8 [B, T, H, W, 3]; action [B, T, A] (the action that led to each
                observation, zero at is_first); reward, cont float [B, T]; is_first bool [B, T].
            lazy: metrics as detached 0-d float32 tensors on the device, not Python floats
                (no host sync, for a compiled update).
        Returns:
            (loss, metrics, posterior states).
        """
        c = self.c
        B, T = batch["image"].shape[:2]
        embed = self.encoder(batch["image"].flatten(0, 1)).view(B, T, -1)
        post, prior = self.rssm.observe(embed, batch["action"], batch["is_first"], generator)
        feat, index = self.rssm.feat(post), post["index"]
        recon = self.decoder(feat.flatten(0, 1), index.flatten(0, 1)).float()
        recon = recon.view(*batch["image"].shape)
        target = batch["image"].float() / 255.0 - 0.5
        image_nll = ((recon - target) ** 2).sum((-1, -2, -3))  # [B, T]
        reward_nll = -TwoHotDist(self.reward(feat, index)).log_prob(batch["reward"])
        cont_nll = F.binary_cross_entropy_with_logits(
            self.cont(feat, index)[..., 0].float(), batch["cont"], reduction="none")
        dyn, rep = kl_losses(post["probs"], prior["probs"], c.free_nats)
        pred = image_nll + reward_nll + cont_nll
        loss = (c.pred_scale * pred + c.dyn_scale * dyn + c.rep_scale * rep).mean()
        metrics = {"image": image_nll.mean(), "reward": reward_nll.mean(),
                   "cont": cont_nll.mean(), "dyn": dyn.mean(), "rep": rep.mean(), "loss": loss}
        metrics = {k: v.detach() for k, v in metrics.items()}
        return loss, metrics if lazy else {k: float(v) for k, v in metrics.items()}, post
