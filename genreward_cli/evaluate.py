"""Evaluate trained agents and compare runs.

- ``run_policy``: episodes of a policy acting on the mode of its action distribution, on
  evaluation scenes (``eval_seed``) apart from the training ones; dense env return and success.
- ``load_agent``: the policy of a `train-agent` run, from its `agent_log` file alone.
- ``read_runs`` / ``aggregate``: learning curves of several runs, grouped by task, reward
  mode, method and episode length, mean and standard deviation across seeds (the paper's
  Fig. 5).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genreward_cli.agent.train import LOG_NAME
from genreward_cli.errors import BadInput


@dataclass
class EvalResult:
    returns: np.ndarray  # float32 [N]
    success: np.ndarray  # bool [N]
    lengths: np.ndarray  # int64 [N]
    seeds: np.ndarray  # int64 [N]
    frames: list = field(default_factory=list)  # uint8 [T+1, H, W, 3] per episode, if recorded

    def summary(self) -> dict:
        """Episodes, mean and std of the return, success rate (None for no episodes)."""
        return returns_summary(self.returns, self.success)


NO_EPISODE = "no episode has finished yet"


def returns_summary(returns, success) -> dict:
    """``episodes``, ``mean`` and ``std`` of ``returns`` and ``success_rate``; the last three
    are None when there is no episode (a run shorter than one episode)."""
    returns, success = np.asarray(returns, np.float64), np.asarray(success, np.float64)
    if not len(returns):
        return {"episodes": 0, "mean": None, "std": None, "success_rate": None}
    return {"episodes": int(len(returns)), "mean": float(returns.mean()),
            "std": float(returns.std()), "success_rate": float(success.mean())}


def format_returns(mean: float | None, std: float | None = None,
                   success: float | None = None) -> str:
    """``return 12.3 +- 4.5, success 40%`` (std and success where given), or ``NO_EPISODE``
    when ``mean`` is None: every report's words for a set of episodes."""
    if mean is None:
        return NO_EPISODE
    text = f"return {mean:.1f}" + (f" +- {std:.1f}" if std is not None else "")
    return text + (f", success {success:.0%}" if success is not None else "")


def run_policy(agent, env, episodes: int, seed: int = 0, record: bool = False,
               on_step=lambda n: None) -> EvalResult:
    """Run ``episodes`` evaluation episodes with the agent's mode actions."""
    import torch

    from genreward_cli.envs.policies import eval_seed

    generator = torch.Generator(device=agent.device).manual_seed(seed)
    returns, success, lengths, seeds, frames = [], [], [], [], []
    for i in range(episodes):
        s = eval_seed(seed, i)
        obs, _ = env.reset(seed=s)
        latent, done, ret, ok, n = None, False, 0.0, False, 0
        video = [obs["image"]] if record else None
        while not done:
            act, latent = agent.policy(obs["image"][None], np.array([bool(obs["is_first"])]),
                                       latent, explore=False, generator=generator)
            obs, reward, term, trunc, info = env.step(act[0])
            ret += float(info.get("env_reward", reward))
            ok = ok or bool(info.get("success", False))
            n += 1
            done = bool(term or trunc)
            if record:
                video.append(obs["image"])
            on_step(1)
        returns.append(ret), success.append(ok), lengths.append(n), seeds.append(s)
        if record:
            frames.append(np.stack(video))
    return EvalResult(np.asarray(returns, np.float32), np.asarray(success, bool),
                      np.asarray(lengths, np.int64), np.asarray(seeds, np.int64), frames)


def log_path(run: str | Path) -> Path:
    """A run directory's `agent_log` file (or the file itself)."""
    run = Path(run)
    path = run / LOG_NAME if run.is_dir() else run
    if not path.exists():
        raise BadInput(f"{run}: no {LOG_NAME}: not a train-agent run directory (or it has not "
                       f"finished its first episode)")
    return path


def load_agent(art, device: str = "cpu"):
    """The DreamerAgent stored in an open `agent_log` artifact, in eval mode."""
    from genreward_cli import store
    from genreward_cli.agent.agent import DreamerAgent
    from genreward_cli.agent.behavior import BehaviorConfig
    from genreward_cli.agent.config import AgentConfig

    agent_config = AgentConfig(**json.loads(art.attrs["agent_config"]))
    behavior = BehaviorConfig(**json.loads(art.attrs["behavior_config"]))
    action_dim = int(art.attrs["action_dim"])
    agent = DreamerAgent(agent_config, action_dim, behavior)
    agent.load_state_dict(store.read_weights(art.file["weights/agent"]))
    return agent.to(device).eval()


