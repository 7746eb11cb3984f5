r"""Runtime propagation through a pointwise nonlinearity :math:`y_i = \phi(z_i)` (MATH.md section 4)."""
from __future__ import annotations

import warnings

import numpy as np

from symcorr.derivation.activation import Activation
from symcorr.numeric.budget import check_memory, kernel_peak_bytes
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.exactness import ApproximationWarning, approximation_message, pointwise_statuses, \
    warnings_enabled
from symcorr.numeric.validity import problems_of, warn_invalid
from symcorr.codegen.loader import load_kernel


def order_argument(name: str, value) -> int:
    """``value`` of the argument ``order`` or ``closure`` as an int, refused (naming what it means) unless >= 2."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        meaning = {"order": "the highest cumulant order returned",
                   "closure": "the highest input cumulant order kept"}[name]
        raise ValueError(f"{name} ({meaning}, docs/theory.md section 9) must be an integer >= 2 "
                         f"(mean and covariance at least), got {value!r}")
    return int(value)


def pointwise_plan(activation: Activation, order: int, closure: int, series_order: int | None = None,
                   partial: bool = False):
    """``(kernel, orders evaluated, sliced)``: the kernel :func:`pointwise` calls for output orders
    ``1..order`` at ``closure``, how many of its orders it evaluates, and whether inputs other than
    dense arrays enter (their slices allocate; :mod:`symcorr.numeric.budget`)."""
    return load_kernel(activation, order, closure, series_order), order, partial


def pointwise(cumulants: Cumulants, activation: Activation, order: int, closure: int | None = None,
              series_order: int | None = None, *, memory_budget=None) -> Cumulants:
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

    The result says per order whether it is exact for the given input, and why
    not (``result.status(n)``, :mod:`symcorr.numeric.exactness`): e.g. closure 4
    on a Gaussian mixture gives approximate orders 3..4 of a quadratic (they
    need input orders up to 6); one :class:`~symcorr.numeric.exactness.ApproximationWarning`
    says so. The result is checked for validity (:mod:`symcorr.numeric.validity`:
    a positive semi-definite covariance, Pearson's inequality); failures are
    recorded in ``result.problems`` and warned about, never corrected silently
    (``result.nearest_valid()`` projects explicitly).

    Before any allocation the peak memory is estimated
    (:func:`symcorr.numeric.budget.kernel_peak_bytes`) and compared with the
    budget (``memory_budget``: bytes or e.g. ``'8G'``; default
    ``SYMCORR_MEMORY_BUDGET`` or half the available memory); above it a
    :class:`~symcorr.numeric.budget.MemoryBudgetError` names the estimate and the remedy.
    """
    if not isinstance(cumulants, Cumulants):
        raise TypeError(f"cumulants must be a symcorr.Cumulants, got {type(cumulants).__name__}")
    if not isinstance(activation, Activation):
        raise TypeError(f"activation must be a symcorr activation (symcorr.activations), got {type(activation).__name__}")
    order = order_argument("order", order)
    closure = order if closure is None else order_argument("closure", closure)
    family = activation.family
    requested_closure = closure
    closure = family.carried_closure(activation, closure, lambda n: bool(np.any(cumulants.kappa(n))))
    kernel, evaluated, sliced = pointwise_plan(activation, order, closure, series_order)
    if order >= 3:
        check_memory(kernel_peak_bytes(kernel, cumulants.dim, evaluated, sliced), f"pointwise({activation}) of {cumulants.dim} "
                     f"neurons to order {order}", "a lower order (each order multiplies the memory by the width) "
                     "or fewer neurons", memory_budget)
    message = family.truncation_warning(activation, order, closure, kernel.SERIES_ORDER, cumulants.cov)
    if message:
        warnings.warn(message, stacklevel=2)
    profile = cumulants.exactness.with_zero(lambda n: not np.any(cumulants.kappa(n)))
    exactness = pointwise_statuses(profile, activation, order, closure, kernel.SERIES_ORDER, message)
    kappa = tuple(cumulants.kappa(n) for n in range(1, closure + 1))
    parameters = [value for _, value in activation.parameters]
    with np.errstate(over="ignore", invalid="ignore"):  # reported below, naming the cause
        tensors = [cumulant(kappa, *parameters) for cumulant in kernel.CUMULANTS]
    for n, tensor in enumerate(tensors, start=1):
        if not np.all(np.isfinite(tensor)):
            raise FloatingPointError(
                f"output cumulant of order {n} of {activation} is not finite (overflow): "
                f"input cumulants too large for this activation")
    problems = problems_of(None, tensors) + cumulants.problems
    result = Cumulants(*tensors, check=False, exactness=exactness, problems=problems)
    if warnings_enabled():
        _warn(result, activation, order, requested_closure)
    return result


def _warn(result: Cumulants, activation: Activation, order: int, closure: int) -> None:
    """One :class:`ApproximationWarning` for approximate orders, one for failed validity checks."""
    bad = result.exactness.approximate_orders(order)
    if bad:
        needed = activation.family.input_orders_needed(activation, bad[0])
        remedy = ("Exact needs Gaussian input." if needed is None else
                  f"Exact order {bad[0]} needs input cumulants of orders 1..{needed}, all exact, "
                  f"and closure >= {needed}" if needed > closure else "")
        what = f"pointwise({activation}, order={order}, closure={closure})"
        warnings.warn(approximation_message(what, result.exactness, order, remedy), ApproximationWarning,
                      stacklevel=3)
    warn_invalid(f"pointwise({activation})", result.problems, stacklevel=4)
