"""Artifacts under stress: concurrent writers, damaged data, paths read from another
directory, videos of odd sizes."""

import json
import os
import subprocess
import sys
import time

import h5py
import imageio.v2 as imageio
import numpy as np
import pytest

from genreward_cli import store, media
from genreward_cli.stages import inspect as inspection
from genreward_cli.errors import BadInput, GenrewardError
from helpers import fake_episode, run, write_episodes


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# --------------------------------------------------------------------------- concurrent writers

HOLDER = """
import os, sys, time
import numpy as np
sys.path.insert(0, {tests!r})
from helpers import fake_episode, write_episodes
out, started, release = {out!r}, {started!r}, {release!r}

def wait(h5):
    open(started, "w").close()          # the tmp file is open and locked
    while not os.path.exists(release):
        time.sleep(0.05)

write_episodes(out, [fake_episode(np.random.default_rng(7), T=9)], mutate=wait)
"""


@pytest.fixture
def holder(tmp_path):
    """A second process writing ``out.h5`` until ``release`` exists; yields (out, release, proc)."""
    out, started, release = (tmp_path / n for n in ("out.h5", "started", "release"))
    code = HOLDER.format(tests=os.path.dirname(__file__), out=str(out), started=str(started),
                         release=str(release))
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not started.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the writer never started"
        time.sleep(0.05)
    yield out, release, proc
    release.touch()
    proc.wait(timeout=60)


def test_second_writer_is_refused_and_first_finishes_intact(holder, rng):
    out, release, proc = holder
    tmp = out.with_name("out.h5.tmp")
    size = tmp.stat().st_size
    for force in (False, True):  # --force overwrites a finished file, never a file being written
        with pytest.raises(BadInput, match=r"out\.h5: another process is writing it now "
                                           r"\(out\.h5\.tmp is locked\)"):
            write_episodes(out, [fake_episode(rng, T=2)], force=force)
    assert tmp.exists() and tmp.stat().st_size == size, "the refused writer touched the tmp file"
    release.touch()
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert not tmp.exists()
    with store.open_artifact(out, "episodes") as art:  # the first writer's data, whole
        expected = fake_episode(np.random.default_rng(7), T=9)
        np.testing.assert_array_equal(art.file["episodes/000000/state"][()], expected["state"])


def test_second_writer_through_the_cli_exits_2_in_one_line(holder, tmp_path):
    out, release, proc = holder
    clips = tmp_path / "clips"
    clips.mkdir()
    media.write_video(clips / "a.mp4", np.zeros((4, 16, 16, 3), np.uint8))
    (tmp_path / "prompts.csv").write_text("file,prompt\na.mp4,a clip\n")
    result = run("import-videos", clips, "--prompts", tmp_path / "prompts.csv", "--out", out)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "another process is writing it now" in lines[0], result.stderr
    release.touch()
    assert proc.wait(timeout=60) == 0
    with store.open_artifact(out, "episodes"):  # not the refused writer's `videos`
        pass


def test_stale_tmp_of_a_killed_writer_does_not_block(tmp_path, rng):
    out = tmp_path / "eps.h5"
    code = f"""
import os, numpy as np
from genreward_cli import store
with store.write_artifact({str(out)!r}, "episodes", config={{}}) as h5:
    h5.create_dataset("episodes/000000/reward", data=np.zeros(3, np.float32))
    h5.flush()
    os._exit(9)  # killed mid-write: its lock dies with it
"""
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert (tmp_path / "eps.h5.tmp").exists() and not out.exists()
    write_episodes(out, [fake_episode(rng, T=3)])
    with store.open_artifact(out) as art:
        assert art.file["episodes/000000/action"].shape == (3, 4)
    assert not (tmp_path / "eps.h5.tmp").exists()


def test_output_written_meanwhile_is_not_overwritten(tmp_path, rng):
    out = write_episodes(tmp_path / "eps.h5", [fake_episode(rng, T=3)])
    before = out.read_bytes()
    with pytest.raises(BadInput, match="already exists"):
        store.lock_tmp(out, force=False)
    assert out.read_bytes() == before
    tmp, fd = store.lock_tmp(out, force=True)
    os.close(fd)
    tmp.unlink()


# --------------------------------------------------------------------------- damaged data


def damage(path, dataset, out):
    """A copy of ``path`` with bytes of the first chunk of ``dataset`` flipped (same size)."""
    with h5py.File(path) as f:
        info = f[dataset].id.get_chunk_info(0)
    data = bytearray(path.read_bytes())
    for i in range(min(32, info.size - 10)):
        data[info.byte_offset + 10 + i] ^= 0xFF
    out.write_bytes(bytes(data))
    return out


@pytest.fixture
def episodes(tmp_path, rng):
    return write_episodes(tmp_path / "eps.h5", [fake_episode(rng, T=20, size=16)])


