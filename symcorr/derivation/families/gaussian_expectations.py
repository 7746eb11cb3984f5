r"""Gaussian expectations of polynomials times step functions, in closed form (docs/theory.md section 11).

For a Gaussian vector :math:`Y \sim N(m, S)` (symbolic mean and covariance,
:math:`S` possibly singular), :func:`GaussianVector.expectation` returns

.. math:: E\Big[\prod_i Y_i^{k_i} \prod_{j \in J} H(Y_j) \prod_{l \in L} \delta(Y_l)\Big], \qquad |J| \le 2,

(:math:`H` the unit step, :math:`\delta` its derivative) as a SymPy expression in :class:`NormalCDF`,
:class:`BivariateNormalCDF` and Gaussian densities. Polynomial factors are
removed one at a time by Stein's lemma, which holds for any jointly Gaussian
vector (singular ones included),

.. math::

    E[Y_i R(Y)] = m_i E[R] + \sum_l S_{il} E[\partial_l R], \qquad
    \partial_l H(Y_l) = \delta(Y_l),

and a delta is integrated out by conditioning,
:math:`E[\delta(Y_l) R] = p_{Y_l}(0)\, E[R \mid Y_l = 0]` (the conditional Gaussian
:math:`m - S_{\cdot l} m_l/S_{ll}`, :math:`S - S_{\cdot l}S_{l\cdot}/S_{ll}`). Without
polynomial factors what remains is :math:`1`, :math:`\Phi(m_j/\sqrt{S_{jj}})` or
:math:`\Phi_2(m_j/\sqrt{S_{jj}}, m_l/\sqrt{S_{ll}}; S_{jl}/\sqrt{S_{jj}S_{ll}})`.

Every family whose :math:`\phi^p` and pair products are polynomials in :math:`z` and
steps of affine functions of Gaussians takes its closed forms from here:
ReLU, leaky ReLU, abs, Heaviside (:math:`Y = z`), the Gaussian CDF :math:`\Phi(z) =
E_\xi[H(z - \xi)]` and GELU :math:`z\Phi(z)` (:math:`Y` holds :math:`w = z - \xi`
with an independent standard normal :math:`\xi`).
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from symcorr.derivation.families.gaussian_functions import (SQRT_2PI, BivariateNormalCDF, ExpNeg, NormalCDF)


class GaussianVector:
    """A Gaussian vector :math:`N(m, S)` with SymPy entries (module docstring).

    ``mean`` is a sequence of expressions, ``cov`` a symmetric matrix (nested
    sequences). Expectations are cached per vector.
    """

    def __init__(self, mean, cov):
        self.mean = tuple(sp.sympify(m) for m in mean)
        self.cov = tuple(tuple(sp.sympify(c) for c in row) for row in cov)
        self.dimension = len(self.mean)
        if any(len(row) != self.dimension for row in self.cov):
            raise ValueError("GaussianVector: the covariance must be square and match the mean")
        self._conditioned = {}
        self._cache = {}

    def density_at_zero(self, l: int) -> sp.Expr:
        r""":math:`p_{Y_l}(0) = \varphi(m_l/\sqrt{S_{ll}})/\sqrt{S_{ll}}`."""
        m, v = self.mean[l], self.cov[l][l]
        return ExpNeg(m**2 / (2 * v)) / (SQRT_2PI * sp.sqrt(v))

    def conditioned(self, l: int) -> "GaussianVector":
        r"""The Gaussian of :math:`Y` given :math:`Y_l = 0`."""
        if l not in self._conditioned:
            m, s = self.mean, self.cov
            v = s[l][l]
            mean = [sp.cancel(m[i] - s[i][l] * m[l] / v) for i in range(self.dimension)]
            cov = [[sp.cancel(s[i][j] - s[i][l] * s[l][j] / v) for j in range(self.dimension)]
                   for i in range(self.dimension)]
            self._conditioned[l] = GaussianVector(mean, cov)
        return self._conditioned[l]

    def standardized(self, j: int) -> sp.Expr:
        r""":math:`m_j / \sqrt{S_{jj}}`."""
        return self.mean[j] / sp.sqrt(self.cov[j][j])

    def expectation(self, exponents, steps=(), deltas=()) -> sp.Expr:
        r""":math:`E[\prod_i Y_i^{k_i} \prod_{j \in J} H(Y_j) \prod_{l \in L}\delta(Y_l)]` with ``exponents``
        :math:`(k_i)`, ``steps`` the indices :math:`J` (at most two) and ``deltas`` the indices :math:`L`."""
        exponents = tuple(int(k) for k in exponents)
        steps = tuple(sorted({int(j) for j in steps}))
        deltas = tuple(sorted({int(j) for j in deltas}))
        if len(exponents) != self.dimension or min(exponents, default=0) < 0:
            raise ValueError(f"expectation needs {self.dimension} non-negative exponents, got {exponents}")
        if set(steps) & set(deltas):
            raise ValueError("a coordinate carries a step or a delta, not both")
        if deltas:
            # E[delta(Y_l) R] = p_l(0) E[R | Y_l = 0]; a polynomial factor Y_l vanishes there
            l, rest = deltas[0], deltas[1:]
            if exponents[l]:
                return sp.Integer(0)
            return self.density_at_zero(l) * self.conditioned(l).expectation(exponents, steps, rest)
        if len(steps) > 2:
            raise ValueError("closed forms exist for at most two step functions (the bivariate normal); "
                             f"got {len(steps)}")
        key = (exponents, steps)
        if key not in self._cache:
            self._cache[key] = self._expectation(exponents, steps)
        return self._cache[key]

    def _expectation(self, exponents, steps) -> sp.Expr:
        if not any(exponents):
            if not steps:
                return sp.Integer(1)
            if len(steps) == 1:
                return NormalCDF(self.standardized(steps[0]))
            j, l = steps
            rho = self.cov[j][l] / sp.sqrt(self.cov[j][j] * self.cov[l][l])
            return BivariateNormalCDF(self.standardized(j), self.standardized(l), rho)
        # Stein's lemma on the first coordinate with a polynomial factor
        i = next(t for t, k in enumerate(exponents) if k)
        rest = list(exponents)
        rest[i] -= 1
        total = self.mean[i] * self.expectation(rest, steps)
        for l in range(self.dimension):
            s_il = self.cov[i][l]
            if s_il == 0:
                continue
            if rest[l]:
                lower = list(rest)
                lower[l] -= 1
                total += s_il * rest[l] * self.expectation(lower, steps)
            if l in steps and not rest[l]:
                # d/dY_l H(Y_l) = delta(Y_l); a polynomial factor Y_l vanishes at Y_l = 0
                others = tuple(j for j in steps if j != l)
                total += s_il * self.density_at_zero(l) * self.conditioned(l).expectation(rest, others)
        return total


@lru_cache(maxsize=None)
def gaussian_vector(mean: tuple, cov: tuple) -> GaussianVector:
    """One :class:`GaussianVector` per mean and covariance (tuples), so that everything asking for the same vector
    shares its cached conditionings and expectations (GELU at closure 4 made 726 conditionings, most of them again
    on vectors made anew per monomial: its derivation took 15.6 s, now 1.9 s)."""
    return GaussianVector(mean, cov)


def univariate(mu, v) -> GaussianVector:
    """The one-dimensional Gaussian :math:`N(\\mu, v)`."""
    return gaussian_vector((mu,), ((v,),))


def bivariate(mu_a, mu_b, v_a, v_b, c) -> GaussianVector:
    """The pair :math:`(z_a, z_b) \\sim N((\\mu_a, \\mu_b), [[v_a, c], [c, v_b]])`."""
    return gaussian_vector((mu_a, mu_b), ((v_a, c), (c, v_b)))


def expect(vector: GaussianVector, expression, variables, steps=None, deltas=None) -> sp.Expr:
    r""":math:`E[f(Y)]` for ``expression`` :math:`f`, a polynomial in ``variables`` (one symbol per
    coordinate of ``vector``) and in step and delta symbols: ``steps`` maps a symbol standing for
    :math:`H(Y_j)` to the coordinate :math:`j` (powers of a step reduce to the step, :math:`H^2 = H`),
    ``deltas`` a symbol standing for :math:`\delta(Y_l)` to :math:`l` (at most linear).
    Coefficients may hold other symbols (activation parameters)."""
    steps, deltas = dict(steps or {}), dict(deltas or {})
    generators = list(variables) + list(steps) + list(deltas)
    polynomial = sp.Poly(sp.expand(expression), *generators)
    total = sp.Integer(0)
    n_variables, n_steps = len(variables), len(steps)
    for monomial, coefficient in polynomial.terms():
        exponents = monomial[:n_variables]
        on = [steps[s] for s, k in zip(steps, monomial[n_variables:n_variables + n_steps]) if k]
        spikes = [deltas[s] for s, k in zip(deltas, monomial[n_variables + n_steps:]) if k]
        if any(k > 1 for k in monomial[n_variables + n_steps:]):
            raise ValueError("a product of deltas of one variable has no expectation")
        total += coefficient * vector.expectation(exponents, on, spikes)
    return total
