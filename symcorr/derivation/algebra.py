r"""Cumulant algebra: set partitions, cumulant symbols, moments <-> cumulants.

Implements docs/theory.md section 2,

.. math::

    E\Big[\prod_{s\in S} x_s\Big] = \sum_{\pi \in \Pi(S)} \prod_{B\in\pi} \kappa(B),
    \qquad
    \kappa(S) = \sum_{\pi\in\Pi(S)} (-1)^{|\pi|-1} (|\pi|-1)! \prod_{B\in\pi} E\Big[\prod_{s\in B} x_s\Big],

symbolically (slots carrying neuron labels, labels may repeat) and numerically
(for symmetric tensors), and the Gaussian moments of docs/theory.md section 5,

.. math:: E[z^k] = \sum_{j=0}^{\lfloor k/2\rfloor} \binom{k}{2j} (2j-1)!!\, v^j \mu^{k-2j}.

Symbol names are the documented notation of symcorr: ``mu_i`` (mean),
``Sigma_ij`` (covariance, ``Sigma_ii`` the variance), ``kappa_iij`` (a
cumulant of order >= 3), with the neuron labels sorted.
"""
from __future__ import annotations

import contextlib
import math
from functools import lru_cache

import sympy as sp
from sympy.core import random as sympy_random

from symcorr.notation.partitions import mobius_weight, set_partitions
from symcorr.notation.symbols import cumulant_symbol, moment_symbol


#: The seed of SymPy's random generator while :func:`factor` and :func:`factor_list` factor a polynomial.
FACTORING_SEED = 0


@contextlib.contextmanager
def _seeded_sympy_random(seed: int):
    """SymPy's random generator seeded with ``seed`` inside, its state as it was after."""
    state = sympy_random.rng.getstate()
    sympy_random.rng.seed(seed)
    try:
        yield
    finally:
        sympy_random.rng.setstate(state)


def factor(expression: sp.Expr) -> sp.Expr:
    """``sympy.factor(expression)``, in the same time in every run: SymPy factors multivariate polynomials by Wang's
    algorithm, which lifts from evaluation points drawn from SymPy's random generator, and Python seeds that from the
    operating system. The factors do not depend on the points, the time does. The order-2 covariance coefficients of
    the cubic at closure 6 took 0.1 s from 291 of 300 seeds and over 5 s from the other 9; in one CI run the
    derivation check (``python -m derivations --check``) was still factoring them after 12 minutes. Here the
    generator is seeded with :data:`FACTORING_SEED` for each call, and its state is restored after."""
    with _seeded_sympy_random(FACTORING_SEED):
        return sp.factor(expression)


def factor_list(expression: sp.Expr):
    """``sympy.factor_list(expression)``, seeded as :func:`factor`."""
    with _seeded_sympy_random(FACTORING_SEED):
        return sp.factor_list(expression)


def moment_in_cumulants(labels, closure: int | None = None) -> sp.Expr:
    r"""Symbolic :math:`E[\prod_s x_{\ell(s)}]` over slots with neuron labels ``labels``.

    Cumulants of order > ``closure`` are taken as zero (docs/theory.md section 4).
    """
    labels = tuple(labels)
    # one Add of all the terms: adding them one at a time re-sorted the growing sum at every step (the brute-force
    # reference's order-4 patterns spent 95% of their time there: 'ijkl' took 43 s, now 3 s)
    return sp.Add(*[sp.Mul(*[cumulant_symbol([labels[s] for s in b]) for b in partition])
                    for partition in set_partitions(len(labels))
                    if closure is None or all(len(b) <= closure for b in partition)])


def cumulant_in_moments(labels) -> sp.Expr:
    r"""Symbolic :math:`\kappa(S)` in raw-moment symbols ``m_...`` (Moebius formula)."""
    labels = tuple(labels)
    return sp.Add(*[mobius_weight(len(partition)) * sp.Mul(*[moment_symbol([labels[s] for s in b]) for b in partition])
                    for partition in set_partitions(len(labels))])


@lru_cache(maxsize=None)
def _double_factorial_odd(j: int) -> int:
    return math.prod(range(2 * j - 1, 0, -2)) if j > 0 else 1


def gaussian_moment(k: int, mu, v):
    r""":math:`E[z^k]` for :math:`z\sim N(\mu, v)` (docs/theory.md section 5).

    Works for SymPy symbols, polynomial-ring elements and NumPy arrays alike.
    """
    if k < 0:
        raise ValueError(f"moment order must be >= 0, got {k}")
    total = 0
    for j in range(k // 2 + 1):
        total = total + math.comb(k, 2 * j) * _double_factorial_odd(j) * v**j * mu ** (k - 2 * j)
    return total
