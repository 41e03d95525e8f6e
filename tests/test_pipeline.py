"""`genreward pipeline` end to end at the tiny preset, then a re-run that skips and resumes."""

import json
import os
import warnings
from pathlib import Path

import pytest

from genreward_cli import store
from genreward_cli.stages import pipeline
from helpers import refused, run


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    """One tiny pipeline on reach-v3, 512 agent steps: its directory and JSON summary."""
    out = tmp_path_factory.mktemp("pipeline") / "demo"
    r = run("pipeline", "--task", "reach-v3", "--out", out, "--steps", 512, "--json")
    assert r.exit_code == 0, r.stderr
    return out, json.loads(r.stdout)


def test_tiny_pipeline_end_to_end_then_rerun_skips_finished_stages(pipeline_run):
    out, first = pipeline_run
    assert [s["action"] for s in first["stages"]] == ["ran"] * 10  # the last is the compare
    assert first["stages"][-1]["stage"] == "compare"
    for name in ("expert.h5", "video_model/finetune_log.h5", "goal_video.h5", "goal_video.mp4",
                 "goal_frame.h5", "goal_frame_scores.png", "goal.h5", "random.h5", "fb.h5",
                 "agent/log.h5", "eval.h5", "rollouts.mp4", "curves.png", "curves.csv"):
        assert (out / name).stat().st_size > 0, name
    # the hand-over is through files: each stage names its inputs with their hashes
    with store.open_artifact(out / "agent" / "log.h5", "agent_log") as art:
        # recorded absolute, so that a later stage finds them from any directory
        want = {str((out / name).resolve()) for name in ("goal.h5", "fb.h5")}
        assert {p["path"] for p in art.parents} == want
        assert int(art.attrs["steps"]) == 512
    with store.open_artifact(out / "goal.h5", "goal") as art:  # usable from any directory
        assert json.loads(art.attrs["video_encoder"])["vae"] == str((out / "video_model").resolve())
    assert first["eval"]["episodes"] == 5 and 0 <= first["goal_frame"]["index"] < 49

    # the same command again: nothing is redone
    r = run("pipeline", "--task", "reach-v3", "--out", out, "--steps", 512, "--json")
    assert r.exit_code == 0, r.stderr
    assert [s["action"] for s in json.loads(r.stdout)["stages"]] == ["skipped"] * 9 + ["ran"]


def test_more_finetune_steps_resume_the_finetune_and_another_seed_keeps_it(pipeline_run,
                                                                          tmp_path):
    """A larger --finetune-steps was refused as "would replace the agent run
    .../video_model": the finetuned model resumes from its last checkpoint instead (the
    stages that read it run again), and a plan that would replace it (another --seed) is
    refused naming the video model, not an agent run."""
    import shutil

    out, _ = pipeline_run
    goal_only = tmp_path / "demo"
    shutil.copytree(out, goal_only, ignore=shutil.ignore_patterns("agent", "eval.h5"))
    base = ["pipeline", "--task", "reach-v3", "--out", goal_only, "--steps", 512, "--dry-run"]
    r = run(*base, "--finetune-steps", 60, "--json")
    assert r.exit_code == 0, r.stderr
    plan = {s["stage"]: (s["action"], s["why"]) for s in json.loads(r.stdout)["stages"]}
    assert plan["finetune"] == ("resume", "at 50 of 60 steps"), plan
    assert plan["generate"] == ("run", "after finetune") and plan["collect expert"][0] == "done"
    r = run(*base, "--finetune-steps", 40, "--json")  # a longer finetune is not undone
    assert json.loads(r.stdout)["stages"][1]["action"] == "done", r.stdout
    r = run(*base, "--seed", 1)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"Error: finetune: would replace the finetuned video model "
                               f"{goal_only / 'video_model'} ("), r.stderr
    assert "--seeds" not in r.stderr and "--force" in r.stderr
    # with the agent run downstream: the plan is refused for it, as before
    r = run("pipeline", "--task", "reach-v3", "--out", out, "--steps", 512, "--dry-run",
            "--finetune-steps", 60)
    assert r.exit_code == 2 and "train-agent: would replace the agent run" in r.stderr, r.stderr


