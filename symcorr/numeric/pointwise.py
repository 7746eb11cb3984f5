r"""Runtime propagation through a pointwise nonlinearity :math:`y_i = \phi(z_i)` (docs/theory.md section 4)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from symcorr.derivation.activation import Activation
from symcorr.numeric.budget import FLOAT, check_memory, kernel_peak_bytes, memory_budget
from symcorr.numeric.cumulant_tensors import RankOneAndPairing, RankOneSum, is_cumulant_tensor, is_zero, \
    mean_over_distinct, pattern_slice
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.linear import linear
from symcorr.numeric.exactness import ApproximationWarning, Cause, StatusProfile, approximation_message, \
    kept_of_next_order, pointwise_statuses, warnings_enabled, worst
from symcorr.numeric.validity import problems_of, warn_invalid
from symcorr.numeric.progress import report
from symcorr.codegen.loader import load_factored, load_kernel
from symcorr.derivation.tensor_networks import has_factored_form
from symcorr.codegen.runtime.tuples import diagonal, pattern_mean


def order_argument(name: str, value) -> int:
    """``value`` of the argument ``order`` or ``closure`` as an int, refused (naming what it means) unless >= 2."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        meaning = {"order": "the highest cumulant order returned",
                   "closure": "the highest input cumulant order kept"}[name]
        raise ValueError(f"{name} ({meaning}, docs/theory.md section 9) must be an integer >= 2 "
                         f"(mean and covariance at least), got {value!r}")
    return int(value)


#: How :func:`pointwise` and :func:`symcorr.propagate` hold output orders >= 3: ``'dense'`` arrays,
#: ``'factored'`` tensors (:mod:`symcorr.numeric.factored`: docs/theory.md section 12.2 says for which activations),
#: or ``'auto'``:
#: dense when its memory estimate fits the budget, factored otherwise.
REPRESENTATIONS = ("dense", "factored", "auto")


def representation_argument(representation) -> str:
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
    return representation


def tolerance_argument(tolerance) -> float | None:
    """``tolerance`` (the largest estimated relative size of the cyclic terms a factored layer may drop) as a
    float in [0, 1), or ``None`` (drop nothing)."""
    if tolerance is None:
        return None
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, np.floating)) or not 0 <= tolerance < 1:
        raise ValueError(f"tolerance (the largest estimated relative size of the dropped cyclic terms of a factored "
                         f"layer, docs/theory.md section 12.3) must be None or a number in [0, 1), got {tolerance!r}")
    return float(tolerance)


@dataclass(frozen=True)
class PointwisePlan:
    """What :func:`pointwise` will evaluate: the ``kernel``, its output orders ``1..evaluated``, the
    input closure ``closure`` it reads (after the family's ``carried_closure``), whether the input's order
    ``closure`` is the next order of an odd closure (``uses_next``), whether the diagonal of output order
    ``evaluated + 1`` is kept (``keeps_diagonal``) and whether non-dense inputs enter (``sliced``). In the
    factored representation ``kernel`` computes orders 1..2 only and ``factored`` (the module of
    :func:`symcorr.codegen.loader.load_factored`) the orders from 3 on."""

    kernel: object
    evaluated: int
    closure: int
    uses_next: bool
    keeps_diagonal: bool
    sliced: bool
    factored: object = None

    @property
    def representation(self) -> str:
        return "dense" if self.factored is None else "factored"

    @property
    def series_order(self) -> int | None:
        """The series truncation of the highest orders evaluated (the factored module's, in the factored
        representation: its ``kernel`` of orders 1..2 may have a lower default)."""
        return (self.kernel if self.factored is None else self.factored).SERIES_ORDER


def keeps_next_diagonal(order: int, closure: int, keep_next_diagonal: bool | str | None) -> bool:
    """Whether ``closure`` also uses the next order: by default for odd closures >= 3, and only when
    ``order <= closure`` (with ``order > closure`` the next order is carried in full anyway).
    ``keep_next_diagonal='input'`` uses the input's next order but keeps no diagonal of the output's
    (what a last pointwise layer needs)."""
    wanted = (closure % 2 == 1 and closure >= 3) if keep_next_diagonal is None else bool(keep_next_diagonal)
    return wanted and order <= closure


