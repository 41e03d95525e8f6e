"""DreamerV3 update cost: seconds per update (batch 16 x 64), env steps/s at a train ratio,
peak memory, replay bytes per step, and the update's FLOPs against the machine's matmul rate.

    .venv/bin/python bench/agent.py --preset tiny
    .venv/bin/python bench/agent.py --preset S --updates 3        # Table A sizes
    .venv/bin/python bench/agent.py --preset S --precision bf16   # mixed precision
    python bench/agent.py --preset S --device cuda
    python bench/agent.py --preset S --device cuda --compile      # eager against compiled
    python bench/agent.py --preset S --device cuda --compile graphs   # ... without Inductor
    .venv/bin/python bench/agent.py --preset tiny --fast          # plain layers against fast
    .venv/bin/python bench/agent.py --preset S --fast hot,loop    # plain against two paths

With ``--compile [MODE]``: an eager and a compiled trainer (``--agent compile=MODE``, `on`
by default, or `graphs`) from the same weights, their updates alternated on the same batches
in one process; prints each median, the ratio and the compiled step's one-off compile time,
and nothing else (no FLOP count). On CUDA it also counts the host syncs in one compiled update (and, with ``--acting``, in one
policy step) with ``torch.cuda.set_sync_debug_mode("warn")``.

With ``--acting`` (alone or with ``--compile``): the rest of an env step of train-agent,
each timed alone: a Meta-World step with its 64x64 render (pick-place-v3; skipped where
metaworld is not installed), the policy step (eager, and compiled with ``--compile``,
alternated), and sampling a batch from the host replay and from a copy on the device (the
one `train-agent --replay-device device` keeps); then env steps/s at the train ratio for each
path, from env + policy + sampling + the update's share (train_ratio / (batch * length)
updates per env step).

With ``--fast [PATHS]``: the same for a trainer with the plain layers (``--agent fast=off``)
and one with the fast paths ``PATHS`` (``--agent fast=PATHS``; default ``on``, all of them),
after one warm-up update each, the order of the two swapped at every update; prints each
median and the ratio.

The FLOP count and "fraction of peak" are those of fp32 (with --precision bf16 the fraction
can exceed 1). "Fraction of peak" divides the update's FLOP rate by the rate of a large fp32
matrix product measured in the same run (the machine's practical peak), so it is a ratio from
one run.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np
import torch

from genreward_cli import machine


def matmul_rate(device: str, n: int = 2048, repeat: int = 5) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeat):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * n ** 3 * repeat / (time.perf_counter() - start)


def main() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from genreward_cli.agent.agent import DreamerAgent, DreamerTrainer
    from genreward_cli.agent.config import preset
    from genreward_cli.agent.replay import Replay

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--device", default="cpu")
    p.add_argument("--updates", type=int, default=5)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--length", type=int, default=64)
    p.add_argument("--train-ratio", type=float, default=512)
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    p.add_argument("--compile", nargs="?", const="on", default=None, choices=("on", "graphs"),
                   metavar="MODE",
                   help="alternate eager and compiled updates (--agent compile=MODE: on, the "
                        "default, or graphs); print both medians")
    p.add_argument("--acting", action="store_true",
                   help="also time the env step, the policy step and batch sampling, and print "
                        "env steps/s at the train ratio")
    p.add_argument("--fast", nargs="?", const="on", default=None, metavar="PATHS",
                   help="alternate plain (fast=off) and fast (fast=PATHS, default on) updates; "
                        "print both medians and the ratio")
    a = p.parse_args()
    from genreward_cli.memory import keep_freed_memory

    kept = keep_freed_memory()  # as every genreward command does (GENREWARD_MALLOC=default: not)
    dev = a.device
    torch.manual_seed(0)
    config = preset(a.preset, precision=a.precision)
    agent = DreamerAgent(config, action_dim=4).to(dev)
    trainer = DreamerTrainer(agent)
    replay = Replay(2000, (64, 64, 3), 4)
    rng = np.random.default_rng(0)
    for t in range(600):
        replay.add(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8),
                   rng.uniform(-1, 1, 4).astype(np.float32), float(rng.random()), t % 256 == 0,
                   False)
    name = torch.cuda.get_device_name() if dev == "cuda" else machine.describe()
    n_params = sum(q.numel() for q in agent.parameters())
    print(f"# DreamerV3 preset {a.preset} on {dev} ({name}): {n_params / 1e6:.1f}M parameters, "
          f"batch {a.batch}x{a.length}, {a.precision}, "
          f"allocator: {'freed memory kept' if kept else 'glibc defaults'}")
    if a.precision == "bf16" and (line := machine.bf16_warning(dev)) is not None:
        print(f"# warning: {line}")
    if a.compile:
        return compare_compiled(a, agent, trainer, replay)
    if a.acting:
        trainer.update(replay.sample(a.batch, a.length, dev))  # warm-up
        median = statistics.median(update_seconds(trainer, replay.sample(a.batch, a.length, dev),
                                                  dev) for _ in range(a.updates))
        print(f"eager: {median * 1e3:.1f} ms per update (median of {a.updates})")
        return acting(a, {"eager": agent}, {"eager": median}, replay)
    if a.fast is not None:
        return compare_fast(a, agent, replay)
    batch = replay.sample(a.batch, a.length, dev)
    with FlopCounterMode(display=False) as counter:
        trainer.update(batch)  # also the warm-up
    flops = counter.get_total_flops()
    per_update = statistics.median(
        update_seconds(trainer, replay.sample(a.batch, a.length, dev), dev)
        for _ in range(a.updates))
    per_env_step = per_update * a.train_ratio / (a.batch * a.length)
    peak = matmul_rate(dev)
    print(f"update: {per_update:.3f} s (median of {a.updates}); {flops / 1e9:.1f} GFLOP per update "
          f"-> {flops / per_update / 1e9:.1f} GFLOP/s = {flops / per_update / peak:.1%} of the "
          f"{peak / 1e9:.0f} GFLOP/s fp32 matmul rate measured here")
    print(f"env steps/s at train ratio {a.train_ratio:g} (updates only): {1 / per_env_step:.2f}")
    if dev == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    else:
        print(f"peak process memory (RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    print(f"replay: {replay.nbytes_per_step} bytes per stored step (uint8 frames)")


def compare_compiled(a, agent, eager, replay) -> None:
    """Eager and compiled updates alternated on the same batches, from the same weights."""
    import copy
    import dataclasses

    from genreward_cli.agent.agent import DreamerAgent, DreamerTrainer

    dev = a.device
    config = dataclasses.replace(agent.config, compile=a.compile)
    twin = DreamerAgent(config, agent.action_dim, agent.behavior.b).to(dev)
    twin.load_state_dict(copy.deepcopy(agent.state_dict()))
    compiled = DreamerTrainer(twin)
    eager.update(replay.sample(a.batch, a.length, dev))  # warm-up
    # printed before compiling, in case the compilation runs out of time
    before = [update_seconds(eager, replay.sample(a.batch, a.length, dev), dev) for _ in range(3)]
    print(f"eager (before compiling): {statistics.median(before) * 1e3:.1f} ms per update "
          f"(median of 3)", flush=True)
    compiled.update(replay.sample(a.batch, a.length, dev))  # compiles
    sync(dev)
    print(f"compile time: {compiled.compile_seconds:.1f} s", flush=True)
    compiled.update(replay.sample(a.batch, a.length, dev))  # CUDA graphs: records here
    sync(dev)
    times = {"eager": [], "compiled": []}
    for _ in range(a.updates):
        batch = replay.sample(a.batch, a.length, dev)
        for name, trainer in (("eager", eager), ("compiled", compiled)):
            times[name].append(update_seconds(trainer, batch, dev))
    med = {k: statistics.median(v) for k, v in times.items()}
    how = ", ".join(f"{k} {v!r}" for k, v in config.compile_kwargs(torch.device(dev)).items())
    print(f"eager:    {med['eager'] * 1e3:.1f} ms per update (median of {a.updates})")
    print(f"compiled: {med['compiled'] * 1e3:.1f} ms per update (median of {a.updates}; "
          f"--agent compile={a.compile}: torch.compile {how})")
    print(f"ratio eager / compiled: {med['eager'] / med['compiled']:.2f}x")
    if dev == "cuda":  # a host sync inside the compiled step would cost a round trip each
        batch = replay.sample(a.batch, a.length, dev)
        syncs = host_syncs(lambda: compiled.update(batch))
        print(f"host syncs in one compiled update (torch.cuda.set_sync_debug_mode): "
              f"{len(syncs)}" + (f"; first: {syncs[0]}" if syncs else ""))
    print(f"compile time: {compiled.compile_seconds:.1f} s (the first compiled update, "
          f"compilation included; CUDA graphs are recorded at the second)")
    if dev == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    print(f"machine: {machine.describe()}" + (f"; GPU: {torch.cuda.get_device_name()}"
                                              if dev == "cuda" else ""))
    if a.acting:
        acting(a, {"eager": agent, "compiled": twin}, med, replay)


def host_syncs(fn) -> list[str]:
    """The synchronising CUDA calls ``fn`` makes, as ``torch.cuda.set_sync_debug_mode("warn")``
    reports them (the first line of each warning)."""
    import warnings

    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    return [str(w.message).splitlines()[0] for w in caught]


def sync(dev: str) -> None:
    if dev == "cuda":
        torch.cuda.synchronize()


def update_seconds(trainer, batch, dev: str) -> float:
    """Seconds of one update on ``batch`` (synchronised on CUDA); its loss is then read back,
    as a log line would, outside the time."""
    sync(dev)
    start = time.perf_counter()
    metrics = trainer.update(batch)
    sync(dev)
    seconds = time.perf_counter() - start
    float(metrics["train/loss"])
    return seconds


def timed(fn, repeat: int, dev: str) -> list[float]:
    """Seconds of each of ``repeat`` calls of ``fn`` (synchronised on CUDA)."""
    out = []
    for _ in range(repeat):
        sync(dev)
        start = time.perf_counter()
        fn()
        sync(dev)
        out.append(time.perf_counter() - start)
    return out


def env_step_seconds(steps: int = 200) -> float | None:
    """Median seconds of one pick-place-v3 step with its 64x64 render, as train-agent steps
    the env (None where metaworld is not installed)."""
    try:
        from genreward_cli.envs import EnvConfig, make_env

        env = make_env(EnvConfig(task="pick-place-v3"))
        env.reset(seed=0)
    except Exception as e:  # metaworld or an offscreen GL library missing on this machine
        print(f"env step: not measured ({type(e).__name__}: {e})".splitlines()[0])
        return None
    rng = np.random.default_rng(0)
    times = []
    for t in range(steps):
        action = rng.uniform(-1, 1, 4).astype(np.float32)
        start = time.perf_counter()
        _, _, _, last, _ = env.step(action)
        times.append(time.perf_counter() - start)
        if last:
            env.reset(seed=t)
    env.close()
    return statistics.median(times)


def acting(a, agents: dict, update_s: dict, replay) -> None:
    """Per env step: env step, policy step of each agent in ``agents`` (alternated), batch
    sampling from the host and from a device copy; env steps/s at the train ratio with each
    agent's update time ``update_s[name]`` (seconds)."""
    from genreward_cli.agent.replay import Replay

    dev = a.device
    frame = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    states = {name: None for name in agents}
    generator = torch.Generator(device=dev).manual_seed(0)

    def step(name):
        first = np.array([states[name] is None])
        _, states[name] = agents[name].policy(frame, first, states[name], generator=generator)

    for name in agents:  # warm-up: compiles, and records a CUDA graph at the second call
        for _ in range(3):
            step(name)
    policy = {name: [] for name in agents}
    for i in range(20 * a.updates):
        for name in (list(agents) if i % 2 == 0 else list(agents)[::-1]):
            policy[name] += timed(lambda: step(name), 1, dev)
    policy = {k: statistics.median(v) for k, v in policy.items()}
    for name, seconds in policy.items():
        print(f"policy step ({name}): {seconds * 1e3:.2f} ms (median of {20 * a.updates})")
    if dev == "cuda":  # one is inherent: the action goes back to the host for the env
        for name in agents:
            syncs = host_syncs(lambda: step(name))
            print(f"host syncs in one policy step ({name}): {len(syncs)}"
                  + (f"; first: {syncs[0]}" if syncs else ""))
    host = statistics.median(timed(lambda: replay.sample(a.batch, a.length, dev), 20, dev))
    mirror = Replay(replay.capacity, replay.image.shape[1:], replay.action.shape[1])
    mirror.load_state_dict(replay.state_dict())
    mirror.keep_on(dev)
    mirror.sample(a.batch, a.length, dev)  # copies the stored steps over
    on_device = statistics.median(timed(lambda: mirror.sample(a.batch, a.length, dev), 20, dev))
    print(f"batch {a.batch}x{a.length}: {host * 1e3:.2f} ms from the host replay, "
          f"{on_device * 1e3:.2f} ms from its copy on {dev} (medians of 20)")
    env = env_step_seconds()
    if env is not None:
        print(f"env step (pick-place-v3, 64x64 render): {env * 1e3:.2f} ms (median of 200)")
    per_step = a.train_ratio / (a.batch * a.length)
    sample = min(host, on_device)
    for name in agents:
        total = (env or 0.0) + policy[name] + per_step * (update_s[name] + sample)
        print(f"{name}: {total * 1e3:.1f} ms per env step = {1 / total:.2f} env steps/s at "
              f"train ratio {a.train_ratio:g} (env {'%.2f' % ((env or 0) * 1e3)} + policy "
              f"{policy[name] * 1e3:.2f} + {per_step:g} x (update {update_s[name] * 1e3:.1f} + "
              f"sample {sample * 1e3:.2f}) ms" + ("" if env is not None else ", env not counted")
              + ")")


