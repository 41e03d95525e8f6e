"""The `evaluate` stage: run a trained policy (``run``), or compare the learning curves of
runs (``compare``).

- ``run``: episodes of a `train-agent` run's policy acting on the mode of its action
  distribution, on evaluation scenes apart from the training ones (``acting.run_policy``);
  dense env return and success, as an `eval` artifact (and a video of the rollouts).
- ``load_agent``: the policy of a `train-agent` run, from its `agent_log` file alone.
- ``compare``, with ``read_run`` / ``aggregate`` / ``plot_curves``: learning curves of several
  runs, grouped by task, reward mode (with non-default env settings: ``mode_label``), method
  and episode length, mean and standard deviation
  across seeds (the paper's Fig. 5), a table of final returns, a figure and a CSV.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from genreward_cli.errors import BadInput
from genreward_cli.progress import counted
from genreward_cli.stages import Report
from genreward_cli.stages.acting import NO_EPISODE, figure, format_returns, returns_summary
from genreward_cli.stages.train_agent import LOG_NAME, RUN_FILES


def run(path: str | os.PathLike, *, out: str | os.PathLike, episodes: int = 10,
        video: str | os.PathLike | None = None, seed: int = 0, device: str = "cpu",
        force: bool = False) -> Report:
    """Evaluate the policy of the `train-agent` run ``path`` (its directory or its log.h5)
    over ``episodes`` episodes (seeded from ``seed``) on ``device`` (a torch device string),
    and write the `eval` artifact ``out``: return float32 [N] (the dense env return), success
    bool [N], length int64 [N], seed int64 [N], attrs mean, std, success_rate, task, reward,
    step, method (see docs/artifacts.md); with ``video``, the rollouts one after another (mp4
    or gif).

    Raises BadInput (exit code 2) for a path that is no run, a file that is no `agent_log`,
    or an existing ``out`` or ``video`` without ``force``.
    """
    from genreward_cli import media, store
    from genreward_cli.envs.metaworld_env import MetaWorldPixelEnv
    from genreward_cli.progress import progress_bar
    from genreward_cli.stages.acting import run_policy

    inputs = [*run_inputs(path), log_path(path)]
    store.check_distinct_outputs(out=out, video=video)
    store.check_output(out, force, inputs)
    if video:
        store.check_output(media.check_video_path(video), force, inputs)
    with store.open_artifact(log_path(path), "agent_log") as art:
        env_config = run_env_config(art)
        agent = load_agent(art, device)
        meta = {"task": str(art.attrs["task"]), "reward": str(art.attrs["reward"]),
                # the label `evaluate --compare` gives the run: its ablations and settings
                "method": method_name(art.config), "step": int(art.attrs["steps"])}
        trained = len(art.file["episodes/return"])
        parents = [art.ref()]
    env = MetaWorldPixelEnv(env_config)
    try:
        with progress_bar(episodes * env_config.max_steps, f"evaluate {meta['task']}") as advance:
            res = run_policy(agent, env, episodes, seed=seed, record=bool(video), on_step=advance)
    finally:
        env.close()
    s = res.summary()
    config = {"run": store.record_path(path), "episodes": episodes, "seed": seed,
              "device": device}
    with store.write_artifact(out, "eval", config=config, parents=parents, force=force) as h5:
        store.array_dataset(h5, "return", res.returns)
        store.array_dataset(h5, "success", res.success)
        store.array_dataset(h5, "length", res.lengths)
        store.array_dataset(h5, "seed", res.seeds)
        h5.attrs.update(mean=s["mean"], std=s["std"], success_rate=s["success_rate"], **meta)
    if video:
        media.write_video(video, np.concatenate(res.frames), fps=20)
    summary = {"out": str(out), **meta, **s, "video": video, "training_episodes": trained}
    note = "" if trained else f"; in training, {NO_EPISODE}"
    line = (f"wrote {out}: {meta['task']} ({meta['method']}, {meta['step']} steps): "
            f"{format_returns(s['mean'], s['std'])} over {counted(episodes, 'episode')}, success "
            f"{s['success_rate']:.0%}{note}")
    return Report(line, summary)


def compare(runs: list[str | os.PathLike], *, plot: str | os.PathLike | None = None,
            csv_path: str | os.PathLike | None = None, force: bool = False) -> Report:
    """Compare the `train-agent` runs ``runs`` (directories or log.h5 files): one row per
    group of runs (``aggregate``) with its final return (mean and std across seeds), success
    and each reward component's share of the learned-from return; with ``plot``, the
    learning-curve figure (``plot_curves``; png, pdf or svg); with ``csv_path``, the rows as
    CSV. The report's summary is ``{"plot", "csv", "rows"}``; its line is the table (with the
    console's styling, for stderr), a line per group without a finished episode, and the
    figure written.

    Raises BadInput (exit code 2) for a path that is no run, one run given twice (its folder
    and its log.h5, or through a link), an existing ``plot`` or ``csv_path`` without
    ``force``, or the same path for both.
    """
    import csv

    from genreward_cli import media, store

    # one run given twice would count as two seeds
    repeat = store.first_repeat(runs, lambda r: os.path.realpath(
        Path(r) / LOG_NAME if Path(r).is_dir() else r))
    if repeat:
        raise BadInput(f"{repeat[0]} and {repeat[1]} are one run: give it once")

    # a run folder without its log yet (a sweep's run before its first checkpoint) is a row
    # without figures, with a warning, rather than the end of the comparison
    pending = {str(r): pending_run(r) for r in runs}
    for r, curve in pending.items():
        if curve is not None:
            warnings.warn(f"{missing_log(Path(r))}; compared without points", stacklevel=2)
    inputs = [p for r in runs for p in run_inputs(r)]
    store.check_distinct_outputs(plot=plot, csv=csv_path)
    if plot:
        store.check_output(media.check_figure_path(plot), force, inputs)
    if csv_path:
        store.check_output(csv_path, force, inputs)
    groups = aggregate([pending[str(r)] or read_run(r) for r in runs])
    # a group whose runs have no finished episode yet has no final step or figures (None)
    rows = [{"task": g["task"], "mode": g["mode"], "method": g["method"],
             "episode_steps": g["episode_steps"], "seeds": g["seeds"], "runs": len(g["runs"]),
             "step": int(g["steps"][-1]) if len(g["steps"]) else None,
             "return_mean": g["final_mean"],
             "return_std": g["final_std"], "success": g["final_success"], "source": g["source"],
             **{f"share_{n}": v for n, v in g["shares"].items()}}
            for g in groups]
    share_names = sorted({k for r in rows for k in r if k.startswith("share_")})
    for r in rows:  # one set of CSV columns for every method (empty where a method has none)
        for k in share_names:
            r.setdefault(k, None)
    if plot:
        plot_curves(plot, groups)
    if csv_path:
        from genreward_cli.store import replacing_side_output

        with replacing_side_output(csv_path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    wrote = [str(p) for p in (plot, csv_path) if p]
    line = _compare_table(rows, share_names) + (f"\nwrote {', '.join(wrote)}" if wrote else "")
    return Report(line, {"plot": plot, "csv": csv_path, "rows": rows})


def _compare_table(rows: list[dict], share_names: list[str]) -> str:
    """``compare``'s rows as a rich table, then a line for each group without a finished
    episode; rendered as stderr's console would print them (width, styling)."""
    from rich.table import Table

    from genreward_cli.progress import console as make_console
    from genreward_cli.rewards.accounting import percent

    table = Table(title="final return (mean +- std across seeds, the mean alone for one seed; "
                        "from evaluations, or from training episodes where a run has none)")
    numbers = ("ep. steps", "seeds", "runs", "step", "return", "success")
    for col in ("task", "mode", "method", *numbers):
        table.add_column(col, justify="right" if col in numbers else "left")
    table.add_column("from")  # evaluations, or training episodes where a run has none
    table.add_column("share of the learned return")

    def shares(r):
        return ", ".join(f"{k[6:]} {percent(r[k])}" for k in share_names
                         if r[k] is not None and k != "share_env") or "-"

    for r in rows:
        first = (r["task"], r["mode"], r["method"],
                 "-" if r["episode_steps"] is None else str(r["episode_steps"]),
                 str(r["seeds"]), str(r["runs"]))
        if r["return_mean"] is None:
            table.add_row(*first, "-", NO_EPISODE, "-", "-", shares(r))
            continue
        source = "eval" if r["source"] == "eval" else "training"
        spread = f" +- {figure(r['return_std'])}" if r["seeds"] > 1 else ""  # no spread in one seed
        table.add_row(*first, str(r["step"]), f"{figure(r['return_mean'])}{spread}",
                      f"{r['success']:.0%}", source, shares(r))
    from rich.measure import Measurement

    console = make_console(stderr=True)
    with console.capture() as text:
        wide = console.options.update(max_width=10_000)  # unclamped: the narrowest it can be
        if Measurement.get(console, wide, table).minimum <= console.width:
            console.print(table)
        else:  # a narrow terminal would cut every cell to an ellipsis: one line per row
            console.print(table.title)
            for row in zip(*(c.cells for c in table.columns)):
                console.print("; ".join(f"{c.header}: {v}" for c, v in zip(table.columns, row)),
                              soft_wrap=True)
        for r in rows:  # in full, where the table's cell may wrap it
            if r["return_mean"] is None:
                length = ("" if r["episode_steps"] is None
                          else f", {r['episode_steps']}-step episodes")
                console.print(f"{r['method']} on {r['task']} ({r['mode']}{length}): {NO_EPISODE} "
                              f"in its {r['runs']} run(s)", soft_wrap=True)
    return text.get().removesuffix("\n")