def next_diagonal_input(cumulants: Cumulants, closure: int, pair_mean: bool = False) -> Cumulants:
    """``cumulants`` cut to the orders an odd ``closure`` carries: ``1..closure`` as held, and of order
    ``closure + 1`` its diagonal only (a :class:`~symcorr.numeric.cumulant_tensors.RankOneSum`, status
    approximate; with ``pair_mean`` also the mean of its pair entries, a
    :class:`~symcorr.numeric.cumulant_tensors.RankOneAndPairing`) if it is held as a dense non-zero tensor, as
    held otherwise."""
    if cumulants.order <= closure:
        return cumulants
    cut = cumulants.truncated(closure + 1)
    top = cut.tensor(closure + 1)
    if is_cumulant_tensor(top) or is_zero(top):
        return cut
    held = cut.exactness.held[:closure] + (worst([cut.exactness.held[closure]], [Cause(
        kept_of_next_order(closure + 1, closure, pair_mean))]),)
    mean = mean_over_distinct(pattern_slice(top, pair_pattern(closure + 1))) if pair_mean else None
    return Cumulants(*cut.held[:closure], kept_next_order(closure + 1, pattern_slice(top, "i" * (closure + 1)), mean),
                     check=False, exactness=StatusProfile(held, cut.exactness.tail), problems=cut.problems)


def kept_next_order(order: int, diagonal, pair_mean: float | None = None):
    """What an odd closure keeps of the next ``order``: its ``diagonal`` (a
    :class:`~symcorr.numeric.cumulant_tensors.RankOneSum`), and with ``pair_mean`` that as every pair entry (a
    :class:`~symcorr.numeric.cumulant_tensors.RankOneAndPairing`)."""
    if pair_mean is None:
        return RankOneSum.diagonal(order, diagonal)
    return RankOneAndPairing.from_diagonal(order, diagonal, pair_mean)


def check_pair_mean(pair_mean: bool, keeps_order_4: bool, setting: str) -> None:
    """Refuse ``pair_mean=True`` where closure 3 keeps no diagonal of order 4 (``keeps_order_4``), naming the
    ``setting`` that does not (docs/theory.md section 9.5)."""
    if pair_mean and not keeps_order_4:
        raise ValueError(f"pair_mean=True keeps the pair entries of order 4, whose diagonal closure 3 keeps; {setting} "
                         "does not keep that: use closure=3 with order=3 for pointwise, order <= 3 for propagate (or "
                         "pair_mean=False)")