def test_damaged_checked_dataset_is_refused_on_open(episodes, tmp_path):
    bad = damage(episodes, "episodes/000000/state", tmp_path / "bad.h5")
    with pytest.raises(BadInput, match=r"bad\.h5: dataset 'episodes/000000/state' cannot be "
                                       r"read \(damaged or truncated file\?\)"):
        store.open_artifact(bad)
    result = run("inspect", bad)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "dataset 'episodes/000000/state' cannot be read" in lines[0]


@pytest.mark.parametrize("read", [
    lambda art: art.file["episodes/000000/image"][()],
    lambda art: art.file["episodes/000000/image"][0],
    lambda art: np.asarray(art.file["episodes/000000/image"]),
    lambda art: art.file["episodes"]["000000"]["image"][:],
    lambda art: [ds[()] for ds in art.file["episodes/000000"].values()],
    lambda art: art.file["episodes/000000/action"].parent["image"][()],
    lambda art: inspection.frames(art, 0),
], ids=["all", "index", "asarray", "nested", "values", "parent", "frames"])
def test_every_read_of_a_damaged_dataset_names_file_and_dataset(episodes, tmp_path, read):
    bad = damage(episodes, "episodes/000000/image", tmp_path / "bad.h5")
    with h5py.File(episodes) as h5:
        state = h5["episodes/000000/state"][()]
    with store.open_artifact(bad) as art:  # images are not read by validation
        np.testing.assert_array_equal(art.file["episodes/000000/state"][()], state)
        with pytest.raises(BadInput,
                           match=r"bad\.h5: dataset 'episodes/000000/image' cannot be read"):
            read(art)


def test_damaged_frames_through_the_cli_exit_2_and_write_nothing(episodes, tmp_path):
    bad = damage(episodes, "episodes/000000/image", tmp_path / "bad.h5")
    result = run("inspect", bad, "--video", tmp_path / "ep.mp4")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"Error: {bad}: dataset 'episodes/000000/image' cannot be read (damaged or truncated "
        "file?): "), result.stderr
    assert not (tmp_path / "ep.mp4").exists()


# --------------------------------------------------------------------------- recorded paths


def test_local_paths_are_recorded_absolute_and_names_as_given(tmp_path, monkeypatch):
    tmp_path = tmp_path.resolve()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "tiny").mkdir(parents=True)
    assert store.record_path("models/tiny") == str(tmp_path / "models" / "tiny")
    assert store.record_path("some-org/some-video-model") == "some-org/some-video-model"
    for name in ("tiny", "tiny-t2v"):  # folders named like built-in presets: the presets win
        (tmp_path / name).mkdir()
    assert store.record_path("tiny") == "tiny"
    assert store.record_path("tiny-t2v", builtin={"tiny": 0, "tiny-t2v": 0}) == "tiny-t2v"
    assert store.record_path("tiny", builtin=()) == str(tmp_path / "tiny")
    assert store.record_path(None) is None


