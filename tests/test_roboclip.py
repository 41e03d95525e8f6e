"""RoboCLIP with S3D: the network against the published layout and sizes, its tokeniser,
the authors' preprocessing (crop, stride), the end-of-episode dot product, and the CLI."""

import json

import numpy as np
import pytest
import torch

from genreward_cli import store
from genreward_cli.errors import BadInput
from genreward_cli.rewards import s3d
from genreward_cli.rewards.base import EpisodeRecord
from genreward_cli.rewards.roboclip import (
    FRAMES, RoboCLIPReward, centre_crop, picked_frames, video_tensor,
)
from helpers import run

TEXT = "reach the goal"


@pytest.fixture(scope="module")
def model():
    return s3d.load_s3d("tiny")


def episode(rng, steps=20, size=(480, 640)):
    return EpisodeRecord(rng.integers(0, 256, (steps + 1, *size, 3), dtype=np.uint8),
                         np.zeros((steps, 4), np.float32), np.zeros(steps, np.float32),
                         np.zeros(steps, np.float32))


def test_published_size_has_the_published_parameter_counts_and_key_layout():
    # antoine77340/S3D_HowTo100M s3dg.py, S3D('s3d_dict.npy', 512): 9,670,800 video and
    # 21,540,536 text parameters (66,250 x 300 word table included), 537 state-dict entries
    assert s3d.parameter_counts() == {"video": 9_670_800, "text": 21_540_536}
    with torch.device("meta"):
        published = s3d.to_published(s3d.S3DMilNCE(s3d.S3DConfig(), ()))
    assert len(published) == 537
    shapes = {"conv1.conv1.weight": (64, 24, 2, 4, 4), "conv1.bn1.running_var": (64,),
              "conv_2c.conv2.weight": (192, 192, 3, 1, 1), "gating.fc.weight": (192, 192),
              "mixed_3b.conv_b1_b.conv1.weight": (128, 96, 1, 3, 3),
              "mixed_4e.conv_b2_a.bn1.num_batches_tracked": (),
              "mixed_5c.gating_b3.fc.bias": (128,), "fc.weight": (512, 1024),
              "text_module.word_embd.weight": (66250, 300), "text_module.fc1.weight": (2048, 300),
              "text_module.fc2.bias": (512,)}
    for key, shape in shapes.items():
        assert tuple(published[key].shape) == shape, key
    assert s3d.config_from_published(published) == s3d.S3DConfig()


def test_tiny_video_embedding_depends_on_the_video():
    """The tiny preset's BatchNorm statistics are calibrated: its video embedding differs
    between videos (uncalibrated, 20 random layers shrank every video to the same one)."""
    model = s3d.build_tiny()
    videos = torch.rand(2, 3, 8, 64, 64, generator=torch.Generator().manual_seed(0)) * 255
    a, b = model.encode_video(videos)
    blank = model.encode_video(torch.zeros(1, 3, 8, 64, 64))[0]
    assert torch.linalg.norm(a - b) > 0.1 * torch.linalg.norm(a)
    assert torch.linalg.norm(a - blank) > 0.1 * torch.linalg.norm(a)


def test_converter_round_trips_a_random_model(tmp_path):
    torch.manual_seed(1)
    original = s3d.build_tiny(seed=5)
    for m in original.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0)
    s3d.save_s3d(original, tmp_path / "m")
    loaded = s3d.load_s3d(str(tmp_path / "m"))
    a, b = original.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert loaded.words == original.words and loaded.config == original.config
    video = torch.rand(1, 3, 4, 32, 32) * 255
    assert torch.equal(original.encode_video(video), loaded.encode_video(video))
    assert torch.equal(original.encode_text([TEXT]), loaded.encode_text([TEXT]))
    # the authors' file may lack BatchNorm's num_batches_tracked
    state = torch.load(tmp_path / "m" / s3d.WEIGHTS_FILE, weights_only=True)
    slim = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert torch.equal(s3d.from_published(slim, original.words).encode_text([TEXT]),
                       original.encode_text([TEXT]))
    with pytest.raises(BadInput, match="unexpected"):
        s3d.from_published({**state, "extra.weight": torch.zeros(1)}, original.words)
    del state["mixed_4c.conv_b0.bn1.running_mean"]
    with pytest.raises(BadInput, match="missing"):
        s3d.from_published(state, original.words)


