"""DreamerV3 in PyTorch (Hafner et al. 2023), the agent every reward model is trained on.

The package imports no stage, reward or environment code:

- ``config.py``: ``AgentConfig`` (Table A sizes and the size presets, precision, compile,
  fast paths) and ``--agent KEY=VALUE`` parsing.
- ``dists.py``: symlog, two-hot heads, categorical latents with unimix, the KL terms.
- ``networks.py``: the architecture in plain PyTorch layers (CNN encoder and decoder, MLPs,
  the RSSM), the reference path.
- ``fast_layers.py``: faster computations of some of those layers from the same parameters,
  chosen at construction by ``AgentConfig.fast`` (``--agent fast=on|off|NAMES``).
- ``world_model.py``: the world model and its loss; ``behavior.py``: actor, critic and
  imagination; ``normalize.py``: the return normaliser.
- ``agent.py``: ``DreamerAgent`` (modules and acting) and ``DreamerTrainer`` (optimisers and
  the update, eager or compiled).
- ``replay.py``: the uint8 replay; ``loop.py``: the training loop apart from any environment
  (train ratio, counters, acting, what a checkpoint holds); ``logger.py``: metric lines.

The episodes in an environment, the run directory and resume are the `train-agent` stage's
(``genreward_cli/stages/``).
"""
