"""The `train-agent` stage: DreamerV3 on a Meta-World task with a reward model (Algorithm 1).

A run lives in one directory:

- ``config.json``: every resolved option; a resumed run must match it (``steps`` may grow).
- ``checkpoint.pt``: weights, optimisers, replay, RNG states, counters and the log so far,
  written atomically every ``checkpoint_every`` episodes and at the end, with the episode in
  progress when the run stops mid-episode (the env's state among it); ``--resume`` goes on
  exactly from it, whatever ``--steps`` was.
- ``log.h5``: the `agent_log` artifact (episodes, reward components, evaluations, the
  policy's weights), rewritten with each checkpoint.
- ``metrics.jsonl`` and ``tensorboard/``: ``train/...``, ``episode/...``, ``eval/...``,
  ``fb/...`` keyed by env step.

``run`` is the stage (options in, a ``Report`` out); ``train`` trains a run whose directory,
configs and reward model are made. The agent acts through ``stages.acting``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from genreward_cli.config import option
from genreward_cli.errors import BadInput
from genreward_cli.progress import counted
from genreward_cli.stages import Report, acting

CONFIG_NAME, CHECKPOINT_NAME, LOG_NAME = "config.json", "checkpoint.pt", "log.h5"
RUN_FILES = (CONFIG_NAME, CHECKPOINT_NAME, LOG_NAME, "metrics.jsonl", "tensorboard")
# options a resumed run may change; written_as is where the run folder was when saved
RESUMABLE = ("steps", "device", "replay_device", "written_as", "started_by")
# options that name files, found again when the run folder has moved (``load_run_config``)
PATH_OPTIONS = ("goal", "fb", "s3d_model", "roboclip_demo", "tadpole_model",
                "diffusion_reward_model")
# fields of the saved "agent" config a resumed run may change: how updates run, not what
# they compute (a run saved before a field existed lacks it)
RESUMABLE_AGENT = ("compile", "fast")


def _comparable(config: dict) -> dict:
    """``config`` without ``RESUMABLE_AGENT`` in its "agent" entry."""
    if not isinstance(config.get("agent"), dict):
        return config
    agent = {k: v for k, v in config["agent"].items() if k not in RESUMABLE_AGENT}
    return {**config, "agent": agent}


@dataclass(frozen=True)
class RunConfig:
    """Evaluation, checkpoints, logging and online FB training of a run."""

    eval_every: int = option(10_000, "Env steps between evaluations (0: none).", minimum=0)
    eval_episodes: int = option(10, "Episodes per evaluation (the paper: 10).", minimum=1)
    checkpoint_every: int = option(10, "Episodes between checkpoints (and log.h5 rewrites).",
                                   minimum=1)
    log_every: int = option(100, "Updates between lines of training metrics.", minimum=1)
    fb_train_steps: int = option(
        0, "Env steps during which the FB model trains on the agent's replay, then freezes "
        "(the paper: 100000); 0 keeps the fb file's model frozen throughout.", minimum=0)


@dataclass
class RunLog:
    """What `log.h5` holds, accumulated as the run goes (and checkpointed with it)."""

    episodes: dict = field(default_factory=lambda: {k: [] for k in (
        "step", "return", "success", "length", "learn_return")})
    reward_step: list = field(default_factory=list)
    rewards: dict = field(default_factory=dict)
    eval_step: list = field(default_factory=list)
    eval_return: list = field(default_factory=list)
    eval_success: list = field(default_factory=list)
    # each component's share of each episode's learned-from return (rewards.accounting);
    # NaN-padded at the front for episodes of a run saved before shares were logged
    shares: dict = field(default_factory=dict)


# Values of options added since a run could have been saved that reproduce such a run on
# --resume: `vlm-rm` was the plain CLIP cosine, a baseline strength of 0 (and `roboclip` was
# what is now `clip-video`). Options missing here take their defaults, which do not change the
# rewards that existed before them.
LEGACY_VALUES = {"baseline_strength": 0.0, "add_env_reward": False}


def upgrade_run_config(saved: dict) -> dict:
    """A run's saved config in today's names: a `roboclip` run saved before RoboCLIP had its
    S3D model (no `s3d_model` option) used the CLIP stand-in, now called `clip-video`."""
    if saved.get("reward") == "roboclip" and "s3d_model" not in saved:
        return {**saved, "reward": "clip-video"}
    return saved


def load_run_config(out: str | Path) -> dict:
    """The options a run in ``out`` was started with. When the folder has moved since
    (``written_as``, its location when saved), a file option (``PATH_OPTIONS``) whose
    recorded absolute path is gone is looked for at the same place relative to the folder
    (``store.resolve_recorded``), as the run's artifacts are, and named in one warning.

    Raises:
        BadInput: no ``config.json``, or one that is no JSON object (replaced or cut)."""
    from genreward_cli.store import resolve_recorded

    path = Path(out) / CONFIG_NAME
    if not path.exists():
        raise BadInput(f"--resume: {path} does not exist: no run to continue in {out}")
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError) as e:
        raise BadInput(f"{path}: not the JSON a run writes ({e}); the run's options are "
                       "lost, so it cannot be resumed") from None
    if not isinstance(config, dict):
        raise BadInput(f"{path}: not the JSON object a run writes; the run's options are "
                       "lost, so it cannot be resumed")
    written = config.get("written_as")
    if written:
        import warnings

        then = os.path.join(written, CONFIG_NAME)
        for k in PATH_OPTIONS:
            recorded = config.get(k)
            if isinstance(recorded, str):
                config[k] = resolve_recorded(recorded, path, then)
                if config[k] != recorded:  # a model folder has no hash to check it by
                    warnings.warn(f"{path}: --{k.replace('_', '-')} {recorded} is gone; using "
                                  f"{config[k]}, at the same place relative to the moved run")
    return config


# The options every run has saved in its config.json since the first release: a resumed run
# missing one would silently take today's default (another task, episode length or prefill)
# instead of its own. Options added since are not here: ``LEGACY_VALUES`` or their defaults
# reproduce the runs saved before them.
RUN_KEYS = ("task", "size", "camera", "max_steps", "action_repeat", "reward_mode",
            "sparse_interval", "render_quality", "steps", "train_ratio", "batch", "length",
            "prefill", "capacity", "eval_every", "eval_episodes", "checkpoint_every",
            "log_every", "reward")


def require_run_keys(config: dict, out: str | Path) -> None:
    """Refuse a run's saved ``config`` (from ``load_run_config``) that lacks what a resumed
    `train-agent` reads from it: ``RUN_KEYS``, ``preset``, ``seed``, ``agent.model_lr`` and
    ``behavior.actor_lr``/``critic_lr`` (a config.json edited or written by another tool).

    Raises:
        BadInput: one line naming the file and the first key missing.
    """
    for key, inner in (*((k, ()) for k in RUN_KEYS), ("preset", ()), ("seed", ()),
                       ("agent", ("model_lr",)), ("behavior", ("actor_lr", "critic_lr"))):
        value = config.get(key)
        missing = (key if value is None else
                   next((f"{key}.{k}" for k in inner
                         if not isinstance(value, dict) or k not in value), None))
        if missing:
            lacks = f"has null for {key!r}" if key in config and value is None \
                else f"lacks {missing!r}"
            raise BadInput(f"{Path(out) / CONFIG_NAME}: {lacks}, which every run "
                           "writes; the run's options are lost, so it cannot be resumed")


def checkpoint_step(out: str | Path) -> int | None:
    """The env step of the run's last checkpoint in ``out``, from its `agent_log` (``log.h5``,
    rewritten at each checkpoint); None when there is no log yet.

    Raises:
        BadInput: the log is not a readable `agent_log` artifact.
    """
    from genreward_cli import store

    path = Path(out) / LOG_NAME
    if not path.exists():
        return None
    with store.open_artifact(path, "agent_log") as art:
        return int(art.attrs["steps"])


def holds_run(out: str | Path) -> bool:
    """Whether the folder ``out`` holds a train-agent run: a checkpoint, or the
    ``config.json`` a run writes first (a JSON object with the run's ``reward`` and
    ``agent``), not merely a file of that name."""
    out = Path(out)
    if (out / CHECKPOINT_NAME).is_file():
        return True
    try:
        saved = json.loads((out / CONFIG_NAME).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(saved, dict) and {"reward", "agent"} <= set(saved)


def remove_run_files(out: Path) -> None:
    """Remove a run's files (``RUN_FILES``) from the folder ``out``."""
    for name in RUN_FILES:
        p = out / name
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def prepare_run_dir(out: str | Path, config: dict, resume: bool, force: bool,
                    previous: dict | None = None, check_only: bool = False) -> Path:
    """Check or create the run directory; with ``force``, remove a previous run's files.
    On ``resume``, ``config`` must match the run's saved config (``previous``, as the caller
    brought an older run's up to date; else read from ``out``) but for ``RESUMABLE`` and the
    agent's ``RESUMABLE_AGENT`` fields. With ``check_only``, only the checks: nothing is
    written or removed.

    Raises:
        BadInput: ``out`` is a file or cannot be written (a read-only mount), holds a run
            (without ``resume`` or ``force``), is a non-empty folder that holds no run
            (``holds_run``; with or without ``force``), has no checkpoint to resume, was run
            with other options, or (``resume``) has reached more steps than
            ``config["steps"]``.
    """
    from genreward_cli import store

    out = Path(out)
    saved = out / CONFIG_NAME
    if out.exists() and not out.is_dir():
        raise BadInput(f"{out}: is a file; --out names a run directory")
    # the run writes inside the folder; a new one is made in its parent
    store.check_writable(out / CONFIG_NAME if out.is_dir() else out)
    if resume:
        if not (out / CHECKPOINT_NAME).exists():
            if holds_run(out):
                raise BadInput(f"--resume: the run in {out} stopped before its first checkpoint, "
                               "so there is nothing to resume; pass --force to start over")
            raise BadInput(f"--resume: {out / CHECKPOINT_NAME} does not exist")
        old = _comparable(previous if previous is not None else load_run_config(out))
        new = _comparable(config)
        # an option the saved config lacks was added after the run was made: ``run``
        # gives it the value that reproduces such a run (``LEGACY_VALUES``), so it is no
        # change; another value given now (--add-env-reward on an older run) is one
        changed = []
        for k in sorted(set(old) | set(new)):
            if k not in old and k in LEGACY_VALUES and new.get(k) != LEGACY_VALUES[k]:
                changed.append((k, LEGACY_VALUES[k], new.get(k)))  # e.g. --add-env-reward
                continue
            if k in RESUMABLE or k not in old or old[k] == new.get(k):
                continue
            if isinstance(old[k], dict) and isinstance(new.get(k), dict):  # e.g. agent: by field
                changed += [(f"{k}.{f}", old[k].get(f), new[k].get(f))
                            for f in sorted(set(old[k]) | set(new[k]))
                            if old[k].get(f) != new[k].get(f)]
            else:
                changed.append((k, old[k], new.get(k)))
        if changed:
            raise BadInput(f"--resume: {out} was run with other options: "
                           + ", ".join(f"{k}={a!r} (now {b!r})" for k, a, b in changed))
        reached = checkpoint_step(out)
        if reached is not None and config["steps"] < reached:
            raise BadInput(f"--resume --steps {config['steps']}: the run in {out} is already at "
                           f"step {reached}; --steps counts the run's env steps from its start, "
                           f"so continue it with --steps above {reached}")
    elif out.is_dir() and any(out.iterdir()) and not holds_run(out):
        # a folder of the user's own (even one with a config.json or metrics.jsonl of its
        # own): neither written into nor, with --force, emptied
        shown = sorted(e.name for e in out.iterdir())
        raise BadInput(f"--out {out}: a folder holding {', '.join(shown[:3])}"
                       f"{', ...' if len(shown) > 3 else ''}, not a run; a run goes into a new "
                       "or empty folder: choose another --out")
    elif holds_run(out):
        if not force:
            if not (out / CHECKPOINT_NAME).exists():  # a run killed (SIGKILL) before its first
                raise BadInput(f"{out}: holds a run stopped before its first checkpoint; pass "
                               "--force to start over")
            raise BadInput(f"{out}: already holds a run; pass --resume to continue it or --force "
                           f"to start over")
        if check_only:
            return out
        remove_run_files(out)
    if check_only:
        return out
    out.mkdir(parents=True, exist_ok=True)
    from genreward_cli.store import replacing

    config = {**config, "written_as": os.path.realpath(out)}  # to follow a move (resume)
    with replacing(saved) as tmp:  # no config.json.tmp left behind by an interruption
        tmp.write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
    return out