def test_a_moved_pipeline_folder_stays_up_to_date_and_usable(pipeline_run, tmp_path):
    """A run folder moved elsewhere (scratch to shared storage): every stage is still up to
    date, its files chain (the goal finds its moved VAE, FB its goal), and inspect finds the
    parents where they are now; the original location is gone meanwhile."""
    import shutil

    out, _ = pipeline_run
    moved = tmp_path / "moved é" / "demo"
    shutil.copytree(out, moved)
    away = out.with_name(out.name + ".away")
    out.rename(away)
    try:
        r = run("pipeline", "--task", "reach-v3", "--out", moved, "--steps", 512, "--dry-run",
                "--json")
        assert r.exit_code == 0, r.stderr
        stages = json.loads(r.stdout)["stages"][:-1]  # the closing compare always runs
        assert {(s["action"], s["why"]) for s in stages} == {("done", "up to date")}, stages
        with pytest.warns(UserWarning, match="its VAE .* is gone; using .*moved é"):
            r = run("score-reward", moved / "expert.h5", moved / "random.h5", "--goal",
                    moved / "goal.h5", "--fb", moved / "fb.h5", "--out", tmp_path / "s.h5")
        assert r.exit_code == 0, r.stderr
        r = run("inspect", moved / "fb.h5", "--json")
        assert r.exit_code == 0, r.stderr
        parents = json.loads(r.stdout)["provenance"]
        assert parents and all(p["status"] == "ok" and p["found_at"].startswith(str(moved))
                               for p in parents), parents
        # the moved run continues: its goal and FB are found where they are now
        r = run("pipeline", "--task", "reach-v3", "--out", moved, "--steps", 576, "--dry-run",
                "--json")
        assert [s["action"] for s in json.loads(r.stdout)["stages"]][-3:-1] == ["resume", "run"]
        with pytest.warns(UserWarning, match="its VAE .* is gone"):
            r = run("train-agent", "--out", moved / "agent", "--resume", "--steps", 576)
        assert r.exit_code == 0, r.stderr
        saved = json.loads((moved / "agent" / "config.json").read_text())
        assert saved["goal"] == str((moved / "goal.h5").resolve())
        assert saved["written_as"] == str((moved / "agent").resolve())
    finally:
        away.rename(out)


@pytest.mark.slow
def test_more_pipeline_steps_resume_the_agent_and_skip_the_rest(pipeline_run):
    """More agent steps: the agent resumes from its checkpoint, evaluation follows, the rest
    stays."""
    out, _ = pipeline_run
    r = run("pipeline", "--task", "reach-v3", "--out", out, "--steps", 768, "--dry-run")
    assert r.exit_code == 0 and r.stderr == "", r.stderr  # the plan is the output: stdout
    assert "resume  train-agent     at 512 of 768 steps" in r.stdout
    resume = next(x.strip() for x in r.stdout.splitlines() if "genreward train-agent " in x)
    assert "--steps 768 " in resume and resume.endswith("--out agent --resume")
    assert "genreward collect " not in r.stdout  # a stage that is done has no command
    assert "run  evaluate        after train-agent" in r.stdout
    r = run("pipeline", "--task", "reach-v3", "--out", out, "--steps", 768, "--json")
    assert r.exit_code == 0, r.stderr
    actions = {s["stage"]: s["action"] for s in json.loads(r.stdout)["stages"]}
    assert actions.pop("train-agent") == "resumed" and actions.pop("evaluate") == "ran"
    assert actions.pop("compare") == "ran" and set(actions.values()) == {"skipped"}
    with store.open_artifact(out / "eval.h5", "eval") as art:
        assert int(art.attrs["step"]) == 768


def test_pipeline_bad_input(tmp_path):
    r = run("pipeline", "--task", "reach-v9", "--out", tmp_path / "x")
    assert r.exit_code == 2 and "unknown Meta-World task 'reach-v9'" in r.stderr
    assert not (tmp_path / "x").exists()
    (tmp_path / "file").write_text("")
    r = run("pipeline", "--task", "reach-v3", "--out", tmp_path / "file")
    assert r.exit_code == 2 and "is a file" in r.stderr


