"""Training FB: target networks, optimisers and the two objectives.

``standard`` (the default) is the FB Bellman residual of Touati & Ollivier:

    L = 1/2 E_{(s,a,s'), s''~rho} [(F(s,a,z)^T B(s'') - gamma Fbar(s',pi_z(s'),z)^T Bbar(s''))^2]
        - E_{(s,a,s')} [F(s,a,z)^T B(s')]

whose minimiser satisfies F^T B = M^{pi_z} / rho. With ``goals=None``, s'' are the next states
of the *other* transitions of the batch (the off-diagonal trick), so rho is the next-state
marginal of the data; tests also pass goals drawn from a chosen rho.

``paper-eq8`` is eq. 8 as printed: B is applied only to the goal embedding psi(I*),

    L = E[(F(s,a,z)^T B(g) - gamma Fbar(s',pi_z(s'),z)^T Bbar(g))^2] - 2 E[F(s,a,z)^T B(g)].

Its stationary point is v = 1 + gamma vbar' on every transition (v = F^T B(g)): the linear
term pays 1 on every step, not only at g, so v tends to 1/(1 - gamma) whatever (s, a) and
r_FB becomes a constant bonus (``tests/test_fb.py::test_paper_eq8_as_printed_learns_a_constant``);
it does not learn a successor measure. Both add the orthonormality loss
||E_rho[B B^T] - I||^2 (supplement A) on B of replay states, estimated without bias as
E_{i!=j}[(B_i^T B_j)^2] - 2 E_i[B_i^T B_i] + const.

z is drawn from a Gaussian projected on the sqrt(d) sphere, half of the batch relabelled with
B of replay states (goal relabelling). The actor (continuous actions) maximises
min_k F_k(s, pi(s,z), z)^T z, TD3-style; targets use clipped Gaussian action noise.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch

from genreward_cli.config import option
from genreward_cli.fb.model import FBConfig, FBModel, sphere

OBJECTIVES = ("standard", "paper-eq8")


@dataclass(frozen=True)
class FBTrainConfig:
    """FB optimisation; defaults from the paper's Table A where it gives them."""

    lr: float = option(1e-4, "Adam learning rate for F, B and the actor (Table A).", above=0)
    tau: float = option(0.01, "Target-network soft-update rate (Table A).", minimum=0,
                        maximum=1)
    gamma: float = option(0.98, "Discount of the successor measure.", minimum=0, maximum=1)
    batch_size: int = option(1024, "Transitions per update.", minimum=2)
    ortho_coef: float = option(1.0, "Weight of the orthonormality loss.", minimum=0)
    relabel: float = option(0.5, "Fraction of z taken from B of replay states.", minimum=0,
                            maximum=1)
    objective: str = option("standard", "`standard`: FB Bellman residual with B on replay next "
                            "states; `paper-eq8`: eq. 8 as printed, B only on the goal.",
                            choices=OBJECTIVES)
    target_noise: float = option(0.2, "Std of the target policy's action noise (continuous).",
                                 minimum=0)
    noise_clip: float = option(0.5, "Clip of that noise.", minimum=0)


def orthonormality_loss(b: torch.Tensor) -> torch.Tensor:
    """Unbiased estimate of ||E[B B^T] - I||^2 - d from B of N states [N, d]:
    E_{i!=j}[(B_i^T B_j)^2] - 2 E_i[B_i^T B_i]."""
    cov = b @ b.T  # N x N
    mask = ~torch.eye(b.shape[0], dtype=torch.bool, device=cov.device)
    return (cov[mask] ** 2).mean() - 2.0 * torch.diagonal(cov).mean()


@dataclass
class Batch:
    """Transitions: obs [N, obs_dim], action [N, A] (or int64 [N]), next_obs [N, obs_dim]."""

    obs: torch.Tensor
    action: torch.Tensor
    next_obs: torch.Tensor


