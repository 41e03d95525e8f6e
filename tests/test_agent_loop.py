import math

import numpy as np
import pytest
import torch

from genreward_cli.agent.agent import DreamerAgent, DreamerTrainer
from genreward_cli.agent.behavior import BehaviorConfig
from genreward_cli.agent.config import preset
from genreward_cli.agent.loop import LoopConfig
from genreward_cli.agent.replay import Replay
from genreward_cli.envs.dummy import DotEnv
from genreward_cli.stages.acting import load_checkpoint, save_checkpoint, train as run

CONFIG = LoopConfig(steps=120, train_ratio=32, batch=4, length=8, prefill=40, capacity=500)


def make(seed=0):
    torch.manual_seed(seed)
    agent = DreamerAgent(preset("tiny"), action_dim=2, behavior=BehaviorConfig(horizon=5))
    return agent, DreamerTrainer(agent, seed=seed), Replay(CONFIG.capacity, (64, 64, 3), 2, seed)


def test_tiny_dreamer_runs_its_loop_at_the_train_ratio():
    """Prefill, then act and update: the number of updates follows the train ratio."""
    agent, trainer, replay = make()
    episodes, updates = [], []
    run(DotEnv(size=64, max_steps=20), agent, trainer, replay, CONFIG,
        on_episode=episodes.append, on_update=updates.append)
    assert len(episodes) == 6 and all(e["episode/length"] == 20 for e in episodes)
    # 81 steps from the end of prefill at 32 / (4 * 8) = 1 update per step
    assert trainer.updates == 81 == len(updates)
    assert all(math.isfinite(v) for m in updates for v in m.values())
    assert {"train/image", "train/actor", "train/critic", "train/return"} <= set(updates[-1])
    assert replay.image.dtype == np.uint8 and len(replay) == 6 * 21  # a reset frame + 20 steps
    actions, _ = agent.policy(np.zeros((3, 64, 64, 3), np.uint8), np.ones(3, bool))
    assert actions.shape == (3, 2) and np.abs(actions).max() <= 1


def test_a_resumed_logger_drops_what_the_stopped_run_logged_after_its_checkpoint(tmp_path):
    """A run checkpointed at step 20 and killed at 40 logs 30 and 40 again when resumed:
    metrics.jsonl and TensorBoard then hold each step once (rows were duplicated)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from genreward_cli.agent.logger import MetricsLogger, read_jsonl

    log = MetricsLogger(tmp_path)
    for step in (10, 20, 30, 40):
        log.write(step, {"train/loss": float(step)})
    log.close()
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 50, "train/lo')  # a row cut off by the kill
    log = MetricsLogger(tmp_path, resume_step=20)
    for step in (30, 40):
        log.write(step, {"train/loss": step + 0.5})
    log.close()
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [(r["step"], r["train/loss"]) for r in rows] == [
        (10, 10.0), (20, 20.0), (30, 30.5), (40, 40.5)]
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [
        (10, 10.0), (20, 20.0), (30, 30.5), (40, 40.5)]


@pytest.mark.slow  # the mid-episode stops below check the same, faster
def test_resume_continues_exactly(tmp_path):
    """Train 120 steps; or train 60, checkpoint, rebuild everything, resume to 120: the same
    losses and the same final weights."""
    agent, trainer, replay = make()
    straight = []
    run(DotEnv(size=64, max_steps=20), agent, trainer, replay, CONFIG, on_update=straight.append)

    agent1, trainer1, replay1 = make()
    first = []
    half = LoopConfig(**{**CONFIG.__dict__, "steps": 60})
    ckpt = tmp_path / "agent.pt"
    run(DotEnv(size=64, max_steps=20), agent1, trainer1, replay1, half, on_update=first.append,
        on_checkpoint=lambda s: save_checkpoint(ckpt, trainer1, replay1, s, half))
    del agent1, trainer1, replay1
    agent2, trainer2, replay2 = make(seed=123)  # fresh objects; the checkpoint restores all
    state = load_checkpoint(ckpt, trainer2, replay2)
    assert state.step == 60 and state.episode == 3
    second = []
    run(DotEnv(size=64, max_steps=20), agent2, trainer2, replay2, CONFIG, state=state,
        on_update=second.append)
    assert len(first) + len(second) == len(straight)
    assert first + second == straight
    for (k, a), b in zip(agent.state_dict().items(), agent2.state_dict().values()):
        assert torch.equal(a, b), k


def test_metrics_logger_writes_jsonl_and_tensorboard(tmp_path):
    from genreward_cli.agent.logger import MetricsLogger, read_jsonl

    log = MetricsLogger(tmp_path)
    log.write(10, {"train/loss": 1.5, "episode/return": 3.0})
    log.write(20, {"train/loss": float("nan")})
    log.close()
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert rows[0] == {"step": 10, "train/loss": 1.5, "episode/return": 3.0}
    assert rows[1]["step"] == 20 and math.isnan(rows[1]["train/loss"])
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.slow
@pytest.mark.parametrize("precision,compile", [
    ("fp32", "off"), ("bf16", "off"),
    # Inductor takes tens of minutes on a CPU to compile an update whose 32 filtering and 15
    # imagination steps are unrolled (bench/RESULTS.md, compiled updates)
    pytest.param("fp32", "on", marks=pytest.mark.skipif(
        not torch.cuda.is_available(), reason="compiling the update takes too long on a CPU"))])
def test_dreamer_learns_the_dot_task(precision, compile):
    """bench/agent_dot.py's agent: after 4000 env steps (~1500 updates, ~10 min on 2 cores)
    the mean return of the last 20 episodes exceeds 30 (random play ~10, optimum ~50), in
    fp32 and in bf16 mixed precision, and (on a GPU) with the compiled update and policy
    step."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from agent_dot import train_dot

    returns = train_dot(4000, precision=precision, compile=compile,
                        device="cuda" if compile == "on" else "cpu")
    assert np.mean(returns[-20:]) > 30, returns[-20:]


