r"""Does the theory work for *my* model? :func:`~symcorr.networks.propagation.propagate` and Monte Carlo side by side (docs/theory.md section 7).

:func:`compare` propagates the input cumulants through a torch model
(:func:`symcorr.networks.propagation.propagate` with ``trace=True``), estimates the same
cumulants by pushing samples through it (:func:`symcorr.networks.montecarlo.monte_carlo`,
in one process or on a Dask cluster), and reports for every layer and every order
:math:`n \le` ``order``:

* the relative error :math:`\|\kappa^{(n)}_\text{theory} - k^{(n)}_\text{MC}\|_F /
  \|\kappa^{(n)}_\text{theory}\|_F`, beside the Monte Carlo noise
  :math:`\|\mathrm{se}^{(n)}\|_F / \|\kappa^{(n)}_\text{theory}\|_F` (an error at the noise
  level is no error);
* :math:`\max |z|` over the entries, :math:`z = (\kappa_\text{theory} - k_\text{MC}) / \mathrm{se}`,
  Student t with ``groups - 1`` degrees of freedom when the theory is right;
* the exactness status of the propagated order: ``exact``, ``numerical`` (exact up to a
  numerical integration), ``estimated`` (exact given input k-statistics), ``approximate``
  (a closure dropped input cumulants the layer needs, or a series was cut) or
  ``unknown``.

The orders whose status is exact, numerical or estimated are *tested*: the model
passes when their :math:`\max|z|` stays below the Bonferroni bound
:math:`t^{-1}_{G-1}(1 - \alpha/(2m))` over their :math:`m` unique entries, as in
``symcorr validate``. Approximate orders are shown with their errors, which then
measure the closure, not a bug.

Inputs: a :class:`~symcorr.numeric.distributions.Gaussian` or a Gaussian
:class:`~symcorr.numeric.cumulants.Cumulants` (exact input cumulants), a
:class:`~symcorr.numeric.distributions.GaussianMixture` (exact cumulants up to the
carried order), or data, the rows of an array of shape ``(n, ...)``. For data the input
cumulants are the k-statistics (orders <= 4) of exactly the rows the Monte Carlo
pushes, so a linear layer agrees to rounding and a pointwise layer that is exact for its
input agrees to :math:`O(1/n)`; every propagated order is then an estimate of the data
distribution's.

The command ``symcorr compare`` (:mod:`symcorr.experiments.compare_command`) reads the
model and the data from files; the figure is :func:`symcorr.networks.compare_figure.draw_comparison`.
"""
from __future__ import annotations

import math
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.exactness import ApproximationWarning, estimated_profile
from symcorr.numeric.distributions import DataSource, Gaussian, GaussianMixture, MAX_MIXTURE_ORDER, as_source
from symcorr.numeric.kstatistics import MAX_KSTAT_ORDER, PowerSums

#: statuses whose orders are tested against the Bonferroni bound
TESTED_STATUSES = ("exact", "numerical", "estimated")

#: ``package.module:function`` or ``path/to/file.py:function``
_FACTORY = re.compile(r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*|.+\.py):(?P<function>[A-Za-z_]\w*)$")

#: bytes per float64 number and working copies per tensor (estimator: total and group power
#: sums, batch-means mean and spread, k-statistics; theory: the trace and the kernels' temporaries)
_FLOAT, _ESTIMATOR_COPIES, _THEORY_COPIES = 8, 6, 4


# ---------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------

def load_model(spec):
    """A torch model from ``spec``: an ``nn.Module`` (returned as is), the path of a file written by
    ``torch.save(model, path)``, or ``module:function`` / ``path/file.py:function`` naming a
    function without arguments that returns the model.

    Both ways of naming a file run code from it: ``torch.load(path, weights_only=False)``
    unpickles the module (a pickle can execute anything), and ``module:function`` imports the
    module. Load only files you trust. A loaded model is put in evaluation mode.
    """
    import torch
    from torch import nn

    if isinstance(spec, nn.Module):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"model must be a torch nn.Module, a file path or 'module:function', got {type(spec).__name__}")
    text = os.fspath(spec)
    if Path(text).is_file():
        model = torch.load(text, map_location="cpu", weights_only=False)
        origin = f"{text} (torch.load)"
    else:
        match = _FACTORY.match(text)
        if match is None:
            raise FileNotFoundError(f"model {text!r}: no such file, and not of the form module:function "
                                    "(e.g. mypackage.models:build or models.py:build)")
        function = _import_factory(match["module"], match["function"])
        model = function()
        origin = f"{text}()"
    if isinstance(model, dict):
        raise TypeError(f"{origin} holds a dict (a state_dict?), not a model: save the module itself with "
                        "torch.save(model, path), or pass module:function building the model and loading the weights")
    if not isinstance(model, nn.Module):
        raise TypeError(f"{origin} gave a {type(model).__name__}, not a torch nn.Module")
    return model.eval()


