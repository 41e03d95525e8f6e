"""`genreward train-agent`: DreamerV3 on a Meta-World task with a reward model (Algorithm 1)."""

from __future__ import annotations

import click

from genreward_cli import config as cfg
from genreward_cli.agent.config import PRESETS
from genreward_cli.agent.loop import LoopConfig
from genreward_cli.envs.config import EnvConfig
from genreward_cli.options import (
    POSITIVE, UserPath, debug_option, device_option, emit, force_option, json_option,
    resolve_device, seed_option,
)
from genreward_cli.commands.reward_options import reward_options
from genreward_cli.stages.train_agent import RunConfig


@click.command("train-agent")
@cfg.click_options(EnvConfig)
@reward_options
@click.option("--preset", type=click.Choice(list(PRESETS)), default="S", show_default=True,
              help="Agent size: `S` is Table A (deterministic 512, 32x32 latents, 512 units); "
                   "`tiny` runs on a CPU; M/L/XL follow DreamerV3's size table.")
@click.option("--agent", "agent_overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a field of the preset, checked strictly (repeatable), e.g. "
                   "--agent deter=128 --agent cnn_depth=16, --agent precision=bf16 for "
                   "bfloat16 mixed precision, or --agent compile=on|graphs|auto for the whole "
                   "update and the policy step under torch.compile (default off; on: Inductor; "
                   "graphs: the traced graph without Inductor, quick to compile; auto: on with "
                   "a GPU; on a GPU both replayed as CUDA graphs), "
                   "or --agent fast=off for the plain layers (default on: every fast path; or "
                   "a comma-separated subset of hot,tables,pad,deconv,loop). With --resume, "
                   "only compile and fast may change; the run's other fields are kept.")
@click.option("--model-lr", type=POSITIVE, default=None,
              help="World-model learning rate; default: the preset's (Table A: 1e-4).")
@click.option("--actor-lr", type=POSITIVE, default=None,
              help="Actor learning rate; default Table A's 3e-5.")
@click.option("--critic-lr", type=POSITIVE, default=None,
              help="Critic learning rate; default Table A's 3e-5.")
@cfg.click_options(LoopConfig)
@cfg.click_options(RunConfig)
@click.option("--out", type=UserPath(file_okay=False), required=True,
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
      genreward train-agent --task reach-v3 --reward env --preset tiny --steps 5000 \\
          --prefill 256 --train-ratio 64 --out runs/env
      genreward train-agent --out runs/pick-place/genreward/0 --resume --steps 2000000
    """
    from genreward_cli.stages import train_agent as stage
    from genreward_cli.store import folder_lock

    ctx = click.get_current_context()

    def given(name):  # set on the command line; on --resume the others come from config.json
        return ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT

    with folder_lock(out):  # a second writer of the same run is refused
        emit(stage.run(options, out=out, preset=preset, agent_overrides=agent_overrides,
                       model_lr=model_lr, actor_lr=actor_lr, critic_lr=critic_lr,
                       resume=resume, seed=seed, device=resolve_device(device), force=force,
                       given=given, report=lambda line: click.echo(line, err=True)), as_json)
