"""Offline reward quality of every reward model on recorded Meta-World episodes.

For each task: expert and random episodes (scenes apart from the goal's), two goals (the
tiny image-to-video preset's generated goal, and an oracle: a held-out expert episode as the
goal video), and for every reward model - genreward and its ablations in dense and sparse
mode, the env reward, vlm-rm, clip-video, roboclip, tadpole, diffusion-reward - the ROC-AUC of its returns
expert vs random, their Spearman correlation with the dense env return, and each weighted
component's share of the return (``rewards.accounting``).

Two encoder arms: ``tiny`` (the tests' presets) and ``paper`` (the paper's architectures -
the full CogVideoX 3D VAE, DINOv3 ViT-S/16+, OpenCLIP ViT-B-32 - with random weights, since
no weights can be downloaded here). Random weights measure the plumbing and the scale of the
terms, not what trained encoders would rank.

Stages run through the CLI in this process (the commands are printed); the genreward
components of an episode are computed once per goal with the library's ``GenerativeReward``
and recombined for each ablation and reward mode, which is what ``score-reward`` computes
(checked against ``score-reward`` once per run, printed).

    python bench/reward_quality.py --out bench/out/reward_quality
    python bench/reward_quality.py --tasks pick-place-v3 --arms tiny --episodes 8
    python bench/reward_quality.py --only diffusion-reward   # add a baseline to the results
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

TASKS = ("pick-place-v3", "bin-picking-v3", "shelf-place-v3")
ALPHA, BETA = 1e-2, 1e-5  # Table A
SKIP: set = set()  # baselines left out (--skip)


def cli(*args):
    """Run one `genreward` command in this process; stop on failure with its stderr."""
    from click.testing import CliRunner

    from genreward_cli.cli import cli as group

    args = [str(a) for a in args]
    print("  $ genreward " + shlex.join(args), flush=True)
    r = CliRunner().invoke(group, args)
    if r.exit_code != 0:
        sys.exit(f"genreward {' '.join(args)}: exit {r.exit_code}\n{r.stderr}")
    return r


class CachedVideoEncoder:
    """A ``VideoEncoder`` whose ``encode_many`` remembers each history's latent, so the two
    goals of one arm encode every episode once (the latents do not depend on the goal)."""

    def __init__(self, encoder, cache: dict):
        self.encoder, self.cache = encoder, cache

    def encode_many(self, videos):
        keys = [hashlib.sha1(np.ascontiguousarray(v).tobytes()).hexdigest() for v in videos]
        todo = [i for i, k in enumerate(keys) if k not in self.cache]
        if todo:
            for i, z in zip(todo, self.encoder.encode_many([videos[i] for i in todo])):
                self.cache[keys[i]] = z
        return [self.cache[k] for k in keys]


def read_episodes(path):
    from genreward_cli import store
    from genreward_cli.rewards.base import EpisodeRecord

    out = []
    with store.open_artifact(path, "episodes") as art:
        for k in art.groups():
            g = art.file[f"episodes/{k}"]
            out.append(EpisodeRecord(g["image"][()], g["action"][()], g["env_reward"][()],
                                     g["reward"][()], success=g["success"][()]))
    return out


def judge(parts_list, weights, env_returns, expert) -> dict:
    """AUC, Spearman and overall shares of one reward model's components over episodes."""
    from genreward_cli.metrics import auc, spearman
    from genreward_cli.rewards.accounting import abs_sums, shares_from_sums

    returns = np.asarray([p["total"].sum() for p in parts_list])
    sums = [abs_sums(p, weights) for p in parts_list]
    overall = shares_from_sums({n: sum(s[n] for s in sums) for n in sums[0]})
    alone = {}  # each component's own return (the ranking it would give alone)
    for name in weights:
        r = np.asarray([p[name].sum() for p in parts_list])
        alone[name] = {"auc": auc(r[expert], r[~expert]), "spearman": spearman(r, env_returns)}
    return {"auc": auc(returns[expert], returns[~expert]), "spearman": spearman(returns, env_returns),
            "shares": overall, "alone": alone}


def genreward_rows(components, dense, sparse, env_returns, expert, goal_name):
    """Rows of genreward and its ablations, dense and sparse, from per-step r_video, r_FB."""
    rows = []
    variants = (("genreward", ALPHA, BETA), ("genreward -fb", ALPHA, 0.0),
                ("genreward -video", 0.0, BETA))
    for mode, episodes in (("dense", dense), ("sparse", sparse)):
        for name, alpha, beta in variants:
            parts, weights = [], {"env": 1.0}
            if alpha:
                weights["video"] = alpha
            if beta:
                weights["fb"] = beta
            for ep, c in zip(episodes, components):
                env = ep.reward.astype(np.float32)
                total = env + alpha * c["video"] + beta * c["fb"]
                parts.append({"env": env, "video": c["video"], "fb": c["fb"], "total": total})
            rows.append({"method": name, "mode": mode, "goal": goal_name,
                         **judge(parts, weights, env_returns, expert)})
    return rows


