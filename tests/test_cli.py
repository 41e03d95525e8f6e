import json
import re

import h5py
import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from genreward_cli import __version__, config, store
from genreward_cli.cli import cli
from genreward_cli.envs.config import EnvConfig
from genreward_cli.errors import BadInput
from genreward_cli.options import resolve_device
from helpers import run

COMMANDS = [
    "collect", "encode-goal", "evaluate", "finetune", "generate", "import-videos", "init-model",
    "inspect", "pipeline", "score-reward", "select-frame", "tasks", "train-agent", "train-fb",
    "train-video-model",
]


def test_version_and_help_of_every_command():
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output
    result = run("-h")
    assert result.exit_code == 0 and "Quickstart" in result.output
    assert sorted(cli.commands) == sorted(COMMANDS)
    for name in COMMANDS:
        result = run(name, "--help")
        assert result.exit_code == 0, name
        assert "Usage: " in result.output


def test_collect_help_shows_paper_defaults():
    text = run("collect", "--help").output
    for snippet in ["--max-steps", "[default: 256]", "[default: corner]", "[default: 64]"]:
        assert snippet in text


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    out = tmp_path_factory.mktemp("collect") / "eps.h5"
    result = run("collect", "--task", "reach-v3", "--policy", "random", "--episodes", 2,
                 "--max-steps", 12, "--reward-mode", "sparse", "--sparse-interval", 4,
                 "--seed", 3, "--out", out, "--json")
    assert result.exit_code == 0, result.output + result.stderr
    return out, json.loads(result.stdout)


def test_collect_writes_a_valid_episodes_artifact(collected):
    out, summary = collected
    assert summary["episodes"] == 2 and summary["task"] == "reach-v3"
    assert 0.0 <= summary["success_rate"] <= 1.0
    with store.open_artifact(out, "episodes") as art:
        assert art.groups() == ["000000", "000001"]
        g = art.file["episodes/000001"]
        assert g["image"].shape == (13, 64, 64, 3) and g["action"].shape == (12, 4)
        assert g.attrs["task"] == "reach-v3" and g.attrs["policy"] == "random"
        assert g.attrs["prompt"] == "reach the goal position with the gripper"
        reward, env_reward = g["reward"][()], g["env_reward"][()]
        np.testing.assert_array_equal(reward[3::4], env_reward[3::4])
        assert not reward[0:3].any()
        cfg = art.config
        assert cfg["max_steps"] == 12 and cfg["seed"] == 3 and cfg["camera"] == "corner"
        assert "collect --task reach-v3" in art.attrs["producer"]


def test_collect_refuses_existing_output_without_force(collected):
    out, _ = collected
    before = out.read_bytes()
    result = run("collect", "--task", "reach-v3", "--episodes", 1, "--max-steps", 2, "--out", out)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {out}: already exists; pass --force to overwrite"
    assert out.read_bytes() == before


def test_unknown_task_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "x.h5"
    result = run("collect", "--task", "pick-plac-v3", "--out", out)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("Error: unknown Meta-World task 'pick-plac-v3'")
    assert not out.exists() and not list(tmp_path.iterdir())


def test_no_empty_line_after_a_progress_bar(tmp_path, monkeypatch):
    """stderr is no terminal here, as in a batch job's log: neither the error of a stage whose
    bar has started nor its last line comes after an empty line."""
    result = run("collect", "--task", "reach-v3", "--episodes", 1, "--max-steps", 3,
                 "--out", tmp_path / "ok.h5")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("wrote ") and "\n\n" not in result.stderr, repr(result.stderr)
    assert ": 1 random episode of reach-v3, " in result.stderr  # not "1 random episodes"

    import genreward_cli.envs.rollout as rollout

    def boom(*a, on_step, **k):
        on_step(1)
        raise RuntimeError("renderer died")
        yield

    monkeypatch.setattr(rollout, "collect", boom)
    result = run("collect", "--episodes", 1, "--out", tmp_path / "x.h5")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: RuntimeError: renderer died (rerun with --debug for the traceback)\n"
    )

    from genreward_cli.progress import live_bar

    def fails_in_a_live_bar():
        with live_bar(4, "train") as update:
            update(1, status="episode 1")
            raise BadInput("stopped")

    @cli.command("live-bar-test")
    def live_bar_test():
        fails_in_a_live_bar()

    try:
        result = run("live-bar-test")
    finally:
        cli.commands.pop("live-bar-test")
    assert result.exit_code == 2
    bar, error = result.stderr.splitlines()  # the bar's last state, then the error
    assert "1/4" in bar and "episode 1" in bar and error == "Error: stopped", result.stderr


