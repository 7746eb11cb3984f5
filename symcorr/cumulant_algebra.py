r"""Cumulant algebra: set partitions, cumulant symbols, moments <-> cumulants.

Implements MATH.md section 2,

.. math::

    E\Big[\prod_{s\in S} x_s\Big] = \sum_{\pi \in \Pi(S)} \prod_{B\in\pi} \kappa(B),
    \qquad
    \kappa(S) = \sum_{\pi\in\Pi(S)} (-1)^{|\pi|-1} (|\pi|-1)! \prod_{B\in\pi} E\Big[\prod_{s\in B} x_s\Big],

symbolically (slots carrying neuron labels, labels may repeat) and numerically
(for symmetric tensors), and the Gaussian moments of MATH.md section 5,

.. math:: E[z^k] = \sum_{j=0}^{\lfloor k/2\rfloor} \binom{k}{2j} (2j-1)!!\, v^j \mu^{k-2j}.

Symbol names are the documented notation of symcorr: ``mu_i`` (mean),
``Sigma_ij`` (covariance, ``Sigma_ii`` the variance), ``kappa_iij`` (a
cumulant of order >= 3), with the neuron labels sorted.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import sympy as sp

NEURON_LABELS = "ijklmnopqrstuvwxyz"


@lru_cache(maxsize=None)
def set_partitions(n: int) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """All set partitions of ``range(n)``, each a tuple of sorted blocks.

    Enumerated once per ``n`` and cached: Bell(4) = 15, Bell(6) = 203,
    Bell(8) = 4140.
    """
    if n < 0:
        raise ValueError(f"set_partitions needs n >= 0, got {n}")
    if n == 0:
        return ((),)
    result = []
    for partition in set_partitions(n - 1):
        # element n-1 joins an existing block or opens its own
        for b in range(len(partition)):
            blocks = list(partition)
            blocks[b] = blocks[b] + (n - 1,)
            result.append(tuple(blocks))
        result.append(partition + ((n - 1,),))
    return tuple(result)


def mobius_weight(n_blocks: int) -> int:
    r"""The Moebius function of the partition lattice, :math:`(-1)^{b-1}(b-1)!`."""
    return (-1) ** (n_blocks - 1) * math.factorial(n_blocks - 1)


def cumulant_symbol(labels) -> sp.Symbol:
    """The symbol of the input cumulant over neuron ``labels`` (any order).

    ``"i"`` -> ``mu_i``; ``"ji"`` -> ``Sigma_ij``; ``"iji"`` -> ``kappa_iij``.
    All symbols are real.
    """
    key = "".join(sorted(labels))
    if not key:
        raise ValueError("a cumulant needs at least one index")
    stem = {1: "mu", 2: "Sigma"}.get(len(key), "kappa")
    return sp.Symbol(f"{stem}_{key}", real=True)


def symbol_labels(symbol: sp.Symbol) -> str:
    """Inverse of :func:`cumulant_symbol`: ``kappa_iij`` -> ``"iij"``."""
    stem, _, key = symbol.name.partition("_")
    if stem not in ("mu", "Sigma", "kappa") or not key:
        raise ValueError(f"{symbol} is not a cumulant symbol")
    return key


def moment_in_cumulants(labels, closure: int | None = None) -> sp.Expr:
    r"""Symbolic :math:`E[\prod_s x_{\ell(s)}]` over slots with neuron labels ``labels``.

    Cumulants of order > ``closure`` are taken as zero (MATH.md section 4).
    """
    labels = tuple(labels)
    total = sp.Integer(0)
    for partition in set_partitions(len(labels)):
        if closure is not None and any(len(b) > closure for b in partition):
            continue
        total += sp.Mul(*[cumulant_symbol([labels[s] for s in b]) for b in partition])
    return total


def moment_symbol(labels) -> sp.Symbol:
    """Symbol ``m_iij`` of a raw moment (used by :func:`cumulant_in_moments`)."""
    return sp.Symbol("m_" + "".join(sorted(labels)), real=True)


def cumulant_in_moments(labels) -> sp.Expr:
    r"""Symbolic :math:`\kappa(S)` in raw-moment symbols ``m_...`` (Moebius formula)."""
    labels = tuple(labels)
    total = sp.Integer(0)
    for partition in set_partitions(len(labels)):
        total += mobius_weight(len(partition)) * sp.Mul(
            *[moment_symbol([labels[s] for s in b]) for b in partition]
        )
    return total


@lru_cache(maxsize=None)
def _double_factorial_odd(j: int) -> int:
    return math.prod(range(2 * j - 1, 0, -2)) if j > 0 else 1


def gaussian_moment(k: int, mu, v):
    r""":math:`E[z^k]` for :math:`z\sim N(\mu, v)` (MATH.md section 5).

    Works for SymPy symbols, polynomial-ring elements and NumPy arrays alike.
    """
    if k < 0:
        raise ValueError(f"moment order must be >= 0, got {k}")
    total = 0
    for j in range(k // 2 + 1):
        total = total + math.comb(k, 2 * j) * _double_factorial_odd(j) * v**j * mu ** (k - 2 * j)
    return total


# ---------------------------------------------------------------------------
# numeric symmetric tensors
# ---------------------------------------------------------------------------

def _outer_over_blocks(tensors, partition, n):
    """prod_B T_{|B|}[indices of B], arranged so axis s is slot s."""
    letters = NEURON_LABELS[:n]
    operands, subscripts = [], []
    for block in partition:
        operands.append(tensors[len(block) - 1])
        subscripts.append("".join(letters[s] for s in block))
    return np.einsum(",".join(subscripts) + "->" + letters, *operands)


def moments_from_cumulants(cumulant_tensors):
    """Raw moment tensors ``E[x_i1 ... x_in]`` for n = 1..K from cumulant tensors.

    ``cumulant_tensors[n-1]`` is the symmetric order-n cumulant tensor.
    """
    return [
        sum(_outer_over_blocks(cumulant_tensors, p, n) for p in set_partitions(n))
        for n in range(1, len(cumulant_tensors) + 1)
    ]


def cumulants_from_moments(moment_tensors):
    """Cumulant tensors of order 1..K from raw moment tensors (Moebius formula)."""
    return [
        sum(mobius_weight(len(p)) * _outer_over_blocks(moment_tensors, p, n) for p in set_partitions(n))
        for n in range(1, len(moment_tensors) + 1)
    ]


def integer_partitions(m: int) -> list[tuple[int, ...]]:
    """Integer partitions of ``m`` in decreasing parts, coarsest first."""
    out = []

    def rec(rest, largest, prefix):
        if rest == 0:
            out.append(tuple(prefix))
            return
        for part in range(min(rest, largest), 0, -1):
            rec(rest - part, part, prefix + [part])

    rec(m, m, [])
    return out


def index_patterns(order: int) -> list[str]:
    """The index patterns of an output cumulant of ``order`` (MATH.md section 4).

    Order 2: ``['ii', 'ij']``; order 4: ``['iiii', 'iiij', 'iijj', 'iijk', 'ijkl']``.
    """
    if order < 1:
        raise ValueError(f"cumulant order must be >= 1, got {order}")
    return [
        "".join(NEURON_LABELS[a] * mult for a, mult in enumerate(parts))
        for parts in integer_partitions(order)
    ]


def pattern_slot_assignments(pattern: str) -> list[tuple[int, ...]]:
    """Every map slot -> grid axis realising ``pattern`` in a symmetric tensor.

    For ``'iij'``: ``(0, 0, 1), (0, 1, 0), (1, 0, 0)``; distinct neurons with
    equal multiplicity are interchangeable, so each assignment appears once.
    """
    order = len(pattern)
    multiplicities = sorted((pattern.count(c) for c in dict.fromkeys(pattern)), reverse=True)
    seen = set()
    out = []
    for partition in set_partitions(order):
        if sorted((len(b) for b in partition), reverse=True) != multiplicities:
            continue
        # order blocks by size (desc), ties by first slot: gives a canonical axis per block
        blocks = sorted(partition, key=lambda b: (-len(b), b[0]))
        assignment = [0] * order
        for axis, block in enumerate(blocks):
            for s in block:
                assignment[s] = axis
        # blocks of equal size are interchangeable: canonical form already unique per partition
        key = tuple(assignment)
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out


def is_symmetric(tensor: np.ndarray, rtol: float = 1e-10) -> bool:
    """Whether ``tensor`` is invariant under every permutation of its axes."""
    scale = max(float(np.max(np.abs(tensor), initial=0.0)), 1e-300)
    for k in range(tensor.ndim - 1):
        axes = list(range(tensor.ndim))
        axes[k], axes[k + 1] = axes[k + 1], axes[k]
        if np.max(np.abs(tensor - tensor.transpose(axes)), initial=0.0) > rtol * scale:
            return False
    return True


__all__ = [
    "NEURON_LABELS",
    "set_partitions",
    "mobius_weight",
    "cumulant_symbol",
    "symbol_labels",
    "moment_in_cumulants",
    "moment_symbol",
    "cumulant_in_moments",
    "gaussian_moment",
    "moments_from_cumulants",
    "cumulants_from_moments",
    "integer_partitions",
    "index_patterns",
    "pattern_slot_assignments",
    "is_symmetric",
]
