"""An env saved mid-episode and restored into a fresh one takes the same next steps."""

import pickle

import numpy as np
import pytest

from genreward_cli.envs import EnvConfig
from genreward_cli.envs.dummy import DotEnv
from genreward_cli.envs.env_state import get_state, set_state
from genreward_cli.envs.metaworld_env import MetaWorldPixelEnv


def steps(env, actions):
    return [env.step(a) for a in actions]


def assert_same_steps(a, b):
    assert len(a) == len(b)
    for t, ((o1, r1, te1, tr1, i1), (o2, r2, te2, tr2, i2)) in enumerate(zip(a, b)):
        for key in o1:
            np.testing.assert_array_equal(o1[key], o2[key], err_msg=f"step {t}: {key}")
        assert (r1, te1, tr1, i1) == (r2, te2, tr2, i2), t  # exact, not approximately


@pytest.mark.parametrize("task", ["reach-v3", "pick-place-v3"])
def test_metaworld_env_restored_mid_episode_continues_bit_for_bit(task):
    """Saved 17 steps into a 30-step episode, pickled (as a checkpoint is), restored into a
    new env reset to the same seed: the other 13 steps have the same frames, states, rewards
    and infos, and the episode ends (truncates) at the same step."""
    config = EnvConfig(task=task, max_steps=30)
    actions = np.random.default_rng(0).uniform(-1, 1, (30, 4)).astype(np.float32)
    a = MetaWorldPixelEnv(config)
    try:
        a.reset(seed=5)
        steps(a, actions[:17])
        state = pickle.loads(pickle.dumps(get_state(a)))
        straight = steps(a, actions[17:])
    finally:
        a.close()
    assert straight[-1][3] and not any(s[3] for s in straight[:-1])
    b = MetaWorldPixelEnv(config)
    try:
        b.reset(seed=5)
        set_state(b, state)
        assert_same_steps(straight, steps(b, actions[17:]))
        with pytest.raises(RuntimeError, match="reset"):  # the restored wrapper ended it too
            b.step(actions[0])
        set_state(b, state)  # the state is not consumed: restore it again
        assert_same_steps(straight, steps(b, actions[17:]))
    finally:
        b.close()


def test_restoring_another_tasks_state_is_refused():
    reach = MetaWorldPixelEnv(EnvConfig(task="reach-v3", max_steps=10))
    try:
        reach.reset(seed=0)
        state = get_state(reach)
    finally:
        reach.close()
    other = MetaWorldPixelEnv(EnvConfig(task="pick-place-v3", max_steps=10))
    try:
        other.reset(seed=0)
        with pytest.raises(ValueError, match="not of a .*SawyerPickPlaceEnvV3.*another task"):
            set_state(other, state)
    finally:
        other.close()


def test_plain_gym_env_restored_mid_episode():
    """DotEnv (no MuJoCo): its position, step counter and RNG are the state."""
    actions = np.random.default_rng(1).uniform(-1, 1, (20, 2)).astype(np.float32)
    a = DotEnv(size=32, max_steps=20)
    a.reset(seed=3)
    steps(a, actions[:7])
    state = pickle.loads(pickle.dumps(get_state(a)))
    straight = steps(a, actions[7:])
    b = DotEnv(size=32, max_steps=20)
    b.reset(seed=4)  # another scene: the state replaces it
    set_state(b, state)
    assert_same_steps(straight, steps(b, actions[7:]))
    assert b.t == 20 and straight[-1][3]
