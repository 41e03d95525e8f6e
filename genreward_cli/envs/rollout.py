"""Running policies in pixel environments, one process per worker, and recording episodes."""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from genreward_cli.envs.config import EnvConfig
from genreward_cli.envs.policies import episode_seed, make_policy
from genreward_cli.envs.tasks import describe


@dataclass
class Episode:
    """One recorded episode: T+1 observations, T actions (Minari's convention)."""

    index: int
    seed: int
    image: np.ndarray  # uint8 [T+1, H, W, 3]
    state: np.ndarray  # float32 [T+1, 39]
    action: np.ndarray  # float32 [T, 4]
    reward: np.ndarray  # float32 [T], what the agent received (dense or sparse)
    env_reward: np.ndarray  # float32 [T], dense env reward
    success: np.ndarray  # bool [T]

    @property
    def length(self) -> int:
        return len(self.action)


class _Recorder:
    def __init__(self, obs):
        self.images = [obs["image"]]
        self.states = [obs["state"]]
        self.actions, self.rewards, self.env_rewards, self.successes = [], [], [], []

    def add(self, action, obs, reward, env_reward, success):
        self.actions.append(action)
        self.images.append(obs["image"])
        self.states.append(obs["state"])
        self.rewards.append(reward)
        self.env_rewards.append(env_reward)
        self.successes.append(success)

    def episode(self, index: int, seed: int) -> Episode:
        return Episode(
            index=index,
            seed=seed,
            image=np.stack(self.images).astype(np.uint8),
            state=np.stack(self.states).astype(np.float32),
            action=np.stack(self.actions).astype(np.float32),
            reward=np.asarray(self.rewards, np.float32),
            env_reward=np.asarray(self.env_rewards, np.float32),
            success=np.asarray(self.successes, bool),
        )


def _run_single(config, policy, episodes, seed, on_step) -> Iterator[Episode]:
    from genreward_cli.envs import make_env

    env = make_env(config)
    try:
        for i in range(episodes):
            s = episode_seed(seed, i)
            pi = make_policy(policy, config.task, s)
            obs, _ = env.reset(seed=s)
            rec = _Recorder(obs)
            done = False
            while not done:
                action = pi(obs["state"])
                obs, reward, term, trunc, info = env.step(action)
                rec.add(action, obs, reward, info["env_reward"], info["success"])
                done = term or trunc
                on_step(1)
            yield rec.episode(i, s)
    finally:
        env.close()


@contextlib.contextmanager
def _workers_ignore_sigint():
    """Within the block, processes that multiprocessing spawns start with SIGINT ignored: an
    ignored signal stays ignored across exec, and Python then installs no KeyboardInterrupt
    handler, so a terminal's Ctrl-C (sent to the whole process group) never makes a worker
    that is still importing print a traceback; the parent alone stops and kills them. The
    parent ignores SIGINT only for the instant of each launch (``Popen._launch``, the
    fork-exec of multiprocessing's spawn start method, wrapped for the block)."""
    import signal
    import threading
    from multiprocessing import popen_spawn_posix

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    launch = popen_spawn_posix.Popen._launch

    def launch_ignoring_sigint(self, process_obj):
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            return launch(self, process_obj)
        finally:
            signal.signal(signal.SIGINT, old)

    popen_spawn_posix.Popen._launch = launch_ignoring_sigint
    try:
        yield
    finally:
        popen_spawn_posix.Popen._launch = launch


def _worker_env(config: EnvConfig, parent_pid: int):
    """``make_env(config)`` in a worker process, which the kernel kills once its parent
    (``parent_pid``) ends: a parent killed by SIGKILL left its workers printing
    BrokenPipeError tracebacks (:func:`genreward_cli.parent.end_with_parent`)."""
    import signal

    from genreward_cli.envs import make_env
    from genreward_cli.parent import end_with_parent

    if os.getpid() != parent_pid:  # gymnasium also makes one in the parent, for its spaces
        end_with_parent(parent_pid, signal.SIGKILL)
    return make_env(config)


def _run_vector(config, policy, episodes, seed, workers, on_step) -> Iterator[Episode]:
    import gymnasium as gym

    factory = functools.partial(_worker_env, config, os.getpid())
    with _workers_ignore_sigint():
        envs = gym.vector.AsyncVectorEnv(
            [factory] * workers,
            context="spawn",
            autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
        )
    try:
        for start in range(0, episodes, workers):
            idx = list(range(start, min(start + workers, episodes)))
            # Every worker runs; the surplus workers of the last batch are discarded.
            seeds = [episode_seed(seed, i) for i in range(start, start + workers)]
            pis = [make_policy(policy, config.task, s) for s in seeds]
            obs, _ = envs.reset(seed=seeds)
            recs = [_Recorder({k: v[j] for k, v in obs.items()}) for j in range(workers)]
            for _ in range(config.max_steps):
                actions = np.stack([pi(obs["state"][j]) for j, pi in enumerate(pis)])
                obs, reward, term, trunc, info = envs.step(actions)
                for j, rec in enumerate(recs):
                    o = {k: v[j] for k, v in obs.items()}
                    rec.add(actions[j], o, reward[j], info["env_reward"][j], info["success"][j])
                on_step(len(idx))
            assert np.all(trunc), "episodes end at max_steps"
            for j, i in enumerate(idx):
                yield recs[j].episode(i, seeds[j])
    except BaseException:  # Ctrl-C, SIGTERM, an error: the workers are killed, not asked
        import warnings

        with warnings.catch_warnings():  # gymnasium's "close while waiting for step"
            warnings.simplefilter("ignore")
            envs.close(terminate=True)
        raise
    envs.close()


def collect(
    config: EnvConfig,
    policy: str,
    episodes: int,
    seed: int = 0,
    workers: int = 1,
    on_step: Callable[[int], None] = lambda n: None,
) -> Iterator[Episode]:
    """Yield ``episodes`` episodes of ``policy`` in order; episode i is seeded
    ``episode_seed(seed, i)`` whatever the number of workers.

    ``workers > 1`` runs one environment per process (gymnasium's AsyncVectorEnv): MuJoCo's
    renderer corrupts frames with several environments in one process. No more workers
    than episodes are started (a surplus one's episode would be discarded).
    """
    describe(config.task)  # validates the task name
    workers = min(workers, episodes)
    if workers <= 1:
        yield from _run_single(config, policy, episodes, seed, on_step)
    else:
        yield from _run_vector(config, policy, episodes, seed, workers, on_step)
