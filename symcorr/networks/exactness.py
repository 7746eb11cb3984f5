r"""Which orders of a whole network come out exact, from statuses alone (docs/theory.md sections 5 and 9).

:func:`status_walk` moves a :class:`~symcorr.numeric.exactness.StatusProfile`
(no tensors) through the layers of a model with the rule that
:func:`symcorr.pointwise` applies to real cumulants
(:func:`symcorr.numeric.exactness.pointwise_statuses`): affine layers keep every
status, a pointwise layer recomputes them from what its family needs. It is
the single source of truth for exactness: :func:`symcorr.propagate` attaches
the same statuses to its results, ``symcorr validate`` tests exactly the
orders it calls exact (or numerical), and the remedies of the warnings
(:func:`exact_closure`, :func:`remedy`) search it for the smallest closure
that would make an order exact.
"""
from __future__ import annotations

import math

from symcorr.numeric.exactness import EXACT, EXACT_ZERO, Cause, StatusProfile, approximate, kept_of_next_order, \
    orders_text, pointwise_statuses, worst

#: The largest closure :func:`exact_closure` tries (kernels beyond it are impractical to derive).
MAX_REMEDY_CLOSURE = 12


def gaussian_profile(order: int) -> StatusProfile:
    """Exact Gaussian input held to ``order``: orders 1..2 exact, every higher one exactly zero."""
    return StatusProfile(tuple(EXACT if n <= 2 else EXACT_ZERO for n in range(1, order + 1)), EXACT_ZERO)


def input_profile(order: int, input_nonzero: float) -> StatusProfile:
    """Exact input cumulants up to ``order`` whose orders above ``input_nonzero`` are zero
    (2 for a Gaussian, ``math.inf`` for a mixture or data: everything above ``order`` dropped)."""
    held = tuple(EXACT_ZERO if n > input_nonzero else EXACT for n in range(1, order + 1))
    tail = EXACT_ZERO if input_nonzero <= order else approximate(
        f"input cumulants above order {order} are non-zero and not given", layer="input")
    return StatusProfile(held, tail)


def status_walk(model, profile: StatusProfile, order: int = 2, closure: int | None = None,
                series_order: int | None = None, keep_next_diagonal: bool | None = None,
                pair_mean: bool = False) -> list[StatusProfile]:
    """The status profile after every layer of :func:`symcorr.networks.propagation.layers` for
    ``propagate(model, ..., order, closure=closure, pair_mean=pair_mean)`` on an input with statuses ``profile``.

    Each entry holds the carried orders ``1..max(order, closure)`` (plus the partial order
    ``closure + 1`` where an odd closure keeps its diagonal; from the last pointwise layer on ``1..order``,
    as :func:`~symcorr.networks.propagation.propagate` computes); layers are named by
    :func:`~symcorr.networks.propagation.layer_label`. The rule of the dense form, which the factored one shares
    except where it truncates (a tolerance's dropped terms; erf of a Gaussian above the memory budget, the Price
    series: :func:`~symcorr.numeric.pointwise.pointwise_plan`): the result's status states those, and the remedy
    names them.
    """
    from symcorr.networks.layers import rule_for
    from symcorr.networks.propagation import last_pointwise, layer_label, layers

    from symcorr.numeric.pointwise import keeps_next_diagonal

    closure = order if closure is None else closure
    carried = max(order, closure)
    partial = keeps_next_diagonal(carried, closure, keep_next_diagonal)
    if partial and profile.order > carried and not profile.status(carried + 1).known_zero:
        # a dense input order closure + 1 enters through its diagonal (numeric.pointwise.next_diagonal_input)
        cut = profile.truncated(carried + 1)
        profile = StatusProfile(cut.held[:carried] + (worst([cut.held[carried]], [Cause(
            kept_of_next_order(carried + 1, closure, pair_mean))]),), cut.tail)
    current = (profile if partial and profile.order > carried else profile.truncated(carried)).named("input")
    out = []
    entries = layers(model)
    rules = [rule_for(module) for _, module in entries]
    last = last_pointwise(rules)
    for index, ((name, module), rule) in enumerate(zip(entries, rules)):
        label = layer_label(name, module)
        if rule.kind == "pointwise":
            activation = rule.activation(module)
            used = activation.family.carried_closure(
                activation, closure + partial,
                lambda n, before=current: n <= before.order and not before.status(n).known_zero)
            computed = order if index == last else carried      # as propagate: only `order` after the last
            keeps = partial and index != last
            # the series order the layer's kernel runs at (codegen.loader.load_kernel: the family's default)
            series = (activation.family.default_series_order(activation, computed + keeps, used)
                      if series_order is None else series_order)
            current = pointwise_statuses(current, activation, computed, used, series,
                                         partial_next=keeps, requested=closure,
                                         pair_mean=pair_mean).named(label)
        elif rule.kind != "affine":
            current = StatusProfile(tuple(approximate(f"no exactness rule for a layer of kind {rule.kind!r}", label)
                                          for _ in current.held), current.tail)
        out.append(current)
    return out


