"""`genreward pipeline` end to end at the tiny preset, then a re-run that skips and resumes."""

import json

import pytest
from click.testing import CliRunner

from genreward_cli import artifacts
from genreward_cli.cli import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    """One tiny pipeline on reach-v3, 512 agent steps: its directory and JSON summary."""
    out = tmp_path_factory.mktemp("pipeline") / "demo"
    r = run("pipeline", "--task", "reach-v3", "--out", out, "--steps", 512, "--json")
    assert r.exit_code == 0, r.stderr
    return out, json.loads(r.stdout)


def test_tiny_pipeline_end_to_end_then_rerun_skips_finished_stages(pipeline_run):
    out, first = pipeline_run
    assert [s["action"] for s in first["stages"]] == ["ran"] * 9
    for name in ("expert.h5", "video_model/finetune_log.h5", "goal_video.h5", "goal_video.mp4",
                 "goal_frame.h5", "goal_frame_scores.png", "goal.h5", "random.h5", "fb.h5",
                 "agent/log.h5", "eval.h5", "rollouts.mp4", "curves.png", "curves.csv"):
        assert (out / name).stat().st_size > 0, name
    # the hand-over is through files: each stage names its inputs with their hashes
    with artifacts.open_artifact(out / "agent" / "log.h5", "agent_log") as art:
        # recorded absolute, so that a later stage finds them from any directory
        want = {str((out / name).resolve()) for name in ("goal.h5", "fb.h5")}
        assert {p["path"] for p in art.parents} == want
        assert int(art.attrs["steps"]) == 512
    with artifacts.open_artifact(out / "goal.h5", "goal") as art:  # usable from any directory
        assert json.loads(art.attrs["video_encoder"])["vae"] == str((out / "video_model").resolve())
    assert first["eval"]["episodes"] == 5 and 0 <= first["goal_frame"]["index"] < 49

    # the same command again: nothing is redone
    r = run("pipeline", "--task", "reach-v3", "--out", out, "--steps", 512, "--json")
    assert r.exit_code == 0, r.stderr
    assert [s["action"] for s in json.loads(r.stdout)["stages"]] == ["skipped"] * 9


@pytest.mark.slow
def test_more_pipeline_steps_resume_the_agent_and_skip_the_rest(pipeline_run):
    """More agent steps: the agent resumes from its checkpoint, evaluation follows, the rest
    stays."""
    out, _ = pipeline_run
    r = run("pipeline", "--task", "reach-v3", "--out", out, "--steps", 768, "--dry-run")
    assert r.exit_code == 0
    assert "resume  train-agent     at 512 of 768 steps" in r.stderr
    assert "run  evaluate        after train-agent" in r.stderr
    r = run("pipeline", "--task", "reach-v3", "--out", out, "--steps", 768, "--json")
    assert r.exit_code == 0, r.stderr
    actions = {s["stage"]: s["action"] for s in json.loads(r.stdout)["stages"]}
    assert actions.pop("train-agent") == "resumed" and actions.pop("evaluate") == "ran"
    assert set(actions.values()) == {"skipped"}
    with artifacts.open_artifact(out / "eval.h5", "eval") as art:
        assert int(art.attrs["step"]) == 768


def test_pipeline_bad_input(tmp_path):
    r = run("pipeline", "--task", "reach-v9", "--out", tmp_path / "x")
    assert r.exit_code == 2 and "unknown Meta-World task 'reach-v9'" in r.stderr
    assert not (tmp_path / "x").exists()
    (tmp_path / "file").write_text("")
    r = run("pipeline", "--task", "reach-v3", "--out", tmp_path / "file")
    assert r.exit_code == 2 and "is a file" in r.stderr
