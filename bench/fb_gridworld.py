"""Goal reaching in a 5x5 gridworld with the two FB objectives, measured in one run.

Acting greedily on F(s, a, B(g))^T B(g), the fraction of (start, goal) pairs that reach the
goal within 10 steps; `paper-eq8` is trained with the bottom-right cell as its goal.

    .venv/bin/python bench/fb_gridworld.py [--steps 1000]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    import torch

    from genreward_cli.fb.tabular import goal_success, train_gridworld

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--seeds", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(2)
    import numpy as np

    from genreward_cli.fb.tabular import gridworld

    P, _ = gridworld(5)
    rng = np.random.default_rng(0)
    hits = total = 0
    for goal in range(25):
        for start in range(25):
            if start == goal:
                continue
            s, total = start, total + 1
            for _ in range(10):
                s = int(P[s, rng.integers(0, 5)].argmax())
                if s == goal:
                    hits += 1
                    break
    print(f"random actions: success {hits / total:.3f} (chance level)")
    print(f"# 5x5 gridworld, {a.steps} updates, batch 256, d 32; success over 600 start-goal pairs")
    for objective in ("standard", "paper-eq8"):
        rates = []
        start = time.perf_counter()
        for seed in range(a.seeds):
            model, P = train_gridworld(objective, a.steps, seed=seed)
            rates.append(goal_success(model, P))
        if not rates:
            continue
        print(f"{objective:10s} success {sum(rates) / len(rates):.3f} "
              f"(seeds: {', '.join(f'{r:.3f}' for r in rates)}; {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
