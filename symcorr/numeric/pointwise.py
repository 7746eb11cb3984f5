r"""Runtime propagation through a pointwise nonlinearity :math:`y_i = \phi(z_i)` (MATH.md section 4)."""
from __future__ import annotations

import warnings

import numpy as np

from symcorr.derivation.activation import Activation
from symcorr.numeric.cumulants import Cumulants
from symcorr.codegen.loader import load_kernel


def order_argument(name: str, value) -> int:
    """``value`` of the argument ``order`` or ``closure`` as an int, refused (naming what it means) unless >= 2."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        meaning = {"order": "the highest cumulant order returned",
                   "closure": "the highest input cumulant order kept"}[name]
        raise ValueError(f"{name} ({meaning}, docs/theory.md section 9) must be an integer >= 2 "
                         f"(mean and covariance at least), got {value!r}")
    return int(value)


def pointwise(cumulants: Cumulants, activation: Activation, order: int, closure: int | None = None,
              series_order: int | None = None) -> Cumulants:
    r"""Cumulants :math:`\kappa_y^{(1..\mathrm{order})}` of :math:`y = \phi(z)` from those of :math:`z`.

    Input cumulants of orders ``1..closure`` are used (``closure`` defaults to
    ``order``); higher ones are taken as zero (the closure of MATH.md section
    4). For a polynomial :math:`\phi` the result is exact for those inputs:
    e.g. a quadratic :math:`\phi` of a Gaussian with ``order=4`` gives the
    exact :math:`\kappa_y^{(1..4)}`. Evaluated by the generated kernels
    (:mod:`symcorr.codegen.loader`); ``series_order`` applies to non-polynomial
    activations (default: the family's documented default). For those,
    input cumulants above order 2 that are identically zero are not carried
    (the closure is lowered to the highest non-zero one): erf of a Gaussian is
    then exact at every output order.
    """
    if not isinstance(cumulants, Cumulants):
        raise TypeError(f"cumulants must be a symcorr.Cumulants, got {type(cumulants).__name__}")
    if not isinstance(activation, Activation):
        raise TypeError(f"activation must be a symcorr activation (symcorr.activations), got {type(activation).__name__}")
    order = order_argument("order", order)
    closure = order if closure is None else order_argument("closure", closure)
    family = activation.family
    closure = family.carried_closure(activation, closure, lambda n: bool(np.any(cumulants.kappa(n))))
    kernel = load_kernel(activation, order, closure, series_order)
    message = family.truncation_warning(activation, order, closure, kernel.SERIES_ORDER, cumulants.cov)
    if message:
        warnings.warn(message, stacklevel=2)
    kappa = tuple(cumulants.kappa(n) for n in range(1, closure + 1))
    parameters = [value for _, value in activation.parameters]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # reported below, naming the cause
        tensors = [cumulant(kappa, *parameters) for cumulant in kernel.CUMULANTS]
    for n, tensor in enumerate(tensors, start=1):
        if not np.all(np.isfinite(tensor)):
            raise FloatingPointError(
                f"output cumulant of order {n} of {activation} is not finite (overflow): "
                f"input cumulants too large for this activation")
    return Cumulants(*tensors, check=False)
