"""Cumulant algebra (docs/theory.md section 2): partitions, symbolic and numeric moments <-> cumulants."""
import itertools
import math

import numpy as np
import pytest
import sympy as sp
from builders import random_symmetric
from scipy import stats

from symcorr.derivation.algebra import (
    cumulant_in_moments,
    gaussian_moment,
    moment_in_cumulants,
)
from symcorr.notation.partitions import (
    index_patterns,
    pattern_slot_assignments,
    set_partitions,
)
from symcorr.notation.symbols import cumulant_symbol, moment_symbol
from symcorr.numeric.tensors import cumulants_from_moments, moments_from_cumulants

BELL = [1, 1, 2, 5, 15, 52, 203, 877, 4140]  # OEIS A000110


@pytest.mark.parametrize("n", range(9))
def test_set_partitions_are_the_bell_number_many_distinct_partitions(n):
    partitions = set_partitions(n)
    assert len(partitions) == BELL[n]
    canonical = {tuple(sorted(p)) for p in partitions}
    assert len(canonical) == BELL[n]
    for p in partitions:
        assert sorted(s for b in p for s in b) == list(range(n))


def test_symbols_are_sorted_and_named_by_order():
    assert cumulant_symbol("i").name == "mu_i"
    assert cumulant_symbol("ji").name == "Sigma_ij"
    assert cumulant_symbol("jii").name == "kappa_iij"


@pytest.mark.parametrize("labels", ["iij", "ijk", "iijj", "ijkl", "iiij"])
def test_moments_and_cumulants_are_inverse_symbolically(labels):
    # kappa(S) written in moments, each moment written back in cumulants, is kappa(S)
    expr = cumulant_in_moments(labels)
    back = expr.xreplace({
        moment_symbol(labels_of): moment_in_cumulants(labels_of)
        for labels_of in {"".join(sorted(c)) for r in range(1, len(labels) + 1)
                          for c in itertools.combinations(labels, r)}
    })
    assert sp.expand(back - cumulant_symbol(labels)) == 0


def test_moment_with_repeated_indices_matches_gaussian_formula():
    # E[z^4] for a Gaussian: only mu and Sigma survive the closure K=2
    mu, v = cumulant_symbol("i"), cumulant_symbol("ii")
    assert sp.expand(moment_in_cumulants("iiii", closure=2) - (mu**4 + 6 * mu**2 * v + 3 * v**2)) == 0


@pytest.mark.parametrize("k", range(9))
def test_gaussian_moments_against_scipy(k):
    mu, v = 0.7, 1.9
    assert gaussian_moment(k, mu, v) == pytest.approx(stats.norm(mu, math.sqrt(v)).moment(k), rel=1e-12)


def test_numeric_moments_and_cumulants_roundtrip():
    dim = 3
    kappas = [random_symmetric(dim, n, seed=n) for n in range(1, 5)]
    back = cumulants_from_moments(moments_from_cumulants(kappas))
    for a, b in zip(kappas, back):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_numeric_cumulants_of_samples_match_the_definition():
    # second and third cumulants are central moments
    rng = np.random.default_rng(1)
    x = rng.gamma(2.0, size=(1000, 2))
    moments = [np.einsum(",".join("p" + c for c in "abc"[:n]) + "->" + "abc"[:n], *[x] * n) / len(x)
               for n in range(1, 4)]
    kappas = cumulants_from_moments(moments)
    centred = x - x.mean(0)
    np.testing.assert_allclose(kappas[1], centred.T @ centred / len(x), atol=1e-12)
    np.testing.assert_allclose(kappas[2], np.einsum("pa,pb,pc->abc", centred, centred, centred) / len(x), atol=1e-12)


def test_index_patterns():
    assert index_patterns(2) == ["ii", "ij"]
    assert index_patterns(3) == ["iii", "iij", "ijk"]
    assert index_patterns(4) == ["iiii", "iiij", "iijj", "iijk", "ijkl"]


@pytest.mark.parametrize("order", [2, 3, 4, 5])
def test_slot_assignments_cover_every_tensor_position_once(order):
    # every index tuple of an order-n tensor over `order` neurons is reached by exactly one
    # (pattern, assignment, distinct grid point)
    dim = order
    hits = np.zeros((dim,) * order, dtype=int)
    for pattern in index_patterns(order):
        n_axes = len(set(pattern))
        for assignment in pattern_slot_assignments(pattern):
            for point in itertools.product(range(dim), repeat=n_axes):
                if len(set(point)) == n_axes:
                    hits[tuple(point[g] for g in assignment)] += 1
    assert np.all(hits == 1)


def test_factoring_draws_from_a_fixed_seed_and_leaves_sympys_generator_as_it_was(monkeypatch):
    """SymPy's multivariate factoring draws evaluation points from SymPy's generator, which Python seeds from the
    operating system: from 9 of 300 seeds the cubic's closure-6 covariance coefficients took over 5 s instead of
    0.1 s (once a CI run's derivation check hung on them). ``factor`` and ``factor_list`` start every call from
    FACTORING_SEED, and leave the generator's state as they found it."""
    import random

    from sympy.core import random as sympy_random

    from symcorr.derivation import algebra

    x, y, z = sp.symbols("x y z")
    polynomial = sp.expand((x + 2 * y * z + 1) * (x * y - z**2 + 3) * (y + z))
    seeded = random.Random(algebra.FACTORING_SEED).getstate()
    for name in ("factor", "factor_list"):
        expected = getattr(sp, name)(polynomial)
        sympy_random.seed(12345)
        before = sympy_random.rng.getstate()
        assert getattr(algebra, name)(polynomial) == expected
        assert sympy_random.rng.getstate() == before
        states = []
        monkeypatch.setattr(sp, name, lambda expression: states.append(sympy_random.rng.getstate()))
        getattr(algebra, name)(polynomial)
        getattr(algebra, name)(polynomial)
        assert states == [seeded, seeded]
        monkeypatch.undo()
