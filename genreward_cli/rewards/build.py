"""Reward-model options shared by `score-reward` and `train-agent`, and the builder."""

from __future__ import annotations

import click

from genreward_cli.goal.clip import DEFAULT_CLIP_MODEL, DEFAULT_CLIP_PRETRAINED
from genreward_cli.options import FINITE, FiniteFloat
from genreward_cli.rewards import REWARDS
from genreward_cli.rewards.accounting import ALPHA_MODES
from genreward_cli.rewards.baselines import DEFAULT_BASELINE_PROMPT, DEFAULT_BASELINE_STRENGTH
from genreward_cli.rewards.generative import DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_INTERVAL
from genreward_cli.rewards.tadpole import DEFAULT_NOISE_LEVEL, DEFAULT_TADPOLE_MODEL

REWARD_OPTIONS = ("reward", "goal", "fb", "alpha", "beta", "reward_interval", "no_video_reward",
                  "no_fb_reward", "clip_model", "clip_pretrained", "baseline_prompt",
                  "baseline_strength", "s3d_model", "roboclip_demo")
REWARD_OPTIONS += ("tadpole_model", "tadpole_noise_level", "alpha_mode")
REWARD_OPTIONS += ("diffusion_reward_model", "diffusion_reward_task", "diffusion_reward_skip_step",
                   "diffusion_reward_expl_scale", "diffusion_reward_rnd_batch")


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
        click.option("--goal", type=click.Path(dir_okay=False), default=None,
                     help="`goal` artifact (genreward)."),
        click.option("--fb", type=click.Path(dir_okay=False), default=None,
                     help="`fb` artifact (genreward)."),
        click.option("--alpha", type=FINITE, default=DEFAULT_ALPHA, show_default=True,
                     help="Weight of the video reward (eq. 10; Table A)."),
        click.option("--beta", type=FINITE, default=DEFAULT_BETA, show_default=True,
                     help="Weight of the FB reward (eq. 10; Table A)."),
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
        click.option("--clip-model", default=DEFAULT_CLIP_MODEL, show_default=True,
                     help="OpenCLIP model for vlm-rm / clip-video, or `tiny`."),
        click.option("--clip-pretrained", default=DEFAULT_CLIP_PRETRAINED, show_default=True,
                     help="OpenCLIP weights for vlm-rm / clip-video."),
        click.option("--baseline-prompt", default=DEFAULT_BASELINE_PROMPT, show_default=True,
                     help="vlm-rm: the baseline prompt b of goal-baseline regularisation, the "
                          "scene without the goal (Rocamonde et al.)."),
        click.option("--baseline-strength", type=FINITE, default=DEFAULT_BASELINE_STRENGTH,
                     show_default=True, callback=_baseline_strength,
                     help="vlm-rm: goal-baseline regularisation strength alpha in [0, 1]; 0 is "
                          "the plain CLIP cosine, 1 keeps only the goal - baseline direction "
                          "(0.5: the authors' configs)."),
        click.option("--s3d-model", default=None,
                     help="roboclip: a directory holding the S3D HowTo100M files "
                          "s3d_howto100m.pth and s3d_dict.npy (antoine77340/S3D_HowTo100M), or "
                          "`tiny`.  [required with --reward roboclip]"),
        click.option("--roboclip-demo", type=click.Path(dir_okay=False), default=None,
                     help="roboclip: a `videos` or `episodes` artifact whose first clip is the "
                          "demonstration compared with (instead of the task text)."),
        click.option("--tadpole-model", default=DEFAULT_TADPOLE_MODEL, show_default=True,
                     help="tadpole: a Stable Diffusion model (diffusers directory or hub id), or "
                          "`tiny`. The default, the authors' model, was withdrawn from the hub: "
                          "give a local copy or a mirror's directory or id."),
        click.option("--tadpole-noise-level", type=click.IntRange(0, 900),
                     default=DEFAULT_NOISE_LEVEL, show_default=True,
                     help="tadpole: each episode's timestep is drawn in [n, n + 100) (500: the "
                          "authors' Meta-World runs)."),
        click.option("--diffusion-reward-model", default=None,
                     help="diffusion-reward: a model directory written by `train-video-model "
                          "--kind vqdiffusion` (it holds the per-task reward statistics), or "
                          "`tiny` (random weights, no statistics).  [required with --reward "
                          "diffusion-reward]"),
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


