"""The paper preset's structure and options: the paper-architecture models at random weights
(init-model), the options that substitute them and cut the stages (pipeline), and, `slow`,
the paper preset end to end on CPU-sized paper-layout models at the native 480x720."""

import json

import pytest

from genreward_cli import store
from genreward_cli.rewards.tadpole import DEFAULT_TADPOLE_MODEL
from helpers import run

SMALL = ["--layers", 1, "--heads", 1, "--text-layers", 1, "--text-width", 64, "--vae-width", 8,
         "--vae-layers", 1]


def arg(argv, flag):
    return argv[argv.index(flag) + 1] if flag in argv else None


@pytest.fixture(scope="module")
def small_cogvideox(tmp_path_factory):
    """cogvideox-5b-i2v-random at CPU sizes (the shapes the pipeline reads kept)."""
    out = tmp_path_factory.mktemp("models") / "cogvideox"
    r = run("init-model", "--preset", "cogvideox-5b-i2v-random", *SMALL, "--dtype", "float32",
            "--device", "cpu", "--out", out, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["sizes"]["layers"] == 1
    return out


def test_cogvideox_random_has_the_5b_i2v_configs_and_loads_with_plain_diffusers(small_cogvideox):
    from diffusers import CogVideoXImageToVideoPipeline

    cfg = json.loads((small_cogvideox / "transformer" / "config.json").read_text())
    assert cfg["in_channels"] == 32 and cfg["out_channels"] == 16
    assert (cfg["sample_height"], cfg["sample_width"], cfg["sample_frames"]) == (60, 90, 49)
    assert cfg["use_rotary_positional_embeddings"] and cfg["use_learned_positional_embeddings"]
    assert cfg["attention_head_dim"] == 64 and cfg["patch_size"] == 2
    assert cfg["patch_size_t"] is None and cfg["ofs_embed_dim"] is None
    assert cfg["max_text_seq_length"] == 226 and cfg["text_embed_dim"] == 64  # = T5 width
    vae = json.loads((small_cogvideox / "vae" / "config.json").read_text())
    assert vae["latent_channels"] == 16 and vae["scaling_factor"] == 0.7
    assert vae["temporal_compression_ratio"] == 4 and len(vae["block_out_channels"]) == 4
    pipe = CogVideoXImageToVideoPipeline.from_pretrained(small_cogvideox)
    assert pipe.text_encoder.config.vocab_size == 32128
    assert pipe.text_encoder.config.feed_forward_proj == "gated-gelu"
    assert len(pipe.tokenizer) == 32100 and pipe.tokenizer.model_max_length == 226
    assert type(pipe.scheduler).__name__ == "CogVideoXDDIMScheduler"
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    assert pipe.scheduler.config.snr_shift_scale == 1.0


def test_cogvideox_random_default_sizes_are_the_real_models():
    """Counted on the meta device: nothing is allocated."""
    import torch
    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
    from transformers import T5EncoderModel

    from genreward_cli.paper_random import t5_xxl_config, transformer_config, vae_config

    with torch.device("meta"):
        parts = [CogVideoXTransformer3DModel(**transformer_config()),
                 T5EncoderModel(t5_xxl_config()), AutoencoderKLCogVideoX(**vae_config())]
    counts = [sum(p.numel() for p in m.parameters()) for m in parts]
    assert counts == [5_570_479_680, 4_762_310_656, 215_583_907]
    assert parts[0].config.num_layers == 42 and parts[0].config.num_attention_heads == 48
    assert parts[1].config.num_layers == 24 and parts[1].config.d_model == 4096


def test_init_model_dinov3_random_and_its_refusals(tmp_path):
    r = run("init-model", "--preset", "dinov3-vits16plus-random", "--out", tmp_path / "d", "--json")
    assert r.exit_code == 0, r.stderr
    cfg = json.loads((tmp_path / "d" / "config.json").read_text())
    assert (cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_register_tokens"]) == (384, 12, 4)
    r = run("init-model", "--preset", "dinov3-vits16plus-random", "--layers", 2, "--out",
            tmp_path / "e")
    assert r.exit_code == 2 and "only for --preset cogvideox-5b-i2v-random" in r.stderr
    r = run("init-model", "--preset", "cogvideox-5b-i2v-random", "--text-width", 100, "--out",
            tmp_path / "e")
    assert r.exit_code == 2 and "--text-width 100: must be a multiple of 64" in r.stderr
    assert not (tmp_path / "e").exists()


PAPER_MODELS = {"finetune_model": "/m/cogvideox", "clip_model": "ViT-B-32", "clip_pretrained": "",
                "image_encoder": "/m/dinov3"}


def test_paper_preset_options_reach_each_stage():
    from genreward_cli.stages.pipeline import Cuts, stages

    plain = {s.name: s.argv for s in stages("shelf-place-v3", "paper", device="cuda")}
    cut = Cuts(episodes=2, finetune_steps=3, frames=9, generate_steps=4, fb_steps=200,
               prefill=256, eval_episodes=1)
    plan = {s.name: s.argv for s in stages("shelf-place-v3", "paper", device="cuda",
                                           models=PAPER_MODELS, cuts=cut, steps=512)}
    assert list(plan) == list(plain) == [
        "collect expert", "finetune", "generate", "select-frame", "encode-goal", "collect random",
        "train-fb", "train-agent", "evaluate"]
    # the paper preset as it is: no model named (the stages' defaults are the paper's models),
    # generate at the model's native size (480x720 for CogVideoX-5B-I2V), FB at Table A's d
    assert arg(plain["collect expert"], "--episodes") == "20"
    assert "--model" not in plain["finetune"] and "--steps" not in plain["finetune"]
    for flag in ("--height", "--width", "--frames", "--steps"):
        assert flag not in plain["generate"]
    assert "--clip-model" not in plain["select-frame"]
    assert "--image-encoder" not in plain["encode-goal"]
    assert "--z-dim" not in plain["train-fb"] and "--steps" not in plain["train-fb"]
    agent = plain["train-agent"]
    assert arg(agent, "--preset") == "S" and arg(agent, "--fb-train-steps") == "100000"
    assert arg(agent, "--reward-interval") == "64" and "--prefill" not in agent
    assert arg(plain["evaluate"], "--episodes") == "10"
    # substitutes and cuts land in the stage that takes them, nothing else changes
    assert arg(plan["collect expert"], "--episodes") == arg(plan["collect random"], "--episodes") == "2"
    assert arg(plan["finetune"], "--model") == "/m/cogvideox"
    assert (arg(plan["finetune"], "--steps"), arg(plan["finetune"], "--frames")) == ("3", "9")
    assert (arg(plan["generate"], "--steps"), arg(plan["generate"], "--frames")) == ("4", "9")
    assert "--height" not in plan["generate"] and arg(plan["generate"], "--model") == "video_model"
    assert arg(plan["select-frame"], "--clip-model") == "ViT-B-32"
    assert arg(plan["select-frame"], "--clip-pretrained") == ""
    assert arg(plan["encode-goal"], "--image-encoder") == "/m/dinov3"
    assert arg(plan["train-fb"], "--steps") == "200" and "--z-dim" not in plan["train-fb"]
    agent = plan["train-agent"]
    assert [arg(agent, f) for f in ("--preset", "--fb-train-steps", "--reward-interval",
                                    "--prefill", "--eval-episodes", "--steps", "--device")] == [
        "S", "100000", "64", "256", "1", "512", "cuda"]
    assert arg(plan["evaluate"], "--episodes") == "1"
    for name in plan:  # every stage still writes where the preset says, with the same seed
        assert arg(plan[name], "--out") == arg(plain[name], "--out")
        assert arg(plan[name], "--seed") == arg(plain[name], "--seed")
    # the CLIP baselines take the same OpenCLIP substitute
    vlm = [s for s in stages("reach-v3", "paper", methods=("vlm-rm",), models=PAPER_MODELS)
           if s.name.startswith("train-agent")][0].argv
    assert arg(vlm, "--clip-model") == "ViT-B-32" and arg(vlm, "--clip-pretrained") == ""


def test_pipeline_dry_run_with_substitutes_and_their_refusal(tmp_path):
    models = tmp_path / "cog"
    models.mkdir()
    r = run("pipeline", "--preset", "paper", "--out", tmp_path / "p", "--finetune-model", models,
            "--clip-pretrained", "", "--image-encoder", "tiny", "--fb-steps", 5, "--dry-run",
            "--json")
    assert r.exit_code == 0, r.stderr
    plan = json.loads(r.stdout)  # --json: the plan for scripts on stdout, the table on stderr
    assert [s["action"] for s in plan["stages"]] == ["run"] * 10
    assert plan["stages"][-1]["command"].startswith("genreward evaluate --compare agent ")
    assert r.stderr.count("no output yet") == 9
    # each stage's command, as it would run in the pipeline's folder
    lines = [x.strip() for x in r.stderr.splitlines()]
    assert f"the commands run in {tmp_path / 'p'}:" in lines
    finetune = next(x for x in lines if x.startswith("genreward finetune "))
    assert f"--model {models} " in finetune and finetune.endswith("--out video_model --force")
    assert "genreward evaluate --compare agent --plot curves.png --csv curves.csv --force" in lines
    r = run("pipeline", "--preset", "paper", "--out", tmp_path / "q", "--finetune-model", models,
            "--video-model", models)
    assert r.exit_code == 2 and "with --video-model there is no finetune" in r.stderr
    assert not (tmp_path / "q").exists()


def test_roboclips_model_is_checked_before_the_first_stage(tmp_path):
    """As TADPoLe's: an --s3d-model without the authors' files was found only at the
    roboclip agent's turn."""
    (tmp_path / "s3d").mkdir()
    for model, says in [(tmp_path / "nope", "not a directory"),
                        (tmp_path / "s3d", "no s3d_howto100m.pth in it")]:
        r = run("pipeline", "--preset", "paper", "--task", "reach-v3", "--methods",
                "env,roboclip", "--seeds", 0, "--s3d-model", model, "--out", tmp_path / "p")
        assert r.exit_code == 2 and says in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("model, says", [
    (None, f"--tadpole-model {DEFAULT_TADPOLE_MODEL}: cannot load (not in the local hub "
           "cache, and withdrawn from the hub: give a local copy or a mirror with "
           "--tadpole-model)"),
    ("someone/sd-mirror", "--tadpole-model someone/sd-mirror: cannot load (offline, a hub id "
                          "must be in the local hub cache)"),
    ("{tmp}", "not a diffusers Stable Diffusion directory (no model_index.json)"),
])
def test_tadpoles_model_is_read_before_the_first_stage(tmp_path, model, says):
    """tadpole's model is needed only when its agent trains, after every other method's
    (hours each at the paper preset): one that cannot be read is refused before any stage
    runs, with nothing written. The tests run with HF_HUB_OFFLINE=1 and an empty cache."""
    extra = [] if model is None else ["--tadpole-model", model.format(tmp=tmp_path)]
    r = run("pipeline", "--preset", "paper", "--task", "reach-v3", "--methods", "env,tadpole",
            "--seeds", 0, "--out", tmp_path / "p", *extra)
    assert r.exit_code == 2, r.stderr
    assert r.stderr.startswith(f"Error: {says}" if model != "{tmp}" else "Error: --tadpole-model "),\
        r.stderr
    assert says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "p").exists()


@pytest.mark.slow
def test_paper_preset_end_to_end_at_480x720_on_paper_layout_models(small_cogvideox, tmp_path):
    """Every stage of `--preset paper` with its options (S agent, FB d = 512, online FB, the
    per-task interval), CPU-sized CogVideoX-5B-I2V-layout model at 480x720, tiny CLIP,
    9 frames; then train-agent refuses the goal for another task or camera. About 7 minutes on
    2 cores."""
    out = tmp_path / "paper"
    r = run("pipeline", "--task", "pick-place-v3", "--preset", "paper", "--out", out,
            "--device", "cpu", "--finetune-model", small_cogvideox, "--clip-model", "tiny",
            "--image-encoder", "tiny", "--episodes", 1,
            "--finetune-steps", 1, "--frames", 9, "--generate-steps", 2, "--fb-steps", 10,
            "--steps", 258, "--prefill", 256, "--eval-episodes", 1, "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert [s["action"] for s in summary["stages"]] == ["ran"] * 10  # and the compare
    with store.open_artifact(out / "goal_video.h5", "goal_video") as art:
        assert art.file["frames"].shape == (9, 480, 720, 3)  # the model's native size
        assert art.file["condition_image"].shape == (480, 720, 3)
    with store.open_artifact(out / "goal.h5", "goal") as art:
        latent = art.file["video_latent"].shape
        assert latent[0] == 16 and latent[-2:] == (60, 90)
        assert art.attrs["task"] == "pick-place-v3" and art.attrs["camera"] == "corner"
    with store.open_artifact(out / "fb.h5", "fb") as art:
        assert json.loads(art.attrs["config"])["z_dim"] == 512
    config = json.loads((out / "agent" / "config.json").read_text())
    assert (config["preset"], config["agent"]["deter"], config["fb_train_steps"]) == ("S", 512, 100000)
    assert (config["reward_interval"], config["prefill"]) == (128, 256)
    with store.open_artifact(out / "eval.h5", "eval") as art:
        assert len(art.file["return"]) == 1
    # a goal made for another task, or seen from another camera, is refused
    common = ["train-agent", "--reward", "genreward", "--goal", out / "goal.h5", "--fb",
              out / "fb.h5", "--steps", 8, "--prefill", 8, "--device", "cpu"]
    r = run(*common, "--task", "reach-v3", "--out", tmp_path / "a")
    assert r.exit_code == 2 and "a goal for pick-place-v3, not for --task reach-v3" in r.stderr
    r = run(*common, "--task", "pick-place-v3", "--camera", "corner2", "--out", tmp_path / "b")
    assert r.exit_code == 2 and "seen from camera corner, not --camera corner2" in r.stderr