@pytest.mark.parametrize("existed", [False, True])
def test_a_pipeline_failing_in_its_first_stage_leaves_no_empty_out(tmp_path, monkeypatch,
                                                                    existed):
    """The folders the pipeline made for --out go when its first stage fails or is stopped
    (they were left empty); a folder that existed before is kept."""
    from genreward_cli.errors import BadInput

    def refused(stage, root, mode):
        assert root.is_dir()
        raise BadInput(f"stage '{stage.name}' failed (exit 2)")

    monkeypatch.setattr(pipeline, "run_stage", refused)
    out = tmp_path / "sweep" / "reach"
    if existed:
        out.mkdir(parents=True)
    r = run("pipeline", "--task", "reach-v3", "--out", out)
    assert r.exit_code == 2 and "stage 'collect expert' failed" in r.stderr, r.stderr
    assert out.is_dir() == existed and (tmp_path / "sweep").exists() == existed


def test_a_stage_failing_after_a_recorded_stop_is_the_stop(tmp_path, monkeypatch):
    """A Ctrl-C whose KeyboardInterrupt Python swallowed (in a finaliser; it is raised
    again 10 ms later) while the stage failed under the same Ctrl-C: the pipeline reported
    `stage ... failed (exit 1)` and exited 1, which a shell loop takes for a handled signal.
    A recorded stop wins: `Aborted!`."""
    import signal

    from genreward_cli import cli
    from genreward_cli.errors import GenrewardError

    def stopped(stage, root, mode):
        cli._signals.append(signal.SIGINT)  # as the handler records it
        raise GenrewardError(f"stage '{stage.name}' failed (exit 1)")

    monkeypatch.setattr(pipeline, "run_stage", stopped)
    r = run("pipeline", "--task", "reach-v3", "--out", tmp_path / "p")
    assert r.exit_code == 1 and r.stderr.splitlines()[-1] == "Aborted!", r.stderr
    assert "failed" not in r.stderr, r.stderr


def test_options_no_chosen_method_reads_are_named_in_one_warning(tmp_path):
    """`--s3d-model` with `--methods env` was taken silently (train-agent and score-reward
    warn about reward options); so were the goal stages' options without genreward."""
    base = ["pipeline", "--task", "reach-v3", "--out", tmp_path / "p", "--dry-run"]
    with pytest.warns(UserWarning) as seen:
        r = run(*base, "--methods", "env,tadpole", "--s3d-model", "tiny", "--fb-steps", 5,
                "--clip-model", "tiny", "--tadpole-model", "tiny", "--episodes", 2)
    assert r.exit_code == 0, r.stderr
    assert [str(w.message) for w in seen] == [
        "--methods env,tadpole does not use --s3d-model, --fb-steps, --clip-model, "
        "--episodes: ignored"]
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="--methods")  # would fail the command
        r = run(*base, "--methods", "genreward,roboclip", "--s3d-model", "tiny",
                "--fb-steps", 5, "--clip-model", "tiny", "--episodes", 2)
        r2 = run(*base, "--methods", "diffusion-reward", "--episodes", 2)
    assert r2.exit_code == 0, r2.stderr
    assert r.exit_code == 0, r.stderr
    assert not (tmp_path / "p").exists()


def test_one_seed_given_as_seeds_keeps_its_own_run_folder(tmp_path):
    """`--seeds 1` in a shell loop over seeds goes to runs/genreward/1 (it went to agent/,
    which the next seed replaced with --force); `--seed 1` alone keeps agent/."""
    by_seeds = pipeline.stages("reach-v3", "tiny", seed=0, seeds=(1,))
    by_seed = pipeline.stages("reach-v3", "tiny", seed=1)
    outs = lambda plan: [s.argv[s.argv.index("--out") + 1] for s in plan
                         if s.name.startswith(("train-agent", "evaluate"))]
    assert outs(by_seeds) == ["runs/genreward/1", "evals/genreward-1.h5"]
    assert outs(by_seed) == ["agent", "eval.h5"]
    r = run("pipeline", "--task", "reach-v3", "--out", tmp_path / "p", "--seeds", "1",
            "--dry-run", "--json")
    assert r.exit_code == 0, r.stderr
    commands = [s["command"] for s in json.loads(r.stdout)["stages"]]
    assert any("--seed 1" in c and "--out runs/genreward/1" in c for c in commands), commands


