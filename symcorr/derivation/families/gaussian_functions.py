r"""SymPy functions shared by the families' Gaussian expectations (docs/theory.md section 6).

* :class:`OwensT` -- Owen's :math:`T(h, a)`, through which the bivariate normal
  orthant probability :math:`\Phi_2(h_a, h_b; \rho)` has a closed form;
* :class:`ExpNeg` -- :math:`e^{-q}`, the Gaussian factors of vertex functions;
* :class:`NormalCDF` -- :math:`\Phi(x)`, the standard normal distribution function;
* :class:`BivariateNormalCDF` -- :math:`\Phi_2(x, y; \rho) = P(X \le x, Y \le y)` for standard
  normals of correlation :math:`\rho` (docs/theory.md section 11.2).

Each prints itself through ``_pythoncode`` (the ``printmethod`` of SymPy's
Python/NumPy/SciPy printers, hence of
:class:`symcorr.codegen.printer.KernelPrinter`) and through ``_latex``.
"""
from __future__ import annotations

import mpmath
import sympy as sp

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


SQRT_2PI = sp.sqrt(2 * sp.pi)


def normal_pdf(x) -> sp.Expr:
    r""":math:`\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}` (an :class:`ExpNeg` factor)."""
    return ExpNeg(x**2 / 2) / SQRT_2PI


class NormalCDF(sp.Function):
    r"""The standard normal distribution function :math:`\Phi(x) = \tfrac12\operatorname{erfc}(-x/\sqrt2)`.

    :math:`\Phi' = \varphi` (:func:`normal_pdf`); prints to ``scipy.special.ndtr`` (accurate in
    both tails); numbers evaluate to the ``erfc`` form.
    """

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.Rational(1, 2)
        if x is sp.oo:
            return sp.S.One
        if x is sp.S.NegativeInfinity:
            return sp.S.Zero
        if x.is_Number:
            return sp.erfc(-x / sp.sqrt(2)) / 2
        return None

    def fdiff(self, argindex=1):
        if argindex == 1:
            return normal_pdf(self.args[0])
        raise sp.ArgumentIndexError(self, argindex)

    def _eval_rewrite_as_erfc(self, x, **kwargs):
        return sp.erfc(-x / sp.sqrt(2)) / 2

    def _eval_evalf(self, prec):
        return self.rewrite(sp.erfc).evalf(prec)

    def _pythoncode(self, printer, **kwargs):
        return _print_call(printer, printer._module_format("scipy.special.ndtr"), self.args)

    _numpycode = _scipycode = _pythoncode

    def _latex(self, printer, exp=None):
        body = r"\Phi\left(%s\right)" % printer._print(self.args[0])
        return body if exp is None else r"%s^{%s}" % (body, exp)


def bivariate_normal_pdf(x, y, rho) -> sp.Expr:
    r""":math:`\varphi_2(x, y; \rho) = \exp(-\frac{x^2 - 2\rho xy + y^2}{2(1-\rho^2)}) / (2\pi\sqrt{1-\rho^2})`."""
    return ExpNeg((x**2 - 2 * rho * x * y + y**2) / (2 * (1 - rho**2))) / (2 * sp.pi * sp.sqrt(1 - rho**2))


class BivariateNormalCDF(sp.Function):
    r""":math:`\Phi_2(x, y; \rho) = P(X \le x, Y \le y)`, :math:`(X, Y)` standard normal with correlation
    :math:`\rho`: the orthant probability of every pair expectation of the piecewise and Gaussian-CDF
    families (docs/theory.md section 11).

    .. math::

        \partial_x\Phi_2 = \varphi(x)\,\Phi\Big(\frac{y - \rho x}{\sqrt{1-\rho^2}}\Big), \qquad
        \partial_\rho\Phi_2 = \varphi_2(x, y; \rho),

    ``rewrite(OwensT)`` gives Owen's form
    :math:`\tfrac12[\Phi(x) + \Phi(y)] - T(x, \frac{y - \rho x}{x\sqrt{1-\rho^2}})
    - T(y, \frac{x - \rho y}{y\sqrt{1-\rho^2}}) - \beta`, :math:`\beta = \tfrac12` if :math:`xy < 0`.
    Prints to ``_support.bivariate_normal_cdf`` (:mod:`symcorr.codegen.runtime.bivariate`).
    """

    nargs = 3

    @classmethod
    def eval(cls, x, y, rho):
        if rho.is_zero:
            return NormalCDF(x) * NormalCDF(y)
        if x.is_zero and y.is_zero:
            return sp.Rational(1, 4) + sp.asin(rho) / (2 * sp.pi)
        return None

    def fdiff(self, argindex=1):
        x, y, rho = self.args
        if argindex in (1, 2):
            if argindex == 2:
                x, y = y, x
            return normal_pdf(x) * NormalCDF((y - rho * x) / sp.sqrt(1 - rho**2))
        if argindex == 3:
            return bivariate_normal_pdf(x, y, rho)
        raise sp.ArgumentIndexError(self, argindex)

    def _eval_rewrite_as_OwensT(self, x, y, rho, **kwargs):
        r = sp.sqrt(1 - rho**2)
        beta = sp.Piecewise((sp.Rational(1, 2), x * y < 0), (0, True))
        return ((NormalCDF(x) + NormalCDF(y)) / 2 - OwensT(x, (y - rho * x) / (x * r))
                - OwensT(y, (x - rho * y) / (y * r)) - beta)

    def _eval_evalf(self, prec):
        values = [arg.evalf(prec) for arg in self.args]
        if not all(v.is_Number for v in values):
            return None
        return sp.Float(mp_bivariate_normal_cdf(*values, prec=prec), precision=prec)

    def _pythoncode(self, printer, **kwargs):
        return _print_call(printer, "_support.bivariate_normal_cdf", self.args)

    _numpycode = _scipycode = _pythoncode

    def _latex(self, printer, exp=None):
        x, y, rho = (printer._print(a) for a in self.args)
        body = r"\Phi_2\left(%s, %s; %s\right)" % (x, y, rho)
        return body if exp is None else r"%s^{%s}" % (body, exp)


def mp_bivariate_normal_cdf(x, y, rho, prec: int = 53 * 2):
    r""":math:`\Phi_2(x, y; \rho) = \Phi(x)\Phi(y) + \int_0^\rho \varphi_2(x, y; r)\,dr` at ``prec`` bits
    (mpmath quadrature; the reference of the tests)."""
    with mpmath.workprec(prec + 30):
        x, y, rho = (mpmath.mpf(str(t)) if isinstance(t, sp.Basic) else mpmath.mpf(t) for t in (x, y, rho))

        def density(r):
            return mpmath.exp(-(x * x - 2 * r * x * y + y * y) / (2 * (1 - r * r))) / (2 * mpmath.pi * mpmath.sqrt(1 - r * r))

        if abs(rho) == 1:
            value = mpmath.ncdf(min(x, y)) if rho > 0 else max(mpmath.mpf(0), mpmath.ncdf(x) + mpmath.ncdf(y) - 1)
        else:
            # the angle r = sin(t) removes the 1/sqrt(1 - r^2) endpoint behaviour
            theta = mpmath.asin(rho)
            value = mpmath.ncdf(x) * mpmath.ncdf(y) + mpmath.quad(
                lambda t: density(mpmath.sin(t)) * mpmath.cos(t), [theta * k / 8 for k in range(9)])
        return +value
