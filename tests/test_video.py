import json
import re
import shutil
from pathlib import Path

import h5py
import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from genreward_cli import store
from genreward_cli.video.clips import Clip, resample, uniform_indices
from helpers import moving_square, run


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "tiny"
    result = run("init-model", "--preset", "tiny", "--out", out)
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def clips_file(tmp_path_factory):
    """A `videos` artifact of moving squares (the import-videos layout)."""
    path = tmp_path_factory.mktemp("data") / "videos.h5"
    with store.write_artifact(path, "videos", config={}) as h5:
        for k in range(3):
            g = h5.create_group(f"videos/{k:06d}")
            store.frames_dataset(g, "frames", moving_square(k, frames=17))
            g.attrs.update(prompt="push the red square", source=f"square{k}.mp4", fps=8.0)
    return path


@pytest.mark.parametrize("length", [16, 49, 128, 257])
def test_uniform_indices_span_first_and_last(length):
    idx = uniform_indices(length, 16)
    assert idx.shape == (16,) and idx.dtype == np.int64
    assert idx[0] == 0 and idx[-1] == length - 1
    assert np.all(np.diff(idx) >= 0)
    if length >= 16:
        assert len(set(idx.tolist())) == 16


def test_resample_resizes_and_samples():
    video = moving_square(0, frames=33, size=64)
    out = resample(video, 9, 32, 48)
    assert out.shape == (9, 32, 48, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(resample(video, 33, 64, 64), video)


def test_tiny_preset_round_trips_through_plain_diffusers(tiny_dir):
    from diffusers import CogVideoXImageToVideoPipeline

    from genreward_cli.video.presets import build_tiny_pipeline

    loaded = CogVideoXImageToVideoPipeline.from_pretrained(tiny_dir)
    built = build_tiny_pipeline(seed=0)
    for name in ("transformer", "vae", "text_encoder"):
        a = dict(getattr(loaded, name).state_dict())
        b = dict(getattr(built, name).state_dict())
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], msg=f"{name}.{key}")
    ids = loaded.tokenizer("pick up the blue fork").input_ids
    assert loaded.tokenizer.convert_ids_to_tokens(ids)[:2] == ["\u2581pick", "\u2581up"]


def test_generate_shape_and_seed_determinism(tiny_dir, tmp_path):
    outs = {}
    for name, seed in [("a", 0), ("b", 0), ("c", 1)]:
        result = run("generate", "--task", "reach-v3", "--model", tiny_dir, "--frames", 9,
                     "--steps", 3, "--seed", seed, "--out", tmp_path / f"{name}.h5",
                     *(["--mp4", tmp_path / "a.mp4"] if name == "a" else []))
        assert result.exit_code == 0, result.stderr
        with store.open_artifact(tmp_path / f"{name}.h5", "goal_video") as art:
            outs[name] = art.file["frames"][()]
            if name == "a":
                assert art.attrs["prompt"] == "reach the goal position with the gripper"
                assert art.attrs["task"] == "reach-v3" and art.attrs["fps"] == 8
                assert art.attrs["seed"] == 0
                assert art.config["steps"] == 3 and art.config["guidance"] == 6.0
                assert art.file["condition_image"].shape == (64, 64, 3)
    assert outs["a"].shape == (9, 64, 64, 3) and outs["a"].dtype == np.uint8
    np.testing.assert_array_equal(outs["a"], outs["b"])
    assert not np.array_equal(outs["a"], outs["c"])  # another seed: another scene and noise
    assert len(imageio.mimread(tmp_path / "a.mp4")) == 9