def _import_factory(module_name: str, function_name: str):
    import importlib
    import importlib.util

    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise FileNotFoundError(f"model factory file {path} does not exist")
        spec = importlib.util.spec_from_file_location(f"symcorr_model_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ImportError(f"{module_name} has no function {function_name}")
    return function


def _layer_widths(model, input_shape) -> list[int]:
    """The number of features after every layer, from one zero input."""
    import torch

    from symcorr.networks.propagation import layers

    parameter = next(iter(model.parameters()), None)
    x = torch.zeros((1, *input_shape), dtype=parameter.dtype if parameter is not None else torch.get_default_dtype())
    widths = []
    with torch.no_grad():
        for name, module in layers(model):
            try:
                x = module(x)
            except Exception as error:
                raise ValueError(f"layer {name} ({type(module).__name__}) fails on an input of shape "
                                 f"{tuple(x.shape[1:])}: {error}") from None
            widths.append(int(x[0].numel()))
    return widths


# ---------------------------------------------------------------------------
# the inputs
# ---------------------------------------------------------------------------

@dataclass
class _Inputs:
    source: object            # what monte_carlo samples
    kind: str                 # 'gaussian' | 'mixture' | 'data'
    shape: tuple              # the shape of one input sample
    description: str
    n_samples: int | None     # default number of Monte Carlo samples (all rows of data)


def _inputs(inputs) -> _Inputs:
    if hasattr(inputs, "detach") and not isinstance(inputs, np.ndarray):  # a torch tensor
        inputs = inputs.detach().cpu().numpy()
    if isinstance(inputs, np.ndarray):
        inputs = DataSource(inputs)
    if isinstance(inputs, Cumulants):
        source = as_source(inputs)  # a Gaussian, or an error naming the non-zero higher orders
        return _Inputs(source, "gaussian", (source.dim,), f"Gaussian (dim {source.dim})", None)
    if isinstance(inputs, Gaussian):
        return _Inputs(inputs, "gaussian", (inputs.dim,), f"Gaussian (dim {inputs.dim})", None)
    if isinstance(inputs, GaussianMixture):
        return _Inputs(inputs, "mixture", (inputs.dim,),
                       f"Gaussian mixture ({len(inputs.weights)} components, dim {inputs.dim})", None)
    if isinstance(inputs, DataSource):
        shape = tuple(inputs.X.shape[1:])
        return _Inputs(inputs, "data", shape, f"data ({inputs.n} samples of shape {'x'.join(map(str, shape))})",
                       inputs.n)
    raise TypeError(f"inputs must be a Gaussian, GaussianMixture, Gaussian Cumulants or a data array, "
                    f"got {type(inputs).__name__}")


def _input_cumulants(inputs: _Inputs, given, carried: int, rows) -> Cumulants:
    """Exact cumulants of a distribution, or the k-statistics of the data rows the Monte Carlo pushes."""
    if inputs.kind == "gaussian":
        return given if isinstance(given, Cumulants) else inputs.source.cumulants(2)
    if inputs.kind == "mixture":
        if carried > MAX_MIXTURE_ORDER:
            raise ValueError(f"mixture cumulants are computed up to order {MAX_MIXTURE_ORDER}; "
                             f"order and closure must not exceed it (got {carried})")
        return inputs.source.cumulants(max(2, carried))
    if carried > MAX_KSTAT_ORDER:
        raise ValueError(f"data gives input cumulants up to order {MAX_KSTAT_ORDER} (k-statistics), and the orders "
                         f"above are not zero: use order and closure <= {MAX_KSTAT_ORDER} (got {carried})")
    X = np.asarray(inputs.source.X[rows], dtype=np.float64).reshape(len(rows), -1)
    # the k-statistics only: their standard errors (batch means) would cost a k-statistic per group
    return Cumulants(*PowerSums(X.shape[1], carried, shift=X.mean(axis=0)).update(X).kstatistics(),
                     exactness=estimated_profile(carried, len(rows), "data rows"))


# ---------------------------------------------------------------------------
# exactness of the propagated orders
# ---------------------------------------------------------------------------

def _statuses(theory, order: int):
    """Per layer, ``{n: (status, reason)}`` for ``n = 1..order``: the status the propagated
    cumulants carry (:mod:`symcorr.numeric.exactness`)."""
    return [{n: (c.status(n).kind, c.status(n).reason) for n in range(1, order + 1)} for c in theory]


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------

@dataclass
class OrderComparison:
    """One row: layer ``layer`` (``label``), cumulant order ``order``."""

    layer: int
    label: str
    order: int
    entries: int           # unique entries of the symmetric tensor
    theory_norm: float     # ||kappa_theory||_F
    rel_error: float       # ||theory - MC||_F / ||theory||_F (nan when the theory is 0)
    noise: float           # ||se_MC||_F / ||theory||_F (nan when the theory is 0)
    max_z: float
    status: str
    reason: str = ""

    @property
    def tested(self) -> bool:
        return self.status in TESTED_STATUSES


@dataclass
class ComparisonReport:
    """What :func:`compare` found: ``rows`` (one :class:`OrderComparison` per layer and order),
    the test against the Bonferroni bound (``bound``, ``max_z``, ``passed``), timings, and the
    compared results themselves (``theory``: the propagated cumulants per layer; ``estimates``:
    the :class:`~symcorr.networks.montecarlo.MonteCarloResult`)."""

    model: str
    inputs: str
    order: int
    closure: int
    labels: list[str]
    rows: list[OrderComparison]
    n_samples: int
    groups: int                       # batch-means groups of the standard errors
    alpha: float
    seconds: dict[str, float]
    shards: int = 1
    workers: int = 0                  # 0: this process
    notes: list[str] = field(default_factory=list)
    theory: list = field(default=None, repr=False)
    estimates: object = field(default=None, repr=False)
    pair_mean: bool = False           # the odd closure kept the mean pair entry of the next order

    @property
    def dof(self) -> int:
        return self.groups - 1

    @property
    def tests(self) -> int:
        """The number :math:`m` of tested unique entries."""
        return sum(r.entries for r in self.rows if r.tested)

    @property
    def bound(self) -> float:
        r"""Bonferroni bound :math:`t^{-1}_{G-1}(1 - \alpha/(2m))` on :math:`\max|z|` of the tested entries."""
        from scipy import stats

        return float(stats.t.isf(self.alpha / (2 * self.tests), self.dof)) if self.tests else math.inf

    @property
    def max_z(self) -> float:
        return max((r.max_z for r in self.rows if r.tested), default=0.0)

    @property
    def passed(self) -> bool:
        """Every tested order agrees with Monte Carlo (False when nothing is tested)."""
        return self.tests > 0 and self.max_z < self.bound

    @property
    def failures(self) -> list[OrderComparison]:
        return [r for r in self.rows if r.tested and not r.max_z < self.bound]

    @property
    def verdict(self) -> str:
        if not self.tests:
            return "NOTHING TESTED (no order is exact)"
        return "CONSISTENT" if self.passed else "INCONSISTENT"

    def table(self) -> str:
        """The rows as a text table, then the test and the timings."""
        header = ("layer", "order", "entries", "|theory|", "rel.err", "MC noise", "max|z|", "status")
        bound = self.bound
        lines = []
        for r in self.rows:
            flag = " FAIL" if r.tested and not r.max_z < bound else ""
            lines.append((r.label, str(r.order), str(r.entries), f"{r.theory_norm:.3e}", _number(r.rel_error),
                          _number(r.noise), f"{r.max_z:.2f}{flag}", r.status))
        widths = [max(len(h), *(len(line[c]) for line in lines)) for c, h in enumerate(header)]
        fmt = "  ".join(f"{{:<{w}}}" if c in (0, 7) else f"{{:>{w}}}" for c, w in enumerate(widths))
        out = [f"{self.model} on {self.inputs}: order {self.order}, closure {self.closure}"
               f"{' with the pair mean' if self.pair_mean else ''}", "",
               fmt.format(*header).rstrip(), "  ".join("-" * w for w in widths),
               *(fmt.format(*line).rstrip() for line in lines), ""]
        if self.tests:
            out.append(f"tested: orders marked exact/numerical/estimated, m = {self.tests} unique entries; Bonferroni "
                       f"bound t_{self.dof}^-1(1 - {self.alpha:g}/(2m)) = {bound:.2f}; max|z| = {self.max_z:.2f} "
                       f"-> {self.verdict}")
        else:
            out.append(f"{self.verdict}: every compared order is an approximation")
        # each reason lists its causes joined by "; ": every cause once, in the order of the layers
        reasons = list(dict.fromkeys(cause for r in self.rows if not r.tested and r.reason
                                     for cause in r.reason.split("; ")))
        if reasons:
            out.append("not tested (errors measure the approximation): " + "; ".join(reasons))
        where = "this process" if not self.workers else f"{self.workers} Dask workers"
        mc = self.seconds.get("monte_carlo", 0.0)
        rate = f", {self.n_samples / mc:,.0f} samples/s" if mc > 0 else ""
        out.append(f"Monte Carlo: {self.n_samples} samples, {self.groups} batch-means groups, {self.shards} shard(s) "
                   f"on {where}, {mc:.2f} s{rate}; propagate: {self.seconds.get('theory', 0.0):.3f} s")
        out += self.notes
        return "\n".join(out)

    def figure(self, path) -> Path:
        """Draw the comparison to ``path`` (PNG, SVG or PDF by suffix); see
        :func:`symcorr.networks.compare_figure.draw_comparison`."""
        from symcorr.networks.compare_figure import draw_comparison

        return draw_comparison(self, path)


def _number(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:.2e}"


# ---------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------

def compare(model, inputs, order: int = 2, *, closure: int | None = None, series_order: int | None = None,
            n_samples: int | None = None, groups: int = 64, seed: int = 0, batch_size: int = 8192,
            alpha: float = 1e-3, client=None, shards: int | None = None, max_memory: float = 4 * 2**30,
            progress=None, pair_mean: bool = False) -> ComparisonReport:
    r"""Compare ``propagate(model, ...)`` with Monte Carlo, per layer and per order (module docstring).

    ``model``: an ``nn.Module`` or what :func:`load_model` accepts. ``inputs``: a
    :class:`~symcorr.numeric.distributions.Gaussian`, a Gaussian
    :class:`~symcorr.numeric.cumulants.Cumulants`, a
    :class:`~symcorr.numeric.distributions.GaussianMixture`, or data (an array or tensor of
    shape ``(n, ...)``, or a :class:`~symcorr.numeric.distributions.DataSource`).
    ``order`` (1..4): the highest order compared; ``closure``, ``series_order`` and ``pair_mean`` go to
    :func:`~symcorr.networks.propagation.propagate` (docs/theory.md section 9).
    ``n_samples``: Monte Carlo samples (default: every row of data, :math:`2^{20}` for a
    distribution); ``groups``, ``seed``, ``batch_size``, ``client`` and ``shards`` go to
    :func:`~symcorr.networks.montecarlo.monte_carlo`. ``alpha``: family-wise error rate of the
    test. ``max_memory`` (bytes) bounds the estimated memory of the theory and the estimators;
    Monte Carlo orders above 2 of the widest layers are dropped (and noted) to fit, and a
    comparison that cannot fit is refused before anything is allocated. ``progress``: a
    stream (e.g. ``sys.stderr``) for progress lines.
    """
    from symcorr.networks.montecarlo import data_rows, monte_carlo
    from symcorr.networks.propagation import layer_label, layers, propagate

    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 1 <= order <= MAX_KSTAT_ORDER:
        raise ValueError(f"order must be an integer in 1..{MAX_KSTAT_ORDER} (Monte Carlo estimates k-statistics up "
                         f"to order {MAX_KSTAT_ORDER}), got {order!r}")
    order = int(order)
    closure = max(order, 2) if closure is None else closure
    carried = max(order, closure)
    model_name = os.fspath(model) if isinstance(model, (str, os.PathLike)) else type(model).__name__
    model = load_model(model)
    given = inputs
    inputs = _inputs(inputs)
    n_samples = (inputs.n_samples or 2**20) if n_samples is None else n_samples
    entries = layers(model)
    labels = [layer_label(name, module) for name, module in entries]
    _say(progress, f"{model_name}: {len(entries)} layers ({', '.join(labels)}); input: {inputs.description}")

    widths = _layer_widths(model, inputs.shape)
    mc_orders, notes = _monte_carlo_orders(widths, int(np.prod(inputs.shape)), order, carried, inputs.kind,
                                           max_memory)

    start = time.perf_counter()
    rows_used = data_rows(inputs.source, n_samples, seed) if inputs.kind == "data" else None
    if rows_used is not None and len(rows_used) < n_samples:
        raise ValueError(f"n_samples={n_samples} exceeds the {inputs.source.n} rows of the data")
    cumulants = _input_cumulants(inputs, given, carried, rows_used)
    seconds = {"input": time.perf_counter() - start}
    if inputs.kind == "data":
        _say(progress, f"input cumulants: k-statistics of orders 1..{carried} of {n_samples} rows "
                       f"({seconds['input']:.2f} s)")

    start = time.perf_counter()
    with warnings.catch_warnings():  # the table marks the approximate orders and names their causes
        warnings.simplefilter("ignore", ApproximationWarning)
        theory = propagate(model, cumulants, order=max(order, 2), trace=True, closure=closure,
                           series_order=series_order, pair_mean=pair_mean)
    seconds["theory"] = time.perf_counter() - start
    _say(progress, f"propagate (order {order}, closure {closure}): {seconds['theory']:.3f} s")

    workers = 0 if client is None else len(client.nthreads())
    where = "this process" if client is None else f"{workers} Dask workers"
    _say(progress, f"Monte Carlo: {n_samples} samples, orders per layer {mc_orders}, on {where} ...")
    start = time.perf_counter()
    estimates = monte_carlo(model, inputs.source, n_samples, mc_orders, groups=groups, seed=seed,
                            batch_size=batch_size, client=client, shards=shards)
    seconds["monte_carlo"] = time.perf_counter() - start
    _say(progress, f"Monte Carlo done: {seconds['monte_carlo']:.2f} s ({n_samples / seconds['monte_carlo']:,.0f} "
                   "samples/s)")

    statuses = _statuses(theory, order)
    rows = []
    for l, (th, estimate) in enumerate(zip(theory, estimates)):
        for n in range(1, min(mc_orders[l], order) + 1):
            kappa = th.kappa(n)
            norm = float(np.linalg.norm(kappa))
            error, noise = np.linalg.norm(kappa - estimate.kappa(n)), np.linalg.norm(estimate.stderr[n - 1])
            status, reason = statuses[l][n]
            rows.append(OrderComparison(
                l, labels[l], n, math.comb(th.dim + n - 1, n), norm,
                float(error / norm) if norm > 0 else math.nan, float(noise / norm) if norm > 0 else math.nan,
                float(np.max(np.abs(estimate.z_scores(th, n)))), status, reason))
    groups_used = min(estimate.groups for estimate in estimates)  # may be fewer than asked: ceil(n / group size)
    report = ComparisonReport(model_name, inputs.description, order, closure, labels, rows, n_samples, groups_used,
                              alpha, seconds, estimates.layout.shards, workers, notes, theory, estimates, pair_mean)
    _say(progress, f"{report.verdict} (max|z| {report.max_z:.2f}, bound {report.bound:.2f})")
    return report


def estimated_bytes(dim: int, order: int, copies: int) -> int:
    """Bytes of ``copies`` float64 copies of symmetric tensors of orders ``1..order`` in ``dim`` dimensions."""
    return _FLOAT * copies * sum(dim ** r for r in range(1, order + 1))


def _monte_carlo_orders(widths, input_dim, order, carried, input_kind, max_memory):
    """Monte Carlo orders per layer that fit ``max_memory`` with the theory (estimated), and notes."""
    theory = sum(estimated_bytes(width, carried, _THEORY_COPIES) for width in [input_dim, *widths])
    if input_kind == "data":
        theory += estimated_bytes(input_dim, carried, _ESTIMATOR_COPIES)
    orders = [max(order, 2)] * len(widths)  # a Monte Carlo estimate holds at least mean and covariance

    def total():
        return theory + sum(estimated_bytes(w, k, _ESTIMATOR_COPIES) for w, k in zip(widths, orders))

    while total() > max_memory:
        wide = [l for l in range(len(widths)) if orders[l] > 2]
        if not wide:
            raise MemoryError(f"comparing order {order} (closure carried to {carried}) needs an estimated "
                              f"{total() / 2**30:.2f} GiB (layer widths {widths}), more than max_memory = "
                              f"{max_memory / 2**30:.2f} GiB: lower the order or closure, or raise max_memory")
        orders[max(wide, key=lambda l: widths[l])] -= 1
    notes = [f"note: Monte Carlo estimates layer {l} (width {widths[l]}) only up to order {k} to fit max_memory "
             f"({max_memory / 2**30:.2f} GiB)" for l, k in enumerate(orders) if k < order]
    return orders, notes


def _say(stream, text: str) -> None:
    if stream is not None:
        print(f"compare: {text}", file=stream, flush=True)


__all__ = ["compare", "load_model", "ComparisonReport", "OrderComparison", "TESTED_STATUSES", "estimated_bytes"]