def started_by() -> str:
    """This command, recorded as a run's ``started_by`` in its config: ``genreward
    VERSION: genreward train-agent ...``, as an artifact's ``producer`` is."""
    from genreward_cli import __version__
    from genreward_cli.store.provenance import command_line

    return f"genreward {__version__}: {command_line()}"


def check_options(env_config, run_config: RunConfig, reward_model,
                  prefill: int | None = None) -> None:
    """Refuse option combinations that cannot run (before anything is written): among them
    episodes too short for any step to get the reward model's reward (as score-reward does),
    which would train on the env reward alone."""
    if reward_model.name != "env" and not len(reward_model.scored_steps(env_config.max_steps)):
        interval = getattr(reward_model, "interval", None)
        raise BadInput(f"--max-steps {env_config.max_steps}: too few steps per episode for any "
                       f"step to get the {reward_model.name} reward"
                       + (f" (--reward-interval {interval})" if interval else "")
                       + ": give longer episodes or a shorter --reward-interval")
    if (prefill is not None and prefill < 2
            and getattr(reward_model, "alpha_mode", "absolute") == "relative"):
        raise BadInput("--alpha-mode relative measures the env reward's scale on the prefill: "
                       "it needs --prefill of at least 2 steps")
    size = tuple(env_config.image_shape[:2])
    if run_config.fb_train_steps:
        fb_size = getattr(reward_model, "fb_size", None)
        if fb_size is None:
            raise BadInput("--fb-train-steps trains the genreward FB model: it needs "
                           "--reward genreward with --fb")
        if tuple(fb_size) != size:
            raise BadInput(f"--fb-train-steps: the FB model was trained on {fb_size[0]}x{fb_size[1]} "
                           f"frames, the agent sees {size[0]}x{size[1]}; train-fb on episodes of "
                           f"--size {size[0]}")


