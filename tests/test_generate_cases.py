"""generate: text-to-video, what a model can take (frames, tiles, text), refused up front."""

import warnings

import h5py
import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from genreward_cli import store
from genreward_cli.cli import cli
from genreward_cli.errors import BadInput
from genreward_cli.video import model as video_model
from genreward_cli.video.generate import seen_text
from genreward_cli.video.model import ModelInfo, decoded_frames, plan_tile, read_info
from helpers import run

LONG = ("pick up the puck and place it at the goal, then " * 3).strip()
# the first 31 of its 40 tiny-tokenizer tokens (`then` is two: `the` `n`), then </s>
SEEN = ("pick up the puck and place it at the goal, then pick up the puck and place it at the "
        "goal, then pick up the puck and")


def run_warned(*args):
    """``run``, and the messages of the warnings it raised (cli.py prints each as one line)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(*args)
    return result, [str(w.message) for w in caught]


def refused(result, message, out=None):
    """Exit 2, one line on stderr containing ``message``, and no output file."""
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    if out is not None:
        assert not out.exists() and not out.with_name(out.name + ".tmp").exists()


@pytest.fixture
def no_loading(monkeypatch):
    """Fail the test if generate gets as far as loading a pipeline's weights."""
    def load(*args, **kwargs):
        raise AssertionError("the pipeline was loaded before the input was refused")

    monkeypatch.setattr(video_model, "load_pipeline", load)