def baseline_rows(models, dense, sparse, env_returns, expert):
    rows = []
    from genreward_cli.rewards.base import EnvReward

    for mode, episodes in (("dense", dense), ("sparse", sparse)):
        env = EnvReward()
        rows.append({"method": "env", "mode": mode, "goal": "-", "cost_ms": None,
                     **judge([env(ep) for ep in episodes], env.weights(), env_returns, expert)})
    for name, model in models:
        start = time.perf_counter()
        parts = [model(ep) for ep in dense]
        cost = 1000 * (time.perf_counter() - start) / len(dense)
        rows.append({"method": name, "mode": "-", "goal": "-", "cost_ms": cost,
                     **judge(parts, model.weights(), env_returns, expert)})
    return rows


def make_goals(d: Path, task: str, arm: dict, episodes: int, max_steps: int):
    """The two goal files (generated, oracle) and their FB models for one arm."""
    goals = {}
    enc = ["--vae", arm["vae"], "--image-encoder", arm["image_encoder"], "--height", 64,
           "--width", 64, *arm.get("image_resolution", [])]
    clip = ["--clip-model", arm["clip"]] + (["--clip-pretrained", ""] if arm["clip"] != "tiny" else [])
    a = arm["name"]
    if not (d / "gen_video.h5").exists():
        cli("generate", "--task", task, "--model", "tiny", "--seed", 0, "--out", d / "gen_video.h5")
    for goal, video, frame_args in (("generated", d / "gen_video.h5", clip),
                                    ("oracle", d / "held.h5", ["--episode", 0, *clip])):
        gf, g, fb = d / f"{a}_{goal}_frame.h5", d / f"{a}_{goal}_goal.h5", d / f"{a}_{goal}_fb.h5"
        cli("select-frame", video, *frame_args, "--out", gf, "--force")
        cli("encode-goal", video, gf, *enc, "--out", g, "--force")
        cli("train-fb", *(d / f for f in arm["fb_data"]), g, "--steps", 200,
            *arm["fb"], "--out", fb, "--force")
        goals[goal] = (g, fb)
    return goals


def arms(root: Path, names) -> list[dict]:
    out = []
    if "tiny" in names:
        out.append({"name": "tiny", "vae": "tiny", "image_encoder": "tiny", "clip": "tiny",
                    "s3d": "tiny", "fb": ["--z-dim", 64, "--hidden-dim", 128, "--batch-size", 256],
                    "fb_data": ("fb_expert.h5", "fb_random.h5")})
    if "paper" in names:
        sys.path.insert(0, str(Path(__file__).parent))
        from paper_models import write_dinov3, write_vae

        vae, dino = root / "paper_vae", root / "paper_dinov3"
        if not (vae / "vae").exists():
            write_vae(vae)
        if not (dino / "config.json").exists():
            write_dinov3(dino)
        # DINOv3 at 112x112 input (the paper: 224) and FB trained on one expert and one random
        # episode: the architecture's cost on this CPU would otherwise take hours
        out.append({"name": "paper", "vae": str(vae), "image_encoder": str(dino),
                    "image_resolution": ["--image-resolution", 112],
                    "clip": "ViT-B-32", "s3d": "tiny", "fb": ["--batch-size", 256],
                    "fb_data": ("fb_expert1.h5", "fb_random1.h5")})
    return out


def diffusion_reward_model(d: Path, task: str, arm: dict):
    """Diffusion Reward's video model for this arm, trained on the task's held-out expert
    episodes (the FB set's, apart from the scored ones): the tiny preset briefly, the paper
    preset untrained (random weights, like the paper arm's other encoders); RND's batch cut to
    16 frames for the CPU (the authors': 256)."""
    from genreward_cli.rewards.diffusion_reward import DiffusionReward

    out = d / f"{arm['name']}_dr_model"
    if not (out / "diffusion_reward.json").exists():
        steps = ["--preset", "tiny", "--codec-steps", 50, "--steps", 50] if arm["name"] == "tiny" \
            else ["--preset", "paper", "--codec-steps", 0, "--steps", 0]
        cli("train-video-model", d / "fb_expert.h5", d / "held.h5", "--kind", "vqdiffusion",
            *steps, "--batch-size", 8, "--out", out, "--force")
    return DiffusionReward(str(out), task, rnd_batch=16)


