"""The `pipeline` stage: the whole method as one job, every stage in order, through files,
skipping finished ones.

Each stage runs as its own `genreward STAGE ...` process (as it would on its own node), so
its artifact records its exact command line. A stage counts as finished, and is skipped,
when its output artifact opens as the right kind, was written by the same command line
(``--force`` / ``--resume`` aside), and every parent it names still has the hash it had
then. Change an option, or re-run an upstream stage, and everything downstream runs again.
The resumable stages (finetune, train-fb, train-agent) continue from their checkpoints.

The stages' command lines are generated from a :class:`Preset` (``TINY``, ``PAPER``: every
value a preset gives a stage, declared once), the model substitutes and the :class:`Cuts`.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType

from genreward_cli.errors import (
    BadInput, GenrewardError, ReportedInterrupt, ReportedTermination, Terminated,
)
from genreward_cli.parent import PARENT_PID_VAR
from genreward_cli.progress import counted
from genreward_cli.rewards.generative import DEFAULT_INTERVAL
from genreward_cli.stages import Report

MODEL_DIR = "model directory"  # a Stage kind: the marker is a JSON with producer and parents
FLAGS_IGNORED = ("--force", "--resume")
# the reward models a pipeline can train agents with (Fig. 5's methods and more)
METHODS = ("genreward", "env", "vlm-rm", "clip-video", "roboclip", "tadpole", "diffusion-reward")

# A stage's options as a preset gives them: flag -> value (int, or the text the stage's
# command line takes), in command-line order.
Options = Mapping[str, "int | str"]


@dataclass(frozen=True)
class Preset:
    """One setting of the pipeline: every value it gives a stage, from which :func:`stages`
    writes the command lines. A stage option a preset does not name keeps the stage's own
    default (for the paper preset, mostly the paper's models and Table A's values).

    - ``collect``: collect's options, expert and random episodes (--episodes: 20 expert demos
      per task at the paper preset, as Diffusion Reward trains on)
    - ``finetune``, ``generate``, ``train_fb``, ``train_video_model``, ``evaluate``: those
      stages' options
    - ``clip``: the OpenCLIP options of select-frame and the CLIP baselines (vlm-rm,
      clip-video)
    - ``encode_goal``: encode-goal's options (its image encoder)
    - ``agent_steps``: train-agent's --steps (pipeline --steps replaces it)
    - ``train_agent``: train-agent's options after --steps, every method
    - ``genreward_agent``: train-agent's further options with the genreward reward (after
      --reward-interval, which comes from ``reward_intervals``)
    - ``reward_intervals``: genreward's reward interval per task (the rewards' default,
      Table A's 128, for other tasks; --reward-interval is written only where it differs)
    - ``diffusion_reward``: train-agent's reward options of the diffusion-reward method after
      its model
    - ``baseline_model``: roboclip's --s3d-model and tadpole's --tadpole-model whatever the
      pipeline's options say; None: those options' (roboclip then needs --s3d-model)
    """

    name: str
    collect: Options
    finetune: Options
    generate: Options
    clip: Options
    encode_goal: Options
    train_fb: Options
    train_video_model: Options
    agent_steps: int
    train_agent: Options
    genreward_agent: Options
    reward_intervals: Mapping[str, int]
    diffusion_reward: Options
    evaluate: Options
    baseline_model: str | None

    def __post_init__(self):
        for f in fields(self):  # read-only: a preset is one declaration
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                object.__setattr__(self, f.name, MappingProxyType(dict(value)))


TINY = Preset(
    # built-in models with random weights, a small agent: minutes on a CPU
    name="tiny",
    collect={"--episodes": 4, "--workers": 2},
    finetune={"--model": "tiny", "--steps": 50, "--lr": "1e-3"},
    generate={},
    clip={"--clip-model": "tiny"},
    encode_goal={"--image-encoder": "tiny"},
    train_fb={"--steps": 300, "--z-dim": 64, "--hidden-dim": 128, "--batch-size": 256},
    train_video_model={"--preset": "tiny", "--codec-steps": 50, "--steps": 50,
                       "--batch-size": 8},
    agent_steps=2048,
    train_agent={"--preset": "tiny", "--train-ratio": 64, "--prefill": 256,
                 "--eval-every": 512, "--eval-episodes": 5},
    genreward_agent={},
    reward_intervals={},
    diffusion_reward={"--diffusion-reward-rnd-batch": 16},  # RND's batch cut for a CPU
    evaluate={"--episodes": 5},
    baseline_model="tiny",
)
PAPER = Preset(
    # CogVideoX-5B-I2V, OpenCLIP ViT-B-32, DINOv3 (the stages' defaults), the S agent for 1M
    # steps; the official GenReward code's reward interval per task (Table A says 128 for all)
    name="paper",
    collect={"--episodes": 20, "--workers": 2},
    finetune={},
    generate={},
    clip={},
    encode_goal={},
    train_fb={},
    train_video_model={},
    agent_steps=1_000_000,
    train_agent={"--preset": "S"},
    genreward_agent={"--fb-train-steps": 100000},
    reward_intervals={"bin-picking-v3": 64, "pick-out-of-hole-v3": 64, "shelf-place-v3": 64,
                      "pick-place-v3": 128, "disassemble-v3": 128},
    diffusion_reward={},
    evaluate={"--episodes": 10},
    baseline_model=None,
)
PRESETS = {p.name: p for p in (TINY, PAPER)}


@dataclass
class Stage:
    """One stage of a pipeline: the `genreward` command line it runs in the pipeline's
    directory, and how to tell that it has finished (its marker file and kind)."""

    name: str
    argv: list[str]  # the genreward subcommand and its arguments
    marker: str  # the artifact that shows the stage finished (relative to the pipeline dir)
    kind: str  # its artifact kind, or MODEL_DIR: a model directory's JSON (producer, parents)
    resumable: bool = False  # continue a run in progress with --resume
    done_steps: int | None = None  # train-agent, finetune: the steps its log must show
    outputs: list[str] = field(default_factory=list)  # what a person looks at


@dataclass(frozen=True)
class Run:
    """One agent run of a pipeline: its method and seed, its run directory and eval file."""

    method: str
    seed: int
    agent: str  # run directory, relative to the pipeline's
    eval: str  # `eval` artifact
    video: str | None  # rollout video, or None


@dataclass(frozen=True)
class Cuts:
    """Smaller runs of the preset's stages (``None`` keeps the preset's value): for a smoke
    run of the paper preset on a GPU, or a test. Each is one stage option (``CUT_OPTIONS``):

    - ``episodes``: collect's --episodes, expert and random (tiny 4, paper 20)
    - ``finetune_steps``: finetune's --steps (tiny 50, paper finetune's default 1000)
    - ``frames``: finetune's and generate's --frames, the clip and goal video length (8k+1;
      default: finetune's the model's native count, 49 for CogVideoX-5B-I2V, 9 for the tiny
      preset; generate's 49 whatever the model, so that the goal video has the paper's
      length and encode-goal samples its 16 frames from 49, also at the tiny preset)
    - ``generate_steps``: generate's --steps, denoising steps (paper 50)
    - ``fb_steps``: train-fb's --steps (tiny 300, paper Table A's 1e5)
    - ``prefill``: train-agent's --prefill (tiny 256, paper 5000)
    - ``eval_episodes``: train-agent's --eval-episodes and evaluate's --episodes (tiny 5,
      paper 10)
    """

    episodes: int | None = None
    finetune_steps: int | None = None
    frames: int | None = None
    generate_steps: int | None = None
    fb_steps: int | None = None
    prefill: int | None = None
    eval_episodes: int | None = None

    def of(self, stage: str) -> dict[str, int | None]:
        """The options these cuts set in ``stage`` (a ``CUT_OPTIONS`` stage name): flag ->
        value, None where not cut."""
        return {flag: getattr(self, name) for name, where, flag in CUT_OPTIONS if where == stage}


# Cuts field -> the stage option it sets; a stage's in the order they join its command line
CUT_OPTIONS = (("episodes", "collect", "--episodes"),
               ("finetune_steps", "finetune", "--steps"), ("frames", "finetune", "--frames"),
               ("generate_steps", "generate", "--steps"), ("frames", "generate", "--frames"),
               ("fb_steps", "train_fb", "--steps"),
               ("prefill", "train_agent", "--prefill"),
               ("eval_episodes", "train_agent", "--eval-episodes"),
               ("eval_episodes", "evaluate", "--episodes"))


def flags(options: Mapping, *overrides: Mapping) -> list[str]:
    """The command-line words of ``options`` (flag -> value, in order), each value of
    ``overrides`` that is not None replacing its flag's in place or, a new flag, following
    them."""
    merged = dict(options)
    for more in overrides:
        merged.update((k, v) for k, v in more.items() if v is not None)
    return [w for flag, value in merged.items() for w in (flag, str(value))]


def preset_of(preset: str | Preset) -> Preset:
    """``preset`` itself, or the one of ``PRESETS`` it names.

    Raises BadInput: an unknown name."""
    if isinstance(preset, Preset):
        return preset
    if preset not in PRESETS:
        raise BadInput(f"--preset {preset!r}: choose from {', '.join(PRESETS)}")
    return PRESETS[preset]


def runs(methods: tuple, seeds: tuple, sweep: bool = False) -> list[Run]:
    """The agent runs of ``methods`` x ``seeds``. One genreward run keeps the single-run
    layout (``agent/``, ``eval.h5``, ``rollouts.mp4``), unless ``sweep`` (seeds given as
    ``--seeds``); more runs, or a sweep, go to ``runs/METHOD/SEED`` and
    ``evals/METHOD-SEED.h5``, so that a shell loop of ``--seeds $s`` into one folder keeps
    every seed's run instead of replacing ``agent/`` with each."""
    if tuple(methods) == ("genreward",) and len(seeds) == 1 and not sweep:
        return [Run("genreward", int(seeds[0]), "agent", "eval.h5", "rollouts.mp4")]
    return [Run(m, int(s), f"runs/{m}/{s}", f"evals/{m}-{s}.h5", None)
            for m in methods for s in seeds]


