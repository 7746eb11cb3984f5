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

The rules cover ``nn.Linear``; the shape bookkeeping of ``nn.Flatten`` and
``nn.Unflatten`` (any dims but the batch axis: they keep the row-major order
of the features, so the cumulants pass unchanged), ``nn.Identity`` and the
dropout modules in eval mode (identities; refused in training mode); batch
norm in eval mode, convolutions and average pooling as explicit affine maps
(:mod:`symcorr.networks.spatial`); the activations of :mod:`symcorr.nn` and
torch's own (``nn.ReLU``, ``nn.GELU``, ... mapped to symcorr activation
families by :mod:`symcorr.networks.torch_activations`).

Supporting a new kind of layer means writing its two functions and adding one
line to :data:`LAYER_RULES`; anything without a rule is refused, naming it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from symcorr.networks import spatial
from symcorr.networks.torch_activations import TORCH_ACTIVATIONS, torch_activation
from symcorr.numeric.linear import linear


def _nn():
    from torch import nn

    return nn


@dataclass(frozen=True)
class Settings:
    """What every layer of one propagation shares: ``order`` carried, ``closure`` kept by
    pointwise layers, ``series_order`` for series families, ``keep_next_diagonal`` whether an
    odd closure also carries the diagonal of the next order (docs/theory.md section 9), ``pair_mean`` whether also
    the mean of its pair entries (section 9.5); and
    ``shape``, the feature shape the layer at hand receives (set per layer); ``representation``
    and ``tolerance``, how pointwise layers hold orders >= 3 (:func:`symcorr.numeric.pointwise.pointwise`)."""

    order: int
    closure: int
    series_order: int | None = None
    shape: tuple[int, ...] | None = None
    keep_next_diagonal: bool | str | None = None
    pair_mean: bool = False
    representation: str = "auto"
    tolerance: float | None = None


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
    if len(shape) > 1:
        raise ValueError(f"receives features of shape {tuple(shape)} and would act on their last axis only: "
                         "put nn.Flatten() before it")
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


def _feature_axis(dim: int, shape, what: str) -> int:
    """The feature axis (0-based, batch axis excluded) of torch's ``dim`` on a batch of ``shape``."""
    rank = len(shape) + 1
    if not -rank <= dim < rank:
        raise ValueError(f"has {what}={dim}, out of range for features of shape {tuple(shape)} (plus the batch axis)")
    dim %= rank
    if dim == 0:
        raise ValueError(f"has {what}={dim}, the batch axis: it would mix the samples of a batch; "
                         "only the feature axes (1, 2, ...) can be reshaped")
    return dim - 1


def _flatten_shape(module, shape):
    start = _feature_axis(module.start_dim, shape, "start_dim")
    end = _feature_axis(module.end_dim, shape, "end_dim")
    if start > end:
        raise ValueError(f"has start_dim={module.start_dim} after end_dim={module.end_dim}")
    return (*shape[:start], _features(shape[start:end + 1]), *shape[end + 1:])