def test_unwritable_out_exits_2_before_any_work(tmp_path, monkeypatch):
    import genreward_cli.envs.rollout as rollout

    def never(*a, **k):
        raise AssertionError("collected before checking --out")
        yield

    monkeypatch.setattr(rollout, "collect", never)
    (tmp_path / "somefile.h5").write_bytes(b"")
    for out, message in [(tmp_path / "somefile.h5" / "x.h5", "is not a directory"),
                         ("/proc/genreward-none/x.h5", "cannot be written in /proc (where "
                          "its folder /proc/genreward-none would be made)")]:
        result = run("collect", "--task", "reach-v3", "--episodes", 1, "--out", out)
        assert result.exit_code == 2, result.stderr
        line, = result.stderr.strip().splitlines()
        assert line.startswith(f"Error: {out}: cannot be written") and message in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["somefile.h5"]


def test_long_output_names_are_taken_up_to_what_their_siblings_leave(tmp_path):
    """A 243-byte name was refused as "File name too long" by the write probe, whose name
    added 16 bytes; now any name works whose `.NAME.lock` fits, and a longer one is one
    line saying what fits."""
    ok = tmp_path / ("y" * 246 + ".h5")  # 249 bytes: `.NAME.lock` is 255
    result = run("collect", "--task", "reach-v3", "--episodes", 1, "--max-steps", 3,
                 "--out", ok)
    assert result.exit_code == 0, result.stderr
    assert ok.exists()
    long = tmp_path / ("y" * 247 + ".h5")
    result = run("collect", "--task", "reach-v3", "--episodes", 1, "--max-steps", 3,
                 "--out", long)
    assert result.exit_code == 2
    line, = result.stderr.strip().splitlines()
    assert "its name is 250 bytes, too long" in line and "at most 249 bytes" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == [ok.name]


def test_bad_option_value_exits_2(tmp_path):
    result = run("collect", "--camera", "top", "--out", tmp_path / "x.h5")
    assert result.exit_code == 2 and "'top' is not one of" in result.stderr


def test_failure_while_running_exits_1_with_one_line(tmp_path, monkeypatch):
    import genreward_cli.envs.rollout as rollout

    def boom(*a, **k):
        raise RuntimeError("renderer died")
        yield

    monkeypatch.setattr(rollout, "collect", boom)
    out = tmp_path / "x.h5"
    result = run("collect", "--episodes", 1, "--out", out)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: RuntimeError: renderer died (rerun with --debug for the traceback)"
    )
    assert not list(tmp_path.iterdir()), "no partial output"
    result = run("--debug", "collect", "--episodes", 1, "--out", out)
    assert isinstance(result.exception, RuntimeError)  # the traceback is shown


def test_collect_warns_when_sparse_episodes_end_before_the_first_reward(tmp_path):
    out = tmp_path / "short.h5"
    with pytest.warns(UserWarning, match=r"episodes of 5 steps end before the first sparse "
                                          r"reward \(every 64 steps\)"):
        result = run("collect", "--task", "reach-v3", "--policy", "random", "--episodes", 1,
                     "--max-steps", 5, "--reward-mode", "sparse", "--out", out)
    assert result.exit_code == 0, result.stderr
    with h5py.File(out) as h5:
        assert not h5["episodes/000000/reward"][()].any()
        assert h5["episodes/000000/env_reward"][()].all()


