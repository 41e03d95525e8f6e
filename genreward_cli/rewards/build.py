"""The reward model that `score-reward`'s and `train-agent`'s reward options name (their
click declarations are ``commands.reward_options``), built from those options' values."""

from __future__ import annotations

REWARD_OPTIONS = ("reward", "goal", "fb", "alpha", "beta", "reward_interval", "no_video_reward",
                  "no_fb_reward", "clip_model", "clip_pretrained", "baseline_prompt",
                  "baseline_strength", "s3d_model", "roboclip_demo")
REWARD_OPTIONS += ("tadpole_model", "tadpole_noise_level", "alpha_mode")
REWARD_OPTIONS += ("add_env_reward",)
REWARD_OPTIONS += ("diffusion_reward_model", "diffusion_reward_task", "diffusion_reward_skip_step",
                   "diffusion_reward_expl_scale", "diffusion_reward_rnd_batch")

# the options each reward reads (beyond --reward); another method's options are ignored
USES = {
    "env": (),
    "genreward": ("goal", "fb", "alpha", "beta", "reward_interval", "no_video_reward",
                  "no_fb_reward", "alpha_mode"),
    "vlm-rm": ("clip_model", "clip_pretrained", "baseline_prompt", "baseline_strength",
               "add_env_reward"),
    "clip-video": ("clip_model", "clip_pretrained", "add_env_reward"),
    "roboclip": ("s3d_model", "roboclip_demo", "add_env_reward"),
    "tadpole": ("tadpole_model", "tadpole_noise_level", "add_env_reward"),
    "diffusion-reward": ("diffusion_reward_model", "diffusion_reward_task",
                         "diffusion_reward_skip_step", "diffusion_reward_expl_scale",
                         "diffusion_reward_rnd_batch", "add_env_reward"),
}


def warn_unused_options(reward: str) -> None:
    """One warning naming the reward options given on the command line (or in the
    environment) that ``reward`` does not read, e.g. ``--s3d-model`` with ``--reward vlm-rm``,
    or ``--fb`` and ``--beta`` with ``--reward genreward --no-fb-reward`` (``--alpha`` with
    ``--no-video-reward``); nothing outside a click command."""
    import warnings

    import click
    from click.core import ParameterSource

    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return
    given = [n for n in REWARD_OPTIONS if n != "reward" and n in ctx.params
             and ctx.get_parameter_source(n) in (ParameterSource.COMMANDLINE,
                                                 ParameterSource.ENVIRONMENT)]
    uses, name = set(USES.get(reward, ())), f"--reward {reward}"
    if reward == "genreward":  # an ablated term's model and weight are not read
        for flag, drops in (("no_video_reward", ("alpha",)), ("no_fb_reward", ("fb", "beta"))):
            if ctx.params.get(flag):
                uses -= set(drops)
                name += " --" + flag.replace("_", "-")
    unused = [n for n in given if n not in uses]
    if unused:
        flags = ", ".join("--" + n.replace("_", "-") for n in unused)
        warnings.warn(f"{name} does not use {flags}: ignored", stacklevel=2)


def build_reward(options: dict, text: str, device: str, *, task: str | None = None,
                 camera: str | None = None, task_from: str = "--task"):
    """The reward model the options name, and the artifacts it read (for provenance).

    ``text`` is the task description (the CLIP baselines' prompt); with ``task``, a goal, a
    RoboCLIP demonstration or a Diffusion Reward task of another task is refused (with
    ``camera``, a goal seen from another camera); ``task_from`` names where ``task`` came
    from in those messages (`--task`, `the episodes' task`).
    ``vlm-rm`` also reads ``baseline_prompt`` and ``baseline_strength`` (``VLMReward``);
    ``roboclip`` reads ``s3d_model`` and ``roboclip_demo`` (``RoboCLIPReward``). With
    ``add_env_reward``, a baseline's model is wrapped in ``base.WithEnvReward``.

    Raises BadInput (exit code 2) for ``add_env_reward`` with `env` or `genreward`, and for
    the options each model refuses."""
    from genreward_cli import store
    from genreward_cli.errors import BadInput
    from genreward_cli.rewards.base import EnvReward

    reward = options["reward"]
    if options.get("alpha_mode", "absolute") != "absolute" and reward != "genreward":
        raise BadInput(f"--alpha-mode {options['alpha_mode']}: weighs genreward's alpha and "
                       f"beta; --reward {reward} has no such weights")
    if options.get("add_env_reward") and reward in ("env", "genreward"):
        raise BadInput("--add-env-reward: " + (
            "--reward env is the env reward" if reward == "env" else
            "--reward genreward adds the env reward already (eq. 10)")
            + "; it adds it to a baseline's reward")
    warn_unused_options(reward)
    model, parents = _build_model(options, text, device, task, camera, task_from)
    if options.get("add_env_reward"):
        from genreward_cli.rewards.base import WithEnvReward

        model = WithEnvReward(model)
    return model, parents


