"""The whole method as one job: every stage in order, through files, skipping finished ones.

Each stage runs as its own `genreward STAGE ...` process (as it would on its own node), so
its artifact records its exact command line. A stage counts as finished, and is skipped,
when its output artifact opens as the right kind, was written by the same command line
(``--force`` / ``--resume`` aside), and every parent it names still has the hash it had
then. Change an option, or re-run an upstream stage, and everything downstream runs again.
The resumable stages (finetune, train-agent) continue from their checkpoints.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from genreward_cli.errors import BadInput, GenrewardError

PRESETS = ("tiny", "paper")
MODEL_DIR = "model directory"  # a Stage kind: the marker is a JSON with producer and parents
FLAGS_IGNORED = ("--force", "--resume")


@dataclass
class Stage:
    name: str
    argv: list[str]  # the genreward subcommand and its arguments
    marker: str  # the artifact that shows the stage finished (relative to the pipeline dir)
    kind: str  # its artifact kind, or MODEL_DIR: a model directory's JSON (producer, parents)
    resumable: bool = False  # continue a run in progress with --resume
    done_steps: int | None = None  # train-agent: the steps its log must show
    outputs: list[str] = field(default_factory=list)  # what a person looks at


# The official GenReward code's reward interval per task (Table A says 128 for all); the
# paper preset uses these, other tasks get 128.
PAPER_INTERVALS = {"bin-picking-v3": 64, "pick-out-of-hole-v3": 64, "shelf-place-v3": 64,
                   "pick-place-v3": 128, "disassemble-v3": 128}
DEFAULT_INTERVAL = 128
# the reward models a pipeline can train agents with (Fig. 5's methods and more)
METHODS = ("genreward", "env", "vlm-rm", "clip-video", "roboclip", "tadpole", "diffusion-reward")


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
    run of the paper preset on a GPU, or a test. Each is one stage option:

    - ``episodes``: collect's --episodes, expert and random (tiny 4, paper 20)
    - ``finetune_steps``: finetune's --steps (tiny 50, paper finetune's default 1000)
    - ``frames``: finetune's and generate's --frames, the clip and goal video length (8k+1;
      default the model's native count, 49 for CogVideoX-5B-I2V, 9 for the tiny preset)
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


def put(argv: list[str], flag: str, value) -> list[str]:
    """``argv`` with ``flag value``: the existing value replaced, else inserted before
    ``--seed`` (or ``--out``); ``value`` None leaves ``argv`` as it is."""
    if value is None:
        return argv
    argv = list(argv)
    if flag in argv:
        argv[argv.index(flag) + 1] = str(value)
        return argv
    at = argv.index("--seed") if "--seed" in argv else argv.index("--out")
    return argv[:at] + [flag, str(value)] + argv[at:]


def runs(methods: tuple, seeds: tuple) -> list[Run]:
    """The agent runs of ``methods`` x ``seeds``. One genreward run keeps the single-run
    layout (``agent/``, ``eval.h5``, ``rollouts.mp4``); more go to ``runs/METHOD/SEED`` and
    ``evals/METHOD-SEED.h5``."""
    if tuple(methods) == ("genreward",) and len(seeds) == 1:
        return [Run("genreward", int(seeds[0]), "agent", "eval.h5", "rollouts.mp4")]
    return [Run(m, int(s), f"runs/{m}/{s}", f"evals/{m}-{s}.h5", None)
            for m in methods for s in seeds]


def interval(task: str, preset: str) -> int:
    """The genreward reward interval of ``task`` under ``preset`` (``PAPER_INTERVALS``)."""
    return PAPER_INTERVALS.get(task, DEFAULT_INTERVAL) if preset == "paper" else DEFAULT_INTERVAL


def method_args(method: str, tiny: bool, models: dict) -> list[str]:
    """train-agent's reward options for ``method``; ``models``: s3d_model, tadpole_model."""
    if method == "genreward":
        return ["--reward", "genreward", "--goal", "goal.h5", "--fb", "fb.h5"]
    if method in ("vlm-rm", "clip-video"):
        return ["--reward", method, *clip_args(tiny, models)]
    if method == "roboclip":
        s3d = "tiny" if tiny else models.get("s3d_model")
        if not s3d:
            raise BadInput("--methods roboclip with --preset paper needs --s3d-model: a "
                           "directory with s3d_howto100m.pth and s3d_dict.npy")
        return ["--reward", "roboclip", "--s3d-model", s3d]
    if method == "tadpole":
        return ["--reward", "tadpole", "--tadpole-model",
                "tiny" if tiny else models.get("tadpole_model") or "tiny"]
    if method == "diffusion-reward":
        # trained here on the expert episodes; RND's batch cut at the tiny preset (CPU)
        return ["--reward", "diffusion-reward", "--diffusion-reward-model", "dr_model",
                *(["--diffusion-reward-rnd-batch", "16"] if tiny else [])]
    if method == "env":
        return ["--reward", "env"]
    raise BadInput(f"--methods: unknown method {method!r}; choose from {', '.join(METHODS)}")