def test_relative_paths_of_older_files_resolve_against_the_artifact(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    (run_dir / "models" / "tiny").mkdir(parents=True)
    art = run_dir / "goal_video.h5"
    monkeypatch.chdir(tmp_path)  # the parent directory: models/tiny is not here
    assert store.resolve_recorded("models/tiny", art) == str(run_dir / "models" / "tiny")
    assert store.resolve_recorded("some-org/some-video-model", art) == "some-org/some-video-model"
    assert store.resolve_recorded("/nowhere/x", art) == "/nowhere/x"
    monkeypatch.chdir(run_dir)  # where it was written: as recorded
    assert store.resolve_recorded("models/tiny", art) == "models/tiny"


def test_parents_are_recorded_absolute(tmp_path, monkeypatch, rng):
    tmp_path = tmp_path.resolve()
    monkeypatch.chdir(tmp_path)
    write_episodes(tmp_path / "parent.h5", [fake_episode(rng)])
    with store.open_artifact("parent.h5") as p:
        assert p.ref()["path"] == str(tmp_path / "parent.h5")


def test_inspect_finds_relative_parents_of_older_files(tmp_path, monkeypatch, rng):
    run_dir = tmp_path.resolve() / "run"
    run_dir.mkdir()
    parent = write_episodes(run_dir / "parent.h5", [fake_episode(rng)])
    other = write_episodes(run_dir / "other.h5", [fake_episode(rng)])
    old = [{"path": "parent.h5", "kind": "episodes", "sha256": store.sha256_file(parent)},
           {"path": "other.h5", "kind": "episodes", "sha256": "0" * 64},
           {"path": "gone.h5", "kind": "episodes", "sha256": "0" * 64}]
    write_episodes(run_dir / "child.h5", [fake_episode(rng)], parents=old)
    monkeypatch.chdir(tmp_path)
    with store.open_artifact("run/child.h5") as art:
        prov = inspection.report(art)["provenance"]
    assert [p["status"] for p in prov] == ["ok", "changed since use", "missing"]
    assert prov[0]["found_at"] == str(run_dir / "parent.h5")
    assert prov[1]["found_at"] == str(other)
    result = run("inspect", "run/child.h5", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["provenance"] == prov


@pytest.mark.slow
def test_stages_record_absolute_model_and_run_from_another_directory(tmp_path, monkeypatch):
    """init-model, generate, select-frame, encode-goal in run/, then encode-goal from its
    parent directory: the default VAE (the goal video's model) is found, for files that
    record it absolute and for older files that recorded it as typed."""
    tmp_path = tmp_path.resolve()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.chdir(run_dir)
    assert run("init-model", "--preset", "tiny", "--out", "models/tiny").exit_code == 0
    r = run("generate", "--task", "pick-place-v3", "--model", "models/tiny", "--frames", 9,
            "--steps", 2, "--out", "goal_video.h5")
    assert r.exit_code == 0, r.stderr
    r = run("select-frame", "goal_video.h5", "--clip-model", "tiny", "--out", "goal_frame.h5")
    assert r.exit_code == 0, r.stderr
    model = str(run_dir / "models" / "tiny")
    with store.open_artifact("goal_video.h5") as art:
        assert art.attrs["model"] == model and art.config["model"] == model
    with store.open_artifact("goal_frame.h5") as art:
        assert art.parents[0]["path"] == str(run_dir / "goal_video.h5")
    monkeypatch.chdir(tmp_path)
    r = run("encode-goal", "run/goal_video.h5", "run/goal_frame.h5", "--image-encoder", "tiny",
            "--out", "goal.h5")
    assert r.exit_code == 0, r.stderr
    with store.open_artifact("goal.h5") as art:
        assert json.loads(art.attrs["video_encoder"])["vae"] == model
    with h5py.File(run_dir / "goal_video.h5", "a") as h5:  # as older versions wrote it
        h5.attrs["model"] = "models/tiny"
    with pytest.warns(UserWarning, match="different sha256"):  # the goal video was edited
        r = run("encode-goal", "run/goal_video.h5", "run/goal_frame.h5", "--image-encoder",
                "tiny", "--out", "goal_old.h5")
    assert r.exit_code == 0, r.stderr
    with store.open_artifact("goal_old.h5") as art:
        assert json.loads(art.attrs["video_encoder"])["vae"] == model


# --------------------------------------------------------------------------- videos


@pytest.mark.parametrize("height, width", [(33, 47), (32, 47), (33, 48), (1, 1), (16, 16)])
def test_mp4_of_any_size_plays_back(tmp_path, rng, height, width):
    frames = rng.integers(0, 256, (6, height, width, 3), dtype=np.uint8)
    frames[:] = frames[0]  # a still picture: H.264 keeps it close
    path = media.write_video(tmp_path / "v.mp4", frames, fps=8)
    back = np.stack(imageio.mimread(path, memtest=False))
    assert back.shape == (6, height + height % 2, width + width % 2, 3)
    assert not list(tmp_path.glob(".*tmp*")), "a temporary file was left"


def test_mp4_keeps_the_picture_of_odd_sized_frames(tmp_path):
    frames = np.zeros((4, 33, 47, 3), np.uint8)
    frames[:, :, 24:] = 255  # right half white
    back = np.stack(imageio.mimread(media.write_video(tmp_path / "v.mp4", frames), memtest=False))
    assert np.abs(back[:, :33, :47].astype(int) - frames).mean() < 8
    assert back[:, :, -1].min() > 200, "the padding repeats the last column"


def test_gif_of_odd_size_round_trips(tmp_path, rng):
    frames = rng.integers(0, 256, (3, 33, 47, 3), dtype=np.uint8)
    back = np.stack(imageio.mimread(media.write_video(tmp_path / "v.gif", frames)))
    assert back.shape[:3] == (3, 33, 47)


def test_a_video_the_encoder_fails_to_write_is_an_error_and_leaves_nothing(tmp_path, monkeypatch):
    import imageio.v2

    monkeypatch.setattr(imageio.v2, "mimsave", lambda path, *a, **k: open(path, "wb").close())
    with pytest.raises(GenrewardError, match=r"v\.mp4: could not write the video: the encoder "
                                             r"wrote nothing"):
        media.write_video(tmp_path / "v.mp4", np.zeros((2, 8, 8, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(BadInput, match="no frames"):
        media.write_video(tmp_path / "v.mp4", np.zeros((0, 8, 8, 3), np.uint8))


def test_inspect_video_of_odd_sized_episodes(tmp_path, rng):
    ep = fake_episode(rng, T=7)
    ep["image"] = rng.integers(0, 256, (8, 33, 47, 3), dtype=np.uint8)
    path = write_episodes(tmp_path / "odd.h5", [ep])
    result = run("inspect", path, "--video", tmp_path / "odd.mp4")
    assert result.exit_code == 0, result.stderr
    back = np.stack(imageio.mimread(tmp_path / "odd.mp4", memtest=False))
    assert back.shape == (8, 34, 48, 3)
