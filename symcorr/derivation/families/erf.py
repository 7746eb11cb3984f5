r"""Vertex functions of non-polynomial activations as SymPy expressions (MATH.md sections 4 and 6).

The engine (:mod:`symcorr.derivation.engine`) leaves the vertex functions as symbols:

* ``g{p}d{n}_a`` -- :math:`g^{(n)}_{p}(\mu_a, \Sigma_{aa}) = \partial^n_{\mu_a} E_{z\sim N(\mu_a,\Sigma_{aa})}[\phi(z)^p]`
  (independent-Gaussian reference, MATH.md section 4);
* ``G{p}x{q}d{n}x{m}_ab`` -- :math:`\partial^n_{\mu_a}\partial^m_{\mu_b}
  E_{(z_a,z_b)\sim N(\mu, \Sigma)}[\phi(z_a)^p \phi(z_b)^q]`, the *joint*
  Gaussian vertex of two neurons whose whole covariance is in the reference
  (the resummed mode, see :func:`symcorr.derivation.engine.derive`).

:func:`substitute_vertex_functions` replaces them by SymPy expressions in the
input-cumulant symbols ``mu_a``, ``Sigma_aa``, ``Sigma_ab``, looking the
activation's family up in the registry :data:`VERTEX_FAMILIES`.

erf (MATH.md section 6), with :math:`s_a^2 = 1 + 2\Sigma_{aa}`:

* :math:`\partial^n_\mu E[\operatorname{erf} z] = s^{-n}\operatorname{erf}^{(n)}(\mu/s)`,
  :math:`\operatorname{erf}^{(n)}(x) = \tfrac{2}{\sqrt\pi}(-1)^{n-1}H_{n-1}(x)e^{-x^2}`
  (Hermite form, :func:`erf_mean_derivative`);
* :math:`E[\operatorname{erf} z_a \operatorname{erf} z_b] = C_{ab} + \operatorname{erf}(\mu_a/s_a)\operatorname{erf}(\mu_b/s_b)`
  with :math:`C_{ab}` = :class:`ErfGaussianCovariance`, the Owen's-T closed form
  of the covariance (:meth:`ErfGaussianCovariance.rewrite` ``(OwensT)`` shows
  it), declared with its derivatives so SymPy differentiates it (all its
  mean-derivatives are elementary); :math:`E[\operatorname{erf}(z)^2]` is the
  case :math:`a = b`;
* :math:`E[\operatorname{erf}(z)^p]`, :math:`p \ge 3`: no elementary closed form;
  :class:`ErfPowerMoment` is evaluated numerically
  (:func:`symcorr.codegen.runtime.erf_power_moment`, method and accuracy there).

Printing: every custom function prints itself through ``_pythoncode`` (the
``printmethod`` of SymPy's Python/NumPy/SciPy printers, hence of
:class:`symcorr.codegen.printer.KernelPrinter`): :class:`OwensT` to
``scipy.special.owens_t``, :class:`ExpNeg` (the Gaussian factors
:math:`e^{-q}`) to ``numpy.exp(-q)``, the others to the support module that
generated kernels import as ``_support`` (a verbatim copy of
:mod:`symcorr.codegen.runtime`); :data:`PRINTED_FUNCTIONS` lists the mapping.

Defaults (:class:`ErfVertices`): at closure 2 (Gaussian input) every output
order 1..4 is exact -- the Gaussian part is resummed, in closed form for
orders 1..2 and by the numerical joint moments :class:`ErfGaussianMoment`
for orders 3..4 (no series). At closure 3, 4, output orders 1..2 keep the
resummed Gaussian part and add the cumulants of order >= 3 to second order;
output orders 3..4 use the Price series around independent Gaussians,
series order 6 (3 at closure >= 4), whose truncation error is
~ rho_eff^(S+1) -- not negligible at rho_eff = 0.95 (tests/test_erf_gaussian.py
prints the table).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp

from symcorr.derivation.activations import Activation
from symcorr.notation.symbols import cumulant_symbol

SQRT_PI = sp.sqrt(sp.pi)


# ---------------------------------------------------------------------------
# custom SymPy functions
# ---------------------------------------------------------------------------

def _print_call(printer, name: str, args) -> str:
    return f"{name}({', '.join(printer._print(a) for a in args)})"


class OwensT(sp.Function):
    r"""Owen's T function :math:`T(h, a) = \frac{1}{2\pi}\int_0^a \frac{e^{-h^2(1+x^2)/2}}{1+x^2}\,dx`.

    .. math::

        \partial_h T = -\tfrac{1}{2}\varphi(h)\operatorname{erf}(a h/\sqrt2), \qquad
        \partial_a T = \frac{e^{-h^2(1+a^2)/2}}{2\pi(1+a^2)}.

    Prints to ``scipy.special.owens_t``.
    """

    nargs = 2

    @classmethod
    def eval(cls, h, a):
        if a.is_zero:
            return sp.S.Zero
        if h.is_zero:
            return sp.atan(a) / (2 * sp.pi)
        return None

    def fdiff(self, argindex=1):
        h, a = self.args
        if argindex == 1:
            return -sp.exp(-h**2 / 2) / sp.sqrt(2 * sp.pi) * sp.erf(a * h / sp.sqrt(2)) / 2
        if argindex == 2:
            return sp.exp(-h**2 * (1 + a**2) / 2) / (2 * sp.pi * (1 + a**2))
        raise sp.ArgumentIndexError(self, argindex)

    def _eval_evalf(self, prec):
        h, a = (arg.evalf(prec) for arg in self.args)
        if not (h.is_Number and a.is_Number):
            return None
        with mpmath.workprec(prec + 20):
            hm, am = mpmath.mpf(h), mpmath.mpf(a)
            value = mpmath.quad(lambda x: mpmath.exp(-hm**2 * (1 + x**2) / 2) / (1 + x**2), [0, am]) / (2 * mpmath.pi)
        return sp.Float(value, precision=prec)

    def _pythoncode(self, printer, **kwargs):
        return _print_call(printer, printer._module_format("scipy.special.owens_t"), self.args)

    _numpycode = _scipycode = _pythoncode

    def _latex(self, printer, exp=None):
        body = r"T\left(%s, %s\right)" % tuple(printer._print(a) for a in self.args)
        return body if exp is None else r"%s^{%s}" % (body, exp)


class ExpNeg(sp.Function):
    r""":math:`e^{-q}`: the Gaussian factors of the erf vertex functions.

    Mathematically ``exp(-q)``; kept as its own function so that a formula is a
    polynomial in these factors (common-subexpression elimination groups them)
    and carries no ``sympy.exp``: the code printer's ``expm1``/``log1p``
    rewrite pass (:data:`symcorr.codegen.printer.REWRITES`), which cannot change a
    factor :math:`e^{-q}` but scales badly with formula size (56 s for a
    780-operation erf formula), is then skipped. Prints to ``numpy.exp(-q)``.
    """

    nargs = 1

    @classmethod
    def eval(cls, q):
        if q.is_Number:
            return sp.exp(-q)
        return None

    def fdiff(self, argindex=1):
        if argindex == 1:
            return -self
        raise sp.ArgumentIndexError(self, argindex)

    def _eval_rewrite_as_exp(self, q, **kwargs):
        return sp.exp(-q)

    def _eval_evalf(self, prec):
        return sp.exp(-self.args[0]).evalf(prec)

    def _pythoncode(self, printer, **kwargs):
        return f"{printer._module_format('numpy.exp')}(-({printer._print(self.args[0])}))"

    _numpycode = _scipycode = _pythoncode

    def _latex(self, printer, exp=None):
        body = r"e^{-%s}" % printer.parenthesize(self.args[0], 1000) if not self.args[0].is_Atom \
            else r"e^{-%s}" % printer._print(self.args[0])
        return body if exp is None else r"\left(%s\right)^{%s}" % (body, exp)


def _bivariate_parts(mu_a, mu_b, v_a, v_b, c):
    r""":math:`s_a^2, s_b^2` and :math:`D = s_a^2 s_b^2 - 4c^2`, written as
    :math:`1 + 2(v_a + v_b) + 4(v_a v_b - c^2)` (no cancellation at large variances;
    :math:`1 + 4v` exactly on the diagonal)."""
    s2_a, s2_b = 1 + 2 * v_a, 1 + 2 * v_b
    d = 1 + 2 * (v_a + v_b) + 4 * (v_a * v_b - c**2)
    return s2_a, s2_b, d


def _covariance_mean_derivative(mu_a, mu_b, v_a, v_b, c):
    r""":math:`\partial_{\mu_a} C_{ab} = \frac{2}{\sqrt\pi s_a} e^{-\mu_a^2/s_a^2}
    [\operatorname{erf}(\frac{\mu_b s_a^2 - 2c\mu_a}{s_a\sqrt D}) - \operatorname{erf}(\mu_b/s_b)]`."""
    s2_a, s2_b, d = _bivariate_parts(mu_a, mu_b, v_a, v_b, c)
    return (2 / (SQRT_PI * sp.sqrt(s2_a)) * sp.exp(-mu_a**2 / s2_a)
            * (sp.erf((mu_b * s2_a - 2 * c * mu_a) / sp.sqrt(s2_a * d)) - sp.erf(mu_b / sp.sqrt(s2_b))))


def _covariance_cross_derivative(mu_a, mu_b, v_a, v_b, c):
    r""":math:`\partial_{c} C_{ab} = E[\operatorname{erf}'(z_a)\operatorname{erf}'(z_b)]
    = \frac{4}{\pi\sqrt D}\exp(-\frac{\mu_a^2 s_b^2 - 4c\mu_a\mu_b + \mu_b^2 s_a^2}{D})`."""
    s2_a, s2_b, d = _bivariate_parts(mu_a, mu_b, v_a, v_b, c)
    return 4 / (sp.pi * sp.sqrt(d)) * sp.exp(-(mu_a**2 * s2_b - 4 * c * mu_a * mu_b + mu_b**2 * s2_a) / d)


class ErfGaussianCovariance(sp.Function):
    r""":math:`C_{ab} = \mathrm{Cov}(\operatorname{erf} z_a, \operatorname{erf} z_b)` for
    :math:`(z_a, z_b) \sim N((\mu_a, \mu_b), [[v_a, c], [c, v_b]])` (MATH.md section 6).

    Arguments ``(mu_a, mu_b, v_a, v_b, c)``. With :math:`s^2 = 1 + 2v`,
    :math:`h = \sqrt2\mu/s`, :math:`\rho = 2c/(s_a s_b)`:

    .. math::

        C_{ab} = 4\Phi_2(h_a, h_b; \rho) - 4\Phi(h_a)\Phi(h_b)
               = 1 - 4\beta - 4T(h_a, \tfrac{h_b - \rho h_a}{h_a\sqrt{1-\rho^2}})
                 - 4T(h_b, \tfrac{h_a - \rho h_b}{h_b\sqrt{1-\rho^2}})
                 - \operatorname{erf}\tfrac{\mu_a}{s_a}\operatorname{erf}\tfrac{\mu_b}{s_b}

    (:math:`\beta = 1/2` if :math:`h_a h_b < 0`, else 0; see
    ``rewrite(OwensT)``). Its derivatives are elementary:
    :math:`\partial_{\mu_a} C` (:func:`_covariance_mean_derivative`),
    :math:`\partial_c C = E[\operatorname{erf}'\operatorname{erf}']`, and by the
    heat equation :math:`\partial_{v_a} C = \tfrac12\partial^2_{\mu_a} C`.
    ``C(mu, mu, v, v, v)`` is :math:`\mathrm{Var}\operatorname{erf}(z)`.
    Prints to ``_support.erf_gaussian_covariance`` (Owen's T /
    Gauss-Legendre, :func:`symcorr.codegen.runtime.erf_gaussian_covariance`).
    """

    nargs = 5

    @classmethod
    def eval(cls, mu_a, mu_b, v_a, v_b, c):
        if c.is_zero:
            return sp.S.Zero
        if mu_a.is_zero and mu_b.is_zero:
            _, _, d = _bivariate_parts(mu_a, mu_b, v_a, v_b, c)
            return 2 / sp.pi * sp.asin(2 * c / sp.sqrt(d + 4 * c**2))
        return None

    def fdiff(self, argindex=1):
        mu_a, mu_b, v_a, v_b, c = self.args
        if argindex == 1:
            return _covariance_mean_derivative(mu_a, mu_b, v_a, v_b, c)
        if argindex == 2:
            return _covariance_mean_derivative(mu_b, mu_a, v_b, v_a, c)
        if argindex == 5:
            return _covariance_cross_derivative(mu_a, mu_b, v_a, v_b, c)
        if argindex in (3, 4):
            # heat equation: d/dv_a E_N[f] = (1/2) d^2/dmu_a^2 E_N[f]
            names = sp.symbols("m_a m_b w_a w_b k", real=True)
            first = (_covariance_mean_derivative(*names) if argindex == 3
                     else _covariance_mean_derivative(names[1], names[0], names[3], names[2], names[4]))
            second = sp.diff(first, names[argindex - 3])
            return second.xreplace(dict(zip(names, self.args))) / 2
        raise sp.ArgumentIndexError(self, argindex)

    def _eval_rewrite_as_OwensT(self, mu_a, mu_b, v_a, v_b, c, **kwargs):
        s2_a, s2_b, d = _bivariate_parts(mu_a, mu_b, v_a, v_b, c)
        h_a, h_b = sp.sqrt(2) * mu_a / sp.sqrt(s2_a), sp.sqrt(2) * mu_b / sp.sqrt(s2_b)
        a_a = (mu_b * s2_a - 2 * c * mu_a) / (mu_a * sp.sqrt(d))
        a_b = (mu_a * s2_b - 2 * c * mu_b) / (mu_b * sp.sqrt(d))
        beta = sp.Piecewise((sp.Rational(1, 2), mu_a * mu_b < 0), (0, True))
        return (1 - 4 * beta - 4 * OwensT(h_a, a_a) - 4 * OwensT(h_b, a_b)
                - sp.erf(mu_a / sp.sqrt(s2_a)) * sp.erf(mu_b / sp.sqrt(s2_b)))

    def _eval_evalf(self, prec):
        values = [arg.evalf(prec) for arg in self.args]
        if not all(v.is_Number for v in values):
            return None
        return sp.Float(mp_erf_gaussian_covariance(*values, prec=prec), precision=prec)

    def _pythoncode(self, printer, **kwargs):
        return _print_call(printer, "_support.erf_gaussian_covariance", self.args)

    _numpycode = _scipycode = _pythoncode

    def _latex(self, printer, exp=None):
        body = r"C_{\mathrm{erf}}\left(%s\right)" % ", ".join(printer._print(a) for a in self.args)
        return body if exp is None else r"%s^{%s}" % (body, exp)


class ErfPowerMoment(sp.Function):
    r""":math:`\partial^n_\mu E_{z \sim N(\mu, v)}[\operatorname{erf}(z)^p]`, arguments ``(p, n, mu, v)``.

    Evaluated numerically (no elementary closed form for :math:`p \ge 3`,
    MATH.md section 6): prints to ``_support.erf_power_moment`` (method and
    accuracy in :func:`symcorr.codegen.runtime.erf_power_moment`).
    :math:`\partial_\mu` raises ``n`` by one; :math:`\partial_v` by two
    (heat equation, factor 1/2).
    """

    nargs = 4

    @classmethod
    def eval(cls, p, n, mu, v):
        for name, value in (("power p", p), ("derivative order n", n)):
            if not (value.is_Integer and value >= (1 if name == "power p" else 0)):
                raise ValueError(f"ErfPowerMoment: {name} must be a non-negative integer (p >= 1), got {value}")
        return None

    def fdiff(self, argindex=3):
        p, n, mu, v = self.args
        if argindex == 3:
            return ErfPowerMoment(p, n + 1, mu, v)
        if argindex == 4:
            return ErfPowerMoment(p, n + 2, mu, v) / 2
        raise sp.ArgumentIndexError(self, argindex)

    def _eval_evalf(self, prec):
        p, n = int(self.args[0]), int(self.args[1])
        mu, v = (arg.evalf(prec) for arg in self.args[2:])
        if not (mu.is_Number and v.is_Number):
            return None
        return sp.Float(mp_erf_power_moment(p, n, mu, v, prec=prec), precision=prec)

    def _pythoncode(self, printer, **kwargs):
        return _print_call(printer, "_support.erf_power_moment", self.args)

    _numpycode = _scipycode = _pythoncode

    def _latex(self, printer, exp=None):
        p, n, mu, v = (printer._print(a) for a in self.args)
        body = r"\partial_{\mu}^{%s} E_{N(%s, %s)}\left[\operatorname{erf}^{%s}\right]" % (n, mu, v, p)
        return body if exp is None else r"\left(%s\right)^{%s}" % (body, exp)


#: Custom functions and what each prints to in a generated kernel.
class ErfGaussianMoment(sp.Function):
    r""":math:`E\big[\prod_a \operatorname{erf}(z_a)^{p_a}\big]` for :math:`z \sim N(\mu, \Sigma)` over 2..4
    neurons with :math:`\sum_a p_a \le 4`: the joint Gaussian vertex of output orders 3..4
    (MATH.md section 6).

    Arguments ``(powers, means, variances, covariances)``, each a :class:`sympy.Tuple`
    (covariances :math:`\Sigma_{ab}`, :math:`a < b`, in lexicographic order). No closed form:
    evaluated numerically, without derivatives (used at closure 2 only, where the whole
    Gaussian part is the reference), by the homotopy integral of
    :func:`symcorr.codegen.runtime.erf_gaussian_moment`, to which it prints.
    """

    nargs = 4

    @classmethod
    def eval(cls, powers, means, variances, covariances):
        k = len(powers)
        if not (2 <= k <= 4 and len(means) == len(variances) == k and len(covariances) == k * (k - 1) // 2
                and all(p.is_Integer and p >= 1 for p in powers) and sum(powers) <= 4):
            raise ValueError(f"ErfGaussianMoment: 2..4 neurons, powers >= 1 summing to <= 4, and matching "
                             f"means, variances and covariances; got powers {tuple(powers)}")
        return None

    def fdiff(self, argindex=1):
        raise NotImplementedError("ErfGaussianMoment is evaluated numerically and has no derivatives here "
                                  "(it appears at closure 2 only)")

    def _pythoncode(self, printer, **kwargs):
        powers, *rest = self.args
        groups = [f"({', '.join(printer._print(x) for x in group)},)" for group in rest]
        return f"_support.erf_gaussian_moment({tuple(int(p) for p in powers)!r}, {', '.join(groups)})"

    _numpycode = _scipycode = _pythoncode

    def _latex(self, printer, exp=None):
        powers, means = self.args[0], self.args[1]
        labels = ",".join(printer._print(m) for m in means)
        text = (r"E_{\mathrm{erf}}^{(" + ",".join(str(p) for p in powers) + r")}\left(" + labels + r"\right)")
        return f"{text}^{{{printer._print(exp)}}}" if exp is not None else text


PRINTED_FUNCTIONS = {
    OwensT: "scipy.special.owens_t",
    ErfGaussianCovariance: "_support.erf_gaussian_covariance",
    ErfPowerMoment: "_support.erf_power_moment",
    ErfGaussianMoment: "_support.erf_gaussian_moment",
    ExpNeg: "numpy.exp(-q)",
}


# ---------------------------------------------------------------------------
# high-precision references (mpmath), used by evalf and the tests
# ---------------------------------------------------------------------------

def mp_erf_gaussian_covariance(mu_a, mu_b, v_a, v_b, c, prec: int = 53 * 2):
    r""":math:`C_{ab}` at ``prec`` bits by adaptive quadrature of
    :math:`\frac{2}{\pi}\int_0^{\arcsin\rho}\exp(-\frac{m_a^2+m_b^2-2m_am_b\sin t}{\cos^2 t})dt`
    (the Price / Drezner-Wesolowsky form, MATH.md section 6)."""
    with mpmath.workprec(prec + 30):
        mu_a, mu_b, v_a, v_b, c = (mpmath.mpf(str(x)) if isinstance(x, sp.Basic) else mpmath.mpf(x)
                                   for x in (mu_a, mu_b, v_a, v_b, c))
        s2_a, s2_b = 1 + 2 * v_a, 1 + 2 * v_b
        m_a, m_b = mu_a / mpmath.sqrt(s2_a), mu_b / mpmath.sqrt(s2_b)
        d = 1 + 2 * (v_a + v_b) + 4 * (v_a * v_b - c * c)
        theta = mpmath.atan2(2 * c, mpmath.sqrt(d))

        def integrand(t):
            return mpmath.exp(-(m_a**2 + m_b**2 - 2 * m_a * m_b * mpmath.sin(t)) / mpmath.cos(t) ** 2)

        points = [theta * k / 8 for k in range(9)]
        value = 2 / mpmath.pi * mpmath.quad(integrand, points)
        return +value


def mp_erf_power_moment(p: int, n: int, mu, v, prec: int = 53 * 2):
    r""":math:`\partial^n_\mu E[\operatorname{erf}(z)^p] = v^{-n/2}\int \operatorname{erf}(\mu+\sqrt v x)^p He_n(x)\varphi(x)dx`
    at ``prec`` bits (derivatives moved onto the Gaussian; independent of the
    numeric rules of :mod:`symcorr.codegen.runtime`)."""
    import math

    v_float = float(v)
    extra = int(max(0.0, -n * math.log2(v_float) / 2)) if 0 < v_float < 1 else 0
    with mpmath.workprec(prec + 40 + extra):
        mu, v = mpmath.mpf(str(mu)), mpmath.mpf(str(v))
        if v == 0:
            return mpmath.diff(lambda z: mpmath.erf(z) ** p, mu, n)
        sd = mpmath.sqrt(v)

        def integrand(x):
            he = mpmath.hermite(n, x / mpmath.sqrt(2)) * mpmath.mpf(2) ** (-mpmath.mpf(n) / 2)
            return mpmath.erf(mu + sd * x) ** p * he * mpmath.exp(-x * x / 2)

        breaks = {(z - mu) / sd for z in (-9, -4, -2, -1, 0, 1, 2, 4, 9)} | {-12, -6, -3, 0, 3, 6, 12}
        points = [-mpmath.inf] + sorted(b for b in breaks if abs(b) <= 14) + [mpmath.inf]
        return mpmath.quad(integrand, points) / mpmath.sqrt(2 * mpmath.pi) * v ** (-mpmath.mpf(n) / 2)


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

    Hermite form (MATH.md section 6):
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
    r""":math:`\partial^n_{\mu_a}\partial^m_{\mu_b} C_{ab}` in closed form (MATH.md section 6).

    With :math:`G = E[\operatorname{erf} z_a \operatorname{erf} z_b] = C_{ab} + g_a g_b`,
    :math:`s^2 = 1 + 2v`, :math:`x = \mu/s`, :math:`D = s_a^2 s_b^2 - 4c^2`:

    * :math:`n = m = 0`: :class:`ErfGaussianCovariance` (Owen's T);
    * :math:`n, m \ge 1`: :math:`\partial^{n-1}_a\partial^{m-1}_b \frac{4}{\pi\sqrt D} e^{-Q}
      - g_a^{(n)} g_b^{(m)}`, :math:`Q = (s_b^2\mu_a^2 - 4c\mu_a\mu_b + s_a^2\mu_b^2)/D`
      (:func:`_gaussian_derivative_polynomial`);
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
# registry of vertex-function families
# ---------------------------------------------------------------------------

def _covariance_placeholder(labels: str, n: int, m: int) -> sp.Symbol:
    return sp.Symbol(f"Cerf{n}x{m}_{labels}", real=True)


@dataclass(frozen=True)
class ErfVertices:
    r"""Vertex functions of :math:`\phi(z) = \operatorname{erf}(z)` (MATH.md section 6).

    Joint (two-neuron) vertices exist in closed form for powers ``(1, 1)``,
    so output orders 1..2 are derived with the Gaussian part resummed
    exactly (the joint reference of :func:`symcorr.derivation.engine.derive`);
    output orders >= 3 use the independent reference and a series.

    Substitution runs in two stages so that the disconnected products cancel
    exactly: first every joint vertex becomes
    :math:`\partial^n_a\partial^m_b C + g^{(n)}_a g^{(m)}_b` and
    :math:`E[\operatorname{erf}(z_a)^2]` becomes :math:`C_{aa} + g_a^2`, with
    :math:`C` a placeholder symbol ``Cerf{n}x{m}_ab``, and the diagram form is
    expanded (the :math:`g g` products of the Moebius subtraction cancel as
    polynomials, so e.g. the Gaussian covariance is ``C`` itself, accurate
    even when tiny); then the placeholders and the remaining vertices get
    their closed forms (:func:`erf_covariance_derivative`,
    :func:`erf_mean_derivative`, :func:`erf_square_derivative`) or
    :class:`ErfPowerMoment`.
    """

    #: Cap on the factors that are input cumulants of order >= 3 (the order in
    #: non-Gaussianity; an asymptotic, Edgeworth-like series: 2 keeps kappa_3,
    #: kappa_4, kappa_3^2, kappa_3 kappa_4, kappa_4^2), in every reference.
    non_gaussian_order: int = 2
    #: Series order (number of perturbation factors) used when none is given
    #: for output orders >= 3 (independent reference: the off-diagonal
    #: covariances are perturbations, the Price series; truncation error
    #: ~ rho_eff^(S+1), see tests/test_erf_series.py), for closure <= 3 and
    #: for closure >= 4 (where the number of diagrams grows fastest: the
    #: order-4 kernel at closure 4 has 9 thousand lines at S = 3, 26 thousand at 4).
    #: Output orders 1..2 need none at closure 2 (the Gaussian part is
    #: resummed exactly) and use ``non_gaussian_order`` above.
    independent_series_order: int = 6
    independent_series_order_high_closure: int = 3
    #: :func:`symcorr.numeric.pointwise.pointwise` warns when the estimated truncation error
    #: r^(S+1) of the Price series (r: the largest effective correlation) exceeds this.
    truncation_warning_level: float = 1e-2

    def truncation_warning(self, out_order: int, closure: int, series_order: int | None, cov) -> str | None:
        r"""A warning when output orders 3..4 come from the Price series (closure >= 3) at a correlation
        where its truncation is not small: the terms dropped scale like :math:`r^{S+1}`,
        :math:`r = \max_{a \ne b} 2|\Sigma_{ab}| / \sqrt{(1 + 2\Sigma_{aa})(1 + 2\Sigma_{bb})}`
        (tests/test_erf_gaussian.py prints the measured table). ``None`` when nothing is truncated."""
        if out_order <= 2 or closure <= 2 or series_order is None:
            return None
        cov = np.asarray(cov, dtype=np.float64)
        scale = np.sqrt(1.0 + 2.0 * np.diag(cov))
        rho = 2.0 * np.abs(cov) / np.outer(scale, scale)
        np.fill_diagonal(rho, 0.0)
        r = float(np.max(rho, initial=0.0))
        estimate = r ** (series_order + 1)
        if estimate <= self.truncation_warning_level:
            return None
        return (f"erf output orders 3..{out_order} at closure {closure} come from the Price series to order "
                f"{series_order} (MATH.md section 6); at the largest effective correlation r = {r:.2f} its "
                f"truncation error may reach ~{estimate:.0e} of the cumulants' scale (r^(S+1)). Gaussian input "
                f"(closure 2) is exact; a larger series_order reduces the error")

    def joint_supported(self, powers: tuple[int, ...], closure: int) -> bool:
        """Closed-form joint vertices (with derivatives) for two neurons with powers (1, 1); numerical
        ones (:class:`ErfGaussianMoment`, no derivatives, hence closure 2 only) for 2..4 neurons with
        powers summing to <= 4."""
        return tuple(powers) == (1, 1) or (closure == 2 and 2 <= len(powers) <= 4 and sum(powers) <= 4)

    def default_series_order(self, out_order: int, closure: int) -> int | None:
        if closure <= 2:
            return None
        if out_order <= 2:
            return self.non_gaussian_order
        return self.independent_series_order if closure <= 3 else self.independent_series_order_high_closure

    # stage 1: vertex symbols -> polynomials in placeholders (g1 symbols and Cerf symbols)
    def _stage_one_single(self, label: str, power: int, derivative: int):
        from symcorr.notation.symbols import vertex_symbol

        if power != 2 or derivative != 0:
            return None          # derivatives of E[erf^2] have their own closed form (erf_square_derivative)
        return _covariance_placeholder(label + label, 0, 0) + vertex_symbol(label, 1, 0) ** 2

    def _stage_one_joint(self, labels: str, powers, derivatives):
        from symcorr.notation.symbols import vertex_symbol

        if tuple(powers) == (1, 1):
            (n, m), (a, b) = derivatives, labels
            return _covariance_placeholder(labels, n, m) + vertex_symbol(a, 1, n) * vertex_symbol(b, 1, m)
        if any(derivatives) or not self.joint_supported(powers, 2):
            raise ValueError(f"erf has no joint vertex for powers {tuple(powers)} with derivatives "
                             f"{tuple(derivatives)}: the numerical ones (2..4 neurons) serve closure 2 only")
        pairs = [a + b for t, a in enumerate(labels) for b in labels[t + 1:]]
        return ErfGaussianMoment(sp.Tuple(*powers), sp.Tuple(*(cumulant_symbol(a) for a in labels)),
                                 sp.Tuple(*(cumulant_symbol(a + a) for a in labels)),
                                 sp.Tuple(*(cumulant_symbol(pair) for pair in pairs)))

    # stage 2: placeholders -> closed forms
    def _stage_two(self, symbol: sp.Symbol):
        from symcorr.notation.symbols import parse_vertex_symbol

        name = symbol.name
        if name.startswith("Cerf"):
            head, _, labels = name.partition("_")
            n, m = (int(t) for t in head[4:].split("x"))
            a, b = labels
            return erf_covariance_derivative(n, m, cumulant_symbol(a), cumulant_symbol(b), cumulant_symbol(a + a),
                                             cumulant_symbol(b + b), cumulant_symbol(a + b))
        parsed = parse_vertex_symbol(symbol)
        if parsed is not None:
            label, power, derivative = parsed
            return erf_power_expectation(power, derivative, cumulant_symbol(label), cumulant_symbol(label + label))
        return None

    def single(self, label: str, power: int, derivative: int) -> sp.Expr:
        """:math:`g^{(n)}_p` at neuron ``label`` in closed form (numeric function for p >= 3)."""
        return erf_power_expectation(power, derivative, cumulant_symbol(label), cumulant_symbol(label + label))

    def joint(self, labels: str, powers: tuple[int, int], derivatives: tuple[int, int]) -> sp.Expr:
        r""":math:`\partial^n_a\partial^m_b E[\operatorname{erf} z_a \operatorname{erf} z_b]` in closed form."""
        return self.substitute(self._stage_one_joint(labels, powers, derivatives))

    def substitute(self, diagram_form: sp.Expr) -> sp.Expr:
        """Replace every vertex symbol of ``diagram_form`` (two stages, see the class docstring)."""
        from symcorr.notation.symbols import parse_joint_vertex_symbol, parse_vertex_symbol

        stage_one = {}
        for symbol in diagram_form.free_symbols:
            single = parse_vertex_symbol(symbol)
            if single is not None:
                value = self._stage_one_single(*single)
                if value is not None:
                    stage_one[symbol] = value
                continue
            joint = parse_joint_vertex_symbol(symbol)
            if joint is not None:
                stage_one[symbol] = self._stage_one_joint(*joint)
        expression = sp.expand(diagram_form.xreplace(stage_one)) if stage_one else diagram_form
        stage_two = {}
        for symbol in expression.free_symbols:
            value = self._stage_two(symbol)
            if value is not None:
                stage_two[symbol] = value
        return expression.xreplace(stage_two)


#: family -> vertex-function implementation (``substitute``, ``joint_supported``, ``default_series_order``)
VERTEX_FAMILIES = {"erf": ErfVertices()}


def vertex_family(activation: Activation):
    """The registered vertex functions of ``activation``'s family (error naming the family if none)."""
    try:
        return VERTEX_FAMILIES[activation.family]
    except KeyError:
        raise ValueError(
            f"no vertex functions registered for activation family {activation.family!r} "
            f"(known: {sorted(VERTEX_FAMILIES)}); polynomial activations need none") from None


def default_series_order(activation: Activation, out_order: int, closure: int) -> int | None:
    """The documented default series order of a non-polynomial activation (``None``: exact)."""
    return vertex_family(activation).default_series_order(out_order, closure)


def substitute_vertex_functions(activation: Activation, diagram_form: sp.Expr) -> sp.Expr:
    r"""Replace every vertex symbol in ``diagram_form`` by its expression in ``mu_a``, ``Sigma_aa``
    (and ``Sigma_ab`` for joint vertices), for ``activation``'s family (MATH.md sections 4, 6)."""
    return vertex_family(activation).substitute(diagram_form)


__all__ = [
    "OwensT", "ErfGaussianCovariance", "ErfPowerMoment", "ErfGaussianMoment", "ExpNeg", "PRINTED_FUNCTIONS",
    "erf_derivative", "erf_mean_derivative", "erf_covariance_derivative", "erf_square_derivative",
    "erf_power_expectation",
    "mp_erf_gaussian_covariance", "mp_erf_power_moment",
    "ErfVertices", "VERTEX_FAMILIES", "vertex_family", "default_series_order", "substitute_vertex_functions",
]