def prefill_warning(loop_config) -> str | None:
    """The warning for a run that is never updated: its ``steps`` (the total) end before the
    loop owes a whole update (``agent.loop.update_at_ratio``: none before env step
    ``max(prefill, length)``, then ``train_ratio / (batch * length)`` per step). A short run
    at the default --prefill 5000 (Table A's runs are 1M steps) took random actions only,
    without saying so. ``None`` when the run makes at least one update."""
    c = loop_config
    first = max(c.prefill, c.length, 1)  # the first env step (counted from 1) that owes updates
    per_step = c.train_ratio / (c.batch * c.length)
    owed = max(0, c.steps - first + 1) * per_step
    if owed >= 1.0:
        return None
    if c.steps <= c.prefill:
        what = f"--steps {c.steps} with --prefill {c.prefill}: every step takes a random action"
    else:
        start = (f"--prefill {c.prefill}" if c.prefill >= c.length
                 else f"--length {c.length}, the sequence an update replays")
        what = (f"--steps {c.steps}: updates start at env step {first} ({start}) and come "
                f"{per_step:.3g} per step (--train-ratio {c.train_ratio:g} / (--batch "
                f"{c.batch} x --length {c.length})), {owed:.2g} in all")
    fix = ("give a smaller --prefill (the tiny pipeline uses 256) or more --steps"
           if c.prefill > 256 else "give more --steps")
    return f"{what}; the agent is never updated: {fix}"


