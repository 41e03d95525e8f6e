import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from genreward_cli import store
from genreward_cli.fb.model import FBConfig, FBModel
from genreward_cli.fb.tabular import goal_success, random_mdp, train_gridworld
from genreward_cli.fb.trainer import Batch, FBTrainConfig, FBTrainer, make_model
from helpers import run


def tabular_estimate(model, S, A):
    eye = torch.eye(S)
    with torch.no_grad():
        f = model.forward_map(eye.repeat_interleave(A, 0), torch.zeros(S * A, model.config.z_dim),
                              torch.arange(A).repeat(S))
        return (f.mean(0) @ model.backward_map(eye).T).numpy().reshape(S, A, S)


def learn_tabular(mdp, gamma, goals_uniform, steps=2000, seed=0):
    """Policy evaluation of the MDP's fixed policy with FB on one-hot states."""
    S, A = mdp.n_states, mdp.n_actions
    rng = np.random.default_rng(seed)
    model = make_model(FBConfig(obs_dim=S, action_dim=0, discrete_actions=A, z_dim=S,
                                hidden_dim=64, layers=1), seed=seed)
    trainer = FBTrainer(model, FBTrainConfig(lr=3e-3, tau=0.05, gamma=gamma, batch_size=256), seed)
    eye, z = torch.eye(S), torch.zeros(256, S)
    for _ in range(steps):
        s, a, s2, a2 = mdp.sample(rng, 256)
        goals = eye[rng.integers(0, S, 256)] if goals_uniform else None
        trainer.update(Batch(eye[s], torch.from_numpy(a), eye[s2]), goals=goals,
                       fixed_next_action=torch.from_numpy(a2), z=z)
    return tabular_estimate(model, S, A)


def test_fb_recovers_the_successor_measure_of_a_tabular_mdp():
    """F^T B = M / rho with M = P (I - gamma P_pi)^-1 and rho uniform over 12 states.
    Tolerance: mean relative error below 8% (measured 5.2%), correlation above 0.97."""
    mdp = random_mdp(np.random.default_rng(0), states=12, actions=3)
    M = mdp.successor_measure(0.9)
    np.testing.assert_allclose(M.sum(-1), 1 / (1 - 0.9), rtol=1e-9)  # total discounted mass
    est = learn_tabular(mdp, 0.9, goals_uniform=True)
    target = M * mdp.n_states
    err = np.abs(est - target).mean() / np.abs(target).mean()
    assert err < 0.08, err
    assert np.corrcoef(est.ravel(), target.ravel())[0, 1] > 0.97


def test_paper_eq8_as_printed_learns_a_constant():
    """Eq. 8 as printed: minimising E[(v - gamma vbar')^2] - 2 E[v], v = F(s,a,z)^T B(g),
    sets v = 1 + gamma vbar' on every transition, the value of a reward of 1 on every step:
    1/(1 - gamma) whatever (s, a), while the true discounted occupancy of g varies with them.
    Tolerances: mean within 5% of 10 (measured 9.81 at 700 updates), spread below 1% of it
    (measured 0.15%)."""
    mdp = random_mdp(np.random.default_rng(0), states=12, actions=3)
    S, A, gamma, goal = 12, 3, 0.9, 5
    rng = np.random.default_rng(0)
    model = make_model(FBConfig(obs_dim=S, action_dim=0, discrete_actions=A, z_dim=S,
                                hidden_dim=64, layers=1), seed=0)
    trainer = FBTrainer(model, FBTrainConfig(lr=3e-3, tau=0.05, gamma=gamma, batch_size=256,
                                             objective="paper-eq8"), 0)
    eye, z = torch.eye(S), torch.zeros(256, S)
    for _ in range(700):
        s, a, s2, a2 = mdp.sample(rng, 256)
        trainer.update(Batch(eye[s], torch.from_numpy(a), eye[s2]), goal_embedding=eye[goal],
                       fixed_next_action=torch.from_numpy(a2), z=z)
    with torch.no_grad():
        f = model.forward_map(eye.repeat_interleave(A, 0), torch.zeros(S * A, S),
                              torch.arange(A).repeat(S))
        v = (f.mean(0) @ model.backward_map(eye[goal].view(1, -1))[0]).numpy()
    assert abs(v.mean() - 1 / (1 - gamma)) < 0.5, v.mean()
    assert v.std() < 0.01 * v.mean(), v.std()
    occupancy = mdp.successor_measure(gamma)[..., goal]  # [S, A], what standard FB learns
    assert occupancy.std() > 0.1 * occupancy.mean()


