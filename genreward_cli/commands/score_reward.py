"""`genreward score-reward`: judge a reward model offline on recorded episodes."""

from __future__ import annotations

import json

import click

from genreward_cli.options import (
    debug_option, device_option, force_option, json_option, out_option,
)
from genreward_cli.rewards.build import build_reward, reward_options


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

    from genreward_cli import artifacts, media
    from genreward_cli.errors import BadInput
    from genreward_cli.metrics import auc, spearman
    from genreward_cli.options import resolve_device
    from genreward_cli.progress import progress_bar
    from genreward_cli.rewards.base import EpisodeRecord

    if plot:
        media.check_image_path(plot)
    artifacts.check_output(out, force)
    device = resolve_device(device)
    reward = options["reward"]
    parents, arts = [], []
    try:
        for path in episodes:
            arts.append(artifacts.open_artifact(path, "episodes"))
        text = arts[0].attrs.get("prompt", "")
        text = text.decode() if isinstance(text, bytes) else str(text)
        model, reward_parents = build_reward(options, text, device)
        parents = [a.ref() for a in arts] + reward_parents
        returns, env_returns, expert, components = [], [], [], {}
        total = sum(len(a.groups()) for a in arts if a.kind.name == "episodes")
        with progress_bar(total, f"score {reward}") as advance:
            for art in (a for a in arts if a.kind.name == "episodes"):
                for k in art.groups():
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
    config = {**options, "device": device,
              "episodes": [artifacts.record_path(p) for p in episodes]}
    paths = ("goal", "fb", "clip_pretrained", "s3d_model", "roboclip_demo", "tadpole_model")
    config.update({k: artifacts.record_path(config[k]) for k in paths if config.get(k)})
    with artifacts.write_artifact(out, "reward_score", config=config, parents=parents,
                                  force=force) as h5:
        artifacts.array_dataset(h5, "episode_return", returns)
        artifacts.array_dataset(h5, "env_return", env_returns)
        artifacts.array_dataset(h5, "expert", expert)
        for name, v in components.items():
            artifacts.array_dataset(h5, f"components/{name}", np.asarray(v, np.float32))
        h5.attrs.update(reward=reward, auc=score_auc, spearman=rho,
                        components=json.dumps(per_component),
                        cost=json.dumps(model.cost.as_dict()))
    if plot:
        _plot(plot, returns, env_returns, expert, reward, score_auc, rho)
    summary = {"out": str(out), "reward": reward, "episodes": int(len(returns)), "auc": score_auc,
               "spearman": rho, "components": per_component, "cost": model.cost.as_dict()}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"wrote {out}: {reward} over {len(returns)} episodes: AUC expert vs random "
                   f"{score_auc:.3f}, Spearman with env return {rho:.3f}, "
                   f"{model.cost.as_dict()['ms_per_call']:.1f} ms/episode", err=True)
        for name, m in per_component.items():
            click.echo(f"  {name:6s} alone: AUC {m['auc']:.3f}, Spearman {m['spearman']:.3f}", err=True)


def _plot(path, returns, env_returns, expert, reward, score_auc, rho):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.scatter(env_returns[expert], returns[expert], label="expert", color="tab:green")
    ax.scatter(env_returns[~expert], returns[~expert], label="random", color="tab:gray")
    ax.set_xlabel("env return")
    ax.set_ylabel(f"{reward} return")
    ax.set_title(f"{reward}: AUC {score_auc:.3f}, Spearman {rho:.3f}", fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