def interval(task: str, preset: str | Preset) -> int:
    """The genreward reward interval of ``task`` under ``preset`` (its ``reward_intervals``,
    else the rewards' default)."""
    return preset_of(preset).reward_intervals.get(task, DEFAULT_INTERVAL)


def method_args(method: str, preset: str | Preset, models: dict) -> list[str]:
    """train-agent's reward options for ``method``; ``models``: s3d_model, tadpole_model,
    clip_model, clip_pretrained.

    Raises BadInput: an unknown method, or roboclip without an S3D model."""
    preset = preset_of(preset)
    if method == "genreward":
        return ["--reward", "genreward", "--goal", "goal.h5", "--fb", "fb.h5"]
    if method in ("vlm-rm", "clip-video"):
        return ["--reward", method, *clip_args(preset, models)]
    if method == "roboclip":
        s3d = preset.baseline_model or models.get("s3d_model")
        if not s3d:
            raise BadInput(f"--methods roboclip with --preset {preset.name} needs --s3d-model: "
                           "a directory with s3d_howto100m.pth and s3d_dict.npy")
        return ["--reward", "roboclip", "--s3d-model", s3d]
    if method == "tadpole":
        return ["--reward", "tadpole", "--tadpole-model",
                preset.baseline_model or models.get("tadpole_model") or "tiny"]
    if method == "diffusion-reward":
        # trained here on the expert episodes
        return ["--reward", "diffusion-reward", "--diffusion-reward-model", "dr_model",
                *flags(preset.diffusion_reward)]
    if method == "env":
        return ["--reward", "env"]
    raise BadInput(f"--methods: unknown method {method!r}; choose from {', '.join(METHODS)}")


