r"""Monte Carlo estimates of the cumulants of every layer of a torch network (MATH.md section 7).

:func:`monte_carlo` samples inputs (a :class:`~symcorr.numeric.distributions.Gaussian`, a
:class:`~symcorr.numeric.distributions.GaussianMixture`, a Gaussian
:class:`~symcorr.numeric.cumulants.Cumulants`, or the rows of a data array), pushes
them through the network in batches, and feeds every layer's output to a
streaming :class:`~symcorr.numeric.kstatistics.CumulantEstimator`: unbiased
k-statistics from float64 power sums (shifted by a pilot mean), with
batch-means standard errors. Memory is bounded by the batch size and the
tensors :math:`N^{K}` of each recorded layer, not by the number of samples;
results over disjoint samples (different seeds) merge with
:meth:`MonteCarloResult.merge`.

The layers are those of :func:`symcorr.networks.propagation.layers`, so
``monte_carlo(model, ...)[l]`` estimates what
``propagate(model, ..., trace=True)[l]`` computes, and
:meth:`~symcorr.numeric.kstatistics.SampleCumulants.z_scores` compares them.
"""
from __future__ import annotations

import copy
import math
import time

import numpy as np

from symcorr.numeric.kstatistics import CumulantEstimator, SampleCumulants, _check_order
from symcorr.networks.propagation import layers as model_layers
from symcorr.numeric.distributions import DataSource, Gaussian, GaussianMixture, as_source
from symcorr.numeric.budget import FLOAT, check_memory
from symcorr.numeric.progress import progress_bar


class MonteCarloResult:
    """Per-layer estimates of :func:`monte_carlo`; indexable like ``propagate(..., trace=True)``.

    ``result[l]`` is the :class:`~symcorr.numeric.kstatistics.SampleCumulants` of
    layer ``l`` (``None`` if it was not recorded), ``result.input`` that of
    the input (when recorded), ``result.output`` the last layer's,
    ``result.n_samples`` and ``result.seconds`` (wall time of the sampling).
    """

    def __init__(self, estimators, input_estimator, names, seconds):
        self._estimators = list(estimators)
        self._input = input_estimator
        self.names = list(names)
        self.seconds = float(seconds)
        self._cache = {}

    def _result(self, key, estimator):
        if estimator is None:
            return None
        if key not in self._cache:
            self._cache[key] = estimator.result()
        return self._cache[key]

    @property
    def layers(self) -> list[SampleCumulants | None]:
        return [self._result(l, e) for l, e in enumerate(self._estimators)]

    def __getitem__(self, index) -> SampleCumulants | None:
        return self.layers[index]

    def __len__(self) -> int:
        return len(self._estimators)

    def __iter__(self):
        return iter(self.layers)

    @property
    def input(self) -> SampleCumulants | None:
        return self._result("input", self._input)

    @property
    def output(self) -> SampleCumulants | None:
        return self[-1]

    @property
    def n_samples(self) -> int:
        for estimator in [*self._estimators, self._input]:
            if estimator is not None:
                return estimator.count
        return 0

    def merge(self, other: "MonteCarloResult") -> "MonteCarloResult":
        """Fold in a result over disjoint samples of the same network (e.g. another seed)."""
        if len(other) != len(self) or other.names != self.names:
            raise ValueError("can only merge Monte Carlo results of the same network")
        for mine, theirs in zip([*self._estimators, self._input], [*other._estimators, other._input]):
            if (mine is None) != (theirs is None):
                raise ValueError("can only merge Monte Carlo results recording the same layers")
            if mine is not None:
                mine.merge(theirs)
        self.seconds += other.seconds
        self._cache.clear()
        return self

    def __repr__(self) -> str:
        return f"MonteCarloResult(layers={len(self)}, n_samples={self.n_samples})"


def _layer_orders(order, n_layers: int) -> list[int]:
    if isinstance(order, (int, np.integer)) and not isinstance(order, bool):
        return [_check_order(order)] * n_layers
    orders = list(order)
    if len(orders) != n_layers:
        raise ValueError(f"order must be an integer or one entry per layer ({n_layers}), got {len(orders)} entries")
    return [0 if o in (None, 0) else _check_order(o) for o in orders]