def run_inputs(run: str | Path) -> list[Path]:
    """``run`` (a run folder, or its log.h5) and the run's files that exist beside it
    (``RUN_FILES``: config.json, checkpoint.pt, log.h5, metrics.jsonl): what no output of
    `evaluate` may replace, ``--force`` or not (a ``--csv run/config.json --force`` broke the
    run's ``--resume``)."""
    run = Path(run)
    folder = run if run.is_dir() else run.parent
    files = [folder / n for n in RUN_FILES if n != "tensorboard"]
    return [run, *(f for f in files if f.is_file() and f != run)]


def log_path(run: str | Path) -> Path:
    """A run directory's `agent_log` file (or the file itself).

    Raises BadInput (exit code 2) saying why there is none (``missing_log``)."""
    run = Path(run)
    path = run / LOG_NAME if run.is_dir() else run
    if not path.exists():
        raise BadInput(missing_log(run))
    return path


def missing_log(run: Path) -> str:
    """Why ``run`` (a path without its log) gives no `agent_log`: no such path; a run folder
    with a checkpoint but no log (interrupted while writing it: ``--resume`` writes it); a
    run folder before its first checkpoint (running, or stopped before it); no run folder."""
    from genreward_cli.stages.train_agent import holds_run

    if not run.exists():
        return f"{run}: no such file or folder"
    if (run / "checkpoint.pt").exists():
        return (f"{run}: a checkpoint but no {LOG_NAME} (interrupted while writing it); "
                f"`genreward train-agent --out {run} --resume` writes it")
    if holds_run(run):
        return (f"{run}: no {LOG_NAME} yet: a train-agent run writes it at its first "
                "checkpoint (--checkpoint-every episodes); it is running, or stopped before that")
    return f"{run}: no {LOG_NAME}: not a train-agent run directory"


