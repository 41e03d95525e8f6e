"""FB updates per second at Table A sizes (obs 384, d 512, hidden 512, 4-d actions).

    .venv/bin/python bench/fb.py                 # CPU
    python bench/fb.py --device cuda             # GPU

Batches: 1024 transitions (FB's usual batch) and 16 x 64 = 1024 transitions laid out as one
DreamerV3 replay batch (the same count; listed because train-agent trains FB on those).
"""

from __future__ import annotations

import argparse
import statistics
import time

from genreward_cli import machine


def main() -> None:
    import torch

    from genreward_cli.fb.model import FBConfig
    from genreward_cli.fb.trainer import Batch, FBTrainConfig, FBTrainer, make_model

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cpu")
    p.add_argument("--updates", type=int, default=10)
    p.add_argument("--objective", default="standard")
    a = p.parse_args()
    dev = a.device
    model = make_model(FBConfig(), device=dev)
    n_params = sum(q.numel() for q in model.parameters())
    name = torch.cuda.get_device_name() if dev == "cuda" else machine.describe()
    print(f"# FB at Table A sizes on {dev} ({name}): {n_params:,} parameters, {a.objective}")
    for label, shape in (("batch 1024", (1024,)), ("batch 16x64", (16, 64)), ("batch 256", (256,))):
        n = 1
        for s in shape:
            n *= s
        trainer = FBTrainer(model, FBTrainConfig(batch_size=n, objective=a.objective))
        batch = Batch(torch.randn(n, 384, device=dev), torch.rand(n, 4, device=dev) * 2 - 1,
                      torch.randn(n, 384, device=dev))
        goal = torch.randn(384, device=dev)
        trainer.update(batch, goal_embedding=goal)  # warm-up
        times = []
        for _ in range(a.updates):
            if dev == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            trainer.update(batch, goal_embedding=goal)
            if dev == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        med = statistics.median(times)
        print(f"{label:12s} {1 / med:8.1f} updates/s ({med * 1000:.1f} ms/update, "
              f"{n / med:,.0f} transitions/s)")


if __name__ == "__main__":
    main()