LIVE_EVERY = 5.0  # seconds between refreshes of the live line within an episode


def live_rate(t: float, step: int, since: tuple[float, int], start: tuple[float, int]) -> float:
    """The live line's env steps per second at time ``t`` (s) and env step ``step``: from
    ``since`` (time, step; the first update, once the training began) or, while no step has
    passed since then, from ``start`` (a refresh right after the first update said 0.0)."""
    t0, s0 = since if step > since[1] else start
    return (step - s0) / max(t - t0, 1e-9)


def _status(ep: dict | None, updates: int, rate: float, ablated: tuple = ()) -> str:
    """The live line: speed, then the latest finished episode's return, success, each model
    component's sum (but the ``ablated`` ones', e.g. r_FB under --no-fb-reward, always 0)
    and, for a model that adds to the env reward, the component's share of the return
    (``no episode yet`` while ``ep`` is None), then the updates made so far."""
    if ep is None:
        return f"{rate:.1f} steps/s  no episode yet  updates {updates}"
    parts = [f"{rate:.1f} steps/s", f"ep {ep['episode']}", f"return {ep['episode/return']:.1f}",
             f"success {'yes' if ep['episode/success'] else 'no'}"]
    components = [key[len("episode/reward_"):] for key in ep if key.startswith("episode/reward_")]
    for name in components:  # the reward model's, in its order (`RewardModel.names`)
        if name not in ("env", "total", *ablated):  # the return above; the others' sum
            label = "success reward" if name == "success" else name  # not the flag above
            text = f"{label} {ep[f'episode/reward_{name}']:.3g}"
            share = ep.get(f"episode/share_{name}")
            if share is not None and "episode/share_env" in ep and share == share:
                from genreward_cli.rewards.accounting import percent

                text += f" ({percent(share)})"
            parts.append(text)
    return "  ".join(parts + [f"updates {updates}"])


class RewardAccounting:
    """Each episode's shares of the learned-from return (``rewards.accounting``) and, with
    ``--alpha-mode relative``, the env reward's scale measured on the prefill.

    Under ``relative`` the scale is unknown until the prefill ends: until then the model
    runs at scale 0 (its total is the env reward; r_video and r_FB are computed and kept),
    and when the prefill's last step is taken sigma = std of the env rewards paid so far
    is set and the prefill's scored transitions in the replay get alpha sigma r_video +
    beta sigma r_FB added, before the first update. The prefill episodes' logged shares and
    learned-from returns are the provisional ones (no generative term)."""

    def __init__(self, model, replay, prefill: int):
        self.model, self.replay, self.prefill = model, replay, prefill
        self.measuring = getattr(model, "alpha_mode", "absolute") == "relative"
        if self.measuring:
            model.set_scale(0.0)
        self.episode: dict[str, float] = {}  # |weighted component| sums, episode so far
        self.paid: list[float] = []  # env rewards of the prefill (relative mode)
        self.pending: list[tuple] = []  # (replay count, r_video, r_FB) of its scored steps

    def step(self, step: int, parts: dict, scored: bool) -> str | None:
        """Account env step ``step``'s components (its transition just added to the replay);
        returns a line to report when it fixes the relative scale."""
        for name, w in self.model.weights().items():
            self.episode[name] = self.episode.get(name, 0.0) + abs(w * parts[name])
        self.episode["total"] = self.episode.get("total", 0.0) + abs(parts["total"])
        if not self.measuring:
            return None
        self.paid.append(float(parts["env"]))
        if scored:
            self.pending.append((self.replay.count - 1, float(parts.get("video", 0.0)),
                                 float(parts.get("fb", 0.0))))
        return self._fix_scale() if step + 1 >= self.prefill else None

    def _fix_scale(self) -> str:
        from genreward_cli.rewards.accounting import relative_scale

        sigma = relative_scale(np.asarray(self.paid), "the prefill")
        self.model.set_scale(sigma)
        alpha, beta = self.model.alpha, self.model.beta
        relabelled = 0
        for count, video, fb in self.pending:
            if self.replay.count - count <= self.replay.capacity:  # not yet overwritten
                self.replay.add_reward(count, alpha * video + beta * fb)
                relabelled += 1
        self.measuring, self.paid, self.pending = False, [], []
        return (f"--alpha-mode relative: the env reward's standard deviation over the prefill "
                f"is {sigma:.4g} per step, so alpha {alpha:.4g} and beta {beta:.4g}; "
                f"{relabelled} prefill transitions relabelled")

    def end_episode(self) -> dict[str, float]:
        """{name: share} of the episode just finished; starts the next."""
        from genreward_cli.rewards.accounting import shares_from_sums

        shares = shares_from_sums(self.episode) if "total" in self.episode else {}
        self.episode = {}
        return shares

    def state_dict(self) -> dict:
        return {"episode": dict(self.episode), "measuring": self.measuring,
                "scale": getattr(self.model, "scale", None), "paid": list(self.paid),
                "pending": list(self.pending)}

    def load_state_dict(self, state: dict) -> None:
        self.episode = dict(state["episode"])
        self.measuring, self.paid = state["measuring"], list(state["paid"])
        self.pending = [tuple(p) for p in state["pending"]]
        if getattr(self.model, "alpha_mode", "absolute") == "relative":
            self.model.set_scale(state["scale"])