def test_a_stage_refused_for_bad_input_makes_the_pipeline_exit_2(tmp_path):
    """A stage's exit 2 (bad input, an output another process writes) was the pipeline's
    exit 1; the error names the stage and its exit code."""
    from genreward_cli.errors import BadInput

    bad = pipeline.Stage("collect", ["collect", "--task", "no-such-task-v3", "--out", "x.h5"],
                         "x.h5", "episodes")
    with pytest.raises(BadInput, match=r"stage 'collect' failed \(exit 2\)"):
        pipeline.run_stage(bad, tmp_path, "run")


def test_an_interrupted_resumable_stage_says_to_rerun_the_pipeline(monkeypatch, capsys):
    """Ctrl-C in a pipeline's train-agent: the stage's own line says `rerun with --resume`,
    which pipeline does not take; the pipeline adds how to go on (a stage that keeps
    nothing resumable adds nothing)."""
    import signal

    from genreward_cli.errors import ReportedInterrupt

    class Interrupted:  # the stage process: Ctrl-C reaches both, the stage ends by SIGINT
        def __init__(self, argv, cwd=None, env=None):
            self.waited = 0

        def wait(self, timeout=None):
            self.waited += 1
            if self.waited == 1:
                raise KeyboardInterrupt()
            return -signal.SIGINT

        def poll(self):
            return -signal.SIGINT

    monkeypatch.setattr(pipeline.subprocess, "Popen", Interrupted)
    agent = pipeline.Stage("train-agent", ["train-agent", "--out", "agent"], "agent/log.h5",
                           "agent_log", resumable=True)
    with pytest.raises(ReportedInterrupt):
        pipeline.run_stage(agent, Path("."), "resume")
    assert capsys.readouterr().err == (
        "pipeline: rerun the same `genreward pipeline` command to continue; it resumes "
        "train-agent from its last checkpoint (or starts it again without one)\n")
    collect = pipeline.Stage("collect", ["collect", "--out", "x.h5"], "x.h5", "episodes")
    with pytest.raises(ReportedInterrupt):
        pipeline.run_stage(collect, Path("."), "run")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("rc, stop, signame", [
    (-2, "ReportedInterrupt", "SIGINT"), (143, "ReportedTermination", "SIGTERM"),
    (-15, "ReportedTermination", "SIGTERM")])
def test_a_stage_stopped_before_the_pipeline_stops_the_pipeline(monkeypatch, capsys, rc, stop,
                                                                 signame):
    """A Ctrl-C that ends a stage during its start-up, before the pipeline's own handler
    runs, or a signal to the stage alone: the pipeline said `stage failed (exit -2)` and
    exited 1. It now says the stage was stopped, how to go on, and ends as the stage did.
    The stage is given the pipeline's pid, to end with it (genreward_cli/parent.py)."""
    from genreward_cli import errors
    from genreward_cli.parent import PARENT_PID_VAR

    started = []

    class Stopped:
        def __init__(self, argv, cwd=None, env=None):
            started.append(env)

        def wait(self, timeout=None):
            return rc

    monkeypatch.setattr(pipeline.subprocess, "Popen", Stopped)
    agent = pipeline.Stage("train-agent", ["train-agent", "--out", "agent"], "agent/log.h5",
                           "agent_log", resumable=True)
    with pytest.raises(getattr(errors, stop)):
        pipeline.run_stage(agent, Path("."), "resume")
    err = capsys.readouterr().err.splitlines()
    assert err == ["pipeline: rerun the same `genreward pipeline` command to continue; it "
                   "resumes train-agent from its last checkpoint (or starts it again without "
                   "one)", f"pipeline: stage 'train-agent' was stopped ({signame})"], err
    assert started[0][PARENT_PID_VAR] == str(os.getpid())


def test_an_interrupted_train_fb_is_resumed_not_started_over(tmp_path):
    """train-fb keeps OUT.ckpt.pt when interrupted; the pipeline ran it again with --force,
    which started over (hours of updates at the paper preset). It resumes it now, and says
    so when it is interrupted; a changed train-fb is rerun, not refused as an agent run is."""
    fb = [s for s in pipeline.stages("reach-v3", "tiny") if s.name == "train-fb"][0]
    assert fb.resumable and pipeline.status(fb, tmp_path) == ("run", "no output yet")
    (tmp_path / "fb.h5.ckpt.pt").write_bytes(b"")
    assert pipeline.status(fb, tmp_path) == ("resume", "a checkpoint to continue from")
    assert pipeline.command(fb, "resume").endswith(" --out fb.h5 --resume")
    pipeline.check_agent_runs_kept([fb], [("run", "other options")], tmp_path)  # no error


