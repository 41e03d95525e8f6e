"""Video diffusion: CogVideoX image-to-video models (diffusers), presets, finetuning, generation."""
