"""The derivation engine (docs/theory.md section 4) against docs/theory.md section 5 and the brute-force expansion."""
from fractions import Fraction

import pytest
import sympy as sp

from symcorr import derive
from symcorr.derivation import activations
from symcorr.derivation.brute_force import brute_force_formula
from symcorr.derivation.engine import diagrams, perturbation_multisets
from symcorr.notation.symbols import cumulant_symbol as c

ALPHA = sp.Symbol("alpha", real=True)


def math_md_section_5(i, j):
    """docs/theory.md section 5, typed in by hand: mean and covariance of z + alpha z^2."""
    mu_i, mu_j = c(i), c(j)
    mean = mu_i + ALPHA * (mu_i**2 + c(i + i))
    cov = ((1 + 2 * ALPHA * mu_i) * (1 + 2 * ALPHA * mu_j) * c(i + j) + 2 * ALPHA**2 * c(i + j) ** 2
           + ALPHA * (c(i + i + j) + c(i + j + j))
           + 2 * ALPHA**2 * (mu_i * c(i + j + j) + mu_j * c(i + i + j)) + ALPHA**2 * c(i + i + j + j))
    return mean, cov


@pytest.mark.parametrize("closure", [4, 6])
def test_quadratic_mean_and_covariance_equal_math_md(closure):
    derivation = derive(activations.quadratic(), 2, closure)
    mean, cov = math_md_section_5("i", "j")
    _, cov_diagonal = math_md_section_5("i", "i")
    assert sp.expand(derivation.formula("i") - mean) == 0
    assert sp.expand(derivation.formula("ij") - cov) == 0
    assert sp.expand(derivation.formula("ii") - cov_diagonal) == 0


CASES = [
    (activations.quadratic(), 4, 4),
    (activations.quadratic(), 4, 8),
    (activations.quadratic(), 3, 6),
    (activations.cubic(), 2, 6),
    (activations.cubic(), 3, 3),
    (activations.cubic(), 3, 6),
    (activations.polynomial([1.0, 2.0, 3.0]), 3, 3),
    (activations.from_expression("z - z**3/3"), 2, 4),
]


@pytest.mark.parametrize("activation, out_order, closure", CASES, ids=lambda x: str(x))
def test_every_pattern_equals_the_brute_force_expansion(activation, out_order, closure):
    derivation = derive(activation, out_order, closure)
    for pattern in derivation.patterns:
        assert sp.expand(derivation.formula(pattern) - brute_force_formula(activation, pattern, closure)) == 0, pattern


def test_truncated_closure_drops_exactly_the_higher_cumulants():
    # closure 2 = closure 4 with kappa_3, kappa_4 set to zero
    full, gaussian = derive(activations.quadratic(), 2, 4), derive(activations.quadratic(), 2, 2)
    zero = {c(s): 0 for s in ("iij", "ijj", "iijj", "iii", "iiii")}
    for pattern in ("i", "ii", "ij"):
        assert sp.expand(full.formula(pattern).xreplace(zero) - gaussian.formula(pattern)) == 0


def test_output_cumulants_are_connected():
    # every term of kappa_ij needs a cumulant linking i and j: setting all of them to zero leaves 0
    derivation = derive(activations.cubic(), 2, 6)
    links = {s for s in derivation.formula("ij").free_symbols if {"i", "j"} <= set(s.name.partition("_")[2])}
    assert sp.expand(derivation.formula("ij").xreplace({s: 0 for s in links})) == 0


def test_diagrams_of_a_pair_with_covariance_only():
    # E[phi(z_i) phi(z_j)] for a Gaussian pair: sum_n Sigma_ij^n / n! g^(n) g^(n), bounded by the degree
    terms = diagrams((("i", 1), ("j", 1)), 2, (3, 3), None)
    assert sorted((t[1].get("ij", 0), t[0]) for t in terms) == [
        (0, 1), (1, 1), (2, Fraction(1, 2)), (3, Fraction(1, 6))]


def test_multisets_exclude_the_reference_variance():
    assert perturbation_multisets("ij", 3, {"i": None, "j": None}) == ["ij", "iii", "iij", "ijj", "jjj"]


def test_non_polynomial_perturbation_series_needs_a_series_order():
    # erf at output order 3 beyond closure 2 expands around independent Gaussians (Price series):
    # no default cap; at closure 2 the joint reference needs none
    with pytest.raises(ValueError, match="series_order"):
        derive(activations.erf(), 3, 2, reference="independent")
    assert derive(activations.erf(), 3, 2).series_order is None


@pytest.mark.parametrize("kwargs, message", [
    (dict(order=0, closure=2), "order"), (dict(order=2, closure=0), "closure")])
def test_orders_out_of_range_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        derive(activations.quadratic(), **kwargs)


def test_unknown_pattern_is_named():
    with pytest.raises(KeyError, match="iii"):
        derive(activations.quadratic(), 2, 2).formula("iii")


def test_patterns_are_normalised():
    derivation = derive(activations.quadratic(), 3, 3)
    assert derivation.formula("jji") == derivation.formula("iij")
