"""DreamerV3 in PyTorch (Hafner et al. 2023), the agent every reward model is trained on.

Built so far: the distributions and losses (``dists.py``), the return normaliser
(``normalize.py``), size presets (``config.py``), networks and RSSM (``networks.py``), the
world model (``world_model.py``), the actor-critic (``behavior.py``), the uint8 replay
(``replay.py``), agent and trainer (``agent.py``) and the loop (``loop.py``). Not yet:
checkpoints and exact resume, metrics files, the `train-agent` command, learning checks and
the performance benchmark.
"""