def exact_closure(model, profile: StatusProfile, order: int, wanted: int, series_order: int | None = None,
                  start: int = 2, keep_next_diagonal: bool | None = None) -> tuple[int | None, bool]:
    """The smallest closure ``K >= start`` (up to :data:`MAX_REMEDY_CLOSURE`) at which output
    order ``wanted`` is not approximate in the dense form, and whether that needs more input orders than
    ``profile`` holds (``(None, ...)``: no closure does)."""
    for needs_input in (False, True):
        for K in range(max(start, 2), MAX_REMEDY_CLOSURE + 1):
            trial = profile
            if needs_input and profile.order < K:
                trial = StatusProfile(profile.held + (EXACT,) * (K - profile.order), approximate("unknown"))
            final = status_walk(model, trial, order, K, series_order, keep_next_diagonal)[-1]
            if final.status(wanted).kind != "approximate":
                return K, needs_input
    return None, False


def remedy(model, profile: StatusProfile, order: int, closure: int, approximate_orders,
           series_order: int | None = None, keep_next_diagonal: bool | None = None,
           representation: str = "dense") -> str:
    """What would make the lowest of ``approximate_orders`` exact, as a sentence (``representation``: the one
    the result was computed with)."""
    wanted = min(approximate_orders)
    if representation != "dense":
        dense = status_walk(model, profile, order, closure, series_order, keep_next_diagonal)[-1]
        if dense.status(wanted).kind != "approximate":
            return (f"The dense form is exact for order {wanted} at this closure, where a factored layer truncated "
                    f"(a tolerance's dropped terms, or erf of a Gaussian above the memory budget: the Price series): "
                    f"representation='dense' with a memory_budget that holds it (N^m for order m), or tolerance=None")
    K, needs_input = exact_closure(model, profile, order, wanted, series_order, closure + 1, keep_next_diagonal)
    if K is None:
        return (f"No closure up to {MAX_REMEDY_CLOSURE} makes order {wanted} exact for this input "
                f"(e.g. an activation exact only for Gaussian input, a series truncated for any input -- its cause "
                f"names the remedy -- or input cumulants that are not known)")
    if needs_input:
        return (f"Exact order {wanted} needs closure {K} and input cumulants of orders 1..{K} "
                f"(the input holds 1..{profile.order})")
    return f"Exact order {wanted} needs closure={K}"


def exact_orders(model, order: int, input_nonzero: float = math.inf) -> list[set[int]]:
    """For each layer, the output orders ``1..order`` that ``propagate(model, ..., order=order)``
    gives exactly or to numerical tolerance, for exact input cumulants up to ``order`` whose
    orders above ``input_nonzero`` vanish (2: Gaussian; ``math.inf``: mixture or data)."""
    walk = status_walk(model, input_profile(order, input_nonzero), order, order)
    return [{n for n in range(1, order + 1) if p.status(n).kind in ("exact", "numerical")} for p in walk]


__all__ = ["status_walk", "exact_orders", "exact_closure", "remedy", "gaussian_profile", "input_profile",
           "orders_text", "MAX_REMEDY_CLOSURE"]
