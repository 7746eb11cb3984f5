r"""What a generated factored module lists: its terms (docs/theory.md section 12); imports nothing but the standard library.

A factored module (``<activation>_order<M>_closure<K>_factored``, printed by
:mod:`symcorr.codegen.factored_printer`) holds, per output order :math:`m \ge 3`, a tuple
``TERMS_<m>`` of :class:`FactoredTerm` s whose symmetrized sum is the all-distinct formula of that
order, and the block functions they call. :mod:`symcorr.numeric.factored_pointwise` turns them into
the terms of a :class:`~symcorr.numeric.factored.FactoredTensor`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple


class FactoredTerm(NamedTuple):
    r"""One term :math:`X` of the all-distinct formula of output order :math:`m` (its orbit under relabelling
    the neurons enters as :math:`\operatorname{Sym}(X)`; slot :math:`s` is neuron ``'ijkl..'[s]``).

    ``scalar``: a number, or a function of the activation's parameters; ``blocks``: ``(function, labels)``
    pairs, each function ``(kappa, *parameters)`` evaluating a factor on the neuron grid of its canonical
    labels (``'i'`` or ``'ij'``), which stand for the term's ``labels`` in the same order; ``cumulants``:
    the input cumulants over three or more neurons, by their labels (``'ijk'``, ``'iijk'``), replaced by the
    input's own terms; ``arrangements``: ``(words, weight)`` pairs, the words (one per cumulant block) saying
    which neuron each slot of an input term takes, with the weight of that choice; ``cyclic``: whether the
    blocks form a cycle on the neurons; ``pattern``: ``None`` for a term of the all-distinct formula, else the
    coarser index pattern (``'iij'``) of a diagonal correction, slot :math:`s` on neuron ``pattern[s]``.
    """

    scalar: float | Callable
    blocks: tuple
    cumulants: tuple
    arrangements: tuple
    cyclic: bool
    pattern: str | None = None


__all__ = ["FactoredTerm"]
