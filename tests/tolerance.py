"""Tolerances for comparing two computations of the same sums, derived from the dtype and the
size of the reduction, so that a comparison holds on any CPU (AVX2, AVX-512, AMX: each kernel
sums in its own order, and some round partial sums to the compute dtype).

Two computations of ``y = sum_k a_k b_k`` (k = 1..n) in a floating-point format with unit
roundoff u each lie within ``gamma_n |a| |b|`` of the exact value, with the deterministic bound
``gamma_n = n u / (1 - n u)`` (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd
ed., eq. 3.5) or the probabilistic one ``lambda sqrt(n) u`` that holds with probability at least
``1 - 2 exp(-lambda^2 / 2)`` per element (Higham and Mary, SIAM J. Sci. Comput. 41(5), 2019,
Theorem 3.1). Their difference is within twice that, plus one rounding of each result to the
output dtype. ``|a| |b|`` is the same sum over absolute values, which the caller computes with
the reference operation itself on ``|a|`` and ``|b|``.
"""

from __future__ import annotations

import math

import torch

LAMBDA = 6.0  # per-element failure probability of the probabilistic bound: 2 exp(-18) = 3e-8


def unit_roundoff(dtype: torch.dtype) -> float:
    """u = eps / 2: 2^-24 for float32, 2^-8 for bfloat16, 2^-11 for float16."""
    return torch.finfo(dtype).eps / 2


def gamma(terms: int, dtype: torch.dtype) -> float:
    """The relative error factor of a sum of ``terms`` products accumulated in ``dtype``: the
    smaller of the deterministic bound and the probabilistic one (see the module docstring)."""
    u = unit_roundoff(dtype)
    deterministic = terms * u / (1 - terms * u) if terms * u < 1 else math.inf
    return min(deterministic, LAMBDA * math.sqrt(terms) * u)


def assert_close_sums(got: torch.Tensor, want: torch.Tensor, magnitude: torch.Tensor, *,
                      terms: int, dtype: torch.dtype, msg: str = "") -> None:
    """Assert ``|got - want| <= 2 gamma(terms, dtype) magnitude + 2 u |want|`` elementwise.

    Args:
        got, want: the two results, any float dtype, same shape.
        magnitude: ``|a| |b|``, the same sums over absolute values (same shape, >= 0).
        terms: the number of products in each sum (the reduction size).
        dtype: the dtype the sums were computed in (accumulation assumed no wider).
    Raises:
        AssertionError naming the worst element and its bound.
    """
    got, want, magnitude = (t.detach().double() for t in (got, want, magnitude))
    assert got.shape == want.shape == magnitude.shape, (got.shape, want.shape, magnitude.shape)
    u = unit_roundoff(dtype)
    bound = 2 * gamma(terms, dtype) * magnitude + 2 * u * want.abs()
    excess = (got - want).abs() - bound
    worst = int(excess.argmax())
    assert excess.max() <= 0, (
        f"{msg}: {int((excess > 0).sum())} of {excess.numel()} elements beyond the {dtype} bound "
        f"for sums of {terms} terms; worst |{got.flatten()[worst]:.6g} - "
        f"{want.flatten()[worst]:.6g}| > {bound.flatten()[worst]:.3g}")
