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
from dataclasses import replace

from symcorr.networks import require_torch, spatial
from symcorr.networks.layers import Settings, rule_for
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.pointwise import order_argument


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


def propagate(model, cumulants: Cumulants, order: int = 2, trace: bool = False, *,
              closure: int | None = None, series_order: int | None = None, input_shape=None):
    r"""Cumulants of orders ``1..order`` of the output of ``model`` for an input with the given ``cumulants``.

    ``model`` is a torch network of the layers of the module docstring. The words
    mean what they mean for :func:`symcorr.pointwise` (docs/theory.md section 9):
    ``order`` (>= 2) is the highest cumulant order returned; ``closure`` (>= 2,
    default ``order``) the highest input cumulant order every pointwise layer
    uses, higher ones taken as zero (``closure=2`` is the Gaussian approximation
    of the paper). Every layer carries the orders ``1..max(order, closure)``;
    linear layers are exact at every order; for polynomial activations each
    pointwise layer is exact for its truncated input (docs/theory.md section 5), so
    e.g. ``order=2, closure=4`` gives the exact mean and covariance behind one
    quadratic layer of a Gaussian. Input cumulants above the carried orders are
    dropped. ``series_order`` is passed to non-polynomial activations
    (:func:`symcorr.pointwise`). ``input_shape`` is the shape of one input without
    the batch axis, e.g. ``(C, H, W)`` for a network that starts with ``nn.Conv2d``
    (the cumulants describe the input flattened row-major); by default the input
    is the flat feature vector, and a first layer that needs channels and
    positions infers them when only one shape fits (``nn.Conv1d``) and otherwise
    asks for ``input_shape``.

    Returns the output :class:`~symcorr.numeric.cumulants.Cumulants` (orders
    ``1..order``), or with ``trace=True`` the list of the cumulants after every
    layer of :func:`layers` (the input not included).
    """
    if not isinstance(cumulants, Cumulants):
        raise TypeError(f"cumulants must be a symcorr.Cumulants, got {type(cumulants).__name__}")
    order = order_argument("order", order)
    closure = order if closure is None else order_argument("closure", closure)
    carried = max(order, closure)
    entries, rules, shapes = _check_layers(model, cumulants.dim, input_shape)
    settings = Settings(carried, closure, series_order)

    current = cumulants if cumulants.order <= carried else Cumulants(*cumulants.tensors[:carried], check=False)
    history = []
    for (name, module), rule, shape in zip(entries, rules, shapes):
        try:
            current = rule.apply(module, current, replace(settings, shape=shape))
        except (ValueError, FloatingPointError) as error:
            raise type(error)(f"layer {name} ({type(module).__name__}): {error}") from None
        if trace:
            history.append(_returned(current, order))
    return history if trace else _returned(current, order)


def _returned(cumulants: Cumulants, order: int) -> Cumulants:
    """``cumulants`` without the orders above ``order`` (orders they do not hold stay implicit zeros)."""
    return cumulants if cumulants.order <= order else cumulants.truncated(order)


__all__ = ["propagate", "layers", "layer_label"]
