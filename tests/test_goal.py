import json

import h5py
import numpy as np
import pytest

from genreward_cli import store
from genreward_cli.errors import BadInput
from genreward_cli.goal.clip import FrameScorer, select
from genreward_cli.goal.image_encoder import ImageEncoder, ImageEncoderConfig
from genreward_cli.goal.video_encoder import VideoEncoder, VideoEncoderConfig, video_reward
from helpers import run


def random_video(seed, frames=16, size=64):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    drift = rng.integers(-20, 20, (frames, 1, 1, 3))
    return np.clip(base.astype(int) + np.cumsum(drift, 0), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def video_encoder():
    return VideoEncoder(VideoEncoderConfig(vae="tiny", height=64, width=64))


@pytest.fixture(scope="module")
def image_encoder():
    return ImageEncoder(ImageEncoderConfig.for_model("tiny"))


@pytest.fixture(scope="module")
def scorer():
    return FrameScorer("tiny")


def test_video_reward_identity_difference_and_history_length(video_encoder):
    a, b = random_video(0), random_video(1)
    za = video_encoder.encode(a)
    assert za.shape == (4, 4, 8, 8) and za.dtype == np.float32  # 16 frames -> 4 latent frames
    assert video_reward(za, video_encoder.encode(a)) == pytest.approx(1.0, abs=1e-6)
    assert video_reward(za, video_encoder.encode(b)) < 0.99
    # the same motion over 64 frames (each frame held 4 steps): 16 uniform samples see the
    # same frames, so the latent and the reward do not depend on the history's length
    long = np.repeat(a, 4, axis=0)
    assert video_reward(za, video_encoder.encode(long)) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(BadInput, match="latent shapes differ"):
        video_reward(za, za[:, :2])


def test_video_encoder_latent_sample_differs_from_mean():
    enc = VideoEncoder(VideoEncoderConfig(vae="tiny", height=64, width=64, latent="sample"))
    v = random_video(0)
    assert not np.allclose(enc.encode(v, seed=0), enc.encode(v, seed=1))
    np.testing.assert_array_equal(enc.encode(v, seed=3), enc.encode(v, seed=3))


def test_clip_selects_the_planted_best_frame_and_breaks_ties_early(scorer):
    rng = np.random.default_rng(0)
    text = "pick up the puck and place it at the goal"
    pool = rng.integers(0, 256, (40, 64, 64, 3), dtype=np.uint8)
    pool_scores = scorer.scores(pool, text)
    best = int(np.argmax(pool_scores))
    others = np.delete(pool, best, axis=0)[:20]
    video = others.copy()
    video[13] = pool[best]  # plant the frame whose embedding matches the text best
    scores = scorer.scores(video, text)
    assert scores.shape == (20,) and scores.dtype == np.float32
    np.testing.assert_allclose(scores[13], pool_scores[best], rtol=1e-5)
    index, topk = select(scores, k=5)
    assert index == 13 and topk[0] == 13 and len(topk) == 5
    video[17] = pool[best]  # a tie: the earliest wins
    index, topk = select(scorer.scores(video, text), k=5)
    assert index == 13 and list(topk[:2]) == [13, 17]


def test_image_encoder_is_rgb_sensitive(image_encoder):
    img = random_video(3, frames=1)
    rgb = image_encoder.encode(img)
    bgr = image_encoder.encode(img[..., ::-1].copy())
    assert rgb.shape == (1, 32) and rgb.dtype == np.float32
    assert not np.allclose(rgb, bgr, atol=1e-4), "channel order must change the embedding"
    np.testing.assert_allclose(image_encoder.encode(np.concatenate([img, img])), np.repeat(rgb, 2, 0),
                               rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """generate -> select-frame -> encode-goal through the CLI on tiny presets."""
    d = tmp_path_factory.mktemp("goal")
    r = run("generate", "--task", "pick-place-v3", "--model", "tiny", "--frames", 17, "--steps", 2,
            "--out", d / "gv.h5")
    assert r.exit_code == 0, r.stderr
    r = run("select-frame", d / "gv.h5", "--clip-model", "tiny", "--out", d / "gf.h5",
            "--plot", d / "scores.png", "--json")
    assert r.exit_code == 0, r.stderr
    r2 = run("encode-goal", d / "gv.h5", d / "gf.h5", "--image-encoder", "tiny", "--out", d / "goal.h5")
    assert r2.exit_code == 0, r2.stderr
    return d, json.loads(r.stdout)


def test_select_frame_artifact(chain):
    d, summary = chain
    with store.open_artifact(d / "gf.h5", "goal_frame") as art:
        scores = art.file["scores"][()]
        assert scores.shape == (17,)
        assert art.attrs["index"] == int(np.argmax(scores)) == summary["index"]
        assert art.attrs["text"] == "pick up the puck and place it at the goal"
        with h5py.File(d / "gv.h5") as gv:
            np.testing.assert_array_equal(art.file["frame"][()], gv["frames"][art.attrs["index"]])
        assert art.parents[0]["kind"] == "goal_video"
    assert (d / "scores.png").stat().st_size > 10_000


def test_goal_artifact_rebuilds_identical_encoders(chain):
    d, _ = chain
    with store.open_artifact(d / "goal.h5", "goal") as art:
        z, e = art.file["video_latent"][()], art.file["frame_embedding"][()]
        vcfg = VideoEncoderConfig.from_json(art.attrs["video_encoder"])
        icfg = ImageEncoderConfig.from_json(art.attrs["image_encoder"])
        frame = art.file["frame"][()]
        assert [p["kind"] for p in art.parents] == ["goal_video", "goal_frame"]
    assert vcfg.vae == "tiny" and (vcfg.height, vcfg.width, vcfg.frames) == (64, 64, 16)
    with h5py.File(d / "gv.h5") as gv:
        video = gv["frames"][()]
    np.testing.assert_array_equal(VideoEncoder(vcfg).encode(video), z)
    np.testing.assert_array_equal(ImageEncoder(icfg).encode(frame[None])[0], e)


def test_goal_vae_dtype_is_stored_and_reused(chain, tmp_path):
    """`--dtype bfloat16`: the goal file records it, the rebuilt encoder runs in it and gives
    back the stored latent, which is the float32 one to within bf16 rounding."""
    import torch

    d, _ = chain
    r = run("encode-goal", d / "gv.h5", d / "gf.h5", "--image-encoder", "tiny", "--dtype", "bfloat16",
            "--out", tmp_path / "goal_bf16.h5")
    assert r.exit_code == 0, r.stderr
    with store.open_artifact(tmp_path / "goal_bf16.h5", "goal") as art:
        z16 = art.file["video_latent"][()]
        vcfg = VideoEncoderConfig.from_json(art.attrs["video_encoder"])
    with store.open_artifact(d / "goal.h5", "goal") as art:
        z32 = art.file["video_latent"][()]
    assert vcfg.dtype == "bfloat16" and z16.dtype == np.float32
    encoder = VideoEncoder(vcfg)
    assert encoder.vae.dtype == torch.bfloat16
    with h5py.File(d / "gv.h5") as gv:
        np.testing.assert_array_equal(encoder.encode(gv["frames"][()]), z16)
    assert not np.array_equal(z16, z32)
    assert video_reward(z16, z32) > 0.99


def test_goal_bad_inputs(chain, tmp_path):
    d, _ = chain
    r = run("select-frame", d / "gf.h5", "--clip-model", "tiny", "--out", tmp_path / "x.h5")
    assert r.exit_code == 2 and "kind is 'goal_frame', expected 'goal_video'" in r.stderr
    for text in ("", "  "):  # an unset shell variable: not silently the video's prompt
        r = run("select-frame", d / "gv.h5", "--text", text, "--clip-model", "tiny",
                "--out", tmp_path / "x.h5")
        assert r.exit_code == 2 and "Error: --text: empty; leave it out" in r.stderr, r.stderr
    # past the last frame: refused before the CLIP model (here a name that does not exist) loads
    r = run("select-frame", d / "gv.h5", "--frame-index", 17, "--clip-model", "no-such-clip",
            "--out", tmp_path / "x.h5")
    assert r.exit_code == 2 and "--frame-index 17: the video has 17 frames" in r.stderr, r.stderr
    r = run("encode-goal", d / "gf.h5", d / "gf.h5", "--image-encoder", "tiny", "--out", tmp_path / "x.h5")
    assert r.exit_code == 2 and "expected 'goal_video'" in r.stderr
    # the two inputs the other way round: said so, not only "expected 'goal_video'"
    r = run("encode-goal", d / "gf.h5", d / "gv.h5", "--image-encoder", "tiny", "--out", tmp_path / "x.h5")
    assert r.exit_code == 2 and "gf.h5 is a goal frame and " in r.stderr and \
        "the other way round (encode-goal GOAL_VIDEO GOAL_FRAME)" in r.stderr, r.stderr
    assert not (tmp_path / "x.h5").exists()
    # a goal video of another resolution than the goal frame
    other = tmp_path / "gv128.h5"
    with store.write_artifact(other, "goal_video", config={}) as h5:
        store.frames_dataset(h5, "frames", random_video(0, frames=9, size=32))
        store.array_dataset(h5, "condition_image", random_video(0, frames=1, size=32)[0])
        h5.attrs.update(prompt="p", model="tiny")
    r = run("encode-goal", other, d / "gf.h5", "--image-encoder", "tiny", "--out", tmp_path / "x.h5")
    assert r.exit_code == 2 and "mismatched resolutions" in r.stderr
    # an empty video
    empty = tmp_path / "empty.h5"
    with store.write_artifact(empty, "goal_video", config={}) as h5:
        h5.create_dataset("frames", shape=(0, 64, 64, 3), dtype=np.uint8)
        store.array_dataset(h5, "condition_image", random_video(0, frames=1)[0])
        h5.attrs.update(prompt="p", model="tiny")
    r = run("select-frame", empty, "--clip-model", "tiny", "--out", tmp_path / "x.h5")
    assert r.exit_code == 2 and "no frames" in r.stderr
    r = run("encode-goal", empty, d / "gf.h5", "--image-encoder", "tiny", "--out", tmp_path / "x.h5")
    assert r.exit_code == 2 and "no frames" in r.stderr
    assert not (tmp_path / "x.h5").exists()


def test_video_encoder_batches_like_single_calls(video_encoder):
    videos = [random_video(0), random_video(1, frames=40)]
    many = video_encoder.encode_many(videos)
    assert many.shape == (2, 4, 4, 8, 8)
    for v, z in zip(videos, many):
        np.testing.assert_allclose(video_encoder.encode(v), z, rtol=1e-4, atol=1e-5)


def test_timm_checkpoint_file_loads(tmp_path):
    """A local timm DINOv3 checkpoint (here: the architecture at random weights) loads, and
    its embedding is the final-norm CLS token, as the transformers backend's pooler_output
    is (timm's default pooling for DINOv3 averages the patch tokens instead)."""
    import timm
    import torch

    model = timm.create_model("vit_small_plus_patch16_dinov3", pretrained=False, num_classes=0)
    torch.save(model.state_dict(), tmp_path / "dinov3.pth")
    enc = ImageEncoder(ImageEncoderConfig(model=str(tmp_path / "dinov3.pth"), resolution=32))
    images = random_video(0, frames=2, size=32)
    out = enc.encode(images)
    assert enc.backend == "timm" and out.shape == (2, 384)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    x = (x - enc.mean) / enc.std
    with torch.inference_mode():
        tokens = model.eval().forward_features(x)  # [N, 1 + 4 registers + patches, 384]
    np.testing.assert_allclose(out, tokens[:, 0].numpy(), rtol=1e-4, atol=1e-5)
    assert not np.allclose(out, tokens[:, 5:].mean(1).numpy(), atol=1e-3)
    with pytest.raises(BadInput, match="no such checkpoint file"):
        ImageEncoder(ImageEncoderConfig(model=str(tmp_path / "missing.pth")))


def test_state_view_crops_to_the_states_aspect_ratio():
    """A wide goal frame is seen as FB states of another aspect ratio are: its centre, not the
    whole frame squashed; a frame at the states' size is passed through untouched."""
    from genreward_cli.goal.image_encoder import state_view
    from genreward_cli.video.clips import resize_frames

    wide = random_video(0, frames=2, size=48)
    wide = np.concatenate([wide[:, :, :12] ^ 255, wide, wide[:, :, :12]], axis=2)  # 48x72
    other = wide.copy()
    other[:, :, :12], other[:, :, -12:] = 7, 200  # only the sides differ
    square = state_view(wide, (32, 32))
    assert square.shape == (2, 32, 32, 3) and square.dtype == np.uint8
    np.testing.assert_array_equal(square, state_view(other, (32, 32)))
    np.testing.assert_array_equal(square, resize_frames(wide[:, :, 12:60], 32, 32))
    tall = np.ascontiguousarray(wide.transpose(0, 2, 1, 3))  # 72x48: black sides added
    padded = np.zeros((2, 72, 72, 3), np.uint8)
    padded[:, :, 12:60] = tall
    np.testing.assert_array_equal(state_view(tall, (16, 16)), resize_frames(padded, 16, 16))
    same = random_video(1, frames=1, size=32)
    assert state_view(same, (32, 32)) is same
    np.testing.assert_array_equal(state_view(wide, (48, 72)), wide)
    with pytest.raises(BadInput, match="uint8"):
        state_view(wide.astype(np.float32), (32, 32))


def test_fb_goal_embedding_is_the_frame_embedding_at_the_states_size(image_encoder):
    from genreward_cli.goal.image_encoder import fb_goal_embedding, state_view

    frame = random_video(2, frames=1, size=64)[0]
    e = fb_goal_embedding(image_encoder, frame, (64, 64))
    assert e.dtype == np.float32 and e.shape == (32,)
    np.testing.assert_array_equal(e, image_encoder.encode(frame[None])[0])
    wide = np.concatenate([frame[:, :16] ^ 255, frame, frame[:, :16]], axis=1)  # 64x96
    np.testing.assert_allclose(fb_goal_embedding(image_encoder, wide, (64, 64)), e,
                               rtol=1e-5, atol=1e-6)  # its centre is the square frame
    squashed = image_encoder.encode(wide[None])[0]
    assert np.abs(squashed - e).max() > 1e-3
    np.testing.assert_array_equal(state_view(wide[None], (64, 64))[0], frame)


def test_a_prompt_the_font_lacks_gives_one_warning(tmp_path):
    """A CJK or emoji prompt in select-frame --plot gave matplotlib's warning once per
    character (and again at each drawing); now one warning names the file and the characters."""
    import warnings

    from genreward_cli.goal.plot import plot_scores

    frames = random_video(0, frames=9, size=32)
    scores = np.linspace(0, 1, 9).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot_scores(tmp_path / "s.png", frames, scores, 8, "拿起叉子 🍴 fork")
    said = [str(w.message) for w in caught]
    assert len(said) == 1, said
    assert said[0].startswith(f"{tmp_path / 's.png'}: 5 characters that the figure's font (")
    assert said[0].endswith(") lacks are drawn as boxes: 拿起叉子🍴")
    assert (tmp_path / "s.png").stat().st_size > 5000
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot_scores(tmp_path / "t.png", frames, scores, 8, "pick up the fork")
    assert not caught, [str(w.message) for w in caught]


def test_clip_pretrained_with_the_tiny_model_is_said_unread(chain, tmp_path):
    """`--clip-model tiny` has its own random weights: a --clip-pretrained given with it was
    silently ignored; the default and '' (no weights) say nothing."""
    d, _ = chain
    with pytest.warns(UserWarning, match="--clip-pretrained nope.pt: not read; --clip-model "
                                         "tiny has its own random weights"):
        r = run("select-frame", d / "gv.h5", "--clip-model", "tiny", "--clip-pretrained",
                "nope.pt", "--out", tmp_path / "a.h5")
    assert r.exit_code == 0, r.stderr
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = run("select-frame", d / "gv.h5", "--clip-model", "tiny", "--clip-pretrained", "",
                "--out", tmp_path / "b.h5")
    assert r.exit_code == 0, r.stderr


def test_a_goal_frame_of_another_task_is_refused(tiny_chain, tmp_path):
    """A goal frame selected from a video of another task made a goal of two tasks, labelled
    with the video's (a warning about another sha256 only); the frame's source names it."""
    other, gf = tmp_path / "pick.h5", tmp_path / "gf_pick.h5"
    r = run("collect", "--task", "pick-place-v3", "--policy", "expert", "--episodes", 1,
            "--max-steps", 10, "--out", other)
    assert r.exit_code == 0, r.stderr
    r = run("select-frame", other, "--clip-model", "tiny", "--out", gf)
    assert r.exit_code == 0, r.stderr
    out = tmp_path / "goal.h5"
    r = run("encode-goal", tiny_chain / "expert.h5", gf, "--vae", "tiny", "--image-encoder", "tiny",
            "--out", out)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (f"{gf}: its frame was selected from {other}, a video of pick-place-v3; "
            f"{tiny_chain / 'expert.h5'} is of reach-v3") in r.stderr
    assert not out.exists()
