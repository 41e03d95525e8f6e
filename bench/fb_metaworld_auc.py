"""Does the FB reward (eq. 9) point at the goal on Meta-World? Expert vs random steps.

Through the CLI, on tiny presets (random-weight DINOv3 features) on a CPU:
expert and random episodes of a task; the goal frame is the last frame of the first expert
episode (a successful end state); train-fb on the other episodes; then the FB reward of every
step. Reported: the ROC-AUC of "expert step within the last --near steps of its episode"
against "random step" (1.0 = the reward separates them perfectly, 0.5 = chance).

    .venv/bin/python bench/fb_metaworld_auc.py [--task pick-place-v3] [--steps 3000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def gr(*args):
    cmd = [sys.executable, "-m", "genreward_cli", *map(str, args)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    import torch

    from genreward_cli import store
    from genreward_cli.fb.io import read_model
    from genreward_cli.metrics import auc

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--task", default="pick-place-v3")
    p.add_argument("--episodes", type=int, default=8)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--near", type=int, default=64)
    p.add_argument("--objective", default="standard")
    p.add_argument("--workdir", default=None)
    a = p.parse_args()
    d = Path(a.workdir or tempfile.mkdtemp(prefix="fb-auc-"))
    d.mkdir(parents=True, exist_ok=True)
    gr("collect", "--task", a.task, "--policy", "expert", "--episodes", a.episodes + 1,
       "--workers", 2, "--out", d / "expert.h5", "--force")
    gr("collect", "--task", a.task, "--policy", "random", "--episodes", a.episodes, "--workers", 2,
       "--seed", 1, "--out", d / "random.h5", "--force")
    gr("select-frame", d / "expert.h5", "--episode", 0, "--frame-index", 256, "--clip-model",
       "tiny", "--out", d / "goal_frame.h5", "--force")
    gr("encode-goal", d / "expert.h5", d / "goal_frame.h5", "--episode", 0, "--vae", "tiny",
       "--image-encoder", "tiny", "--out", d / "goal.h5", "--force")
    gr("train-fb", d / "random.h5", d / "expert.h5", d / "goal.h5", "--steps", a.steps,
       "--z-dim", 64, "--hidden-dim", 256, "--batch-size", 512, "--objective", a.objective,
       "--out", d / "fb.h5", "--force")
    with store.open_artifact(d / "fb.h5", "fb") as art:
        model = read_model(art)
        goal = torch.from_numpy(art.file["goal_embedding"][()])
        emb = [art.file[f"cache/embeddings/{k}"][()] for k in sorted(art.file["cache/embeddings"])]
    # cache order = input order: random episodes, then expert episodes
    actions = []
    for name in ("random.h5", "expert.h5"):
        with store.open_artifact(d / name, "episodes") as art:
            actions += [art.file[f"episodes/{k}/action"][()] for k in art.groups()]
    rewards = [model.reward(torch.from_numpy(e[:-1]), torch.from_numpy(act), goal).numpy()
               for e, act in zip(emb, actions)]
    rand = np.concatenate(rewards[: a.episodes])
    expert = rewards[a.episodes + 1:]  # skip the episode the goal frame came from
    near = np.concatenate([r[-a.near:] for r in expert])
    print(f"# {a.task}: {a.episodes} expert + {a.episodes} random episodes, tiny DINOv3, "
          f"{a.objective} FB, {a.steps} updates; goal = last frame of a held-out expert episode")
    print(f"mean r_FB: expert last {a.near} steps {near.mean():.3f}, expert all "
          f"{np.concatenate(expert).mean():.3f}, random {rand.mean():.3f}")
    print(f"AUC (expert near goal vs random): {auc(near, rand):.3f}")
    print(f"AUC (all expert steps vs random): {auc(np.concatenate(expert), rand):.3f}")


if __name__ == "__main__":
    main()
