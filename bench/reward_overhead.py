"""What the generative reward costs a training run: `train-agent` wall time with the `env`
reward and with `genreward`, same seed, steps and agent; and what rendering
the goal-sized frames only at sampled steps saves over rendering them every step (as the
paper's code does at 480x480).

    .venv/bin/python bench/reward_overhead.py [--steps 768] [--goal-size 480] [--preset tiny]
    .venv/bin/python bench/reward_overhead.py --preset S --steps 512 --agent precision=bf16
    python bench/reward_overhead.py --preset S --steps 448 --prefill 64 --models paper \
        --device cuda --vae-dtype float32,bfloat16 --repeat 2

Each run is a `genreward train-agent` process of its own. Wall time includes its start-up (the
genreward run also imports diffusers and loads the VAE, image encoder and FB model); the
training-loop figure leaves it out. With `--repeat N` the two runs alternate
N times and the medians are compared. The accounted overhead adds up what the genreward run
does on top of the env run (the reward model's own timed calls and the extra renders at the
goal's size, timed separately below) and divides by the env run: it does not move with the
machine's run-to-run noise as the wall-clock difference does.

The goal and FB files are built here, with the tiny encoders by default, or with `--models
paper`: the full CogVideoX VAE and DINOv3 ViT-S/16+ with random weights (`paper_models.py`),
which cost what the released ones cost. The agent runs Table A's replay settings (train ratio
512, 16 x 64 batches) at `--preset`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

os.environ.setdefault("PYTHONWARNINGS", "ignore")
EPISODE, INTERVAL = 256, 128  # Meta-World episode length; Algorithm 1's reward interval


def run_alone(*args) -> str:
    """`genreward ARGS` in a process of its own, as a user runs it: nothing carries over
    from one timed run to the next (in one process, runs on a GPU slowed down one after
    another, whatever their reward)."""
    r = subprocess.run([sys.executable, "-m", "genreward_cli", *map(str, args)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"genreward {' '.join(map(str, args[:2]))} failed: {r.stderr[-2000:]}")
    return r.stdout


def cli(*args) -> str:
    from genreward_cli.cli import cli as group

    r = CliRunner().invoke(group, [str(a) for a in args])
    if r.exit_code != 0:
        raise SystemExit(f"genreward {' '.join(map(str, args[:2]))} failed: {r.stderr or r.output}")
    return r.stdout


def build_goals(d: Path, size: int, models: str, device: str, dtypes: list[str]) -> None:
    """goal_<dtype>.h5 and fb_<dtype>.h5 for each VAE dtype, from one expert episode."""
    if models == "paper":
        from paper_models import write_dinov3, write_vae

        vae, image = str(write_vae(d / "cogvideox-vae")), str(write_dinov3(d / "dinov3"))
    else:
        vae, image = "tiny", "tiny"
    env = ["--task", "reach-v3"]
    cli("collect", *env, "--policy", "expert", "--episodes", 1, "--out", d / "expert.h5")
    cli("collect", *env, "--episodes", 1, "--seed", 1, "--out", d / "random.h5")
    cli("select-frame", d / "expert.h5", "--clip-model", "tiny", "--out", d / "gf.h5")
    for dtype in dtypes:
        cli("encode-goal", d / "expert.h5", d / "gf.h5", "--vae", vae, "--image-encoder", image,
            "--height", size, "--width", size, "--dtype", dtype, "--device", device,
            "--out", d / f"goal_{dtype}.h5")
        cli("train-fb", d / "expert.h5", d / "random.h5", d / f"goal_{dtype}.h5", "--steps", 20,
            "--batch-size", 64, "--device", device, "--out", d / f"fb_{dtype}.h5")


def render_cost(size: int, steps: int = EPISODE) -> dict:
    """Seconds per env step: 64x64 only; plus a size x size render every step; plus one only
    at the frames the video reward samples (Algorithm 1, every INTERVAL steps)."""
    import numpy as np

    from genreward_cli.envs import EnvConfig
    from genreward_cli.envs.metaworld_env import MetaWorldPixelEnv
    from genreward_cli.rewards.schedule import RewardSchedule

    sampled = set(RewardSchedule(steps, INTERVAL, history=16).frames_read())
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
    p.add_argument("--models", choices=("tiny", "paper"), default="tiny",
                   help="encoders of the goal and FB files: tiny, or the paper's with random weights")
    p.add_argument("--vae-dtype", default="float32",
                   help="comma-separated encode-goal --dtype values, one genreward run each")
    a = p.parse_args()
    dtypes = a.vae_dtype.split(",")

    import torch

    from genreward_cli import machine
    from genreward_cli.memory import keep_freed_memory

    keep_freed_memory()  # as the genreward command does
    where = torch.cuda.get_device_name() if a.device == "cuda" else machine.describe()
    print(f"torch {torch.__version__}, device {a.device} ({where}), {a.models} encoders", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        os.environ.setdefault("GENREWARD_CACHE", str(d / "cache"))
        start = time.perf_counter()
        build_goals(d, a.goal_size, a.models, a.device, dtypes)
        print(f"  goal and FB files built in {time.perf_counter() - start:.1f} s", flush=True)
        common = ["--task", "reach-v3", "--preset", a.preset, "--prefill", a.prefill,
                  "--eval-every", 0, "--seed", 0, "--device", a.device, "--json"]
        for item in a.agent:
            common += ["--agent", item]
        variants = {"env": ["--reward", "env"]}
        for dtype in dtypes:
            variants[f"genreward {dtype}"] = ["--reward", "genreward", "--goal", d / f"goal_{dtype}.h5",
                                              "--fb", d / f"fb_{dtype}.h5"]
        times = {k: [] for k in variants}
        summaries = {k: [] for k in variants}
        for i in range(a.repeat):
            for j, (name, extra) in enumerate(variants.items()):
                start = time.perf_counter()
                out = d / f"run{i}_{j}"
                stdout = run_alone("train-agent", *common, "--steps", a.steps, *extra, "--out", out)
                summaries[name].append(json.loads(stdout))
                times[name].append(time.perf_counter() - start)
                cost = summaries[name][-1]["reward_cost"]
                print(f"  run {i + 1}: {name:20s} {times[name][-1]:8.1f} s wall, "
                      f"{summaries[name][-1]['steps_per_s']:.3f} steps/s in the loop, reward model "
                      f"{cost['seconds']:.2f} s", flush=True)
    from genreward_cli.rewards.schedule import RewardSchedule

    r = render_cost(a.goal_size)
    wall = {k: statistics.median(v) for k, v in times.items()}
    rates = {k: statistics.median(s["steps_per_s"] for s in v) for k, v in summaries.items()}
    extra_render = (r["sampled"] - r["agent"]) * a.steps
    print(f"train-agent {a.steps} steps ({summaries['env'][0]['updates']} updates, preset "
          f"{a.preset} {' '.join(a.agent)}), goal video {a.goal_size}x{a.goal_size}, "
          f"{a.models} encoders, median of {a.repeat}:")
    print(f"  env reward                 {wall['env']:8.1f} s")
    for name in list(variants)[1:]:
        calls = summaries[name][0]["reward_cost"]["calls"]  # the same in every run
        cost_s = statistics.median(g["reward_cost"]["seconds"] for g in summaries[name])
        per_call = cost_s / max(calls, 1)
        print(f"  {name + ' reward':26s} {wall[name]:8.1f} s   (reward model: {calls} calls, "
              f"{cost_s:.2f} s in all, {1000 * per_call:.0f} ms each)")
        print(f"    overhead    {wall[name] / wall['env'] - 1:+8.1%}  (wall clock)")
        print(f"    accounted   {(cost_s + extra_render) / wall['env']:+8.1%}  (reward model "
              f"{cost_s:.2f} s + extra renders {extra_render:.2f} s, over the env run)")
        print(f"    training loop only (after loading the models): {rates['env']:.3f} vs "
              f"{rates[name]:.3f} steps/s, overhead {rates['env'] / rates[name] - 1:+.1%}")
        # After prefill an episode has its reward calls and its updates (128 at train ratio
        # 512); a short run's prefill episode has its calls but no updates, so it overstates.
        per_ep = (len(RewardSchedule(EPISODE, INTERVAL).steps()) * per_call
                  + (r["sampled"] - r["agent"]) * EPISODE)
        trained = ((a.steps / rates["env"] - a.prefill * r["agent"]) * EPISODE
                   / (a.steps - a.prefill))
        print(f"    steady state, per {EPISODE}-step episode after prefill: {per_ep:.2f} s over "
              f"{trained:.1f} s, {per_ep / trained:+.1%} (estimated from the figures above)")
    print(f"rendering per env step ({EPISODE}-step episodes, {r['sampled_frames']} frames sampled):")
    print(f"  64x64 only                         {1000 * r['agent']:6.2f} ms")
    print(f"  + {a.goal_size}x{a.goal_size} every step (paper's code)  {1000 * r['every']:6.2f} ms")
    print(f"  + {a.goal_size}x{a.goal_size} at sampled frames only     {1000 * r['sampled']:6.2f} ms"
          f"   ({r['every'] / r['sampled']:.1f}x less time than every step)")


if __name__ == "__main__":
    main()
