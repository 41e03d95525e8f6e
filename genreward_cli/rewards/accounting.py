"""Reward accounting: how much of a return each weighted reward component makes.

A reward model's ``total`` is a weighted sum of its components (eq. 10: r_env + alpha
r_video + beta r_FB). The share of component c in a set of steps is

    share_c = sum_t |w_c c_t| / sum_t |total_t|,

over one episode's steps or over every step of several episodes (the overall share). Shares
of components that never cancel sum to one; where signs differ within a step they can sum to
more. A share under ``WARN_SHARE`` means the component cannot change what an agent learns
much: ``weight_for_share`` gives the weight that would make it ``TARGET_SHARE`` of the return
on the same episodes, every other term unchanged.

``--alpha-mode relative`` (``relative_scale``) reads alpha and beta as fractions of the env
reward's per-step standard deviation, measured on the episodes at hand (``score-reward``) or
on the prefill (``train-agent``); the paper's weights are absolute, the default.
"""

from __future__ import annotations

import math

import numpy as np

from genreward_cli.errors import BadInput

WARN_SHARE = 0.01  # a component under 1% of the return gets one line
TARGET_SHARE = 0.10  # ... naming the weight that would make it 10%
ALPHA_MODES = ("absolute", "relative")


def percent(share: float) -> str:
    """A share as people read it: 0.42 -> ``42%``, 0.000024 -> ``0.0024%``, NaN -> ``n/a``."""
    if share != share:
        return "n/a"
    return f"{100 * share:.0f}%" if abs(share) >= 0.1 else f"{100 * share:.2g}%"


def weighted(parts: dict, weights: dict) -> dict[str, np.ndarray]:
    """Each weighted component ``w_c * c``: {name: float64 [T]} for the names in ``weights``.

    ``parts``: a reward model's components, {name: float [T]}; ``weights``: {name: w_c}."""
    return {n: w * np.asarray(parts[n], np.float64) for n, w in weights.items()}


def abs_sums(parts: dict, weights: dict) -> dict[str, float]:
    """sum_t |w_c c_t| of each component and sum_t |total_t| (key ``total``): the terms of
    ``shares``, which add up across episodes."""
    out = {n: float(np.abs(v).sum()) for n, v in weighted(parts, weights).items()}
    out["total"] = float(np.abs(np.asarray(parts["total"], np.float64)).sum())
    return out


def shares_from_sums(sums: dict) -> dict[str, float]:
    """{name: share} from ``abs_sums`` (summed over any set of steps); NaN for every
    component when the total is zero at every step (no return to share)."""
    total = sums["total"]
    return {n: (v / total if total > 0 else math.nan) for n, v in sums.items() if n != "total"}


def shares(parts: dict, weights: dict) -> dict[str, float]:
    """The share of each weighted component in the return of ``parts`` (module docstring)."""
    return shares_from_sums(abs_sums(parts, weights))


def weight_for_share(component: np.ndarray, weight: float, total: np.ndarray,
                     target: float = TARGET_SHARE) -> float | None:
    """The weight w' that makes ``component`` ``target`` of the return, all else unchanged.

    With rest = total - weight * component, the share at w' is
    w' C / sum_t |rest_t + w' c_t| (C = sum_t |c_t|). Its inverse level set has exactly one
    positive root (the denominator is convex in 1/w' and equals C at 1/w' = 0), found by
    bisection on log w'. When the component does not overlap the rest in time the root is
    the closed form target R / (C (1 - target)), R = sum_t |rest_t|.

    Args:
        component: float [N] unweighted values c_t (all steps, any episodes).
        weight: its current weight w.
        total: float [N] the totals at the same steps.
        target: the share wanted, in (0, 1).
    Returns:
        w' (float), or None when the component is zero everywhere (no weight helps) or the
        rest is (any positive weight makes it the whole return).
    """
    if not 0 < target < 1:
        raise ValueError(f"target share {target}: expected in (0, 1)")
    c = np.asarray(component, np.float64)
    rest = np.asarray(total, np.float64) - weight * c
    C, R = np.abs(c).sum(), np.abs(rest).sum()
    if C == 0 or R == 0:
        return None

    def share(w):
        return w * C / np.abs(rest + w * c).sum()

    lo = hi = target * R / (C * (1 - target))
    while share(lo) > target:
        lo /= 2
    while share(hi) < target:
        hi *= 2
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if share(mid) < target else (lo, mid)
        if hi / lo - 1 < 1e-12:
            break
    return math.sqrt(lo * hi)


