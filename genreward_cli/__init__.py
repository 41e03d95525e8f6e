"""genreward: video diffusion models as goal-driven rewards for reinforcement learning."""

__version__ = "0.1.0"