def make_replay(capacity: int, image_shape: tuple, seed: int = 0, where: str = "host",
                device: str = "cpu"):
    """The run's replay, with a copy on ``device`` as ``where`` (``LoopConfig.replay_device``)
    asks: `device` always, `auto` on CUDA when ``mirror_nbytes`` fit in half the free memory.
    ``run`` makes it before it creates the run directory, to leave nothing behind on an error.

    Raises:
        BadInput: the host buffer cannot be mapped, or the device has no room for its copy
            under `device`.
    """
    import torch

    from genreward_cli.agent.replay import Replay
    from genreward_cli.envs.metaworld_env import ACTION_DIM

    try:
        replay = Replay(capacity, image_shape, ACTION_DIM, seed=seed)
    except MemoryError as e:
        raise BadInput(f"--capacity {capacity}: the replay does not fit in this machine's memory "
                       f"({e}); lower --capacity") from None
    gib = replay.mirror_nbytes() / 2**30
    if where == "auto" and torch.device(device).type == "cuda":
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        where = "device" if replay.mirror_nbytes() <= free / 2 else "host"
    if where == "device":
        try:
            replay.keep_on(device)
        except (RuntimeError, MemoryError):  # torch.OutOfMemoryError is a RuntimeError
            raise BadInput(f"--replay-device device: a copy of the replay ({gib:.1f} GiB at "
                           f"--capacity {capacity}) does not fit on {device}; use "
                           "--replay-device host or lower --capacity") from None
    return replay


def run(options: dict, *, out: str | os.PathLike, preset: str = "S",
        agent_overrides: tuple[str, ...] = (), model_lr: float | None = None,
        actor_lr: float | None = None, critic_lr: float | None = None, resume: bool = False,
        seed: int = 0, device: str = "cpu", force: bool = False,
        given: Callable[[str], bool] | None = None,
        report: Callable[[str], None] = lambda line: None) -> Report:
    """Train DreamerV3 with a reward model on a Meta-World task into the run directory ``out``
    (see the module docstring), or with ``resume`` continue the run there; return the run's
    summary (steps, episodes, updates, the last 10 episodes' mean return and success, the last
    evaluation's mean return, speed, reward cost).

    ``options`` holds, by field name, the values of every field of ``EnvConfig``,
    ``LoopConfig`` and ``RunConfig`` and of every reward option (``rewards.build.
    REWARD_OPTIONS``), as `train-agent`'s flags give them. ``preset`` and ``agent_overrides``
    (``KEY=VALUE`` strings) make the ``AgentConfig``; ``model_lr``, ``actor_lr`` and
    ``critic_lr`` replace the preset's and Table A's rates where not None. ``device`` is a
    torch device string (`cpu`, `cuda`). On ``resume``, every option for which
    ``given(name)`` is false (names as the keyword arguments and ``options``' keys) takes the
    run's saved value, so that only the options given change (None: every option is given).
    ``report`` receives the lines worth showing during the run (evaluations, the relative
    reward scale).

    Raises BadInput (exit code 2) for bad options or combinations, a run in ``out`` without
    ``force`` or ``resume``, a resume with other options, or a replay too large to map.
    """
    from dataclasses import replace

    from genreward_cli import config as cfg
    from genreward_cli.agent.behavior import BehaviorConfig
    from genreward_cli.agent.config import parse_overrides, preset as make_preset
    from genreward_cli.agent.loop import LoopConfig
    from genreward_cli.envs.config import EnvConfig
    from genreward_cli.envs.tasks import check_task, describe
    from genreward_cli import store
    from genreward_cli.rewards.build import REWARD_OPTIONS, build_reward
    from genreward_cli.store import record_path

    given = given or (lambda name: True)
    saved = {}
    if resume:  # options not given come from the run's config.json
        saved = load_run_config(out)
        require_run_keys(saved, out)
        saved = upgrade_run_config(saved)
        options = {k: v if given(k) or k not in saved else saved[k] for k, v in options.items()}
        for k, v in LEGACY_VALUES.items():  # options added since the run was made
            if k in options and k not in saved and not given(k):
                options[k] = v
        preset = preset if given("preset") else saved["preset"]
        # the run's agent fields, with those given now on top (e.g. --agent fast=off)
        agent_overrides = tuple(f"{k}={json.dumps(v)}" for k, v in saved["agent"].items()) + (
            tuple(agent_overrides) if given("agent_overrides") else ())
        seed = seed if given("seed") else saved["seed"]
        model_lr = model_lr if given("model_lr") else saved["agent"]["model_lr"]
        actor_lr = actor_lr if given("actor_lr") else saved["behavior"]["actor_lr"]
        critic_lr = critic_lr if given("critic_lr") else saved["behavior"]["critic_lr"]
    # a value taken from the run's config.json (edited by hand?) is named as its key there
    from_run = {k for k in options if resume and not given(k) and k in saved}

    def label(key: str) -> str:
        return f"{Path(out) / CONFIG_NAME}: {key}" if key in from_run else "--" + key.replace(
            "_", "-")

    env_config = cfg.build(EnvConfig, cfg.pick(EnvConfig, options), name=label)
    loop_config = cfg.build(LoopConfig, cfg.pick(LoopConfig, options), name=label)
    run_config = cfg.build(RunConfig, cfg.pick(RunConfig, options), name=label)
    reward = {k: options[k] for k in REWARD_OPTIONS}
    for k in ("goal", "fb", "s3d_model", "roboclip_demo", "tadpole_model"):
        # absolute, so --resume and the log work from any directory;
        # a run saved with the same relative path keeps it, so that its options still match
        if reward[k] and not (resume and saved.get(k) == reward[k]):
            reward[k] = record_path(reward[k])
    try:
        check_task(env_config.task)
    except BadInput as e:
        if "task" not in from_run:
            raise
        raise BadInput(f"{Path(out) / CONFIG_NAME}: task: {e}") from None
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
    config = {**asdict(env_config), **asdict(loop_config), **asdict(run_config), **reward,
              "preset": preset, "agent": asdict(agent_config), "behavior": asdict(behavior),
              "seed": seed, "device": device,
              # the command that started the run, kept through resumes: a `--resume` names
              # only what changes, and `pipeline` compares a run's options through this
              "started_by": saved.get("started_by") if resume else started_by()}
    previous = saved if resume else None
    # the run directory's checks first: the reward model (a resume that changes --reward
    # would load the new one), the replay (and its copy on a GPU) can take seconds
    prepare_run_dir(out, config, resume, force, previous=previous, check_only=True)
    model, parents = build_reward(reward, describe(env_config.task), device,
                                  task=env_config.task, camera=env_config.camera)
    check_options(env_config, run_config, model, loop_config.prefill)
    if (line := prefill_warning(loop_config)) is not None:
        warnings.warn(line, stacklevel=2)
    replay = make_replay(loop_config.capacity, env_config.image_shape, seed=seed,
                         where=loop_config.replay_device, device=device)
    made = store.missing_folders(out)  # the run folder and those above it, to be made
    run_dir = prepare_run_dir(out, config, resume, force, previous=previous)
    try:
        summary = train(run_dir, env_config, agent_config, behavior, loop_config, run_config,
                        model, replay=replay, config_json=json.dumps(config, sort_keys=True),
                        parents=parents, seed=seed, device=device, resume=resume, report=report)
    except BaseException as e:  # Ctrl-C, SIGTERM, an error: a new run without a checkpoint
        if not resume and not (run_dir / CHECKPOINT_NAME).exists():  # goes, folders made too
            remove_run_files(run_dir)
            store.remove_folders(made)
            if isinstance(e, KeyboardInterrupt):
                every = counted(run_config.checkpoint_every, "episode")
                e.note = (f"stopped before its first checkpoint (one every {every}: "
                          "--checkpoint-every), so nothing is kept: rerun to start over")
        raise
    return Report(summary_line(run_dir, summary), summary)


