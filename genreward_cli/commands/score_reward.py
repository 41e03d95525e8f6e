"""`genreward score-reward`: judge a reward model offline on recorded episodes."""

from __future__ import annotations

import json

import click

from genreward_cli.options import (
    debug_option, device_option, force_option, json_option, out_option,
)
from genreward_cli.rewards.build import build_reward, reward_options


# the reward options that name files or folders it reads
INPUT_OPTIONS = ("goal", "fb", "clip_pretrained", "s3d_model", "roboclip_demo", "tadpole_model")


@click.command("score-reward")
@click.argument("episodes", nargs=-1, required=True, type=click.Path(dir_okay=False))
@reward_options
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Write a figure: model return against env return, expert vs random.")
@out_option("Output `reward_score` artifact (.h5).")
@device_option
@force_option
@json_option
@debug_option
def score_reward(episodes, plot, out, device, force, as_json, **options):
    """Run a reward model over recorded episodes and report how well it ranks them.

    A quick check of a reward before a long training run: the ROC-AUC with which its
    per-episode return separates scripted-expert from random episodes, and its Spearman
    correlation with the env return.

    \b
      genreward score-reward --reward genreward --goal goal.h5 --fb fb.h5 expert.h5 random.h5 \\
          --out score.h5 --plot score.png
    """
    import numpy as np

    from genreward_cli import store, media
    from genreward_cli.errors import BadInput
    from genreward_cli.metrics import auc, spearman
    from genreward_cli.options import resolve_device
    from genreward_cli.progress import progress_bar
    from genreward_cli.rewards.accounting import (
        abs_sums, low_share_lines, percent, relative_scale, shares_from_sums,
    )
    from genreward_cli.rewards.base import EpisodeRecord
    from genreward_cli.metrics import json_safe

    inputs = [*episodes, *(options.get(k) for k in INPUT_OPTIONS)]
    store.check_output(out, force, inputs)
    if plot:
        store.check_output(media.check_image_path(plot), force, inputs)
    device = resolve_device(device)
    reward = options["reward"]
    parents, arts = [], []
    try:
        for path in episodes:
            arts.append(store.open_artifact(path, "episodes"))
        arts = [a for a in arts if a.kind.name == "episodes"]
        text = arts[0].attrs.get("prompt", "")
        text = text.decode() if isinstance(text, bytes) else str(text)
        model, reward_parents = build_reward(options, text, device)
        parents = [a.ref() for a in arts] + reward_parents
        keys = [(a, k) for a in arts for k in a.groups()]
        if not keys:
            raise BadInput(f"{', '.join(episodes)}: no episode to score")
        lengths = [len(a.file[f"episodes/{k}/action"]) for a, k in keys]
        short = [n for n in lengths if n and not len(model.scored_steps(n))]
        if model.name != "env" and short:
            raise BadInput(f"{len(short)} of {len(keys)} episodes have {min(short)} steps, too few "
                           f"for any step to get the {reward} reward (--reward-interval "
                           f"{options['reward_interval']}): collect longer episodes or lower it")
        scale = None
        if options.get("alpha_mode") == "relative":
            scale = relative_scale(np.concatenate([a.file[f"episodes/{k}/reward"][()]
                                                   for a, k in keys]), "these episodes")
            model.set_scale(scale)
        weights = model.weights()
        returns, env_returns, expert, components, sums, steps = [], [], [], {}, [], []
        with progress_bar(len(keys), f"score {reward}") as advance:
            for art, k in keys:
                g = art.file[f"episodes/{k}"]
                ep = EpisodeRecord(g["image"][()], g["action"][()], g["env_reward"][()],
                                   g["reward"][()], success=g["success"][()])
                parts = model(ep)
                returns.append(float(parts["total"].sum()))
                env_returns.append(float(ep.env_reward.sum()))
                pol = g.attrs.get("policy", "")
                expert.append((pol.decode() if isinstance(pol, bytes) else pol) == "expert")
                for name, v in parts.items():
                    components.setdefault(name, []).append(float(v.sum()))
                sums.append(abs_sums(parts, weights))
                steps.append(parts)
                advance(1)
    finally:
        for a in arts:
            a.close()
    returns, env_returns, expert = (np.asarray(returns, np.float32),
                                    np.asarray(env_returns, np.float32), np.asarray(expert))
    score_auc = auc(returns[expert], returns[~expert])
    rho = spearman(returns, env_returns)
    per_component = {name: {"auc": auc(np.asarray(v)[expert], np.asarray(v)[~expert]),
                            "spearman": spearman(np.asarray(v), env_returns)}
                     for name, v in components.items() if name != "total"}
    episode_shares = [shares_from_sums(s) for s in sums]
    overall_sums = {n: sum(s[n] for s in sums) for n in sums[0]}
    overall = shares_from_sums(overall_sums)
    every_step = {n: np.concatenate([p[n] for p in steps]) for n in steps[0]}
    advice = low_share_lines(overall_sums, every_step, weights, model.weight_labels())
    config = {**options, "device": device,
              "episodes": [store.record_path(p) for p in episodes]}
    config.update({k: store.record_path(config[k]) for k in INPUT_OPTIONS if config.get(k)})
    with store.write_artifact(out, "reward_score", config=config, parents=parents,
                                  force=force) as h5:
        store.array_dataset(h5, "episode_return", returns)
        store.array_dataset(h5, "env_return", env_returns)
        store.array_dataset(h5, "expert", expert)
        for name, v in components.items():
            store.array_dataset(h5, f"components/{name}", np.asarray(v, np.float32))
        for name in overall:
            store.array_dataset(h5, f"shares/{name}",
                                    np.asarray([s[name] for s in episode_shares], np.float32))
        h5.attrs.update(reward=reward, auc=score_auc, spearman=rho,
                        components=json.dumps(per_component),
                        shares=json.dumps(json_safe(overall)), weights=json.dumps(weights),
                        cost=json.dumps(model.cost.as_dict(sum(lengths))))
        if scale is not None:
            h5.attrs["sigma_env"] = scale
    if plot:
        _plot(plot, returns, env_returns, expert, reward, score_auc, rho, sums)
    summary = {"out": str(out), "reward": reward, "episodes": int(len(returns)), "auc": score_auc,
               "spearman": rho, "components": per_component, "shares": overall,
               "weights": weights, "sigma_env": scale, "advice": advice,
               "cost": model.cost.as_dict(sum(lengths))}
    if as_json:
        click.echo(json.dumps(json_safe(summary)))
    else:
        n = len(returns)
        click.echo(f"wrote {out}: {reward} over {n} episode{'s' * (n != 1)}: AUC expert vs "
                   f"random {score_auc:.3f}, Spearman with env return {rho:.3f}, "
                   f"{model.cost.as_dict()['ms_per_call']:.1f} ms/episode, "
                   f"{model.cost.as_dict(sum(lengths))['ms_per_step']:.2f} ms/env step", err=True)
        if scale is not None:
            click.echo(f"  --alpha-mode relative: sigma_env {scale:.4g} per step, so alpha "
                       f"{model.alpha:.4g} and beta {model.beta:.4g}", err=True)
        for name, m in per_component.items():
            share = overall.get(name)
            share = "" if share is None else f", {percent(share)} of the return"
            click.echo(f"  {name:6s} alone: AUC {m['auc']:.3f}, Spearman {m['spearman']:.3f}"
                       f"{share}", err=True)
        for line in advice:
            click.echo(f"  note: {line}", err=True)


def _plot(path, returns, env_returns, expert, reward, score_auc, rho, sums):
    """Left: model return against env return. Right: each episode's return stacked by
    component, sum_t |w_c c_t| (experts first)."""
    import matplotlib
    import numpy as np

    from genreward_cli.rewards.accounting import percent

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.savefig(path, dpi=110)
    plt.close(fig)
