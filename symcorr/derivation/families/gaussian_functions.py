r"""SymPy functions shared by the families' Gaussian expectations (docs/theory.md section 6).

* :class:`OwensT` -- Owen's :math:`T(h, a)`, through which the bivariate normal
  orthant probability :math:`\Phi_2(h_a, h_b; \rho)` has a closed form;
* :class:`ExpNeg` -- :math:`e^{-q}`, the Gaussian factors of vertex functions.

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
