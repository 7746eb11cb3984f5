r"""Data in at any input width: samples pushed through a model's leading affine layers.

``propagate(model, data=X, ...)`` does not form cumulant tensors of the
input (784 pixels: order 4 would be 3 TB). It pushes the samples through the
leading affine layers (``nn.Linear``, ``nn.Flatten``, ... -- every layer before
the first pointwise one) in torch, batch by batch, and forms the cumulants of
the first pre-activation from them with
:class:`~symcorr.numeric.data_cumulants.DataCumulants`: dense mean and
covariance, and orders 3..4 as slices computed on demand, only those the first
nonlinearity's formulas read (for mean and covariance at closure 4 the
two-label slices ``'iij'``, ``'iijj'``, ... at :math:`O(P N^2)` each). Neither
the input dimension nor the layer width appears to the fourth power, and the
first nonlinearity sees the data's own cumulants up to the closure (unbiased
k-statistics; their standard errors from
:meth:`~symcorr.numeric.data_cumulants.DataCumulants.standard_error`).
"""
from __future__ import annotations

import copy

import numpy as np

from symcorr.numeric.budget import FLOAT, check_memory
from symcorr.numeric.progress import progress_bar


def _batches(data, batch_size: int):
    """``(number of rows or None, iterator of float64 torch batches)`` of an array, a tensor or a DataLoader."""
    import torch

    if isinstance(data, (np.ndarray, torch.Tensor)):
        tensor = torch.as_tensor(np.asarray(data, dtype=np.float64)) if isinstance(data, np.ndarray) \
            else data.detach().to("cpu", torch.float64)
        if tensor.ndim < 2:
            raise ValueError(f"data must have one row per sample, shape (P, ...), got shape {tuple(tensor.shape)}")
        return tensor.shape[0], (tensor[start:start + batch_size] for start in range(0, tensor.shape[0], batch_size))
    if hasattr(data, "__iter__"):
        def rows():
            for batch in data:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                yield torch.as_tensor(x).detach().to("cpu", torch.float64)
        size = len(data.dataset) if hasattr(data, "dataset") and hasattr(data.dataset, "__len__") else None
        return size, rows()
    raise TypeError(f"data must be an array or tensor of samples (P, ...) or an iterable of batches (a DataLoader), "
                    f"got {type(data).__name__}")


def leading_affine(rules) -> int:
    """The number of layers before the first pointwise one."""
    for index, rule in enumerate(rules):
        if rule.kind == "pointwise":
            return index
    return len(rules)


def sample_shape(data) -> tuple[int, ...]:
    """The shape of one sample of ``data`` (an array, a tensor, or the first batch of an iterable)."""
    if hasattr(data, "shape"):
        return tuple(int(s) for s in data.shape[1:])
    _, batches = _batches(data, 1)
    first = next(iter(batches), None)
    if first is None:
        raise ValueError("data holds no samples")
    return tuple(int(s) for s in first.shape[1:])


def data_input(entries, rules, data, order: int, groups: int, batch_size: int, keep_all: bool,
               progress: bool | None):
    """``(start, cumulants, leading)``: the index of the first pointwise layer, the
    :class:`~symcorr.numeric.data_cumulants.DataCumulants` (orders ``1..order``) of the samples entering it,
    and (``keep_all``) those after each leading affine layer, for a trace."""
    from symcorr.numeric.data_cumulants import DataCumulants

    start = leading_affine(rules)
    shape = sample_shape(data)
    widths = []
    for (_, module), rule in zip(entries[:start], rules[:start]):
        shape = rule.shape(module, shape)
        widths.append(int(np.prod(shape)))
    modules = [module for _, module in entries[:start]]
    samples = push_samples(modules, data, widths or [int(np.prod(shape))], batch_size, keep_all and bool(modules),
                           progress)
    cumulants = [DataCumulants(s, order, groups) for s in samples]
    return start, cumulants[-1], (cumulants if keep_all and modules else [])


def push_samples(modules, data, widths, batch_size: int = 4096, keep_all: bool = False,
                 progress: bool | None = None) -> list[np.ndarray]:
    """The samples after each of ``modules`` (float64 copies run in torch): only the last one's, or every
    layer's with ``keep_all``; ``widths`` are the layers' flattened output widths (for the memory estimate)."""
    import torch

    size, batches = _batches(data, batch_size)
    kept = widths if keep_all else widths[-1:]
    if size is not None:
        check_memory(FLOAT * size * sum(kept), f"the samples of {size} rows after the leading affine layers "
                     f"(widths {', '.join(map(str, kept))})", "pass fewer samples (or a DataLoader of a subset)")
    run = [copy.deepcopy(m).to(torch.float64) for m in modules]
    outputs = [[] for _ in kept]       # no modules: the flattened data itself
    with torch.no_grad(), progress_bar(size or 0, "data in", progress, "sample") as bar:
        for x in batches:
            values = []
            for module in run:
                x = module(x)
                values.append(x)
            if not run:
                values = [x]
            for slot, value in zip(outputs, values if keep_all else values[-1:]):
                slot.append(value.reshape(value.shape[0], -1).numpy())
            bar.update(x.shape[0])
    if not outputs[0]:
        raise ValueError("data holds no samples")
    return [np.concatenate(chunks) for chunks in outputs]


__all__ = ["push_samples", "leading_affine", "sample_shape", "data_input"]
