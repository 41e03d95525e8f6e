"""The example scripts name only subcommands and options that exist."""

import re
from pathlib import Path

import pytest

from genreward_cli.cli import cli

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.sh"))


def commands(script: str):
    """(subcommand, [--options]) of each `$GR ...` or `genreward ...` command, continuation
    lines joined."""
    text = re.sub(r"\\\n\s*", " ", script)
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        if re.match(r"\s*\w+=\(", line):  # a bash array of names, e.g. METHODS=(genreward env)
            continue
        for m in re.finditer(r"(?:\$GR|\bgenreward)\s+([a-z][a-z-]*)(.*)", line):
            yield m.group(1), re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", m.group(2))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_commands_exist(path):
    found = list(commands(path.read_text()))
    for name, flags in found:
        assert name in cli.commands, f"{path.name}: no subcommand {name!r}"
        known = {o for p in cli.commands[name].params for o in p.opts + p.secondary_opts}
        unknown = [f for f in flags if f not in known]
        assert not unknown, f"{path.name}: genreward {name} has no {unknown}"


def test_paper_script_runs_every_method_and_both_reward_modes():
    text = (Path(__file__).parent.parent / "examples" / "paper.sh").read_text()
    assert 'MODES=${MODES:-"dense sparse"}' in text
    methods = re.search(r'METHODS=\$\{METHODS:-"([^"]+)"\}', text).group(1).split(",")
    from genreward_cli.stages.pipeline import METHODS

    assert set(methods) <= set(METHODS) and set(methods) == {"genreward", "env", "roboclip", "diffusion-reward",
                                                   "tadpole"}