class FBTrainer:
    """Owns an :class:`FBModel`, its targets and optimisers."""

    def __init__(self, model: FBModel, config: FBTrainConfig, seed: int = 0):
        self.model = model
        self.config = config
        self.target = copy.deepcopy(model).requires_grad_(False)
        params = list(model.forward_net.parameters()) + list(model.backward_net.parameters())
        self.fb_opt = torch.optim.Adam(params, lr=config.lr)
        self.actor_opt = (torch.optim.Adam(model.actor.parameters(), lr=config.lr)
                          if model.actor is not None else None)
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.step = 0

    @property
    def device(self):
        return next(self.model.parameters()).device

    def _randn(self, *shape) -> torch.Tensor:
        return torch.randn(*shape, generator=self.generator).to(self.device)

    def sample_z(self, n: int, obs: torch.Tensor) -> torch.Tensor:
        """[n, d]: Gaussian on the sqrt(d) sphere, a fraction replaced by B(obs) (relabelling)."""
        d = self.model.config.z_dim
        z = sphere(self._randn(n, d))
        k = int(round(self.config.relabel * n))
        if k:
            perm = torch.randperm(obs.shape[0], generator=self.generator)[:k].to(self.device)
            with torch.no_grad():
                z[:k] = self.model.backward_map(obs[perm])
        return z

    def _next_action(self, next_obs, z, fixed_next_action):
        if fixed_next_action is not None:
            return fixed_next_action
        if self.target.actor is None:
            return self.target.act(next_obs, z)
        a = self.target.actor(next_obs, z)
        c = self.config
        noise = (self._randn(*a.shape) * c.target_noise).clamp(-c.noise_clip, c.noise_clip)
        return (a + noise).clamp(-1.0, 1.0)

    def fb_loss(self, batch: Batch, z: torch.Tensor, goals: torch.Tensor | None = None,
                goal_embedding: torch.Tensor | None = None,
                fixed_next_action: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The objective's terms for one batch (see the module docstring)."""
        c, m, g = self.config, self.model, self.config.gamma
        n = batch.obs.shape[0]
        with torch.no_grad():
            next_a = self._next_action(batch.next_obs, z, fixed_next_action)
            target_f = self.target.forward_map(batch.next_obs, z, next_a)  # 2 x N x d
        f = m.forward_map(batch.obs, z, batch.action)  # 2 x N x d
        if c.objective == "paper-eq8":
            assert goal_embedding is not None, "paper-eq8 needs the goal embedding"
            bg = m.backward_map(goal_embedding.view(1, -1))[0]  # d
            with torch.no_grad():
                target_v = (target_f @ self.target.backward_map(goal_embedding.view(1, -1))[0]).min(0).values
            v = f @ bg  # 2 x N
            td = ((v - g * target_v) ** 2).mean(1).sum()
            lin = -2.0 * v.mean(1).sum()
            fb = td + lin
        else:
            off_diag = goals is None
            goal_obs = batch.next_obs if off_diag else goals
            with torch.no_grad():
                target_b = self.target.backward_map(goal_obs)  # G x d
                target_m = (target_f @ target_b.T).min(0).values  # N x G
            b_goal = m.backward_map(goal_obs)
            diff = f @ b_goal.T - g * target_m  # 2 x N x G
            if off_diag:
                mask = ~torch.eye(n, dtype=torch.bool, device=diff.device)
                td = 0.5 * (diff[:, mask] ** 2).mean(-1).sum()
                b_next = b_goal
            else:
                td = 0.5 * (diff ** 2).mean((-1, -2)).sum()
                b_next = m.backward_map(batch.next_obs)
            lin = -(f * b_next).sum(-1).mean(-1).sum()
            fb = td + lin
        ortho = orthonormality_loss(m.backward_map(batch.next_obs))
        return {"fb": fb, "td": td, "linear": lin, "ortho": ortho,
                "loss": fb + c.ortho_coef * ortho}

    def actor_loss(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        a = self.model.actor(obs, z)
        q = torch.einsum("knd,nd->kn", self.model.forward_map(obs, z, a), z).min(0).values
        return -q.mean()

    def update(self, batch: Batch, goals=None, goal_embedding=None,
               fixed_next_action=None, z=None) -> dict[str, float]:
        """One gradient step on F and B (and the actor), then a soft target update.

        ``fixed_next_action`` evaluates a given policy instead of pi_z (tests); ``z`` fixes the
        task vectors instead of sampling them.
        """
        if z is None:
            z = self.sample_z(batch.obs.shape[0], batch.next_obs)
        terms = self.fb_loss(batch, z, goals, goal_embedding, fixed_next_action)
        self.fb_opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.fb_opt.step()
        metrics = {k: float(v.detach()) for k, v in terms.items()}
        if self.actor_opt is not None and fixed_next_action is None:
            loss = self.actor_loss(batch.obs, z.detach())
            self.actor_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.actor_opt.step()
            metrics["actor"] = float(loss.detach())
        self.soft_update()
        self.step += 1
        for k, v in metrics.items():
            if not math.isfinite(v):
                raise FloatingPointError(f"FB {k} loss is {v} at step {self.step}")
        return metrics

    @torch.no_grad()
    def soft_update(self) -> None:
        tau = self.config.tau
        for p, tp in zip(self.model.parameters(), self.target.parameters()):
            tp.lerp_(p, tau)

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(), "target": self.target.state_dict(),
            "fb_opt": self.fb_opt.state_dict(),
            "actor_opt": self.actor_opt.state_dict() if self.actor_opt else None,
            "generator": self.generator.get_state(), "step": self.step,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.target.load_state_dict(state["target"])
        self.fb_opt.load_state_dict(state["fb_opt"])
        if self.actor_opt is not None:
            self.actor_opt.load_state_dict(state["actor_opt"])
        self.generator.set_state(state["generator"])
        self.step = state["step"]


def make_model(config: FBConfig, device: str = "cpu", seed: int = 0) -> FBModel:
    torch.manual_seed(seed)
    return FBModel(config).to(device)


__all__ = ["Batch", "FBTrainConfig", "FBTrainer", "OBJECTIVES", "make_model"]
