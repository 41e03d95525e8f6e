"""Training metrics: one JSON object per line (``metrics.jsonl``) and TensorBoard events,
namespaced ``train/...``, ``episode/...``, ``eval/...`` and keyed by env step."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path


class MetricsLogger:
    """A run's scalar log: one JSON object per line in ``DIRECTORY/metrics.jsonl`` (``step``
    plus the metrics) and the same scalars as TensorBoard events in ``DIRECTORY/tensorboard``.

    ``resume_step``: the step of the checkpoint a resumed run starts from. The rows that the
    stopped run wrote after it (steps above ``resume_step``, which the resumed run writes
    again) are dropped from ``metrics.jsonl``, and TensorBoard is told to purge its events
    from ``resume_step + 1`` on (``SummaryWriter(purge_step=...)``), so that neither holds a
    step twice.
    """

    def __init__(self, directory: str | Path, tensorboard: bool = True,
                 resume_step: int | None = None):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / "metrics.jsonl"
        if resume_step is not None and path.exists():
            _keep_rows_up_to(path, resume_step)
        self.file = open(path, "a")
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.directory / "tensorboard"),
                                    purge_step=None if resume_step is None else resume_step + 1)

    def write(self, step: int, metrics: dict[str, float]) -> None:
        clean = {k: float(v) for k, v in metrics.items() if k != "step"}
        self.file.write(json.dumps({"step": int(step), **clean}) + "\n")
        self.file.flush()
        if self.tb is not None:
            for k, v in clean.items():
                if math.isfinite(v):
                    self.tb.add_scalar(k, v, int(step))

    def close(self) -> None:
        """Close the files (again: a no-op)."""
        self.file.close()
        if self.tb is not None:
            self.tb.close()


def _keep_rows_up_to(path: Path, step: int) -> None:
    """Rewrite the JSON-lines file ``path`` with its rows of ``step`` or below (and any
    line that is not a row with a step, such as a line cut off by a kill, dropped too)."""
    kept = []
    with open(path) as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
                kept.append(line if line.endswith("\n") else line + "\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(kept))
    os.replace(tmp, path)


def read_jsonl(path: str | Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