@pytest.mark.parametrize("env_reward, added", [(None, True), ("", False)])
def test_paper_script_gives_the_baselines_the_env_reward(tmp_path, env_reward, added):
    """Fig. 5 and Fig. 7 compare every method under the env's dense or sparse reward
    (section 4.1): paper.sh passes `--add-env-reward` to each pipeline (the baselines'
    agents add r_env), and ENV_REWARD= runs the baselines' rewards alone."""
    import json
    import subprocess
    import sys

    record = tmp_path / "calls.jsonl"
    stub = tmp_path / "gr.py"
    stub.write_text(f"import json, sys\nopen({str(record)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    env = {"PATH": "/usr/bin:/bin", "GR": f"{sys.executable} {stub}", "ROOT": str(tmp_path),
           "TASKS": "pick-place-v3", "MODES": "dense sparse"}
    if env_reward is not None:
        env["ENV_REWARD"] = env_reward
    r = subprocess.run(["bash", str(EXAMPLES[0].parent / "paper.sh")], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    pipelines = [c for c in calls if c[0] == "pipeline"]
    assert len(pipelines) == 2 and calls[-1][:2] == ["evaluate", "--compare"]
    assert all(("--add-env-reward" in c) == added for c in pipelines), pipelines
    assert all("" not in c for c in pipelines)  # no empty word when it is off


@pytest.mark.parametrize("element, method, added", [(0, "genreward", False), (3, "env", False),
                                                     (6, "vlm-rm", True), (9, "roboclip", True)])
def test_sweep_gives_its_baselines_the_env_reward(tmp_path, element, method, added):
    """sweep_slurm.sh's baselines learned from their own reward alone, so its MODE=sparse
    runs of them were its dense runs again; they add the env reward as paper.sh's do."""
    import json
    import subprocess
    import sys

    record = tmp_path / "calls.jsonl"
    stub = tmp_path / "gr.py"
    stub.write_text(f"import json, sys\nopen({str(record)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    env = {"PATH": "/usr/bin:/bin", "GR": f"{sys.executable} {stub}", "ROOT": str(tmp_path),
           "MODE": "sparse", "SLURM_ARRAY_TASK_ID": str(element)}
    r = subprocess.run(["bash", str(EXAMPLES[0].parent / "sweep_slurm.sh"), "train"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (call,) = [json.loads(line) for line in record.read_text().splitlines()]
    assert call[0] == "train-agent" and call[call.index("--reward") + 1] == method
    assert ("--add-env-reward" in call) == added, call
    assert call[call.index("--reward-mode") + 1] == "sparse"


def _script_intervals(text: str) -> tuple[dict, int]:
    """The genreward reward interval a script's `case` gives each task, and its default."""
    found = dict(re.findall(r"^\s*([a-z0-9|*-]+)\) (?:INTERVAL=\$\{INTERVAL:-|interval=)(\d+)",
                            text, re.M))
    default = int(found.pop("*"))
    return {t: int(v) for names, v in found.items() for t in names.split("|")}, default


@pytest.mark.parametrize("name", ["ablations.sh", "sweep_slurm.sh"])
def test_scripts_use_the_paper_presets_reward_interval(name):
    """ablations.sh and sweep_slurm.sh ran every task at the default interval 128, so their
    runs of bin-picking, pick-out-of-hole and shelf-place were not comparable with paper.sh's
    (the paper preset's 64 there)."""
    from genreward_cli.rewards.generative import DEFAULT_INTERVAL
    from genreward_cli.stages.pipeline import PRESETS

    per_task, default = _script_intervals((EXAMPLES[0].parent / name).read_text())
    paper = dict(PRESETS["paper"].reward_intervals)
    assert default == DEFAULT_INTERVAL
    assert {t: v for t, v in per_task.items() if v != default} == \
        {t: v for t, v in paper.items() if v != DEFAULT_INTERVAL}


def test_ablations_train_fb_online_as_the_pipeline_does():
    """ablations.sh left the FB model frozen while `pipeline --preset paper` (Fig. 5's
    genreward) trains it on the replay for 100k env steps: Fig. 9's "full" was another run."""
    import re

    from genreward_cli.stages.pipeline import PRESETS

    text = (EXAMPLES[0].parent / "ablations.sh").read_text()
    defaults = [int(v) for v in re.findall(r"FB_TRAIN_STEPS=\$\{FB_TRAIN_STEPS:-(\d+)\}", text)]
    assert defaults == [int(PRESETS["tiny"].genreward_agent.get("--fb-train-steps", 0)),
                        int(PRESETS["paper"].genreward_agent["--fb-train-steps"])]


def test_ablations_script_quotes_paths_and_resumes(tmp_path):
    """The script split a --goal path with a space into two words, and a rerun stopped at the
    first run it had made (exit 2, under `set -e`). Run with a stand-in for `genreward` that
    records each command's words."""
    import json
    import subprocess
    import sys

    record = tmp_path / "calls.jsonl"
    stub = tmp_path / "gr.py"
    stub.write_text(f"import json, sys\nopen({str(record)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    d = tmp_path / "my runs" / "demo"
    (d / "ablations" / "full" / "0").mkdir(parents=True)
    (d / "ablations" / "full" / "0" / "checkpoint.pt").write_bytes(b"")
    env = {"PATH": "/usr/bin:/bin", "GR": f"{sys.executable} {stub}", "D": str(d),
           "TASK": "shelf-place-v3", "SEEDS": "0", "PRESET": "tiny", "STEPS": "2048",
           "DEVICE": "cpu"}
    r = subprocess.run(["bash", str(EXAMPLES[0].parent / "ablations.sh")], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(calls) == 9 and calls[-1][:2] == ["evaluate", "--compare"]
    assert calls[0] == ["train-agent", "--out", str(d / "ablations" / "full" / "0"), "--resume",
                        "--steps", "2048", "--device", "cpu"]
    genreward = [c for c in calls[1:-1] if "genreward" in c]
    assert len(genreward) == 6
    for c in genreward:
        assert c[c.index("--goal") + 1] == str(d / "goal.h5")
        # the FB model trains online as in the pipeline's genreward run (not at all in tiny),
        # except where the FB reward is off
        assert ("--fb-train-steps" not in c) == ("--no-fb-reward" in c), c
        assert "--no-fb-reward" in c or c[c.index("--fb-train-steps") + 1] == "0"
        assert c[c.index("--reward-interval") + 1] == "64"
        assert c[c.index("--out") + 1].startswith(str(d / "ablations"))