def run_task(root: Path, task: str, arm_list, episodes: int, max_steps: int, check: bool,
             only: tuple = ()) -> list:
    from genreward_cli import store
    from genreward_cli.envs.tasks import describe
    from genreward_cli.goal.clip import FrameScorer
    from genreward_cli.rewards.baselines import CLIPVideoReward, VLMReward
    from genreward_cli.rewards.generative import GenerativeReward
    from genreward_cli.rewards.roboclip import RoboCLIPReward
    from genreward_cli.rewards.s3d import load_s3d
    from genreward_cli.rewards.tadpole import TADPoLeReward

    d = root / task
    d.mkdir(parents=True, exist_ok=True)
    env = ["--task", task, "--max-steps", max_steps]
    sets = {"expert": ("expert", 1000, episodes), "random": ("random", 2000, episodes),
            "held": ("expert", 0, 1), "fb_expert": ("expert", 3000, 2), "fb_random": ("random", 4000, 2),
            "fb_expert1": ("expert", 3000, 1), "fb_random1": ("random", 4000, 1)}
    for name, (policy, seed, n) in sets.items():
        for mode in ("dense", "sparse") if name in ("expert", "random") else ("dense",):
            path = d / (f"{name}.h5" if mode == "dense" else f"{name}_sparse.h5")
            if not path.exists():
                cli("collect", *env, "--policy", policy, "--episodes", n, "--seed", seed,
                    "--reward-mode", mode, "--out", path)
    dense = read_episodes(d / "expert.h5") + read_episodes(d / "random.h5")
    sparse = read_episodes(d / "expert_sparse.h5") + read_episodes(d / "random_sparse.h5")
    assert all(np.array_equal(a.image, b.image) for a, b in zip(dense, sparse))
    expert = np.asarray([True] * episodes + [False] * episodes)
    env_returns = np.asarray([ep.env_reward.sum() for ep in dense])
    text = describe(task)
    rows = []
    h, w = dense[0].image.shape[1:3]
    side = 2 * round(125 * h / 480)  # the authors' 250 of 480 rows, even for S3D's stem
    crop = (side, side)
    for arm in arm_list:
        if only:  # just these baselines, added to an earlier run's rows
            build = {"diffusion-reward": lambda: diffusion_reward_model(d, task, arm),
                     "tadpole": lambda: TADPoLeReward("tiny", text),
                     "roboclip": lambda: RoboCLIPReward(load_s3d(arm["s3d"], "cpu"), text,
                                                        crop=crop, render_size=(h, w))}
            unknown = set(only) - set(build)
            if unknown:
                raise SystemExit(f"--only: {', '.join(sorted(unknown))}: choose from "
                                 f"{', '.join(build)}")
            models = [(name, build[name]()) for name in only]
            for row in baseline_rows(models, dense, sparse, env_returns, expert):
                if row["method"] != "env":
                    rows.append({**row, "arm": arm["name"]})
            continue
        goals = make_goals(d, task, arm, episodes, max_steps)
        cache: dict = {}
        cost = None  # of the first goal, which encodes every episode (the second reads the cache)
        for goal, (g, fb) in goals.items():
            with store.open_artifact(g, "goal") as ga, store.open_artifact(fb, "fb") as fa:
                model = GenerativeReward(ga, fa, alpha=1.0, beta=1.0, interval=128)
            model.video_encoder = CachedVideoEncoder(model.video_encoder, cache)
            start = time.perf_counter()
            components = [model(ep) for ep in dense]
            cost = cost or 1000 * (time.perf_counter() - start) / len(dense)
            for row in genreward_rows(components, dense, sparse, env_returns, expert, goal):
                rows.append({**row, "arm": arm["name"], "cost_ms": cost})
            if check and goal == "oracle":
                check_against_score_reward(d, g, fb, rows[-6])
        scorer = FrameScorer(arm["clip"], "" if arm["clip"] != "tiny" else None)
        models = [("vlm-rm", VLMReward(scorer, text)), ("clip-video", CLIPVideoReward(scorer, text)),
                  ("roboclip", RoboCLIPReward(load_s3d(arm["s3d"], "cpu"), text, crop=crop,
                                              render_size=(h, w)))]
        if arm["name"] == "tiny":  # the real architectures of these two take hours on a CPU
            if "tadpole" not in SKIP:
                models.append(("tadpole", TADPoLeReward("tiny", text)))
            if "diffusion-reward" not in SKIP:
                models.append(("diffusion-reward", diffusion_reward_model(d, task, arm)))
        for row in baseline_rows(models, dense, sparse, env_returns, expert):
            if row["method"] == "env" and arm is not arm_list[0]:
                continue  # the env reward has no encoder: once per task
            rows.append({**row, "arm": arm["name"] if row["method"] != "env" else "-"})
    return rows