def _resolved_sizes(sizes, features: int) -> tuple[int, ...]:
    """``sizes`` (at most one ``-1``, inferred) holding exactly ``features`` features."""
    sizes = tuple(sizes)
    if not all(isinstance(size, int) for size in sizes):
        raise ValueError(f"has sizes {sizes!r}; only integer sizes are supported")
    known = _features([size for size in sizes if size != -1])
    if sizes.count(-1) > 1 or any(size < -1 for size in sizes) or known == 0:
        raise ValueError(f"has invalid sizes {sizes}")
    if -1 in sizes:
        if features % known:
            raise ValueError(f"cannot split {features} features into sizes {sizes}")
        sizes = tuple(features // known if size == -1 else size for size in sizes)
    if _features(sizes) != features:
        raise ValueError(f"splits {features} features into sizes {sizes} ({_features(sizes)} features)")
    return sizes


def _unflatten_shape(module, shape):
    axis = _feature_axis(module.dim, shape, "dim")
    return (*shape[:axis], *_resolved_sizes(module.unflattened_size, shape[axis]), *shape[axis + 1:])


def _reshape_shape(module, shape):
    features = _features(shape)
    if module.batch_inferred and (-1 in module.sizes or _features(module.sizes) != features):
        raise ValueError(f"reshapes to (-1, {', '.join(map(str, module.sizes))}) but each sample has {features} "
                         "features: the batch axis would change; write x.view(x.size(0), ...)")
    return _resolved_sizes(module.sizes, features)


def _dropout_shape(module, shape):
    if module.training and module.p > 0:
        raise ValueError(f"is in training mode, where it zeroes a random fraction p={module.p:g} of the features: "
                         "call model.eval() first (in eval mode dropout is the identity)")
    return shape


def _pointwise(cumulants, activation, settings):
    from symcorr.numeric.pointwise import pointwise

    return pointwise(cumulants, activation, order=settings.order, closure=settings.closure,
                     series_order=settings.series_order, keep_next_diagonal=settings.keep_next_diagonal,
                     pair_mean=settings.pair_mean,
                     representation=settings.representation, tolerance=settings.tolerance)


def _activation_apply(module, cumulants, settings):
    return _pointwise(cumulants, module.activation, settings)


def _symcorr_activation(module):
    return module.activation


def _torch_activation_shape(module, shape):
    torch_activation(module)  # the family exists and the settings are exact: checked before any work
    return shape


def _torch_activation_apply(module, cumulants, settings):
    return _pointwise(cumulants, torch_activation(module), settings)


#: Rules in the order :func:`rule_for` tries them: (class path, rule).
LAYER_RULES = (
    LayerRule("torch.nn.Linear", "affine", _linear_shape, _linear_apply),
    LayerRule("torch.nn.Identity", "affine", _same_shape, _pass_through),
    LayerRule("torch.nn.Flatten", "affine", _flatten_shape, _pass_through),
    LayerRule("torch.nn.Unflatten", "affine", _unflatten_shape, _pass_through),
    LayerRule("symcorr.networks.tracing.FeatureReshape", "affine", _reshape_shape, _pass_through,
              label="x.view/x.reshape of the features (traced)"),
    LayerRule("torch.nn.modules.dropout._DropoutNd", "affine", _dropout_shape, _pass_through,
              label="nn.Dropout (and Dropout1d/2d/3d, AlphaDropout) in eval mode"),
    LayerRule("torch.nn.modules.batchnorm._BatchNorm", "affine", spatial.batch_norm_shape, spatial.batch_norm_apply,
              label="nn.BatchNorm1d/2d/3d in eval mode"),
    LayerRule("torch.nn.modules.conv._ConvNd", "affine", spatial.conv_shape, spatial.conv_apply,
              label="nn.Conv1d/2d/3d, nn.ConvTranspose1d/2d/3d"),
    LayerRule("torch.nn.modules.pooling._AvgPoolNd", "affine", spatial.pool_shape, spatial.pool_apply,
              label="nn.AvgPool1d/2d/3d"),
    LayerRule("torch.nn.modules.pooling._AdaptiveAvgPoolNd", "affine", spatial.pool_shape, spatial.pool_apply,
              label="nn.AdaptiveAvgPool1d/2d/3d"),
    LayerRule("symcorr.networks.modules.SymcorrActivation", "pointwise", _same_shape, _activation_apply,
              _symcorr_activation, label="the activations of symcorr.nn (Quadratic, Polynomial, Erf)"),
    *(LayerRule(entry.module_type, "pointwise", _torch_activation_shape, _torch_activation_apply, torch_activation)
      for entry in TORCH_ACTIVATIONS),
)

#: Why common modules without a rule are refused (class-name prefix -> reason).
UNSUPPORTED_REASONS = {
    "MaxPool": "max pooling is neither affine nor pointwise",
    "AdaptiveMaxPool": "max pooling is neither affine nor pointwise",
    "FractionalMaxPool": "max pooling is neither affine nor pointwise",
    "LPPool": "power-average pooling is neither affine nor pointwise",
    "LayerNorm": "layer norm divides each sample by its own statistics (not a fixed map)",
    "GroupNorm": "group norm divides each sample by its own statistics (not a fixed map)",
    "InstanceNorm": "instance norm divides each sample by its own statistics (not a fixed map)",
    "LocalResponseNorm": "local response norm divides by the sample's own activity (not a fixed map)",
    "RMSNorm": "RMS norm divides each sample by its own statistics (not a fixed map)",
    "MultiheadAttention": "attention multiplies features with each other",
    "Transformer": "attention multiplies features with each other",
    "Softmax": "softmax couples all features of a sample (not pointwise)",
    "LogSoftmax": "log-softmax couples all features of a sample (not pointwise)",
    "Bilinear": "a bilinear layer multiplies features with each other",
}


def _resolve(path: str):
    import importlib

    module_name, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


def rule_for(module) -> LayerRule:
    """The rule of ``module``'s kind; a :class:`TypeError` naming the module and the supported kinds otherwise."""
    for rule in LAYER_RULES:
        if isinstance(module, _resolve(rule.module_type)):
            return rule
    name = type(module).__name__
    reason = next((why for prefix, why in UNSUPPORTED_REASONS.items() if name.startswith(prefix)), None)
    supported = ", ".join(rule.name for rule in LAYER_RULES)
    raise TypeError(f"is an unsupported module {name} ({module!r})" + (f": {reason}" if reason else "")
                    + f"; propagate handles {supported} and nested nn.Sequential")


__all__ = ["LAYER_RULES", "LayerRule", "Settings", "rule_for", "numpy64", "UNSUPPORTED_REASONS"]