# 60 steps of 20-step episodes, prefill 20: 40 updates
SHORT = LoopConfig(steps=60, train_ratio=32, batch=4, length=8, prefill=20, capacity=500)


@pytest.fixture(scope="module")
def straight_run():
    """One run of 60 steps with 20-step episodes: its episodes, updates and agent."""
    agent, trainer, replay = make()
    episodes, updates = [], []
    state = run(DotEnv(size=64, max_steps=20), agent, trainer, replay, SHORT,
                on_episode=episodes.append, on_update=updates.append)
    assert state.partial is None and len(episodes) == 3  # 60 steps end the third episode
    return episodes, updates, agent


@pytest.mark.parametrize("stop", [10, 50])
def test_resume_mid_episode_continues_exactly(straight_run, tmp_path, stop):
    """Stop mid-episode (step 10: half-way through the first episode, during the random
    prefill; step 50: half-way through the third, the agent acting), checkpoint, rebuild
    everything, resume to 60: the episode in progress goes on where it stopped, and the
    episodes, losses and weights are those of the run that never stopped."""
    episodes, updates, agent = straight_run
    agent1, trainer1, replay1 = make()
    first_eps, first = [], []
    part = LoopConfig(**{**SHORT.__dict__, "steps": stop})
    state = run(DotEnv(size=64, max_steps=20), agent1, trainer1, replay1, part,
                on_episode=first_eps.append, on_update=first.append)
    assert state.step == stop and state.episode == stop // 20
    assert state.partial["length"] == 10 and (state.partial["latent"] is None) == (stop < 20)
    ckpt = save_checkpoint(tmp_path / "agent.pt", trainer1, replay1, state, part)
    del agent1, trainer1, replay1
    agent2, trainer2, replay2 = make(seed=123)  # fresh objects; the checkpoint restores all
    resumed = load_checkpoint(ckpt, trainer2, replay2)
    assert resumed.partial["length"] == 10
    second_eps, second = [], []
    run(DotEnv(size=64, max_steps=20), agent2, trainer2, replay2, SHORT, state=resumed,
        on_episode=second_eps.append, on_update=second.append)
    assert first_eps + second_eps == episodes  # lengths 20, the same returns and steps
    assert first + second == updates
    for (k, a), b in zip(agent.state_dict().items(), agent2.state_dict().values()):
        assert torch.equal(a, b), k
    assert len(replay2) == 3 * 21  # the interrupted episode was not reset a second time
