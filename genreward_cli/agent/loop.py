"""DreamerV3's training loop apart from any environment: Table A's replay and train ratio
(``LoopConfig``), the loop's counters (``LoopState``), how it acts (``Acting``), when it
updates (``update_at_ratio``) and what a checkpoint holds (``checkpoint_state``, ``restore``).

Updates per env step = train_ratio / (batch * length): with Table A's ratio 512 and 16 x 64
batches, one update every two env steps. The first ``prefill`` steps use random actions.

Acting draws from the loop's own generators, saved in ``LoopState``, so that a run resumed
from a checkpoint draws what the uninterrupted run would. The episode loop that drives an
environment with these pieces (episode seeds, the env's and the reward model's state in a run
stopped mid-episode) is ``genreward_cli.stages.acting``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np

from genreward_cli.config import option

if TYPE_CHECKING:
    from genreward_cli.agent.agent import DreamerAgent, DreamerTrainer
    from genreward_cli.agent.replay import Replay


@dataclass(frozen=True)
class LoopConfig:
    """How the agent trains: Table A's replay and train ratio."""

    steps: int = option(10_000, "Env steps to train for (the total: a resumed run counts on).",
                        minimum=1)
    train_ratio: float = option(512.0, "Replayed steps per env step (Table A: 512).", above=0)
    batch: int = option(16, "Sequences per update (Table A: 16).", minimum=1)
    length: int = option(64, "Steps per sequence (Table A: 64).", minimum=2)
    prefill: int = option(5000, "Env steps of random actions before training starts.", minimum=0)
    capacity: int = option(1_000_000, "Replay capacity in steps (Table A: 1e6).", minimum=2)
    replay_device: str = option(
        "auto", "Where batches are gathered: `device` (a uint8 copy of the replay in the agent "
        "device's memory, updated as steps are added, so that batches do not cross PCIe at each "
        "update), `host`, or `auto` (`device` on a GPU with room for the whole capacity in half "
        "its free memory, else `host`). The same batches either way.",
        choices=("auto", "device", "host"))

    def __post_init__(self):
        # an update replays --length steps in a row: a smaller replay never holds one, and
        # the first update would fail deep inside the loop
        if self.capacity < self.length:
            from genreward_cli.errors import BadInput

            raise BadInput(f"--capacity {self.capacity}: the replay must hold one --length "
                           f"{self.length} sequence; give at least {self.length}")


@dataclass
class LoopState:
    """The loop's counters and generators, as a checkpoint keeps them (``asdict``): env steps
    and finished episodes so far, the fraction of an update owed (``update_at_ratio``), the
    run's seed, and ``Acting``'s generator states (numpy's bit-generator state dict, torch's
    uint8 state tensor; empty and None until first saved)."""

    step: int = 0
    episode: int = 0
    owed: float = 0.0
    seed: int = 0
    np_rng: dict = field(default_factory=dict)
    act_rng: object = None
    # a run stopped mid-episode: the episode so far (its last observation, the agent's
    # recurrent state and previous action, its sums, the env's and the reward's state);
    # None at an episode boundary
    partial: dict | None = None


class Acting:
    """How the loop picks actions: uniform in [-1, 1]^A during the prefill (numpy generator),
    then samples of the agent's policy (torch generator on the agent's device). Both start
    from ``state.seed`` for a new run, or from the states a checkpoint saved in ``state``."""

    def __init__(self, agent: DreamerAgent, state: LoopState):
        import torch

        self.agent = agent
        if state.act_rng is None:  # a new run
            self.rng = np.random.default_rng(state.seed)
            self.act_rng = torch.Generator(device=agent.device).manual_seed(state.seed)
        else:
            self.rng = np.random.default_rng()
            self.rng.bit_generator.state = state.np_rng
            self.act_rng = torch.Generator(device=agent.device)
            self.act_rng.set_state(state.act_rng.cpu())

    def act(self, image: np.ndarray, is_first: bool, latent, random: bool):
        """One action, float32 [A] in [-1, 1], for the frame ``image`` (uint8 [H, W, 3]) and
        the next recurrent state (``latent``, from the previous call: (RSSM state, previous
        action), or None at an episode's start; unchanged by a ``random`` action)."""
        if random:
            return self.rng.uniform(-1, 1, self.agent.action_dim).astype(np.float32), latent
        actions, latent = self.agent.policy(image[None], np.array([bool(is_first)]), latent,
                                            generator=self.act_rng)
        return actions[0], latent

    def save(self, state: LoopState) -> LoopState:
        """``state`` with the generators' states as they are now."""
        state.np_rng = self.rng.bit_generator.state
        state.act_rng = self.act_rng.get_state()
        return state


def latent_to(latent, device):
    """The recurrent acting state (RSSM state dict of tensors, previous action tensor) moved
    to ``device``; None (an episode's start) stays None."""
    if latent is None:
        return None
    rssm, action = latent
    return {k: v.to(device) for k, v in rssm.items()}, action.to(device)


def update_at_ratio(trainer: DreamerTrainer, replay: Replay, state: LoopState,
                    config: LoopConfig, device, on_update: Callable[[dict], None]) -> None:
    """The updates owed once env step ``state.step`` is counted: none during the prefill or
    while the replay holds less than one sequence, then ``train_ratio / (batch * length)``
    per step, the whole ones run now on batches sampled to ``device`` (each update's metrics
    to ``on_update``) and the fraction carried in ``state.owed``."""
    if state.step >= config.prefill and len(replay) >= config.length:
        state.owed += config.train_ratio / (config.batch * config.length)
        while state.owed >= 1.0:
            state.owed -= 1.0
            on_update(trainer.update(replay.sample(config.batch, config.length, device)))


def checkpoint_state(trainer: DreamerTrainer, replay: Replay, state: LoopState,
                     config: LoopConfig, extra: dict | None = None) -> dict:
    """What a checkpoint holds, for ``torch.save``: weights and optimisers, the replay's
    stored steps, the loop's state and config, the process-wide RNG states (Python's, numpy's,
    torch's) and the caller's ``extra`` state."""
    return {"trainer": trainer.state_dict(), "replay": replay.state_dict(),
            "loop": asdict(state), "config": asdict(config), "rng": global_rng_state(),
            "extra": extra or {}}


def restore(data: dict, trainer: DreamerTrainer, replay: Replay) -> tuple[LoopState, dict]:
    """Load ``checkpoint_state``'s ``data`` into ``trainer``, ``replay`` and the global RNGs;
    return the loop state and the ``extra`` dict (empty if the checkpoint has none)."""
    trainer.load_state_dict(data["trainer"])
    replay.load_state_dict(data["replay"])
    if "rng" in data:
        set_global_rng_state(data["rng"])
    return LoopState(**data["loop"]), data.get("extra", {})


def global_rng_state() -> dict:
    """The states of the process-wide generators (Python's, numpy's, torch's CPU and CUDA)."""
    import random

    import torch

    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None}


def set_global_rng_state(state: dict) -> None:
    """Restore ``global_rng_state``; the CUDA states only onto as many devices as saved them."""
    import random

    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
