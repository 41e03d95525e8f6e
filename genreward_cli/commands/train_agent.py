"""`genreward train-agent`: DreamerV3 on a Meta-World task with a reward model (Algorithm 1)."""

from __future__ import annotations

import json

import click

from genreward_cli import config as cfg
from genreward_cli.agent.config import PRESETS
from genreward_cli.agent.loop import LoopConfig
from genreward_cli.agent.train import RunConfig
from genreward_cli.envs.config import EnvConfig
from genreward_cli.options import (
    POSITIVE, debug_option, device_option, force_option, json_option, seed_option,
)
from genreward_cli.rewards.build import REWARD_OPTIONS, reward_options

# Values of options added since a run could have been saved that reproduce such a run on
# --resume: `vlm-rm` was the plain CLIP cosine, a baseline strength of 0 (and `roboclip` was
# what is now `clip-video`). Options missing here take their defaults, which do not change the
# rewards that existed before them.
LEGACY_VALUES = {"baseline_strength": 0.0}


def upgrade_run_config(saved: dict) -> dict:
    """A run's saved config in today's names: a `roboclip` run saved before RoboCLIP had its
    S3D model (no `s3d_model` option) used the CLIP stand-in, now called `clip-video`."""
    if saved.get("reward") == "roboclip" and "s3d_model" not in saved:
        return {**saved, "reward": "clip-video"}
    return saved


@click.command("train-agent")
@cfg.click_options(EnvConfig)
@reward_options
@click.option("--preset", type=click.Choice(list(PRESETS)), default="S", show_default=True,
              help="Agent size: `S` is Table A (deterministic 512, 32x32 latents, 512 units); "
                   "`tiny` runs on a CPU; M/L/XL follow DreamerV3's size table.")
@click.option("--agent", "agent_overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a field of the preset, checked strictly (repeatable), e.g. "
                   "--agent deter=128 --agent cnn_depth=16, --agent precision=bf16 for "
                   "bfloat16 mixed precision, or --agent compile=on|auto for the whole update "
                   "under torch.compile (default off; auto: on with a GPU, as CUDA graphs).")
@click.option("--model-lr", type=POSITIVE, default=None,
              help="World-model learning rate; default: the preset's (Table A: 1e-4).")
@click.option("--actor-lr", type=POSITIVE, default=None,
              help="Actor learning rate; default Table A's 3e-5.")
@click.option("--critic-lr", type=POSITIVE, default=None,
              help="Critic learning rate; default Table A's 3e-5.")
@cfg.click_options(LoopConfig)
@cfg.click_options(RunConfig)
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Run directory (config.json, checkpoint.pt, log.h5, metrics.jsonl, tensorboard/).")
@click.option("--resume", is_flag=True,
              help="Continue the run in --out from its checkpoint, with its options (a larger "
                   "--steps trains on).")