def clip_args(tiny: bool, models: dict) -> list[str]:
    """The OpenCLIP options of select-frame and the CLIP baselines: ``models``' clip_model
    and clip_pretrained where given, else `tiny` at the tiny preset (the stages' defaults,
    ViT-B-32 / laion2b_s34b_b79k, at the paper preset)."""
    out = []
    if models.get("clip_model") or tiny:
        out += ["--clip-model", models.get("clip_model") or "tiny"]
    if models.get("clip_pretrained") is not None:
        out += ["--clip-pretrained", models["clip_pretrained"]]
    return out


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


def stages(task: str, preset: str, seed: int = 0, steps: int | None = None,
           reward_mode: str = "dense", videos: str | None = None,
           device: str = "auto", methods: tuple = ("genreward",), seeds: tuple | None = None,
           models: dict | None = None, video_model: str | None = None,
           cuts: Cuts = Cuts()) -> list[Stage]:
    """The stages of one pipeline, with paths relative to its directory: the goal and FB
    stages once (with ``seed``), when a method needs them, then train-agent and evaluate for
    every method and seed (``runs``).

    ``models`` substitutes the preset's models (local paths absolute, hub ids, `tiny`):
    ``finetune_model`` (finetune's --model), ``clip_model`` / ``clip_pretrained``
    (select-frame and the CLIP baselines), ``image_encoder`` (encode-goal), ``s3d_model``,
    ``tadpole_model``; ``cuts`` shortens stages (``Cuts``). Unset ones leave every command
    line as the preset writes it, so finished stages stay finished.

    Raises:
        BadInput: an unknown preset or method, roboclip at the paper preset without
            s3d_model, or a finetune_model with ``video_model`` (no finetune then).
    """
    if preset not in PRESETS:
        raise BadInput(f"--preset {preset!r}: choose from {', '.join(PRESETS)}")
    tiny = preset == "tiny"
    seeds = tuple(seeds) if seeds else (seed,)
    models = models or {}
    if video_model and models.get("finetune_model"):
        raise BadInput("--finetune-model is the model finetune starts from; with --video-model "
                       "there is no finetune: give one of them")
    reward_args = {m: method_args(m, tiny, models) for m in methods}  # refuses unknown names
    dev = ["--device", device]
    env = ["--task", task, "--reward-mode", reward_mode]
    n_demo = "4" if tiny else "20"  # 20 expert demos per task, as Diffusion Reward trains on
    steps = steps if steps is not None else (2048 if tiny else 1_000_000)
    s = str(seed)
    out = []
    if "genreward" in methods:
        out += goal_stages(task, tiny, s, env, dev, n_demo, videos, seed, video_model,
                           models, cuts)
    if "diffusion-reward" in methods:
        if "genreward" not in methods:
            out.append(collect_expert(env, str(cuts.episodes or n_demo), s))
        out.append(Stage("train-video-model",
                         ["train-video-model", "expert.h5", "--kind", "vqdiffusion",
                          *(["--preset", "tiny", "--codec-steps", "50", "--steps", "50",
                             "--batch-size", "8"] if tiny else []),
                          "--seed", s, *dev, "--out", "dr_model"],
                         "dr_model/diffusion_reward.json", MODEL_DIR))
    for run in runs(methods, seeds):
        agent_args = (["--preset", "tiny", "--train-ratio", "64", "--prefill", "256",
                       "--eval-every", "512", "--eval-episodes", "5"] if tiny else
                      ["--preset", "S"])
        if run.method == "genreward":
            if interval(task, preset) != DEFAULT_INTERVAL:  # the option's default otherwise
                agent_args += ["--reward-interval", str(interval(task, preset))]
            if not tiny:
                agent_args += ["--fb-train-steps", "100000"]
        single = run.agent == "agent"
        suffix = "" if single else f" {run.method} {run.seed}"
        agent = ["train-agent", *env, *reward_args[run.method], "--steps", str(steps),
                 *agent_args, "--seed", str(run.seed), *dev, "--out", run.agent]
        agent = put(put(agent, "--prefill", cuts.prefill), "--eval-episodes", cuts.eval_episodes)
        out.append(Stage("train-agent" + suffix, agent,
                         f"{run.agent}/log.h5", "agent_log", resumable=True, done_steps=steps))
        video = ["--video", run.video] if run.video else []
        evaluate = ["evaluate", run.agent, "--episodes", "5" if tiny else "10", "--seed",
                    str(run.seed), *dev, "--out", run.eval, *video]
        out.append(Stage("evaluate" + suffix, put(evaluate, "--episodes", cuts.eval_episodes),
                         run.eval, "eval", outputs=[run.video] if run.video else []))
    return out


def collect_expert(env: list, n_demo: str, s: str) -> Stage:
    """The expert episodes: the finetuning videos and FB data (genreward) and Diffusion
    Reward's training videos."""
    return Stage("collect expert", ["collect", *env, "--policy", "expert", "--episodes", n_demo,
                                    "--workers", "2", "--seed", s, "--out", "expert.h5"],
                 "expert.h5", "episodes")