def method_name(config: dict) -> str:
    """A run's method label: the reward model and its ablations and weights where they are
    not the defaults (e.g. `genreward -fb`, `genreward alpha=0.1 relative`)."""
    from genreward_cli.rewards.generative import DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_INTERVAL

    name = config.get("reward", "?")
    if name == "genreward":
        name += "".join(s for s, flag in ((" -video", "no_video_reward"), (" -fb", "no_fb_reward"))
                        if config.get(flag))
        for key, default in (("alpha", DEFAULT_ALPHA), ("beta", DEFAULT_BETA),
                             ("reward_interval", DEFAULT_INTERVAL)):
            if config.get(key, default) != default:
                name += f" {key.replace('reward_', '')}={config[key]:g}"
        if config.get("alpha_mode", "absolute") != "absolute":
            name += f" {config['alpha_mode']}"
    return name


@dataclass
class RunCurve:
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


def read_run(path: str | Path) -> RunCurve:
    from genreward_cli import store

    with store.open_artifact(log_path(path), "agent_log") as art:
        config = art.config
        f = art.file
        if len(f["eval/step"]):
            steps, returns = f["eval/step"][()], f["eval/return"][()].mean(1)
            success, source = f["eval/success"][()].mean(1), "eval"
        else:
            steps, returns = f["episodes/step"][()], f["episodes/return"][()]
            success, source = f["episodes/success"][()].astype(float), "episodes"
        shares = {}
        for name, values in (f["shares"].items() if "shares" in f else ()):
            values = values[()]
            if np.isfinite(values).any():
                shares[name] = float(np.nanmean(values))
        env_config = json.loads(art.attrs.get("env_config", "{}"))
        episode_steps = env_config.get("max_steps", config.get("max_steps"))
        return RunCurve(str(path), str(art.attrs["task"]), config.get("reward_mode", "dense"),
                        method_name(config), int(config.get("seed", 0)), steps,
                        returns.astype(np.float64), success.astype(np.float64), source, shares,
                        None if episode_steps is None else int(episode_steps))


def aggregate(curves: list[RunCurve]) -> list[dict]:
    """Group runs by (task, mode, method, episode length); mean and std across the runs on
    the steps all share, and each reward component's mean share of the learned-from return
    (``shares``). ``seeds`` counts distinct seeds (a warning names runs that share one).
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
        common = runs[0].steps
        for r in runs[1:]:
            common = np.intersect1d(common, r.steps)
        if not len(common):  # episode-based curves of runs that ended at other steps
            n = min(len(r.steps) for r in runs)
            common = runs[0].steps[:n]
            values = np.stack([r.returns[:n] for r in runs])
            succ = np.stack([r.success[:n] for r in runs])
        else:
            pick = [np.searchsorted(r.steps, common) for r in runs]
            values = np.stack([r.returns[i] for r, i in zip(runs, pick)])
            succ = np.stack([r.success[i] for r, i in zip(runs, pick)])
        final = values.shape[1] > 0  # none: runs without a finished episode or evaluation
        seeds: dict[int, list[str]] = {}
        for r in runs:
            seeds.setdefault(r.seed, []).append(r.path)
        shared = {s: paths for s, paths in seeds.items() if len(paths) > 1}
        if shared:
            length = f", {episode_steps}-step episodes" if episode_steps is not None else ""
            warnings.warn(f"{method} on {task} ({mode}{length}): "
                          + "; ".join(f"runs {', '.join(paths)} share seed {s}"
                                      for s, paths in sorted(shared.items()))
                          + f"; counted as {len(seeds)} seed(s) in {len(runs)} runs",
                          stacklevel=2)
        out.append({"task": task, "mode": mode, "method": method, "episode_steps": episode_steps,
                    "seeds": len(seeds), "steps": common, "mean": values.mean(0),
                    "std": values.std(0),
                    "final_mean": float(values[:, -1].mean()) if final else None,
                    "final_std": float(values[:, -1].std()) if final else None,
                    "final_success": float(succ[:, -1].mean()) if final else None,
                    "source": runs[0].source, "runs": [r.path for r in runs],
                    "shares": {n: float(np.mean([r.shares[n] for r in runs if n in r.shares]))
                               for n in sorted({n for r in runs for n in r.shares})}})
    return out


def plot_curves(path, groups: list[dict]) -> None:
    """One panel per task and reward mode, one line (mean, +-std band) per method."""
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
            label += f" ({g['seeds']})" + ("" if len(g["steps"]) else f": {NO_EPISODE}")
            line, = ax.plot(g["steps"], g["mean"], label=label,
                            marker="o" if len(g["steps"]) == 1 else None)  # one point: a dot
            ax.fill_between(g["steps"], g["mean"] - g["std"], g["mean"] + g["std"],
                            color=line.get_color(), alpha=0.2)
        ax.set_title(f"{task} ({mode})", fontsize=10)
        ax.set_xlabel("env steps")
        ax.set_ylabel("episode return")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
