"""Small MDPs with closed-form successor measures, to verify the FB learner.

M^pi(s, a, s') = sum_t gamma^t Pr(s_{t+1} = s' | s_0 = s, a_0 = a) = [P (I - gamma P_pi)^{-1}]
with P the [S*A, S] transition matrix and P_pi[s, s'] = sum_a pi(a|s) P(s'|s, a).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TabularMDP:
    P: np.ndarray  # [S, A, S] transition probabilities
    pi: np.ndarray  # [S, A] a fixed policy

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        return self.P.shape[1]

    def successor_measure(self, gamma: float) -> np.ndarray:
        """M^pi as [S, A, S]."""
        S, A = self.n_states, self.n_actions
        p_pi = np.einsum("sa,sat->st", self.pi, self.P)
        inv = np.linalg.inv(np.eye(S) - gamma * p_pi)
        return (self.P.reshape(S * A, S) @ inv).reshape(S, A, S)

    def sample(self, rng: np.random.Generator, n: int):
        """n transitions with (s, a) uniform, s' ~ P, and a' ~ pi(.|s') for the target."""
        S, A = self.n_states, self.n_actions
        s = rng.integers(0, S, n)
        a = rng.integers(0, A, n)
        cum = self.P[s, a].cumsum(-1)
        s2 = (rng.random((n, 1)) > cum).sum(-1)
        a2 = (rng.random((n, 1)) > self.pi[s2].cumsum(-1)).sum(-1)
        return s, a, np.minimum(s2, S - 1), np.minimum(a2, A - 1)

    def next_state_marginal(self) -> np.ndarray:
        """rho_next(s'): the next-state distribution of uniform (s, a)."""
        return self.P.mean(axis=(0, 1))


def random_mdp(rng: np.random.Generator, states: int = 12, actions: int = 3,
               concentration: float = 0.5) -> TabularMDP:
    P = rng.dirichlet(np.full(states, concentration), size=(states, actions))
    pi = rng.dirichlet(np.ones(actions), size=states)
    return TabularMDP(P, pi)


def gridworld(size: int = 5, slip: float = 0.0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A size x size grid, actions stay/up/down/left/right; walls keep the agent in place.

    Returns:
        P [S, 5, S] and the (row, col) of each state.
    """
    cells = [(r, c) for r in range(size) for c in range(size)]
    moves = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)]
    S = len(cells)
    P = np.zeros((S, len(moves), S))
    for s, (r, c) in enumerate(cells):
        for a, (dr, dc) in enumerate(moves):
            rr, cc = min(max(r + dr, 0), size - 1), min(max(c + dc, 0), size - 1)
            P[s, a, rr * size + cc] += 1.0 - slip
            P[s, a, s] += slip
    return P, cells


def train_gridworld(objective: str, steps: int, seed: int = 0, size: int = 5):
    """FB on uniform transitions of the gridworld (one-hot states, d 32); ``paper-eq8`` is
    given the bottom-right cell as its goal. Returns (model, P)."""
    import torch

    from genreward_cli.fb.model import FBConfig
    from genreward_cli.fb.trainer import Batch, FBTrainConfig, FBTrainer, make_model

    P, _ = gridworld(size)
    S, A = P.shape[:2]
    rng = np.random.default_rng(seed)
    eye = torch.eye(S)
    model = make_model(FBConfig(obs_dim=S, action_dim=0, discrete_actions=A, z_dim=32,
                                hidden_dim=128, layers=2), seed=seed)
    trainer = FBTrainer(model, FBTrainConfig(lr=1e-3, gamma=0.9, batch_size=256,
                                             objective=objective), seed)
    for _ in range(steps):
        s, a = rng.integers(0, S, 256), rng.integers(0, A, 256)
        trainer.update(Batch(eye[s], torch.from_numpy(a), eye[P[s, a].argmax(-1)]),
                       goal_embedding=eye[S - 1])
    return model, P


def goal_success(model, P: np.ndarray, size: int = 5) -> float:
    """Fraction of (start, goal) pairs where acting greedily on F(s,a,B(g))^T B(g) reaches g
    within 2 x size steps."""
    import torch

    S = P.shape[0]
    eye = torch.eye(S)
    hits = total = 0
    with torch.no_grad():
        for goal in range(S):
            z = model.backward_map(eye[[goal]])
            for start in range(S):
                if start == goal:
                    continue
                s, total = start, total + 1
                for _ in range(2 * size):
                    s = int(P[s, int(model.act(eye[[s]], z)[0])].argmax())
                    if s == goal:
                        hits += 1
                        break
    return hits / total