def test_methods_and_seeds_share_the_goal_stages_and_run_each_agent():
    from genreward_cli.stages.pipeline import stages

    plan = stages("shelf-place-v3", "tiny", seed=3, methods=("genreward", "env", "tadpole"),
                  seeds=(0, 1))
    names = [s.name for s in plan]
    assert names[:7] == ["collect expert", "finetune", "generate", "select-frame", "encode-goal",
                         "collect random", "train-fb"]  # once, with --seed
    seeds = {s.name: s.argv[s.argv.index("--seed") + 1] for s in plan[:7] if "--seed" in s.argv}
    assert seeds.pop("collect random") == "4" and set(seeds.values()) == {"3"}
    agents = {s.name: s for s in plan[7:] if s.name.startswith("train-agent")}
    assert sorted(agents) == sorted(f"train-agent {m} {k}" for m in ("genreward", "env", "tadpole")
                                    for k in (0, 1))
    a = agents["train-agent tadpole 1"].argv
    assert a[a.index("--out") + 1] == "runs/tadpole/1" and a[a.index("--seed") + 1] == "1"
    assert a[a.index("--reward") + 1] == "tadpole" and a[a.index("--tadpole-model") + 1] == "tiny"
    assert "--goal" not in a and "--goal" in agents["train-agent genreward 0"].argv
    ev = [s for s in plan if s.name == "evaluate env 0"][0]
    assert ev.argv[1] == "runs/env/0" and ev.marker == "evals/env-0.h5"
    # without genreward no goal is made; one genreward seed keeps the single-run layout
    assert [s.name for s in stages("reach-v3", "tiny", methods=("env",))] == [
        "train-agent env 0", "evaluate env 0"]
    single = stages("reach-v3", "tiny")
    assert [s.marker for s in single[-2:]] == ["agent/log.h5", "eval.h5"]


def test_add_env_reward_reaches_the_baselines_agents_only(tmp_path):
    """`pipeline --add-env-reward` (the paper's dense/sparse setting for every method) gives
    each baseline's train-agent `--add-env-reward`; genreward (eq. 10 has r_env) and env
    (it is r_env) are unchanged, and without baselines the option is named as unused."""
    methods = ("genreward", "env", "vlm-rm", "tadpole")
    plain = pipeline.stages("reach-v3", "tiny", methods=methods, seeds=(0,))
    added = pipeline.stages("reach-v3", "tiny", methods=methods, seeds=(0,), add_env_reward=True)
    for a, b in zip(plain, added):
        if a.name in ("train-agent vlm-rm 0", "train-agent tadpole 0"):
            assert b.argv.count("--add-env-reward") == 1
            assert [x for x in b.argv if x != "--add-env-reward"] == a.argv
        else:
            assert a.argv == b.argv, a.name
    assert set(pipeline.BASELINES) == set(pipeline.METHODS) - {"genreward", "env"}
    with pytest.warns(UserWarning, match=r"^--methods genreward,env does not use "
                                         r"--add-env-reward: ignored$"):
        r = run("pipeline", "--task", "reach-v3", "--out", tmp_path / "p", "--dry-run",
                "--methods", "genreward,env", "--add-env-reward")
    assert r.exit_code == 0, r.stderr
    r = run("pipeline", "--task", "reach-v3", "--out", tmp_path / "p", "--dry-run", "--json",
            "--methods", "env,clip-video", "--seeds", "0", "--add-env-reward")
    assert r.exit_code == 0, r.stderr
    commands = {s["stage"]: s["command"] for s in json.loads(r.stdout)["stages"]}
    assert "--add-env-reward" in commands["train-agent clip-video 0"]
    assert "--add-env-reward" not in commands["train-agent env 0"]