def clip_args(preset: str | Preset, models: dict) -> list[str]:
    """The OpenCLIP options of select-frame and the CLIP baselines: the preset's (`tiny` at
    the tiny preset; the stages' defaults, ViT-B-32 / laion2b_s34b_b79k, at the paper
    preset), with ``models``' clip_model and clip_pretrained where given."""
    return flags(preset_of(preset).clip, {"--clip-model": models.get("clip_model") or None,
                                          "--clip-pretrained": models.get("clip_pretrained")})


# the methods whose reward is not eq. 10's and not the env's: --add-env-reward adds r_env
BASELINES = tuple(m for m in METHODS if m not in ("genreward", "env"))
# the pipeline's options that only some methods read: the goal stages run for genreward only
GOAL_STAGES_ONLY = ("genreward",)
OPTION_METHODS = {
    "videos": GOAL_STAGES_ONLY, "video_model": GOAL_STAGES_ONLY,
    "finetune_model": GOAL_STAGES_ONLY, "image_encoder": GOAL_STAGES_ONLY,
    "finetune_steps": GOAL_STAGES_ONLY, "frames": GOAL_STAGES_ONLY,
    "generate_steps": GOAL_STAGES_ONLY, "fb_steps": GOAL_STAGES_ONLY,
    "clip_model": ("genreward", "vlm-rm", "clip-video"),  # select-frame, the CLIP baselines
    "clip_pretrained": ("genreward", "vlm-rm", "clip-video"),
    "s3d_model": ("roboclip",), "tadpole_model": ("tadpole",),
    "episodes": ("genreward", "diffusion-reward"),  # the collect stages' (expert, random)
    "add_env_reward": BASELINES,
}


def unused_options(methods: Sequence[str], given: Sequence[str]) -> list[str]:
    """The options among ``given`` (parameter names, e.g. ``s3d_model``) that none of
    ``methods`` reads (``OPTION_METHODS``), as flags: ``["--s3d-model"]``."""
    return ["--" + name.replace("_", "-") for name in given
            if name in OPTION_METHODS and not set(OPTION_METHODS[name]) & set(methods)]


def check_baseline_models(plan: list[Stage]) -> None:
    """Check the baselines' models before the first stage: a train-agent stage needs them
    only when its method's turn comes, after every other method's agents (hours each at the
    paper preset). TADPoLe's `model_index.json` is read; RoboCLIP's two files must exist.

    Raises:
        BadInput: a model that cannot be read (one line)."""
    from genreward_cli.rewards import s3d, tadpole

    checks = {"--tadpole-model": tadpole.check_model,
              "--s3d-model": lambda m: m == s3d.TINY or s3d.check_files(m)}
    for flag, check in checks.items():
        given = {stage.argv[stage.argv.index(flag) + 1] for stage in plan if flag in stage.argv}
        for model in sorted(given):
            check(model)


def parse_list(text: str, what: str, cast=str) -> tuple:
    """``a,b,c`` -> a tuple, each item cast; duplicates and empty items refused."""
    items = [t.strip() for t in str(text).split(",")]
    if not all(items):
        raise BadInput(f"--{what} {text!r}: an empty item; give a comma-separated list")
    try:
        out = tuple(cast(t) for t in items)
    except ValueError:
        raise BadInput(f"--{what} {text!r}: expected a comma-separated list of integers") from None
    if len(set(out)) != len(out):
        raise BadInput(f"--{what} {text!r}: an item given twice")
    return out


def parse_methods(text: str) -> tuple[str, ...]:
    """``--methods``' comma-separated list.

    Raises BadInput: an empty or repeated item, or a method not in ``METHODS``."""
    methods = parse_list(text, "methods")
    for method in methods:
        if method not in METHODS:
            raise BadInput(f"--methods: unknown method {method!r}; choose from "
                           f"{', '.join(METHODS)}")
    return methods