def summary_line(run_dir, summary: dict) -> str:
    """The closing line of a run: its counts, the last 10 episodes' (or all, if fewer)
    return and success (or that no episode has finished, for a run shorter than one episode)
    and its speed."""
    if summary["episodes"]:
        last = min(10, summary["episodes"])
        label = "last episode" if last == 1 else f"last {last} episodes"
        episodes = f"{label}: " + acting.format_returns(summary["mean_return_last10"],
                                                        success=summary["success_last10"])
    else:
        episodes = f"{acting.NO_EPISODE} (episodes are {summary['episode_steps']} steps)"
    rate = summary["steps_per_s"]
    cost = summary.get("reward_cost", {}).get("ms_per_step")

    return (f"wrote {run_dir}: {counted(summary['steps'], 'step')}, "
            f"{counted(summary['episodes'], 'episode')}, "
            f"{counted(summary['updates'], 'update')}; {episodes}"
            + (f"; {rate:.1f} steps/s" if rate is not None else "")
            + (f"; reward {cost:.2f} ms/step" if cost else ""))


def train(out: Path, env_config, agent_config, behavior_config, loop_config, run_config: RunConfig,
          reward_model, *, replay, config_json: str, parents: list, seed: int = 0,
          device: str = "cpu", resume: bool = False, report=lambda line: None) -> dict:
    """Train (or resume) the run in ``out`` with ``replay`` (from ``make_replay``); return the
    summary. See the module docstring."""
    from genreward_cli.envs.metaworld_env import MetaWorldPixelEnv
    from genreward_cli.rewards.online import OnlineFB, OnlineReward

    check_options(env_config, run_config, reward_model, loop_config.prefill)
    if agent_config.precision == "bf16":
        from genreward_cli.machine import bf16_warning

        if (line := bf16_warning(device)) is not None:
            warnings.warn(line, stacklevel=2)
    extra = OnlineReward.render_sizes(reward_model, env_config.max_steps, env_config.image_shape[:2])
    online_fb = OnlineFB(reward_model, seed=seed) if run_config.fb_train_steps else None
    env = MetaWorldPixelEnv(env_config, extra_sizes=extra)
    eval_env = MetaWorldPixelEnv(env_config) if run_config.eval_every else None
    files = contextlib.ExitStack()  # the metrics log, closed however the run ends
    try:
        return _train(out, env, eval_env, env_config, agent_config, behavior_config, loop_config,
                      run_config, reward_model, online_fb, replay, config_json, parents, seed,
                      device, resume, report, files)
    finally:
        files.close()
        env.close()
        if eval_env is not None:
            eval_env.close()