def compare_fast(a, agent, replay) -> None:
    """Updates with the plain layers and with the fast paths ``a.fast``, alternated on the
    same batches, from the same weights."""
    import copy
    import dataclasses

    from genreward_cli.agent.agent import DreamerAgent, DreamerTrainer

    dev = a.device
    trainers = {}
    for name, fast in (("plain", "off"), ("fast", a.fast)):
        twin = DreamerAgent(dataclasses.replace(agent.config, fast=fast), agent.action_dim,
                            agent.behavior.b).to(dev)
        twin.load_state_dict(copy.deepcopy(agent.state_dict()))
        trainers[name] = DreamerTrainer(twin)
        trainers[name].update(replay.sample(a.batch, a.length, dev))  # warm-up
    times = {name: [] for name in trainers}
    for i in range(a.updates):
        batch = replay.sample(a.batch, a.length, dev)
        for name in (("plain", "fast") if i % 2 == 0 else ("fast", "plain")):
            times[name].append(update_seconds(trainers[name], batch, dev))
    med = {k: statistics.median(v) for k, v in times.items()}
    paths = ",".join(sorted(trainers["fast"].agent.config.fast_paths()))
    print(f"plain (fast=off): {med['plain'] * 1e3:.1f} ms per update (median of {a.updates})")
    print(f"fast (fast={a.fast}: {paths}): {med['fast'] * 1e3:.1f} ms per update "
          f"(median of {a.updates})")
    print(f"ratio plain / fast: {med['plain'] / med['fast']:.2f}x")
    print(f"machine: {machine.describe()}" + (f"; GPU: {torch.cuda.get_device_name()}"
                                              if dev == "cuda" else ""))


if __name__ == "__main__":
    main()
