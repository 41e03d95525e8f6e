"""Rank statistics for judging rewards: ROC-AUC and Spearman correlation (ties averaged),
and ``json_safe`` for reports that carry them (NaN without both classes)."""

from __future__ import annotations

import math

import numpy as np


def json_safe(value):
    """``value`` with every non-finite float (NaN, inf) replaced by None, recursively through
    dicts, lists and tuples, so ``json.dumps`` writes standard JSON (``null``)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``, ties given their average rank."""
    x = np.asarray(x, np.float64)
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    r[order] = np.arange(1, len(x) + 1)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=r)
    return sums[inverse] / counts[inverse]


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """ROC-AUC: the probability that a positive scores above a negative (ties count half)."""
    positive, negative = np.asarray(positive), np.asarray(negative)
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    r = ranks(np.concatenate([positive, negative]))
    u = r[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2
    return float(u / (len(positive) * len(negative)))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation."""
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])
