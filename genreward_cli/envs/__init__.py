"""Meta-World pixel environments, reward modes and scripted experts.

Importing this package sets up headless OpenGL before MuJoCo is loaded (see ``gl.py``).
"""

from genreward_cli.envs import gl  # noqa: F401  (must come before mujoco / metaworld)
from genreward_cli.envs.config import EnvConfig
from genreward_cli.envs.tasks import PAPER_TASKS, TASKS, check_task, describe

__all__ = ["EnvConfig", "PAPER_TASKS", "TASKS", "check_task", "describe", "make_env"]


def make_env(config: EnvConfig):
    """Build the pixel environment described by ``config`` (see ``metaworld_env.py``).

    Seed it with ``env.reset(seed=...)``.
    """
    from genreward_cli.envs.metaworld_env import MetaWorldPixelEnv

    return MetaWorldPixelEnv(config)
