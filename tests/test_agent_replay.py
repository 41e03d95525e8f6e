import numpy as np
import pytest

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