@pytest.mark.slow
def test_fb_off_diagonal_targets_the_next_state_marginal():
    """With B on the batch's other next states, rho is the next-state marginal."""
    mdp = random_mdp(np.random.default_rng(0), states=12, actions=3)
    est = learn_tabular(mdp, 0.9, goals_uniform=False, steps=3000)
    target = mdp.successor_measure(0.9) / mdp.next_state_marginal()
    err = np.abs(est - target).mean() / np.abs(target).mean()
    assert err < 0.1, err


def test_fb_goal_reaching_in_a_gridworld():
    """Standard objective, 1000 updates: greedy FB policies reach the goal from most starts
    (measured 96.5% of all 600 start-goal pairs)."""
    model, P = train_gridworld("standard", 1000)
    assert goal_success(model, P) > 0.8


def test_model_shapes_norms_and_reward():
    c = FBConfig(obs_dim=10, action_dim=4, z_dim=16, hidden_dim=32)
    model = FBModel(c)
    obs, z = torch.randn(5, 10), torch.randn(5, 16)
    b = model.backward_map(obs)
    assert b.shape == (5, 16)
    torch.testing.assert_close(b.norm(dim=-1), torch.full((5,), 4.0))  # sqrt(16)
    a = model.act(obs, z)
    assert a.shape == (5, 4) and a.abs().max() <= 1
    assert model.forward_map(obs, z, a).shape == (2, 5, 16)
    r = model.reward(obs, a, torch.randn(10))
    assert r.shape == (5,)
    # eq. 9 by hand: mean over heads of F(s, a, B(g))^T B(g)
    g = torch.randn(10)
    bg = model.backward_map(g[None])
    expected = (model.forward_map(obs, bg.expand(5, -1), a) @ bg[0]).mean(0)
    torch.testing.assert_close(model.reward(obs, a, g), expected)


def test_orthonormality_loss_estimates_the_frobenius_distance():
    """For B uniform over d orthogonal vectors of norm sqrt(d), E[B B^T] = I: the estimator is
    -d there (its constant), and larger when B collapses onto one vector."""
    from genreward_cli.fb.trainer import orthonormality_loss

    d = 8
    idx = torch.arange(800) % d
    orthonormal = np.sqrt(d) * torch.eye(d)[idx]
    collapsed = np.sqrt(d) * torch.eye(d)[torch.zeros(800, dtype=torch.long)]
    # off-diagonal pairs: (d^2) with prob ~1/d, else 0 -> ~d; diagonal: -2d -> about -d
    assert float(orthonormality_loss(orthonormal)) == pytest.approx(-d, abs=0.1)
    # collapsed: E[B B^T] = d e1 e1^T, ||.-I||^2 - d = (d-1)^2 + (d-1) - d
    assert float(orthonormality_loss(collapsed)) == pytest.approx((d - 1) ** 2 - 1, abs=1e-3)


@pytest.fixture(scope="module")
def fb_run(tiny_chain, tmp_path_factory):
    """train-fb on conftest's ``tiny_chain`` (its episodes and goal), checkpointing every 10
    updates, in a directory of its own."""
    d = tmp_path_factory.mktemp("fb")
    for name in ("expert.h5", "random.h5", "gf.h5", "goal.h5"):
        (d / name).symlink_to(tiny_chain / name)
    common = [d / "random.h5", d / "expert.h5", d / "goal.h5", "--z-dim", 16, "--hidden-dim", 32,
              "--batch-size", 64, "--checkpoint-every", 10]
    assert run("train-fb", *common, "--steps", 20, "--out", d / "fb.h5").exit_code == 0
    return d, common