def pointwise_plan(activation: Activation, order: int, closure: int, series_order: int | None = None,
                   keep_next_diagonal: bool | None = None, nonzero=None, sliced: bool = False,
                   representation: str = "dense", dim: int | None = None, budget=None,
                   tolerance: float | None = None) -> PointwisePlan:
    """The :class:`PointwisePlan` of ``pointwise(..., order, closure)``; ``nonzero(n)`` tells whether the
    input's order ``n`` may be non-zero (default: all may), ``sliced`` whether it holds non-dense tensors;
    ``representation`` as for :func:`pointwise`. ``'auto'`` decides on ``dim`` neurons and ``budget``: dense
    where it fits; otherwise factored, unless the factored layer would keep cyclic terms exactly
    (``tolerance=None``), which takes a dense block of the same size -- then dense, whose refusal names
    the remedy."""
    uses_next = keeps_next_diagonal(order, closure, keep_next_diagonal)
    keeps_diagonal = uses_next and order == closure and keep_next_diagonal != "input"
    used = activation.family.carried_closure(activation, closure + uses_next, nonzero or (lambda n: True))
    representation = representation_argument(representation)
    if order >= 3 and representation != "dense":
        dense = None

        def fits(kernel) -> bool:
            limit = memory_budget(budget)
            return dim is not None and (FLOAT * 2 * dim ** (order + keeps_diagonal) <= limit
                                        and kernel_peak_bytes(kernel, dim, order, sliced or uses_next) <= limit)

        if representation == "auto":
            dense = load_kernel(activation, order + keeps_diagonal, used, series_order)
            if fits(dense):
                return PointwisePlan(dense, order, used, uses_next, keeps_diagonal, sliced or uses_next)
        # a layer whose orders 3.. have no factored form at the closure carried (erf of a Gaussian: closure 2, its
        # orders 3..4 joint moments) is dense and exact, under the dense kernel's memory estimate; where that does
        # not fit, it takes the factored form of the closure asked for, if it has one, the input's orders above 2
        # entering as zeros: its orders 3.. are then the Price series, approximate, the status stating r^(S+1)
        # (docs/theory.md section 12.2)
        factored_closure = used if has_factored_form(activation, order + keeps_diagonal, used) else None
        if factored_closure is None and closure + uses_next > used and \
                has_factored_form(activation, order + keeps_diagonal, closure + uses_next):
            dense = dense or load_kernel(activation, order + keeps_diagonal, used, series_order)
            factored_closure = None if fits(dense) else closure + uses_next
        factored = (None if factored_closure is None
                    else load_factored(activation, order + keeps_diagonal, factored_closure, series_order))
        if factored is not None:
            cyclic = any(spec.cyclic for m in range(3, order + 1) for spec in getattr(factored, f"TERMS_{m}"))
            if dense is None or tolerance is not None or not cyclic or factored_closure != used:
                return PointwisePlan(load_kernel(activation, 2, factored_closure, series_order), order,
                                     factored_closure, uses_next, keeps_diagonal, True, factored)
        if dense is not None:
            return PointwisePlan(dense, order, used, uses_next, keeps_diagonal, sliced or uses_next)
    kernel = load_kernel(activation, order + keeps_diagonal, used, series_order)
    return PointwisePlan(kernel, order, used, uses_next, keeps_diagonal, sliced or uses_next)


def diagonal_cumulant(kernel, n: int, kappa, parameters) -> np.ndarray:
    r"""The diagonal :math:`\kappa_{y,i..i}` of output order ``n``: the kernel's pattern ``'i' * n``, which
    reads only the input slices ``'i'``, ``'ii'``, ... (each neuron's own marginal); if the kernel has no such
    function, its order-``n`` cumulant evaluated neuron by neuron."""
    dim = np.shape(kappa[0])[0]
    patterns = getattr(kernel, f"PATTERNS_{n}", None)
    if patterns is not None:          # orders >= 3: patterns evaluated on neuron tuples
        return diagonal(dim, n, patterns, getattr(kernel, f"SHARED_{n}"), kappa, parameters)
    function = getattr(kernel, "_pattern_" + "i" * n, None)
    if function is not None:
        return np.broadcast_to(function(kappa, *parameters), (dim,)).astype(np.float64)
    own = [pattern_slice(t, "i" * m) for m, t in enumerate(kappa, start=1)]
    return np.array([kernel.CUMULANTS[n - 1](tuple(v[a].reshape((1,) * m) for m, v in enumerate(own, start=1)),
                                             *parameters).reshape(-1)[0] for a in range(dim)])