def test_inspect_tree_json_video_and_frame(collected, tmp_path):
    out, _ = collected
    result = run("inspect", out)
    assert result.exit_code == 0
    assert "episodes" in result.output and "success_rate" in result.output
    assert re.search(r"length \(min, max\): \[\d+, \d+\]", result.output), result.output
    stdout = run("inspect", out, "--json").stdout
    assert stdout.count("\n") == 1, "one line, as every --json (`>> summary.jsonl`)"
    rep = json.loads(stdout)
    assert rep["kind"] == "episodes" and rep["summary"]["episodes"] == 2
    assert rep["attrs"]["config"]["task"] == "reach-v3"
    for name in ("ep.mp4", "ep.gif"):
        result = run("inspect", out, "--video", tmp_path / name, "--episode", 1)
        assert result.exit_code == 0, result.stderr
        video = imageio.mimread(tmp_path / name)
        assert len(video) == 13 and video[0].shape[:2] == (64, 64)
    result = run("inspect", out, "--frame", "1:5", tmp_path / "f.png")
    assert result.exit_code == 0
    with h5py.File(out) as h5:
        expected = h5["episodes/000001/image"][5]
    np.testing.assert_array_equal(imageio.imread(tmp_path / "f.png"), expected)
    result = run("inspect", out, "--frame", "1:13", tmp_path / "g.png")
    assert result.exit_code == 2 and "step 13 out of range (the file has 13 frames)" in result.stderr
    result = run("inspect", out, "--frame", "2:0", tmp_path / "g.png")
    assert result.exit_code == 2 and "episode 2 out of range (the file has 2 episodes)" in \
        result.stderr, result.stderr
    result = run("select-frame", out, "--episode", 2, "--out", tmp_path / "gf.h5")
    assert result.exit_code == 2 and "episode 2 out of range (the file has 2 episodes)" in \
        result.stderr, result.stderr
    result = run("inspect", out, "--video", tmp_path / "v.avi")
    assert result.exit_code == 2 and "must end in .mp4 or .gif" in result.stderr


def test_inspect_summaries_of_the_goal_chain(tiny_chain, tmp_path):
    """Each goal-chain artifact's summary is read from its file: the goal frame's index and
    CLIP score, the goal's shapes, FB's last logged step, loss and z dimension."""
    def summary(name):
        r = run("inspect", tiny_chain / name, "--json")
        assert r.exit_code == 0, r.stderr
        return json.loads(r.stdout)["summary"]

    with h5py.File(tiny_chain / "gf.h5") as h5:
        scores = h5["scores"][()]
        # the weights used, alike in the config and the attribute (tiny has its own)
        assert json.loads(h5.attrs["config"])["clip_pretrained"] == h5.attrs["clip_pretrained"] \
            == "tiny"
    assert summary("gf.h5") == {"index": 40, "score": pytest.approx(float(scores[40])),
                                "frames_scored": 41, "image": [64, 64, 3]}
    with h5py.File(tiny_chain / "goal.h5") as h5:
        shapes = {k: list(h5[k].shape) for k in ("video_latent", "frame_embedding")}
    assert summary("goal.h5") == shapes
    with h5py.File(tiny_chain / "fb.h5") as h5:
        last = (int(h5["metrics/step"][-1]), float(h5["metrics/loss"][-1]))
    fb = summary("fb.h5")
    assert (fb["last_step"], fb["last_loss"]) == (last[0], pytest.approx(last[1]))
    assert fb["z_dim"] == 16
    # a goal frame exports as frame 0; FB holds no image
    out = tmp_path / "goal.png"
    r = run("inspect", tiny_chain / "gf.h5", "--frame", "0", out)
    assert r.exit_code == 0, r.stderr
    with h5py.File(tiny_chain / "gf.h5") as h5:
        np.testing.assert_array_equal(imageio.imread(out), h5["frame"][()])
    r = run("inspect", tiny_chain / "fb.h5", "--frame", "0", tmp_path / "fb.png")
    assert r.exit_code == 2 and "kind 'fb' holds no frames to export" in r.stderr


