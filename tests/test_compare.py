"""`evaluate --compare` on small hand-made run logs: how runs are grouped and counted."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from helpers import fake_run

from genreward_cli.cli import cli


def compare(*runs):
    r = CliRunner().invoke(cli, ["evaluate", "--compare", *map(str, runs), "--json"])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)["rows"], r.stderr


def test_runs_of_other_episode_lengths_are_other_groups(tmp_path):
    rows, _ = compare(fake_run(tmp_path / "a", 0, 40, 3), fake_run(tmp_path / "b", 1, 80, 2))
    assert [(r["episode_steps"], r["seeds"], r["step"]) for r in rows] == [(40, 1, 120),
                                                                           (80, 1, 160)]


def test_runs_of_other_env_settings_are_other_groups(tmp_path):
    """Runs with another sparse interval, camera, image size or action repeat were averaged
    as seeds of one method; each setting is now its own group, its mode saying how."""
    runs = [fake_run(tmp_path / "a", 0, 40, 3, reward_mode="sparse"),
            fake_run(tmp_path / "b", 1, 40, 3, reward_mode="sparse", sparse_interval=20),
            fake_run(tmp_path / "c", 2, 40, 3, camera="corner3"),
            fake_run(tmp_path / "d", 3, 40, 3, size=96, width=128, action_repeat=2),
            fake_run(tmp_path / "e", 4, 40, 3)]
    rows, _ = compare(*runs)
    assert sorted((r["mode"], r["seeds"]) for r in rows) == [
        ("dense", 1), ("dense, 96x128, action repeat 2", 1), ("dense, camera corner3", 1),
        ("sparse", 1), ("sparse every 20", 1)]


def test_a_run_without_episodes_hides_no_other(tmp_path):
    done = fake_run(tmp_path / "done", 0, 40, 3)
    rows, stderr = compare(done, fake_run(tmp_path / "none", 1, 40, 0))
    assert len(rows) == 2
    finished, empty = rows
    assert finished["return_mean"] == 2.0 and finished["step"] == 120 and finished["runs"] == 1
    assert empty["return_mean"] is None and empty["step"] is None and empty["runs"] == 1
    r = CliRunner().invoke(cli, ["evaluate", "--compare", str(done), str(tmp_path / "none")])
    assert r.exit_code == 0, r.stderr
    assert ("env on reach-v3 (dense, 40-step episodes): no episode has finished yet in its "
            "1 run(s)") in r.stderr


def test_runs_with_the_same_seed_count_as_one_seed(tmp_path):
    """Final returns 1 and 5 (seed 0, twice) and 2 (seed 1): seed 0 counts once, as 3, so
    the mean across seeds is 2.5 and the std 0.5 (not 2.67 and 1.70 over the three runs)."""
    a, b = fake_run(tmp_path / "a", 0, 40, 2), fake_run(tmp_path / "b", 0, 40, 2, offset=4)
    c = fake_run(tmp_path / "c", 1, 40, 2)
    with pytest.warns(UserWarning, match=f"runs {a}, {b} share seed 0; counted as 2 seed"):
        rows, _ = compare(a, b, c)
    row, = rows
    assert row["seeds"] == 2 and row["runs"] == 3
    assert row["return_mean"] == pytest.approx(2.5) and row["return_std"] == pytest.approx(0.5)


def test_evaluations_are_not_averaged_with_training_episodes(tmp_path):
    """One run evaluated (return 100 each time), one not: the group compares both on their
    training episodes (last returns 2 and 3: mean 2.5), and says so."""
    a = fake_run(tmp_path / "a", 0, 40, 3, evals=100.0)
    b = fake_run(tmp_path / "b", 1, 40, 3)
    with pytest.warns(UserWarning, match="evaluated in some runs only; compared on training"):
        rows, _ = compare(a, b)
    row, = rows
    assert row["source"] == "episodes" and row["return_mean"] == 2.5 and row["step"] == 120
    rows, _ = compare(a)  # alone, its evaluations
    assert rows[0]["source"] == "eval" and rows[0]["return_mean"] == 100.0


def test_csv_has_unix_line_endings(tmp_path):
    """cut and awk read the last field without a trailing carriage return."""
    run = fake_run(tmp_path / "a", 0, 40, 3)
    r = CliRunner().invoke(cli, ["evaluate", "--compare", str(run), "--csv", str(tmp_path / "c.csv")])
    assert r.exit_code == 0, r.stderr
    data = (tmp_path / "c.csv").read_bytes()
    assert b"\r" not in data and data.count(b"\n") == 2


def test_plot_and_csv_into_a_folder_not_made_yet(tmp_path):
    """`--plot cmp/c.png --csv cmp/c.csv` with no cmp/ made it, as --out and --video do (it
    was a FileNotFoundError after the work); nothing but the two files is written."""
    run = fake_run(tmp_path / "a", 0, 40, 3)
    plot, csv = tmp_path / "cmp" / "deeper" / "c.png", tmp_path / "cmp2" / "c.csv"
    r = CliRunner().invoke(cli, ["evaluate", "--compare", str(run), "--plot", str(plot),
                                 "--csv", str(csv)])
    assert r.exit_code == 0, r.stderr
    assert r.stderr.strip().endswith(f"wrote {plot}, {csv}"), r.stderr  # the CSV went unsaid
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # a PNG, though written via c.png.tmp
    assert csv.read_text().splitlines()[0].startswith("task,mode,method")
    assert sorted(p.name for p in plot.parent.iterdir()) == ["c.png"]
    assert sorted(p.name for p in csv.parent.iterdir()) == ["c.csv"]
    jpg = tmp_path / "jpg" / "c.jpg"  # the suffix still picks the format
    r = CliRunner().invoke(cli, ["evaluate", "--compare", str(run), "--plot", str(jpg)])
    assert r.exit_code == 0, r.stderr
    assert jpg.read_bytes()[:3] == b"\xff\xd8\xff"


def test_a_baselines_settings_make_another_method(tmp_path):
    """Runs of one baseline with other weights or settings are other rows, not other seeds;
    a vlm-rm run saved before --baseline-strength existed was the plain cosine (strength 0)."""
    runs = [fake_run(tmp_path / d, seed, 40, 2, reward, **options)
            for d, seed, reward, options in [
        ("a", 0, "vlm-rm", {"baseline_strength": 0.5}),
        ("b", 1, "vlm-rm", {"baseline_strength": 0.0}),
        ("c", 2, "vlm-rm", {}),
        ("d", 0, "diffusion-reward", {"diffusion_reward_expl_scale": 0.5,
                                      "diffusion_reward_skip_step": 9}),
        ("e", 0, "tadpole", {"tadpole_noise_level": 400}),
        ("f", 0, "roboclip", {"s3d_model": "tiny", "roboclip_demo": "/d/demo.h5"}),
        ("g", 0, "vlm-rm", {"baseline_strength": 0.5, "baseline_prompt": "a gripper"}),
    ]]
    rows, _ = compare(*runs)
    assert {r["method"]: r["seeds"] for r in rows} == {
        "vlm-rm": 1, "vlm-rm strength=0": 2, "diffusion-reward expl_scale=0.5": 1,
        "tadpole noise=400": 1, "roboclip demo": 1, "vlm-rm baseline='a gripper'": 1}


def test_the_table_says_whether_a_row_comes_from_evaluations_or_training(tmp_path):
    evaluated = fake_run(tmp_path / "a", 0, 40, 2, evals=7.0)
    trained = fake_run(tmp_path / "b", 0, 40, 2, reward="vlm-rm", baseline_strength=0.5)
    r = CliRunner().invoke(cli, ["evaluate", "--compare", str(evaluated), str(trained)])
    assert r.exit_code == 0, r.stderr
    lines = [x for x in r.stderr.splitlines() if "reach-v3" in x]
    assert len(lines) == 2, r.stderr
    env, vlm = sorted(lines, key=lambda x: "vlm-rm" in x)
    assert " 7 " in env and "+-" not in env and " eval " in env  # one seed: no spread
    assert "vlm-rm" in vlm and " training " in vlm


def test_a_row_of_several_seeds_gives_their_spread_one_seed_only_its_mean(tmp_path):
    """One seed used to read `7 +- 0`, as if its spread were measured; the std is shown
    only where there are seeds to spread (population std of 1 and 3 is 1)."""
    two = [fake_run(tmp_path / f"s{seed}", seed, 40, 2, evals=1.0 + 2 * seed) for seed in (0, 1)]
    r = CliRunner().invoke(cli, ["evaluate", "--compare", *map(str, two)])
    assert r.exit_code == 0, r.stderr
    row = [x for x in r.stderr.splitlines() if "reach-v3" in x]
    assert len(row) == 1 and " 2 +- 1 " in row[0], r.stderr


def test_a_narrow_terminal_gets_one_line_per_row_not_ellipses(tmp_path):
    """At COLUMNS=40 the table cannot fit: each row is written whole as `column: value`
    pairs, so the returns stay readable; at the default width it is a table."""
    evaluated = fake_run(tmp_path / "a", 0, 40, 2, evals=7.0)
    narrow = CliRunner().invoke(cli, ["evaluate", "--compare", str(evaluated)],
                                env={"COLUMNS": "40"})
    assert narrow.exit_code == 0, narrow.stderr
    assert "…" not in narrow.stderr
    row = [x for x in narrow.stderr.splitlines() if "reach-v3" in x]
    assert len(row) == 1 and "task: reach-v3" in row[0] and "return: 7;" in row[0], row
    wide = CliRunner().invoke(cli, ["evaluate", "--compare", str(evaluated)])
    assert "task: " not in wide.stderr and " 7 " in wide.stderr


def test_runs_evaluated_at_other_steps_are_interpolated_not_paired_by_position(tmp_path):
    """Runs evaluated every 256 and every 320 steps were averaged point by point (the
    return at 512 with the one at 640) under the first run's step, so the order of the
    arguments changed the step shown. The returns are now interpolated onto common steps."""
    from genreward_cli.stages.evaluate import RunCurve, _align

    def curve(name, steps, returns):
        steps = np.asarray(steps, np.int64)
        returns = np.asarray(returns, np.float64)
        return RunCurve(name, "reach-v3", "dense", "env", 0, steps, returns, returns / 100,
                        "eval")

    every256 = curve("a", [256, 512, 768, 1024], [10, 20, 30, 40])
    every320 = curve("b", [320, 640], [50, 70])
    for runs in ([every256, every320], [every320, every256]):
        steps, values, success, note = _align(runs)
        assert steps.tolist() == [320, 640]
        a = values[0] if runs[0] is every256 else values[1]
        np.testing.assert_allclose(a, [12.5, 25.0])  # 10 + 10 * 64/256, 20 + 10 * 128/256
        assert "interpolated linearly onto the steps between 320 and 640 of b" in note
    # a shorter run: compared up to its last step, the longer run's later points named
    steps, values, _, note = _align([every256, curve("c", [256, 512], [1, 2])])
    assert steps.tolist() == [256, 512] and values[:, -1].tolist() == [20, 2]
    assert note == ("compared up to step 512, the last that every run has; left out the later "
                    "points of a (to step 1024)")
    assert _align([every256, curve("d", [256, 512, 768, 1024], [0, 0, 0, 0])])[3] == ""
    # through the CLI: runs of one group that end at other steps give the same row in
    # either order
    a = fake_run(tmp_path / "a", 0, 40, 4, evals=100.0)  # evaluations at 40, 80, 120, 160
    b = fake_run(tmp_path / "b", 1, 40, 2, evals=50.0)  # at 40, 80
    with pytest.warns(UserWarning, match="compared up to step 80, the last that every run "
                                         "has; left out the later points of "):
        first, _ = compare(a, b)
    with pytest.warns(UserWarning, match="compared up to step 80"):
        second, _ = compare(b, a)
    assert first == second and first[0]["step"] == 80 and first[0]["return_mean"] == 75.0


def test_a_run_folder_without_its_log_yet_is_a_row_not_an_error(tmp_path):
    """A sweep's run before its first checkpoint (config.json, no log.h5) made the whole
    comparison fail; it is a row without figures now, with a warning. A path that does not
    exist says so, and a run interrupted while writing its log says how to write it."""
    done = fake_run(tmp_path / "done", 0, 40, 3)
    running = tmp_path / "running"
    running.mkdir()
    (running / "config.json").write_text(json.dumps(
        {"task": "reach-v3", "reward": "env", "reward_mode": "dense", "seed": 1,
         "max_steps": 40, "agent": {}}))
    with pytest.warns(UserWarning, match=r"running: no log.h5 yet: a train-agent run writes it "
                                         r"at its first checkpoint .*; compared without points"):
        rows, _ = compare(done, running)
    assert [(r["step"], r["return_mean"]) for r in rows] == [(120, 2.0), (None, None)]
    (running / "checkpoint.pt").write_bytes(b"")
    r = CliRunner().invoke(cli, ["evaluate", str(running), "--out", str(tmp_path / "e.h5")])
    assert r.exit_code == 2 and (f"{running}: a checkpoint but no log.h5 (interrupted while "
                                 f"writing it); `genreward train-agent --out {running} "
                                 "--resume` writes it") in r.stderr, r.stderr
    r = CliRunner().invoke(cli, ["evaluate", "--compare", str(done), str(tmp_path / "nope")])
    assert r.exit_code == 2 and f"{tmp_path / 'nope'}: no such file or folder" in r.stderr
    model = tmp_path / "model"  # a folder with some other config.json is no run
    model.mkdir()
    (model / "config.json").write_text('{"_class_name": "AutoencoderKLCogVideoX"}')
    r = CliRunner().invoke(cli, ["evaluate", "--compare", str(done), str(model)])
    assert r.exit_code == 2 and f"{model}: no log.h5: not a train-agent run directory" \
        in r.stderr, r.stderr


def test_plot_and_csv_on_one_path_are_refused(tmp_path):
    """`--plot s.png --csv s.png`: the CSV overwrote the figure (exit 0); refused in one line,
    nothing written, also when the paths are spelled differently."""
    run = fake_run(tmp_path / "a", 0, 40, 3)
    for csv in (tmp_path / "s.png", tmp_path / "x" / ".." / "s.png"):
        r = CliRunner().invoke(cli, ["evaluate", "--compare", str(run), "--plot",
                                     str(tmp_path / "s.png"), "--csv", str(csv)])
        assert r.exit_code == 2 and "--plot and --csv are both" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "s.png").exists()


def test_one_run_given_twice_is_refused(tmp_path):
    """`--compare env/0 env/0/log.h5 env/1` warned that two runs "share seed 0" and counted
    the run twice: its folder and its log are one run, refused in one line."""
    a, b = fake_run(tmp_path / "a", 0, 40, 2), fake_run(tmp_path / "b", 1, 40, 2)
    (tmp_path / "link").symlink_to(a)
    for twice in (a / "log.h5", tmp_path / "link"):
        r = CliRunner().invoke(cli, ["evaluate", "--compare", str(a), str(twice), str(b)])
        assert r.exit_code == 2, r.stderr
        assert r.stderr.strip() == f"Error: {a} and {twice} are one run: give it once"


def test_the_curves_figure_is_written_as_its_suffix_says(tmp_path):
    """--plot takes pdf and svg as its help says (they were refused as no image), and refuses
    another suffix in one line."""
    a = fake_run(tmp_path / "a", 0, 40, 3)
    for name, head in (("c.pdf", b"%PDF"), ("c.svg", b"<?xml"), ("c.png", b"\x89PNG")):
        r = CliRunner().invoke(cli, ["evaluate", "--compare", str(a), "--plot",
                                     str(tmp_path / name)])
        assert r.exit_code == 0, r.stderr
        assert (tmp_path / name).read_bytes().startswith(head)
    r = CliRunner().invoke(cli, ["evaluate", "--compare", str(a), "--plot",
                                 str(tmp_path / "c.eps")])
    assert r.exit_code == 2 and "a figure must end in .png, .jpg, .jpeg, .pdf, .svg" in r.stderr