def pointwise(cumulants: Cumulants, activation: Activation, order: int, closure: int | None = None,
              series_order: int | None = None, *, keep_next_diagonal: bool | None = None,
              pair_mean: bool = False, memory_budget=None, representation: str = "auto",
              tolerance: float | None = None) -> Cumulants:
    r"""Cumulants :math:`\kappa_y^{(1..\mathrm{order})}` of :math:`y = \phi(z)` from those of :math:`z`.

    Input cumulants of orders ``1..closure`` are used (``closure`` defaults to
    ``order``); higher ones are taken as zero (the closure of docs/theory.md section
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

    Odd closures are done soundly (docs/theory.md section 9; ``keep_next_diagonal``,
    default: for odd ``closure`` >= 3): the kernel of closure ``K + 1`` is
    evaluated with the input's order ``K + 1`` as far as it is held (its
    diagonal kept by the previous pointwise layer and mapped exactly through
    the linear layers between, :class:`~symcorr.numeric.cumulant_tensors.RankOneSum`;
    zero if not held), and when ``order == closure`` the result also holds the
    diagonal :math:`\kappa_{y,i..i}` of order ``K + 1`` (status approximate: only
    the diagonal is kept). Dropping :math:`\kappa^{(4)}` altogether at closure 3 is
    what produces invalid covariances; ``keep_next_diagonal=False`` does it. With ``pair_mean=True`` (closure 3,
    ``order=3``) the kept order 4 also holds the mean :math:`c` of its pair entries, :math:`\kappa_{y,aabb}` over
    :math:`a \ne b`, as every such entry (:class:`~symcorr.numeric.cumulant_tensors.RankOneAndPairing`,
    docs/theory.md section 9.5): the part of order 4 that a wide linear layer sums into every entry of its
    output's order 4, as much as the diagonal does.

    Before any allocation the peak memory is estimated
    (:func:`symcorr.numeric.budget.kernel_peak_bytes`) and compared with the
    budget (``memory_budget``: bytes or e.g. ``'8G'``; default
    ``SYMCORR_MEMORY_BUDGET`` or half the available memory); above it a
    :class:`~symcorr.numeric.budget.MemoryBudgetError` names the estimate and the remedy.

    ``representation`` says how output orders >= 3 are held (docs/theory.md section 12): ``'dense'``
    arrays; ``'factored'``, sums of small tensor networks generated from the diagrams
    (:class:`~symcorr.numeric.factored.FactoredTensor`: polynomial activations; with corrections on the diagonals
    the families whose orders 3..4 are Price series -- erf at closure 3 or 4, GELU, tanh, ..., and ReLU and the
    other piecewise-linear activations, whose patterns on two neurons are joint vertex functions of the pair, one
    :math:`N \times N` block each (docs/theory.md section 12.2); a layer whose formulas are in joint vertex functions
    of three or more neurons -- erf of a Gaussian at closure 2, sin -- is dense, exactly, under the dense memory
    estimate; where that does not fit, erf of a Gaussian at closure 3 or 4 is
    factored through the Price series of that closure, the input's orders 3..4 entering as zeros: its orders 3..4
    are then approximate, the status stating :math:`r^{S+1}`), the same numbers
    to rounding at a memory of :math:`O(N^2)` per term instead of :math:`O(N^m)`; ``'auto'``
    (default) dense when its estimate fits the budget, factored otherwise if ``tolerance`` is given (or
    the layer has no cyclic terms; else dense, refused above the budget). The factored form keeps
    cyclic diagram terms (:math:`\Sigma_{ij}\Sigma_{jk}\Sigma_{ki}`, ...) exactly as one dense block
    (no memory saved on such a layer) unless ``tolerance`` is given: then their parts where two
    neurons of a cycle coincide are kept exactly as small networks, and the off-diagonal remainders
    are dropped while their estimated relative size (Frobenius norm, from sampled entries) stays
    within it; the orders that lost terms are then ``approximate``, the cause stating the estimated
    size. A factored input read with a ``tolerance`` has its slices' networks that cost more than
    :math:`O(N^3)` (cycles that a slice's repeated letters close, :math:`2N^4` flops each) split at the diagonals
    of their internal matrices, and the off-diagonal parts dropped while their estimated relative size in the
    slice stays within it (:class:`~symcorr.numeric.factored_pointwise.SlicesWithinTolerance`): the orders whose
    formulas read that input order are then ``approximate``, the cause naming the slice and the size.
    ``tolerance`` does nothing else in a dense layer.
    """
    if not isinstance(cumulants, Cumulants):
        raise TypeError(f"cumulants must be a symcorr.Cumulants, got {type(cumulants).__name__}")
    if not isinstance(activation, Activation):
        raise TypeError(f"activation must be a symcorr activation (symcorr.activations), got {type(activation).__name__}")
    order = order_argument("order", order)
    closure = order if closure is None else order_argument("closure", closure)
    tolerance = tolerance_argument(tolerance)
    result = _unchecked(cumulants, activation, order, closure, series_order, keep_next_diagonal, pair_mean,
                        memory_budget, representation, tolerance)
    # the checks on the layer's whole output, copies and constant neurons put back: a problem names its own neuron
    result = result.with_status(problems=problems_of(result, exactness=result.exactness) + cumulants.problems)
    if warnings_enabled():
        _warn(result, activation, order, closure)
    return result