def test_a_tilde_the_shell_left_alone_is_the_home_folder(collected, tmp_path, monkeypatch):
    """The shell does not expand `~` in quotes or after `--option=`; paths and model options
    expand it themselves."""
    out, _ = collected
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "eps.h5").write_bytes(out.read_bytes())
    result = run("inspect", "~/eps.h5", "--video=~/ep.gif")
    assert result.exit_code == 0, result.stderr
    assert len(imageio.mimread(tmp_path / "ep.gif")) == 13
    result = run("generate", "--model=~/no-model", "--prompt", "p", "--out", tmp_path / "g.h5")
    assert result.exit_code == 2
    assert f"--model {tmp_path / 'no-model'}: no such directory" in result.stderr
    result = run("generate", "--t2v-model", "~/no-t2v", "--prompt", "p", "--out", tmp_path / "g.h5")
    assert result.exit_code == 2
    assert f"--t2v-model {tmp_path / 'no-t2v'}: no such directory" in result.stderr


def test_side_outputs_refuse_existing_files_without_force(collected, tmp_path):
    """Every figure, video and CSV a command writes besides its artifact: an existing file
    is refused without --force (exit 2, one line, before any work)."""
    eps, _ = collected
    run_dir = tmp_path / "run"  # evaluate looks for its log before anything else
    run_dir.mkdir()
    (run_dir / "log.h5").write_bytes(b"not read")
    for name in ("old.png", "old.mp4", "old.csv"):
        (tmp_path / name).write_bytes(b"keep me")
    png, mp4, csv_ = (tmp_path / n for n in ("old.png", "old.mp4", "old.csv"))
    new = tmp_path / "new.h5"
    cases = [
        ["score-reward", eps, "--reward", "env", "--out", new, "--plot", png],
        ["select-frame", eps, "--clip-model", "tiny", "--out", new, "--plot", png],
        ["generate", "--task", "reach-v3", "--model", "tiny", "--out", new, "--mp4", mp4],
        ["evaluate", run_dir, "--out", new, "--video", mp4],
        ["evaluate", "--compare", run_dir, "--plot", png],
        ["evaluate", "--compare", run_dir, "--csv", csv_],
        ["inspect", eps, "--video", mp4],
        ["inspect", eps, "--frame", "0:1", png],
    ]
    for args in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.stderr)
        line, = result.stderr.strip().splitlines()
        assert line.endswith("already exists; pass --force to overwrite"), (args, line)
        assert not new.exists(), args
    for path in (png, mp4, csv_):
        assert path.read_bytes() == b"keep me"
    result = run("inspect", eps, "--frame", "0:1", png, "--force")
    assert result.exit_code == 0, result.stderr
    assert imageio.imread(png).shape == (64, 64, 3)


def test_force_never_overwrites_an_input(collected, tmp_path):
    eps, _ = collected
    copy = tmp_path / "eps.h5"
    copy.write_bytes(eps.read_bytes())
    before = copy.read_bytes()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "log.h5").write_bytes(b"a run's log")
    (run_dir / "config.json").write_text("{}")
    (tmp_path / "ft").mkdir()
    (tmp_path / "ft" / "clips.h5").write_bytes(before)
    cases = [
        (["score-reward", copy, "--reward", "env", "--out", copy], copy),
        (["score-reward", copy, "--reward", "env", "--out", tmp_path / "s.h5",
          "--plot", copy], None),  # refused for its suffix, before anything
        (["train-fb", copy, tmp_path / "goal.h5", "--out", copy], copy),
        (["train-fb", copy, tmp_path / "goal.h5", "--out", copy, "--resume"], copy),
        (["select-frame", copy, "--out", tmp_path / "." / "eps.h5"], copy),
        (["encode-goal", tmp_path / "gv.h5", copy, "--out", copy], copy),
        (["evaluate", run_dir, "--out", run_dir / "log.h5"], run_dir / "log.h5"),
        (["evaluate", "--compare", run_dir, "--csv", run_dir / "log.h5"], run_dir / "log.h5"),
        # a run's other files too: a CSV over config.json broke the run's --resume
        (["evaluate", "--compare", run_dir, "--csv", run_dir / "config.json"],
         run_dir / "config.json"),
        (["evaluate", run_dir / "log.h5", "--out", run_dir / "config.json"],
         run_dir / "config.json"),
        (["finetune", "--videos", tmp_path / "ft" / "clips.h5", "--out", tmp_path / "ft"],
         tmp_path / "ft"),
    ]
    for args, named in cases:
        result = run(*args, "--force")
        assert result.exit_code == 2, (args, result.stderr)
        line, = result.stderr.strip().splitlines()
        if named is not None:
            out = args[-1] if args[-2] in ("--out", "--csv") else args[args.index("--out") + 1]
            assert line.startswith(f"Error: {out}: ") and "an input of this command" in line \
                and "--force never overwrites" in line, line
    assert copy.read_bytes() == before and (tmp_path / "ft" / "clips.h5").read_bytes() == before
    assert (run_dir / "log.h5").read_bytes() == b"a run's log"
    assert (run_dir / "config.json").read_text() == "{}"
    assert not (tmp_path / "s.h5").exists()


