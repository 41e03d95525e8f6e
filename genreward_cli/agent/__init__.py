"""DreamerV3 in PyTorch (Hafner et al. 2023), the agent every reward model is trained on.

Built so far: the distributions and losses DreamerV3 is made of (``dists.py``) and its return
normaliser (``normalize.py``). The world model, actor-critic, replay and training loop come next.
"""