def _unchecked(cumulants: Cumulants, activation: Activation, order: int, closure: int, series_order,
               keep_next_diagonal, pair_mean: bool, memory_budget, representation: str, tolerance) -> Cumulants:
    """:func:`pointwise` (its arguments checked) before the validity checks and the approximation warning, the
    result without problems."""
    family = activation.family
    if family.needs_distinct_random_neurons and max(order, closure) >= 3:
        coinciding = coinciding_neurons(cumulants)
        if coinciding is not None:       # the layer on the distinct random neurons, the others put back exactly
            kept, expansion = coinciding
            constants = np.where(expansion.any(axis=1), 0.0, activation(cumulants.mean))
            inner = _unchecked(restricted(cumulants, kept), activation, order, closure, series_order,
                               keep_next_diagonal, pair_mean, memory_budget, representation, tolerance)
            return linear(inner, expansion, constants, memory_budget=memory_budget)
    requested_closure = closure
    # orders the input holds as zeros are not carried by families that can drop them (erf: carried_closure);
    # orders it does not hold enter as zeros, and the statuses say whether that was exact
    zero = [None] + [is_zero(cumulants.tensor(n)) for n in range(1, cumulants.order + 1)]
    plan = pointwise_plan(activation, order, closure, series_order, keep_next_diagonal,
                          lambda n: n <= cumulants.order and not zero[n],
                          sliced=any(is_cumulant_tensor(t) for t in cumulants.held),
                          representation=representation, dim=cumulants.dim, budget=memory_budget, tolerance=tolerance)
    kernel, closure = plan.kernel, plan.closure
    check_pair_mean(pair_mean, plan.keeps_diagonal and order == 3,
                    f"order {order} with closure {requested_closure} and keep_next_diagonal={keep_next_diagonal!r}")
    if order >= 3 and plan.factored is None:
        check_memory(kernel_peak_bytes(kernel, cumulants.dim, plan.evaluated, plan.sliced),
                     f"pointwise({activation}) of {cumulants.dim} neurons to order {order}",
                     "a lower order (each order multiplies the memory by the width) or fewer neurons, or "
                     "representation='factored' with a tolerance (polynomial activations, erf at closure 3 or 4 -- "
                     "of a Gaussian through the Price series, approximate --, GELU, tanh, ..., ReLU and the other "
                     "piecewise-linear activations: docs/theory.md section 12.2)", memory_budget)
    size = family.truncation_estimate(activation, order, closure, plan.series_order, cumulants.cov)
    message = None if size is None else family.truncation_warning(activation, order, closure, plan.series_order,
                                                                  cumulants.cov, size)
    if message:
        warnings.warn(message, stacklevel=3)     # pointwise's caller
    profile = cumulants.exactness.with_zero(lambda n: zero[n])
    exactness = pointwise_statuses(profile, activation, order, closure, plan.series_order, message,
                                   partial_next=plan.keeps_diagonal, requested=requested_closure,
                                   pair_mean=pair_mean, truncation_size=size)
    kappa = tuple(cumulants.tensor(n) for n in range(1, closure + 1))
    parameters = [value for _, value in activation.parameters]
    if plan.factored is not None:       # input terms stacked where the layer would make too many networks of them
        from symcorr.numeric.factored_pointwise import stacked_inputs
        kappa = stacked_inputs(plan.factored, order, kappa, parameters, memory_budget)
    if tolerance is not None:           # slices whose networks cost more than N^3 split, within the tolerance
        kappa = within_tolerance(kappa, tolerance)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # reported below, naming the cause
        if plan.factored is None:
            tensors = [cumulant(kappa, *parameters) for cumulant in kernel.CUMULANTS[:order]]
            if plan.keeps_diagonal:
                tensors.append(diagonal_cumulant(kernel, order + 1, kappa, parameters))
            pairs = pair_mean_cumulant(kernel, order + 1, kappa, parameters) if pair_mean else None
        else:
            tensors, pairs = factored_layer(plan, order, kappa, parameters, cumulants.dim, tolerance, memory_budget,
                                            pair_mean)
            exactness = with_dropped(exactness, tensors)
    exactness = with_truncated_slices(exactness, kappa, activation)
    for n, tensor in enumerate(tensors, start=1):
        if is_cumulant_tensor(tensor):
            continue
        if not np.all(np.isfinite(tensor)):
            pairs_note = (" or two neurons perfectly anticorrelated (its formulas beyond the Gaussian covariance hold "
                          "for |rho| < 1; copies and constant neurons are taken out, docs/theory.md section 11.3: "
                          "closure=2 handles every correlation)" if family.needs_distinct_random_neurons else "")
            raise FloatingPointError(
                f"output cumulant of order {n} of {activation} is not finite (overflow): "
                f"input cumulants too large for this activation{pairs_note}")
    if plan.keeps_diagonal:
        tensors[-1] = kept_next_order(order + 1, tensors[-1], pairs)
    return Cumulants(*tensors, check=False, exactness=exactness)