@pytest.mark.parametrize("args,options", [
    (["evaluate", "RUN", "--episodes", "1", "--out", "x.mp4", "--video", "x.mp4"], "--out and --video"),
    (["evaluate", "--compare", "RUN", "--plot", "c.png", "--csv", "./c.png"], "--plot and --csv"),
    (["score-reward", "EPS", "--reward", "env", "--out", "s.png", "--plot", "s.png"],
     "--out and --plot"),
    (["select-frame", "EPS", "--clip-model", "tiny", "--out", "f.png", "--plot", "f.png"],
     "--out and --plot"),
    (["generate", "--prompt", "p", "--model", "tiny", "--out", "g.mp4", "--mp4", "g.mp4"],
     "--out and --mp4"),
])
def test_two_outputs_naming_one_file_are_refused(collected, tmp_path, monkeypatch, args,
                                                 options):
    """`--out x.mp4 --video x.mp4`: the artifact was written, then replaced by the video, and
    the command said it wrote it (exit 0). Refused before any work, with --force too."""
    eps, _ = collected
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "log.h5").write_bytes(b"a run's log")
    monkeypatch.chdir(tmp_path)
    args = [str(eps) if a == "EPS" else str(run_dir) if a == "RUN" else a for a in args]
    result = run(*args, "--force")
    assert result.exit_code == 2, result.stderr
    line, = result.stderr.strip().splitlines()
    name = args[-1]
    assert line == f"Error: {options} are both {name}: give each its own file", line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_inspect_verifies_parent_hashes(tmp_path):
    from helpers import fake_episode, write_episodes

    rng = np.random.default_rng(0)
    parent = write_episodes(tmp_path / "parent.h5", [fake_episode(rng)])
    with store.open_artifact(parent) as p:
        ref = p.ref()
    child = write_episodes(tmp_path / "child.h5", [fake_episode(rng)], parents=[ref])
    rep = json.loads(run("inspect", child, "--json").stdout)
    assert rep["provenance"][0]["status"] == "ok"
    write_episodes(parent, [fake_episode(rng)], force=True)  # the parent changes
    rep = json.loads(run("inspect", child, "--json").stdout)
    assert rep["provenance"][0]["status"] == "changed since use"
    parent.unlink()
    rep = json.loads(run("inspect", child, "--json").stdout)
    assert rep["provenance"][0]["status"] == "missing"


def test_tasks_lists_fifty():
    result = run("tasks", "--json")
    assert result.exit_code == 0 and len(json.loads(result.stdout)) == 50
    assert result.stdout.count("\n") == 1
    assert len(json.loads(run("tasks", "--paper", "--json").stdout)) == 5


def test_strict_config_overrides():
    assert config.build(EnvConfig, {"size": 96}).size == 96
    with pytest.raises(BadInput, match="unknown EnvConfig option"):
        config.build(EnvConfig, {"sise": 96})
    with pytest.raises(BadInput, match="--size: expected int, got str"):
        config.build(EnvConfig, {"size": "96"})
    with pytest.raises(BadInput, match="--reward-mode: 'dence' is not one of"):
        config.build(EnvConfig, {"reward_mode": "dence"})
    with pytest.raises(BadInput, match="--max-steps: must be at least 1"):
        config.build(EnvConfig, {"max_steps": 0})


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(BadInput, match="--device cuda: no CUDA GPU is visible"):
            resolve_device("cuda")


