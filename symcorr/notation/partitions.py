r"""Set partitions and index patterns (docs/theory.md sections 2 and 4).

Set partitions of output slots carry the moment <-> cumulant formulas; an
index pattern such as ``'iij'`` (an integer partition of the order) says which
slots of an output cumulant share a neuron.
"""
from __future__ import annotations

import math
from functools import lru_cache

from symcorr.notation.symbols import NEURON_LABELS

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
    """The index patterns of an output cumulant of ``order`` (docs/theory.md section 4).

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
def normalize_pattern(pattern: str) -> str:
    """Relabel an index pattern canonically: ``'jji'`` -> ``'iij'``, ``'ab'`` -> ``'ij'``."""
    from symcorr.notation.symbols import NEURON_LABELS

    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"an index pattern is a non-empty string such as 'iij', got {pattern!r}")
    counts = {}
    for c in pattern:
        counts[c] = counts.get(c, 0) + 1
    ordered = sorted(counts.values(), reverse=True)
    return "".join(NEURON_LABELS[a] * m for a, m in enumerate(ordered))
