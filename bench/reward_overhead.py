"""What the generative reward costs a training run: `train-agent` wall time with the `env`
reward and with `genreward`, same seed, steps and agent, in one process; and what rendering
the goal-sized frames only at sampled steps saves over rendering them every step (as the
paper's code does at 480x480).

    .venv/bin/python bench/reward_overhead.py [--steps 768] [--goal-size 480] [--preset tiny]
    .venv/bin/python bench/reward_overhead.py --preset S --steps 512 --agent precision=bf16

Wall time includes each run's start-up (the genreward run loads the VAE, image encoder and
FB model); the training-loop figure leaves it out. With `--repeat N` the two runs alternate
N times and the medians are compared. The accounted overhead adds up what the genreward run
does on top of the env run (the reward model's own timed calls and the extra renders at the
goal's size, timed separately below) and divides by the env run: it does not move with the
machine's run-to-run noise as the wall-clock difference does.

The goal and FB files are built here with the tiny models (CPU); the agent runs Table A's
replay settings (train ratio 512, 16 x 64 batches) at `--preset`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

os.environ.setdefault("PYTHONWARNINGS", "ignore")


def cli(*args) -> str:
    from genreward_cli.cli import cli as group

    r = CliRunner().invoke(group, [str(a) for a in args])
    if r.exit_code != 0:
        raise SystemExit(f"genreward {' '.join(map(str, args[:2]))} failed: {r.stderr or r.output}")
    return r.stdout


def build_goal(d: Path, size: int) -> None:
    env = ["--task", "reach-v3"]
    cli("collect", *env, "--policy", "expert", "--episodes", 1, "--out", d / "expert.h5")
    cli("collect", *env, "--episodes", 1, "--seed", 1, "--out", d / "random.h5")
    cli("select-frame", d / "expert.h5", "--clip-model", "tiny", "--out", d / "gf.h5")
    cli("encode-goal", d / "expert.h5", d / "gf.h5", "--vae", "tiny", "--image-encoder", "tiny",
        "--height", size, "--width", size, "--out", d / "goal.h5")
    cli("train-fb", d / "expert.h5", d / "random.h5", d / "goal.h5", "--steps", 20,
        "--batch-size", 64, "--out", d / "fb.h5")


def render_cost(size: int, steps: int = 256) -> dict:
    """Seconds per env step: 64x64 only; plus a size x size render every step; plus one only
    at the frames the video reward samples (Algorithm 1, interval 128)."""
    import numpy as np

    from genreward_cli.envs import EnvConfig
    from genreward_cli.envs.metaworld_env import MetaWorldPixelEnv
    from genreward_cli.rewards.generative import reward_steps
    from genreward_cli.video.clips import uniform_indices

    sampled = set()
    for k in reward_steps(steps, 128):
        sampled |= set(int(i) for i in uniform_indices(k + 2, 16))
    env = MetaWorldPixelEnv(EnvConfig(task="reach-v3", max_steps=steps), extra_sizes=((size, size),))
    rng = np.random.default_rng(0)
    out = {}
    for mode in ("agent", "every", "sampled"):
        env.reset(seed=0)
        start = time.perf_counter()
        for t in range(steps):
            env.step(rng.uniform(-1, 1, 4).astype(np.float32))
            if mode == "every" or (mode == "sampled" and t + 1 in sampled):
                env.render_at(size, size)
        out[mode] = (time.perf_counter() - start) / steps
    env.close()
    out["sampled_frames"] = len(sampled)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=768, help="env steps per run (256 per episode)")
    p.add_argument("--prefill", type=int, default=256)
    p.add_argument("--goal-size", type=int, default=480, help="goal video resolution (paper: 480)")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--agent", action="append", default=[], metavar="KEY=VALUE",
                   help="train-agent --agent overrides, e.g. precision=bf16")
    p.add_argument("--repeat", type=int, default=1, help="alternating runs of each reward")
    p.add_argument("--device", default="cpu")
    a = p.parse_args()

    import torch

    from genreward_cli.memory import keep_freed_memory

    keep_freed_memory()  # as the genreward command does
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {a.device}")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        os.environ.setdefault("GENREWARD_CACHE", str(d / "cache"))
        build_goal(d, a.goal_size)
        common = ["--task", "reach-v3", "--preset", a.preset, "--steps", a.steps, "--prefill",
                  a.prefill, "--eval-every", 0, "--seed", 0, "--device", a.device, "--json"]
        for item in a.agent:
            common += ["--agent", item]
        times, summaries = {"env": [], "genreward": []}, {"env": [], "genreward": []}
        for i in range(a.repeat):
            for name, extra in (("env", ["--reward", "env"]),
                                ("genreward", ["--reward", "genreward", "--goal", d / "goal.h5",
                                               "--fb", d / "fb.h5"])):
                start = time.perf_counter()
                out = d / f"{name}{i}"
                summaries[name].append(json.loads(cli("train-agent", *common, *extra, "--out", out)))
                times[name].append(time.perf_counter() - start)
                print(f"  run {i + 1}: {name:9s} {times[name][-1]:8.1f} s", flush=True)
    r = render_cost(a.goal_size)
    wall = {k: statistics.median(v) for k, v in times.items()}
    calls = summaries["genreward"][0]["reward_cost"]["calls"]  # the same in every run
    cost_s = statistics.median(g["reward_cost"]["seconds"] for g in summaries["genreward"])
    extra_render = (r["sampled"] - r["agent"]) * a.steps
    print(f"train-agent {a.steps} steps ({summaries['env'][0]['updates']} updates, preset "
          f"{a.preset} {' '.join(a.agent)}), goal video {a.goal_size}x{a.goal_size}, "
          f"median of {a.repeat}:")
    print(f"  env reward        {wall['env']:8.1f} s")
    print(f"  genreward reward  {wall['genreward']:8.1f} s   (reward model: {calls} calls, "
          f"{cost_s:.1f} s in all, {1000 * cost_s / max(calls, 1):.0f} ms each)")
    print(f"  overhead          {wall['genreward'] / wall['env'] - 1:+8.1%}  (wall clock)")
    print(f"  accounted         {(cost_s + extra_render) / wall['env']:+8.1%}  (reward model "
          f"{cost_s:.1f} s + extra renders {extra_render:.1f} s, over the env run)")
    rates = {k: statistics.median(s["steps_per_s"] for s in v) for k, v in summaries.items()}
    print(f"  training loop only (after loading the models): {rates['env']:.3f} vs "
          f"{rates['genreward']:.3f} steps/s, overhead {rates['env'] / rates['genreward'] - 1:+.1%}")
    print(f"rendering per env step (256-step episodes, {r['sampled_frames']} frames sampled):")
    print(f"  64x64 only                         {1000 * r['agent']:6.2f} ms")
    print(f"  + {a.goal_size}x{a.goal_size} every step (paper's code)  {1000 * r['every']:6.2f} ms")
    print(f"  + {a.goal_size}x{a.goal_size} at sampled frames only     {1000 * r['sampled']:6.2f} ms"
          f"   ({r['every'] / r['sampled']:.1f}x less time than every step)")


if __name__ == "__main__":
    main()