#: Relative difference within which two neurons count as one (a copy: equal means and variances, covariance equal to
#: the variance): rounding (identical weight rows give covariances equal to a few ulps).
COINCIDENCE_RTOL = 16 * np.finfo(float).eps


def coinciding_neurons(cumulants: Cumulants) -> tuple[np.ndarray, np.ndarray] | None:
    r"""Where some neurons are constant (a variance of zero) or copies of another (:math:`z_b = z_a`: equal means and
    variances, :math:`\Sigma_{ab} = \Sigma_{aa}`, to :data:`COINCIDENCE_RTOL`), the neurons to keep -- one of each
    set of copies, none of the constants -- and the expansion :math:`P` (``dim x kept``, a 1 in the column of each
    neuron's kept copy, a row of zeros for a constant) with :math:`y = P\,y_\mathrm{kept} + \phi(\mu_\mathrm{const})`
    exactly; ``None`` if there are none. Copies are found among neighbours in the order of (variance, mean), so
    :math:`O(N \log N)`."""
    mean, variance = np.asarray(cumulants.mean), np.diag(cumulants.cov)
    constant = variance <= 0
    order = np.lexsort((mean, variance))
    representative = np.arange(len(mean))
    for a, b in zip(order[:-1], order[1:]):
        a = representative[a]
        if constant[a] or constant[b]:
            continue
        scale = COINCIDENCE_RTOL * variance[a]
        if (abs(variance[b] - variance[a]) <= scale and abs(cumulants.cov[a, b] - variance[a]) <= scale
                and abs(mean[b] - mean[a]) <= COINCIDENCE_RTOL * (abs(mean[a]) + np.sqrt(variance[a]))):
            representative[b] = a
    if not constant.any() and np.all(representative == np.arange(len(mean))):
        return None
    random = np.flatnonzero(~constant)
    kept = np.unique(representative[random])
    expansion = np.zeros((len(mean), len(kept)))
    expansion[random, np.searchsorted(kept, representative[random])] = 1.0
    return kept, expansion


def restricted(cumulants: Cumulants, kept: np.ndarray) -> Cumulants:
    """The cumulants of the neurons ``kept`` only (every order; one held in another form selected by a linear map),
    with their statuses (their problems name the whole layer's neurons: the caller keeps them)."""
    selection = np.eye(cumulants.dim)[kept]
    held = [t.linear(selection) if is_cumulant_tensor(t) else np.asarray(t)[np.ix_(*[kept] * np.ndim(t))]
            for t in cumulants.held]
    return Cumulants(*held, check=False, exactness=cumulants.exactness)


