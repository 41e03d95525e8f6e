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
