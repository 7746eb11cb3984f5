"""Kernels of output orders >= 3 on sorted neuron tuples: coverage, values, symmetry, memory, progress.

The references are independent of the tuple machinery: every output position is
computed from the derivation's formula by SymPy's ``lambdify`` (no common
subexpressions, no Horner scheme, no shared tables, no tiles), and memory is
measured with tracemalloc against the bound ``peak_bytes`` states.
"""
import importlib
import itertools
import tracemalloc
from collections import defaultdict

import numpy as np
import pytest
import sympy as sp
from builders import PIN_PARAMETERS, random_gaussian, random_symmetric

from symcorr.codegen import runtime
from symcorr.codegen.runtime import tuples
from symcorr.derivation import activations
from symcorr.derivation.engine import derive
from symcorr.notation.partitions import index_patterns
from symcorr.notation.symbols import symbol_labels


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [1, 2, 5, 9, 17, 20])
def test_pattern_tuples_and_their_words_cover_every_position_once(order, n):
    # blocks of 7 tuples: sub-blocks of tile blocks; n = 17, 20 span several tiles, with a short last one
    hits = np.zeros(n ** order, dtype=np.int64)
    for pattern in index_patterns(order):
        count = 0
        for at in tuples.neuron_tuples(n, pattern, 7):
            assert 1 <= at.size <= 7
            neurons = [at.neuron(letter) for letter in tuples.distinct_letters(pattern)]
            assert all(len(set(t)) == len(t) for t in zip(*neurons))          # distinct neurons
            for run in _equal_multiplicity_runs(pattern):                      # increasing within a run
                assert all(np.all(neurons[a] < neurons[b]) for a, b in itertools.pairwise(run))
            for word in tuples.pattern_words(pattern):
                base, index = at.index(word)
                np.add.at(hits, base + index, 1)
            count += at.size
        assert count == tuples.tuple_count(n, pattern)
    assert np.all(hits == 1)


def _equal_multiplicity_runs(pattern):
    letters = tuples.distinct_letters(pattern)
    runs = defaultdict(list)
    for a, letter in enumerate(letters):
        runs[pattern.count(letter)].append(a)
    return list(runs.values())


def test_gathers_and_strided_writes_agree_with_plain_indexing():
    n = 19
    rng = np.random.default_rng(3)
    tensor = rng.normal(size=(n,) * 3)
    out = np.full((n,) * 3, np.nan)
    for at in tuples.neuron_tuples(n, "iij", 4096):
        i, j = at.neuron("i"), at.neuron("j")
        np.testing.assert_array_equal(at(tensor, "iji"), tensor[i, j, i])
        at.write(out, "jii", tensor[j, i, i])
    for at in tuples.neuron_tuples(n, "ijk", 4096):        # whole blocks of distinct tiles: strided writes
        i, j, k = at.neuron("i"), at.neuron("j"), at.neuron("k")
        for word in tuples.pattern_words("ijk"):
            at.write(out, word, tensor[tuple({"i": i, "j": j, "k": k}[c] for c in word)])
    mask = ~np.isnan(out)
    positions = np.indices(out.shape)
    distinct = (positions[0] != positions[1]) & (positions[1] != positions[2]) & (positions[0] != positions[2])
    assert np.all(mask[distinct])
    np.testing.assert_array_equal(out[mask], tensor[mask])


@pytest.mark.parametrize("activation, order, closure, pattern", [
    (activations.quadratic(), 4, 4, "ijkl"),
    (activations.cubic(0.1, 0.9, -0.3, 0.2), 4, 2, "iijj"),     # where SymPy's cse on the scheme went wrong
])
def test_horner_statements_compute_the_formula(activation, order, closure, pattern):
    from symcorr.codegen.printer import KernelPrinter, _horner_statements, horner_form

    formula = derive(activation, order, closure).formula(pattern)
    parameters = activation.parameter_symbols
    assert sp.expand(horner_form(formula, parameters) - formula) == 0
    rng = np.random.default_rng(8)
    values = {s.name: float(rng.uniform(-1, 1)) for s in formula.free_symbols}
    scope = dict(values)
    for target, source in _horner_statements(formula, parameters, KernelPrinter()):
        value = eval(source, {}, scope)        # the printed code of the kernel, on scalars
        if target is None:
            break
        scope[target] = value
    exact = formula.xreplace({s: sp.Rational(values[s.name]) for s in formula.free_symbols})
    assert abs(value - float(exact)) <= 1e-14 * max(1.0, abs(float(exact)))