def pair_pattern(order: int) -> str:
    """The index pattern of the pair entries of an even ``order``: ``'iijj'``, ``'iijjkk'``, ..."""
    return "".join(letter * 2 for letter in "ijklmnop"[:order // 2])


def pair_mean_cumulant(kernel, n: int, kappa, parameters) -> float:
    r"""The mean :math:`c` of the pair entries of output order ``n`` (even), :math:`\kappa_{y,aabb}` over
    :math:`a \ne b` at ``n = 4``: the kernel's pattern :func:`pair_pattern` summed over its tuples."""
    patterns = getattr(kernel, f"PATTERNS_{n}", None)
    if patterns is None:
        raise ValueError(f"pair_mean=True needs the order-{n} kernel's index patterns, which {kernel.__name__} does "
                         "not have; use pair_mean=False (the diagonal only)")
    return pattern_mean(np.shape(kappa[0])[0], pair_pattern(n), patterns, getattr(kernel, f"SHARED_{n}"), kappa,
                        parameters)


def factored_layer(plan: PointwisePlan, order: int, kappa, parameters, dim: int, tolerance, budget,
                   pair_mean: bool = False) -> tuple[list, float | None]:
    """Output orders ``1..order`` of a factored ``plan``: 1..2 dense from ``plan.kernel``, the others
    :class:`~symcorr.numeric.factored.FactoredTensor` s from ``plan.factored``, and the diagonal of order
    ``order + 1`` when the plan keeps it (:mod:`symcorr.numeric.factored_pointwise`); and with ``pair_mean`` the
    mean of that order's pair entries (as :func:`pair_mean_cumulant`, from the generated terms), else ``None``.

    Its memory is estimated before anything but the blocks is made: quickly, every network's arrays counted as its
    own (:func:`~symcorr.numeric.factored_pointwise.factored_peak_bytes`), and where that is above the budget, once
    more with the networks made of shapes only, each array they make counted once
    (:func:`~symcorr.numeric.factored_pointwise.network_bytes`: about as many Python steps as making them; ReLU's
    second layer at closure 4, 16.5 GiB counted per network, 4.8 GiB so, 3.2 GB peak; docs/theory.md section
    12.5). Where it is still above the budget with a tolerance, the parts of the terms taken whole on one pair of
    neurons become candidates for dropping, made only if kept (``pairs_as_candidates`` of
    :func:`~symcorr.numeric.factored_pointwise.factored_output`), if that estimate is lower: the cubic's second
    layer at closure 4 and :math:`N = 1024`, 18.1 GiB with them made exactly (docs/theory.md section 12.3)."""
    from symcorr.numeric.factored import CachedSlices
    from symcorr.numeric.factored_pointwise import (block_bytes, factored_diagonal, factored_output,
                                                    factored_pattern_mean, factored_peak_bytes, factored_remedy,
                                                    dense_terms, network_bytes, pattern_mean_bytes,
                                                    vanishing_blocks, whole_corrections, whole_terms)

    what = f"the factored pointwise layer of {dim} neurons to order {order}"
    remedy = factored_remedy(tolerance, kappa, dim)
    # in two steps: the blocks (then evaluated), and everything (knowing which blocks vanish: their terms make no
    # networks); the kept diagonal of order + 1 is a vector per term (factored_diagonal), within the working arrays
    check_memory(block_bytes(plan.factored, order, kappa, dim), what + " (its blocks)", remedy, budget)
    kappa = tuple(CachedSlices(t) if isinstance(t, (RankOneSum, RankOneAndPairing)) else t for t in kappa)
    blocks: dict = {}
    vanishing = vanishing_blocks(plan.factored, order, kappa, parameters, dim, blocks)
    whole = {m: (frozenset() if tolerance is None else whole_terms(plan.factored, m, kappa, parameters, dim, blocks))
             | whole_corrections(plan.factored, m, kappa, parameters, dim, blocks)
             | dense_terms(plan.factored, m, kappa, parameters, dim, blocks) for m in range(3, order + 1)}
    estimate, networks = factored_peak_bytes(plan.factored, order, kappa, dim, tolerance, vanishing, whole), None
    if estimate > memory_budget(budget):
        # that count takes every network's arrays as its own: the networks made of shapes only count each once
        report("the memory estimate, networks made of shapes")
        networks = {m: network_bytes(plan.factored, m, kappa, parameters, dim, tolerance, blocks,
                                     whole[m]) for m in range(3, order + 1)}
        estimate = factored_peak_bytes(plan.factored, order, kappa, dim, tolerance, vanishing, whole, networks)
    pairs_as_candidates = False
    if estimate > memory_budget(budget) and tolerance is not None and order >= 4:
        # the parts of the terms taken whole on one pair of neurons (N^(m-1), from order 4 on) as candidates for
        # dropping, made only if kept, rather than the layer refused (docs/theory.md section 12.3)
        lighter = factored_peak_bytes(plan.factored, order, kappa, dim, tolerance, vanishing, whole, networks,
                                      pairs_as_candidates=True)
        if lighter < estimate:
            report("the parts on one pair of coincident neurons are candidates for dropping (with them kept, the "
                   "layer would be above its memory budget)")
            estimate, pairs_as_candidates = lighter, True
    check_memory(estimate, what, remedy, budget)
    tensors = [cumulant(kappa, *parameters) for cumulant in plan.kernel.CUMULANTS[:2]]
    for m in range(3, order + 1):
        tensors.append(factored_output(plan.factored, m, kappa, parameters, dim, tolerance, budget, blocks,
                                       pairs_as_candidates))
    pairs = None
    if plan.keeps_diagonal:
        tensors.append(factored_diagonal(plan.factored, order + 1, kappa, parameters, dim))
        if pair_mean:
            check_memory(pattern_mean_bytes(plan.factored, order + 1, pair_pattern(order + 1), dim, blocks),
                         f"the mean pair entry of order {order + 1} of {dim} neurons (pair_mean=True)",
                         "pair_mean=False (the diagonal only), or fewer neurons", budget)
            pairs = factored_pattern_mean(plan.factored, order + 1, pair_pattern(order + 1), kappa, parameters, dim,
                                          blocks)
    return tensors, pairs


def _truncation_cause(record) -> Cause:
    """The cause of a :class:`~symcorr.numeric.factored.Dropped` record: its text, which states the size with its
    standard error (not repeated), and the size."""
    return Cause(str(record), size=record.size, size_in_text=True)


def with_dropped(exactness: StatusProfile, tensors) -> StatusProfile:
    """``exactness`` with a cause (approximate, its estimated size) for every order a factored layer truncated."""
    held = list(exactness.held)
    for n, tensor in enumerate(tensors, start=1):
        for record in getattr(tensor, "dropped", ()):
            held[n - 1] = worst([held[n - 1]], [_truncation_cause(record)])
    return StatusProfile(tuple(held), exactness.tail)


def within_tolerance(kappa: tuple, tolerance: float) -> tuple:
    """``kappa`` with its factored tensors read through
    :class:`~symcorr.numeric.factored_pointwise.SlicesWithinTolerance`."""
    from symcorr.numeric.factored import FactoredTensor
    from symcorr.numeric.factored_pointwise import SlicesWithinTolerance

    return tuple(SlicesWithinTolerance(t, tolerance) if isinstance(t, FactoredTensor) else t for t in kappa)


def with_truncated_slices(exactness: StatusProfile, kappa: tuple, activation: Activation) -> StatusProfile:
    """``exactness`` with a cause (approximate, its estimated size) for every output order whose formula reads an
    input order of which a slice was truncated (:func:`within_tolerance`): the orders :math:`m` that need input
    orders up to that one or beyond (all, for a family that does not say)."""
    held = list(exactness.held)
    for tensor in kappa:
        for record in getattr(tensor, "truncations", ()):
            for m in range(1, len(held) + 1):
                needed = activation.family.input_orders_needed(activation, m)
                if needed is None or needed >= record.order:
                    held[m - 1] = worst([held[m - 1]], [_truncation_cause(record)])
    return StatusProfile(tuple(held), exactness.tail)


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
