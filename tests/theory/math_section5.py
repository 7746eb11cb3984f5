"""docs/theory.md section 5 for phi(z) = z + alpha z^2, typed in by hand (shared by the tests of symcorr.theory).

Expected formulas are never copied from the code under test.
"""
import sympy as sp

R = dict(real=True)
mu_i, mu_j = sp.Symbol("mu_i", **R), sp.Symbol("mu_j", **R)
S_ii, S_ij = sp.Symbol("Sigma_ii", **R), sp.Symbol("Sigma_ij", **R)
k_iii, k_iiii = sp.Symbol("kappa_iii", **R), sp.Symbol("kappa_iiii", **R)
k_iij, k_ijj, k_iijj = sp.Symbol("kappa_iij", **R), sp.Symbol("kappa_ijj", **R), sp.Symbol("kappa_iijj", **R)
alpha = sp.Symbol("alpha", **R)

MATH5_MEAN = mu_i + alpha * (mu_i**2 + S_ii)
MATH5_COV = ((1 + 2 * alpha * mu_i) * (1 + 2 * alpha * mu_j) * S_ij + 2 * alpha**2 * S_ij**2
             + alpha * (k_iij + k_ijj) + 2 * alpha**2 * (mu_i * k_ijj + mu_j * k_iij) + alpha**2 * k_iijj)
# "valid for i = j too": j -> i
MATH5_VAR = ((1 + 2 * alpha * mu_i)**2 * S_ii + 2 * alpha**2 * S_ii**2 + 2 * alpha * k_iii
             + 4 * alpha**2 * mu_i * k_iii + alpha**2 * k_iiii)
MATH5_COV_TEXT = ("(1 + 2*alpha*mu_i)*(1 + 2*alpha*mu_j)*Sigma_ij + 2*alpha**2*Sigma_ij**2"
                  " + alpha*(kappa_iij + kappa_ijj) + 2*alpha**2*(mu_i*kappa_ijj + mu_j*kappa_iij)"
                  " + alpha**2*kappa_iijj")
MATH5_COV_LATEX = (r"(1 + 2\alpha\mu_i)(1 + 2\alpha\mu_j)\Sigma_{ij} + 2\alpha^2\Sigma_{ij}^2"
                   r" + \alpha(\kappa_{iij} + \kappa_{ijj}) + 2\alpha^2(\mu_i\kappa_{ijj} + \mu_j\kappa_{iij})"
                   r" + \alpha^2\kappa_{iijj}")


def same(a, b):
    return sp.expand(a - b) == 0