def build_reward(options: dict, text: str, device: str, *, task: str | None = None,
                 camera: str | None = None):
    """The reward model the options name, and the artifacts it read (for provenance).

    ``text`` is the task description (the CLIP baselines' prompt); with ``task``, a goal
    made for another task is refused (with ``camera``, one seen from another camera).
    ``vlm-rm`` also reads ``baseline_prompt`` and ``baseline_strength`` (``VLMReward``);
    ``roboclip`` reads ``s3d_model`` and ``roboclip_demo`` (``RoboCLIPReward``)."""
    from genreward_cli import store
    from genreward_cli.errors import BadInput
    from genreward_cli.rewards.base import EnvReward

    reward = options["reward"]
    if options.get("alpha_mode", "absolute") != "absolute" and reward != "genreward":
        raise BadInput(f"--alpha-mode {options['alpha_mode']}: weighs genreward's alpha and "
                       f"beta; --reward {reward} has no such weights")
    if reward == "env":
        return EnvReward(), []
    if reward == "tadpole":
        from genreward_cli.rewards.tadpole import TADPoLeReward

        return TADPoLeReward(options["tadpole_model"], text, options["tadpole_noise_level"],
                             device=device), []
    if reward == "roboclip":
        return _roboclip(options, text, device)
    if reward == "diffusion-reward":
        return _diffusion_reward(options, text, device, task), []
    if reward in ("vlm-rm", "clip-video"):
        from genreward_cli.goal.clip import FrameScorer
        from genreward_cli.rewards.baselines import CLIPVideoReward, VLMReward

        scorer = FrameScorer(options["clip_model"], options["clip_pretrained"], device=device)
        if reward == "clip-video":
            return CLIPVideoReward(scorer, text), []
        return VLMReward(scorer, text, options["baseline_prompt"],
                         options["baseline_strength"]), []
    if options["goal"] is None:
        raise BadInput("--reward genreward needs --goal")
    from genreward_cli.rewards.generative import GenerativeReward

    goal_art = store.open_artifact(options["goal"], "goal")
    arts = [goal_art]
    try:
        goal_task = goal_art.attrs.get("task")
        if task is not None and goal_task is not None and str(goal_task) != task:
            raise BadInput(f"{options['goal']}: a goal for {goal_task}, not for --task {task}")
        goal_camera = goal_art.attrs.get("camera")
        if camera is not None and goal_camera is not None and str(goal_camera) != camera:
            raise BadInput(f"{options['goal']}: a goal seen from camera {goal_camera}, not "
                           f"--camera {camera}")
        if options["fb"] and not options["no_fb_reward"]:
            arts.append(store.open_artifact(options["fb"], "fb"))
        model = GenerativeReward(goal_art, arts[1] if len(arts) > 1 else None,
                                 alpha=options["alpha"], beta=options["beta"],
                                 interval=options["reward_interval"],
                                 use_video=not options["no_video_reward"],
                                 use_fb=not options["no_fb_reward"], device=device,
                                 alpha_mode=options.get("alpha_mode", "absolute"))
        return model, [a.ref() for a in arts]
    finally:
        for a in arts:
            a.close()


def _roboclip(options: dict, text: str, device: str):
    """``RoboCLIPReward`` from --s3d-model and --roboclip-demo, and the demo's reference."""
    from genreward_cli import store
    from genreward_cli.errors import BadInput
    from genreward_cli.rewards.roboclip import RoboCLIPReward
    from genreward_cli.rewards.s3d import load_s3d

    if not options.get("s3d_model"):
        raise BadInput("--reward roboclip needs --s3d-model: a directory holding s3d_howto100m.pth "
                       "and s3d_dict.npy (antoine77340/S3D_HowTo100M), or `tiny`")
    model = load_s3d(options["s3d_model"], device)
    if not options.get("roboclip_demo"):
        return RoboCLIPReward(model, text), []
    from genreward_cli.video.clips import read_clips

    with store.open_artifact(options["roboclip_demo"], ("videos", "episodes")) as art:
        clips, ref = read_clips(art), art.ref()
    if not clips:
        raise BadInput(f"--roboclip-demo {options['roboclip_demo']}: holds no clip")
    return RoboCLIPReward(model, text, clips[0].frames), [ref]


def _diffusion_reward(options: dict, text: str, device: str, task: str | None):
    """``DiffusionReward`` from the --diffusion-reward-* options; the task is
    --diffusion-reward-task, else ``task`` (train-agent's), else the task described by
    ``text`` (score-reward's episodes' prompt)."""
    from genreward_cli.envs.tasks import TASKS
    from genreward_cli.errors import BadInput
    from genreward_cli.rewards.diffusion_reward import DiffusionReward

    if not options.get("diffusion_reward_model"):
        raise BadInput("--reward diffusion-reward needs --diffusion-reward-model: a directory "
                       "written by `train-video-model --kind vqdiffusion`, or `tiny`")
    chosen = options.get("diffusion_reward_task")
    if chosen and task and chosen != task:
        raise BadInput(f"--diffusion-reward-task {chosen}: differs from --task {task}")
    chosen = chosen or task or next((t for t, d in TASKS.items() if d == text), None)
    if chosen is None:
        raise BadInput("--reward diffusion-reward: cannot tell the episodes' task from their "
                       "prompt; pass --diffusion-reward-task")
    return DiffusionReward(options["diffusion_reward_model"], chosen,
                           skip_step=options.get("diffusion_reward_skip_step", 9),
                           expl_scale=options.get("diffusion_reward_expl_scale", 0.95),
                           rnd_batch=options.get("diffusion_reward_rnd_batch", 256),
                           device=device)