def test_train_fb_resume_refuses_other_inputs_and_options(fb_run, tmp_path):
    """`--resume` compared only the FB configuration: other episodes, another objective, lr
    or seed went on from the old data's cached embeddings while the artifact recorded the new
    ones as its parents and config. Moved copies of the inputs are the same inputs."""
    d, common = fb_run
    out = tmp_path / "fb.h5"
    r = run("train-fb", *common, "--steps", 10, "--out", out)
    assert r.exit_code == 0, r.stderr
    assert "10 updates on" in r.stderr and "(mean of the last 10)" in r.stderr, r.stderr
    before = Path(f"{out}.ckpt.pt").read_bytes()
    inputs, options = common[:3], common[3:]
    for args, says in [
            ((d / "random.h5", d / "goal.h5", *options), "inputs "),
            ((*common, "--objective", "paper-eq8"), "objective='standard' (now 'paper-eq8')"),
            ((*common, "--lr", 0.5), "lr=0.0001 (now 0.5)"),
            ((*common, "--seed", 7), "seed=0 (now 7)"),
            # the FB configuration's changes were not named
            ((*common, "--z-dim", 4), "z_dim=16 (now 4)")]:
        r = run("train-fb", *args, "--steps", 20, "--out", out, "--resume")
        assert r.exit_code == 2, r.stderr
        line = r.stderr.strip()
        assert line.startswith(f"Error: --resume: {out} was trained with other options: ") \
            and says in line and len(line.splitlines()) == 1, line
    assert Path(f"{out}.ckpt.pt").read_bytes() == before  # left as it was
    rewritten = tmp_path / "random.h5"  # a file of the same name, rewritten since
    shutil.copy(d / "random.h5", rewritten)
    assert run("train-fb", rewritten, *common[1:], "--steps", 10, "--out", tmp_path / "r.h5",
               "--checkpoint-every", 5).exit_code == 0
    with h5py.File(rewritten, "r+") as f:
        f.attrs["created_at"] = "later"
    r = run("train-fb", rewritten, *common[1:], "--steps", 20, "--out", tmp_path / "r.h5",
            "--resume")
    assert r.exit_code == 2 and f"inputs changed since: {rewritten}; " in r.stderr, r.stderr
    moved = tmp_path / "moved"
    moved.mkdir()
    for f in inputs:
        shutil.copy(f, moved / f.name)
    r = run("train-fb", *(moved / f.name for f in inputs), *options, "--steps", 20,
            "--out", out, "--resume", "--device", "cpu", "--checkpoint-every", 5, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["steps"] == 20 and json.loads(r.stdout)["seed"] == 0
    # at its --steps already: said, not silently a rewrite of the same file
    with pytest.warns(UserWarning, match=r"^--resume: .* is at 20 updates and --steps is 20: "
                                         r"nothing to train; "):
        r = run("train-fb", *common, "--steps", 20, "--out", out, "--resume")
    assert r.exit_code == 0, r.stderr


def test_train_fb_into_a_new_folder_and_a_second_writer(fb_run, tmp_path):
    """`--out fb/TASK/fb_0.h5` in a folder that did not exist failed after the training (its
    checkpoint had no folder); a second train-fb with the same --out ran to the end and then
    failed on the first one's checkpoint. The folder is made; the second is refused at once."""
    from genreward_cli.store import output_lock

    d, common = fb_run
    out = tmp_path / "fb" / "pick-place-v3" / "fb_0.h5"
    with output_lock(out):
        r = run("train-fb", *common, "--steps", 10, "--out", out)
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert f"{out}: another process is writing it now" in r.stderr, r.stderr
        assert sorted(p.name for p in out.parent.iterdir()) == [".fb_0.h5.lock"]
    assert not (tmp_path / "fb").exists()  # the folders the lock made, empty, are gone
    r = run("train-fb", *common, "--steps", 10, "--out", out)
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["fb_0.h5", "fb_0.h5.ckpt.pt"]


def test_inspect_json_parses_the_fb_artifacts_json_attrs(fb_run):
    """`inspect --json` gave fb_config, train_config, image_encoder and frame_size as JSON
    text inside the JSON (config, parents and versions were parsed); all are parsed now, and
    the tree shows them as JSON."""
    d, _ = fb_run
    r = run("inspect", d / "fb.h5", "--json")
    assert r.exit_code == 0, r.stderr
    attrs = json.loads(r.stdout)["attrs"]
    assert attrs["fb_config"]["z_dim"] == 16 and attrs["train_config"]["batch_size"] == 64
    assert isinstance(attrs["image_encoder"], dict) and attrs["frame_size"] == [64, 64]
    assert isinstance(attrs["producer"], str)
    r = run("inspect", d / "fb.h5")
    assert r.exit_code == 0 and 'frame_size = [64, 64]' in r.stdout + r.stderr


def test_train_fb_interrupted_keeps_its_checkpoint_and_says_so(fb_run, tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM in train-fb printed only `Aborted!`, and a rerun without --resume
    silently started over on the checkpoint. The line names the checkpoint's update and
    --resume; the plain rerun is refused."""
    from genreward_cli.errors import Terminated
    from genreward_cli.fb.trainer import FBTrainer

    d, common = fb_run
    out = tmp_path / "fb.h5"
    update = FBTrainer.update

    def stop_at_12(self, *args, **kwargs):
        if self.step == 12:
            raise Terminated()
        return update(self, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(FBTrainer, "update", stop_at_12)
        r = run("train-fb", *common, "--steps", 30, "--out", out)  # checkpoints every 10
    assert r.exit_code == 143 and not out.exists()
    assert r.stderr.strip().endswith(f"{out}.ckpt.pt stays at update 10: rerun with --resume "
                                     "to continue"), r.stderr
    before = Path(f"{out}.ckpt.pt").read_bytes()
    r = run("train-fb", *common, "--steps", 30, "--out", out)
    assert r.exit_code == 2 and (f"{out}.ckpt.pt: a train-fb checkpoint (of an interrupted "
                                 "run, or of a finished one whose fb.h5 is gone); pass --resume "
                                 "to go on from it or --force to start over") in r.stderr, \
        r.stderr
    assert Path(f"{out}.ckpt.pt").read_bytes() == before
    # a damaged checkpoint or another program's: one line naming it (EOFError, KeyError)
    import torch

    damaged = tmp_path / "damaged.h5"
    for write in (lambda p: p.write_bytes(before[:100]), lambda p: torch.save({"x": 1}, p)):
        write(Path(f"{damaged}.ckpt.pt"))
        r = run("train-fb", *common, "--steps", 30, "--out", damaged, "--resume")
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert r.stderr.startswith(f"Error: {damaged}.ckpt.pt: ") and (
            "a damaged checkpoint (" in r.stderr
            or "not a train-fb checkpoint (no 'trainer', 'history'" in r.stderr), r.stderr
        assert r.stderr.strip().endswith("start over with --force") and not damaged.exists()
    r = run("train-fb", *common, "--steps", 30, "--out", out, "--resume", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["steps"] == 30, r.stderr


def test_train_fb_writes_a_loadable_fb_artifact(fb_run):
    from genreward_cli.fb.io import read_model

    d, _ = fb_run
    with store.open_artifact(d / "fb.h5", "fb") as art:
        model = read_model(art)
        assert art.file["metrics/loss"].shape == (20,)
        assert art.file["cache/embeddings/000000"].shape == (41, 32)
        goal = torch.from_numpy(art.file["goal_embedding"][()])
        z = art.file["goal_z"][()]
        assert [p["kind"] for p in art.parents] == ["episodes", "episodes", "goal"]
    assert model.config.obs_dim == 32 and model.config.action_dim == 4 and model.config.z_dim == 16
    np.testing.assert_allclose(model.goal_z(goal[None])[0].numpy(), z, rtol=1e-5, atol=1e-5)
    state = torch.load(d / "fb.h5.ckpt.pt", weights_only=False)["trainer"]["model"]
    fresh = FBModel(model.config)
    fresh.load_state_dict(state)
    obs, act = torch.randn(7, 32), torch.rand(7, 4) * 2 - 1
    torch.testing.assert_close(model.reward(obs, act, goal), fresh.reward(obs, act, goal))


def test_train_fb_resumes_and_refuses_bad_inputs(fb_run, tmp_path):
    d, common = fb_run
    r = run("train-fb", *common, "--steps", 30, "--out", d / "fb.h5", "--resume", "--json")
    assert r.exit_code == 0, r.stderr
    with store.open_artifact(d / "fb.h5", "fb") as art:
        assert list(art.file["metrics/step"][()]) == list(range(1, 31))
    r = run("train-fb", d / "random.h5", "--out", tmp_path / "x.h5")
    assert r.exit_code == 2 and "exactly one `goal` file" in r.stderr
    r = run("train-fb", d / "random.h5", d / "goal.h5", d / "goal.h5", "--out", tmp_path / "x.h5")
    assert r.exit_code == 2 and "(got 1 `episodes` file and 2 `goal` files)" in r.stderr
    r = run("train-fb", d / "gf.h5", d / "goal.h5", "--out", tmp_path / "x.h5")
    assert r.exit_code == 2 and "kind is 'goal_frame'" in r.stderr
    r = run("train-fb", d / "random.h5", d / "goal.h5", "--out", tmp_path / "x.h5", "--resume")
    assert r.exit_code == 2 and "no checkpoint" in r.stderr
    assert not (tmp_path / "x.h5").exists()


def test_episodes_of_another_task_than_the_goal_are_said(fb_run, tmp_path):
    """Episodes of another task beside the goal's were mixed in without a word."""
    from helpers import fake_episode, write_episodes

    d, _ = fb_run
    rng = np.random.default_rng(0)
    other = write_episodes(tmp_path / "pick.h5", [fake_episode(rng, T=5, size=64)])
    with pytest.warns(UserWarning, match=r"episodes of another task than the goal's "
                                         rf"\(reach-v3\): {other} \(pick-place-v3\)"):
        r = run("train-fb", d / "random.h5", other, d / "goal.h5", "--z-dim", 8,
                "--hidden-dim", 16, "--batch-size", 8, "--steps", 2, "--out", tmp_path / "fb.h5")
    assert r.exit_code == 0, r.stderr