@pytest.fixture(scope="module")
def first_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "first.png"
    imageio.imwrite(path, np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    return path


# --- frame counts: CogVideoX's VAE decodes L latent frames to 4L-3 only when L is odd ---------

def test_decoded_frames_agrees_with_the_vae():
    from genreward_cli.video.presets import build_tiny_pipeline

    vae = build_tiny_pipeline(0).vae.eval()
    with torch.no_grad():
        for latent in range(1, 7):
            z = torch.zeros(1, 4, latent, 2, 2)
            real = vae.decode(z).sample.shape[2]
            assert decoded_frames(latent, 4, vae.num_latent_frames_batch_size) == real, latent
    # 49 frames (13 latent frames, the paper's) round-trip; 45 (12) would come back as 48
    assert decoded_frames(13, 4, 2) == 49 and decoded_frames(12, 4, 2) == 48


@pytest.mark.parametrize("frames", [5, 13, 21, 45])
def test_frames_that_do_not_decode_are_refused_before_loading(frames, no_loading, first_png, tmp_path):
    out = tmp_path / "v.h5"
    result = run("generate", "--model", "tiny", "--image", first_png, "--prompt", "pick up the puck",
                 "--steps", 2, "--frames", frames, "--out", out)
    refused(result, f"--frames {frames}: CogVideoX 1.0 needs 8k+1 frames (9, 17, 25, ...; native 9)",
            out)


def test_frames_rule_is_read_from_the_configs():
    info = read_info("tiny")
    assert (info.mode, info.temporal_scale, info.latent_batch, info.version) == (
        "image-to-video", 4, 2, "CogVideoX 1.0")
    for frames in (1, 9, 17, 49):
        info.check(frames, 64, 64, decode=True)
    info.check(13, 64, 64)  # encoding alone (finetuning) takes any 4k+1
    with pytest.raises(BadInput, match="--frames 13: CogVideoX 1.0 needs 8k"):
        info.check(13, 64, 64, decode=True)
    # a CogVideoX 1.5 config (temporal patches): the same VAE, the same rule, named for 1.5
    pipe = video_model.load_pipeline("tiny")
    transformer = {**pipe.transformer.config, "patch_size_t": 2}
    v15 = ModelInfo.from_configs("CogVideoXImageToVideoPipeline", transformer, dict(pipe.vae.config))
    assert v15 == ModelInfo(**{**ModelInfo.of(pipe).__dict__, "patch_size_t": 2})
    with pytest.raises(BadInput, match=r"--frames 85: CogVideoX 1.5 needs 8k\+1 frames .*native 81"):
        ModelInfo(**{**v15.__dict__, "frames": 81}).check(85, 64, 64, decode=True)


@pytest.mark.parametrize("args,message", [
    (["--height", 48], "size 48x64: this model has learned positional embeddings"),
    (["--width", 72], "size 64x72: height and width must be multiples of 16"),
    # generation: the rule that the VAE decodes exactly, not only encodes (4k+1)
    (["--frames", 10], "--frames 10: CogVideoX 1.0 needs 8k+1 frames (9, 17, 25, ...;"),
    (["--frames", 13], "--frames 13: CogVideoX 1.0 needs 8k+1 frames (9, 17, 25, ...;"),
])
def test_sizes_are_refused_before_loading(args, message, no_loading, first_png, tmp_path):
    out = tmp_path / "v.h5"
    result = run("generate", "--model", "tiny", "--image", first_png, "--prompt", "x", *args,
                 "--out", out)
    refused(result, message, out)


# --- VAE tiling: tiles on the latent grid -----------------------------------------------------

def test_tile_plan_keeps_diffusers_tiles_where_they_are_aligned():
    # CogVideoX's VAE (sample 480x720): diffusers' 240x360 tiles already lie on the 8-px grid
    assert plan_tile(480, 240, 1 / 6, 8) == 240 and plan_tile(720, 360, 1 / 5, 8) == 360
    # the tiny VAE's 32 px tiles step 26 px: the nearest aligned tiles instead
    assert plan_tile(64, 32, 1 / 6, 8) == 48 and plan_tile(64, 32, 1 / 5, 8) == 40
    assert plan_tile(16, 32, 1 / 6, 8) == 32  # nothing smaller fits: one tile, no seam


@pytest.mark.parametrize("height,width", [(64, 64), (48, 80), (96, 64), (128, 128)])
def test_tiled_vae_keeps_the_shapes(height, width):
    from genreward_cli.video.presets import build_tiny_pipeline

    pipe = build_tiny_pipeline(0)
    vae = pipe.vae.eval()
    x = torch.rand(1, 3, 9, height, width) * 2 - 1
    with torch.no_grad():
        z = vae.encode(x).latent_dist.mean
        video = vae.decode(z).sample
        vae.enable_tiling(**ModelInfo.of(pipe).tiling(height, width))
        assert vae.encode(x).latent_dist.mean.shape == z.shape == (1, 4, 3, height // 8, width // 8)
        tiled = vae.decode(z).sample
    assert tiled.shape == video.shape
    if (height, width) == (64, 64):  # plain diffusers' default tiles of the preset are aligned
        plain = build_tiny_pipeline(0).vae.eval()
        plain.enable_tiling()
        assert (plain.tile_sample_min_height, plain.tile_sample_min_width) == (48, 40)
        with torch.no_grad():
            assert plain.encode(x).latent_dist.mean.shape == z.shape
            assert plain.decode(z).sample.shape == video.shape
    # blended seams: close to the untiled video, not equal (measured: 0.03 of the [-1, 1] range)
    assert (tiled - video).abs().mean() < 0.1


def test_generate_with_vae_tiling_gives_the_video(first_png, tmp_path):
    common = ["--model", "tiny", "--image", first_png, "--prompt", "pick up the puck", "--steps", 2,
              "--frames", 9]
    videos = {}
    for name, flags in [("plain", []), ("tiled", ["--vae-tiling"]), ("sliced", ["--vae-slicing"])]:
        result = run("generate", *common, *flags, "--out", tmp_path / f"{name}.h5")
        assert result.exit_code == 0, result.stderr
        with h5py.File(tmp_path / f"{name}.h5") as f:
            videos[name] = f["frames"][()]
    np.testing.assert_array_equal(videos["sliced"], videos["plain"])
    assert videos["tiled"].shape == videos["plain"].shape
    diff = np.abs(videos["tiled"].astype(int) - videos["plain"].astype(int))
    assert diff.mean() < 12, diff.mean()  # seams blended; measured about 4 levels of 255


def test_more_steps_than_the_scheduler_has_timesteps_is_bad_input(first_png, tmp_path):
    """--steps 5000 was the scheduler's ValueError, exit 1."""
    out = tmp_path / "gv.h5"
    result = run("generate", "--model", "tiny", "--image", first_png, "--prompt", "pick up",
                 "--steps", 5000, "--frames", 9, "--out", out)
    assert result.exit_code == 2, result.stderr
    assert "--steps 5000: the model's scheduler was trained with 1000 timesteps" in result.stderr
    assert not list(tmp_path.glob("gv.h5*"))


# --- prompts past T5's limit ------------------------------------------------------------------

def test_seen_text_is_what_t5_reads():
    from genreward_cli.video.model import load_tokenizer

    tok = load_tokenizer("tiny")
    short = seen_text(tok, "pick up the puck", 32)
    assert not short.truncated and short.seen == "pick up the puck" and short.tokens == 5
    cut = seen_text(tok, LONG + " press the red button", 32)
    assert cut.truncated and cut.tokens > 32
    assert cut.seen == SEEN and cut.tokens == 44
    assert tok(cut.seen).input_ids == tok(LONG + " press the red button", max_length=32,
                                          truncation=True).input_ids


def test_long_prompt_warns_and_records_what_the_model_saw(first_png, tmp_path):
    common = ["generate", "--model", "tiny", "--image", first_png, "--steps", 2, "--frames", 9]
    runs = {}
    for name, prompt in [("a", LONG + " press the red button"), ("b", LONG + " open the green door"),
                         ("short", "pick up the puck")]:
        result, caught = run_warned(*common, "--prompt", prompt, "--out", tmp_path / f"{name}.h5")
        assert result.exit_code == 0, result.stderr
        warn = [m for m in caught if "tokens" in m]
        with h5py.File(tmp_path / f"{name}.h5") as f:
            runs[name] = (warn, dict(f.attrs), f["frames"][()])
    warn, attrs, frames = runs["a"]
    assert len(warn) == 1 and "--prompt is 44 tokens, the model reads 32" in warn[0]
    assert "\n" not in warn[0]
    assert attrs["prompt"] == LONG + " press the red button"
    assert attrs["prompt_seen"] == SEEN and attrs["prompt_truncated"]
    # the two prompts differ only past the limit: the same text seen, the same video
    assert runs["b"][1]["prompt_seen"] == attrs["prompt_seen"]
    np.testing.assert_array_equal(runs["b"][2], frames)
    warn, attrs, _ = runs["short"]
    assert warn == [] and attrs["prompt_seen"] == "pick up the puck" and not attrs["prompt_truncated"]


def test_long_negative_prompt_warns(first_png, tmp_path):
    result, caught = run_warned("generate", "--model", "tiny", "--image", first_png, "--steps", 1,
                                "--frames", 9, "--prompt", "pick up the puck", "--negative-prompt",
                                LONG, "--out", tmp_path / "n.h5")
    assert result.exit_code == 0, result.stderr
    assert [m for m in caught if "tokens" in m] == [
        f"--negative-prompt is 40 tokens, the model reads 32: the video is made from {SEEN!r} only "
        "(recorded as negative_prompt_seen; shorten the text to use all of it)"]
    with h5py.File(tmp_path / "n.h5") as f:
        assert f.attrs["negative_prompt_seen"] == SEEN


def test_characters_the_tokenizer_lacks_are_named_and_blank_prompts_refused(first_png,
                                                                            tmp_path):
    """A character the T5 tokenizer has no token for is read as <unk> and dropped: one
    warning says what the model reads; a prompt of blanks is refused (exit 2, no file)."""
    from genreward_cli.video.model import load_tokenizer

    seen = seen_text(load_tokenizer("tiny"), "pick up the café cup", 32)
    assert seen.unknown == 1 and seen.seen == "pick up the caf cup" and not seen.truncated
    assert seen_text(load_tokenizer("tiny"), "pick up the cup", 32).unknown == 0
    common = ["generate", "--model", "tiny", "--image", first_png, "--steps", 1, "--frames", 9]
    result, caught = run_warned(*common, "--prompt", "pick up the café cup", "--out",
                                tmp_path / "c.h5")
    assert result.exit_code == 0, result.stderr
    assert [m for m in caught if "<unk>" in m] == [
        "--prompt: the tokenizer has no token for some of the text (é), read as one <unk> "
        "token: the video is made from 'pick up the caf cup' (recorded as prompt_seen)"]
    for blank in ("   ", "\t\n", "\u200b"):
        result = run(*common, "--prompt", blank, "--out", tmp_path / "b.h5")
        assert result.exit_code == 2 and "--prompt: only blanks" in result.stderr, result.stderr
        assert not (tmp_path / "b.h5").exists()
    # an empty one (an unset shell variable) is not "required", and --task does not hide it
    result = run(*common, "--prompt", "", "--out", tmp_path / "b.h5")
    assert result.exit_code == 2 and "Error: --prompt: empty; describe the goal" in \
        result.stderr, result.stderr
    result = run("generate", "--model", "tiny", "--task", "reach-v3", "--prompt", "", "--steps",
                 1, "--frames", 9, "--out", tmp_path / "b.h5")
    assert result.exit_code == 2 and "leave it out for the task's description" in result.stderr


# --- text-to-video ----------------------------------------------------------------------------

def test_tiny_t2v_preset_is_the_text_to_video_layout(tmp_path):
    from diffusers import CogVideoXImageToVideoPipeline, CogVideoXPipeline

    out = tmp_path / "t2v"
    result = run("init-model", "--preset", "tiny-t2v", "--out", out)
    assert result.exit_code == 0, result.stderr
    t2v = CogVideoXPipeline.from_pretrained(out)
    i2v = CogVideoXImageToVideoPipeline.from_pretrained(video_model.resolve("tiny"))
    assert t2v.transformer.config.in_channels == t2v.vae.config.latent_channels == 4
    assert i2v.transformer.config.in_channels == 8
    assert not t2v.transformer.config.use_learned_positional_embeddings
    for name in ("vae", "text_encoder"):  # shared with `tiny`: one VAE encodes both kinds of goal
        a, b = getattr(t2v, name).state_dict(), getattr(i2v, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert read_info(str(out)).mode == "text-to-video"


def test_prompt_alone_generates_text_to_video_and_the_goal_stages_take_it(tmp_path):
    gv, gf, goal = tmp_path / "gv.h5", tmp_path / "gf.h5", tmp_path / "goal.h5"
    result = run("generate", "--prompt", "pick up the blue fork", "--t2v-model", "tiny",
                 "--frames", 9, "--steps", 2, "--out", gv)
    assert result.exit_code == 0, result.stderr
    with store.open_artifact(gv, "goal_video") as art:
        frames = art.file["frames"][()]
        assert frames.shape == (9, 64, 64, 3) and frames.dtype == np.uint8
        np.testing.assert_array_equal(art.file["condition_image"][()], frames[0])
        assert art.attrs["mode"] == "text-to-video" and art.attrs["model"] == "tiny-t2v"
        assert art.attrs["prompt"] == art.attrs["prompt_seen"] == "pick up the blue fork"
        assert "task" not in art.attrs and art.config["t2v_model"] == "tiny"
    result = run("select-frame", gv, "--clip-model", "tiny", "--out", gf)
    assert result.exit_code == 0, result.stderr
    result = run("encode-goal", gv, gf, "--image-encoder", "tiny", "--out", goal)
    assert result.exit_code == 0, result.stderr
    with store.open_artifact(goal, "goal") as art:
        assert art.file["video_latent"].shape == (4, 4, 8, 8)  # the tiny-t2v VAE's latent
        assert art.attrs["prompt"] == "pick up the blue fork"


def test_text_to_video_model_given_as_model(no_loading, tmp_path, first_png):
    # --model naming a text-to-video model cannot take a first frame
    for cond in (["--image", first_png], ["--task", "reach-v3"]):
        out = tmp_path / "v.h5"
        result = run("generate", "--model", "tiny-t2v", "--prompt", "x", *cond, "--out", out)
        refused(result, "--model tiny-t2v: a text-to-video model; it takes no --image or --task", out)
    # an image-to-video model where a text-to-video one is needed
    out = tmp_path / "v.h5"
    result = run("generate", "--prompt", "x", "--t2v-model", video_model.resolve("tiny"), "--out", out)
    refused(result, "an image-to-video model, where a text-to-video model is needed", out)


def test_prompt_alone_with_model_t2v_uses_it(tmp_path):
    out = tmp_path / "v.h5"
    result = run("generate", "--model", "tiny-t2v", "--prompt", "reach the goal", "--frames", 9,
                 "--steps", 1, "--t2v-model", "elsewhere/unused", "--out", out)
    assert result.exit_code == 0, result.stderr
    with h5py.File(out) as f:
        assert f.attrs["mode"] == "text-to-video" and f.attrs["model"] == "tiny-t2v"


def test_prompt_alone_bad_inputs(no_loading, tmp_path):
    out = tmp_path / "v.h5"
    # the default is the paper's text-to-video model; tests never look it up on the hub
    from genreward_cli.commands.generate import generate

    t2v = next(p for p in generate.params if p.name == "t2v_model")
    assert t2v.default == "THUDM/CogVideoX-5b"
    refused(run("generate", "--prompt", "x", "--t2v-model", tmp_path / "missing", "--out", out),
            "no such directory", out)
    refused(run("generate", "--prompt", "x", "--model", "tiny", "--out", out),
            "`--t2v-model tiny` is the built-in preset", out)
    refused(run("generate", "--t2v-model", "tiny", "--out", out), "--prompt is required", out)
    refused(run("generate", "--prompt", "x", "--t2v-model", "tiny", "--frames", 13, "--out", out),
            "--frames 13: CogVideoX 1.0 needs 8k+1 frames", out)
    # --model named explicitly and missing: said, not skipped
    refused(run("generate", "--prompt", "x", "--model", tmp_path / "none", "--t2v-model", "tiny",
                "--out", out), "no such directory", out)


def test_prompt_alone_reads_no_image_to_video_model(no_loading, monkeypatch, tmp_path):
    """Text-to-video with --t2v-model and no --model reads only the text-to-video model's
    configs: the default --model (an image-to-video hub id) is not looked up."""
    seen = []

    def recording(name, option="--model"):
        seen.append(str(name))
        return read_info(name, option)

    monkeypatch.setattr(video_model, "read_info", recording)
    out = tmp_path / "v.h5"
    refused(run("generate", "--prompt", "x", "--t2v-model", "tiny", "--frames", 13, "--out", out),
            "8k+1", out)
    assert seen == ["tiny-t2v"]  # `tiny` names the text-to-video preset here


def test_a_missing_local_model_path_is_not_taken_for_a_hub_id(tmp_path, monkeypatch):
    """`models/nope` where `models/` is a local folder is a missing directory, said at once;
    ORG/NAME with no local ORG folder stays a hub id."""
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BadInput, match="models/nope: no such directory"):
        video_model.resolve("models/nope")
    assert video_model.resolve("some-org/some-video-model") == "some-org/some-video-model"
    refused(run("generate", "--task", "reach-v3", "--model", "models/nope", "--out",
                tmp_path / "v.h5"), "no such directory", tmp_path / "v.h5")
