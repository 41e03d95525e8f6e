"""DreamerV3's return normaliser: scale advantages by the 5-95 percentile range of returns,
tracked with an exponential moving average, never scaling up (max(1, S))."""

from __future__ import annotations

import torch


class PercentileNormalizer:
    def __init__(self, low: float = 0.05, high: float = 0.95, decay: float = 0.99):
        self.low, self.high, self.decay = low, high, decay
        self.range: torch.Tensor | None = None

    def update(self, returns: torch.Tensor) -> torch.Tensor:
        """Fold a batch of returns in; return the current scale max(1, S)."""
        flat = returns.detach().float().flatten()
        span = torch.quantile(flat, self.high) - torch.quantile(flat, self.low)
        self.range = span if self.range is None else (
            self.decay * self.range + (1 - self.decay) * span)
        return self.scale()

    def scale(self) -> torch.Tensor:
        if self.range is None:
            return torch.tensor(1.0)
        return torch.clamp(self.range, min=1.0)

    def state_dict(self) -> dict:
        return {"range": self.range}

    def load_state_dict(self, state: dict) -> None:
        self.range = state["range"]
