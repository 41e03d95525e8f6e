"""FB training data: transitions of recorded episodes in the image encoder's state space.

Every frame is embedded once (s = psi(o), the same space as the goal psi(I*)), and batches
index the cached embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from genreward_cli.errors import BadInput
from genreward_cli.fb.trainer import Batch


@dataclass
class Transitions:
    """Cached embeddings and the index of every transition."""

    embeddings: list[np.ndarray]  # per episode: float32 [T+1, D]
    actions: list[np.ndarray]  # per episode: float32 [T, A]
    index: np.ndarray  # int64 [N, 2]: (episode, t)

    @classmethod
    def build(cls, embeddings, actions) -> "Transitions":
        index = np.concatenate([np.stack([np.full(len(a), e), np.arange(len(a))], 1)
                                for e, a in enumerate(actions)]).astype(np.int64)
        return cls(embeddings, actions, index)

    def __len__(self) -> int:
        return len(self.index)

    def tensors(self, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """obs [N, D], action [N, A], next_obs [N, D] on ``device``."""
        obs = np.concatenate([e[:-1] for e in self.embeddings])
        nxt = np.concatenate([e[1:] for e in self.embeddings])
        act = np.concatenate(self.actions)
        return (torch.from_numpy(obs).to(device), torch.from_numpy(act).to(device),
                torch.from_numpy(nxt).to(device))


def embed_episodes(files, encoder, on_episode: Callable[[int], None] = lambda n: None):
    """Embed every frame of every episode in ``files`` (open `episodes` artifacts)."""
    embeddings, actions = [], []
    for art in files:
        for k in art.groups():
            g = art.file[f"episodes/{k}"]
            embeddings.append(encoder.encode(g["image"][()]).astype(np.float32))
            actions.append(g["action"][()].astype(np.float32))
            on_episode(1)
    dims = {a.shape[1] for a in actions}
    if len(dims) != 1:
        raise BadInput(f"episodes have different action sizes: {sorted(dims)}")
    return Transitions.build(embeddings, actions)


class Sampler:
    """Uniform minibatches of transitions from tensors on the device."""

    def __init__(self, data: Transitions, device, generator: torch.Generator):
        self.obs, self.action, self.next_obs = data.tensors(device)
        self.generator = generator

    def __call__(self, batch_size: int) -> Batch:
        idx = torch.randint(0, self.obs.shape[0], (batch_size,), generator=self.generator)
        idx = idx.to(self.obs.device)
        return Batch(self.obs[idx], self.action[idx], self.next_obs[idx])
