r"""Monte Carlo estimates of the cumulants of every layer of a torch network (docs/theory.md section 7).

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

A run is a sequence of shards (:class:`ShardLayout`): shard ``k`` pushes a
contiguous block of whole batch-means groups, drawn from its own random stream
(:func:`shard_generator`), through the model and returns its estimators
(:func:`run_shard`); :func:`monte_carlo` merges the shards in index order. In one
process the shards run one after the other; with a Dask client they run on the
workers (:mod:`symcorr.networks.distributed`) and are merged in the same order, so
the power sums are bit-identical for the same seed, shard layout and thread count.
The default, one shard, is the single stream ``default_rng(seed)``.

The layers are those of :func:`symcorr.networks.propagation.layers`, so
``monte_carlo(model, ...)[l]`` estimates what
``propagate(model, ..., trace=True)[l]`` computes, and
:meth:`~symcorr.numeric.kstatistics.SampleCumulants.z_scores` compares them.
"""
from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass

import numpy as np

from symcorr.networks import require_torch
from symcorr.networks.tracing import layer_chain
from symcorr.numeric.budget import FLOAT, check_memory
from symcorr.numeric.distributions import DataSource, Gaussian, GaussianMixture, as_source
from symcorr.numeric.progress import progress_bar
from symcorr.numeric.kstatistics import CumulantEstimator, SampleCumulants, _check_order


class MonteCarloResult:
    """Per-layer estimates of :func:`monte_carlo`; indexable like ``propagate(..., trace=True)``.

    ``result[l]`` is the :class:`~symcorr.numeric.kstatistics.SampleCumulants` of
    layer ``l`` (``None`` if it was not recorded), ``result.input`` that of
    the input (when recorded), ``result.output`` the last layer's,
    ``result.n_samples``, ``result.seconds`` (wall time of the sampling) and
    ``result.layout`` (the :class:`ShardLayout` of a :func:`monte_carlo` run).
    """

    def __init__(self, estimators, input_estimator, names, seconds, layout=None):
        self._estimators = list(estimators)
        self._input = input_estimator
        self.names = list(names)
        self.seconds = float(seconds)
        self.layout = layout
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


@dataclass(frozen=True)
class ShardLayout:
    r"""How the ``n_samples`` samples of one run split into ``shards`` shards.

    The samples form :math:`G = \lceil n / g \rceil` consecutive batch-means groups of
    ``group_size`` :math:`g` (the last may be shorter); shard :math:`k` of :math:`S` holds
    the whole groups :math:`\lfloor kG/S \rfloor .. \lfloor (k+1)G/S \rfloor - 1`, so every
    layout has the same batch-means groups (their number and sizes; the standard errors
    keep their :math:`G - 1` degrees of freedom). Needs :math:`S \le G`.
    """

    n_samples: int
    group_size: int
    shards: int = 1

    def __post_init__(self):
        for name in ("n_samples", "group_size", "shards"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.shards > self.n_groups:
            raise ValueError(f"{self.shards} shards need at least as many batch-means groups, but "
                             f"{self.n_samples} samples in groups of {self.group_size} make {self.n_groups}: "
                             "use fewer shards or more groups")

    @property
    def n_groups(self) -> int:
        return -(-self.n_samples // self.group_size)

    def bounds(self, shard: int) -> tuple[int, int]:
        """Samples ``start..stop-1`` of the run that shard ``shard`` draws."""
        if not 0 <= shard < self.shards:
            raise ValueError(f"shard must lie in 0..{self.shards - 1}, got {shard}")
        first = shard * self.n_groups // self.shards
        last = (shard + 1) * self.n_groups // self.shards
        return first * self.group_size, min(last * self.group_size, self.n_samples)


def shard_generator(seed, shard: int) -> np.random.Generator:
    """The random stream of shard ``shard``: ``default_rng(seed)`` for shard 0 (the stream of a
    one-shard run), the ``shard``-th child of ``SeedSequence(seed).spawn`` otherwise (NumPy's
    independent streams for parallel work)."""
    if shard == 0:
        return np.random.default_rng(seed)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(shard,)))


def data_rows(source: DataSource, n_samples: int, seed) -> np.ndarray:
    """The rows of ``source`` a run of ``n_samples`` samples with ``seed`` pushes, in order
    (drawn without replacement: a seeded permutation, or the first rows with ``shuffle=False``)."""
    order = np.random.default_rng(seed).permutation(source.n) if source.shuffle else np.arange(source.n)
    return order[:n_samples]


