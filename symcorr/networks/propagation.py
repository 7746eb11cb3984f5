r"""Propagate cumulants through a torch network (docs/theory.md sections 3-5).

:func:`propagate` walks the layers of a feed-forward torch network
(:func:`layers`: an ``nn.Sequential``, or any model whose ``forward`` is a
chain, traced with ``torch.fx`` by :mod:`symcorr.networks.tracing`) and moves
the input cumulants through each one by its rule
(:data:`symcorr.networks.layers.LAYER_RULES`):

* affine layers -- exact at every order (docs/theory.md section 3),
  :math:`\kappa_z^{(1)} = W\kappa_y^{(1)} + b`,
  :math:`\kappa^{(n)}_{z,i_1..i_n} = \sum_j W_{i_1 j_1}\cdots W_{i_n j_n}\kappa^{(n)}_{y,j_1..j_n}`,
  contracted one mode at a time (:func:`symcorr.numeric.linear.linear`): ``nn.Linear``;
  batch norm and dropout in eval mode; convolutions and average pooling as
  explicit matrices on the flattened (channels x positions) features
  (:mod:`symcorr.networks.spatial`); ``nn.Identity``, ``nn.Flatten``, ``nn.Unflatten``
  (shape bookkeeping, the cumulants unchanged);
* pointwise activations -- the :mod:`symcorr.networks.modules` activations and
  torch's own (``nn.ReLU``, ``nn.GELU``, ..., :mod:`symcorr.networks.torch_activations`)
  through the cumulant expansion of docs/theory.md section 4
  (:func:`symcorr.numeric.pointwise.pointwise`), with output orders
  ``1..max(order, closure)`` from input orders ``1..closure`` (cumulants above
  the closure are taken as zero in every pointwise layer).

Anything else raises an error naming the layer and the reason. All arithmetic is float64
whatever the model's dtype (weights are converted on the fly; the model is
not modified). The input cumulants are validated once (when the
:class:`~symcorr.numeric.cumulants.Cumulants` was built) and the layers (rules,
shapes, eval mode, activation families, memory of explicit matrices) are checked
before any work; intermediate results skip re-validation.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import replace

from symcorr.networks import require_torch, spatial
from symcorr.networks.data_in import data_input, sample_shape
from symcorr.networks.exactness import remedy
from symcorr.networks.layers import Settings, rule_for
from symcorr.networks.memory import check_plan, memory_plan
from symcorr.numeric.budget import MemoryBudgetError, budget_scope
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.exactness import ApproximationWarning, approximation_message, quiet
from symcorr.numeric.pointwise import check_pair_mean, keeps_next_diagonal, next_diagonal_input, order_argument, \
    representation_argument, tolerance_argument
from symcorr.numeric.progress import progress_bar, reporting_to
from symcorr.numeric.validity import problems_of, warn_invalid


def layers(model) -> list[tuple[str, object]]:
    """The layers of ``model`` in execution order as ``(name, module)``
    (:func:`symcorr.networks.tracing.model_layers`): the children of an ``nn.Sequential``, nested
    ones flattened, named by their dotted paths (``'0'``, ``'3.1'``); a single module is one layer
    named ``'0'``; any other model is traced with ``torch.fx`` into a chain of layers.
    :func:`propagate` with ``trace=True`` and :func:`symcorr.networks.montecarlo.monte_carlo`
    return one entry per layer of this list.
    """
    require_torch("symcorr.propagate")
    from symcorr.networks.tracing import model_layers

    return model_layers(model)


def layer_label(name: str, module) -> str:
    """A short label such as ``'2:Quadratic(alpha=0.5)'`` for tables."""
    extra = module.extra_repr() if hasattr(module, "extra_repr") else ""
    if type(module).__name__ == "Linear":
        extra = f"{module.in_features}->{module.out_features}"
    return f"{name}:{type(module).__name__}" + (f"({extra.replace(' ', '')})" if extra else "")


def _check_layers(model, dim: int, input_shape=None):
    """Every layer's rule, checked against the feature shape it receives, before any work:
    ``(entries, rules, shapes)``, ``shapes[l]`` what layer ``l`` receives."""
    entries = layers(model)
    if not entries:
        raise ValueError("the model has no layers")
    shape = (dim,) if input_shape is None else _input_shape(input_shape, dim)
    rules, shapes = [], []
    for name, module in entries:
        try:
            rule = rule_for(module)
        except TypeError as error:
            raise TypeError(f"layer {name} {error}") from None
        shapes.append(shape)
        try:
            shape = rule.shape(module, shape)
        except spatial.FlatInputError as error:
            # the model's input itself (only passed through so far) may have one possible shape
            at_input = input_shape is None and all(s == (dim,) for s in shapes)
            inferred = spatial.inferred_input_shape(error, dim) if at_input else None
            if inferred is not None:
                return _check_layers(model, dim, inferred)
            remedy = spatial.input_shape_hint(error, dim) if at_input else "insert nn.Unflatten to shape the features"
            raise ValueError(f"layer {name} ({type(module).__name__}) {error}: {remedy}") from None
        except ValueError as error:
            raise ValueError(f"layer {name} ({type(module).__name__}) {error}") from None
        rules.append(rule)
    return entries, rules, shapes


def _input_shape(input_shape, dim: int) -> tuple[int, ...]:
    try:
        shape = tuple(int(size) for size in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"input_shape must be a tuple of positive integers, got {input_shape!r}") from None
    if not shape or min(shape) < 1 or math.prod(shape) != dim:
        raise ValueError(f"input_shape {input_shape!r} must be positive integers whose product is the "
                         f"{dim} input features")
    return shape


class Trace(list):
    """The cumulants after every layer of :func:`layers` (``propagate(..., trace=True)``): a list,
    also indexable by layer name (``trace['2']``); ``trace.labels[l]`` is :func:`layer_label`
    of layer ``l``, and each entry's ``status(n)`` says whether its order ``n`` is exact."""

    def __init__(self, entries, names, labels, order: int):
        super().__init__(entries)
        self.names = list(names)
        self.labels = list(labels)
        self.order = order

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self.names:
                raise KeyError(f"no layer named {key!r}; layers: {', '.join(self.names)}")
            key = self.names.index(key)
        return super().__getitem__(key)

    def table(self) -> str:
        """One line per layer: its label and the status of every returned order."""
        width = max(len(label) for label in self.labels) if self.labels else 0
        return "\n".join(f"{label:<{width}}  {entry.exactness.summary(self.order)}"
                         + ("  INVALID" if entry.problems else "")
                         for label, entry in zip(self.labels, self))


