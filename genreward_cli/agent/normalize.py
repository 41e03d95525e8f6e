"""DreamerV3's return normaliser: scale advantages by the 5-95 percentile range of returns,
tracked with an exponential moving average, never scaling up (max(1, S))."""

from __future__ import annotations

import torch


class PercentileNormalizer:
    def __init__(self, low: float = 0.05, high: float = 0.95, decay: float = 0.99):
        self.low, self.high, self.decay = low, high, decay
        self.range: torch.Tensor | None = None
        self.in_place = False

    def keep_in_place(self, device) -> None:
        """Hold the range in one fixed float32 tensor on ``device`` that ``update`` overwrites
        (NaN until the first update), for a compiled update: no Python state changes between
        steps, and under CUDA graphs the tensor keeps its address. Values are the same as
        without."""
        value = torch.full((), float("nan"), device=device) if self.range is None else (
            self.range.detach().to(device=device, dtype=torch.float32).clone())
        self.range, self.in_place = value, True
        torch._dynamo.mark_static_address(self.range)

    def update(self, returns: torch.Tensor) -> torch.Tensor:
        """Fold a batch of returns in; return the current scale max(1, S)."""
        flat = returns.detach().float().flatten()
        span = torch.quantile(flat, self.high) - torch.quantile(flat, self.low)
        if self.in_place:  # the same values as below, without a branch on the state
            r = self.range
            self.range.copy_(torch.where(r.isnan(), span, self.decay * r + (1 - self.decay) * span))
        else:
            self.range = span if self.range is None else (
                self.decay * self.range + (1 - self.decay) * span)
        return self.scale()

    def scale(self) -> torch.Tensor:
        if self.range is None:
            return torch.tensor(1.0)
        if self.in_place:
            return torch.where(self.range.isnan(), 1.0, torch.clamp(self.range, min=1.0))
        return torch.clamp(self.range, min=1.0)

    def state_dict(self) -> dict:
        if self.in_place:  # as an eager normaliser saves it: None before the first update
            return {"range": None if self.range.isnan() else self.range.clone()}
        return {"range": self.range}

    def load_state_dict(self, state: dict) -> None:
        if self.in_place:
            if state["range"] is None:
                self.range.fill_(float("nan"))
            else:
                self.range.copy_(state["range"])
        else:
            self.range = state["range"]
