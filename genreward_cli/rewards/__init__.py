"""Reward models: env, GenReward (eq. 10), and the baselines, behind one interface."""

REWARDS = ("env", "genreward", "vlm-rm", "roboclip", "clip-video", "tadpole",
           "diffusion-reward")
