r"""The symbols of symcorr's notation (docs/theory.md section 1): the bottom layer, SymPy only.

* :data:`Z` -- the pre-activation :math:`z` in :math:`\phi(z)`; :data:`ALPHA`
  and :func:`coefficient_symbols` -- activation parameters;
* input cumulants over neuron labels (sorted): ``mu_i`` (mean), ``Sigma_ij``
  (covariance, ``Sigma_ii`` the variance), ``kappa_iij`` (orders >= 3), by
  :func:`cumulant_symbol` and its inverse :func:`symbol_labels`;
* vertex functions of the expansion (docs/theory.md section 4):
  ``g{p}d{n}_a`` (:func:`vertex_symbol`) and the joint Gaussian vertex
  ``G{p}x{q}d{n}x{m}_ab`` (:func:`joint_vertex_symbol`), each with its parser.
"""
from __future__ import annotations

import sympy as sp

#: The pre-activation :math:`z` in :math:`\phi(z)`.
Z = sp.Symbol("z", real=True)


#: The parameter :math:`\alpha` of the quadratic activation :math:`z + \alpha z^2`.
ALPHA = sp.Symbol("alpha", real=True)


def coefficient_symbols(degree: int) -> tuple[sp.Symbol, ...]:
    """``a0, ..., a{degree}``: the symbolic coefficients of a polynomial family."""
    return tuple(sp.Symbol(f"a{k}", real=True) for k in range(degree + 1))
NEURON_LABELS = "ijklmnopqrstuvwxyz"


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


def moment_symbol(labels) -> sp.Symbol:
    """Symbol ``m_iij`` of a raw moment (used by :func:`~symcorr.derivation.algebra.cumulant_in_moments`)."""
    return sp.Symbol("m_" + "".join(sorted(labels)), real=True)
def vertex_symbol(label: str, power: int, derivative: int) -> sp.Symbol:
    r"""The symbol of :math:`\partial_{\mu}^{n} E_{N(\mu_a, \Sigma_{aa})}[\phi(z)^{p}]` at neuron ``label``.

    Named ``g{p}d{n}_{label}``, e.g. ``g1d2_i`` for :math:`g^{(2)}_1(\mu_i, \Sigma_{ii})`.
    """
    return sp.Symbol(f"g{power}d{derivative}_{label}", real=True)


def parse_vertex_symbol(symbol: sp.Symbol) -> tuple[str, int, int] | None:
    """``g1d2_i`` -> ``('i', 1, 2)``; ``None`` for any other symbol."""
    head, _, label = symbol.name.partition("_")
    if not head.startswith("g") or "d" not in head or not label:
        return None
    power, _, derivative = head[1:].partition("d")
    if not (power.isdigit() and derivative.isdigit()):
        return None
    return label, int(power), int(derivative)


def joint_vertex_symbol(labels: str, powers: tuple[int, ...], derivatives: tuple[int, ...]) -> sp.Symbol:
    r"""The symbol of the joint Gaussian vertex of two or more neurons (the resummed reference).

    :math:`\partial^{n}_{\mu_a}\partial^{m}_{\mu_b} E_{(z_a, z_b)\sim N(\mu, \Sigma)}[\phi(z_a)^p\phi(z_b)^q]`
    with the whole covariance of the block in the reference, named ``G{p}x{q}d{n}x{m}_{ab}``,
    e.g. ``G1x1d3x1_ij``; three neurons: ``G2x1x1d0x0x0_ijk``.
    """
    return sp.Symbol(f"G{'x'.join(map(str, powers))}d{'x'.join(map(str, derivatives))}_{labels}", real=True)


def parse_joint_vertex_symbol(symbol: sp.Symbol) -> tuple[str, tuple[int, ...], tuple[int, ...]] | None:
    """``G1x1d3x1_ij`` -> ``('ij', (1, 1), (3, 1))``; ``None`` for any other symbol."""
    head, _, labels = symbol.name.partition("_")
    if not head.startswith("G") or len(labels) < 2:
        return None
    powers, _, derivatives = head[1:].partition("d")
    try:
        powers = tuple(int(x) for x in powers.split("x"))
        derivatives = tuple(int(x) for x in derivatives.split("x"))
    except ValueError:
        return None
    if not len(powers) == len(derivatives) == len(labels):
        return None
    return labels, powers, derivatives