def pending_run(path: str | Path) -> "RunCurve | None":
    """A train-agent run folder without its log yet (running before its first checkpoint, or
    interrupted while writing it) as a curve without points, from its config.json; None for
    anything else."""
    from genreward_cli.stages.train_agent import CONFIG_NAME, holds_run

    run = Path(path)
    if not run.is_dir() or (run / LOG_NAME).exists() or not holds_run(run):
        return None
    try:
        config = json.loads((run / CONFIG_NAME).read_text())
        task = str(config["task"])
    except (ValueError, KeyError, TypeError):
        return None
    empty = np.zeros(0)
    return RunCurve(str(path), task, mode_label(config), method_name(config),
                    int(config.get("seed", 0)), empty.astype(np.int64), empty, empty, "episodes",
                    {}, config.get("max_steps"))


def run_env_config(art):
    """The EnvConfig of an open `agent_log` artifact (its ``env_config``), checked against
    the file's root ``task``: the env it builds is the one the run trained in.

    Raises BadInput naming the file when ``env_config`` is missing, not a JSON object, holds
    a value EnvConfig refuses, or names another task than the root ``task``."""
    from genreward_cli import store
    from genreward_cli.envs import EnvConfig

    env_config = store.stored_config(art, "env_config", EnvConfig)
    task = store.text(art.attrs["task"])
    if env_config.task != task:
        raise BadInput(f"{art.path}: attribute 'env_config' names task {env_config.task!r}, "
                       f"the file's root task is {task!r}")
    return env_config


