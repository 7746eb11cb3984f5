r"""The erf family :math:`\phi(z) = \operatorname{erf}(z)` (docs/theory.md section 6).

The engine (:mod:`symcorr.derivation.engine`) leaves the vertex functions as
symbols; :meth:`ErfFamily.substitute_vertices` replaces them by SymPy
expressions in ``mu_a``, ``Sigma_aa``, ``Sigma_ab``. With :math:`s_a^2 = 1 + 2\Sigma_{aa}`:

* :math:`\partial^n_\mu E[\operatorname{erf} z] = s^{-n}\operatorname{erf}^{(n)}(\mu/s)`,
  :math:`\operatorname{erf}^{(n)}(x) = \tfrac{2}{\sqrt\pi}(-1)^{n-1}H_{n-1}(x)e^{-x^2}`
  (Hermite form, :func:`erf_mean_derivative`);
* :math:`E[\operatorname{erf} z_a \operatorname{erf} z_b] = C_{ab} + \operatorname{erf}(\mu_a/s_a)\operatorname{erf}(\mu_b/s_b)`
  with :math:`C_{ab}` = :class:`~symcorr.derivation.families.erf_functions.ErfGaussianCovariance`,
  the Owen's-T closed form of the covariance, whose mean-derivatives are
  elementary (:func:`erf_covariance_derivative`); :math:`E[\operatorname{erf}(z)^2]`
  is the case :math:`a = b`;
* :math:`E[\operatorname{erf}(z)^p]`, :math:`p \ge 3`, and the joint moments of
  2..4 neurons: no elementary closed form, evaluated numerically
  (:mod:`symcorr.derivation.families.erf_functions`).

Defaults (:class:`ErfFamily`): at closure 2 (Gaussian input) every output
order 1..4 is exact -- the Gaussian part is resummed, in closed form for
orders 1..2 and by the numerical joint moments for orders 3..4 (no series).
At closure 3, 4, output orders 1..2 keep the resummed Gaussian part and add
the cumulants of order >= 3 to second order; output orders 3..4 use the Price
series around independent Gaussians, series order 6 (3 at closure >= 4), whose
truncation error is ~ rho_eff^(S+1) -- not negligible at rho_eff = 0.95
(tests/numeric/test_erf_gaussian.py prints the table).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from symcorr.derivation.activation import Activation
from symcorr.derivation.families.erf_functions import (ErfGaussianCovariance, ErfGaussianMoment,
                                                       ErfPowerMoment, _bivariate_parts)
from symcorr.derivation.families.gaussian_functions import ExpNeg
from symcorr.derivation.families.resummed import ResummedGaussianFamily
from symcorr.notation.symbols import Z, cumulant_symbol

SQRT_PI = sp.sqrt(sp.pi)


# ---------------------------------------------------------------------------
# erf vertex functions as expressions
# ---------------------------------------------------------------------------

def erf_derivative(k: int, x) -> sp.Expr:
    r""":math:`\operatorname{erf}^{(k)}(x) = \frac{2}{\sqrt\pi}(-1)^{k-1}H_{k-1}(x)e^{-x^2}` (:math:`k \ge 1`), ``erf(x)`` for k = 0."""
    if k == 0:
        return sp.erf(x)
    return (-1) ** (k - 1) * 2 / SQRT_PI * sp.hermite(k - 1, x) * ExpNeg(x**2)


def erf_mean_derivative(n: int, mu, v) -> sp.Expr:
    r""":math:`\partial^n_\mu E_{N(\mu,v)}[\operatorname{erf} z] = s^{-n}\operatorname{erf}^{(n)}(\mu/s)`, :math:`s = \sqrt{1+2v}`.

    Hermite form (docs/theory.md section 6):
    :math:`\operatorname{erf}^{(n)}(x) = \frac{2}{\sqrt\pi}(-1)^{n-1}H_{n-1}(x)e^{-x^2}`, :math:`n \ge 1`.
    """
    if n < 0:
        raise ValueError(f"derivative order must be >= 0, got {n}")
    s = sp.sqrt(1 + 2 * v)
    return erf_derivative(n, mu / s) / s**n


_W_A, _W_B, _A_AA, _A_AB, _A_BB = sp.symbols("w_a w_b alpha_aa alpha_ab alpha_bb", real=True)


@lru_cache(maxsize=None)
def _gaussian_derivative_polynomial(k: int, l: int) -> sp.Expr:
    r""":math:`P_{k,l}` with :math:`\partial^k_{\mu_a}\partial^l_{\mu_b} e^{-Q} = P_{k,l}\, e^{-Q}` for a quadratic form :math:`Q(\mu)`.

    A polynomial in :math:`w = \nabla Q` (symbols ``w_a``, ``w_b``) and the
    constant Hessian entries ``alpha_aa``, ``alpha_ab``, ``alpha_bb``:
    :math:`P_{k+1,l} = \partial_{\mu_a} P_{k,l} - w_a P_{k,l}` with
    :math:`\partial_{\mu_a} = \alpha_{aa}\partial_{w_a} + \alpha_{ab}\partial_{w_b}` (bivariate Hermite).
    """
    if k == 0 and l == 0:
        return sp.Integer(1)
    if k > 0:
        prev = _gaussian_derivative_polynomial(k - 1, l)
        return sp.expand(_A_AA * sp.diff(prev, _W_A) + _A_AB * sp.diff(prev, _W_B) - _W_A * prev)
    prev = _gaussian_derivative_polynomial(k, l - 1)
    return sp.expand(_A_AB * sp.diff(prev, _W_A) + _A_BB * sp.diff(prev, _W_B) - _W_B * prev)


@lru_cache(maxsize=None)
def erf_covariance_derivative(n: int, m: int, mu_a, mu_b, v_a, v_b, c) -> sp.Expr:
    r""":math:`\partial^n_{\mu_a}\partial^m_{\mu_b} C_{ab}` in closed form (docs/theory.md section 6).

    With :math:`G = E[\operatorname{erf} z_a \operatorname{erf} z_b] = C_{ab} + g_a g_b`,
    :math:`s^2 = 1 + 2v`, :math:`x = \mu/s`, :math:`D = s_a^2 s_b^2 - 4c^2`:

    * :math:`n = m = 0`: :class:`ErfGaussianCovariance` (Owen's T);
    * :math:`n, m \ge 1`: :math:`\partial^{n-1}_a\partial^{m-1}_b \frac{4}{\pi\sqrt D} e^{-Q}
      - g_a^{(n)} g_b^{(m)}`, :math:`Q = (s_b^2\mu_a^2 - 4c\mu_a\mu_b + s_a^2\mu_b^2)/D`
      (``_gaussian_derivative_polynomial``);
    * :math:`n \ge 1, m = 0`: :math:`\frac{2}{\sqrt\pi s_a}\partial^{n-1}_a[e^{-x_a^2}\operatorname{erf} L]
      - g_a^{(n)} g_b`, :math:`L = \frac{\mu_b s_a^2 - 2c\mu_a}{s_a\sqrt D}`, by Leibniz with
      :math:`\partial^k e^{-x^2} = (-1)^k s^{-k} H_k(x) e^{-x^2}` and
      :math:`\partial^j \operatorname{erf} L = \lambda^j \operatorname{erf}^{(j)}(L)`,
      :math:`\lambda = -2c/(s_a\sqrt D)`.
    """
    if n < 0 or m < 0:
        raise ValueError(f"derivative orders must be >= 0, got {n}, {m}")
    if n == 0 and m == 0:
        return ErfGaussianCovariance(mu_a, mu_b, v_a, v_b, c)
    if n == 0:
        return erf_covariance_derivative(m, 0, mu_b, mu_a, v_b, v_a, c)
    s2_a, s2_b, d = _bivariate_parts(mu_a, mu_b, v_a, v_b, c)
    product = erf_mean_derivative(n, mu_a, v_a) * erf_mean_derivative(m, mu_b, v_b)
    if m >= 1:
        values = {_W_A: 2 * (s2_b * mu_a - 2 * c * mu_b) / d, _W_B: 2 * (s2_a * mu_b - 2 * c * mu_a) / d,
                  _A_AA: 2 * s2_b / d, _A_AB: -4 * c / d, _A_BB: 2 * s2_a / d}
        q = (s2_b * mu_a**2 - 4 * c * mu_a * mu_b + s2_a * mu_b**2) / d
        gaussian = _gaussian_derivative_polynomial(n - 1, m - 1).xreplace(values)
        return 4 / (sp.pi * sp.sqrt(d)) * gaussian * ExpNeg(q) - product
    s_a = sp.sqrt(s2_a)
    x_a = mu_a / s_a
    big_l = (mu_b * s2_a - 2 * c * mu_a) / sp.sqrt(s2_a * d)
    slope = -2 * c / sp.sqrt(s2_a * d)
    k = n - 1
    total = sum(sp.binomial(k, j) * (-1) ** (k - j) * sp.hermite(k - j, x_a) / s_a ** (k - j)
                * slope**j * erf_derivative(j, big_l) for j in range(k + 1))
    return 2 / (SQRT_PI * s_a) * ExpNeg(x_a**2) * total - product


def erf_power_expectation(p: int, n: int, mu, v) -> sp.Expr:
    r""":math:`\partial^n_\mu E_{N(\mu, v)}[\operatorname{erf}(z)^p]` as a SymPy expression.

    :math:`p = 1`: Hermite form; :math:`p = 2`: :math:`C(\mu,\mu,v,v,v) + g^2`
    (the pair formula on the diagonal, Owen's T) and :func:`erf_square_derivative`;
    :math:`p \ge 3`: :class:`ErfPowerMoment` (numeric).
    """
    if p < 1 or n < 0:
        raise ValueError(f"erf vertex needs p >= 1, n >= 0, got p={p}, n={n}")
    if p == 1:
        return erf_mean_derivative(n, mu, v)
    if p == 2:
        if n == 0:
            return ErfGaussianCovariance(mu, mu, v, v, v) + erf_mean_derivative(0, mu, v) ** 2
        return erf_square_derivative(n, mu, v)
    return ErfPowerMoment(p, n, mu, v)


def erf_square_derivative(n: int, mu, v) -> sp.Expr:
    r""":math:`\partial^n_\mu E_{N(\mu,v)}[\operatorname{erf}(z)^2]`, :math:`n \ge 1`, in closed form.

    :math:`\partial_\mu E[\operatorname{erf}^2] = 2E[\operatorname{erf}'\operatorname{erf}]
    = \frac{4}{\sqrt\pi s} e^{-x^2}\operatorname{erf}(\beta\mu)`, :math:`x = \mu/s`,
    :math:`\beta = 1/(s\sqrt{1+4v})` (the pair formula at :math:`c = v`); higher
    derivatives by Leibniz. Written along the diagonal directly: summing the
    mixed pair derivatives :math:`\sum_k\binom nk\partial^k_a\partial^{n-k}_b`
    instead cancels catastrophically at large :math:`v` (the pair Gaussian
    is nearly degenerate there).
    """
    if n < 1:
        raise ValueError(f"erf_square_derivative needs n >= 1, got {n}")
    s = sp.sqrt(1 + 2 * v)
    x = mu / s
    beta = 1 / sp.sqrt((1 + 2 * v) * (1 + 4 * v))
    k = n - 1
    total = sum(sp.binomial(k, j) * (-1) ** (k - j) * sp.hermite(k - j, x) / s ** (k - j)
                * beta**j * erf_derivative(j, beta * mu) for j in range(k + 1))
    return 4 / (SQRT_PI * s) * ExpNeg(x**2) * total


# ---------------------------------------------------------------------------
# the family
# ---------------------------------------------------------------------------

class ErfFamily(ResummedGaussianFamily):
    r""":math:`\phi(z) = \operatorname{erf}(z)` (docs/theory.md section 6).

    Joint (two-neuron) vertices exist in closed form for powers ``(1, 1)``,
    so output orders 1..2 are derived with the Gaussian part resummed
    exactly (the joint reference of :func:`symcorr.derivation.engine.derive`);
    output orders >= 3 use numerical joint moments at closure 2, and the
    independent reference with a series otherwise.

    The two-stage substitution of
    :class:`~symcorr.derivation.families.resummed.ResummedGaussianFamily` (placeholders
    ``Cerf{n}x{m}_ab``) ends in the closed forms :func:`erf_covariance_derivative`,
    :func:`erf_mean_derivative`, :func:`erf_square_derivative` or
    :class:`~symcorr.derivation.families.erf_functions.ErfPowerMoment`.
    """

    name = "erf"
    theory_sections = "docs/theory.md sections 4 (cumulant expansion) and 6 (erf, series in the perturbation cumulants)"
    #: Series order for output orders >= 3 beyond closure 2 (Price series; truncation error
    #: ~ rho_eff^(S+1), see tests/numeric/test_erf_series.py), for closure <= 3 and for closure >= 4
    #: (where the number of diagrams grows fastest: the order-4 kernel at closure 4 has 9 thousand
    #: lines at S = 3, 26 thousand at 4).
    independent_series_order = 6
    independent_series_order_high_closure = 3
    #: Output orders 1..4 of a Gaussian are exact (numerical joint moments for 3..4).
    gaussian_exact_order = 4
    placeholder_prefix = "Cerf"
    exact_accuracy = ("Exact for Gaussian input: the Gaussian part is resummed in closed form "
                      "(joint Gaussian vertices, docs/theory.md section 6).")

    def joint_supported(self, activation, powers, closure):
        """Closed-form joint vertices (with derivatives) for two neurons with powers (1, 1); numerical
        ones (:class:`~symcorr.derivation.families.erf_functions.ErfGaussianMoment`, no derivatives,
        hence closure 2 only) for 2..4 neurons with powers summing to <= 4."""
        return tuple(powers) == (1, 1) or (closure == 2 and 2 <= len(powers) <= 4 and sum(powers) <= 4)

    def effective_correlation(self, activation, cov):
        r""":math:`\max_{a \ne b} 2|\Sigma_{ab}| / \sqrt{(1 + 2\Sigma_{aa})(1 + 2\Sigma_{bb})}`
        (tests/numeric/test_erf_gaussian.py prints the measured truncation table)."""
        cov = np.asarray(cov, dtype=np.float64)
        scale = np.sqrt(1.0 + 2.0 * np.diag(cov))
        rho = 2.0 * np.abs(cov) / np.outer(scale, scale)
        np.fill_diagonal(rho, 0.0)
        return float(np.max(rho, initial=0.0))

    def command_spec(self, activation):
        return "erf"

    def mean_derivative(self, activation, n, mu, v):
        return erf_mean_derivative(n, mu, v)

    def power_moment(self, activation, p, n, mu, v):
        return erf_power_expectation(p, n, mu, v)

    def covariance(self, activation, n, m, mu_a, mu_b, v_a, v_b, c):
        return erf_covariance_derivative(n, m, mu_a, mu_b, v_a, v_b, c)

    def joint_moment(self, activation, labels, powers, derivatives):
        if any(derivatives) or not self.joint_supported(None, powers, 2):
            raise ValueError(f"erf has no joint vertex for powers {tuple(powers)} with derivatives "
                             f"{tuple(derivatives)}: the numerical ones (2..4 neurons) serve closure 2 only")
        pairs = [a + b for t, a in enumerate(labels) for b in labels[t + 1:]]
        return ErfGaussianMoment(sp.Tuple(*powers), sp.Tuple(*(cumulant_symbol(a) for a in labels)),
                                 sp.Tuple(*(cumulant_symbol(a + a) for a in labels)),
                                 sp.Tuple(*(cumulant_symbol(pair) for pair in pairs)))

    def single(self, label: str, power: int, derivative: int) -> sp.Expr:
        """:math:`g^{(n)}_p` at neuron ``label`` in closed form (numeric function for p >= 3)."""
        return erf_power_expectation(power, derivative, cumulant_symbol(label), cumulant_symbol(label + label))

    def joint(self, labels: str, powers: tuple[int, int], derivatives: tuple[int, int]) -> sp.Expr:
        r""":math:`\partial^n_a\partial^m_b E[\operatorname{erf} z_a \operatorname{erf} z_b]` in closed form."""
        return self.substitute_vertices(None, self._stage_one_joint(None, labels, powers, derivatives))


#: The erf family.
ERF = ErfFamily()


def erf() -> Activation:
    r""":math:`\phi(z) = \operatorname{erf}(z)`; a scale :math:`\operatorname{erf}(\beta z)` comes
    through the preceding linear layer (docs/theory.md section 6)."""
    return Activation("erf", sp.erf(Z), ERF)


def recognize(expression: sp.Expr) -> Activation | None:
    """The erf activation if ``expression`` is :math:`\\operatorname{erf}(z)`, else ``None``."""
    return erf() if expression == sp.erf(Z) else None


#: Constructors by the name the command line's ``-a`` takes.
CONSTRUCTORS = {"erf": erf}