def stages(task: str, preset: str | Preset, seed: int = 0, steps: int | None = None,
           reward_mode: str = "dense", videos: str | None = None,
           device: str = "auto", methods: tuple = ("genreward",), seeds: tuple | None = None,
           models: dict | None = None, video_model: str | None = None,
           cuts: Cuts = Cuts(), add_env_reward: bool = False) -> list[Stage]:
    """The stages of one pipeline, with paths relative to its directory: the goal and FB
    stages once (with ``seed``), when a method needs them, then train-agent and evaluate for
    every method and seed (``runs``).

    ``preset``: a :class:`Preset` or its name in ``PRESETS``. ``models`` substitutes the
    preset's models (local paths absolute, hub ids, `tiny`): ``finetune_model`` (finetune's
    --model), ``clip_model`` / ``clip_pretrained`` (select-frame and the CLIP baselines),
    ``image_encoder`` (encode-goal), ``s3d_model``, ``tadpole_model``; ``cuts`` shortens
    stages (``Cuts``). Unset ones leave every command line as the preset writes it, so
    finished stages stay finished. ``add_env_reward`` gives the ``BASELINES``' train-agent
    `--add-env-reward`.

    Raises:
        BadInput: an unknown preset or method, roboclip at the paper preset without
            s3d_model, or a finetune_model with ``video_model`` (no finetune then).
    """
    preset = preset_of(preset)
    sweep = bool(seeds)  # --seeds given: runs/METHOD/SEED even for one seed
    seeds = tuple(seeds) if seeds else (seed,)
    models = models or {}
    if video_model and models.get("finetune_model"):
        raise BadInput("--finetune-model is the model finetune starts from; with --video-model "
                       "there is no finetune: give one of them")
    reward_args = {m: method_args(m, preset, models) for m in methods}  # refuses unknown names
    dev = ["--device", device]
    env = ["--task", task, "--reward-mode", reward_mode]
    steps = steps if steps is not None else preset.agent_steps
    s = str(seed)
    out = []
    if "genreward" in methods:
        out += goal_stages(task, preset, seed, env, dev, videos, video_model, models, cuts)
    if "diffusion-reward" in methods:
        if "genreward" not in methods:
            out.append(collect_expert(env, preset, cuts, s))
        out.append(Stage("train-video-model",
                         ["train-video-model", "expert.h5", "--kind", "vqdiffusion",
                          *flags(preset.train_video_model), "--seed", s, *dev, "--out",
                          "dr_model"],
                         "dr_model/diffusion_reward.json", MODEL_DIR))
    for run in runs(methods, seeds, sweep):
        agent_options = {"--steps": steps, **preset.train_agent}
        if run.method == "genreward":
            if interval(task, preset) != DEFAULT_INTERVAL:  # the option's default otherwise
                agent_options["--reward-interval"] = interval(task, preset)
            agent_options.update(preset.genreward_agent)
        single = run.agent == "agent"
        suffix = "" if single else f" {run.method} {run.seed}"
        added = ["--add-env-reward"] if add_env_reward and run.method in BASELINES else []
        agent = ["train-agent", *env, *reward_args[run.method], *added,
                 *flags(agent_options, cuts.of("train_agent")), "--seed", str(run.seed), *dev,
                 "--out", run.agent]
        out.append(Stage("train-agent" + suffix, agent,
                         f"{run.agent}/log.h5", "agent_log", resumable=True, done_steps=steps))
        video = ["--video", run.video] if run.video else []
        evaluate = ["evaluate", run.agent, *flags(preset.evaluate, cuts.of("evaluate")),
                    "--seed", str(run.seed), *dev, "--out", run.eval, *video]
        out.append(Stage("evaluate" + suffix, evaluate,
                         run.eval, "eval", outputs=[run.video] if run.video else []))
    return out


def _finetune_steps(argv: list[str]) -> int:
    """The --steps of a finetune command line, or finetune's default: how far the finetune
    is to go (a larger --finetune-steps resumes a finished one from its last checkpoint: the
    learning rate is constant, so it ends where a run of that length from the start would)."""
    from genreward_cli.video.finetune import FinetuneConfig

    if "--steps" in argv:
        return int(argv[argv.index("--steps") + 1])
    return FinetuneConfig.steps


def collect_expert(env: list, preset: Preset, cuts: Cuts, s: str) -> Stage:
    """The expert episodes: the finetuning videos and FB data (genreward) and Diffusion
    Reward's training videos."""
    return Stage("collect expert", ["collect", *env, "--policy", "expert",
                                    *flags(preset.collect, cuts.of("collect")), "--seed", s,
                                    "--out", "expert.h5"],
                 "expert.h5", "episodes")


def goal_stages(task: str, preset: Preset, seed: int, env: list, dev: list,
                videos: str | None = None, video_model: str | None = None,
                models: dict | None = None, cuts: Cuts = Cuts()) -> list[Stage]:
    """collect expert -> finetune -> generate -> select-frame -> encode-goal -> collect
    random -> train-fb: what the genreward reward reads (goal.h5, fb.h5). With
    ``video_model`` (a finetuned model shared by several tasks) there is no finetune and
    generate uses it. ``models`` and ``cuts`` as in ``stages``."""
    models = models or {}
    s = str(seed)
    finetune = ["finetune", "--videos", videos or "expert.h5",
                *flags(preset.finetune, {"--model": models.get("finetune_model")},
                       cuts.of("finetune")),
                "--seed", s, *dev, "--out", "video_model"]
    # CogVideoX-5B-I2V generates at its native 480x720 (learned positional embeddings)
    generate = ["generate", "--task", task, "--model", video_model or "video_model",
                *flags(preset.generate, cuts.of("generate")), "--seed", s, *dev, "--out",
                "goal_video.h5", "--mp4", "goal_video.mp4"]
    encoder = {"--image-encoder": models.get("image_encoder") or None}
    plan = [
        collect_expert(env, preset, cuts, s),
        Stage("finetune", finetune, "video_model/finetune_log.h5", "finetune_log",
              resumable=True, done_steps=_finetune_steps(finetune)),
        Stage("generate", generate, "goal_video.h5", "goal_video", outputs=["goal_video.mp4"]),
        Stage("select-frame", ["select-frame", "goal_video.h5", *clip_args(preset, models), *dev,
                               "--out", "goal_frame.h5", "--plot", "goal_frame_scores.png"],
              "goal_frame.h5", "goal_frame", outputs=["goal_frame_scores.png"]),
        Stage("encode-goal", ["encode-goal", "goal_video.h5", "goal_frame.h5",
                              *flags(preset.encode_goal, encoder), "--seed", s, *dev, "--out",
                              "goal.h5"], "goal.h5", "goal"),
        Stage("collect random", ["collect", *env, "--policy", "random",
                                 *flags(preset.collect, cuts.of("collect")),
                                 "--seed", str(seed + 1), "--out", "random.h5"],
              "random.h5", "episodes"),
        Stage("train-fb", ["train-fb", "expert.h5", "random.h5", "goal.h5",
                           *flags(preset.train_fb, cuts.of("train_fb")), "--seed", s, *dev,
                           "--out", "fb.h5"], "fb.h5", "fb", resumable=True),
    ]
    return [p for p in plan if not (video_model and p.name == "finetune")]