def load_agent(art, device: str = "cpu"):
    """The DreamerAgent stored in an open `agent_log` artifact, in eval mode."""
    from genreward_cli import store
    from genreward_cli.agent.agent import DreamerAgent
    from genreward_cli.agent.behavior import BehaviorConfig
    from genreward_cli.agent.config import AgentConfig

    agent_config = store.stored_config(art, "agent_config", AgentConfig)
    behavior = store.stored_config(art, "behavior_config", BehaviorConfig)
    action_dim = int(art.attrs["action_dim"])
    agent = DreamerAgent(agent_config, action_dim, behavior)
    store.load_weights(agent, art.file["weights/agent"])
    return agent.to(device).eval()


def method_name(config: dict) -> str:
    """A run's method label: the reward model and its ablations, weights, intervals and other
    settings of its reward where they are not the defaults (e.g. `genreward -fb`,
    `genreward alpha=0.1 relative`, `vlm-rm strength=0`, `diffusion-reward expl_scale=0.5`,
    `roboclip demo`, `roboclip +env` with the env reward added); the models a run used are
    not part of it. A run saved before an option existed has the value that reproduces it
    (``train_agent.LEGACY_VALUES``)."""
    from genreward_cli.rewards.baselines import DEFAULT_BASELINE_PROMPT, DEFAULT_BASELINE_STRENGTH
    from genreward_cli.rewards.diffusion_reward import DEFAULT_EXPL_SCALE, DEFAULT_SKIP_STEP
    from genreward_cli.rewards.generative import DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_INTERVAL
    from genreward_cli.rewards.tadpole import DEFAULT_NOISE_LEVEL
    from genreward_cli.stages.train_agent import LEGACY_VALUES, upgrade_run_config

    config = upgrade_run_config(config)
    name = config.get("reward", "?")
    settings = {  # reward -> (option, default, label)
        "genreward": (("alpha", DEFAULT_ALPHA, "alpha"), ("beta", DEFAULT_BETA, "beta"),
                      ("reward_interval", DEFAULT_INTERVAL, "interval")),
        "vlm-rm": (("baseline_strength", DEFAULT_BASELINE_STRENGTH, "strength"),
                   ("baseline_prompt", DEFAULT_BASELINE_PROMPT, "baseline")),
        "tadpole": (("tadpole_noise_level", DEFAULT_NOISE_LEVEL, "noise"),),
        "diffusion-reward": (("diffusion_reward_expl_scale", DEFAULT_EXPL_SCALE, "expl_scale"),
                             ("diffusion_reward_skip_step", DEFAULT_SKIP_STEP, "skip")),
    }
    label = name
    if name == "genreward":
        label += "".join(s for s, flag in ((" -video", "no_video_reward"),
                                           (" -fb", "no_fb_reward")) if config.get(flag))
    for key, default, short in settings.get(name, ()):
        value = config.get(key, LEGACY_VALUES.get(key, default))
        if value != default:
            label += f" {short}={value:g}" if isinstance(value, (int, float)) \
                else f" {short}={value!r}"
    if name == "genreward" and config.get("alpha_mode", "absolute") != "absolute":
        label += f" {config['alpha_mode']}"
    if name == "roboclip" and config.get("roboclip_demo"):
        label += " demo"
    if config.get("add_env_reward"):  # a baseline's reward with the env reward added
        label += " +env"
    return label


