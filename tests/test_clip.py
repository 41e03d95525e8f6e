"""What OpenCLIP is shown: whole frames (not a centre crop) and the text within its 77 tokens."""

import warnings

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from genreward_cli.cli import cli
from genreward_cli.goal.clip import FrameScorer
from genreward_cli.rewards.base import EpisodeRecord
from genreward_cli.rewards.baselines import CLIPVideoReward, VLMReward

TEXT = "pick up the puck and place it at the goal"
FITS = " ".join(["the robot arm"] * 25)  # 75 BPE tokens + start + end = 77: exactly fits
TOO_LONG = FITS + " then press the button"


def wide_pair(frames=5, height=64, width=96, edge=16):
    """Two videos uint8 [F, H, W, 3] that differ only in their outer ``edge`` columns."""
    a = np.random.default_rng(0).integers(0, 256, (frames, height, width, 3), dtype=np.uint8)
    b = a.copy()
    b[:, :, :edge] = 255 - b[:, :, :edge]
    b[:, :, -edge:] = 255 - b[:, :, -edge:]
    return a, b


@pytest.fixture(scope="module")
def scorers():
    return {crop: FrameScorer("tiny", crop=crop) for crop in ("none", "pad", "center")}


def test_whole_frame_counts_by_default_and_center_crop_is_the_option(scorers):
    a, b = wide_pair()
    assert FrameScorer("tiny").crop == "none"
    for crop in ("none", "pad"):  # the outer columns change the scores
        sa, sb = scorers[crop].scores(a, TEXT), scorers[crop].scores(b, TEXT)
        assert np.abs(sa - sb).max() > 1e-4, crop
    # OpenCLIP's centre crop of a 64x96 frame never sees the outer 16 columns
    np.testing.assert_array_equal(scorers["center"].scores(a, TEXT), scorers["center"].scores(b, TEXT))


def test_pad_keeps_the_aspect_ratio(scorers):
    """A 32x64 frame padded to 64x64: 16 rows of black above and below the resized frame;
    `none` fills the square with the frame."""
    from PIL import Image

    frame = np.full((32, 64, 3), 255, np.uint8)
    padded = scorers["pad"].preprocess(Image.fromarray(frame))
    squashed = scorers["none"].preprocess(Image.fromarray(frame))
    assert padded.shape == squashed.shape == (3, 64, 64)
    black = scorers["pad"].preprocess(Image.fromarray(np.zeros((64, 64, 3), np.uint8)))
    np.testing.assert_allclose(padded[:, :16], black[:, :16], atol=1e-5)
    np.testing.assert_allclose(padded[:, -16:], black[:, -16:], atol=1e-5)
    assert float(padded[:, 24:40].min()) > 1.5 and float(squashed.min()) > 1.5  # white


def test_text_past_the_context_warns_and_text_seen_is_what_the_model_read(scorers):
    scorer = scorers["none"]
    assert scorer.context_length == 77
    assert scorer.text_seen(FITS) == (FITS, 77)
    seen, total = scorer.text_seen(TOO_LONG)
    assert total == 81 and seen == FITS
    frames = wide_pair()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fits = scorer.scores(frames, FITS)  # no warning at 77 tokens
    with pytest.warns(UserWarning, match="81 CLIP tokens but tiny reads 77") as caught:
        long = scorer.scores(frames, TOO_LONG)
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    np.testing.assert_array_equal(long, fits)  # the model read exactly text_seen
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scorer.scores(frames, TOO_LONG)  # once per text


def write_goal_video(path, frames, prompt=TEXT):
    with h5py.File(path, "w") as f:
        f.attrs.update(kind="goal_video", schema_version=1, config="{}", parents="[]",
                       prompt=prompt, model="tiny", fps=8)
        f.create_dataset("frames", data=frames)
        f.create_dataset("condition_image", data=frames[0])


def select(*args):
    return CliRunner().invoke(cli, ["select-frame", *map(str, args), "--clip-model", "tiny"])


def test_select_frame_scores_whole_frames_and_records_the_crop(tmp_path):
    a, b = wide_pair()
    write_goal_video(tmp_path / "a.h5", a)
    write_goal_video(tmp_path / "b.h5", b)
    scores = {}
    for crop in (None, "center"):
        for name in ("a", "b"):
            out = tmp_path / f"{name}-{crop}.h5"
            r = select(tmp_path / f"{name}.h5", "--out", out, *(["--clip-crop", crop] if crop else []))
            assert r.exit_code == 0, r.output
            with h5py.File(out) as f:
                scores[name, crop] = f["scores"][()]
                assert f.attrs["clip_crop"] == (crop or "none")
                assert f.attrs["text"] == f.attrs["text_seen"] == TEXT
    assert not np.array_equal(scores["a", None], scores["b", None])
    np.testing.assert_array_equal(scores["a", "center"], scores["b", "center"])
    r = select(tmp_path / "a.h5", "--clip-crop", "middle", "--out", tmp_path / "x.h5")
    assert r.exit_code == 2 and "--clip-crop" in r.output


def test_select_frame_records_the_text_clip_read(tmp_path):
    write_goal_video(tmp_path / "gv.h5", wide_pair()[0])
    with pytest.warns(UserWarning, match="81 CLIP tokens"):
        r = select(tmp_path / "gv.h5", "--text", TOO_LONG, "--out", tmp_path / "gf.h5", "--json")
    assert r.exit_code == 0, r.output
    with h5py.File(tmp_path / "gf.h5") as f:
        assert f.attrs["text"] == TOO_LONG
        assert f.attrs["text_seen"] == FITS


def test_clip_rewards_see_whole_frames_and_warn_on_long_prompts(scorers):
    a, b = wide_pair(frames=6)
    action, zeros = np.zeros((5, 4), np.float32), np.zeros(5, np.float32)
    ep_a, ep_b = (EpisodeRecord(v, action, zeros, zeros) for v in (a, b))
    for cls in (VLMReward, CLIPVideoReward):
        ra, rb = cls(scorers["none"], TEXT)(ep_a)["total"], cls(scorers["none"], TEXT)(ep_b)["total"]
        assert np.abs(ra - rb).max() > 1e-4, cls.__name__
        fresh = FrameScorer("tiny")
        with pytest.warns(UserWarning, match="81 CLIP tokens"):
            long = cls(fresh, TOO_LONG)(ep_a)["total"]
        np.testing.assert_allclose(long, cls(fresh, FITS)(ep_a)["total"], atol=1e-6)


@pytest.mark.parametrize("name, closest", [("vit-b-32", "ViT-B-32"), ("ViT_B_32", "ViT-B-32"),
                                           ("RN5O", "RN50")])
def test_an_unknown_architecture_names_the_closest_not_all(name, closest):
    """OpenCLIP's error for an unknown --clip-model listed every architecture it has (about
    150 names on one line); ours gives the closest few, case and separators ignored."""
    from genreward_cli.errors import BadInput

    with pytest.raises(BadInput) as e:
        FrameScorer(name, pretrained="")
    message = str(e.value)
    assert message.startswith(f"--clip-model {name} --clip-pretrained : cannot load: not an "
                              "OpenCLIP architecture (closest: "), message
    assert closest in message.split("closest: ")[1].split(";")[0]
    assert "coca_base" not in message and len(message) < 300, message
