import numpy as np
import pytest
import torch

from genreward_cli.agent.replay import Replay


def fill(replay, steps, episode_len=5):
    for t in range(steps):
        first = t % episode_len == 0
        img = np.full((8, 8, 3), t % 256, np.uint8)
        replay.add(img, np.full(2, t, np.float32), float(t), first, False)


@pytest.mark.parametrize("capacity", [50, 1000])
def test_sequences_are_contiguous_and_typed(capacity):
    r = Replay(capacity, (8, 8, 3), 2, seed=0)
    fill(r, 120)
    batch = r.sample(16, 10)
    assert batch["image"].dtype.is_floating_point is False and batch["image"].shape == (16, 10, 8, 8, 3)
    rewards = batch["reward"].numpy()
    # contiguous: consecutive rewards differ by one, except at episode starts (reward 0)
    for row, firsts in zip(rewards, batch["is_first"].numpy()):
        for t in range(1, 10):
            if not firsts[t]:
                assert row[t] == row[t - 1] + 1 or row[t - 1] == 0
    assert batch["is_first"][:, 0].all()
    oldest = 120 - min(120, capacity)
    assert rewards[rewards > 0].min() >= oldest  # nothing overwritten is sampled


def test_first_steps_carry_no_action_or_reward_and_bytes_per_step():
    r = Replay(100, (64, 64, 3), 4)
    r.add(np.zeros((64, 64, 3), np.uint8), np.ones(4, np.float32), 5.0, True, False)
    assert r.action[0].sum() == 0 and r.reward[0] == 0
    assert r.nbytes_per_step == 64 * 64 * 3 + 4 * 4 + 4 + 4 + 1
    with pytest.raises(ValueError, match="fewer than a sequence"):
        r.sample(1, 10)


def test_state_round_trip_gives_the_same_samples():
    a = Replay(200, (8, 8, 3), 2, seed=3)
    fill(a, 150)
    b = Replay(200, (8, 8, 3), 2, seed=99)
    b.load_state_dict(a.state_dict())
    x, y = a.sample(4, 6), b.sample(4, 6)
    for k in x:
        assert (x[k] == y[k]).all()


def same_batches(a, b, batch=6, length=7):
    x, y = a.sample(batch, length), b.sample(batch, length)
    for k in x:
        assert x[k].dtype == y[k].dtype and x[k].shape == y[k].shape, k
        assert torch.equal(x[k], y[k]), k


@pytest.mark.parametrize("capacity", [40, 500])
def test_device_copy_gives_the_host_batches(capacity):
    """A replay gathering on its device copy draws the same batches as one gathering on the
    host: as steps are added between samples, across the ring's wrap, after a relabelled
    reward and after a checkpoint round trip."""
    host, mirrored = Replay(capacity, (8, 8, 3), 2, seed=5), Replay(capacity, (8, 8, 3), 2, seed=5)
    mirrored.keep_on("cpu")
    assert mirrored.mirror["image"].dtype == torch.uint8
    assert sum(v.nbytes for v in mirrored.mirror.values()) == mirrored.mirror_nbytes()
    for steps in (20, 3, 1, 37, 64):  # wraps at capacity 40
        fill(host, steps)
        fill(mirrored, steps)
        same_batches(host, mirrored)
    for r in (host, mirrored):
        r.add_reward(r.count - 2, 0.25)  # an older step, already copied to the device
    same_batches(host, mirrored)
    assert mirrored.mirror["reward"][(mirrored.count - 2) % capacity] == \
        host.reward[(host.count - 2) % capacity]
    restored = Replay(capacity, (8, 8, 3), 2, seed=0)
    restored.keep_on("cpu")
    restored.load_state_dict(mirrored.state_dict())
    host.rng.bit_generator.state = restored.rng.bit_generator.state
    same_batches(host, restored)
    restored.image[:] = 0  # behind the replay's back: its batches come from the device copy
    same_batches(host, restored)


def test_add_reward_refuses_steps_not_held():
    r = Replay(10, (8, 8, 3), 2)
    fill(r, 25)
    r.add_reward(15, 1.0)
    with pytest.raises(ValueError, match="holds steps 15 to 24"):
        r.add_reward(14, 1.0)
    with pytest.raises(ValueError, match="not in the replay"):
        r.add_reward(25, 1.0)
