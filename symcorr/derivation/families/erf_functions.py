r"""The erf family's own SymPy functions and their mpmath references (docs/theory.md section 6).

* :class:`ErfGaussianCovariance` -- :math:`C_{ab} = \mathrm{Cov}(\operatorname{erf} z_a,
  \operatorname{erf} z_b)` of a bivariate Gaussian, in closed form through Owen's T,
  declared with its (elementary) derivatives so that SymPy differentiates it;
* :class:`ErfPowerMoment` -- :math:`\partial^n_\mu E[\operatorname{erf}(z)^p]`, :math:`p \ge 3`:
  no elementary closed form, evaluated numerically;
* :class:`ErfGaussianMoment` -- :math:`E[\prod_a \operatorname{erf}(z_a)^{p_a}]` over 2..4
  neurons (the joint vertex of output orders 3..4), evaluated numerically.

Each prints to the kernels' runtime (``_support.*``, :mod:`symcorr.codegen.runtime`);
:data:`PRINTED_FUNCTIONS` lists the mapping. ``mp_*`` are high-precision mpmath
references used by ``evalf`` and the tests.
"""
from __future__ import annotations

import mpmath
import sympy as sp

from symcorr.derivation.families.gaussian_functions import ExpNeg, OwensT, _print_call

SQRT_PI = sp.sqrt(sp.pi)

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
    :math:`(z_a, z_b) \sim N((\mu_a, \mu_b), [[v_a, c], [c, v_b]])` (docs/theory.md section 6).

    Arguments ``(mu_a, mu_b, v_a, v_b, c)``. With :math:`s^2 = 1 + 2v`,
    :math:`h = \sqrt2\mu/s`, :math:`\rho = 2c/(s_a s_b)`:

    .. math::

        C_{ab} = 4\Phi_2(h_a, h_b; \rho) - 4\Phi(h_a)\Phi(h_b)
               = 1 - 4\beta - 4T(h_a, \tfrac{h_b - \rho h_a}{h_a\sqrt{1-\rho^2}})
                 - 4T(h_b, \tfrac{h_a - \rho h_b}{h_b\sqrt{1-\rho^2}})
                 - \operatorname{erf}\tfrac{\mu_a}{s_a}\operatorname{erf}\tfrac{\mu_b}{s_b}

    (:math:`\beta = 1/2` if :math:`h_a h_b < 0`, else 0; see
    ``rewrite(OwensT)``). Its derivatives are elementary:
    :math:`\partial_{\mu_a} C` (``_covariance_mean_derivative``),
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
    docs/theory.md section 6): prints to ``_support.erf_power_moment`` (method and
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
    (docs/theory.md section 6).

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


#: How a kernel evaluates each function: SymPy function class -> the call printed into the kernel.
PRINTED_FUNCTIONS = {
    OwensT: "scipy.special.owens_t",
    ErfGaussianCovariance: "_support.erf_gaussian_covariance",
    ErfPowerMoment: "_support.erf_power_moment",
    ErfGaussianMoment: "_support.erf_gaussian_moment",
    ExpNeg: "numpy.exp(-q)",
}


def mp_erf_gaussian_covariance(mu_a, mu_b, v_a, v_b, c, prec: int = 53 * 2):
    r""":math:`C_{ab}` at ``prec`` bits by adaptive quadrature of
    :math:`\frac{2}{\pi}\int_0^{\arcsin\rho}\exp(-\frac{m_a^2+m_b^2-2m_am_b\sin t}{\cos^2 t})dt`
    (the Price / Drezner-Wesolowsky form, docs/theory.md section 6)."""
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
