"""Float options refuse nan, inf and out-of-range values before any work: exit 2, one
`Error:` line naming the option, nothing written."""

import math
from dataclasses import dataclass

import click
import pytest
from click.testing import CliRunner

from genreward_cli import config
from genreward_cli.agent.behavior import BehaviorConfig
from genreward_cli.agent.config import AgentConfig, preset
from genreward_cli.agent.loop import LoopConfig
from genreward_cli.errors import BadInput
from genreward_cli.fb.trainer import FBTrainConfig
from genreward_cli.options import FINITE, NON_NEGATIVE, POSITIVE, FiniteFloat, finite_float
from genreward_cli.video.finetune import FinetuneConfig
from genreward_cli.video.generate import GenerateConfig
from helpers import run


def refused(result, flag: str, problem: str) -> str:
    """The one `Error:` line of a usage error that names ``flag``."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and result.stderr.strip() == errors[0], result.stderr  # one line
    assert f"'{flag}'" in errors[0] and problem in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "Infinity"])
def test_train_agent_refuses_a_non_finite_train_ratio(tmp_path, value):
    out = tmp_path / "run"
    r = run("train-agent", "--reward", "env", "--preset", "tiny", "--train-ratio", value,
            "--out", out)
    line = refused(r, "--train-ratio", "must be a finite number")
    assert f"got {value} (see genreward train-agent --help)" in line
    assert not out.exists() and not list(tmp_path.iterdir())


def test_train_agent_keeps_the_minimum_of_the_train_ratio(tmp_path):
    r = run("train-agent", "--reward", "env", "--train-ratio", "0", "--out", tmp_path / "run")
    refused(r, "--train-ratio", "must be greater than 0, got 0")  # it could never update
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, flag, problem", [
    (["--lr", "-1"], "--lr", "must be greater than 0, got -1"),
    (["--lr", "0"], "--lr", "must be greater than 0, got 0"),
    (["--lr", "nan"], "--lr", "must be a finite number, got nan"),
    (["--gamma", "inf"], "--gamma", "must be a finite number, got inf"),
    (["--relabel", "1.5"], "--relabel", "must be at most 1, got 1.5"),
    (["--noise-clip", "-0.5"], "--noise-clip", "must be at least 0, got -0.5"),
])
def test_train_fb_refuses_bad_floats(tmp_path, args, flag, problem):
    out = tmp_path / "fb.h5"
    r = run("train-fb", tmp_path / "missing.h5", *args, "--out", out)
    refused(r, flag, problem)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, flag, problem", [
    (["--lr", "nan"], "--lr", "must be a finite number, got nan"),
    (["--lr", "-1e-4"], "--lr", "must be greater than 0, got -1e-4"),
    (["--max-grad-norm", "inf"], "--max-grad-norm", "must be a finite number, got inf"),
    (["--weight-decay", "-1"], "--weight-decay", "must be at least 0, got -1"),
])
def test_finetune_refuses_bad_floats(tmp_path, args, flag, problem):
    out = tmp_path / "model"
    r = run("finetune", "--videos", tmp_path / "missing.h5", "--model", tmp_path / "no-model",
            *args, "--out", out)
    refused(r, flag, problem)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("value, problem", [("nan", "must be a finite number, got nan"),
                                            ("inf", "must be a finite number, got inf"),
                                            ("-2", "must be at least 0, got -2")])
def test_generate_refuses_a_bad_guidance(tmp_path, value, problem):
    out = tmp_path / "goal_video.h5"
    r = run("generate", "--task", "reach-v3", "--model", tmp_path / "no-model",
            "--guidance", value, "--out", out, "--mp4", tmp_path / "goal.mp4")
    refused(r, "--guidance", problem)
    assert not list(tmp_path.iterdir())


def test_a_number_that_is_not_one_is_still_refused_as_before(tmp_path):
    r = run("train-fb", tmp_path / "missing.h5", "--lr", "fast", "--out", tmp_path / "fb.h5")
    refused(r, "--lr", "'fast' is not a valid float")


def test_float_options_still_show_as_float_in_help():
    text = run("train-fb", "--help").output
    assert "--lr FLOAT" in text and "[default: 0.0001]" in text


# the click type


@pytest.mark.parametrize("kind, value, expected", [
    (FINITE, "1.5", 1.5), (FINITE, "-3", -3.0), (FINITE, "0", 0.0), (FINITE, 2, 2.0),
    (POSITIVE, "1e-4", 1e-4), (NON_NEGATIVE, "0", 0.0), (NON_NEGATIVE, "6.0", 6.0),
    (finite_float(0, 1), "1", 1.0), (finite_float(0, 1, max_open=True), "0.999", 0.999),
])
def test_the_type_accepts_finite_values_in_range(kind, value, expected):
    assert kind.convert(value, None, None) == expected


@pytest.mark.parametrize("kind, value, problem", [
    (FINITE, "nan", "must be a finite number, got nan"),
    (FINITE, "-inf", "must be a finite number, got -inf"),
    (FINITE, float("inf"), "must be a finite number, got inf"),
    (POSITIVE, "0", "must be greater than 0, got 0"),
    (POSITIVE, "-1", "must be greater than 0, got -1"),
    (NON_NEGATIVE, "-0.1", "must be at least 0, got -0.1"),
    (finite_float(0, 1), "1.01", "must be at most 1, got 1.01"),
    (finite_float(0, 1, max_open=True), "1", "must be less than 1, got 1"),
    (FINITE, "x", "'x' is not a valid float"),
])
def test_the_type_refuses_with_a_usage_error(kind, value, problem):
    with pytest.raises(click.BadParameter, match=problem):
        kind.convert(value, None, None)


def test_a_command_with_the_type_exits_2_naming_the_option():
    @click.command()
    @click.option("--lr", type=POSITIVE, default=1e-3)
    def cmd(lr):
        click.echo(f"lr={lr}")

    ok = CliRunner().invoke(cmd, ["--lr", "0.5"])
    assert ok.exit_code == 0 and ok.output == "lr=0.5\n"
    assert CliRunner().invoke(cmd, []).output == "lr=0.001\n"
    bad = CliRunner().invoke(cmd, ["--lr", "nan"])
    assert bad.exit_code == 2
    assert "Error: Invalid value for '--lr': must be a finite number, got nan" in bad.output


# the config machinery


def test_click_options_give_every_float_field_a_finite_type():
    for cls in (AgentConfig, LoopConfig, FBTrainConfig, FinetuneConfig, GenerateConfig):

        @config.click_options(cls)
        def fn(**kw):
            pass

        for param in fn.__click_params__:
            if isinstance(param.default, float):
                assert isinstance(param.type, FiniteFloat), (cls.__name__, param.name)
                # every default passes its own checks
                assert param.type.convert(param.default, param, None) == param.default


@pytest.mark.parametrize("cls, key, value", [
    (LoopConfig, "train_ratio", 0.5), (LoopConfig, "train_ratio", 1e-3), (FBTrainConfig, "lr", 1e-3),
    (FBTrainConfig, "gamma", 1.0), (FBTrainConfig, "relabel", 0.0), (FinetuneConfig, "lr", 2),
    (GenerateConfig, "guidance", 0.0), (AgentConfig, "unimix", 1.0),
])
def test_build_accepts_ordinary_finite_values(cls, key, value):
    assert getattr(config.build(cls, {key: value}), key) == value


@pytest.mark.parametrize("cls, key, value, message", [
    (LoopConfig, "train_ratio", math.nan, "--train-ratio: must be a finite number, got nan"),
    (LoopConfig, "train_ratio", math.inf, "--train-ratio: must be a finite number, got inf"),
    (LoopConfig, "train_ratio", 0.0, "--train-ratio: must be greater than 0, got 0.0"),
    (FBTrainConfig, "lr", -1.0, "--lr: must be greater than 0, got -1.0"),
    (FBTrainConfig, "lr", 0, "--lr: must be greater than 0, got 0"),
    (FinetuneConfig, "lr", math.nan, "--lr: must be a finite number, got nan"),
    (GenerateConfig, "guidance", -math.inf, "--guidance: must be a finite number, got -inf"),
    (FBTrainConfig, "tau", 2.0, "--tau: must be at most 1, got 2.0"),
    (LoopConfig, "steps", 0, "--steps: must be at least 1, got 0"),
])
def test_build_refuses_non_finite_and_out_of_range_values(cls, key, value, message):
    with pytest.raises(BadInput) as e:
        config.build(cls, {key: value})
    assert str(e.value) == message


def test_agent_overrides_and_behavior_learning_rates_are_checked():
    assert preset("tiny", model_lr=3e-4).model_lr == 3e-4
    with pytest.raises(BadInput, match="--agent model_lr: must be a finite number, got nan"):
        preset("tiny", model_lr=math.nan)
    with pytest.raises(BadInput, match="--agent model_lr: must be greater than 0, got -0.001"):
        preset("tiny", model_lr=-1e-3)
    assert BehaviorConfig(actor_lr=1e-4, horizon=5).actor_lr == 1e-4
    with pytest.raises(BadInput, match="--actor-lr: must be greater than 0, got -1"):
        BehaviorConfig(actor_lr=-1)
    with pytest.raises(BadInput, match="--critic-lr: must be a finite number, got inf"):
        BehaviorConfig(critic_lr=math.inf)


def test_option_bounds_are_exclusive_or_inclusive_and_not_both():
    @dataclass(frozen=True)
    class C:
        rate: float = config.option(0.5, "A rate.", above=0, maximum=1)
        weight: float = config.option(1.0, "A weight.")

    assert config.build(C, {"rate": 1.0, "weight": -2.5}) == C(1.0, -2.5)
    for value in (0.0, 1.5):
        with pytest.raises(BadInput, match="--rate"):
            config.build(C, {"rate": value})
    with pytest.raises(BadInput, match="--weight: must be a finite number, got nan"):
        config.build(C, {"weight": math.nan})
    with pytest.raises(ValueError, match="not both"):
        config.option(1.0, "x", minimum=0, above=0)
