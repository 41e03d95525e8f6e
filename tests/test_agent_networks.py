"""The agent's plain networks (``networks.py``): shapes, the RSSM's filtering, and the
parameter layout that checkpoints rely on. The fast paths are compared with them in
``test_fast_layers.py``."""

import hashlib

import pytest
import torch

from genreward_cli.agent.config import preset
from genreward_cli.agent.networks import RSSM, Decoder, Encoder, feat_latents


@pytest.mark.parametrize("fast", ["off", "on"])
def test_observe_is_obs_step_repeated(fast):
    """``observe`` (with `loop`: ``observe_unrolled``) computes the priors for the whole
    sequence after the loop; step by step, ``obs_step`` gives the same states and samples."""
    torch.manual_seed(0)
    c = preset("tiny", fast=fast)
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
        torch.testing.assert_close(prior["probs"][:, t], step_prior["probs"], rtol=1e-5, atol=1e-6)
    assert post["stoch"].shape == (B, T, c.stoch, c.classes)
    assert prior["probs"].shape == (B, T, c.stoch, c.classes)


def test_reset_zeroes_the_state_and_action_of_first_steps():
    c = preset("tiny", fast="off")
    rssm = RSSM(c, embed=10, action_dim=3)
    state = {"deter": torch.ones(2, c.deter), "stoch": torch.ones(2, c.stoch, c.classes),
             "index": torch.zeros(2, c.stoch, dtype=torch.long)}
    (reset, action) = rssm.reset(state, torch.ones(2, 3), torch.tensor([True, False]))
    assert set(reset) == {"deter", "stoch"}  # zeros are not a sample: no index
    assert reset["deter"][0].eq(0).all() and reset["stoch"][0].eq(0).all()
    assert action[0].eq(0).all() and action[1].eq(1).all() and reset["deter"][1].eq(1).all()


def test_encoder_and_decoder_shapes():
    c = preset("tiny", fast="off")
    encoder = Encoder(c)
    image = torch.randint(0, 256, (5, 64, 64, 3), dtype=torch.uint8)
    embed = encoder(image)
    assert embed.shape == (5, encoder.embed) and embed.dtype == torch.float32
    decoder = Decoder(c, encoder)
    out = decoder(torch.randn(5, c.feat))
    assert out.shape == (5, 64, 64, 3)
    assert feat_latents(c) == (c.deter, c.stoch, c.classes)


def _layout(fast: str) -> str:
    from genreward_cli.agent.agent import DreamerAgent

    agent = DreamerAgent(preset("tiny", fast=fast), 4)
    return ";".join(f"{k}:{'x'.join(map(str, v.shape))}" for k, v in agent.state_dict().items())


# sha256 of the tiny agent's state_dict layout ("name:shape;..." in order) as written before
# the fast paths were split from the plain layers: its checkpoints (weights by name, Adam states
# by parameter order) must still load
LAYOUT_SHA256 = "c4f034a0b61ad86e"


@pytest.mark.parametrize("fast", ["off", "on", "hot,tables", "pad,deconv,loop"])
def test_parameter_layout_is_the_checkpoints(fast):
    layout = _layout(fast)
    digest = hashlib.sha256(layout.encode()).hexdigest()[:16]
    assert digest == LAYOUT_SHA256, f"fast={fast}: the parameter layout changed:\n{layout}"