def complement_weight_for_share(component: np.ndarray, partner: np.ndarray, weight: float,
                                total: np.ndarray, target: float = TARGET_SHARE) -> float | None:
    """The weight w' in [0, 1] that makes ``component`` ``target`` of the return when its
    partner's weight is 1 - w' (Diffusion Reward: 1 - expl_scale on the entropy, expl_scale on
    RND), all else unchanged.

    With rest = total - w c - (1 - w) p, the share at w' is w' C / sum_t |rest_t + w' c_t +
    (1 - w') p_t| (C = sum_t |c_t|): 0 at w' = 0 and continuous, so when the share at w' = 1
    reaches the target, bisection on [0, 1] finds a w' that gives it.

    Args:
        component, partner: float [N] unweighted values c_t and p_t (all steps).
        weight: the component's current weight w (the partner's is 1 - w).
        total: float [N] the totals at the same steps.
        target: the share wanted, in (0, 1).
    Returns:
        w' (float), or None when no weight in [0, 1] reaches ``target`` (including a component
        that is zero everywhere).
    """
    if not 0 < target < 1:
        raise ValueError(f"target share {target}: expected in (0, 1)")
    c, p = np.asarray(component, np.float64), np.asarray(partner, np.float64)
    rest = np.asarray(total, np.float64) - weight * c - (1.0 - weight) * p
    C = np.abs(c).sum()

    def share(w):
        denominator = np.abs(rest + w * c + (1.0 - w) * p).sum()
        return w * C / denominator if denominator > 0 else 1.0

    if C == 0 or share(1.0) < target:
        return None
    lo, hi = 0.0, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if share(mid) < target else (lo, mid)
    return (lo + hi) / 2


def low_share_lines(sums: dict, parts: dict, weights: dict, labels: dict | None = None,
                    threshold: float = WARN_SHARE, target: float = TARGET_SHARE,
                    scales: dict | None = None,
                    complements: dict | None = None) -> list[str]:
    """One line for each component whose overall share is under ``threshold``.

    Args:
        sums: ``abs_sums`` over the steps judged.
        parts: the components at those steps, {name: float [N]} with ``total``.
        weights: {name: current weight}.
        labels: {name: the option that sets its weight} (e.g. ``video``: ``--alpha``); a
            component without one has a fixed weight, and its line gives its share alone.
        scales: {name: weight / option value} where the option is not the weight itself
            (``--alpha-mode relative``: sigma_env); the lines give option values.
        complements: {name: partner} where the two weights add up to 1 and the partner's
            weight is the option (Diffusion Reward's ``diffusion``: ``rnd``); the line then
            gives the partner's option value (:func:`complement_weight_for_share`).
    Returns:
        e.g. ``video is 0.0002% of the return (--alpha 0.01); --alpha 43.1 would make it
        10% on these episodes``.
    """
    labels, scales, complements = labels or {}, scales or {}, complements or {}
    lines = []
    for name, s in shares_from_sums(sums).items():
        if not s < threshold:  # NaN (no return at all) says nothing either way
            continue
        scale = scales.get(name, 1.0)
        if name not in labels:  # a fixed weight (the env reward, a baseline's own reward
            # beside it, a success bonus): its share alone, no option to advise
            lines.append(f"{name} is {percent(s)} of the return (weight {weights[name]:g}, "
                         "which no option sets)")
            continue
        label = labels[name]
        head = f"{name} is {percent(s)} of the return ({label} {weights[name] / scale:g})"
        if name in complements:
            partner = complements[name]
            option = labels.get(partner, f"{partner}'s weight")
            w = complement_weight_for_share(parts[name], parts[partner], weights[name],
                                            parts["total"], target)
            lines.append(f"{head}; {option} {1 - w:.3g} would make it {100 * target:.0f}% on "
                         "these episodes" if w is not None else
                         f"{head}; no {option} in [0, 1] makes it {100 * target:.0f}% on "
                         "these episodes")
            continue
        w = weight_for_share(parts[name], weights[name], parts["total"], target)
        if w is None:
            lines.append(f"{head}: it is zero at every step, no weight changes that")
        else:
            lines.append(f"{head}; {label} {w / scale:.3g} would make it {100 * target:.0f}% "
                         f"on these episodes")
    return lines


def relative_scale(env_rewards: np.ndarray, where: str) -> float:
    """The env reward's per-step standard deviation (float64), the unit of alpha and beta
    under ``--alpha-mode relative``.

    Args:
        env_rewards: float [N] the env rewards paid at N steps (dense or sparse, as the agent
            receives them).
        where: the steps' name for the error (``the prefill``, ``these episodes``).
    Raises:
        BadInput: fewer than two steps, or a constant env reward (standard deviation 0: no
            scale to be relative to).
    """
    r = np.asarray(env_rewards, np.float64)
    if len(r) < 2:
        raise BadInput(f"--alpha-mode relative: {where} has {len(r)} step(s); the env reward's "
                       f"standard deviation needs at least 2")
    sigma = float(r.std())
    if not sigma > 0 or not math.isfinite(sigma):
        raise BadInput(f"--alpha-mode relative: the env reward is constant over {where} "
                       f"(standard deviation {sigma:g}), so there is no scale to weigh alpha "
                       f"and beta against; use --alpha-mode absolute")
    return sigma