def _inputs(closure, n, seed):
    mean, cov = random_gaussian(n, seed)
    return (mean, cov, *(0.05 * random_symmetric(n, r, seed + r) for r in range(3, closure + 1)))


def _reference(derivation, kappa, parameters, order):
    """Every sorted output position of ``order`` from the pattern's formula, by ``lambdify``."""
    n = kappa[0].shape[0]
    by_pattern = defaultdict(list)
    for position in itertools.combinations_with_replacement(range(n), order):
        neurons = sorted(set(position), key=lambda x: (-position.count(x), x))
        pattern = "".join("ijkl"[a] * position.count(x) for a, x in enumerate(neurons))
        by_pattern[pattern].append((position, neurons))
    values = {}
    symbols = {p.name: p for p in derivation.activation.parameter_symbols}
    for pattern, entries in by_pattern.items():
        formula = derivation.formula(pattern)
        inputs = sorted(formula.free_symbols - set(symbols.values()), key=lambda s: s.name)
        function = sp.lambdify([*inputs, *symbols.values()], formula, modules=[{"_support": runtime}, "scipy", "numpy"])
        arguments = []
        for symbol in inputs:
            labels = symbol_labels(symbol)
            index = tuple(np.array([neurons["ijkl".index(c)] for _, neurons in entries]) for c in labels)
            arguments.append(kappa[len(labels) - 1][index])
        result = np.broadcast_to(function(*arguments, *parameters), (len(entries),))
        values.update({position: value for (position, _), value in zip(entries, result)})
    return values


@pytest.mark.parametrize("family, order, closure, n", [
    ("quadratic", 3, 3, 19),        # tiles of 16 at order 3: two tiles
    ("quadratic", 4, 4, 11),        # tiles of 8 at order 4: two tiles
    ("erf", 4, 2, 9),               # shared tables of pair and triple vertex functions
])
def test_tuple_kernels_equal_their_formulas_at_every_position(family, order, closure, n):
    activation = {"quadratic": activations.quadratic(), "erf": activations.erf()}[family]
    kernel = importlib.import_module(f"symcorr.codegen.generated.{family}_order{order}_closure{closure}")
    derivation = derive(activation, order, closure, series_order=kernel.SERIES_ORDER)
    kappa = _inputs(closure, n, seed=4)
    parameters = [PIN_PARAMETERS[p] for p in kernel.PARAMETERS]
    for m in range(3, order + 1):
        out = kernel.CUMULANTS[m - 1](kappa, *parameters, progress=False)
        reference = _reference(derivation, kappa, parameters, m)
        scale = max(abs(v) for v in reference.values())
        for position, value in reference.items():
            assert abs(out[position] - value) <= 1e-13 * scale, (m, position, out[position], value)
        for permutation in itertools.permutations(range(m)):
            assert np.array_equal(out, out.transpose(permutation))           # exactly symmetric


@pytest.mark.parametrize("name, n", [
    ("quadratic_order4_closure4", 12), ("quadratic_order4_closure4", 30), ("quadratic_order3_closure3", 120),
    ("erf_order4_closure2", 14), ("erf_order2_closure2", 300), ("erf_order2_closure4", 80),
    ("cubic_order2_closure6", 10), ("quadratic_order2_closure2", 400),
])
def test_peak_bytes_bounds_the_measured_peak(name, n):
    kernel = importlib.import_module(f"symcorr.codegen.generated.{name}")
    kappa = _inputs(kernel.CLOSURE, n, seed=5)
    parameters = [PIN_PARAMETERS[p] for p in kernel.PARAMETERS]
    [cumulant(kappa, *parameters, progress=False) for cumulant in kernel.CUMULANTS]    # imports, caches
    tracemalloc.start()
    try:
        results = [cumulant(kappa, *parameters, progress=False) for cumulant in kernel.CUMULANTS]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    stated = kernel.peak_bytes(n)
    assert peak <= stated, f"{name} at n={n}: measured {peak} bytes, stated {stated}"
    # and not a vacuous bound: the results, plus at most the runtime's fixed workspace and overhead
    assert sum(r.nbytes for r in results) <= stated <= 4 * peak + 16 * 2**20