def test_cli_reference_matches_help():
    from pathlib import Path

    from genreward_cli import clidoc

    docs = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
    text = clidoc.markdown()
    assert docs.read_text() == text, "run `make docs` to regenerate docs/cli.md"
    for name in COMMANDS:
        assert f"## genreward {name}\n" in text


def test_a_long_stage_writes_progress_lines_to_a_log(monkeypatch, capsys):
    """Where stderr is no terminal, rich draws nothing until a bar ends: a plain line every
    LOG_EVERY seconds says how far the stage is (none at all for a stage shorter than that)."""
    import time

    from genreward_cli import progress

    with progress.progress_bar(4, "quick") as advance:
        for _ in range(4):
            advance(1)
    assert "quick:" not in capsys.readouterr().err
    monkeypatch.setattr(progress, "LOG_EVERY", 0.05)
    with progress.live_bar(4, "train") as update:
        for i in range(4):
            time.sleep(0.06)
            update(1, status=f"ep {i}")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("train:")]
    assert len(lines) >= 3, lines
    assert lines[-1].startswith("train: 4/4 (100%), ") and lines[-1].endswith(" s  ep 3"), lines


def test_a_long_prompt_is_cut_in_a_one_line_report():
    from genreward_cli.progress import quoted

    assert quoted("pick up the fork") == "'pick up the fork'"
    assert quoted("it's", limit=4) == '"it\'s"'
    long = "pick up the blue fork " * 10
    assert quoted(long) == repr(long[:60])[:-1] + "...'" and len(quoted(long)) == 65
    assert quoted("x" * 61, limit=60) == "'" + "x" * 60 + "...'"
    # the cut part's quotes, whatever the rest holds
    assert quoted("it's long, \"very\" long", limit=6) == '"it\'s l..."'



@pytest.mark.parametrize("kind, says", [("episode", "; did you mean episodes?"),
                                        ("FB", "; did you mean fb?"), ("nonsense", " (the kinds: ")])
def test_inspect_kind_that_is_no_kind_says_so(collected, kind, says):
    """`inspect --kind episode` said the file's kind was not 'episode', as if the file were
    wrong; an unknown kind is named as such."""
    out, _ = collected
    r = run("inspect", out, "--kind", kind)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"Error: --kind {kind}: not an artifact kind") and says in r.stderr
    assert run("inspect", out, "--kind", "episodes").exit_code == 0


@pytest.mark.parametrize("args,message", [
    (("--size", 8), "--size: must be at least 16, got 8"),
    (("--width", 5), "--width: must be at least 16 (as --size), or 0 for the same as --size, "
                     "got 5"),
])
def test_collect_refuses_images_too_small_on_either_side(tmp_path, args, message):
    """`--size` under 16 was refused while `--width 5` was accepted: both sides are held to
    the same minimum (`--width 0` stays square)."""
    out = tmp_path / "e.h5"
    r = run("collect", "--task", "reach-v3", "--episodes", 1, "--max-steps", 4, *args,
            "--out", out)
    assert r.exit_code == 2, r.stderr
    assert r.stderr.strip() == f"Error: {message}", r.stderr
    assert not out.exists()


@pytest.mark.parametrize("args", [
    ["collect", "--task", "reach-v3", "--out", ""],
    ["collect", "--task", "reach-v3", "--out", " ", "--force"],
    ["inspect", ""],
])
def test_an_empty_path_is_refused_as_such(tmp_path, monkeypatch, args):
    """`--out "$OUT"` with OUT unset was the current folder: "`.`: already exists; pass
    --force", and with --force "`.`: is a directory". One line that says the path is empty."""
    monkeypatch.chdir(tmp_path)
    r = run(*args)
    assert r.exit_code == 2, r.stderr
    line, = r.stderr.strip().splitlines()
    assert "an empty path (a shell variable that is not set?)" in line, line
    assert list(tmp_path.iterdir()) == []