@dataclass
class RunCurve:
    """A run's learning curve (``read_run``): its evaluations' mean return and success rate
    by env step, or its training episodes' where it has no evaluation, and what groups it
    with other runs (task, reward mode with its env settings (``mode_label``), method label,
    episode length)."""

    path: str
    task: str
    mode: str
    method: str
    seed: int
    steps: np.ndarray  # env steps of each point
    returns: np.ndarray  # mean eval return at each point (or episode return without evals)
    success: np.ndarray  # eval success rate at each point
    source: str  # "eval" or "episodes"
    # each reward component's share of the learned-from return, mean over the run's
    # episodes (rewards.accounting); empty for runs logged before shares were
    shares: dict = field(default_factory=dict)
    episode_steps: int | None = None  # the run's episode length (--max-steps)
    # the training episodes' curve (steps, returns, success), kept where ``source`` is
    # "eval" so that a group whose other runs have no evaluations can compare like with like
    training: tuple | None = None

    def from_training(self) -> "RunCurve":
        """This run's curve from its training episodes (itself where it has no evals)."""
        if self.training is None:
            return self
        steps, returns, success = self.training
        return replace(self, steps=steps, returns=returns, success=success,
                                   source="episodes", training=None)


def read_run(path: str | Path) -> RunCurve:
    """The learning curve of the `train-agent` run ``path`` (its directory or log.h5), read
    from its `agent_log` file. Raises BadInput for a path that is no run."""
    from genreward_cli import store

    with store.open_artifact(log_path(path), "agent_log") as art:
        config = art.config
        f = art.file
        training = (f["episodes/step"][()], f["episodes/return"][()].astype(np.float64),
                    f["episodes/success"][()].astype(np.float64))
        if len(f["eval/step"]):
            steps, returns = f["eval/step"][()], f["eval/return"][()].mean(1)
            success, source = f["eval/success"][()].mean(1), "eval"
        else:
            (steps, returns, success), source, training = training, "episodes", None
        shares = {}
        for name, values in (f["shares"].items() if "shares" in f else ()):
            values = values[()]
            if np.isinf(values).any() or (values < 0).any():  # NaN: no share that episode
                raise BadInput(f"{art.path}: dataset 'shares/{name}' holds inf or negative "
                               "values; a share is a ratio >= 0, or NaN")
            if np.isfinite(values).any():
                shares[name] = float(np.nanmean(values))
        env = run_env_config(art)
        return RunCurve(str(path), str(art.attrs["task"]), mode_label(asdict(env)),
                        method_name(config), int(config.get("seed", 0)), steps,
                        returns.astype(np.float64), success.astype(np.float64), source, shares,
                        env.max_steps, training)


def mode_label(env: dict) -> str:
    """The reward mode a run's curve is grouped and labelled by (``dense``, ``sparse``),
    with the env settings that differ from the defaults and change what the agent sees or is
    paid: e.g. ``sparse every 20, camera corner3, 128x128, action repeat 2, full render``.
    ``env`` holds `EnvConfig` fields (missing ones take the defaults). Runs that differ in
    these were averaged as seeds of one method."""
    from dataclasses import fields

    from genreward_cli.envs.config import EnvConfig

    default = {f.name: f.default for f in fields(EnvConfig)}
    value = {k: env.get(k, default[k]) for k in default}
    label = str(value["reward_mode"])
    if label == "sparse" and value["sparse_interval"] != default["sparse_interval"]:
        label += f" every {value['sparse_interval']}"
    extra = []
    if value["camera"] != default["camera"]:
        extra.append(f"camera {value['camera']}")
    height, width = value["size"], value["width"] or value["size"]
    if (height, width) != (default["size"], default["size"]):
        extra.append(f"{height}x{width}")
    if value["action_repeat"] != default["action_repeat"]:
        extra.append(f"action repeat {value['action_repeat']}")
    if value["render_quality"] != default["render_quality"]:
        extra.append(f"{value['render_quality']} render")
    return ", ".join([label, *extra])