def _normalise(words: list[str], drop_steps: bool) -> list[str]:
    """A command line without --force/--resume and --device (where a stage ran does not
    change what it made: a rerun with `--device cuda` of a pipeline run with `--device auto`
    replaced every output), and, for a run that may be extended, without its --steps, which
    only says how far to go."""
    out, skip = [], False
    for w in words:
        if skip:
            skip = False
        elif w == "--device" or (drop_steps and w == "--steps"):
            skip = True
        elif w not in FLAGS_IGNORED:
            out.append(w)
    return out


def status(stage: Stage, root: Path) -> tuple[str, str]:
    """("done" | "resume" | "run", why) for a stage in the pipeline directory ``root``."""
    from genreward_cli import store

    marker = root / stage.marker
    if not marker.exists():
        if stage.resumable and _has_checkpoint(stage, root):
            return "resume", "a checkpoint to continue from"
        return "run", "no output yet"
    if stage.kind == MODEL_DIR:
        try:
            meta = json.loads(marker.read_text())
            producer, parents, steps = meta["producer"], meta["parents"], None
        except (OSError, ValueError, KeyError) as e:
            return "run", f"unreadable output ({type(e).__name__}: {e})"
        # the folder's own path when written (a file inside it stands for it)
        written = meta.get("written_as")
        return _compare(stage, root, producer, parents, steps, marker,
                        os.path.join(written, marker.name) if written else None)
    try:
        art = store.open_artifact(marker, stage.kind)
    except GenrewardError as e:
        return "run", f"unreadable output ({e})"
    with art:
        steps = _steps_done(art) if stage.done_steps is not None else None
        producer = str(art.attrs["producer"])
        if stage.kind == "agent_log":  # an agent run: the command that started it (one
            # resumed by hand, `train-agent --out DIR --resume --steps N`, names no option)
            producer = _started_by(art.attrs["config"]) or producer
        return _compare(stage, root, producer, art.parents, steps, marker,
                        art.attrs.get("written_as"))


def _steps_done(art) -> int:
    """How far the run of an extendable stage went: an agent log's attr ``steps``; a
    finetune log's configured steps (its log is written once it has reached them)."""
    if "steps" in art.attrs:
        return int(art.attrs["steps"])
    try:
        return int(json.loads(art.attrs["config"])["steps"])
    except (ValueError, KeyError, TypeError):
        return 0  # unknown: resumed, which finetune checks against its checkpoint


def _started_by(config: str) -> str | None:
    """The ``started_by`` of an agent run's config (JSON), or None (a run from before it was
    recorded, or an unreadable config)."""
    try:
        value = json.loads(config).get("started_by")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _compare(stage: Stage, root: Path, producer: str, parents: list, steps: int | None,
             marker: Path | None = None, written_as: str | None = None) -> tuple[str, str]:
    """``status`` of a stage whose output was made by ``producer`` from ``parents``; a parent
    recorded in a folder that has moved since (``marker``, written at ``written_as``) is
    looked for at the same place relative to it, and must still have its sha256."""
    from genreward_cli import store

    producer = shlex.split(producer.split(": ", 1)[-1])
    extendable = stage.done_steps is not None
    if _normalise(producer, extendable) != _normalise(["genreward", *stage.argv], extendable):
        return "run", "made with other options"
    for parent in parents:
        path = Path(parent["path"])
        if not path.is_absolute():
            path = root / path
        elif not path.exists() and marker is not None:
            path = Path(store.resolve_recorded(str(path), marker, written_as))
        if not path.exists() or store.sha256_file(path) != parent["sha256"]:
            return "run", f"its input {parent['path']} changed"
    if stage.done_steps is not None and steps < stage.done_steps:
        return "resume", f"at {steps} of {stage.done_steps} steps"
    return "done", "up to date"


def output(stage: Stage) -> str:
    """The path a stage writes (its --out)."""
    return stage.argv[stage.argv.index("--out") + 1]


def depends_on(stage: Stage, earlier: Stage) -> bool:
    """Whether ``stage`` reads what ``earlier`` writes."""
    i = stage.argv.index("--out")
    inputs = stage.argv[:i] + stage.argv[i + 2:]
    return output(earlier) in inputs


def plan_status(plan: list[Stage], root: Path) -> list[tuple[str, str]]:
    """``status`` of every stage, where a stage whose input will be redone runs as well."""
    out: list[tuple[str, str]] = []
    for i, stage in enumerate(plan):
        mode, why = status(stage, root)
        upstream = [p.name for p, (m, _) in zip(plan[:i], out) if m != "done" and depends_on(stage, p)]
        if mode == "done" and upstream:
            mode, why = "run", f"after {upstream[0]}"
        out.append((mode, why))
    return out


def check_agent_runs_kept(plan: list[Stage], statuses: list[tuple[str, str]],
                          root: Path) -> None:
    """Refuse a plan that would replace an agent run or a finetuned video model (a finished
    one, or one with a checkpoint) because it was made with other options or from other
    inputs: a `--seed $s` loop into one --out, or a changed cut, would otherwise delete days
    of training at the paper preset (a larger --steps resumes instead: ``status``).
    ``statuses`` are :func:`plan_status`'s. ``pipeline --force`` runs every stage again and
    is not checked.

    Raises:
        BadInput: one line naming the run and why it would be replaced."""
    for stage, (mode, why) in zip(plan, statuses):
        if stage.kind == "fb":  # resumable too, but retrained in minutes to hours, not days
            continue
        holds_run = (root / stage.marker).exists() or _has_checkpoint(stage, root)
        if stage.resumable and mode == "run" and holds_run:
            folder = root / output(stage)
            if stage.kind == "finetune_log":
                what, other = "the finetuned video model", "give another --out"
            else:
                what = "the agent run"
                other = "give another --out (several seeds in one: --seeds 0,1,2)"
            raise BadInput(f"{stage.name}: would replace {what} {folder} ({why}): {other}, "
                           "remove it yourself to train it anew, or pass --force to run every "
                           "stage again")


