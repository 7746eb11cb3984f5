r"""One rule per kind of torch layer: how cumulants move through it (docs/theory.md sections 3-4).

Each rule is a small function pair registered in :data:`LAYER_RULES`, in the
spirit of a serial combinator: :func:`symcorr.networks.propagation.propagate`
walks the model, finds each module's rule with :func:`rule_for` and applies
it. A rule

* ``shape(module, shape) -> shape``: checks the module against the shape of the
  features it receives (before any work) and returns the shape it emits;
  cumulants always describe the flattened feature vector, the shape is what
  spatial layers need;
* ``apply(module, cumulants, settings) -> Cumulants``: the cumulants after the layer;
* ``kind``: ``'affine'`` (exact at every order, docs/theory.md section 3) or
  ``'pointwise'`` (a nonlinearity; ``activation(module)`` gives its
  :class:`~symcorr.derivation.activation.Activation`, docs/theory.md section 4).

Supporting a new kind of layer means writing its two functions and adding one
line to :data:`LAYER_RULES`; anything without a rule is refused, naming it.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

import numpy as np

from symcorr.numeric.linear import linear


def _nn():
    from torch import nn

    return nn


@dataclass(frozen=True)
class Settings:
    """What every layer of one propagation shares: ``order`` carried, ``closure`` kept by
    pointwise layers, ``series_order`` for series families, ``keep_next_diagonal`` whether an
    odd closure also carries the diagonal of the next order (docs/theory.md section 9)."""

    order: int
    closure: int
    series_order: int | None = None
    keep_next_diagonal: bool | str | None = None


@dataclass(frozen=True)
class LayerRule:
    """How one kind of module moves cumulants (module docstring)."""

    module_type: str
    kind: str
    shape: Callable
    apply: Callable
    activation: Callable | None = None
    label: str = ""

    @property
    def name(self) -> str:
        """What the rule handles, for messages: ``nn.Linear``."""
        return self.label or "nn." + self.module_type.rpartition(".")[2]


def numpy64(tensor) -> np.ndarray:
    """A float64 NumPy view (float64 tensors) or copy of a parameter; NumPy's cast is
    several times faster than torch's ``.to(float64)`` for float32 weights."""
    tensor = tensor.detach().cpu()
    try:
        return np.asarray(tensor.numpy(), dtype=np.float64)
    except TypeError:  # dtypes NumPy lacks, e.g. bfloat16
        import torch

        return tensor.to(torch.float64).numpy()


def _features(shape) -> int:
    return int(np.prod(shape))


# ---------------------------------------------------------------------------
# the rules
# ---------------------------------------------------------------------------

def _linear_shape(module, shape):
    if _features(shape) != module.in_features:
        raise ValueError(f"expects {module.in_features} inputs but receives {_features(shape)}")
    return (module.out_features,)


def _linear_apply(module, cumulants, settings):
    bias = None if module.bias is None else numpy64(module.bias)
    return linear(cumulants, numpy64(module.weight), bias)


def _same_shape(module, shape):
    return shape


def _pass_through(module, cumulants, settings):
    return cumulants


def _flatten_shape(module, shape):
    if module.start_dim != 1 or module.end_dim != -1:
        raise ValueError(f"is nn.Flatten(start_dim={module.start_dim}, end_dim={module.end_dim}); only the default "
                         "Flatten(1, -1) (identity on the feature vector) is supported")
    return (_features(shape),)


def _activation_apply(module, cumulants, settings):
    from symcorr.numeric.pointwise import pointwise

    return pointwise(cumulants, module.activation, order=settings.order, closure=settings.closure,
                     series_order=settings.series_order, keep_next_diagonal=settings.keep_next_diagonal)


def _symcorr_activation(module):
    return module.activation


#: Rules in the order :func:`rule_for` tries them: (class path, rule).
LAYER_RULES = (
    LayerRule("torch.nn.Linear", "affine", _linear_shape, _linear_apply),
    LayerRule("torch.nn.Identity", "affine", _same_shape, _pass_through),
    LayerRule("torch.nn.Flatten", "affine", _flatten_shape, _pass_through),
    LayerRule("symcorr.networks.modules.SymcorrActivation", "pointwise", _same_shape, _activation_apply,
              _symcorr_activation, label="the activations of symcorr.nn (Quadratic, Polynomial, Erf)"),
)


def _resolve(path: str):
    import importlib

    module_name, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


def rule_for(module) -> LayerRule:
    """The rule of ``module``'s kind; a :class:`TypeError` naming the module and the supported kinds otherwise."""
    for rule in LAYER_RULES:
        if isinstance(module, _resolve(rule.module_type)):
            return rule
    supported = ", ".join(rule.name for rule in LAYER_RULES)
    raise TypeError(f"is an unsupported module {type(module).__name__} ({module!r}): propagate handles {supported} "
                    "and nested nn.Sequential")


__all__ = ["LAYER_RULES", "LayerRule", "Settings", "rule_for", "numpy64"]
