"""DreamerV3 in PyTorch (Hafner et al. 2023), the agent every reward model is trained on.

Built so far: the distributions and losses DreamerV3 is made of (``dists.py``), its return
normaliser (``normalize.py``), the size presets (``config.py``), the networks and RSSM
(``networks.py``) and the world model with its loss (``world_model.py``). The actor-critic,
replay, trainer and training loop come next.
"""