def test_paper_preset_uses_the_official_per_task_reward_interval():
    from genreward_cli.stages.pipeline import stages

    def interval(task):
        argv = [s for s in stages(task, "paper") if s.name == "train-agent"][0].argv
        return int(argv[argv.index("--reward-interval") + 1]) if "--reward-interval" in argv else 128

    assert interval("shelf-place-v3") == interval("bin-picking-v3") == 64
    assert interval("pick-out-of-hole-v3") == 64
    assert interval("pick-place-v3") == interval("disassemble-v3") == interval("reach-v3") == 128
    tiny = [s for s in stages("shelf-place-v3", "tiny") if s.name == "train-agent"][0].argv
    assert "--reward-interval" not in tiny  # the tiny preset keeps Table A's 128


@pytest.mark.parametrize("args, message", [
    (["--methods", "genreward,viper"], "unknown method 'viper'"),
    (["--methods", "env,env"], "an item given twice"),
    (["--seeds", "0,x"], "a comma-separated list of integers"),
    (["--preset", "paper", "--methods", "roboclip"], "needs --s3d-model"),
    # an unknown method was a warning about an option it "does not use", then this error
    (["--methods", "nope", "--s3d-model", "tiny"], "unknown method 'nope'"),
    # a folder that is no video model was found out by generate, after collect and the rest
    (["--video-model", "FOLDER"], "--video-model FOLDER: not a diffusers pipeline directory"),
    (["--video-model", "FOLDER/vm"], "--video-model FOLDER/vm: cannot read the model's configs"),
])
def test_pipeline_refuses_bad_methods_and_seeds(tmp_path, args, message):
    (tmp_path / "vm").mkdir()
    (tmp_path / "vm" / "model_index.json").write_text("{cut short")
    args = [a.replace("FOLDER", str(tmp_path)) for a in args]
    message = message.replace("FOLDER", str(tmp_path))
    for dry in ((), ("--dry-run",)):
        r = run("pipeline", "--task", "reach-v3", "--out", tmp_path / "x", *args, *dry)
        assert r.exit_code == 2 and message in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("args, message", [
    # --videos was first read by finetune, after the expert episodes were collected
    (["--videos", "FOLDER/nope.h5"], "--videos FOLDER/nope.h5: no such file"),
    (["--videos", "FOLDER/vm/model_index.json"], "--videos FOLDER/vm/model_index.json: not an "
                                                 "HDF5 file"),
    # an --out that cannot be made failed in the first stage, with a Python error
    (["--out", "FOLDER/vm/model_index.json/p"],
     "--out FOLDER/vm/model_index.json/p: cannot be written"),
])
def test_pipeline_reads_its_inputs_before_the_first_stage(tmp_path, args, message):
    """A run checks --videos and --out before it starts; a dry run, which may plan for
    another machine's files, does not."""
    (tmp_path / "vm").mkdir()
    (tmp_path / "vm" / "model_index.json").write_text("{}")
    args = [a.replace("FOLDER", str(tmp_path)) for a in args]
    r = run("pipeline", "--task", "reach-v3", "--out", tmp_path / "x", *args)
    refused(r, message.replace("FOLDER", str(tmp_path)), out=tmp_path / "x")
    r = run("pipeline", "--task", "reach-v3", "--out", tmp_path / "x", *args, "--dry-run")
    assert r.exit_code == 0, r.stderr


@pytest.mark.slow
def test_two_methods_two_seeds_end_in_one_comparison(tmp_path):
    out = tmp_path / "cmp"
    r = run("pipeline", "--task", "reach-v3", "--out", out, "--methods", "env,clip-video",
            "--seeds", "0,1", "--steps", 128, "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert [(x["method"], x["seed"]) for x in summary["runs"]] == [
        ("env", 0), ("env", 1), ("clip-video", 0), ("clip-video", 1)]
    assert summary["goal_frame"] is None and not (out / "goal.h5").exists()
    rows = (out / "curves.csv").read_text().splitlines()
    assert len(rows) == 3 and {row.split(",")[2] for row in rows[1:]} == {"env", "clip-video"}