def test_inspect_goal_videos_clips_and_model_folders(tiny_dir, clips_file, tmp_path):
    """inspect: a goal video's frame by STEP alone, summaries of `goal_video` and `videos`,
    and a model folder's parts with parameter counts read from the weight headers."""
    from diffusers import CogVideoXTransformer3DModel

    gv = tmp_path / "gv.h5"
    result = run("generate", "--task", "reach-v3", "--model", tiny_dir, "--frames", 9,
                 "--steps", 2, "--out", gv)
    assert result.exit_code == 0, result.stderr
    result = run("inspect", gv, "--frame", "8", tmp_path / "last.png")
    assert result.exit_code == 0, result.stderr
    assert f"wrote {tmp_path / 'last.png'}" in result.stderr
    with h5py.File(gv) as h5:
        np.testing.assert_array_equal(imageio.imread(tmp_path / "last.png"), h5["frames"][8])
    result = run("inspect", gv, "--frame", "1:8", tmp_path / "x.png")
    assert result.exit_code == 2 and "holds one video, not episode 1" in result.stderr
    result = run("inspect", clips_file, "--frame", "8", tmp_path / "x.png")
    assert result.exit_code == 2 and "holds 3 videos; give --frame EPISODE:STEP" in result.stderr
    assert not (tmp_path / "x.png").exists()

    summary = json.loads(run("inspect", gv, "--json").stdout)["summary"]
    assert summary["frames"] == 9 and summary["image"] == [64, 64, 3]
    assert summary["mode"] == "image-to-video"
    summary = json.loads(run("inspect", clips_file, "--json").stdout)["summary"]
    assert summary == {"clips": 3, "frames": [17, 17], "image": [64, 64, 3], "prompts": 1}

    result = run("inspect", tiny_dir, "--json")
    assert result.exit_code == 0, result.stderr
    rep = json.loads(result.stdout)
    assert rep["kind"] == "diffusers pipeline CogVideoXImageToVideoPipeline"
    assert set(rep["components"]) == {"scheduler", "text_encoder", "tokenizer", "transformer", "vae"}
    transformer = CogVideoXTransformer3DModel.from_pretrained(tiny_dir, subfolder="transformer")
    assert rep["components"]["transformer"]["parameters"] == sum(
        v.numel() for v in transformer.state_dict().values())
    result = run("inspect", tiny_dir)
    assert result.exit_code == 0 and "transformer: diffusers.CogVideoXTransformer3DModel" in result.stdout
    result = run("inspect", tiny_dir, "--video", tmp_path / "v.mp4")
    assert result.exit_code == 2 and "a folder, not an artifact; --video needs" in result.stderr
    result = run("inspect", tmp_path)
    assert result.exit_code == 2 and "a folder holding no artifact or model" in result.stderr
    broken = tmp_path / "broken"  # a truncated download: one line, exit 2
    (broken / "vae").mkdir(parents=True)
    (broken / "model_index.json").write_text('{"vae": ["diffusers", "AutoencoderKLCogVideoX"]}')
    (broken / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x00" * 7)
    result = run("inspect", broken)
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "cannot read the model folder: diffusion_pytorch_model.safetensors" in result.stderr
    partial = tmp_path / "partial"  # a copy that lost a part's weights, or a part
    shutil.copytree(tiny_dir, partial)
    for f in (partial / "transformer").glob("*.safetensors"):
        f.unlink()
    result = run("inspect", partial)
    assert result.exit_code == 2 and "transformer/ has a config.json but no weights" \
        in result.stderr, result.stderr
    shutil.rmtree(partial / "transformer")
    result = run("inspect", partial)
    assert result.exit_code == 2 and "transformer/ is missing" in result.stderr, result.stderr
    (broken / "model_index.json").write_text("[1, 2]")  # JSON, but not a pipeline's index
    result = run("inspect", broken)
    assert result.exit_code == 2 and "model_index.json holds a JSON list, not an object" \
        in result.stderr
    # a part of a pipeline is one diffusers model; a run stopped before its first checkpoint
    # (its config.json alone) is no model
    rep = json.loads(run("inspect", tiny_dir / "transformer", "--json").stdout)
    assert rep["kind"] == "diffusers model CogVideoXTransformer3DModel"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text('{"reward": "env", "agent": {}}')
    result = run("inspect", run_dir)
    assert result.exit_code == 2 and f"{run_dir}: no log.h5 yet: a train-agent run writes it " \
        "at its first checkpoint (--checkpoint-every episodes); it is running, or stopped " \
        "before that" in result.stderr, result.stderr
    (run_dir / "checkpoint.pt").write_bytes(b"")  # interrupted while writing its log
    result = run("inspect", run_dir)
    assert result.exit_code == 2 and "a checkpoint but no log.h5 (interrupted while writing " \
        "it)" in result.stderr, result.stderr


def test_generate_from_image_and_bad_inputs(tiny_dir, tmp_path):
    imageio.imwrite(tmp_path / "ok.png", moving_square(0)[0])
    imageio.imwrite(tmp_path / "small.png", moving_square(0, size=32)[0])
    out = tmp_path / "gv.h5"
    result = run("generate", "--prompt", "push the red square", "--image", tmp_path / "ok.png",
                 "--model", tiny_dir, "--frames", 9, "--steps", 2, "--seed", 5, "--out", out)
    assert result.exit_code == 0, result.stderr
    with store.open_artifact(out, "goal_video") as art:  # the noise seed, without a task
        assert art.attrs["seed"] == 5 and "task" not in art.attrs
    bad = [
        (["--image", tmp_path / "small.png", "--prompt", "x"],
         "condition image is 32x32, the video is 64x64"),
        (["--task", "reach-v3", "--frames", 10], "--frames 10: CogVideoX 1.0 needs 8k+1 frames"),
        (["--task", "reach-v3", "--model", tmp_path / "missing"], "no such directory"),
        (["--task", "reach-v3", "--image", tmp_path / "ok.png"], "at most one of --image and --task"),
        (["--image", tmp_path / "ok.png"], "--prompt is required"),
    ]
    if not torch.cuda.is_available():
        bad.append((["--task", "reach-v3", "--cpu-offload"], "--cpu-offload keeps sub-models"))
    for args, message in bad:
        args = args if "--model" in args else [*args, "--model", tiny_dir]
        target = tmp_path / "bad.h5"
        result = run("generate", *args, "--steps", 2, "--out", target)
        assert result.exit_code == 2, (args, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert not target.exists() and not (tmp_path / "bad.h5.tmp").exists()


def test_finetune_overfits_a_fixed_set_of_clips():
    """LoRA finetuning of the tiny model on four clips lowers the loss at fixed draws
    (batch, noise, timestep) by at least 10% in 150 steps (measured: 19%)."""
    from accelerate import Accelerator

    from genreward_cli.video.finetune import FinetuneConfig, VideoFinetuner
    from genreward_cli.video.model import load_pipeline

    torch.manual_seed(0)
    clips = [Clip(moving_square(i), "push the red square") for i in range(4)]
    config = FinetuneConfig(lr=3e-3, lora_rank=8, lora_alpha=8)
    tuner = VideoFinetuner(load_pipeline("tiny"), config, seed=0, accelerator=Accelerator(cpu=True))
    data = tuner.prepare(clips)
    assert data.latent_mean.shape == (4, 3, 4, 8, 8)  # N, latent frames, C, h, w
    before = tuner.eval_loss(data)
    for _ in range(150):
        tuner.train_step(data)
    after = tuner.eval_loss(data)
    assert after < 0.9 * before, (before, after)
    assert all(n.count("lora") for n in tuner.trainable_state())  # only adapters train


def test_finetune_says_when_a_prompt_is_longer_than_the_model_reads():
    """`generate` warned that a long prompt is cut; finetuning on it was silent, though the
    model learns its first tokens only."""
    import warnings

    from accelerate import Accelerator

    from genreward_cli.video.finetune import FinetuneConfig, VideoFinetuner
    from genreward_cli.video.model import load_pipeline

    tuner = VideoFinetuner(load_pipeline("tiny"), FinetuneConfig(), seed=0,
                           accelerator=Accelerator(cpu=True))
    limit = tuner.info.text_length
    long = " ".join(["push the red square"] * limit)
    with pytest.warns(UserWarning, match=rf"^1 training prompt is longer than the {limit} "
                      r"tokens the model reads, e\.g\. \d+ tokens of which it learns 'push the "
                      r"red square.*' only; shorten"):
        tuner.prepare([Clip(moving_square(0), long), Clip(moving_square(1), long),
                       Clip(moving_square(2), "push it")])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        tuner.prepare([Clip(moving_square(0), "push it")])
    assert not [w for w in seen if "tokens the model reads" in str(w.message)]


def test_finetune_cli_resumes_exactly_and_generate_loads_it(clips_file, tmp_path, monkeypatch):
    common = ["--videos", clips_file, "--model", "tiny", "--lr", "3e-3", "--lora-rank", 4,
              "--lora-alpha", 4, "--checkpoint-every", 3]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert run("finetune", *common, "--steps", 6, "--out", straight).exit_code == 0
    assert run("finetune", *common, "--steps", 3, "--out", split).exit_code == 0
    result = run("finetune", *common, "--steps", 6, "--out", split)
    assert result.exit_code == 2 and "--resume" in result.stderr
    result = run("finetune", *common, "--steps", 6, "--lr", "1e-3", "--out", split, "--resume")
    assert result.exit_code == 2
    assert "checkpoint was made with other options: lr" in result.stderr, result.stderr
    # another seed or other clips: refused before the model is loaded (they went on as the
    # run's, and the log recorded the new ones)
    result = run("finetune", *common, "--steps", 6, "--seed", 3, "--out", split, "--resume")
    assert result.exit_code == 2 and "was made with other options: seed=0 (now 3)" in \
        result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    other = tmp_path / "other.h5"
    other.write_bytes(clips_file.read_bytes())
    with h5py.File(other, "r+") as f:
        f.attrs["created_at"] = "another file"
    result = run("finetune", *[other if a == clips_file else a for a in common], "--steps", 6,
                 "--out", split, "--resume")
    assert result.exit_code == 2 and "other options: the input files" in result.stderr, \
        result.stderr
    # SIGTERM while the model is exported, after the last checkpoint: kept, and said so
    from genreward_cli.errors import Terminated
    from genreward_cli.video.finetune import VideoFinetuner

    def cut_export(*args, **kwargs):
        raise Terminated()

    with monkeypatch.context() as m:
        m.setattr(VideoFinetuner, "export", cut_export)
        result = run("finetune", *common, "--steps", 3, "--out", tmp_path / "cut")
    assert result.exit_code == 143 and result.stderr.strip().endswith(
        f"checkpoints kept in {tmp_path / 'cut'}/checkpoints: rerun with --resume to export "
        "the model"), result.stderr
    assert (tmp_path / "cut" / "checkpoints").is_dir()
    # a damaged latest checkpoint: one line naming it and the one before it (EOFError before)
    damaged = split / "checkpoints" / "step-0000009.pt"
    damaged.write_bytes(b"")
    result = run("finetune", *common, "--steps", 12, "--out", split, "--resume")
    assert result.exit_code == 2 and result.stderr.strip() == (
        f"Error: {damaged}: a damaged checkpoint (an empty file); remove it to "
        "resume from the checkpoint before it, or start over with --force"), result.stderr
    damaged.unlink()
    # how often it saves may change (it was refused as another option)
    monkeypatch.chdir(tmp_path)
    result = run("finetune", *common, "--steps", 6, "--checkpoint-every", 6, "--out", "split",
                 "--resume", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["steps"] == 6
    assert json.loads(result.stdout)["out"] == str(split)  # absolute, as a new run's
    logs = []
    for d in (straight, split):
        with store.open_artifact(d / "finetune_log.h5", "finetune_log") as art:
            logs.append(art.file["metrics/loss"][()])
            assert art.parents[0]["kind"] == "videos"
    np.testing.assert_array_equal(logs[0], logs[1])
    a = torch.load(straight / "checkpoints" / "step-0000006.pt", weights_only=True)["trainable"]
    b = torch.load(split / "checkpoints" / "step-0000006.pt", weights_only=True)["trainable"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    # the output is a plain diffusers directory that generate loads, and differs from the base
    result = run("generate", "--task", "reach-v3", "--model", split, "--frames", 9, "--steps", 2,
                 "--out", tmp_path / "gv.h5")
    assert result.exit_code == 0, result.stderr
    from diffusers import CogVideoXImageToVideoPipeline

    tuned = CogVideoXImageToVideoPipeline.from_pretrained(split).transformer.state_dict()
    base = CogVideoXImageToVideoPipeline.from_pretrained(
        __import__("genreward_cli.video.model", fromlist=["resolve"]).resolve("tiny")
    ).transformer.state_dict()
    assert any(not torch.equal(tuned[k], base[k]) for k in base)
    assert (split / "lora" / "pytorch_lora_weights.safetensors").exists()


def test_finetune_bad_inputs(tmp_path):
    gv = tmp_path / "gv.h5"
    with store.write_artifact(gv, "goal_video", config={}) as h5:
        store.frames_dataset(h5, "frames", moving_square(0))
        store.array_dataset(h5, "condition_image", moving_square(0)[0])
    out = tmp_path / "ft"
    result = run("finetune", "--videos", gv, "--model", "tiny", "--out", out)
    assert result.exit_code == 2 and "kind is 'goal_video', expected 'episodes' or 'videos'" in result.stderr
    result = run("finetune", "--videos", tmp_path / "none.h5", "--model", "tiny", "--out", out)
    assert result.exit_code == 2 and "no such file" in result.stderr
    result = run("finetune", "--videos", gv, "--model", "tiny", "--out", out, "--resume")
    assert result.exit_code == 2 and "no checkpoint" in result.stderr
    assert not out.exists()


def test_import_videos_reads_a_folder_with_prompts(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    for k in range(2):
        imageio.mimsave(folder / f"c{k}.mp4", list(moving_square(k, frames=20)), fps=10,
                        macro_block_size=1)
    (folder / "prompts.csv").write_text("file,prompt\nc0.mp4,push the red square\nc1.mp4,slide it\n")
    out = tmp_path / "videos.h5"
    with pytest.warns(UserWarning, match=r"^2 clips stretched to another aspect ratio"):
        result = run("import-videos", folder, "--prompts", folder / "prompts.csv", "--frames", 9,
                     "--height", 32, "--width", 48, "--out", out)
    assert result.exit_code == 0, result.stderr
    with store.open_artifact(out, "videos") as art:
        assert art.groups() == ["000000", "000001"]
        g = art.file["videos/000001"]
        assert g["frames"].shape == (9, 32, 48, 3) and g.attrs["prompt"] == "slide it"
        assert g.attrs["fps"] == 10
    (folder / "prompts.csv").write_text("file,prompt\nc0.mp4,push the red square\n")
    result = run("import-videos", folder, "--prompts", folder / "prompts.csv", "--out",
                 tmp_path / "v2.h5")
    assert result.exit_code == 2 and "no prompt for c1.mp4" in result.stderr
    assert not (tmp_path / "v2.h5").exists()


def test_import_videos_never_overwrites_its_inputs_and_finds_camera_names(tmp_path):
    """`--out prompts.csv --force` or `--out clips/c0.mp4 --force` replaced the user's CSV or
    video with HDF5; an --out named like a video inside the folder broke its next import;
    `C1.MP4` (a camera's name) was no video, and macOS's `._c0.mp4` companion was one."""
    folder = tmp_path / "clips"
    folder.mkdir()
    imageio.mimsave(folder / "c0.mp4", list(moving_square(0, frames=10)), fps=10,
                    macro_block_size=1)
    imageio.mimsave(folder / "C1.MP4", list(moving_square(1, frames=10)), fps=10,
                    macro_block_size=1)
    (folder / "._c0.mp4").write_bytes(b"\0\5\26\7AppleDouble")
    csv = tmp_path / "prompts.csv"
    csv.write_text("file,prompt\nc0.mp4,push it\nC1.MP4,slide it\n")
    before = {p: p.read_bytes() for p in (csv, folder / "c0.mp4")}
    small = ["--frames", 5, "--height", 16, "--width", 16]
    for out, says in [(csv, "is an input of this command"),
                      (folder / "c0.mp4", "is an input of this command"),
                      (folder / "new.mp4", "which the next import of it would read as a video")]:
        r = run("import-videos", folder, "--prompts", csv, *small, "--out", out, "--force")
        assert r.exit_code == 2 and says in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert {p: p.read_bytes() for p in before} == before and not (folder / "new.mp4").exists()
    r = run("import-videos", folder, "--prompts", csv, *small, "--out", tmp_path / "v.h5")
    assert r.exit_code == 0, r.stderr
    with store.open_artifact(tmp_path / "v.h5", "videos") as art:
        assert sorted(Path(art.file[f"videos/{k}"].attrs["source"]).name
                      for k in art.groups()) == ["C1.MP4", "c0.mp4"]
    twice = tmp_path / "twice.csv"
    twice.write_text("file,prompt\nc0.mp4,push it\nC1.MP4,slide it\nc0.mp4,lift it\n")
    r = run("import-videos", folder, "--prompts", twice, *small, "--out", tmp_path / "t.h5")
    assert r.exit_code == 2 and "'c0.mp4' is listed twice, with different prompts " \
        "('push it', 'lift it')" in r.stderr, r.stderr
    nested = tmp_path / "nested"
    (nested / "sub").mkdir(parents=True)
    (folder / "c0.mp4").rename(nested / "sub" / "c0.mp4")
    r = run("import-videos", nested, "--prompts", csv, "--out", tmp_path / "n.h5")
    assert r.exit_code == 2 and "subfolders are read where the CSV lists their files by path " \
        "from the folder (`sub/clip.mp4`): sub holds videos" in r.stderr, r.stderr
    # listed by name alone: said where it is; by its path: read (a name with a space)
    (nested / "sub" / "c0.mp4").rename(nested / "sub" / "c 0.mp4")
    (nested / "C1.MP4").write_bytes((folder / "C1.MP4").read_bytes())
    by_name = tmp_path / "by_name.csv"
    by_name.write_text("file,prompt\nc 0.mp4,push it\nC1.MP4,slide it\n")
    r = run("import-videos", nested, "--prompts", by_name, *small, "--out", tmp_path / "n.h5")
    assert r.exit_code == 2 and "lists files not in" in r.stderr and \
        "by path from the folder" in r.stderr, r.stderr
    by_path = tmp_path / "by_path.csv"
    by_path.write_text("file,prompt\nsub/c 0.mp4,push it\nC1.MP4,slide it\n"
                       "../elsewhere.mp4,x\n")
    r = run("import-videos", nested, "--prompts", by_path, *small, "--out", tmp_path / "n.h5")
    assert r.exit_code == 2 and "lists files not in" in r.stderr and "../elsewhere.mp4" in \
        r.stderr, r.stderr
    by_path.write_text("file,prompt\nsub/c 0.mp4,push it\nC1.MP4,slide it\n")
    r = run("import-videos", nested, "--prompts", by_path, *small, "--out", tmp_path / "n.h5")
    assert r.exit_code == 0, r.stderr
    with store.open_artifact(tmp_path / "n.h5", "videos") as art:
        got = {Path(art.file[f"videos/{k}"].attrs["source"]).name:
               art.file[f"videos/{k}"].attrs["prompt"] for k in art.groups()}
    assert got == {"C1.MP4": "slide it", "c 0.mp4": "push it"}


def test_import_streams_a_clip_as_resample_reads_it_whole(tmp_path, monkeypatch):
    """import-videos decoded a whole clip before resampling it (a long 1080p clip needed its
    full size in memory); it now streams it and keeps only the frames it samples, with the
    same pixels as resampling the whole clip. A wrong packet count (as a variable frame rate
    gives) is corrected by a second decoding pass."""
    import imageio.v3 as iio

    from genreward_cli.stages import import_videos
    from genreward_cli.video.clips import resample

    rng = np.random.default_rng(0)
    video = rng.integers(0, 255, (23, 24, 40, 3), dtype=np.uint8)
    imageio.mimsave(tmp_path / "a.mp4", list(video), fps=10, macro_block_size=1)
    imageio.mimsave(tmp_path / "a.gif", list(video[:7]), duration=50)
    assert import_videos.count_packets(tmp_path / "a.mp4") == 23
    for name, count, h, w in [("a.mp4", 9, 16, 24), ("a.mp4", 30, 24, 40), ("a.mp4", 0, 8, 8),
                              ("a.gif", 5, 0, 0), ("a.gif", 9, 12, 12)]:
        whole = np.asarray(iio.imread(tmp_path / name, index=None))
        clip = import_videos.read_clip(tmp_path / name, count, h, w)
        np.testing.assert_array_equal(
            clip.frames, resample(whole, count or len(whole), h or 24, w or 40))
        assert clip.length == len(whole) and clip.size == (24, 40)
    assert import_videos.read_clip(tmp_path / "a.gif", 3, 0, 0).fps == 20.0
    whole = np.asarray(iio.imread(tmp_path / "a.mp4", index=None))
    for wrong in (None, 5, 40):
        monkeypatch.setattr(import_videos, "count_packets", lambda path, n=wrong: n)
        clip = import_videos.read_clip(tmp_path / "a.mp4", 9, 16, 24)
        np.testing.assert_array_equal(clip.frames, resample(whole, 9, 16, 24))
        assert clip.length == 23


def test_import_videos_says_when_it_repeats_frames_or_stretches(tmp_path):
    """Clips shorter than --frames had frames repeated, and clips of another aspect ratio were
    stretched, silently; one warning each now names the clips."""
    folder = tmp_path / "clips"
    folder.mkdir()
    imageio.mimsave(folder / "short.mp4", list(moving_square(0, frames=6)), fps=10,
                    macro_block_size=1)
    wide = np.concatenate([moving_square(1, frames=12)] * 2, axis=2)  # 64x128: 1:2
    imageio.mimsave(folder / "wide.mp4", list(wide), fps=10, macro_block_size=1)
    csv = tmp_path / "prompts.csv"
    csv.write_text("file,prompt\nshort.mp4,push it\nwide.mp4,slide it\n")
    with pytest.warns(UserWarning) as caught:
        r = run("import-videos", folder, "--prompts", csv, "--frames", 9, "--height", 32,
                "--width", 32, "--out", tmp_path / "v.h5")
    assert r.exit_code == 0, r.stderr
    said = sorted(str(w.message) for w in caught if w.category is UserWarning)
    assert said == ["1 clip shorter than --frames 9, frames repeated: short.mp4 (6)",
                    "1 clip stretched to another aspect ratio (--height 32 --width 32, height "
                    "x width): wide.mp4 64x128; give --width/--height of the clips' ratio, or "
                    "0 for the source's"], said
    with store.open_artifact(tmp_path / "v.h5", "videos") as art:
        assert [art.file[f"videos/{k}/frames"].shape for k in art.groups()] == [(9, 32, 32, 3)] * 2


def test_import_videos_matches_names_whatever_their_unicode_form(tmp_path):
    """A file named in decomposed form (as macOS writes `café`) matches the CSV's composed
    `café` (and the other way round)."""
    import unicodedata

    folder = tmp_path / "clips"
    folder.mkdir()
    nfd, nfc = (unicodedata.normalize(f, "café.mp4") for f in ("NFD", "NFC"))
    assert nfd != nfc
    imageio.mimsave(folder / nfd, list(moving_square(0, frames=10)), fps=10, macro_block_size=1)
    imageio.mimsave(folder / unicodedata.normalize("NFC", "thé.mp4"),
                    list(moving_square(1, frames=10)), fps=10, macro_block_size=1)
    csv = folder / "prompts.csv"
    csv.write_text(f"file,prompt\n{nfc},pour the coffee\n"
                   f"{unicodedata.normalize('NFD', 'thé.mp4')},pour the tea\n", encoding="utf-8")
    out = tmp_path / "videos.h5"
    result = run("import-videos", folder, "--prompts", csv, "--frames", 5, "--height", 16,
                 "--width", 16, "--out", out)
    assert result.exit_code == 0, result.stderr
    with store.open_artifact(out, "videos") as art:
        prompts = sorted(art.file[f"videos/{k}"].attrs["prompt"] for k in art.groups())
    assert prompts == ["pour the coffee", "pour the tea"]


def test_condition_images_as_users_have_them(tmp_path):
    """generate --image read the stored pixels: a phone's JPEG went in sideways (EXIF
    orientation), an opaque RGBA screenshot was refused as having alpha, a CMYK JPEG too,
    grayscale and 16-bit PNGs failed with a message naming neither file nor option, and a
    file that is no image (or a truncated one) was exit 1 with imageio's plugin advice."""
    from PIL import Image

    from genreward_cli.errors import BadInput
    from genreward_cli.stages.generate import read_image

    rgb = np.zeros((40, 64, 3), np.uint8)
    rgb[:20] = (250, 0, 0)  # the top half red, as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: the red half on the right
    Image.fromarray(rgb).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    shown = read_image(tmp_path / "phone.jpg")
    assert shown.shape == (64, 40, 3) and shown.dtype == np.uint8
    assert shown[:, 20:, 0].mean() > 200 and shown[:, :20, 0].mean() < 50
    opaque = np.dstack([rgb, np.full((40, 64), 255, np.uint8)])
    Image.fromarray(opaque, "RGBA").save(tmp_path / "shot.png")
    np.testing.assert_array_equal(read_image(tmp_path / "shot.png"), rgb)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "print.jpg")
    assert read_image(tmp_path / "print.jpg").shape == (40, 64, 3)
    gray16 = (np.arange(40 * 64, dtype=np.uint16).reshape(40, 64) * 25)
    Image.fromarray(gray16).save(tmp_path / "depth.png")
    with pytest.warns(UserWarning, match="grayscale image, scaled to 8 bits"):
        out = read_image(tmp_path / "depth.png")
    assert out.dtype == np.uint8 and out.shape == (40, 64, 3)
    assert out[-1, -1, 0] == round(int(gray16[-1, -1]) / 65535 * 255)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.png")
    with pytest.warns(UserWarning, match="a grayscale image, used as RGB"):
        np.testing.assert_array_equal(read_image(tmp_path / "gray.png")[..., 2], rgb[..., 0])
    clear = opaque.copy()
    clear[0, 0, 3] = 0
    Image.fromarray(clear, "RGBA").save(tmp_path / "cutout.png")
    (tmp_path / "fake.png").write_text("not an image")
    whole = (tmp_path / "depth.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[:len(whole) // 2])  # a download cut short
    for name, says in [("cutout.png", "has transparent pixels"),
                       ("fake.png", "not a readable image"), ("cut.png", "not a readable image")]:
        with pytest.raises(BadInput, match=f"^--image {tmp_path / name}: {says}"):
            read_image(tmp_path / name)


def test_import_videos_on_an_audio_file_and_a_rotated_clip(tmp_path, caplog):
    """An audio-only .mp4 said "Error opening output files: Invalid argument"; a phone's clip
    with a rotation in its metadata came upright but put imageio-ffmpeg's "The frame size
    for reading ... is different" on stderr twice. The first names what is missing, the
    second imports without the line."""
    import logging
    import subprocess

    import imageio_ffmpeg

    ff = imageio_ffmpeg.get_ffmpeg_exe()
    for name in ("audio", "phone"):
        (tmp_path / name).mkdir()
    subprocess.run([ff, "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=1", tmp_path / "audio" / "a.mp4"], check=True)
    plain = tmp_path / "plain.mp4"
    subprocess.run([ff, "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=96x64:rate=10:duration=1", "-pix_fmt", "yuv420p", plain],
                   check=True)
    subprocess.run([ff, "-y", "-loglevel", "error", "-display_rotation:v:0", "90", "-i", plain,
                    "-c", "copy", tmp_path / "phone" / "p.mp4"], check=True)
    (tmp_path / "audio.csv").write_text("file,prompt\na.mp4,beep\n")
    (tmp_path / "phone.csv").write_text("file,prompt\np.mp4,push it\n")
    r = run("import-videos", tmp_path / "audio", "--prompts", tmp_path / "audio.csv",
            "--out", tmp_path / "a.h5")
    assert r.exit_code == 2, r.stderr
    assert r.stderr.strip() == (f"Error: {tmp_path / 'audio' / 'a.mp4'}: cannot read video: "
                                "the file has no video stream, only audio"), r.stderr
    assert not (tmp_path / "a.h5").exists()
    with caplog.at_level(logging.WARNING, logger="imageio_ffmpeg"):
        r = run("import-videos", tmp_path / "phone", "--prompts", tmp_path / "phone.csv",
                "--frames", 0, "--height", 0, "--width", 0,
                "--out", tmp_path / "p.h5")
    assert r.exit_code == 0, r.stderr
    assert not [rec for rec in caplog.records if "frame size for reading" in rec.getMessage()]
    with store.open_artifact(tmp_path / "p.h5", "videos") as art:
        assert art.file["videos/000000/frames"].shape == (10, 96, 64, 3)  # upright: 64 wide


@pytest.mark.parametrize("text, message", [
    ('file,prompt\nb.mp4,ok\n"a.mp4,x\nc.mp4,y\n', "line 3: a quote (\") that is not closed"),
    ('file,prompt\n"a.mp4,x', "line 2: a quote (\") that is not closed"),
    ("file,prompt\nb.mp4,ok\na.mp4\n", "line 3: 'a.mp4' has no prompt"),
    ("file,prompt\nb.mp4,\n", "empty prompt for 'b.mp4'"),
])
def test_a_prompts_csv_row_that_cannot_be_read_is_named(tmp_path, text, message):
    """An unclosed quote read the rest of the file as one file name, said as an empty
    prompt for it; each row that cannot be read is named by its line."""
    from genreward_cli.errors import BadInput
    from genreward_cli.stages.import_videos import read_prompts

    (tmp_path / "prompts.csv").write_text(text)
    with pytest.raises(BadInput, match=re.escape(message)):
        read_prompts(tmp_path / "prompts.csv")