#: What ``propagate(..., invalid=...)`` does with statistics that fail a validity check.
INVALID_CHOICES = ("warn", "raise", "project")


class InvalidStatisticsError(ValueError):
    """``propagate(..., invalid='raise')`` met statistics no distribution has (message: where and why)."""


def propagate(model, cumulants: Cumulants | None = None, order: int = 2, trace: bool = False, *,
              closure: int | None = None, series_order: int | None = None, data=None, groups: int = 32,
              batch_size: int = 4096, invalid: str = "warn", keep_next_diagonal: bool | None = None,
              pair_mean: bool = False,
              memory_budget=None, progress: bool | None = None, input_shape=None, representation: str = "auto",
              tolerance: float | None = None):
    r"""Cumulants of orders ``1..order`` of the output of ``model`` for an input with the given ``cumulants``
    (or the samples ``data``).

    ``model`` is a torch network of the layers of the module docstring. The words
    mean what they mean for :func:`symcorr.pointwise` (docs/theory.md section 9):
    ``order`` (>= 2) is the highest cumulant order returned; ``closure`` (>= 2,
    default ``order``) the highest input cumulant order every pointwise layer
    uses, higher ones taken as zero (``closure=2`` is the Gaussian approximation
    of the paper). Every layer carries the orders ``1..max(order, closure)``
    (from the last pointwise layer on only the returned ``1..order``);
    linear layers are exact at every order; for polynomial activations each
    pointwise layer is exact for its truncated input (docs/theory.md section 5), so
    e.g. ``order=2, closure=4`` gives the exact mean and covariance behind one
    quadratic layer of a Gaussian. Input cumulants above the carried orders are
    dropped. ``series_order`` is passed to non-polynomial activations
    (:func:`symcorr.pointwise`). ``input_shape`` is the shape of one input without
    the batch axis, e.g. ``(C, H, W)`` for a network that starts with ``nn.Conv2d``
    (the cumulants describe the input flattened row-major); by default the input
    is the flat feature vector (or the shape of one sample of ``data``), and a
    first layer that needs channels and positions infers them when only one shape
    fits (``nn.Conv1d``) and otherwise asks for ``input_shape``.

    An odd closure ``K`` (``order <= K``) is done soundly: every pointwise layer
    also keeps the diagonal of order ``K + 1`` of its output, which the linear
    layers map exactly (a sum of rank-1 terms whose slices are matrix products,
    :class:`~symcorr.numeric.cumulant_tensors.RankOneSum`) and the next pointwise
    layer uses where its formulas need order ``K + 1`` (an input's own order
    ``K + 1`` enters through its diagonal). ``keep_next_diagonal=False`` drops
    order ``K + 1`` altogether (the plain truncation, which can give covariances
    that are not positive semi-definite), ``True`` forces the scheme for even ``K``. ``pair_mean=True`` keeps,
    of that order ``K + 1``, also the mean of its pair entries (:math:`\kappa_{aabb}`, :math:`a \ne b`) as every
    such entry, which the linear layers map exactly through :math:`G = V V^\top`, :math:`V` the product of their
    weights (:class:`~symcorr.numeric.cumulant_tensors.RankOneAndPairing`, docs/theory.md section 9.5): in a wide
    network that part weighs as much in the next layer's statistics as the diagonal, and keeping it took the
    output covariance of quadratic networks closer to Monte Carlo.

    Every result says per order whether it is exact for the given input, and
    if not why: which input orders which closure dropped at which layer
    (``result.status(n)``, ``str(result)``; :mod:`symcorr.numeric.exactness`,
    computed by the rule of :func:`symcorr.networks.exactness.status_walk`). When
    a returned order is approximate one
    :class:`~symcorr.numeric.exactness.ApproximationWarning` says so, naming the
    layer, the dropped orders and the closure that would make it exact.

    After every layer whose input passed them the statistics are checked for
    validity (:mod:`symcorr.numeric.validity`: positive semi-definite covariance,
    Pearson's inequality, which an affine map can break); ``invalid`` says what a
    failure does: ``'warn'``
    (default: recorded in ``result.problems``, naming the layer, and one
    :class:`~symcorr.numeric.validity.InvalidStatisticsWarning`), ``'raise'``
    (:class:`InvalidStatisticsError` at the first failing layer) or
    ``'project'`` (replaced by the nearest valid statistics at that layer,
    :func:`~symcorr.numeric.validity.nearest_valid`, the projected orders marked
    approximate with the size of the change).

    Data in (``data=X``: an array or tensor of samples, one row per sample of
    any shape, or an iterable of batches such as a DataLoader, whose batches
    may be ``(x, y)`` pairs) instead of ``cumulants``: the samples are pushed
    through the leading affine layers in batches of ``batch_size`` and the
    first pre-activation's cumulants are formed from them, orders 3..4 only as
    the slices the first nonlinearity reads (:mod:`symcorr.networks.data_in`,
    :class:`~symcorr.numeric.data_cumulants.DataCumulants`; standard errors from
    ``groups`` batch-means groups), so neither the input dimension nor the
    layer width enters to the fourth power. Their statuses are ``estimated``;
    data cumulants above order 4 are not formed.

    Memory is estimated for every layer before any work
    (:func:`symcorr.networks.memory.memory_plan`); if the largest estimate
    exceeds the budget (``memory_budget``: bytes or e.g. ``'8G'``; default the
    environment variable ``SYMCORR_MEMORY_BUDGET`` or half the available
    memory, :mod:`symcorr.numeric.budget`) a
    :class:`~symcorr.numeric.budget.MemoryBudgetError` names the layer, the
    estimate and the remedy, and nothing is allocated. With orders >= 3 a
    progress bar over the layers is shown (``progress``: ``None`` = only on a
    terminal); inside a factored pointwise layer it tells the order and the
    networks made so far (:func:`symcorr.numeric.progress.report`).

    ``representation`` says how orders >= 3 are held (docs/theory.md section 12; as for
    :func:`symcorr.pointwise`): ``'dense'`` arrays, ``'factored'`` sums of small tensor networks
    generated from the diagrams (:class:`~symcorr.numeric.factored.FactoredTensor`; polynomial
    activations; linear layers act on their factors, exactly), or ``'auto'`` (default): per
    pointwise layer dense where its memory estimate fits the budget, factored where it does not
    and a ``tolerance`` is given (without one the cyclic terms take a dense block of the same size).
    The two agree to rounding. A factored layer keeps the cyclic diagram terms exactly (as one dense
    block, after a memory estimate) unless ``tolerance`` lets it drop those whose estimated relative
    size is within it, and its next layer, reading its slices, drops the off-diagonal parts of the cycles that
    the slices close (docs/theory.md section 12.3) within the same tolerance; the orders that lost terms are then
    ``approximate`` and their causes state the size. The memory of factored orders is estimated per layer as
    it runs (their size depends on the terms the diagrams produce), before anything of that layer is allocated.

    Returns the output :class:`~symcorr.numeric.cumulants.Cumulants` (orders
    ``1..order``), or with ``trace=True`` a :class:`Trace`: the cumulants after
    every layer of :func:`layers` (the input not included), named by layer.
    """
    if (cumulants is None) == (data is None):
        raise TypeError("propagate needs the input's cumulants or data=samples, one of the two")
    if data is None and not isinstance(cumulants, Cumulants):
        raise TypeError(f"cumulants must be a symcorr.Cumulants, got {type(cumulants).__name__}")
    order = order_argument("order", order)
    closure = order if closure is None else order_argument("closure", closure)
    if invalid not in INVALID_CHOICES:
        raise ValueError(f"invalid must be one of {INVALID_CHOICES}, got {invalid!r}")
    representation, tolerance = representation_argument(representation), tolerance_argument(tolerance)
    carried = max(order, closure)
    partial = keeps_next_diagonal(carried, closure, keep_next_diagonal)
    if data is not None:
        shape = sample_shape(data)
        dim, input_shape = math.prod(shape), (input_shape if input_shape is not None or len(shape) == 1 else shape)
    else:
        dim = cumulants.dim
    entries, rules, shapes = _check_layers(model, dim, input_shape)
    check_pair_mean(pair_mean, partial and closure == 3,
                    f"closure {closure} with order {order} and keep_next_diagonal={keep_next_diagonal!r}")
    settings = Settings(carried, closure, series_order, keep_next_diagonal=partial, pair_mean=bool(pair_mean),
                        representation=representation, tolerance=tolerance)
    # after the last pointwise layer nothing needs the orders above `order`: it computes only those returned
    last_settings = Settings(order, closure, series_order, keep_next_diagonal="input" if partial else False,
                             representation=representation, tolerance=tolerance)
    last = last_pointwise(rules)

    start, leading = 0, []
    if data is not None:
        with budget_scope(memory_budget):
            start, cumulants, leading = data_input(entries, rules, data, min(carried + partial, 4), groups,
                                                   batch_size, trace, progress)
        leading = [_returned(entry.named(layer_label(*entries[l])), order) for l, entry in enumerate(leading)]
    if partial:
        current = next_diagonal_input(cumulants, closure, pair_mean)
    else:
        current = cumulants.truncated(carried) if cumulants.order > carried else cumulants
    current = current.named("input")
    if carried >= 3:
        plan = memory_plan(model, dim, min(current.order, carried), order, closure, series_order, partial,
                           start, shapes, representation, memory_budget, tolerance)
        check_plan(plan, f"propagate(order={order}, closure={closure})", memory_budget)
    history, labels = leading, [layer_label(name, module) for name, module in entries[:start]]
    bar = progress_bar(len(entries) - start, "propagate", False if carried < 3 and progress is None else progress,
                       "layer")
    with quiet(), budget_scope(memory_budget), bar:
        for index, ((name, module), rule) in enumerate(zip(entries[start:], rules[start:]), start=start):
            label = layer_label(name, module)
            bar.set_postfix_str(label)
            valid_before = current.valid
            try:
                with reporting_to(bar, label):      # a long layer tells what it is doing (factored networks)
                    current = rule.apply(module, current, replace(last_settings if index == last else settings,
                                                                  shape=shapes[index]))
            except (ValueError, FloatingPointError) as error:
                raise type(error)(f"layer {name} ({type(module).__name__}): {error}") from None
            except MemoryBudgetError as error:   # an estimate made as the layer runs (e.g. a factored one's terms)
                raise MemoryBudgetError(f"layer {name} ({type(module).__name__}): {error}", error.needed,
                                        error.budget) from None
            if rule.kind != "pointwise" and valid_before:
                # an affine map keeps a covariance positive semi-definite but not Pearson's inequality
                current = current.with_status(problems=problems_of(current, exactness=current.exactness))
            current = current.named(label)
            if current.problems and valid_before and invalid != "warn":
                current = _invalid(current, invalid, label)
            labels.append(label)
            bar.update()
            if trace:
                history.append(_returned(current, order))
    result = Trace(history, [name for name, _ in entries], labels, order) if trace else _returned(current, order)
    _warn(model, cumulants, current, order, closure, series_order, partial, representation)
    return result