def test_diffusion_reward_trains_its_video_model_on_the_expert_episodes(tmp_path):
    from genreward_cli.stages.pipeline import MODEL_DIR, stages, status

    plan = stages("reach-v3", "tiny", methods=("env", "diffusion-reward"))
    assert [s.name for s in plan] == ["collect expert", "train-video-model", "train-agent env 0",
                                      "evaluate env 0", "train-agent diffusion-reward 0",
                                      "evaluate diffusion-reward 0"]
    train = plan[1]
    assert train.argv[:2] == ["train-video-model", "expert.h5"] and train.kind == MODEL_DIR
    agent = plan[4].argv
    assert agent[agent.index("--diffusion-reward-model") + 1] == "dr_model"
    # a model directory is up to date when its JSON names this command and unchanged inputs
    (tmp_path / "expert.h5").write_bytes(b"episodes")
    (tmp_path / "dr_model").mkdir()
    meta = {"producer": "genreward " + " ".join(train.argv),
            "parents": [{"path": str(tmp_path / "expert.h5"),
                         "sha256": __import__("hashlib").sha256(b"episodes").hexdigest()}]}
    (tmp_path / "dr_model" / "diffusion_reward.json").write_text(json.dumps(meta))
    assert status(train, tmp_path) == ("done", "up to date")
    (tmp_path / "expert.h5").write_bytes(b"other episodes")
    assert status(train, tmp_path)[0] == "run"
    meta["producer"] += " --steps 7"
    (tmp_path / "dr_model" / "diffusion_reward.json").write_text(json.dumps(meta))
    assert status(train, tmp_path) == ("run", "made with other options")
    # where a stage ran does not matter: `--device cpu` made it, `--device auto` would
    meta["producer"] = meta["producer"].replace(" --steps 7", "").replace("--device auto",
                                                                          "--device cpu")
    assert "--device cpu" in meta["producer"]
    (tmp_path / "dr_model" / "diffusion_reward.json").write_text(json.dumps(meta))
    (tmp_path / "expert.h5").write_bytes(b"episodes")
    assert status(train, tmp_path) == ("done", "up to date")