def _build_model(options: dict, text: str, device: str, task: str | None, camera: str | None,
                 task_from: str):
    """``build_reward``'s model, before ``--add-env-reward``."""
    from genreward_cli import store
    from genreward_cli.errors import BadInput
    from genreward_cli.rewards.base import EnvReward

    reward = options["reward"]
    if reward == "env":
        return EnvReward(), []
    if reward == "tadpole":
        from genreward_cli.rewards.tadpole import TADPoLeReward

        return TADPoLeReward(options["tadpole_model"], text, options["tadpole_noise_level"],
                             device=device), []
    if reward == "roboclip":
        return _roboclip(options, text, device, task, task_from)
    if reward == "diffusion-reward":
        return _diffusion_reward(options, text, device, task, task_from), []
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
            raise BadInput(f"{options['goal']}: a goal for {goal_task}, not for {task_from} {task}")
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


def _roboclip(options: dict, text: str, device: str, task: str | None = None,
              task_from: str = "--task"):
    """``RoboCLIPReward`` from --s3d-model and --roboclip-demo, and the demo's reference; a
    demo that records another task than ``task`` is refused."""
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
        demo_task = art.attrs.get("task")  # episodes record theirs; imported videos do not
        if task is not None and demo_task is not None and str(demo_task) != task:
            raise BadInput(f"--roboclip-demo {options['roboclip_demo']}: a demonstration of "
                           f"{demo_task}, not of {task_from} {task}")
        clips, ref = read_clips(art), art.ref()
    if not clips:
        raise BadInput(f"--roboclip-demo {options['roboclip_demo']}: holds no clip")
    return RoboCLIPReward(model, text, clips[0].frames), [ref]


def _diffusion_reward(options: dict, text: str, device: str, task: str | None,
                      task_from: str = "--task"):
    """``DiffusionReward`` from the --diffusion-reward-* options; the task is
    --diffusion-reward-task (which must be ``task`` when both are known), else ``task``
    (train-agent's --task, score-reward's episodes' task), else the task ``text`` describes."""
    from genreward_cli.envs.tasks import TASKS
    from genreward_cli.errors import BadInput
    from genreward_cli.rewards.diffusion_reward import DiffusionReward

    if not options.get("diffusion_reward_model"):
        raise BadInput("--reward diffusion-reward needs --diffusion-reward-model: a directory "
                       "written by `train-video-model --kind vqdiffusion`, or `tiny`")
    chosen = options.get("diffusion_reward_task")
    if chosen and task and chosen != task:
        raise BadInput(f"--diffusion-reward-task {chosen}: differs from {task_from} {task}")
    chosen = chosen or task or next((t for t, d in TASKS.items() if d == text), None)
    if chosen is None:
        raise BadInput("--reward diffusion-reward: cannot tell the episodes' task from their "
                       "prompt; pass --diffusion-reward-task")
    return DiffusionReward(options["diffusion_reward_model"], chosen,
                           skip_step=options.get("diffusion_reward_skip_step", 9),
                           expl_scale=options.get("diffusion_reward_expl_scale", 0.95),
                           rnd_batch=options.get("diffusion_reward_rnd_batch", 256),
                           device=device)