def last_pointwise(rules) -> int:
    """The index of the last pointwise layer (-1 if none)."""
    return max((index for index, rule in enumerate(rules) if rule.kind == "pointwise"), default=-1)


def _invalid(current: Cumulants, invalid: str, label: str) -> Cumulants:
    """``invalid='raise'`` or ``'project'`` at a pointwise layer whose result failed a check."""
    fresh = [p for p in current.problems if p.layer == label]
    if not fresh:
        return current
    if invalid == "raise":
        raise InvalidStatisticsError(f"layer {label}: the statistics fail a validity check (no distribution has "
                                     f"them): {'; '.join(p.text for p in fresh)}. A higher (even) closure usually "
                                     "removes this; invalid='project' projects onto the nearest valid statistics")
    projected = current.with_status(problems=tuple(p for p in current.problems if p.layer != label)).nearest_valid()
    return projected.named(label)


def _warn(model, cumulants, current, order, closure, series_order, partial, representation) -> None:
    """One warning for approximate returned orders (with the remedy), one for invalid statistics."""
    bad = current.exactness.approximate_orders(order)
    if bad:
        hint = remedy(model, cumulants.exactness, order, closure, bad, series_order, partial, representation)
        warnings.warn(approximation_message("symcorr.propagate", current.exactness, order, hint),
                      ApproximationWarning, stacklevel=3)
    warn_invalid("symcorr.propagate", current.problems, stacklevel=4)


def _returned(cumulants: Cumulants, order: int) -> Cumulants:
    """``cumulants`` without the orders above ``order`` (orders they do not hold stay implicit zeros)."""
    return cumulants if cumulants.order <= order else cumulants.truncated(order)


__all__ = ["propagate", "layers", "layer_label", "Trace", "InvalidStatisticsError", "INVALID_CHOICES"]