def test_an_agent_run_is_not_replaced_without_force(tmp_path):
    """A `--seed $s` loop into one --out planned `train-agent ... --out agent --force`: the
    second seed deleted the first one's finished run (days at the paper preset). A plan that
    would replace an agent run is refused, dry or not, with nothing run; --force runs it."""
    out = tmp_path / "p"
    agent = out / "runs" / "env" / "0"
    agent.mkdir(parents=True)
    (agent / "log.h5").write_bytes(b"a run made with other options")
    base = ["pipeline", "--task", "reach-v3", "--methods", "env", "--out", out]
    for dry in ((), ("--dry-run",)):
        r = run(*base, *dry)
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert r.stderr.startswith(f"Error: train-agent env 0: would replace the agent run "
                                   f"{agent} (unreadable output"), r.stderr
        assert "--seeds 0,1,2" in r.stderr and "--force" in r.stderr
    assert sorted(p.name for p in agent.iterdir()) == ["log.h5"]
    r = run(*base, "--dry-run", "--force", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["stages"][0]["command"].endswith("--out runs/env/0 --force")


def test_a_second_pipeline_in_the_same_out_is_refused(tmp_path):
    """Two pipelines with the same --out both trained in its runs/ (two event files, the
    metrics of both runs mixed in one metrics.jsonl). The second is refused at its start; a
    dry run, which writes nothing, is not."""
    from genreward_cli.store import folder_lock

    out = tmp_path / "sweep" / "pp"
    with folder_lock(out):
        r = run("pipeline", "--task", "reach-v3", "--methods", "env", "--out", out)
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert f"{out}: another process is writing it now" in r.stderr
        r = run("pipeline", "--task", "reach-v3", "--methods", "env", "--out", out, "--dry-run")
        assert r.exit_code == 0, r.stderr
        assert f"note: another pipeline is writing {out} now" in r.stdout, r.stdout
    assert not (tmp_path / "sweep").exists()
    r = run("pipeline", "--task", "reach-v3", "--methods", "env", "--out", out, "--dry-run")
    assert r.exit_code == 0 and "another pipeline" not in r.stdout, r.stdout


def test_the_largest_seed_leaves_room_for_the_random_episodes_seed(tmp_path):
    """`--seed 4294967295` was planned, and its random episodes' `collect --seed 4294967296`
    would have failed after the goal stages. It is refused up front; one below it plans."""
    from genreward_cli.options import MAX_SEED

    base = ["pipeline", "--task", "reach-v3", "--out", tmp_path / "p", "--dry-run", "--json"]
    r = run(*base, "--seed", MAX_SEED)
    assert r.exit_code == 2 and "the largest seed here is 4294967294" in r.stderr, r.stderr
    r = run(*base, "--seed", MAX_SEED - 1)
    assert r.exit_code == 0, r.stderr
    assert any(s["command"] and "--seed 4294967295 --out random.h5" in s["command"]
               for s in json.loads(r.stdout)["stages"])
    assert run(*base, "--seed", MAX_SEED, "--methods", "env").exit_code == 0


def test_the_curves_cover_the_runs_of_earlier_invocations(tmp_path):
    """A shell loop of `--seeds N` into one --out keeps each seed's run, but the curves
    compared only this invocation's seed. Every run under runs/ with a log is compared."""
    out = tmp_path / "p"
    for folder in ("runs/env/1", "runs/genreward/0"):
        (out / folder).mkdir(parents=True)
        (out / folder / "log.h5").write_bytes(b"")
    (out / "runs" / "env" / "2").mkdir()  # no log yet: not compared
    r = run("pipeline", "--task", "reach-v3", "--methods", "env", "--seeds", 0, "--out", out,
            "--dry-run", "--json")
    assert r.exit_code == 0, r.stderr
    compare = json.loads(r.stdout)["stages"][-1]["command"]
    assert compare.startswith("genreward evaluate --compare runs/env/0 runs/env/1 "
                              "runs/genreward/0 --plot curves.png"), compare


def test_a_goal_video_length_generate_refuses_is_refused_up_front(tmp_path):
    """`pipeline --frames 10` (or 13, which finetune takes) collected the expert episodes and
    only then failed in finetune or generate. Refused before any stage."""
    base = ["pipeline", "--task", "reach-v3", "--out", tmp_path / "p", "--dry-run"]
    for frames, hint in [(10, "e.g. 9 or 17"), (13, "e.g. 9 or 17"), (7, "e.g. 1 or 9")]:
        r = run(*base, "--frames", frames)
        assert r.exit_code == 2 and f"--frames {frames}: the goal video is generated with " \
            "8k+1 frames" in r.stderr and hint in r.stderr, r.stderr
    assert run(*base, "--frames", 17).exit_code == 0
    assert run(*base, "--frames", 10, "--methods", "env").exit_code == 0  # warned as unused


def test_an_agent_run_resumed_by_hand_is_resumed_by_the_pipeline_not_refused(tmp_path,
                                                                              monkeypatch):
    """`train-agent --out runs/env/0 --resume --steps N` (the README's way to extend a run)
    recorded that command, which names no option, as the log's producer: the pipeline then
    took the run for one "made with other options" and refused to go on without --force,
    which reruns every stage. A run keeps the command that started it (`started_by`)."""
    def agent_stage(steps):
        return [s for s in pipeline.stages("reach-v3", "tiny", methods=["env"], steps=steps)
                if s.name.startswith("train-agent")][0]

    monkeypatch.chdir(tmp_path)  # where the pipeline runs its stages
    with pytest.warns(UserWarning, match="never updated"):  # within the prefill: quick
        r = run(*pipeline.stage_argv(agent_stage(48), "run"), "--max-steps", 16)
        assert r.exit_code == 0, r.stderr
        r = run("train-agent", "--out", tmp_path / "runs/env/0", "--resume", "--steps", 64)
        assert r.exit_code == 0, r.stderr
    with store.open_artifact(tmp_path / "runs/env/0/log.h5", "agent_log") as art:
        assert "--resume" in art.attrs["producer"]
        assert "--reward env" in json.loads(art.attrs["config"])["started_by"]
    stage = agent_stage(96)
    stage = pipeline.Stage(stage.name, [*stage.argv, "--max-steps", "16"], stage.marker,
                           stage.kind, resumable=True, done_steps=96)
    assert pipeline.status(stage, tmp_path) == ("resume", "at 64 of 96 steps")
    other = pipeline.Stage(stage.name, [*stage.argv, "--seed", "3"], stage.marker, stage.kind,
                           resumable=True, done_steps=96)  # still compared: other options
    assert pipeline.status(other, tmp_path) == ("run", "made with other options")