def check_against_score_reward(d: Path, goal, fb, row) -> None:
    """The bench's figures for genreward (dense, this goal) equal `score-reward`'s."""
    r = cli("score-reward", d / "expert.h5", d / "random.h5", "--goal", goal, "--fb", fb,
            "--out", d / "check.h5", "--force", "--json")
    got = json.loads(r.stdout)
    for key in ("auc", "spearman"):
        assert np.isclose(got[key], row[key], rtol=1e-4, equal_nan=True), (key, got[key], row[key])
    for name, share in row["shares"].items():
        assert np.isclose(got["shares"][name], share, rtol=1e-4), (name, got["shares"], row["shares"])
    print(f"  checked against score-reward: AUC {got['auc']:.3f}, Spearman {got['spearman']:.3f}, "
          f"shares match", flush=True)


def percent(x) -> str:
    if x is None or x != x:
        return "-"
    return f"{100 * x:.0f}%" if x >= 0.1 else f"{100 * x:.2g}%"


def table(task: str, rows: list) -> str:
    lines = [f"### {task}", "",
             "| arm | method | reward mode | goal | AUC | Spearman | shares of the return "
             "| components alone: AUC / Spearman | ms per episode |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["shares"]
        shares = ", ".join(f"{n} {percent(v)}" for n, v in s.items())
        alone = ", ".join(f"{n} {m['auc']:.2f} / {m['spearman']:.2f}"
                          for n, m in r.get("alone", {}).items()
                          if n != "env" and len(s) > 1) or "-"
        cost = "-" if r.get("cost_ms") is None else f"{r['cost_ms']:.0f}"
        lines.append(f"| {r['arm']} | {r['method']} | {r['mode']} | {r['goal']} | {r['auc']:.3f} | "
                     f"{r['spearman']:.3f} | {shares} | {alone} | {cost} |")
    return "\n".join(lines) + "\n"


def main():
    import torch

    from genreward_cli.machine import describe as machine

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("bench/out/reward_quality"),
                   help="folder for the episodes, goals, models and the tables (default: "
                        "bench/out/reward_quality, git-ignored)")
    p.add_argument("--tasks", default=",".join(TASKS), help="comma-separated Meta-World tasks")
    p.add_argument("--arms", default="tiny,paper",
                   help="tiny (the built-in tiny models) and/or paper (the paper's VAE and "
                        "DINOv3 architectures at random weights, OpenCLIP ViT-B-32; S3D tiny)")
    p.add_argument("--episodes", type=int, default=8, help="expert and random episodes each")
    p.add_argument("--max-steps", type=int, default=256)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--only", default="",
                   help="only these baselines (diffusion-reward, tadpole, roboclip), their rows "
                        "added to an earlier run's")
    p.add_argument("--skip", default="", help="baselines to leave out, e.g. diffusion-reward")
    a = p.parse_args()
    SKIP.update(x for x in a.skip.split(",") if x)
    if a.threads:
        torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}", flush=True)
    arm_list = arms(a.out, a.arms.split(","))
    report = [f"Machine: {machine()}. {a.episodes} expert and {a.episodes} random episodes of "
              f"{a.max_steps} steps per task, 64x64, interval 128 (2 generative steps per "
              f"episode), alpha {ALPHA:g}, beta {BETA:g}.\n"]
    done = {}  # every task's table so far, this run's or an earlier one's
    for md in sorted(a.out.glob("*.json")):
        done[md.stem] = table(md.stem, json.loads(md.read_text()))
    for i, task in enumerate(a.tasks.split(",")):
        start = time.perf_counter()
        only = tuple(x for x in a.only.split(",") if x)
        rows = run_task(a.out, task, arm_list, a.episodes, a.max_steps, check=i == 0 and not only,
                        only=only)
        earlier = a.out / f"{task}.json"
        if earlier.exists():  # an earlier run's rows of other arms or methods stay
            def key(r):
                return r["arm"], r["method"], r["mode"], r["goal"]

            mine = {key(r) for r in rows}
            rows = [r for r in json.loads(earlier.read_text()) if key(r) not in mine] + rows
            order = {"-": 0, "tiny": 1, "paper": 2}
            rows.sort(key=lambda r: order.get(r["arm"], 3))
        done[task] = table(task, rows)
        (a.out / "results.md").write_text("\n".join(report + [done[t] for t in sorted(done)]))
        (a.out / f"{task}.json").write_text(json.dumps(rows, indent=1, default=float))
        print(table(task, rows), flush=True)
        print(f"{task}: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