def test_bad_model_directories_are_one_line(tmp_path):
    with pytest.raises(BadInput, match="not a directory"):
        s3d.load_s3d(str(tmp_path / "none"))
    (tmp_path / "d").mkdir()
    with pytest.raises(BadInput, match="no s3d_howto100m.pth"):
        s3d.load_s3d(str(tmp_path / "d"))
    (tmp_path / "d" / s3d.WEIGHTS_FILE).write_bytes(b"not a checkpoint")
    np.save(tmp_path / "d" / s3d.DICT_FILE, np.asarray(["a"]))
    with pytest.raises(BadInput, match="cannot load"):
        s3d.load_s3d(str(tmp_path / "d"))


def test_tokeniser_follows_the_authors(model):
    # lower-case, split on [\w']+, look up (token = position + 1), drop unknown, pad to 16
    vocab = model.vocabulary
    t = model.tokenize("Reach THE goal, xyzzy!")
    assert t.ids.tolist() == [vocab["reach"], vocab["the"], vocab["goal"]] + [0] * 13
    assert t.unknown == ("xyzzy",) and t.cut == ()
    assert vocab[model.words[0]] == 1
    long = model.tokenize(" ".join(["the"] * 20))
    assert long.ids.tolist() == [vocab["the"]] * 16 and len(long.cut) == 4


def test_prompt_of_unknown_words_is_refused_and_unknown_words_warn(model):
    with pytest.raises(BadInput, match="no word of the prompt 'xyzzy plugh'"):
        RoboCLIPReward(model, "xyzzy plugh")
    with pytest.warns(UserWarning, match=r"1 word\(s\) not in the S3D dictionary \(xyzzy\)"):
        RoboCLIPReward(model, "reach the xyzzy goal")


def test_crop_and_stride_pick_the_authors_frames(model):
    steps = 20
    rows, cols = np.meshgrid(np.arange(480), np.arange(640), indexing="ij")
    frames = np.zeros((steps + 1, 480, 640, 3), np.uint8)
    frames[..., 0] = np.arange(steps + 1)[:, None, None]  # the frame index
    frames[..., 1], frames[..., 2] = rows % 256, cols % 256  # the pixel's position
    picked = picked_frames(steps)
    np.testing.assert_array_equal(picked, [1, 5, 9, 13, 17])  # o_1, every 4th; o_0 not kept
    assert len(picked_frames(128)) == 32  # the authors' 128-step episodes: 32 frames
    x = RoboCLIPReward(model, TEXT).video(frames[picked])
    assert x.shape == (1, 3, 6, 250, 250) and x.dtype == torch.float32  # odd count: last repeated
    np.testing.assert_array_equal(x[0, 0, :, 0, 0], [1, 5, 9, 13, 17, 17])
    np.testing.assert_array_equal(x[0, 1, 0, :, 0], np.arange(115, 365) % 256)  # rows 115..364
    np.testing.assert_array_equal(x[0, 2, 0, 0, :], np.arange(195, 445) % 256)  # cols 195..444
    assert x.max() > 1  # pixel values 0..255, as the authors' Meta-World code feeds them


