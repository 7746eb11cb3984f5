r"""Propagate cumulants through a torch ``nn.Sequential`` (MATH.md sections 3-5).

:func:`propagate` walks the layers of a feed-forward torch network and moves
the input cumulants through each one:

* ``nn.Linear`` -- exact at every order (MATH.md section 3),
  :math:`\kappa_z^{(1)} = W\kappa_y^{(1)} + b`,
  :math:`\kappa^{(n)}_{z,i_1..i_n} = \sum_j W_{i_1 j_1}\cdots W_{i_n j_n}\kappa^{(n)}_{y,j_1..j_n}`,
  contracted one mode at a time (:func:`symcorr.numeric.cumulants.linear`);
* a :mod:`symcorr.networks.modules` activation -- the cumulant expansion of MATH.md section 4
  through the generated kernels (:func:`symcorr.numeric.pointwise.pointwise`), with
  output orders ``1..K`` from input orders ``1..K`` (the closure ``K``:
  cumulants above ``K`` are taken as zero in every layer);
* ``nn.Identity``, ``nn.Flatten`` (default ``start_dim=1, end_dim=-1``, i.e.
  the identity on the flattened feature vector the cumulants describe), and
  nested ``nn.Sequential`` containers -- passed through.

Anything else raises an error naming the module. All arithmetic is float64
whatever the model's dtype (weights are converted on the fly; the model is
not modified). The input cumulants are validated once (when the
:class:`~symcorr.numeric.cumulants.Cumulants` was built) and the layers are checked
before any work; intermediate results skip re-validation.
"""
from __future__ import annotations


import numpy as np

from symcorr.numeric.cumulants import Cumulants
from symcorr.networks import require_torch
from symcorr.numeric.linear import linear

_PASS_THROUGH = ("Identity", "Flatten")


def _torch():
    torch = require_torch("symcorr.propagate")
    from torch import nn

    return torch, nn


def layers(model) -> list[tuple[str, object]]:
    """The modules of ``model`` in execution order as ``(name, module)``, nested ``nn.Sequential`` flattened.

    Names are the dotted paths of ``model.named_modules()`` (``'0'``, ``'3.1'``);
    a single non-container module is one layer named ``'0'``. :func:`propagate`
    with ``trace=True`` and :func:`symcorr.networks.montecarlo.monte_carlo` return one
    entry per layer of this list.
    """
    _, nn = _torch()
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch nn.Module (an nn.Sequential), got {type(model).__name__}")
    if not isinstance(model, nn.Sequential):
        return [("0", model)]
    out = []

    def walk(container, prefix):
        for name, module in container.named_children():
            path = f"{prefix}{name}"
            if isinstance(module, nn.Sequential):
                walk(module, path + ".")
            else:
                out.append((path, module))

    walk(model, "")
    return out


def layer_label(name: str, module) -> str:
    """A short label such as ``'2:Quadratic(alpha=0.5)'`` for tables."""
    extra = module.extra_repr() if hasattr(module, "extra_repr") else ""
    if type(module).__name__ == "Linear":
        extra = f"{module.in_features}->{module.out_features}"
    return f"{name}:{type(module).__name__}" + (f"({extra.replace(' ', '')})" if extra else "")


def _check_layers(model, dim: int):
    """Check every layer and the widths before any work; returns the layer list and per-layer widths."""
    torch, nn = _torch()
    from symcorr.networks.modules import SymcorrActivation

    entries = layers(model)
    if not entries:
        raise ValueError("the model has no layers")
    widths = []
    width = dim
    for name, module in entries:
        kind = type(module).__name__
        if isinstance(module, nn.Linear):
            if module.in_features != width:
                raise ValueError(f"layer {name} ({kind}) expects {module.in_features} inputs but receives "
                                 f"{width} (cumulants of dimension {dim} at the input)")
            width = module.out_features
        elif isinstance(module, SymcorrActivation):
            pass
        elif isinstance(module, nn.Flatten):
            if module.start_dim != 1 or module.end_dim != -1:
                raise ValueError(f"layer {name} is nn.Flatten(start_dim={module.start_dim}, end_dim={module.end_dim}); "
                                 "only the default Flatten(1, -1) (identity on the feature vector) is supported")
        elif isinstance(module, nn.Identity):
            pass
        else:
            raise TypeError(f"layer {name} is an unsupported module {kind} ({module!r}): propagate handles "
                            "nn.Linear, the activations of symcorr.networks.modules (Quadratic, Polynomial, Erf), "
                            "nn.Identity, nn.Flatten and nested nn.Sequential")
        widths.append(width)
    return entries, widths


def _numpy64(tensor) -> np.ndarray:
    """A float64 NumPy view (float64 tensors) or copy of a parameter; NumPy's cast is
    several times faster than torch's ``.to(float64)`` for float32 weights."""
    tensor = tensor.detach().cpu()
    try:
        return np.asarray(tensor.numpy(), dtype=np.float64)
    except TypeError:  # dtypes NumPy lacks, e.g. bfloat16
        torch, _ = _torch()
        return tensor.to(torch.float64).numpy()


def propagate(model, cumulants: Cumulants, order: int = 2, trace: bool = False, *,
              series_order: int | None = None):
    r"""Cumulants of the output of ``model`` for an input with the given ``cumulants``.

    ``model`` is an ``nn.Sequential`` of ``nn.Linear``, :mod:`symcorr.networks.modules`
    activations, ``nn.Identity`` / ``nn.Flatten`` (module docstring).
    ``order`` is the closure ``K`` (>= 2): every layer carries cumulants of
    orders ``1..K``, higher ones are set to zero (``K = 2`` is the Gaussian
    approximation of the paper; for polynomial activations each pointwise
    layer is exact for its truncated input, MATH.md section 5). Input
    cumulants above ``K`` are dropped. ``series_order`` is passed to
    non-polynomial activations (:func:`symcorr.numeric.pointwise.pointwise`).

    Returns the output :class:`~symcorr.numeric.cumulants.Cumulants`, or with
    ``trace=True`` the list of the cumulants after every layer of
    :func:`layers` (the input not included).
    """
    from symcorr.numeric.pointwise import pointwise
    from symcorr.networks.modules import SymcorrActivation

    if not isinstance(cumulants, Cumulants):
        raise TypeError(f"cumulants must be a symcorr.Cumulants, got {type(cumulants).__name__}")
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 2:
        raise ValueError(f"order (the closure K) must be an integer >= 2, got {order!r}")
    order = int(order)
    entries, _ = _check_layers(model, cumulants.dim)
    _, nn = _torch()

    current = cumulants if cumulants.order <= order else Cumulants(*cumulants.tensors[:order], check=False)
    history = []
    for name, module in entries:
        if isinstance(module, nn.Linear):
            bias = None if module.bias is None else _numpy64(module.bias)
            try:
                current = linear(current, _numpy64(module.weight), bias)
            except ValueError as error:
                raise ValueError(f"layer {name} (Linear): {error}") from None
        elif isinstance(module, SymcorrActivation):
            try:
                current = pointwise(current, module.activation, order=order, series_order=series_order)
            except (ValueError, FloatingPointError) as error:
                raise type(error)(f"layer {name} ({type(module).__name__}): {error}") from None
        # Identity and Flatten pass the cumulants through
        if trace:
            history.append(current)
    return history if trace else current


__all__ = ["propagate", "layers", "layer_label"]