def _train(out, env, eval_env, env_config, agent_config, behavior_config, loop_config, run_config,
           reward_model, online_fb, replay, config_json, parents, seed, device, resume, report,
           files):
    import torch

    from genreward_cli.agent.agent import DreamerAgent, DreamerTrainer
    from genreward_cli.agent.logger import MetricsLogger
    from genreward_cli.envs.metaworld_env import ACTION_DIM
    from genreward_cli.progress import live_bar
    from genreward_cli.rewards.online import OnlineReward

    image_shape, max_steps = env_config.image_shape, env_config.max_steps
    torch.manual_seed(seed)
    agent = DreamerAgent(agent_config, ACTION_DIM, behavior_config).to(device)
    trainer = DreamerTrainer(agent, seed=seed)
    log, state = RunLog(), None
    ckpt = out / CHECKPOINT_NAME
    accounting = RewardAccounting(reward_model, replay, loop_config.prefill)
    if resume:
        state, saved = acting.load_checkpoint(ckpt, trainer, replay, with_extra=True)
        log = RunLog(**saved["log"])
        if saved.get("accounting") is not None:  # none in runs saved before shares were logged
            accounting.load_state_dict(saved["accounting"])
        reward_model.cost.calls, reward_model.cost.seconds = saved["cost"]
        if online_fb is not None:
            online_fb.load_state_dict(saved["fb"])
    rewarder = OnlineReward(reward_model, env, max_steps, image_shape, ACTION_DIM)
    # a resumed run drops the rows its stopped run logged after the checkpoint
    logger = files.enter_context(contextlib.closing(
        MetricsLogger(out, resume_step=state.step if state else None)))
    pending: list[dict] = []
    now = {"step": state.step if state else 0}
    start, start_step = time.perf_counter(), state.step if state else 0

    def write_log(step: int) -> None:
        write_agent_log(out / LOG_NAME, log, agent, env_config, loop_config, reward_model,
                        config_json, parents, step, trainer.updates, run_config.eval_episodes)

    def evaluate(step: int) -> None:
        agent.eval()
        res = acting.run_policy(agent, eval_env, run_config.eval_episodes, seed=seed)
        agent.train()
        log.eval_step.append(step)
        log.eval_return.append(res.returns.tolist())
        log.eval_success.append(res.success.tolist())
        s = res.summary()
        logger.write(step, {"eval/return": s["mean"], "eval/return_std": s["std"],
                            "eval/success": s["success_rate"]})
        report(f"eval at step {step}: "
               f"{acting.format_returns(s['mean'], s['std'], s['success_rate'])}")

    # the live line's speed: from the start, then from the first update on (the prefill's
    # random steps are much faster than the training's)
    speed = {"t": start, "step": start_step, "shown": start}
    weighed = reward_model.weights()  # an ablated component has no weight
    ablated = tuple(n for n in reward_model.names if n != "total" and n not in weighed)

    def status() -> str:
        t = time.perf_counter()
        speed["shown"] = t
        rate = live_rate(t, now["step"], (speed["t"], speed["step"]), (start, start_step))
        return _status(last_episode[-1] if last_episode else None, trainer.updates, rate,
                       ablated)

    with live_bar(loop_config.steps, f"train-agent {env_config.task} ({reward_model.name})",
                  done=start_step) as update:
        def refresh() -> None:
            """Within an episode (a slow run's can take minutes), every LIVE_EVERY s."""
            if time.perf_counter() - speed["shown"] >= LIVE_EVERY:
                update(0, status())

        def on_step(step, parts):
            k = rewarder.t - 1
            scored = rewarder.schedule.is_scored(k)
            if scored:
                log.reward_step.append(step)
                for name, v in parts.items():
                    log.rewards.setdefault(name, []).append(float(v))
            if (line := accounting.step(step, parts, scored)) is not None:
                report(line)
                logger.write(step + 1, {"reward/sigma_env": reward_model.scale,
                                        "reward/alpha": reward_model.alpha,
                                        "reward/beta": reward_model.beta})
            if online_fb is not None and not online_fb.frozen and step + 1 >= run_config.fb_train_steps:
                online_fb.freeze()
            now["step"] = step + 1
            update(1)
            refresh()

        def on_update(metrics):
            if not speed.get("training"):  # this process's first update: the speed from here
                speed.update(t=time.perf_counter(), step=now["step"], training=True)
            refresh()
            if online_fb is not None and not online_fb.frozen:
                metrics = {**metrics, **online_fb.update(replay)}
            pending.append(metrics)
            if len(pending) >= run_config.log_every:
                flush()

        def flush():
            if pending:
                keys = {k for m in pending for k in m}
                logger.write(now["step"], {k: float(np.mean([m[k] for m in pending if k in m]))
                                           for k in sorted(keys)})
                pending.clear()

        def on_episode(ep):
            shares = accounting.end_episode()
            ep = {**ep, **{f"episode/share_{n}": v for n, v in shares.items()}}
            done = len(log.episodes["step"])
            for name, v in shares.items():
                log.shares.setdefault(name, [float("nan")] * done).append(v)
            e = log.episodes
            e["step"].append(ep["step"]), e["return"].append(ep["episode/return"])
            e["success"].append(bool(ep["episode/success"])), e["length"].append(ep["episode/length"])
            e["learn_return"].append(ep.get("episode/reward_total", ep["episode/return"]))
            logger.write(ep["step"], {k: float(v) for k, v in ep.items() if k.startswith("episode/")})
            last_episode[:] = [{**ep, "episode": len(e["step"])}]
            update(0, status())
            every = run_config.eval_every
            if every and ep["step"] // every > (ep["step"] - ep["episode/length"]) // every:
                evaluate(ep["step"])

        def on_checkpoint(loop_state):
            if len(log.episodes["step"]) % run_config.checkpoint_every == 0:
                checkpoint(loop_state)

        def checkpoint(loop_state):
            flush()
            acting.save_checkpoint(ckpt, trainer, replay, loop_state, loop_config, extra={
                "log": asdict(log), "fb": online_fb.state_dict() if online_fb else None,
                "accounting": accounting.state_dict(),
                "cost": (reward_model.cost.calls, reward_model.cost.seconds)})
            # kept from here on: a signal while log.h5 is written leaves the checkpoint,
            # and --resume writes the log from it
            saved_at["step"] = loop_state.step
            write_log(loop_state.step)

        def kept(e: BaseException) -> None:  # Ctrl-C or SIGTERM: the last checkpoint stays
            if saved_at["step"] is not None:  # else run() removes the run and says so
                e.note = (f"the run in {out} stays at its last checkpoint (step "
                          f"{saved_at['step']}): rerun with --resume to continue")

        saved_at = {"step": state.step if state else None}
        last_episode: list[dict] = []  # the live line's episode
        if log.episodes["step"]:  # a resumed run: its last episode until a new one ends
            last_episode.append({"episode": len(log.episodes["step"]),
                                 "episode/return": log.episodes["return"][-1],
                                 "episode/success": log.episodes["success"][-1]})
        try:
            state = acting.train(env, agent, trainer, replay, loop_config, seed=seed,
                                 rewarder=rewarder, on_episode=on_episode, on_update=on_update,
                                 state=state, on_checkpoint=on_checkpoint, on_step=on_step)
            update(0, status())  # the updates since the last refresh, on the final line
        except KeyboardInterrupt as e:
            kept(e)
            raise
        flush()
    try:
        checkpoint(state)
    except KeyboardInterrupt as e:  # during the final checkpoint or log
        kept(e)
        raise
    logger.close()
    elapsed = time.perf_counter() - start
    e = log.episodes
    # a run shorter than one episode has none: the last-10 figures are then None
    last10 = acting.returns_summary(e["return"][-10:], e["success"][-10:])
    evaluated = (acting.returns_summary(log.eval_return[-1], log.eval_success[-1])
                 if log.eval_return else acting.returns_summary([], []))
    return {"out": str(out), "task": env_config.task, "reward": reward_model.name, "seed": seed,
            "steps": state.step, "episodes": len(e["step"]), "episode_steps": max_steps,
            "updates": trainer.updates,
            # None when the run took no step (a resume at the step it had reached)
            "steps_per_s": ((state.step - start_step) / elapsed
                            if elapsed > 0 and state.step > start_step else None),
            "mean_return_last10": last10["mean"], "success_last10": last10["success_rate"],
            "eval_return": evaluated["mean"],
            "reward_cost": reward_model.cost.as_dict(state.step)}


