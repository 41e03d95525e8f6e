"""The click options that choose and weigh a reward model, shared by `score-reward` and
`train-agent` (the builder they feed is ``rewards.build.build_reward``)."""

from __future__ import annotations

import click

from genreward_cli.goal.clip import DEFAULT_CLIP_MODEL, DEFAULT_CLIP_PRETRAINED
from genreward_cli.options import FINITE, MODEL_SOURCE, NON_NEGATIVE, FiniteFloat, UserPath
from genreward_cli.rewards import REWARDS
from genreward_cli.rewards.accounting import ALPHA_MODES
from genreward_cli.rewards.baselines import DEFAULT_BASELINE_PROMPT, DEFAULT_BASELINE_STRENGTH
from genreward_cli.rewards.generative import DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_INTERVAL
from genreward_cli.rewards.tadpole import DEFAULT_NOISE_LEVEL, DEFAULT_TADPOLE_MODEL


def _baseline_strength(ctx, param, value):
    """--baseline-strength, refused outside [0, 1] with one line (BadInput, exit 2)."""
    from genreward_cli.rewards.baselines import check_baseline_strength

    return check_baseline_strength(value)


def reward_options(fn):
    """The click options that choose and weigh a reward model (eq. 10 and the baselines)."""
    options = [
        click.option("--reward", type=click.Choice(REWARDS), default="genreward", show_default=True,
                     help="`genreward` (eq. 10), `env` (the DreamerV3 baseline), `vlm-rm`, "
                          "`roboclip` (S3D, needs --s3d-model) or `clip-video` (RoboCLIP's "
                          "end-of-episode reward with averaged CLIP frames)."
                          " `tadpole`: TADPoLe, a Stable Diffusion reward every step (Luo et al.)."
                          " `diffusion-reward`: Diffusion Reward, a VQ-Diffusion entropy reward "
                          "+ RND (Huang et al.; needs --diffusion-reward-model)."),
        click.option("--goal", type=UserPath(dir_okay=False), default=None,
                     help="`goal` artifact (genreward)."),
        click.option("--fb", type=UserPath(dir_okay=False), default=None,
                     help="`fb` artifact (genreward)."),
        click.option("--alpha", type=NON_NEGATIVE, default=DEFAULT_ALPHA, show_default=True,
                     help="Weight of the video reward (eq. 10; Table A), at least 0 (a "
                          "negative one would reward moving away from the goal)."),
        click.option("--beta", type=NON_NEGATIVE, default=DEFAULT_BETA, show_default=True,
                     help="Weight of the FB reward (eq. 10; Table A), at least 0."),
        click.option("--alpha-mode", type=click.Choice(ALPHA_MODES), default="absolute",
                     show_default=True,
                     help="genreward: `absolute` weighs r_video and r_FB by --alpha and --beta "
                          "(the paper); `relative` reads them as fractions of the env reward's "
                          "per-step standard deviation, measured on the prefill (train-agent) "
                          "or on the episodes scored (score-reward)."),
        click.option("--reward-interval", type=click.IntRange(min=1), default=DEFAULT_INTERVAL,
                     show_default=True, help="Steps between generative rewards (Algorithm 1; "
                                             "Table A)."),
        click.option("--no-video-reward", is_flag=True, help="Ablation: drop r_video."),
        click.option("--no-fb-reward", is_flag=True, help="Ablation: drop r_FB."),
        click.option("--add-env-reward", is_flag=True,
                     help="Baselines: add the env reward as paid (train-agent: its "
                          "--reward-mode, dense or sparse; score-reward: as the episodes "
                          "recorded it) to the baseline's reward, as eq. 10 adds r_env to "
                          "genreward's: the paper's dense and sparse settings for every method. "
                          "Without it, a baseline's reward is its authors' alone."),
        click.option("--clip-model", default=DEFAULT_CLIP_MODEL, show_default=True,
                     help="OpenCLIP model for vlm-rm / clip-video, or `tiny`."),
        click.option("--clip-pretrained", type=MODEL_SOURCE,
                     default=DEFAULT_CLIP_PRETRAINED, show_default=True,
                     help="OpenCLIP weights for vlm-rm / clip-video."),
        click.option("--baseline-prompt", default=DEFAULT_BASELINE_PROMPT, show_default=True,
                     help="vlm-rm: the baseline prompt b of goal-baseline regularisation, the "
                          "scene without the goal (Rocamonde et al.)."),
        click.option("--baseline-strength", type=FINITE, default=DEFAULT_BASELINE_STRENGTH,
                     show_default=True, callback=_baseline_strength,
                     help="vlm-rm: goal-baseline regularisation strength alpha in [0, 1]; 0 is "
                          "the plain CLIP cosine, 1 keeps only the goal - baseline direction "
                          "(0.5: the authors' configs)."),
        click.option("--s3d-model", type=MODEL_SOURCE, default=None,
                     help="roboclip: a directory holding the S3D HowTo100M files "
                          "s3d_howto100m.pth and s3d_dict.npy (antoine77340/S3D_HowTo100M), or "
                          "`tiny`.  [required with --reward roboclip]"),
        click.option("--roboclip-demo", type=UserPath(dir_okay=False), default=None,
                     help="roboclip: a `videos` or `episodes` artifact whose first clip is the "
                          "demonstration compared with (instead of the task text)."),
        click.option("--tadpole-model", type=MODEL_SOURCE,
                     default=DEFAULT_TADPOLE_MODEL, show_default=True,
                     help="tadpole: a Stable Diffusion model (diffusers directory or hub id), or "
                          "`tiny`. The default, the authors' model, was withdrawn from the hub: "
                          "give a local copy or a mirror's directory or id."),
        click.option("--tadpole-noise-level", type=click.IntRange(0, 900),
                     default=DEFAULT_NOISE_LEVEL, show_default=True,
                     help="tadpole: each episode's timestep is drawn in [n, n + 100) (500: the "
                          "authors' Meta-World runs)."),
        click.option("--diffusion-reward-model", type=MODEL_SOURCE, default=None,
                     help="diffusion-reward: a model directory written by `train-video-model "
                          "--kind vqdiffusion` on the task's expert episodes (it holds the "
                          "per-task reward statistics; `--preset tiny` makes a small one on a "
                          "CPU).  [required with --reward diffusion-reward]"),
        click.option("--diffusion-reward-task", default=None,
                     help="diffusion-reward: the task whose statistics standardise the reward; "
                          "default: train-agent's --task, or for score-reward the task whose "
                          "description is the episodes' prompt."),
        click.option("--diffusion-reward-skip-step", type=click.IntRange(min=0), default=9,
                     show_default=True,
                     help="diffusion-reward: the denoising chain's stride minus one (9: 11 "
                          "denoiser calls of 100 steps, the authors')."),
        click.option("--diffusion-reward-expl-scale", type=FiniteFloat(0.0, 1.0), default=0.95,
                     show_default=True,
                     help="diffusion-reward: total = (1 - s) x standardised entropy reward + "
                          "s x RND bonus + success (0.95: the authors' config)."),
        click.option("--diffusion-reward-rnd-batch", type=click.IntRange(min=1), default=256,
                     show_default=True,
                     help="diffusion-reward: frames per RND update, one every 2 steps (256: "
                          "the authors' batch)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn
