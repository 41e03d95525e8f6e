"""Finetuning: the exported model computes what the trained one did (LoRA alpha != rank),
and the initial adapter depends on the seed alone."""

import json

import pytest
import torch

from genreward_cli.video.clips import Clip
from genreward_cli.video.finetune import LORA_TARGETS
from helpers import moving_square


def forward(transformer, pipe, latent_frames, seed=0):
    """The transformer's v-prediction on fixed random inputs: float32 [1, F', C, h, w]."""
    cfg = transformer.config
    g = torch.Generator().manual_seed(seed)
    h, w = cfg.sample_height, cfg.sample_width
    x = torch.randn(1, latent_frames, cfg.in_channels, h, w, generator=g)
    text = torch.randn(1, cfg.max_text_seq_length, cfg.text_embed_dim, generator=g)
    rotary = None
    if cfg.use_rotary_positional_embeddings:
        rotary = pipe._prepare_rotary_positional_embeddings(
            h * pipe.vae_scale_factor_spatial, w * pipe.vae_scale_factor_spatial, latent_frames, "cpu")
    with torch.no_grad():
        return transformer(hidden_states=x, encoder_hidden_states=text, timestep=torch.tensor([500]),
                           image_rotary_emb=rotary, return_dict=False)[0].float()


@pytest.mark.parametrize("rank, alpha", [(4, 1), (2, 8)])
def test_exported_lora_model_equals_the_trained_model(tmp_path, rank, alpha):
    from accelerate import Accelerator
    from diffusers import CogVideoXImageToVideoPipeline

    from genreward_cli.video.finetune import FinetuneConfig, VideoFinetuner
    from genreward_cli.video.model import load_pipeline

    torch.manual_seed(0)
    config = FinetuneConfig(lr=1e-2, lora_rank=rank, lora_alpha=alpha)
    tuner = VideoFinetuner(load_pipeline("tiny"), config, seed=0, accelerator=Accelerator(cpu=True))
    data = tuner.prepare([Clip(moving_square(i), "push the red square") for i in range(2)])
    for _ in range(4):
        tuner.train_step(data)
    frames = data.latent_mean.shape[1]
    trained = tuner.accelerator.unwrap_model(tuner.transformer).eval()
    want = forward(trained, tuner.pipe, frames)
    base = load_pipeline("tiny")
    assert (want - forward(base.transformer, base, frames)).abs().max() > 1e-3  # training moved it

    tuner.export("tiny", tmp_path, load_pipeline)
    exported = CogVideoXImageToVideoPipeline.from_pretrained(tmp_path)
    torch.testing.assert_close(forward(exported.transformer, exported, frames), want,
                               rtol=1e-4, atol=1e-5)
    # the saved adapter reloads at its training scale alpha / rank
    reloaded = load_pipeline("tiny")
    reloaded.load_lora_weights(tmp_path / "lora")
    scales = {m.scaling[a] for m in reloaded.transformer.modules() if hasattr(m, "scaling")
              for a in m.scaling}
    assert scales == {alpha / rank}
    torch.testing.assert_close(forward(reloaded.transformer, reloaded, frames), want,
                               rtol=1e-4, atol=1e-5)
    # the adapter's metadata lists its targets sorted (peft's set had a run-to-run order)
    from safetensors import safe_open

    (weights,) = (tmp_path / "lora").glob("*.safetensors")
    with safe_open(weights, "pt") as f:
        meta = json.loads(f.metadata()["lora_adapter_metadata"])
    assert meta["transformer.target_modules"] == sorted(LORA_TARGETS)


def test_initial_lora_adapter_depends_on_the_seed_alone():
    """peft initialises A from torch's global RNG; whatever drew from it before (building a
    preset on first use) must not change the adapter, or a first run differs from a rerun."""
    from accelerate import Accelerator

    from genreward_cli.video.finetune import FinetuneConfig, VideoFinetuner
    from genreward_cli.video.model import load_pipeline

    config = FinetuneConfig(lora_rank=4, lora_alpha=4)
    torch.manual_seed(1)
    untouched = torch.rand(3)
    states = []
    for global_seed, seed in ((1, 0), (2, 0), (1, 5)):
        pipe = load_pipeline("tiny")
        torch.manual_seed(global_seed)
        tuner = VideoFinetuner(pipe, config, seed=seed, accelerator=Accelerator(cpu=True))
        states.append(tuner.trainable_state())
        if global_seed == 1:  # the caller's global stream is left where it was
            torch.testing.assert_close(torch.rand(3), untouched, rtol=0, atol=0)
    a_keys = [k for k in states[0] if "lora_A" in k]
    assert a_keys
    for k in states[0]:
        torch.testing.assert_close(states[0][k], states[1][k], rtol=0, atol=0)
    assert any(not torch.equal(states[0][k], states[2][k]) for k in a_keys)
