r"""The memory a propagation will need, per layer, before any of it is allocated.

:func:`memory_plan` walks the layers of a model with their widths (each
rule's ``shape``) and estimates the peak bytes of every layer for
``propagate(model, cumulants, order, closure=...)``: the cumulants it
receives (held while it works) plus its own peak, from
:func:`symcorr.numeric.budget.linear_peak_bytes` for affine layers and
:func:`symcorr.numeric.budget.kernel_peak_bytes` of the kernel a pointwise
layer will call. :func:`check_plan` compares the largest with the budget and
refuses, naming the layer, before the propagation starts.
"""
from __future__ import annotations

from dataclasses import dataclass

from symcorr.numeric.budget import FLOAT, check_memory, dense_linear_peak_bytes, format_bytes, kernel_peak_bytes


@dataclass(frozen=True)
class LayerMemory:
    """The estimated peak of one layer: ``label``, ``width`` (outputs), ``bytes``."""

    label: str
    width: int
    bytes: int

    def __str__(self) -> str:
        return f"{self.label} (width {self.width}): {format_bytes(self.bytes)}"


def _held_bytes(width: int, orders: int, partial: int) -> int:
    """Dense orders ``1..orders`` of ``width`` neurons, and a partial order (its diagonal or factors)."""
    return FLOAT * (sum(width**n for n in range(1, orders + 1)) + (width * max(width, 1) if partial else 0))


def memory_plan(model, dim: int, held: int, order: int, closure: int, series_order: int | None = None,
                partial: bool = False, start: int = 0, shapes=None, representation: str = "dense",
                budget=None, tolerance: float | None = None) -> list[LayerMemory]:
    """Per layer of :func:`symcorr.networks.propagation.layers` from layer ``start`` on (whose input has
    ``dim`` features), the estimated peak bytes of ``propagate`` (module docstring); ``held`` is the number
    of input orders held (<= carried), ``partial`` whether an odd closure keeps the diagonal of the next
    order; ``shapes[l]``, the feature shape layer ``l`` receives (default: a flat model input).
    ``representation`` (and ``budget``, ``tolerance``, for ``'auto'``) as for ``propagate``: from the first pointwise
    layer planned factored on, orders >= 3 count here as the dense orders 1..2 only -- their factored
    size depends on the terms the diagrams produce and is estimated as each layer runs, before it
    allocates (:func:`symcorr.numeric.factored_pointwise.factored_peak_bytes`,
    :func:`symcorr.numeric.budget.linear_peak_bytes`)."""
    from symcorr.networks.layers import rule_for
    from symcorr.networks.propagation import last_pointwise, layer_label, layers
    from symcorr.numeric.pointwise import pointwise_plan

    carried = max(order, closure)
    entries = layers(model)
    rules = [rule_for(module) for _, module in entries]
    last = last_pointwise(rules)
    shape, plan, factored = (dim,), [], False
    for index, ((name, module), rule) in enumerate(zip(entries, rules)):
        if shapes is not None:
            shape = shapes[index]
        if index < start:
            shape = rule.shape(module, shape)
            continue
        width_in = int(_product(shape))
        shape = rule.shape(module, shape)
        width = int(_product(shape))
        before = _held_bytes(width_in, min(held, 2) if factored else held, partial and not factored)
        if rule.kind == "pointwise":
            out = order if index == last else carried
            step = pointwise_plan(rule.activation(module), out, closure, series_order,
                                  ("input" if partial else False) if index == last else partial,
                                  representation=representation, dim=width, budget=budget, tolerance=tolerance)
            factored = step.factored is not None
            work = (FLOAT * 4 * width**2 if factored else
                    kernel_peak_bytes(step.kernel, width, step.evaluated, step.sliced))
            held = out
        else:
            work = sum(dense_linear_peak_bytes(width_in, width, n) if n >= 3 and not factored else FLOAT * width**min(n, 2)
                       for n in range(1, held + 1))
        plan.append(LayerMemory(layer_label(name, module), width, before + work))
    return plan


def _product(shape) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out


def check_plan(plan: list[LayerMemory], what: str, budget=None) -> None:
    """Refuse (``MemoryBudgetError``) if the largest layer of ``plan`` exceeds the budget."""
    if not plan:
        return
    worst = max(plan, key=lambda entry: entry.bytes)
    check_memory(worst.bytes, f"{what}: layer {worst.label} (width {worst.width})",
                 "a lower order or closure (each order multiplies the memory by the width), or narrower layers",
                 budget)


__all__ = ["memory_plan", "check_plan", "LayerMemory"]