def monte_carlo(model, inputs, n_samples: int | None = None, order=2, *, batch_size: int = 8192,
                groups: int = 64, seed: int = 0, dtype="float64", input_order: int = 0,
                threads: int | None = None, progress: bool | None = None) -> MonteCarloResult:
    r"""Estimate the cumulants of every layer of ``model`` by sampling.

    ``inputs``: a :class:`~symcorr.numeric.distributions.Gaussian`,
    :class:`~symcorr.numeric.distributions.GaussianMixture`, a Gaussian
    :class:`~symcorr.numeric.cumulants.Cumulants`, or a data array (NumPy or torch,
    shape ``(n, ...)``; rows drawn without replacement in a seeded order).
    ``n_samples`` (default: all rows of a data array) may be any number: the
    samples are streamed in batches of ``batch_size``. ``order`` (1..4) is
    the highest cumulant order estimated, one integer for every layer or one
    entry per layer of :func:`symcorr.networks.propagation.layers` (0 skips a layer);
    ``input_order`` > 0 also records the input. ``groups`` batch-means groups
    give the standard errors (``groups - 1`` degrees of freedom). ``dtype``
    ``"float64"`` (default) runs a float64 copy of the model; ``"model"``
    runs the model in its own dtype. ``threads`` sets torch's thread count for
    the run (restored afterwards); the default is 1 for networks no wider than
    256 units, where the per-batch products are too small to gain from threads
    and spinning thread pools only slow a busy machine down, and torch's own
    setting otherwise. ``progress``: a progress bar over the samples (``None``: only
    on a terminal, :func:`symcorr.numeric.progress.progress_bar`).

    Returns a :class:`MonteCarloResult`, indexable per layer.
    """
    import torch

    entries = model_layers(model)
    names = [name for name, _ in entries]
    orders = _layer_orders(order, len(entries))
    if input_order:
        input_order = _check_order(input_order)
    source = as_source(inputs)
    if n_samples is None:
        if not isinstance(source, DataSource):
            raise ValueError("n_samples is required when sampling from a distribution")
        n_samples = source.n
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    n_samples = int(n_samples)
    if isinstance(source, DataSource):
        if n_samples > source.n:
            raise ValueError(f"n_samples={n_samples} exceeds the {source.n} rows of the data array")
        source.reset()
    if not isinstance(groups, (int, np.integer)) or groups < 2:
        raise ValueError(f"groups must be an integer >= 2, got {groups!r}")
    top = max([*orders, input_order])
    group_size = math.ceil(n_samples / groups)
    if group_size < 2 * top + 2:
        raise ValueError(f"{n_samples} samples in {groups} groups are too few for order {top}: "
                         f"need at least {groups * (2 * top + 2)}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")

    if dtype == "model":
        run = model
        parameter = next(iter(model.parameters()), None)
        torch_dtype = parameter.dtype if parameter is not None else torch.get_default_dtype()
    else:
        torch_dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        run = copy.deepcopy(model).to(torch_dtype)
    modules = [module for _, module in model_layers(run)]

    if threads is None:
        widest = max([getattr(m, "out_features", 0) for m in modules] + [getattr(m, "in_features", 0) for m in modules])
        threads = 1 if widest <= 256 else torch.get_num_threads()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        with progress_bar(n_samples, "Monte Carlo", progress, "sample") as bar:
            return _run(source, modules, names, orders, input_order, n_samples, batch_size, group_size, seed,
                        torch_dtype, bar)
    finally:
        torch.set_num_threads(previous_threads)


def _torch_matmul(a, b):
    import torch

    return (torch.from_numpy(np.ascontiguousarray(a)) @ torch.from_numpy(np.ascontiguousarray(b))).numpy()


def _draw(source, size, rng):
    """A batch of inputs; Gaussian transforms run in torch's thread pool (see ``threads``)."""
    if isinstance(source, (Gaussian, GaussianMixture)):
        return source.sample(size, rng, matmul=_torch_matmul)
    return source.sample(size, rng)


#: Tensors of each order a streaming estimator keeps (total and group power sums, the group statistics
#: mean and spread, the result): the memory estimate of :func:`_check_estimator_memory`.
ESTIMATOR_COPIES = 6


def _check_estimator_memory(what: str, width: int, order: int) -> None:
    """Refuse (:class:`~symcorr.numeric.budget.MemoryBudgetError`) before an estimator of orders >= 3 allocates."""
    if order >= 3:
        check_memory(ESTIMATOR_COPIES * FLOAT * sum(width**n for n in range(1, order + 1)),
                     f"Monte Carlo estimates of orders 1..{order} at {what} ({width} units)",
                     "a lower order for this layer (order may be one entry per layer, 0 skips it)")


def _run(source, modules, names, orders, input_order, n_samples, batch_size, group_size, seed, torch_dtype, bar):
    import torch

    rng = np.random.default_rng(seed)
    estimators = [None] * len(modules)
    input_estimator = None
    start = time.perf_counter()
    done = 0
    with torch.no_grad():
        while done < n_samples:
            size = min(batch_size, n_samples - done)
            batch = _draw(source, size, rng)
            if input_order:
                flat = batch.reshape(size, -1)
                if input_estimator is None:
                    _check_estimator_memory("the input", flat.shape[1], input_order)
                    input_estimator = CumulantEstimator(flat.shape[1], input_order, group_size)
                input_estimator.update(torch.from_numpy(np.ascontiguousarray(flat)), check=False)
            x = torch.from_numpy(batch).to(torch_dtype)
            for l, module in enumerate(modules):
                try:
                    x = module(x)
                except Exception as error:  # name the layer that failed
                    raise RuntimeError(f"layer {names[l]} ({type(module).__name__}) failed on a batch: {error}") from error
                if orders[l]:
                    values = x.detach().to(torch.float64).reshape(size, -1).cpu()
                    if not bool(torch.isfinite(values).all()):
                        raise FloatingPointError(f"layer {names[l]} ({type(module).__name__}) produced a non-finite "
                                                 "value (overflow): the inputs are too large for this network")
                    if estimators[l] is None:
                        _check_estimator_memory(f"layer {names[l]}", values.shape[1], orders[l])
                        estimators[l] = CumulantEstimator(values.shape[1], orders[l], group_size)
                    try:
                        estimators[l].update(values, check=False)
                    except FloatingPointError as error:
                        raise FloatingPointError(f"layer {names[l]} ({type(module).__name__}): {error}") from None
            done += size
            bar.update(size)
    return MonteCarloResult(estimators, input_estimator, names, time.perf_counter() - start)


__all__ = ["monte_carlo", "MonteCarloResult"]