def write_agent_log(path: Path, log: RunLog, agent, env_config, loop_config, reward_model,
                    config_json: str, parents: list, step: int, updates: int,
                    eval_episodes: int) -> None:
    """Write the run's `agent_log` artifact ``path`` (replacing it): ``log``'s episodes,
    scored steps' reward components, shares and evaluations (``eval_episodes`` per row), the
    agent's weights, and attrs naming the configs, the reward's weights and its cost at env
    step ``step`` (see docs/artifacts.md)."""
    from genreward_cli import store

    n_eval = eval_episodes
    with store.write_artifact(path, "agent_log", config=config_json, parents=parents,
                                  force=True) as h5:
        e = log.episodes
        for name, dtype in (("step", np.int64), ("return", np.float32), ("success", bool),
                            ("length", np.int64), ("learn_return", np.float32)):
            store.array_dataset(h5, f"episodes/{name}", np.asarray(e[name], dtype))
        store.array_dataset(h5, "rewards/step", np.asarray(log.reward_step, np.int64))
        for name, values in log.rewards.items():
            store.array_dataset(h5, f"rewards/{name}", np.asarray(values, np.float32))
        for name, values in log.shares.items():
            store.array_dataset(h5, f"shares/{name}", np.asarray(values, np.float32))
        store.array_dataset(h5, "eval/step", np.asarray(log.eval_step, np.int64))
        store.array_dataset(h5, "eval/return",
                                np.asarray(log.eval_return, np.float32).reshape(len(log.eval_step), n_eval))
        store.array_dataset(h5, "eval/success",
                                np.asarray(log.eval_success, bool).reshape(len(log.eval_step), n_eval))
        store.write_weights(h5, "weights/agent", agent.state_dict())
        h5.attrs.update(task=env_config.task, reward=reward_model.name, steps=step,
                        updates=updates, action_dim=agent.action_dim,
                        env_config=json.dumps(asdict(env_config)),
                        agent_config=json.dumps(asdict(agent.config)),
                        behavior_config=json.dumps(asdict(agent.behavior.b)),
                        loop_config=json.dumps(asdict(loop_config)),
                        cost=json.dumps(reward_model.cost.as_dict(step)),
                        weights=json.dumps(reward_model.weights()))