def _has_checkpoint(stage: Stage, root: Path) -> bool:
    """Whether a resumable stage's output has a checkpoint to go on from: a train-agent
    run's checkpoint.pt, finetune's checkpoints/, train-fb's OUT.ckpt.pt."""
    out = root / output(stage)
    return ((out / "checkpoint.pt").exists() or (out / "checkpoints").is_dir()
            or Path(f"{out}.ckpt.pt").is_file())


def stage_argv(stage: Stage, mode: str) -> list[str]:
    """The arguments of ``stage``'s `genreward` command: its own, then ``--resume`` (mode
    `resume`) or ``--force`` (mode `run`: a stale or partial output is replaced)."""
    return [*stage.argv, "--resume" if mode == "resume" else "--force"]


def command(stage: Stage, mode: str) -> str:
    """``stage``'s command line as a user would type it (in the pipeline's folder)."""
    return shlex.join(["genreward", *stage_argv(stage, mode)])


def _wait(process: subprocess.Popen, seconds: float) -> int | None:
    """``process``'s exit status once it ends within ``seconds``, else None."""
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return None


# A stage's exit status when a signal stopped it: ended by its handler (143, or SIGINT
# re-raised after `Aborted!`), or by the signal's default action during its start-up.
_STOPPED = {Terminated.exit_code: "SIGTERM", -signal.SIGTERM: "SIGTERM",
            -signal.SIGINT: "SIGINT"}


def _resume_hint(stage: Stage, rc: int | None) -> None:
    """After a resumable stage was stopped: the stage's own line names its `--resume`,
    which is not the pipeline's; say how the pipeline goes on."""
    if rc in _STOPPED and stage.resumable:
        print(f"pipeline: rerun the same `genreward pipeline` command to continue; it "
              f"resumes {stage.name} from its last checkpoint (or starts it again "
              "without one)", file=sys.stderr)


def run_stage(stage: Stage, root: Path, mode: str) -> float:
    """Run one stage as a `genreward` process in ``root``; return its seconds."""
    argv = [sys.executable, "-m", "genreward_cli", *stage_argv(stage, mode)]
    start = time.perf_counter()
    process = None
    try:
        # the stage ends (SIGTERM) if the pipeline is killed: see genreward_cli/parent.py
        process = subprocess.Popen(argv, cwd=root,
                                   env={**os.environ, PARENT_PID_VAR: str(os.getpid())})
        rc = process.wait()
    except BaseException as e:  # Ctrl-C or SIGTERM: let the stage remove its unfinished output
        if process is None:  # stopped while starting it: a stage that started ends with us
            raise
        if type(e) in (KeyboardInterrupt, Terminated):
            sigterm = type(e) is Terminated
            # a signal sent to the process group (a terminal's Ctrl-C, scancel) reaches the
            # stage too: it is let finish its cleanup, which a second SIGTERM would cut short
            rc = _wait(process, 3 if sigterm else 10)
            if rc is None:  # sent to the pipeline alone: passed on to the stage
                process.send_signal(signal.SIGTERM if sigterm else signal.SIGINT)
                rc = _wait(process, 60)
            _resume_hint(stage, rc)
            if rc == Terminated.exit_code and sigterm:  # the stage said so and cleaned up
                raise ReportedTermination() from None
            if rc == -signal.SIGINT and not sigterm:  # the stage said `Aborted!`
                raise ReportedInterrupt() from None
        if process.poll() is None:
            process.terminate()
            if _wait(process, 60) is None:
                process.kill()
        raise
    if rc in _STOPPED:  # the stage alone was stopped, or stopped first: the pipeline stops too
        _resume_hint(stage, rc)
        print(f"pipeline: stage {stage.name!r} was stopped ({_STOPPED[rc]})", file=sys.stderr)
        # the lines said, the pipeline ends as the stage did (143, or by SIGINT)
        raise ReportedInterrupt() if rc == -signal.SIGINT else ReportedTermination()
    if rc != 0:  # a stage's bad input (exit 2) is the pipeline's too
        error = BadInput if rc == BadInput.exit_code else GenrewardError
        raise error(f"stage {stage.name!r} failed (exit {rc}): genreward "
                             f"{shlex.join(stage.argv)} (in {root})")
    return time.perf_counter() - start


