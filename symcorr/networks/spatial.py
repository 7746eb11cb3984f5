r"""Spatial layers as the affine maps they are (docs/theory.md section 3).

The cumulants describe the flattened feature vector :math:`x \in \mathbb{R}^{C P}`
(channels :math:`\times` positions, row-major like ``torch.flatten``); a
layer that receives features of shape ``(C, *spatial)`` and is affine in
them, :math:`y = M x + b`, moves every cumulant order exactly,
:math:`\kappa^{(n)}_y = M^{\otimes n}\kappa^{(n)}_x` (:func:`symcorr.numeric.linear.linear`):

* **batch norm in eval mode** (``nn.BatchNorm1d/2d/3d``): per channel
  :math:`y_{c,p} = s_c x_{c,p} + t_c` with
  :math:`s_c = \gamma_c / \sqrt{\hat\sigma^2_c + \epsilon}`,
  :math:`t_c = \beta_c - \hat\mu_c s_c` (running statistics
  :math:`\hat\mu_c, \hat\sigma^2_c`), a diagonal map applied directly:
  :math:`\kappa^{(n)}_{y,i_1..i_n} = s_{i_1}\cdots s_{i_n}\kappa^{(n)}_{x,i_1..i_n}`.
  In training mode, or without running statistics, it divides by each
  batch's own statistics, which is not a fixed map: refused;
* **convolutions** (``nn.Conv1d/2d/3d`` and the transposed ones: any stride,
  padding and padding mode, dilation, groups; bias) and **average pooling**
  (``nn.AvgPool1d/2d/3d`` with any ``count_include_pad``, ``ceil_mode``,
  ``divisor_override``; ``nn.AdaptiveAvgPool1d/2d/3d``): the matrix :math:`M`
  is built explicitly by running the layer, without its bias and in float64,
  on the identity basis (column :math:`j` of :math:`M` is the layer's response
  to the unit vector :math:`e_j`; a one-hot input makes every entry a single
  weight, so :math:`M` holds the layer's weights exactly); the bias is
  :math:`b_{c,p} = \mathrm{bias}_c`. :math:`M` has :math:`C P \times C' P'`
  float64 entries; its size is estimated before anything is allocated and a
  matrix above :data:`MATRIX_MEMORY_LIMIT` bytes is refused, naming the size.

Each kind is a pair ``shape(module, shape)`` / ``apply(module, cumulants, settings)``
registered in :data:`symcorr.networks.layers.LAYER_RULES`; ``settings.shape`` is the
feature shape the layer receives.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.linear import linear

#: Largest explicit matrix (bytes, float64) a convolution or pooling layer may be turned into.
MATRIX_MEMORY_LIMIT = 2**30
#: Bytes of identity basis pushed through a layer at once while its matrix is built.
_BASIS_CHUNK_BYTES = 2**25


class FlatInputError(ValueError):
    """A spatial layer received a flat feature vector: it needs ``(channels, *spatial)``.

    ``channels`` (``None`` when the layer does not fix them) and ``spatial`` (the number of
    spatial axes) let :func:`inferred_input_shape` infer the model's input shape."""

    def __init__(self, message: str, channels: int | None, spatial: int):
        super().__init__(message)
        self.channels = channels
        self.spatial = spatial


def _check_initialized(module) -> None:
    """Lazy modules (``nn.LazyConv2d``, ...) get their parameters from the first batch: refused before."""
    from torch.nn.parameter import is_lazy

    if any(is_lazy(parameter) for parameter in module.parameters()):
        raise ValueError("has uninitialized (lazy) parameters: run one batch through the model first")


def _describe(spatial: int) -> str:
    return "(C, " + ", ".join(("L",) if spatial == 1 else ("H", "W") if spatial == 2 else ("D", "H", "W")) + ")"


def _check_spatial(shape, spatial: int, channels: int | None, allowed=None):
    """``shape`` must be ``(C, *spatial)`` (or one of ``allowed`` ranks), with ``C == channels`` when given."""
    allowed = (spatial + 1,) if allowed is None else allowed
    if len(shape) not in allowed:
        expected = " or ".join("(C,)" if rank == 1 else _describe(rank - 1) for rank in allowed)
        if len(shape) == 1:
            raise FlatInputError(f"needs features of shape {expected} but receives a flat vector of {shape[0]}",
                                 channels, spatial)
        raise ValueError(f"needs features of shape {expected} but receives shape {tuple(shape)}")
    if channels is not None and shape[0] != channels:
        raise ValueError(f"expects {channels} channels but receives features of shape {tuple(shape)}")