def goal_stages(task, tiny, s, env, dev, n_demo, videos, seed, video_model=None,
                models: dict | None = None, cuts: Cuts = Cuts()) -> list[Stage]:
    """collect expert -> finetune -> generate -> select-frame -> encode-goal -> collect
    random -> train-fb: what the genreward reward reads (goal.h5, fb.h5). With
    ``video_model`` (a finetuned model shared by several tasks) there is no finetune and
    generate uses it. ``models`` and ``cuts`` as in ``stages``."""
    models = models or {}
    n_demo = str(cuts.episodes or n_demo)
    finetune = ["finetune", "--videos", videos or "expert.h5",
                *(["--model", "tiny", "--steps", "50", "--lr", "1e-3"] if tiny else []),
                "--seed", s, *dev, "--out", "video_model"]
    finetune = put(put(put(finetune, "--model", models.get("finetune_model")), "--steps",
                       cuts.finetune_steps), "--frames", cuts.frames)
    plan = [
        collect_expert(env, n_demo, s),
        Stage("finetune", finetune,
              "video_model/finetune_log.h5", "finetune_log", resumable=True),
        # CogVideoX-5B-I2V generates at its native 480x720 (learned positional embeddings)
        Stage("generate", put(put(["generate", "--task", task, "--model",
                                   video_model or "video_model", "--seed", s, *dev, "--out",
                                   "goal_video.h5", "--mp4", "goal_video.mp4"],
                                  "--steps", cuts.generate_steps), "--frames", cuts.frames),
              "goal_video.h5", "goal_video", outputs=["goal_video.mp4"]),
        Stage("select-frame", ["select-frame", "goal_video.h5", *clip_args(tiny, models), *dev,
                               "--out", "goal_frame.h5", "--plot", "goal_frame_scores.png"],
              "goal_frame.h5", "goal_frame", outputs=["goal_frame_scores.png"]),
        Stage("encode-goal", ["encode-goal", "goal_video.h5", "goal_frame.h5",
                              *(["--image-encoder", models.get("image_encoder") or "tiny"]
                                if tiny or models.get("image_encoder") else []),
                              "--seed", s, *dev, "--out", "goal.h5"], "goal.h5", "goal"),
        Stage("collect random", ["collect", *env, "--policy", "random", "--episodes", n_demo,
                                 "--workers", "2", "--seed", str(seed + 1), "--out", "random.h5"],
              "random.h5", "episodes"),
        Stage("train-fb", put(["train-fb", "expert.h5", "random.h5", "goal.h5",
                               *(["--steps", "300", "--z-dim", "64", "--hidden-dim", "128",
                                  "--batch-size", "256"] if tiny else []),
                               "--seed", s, *dev, "--out", "fb.h5"], "--steps", cuts.fb_steps),
              "fb.h5", "fb"),
    ]
    return [p for p in plan if not (video_model and p.name == "finetune")]


def _normalise(words: list[str], drop_steps: bool) -> list[str]:
    """A command line without --force/--resume (and, for a run that may be extended,
    without its --steps, which only says how far to go)."""
    out, skip = [], False
    for w in words:
        if skip:
            skip = False
        elif drop_steps and w == "--steps":
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
        import json

        try:
            meta = json.loads(marker.read_text())
            producer, parents, steps = meta["producer"], meta["parents"], None
        except (OSError, ValueError, KeyError) as e:
            return "run", f"unreadable output ({type(e).__name__}: {e})"
        return _compare(stage, root, producer, parents, steps)
    try:
        art = store.open_artifact(marker, stage.kind)
    except GenrewardError as e:
        return "run", f"unreadable output ({e})"
    with art:
        steps = int(art.attrs["steps"]) if stage.done_steps is not None else None
        return _compare(stage, root, str(art.attrs["producer"]), art.parents, steps)


def _compare(stage: Stage, root: Path, producer: str, parents: list,
             steps: int | None) -> tuple[str, str]:
    """``status`` of a stage whose output was made by ``producer`` from ``parents``."""
    from genreward_cli import store

    producer = shlex.split(producer.split(": ", 1)[-1])
    extendable = stage.done_steps is not None
    if _normalise(producer, extendable) != _normalise(["genreward", *stage.argv], extendable):
        return "run", "made with other options"
    for parent in parents:
        path = Path(parent["path"])
        path = path if path.is_absolute() else root / path
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


def _has_checkpoint(stage: Stage, root: Path) -> bool:
    out = root / output(stage)
    return (out / "checkpoint.pt").exists() or (out / "checkpoints").is_dir()


def run_stage(stage: Stage, root: Path, mode: str) -> float:
    """Run one stage as a `genreward` process in ``root``; return its seconds."""
    argv = [sys.executable, "-m", "genreward_cli", *stage.argv,
            "--resume" if mode == "resume" else "--force"]
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=root)
    try:
        rc = process.wait()
    except BaseException:  # Ctrl-C or SIGTERM: let the stage remove its unfinished output
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        raise
    if rc != 0:
        raise GenrewardError(f"stage {stage.name!r} failed (exit {rc}): genreward "
                             f"{shlex.join(stage.argv)} (in {root})")
    return time.perf_counter() - start