def run(task: str, out: str | os.PathLike, *, preset: str | Preset = "tiny",
        steps: int | None = None, reward_mode: str = "dense", videos: str | None = None,
        video_model: str | None = None, methods: str | Sequence[str] = "genreward",
        seeds: str | Sequence[int] | None = None, seed: int = 0, models: dict | None = None,
        cuts: Cuts = Cuts(), device: str = "auto", force: bool = False,
        dry_run: bool = False, add_env_reward: bool = False) -> Report:
    """Run the pipeline of ``task`` in the directory ``out``: every stage of :func:`stages`
    that is not up to date, as a `genreward` process (``run_stage``), then `evaluate
    --compare` of every run (curves.png, curves.csv). Prints each stage as it starts or is
    skipped on stderr.

    ``methods`` / ``seeds``: sequences, or comma-separated text (``parse_list``); ``seeds``
    None: ``seed`` alone. ``models`` (finetune_model, clip_model, clip_pretrained,
    image_encoder, s3d_model, tadpole_model) and ``video_model`` as given on the command
    line: local paths are made absolute (stages run inside ``out``). ``force`` runs every
    stage again; ``dry_run`` only says what would run and why (the report's line; its
    summary has ``stages`` alone). ``add_env_reward``: as in ``stages``.

    The report's line: a table of the stages, the goal frame and each run's evaluation; its
    summary (``out``, ``stages``, ``goal_frame``, ``eval``, ``agent``, ``runs``, ``files``)
    the same for scripts.

    Raises BadInput (exit code 2): an unknown task, preset or method, a bad list, ``out`` a
    file or where no folder can be made, ``videos`` no `videos` or `episodes` artifact (these
    two not checked by a dry run, which may plan for another machine's files), both
    ``videos`` and ``video_model``, roboclip at the paper preset without an S3D
    model, tadpole's model that cannot be read (not checked by a dry run, which may plan on
    a machine without it). GenrewardError: a stage failed (its exit code in the message).
    """
    from genreward_cli.progress import console as make_console

    from genreward_cli.envs.tasks import check_task

    check_task(task)
    methods = parse_methods(methods) if isinstance(methods, str) else tuple(methods)
    sweep = seeds is not None  # --seeds: every run in runs/METHOD/SEED (``runs``)
    seeds = ((seed,) if seeds is None else
             parse_list(seeds, "seeds", int) if isinstance(seeds, str) else tuple(seeds))
    from genreward_cli.options import MAX_SEED

    if bad := [s for s in seeds if not 0 <= s <= MAX_SEED]:
        raise BadInput(f"--seeds: {bad[0]} is not a seed (0 to {MAX_SEED})")
    if "genreward" in methods and cuts.frames is not None and cuts.frames % 8 != 1:
        # finetune takes 4k+1, but generate's CogVideoX VAE decodes 8k+1: found after the
        # expert episodes and the finetune otherwise
        raise BadInput(f"--frames {cuts.frames}: the goal video is generated with 8k+1 frames "
                       f"(e.g. {8 * (cuts.frames // 8) + 1} or {8 * (cuts.frames // 8) + 9})")
    if "genreward" in methods and seed == MAX_SEED:  # its random episodes take --seed + 1
        raise BadInput(f"--seed {seed}: the random episodes are collected with --seed + 1, "
                       f"so the largest seed here is {MAX_SEED - 1}")
    # up front, not at the first stage that takes --device; a --dry-run may plan on a machine
    # without the GPU the run will have
    if device == "cuda" and not dry_run:
        from genreward_cli.options import resolve_device

        resolve_device(device)
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise BadInput(f"{root}: is a file; --out names a directory")
    from genreward_cli import store

    # a file can be made in it (or in the folder that will hold it): `--out /proc/p` is
    # refused now, not by the first stage; a dry run may plan for another machine's files
    if not dry_run:
        store.check_writable(root / ".pipeline", shown=f"--out {root}")
    if videos and video_model:
        raise BadInput("--videos finetunes a video model here, --video-model brings one: give "
                       "one of them")
    if videos and not dry_run:  # read now, not by finetune after the expert episodes
        try:
            with store.open_artifact(videos, ("videos", "episodes")):
                pass
        except BadInput as e:
            raise BadInput(f"--videos {e}") from None
    if videos:
        videos = str(Path(videos).resolve())
    models = dict(models or {})
    for key in ("s3d_model", "finetune_model", "clip_pretrained", "image_encoder"):
        models[key] = models.get(key) and _absolute(models[key])
    if models.get("tadpole_model") is not None:
        models["tadpole_model"] = _absolute(models["tadpole_model"])
    plan = stages(task, preset, seed=seed, steps=steps, reward_mode=reward_mode, videos=videos,
                  device=device, methods=methods, seeds=seeds if sweep else None,
                  models=models,
                  video_model=video_model and _absolute(video_model), cuts=cuts,
                  add_env_reward=add_env_reward)
    if video_model:  # a folder that is no image-to-video pipeline: said now, not by generate
        from genreward_cli.video.model import IMAGE_TO_VIDEO, PRESETS as VIDEO_PRESETS
        from genreward_cli.video.model import read_info, resolve

        if Path(video_model).is_dir():  # its configs read (a hub id is read by generate)
            read_info(video_model, "--video-model").require_mode(
                IMAGE_TO_VIDEO, f"--video-model {video_model}")
        elif video_model not in VIDEO_PRESETS:
            resolve(video_model, option="--video-model")
    agent_runs = runs(methods, seeds, sweep)
    console = make_console(stderr=True)
    report = []
    statuses = [("run", "--force")] * len(plan) if force else plan_status(plan, root)
    if not force:
        check_agent_runs_kept(plan, statuses, root)
    if dry_run:  # writes nothing, not even --out
        for stage, (mode, why) in zip(plan, statuses):
            report.append({"stage": stage.name, "action": mode, "why": why, "seconds": 0.0,
                           "command": None if mode == "done" else command(stage, mode)})
        report.append({"stage": "compare", "action": "run", "why": "after the agents",
                       "seconds": 0.0,
                       "command": command(compare_stage(agent_runs, root), "run")})
        from genreward_cli.store import is_locked

        running = is_locked(root)  # the plan is of the files as they are now
        with console.capture() as text:
            _print_plan(console, report, root)
            if running:
                console.print(f"note: another pipeline is writing {root} now; what it "
                              "finishes will be up to date when this one runs",
                              highlight=False)
        return Report(_text(text), {"out": str(root), "stages": report, "running": running})
    check_baseline_models(plan)
    made = store.make_folders(root)
    try:
        for stage in plan:
            mode, why = ("run", "--force") if force else status(stage, root)
            if mode == "done":
                console.print(f"[dim]skip {stage.name}: {why}[/dim]")
                report.append({"stage": stage.name, "action": "skipped", "why": why,
                               "seconds": 0.0})
                continue
            console.rule(f"{stage.name} ({why})")
            seconds = run_stage(stage, root, mode)
            report.append({"stage": stage.name,
                           "action": "resumed" if mode == "resume" else "ran",
                           "why": why, "seconds": round(seconds, 1)})
    except BaseException:  # stopped or failed in its first stage: no empty --out is left
        store.remove_folders(made)
        raise
    report.append({"stage": "compare", "action": "ran", "why": "after the agents",
                   "seconds": round(compare(root, agent_runs), 1)})  # as the plan's last row
    summary = _summary(root, plan, report, agent_runs)
    with console.capture() as text:
        _print_report(console, root, plan, summary, f"{task} ({preset_of(preset).name})")
    return Report(_text(text), summary)