def _seed_mean_shares(runs: list[RunCurve]) -> dict[str, float]:
    """Each reward component's share, averaged over the runs of each seed, then over the
    seeds that logged it."""
    out = {}
    for name in sorted({n for r in runs for n in r.shares}):
        by_seed: dict[int, list[float]] = {}
        for r in runs:
            if name in r.shares:
                by_seed.setdefault(r.seed, []).append(r.shares[name])
        out[name] = float(np.mean([np.mean(v) for v in by_seed.values()]))
    return out


def aggregate(curves: list[RunCurve]) -> list[dict]:
    """Group runs by (task, mode, method, episode length); mean and std across distinct seeds
    on the steps all runs share (runs that share a seed are averaged into one first, and a
    warning names them), and each reward component's mean share of the learned-from return
    (``shares``, averaged the same way). ``seeds`` counts distinct seeds.
    Runs without a point yet (no finished episode or evaluation) form their own group, with
    empty curves and None as its final figures, so they neither hide nor are hidden by the
    others."""
    groups: dict[tuple, list[RunCurve]] = {}
    for c in curves:
        key = (c.task, c.mode, c.method, c.episode_steps if c.episode_steps is not None else -1,
               not len(c.steps))
        groups.setdefault(key, []).append(c)
    out = []
    for (task, mode, method, episode_steps, empty), runs in sorted(groups.items()):
        episode_steps = None if episode_steps < 0 else episode_steps
        if len({r.source for r in runs}) > 1:
            # evaluations in some runs only: an evaluation's return and a training episode's
            # are not the same measure, so the group compares training episodes
            runs = [r.from_training() for r in runs]
            warnings.warn(f"{method} on {task} ({mode}): evaluated in some runs only; compared "
                          f"on training episodes", stacklevel=2)
        common, values, succ, note = _align(runs)
        if note:
            length = f", {episode_steps}-step episodes" if episode_steps is not None else ""
            warnings.warn(f"{method} on {task} ({mode}{length}): {note}", stacklevel=2)
        seeds: dict[int, list[str]] = {}
        for r in runs:
            seeds.setdefault(r.seed, []).append(r.path)
        # one row per distinct seed (the mean of runs that share it), so that a seed run
        # twice is not weighed double in the mean and std across seeds
        rows = [[i for i, r in enumerate(runs) if r.seed == s] for s in seeds]
        values = np.stack([values[i].mean(0) for i in rows])
        succ = np.stack([succ[i].mean(0) for i in rows])
        # the last point across the seeds (None without one: no finished episode or evaluation)
        final = returns_summary(*((values[:, -1], succ[:, -1]) if values.shape[1] else ([], [])))
        shared = {s: paths for s, paths in seeds.items() if len(paths) > 1}
        if shared:
            length = f", {episode_steps}-step episodes" if episode_steps is not None else ""
            warnings.warn(f"{method} on {task} ({mode}{length}): "
                          + "; ".join(f"runs {', '.join(paths)} share seed {s}"
                                      for s, paths in sorted(shared.items()))
                          + f"; counted as {counted(len(seeds), 'seed')} in {len(runs)} runs "
                          "(the runs of one seed averaged first)",
                          stacklevel=2)
        out.append({"task": task, "mode": mode, "method": method, "episode_steps": episode_steps,
                    "seeds": len(seeds), "steps": common, "mean": values.mean(0),
                    "std": values.std(0),
                    "final_mean": final["mean"], "final_std": final["std"],
                    "final_success": final["success_rate"],
                    "source": runs[0].source, "runs": [r.path for r in runs],
                    "shares": _seed_mean_shares(runs)})
    return out