def test_peak_bytes_at_large_widths_is_the_results_and_little_more():
    quadratic4 = importlib.import_module("symcorr.codegen.generated.quadratic_order4_closure4")
    result = 8 * sum(128 ** k for k in range(1, 5))
    assert result < quadratic4.peak_bytes(128) < 1.05 * result
    erf2 = importlib.import_module("symcorr.codegen.generated.erf_order2_closure2")
    assert erf2.peak_bytes(16384) < 10 * 8 * 16384 ** 2      # a few N^2 arrays, not one per temporary


def _workspace_inputs(elements, k, correlation, seed):
    rng = np.random.default_rng(seed)
    mu = [rng.normal(size=elements) for _ in range(k)]
    v = [np.abs(rng.normal(size=elements)) + 0.5 for _ in range(k)]
    c = [correlation * np.sqrt(v[a] * v[b]) * rng.uniform(-1, 1, size=elements)
         for a in range(k) for b in range(a + 1, k)]
    return mu, v, c


def _traced(function):
    tracemalloc.start()
    try:
        result = function()
        return tracemalloc.get_traced_memory()[1] - np.asarray(result).nbytes
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("elements", [1, 50, 3000])
@pytest.mark.parametrize("correlation", [0.1, 0.99])
def test_runtime_workspace_bounds_hold(elements, correlation):
    mu, v, c = _workspace_inputs(elements, 4, correlation, seed=elements)
    measured = {
        "_support.erf_gaussian_covariance": _traced(lambda: runtime.erf_gaussian_covariance(mu[0], mu[1], v[0], v[1], c[0])),
        "_support.erf_power_moment": _traced(lambda: runtime.erf_power_moment(4, 0, mu[0], 0.1 * v[0])),
        "_support.erf_gaussian_moment": _traced(lambda: runtime.erf_gaussian_moment((1, 1, 1, 1), mu, v, c)),
    }
    for name, workspace in measured.items():
        assert workspace <= tuples._call_workspace(name, elements), (name, elements, workspace)
    # the symmetric-grid path of the covariance (order-2 erf kernels)
    n = max(2, int(np.sqrt(elements)))
    rng = np.random.default_rng(1)
    a = rng.normal(size=(n, n))
    cov = correlation * (a @ a.T / n) + 0.1 * np.eye(n)
    mean, var = rng.normal(size=n), np.diag(cov).copy()
    grid = _traced(lambda: runtime.erf_gaussian_covariance(mean[:, None], mean[None, :], var[:, None], var[None, :], cov))
    assert grid <= tuples._call_workspace("_support.erf_gaussian_covariance", n * n)


def test_covariance_workspace_bound_holds_when_every_pair_is_strongly_correlated():
    rng = np.random.default_rng(2)
    for n in (100, 300):
        v = rng.normal(size=n)
        cov = np.outer(v, v) + 0.01 * np.eye(n)        # every |rho| near 1: all pairs take the general rules
        mean, var = 2 * rng.normal(size=n), np.diag(cov).copy()
        for shifted in (0.0, 1e-3):                     # the symmetric-grid path, and the general one
            workspace = _traced(lambda mean=mean, var=var, cov=cov, shifted=shifted: runtime.erf_gaussian_covariance(
                mean[:, None], mean[None, :] + shifted, var[:, None], var[None, :], cov))
            assert workspace <= tuples._call_workspace("_support.erf_gaussian_covariance", n * n)


def test_progress_bar_only_when_asked_or_on_a_terminal(capsys):
    kernel = importlib.import_module("symcorr.codegen.generated.quadratic_order3_closure3")
    kappa = _inputs(3, 6, seed=6)
    quiet = kernel.cumulant_3(kappa, 0.5)                  # progress=None: standard error is not a terminal
    assert capsys.readouterr().err == ""
    shown = kernel.cumulant_3(kappa, 0.5, progress=True)
    assert "order-3 cumulant" in capsys.readouterr().err
    np.testing.assert_array_equal(quiet, shown)
    with pytest.raises(TypeError, match="progress must be"):
        kernel.cumulant_3(kappa, 0.5, progress="yes")
