"""The speed bar, measured in one run: seconds per DreamerV3 update (16 x 64 batch of 64x64
frames, fp32) for our S preset and for the reference PyTorch port NM512/dreamerv3-torch at its
default sizes (the same as Table A: deterministic 512, 32 x 32 latents, 512 units, CNN depth
32), alternating the two so that both see the same machine state.

The port is not a dependency: clone it and pass its directory. Its configs.yaml is read here
with PyYAML, so nothing beyond torch and gymnasium is needed:

    git clone https://github.com/NM512/dreamerv3-torch /tmp/dreamerv3-torch
    .venv/bin/python bench/agent_reference.py --repo /tmp/dreamerv3-torch [--updates 5]

`torch.compile` is off for all (the port enables it by default on Linux; ours does not use
it). Ours runs twice per round, in fp32 and in bf16 mixed precision (`--agent precision=bf16`,
DreamerV3's own compute dtype); the port runs in fp32, once with its default actor gradient
(`imag_gradient: dynamics`, backpropagation through the imagined dynamics) and once with
REINFORCE, the actor gradient ours uses. Prints each update's time, the medians and their
ratios.

All of them share the process, so they share its allocator setting: by default the one every
`genreward` command uses (`genreward_cli/memory.py`, freed memory kept in the heap);
`GENREWARD_MALLOC=default` runs all of them with glibc's defaults instead.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch


def _numbers(tree):
    """PyYAML reads `3e-4` as a string (YAML 1.1); the port's loader makes it a float."""
    if isinstance(tree, dict):
        return {k: _numbers(v) for k, v in tree.items()}
    if isinstance(tree, str):
        try:
            return float(tree)
        except ValueError:
            return tree
    return tree


def reference_update(repo: Path, batch: int, length: int, imag_gradient: str):
    """Build the port's world model and behaviour; return its one-update function and its
    parameter count. ``imag_gradient``: the port's actor gradient, `dynamics` (its default:
    backpropagation through the imagined dynamics) or `reinforce` (ours)."""
    import gymnasium as gym
    import yaml

    sys.path.insert(0, str(repo))
    import models  # noqa: E402  (the port's modules)

    raw = yaml.safe_load((repo / "configs.yaml").read_text())["defaults"]
    config = types.SimpleNamespace(**_numbers(raw))
    config.device, config.compile, config.num_actions = "cpu", False, 4
    config.batch_size, config.batch_length = batch, length
    config.imag_gradient = imag_gradient
    for key in ("dyn_hidden", "dyn_deter", "dyn_stoch", "dyn_discrete", "dyn_rec_depth",
                "units", "batch_size", "batch_length"):
        setattr(config, key, int(getattr(config, key)))
    obs_space = gym.spaces.Dict({"image": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)})
    act_space = gym.spaces.Box(-1, 1, (4,), np.float32)
    wm = models.WorldModel(obs_space, act_space, 0, config)
    behavior = models.ImagBehavior(config, wm)

    def update(data):
        post, _, _ = wm._train(data)
        reward = lambda f, s, a: wm.heads["reward"](wm.dynamics.get_feat(s)).mode()  # noqa: E731
        behavior._train(post, reward)

    # the behaviour holds the world model as a submodule: count each parameter once
    unique = {id(p): p for m in (wm, behavior) for p in m.parameters()}
    return update, sum(p.numel() for p in unique.values())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", type=Path, required=True, help="a clone of NM512/dreamerv3-torch")
    p.add_argument("--updates", type=int, default=5, help="timed updates of each (after one warm-up)")
    p.add_argument("--threads", type=int, default=0, help="torch threads; 0 = torch's default")
    p.add_argument("--reference-gradients", default="dynamics,reinforce",
                   help="the port's actor gradients to time (imag_gradient), comma-separated")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    from genreward_cli import machine
    from genreward_cli.memory import keep_freed_memory

    kept = keep_freed_memory()

    from genreward_cli.agent.agent import DreamerAgent, DreamerTrainer
    from genreward_cli.agent.config import preset
    from genreward_cli.agent.replay import Replay

    batch, length = 16, 64
    rng = np.random.default_rng(0)
    trainers = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        trainers[precision] = DreamerTrainer(DreamerAgent(preset("S", precision=precision), 4))
    replay = Replay(4096, (64, 64, 3), 4, seed=0)
    for t in range(4096):
        replay.add(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8),
                   rng.uniform(-1, 1, 4).astype(np.float32), float(rng.normal()), t % 256 == 0, False)

    theirs = {}
    for gradient in a.reference_gradients.split(","):
        torch.manual_seed(0)
        theirs[gradient], their_params = reference_update(a.repo, batch, length, gradient)

    def their_batch():
        b = replay.sample(batch, length)
        return {"image": b["image"].numpy(), "action": b["action"].numpy(),
                "reward": b["reward"].numpy(), "is_first": b["is_first"].numpy().astype(np.float32),
                "is_terminal": (1 - b["cont"].numpy()).astype(np.float32)}

    our_params = sum(p.numel() for p in trainers["fp32"].agent.parameters())
    print(f"CPU: {machine.describe()}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch {batch} x {length}, "
          f"64x64 frames; allocator: {'freed memory kept' if kept else 'glibc defaults'}")
    print(f"parameters: ours (S) {our_params / 1e6:.1f}M, reference {their_params / 1e6:.1f}M")
    # name -> (the update, its batch)
    updates = {"ours fp32": (trainers["fp32"].update, lambda: replay.sample(batch, length)),
               "ours bf16": (trainers["bf16"].update, lambda: replay.sample(batch, length)),
               **{f"reference fp32 {g}": (update, their_batch) for g, update in theirs.items()}}
    names = tuple(updates)
    times = {name: [] for name in names}
    for i in range(a.updates + 1):  # the first round warms up, untimed
        for name, (update, data) in updates.items():
            data = data()
            start = time.perf_counter()
            update(data)
            elapsed = time.perf_counter() - start
            if i:
                times[name].append(elapsed)
                print(f"  update {i}: {name:25s} {elapsed:6.2f} s", flush=True)
    med = {name: statistics.median(t) for name, t in times.items()}
    print("median s/update: " + ", ".join(f"{n} {s:.2f}" for n, s in med.items()))
    for ref in names[2:]:
        for name in names[:2]:
            print(f"{name} is {med[ref] / med[name]:.2f}x faster than the {ref}")


if __name__ == "__main__":
    main()