def inferred_input_shape(error: FlatInputError, dim: int) -> tuple[int, ...] | None:
    """The model's input shape when a flat input of ``dim`` features can only mean one
    (``(C, dim / C)`` for a layer with one spatial axis and ``C`` channels), else ``None``."""
    if error.spatial == 1 and error.channels and dim % error.channels == 0:
        return (error.channels, dim // error.channels)
    return None


def input_shape_hint(error: FlatInputError, dim: int) -> str:
    """How to pass the input shape, with a guess when ``dim`` allows a square one."""
    example = _describe(error.spatial)
    if error.channels and error.spatial == 2 and dim % error.channels == 0:
        side = math.isqrt(dim // error.channels)
        if side * side * error.channels == dim:
            example = f"({error.channels}, {side}, {side})"
    return f"pass propagate(..., input_shape={example}) (the shape of one input, without the batch axis)"


# ---------------------------------------------------------------------------
# batch norm (eval mode): a diagonal affine map
# ---------------------------------------------------------------------------

#: feature ranks (without the batch axis) each batch-norm class accepts
_BATCH_NORM_RANKS = {"BatchNorm1d": (1, 2), "BatchNorm2d": (3,), "BatchNorm3d": (4,),
                     "LazyBatchNorm1d": (1, 2), "LazyBatchNorm2d": (3,), "LazyBatchNorm3d": (4,)}


def batch_norm_shape(module, shape):
    if module.training:
        raise ValueError("is in training mode, where it normalizes by each batch's own statistics (not a fixed "
                         "map): call model.eval() first")
    if module.running_mean is None or module.running_var is None:
        raise ValueError("has no running statistics (track_running_stats=False), so it normalizes by each batch's "
                         "own statistics even in eval mode: not a fixed map")
    _check_initialized(module)
    ranks = _BATCH_NORM_RANKS.get(type(module).__name__, tuple(range(1, 6)))
    spatial = max(ranks) - 1
    _check_spatial(shape, spatial, module.num_features, ranks)
    return tuple(shape)


def batch_norm_scale_shift(module) -> tuple[np.ndarray, np.ndarray]:
    r"""Per-channel :math:`(s_c, t_c)` of an eval-mode batch norm (module docstring), in float64."""
    import torch

    def float64(tensor):
        return tensor.detach().to("cpu", torch.float64).numpy()

    scale = 1.0 / np.sqrt(float64(module.running_var) + float(module.eps))
    if module.weight is not None:
        scale = scale * float64(module.weight)
    shift = -float64(module.running_mean) * scale
    if module.bias is not None:
        shift = shift + float64(module.bias)
    return scale, shift


def batch_norm_apply(module, cumulants, settings):
    scale, shift = batch_norm_scale_shift(module)
    positions = math.prod(settings.shape[1:])
    return scaled(cumulants, np.repeat(scale, positions), np.repeat(shift, positions))


def scaled(cumulants: Cumulants, scale: np.ndarray, shift: np.ndarray) -> Cumulants:
    r"""Cumulants of :math:`y_i = s_i x_i + t_i`: :math:`\kappa^{(1)}_y = s \odot \kappa^{(1)}_x + t`,
    :math:`\kappa^{(n)}_{y,i_1..i_n} = s_{i_1}\cdots s_{i_n}\kappa^{(n)}_{x,i_1..i_n}` (exact at every order: the
    input's exactness statuses and validity problems are carried along)."""
    if not (np.all(np.isfinite(scale)) and np.all(np.isfinite(shift))):
        raise ValueError("the scale or shift has a non-finite entry (NaN or inf)")
    out = [cumulants.mean * scale + shift]
    for tensor in cumulants.tensors[1:]:
        for axis in range(tensor.ndim):
            tensor = tensor * scale.reshape((-1,) + (1,) * (tensor.ndim - 1 - axis))
        out.append(tensor)
    return Cumulants(*out, check=False, exactness=cumulants.exactness, problems=cumulants.problems)


# ---------------------------------------------------------------------------
# convolutions and average pooling: explicit matrices
# ---------------------------------------------------------------------------

#: spatial axes of the average-pooling classes
_POOL_SPATIAL = {"AvgPool1d": 1, "AvgPool2d": 2, "AvgPool3d": 3,
                 "AdaptiveAvgPool1d": 1, "AdaptiveAvgPool2d": 2, "AdaptiveAvgPool3d": 3}


def _output_shape(module, shape) -> tuple[int, ...]:
    """The feature shape ``module`` emits for one input of ``shape`` (run on zeros; torch's errors named)."""
    import torch

    parameter = next(module.parameters(), None)
    dtype = torch.float64 if parameter is None else parameter.dtype
    device = "cpu" if parameter is None else parameter.device
    try:
        with torch.no_grad():
            out = module(torch.zeros((1, *shape), dtype=dtype, device=device))
    except RuntimeError as error:
        raise ValueError(f"cannot act on features of shape {tuple(shape)}: {error}") from None
    return tuple(out.shape[1:])


def matrix_bytes(n_in: int, n_out: int) -> int:
    """Bytes of the explicit float64 matrix of a layer from ``n_in`` to ``n_out`` features."""
    return 8 * n_in * n_out


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.2f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.1f} MiB"


def _check_matrix_memory(module, shape, out_shape) -> None:
    n_in, n_out = math.prod(shape), math.prod(out_shape)
    size = matrix_bytes(n_in, n_out)
    if size > MATRIX_MEMORY_LIMIT:
        raise ValueError(f"as an explicit linear map from {tuple(shape)} to {tuple(out_shape)} features is a "
                         f"{n_out} x {n_in} float64 matrix of {_size(size)}, above the bound of "
                         f"{_size(MATRIX_MEMORY_LIMIT)} (symcorr.networks.spatial.MATRIX_MEMORY_LIMIT): "
                         "use smaller feature maps or raise the bound if the memory is there")


def conv_shape(module, shape):
    _check_initialized(module)
    _check_spatial(shape, len(module.kernel_size), module.in_channels)
    out_shape = _output_shape(module, shape)
    _check_matrix_memory(module, shape, out_shape)
    return out_shape


def pool_shape(module, shape):
    _check_spatial(shape, _POOL_SPATIAL.get(type(module).__name__, len(shape) - 1), None)
    out_shape = _output_shape(module, shape)
    _check_matrix_memory(module, shape, out_shape)
    return out_shape


def layer_matrix(forward, shape) -> np.ndarray:
    r"""The matrix :math:`M` (``n_out x n_in``, float64) of the linear map ``forward`` on features of
    ``shape``: column :math:`j` is ``forward(e_j)``, the identity basis pushed through in chunks."""
    import torch

    n_in = math.prod(shape)
    columns = []
    chunk = max(1, _BASIS_CHUNK_BYTES // (8 * n_in))
    with torch.no_grad():
        for start in range(0, n_in, chunk):
            stop = min(n_in, start + chunk)
            basis = torch.zeros((stop - start, n_in), dtype=torch.float64)
            basis[torch.arange(stop - start), torch.arange(start, stop)] = 1.0
            columns.append(forward(basis.reshape(stop - start, *shape)).reshape(stop - start, -1).numpy().T)
    return np.ascontiguousarray(np.concatenate(columns, axis=1))


def _float64_copy_without_bias(module):
    import torch

    clone = copy.deepcopy(module).to(torch.float64)
    if getattr(clone, "bias", None) is not None:
        clone.bias = None
    return clone


def conv_apply(module, cumulants, settings):
    matrix = layer_matrix(_float64_copy_without_bias(module), settings.shape)
    bias = None
    if module.bias is not None:
        positions = matrix.shape[0] // module.out_channels
        bias = np.repeat(module.bias.detach().to("cpu").double().numpy(), positions)
    return linear(cumulants, matrix, bias)


def pool_apply(module, cumulants, settings):
    return linear(cumulants, layer_matrix(module, settings.shape))


__all__ = ["MATRIX_MEMORY_LIMIT", "FlatInputError", "inferred_input_shape", "input_shape_hint", "layer_matrix",
           "matrix_bytes", "scaled", "batch_norm_scale_shift"]
