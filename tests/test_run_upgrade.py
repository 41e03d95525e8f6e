"""A run saved before later options existed still resumes, with the values that reproduce it."""

import json

from click.testing import CliRunner

from genreward_cli.cli import cli
from genreward_cli.stages.train_agent import LEGACY_VALUES, upgrade_run_config

FAST = ["--task", "reach-v3", "--preset", "tiny", "--max-steps", "10", "--prefill", "10",
        "--batch", "2", "--length", "4", "--train-ratio", "8", "--eval-every", "0",
        "--capacity", "100"]
ADDED_SINCE = ("baseline_prompt", "baseline_strength", "s3d_model", "roboclip_demo",
               "tadpole_model", "tadpole_noise_level", "add_env_reward")


def test_upgrade_names_the_old_roboclip_clip_video():
    assert upgrade_run_config({"reward": "roboclip"})["reward"] == "clip-video"
    assert upgrade_run_config({"reward": "roboclip", "s3d_model": "tiny"})["reward"] == "roboclip"
    assert upgrade_run_config({"reward": "vlm-rm"}) == {"reward": "vlm-rm"}
    assert LEGACY_VALUES["baseline_strength"] == 0.0  # the plain cosine vlm-rm was


def test_a_run_saved_without_later_options_resumes(tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(cli, ["train-agent", *FAST, "--reward", "env", "--steps", "12",
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    config = json.loads((out / "config.json").read_text())
    assert set(ADDED_SINCE) <= set(config)
    for k in ADDED_SINCE:  # as an older version wrote it
        del config[k]
    (out / "config.json").write_text(json.dumps(config))
    r = CliRunner().invoke(cli, ["train-agent", "--out", str(out), "--resume", "--steps", "16",
                                 "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["steps"] == 16
    # a changed option the old run did have is still refused
    r = CliRunner().invoke(cli, ["train-agent", "--out", str(out), "--resume", "--steps", "20",
                                 "--seed", "5"])
    assert r.exit_code == 2 and "seed=0" in r.output
    # so is an added option given another value than the one that reproduces the run: the
    # env reward added halfway through, with the run then labelled as if it had it throughout
    r = CliRunner().invoke(cli, ["train-agent", "--out", str(out), "--resume", "--steps", "20",
                                 "--add-env-reward"])
    assert r.exit_code == 2 and "add_env_reward=False (now True)" in r.output, r.output
