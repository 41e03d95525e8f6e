"""The `score-reward` stage: run a reward model over recorded episodes offline and measure how
well it ranks them (ROC-AUC expert vs random, Spearman with the env return), each component's
ranking alone and its share of the return; a `reward_score` artifact and, optionally, a
figure."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from genreward_cli import store
from genreward_cli.errors import BadInput
from genreward_cli.stages import Report

# the rewards that score frames against the task text (the episodes' prompt), RoboCLIP
# without --roboclip-demo
TEXT_REWARDS = ("vlm-rm", "clip-video", "tadpole", "roboclip")
FLOAT32_MAX = float(np.finfo(np.float32).max)  # the returns are written as float32

# the reward options that name files or folders it reads
INPUT_OPTIONS = ("goal", "fb", "clip_pretrained", "s3d_model", "roboclip_demo", "tadpole_model")


@dataclass
class Scores:
    """Per-episode results of a reward model over episodes, in file order.

    ``returns`` / ``env_returns``: float32 [N], the model's and the env's return;
    ``expert``: bool [N], the episode's policy attr is `expert`; ``components``: name ->
    per-episode sums, one float each (``total`` included); ``sums``: per episode,
    sum_t |w_c c_t| per component (``accounting.abs_sums``); ``steps``: per episode, the model's
    per-step parts (name -> float [T]); ``lengths``: each episode's number of steps.
    """

    returns: np.ndarray
    env_returns: np.ndarray
    expert: np.ndarray
    components: dict[str, list[float]]
    sums: list[dict[str, float]]
    steps: list[dict[str, np.ndarray]]
    lengths: list[int]


def run(episodes: list[str | os.PathLike], options: dict, *, out: str | os.PathLike,
        plot: str | os.PathLike | None = None, device: str = "auto",
        force: bool = False) -> Report:
    """Score the `episodes` artifacts ``episodes`` with the reward model the reward options
    ``options`` describe (``rewards.build.REWARD_OPTIONS``: reward, goal, fb, alpha, ...; as
    `score-reward`'s flags give them) and write the `reward_score` artifact ``out``
    (episode_return, env_return, expert, components/NAME, shares/NAME; see
    docs/artifacts.md); with ``plot``, a figure of model return against env return and of
    each episode's return by component.

    With ``alpha_mode`` `relative`, sigma_env is measured on these episodes' env rewards.
    The report's line has the AUC, Spearman and cost, each component's ranking alone and
    advice on components that barely count; its summary the same as JSON.

    Raises BadInput (exit code 2) for unreadable or wrong-kind inputs, no episode to score,
    episodes too short for any step to be scored, or an existing ``out`` / ``plot`` without
    ``force``.
    """
    from genreward_cli import media
    from genreward_cli.metrics import auc, json_safe, spearman
    from genreward_cli.options import resolve_device
    from genreward_cli.rewards.accounting import low_share_lines, shares_from_sums
    from genreward_cli.rewards.build import build_reward

    inputs = [*episodes, *(options.get(k) for k in INPUT_OPTIONS)]
    store.check_distinct_outputs(out=out, plot=plot)
    store.check_output(out, force, inputs)
    if plot:
        store.check_output(media.check_figure_path(plot), force, inputs)
    device = resolve_device(device)
    reward = options["reward"]
    # the same episodes twice would count each twice in the AUC and the shares
    if repeat := store.first_repeat(episodes):
        earlier, path = repeat
        same = "" if str(path) == str(earlier) else f" (as {earlier})"
        raise BadInput(f"{path}: given twice{same}; give each episodes file once")
    arts = []
    try:
        for path in episodes:
            arts.append(store.open_artifact(path, "episodes"))
        tasks = {str(a.attrs.get("task")) for a in arts}
        if len(tasks) > 1:
            raise BadInput("episodes of several tasks: " + ", ".join(
                f"{p} ({a.attrs.get('task')})" for p, a in zip(episodes, arts))
                + "; score one task at a time")
        cameras = {a.config.get("camera") for a in arts}
        task = str(arts[0].attrs["task"])
        prompt = store.text(arts[0].attrs.get("prompt", ""))
        if reward in TEXT_REWARDS and not (reward == "roboclip" and options.get("roboclip_demo")) \
                and not prompt.strip():
            raise BadInput(f"{episodes[0]}: the root attribute 'prompt' is empty; the {reward} "
                           "reward scores frames against the task text")
        model, reward_parents = build_reward(
            options, prompt, device,
            task=task, camera=cameras.pop() if len(cameras) == 1 else None,
            task_from="the episodes' task")
        parents = [a.ref() for a in arts] + reward_parents
        scale, scores = score(model, arts, options, episodes)
    finally:
        for a in arts:
            a.close()
    returns, env_returns, expert = scores.returns, scores.env_returns, scores.expert
    score_auc = auc(returns[expert], returns[~expert])
    rho = spearman(returns, env_returns)
    weights = model.weights()
    # the weighted components: an ablated one (--no-fb-reward) has no weight and no figures
    per_component = {name: {"auc": auc(np.asarray(v)[expert], np.asarray(v)[~expert]),
                            "spearman": spearman(np.asarray(v), env_returns)}
                     for name, v in scores.components.items() if name in weights}
    overall_sums = {n: sum(s[n] for s in scores.sums) for n in scores.sums[0]}
    overall = shares_from_sums(overall_sums)
    every_step = {n: np.concatenate([p[n] for p in scores.steps]) for n in scores.steps[0]}
    advice = low_share_lines(overall_sums, every_step, weights, model.weight_labels(),
                             scales=model.weight_scales(),
                             complements=model.weight_complements())
    if expert.all() or not expert.any():  # the AUC ranks expert above random episodes
        which = "expert" if expert.all() else "random"
        advice.insert(0, f"the episodes are all {which}, so the AUC is nan: give expert and "
                         "random episodes (collect --policy expert, --policy random) to rank them")
    cost = model.cost.as_dict(sum(scores.lengths))
    config = {**options, "device": device,
              "episodes": [store.record_path(p) for p in episodes]}
    config.update({k: store.record_path(config[k]) for k in INPUT_OPTIONS if config.get(k)})
    _write(out, scores, overall, config=config, parents=parents, force=force,
           attrs=dict(reward=model.name, auc=score_auc, spearman=rho,
                      components=json.dumps(json_safe(per_component)),
                      shares=json.dumps(json_safe(overall)),
                      weights=json.dumps(weights), cost=json.dumps(cost)),
           scale=scale)
    if plot:
        plot_scores(plot, scores, model.name, score_auc, rho)
    # model.name: the reward's name, `NAME +env` with --add-env-reward
    summary = {"out": str(out), "task": task, "reward": model.name,
               "episodes": int(len(returns)),
               "auc": score_auc,
               "spearman": rho, "components": per_component, "shares": overall,
               "weights": weights, "sigma_env": scale, "advice": advice, "cost": cost}
    return Report(_lines(summary, model, cost), summary)


def score(model, arts: list, options: dict, paths: list) -> tuple[float | None, Scores]:
    """Run ``model`` over every episode of the open `episodes` artifacts ``arts``:
    (sigma_env or None, :class:`Scores`). With ``options["alpha_mode"]`` `relative`, the
    model's scale is first set to sigma_env of all their env rewards. ``paths`` name the files
    in messages.

    Raises BadInput: no episode, or (but for the env reward) episodes with steps yet too few
    for any step to be scored at ``options["reward_interval"]``.
    """
    from genreward_cli.progress import progress_bar
    from genreward_cli.rewards.accounting import abs_sums, relative_scale
    from genreward_cli.rewards.base import EpisodeRecord

    keys = [(a, k) for a in arts for k in a.groups()]
    if not keys:
        raise BadInput(f"{', '.join(map(str, paths))}: no episode to score")
    lengths = [len(a.file[f"episodes/{k}/action"]) for a, k in keys]
    empty = [f"{a.path}: episodes/{k}" for (a, k), n in zip(keys, lengths) if not n]
    if empty:
        raise BadInput(f"{empty[0]}: an episode without a step"
                       + (f" (and {len(empty) - 1} more)" if len(empty) > 1 else "")
                       + "; it has no return to score")
    short = [n for n in lengths if n and not len(model.scored_steps(n))]
    if model.name != "env" and short:
        span = (f"{min(short)}" if min(short) == max(short)
                else f"{min(short)} to {max(short)}")
        raise BadInput(f"{len(short)} of {len(keys)} episodes have {span} steps, too few "
                       f"for any step to get the {options['reward']} reward (--reward-interval "
                       f"{options['reward_interval']}): collect longer episodes or lower it")
    scale = None
    if options.get("alpha_mode") == "relative":
        scale = relative_scale(np.concatenate([a.file[f"episodes/{k}/reward"][()]
                                               for a, k in keys]), "these episodes")
        model.set_scale(scale)
    weights = model.weights()
    returns, env_returns, expert, components, sums, steps = [], [], [], {}, [], []
    with progress_bar(len(keys), f"score {options['reward']}") as advance:
        for art, k in keys:
            g = art.file[f"episodes/{k}"]
            ep = EpisodeRecord(g["image"][()], g["action"][()], g["env_reward"][()],
                               g["reward"][()], success=g["success"][()])
            with np.errstate(over="ignore", invalid="ignore"):  # reported below, in one line
                parts = model(ep)
                total, env_return = float(parts["total"].sum()), float(ep.env_reward.sum())
            where = f"{art.path}: episodes/{k}"
            if not abs(env_return) <= FLOAT32_MAX:  # NaN too; written as float32
                raise BadInput(f"{where}: its env_reward sums to {env_return:g}, past float32's "
                               "range; the episode's rewards are not a Meta-World task's")
            if not abs(total) <= FLOAT32_MAX:
                labels = model.weight_labels()
                weighed = ", ".join(f"{n} {w:g}" + (f" ({labels[n]})" if n in labels else "")
                                    for n, w in weights.items())
                raise BadInput(f"{where}: the {options['reward']} reward's return is {total:g}, "
                               f"past float32's range (weights: {weighed})")
            returns.append(total)
            env_returns.append(env_return)
            expert.append(store.text(g.attrs["policy"]) == "expert")
            for name, v in parts.items():
                components.setdefault(name, []).append(float(v.sum()))
            sums.append(abs_sums(parts, weights))
            steps.append(parts)
            advance(1)
    return scale, Scores(np.asarray(returns, np.float32), np.asarray(env_returns, np.float32),
                         np.asarray(expert), components, sums, steps, lengths)


def _write(out, scores: Scores, overall: dict, *, config: dict, parents: list, force: bool,
           attrs: dict, scale: float | None) -> None:
    """The `reward_score` artifact ``out``: the per-episode arrays of ``scores``, the share
    per episode of each component of ``overall``, ``attrs`` (and sigma_env where measured)."""
    from genreward_cli.rewards.accounting import shares_from_sums

    episode_shares = [shares_from_sums(s) for s in scores.sums]
    with store.write_artifact(out, "reward_score", config=config, parents=parents,
                              force=force) as h5:
        store.array_dataset(h5, "episode_return", scores.returns)
        store.array_dataset(h5, "env_return", scores.env_returns)
        store.array_dataset(h5, "expert", scores.expert)
        for name, v in scores.components.items():
            store.array_dataset(h5, f"components/{name}", np.asarray(v, np.float32))
        for name in overall:
            store.array_dataset(h5, f"shares/{name}",
                                np.asarray([s[name] for s in episode_shares], np.float32))
        h5.attrs.update(**attrs)
        if scale is not None:
            h5.attrs["sigma_env"] = scale


def _lines(summary: dict, model, cost: dict) -> str:
    """What `score-reward` says on stderr: the ranking and cost, sigma_env under --alpha-mode
    relative, each component alone with its share, and the advice."""
    from genreward_cli.rewards.accounting import percent

    n, scale = summary["episodes"], summary["sigma_env"]
    lines = [f"wrote {summary['out']}: {summary['reward']} over {n} episode{'s' * (n != 1)}: "
             f"AUC expert vs random {summary['auc']:.3f}, Spearman with env return "
             f"{summary['spearman']:.3f}, {model.cost.as_dict()['ms_per_call']:.1f} ms/episode, "
             f"{cost['ms_per_step']:.2f} ms/env step"]
    if scale is not None:
        lines.append(f"  --alpha-mode relative: sigma_env {scale:.4g} per step, so alpha "
                     f"{model.alpha:.4g} and beta {model.beta:.4g}")
    for name, m in summary["components"].items():
        share = summary["shares"].get(name)
        share = "" if share is None else f", {percent(share)} of the return"
        lines.append(f"  {name:6s} alone: AUC {m['auc']:.3f}, Spearman {m['spearman']:.3f}"
                     f"{share}")
    lines += [f"  note: {line}" for line in summary["advice"]]
    return "\n".join(lines)


def plot_scores(path, scores: Scores, reward: str, score_auc: float, rho: float) -> None:
    """Write the figure ``path``. Left: model return against env return, expert vs random.
    Right: each episode's return stacked by component, sum_t |w_c c_t| (experts first)."""
    import matplotlib

    from genreward_cli.rewards.accounting import percent

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    returns, env_returns, expert, sums = (scores.returns, scores.env_returns, scores.expert,
                                          scores.sums)
    fig, (ax, bars) = plt.subplots(1, 2, figsize=(11, 4))
    order = np.concatenate([np.flatnonzero(expert), np.flatnonzero(~expert)])
    bottom = np.zeros(len(order))
    total = sum(s["total"] for s in sums)
    for name in (n for n in sums[0] if n != "total"):
        height = np.asarray([sums[i][name] for i in order])
        share = sum(s[name] for s in sums) / total if total > 0 else float("nan")
        bars.bar(np.arange(len(order)), height, bottom=bottom,
                 label=f"{name} ({percent(share)})")
        bottom += height
    n_expert = int(expert.sum())
    if 0 < n_expert < len(order):
        bars.axvline(n_expert - 0.5, color="k", lw=0.8)
    bars.set_xlabel(f"episode (experts: first {n_expert})")
    bars.set_ylabel("sum over steps of |weighted component|")
    bars.set_title("the return by component", fontsize=10)
    bars.legend(fontsize=8)
    ax.scatter(env_returns[expert], returns[expert], label="expert", color="tab:green")
    ax.scatter(env_returns[~expert], returns[~expert], label="random", color="tab:gray")
    ax.set_xlabel("env return")
    ax.set_ylabel(f"{reward} return")
    ax.set_title(f"{reward}: AUC {score_auc:.3f}, Spearman {rho:.3f}", fontsize=10)
    ax.legend()
    fig.tight_layout()
    from genreward_cli.store import save_figure

    save_figure(fig, path, dpi=110)
    plt.close(fig)
