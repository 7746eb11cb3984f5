"""The polynomial family: vertex values from the Gaussian moments (docs/theory.md section 5)."""
import sympy as sp

from symcorr.derivation.families.polynomial import POLYNOMIAL, polynomial, quadratic, vertex_value

R = dict(real=True)
mu_i, S_ii, alpha = sp.Symbol("mu_i", **R), sp.Symbol("Sigma_ii", **R), sp.Symbol("alpha", **R)


def test_vertex_functions_by_hand():
    # E[z + alpha z^2] = mu + alpha (mu^2 + v); E[(z + alpha z^2)^2] has d^4/dmu^4 = 24 alpha^2
    q = quadratic()
    assert sp.expand(vertex_value(q, "i", 1, 0) - (mu_i + alpha * (mu_i**2 + S_ii))) == 0
    assert sp.expand(vertex_value(q, "i", 1, 1) - (1 + 2 * alpha * mu_i)) == 0
    assert vertex_value(q, "i", 1, 3) == 0
    assert vertex_value(q, "i", 2, 4) == 24 * alpha**2



def test_exactness_rule_and_bounds_follow_the_degree():
    cubic = polynomial([0.0, 1.0, 0.5, 0.2])
    assert POLYNOMIAL.degree(cubic) == 3 and cubic.name == "cubic"
    assert POLYNOMIAL.input_orders_needed(cubic, 2) == 6          # docs/theory.md section 9: p * m
    assert POLYNOMIAL.derivative_bound(cubic, 2) == 6
    assert POLYNOMIAL.preserves_gaussianity(polynomial([1.0, 2.0]))
    assert not POLYNOMIAL.preserves_gaussianity(quadratic(0.5))
