"""Pointwise layers and propagations in the factored representation (docs/theory.md section 12).

The dense representation is the deterministic reference: a chain of linear and pointwise layers
computed both ways must agree in every held entry of every order (factored tensors expanded by
``to_dense``; the kept diagonal of an odd closure compared as its diagonal) to 1e-10 relative to
the largest entry of the order. Independently of the dense kernels, one factored layer of a
Gaussian is compared with Gauss-Hermite quadrature (``quadrature_cumulants``). A truncation
(``tolerance``) must show in the exactness status with its size, and be the only difference.
"""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import dense_sum, random_gaussian, random_layer, random_mixture
from symcorr import activations
from symcorr.numeric.budget import MemoryBudgetError
from symcorr.numeric.cumulant_tensors import is_cumulant_tensor
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.factored import FactoredTensor
from symcorr.numeric.linear import linear
from symcorr.numeric.pointwise import pointwise
from symcorr.numeric.quadrature import quadrature_cumulants


def chain(representation, dim, activation, closure, depth, tolerance=None, seed=0):
    """``depth`` times (linear, pointwise) on a Gaussian of ``dim`` neurons; orders 1..closure carried."""
    cumulants = Cumulants(*random_gaussian(dim, seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for layer in range(depth):
            W, b = random_layer(dim, dim, seed + 10 + layer)
            cumulants = pointwise(linear(cumulants, W, b), activation, order=closure, closure=closure,
                                  representation=representation, tolerance=tolerance)
    return cumulants


def as_array(tensor):
    return tensor.to_dense() if is_cumulant_tensor(tensor) else np.asarray(tensor)


def max_relative_differences(factored, dense) -> list[float]:
    """Per held order, max |factored - dense| over the largest |dense| entry."""
    assert len(factored.held) == len(dense.held)
    out = []
    for n, (a, b) in enumerate(zip(factored.held, dense.held), start=1):
        if n > 2 and type(b).__name__ == "RankOneSum":      # the kept diagonal of an odd closure
            a, b = a.slice("i" * n), b.slice("i" * n)
        a, b = as_array(a), as_array(b)
        out.append(float(np.max(np.abs(a - b)) / np.max(np.abs(b))))
    return out


FAST = [("quadratic", 3, 2, 16), ("quadratic", 3, 4, 16), ("quadratic", 4, 2, 12), ("quadratic", 4, 3, 8)]
SLOW = [("quadratic", 3, 3, 64), ("quadratic", 4, 3, 16), ("cubic", 3, 2, 16), ("cubic", 3, 3, 32),
        ("cubic", 4, 2, 12)]


def _factored_equals_dense(name, closure, depth, dim):
    activation = getattr(activations, name)()
    factored = chain("factored", dim, activation, closure, depth)
    dense = chain("dense", dim, activation, closure, depth)
    assert any(isinstance(t, FactoredTensor) for t in factored.held)
    assert not any(isinstance(t, FactoredTensor) for t in dense.held)
    differences = max_relative_differences(factored, dense)
    assert max(differences) < 1e-10, differences
    assert factored.exactness == dense.exactness
    return differences


@pytest.mark.parametrize("name,closure,depth,dim", FAST)
def test_factored_chain_equals_dense_chain(name, closure, depth, dim):
    _factored_equals_dense(name, closure, depth, dim)


@pytest.mark.slow
@pytest.mark.parametrize("name,closure,depth,dim", SLOW)
def test_factored_chain_equals_dense_chain_wider(name, closure, depth, dim):
    _factored_equals_dense(name, closure, depth, dim)


def _resummed_chains(name, closure, depth, dim, keep_next_diagonal=None, tolerance=None, series_order=None,
                     mixture=True, dense_first=False):
    """A chain of layers of the activation ``name`` computed both ways from a Gaussian mixture (non-Gaussian: every
    erf layer carries closure ``closure``, whose orders 3..4 have factored terms), or from a Gaussian
    (``mixture=False``); ``dense_first``: the first layer dense in both (erf's of a Gaussian: exact joint moments,
    where the factored form takes the Price series)."""
    from symcorr.numeric.distributions import gaussian_mixture

    start = (gaussian_mixture(*random_mixture(dim, 3), order=closure) if mixture
             else Cumulants(*random_gaussian(dim, 3)))
    held, activation = {}, getattr(activations, name)()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for representation in ("factored", "dense"):
            cumulants = start
            for layer in range(depth):
                cumulants = pointwise(linear(cumulants, *random_layer(dim, dim, 20 + layer)), activation,
                                      order=closure, closure=closure,
                                      representation="dense" if dense_first and layer == 0 else representation,
                                      keep_next_diagonal=keep_next_diagonal, series_order=series_order,
                                      tolerance=tolerance if representation == "factored" else None)
            held[representation] = cumulants
    assert isinstance(held["factored"].tensor(3), FactoredTensor)
    assert not any(isinstance(t, FactoredTensor) for t in held["dense"].held)
    differences = max_relative_differences(held["factored"], held["dense"])
    assert max(differences) < 1e-10, differences
    assert held["factored"].exactness == held["dense"].exactness
    return differences


@pytest.mark.parametrize("tolerance", [None, 0.0])
def test_erf_chain_factored_equals_dense_chain(tolerance):
    """erf's factored terms are in its vertex functions, with a correction on every coarser pattern (docs/theory.md
    section 12.2): closure 3, depth 2, width 16, exactly and split at the diagonals (a tolerance of 0 keeps every
    part). Every order equals the dense chain's to 1e-10, and the exactness statuses (series order, truncation
    warning) are the same. Price series of order 3 here (its modules derive in seconds); the default order 6 below."""
    _resummed_chains("erf", 3, 2, 16, keep_next_diagonal=False, tolerance=tolerance, series_order=3)


@pytest.mark.parametrize("name", [pytest.param("gelu", marks=pytest.mark.slow), "tanh"])
def test_other_resummed_families_factored_equal_dense(name):
    """The same terms for the other families whose orders 3..4 are Price series around independent Gaussians (GELU's
    closed forms, tanh's numerically integrated vertex functions): from a Gaussian too, whose first layer they
    derive in the independent reference at closure 2 (erf's is a joint moment there). Measured 5e-15 and 6e-15 (one
    layer from a mixture; sigmoid, softplus and probit 9e-14, 4e-14, 2e-14)."""
    _resummed_chains(name, 3, 2, 12, keep_next_diagonal=False, series_order=3, mixture=False)


@pytest.mark.parametrize("name", ["relu", pytest.param("leaky_relu", marks=pytest.mark.slow),
                                  pytest.param("abs", marks=pytest.mark.slow),
                                  pytest.param("heaviside", marks=pytest.mark.slow)])
def test_the_piecewise_linear_families_factored_equal_dense(name):
    """The piecewise-linear families' patterns on two neurons are in joint vertex functions (exact), on three the
    Price series: factored, a two-neuron correction is one N x N block zero on its diagonal and the one-neuron
    correction carries the rest (docs/theory.md section 12.2). From a mixture, depth 2, width 10: every entry of
    every order, diagonals included, equals the dense chain's to 1e-10 (measured: relu 8e-16 on one layer of width
    6, orders 3 and 4 at closures 3 and 4), and the statuses are the same. The second layer has a pair of neurons
    at correlation -0.984 (h = 2.5, -3.1): its 'iij' entries differed by 1.1e-8 of the largest entry, both forms
    wrong, while the joint vertex functions were expanded with the diagram form (docs/theory.md section 11.2); now
    1.2e-14 (the dense and the factored form within 1.1e-13 of each entry's value at 50 digits)."""
    _resummed_chains(name, 3, 2, 10, keep_next_diagonal=False, series_order=2)


def test_blocks_evaluated_a_chunk_of_rows_at_a_time_give_the_same_chain(monkeypatch):
    """A block on two neurons whose working arrays exceed ROW_WINDOW_BYTES is evaluated a window of rows at a time
    (ReLU's 'iij' correction at closure 4 holds ~400 arrays of N^2). At one byte every such block (and the dense
    kernels' order-2 pattern) is evaluated a row at a time, the off-diagonal corrections zeroed at their rows' own
    diagonal entries: the chain still equals the dense one to 1e-10."""
    from symcorr.codegen.runtime import tuples
    from symcorr.numeric import factored_pointwise

    monkeypatch.setattr(tuples, "ROW_WINDOW_BYTES", 1)
    calls = []
    rows = factored_pointwise._block_rows
    monkeypatch.setattr(factored_pointwise, "_block_rows", lambda *args: calls.append(rows(*args)) or calls[-1])
    _resummed_chains("relu", 3, 2, 10, keep_next_diagonal=False, series_order=2)
    assert 1 in calls


@pytest.mark.slow
@pytest.mark.parametrize("closure,depth,dim,keep", [(3, 2, 8, None), (4, 1, 8, None)])
def test_relu_factored_equals_dense_with_order_4(closure, depth, dim, keep):
    """ReLU's order-4 terms (closure 4; the kept diagonal of closure 3), whose corrections on 'iiij' and 'iijj' are
    blocks zero on their diagonals and whose 'iiii' correction is the rest."""
    _resummed_chains("relu", closure, depth, dim, keep_next_diagonal=keep, series_order=2)


def test_erf_of_a_gaussian_factored_through_the_price_series_states_its_size():
    """erf's orders 3..4 of a Gaussian are joint moments at the closure it carries (2), which have no factored form:
    that layer is dense and exact where it fits the memory budget. Where it does not and closure 3 is asked for, the
    factored layer takes closure 3's Price series, the input's order 3 entering as zeros (docs/theory.md section
    12.2). Orders 1..2 equal the dense (exact) ones; order 3 is approximate, its status stating r^(S+1), an estimate
    that its measured difference from the exact joint moments of the dense layer stays within here (1.7e-2 against
    7.6e-2; not a bound in general: tests/networks/test_factored_propagation.py)."""
    from symcorr.codegen.loader import load_kernel
    from symcorr.numeric.budget import kernel_peak_bytes

    dim = 8
    x = linear(Cumulants(*random_gaussian(dim, 3)), *random_layer(dim, dim, 20))
    below_dense = kernel_peak_bytes(load_kernel(activations.erf(), 3, 2, 3), dim, 3, False) - 1
    held = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for representation, budget in (("factored", None), ("factored", below_dense), ("dense", None)):
            held[representation, budget] = pointwise(x, activations.erf(), order=3, closure=3, series_order=3,
                                                     keep_next_diagonal=False, representation=representation,
                                                     memory_budget=budget)
    factored, dense = held["factored", below_dense], held["dense", None]
    assert held["factored", None].exactness == dense.exactness       # the dense layer fits: taken, exact
    assert np.array_equal(held["factored", None].kappa(3), dense.kappa(3))
    assert isinstance(factored.tensor(3), FactoredTensor) and isinstance(dense.tensor(3), np.ndarray)
    assert [dense.status(n).kind for n in (1, 2, 3)] == ["exact"] * 3
    assert [factored.status(n).kind for n in (1, 2, 3)] == ["exact", "exact", "approximate"]
    for n in (1, 2):
        assert np.max(np.abs(factored.kappa(n) - dense.kappa(n))) <= 1e-12 * np.max(np.abs(dense.kappa(n)))
    scale = np.sqrt(1 + 2 * np.diag(x.cov))          # erf's correlation (docs/theory.md section 6.4)
    r = np.max(2 * np.abs(x.cov) / np.outer(scale, scale) - np.diag(2 * np.diag(x.cov) / scale**2))
    (size,) = [c.size for c in factored.status(3).causes if c.size is not None]
    assert size == pytest.approx(r ** 4, rel=1e-12) and "Price series truncated at order 3" in factored.status(3).reason
    difference = np.max(np.abs(factored.kappa(3) - dense.kappa(3))) / np.max(np.abs(dense.kappa(3)))
    assert 1e-8 < difference <= size, (difference, size)


@pytest.mark.slow
@pytest.mark.parametrize("closure,depth,dim,keep,mixture", [(3, 3, 24, False, True), (4, 1, 8, None, True),
                                                            (3, 2, 16, None, False)])
def test_erf_chain_factored_equals_dense_chain_at_the_default_series_order(closure, depth, dim, keep, mixture):
    """As above at the default series order (6 at closure 3, 3 at closure 4; each module derives in 0.5-5 minutes
    the first time): closure 3 (measured 6e-14), closure 4 (7e-14), and closure 3 with the kept diagonal of order 4
    from a Gaussian (9.6e-15), whose first layer is dense in both. (From a mixture that case needs the dense kernel of
    orders 1..4 at closure 3, which did not finish deriving in 20 minutes.)"""
    _resummed_chains("erf", closure, depth, dim, keep_next_diagonal=keep, mixture=mixture, dense_first=not mixture)


@settings(max_examples=16, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(alpha=st.sampled_from([-1.3, -0.4, 0.3, 1.0]), closure=st.sampled_from([3, 4]), depth=st.integers(1, 3),
       widths=st.lists(st.integers(3, 7), min_size=4, max_size=4), mixture=st.booleans(), pair_mean=st.booleans(),
       path=st.sampled_from(["exact", "tolerance 0", "taken whole"]), seed=st.integers(0, 2**16))
def test_random_chains_factored_equal_dense(alpha, closure, depth, widths, mixture, pair_mean, path, seed):
    """Hypothesis draws quadratic chains the fixed cases above do not cover: layers of different widths with biases,
    a Gaussian or a non-Gaussian (mixture) input, the pair mean at closure 3, and each factored path that is exact
    (no tolerance; a tolerance of 0, which splits the cyclic networks at their diagonals and keeps every part; and
    every cyclic term taken whole, split at the output's coincident neurons). Every held order equals the dense
    chain's to 1e-10 (measured: 8.8e-15 at most over 120 random polynomial chains of degree 2 and 3)."""
    from unittest import mock

    import symcorr.numeric.factored_pointwise as factored_pointwise
    from symcorr.numeric.distributions import gaussian_mixture

    depth = min(depth, 1 if mixture else 2) if closure == 4 else depth        # (the slowest dense chains)
    pair_mean = pair_mean and closure == 3
    activation = activations.quadratic(alpha)
    start = (gaussian_mixture(*random_mixture(widths[0], seed), order=closure) if mixture else
             Cumulants(*random_gaussian(widths[0], seed)))
    tolerance = None if path == "exact" else 0.0
    held, split_networks = {}, 0 if path == "taken whole" else factored_pointwise.SPLIT_NETWORKS
    with warnings.catch_warnings(), mock.patch.object(factored_pointwise, "SPLIT_NETWORKS", split_networks):
        warnings.simplefilter("ignore")
        for representation in ("dense", "factored"):
            cumulants = start
            for layer in range(depth):
                cumulants = pointwise(linear(cumulants, *random_layer(widths[layer + 1], widths[layer], seed + layer)),
                                      activation, order=closure, closure=closure, representation=representation,
                                      tolerance=tolerance if representation == "factored" else None,
                                      pair_mean=pair_mean)
            held[representation] = cumulants
    assert any(isinstance(t, FactoredTensor) for t in held["factored"].held)
    for n, (a, b) in enumerate(zip(held["factored"].held, held["dense"].held), start=1):
        patterns = ["ijkl"[:n]] if n <= closure else ["i" * n] + (["iijj"] if pair_mean else [])
        for pattern in patterns:         # beyond the closure: the kept diagonal (and pair entries)
            x = a.slice(pattern) if is_cumulant_tensor(a) else np.asarray(a)
            y = b.slice(pattern) if is_cumulant_tensor(b) else np.asarray(b)
            assert np.max(np.abs(x - y)) <= 1e-10 * np.max(np.abs(y)), (n, pattern)


@pytest.mark.parametrize("split_networks, tolerance", [(None, None), (0, 0.0)])
def test_a_chain_made_in_small_chunks_equals_the_dense_chain(split_networks, tolerance, monkeypatch):
    """The chunks are an order of the computation, not an approximation: with chunks far smaller than at any real
    width (elementwise products read 16 numbers at a time, ``_chunked_matmul``; summed products made 16 numbers at a
    time on two threads, ``summed_products``), a quadratic closure-4 chain -- exactly, and with every cyclic term
    taken whole and nothing dropped -- equals the dense chain, and both chunked paths ran."""
    import symcorr.numeric.factored_pointwise as factored_pointwise
    from symcorr.numeric import tensor_networks

    calls = {"matmul": 0, "summed": 0}
    chunked, summed = tensor_networks._chunked_matmul, factored_pointwise.summed_products

    def counted_matmul(*args):
        calls["matmul"] += 1
        return chunked(*args)

    def counted_summed(products, output, dim, add_to=None):
        calls["summed"] += len(output) > 0
        return summed(products, output, dim, add_to)

    monkeypatch.setattr(tensor_networks, "_chunked_matmul", counted_matmul)
    monkeypatch.setattr(tensor_networks, "PRODUCT_CHUNK", 16)
    monkeypatch.setattr(tensor_networks, "MIN_SUMMED", 1)
    monkeypatch.setattr(factored_pointwise, "summed_products", counted_summed)
    monkeypatch.setattr(factored_pointwise, "SUMMED_CHUNK", 16)
    monkeypatch.setattr(factored_pointwise, "THREADS", 2)
    if split_networks is not None:
        monkeypatch.setattr(factored_pointwise, "SPLIT_NETWORKS", split_networks)
    dim, activation = 8, activations.quadratic()
    factored = chain("factored", dim, activation, 4, 3, tolerance=tolerance)
    dense = chain("dense", dim, activation, 4, 3)
    assert max(max_relative_differences(factored, dense)) < 1e-10
    assert factored.exactness == dense.exactness
    assert calls["matmul"] > 0 and calls["summed"] > 0, calls


CUBIC = activations.cubic(0.1, 0.9, -0.4, 0.25)


# the cubic rows read the modules of closure 3: (3, 3) without the next diagonal (shipped), and (4, 3) (derived
# on first use)
@pytest.mark.parametrize("activation,order,closure", [(activations.quadratic(0.7), 4, None), (CUBIC, 3, 3),
                                                      (CUBIC, 4, 3)])
def test_one_factored_layer_of_a_gaussian_matches_quadrature(activation, order, closure):
    mean, cov = random_gaussian(3, seed=4, scale=0.4)
    out = pointwise(Cumulants(mean, cov), activation, order=order, closure=closure, keep_next_diagonal=False,
                    representation="factored")
    assert all(isinstance(out.tensor(n), FactoredTensor) for n in range(3, order + 1))
    reference = quadrature_cumulants(activation, [1.0], [mean], [cov], order=order)
    for n in range(1, order + 1):
        expected = np.asarray(reference.tensor(n))
        assert np.max(np.abs(as_array(out.tensor(n)) - expected)) < 1e-10 * np.max(np.abs(expected)), n


def test_auto_is_dense_within_the_budget_and_factored_above_it():
    # exactly, the cyclic diagram terms take a dense block: the factored form saves memory with a tolerance
    # (from a width where the factored layer's working rows, ENTRY_NUMBERS per operand, and the rows it keeps
    # for reuse, kept_elements, are below N^4: the budget is one dense array of the output, less a byte)
    dim, activation = 72, activations.quadratic()
    cumulants = linear(Cumulants(*random_gaussian(dim, 1)), *random_layer(dim, dim, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = pointwise(cumulants, activation, order=4, tolerance=0.9)
        small = pointwise(cumulants, activation, order=4, memory_budget=8 * dim**4 - 1, tolerance=0.9)
    assert isinstance(dense.tensor(4), np.ndarray) and dense.status(4).kind == "exact"
    assert isinstance(small.tensor(4), FactoredTensor) and small.status(4).kind == "approximate"
    assert small.tensor(4).nbytes < 8 * dim**4
    for n in (1, 2):
        assert np.max(np.abs(small.tensor(n) - dense.tensor(n))) < 1e-12 * np.max(np.abs(dense.tensor(n)))
    with pytest.raises(MemoryBudgetError, match="representation='factored' with a tolerance"):
        pointwise(cumulants, activation, order=4, memory_budget=8 * dim**4 - 1)     # exactly: dense refuses


def test_a_truncation_is_stated_with_its_size():
    dim, activation = 24, activations.quadratic()
    exact = chain("factored", dim, activation, 3, 1)
    cut = chain("factored", dim, activation, 3, 1, tolerance=0.5)
    status = cut.status(3)
    assert status.kind == "approximate" and exact.status(3).kind == "exact"
    sizes = [cause.size for cause in status.causes if cause.size is not None]
    assert sizes and all(0 < size <= 0.5 for size in sizes)
    assert any("dropped, estimated relative size" in cause.text for cause in status.causes)
    # each size is stated once, with its standard error, not again as a bare estimate
    assert str(status).count("estimated relative size") == len(sizes) and "estimated size ~" not in str(status)
    # what was dropped is what differs, and the estimate says how much (same order of magnitude)
    a, b = cut.tensor(3).to_dense(), exact.tensor(3).to_dense()
    held = cut.tensor(3).dropped
    assert held and np.linalg.norm(a - b) / np.linalg.norm(b) < 3 * max(d.size for d in held) + 1e-12
    assert np.linalg.norm(a - b) > 0


def test_the_values_of_a_term_taken_whole_are_its_symmetrized_dense_values():
    """``spec_entries`` (a term of the formula at sampled tuples, from its inputs' values there) equals the term
    evaluated densely (``spec_values``) and symmetrized, for every cyclic term of order 4 of a second quadratic
    layer (inputs of orders 3 and 4 held as several factored terms)."""
    import itertools

    from symcorr.codegen.loader import load_factored
    from symcorr.numeric.factored_pointwise import sampled_tuples, spec_entries, spec_values

    dim, activation = 5, activations.quadratic(0.7)
    inputs = linear(chain("factored", dim, activation, 4, 1, seed=3), *random_layer(dim, dim, 40))
    assert all(len(inputs.tensor(n).terms) > 1 for n in (3, 4))
    module, parameters = load_factored(activation, 4, 4), [value for _, value in activation.parameters]
    kappa, tuples, blocks, shared = tuple(inputs.held), sampled_tuples(dim, 4, count=64), {}, {}
    checked = 0
    for spec in module.TERMS_4:
        if not spec.cyclic:
            continue
        dense = spec_values(spec, "ijkl", kappa, parameters, dim, blocks)
        values = spec_entries(spec, tuples, kappa, parameters, dim, blocks, shared)
        if dense is None:
            assert values is None
            continue
        symmetric = sum(dense.transpose(p) for p in itertools.permutations(range(4))) / 24
        expected = symmetric[tuple(tuples.T)]
        assert np.max(np.abs(values - expected)) <= 1e-12 * np.max(np.abs(symmetric)), spec
        checked += len(spec.cumulants) >= 2
    assert checked >= 5        # products of several inputs among them


def test_a_cyclic_term_split_at_its_blocks_diagonals_keeps_its_sum():
    """``diagonal_parts``: for every cyclic term of output order 3 of a second quadratic layer that multiplies the
    input's order-3 cumulant (held as several factored terms), the parts where a block's two neurons coincide plus
    the term with the off-diagonal blocks equal the term (each evaluated densely, ``spec_values``, symmetrized), and
    that rest is zero wherever a split block's neurons coincide."""
    import itertools

    from symcorr.codegen.loader import load_factored
    from symcorr.numeric.factored_pointwise import diagonal_parts, spec_values

    dim, activation = 6, activations.quadratic(0.7)
    inputs = linear(chain("factored", dim, activation, 3, 1, seed=5), *random_layer(dim, dim, 41))
    assert len(inputs.tensor(3).terms) > 1
    module, parameters = load_factored(activation, 4, 4), [value for _, value in activation.parameters]
    kappa, cache = tuple(inputs.held), {}

    def symmetrized(values):
        return sum(values.transpose(p) for p in itertools.permutations(range(3))) / 6

    split = 0
    for spec in module.TERMS_3:
        parts, rest = diagonal_parts(spec, 3, kappa, parameters, dim, cache)
        if rest is None:
            assert not parts
            continue
        split += 1
        whole = symmetrized(spec_values(spec, "ijk", kappa, parameters, dim, cache))
        remainder = spec_values(spec, "ijk", kappa, parameters, dim, cache, blocks=rest)
        total = symmetrized(remainder) + dense_sum(parts, 3, dim)
        assert np.max(np.abs(total - whole)) <= 1e-13 * np.max(np.abs(whole)), spec
        for _, labels in spec.blocks:
            if len(labels) == 2:            # the rest on the pattern where the block's neurons coincide
                word = "ijk".replace(labels[1], labels[0])
                assert not np.any(np.einsum(f"{word}->{''.join(dict.fromkeys(word))}", remainder))
    assert split >= 1


def test_a_truncated_closure_3_chain_with_nothing_dropped_equals_the_dense_chain():
    """Closure 3, depth 3, tolerance 0: the cyclic terms split at their blocks' diagonals before the inputs' terms
    enter (``diagonal_parts``) and at their networks' diagonals, nothing dropped: equal to the dense chain."""
    for name, dim in (("quadratic", 10), ("cubic", 8)):
        activation = getattr(activations, name)()
        factored = chain("factored", dim, activation, 3, 3, tolerance=0.0)
        dense = chain("dense", dim, activation, 3, 3)
        assert max(max_relative_differences(factored, dense)) < 1e-10, name


def test_terms_taken_whole_are_exact_where_kept(monkeypatch):
    """With every cyclic term of the formula taken whole (``SPLIT_NETWORKS = 0``: its coincident-neuron parts
    kept as slices, its all-distinct part a candidate) and nothing dropped (tolerance 0), the chain equals the
    dense one; with a tolerance what is dropped is stated, and is only all-distinct entries of the first
    truncated layer."""
    import symcorr.numeric.factored_pointwise as factored_pointwise

    monkeypatch.setattr(factored_pointwise, "SPLIT_NETWORKS", 0)
    dim, activation = 8, activations.quadratic()
    whole = chain("factored", dim, activation, 4, 2, tolerance=0.0)
    dense = chain("dense", dim, activation, 4, 2)
    assert max(max_relative_differences(whole, dense)) < 1e-10
    assert whole.exactness == dense.exactness
    exact = chain("factored", dim, activation, 4, 1)
    cut = chain("factored", dim, activation, 4, 1, tolerance=0.5)
    records = cut.tensor(4).dropped
    assert records and cut.status(4).kind == "approximate"
    difference = cut.tensor(4).to_dense() - exact.tensor(4).to_dense()
    i, j, k, l = np.indices((dim,) * 4)
    coincident = (i == j) | (i == k) | (i == l) | (j == k) | (j == l) | (k == l)
    assert np.max(np.abs(difference[coincident])) < 1e-12 * np.max(np.abs(exact.tensor(4).to_dense()))
    relative = np.linalg.norm(difference) / np.linalg.norm(exact.tensor(4).to_dense())
    assert 0 < relative < 3 * max(record.size for record in records)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("output", ["ijk", "ij", ""])
def test_summed_products_in_chunks_equal_einsum(output, threads, monkeypatch):
    """``summed_products`` (the coincident parts' sum of products of blocks and input slices) equals the sum of
    ``numpy.einsum`` of each product, whether the output is made whole or a chunk of one row, several rows or one
    value at a time, by one thread or two: operands over some of the output's letters, a diagonal (a letter
    repeated within an operand), an operand over none, a product of scalars alone, and a sum added to."""
    import symcorr.numeric.factored_pointwise as factored_pointwise

    rng = np.random.default_rng(31)
    dim = 6
    shapes = {"ijk": [["ij", "jk", "k"], ["ii", "ijk"], ["ik", "jk", "ij", "j"], ["kk", ""]],
              "ij": [["ij", "i"], ["jj", "ii", "j"], ["ji"]], "": [[""], ["", ""]]}[output]
    products = [(float(rng.normal()), [rng.normal(size=(dim,) * len(ix)) for ix in subscripts], subscripts)
                for subscripts in shapes]
    products.append((0.3, [], []))
    ones = [np.ones(dim)] * len(output)       # (for the letters an operand does not hold)
    expected = sum(scalar * (np.einsum(",".join(list(subscripts) + list(output)) + "->" + output, *operands, *ones)
                             if operands or output else 1.0) for scalar, operands, subscripts in products)
    start = rng.normal(size=(dim,) * len(output))
    monkeypatch.setattr(factored_pointwise, "THREADS", threads)
    for chunk in (1, dim, 2 * dim + 1, dim ** 3):
        monkeypatch.setattr(factored_pointwise, "SUMMED_CHUNK", chunk)
        values = factored_pointwise.summed_products(products, output, dim)
        assert np.allclose(values, expected, rtol=1e-13, atol=1e-13), chunk
        added = start.copy()
        assert factored_pointwise.summed_products(products, output, dim, added) is added
        assert np.allclose(added, start + expected, rtol=1e-13, atol=1e-13), chunk


@pytest.mark.slow
def test_a_deep_chain_that_takes_terms_whole_equals_the_dense_chain(monkeypatch):
    """Quadratic, closure 4, depth 4: the later layers' cyclic terms would make tens of thousands of networks
    (refused before terms were taken whole); with nothing dropped (tolerance 0) the factored chain equals the dense
    one."""
    import symcorr.numeric.factored_pointwise as factored_pointwise

    taken, whole_terms = [], factored_pointwise.whole_terms
    monkeypatch.setattr(factored_pointwise, "whole_terms", lambda *args: taken.append(whole_terms(*args)) or taken[-1])
    dim, activation = 10, activations.quadratic()
    factored = chain("factored", dim, activation, 4, 4, tolerance=0.0)
    assert any(taken)
    dense = chain("dense", dim, activation, 4, 4)
    assert max(max_relative_differences(factored, dense)) < 1e-10
    assert factored.exactness == dense.exactness


def test_cyclic_corrections_taken_whole_keep_the_chain_exact(monkeypatch):
    """With ``SPLIT_NETWORKS = 0`` ReLU's cyclic diagonal corrections at closure 4 (terms on 'iijk', 'iijj', ...) are
    taken whole, as their values on their patterns (``correction_parts``), not as networks split at their diagonals
    (which numbered 19,000 at width 64 in the second layer), and with nothing dropped (tolerance 0) the chain of two
    layers from a mixture equals the dense chain to 1e-10 in every entry of every order."""
    import symcorr.numeric.factored_pointwise as factored_pointwise

    monkeypatch.setattr(factored_pointwise, "SPLIT_NETWORKS", 0)
    taken, parts = [], factored_pointwise.correction_parts
    monkeypatch.setattr(factored_pointwise, "correction_parts",
                        lambda specs, *args: taken.append(len(specs)) or parts(specs, *args))
    _resummed_chains("relu", 4, 2, 8, tolerance=0.0, series_order=2)
    assert max(taken) > 0


def test_cyclic_corrections_taken_whole_without_a_tolerance_keep_the_chain_exact(monkeypatch):
    """Without a tolerance too, cyclic diagonal corrections that would make more than ``SPLIT_NETWORKS`` networks are
    taken whole (``correction_parts``) instead of summed into the dense block one network at a time (erf's third
    layer at closure 4: 2.0 million networks): ReLU's chain of two layers at closure 4 with ``SPLIT_NETWORKS = 0``
    equals the dense chain to 1e-10."""
    import symcorr.numeric.factored_pointwise as factored_pointwise

    monkeypatch.setattr(factored_pointwise, "SPLIT_NETWORKS", 0)
    taken, parts = [], factored_pointwise.correction_parts
    monkeypatch.setattr(factored_pointwise, "correction_parts",
                        lambda specs, *args: taken.append(len(specs)) or parts(specs, *args))
    _resummed_chains("relu", 4, 2, 8, series_order=2)
    assert max(taken) > 0


@pytest.mark.slow
def test_inputs_of_too_many_networks_are_stacked_and_the_chain_stays_exact(monkeypatch):
    """(24 s: marked slow; ``stacked`` itself is checked in tests/numeric/test_factored.py.) erf's third layer at closure 4 (from a Gaussian, its first layer dense: exact joint moments) would make more
    than ``MAX_NETWORKS`` networks of its inputs' terms (148 of order 4 at width 16); stacked
    (``stacked_inputs``: exact) it makes fewer, and the chain equals the dense one to 1e-10. Its first two layers'
    inputs are left as they are."""
    import symcorr.numeric.factored_pointwise as factored_pointwise

    counts, stack = [], factored_pointwise.stacked_inputs

    def counted(module, order, kappa, *args):
        out = stack(module, order, kappa, *args)
        counts.append([(len(a.terms), len(b.terms)) for a, b in zip(kappa, out) if isinstance(a, FactoredTensor)])
        return out

    monkeypatch.setattr(factored_pointwise, "stacked_inputs", counted)
    _resummed_chains("erf", 4, 3, 6, mixture=False, dense_first=True)
    assert all(before == after for before, after in counts[0])          # the second layer's inputs: as they were
    assert all(after < before for before, after in counts[-1])          # the third's: fewer terms


@pytest.mark.parametrize("name, closure, depth, dim", [("quadratic", 4, 2, 12), ("erf", 3, 2, 8)])
def test_acyclic_terms_of_too_many_networks_are_evaluated_densely_and_exactly(monkeypatch, name, closure, depth, dim):
    """A layer whose acyclic terms would make more than ``MAX_NETWORKS`` networks (made small here) evaluates them
    densely (``dense_terms``: the all-distinct formula's products into the dense block, the diagonal corrections on
    their patterns) instead of refusing, and the chain still equals the dense one to 1e-10."""
    import symcorr.numeric.factored_pointwise as factored_pointwise

    monkeypatch.setattr(factored_pointwise, "MAX_NETWORKS", 10)
    taken, decide = [], factored_pointwise.dense_terms
    monkeypatch.setattr(factored_pointwise, "dense_terms", lambda *args: taken.append(decide(*args)) or taken[-1])
    if name == "erf":
        _resummed_chains("erf", closure, depth, dim, keep_next_diagonal=False, series_order=3)
    else:
        factored, dense = (chain(form, dim, activations.quadratic(), closure, depth) for form in ("factored", "dense"))
        assert isinstance(factored.tensor(4), FactoredTensor)
        assert max(max_relative_differences(factored, dense)) < 1e-10
    assert any(taken)


def _every_acyclic_term_dense(monkeypatch):
    """``dense_terms`` made to take every acyclic term (what it does beyond ``MAX_NETWORKS``; with a tolerance the
    split cyclic networks would reach that limit first at these widths)."""
    import symcorr.numeric.factored_pointwise as factored_pointwise

    taken = []

    def every(module, order, *args):
        taken.append(frozenset(n for n, spec in enumerate(getattr(module, f"TERMS_{order}")) if not spec.cyclic))
        return taken[-1]

    monkeypatch.setattr(factored_pointwise, "dense_terms", every)
    return taken


@pytest.mark.parametrize("name", ["quadratic", "erf"])
def test_terms_evaluated_densely_with_a_tolerance_of_zero_keep_the_chain_exact(monkeypatch, name):
    """Through the truncation machinery with nothing dropped (tolerance 0), the terms evaluated densely and the
    split cyclic networks together equal the dense chain to 1e-10."""
    taken = _every_acyclic_term_dense(monkeypatch)
    if name == "erf":
        _resummed_chains("erf", 3, 2, 8, keep_next_diagonal=False, series_order=3, tolerance=0.0)
    else:
        factored, dense = (chain(form, 12, activations.quadratic(), 4, 2, tolerance=0.0 if form == "factored" else None)
                           for form in ("factored", "dense"))
        assert max(max_relative_differences(factored, dense)) < 1e-10
    assert any(taken)


def test_candidates_are_measured_against_the_terms_evaluated_densely_too(monkeypatch):
    """With a tolerance, the terms evaluated densely count in the whole that the dropped candidates are measured
    against: one layer drops the same candidates with the same stated sizes as when those terms are networks, and
    the results are the same to rounding. (A layer after it differs: its input's dense block splits into other
    candidates than its networks do.)"""
    as_networks = chain("factored", 12, activations.quadratic(), 4, 1, tolerance=0.3)
    taken = _every_acyclic_term_dense(monkeypatch)
    with_dense = chain("factored", 12, activations.quadratic(), 4, 1, tolerance=0.3)
    assert any(taken)
    sizes = [[c.size for n in (3, 4) for c in result.status(n).causes if c.size is not None]
             for result in (as_networks, with_dense)]
    assert sizes[0] and len(sizes[0]) == len(sizes[1])
    assert np.allclose(sizes[0], sizes[1], rtol=1e-9, atol=0)
    assert max(max_relative_differences(with_dense, as_networks)) < 1e-10


def test_a_term_kept_whole_is_refused_before_its_dense_values_are_made(monkeypatch):
    """A cyclic term taken whole whose all-distinct part is kept is evaluated densely (the inputs' dense slices):
    its N^4 arrays are checked against the budget first, and refused with the estimate and the remedy."""
    import symcorr.numeric.factored_pointwise as factored_pointwise
    import symcorr.numeric.tensor_networks as tensor_networks

    monkeypatch.setattr(factored_pointwise, "SPLIT_NETWORKS", 0)
    # the rows that sampled entries gather and keep (128 MB at most) made small: the budget is what the term needs
    monkeypatch.setattr(tensor_networks, "ENTRY_NUMBERS", 1 << 10)
    monkeypatch.setattr(tensor_networks, "ENTRY_KEPT_MAX", 1 << 16)
    dim, activation = 24, activations.quadratic()
    cumulants = linear(Cumulants(*random_gaussian(dim, 1)), *random_layer(dim, dim, 2))
    needed = 5 * 8 * dim**4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pointwise(cumulants, activation, order=4, representation="factored", tolerance=0.0,
                        memory_budget=needed)
        assert isinstance(out.tensor(4), FactoredTensor)
        with pytest.raises(MemoryBudgetError, match="kept whole .* needs an estimated 12.7 MiB.*larger tolerance"):
            pointwise(cumulants, activation, order=4, representation="factored", tolerance=0.0,
                      memory_budget=needed - 1)


def test_clear_errors():
    cumulants = Cumulants(*random_gaussian(4, 1))
    with pytest.raises(ValueError, match="representation must be one of"):
        pointwise(cumulants, activations.quadratic(), order=3, representation="sparse")
    with pytest.raises(ValueError, match=r"tolerance .* must be None or a number in \[0, 1\)"):
        pointwise(cumulants, activations.quadratic(), order=3, representation="factored", tolerance=2)
    # erf of a Gaussian at closure 2 (its orders 3..4 are joint moments) has no factored terms: that layer is dense,
    # exact, and refused on the dense memory estimate with the remedy that applies
    out = pointwise(cumulants, activations.erf(), order=3, closure=2, representation="factored")
    assert isinstance(out.tensor(3), np.ndarray) and out.status(3).kind != "approximate"
    with pytest.raises(MemoryBudgetError, match="erf at closure 3 or 4 -- of a Gaussian through the Price series"):
        pointwise(cumulants, activations.erf(), order=3, closure=2, representation="factored", memory_budget=1000)
    with pytest.raises(MemoryBudgetError, match="factored pointwise layer.*Remedy: a tolerance"):
        pointwise(cumulants, activations.quadratic(), order=4, representation="factored", memory_budget=1000)
    # given a tolerance already, the remedy does not offer one (what the estimate counts is kept at any tolerance)
    with pytest.raises(MemoryBudgetError, match="Remedy: a lower order .*a larger tolerance would not help") as info:
        pointwise(cumulants, activations.quadratic(), order=4, representation="factored", tolerance=0.9,
                  memory_budget=1000)
    assert "Remedy: a tolerance" not in str(info.value)


def test_a_refused_layer_offers_a_larger_tolerance_where_its_inputs_hold_dense_terms_an_earlier_layer_kept():
    """With a tolerance, what a layer's estimate counts does not depend on that layer's tolerance, but on its
    inputs: the cyclic terms an earlier factored layer kept above the tolerance are one dense array, counted with
    every network that reads it. Then the remedy is a larger tolerance (for the earlier layers); without such
    inputs it is not offered (test_clear_errors)."""
    from symcorr.numeric.factored_pointwise import heavy

    dim, activation = 8, activations.quadratic()
    cumulants = linear(Cumulants(*random_gaussian(dim, 1)), *random_layer(dim, dim, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = pointwise(cumulants, activation, order=4, representation="factored", tolerance=0.0)
        for n in (3, 4):                    # every cyclic term kept: one dense block per order
            assert sum(heavy(term, n) for term in first.tensor(n).terms) == 1
        second = linear(first, *random_layer(dim, dim, 3))
        remedy = (r"Remedy: a larger tolerance \(the inputs hold dense terms, 1 of order 3 \(8\^3 numbers\), "
                  r"1 of order 4 \(8\^4 numbers\)")
        with pytest.raises(MemoryBudgetError, match=remedy) as info:
            pointwise(second, activation, order=4, representation="factored", tolerance=0.0, memory_budget=1000)
    assert "would not help" not in str(info.value)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_the_estimate_counts_the_networks_a_term_makes(data):
    """The memory estimate's count of a term's networks (``_network_count``) is the number the layer makes
    (``_arrangements``: a symmetric input term's arrangements are one network), for any arrangements of up to three
    input cumulants and any mix of symmetric and non-symmetric input terms."""
    from types import SimpleNamespace

    from symcorr.numeric.factored_pointwise import _arrangements, _network_count

    inputs_count = data.draw(st.integers(0, 3))
    cumulants = tuple(data.draw(st.sampled_from(["ijk", "iijk", "ijkk"])) for _ in range(inputs_count))
    words = st.tuples(*(st.sampled_from([labels, labels[::-1], "".join(sorted(labels))]) for labels in cumulants))
    arrangements = data.draw(st.lists(st.tuples(words, st.integers(1, 3)), min_size=1, max_size=12))
    inputs = [[SimpleNamespace(symmetric=flag) for flag in data.draw(st.lists(st.booleans(), max_size=4))]
              for _ in cumulants]
    spec = SimpleNamespace(arrangements=arrangements, cumulants=cumulants)
    assert _network_count(spec, inputs) == len(_arrangements(spec, inputs))


def test_networks_over_the_budget_as_they_are_made_stop_and_say_so():
    """The arrays a factored layer's networks hold are counted as they are made (the memory estimate before the
    layer does not bound those of the networks split at their diagonals): over the budget the layer stops, and the
    error says that what it made so far is freed (not that nothing was allocated)."""
    from symcorr.numeric.factored_pointwise import _HeldArrays
    from symcorr.numeric.tensor_networks import Term

    held = _HeldArrays(4, 128, budget=100_000)
    small = Term(1.0, [np.ones(128)], [(0,)], [(0, None)] * 4, symmetric=True)
    held.add([small])                   # 1 KB: within the budget
    large = Term(1.0, [np.ones((128, 128))], [(0, 1)], [(0, None), (0, None), (1, None), (1, None)])   # 131 KB
    with pytest.raises(MemoryBudgetError, match="stops here and frees what it made so far") as info:
        held.add([large])
    assert "nothing was allocated" not in str(info.value) and "2 arrays so far" in str(info.value)


def test_bootstrap_error_of_a_truncation_size_matches_the_spread_over_independent_samples():
    """The standard error stated with a dropped part's size is the spread the estimate really has: over 400
    independent sets of 256 sampled entries of one fixed tensor (entries products of two Gaussians) the ratio
    varies as much as the bootstrap says (within 25%); a part proportional to the whole has no error."""
    from symcorr.numeric.factored_pointwise import bootstrap_error

    rng = np.random.default_rng(5)
    whole = rng.normal(size=200_000) * rng.normal(size=200_000)
    part = 0.1 * whole * rng.normal(size=whole.size) + 0.02 * rng.normal(size=whole.size)
    sets = rng.integers(0, whole.size, size=(400, 256))
    ratios = [np.linalg.norm(part[s]) / np.linalg.norm(whole[s]) for s in sets]
    stated = np.mean([bootstrap_error(part[s], whole[s]) for s in sets[:40]])
    assert abs(stated / np.std(ratios) - 1) < 0.25
    assert bootstrap_error(0.3 * whole[:256], whole[:256]) < 1e-15


def test_a_stratified_bootstrap_error_matches_the_spread_over_independent_stratified_samples():
    """With samples in strata (the values weighted by them), the standard error resamples each stratum within
    itself: over 400 independent stratified sets (256 per stratum, a small stratum of large entries and a large one
    of small entries) the ratio varies as much as the bootstrap says (within 25%)."""
    from symcorr.numeric.factored_pointwise import bootstrap_error

    rng = np.random.default_rng(6)
    sizes, scales = (2_000, 200_000), (5.0, 0.2)
    populations = [scale * rng.normal(size=size) * rng.normal(size=size) for size, scale in zip(sizes, scales)]
    parts = [0.1 * whole * rng.normal(size=whole.size) for whole in populations]
    strata = np.repeat([0, 1], 256)

    def sampled(seed):
        picks = [np.random.default_rng(seed + s).integers(0, size, 256) for s, size in enumerate(sizes)]
        weights = np.repeat([np.sqrt(size / 256) for size in sizes], 256)
        return (weights * np.concatenate([p[k] for p, k in zip(parts, picks)]),
                weights * np.concatenate([w[k] for w, k in zip(populations, picks)]))

    samples = [sampled(1000 + 2 * n) for n in range(400)]
    ratios = [np.linalg.norm(part) / np.linalg.norm(whole) for part, whole in samples]
    stated = np.mean([bootstrap_error(part, whole, strata=strata) for part, whole in samples[:40]])
    assert abs(stated / np.std(ratios) - 1) < 0.25


def test_stratified_tuples_weigh_every_entry_once():
    """``stratified_tuples``: one stratum per number of distinct neurons that an entry can have, each tuple in the
    stratum its neurons say, the squared weights adding up to the :math:`N^m` entries, a tensor constant on each
    stratum estimated exactly, and within a stratum every pattern of the slots drawn about as often as its share."""
    from symcorr.notation.partitions import set_partitions
    from symcorr.numeric.factored_pointwise import stratified_tuples

    for dim, order in ((3, 4), (5, 4), (12, 4), (2, 3), (9, 3)):
        tuples, weights, strata = stratified_tuples(dim, order)
        assert np.array_equal(strata, [len(set(t)) for t in tuples.tolist()])
        assert set(strata.tolist()) == set(range(1, min(dim, order) + 1))
        assert np.isclose(np.sum(weights**2), dim**order, rtol=1e-12)
        every = np.indices((dim,) * order).reshape(order, -1).T
        on_every = np.array([len(set(t)) for t in every.tolist()], dtype=float) ** 3      # constant per stratum
        assert np.isclose(np.linalg.norm(weights * strata.astype(float) ** 3), np.linalg.norm(on_every), rtol=1e-12)
    tuples, _, strata = stratified_tuples(12, 4)
    on_pairs = [tuple(sorted(tuple(np.flatnonzero(t == v)) for v in set(t.tolist()))) for t in tuples[strata == 3]]
    counts = [on_pairs.count(tuple(sorted(p))) for p in set_partitions(4) if len(p) == 3]
    assert len(counts) == 6 and sum(counts) == 256 and min(counts) > 256 / 6 / 2 and max(counts) < 2 * 256 / 6


@pytest.mark.parametrize("name, dim", [("cubic", 16), ("quadratic", 20), ("cubic", 24)])
def test_parts_on_one_pair_of_neurons_dropped_are_stated_with_their_size(name, dim, monkeypatch):
    """With every cyclic term taken whole (``SPLIT_NETWORKS = 0``) at closure 4 and a layer whose estimate is above its
    budget (here any), its parts on one pair of coincident neurons (:math:`N^3` values each, made from :math:`N^3`
    slices of the input) are candidates, and a tolerance of 0.2 drops some with the all-distinct ones. The stated
    size, from samples in strata of the number of distinct neurons, is the true relative Frobenius distance to the
    exact layer within a factor of 2 (measured 0.69-1.47 of it); uniform samples, which rarely reach the diagonals
    that hold most of the norm, stated 0.017 for a true 0.0029 in the cubic's case at width 16 when only the
    all-distinct parts were candidates. Entries on two or fewer neurons stay exact. Within the budget, the
    parts on one pair are kept exactly (``test_terms_taken_whole_are_exact_where_kept``)."""
    import symcorr.numeric.factored_pointwise as factored_pointwise
    import symcorr.numeric.pointwise as pointwise_module

    monkeypatch.setattr(factored_pointwise, "SPLIT_NETWORKS", 0)
    activation = getattr(activations, name)()
    exact = chain("factored", dim, activation, 4, 1).tensor(4).to_dense()
    monkeypatch.setattr(pointwise_module, "memory_budget", lambda budget: 0)
    cut = chain("factored", dim, activation, 4, 1, tolerance=0.2).tensor(4)
    (record,) = cut.dropped
    assert record.stratified and "one pair of coincident neurons" in str(record) and "(tolerance 0.2;" in str(record)
    difference = cut.to_dense() - exact
    ordered = np.sort(np.stack(np.indices((dim,) * 4), axis=-1), axis=-1)
    distinct = 1 + np.sum(ordered[..., 1:] != ordered[..., :-1], axis=-1)
    assert np.max(np.abs(difference[distinct <= 2])) < 1e-12 * np.max(np.abs(exact))
    assert np.any(difference[distinct == 3])
    assert 0.5 < record.size / (np.linalg.norm(difference) / np.linalg.norm(exact)) < 2


@pytest.mark.parametrize("networks", ["counted per network", "made of shapes"])
@pytest.mark.parametrize("name", ["quadratic", "cubic", "relu"])
def test_the_memory_estimate_of_a_factored_layer_is_above_what_it_allocates(name, networks, monkeypatch):
    """Every factored layer of a depth-3 network (closure 3, with a tolerance) allocates at most what
    ``factored_peak_bytes`` estimated before it ran (numpy's allocations traced by tracemalloc), whether the
    networks' arrays are counted per network or, as a layer does when that count is above its budget (here
    always), by making the networks of shapes only (``network_bytes``). ReLU's second layer takes its cyclic terms
    whole (not split at their diagonals: no off-diagonal copies counted) and reads a symmetric order-4 input term
    (its arrangements one network each)."""
    import tracemalloc

    import torch

    import symcorr.numeric.factored_pointwise as factored_pointwise
    import symcorr.numeric.pointwise as pointwise_module
    from symcorr.networks.modules import from_activation, mlp
    from symcorr.networks.propagation import propagate

    estimates, bounds, peaks = [], [], []
    estimate, layer = factored_pointwise.factored_peak_bytes, pointwise_module.factored_layer

    def recorded_estimate(*args, **kwargs):
        estimates.append(estimate(*args, **kwargs))
        return estimates[-1]

    def measured_layer(*args, **kwargs):
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out = layer(*args, **kwargs)
        peaks.append(tracemalloc.get_traced_memory()[1] - start)
        bounds.append(estimates[-1])          # the estimate the layer checked
        return out

    monkeypatch.setattr(factored_pointwise, "factored_peak_bytes", recorded_estimate)
    monkeypatch.setattr(pointwise_module, "factored_layer", measured_layer)
    if networks == "made of shapes":
        monkeypatch.setattr(pointwise_module, "memory_budget", lambda budget: 0)
    activation = {"quadratic": activations.quadratic(1.0), "cubic": activations.cubic(), "relu": None}[name]
    dim = 96
    model = mlp([dim] * 5, torch.nn.ReLU if name == "relu" else lambda: from_activation(activation, learnable=False),
                init_gain=0.7, seed=0)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            propagate(model, Cumulants(np.zeros(dim), np.eye(dim)), order=2, closure=3, representation="factored",
                      tolerance=0.2, progress=False)
    finally:
        tracemalloc.stop()
    assert len(peaks) == len(bounds) == 2 and len(estimates) == (2 if networks == "counted per network" else 4)
    assert all(peak <= bound for peak, bound in zip(peaks, bounds)), (peaks, bounds)


def test_the_networks_made_of_shapes_count_the_arrays_the_networks_make(monkeypatch):
    """``network_bytes`` of ReLU's second factored layer (width 64, closure 3, tolerance 0.2): at least the bytes of
    the arrays its output's networks hold that are neither its blocks nor its inputs' arrays, and at most twice the
    peak that making the output took (traced by tracemalloc, sampled values and all)."""
    import tracemalloc

    import torch

    import symcorr.numeric.factored_pointwise as factored_pointwise
    from symcorr.networks.modules import mlp
    from symcorr.networks.propagation import propagate
    from symcorr.numeric.factored import terms_of

    calls, output = [], factored_pointwise.factored_output
    monkeypatch.setattr(factored_pointwise, "factored_output", lambda *args: calls.append(args) or output(*args))
    dim = 64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        propagate(mlp([dim] * 4, torch.nn.ReLU, init_gain=0.7, seed=0), Cumulants(np.zeros(dim), np.eye(dim)),
                  order=2, closure=3, representation="factored", tolerance=0.2, progress=False)
    module, order, kappa, parameters, _, tolerance, budget, blocks, _ = calls[-1]
    taken = (factored_pointwise.whole_terms(module, order, kappa, parameters, dim, blocks)
             | factored_pointwise.whole_corrections(module, order, kappa, parameters, dim, blocks))
    counted = factored_pointwise.network_bytes(module, order, kappa, parameters, dim, tolerance, blocks, taken)
    tracemalloc.start()
    try:
        result = output(module, order, kappa, parameters, dim, tolerance, budget, blocks)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    given = {id(a) for a in blocks.values() if isinstance(a, np.ndarray)}
    given |= {id(a) for n in range(3, len(kappa) + 1) for t in terms_of(kappa[n - 1], n) for a in t.arrays()}
    made = {id(a): a for t in result.terms for a in t.arrays() if id(a) not in given}
    assert sum(a.nbytes for a in made.values()) <= counted <= 2 * peak, (made, counted, peak)


def test_a_slice_read_within_a_tolerance_drops_its_cycles_off_diagonal_parts_and_states_their_size(monkeypatch):
    """A factored order-4 input after a linear layer, read by a pointwise layer given a tolerance
    (SlicesWithinTolerance; SPLIT_COST lowered, the width being small): the 'iijj' slice is the exact one less its
    cycles' off-diagonal networks, whose estimated relative size (256 sampled entries, bootstrap error) is the true
    one within its error; under a tolerance below that size the slice is exact and nothing is recorded."""
    from symcorr.numeric import tensor_networks
    from symcorr.numeric.factored_pointwise import SlicesWithinTolerance

    monkeypatch.setattr(tensor_networks, "SPLIT_COST", 1.0)
    monkeypatch.setattr(tensor_networks, "SPLIT_FLOPS", 0)
    dim = 20
    W, b = random_layer(dim, dim, 99)
    tensor = linear(chain("factored", dim, activations.quadratic(), 4, 1), W, b).tensor(4)
    assert isinstance(tensor, FactoredTensor)
    exact = tensor.slice("iijj")
    cut = SlicesWithinTolerance(tensor, 0.99)
    values = cut.slice("iijj")
    (record,) = cut.truncations
    true = np.linalg.norm(values - exact) / np.linalg.norm(exact)
    assert record.pattern == "iijj" and record.order == 4 and record.terms > 0 and record.samples == 256
    assert true > 1e-3 and abs(record.size - true) < 3 * record.error, (record, true)
    assert "input's slice 'iijj' dropped" in str(record)
    strict = SlicesWithinTolerance(tensor, record.size / 2)
    assert np.max(np.abs(strict.slice("jjii") - exact.T)) < 1e-12 * np.max(np.abs(exact))
    assert not strict.truncations


def test_a_truncated_input_slice_makes_the_orders_that_read_it_approximate(monkeypatch):
    """Closure 4, depth 2, every cyclic term dropped (tolerance 0.99): the second layer reads the order-4 input's
    'iijj' slice within the tolerance (SPLIT_FLOPS lowered: at this width the exact slice is cheap and kept). The
    covariance of the quadratic reads input orders up to 4 and states the slice's truncation with its size; the
    mean reads orders up to 2 and does not. Without the lowered bound nothing is split there."""
    from symcorr.numeric import tensor_networks

    exact_slices = chain("factored", 24, activations.quadratic(), 4, 2, tolerance=0.99)
    assert not any("input's slice" in cause.text for cause in exact_slices.status(2).causes)
    monkeypatch.setattr(tensor_networks, "SPLIT_FLOPS", 0)
    y = chain("factored", 24, activations.quadratic(), 4, 2, tolerance=0.99)
    slice_causes = [cause for cause in y.status(2).causes if "input's slice" in cause.text]
    assert slice_causes and all(0 < cause.size <= 0.99 for cause in slice_causes)
    assert not any("input's slice" in cause.text for cause in y.status(1).causes)


@pytest.mark.parametrize("name", ["quadratic", "cubic"])
def test_the_pair_mean_of_a_factored_layer_allocates_within_its_estimate(name):
    """factored_pattern_mean at the second pointwise layer of a factored closure-3 network (N = 256): the peak that
    tracemalloc sees (NumPy reports its allocations) stays within pattern_mean_bytes. Its value is checked against
    the dense order-4 output in tests/numeric/test_pointwise.py."""
    import tracemalloc

    from symcorr import Cumulants
    from symcorr.codegen.loader import load_factored
    from symcorr.derivation import activations
    from symcorr.networks.modules import from_activation, mlp
    from symcorr.networks.propagation import propagate
    from symcorr.numeric.factored import CachedSlices
    from symcorr.numeric.factored_pointwise import factored_pattern_mean, pattern_mean_bytes

    n = 256
    activation = activations.quadratic(1.0) if name == "quadratic" else activations.cubic()
    model = mlp([n] * 4, lambda: from_activation(activation, learnable=False), init_gain=0.7, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace = propagate(model, Cumulants(np.full(n, 0.3), np.eye(n)), order=3, closure=3, pair_mean=True,
                          representation="factored", tolerance=0.2, trace=True, progress=False)
    layer_input = trace[2]                       # after the second linear layer: orders 1..3 and the kept order 4
    kappa = tuple(CachedSlices(t) if n_ > 2 else t for n_, t in enumerate(
        (layer_input.tensor(m) for m in range(1, 5)), start=1))
    module = load_factored(activation, 4, 4, None)
    parameters = [value for _, value in activation.parameters]
    estimate = pattern_mean_bytes(module, 4, "iijj", n, {})
    tracemalloc.start()
    mean = factored_pattern_mean(module, 4, "iijj", kappa, parameters, n)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak <= estimate, (peak, estimate)
    assert np.isfinite(mean) and mean != 0.0


def test_a_block_proportional_to_another_or_to_its_transpose_is_found_and_a_near_miss_is_not():
    """``_proportional``: :math:`B = cA` and :math:`B = cA^\\top` give ``c``; the other orientation, and a block
    proportional but for one entry away from the probed positions (which only the comparison of every entry sees),
    give ``None``; differences of rounding (a few ulps) are within it."""
    from symcorr.numeric import factored_pointwise as fp

    rng, dim = np.random.default_rng(3), 40
    A = rng.normal(size=(dim, dim))
    positions = fp._probe_positions(dim, 2, {})
    assert fp._proportional(2.5 * A, A, positions, False) == pytest.approx(2.5, rel=1e-14)
    assert fp._proportional(-3.0 * A.T, A, positions, True) == pytest.approx(-3.0, rel=1e-14)
    assert fp._proportional(2.5 * A, A, positions, True) is None
    assert fp._proportional(2.5 * A * (1 + 4e-16 * rng.uniform(-1, 1, A.shape)), A, positions, False) is not None
    probed = set(zip(*(p.tolist() for p in positions)))
    off = next((i, j) for i in range(dim) for j in range(dim) if (i, j) not in probed)
    near = 2.5 * A
    near[off] *= 1 + 1e-9
    assert fp._proportional(near, A, positions, False) is None
    vector = rng.normal(size=dim)
    assert fp._proportional(7.0 * vector, vector, fp._probe_positions(dim, 1, {}), False) == pytest.approx(7.0)


@pytest.mark.parametrize("name,closure", [("quadratic", 3), ("quadratic", 4), ("cubic", 4)])
def test_proportional_blocks_of_a_zero_mean_gaussian_are_one_array_and_the_chain_stays_exact(name, closure,
                                                                                             monkeypatch):
    """Of a zero-mean Gaussian the blocks of a quadratic or cubic layer are multiples of one another (the
    quadratic's first layer: six blocks on two neurons, all multiples of :math:`\\Sigma_{ij}`): the networks of its
    order-3 output then hold fewer distinct arrays than with every block its own, and the chain (depth 3) equals
    the dense chain and the chain without that sharing, to rounding."""
    from symcorr.numeric import factored_pointwise as fp

    dim, activation = 12, getattr(activations, name)()
    _, cov = random_gaussian(dim, 4)
    start = Cumulants(np.zeros(dim), cov)

    def run(representation):
        cumulants, arrays = start, []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for layer in range(3):
                cumulants = pointwise(linear(cumulants, *random_layer(dim, dim, 30 + layer)[:1]), activation,
                                      order=closure, closure=closure, representation=representation)
                if representation == "factored":
                    arrays.append({id(f) for term in cumulants.tensor(closure).terms for f in term.factors
                                   if f.ndim == 2})
        return cumulants, arrays

    dense, _ = run("dense")
    shared, shared_arrays = run("factored")
    with monkeypatch.context() as patch:
        patch.setattr(fp, "_shared_blocks", lambda spec, blocks, cache: (blocks, 1.0))
        apart, apart_arrays = run("factored")
    assert len(shared_arrays[0]) < len(apart_arrays[0])
    for reference in (dense, apart):
        for n, (a, b) in enumerate(zip(shared.held, reference.held), start=1):
            a, b = as_array(a), as_array(b)
            # the cubic's odd orders vanish of a zero-mean input: measured against the covariance's scale there
            scale = np.max(np.abs(b)) or np.max(np.abs(as_array(reference.held[1]))) ** (n / 2)
            assert np.max(np.abs(a - b)) < 1e-12 * scale, n
    assert shared.exactness == dense.exactness
