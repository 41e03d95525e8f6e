import json
import os
import shutil
import subprocess
import sys
import warnings

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from genreward_cli import store
from genreward_cli.cli import cli
from genreward_cli.errors import BadInput
from helpers import fake_episode, write_episodes


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_round_trip_keeps_data_and_root_attrs(tmp_path, rng):
    eps = [fake_episode(rng, T=5), fake_episode(rng, T=7)]
    parent = write_episodes(tmp_path / "parent.h5", [fake_episode(rng)])
    with store.open_artifact(parent) as p:
        ref = p.ref()
    path = write_episodes(tmp_path / "eps.h5", eps, parents=[ref])
    with store.open_artifact(path, "episodes") as art:
        assert art.groups() == ["000000", "000001"]
        for k, ep in zip(art.groups(), eps):
            for name, value in ep.items():
                stored = art.file[f"episodes/{k}/{name}"]
                assert stored.dtype == value.dtype
                np.testing.assert_array_equal(stored[()], value)
        assert art.attrs["schema_version"] == store.SCHEMA_VERSION
        assert art.config == {"test": True}
        assert art.parents == [ref]
        assert art.parents[0]["sha256"] == store.sha256_file(parent)
        assert art.attrs["producer"].startswith("genreward ")
        assert "T" in art.attrs["created_at"]
        assert art.versions["metaworld"]
        # images are chunked one frame per chunk and compressed
        image = art.file["episodes/000000/image"]
        assert image.chunks == (1, 8, 8, 3) and image.compression == "gzip"


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda h5: h5.attrs.__setitem__("kind", "videos_x"), "unknown artifact kind 'videos_x'"),
        (lambda h5: h5.attrs.__setitem__("schema_version", 99), "schema_version 99 is not supported"),
        (lambda h5: h5.__delitem__("episodes/000000/action"), "missing dataset 'episodes/000000/action'"),
        (
            lambda h5: (h5.__delitem__("episodes/000000/reward"),
                        h5.create_dataset("episodes/000000/reward", data=np.zeros(5, np.float64))),
            "dataset 'episodes/000000/reward' has dtype float64, expected float32",
        ),
        (
            lambda h5: (h5.__delitem__("episodes/000000/action"),
                        h5.create_dataset("episodes/000000/action", data=np.zeros((4, 4), np.float32))),
            "dataset 'episodes/000000/action' has shape [4, 4], expected [T,4] with T = 5",
        ),
        (   # another action space than Meta-World's (read on, every later stage failed)
            lambda h5: (h5.__delitem__("episodes/000000/action"),
                        h5.create_dataset("episodes/000000/action", data=np.zeros((5, 3), np.float32))),
            "dataset 'episodes/000000/action' has shape [5, 3], expected [T,4]: axis 1 is 3, "
            "not 4 (Meta-World's 4-d actions",
        ),
        (lambda h5: h5.attrs.__delitem__("schema_version"),
         "missing root attribute 'schema_version'"),
        (
            lambda h5: h5["episodes/000000/reward"].__setitem__(2, np.nan),
            "dataset 'episodes/000000/reward' contains NaN or inf",
        ),
    ],
)
def test_bad_files_give_one_line_and_exit_2(tmp_path, rng, mutate, message):
    good = write_episodes(tmp_path / "good.h5", [fake_episode(rng, T=5)])
    bad = tmp_path / "bad.h5"
    shutil.copy(good, bad)
    with h5py.File(bad, "a") as h5:
        mutate(h5)
    with pytest.raises(BadInput, match="^" + str(bad).replace(".", r"\.") + ": "):
        store.open_artifact(bad).close()
    result = CliRunner().invoke(cli, ["inspect", str(bad)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("Error: ")


def test_wrong_kind_is_refused(tmp_path, rng):
    path = write_episodes(tmp_path / "eps.h5", [fake_episode(rng)])
    with pytest.raises(BadInput, match="artifact kind is 'episodes', expected 'goal_video'"):
        store.open_artifact(path, "goal_video")
    result = CliRunner().invoke(cli, ["inspect", str(path), "--kind", "goal_video"])
    assert result.exit_code == 2
    assert "artifact kind is 'episodes', expected 'goal_video'" in result.stderr


def test_truncated_and_missing_files(tmp_path, rng):
    path = write_episodes(tmp_path / "eps.h5", [fake_episode(rng)])
    data = path.read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    for name, message in [("cut.h5", "not a readable HDF5 file"), ("none.h5", "no such file")]:
        result = CliRunner().invoke(cli, ["inspect", str(tmp_path / name)])
        assert result.exit_code == 2
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_file_that_is_not_hdf5_is_named_so(tmp_path, rng):
    (tmp_path / "notes.h5").write_text("episode notes, not an artifact\n" * 100)
    (tmp_path / "empty.h5").write_bytes(b"")
    for name, message in [("notes.h5", "notes.h5: not an HDF5 file:"),
                          ("empty.h5", "empty.h5: not an HDF5 file (it is empty)")]:
        result = CliRunner().invoke(cli, ["inspect", str(tmp_path / name)])
        assert result.exit_code == 2
        assert message in result.stderr and "truncated" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    # the signature may follow a user block (at 512, 1024, ...)
    path = write_episodes(tmp_path / "eps.h5", [fake_episode(rng)])
    assert store.has_hdf5_signature(path)
    (tmp_path / "block.h5").write_bytes(b"\0" * 1024 + path.read_bytes()[:64])
    assert store.has_hdf5_signature(tmp_path / "block.h5")
    assert not store.has_hdf5_signature(tmp_path / "notes.h5")


def test_invalid_content_is_never_written(tmp_path, rng):
    out = tmp_path / "eps.h5"
    with pytest.raises(BadInput, match="contains NaN"):
        write_episodes(out, [fake_episode(rng)],
                       mutate=lambda h5: h5["episodes/000000/state"].__setitem__(0, np.inf))
    assert not out.exists() and not (tmp_path / "eps.h5.tmp").exists()


def test_crash_mid_write_leaves_no_final_file(tmp_path):
    out = tmp_path / "eps.h5"
    code = f"""
import os, numpy as np
from genreward_cli import store
with store.write_artifact({str(out)!r}, "episodes", config={{}}) as h5:
    h5.create_dataset("episodes/000000/reward", data=np.zeros(3, np.float32))
    h5.flush()
    os._exit(9)  # killed mid-write
"""
    proc = subprocess.run([sys.executable, "-c", code])
    assert proc.returncode == 9
    assert not out.exists()
    assert (tmp_path / "eps.h5.tmp").exists()  # visibly unfinished


def test_exception_mid_write_removes_tmp(tmp_path):
    out = tmp_path / "eps.h5"
    with pytest.raises(RuntimeError):
        with store.write_artifact(out, "episodes", config={}):
            raise RuntimeError("interrupted")
    assert not out.exists() and not (tmp_path / "eps.h5.tmp").exists()


def test_force_semantics(tmp_path, rng):
    out = write_episodes(tmp_path / "eps.h5", [fake_episode(rng, T=3)])
    before = out.read_bytes()
    with pytest.raises(BadInput, match="already exists; pass --force"):
        write_episodes(out, [fake_episode(rng, T=4)])
    assert out.read_bytes() == before
    write_episodes(out, [fake_episode(rng, T=4)], force=True)
    with store.open_artifact(out) as art:
        assert art.file["episodes/000000/action"].shape == (4, 4)


def test_version_mismatch_is_recorded(tmp_path, rng):
    path = write_episodes(tmp_path / "eps.h5", [fake_episode(rng)])
    with h5py.File(path, "a") as h5:
        versions = json.loads(h5.attrs["versions"])
        versions["metaworld"] = "0.0.1"
        h5.attrs["versions"] = json.dumps(versions)
    with pytest.warns(store.VersionMismatchWarning, match="written with metaworld 0.0.1"):
        art = store.open_artifact(path)
    assert len(art.warnings) == 1 and "metaworld 0.0.1" in art.warnings[0]
    art.close()


def test_hdf5_command_line_tools_read_artifacts(tmp_path, rng):
    assert shutil.which("h5ls"), "h5ls missing: `make sysdeps` installs hdf5-tools"
    path = write_episodes(tmp_path / "eps.h5", [fake_episode(rng, T=5)])
    ls = subprocess.run(["h5ls", "-r", str(path)], capture_output=True, text=True, check=True)
    assert "/episodes/000000/image" in ls.stdout and "{6, 8, 8, 3}" in ls.stdout
    dump = subprocess.run(["h5dump", "-H", str(path)], capture_output=True, text=True, check=True)
    assert 'ATTRIBUTE "kind"' in dump.stdout and '"episodes"' in dump.stdout


def test_docs_match_schema():
    docs = os.path.join(os.path.dirname(__file__), "..", "docs", "artifacts.md")
    with open(docs) as f:
        assert f.read() == store.markdown(), "run `make docs` to regenerate docs/artifacts.md"


def test_replacing_dir_appears_only_on_success(tmp_path):
    out = tmp_path / "model"
    with store.replacing_dir(out) as tmp:
        assert tmp == tmp_path / "model.tmp" and tmp.is_dir() and not out.exists()
        (tmp / "config.json").write_text("{}")
    assert (out / "config.json").read_text() == "{}"
    assert not (tmp_path / "model.tmp").exists()
    with store.replacing_dir(out) as tmp:  # an existing directory is replaced after success
        assert (out / "config.json").exists()
        (tmp / "weights.bin").write_bytes(b"new")
    assert sorted(p.name for p in out.iterdir()) == ["weights.bin"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_replacing_dir_failure_leaves_no_tmp_and_path_unchanged(tmp_path, error):
    fresh, kept = tmp_path / "fresh", tmp_path / "kept"
    kept.mkdir()
    (kept / "config.json").write_text("old")
    for out in (fresh, kept):
        with pytest.raises(error):
            with store.replacing_dir(out) as tmp:
                (tmp / "config.json").write_text("half")
                raise error("interrupted")
        assert not out.with_name(out.name + ".tmp").exists()
    assert not fresh.exists()
    assert sorted(p.name for p in kept.iterdir()) == ["config.json"]
    assert (kept / "config.json").read_text() == "old"


def test_a_file_another_process_writes_is_not_called_corrupt(tmp_path, rng):
    """A file open for writing elsewhere (HDF5's lock) was "truncated or corrupt?"."""
    path = write_episodes(tmp_path / "e.h5", [fake_episode(rng, T=5)])
    writer = subprocess.Popen([sys.executable, "-c", "import h5py, sys, time; "
                               f"f = h5py.File({str(path)!r}, 'a'); print('open', flush=True); "
                               "sys.stdin.read()"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "open"
        with pytest.raises(BadInput, match=r"e\.h5: open for writing in another process "
                                           r"\(HDF5 file lock\); wait for it"):
            store.open_artifact(path, "episodes")
    finally:
        writer.communicate("")
    store.open_artifact(path, "episodes").close()  # closed: read as before