@seed_option
@device_option
@force_option
@json_option
@debug_option
def train_agent(preset, agent_overrides, model_lr, actor_lr, critic_lr, out, resume, seed, device,
                force, as_json, **options):
    """Train DreamerV3 with a reward model on a Meta-World task (paper Algorithm 1).

    The agent sees 64x64 frames and learns from the reward model's `total`: with
    `--reward genreward`, eq. 10 (r_env + alpha r_video + beta r_FB) every --reward-interval
    steps and r_env elsewhere. Episode returns are always logged as the dense env return, so
    methods compare on one scale. Frames the video reward needs at the goal's resolution are
    rendered only at the steps it samples.

    \b
      genreward train-agent --task pick-place-v3 --reward genreward --goal goal.h5 --fb fb.h5 \\
          --reward-mode dense --steps 1000000 --preset S --seed 0 --out runs/pick-place/genreward/0
      genreward train-agent --task reach-v3 --reward env --preset tiny --steps 5000 --out runs/env
      genreward train-agent --out runs/pick-place/genreward/0 --resume --steps 2000000
    """
    from dataclasses import asdict, replace

    from genreward_cli.agent.behavior import BehaviorConfig
    from genreward_cli.agent.config import parse_overrides, preset as make_preset
    from genreward_cli.agent.train import (
        check_options, load_run_config, make_replay, prepare_run_dir, train,
    )
    from genreward_cli.store import record_path
    from genreward_cli.envs.tasks import check_task, describe
    from genreward_cli.errors import BadInput
    from genreward_cli.options import resolve_device
    from genreward_cli.rewards.build import build_reward

    saved = {}
    if resume:  # options not given on this command line come from the run's config.json
        saved = upgrade_run_config(load_run_config(out))
        ctx = click.get_current_context()

        def given(name):
            return ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT

        options = {k: v if given(k) or k not in saved else saved[k] for k, v in options.items()}
        for k, v in LEGACY_VALUES.items():  # options added since the run was made
            if k in options and k not in saved and not given(k):
                options[k] = v
        preset = preset if given("preset") else saved["preset"]
        agent_overrides = agent_overrides if given("agent_overrides") else tuple(
            f"{k}={json.dumps(v)}" for k, v in saved["agent"].items())
        seed = seed if given("seed") else saved["seed"]
        model_lr = model_lr if given("model_lr") else saved["agent"]["model_lr"]
        actor_lr = actor_lr if given("actor_lr") else saved["behavior"]["actor_lr"]
        critic_lr = critic_lr if given("critic_lr") else saved["behavior"]["critic_lr"]
    env_config = cfg.build(EnvConfig, cfg.pick(EnvConfig, options))
    loop_config = cfg.build(LoopConfig, cfg.pick(LoopConfig, options))
    run_config = cfg.build(RunConfig, cfg.pick(RunConfig, options))
    reward = {k: options[k] for k in REWARD_OPTIONS}
    for k in ("goal", "fb", "s3d_model", "roboclip_demo", "tadpole_model"):
        # absolute, so --resume and the log work from any directory;
        # a run saved with the same relative path keeps it, so that its options still match
        if reward[k] and not (resume and saved.get(k) == reward[k]):
            reward[k] = record_path(reward[k])
    check_task(env_config.task)
    if env_config.width and env_config.width != env_config.size:
        raise BadInput("--width: the agent's encoder takes square frames; leave --width at 0")
    overrides = {**parse_overrides(agent_overrides), "image_size": env_config.size}
    if model_lr is not None:
        overrides["model_lr"] = model_lr
    agent_config = make_preset(preset, **overrides)
    behavior = BehaviorConfig()
    behavior = replace(behavior,
                       actor_lr=behavior.actor_lr if actor_lr is None else actor_lr,
                       critic_lr=behavior.critic_lr if critic_lr is None else critic_lr)
    device = resolve_device(device)
    config = {**asdict(env_config), **asdict(loop_config), **asdict(run_config), **reward,
              "preset": preset, "agent": asdict(agent_config), "behavior": asdict(behavior),
              "seed": seed, "device": device}
    model, parents = build_reward(reward, describe(env_config.task), device,
                                  task=env_config.task, camera=env_config.camera)
    check_options(env_config, run_config, model, loop_config.prefill)
    replay = make_replay(loop_config.capacity, env_config.image_shape, seed=seed)
    run_dir = prepare_run_dir(out, config, resume, force, previous=saved if resume else None)
    summary = train(run_dir, env_config, agent_config, behavior, loop_config, run_config, model,
                    replay=replay, config_json=json.dumps(config, sort_keys=True),
                    parents=parents, seed=seed, device=device, resume=resume,
                    report=lambda line: click.echo(line, err=True))
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(summary_line(run_dir, summary), err=True)


def summary_line(run_dir, summary: dict) -> str:
    """The closing line of a run: its counts, the last 10 episodes' return and success (or
    that no episode has finished, for a run shorter than one episode) and its speed."""
    from genreward_cli.evaluate import NO_EPISODE, format_returns

    if summary["episodes"]:
        episodes = "last 10 episodes: " + format_returns(summary["mean_return_last10"],
                                                          success=summary["success_last10"])
    else:
        episodes = f"{NO_EPISODE} (episodes are {summary['episode_steps']} steps)"
    rate = summary["steps_per_s"]
    cost = summary.get("reward_cost", {}).get("ms_per_step")
    return (f"wrote {run_dir}: {summary['steps']} steps, {summary['episodes']} episodes, "
            f"{summary['updates']} updates; {episodes}"
            + (f"; {rate:.1f} steps/s" if rate is not None else "")
            + (f"; reward {cost:.2f} ms/step" if cost else ""))