def _align(runs: list[RunCurve]) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """The runs' curves on common steps: (steps int [S], returns f64 [runs, S], success
    f64 [runs, S], a note for a warning or "").

    The steps all runs have, where there are any: a run's points past the last of them are
    left out, and the note says so (a run still going, or a shorter one, would otherwise
    make the group's final figure silently earlier). Runs with no step in common (evaluated
    every other number of steps, or training episodes that ended at other steps) are
    interpolated linearly onto the steps of the run with the fewest points, within the
    range all runs cover; the note says so. Before, they were averaged point by point, the
    k-th point of each run under the first run's step."""
    nonempty = [r for r in runs if len(r.steps)]
    if len(nonempty) < len(runs) or not runs:
        empty = np.zeros((len(runs), 0))
        return np.zeros(0, np.int64), empty, empty, ""
    common = runs[0].steps
    for r in runs[1:]:
        common = np.intersect1d(common, r.steps)
    if len(common):
        pick = [np.searchsorted(r.steps, common) for r in runs]
        values = np.stack([r.returns[i] for r, i in zip(runs, pick)])
        succ = np.stack([r.success[i] for r, i in zip(runs, pick)])
        later = [f"{r.path} (to step {int(r.steps[-1])})" for r in runs
                 if r.steps[-1] > common[-1]]
        note = (f"compared up to step {int(common[-1])}, the last that every run has; left "
                f"out the later points of {', '.join(later)}") if later else ""
        return common, values, succ, note
    lo = max(float(r.steps[0]) for r in runs)
    hi = min(float(r.steps[-1]) for r in runs)
    fewest = min(runs, key=lambda r: len(r.steps))
    grid = fewest.steps[(fewest.steps >= lo) & (fewest.steps <= hi)]
    if not len(grid):  # no overlap at all: each run's last point, under the latest step
        last = max(int(r.steps[-1]) for r in runs)
        return (np.asarray([last]), np.stack([r.returns[-1:] for r in runs]),
                np.stack([r.success[-1:] for r in runs]),
                "the runs' points do not overlap; compared on each run's last point, shown at "
                f"step {last}")
    values = np.stack([np.interp(grid, r.steps, r.returns) for r in runs])
    succ = np.stack([np.interp(grid, r.steps, r.success) for r in runs])
    where = (f"step {int(grid[0])}" if len(grid) == 1 else
             f"steps between {int(grid[0])} and {int(grid[-1])}")
    return (grid, values, succ,
            "the runs have no step in common; their returns and success are interpolated "
            f"linearly onto the {where} of {fewest.path}")


def plot_curves(path, groups: list[dict]) -> None:
    """One panel per task and reward mode, one line (mean, +-std band) per method, its seeds
    counted in the legend; the y axis says whether the returns are the evaluations' or the
    training episodes' (both the dense env return)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(g["task"], g["mode"]) for g in groups})
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.6), squeeze=False)
    for ax, (task, mode) in zip(axes[0], panels):
        for g in (g for g in groups if (g["task"], g["mode"]) == (task, mode)):
            label = g["method"]
            if sum(1 for h in groups if (h["task"], h["mode"], h["method"])
                   == (task, mode, g["method"]) and h["episode_steps"] != g["episode_steps"]):
                label += f", {g['episode_steps']}-step episodes"  # one method at two lengths
            label += f" ({counted(g['seeds'], 'seed')})" + (
                "" if len(g["steps"]) else f": {NO_EPISODE}")
            line, = ax.plot(g["steps"], g["mean"], label=label,
                            marker="o" if len(g["steps"]) == 1 else None)  # one point: a dot
            ax.fill_between(g["steps"], g["mean"] - g["std"], g["mean"] + g["std"],
                            color=line.get_color(), alpha=0.2)
        ax.set_title(f"{task} ({mode})", fontsize=10)
        ax.set_xlabel("env steps")
        sources = {g["source"] for g in groups  # of the curves drawn: runs with points
                   if (g["task"], g["mode"]) == (task, mode) and len(g["steps"])}
        ax.set_ylabel("dense env return, " + ("evaluation" if sources == {"eval"} else
                                              "training episodes" if sources == {"episodes"}
                                              else "evaluation or training"))
        ax.legend(fontsize=8)
    fig.suptitle("mean across seeds, band +- 1 std (population)", fontsize=8, y=0.995)
    fig.tight_layout()
    from genreward_cli.store import save_figure

    save_figure(fig, path, dpi=110)
    plt.close(fig)