def compare_stage(agent_runs: list[Run], root: Path) -> Stage:
    """`evaluate --compare` of ``agent_runs`` and of every other run under ``root``'s
    `runs/METHOD/SEED` that has written its log (a shell loop of `--seeds N` into one --out
    keeps each seed's run: the curves then show them all, not only this invocation's):
    curves.png and curves.csv."""
    folders = [r.agent for r in agent_runs]
    logged = sorted(str(log.parent.relative_to(root)) for log in root.glob("runs/*/*/log.h5"))
    folders += [f for f in logged if f not in folders]
    argv = ["evaluate", "--compare", *folders, "--plot", "curves.png", "--csv", "curves.csv"]
    return Stage(argv[0], argv, "", "")


def compare(root: Path, agent_runs: list[Run]) -> float:
    """Run :func:`compare_stage` in ``root``; return its seconds."""
    return run_stage(compare_stage(agent_runs, root), root, "run")


def _text(capture) -> str:
    """What a rich console capture holds, without its last newline (the report's line is
    echoed with one)."""
    text = capture.get()
    return text[:-1] if text.endswith("\n") else text


def _print_plan(console, report: list[dict], root: Path) -> None:
    """Each stage's action and why, and under it the command that would run (in ``root``)."""
    width = max([15] + [len(row["stage"]) + 1 for row in report])
    console.print(f"the commands run in {root}:", highlight=False)
    for row in report:
        console.print(f"{row['action']:>7}  {row['stage']:<{width}} {row['why']}",
                      highlight=False)
        if row["command"]:
            console.print(f"           {row['command']}", highlight=False, markup=False,
                          soft_wrap=True)


def _print_report(console, root: Path, plan: list[Stage], summary: dict, title: str) -> None:
    """The stages' table, the goal frame, each run's evaluation and where the curves are."""
    from rich.table import Table

    from genreward_cli.stages.acting import NO_EPISODE, format_returns

    table = Table(title=f"genreward pipeline: {title}")
    for col in ("stage", "action", "seconds", "output"):
        table.add_column(col)
    for row, stage in zip(summary["stages"], plan):
        table.add_row(row["stage"], row["action"], f"{row['seconds']:.0f}",
                      ", ".join([stage.marker, *stage.outputs]))
    console.print(table)
    g = summary["goal_frame"]
    if g is not None:
        console.print(f"goal frame: index {g['index']} of the generated video, CLIP score "
                      f"{g['score']:.3f} ({root / 'goal_frame_scores.png'})")
    for r in summary["runs"]:
        e, a = r["eval"], r["agent"]
        where = root / (r["video"] or r["eval_file"])
        name = "evaluation" if len(summary["runs"]) == 1 else f"{r['method']} seed {r['seed']}"
        console.print(f"{name} over {counted(e['episodes'], 'episode')}: "
                      f"{format_returns(e['mean'], e['std'], e['success_rate'])} ({where})")
        if not a["episodes"]:
            console.print(f"  learning curve: none yet, {NO_EPISODE} in training ({a['steps']} "
                          f"steps of {a['episode_steps']}-step episodes)")
    goal_video = f"; goal video: {root / 'goal_video.mp4'}" if g is not None else ""
    console.print(f"learning curves: {root / 'curves.png'}, {root / 'curves.csv'}{goal_video}")


def _absolute(path: str) -> str:
    """A local model directory as an absolute path (stages run inside --out); a hub id or
    `tiny` as given."""
    return str(Path(path).resolve()) if Path(path).exists() else path


def _summary(root: Path, plan: list[Stage], report: list[dict], agent_runs: list[Run]) -> dict:
    """The pipeline's JSON report. With one run, ``eval`` and ``agent`` are that run's (as
    before several methods could run); ``runs`` has every run's."""
    from genreward_cli import store
    from genreward_cli.stages.acting import returns_summary
    from genreward_cli.stages.evaluate import run_env_config

    goal = None
    if (root / "goal_frame.h5").exists() and any(r.method == "genreward" for r in agent_runs):
        with store.open_artifact(root / "goal_frame.h5", "goal_frame") as art:
            index = int(art.attrs["index"])
            goal = {"index": index, "score": float(art.file["scores"][index])}
    out = []
    for r in agent_runs:
        with store.open_artifact(root / r.eval, "eval") as art:
            ev = returns_summary(art.file["return"][()], art.file["success"][()])
        with store.open_artifact(root / r.agent / "log.h5", "agent_log") as art:
            # a run shorter than one episode has none: its learning curve is empty
            agent = {"steps": int(art.attrs["steps"]),
                     "episodes": len(art.file["episodes/return"]),
                     "episode_steps": run_env_config(art).max_steps}
        out.append({"method": r.method, "seed": r.seed, "agent_dir": r.agent,
                    "eval_file": r.eval, "video": r.video, "eval": ev, "agent": agent})
    return {"out": str(root), "stages": report, "goal_frame": goal, "eval": out[0]["eval"],
            "agent": out[0]["agent"], "runs": out,
            "files": {s.name: [s.marker, *s.outputs] for s in plan}
            | {"curves": ["curves.png", "curves.csv"]}}