def _batches(source, layout: ShardLayout, shard: int, batch_size: int, seed):
    """The input batches of one shard: rows of a data array from the run's one permutation,
    anything else drawn from the shard's generator."""
    start, stop = layout.bounds(shard)
    if isinstance(source, DataSource):
        rows = data_rows(source, stop, seed)
        for first in range(start, stop, batch_size):
            yield np.asarray(source.X[rows[first:min(first + batch_size, stop)]], dtype=np.float64)
        return
    rng = shard_generator(seed, shard)
    for first in range(start, stop, batch_size):
        yield _draw(source, min(batch_size, stop - first), rng)


def _default_threads(modules) -> int:
    import torch

    widest = max([getattr(m, "out_features", 0) for m in modules] + [getattr(m, "in_features", 0) for m in modules])
    return 1 if widest <= 256 else torch.get_num_threads()


def monte_carlo(model, inputs, n_samples: int | None = None, order=2, *, batch_size: int = 8192,
                groups: int = 64, seed: int = 0, dtype="float64", input_order: int = 0,
                threads: int | None = None, shards: int | None = None, client=None,
                input_shape=None, progress: bool | None = None) -> MonteCarloResult:
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
    setting otherwise (on a Dask worker: 1, Dask's default for worker processes).
    ``input_shape`` (as for :func:`symcorr.propagate`, e.g. ``(C, H, W)``) reshapes
    every batch of inputs to ``(batch, *input_shape)`` before the model sees it. A
    model that is not an ``nn.Sequential`` runs through its ``torch.fx`` graph
    (:func:`symcorr.networks.tracing.layer_chain`). ``progress``: a progress bar over the
    samples (``None``: only on a terminal, :func:`symcorr.numeric.progress.progress_bar`).

    ``shards`` splits the run into that many shards (:class:`ShardLayout`; default 1,
    or one per worker thread of ``client``). ``client``, a ``distributed.Client``
    (``pip install 'symcorr[distributed]'``), runs the shards on its workers
    (:mod:`symcorr.networks.distributed`); the result is bit-identical to the
    one-process run with the same ``seed``, ``shards`` and ``threads``. Custom module
    classes must then be importable on the workers.

    Returns a :class:`MonteCarloResult`, indexable per layer.
    """
    torch = require_torch("symcorr.networks.montecarlo")

    orders = _layer_orders(order, len(layer_chain(model).entries))
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
    if isinstance(source, DataSource) and n_samples > source.n:
        raise ValueError(f"n_samples={n_samples} exceeds the {source.n} rows of the data array")
    if not isinstance(groups, (int, np.integer)) or groups < 2:
        raise ValueError(f"groups must be an integer >= 2, got {groups!r}")
    top = max([*orders, input_order])
    group_size = math.ceil(n_samples / groups)
    if group_size < 2 * top + 2:
        raise ValueError(f"{n_samples} samples in {groups} groups are too few for order {top}: "
                         f"need at least {groups * (2 * top + 2)}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if shards is None:
        shards = 1 if client is None else min(_worker_threads(client), math.ceil(n_samples / group_size))
    layout = ShardLayout(n_samples, group_size, shards)
    if seed is None:  # one seed for every shard: they share the data permutation and spawn from it
        seed = int(np.random.SeedSequence().entropy)

    if dtype == "model":
        run = model
        parameter = next(iter(model.parameters()), None)
        torch_dtype = parameter.dtype if parameter is not None else torch.get_default_dtype()
    else:
        torch_dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        run = copy.deepcopy(model).to(torch_dtype)

    if input_shape is not None:
        input_shape = tuple(int(size) for size in input_shape)
    if threads is None and client is None:
        threads = _default_threads([module for _, module in layer_chain(run).entries])
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1):
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    options = dict(orders=orders, input_order=input_order, batch_size=int(batch_size), seed=seed,
                   dtype=torch_dtype, threads=threads, input_shape=input_shape)
    start = time.perf_counter()
    result = None
    with progress_bar(n_samples, "Monte Carlo", progress, "sample") as bar:
        if client is None:
            parts = (run_shard(run, source, layout, k, bar=bar, **options) for k in range(layout.shards))
        else:
            from symcorr.networks.distributed import map_in_order

            parts = map_in_order(client, run_shard, (run, source), [(layout, k) for k in range(layout.shards)],
                                 options)
        for k, part in enumerate(parts):  # in shard order: the merge is the same whoever ran the shards
            result = part if result is None else result.merge(part)
            if client is not None:
                first, last = layout.bounds(k)
                bar.update(last - first)
    result.seconds = time.perf_counter() - start
    result.layout = layout
    return result


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run torch with ``n`` intra-op threads inside the block, then restore the previous count
    (``None``: leave it as is). Small networks run fastest on one thread: the synchronisation
    cost dominates tiny matrix products (and oversubscribes a busy machine)."""
    import torch

    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _worker_threads(client) -> int:
    return max(1, sum(client.nthreads().values()))


def _torch_matmul(a, b):
    import torch

    return (torch.from_numpy(np.ascontiguousarray(a)) @ torch.from_numpy(np.ascontiguousarray(b))).numpy()


def _draw(source, size, rng):
    """A batch of inputs; Gaussian transforms run in torch's thread pool (see ``threads``)."""
    if isinstance(source, (Gaussian, GaussianMixture)):
        return source.sample(size, rng, matmul=_torch_matmul)
    return source.sample(size, rng)


def run_shard(model, source, layout: ShardLayout, shard: int, *, orders, input_order: int = 0,
              batch_size: int = 8192, seed=0, dtype=None, threads: int | None = None,
              input_shape=None, bar=None) -> MonteCarloResult:
    """Shard ``shard`` of ``layout``: its samples through ``model`` (run as it is, inputs cast to
    ``dtype`` and reshaped to ``(batch, *input_shape)`` if given), one streaming estimator per
    recorded layer; the unit of work of :func:`monte_carlo`, in one process and on Dask workers.
    ``orders`` has one entry per layer (0 skips it); ``source`` is a sampler of
    :mod:`symcorr.numeric.distributions`."""
    import torch

    chain = layer_chain(model)
    threads = _default_threads([module for _, module in chain.entries]) if threads is None else int(threads)
    torch_dtype = torch.get_default_dtype() if dtype is None else dtype
    with torch_threads(threads):
        return _run(source, chain, orders, input_order, layout, shard, batch_size, seed, torch_dtype, input_shape,
                    bar)


#: Tensors of each order a streaming estimator keeps (total and group power sums, the group statistics
#: mean and spread, the result): the memory estimate of :func:`_check_estimator_memory`.
ESTIMATOR_COPIES = 6


def _check_estimator_memory(what: str, width: int, order: int) -> None:
    """Refuse (:class:`~symcorr.numeric.budget.MemoryBudgetError`) before an estimator of orders >= 3 allocates."""
    if order >= 3:
        check_memory(ESTIMATOR_COPIES * FLOAT * sum(width**n for n in range(1, order + 1)),
                     f"Monte Carlo estimates of orders 1..{order} at {what} ({width} units)",
                     "a lower order for this layer (order may be one entry per layer, 0 skips it)")


def _run(source, chain, orders, input_order, layout, shard, batch_size, seed, torch_dtype, input_shape, bar):
    import torch

    names = [name for name, _ in chain.entries]
    modules = [module for _, module in chain.entries]
    group_size = layout.group_size
    estimators = [None] * len(modules)
    input_estimator = None
    start = time.perf_counter()

    def record(l, x):
        if not orders[l]:
            return
        values = x.detach().to(torch.float64).reshape(x.shape[0], -1).cpu()
        if not bool(torch.isfinite(values).all()):
            raise FloatingPointError(f"layer {names[l]} ({type(modules[l]).__name__}) produced a non-finite "
                                     "value (overflow): the inputs are too large for this network")
        if estimators[l] is None:
            _check_estimator_memory(f"layer {names[l]}", values.shape[1], orders[l])
            estimators[l] = CumulantEstimator(values.shape[1], orders[l], group_size)
        try:
            estimators[l].update(values, check=False)
        except FloatingPointError as error:
            raise FloatingPointError(f"layer {names[l]} ({type(modules[l]).__name__}): {error}") from None

    with torch.no_grad():
        for batch in _batches(source, layout, shard, batch_size, seed):
            size = batch.shape[0]
            if input_order:
                flat = batch.reshape(size, -1)
                if input_estimator is None:
                    _check_estimator_memory("the input", flat.shape[1], input_order)
                    input_estimator = CumulantEstimator(flat.shape[1], input_order, group_size)
                input_estimator.update(torch.from_numpy(np.ascontiguousarray(flat)), check=False)
            x = torch.from_numpy(batch).to(torch_dtype)
            if input_shape is not None:
                x = x.reshape(size, *input_shape)
            chain.run(x, record)
            if bar is not None:
                bar.update(size)
    return MonteCarloResult(estimators, input_estimator, names, time.perf_counter() - start)


__all__ = ["monte_carlo", "MonteCarloResult", "ShardLayout", "run_shard", "shard_generator", "data_rows",
           "torch_threads"]