def test_reward_is_the_dot_product_at_the_last_step_only(model):
    rng = np.random.default_rng(0)
    ep = episode(rng)
    reward = RoboCLIPReward(model, TEXT)
    parts = reward(ep)
    assert set(parts) == {"s3d", "total"} and parts["total"].dtype == np.float32
    assert not parts["total"][:-1].any() and parts["total"][-1] != 0
    video = video_tensor(centre_crop(ep.image[[1, 5, 9, 13, 17]]))
    expected = float(model.encode_video(video)[0] @ model.encode_text([TEXT])[0])
    assert parts["total"][-1] == pytest.approx(expected, rel=1e-6)
    # online: only the picked frames are rendered (at 480x640), and the result is the same
    from genreward_cli.rewards.online import OnlineReward

    renders = []

    class Env:
        def render_at(self, h, w):
            renders.append((t, h, w))
            return ep.image[t]

    online = OnlineReward(reward, Env(), ep.length, (64, 64, 3), 4)
    t = 0
    online.reset({"image": np.zeros((64, 64, 3), np.uint8)})
    totals = []
    for k in range(ep.length):
        t = k + 1
        totals.append(online.step({"image": np.zeros((64, 64, 3), np.uint8)}, ep.action[k], 0.0,
                                  0.0, k == ep.length - 1)["total"])
    np.testing.assert_allclose(totals, parts["total"], rtol=1e-6)
    assert renders == [(i, 480, 640) for i in (1, 5, 9, 13, 17)]
    assert reward.frame_plan(20)[FRAMES].size == (480, 640)
    # a demonstration video instead of the text: its whole frames, every one
    demo = rng.integers(0, 256, (7, 96, 128, 3), dtype=np.uint8)
    with_demo = RoboCLIPReward(model, "", demo)(ep)["total"][-1]
    target = model.encode_video(video_tensor(demo))[0]
    assert with_demo == pytest.approx(float(model.encode_video(video)[0] @ target), rel=1e-6)
    with pytest.raises(BadInput, match="frames are 64x64; roboclip reads 480x640"):
        reward(episode(rng, size=(64, 64)))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    d = tmp_path_factory.mktemp("roboclip")
    env = ["--task", "reach-v3", "--max-steps", 20, "--episodes", 1, "--size", 480, "--width", 640]
    assert run("collect", *env, "--policy", "expert", "--out", d / "expert.h5").exit_code == 0
    assert run("collect", *env, "--seed", 1, "--out", d / "random.h5").exit_code == 0
    return d


def test_score_reward_cli(recorded, tmp_path):
    d = recorded
    eps = [d / "expert.h5", d / "random.h5"]
    r = run("score-reward", *eps, "--reward", "roboclip", "--s3d-model", "tiny",
            "--out", tmp_path / "s.h5", "--json")
    assert r.exit_code == 0, r.stderr
    assert set(json.loads(r.stdout)["components"]) == {"s3d"}
    with store.open_artifact(tmp_path / "s.h5", "reward_score") as art:
        assert art.file["components/s3d"][()].all()  # one non-zero reward per episode
    r = run("score-reward", *eps, "--reward", "roboclip", "--s3d-model", "tiny",
            "--roboclip-demo", d / "expert.h5", "--out", tmp_path / "demo.h5")
    assert r.exit_code == 0, r.stderr
    with store.open_artifact(tmp_path / "demo.h5") as art:
        assert any(p["kind"] == "episodes" and p["path"].endswith("expert.h5")
                   for p in json.loads(art.attrs["parents"]))
    r = run("score-reward", *eps, "--reward", "clip-video", "--clip-model", "tiny",
            "--out", tmp_path / "c.h5")
    assert r.exit_code == 0, r.stderr
    for args, message in [([], "needs --s3d-model"),
                          (["--s3d-model", tmp_path / "none"], "not a directory")]:
        r = run("score-reward", *eps, "--reward", "roboclip", *args, "--out", tmp_path / "bad.h5")
        assert r.exit_code == 2 and message in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def test_train_agent_with_roboclip(tmp_path):
    r = run("train-agent", "--task", "reach-v3", "--reward", "roboclip", "--s3d-model", "tiny",
            "--preset", "tiny", "--max-steps", 12, "--prefill", 10, "--train-ratio", 2,
            "--batch", 2, "--length", 4, "--eval-every", 0, "--steps", 30,
            "--out", tmp_path / "run", "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 30 and summary["updates"] > 0
    assert summary["reward_cost"]["calls"] == 2  # once per finished 12-step episode
