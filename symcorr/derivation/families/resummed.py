r"""Families whose Gaussian part is resummed through joint pair vertices (docs/theory.md section 6,
docs/theory.md section 11).

For these families the engine (:func:`symcorr.derivation.engine.derive`, reference ``'auto'``)
expands only in the non-Gaussian cumulants: a block of two neurons keeps its whole covariance
in the joint vertex

.. math:: G^{(n,m)}_{ab} = \partial^n_{\mu_a}\partial^m_{\mu_b} E_{N(\mu, \Sigma)}[\phi(z_a)\phi(z_b)]
          = C^{(n,m)}_{ab} + g^{(n)}_{1,a} g^{(m)}_{1,b},

with :math:`C_{ab} = \mathrm{Cov}(\phi(z_a), \phi(z_b))`. :class:`ResummedGaussianFamily` does the
substitution in two stages so that the disconnected products cancel as polynomials: first every
joint vertex becomes :math:`C^{(n,m)}_{ab} + g^{(n)}_a g^{(m)}_b` and
:math:`E[\phi(z_a)^2] = C_{aa} + g_a^2`, with :math:`C` a placeholder symbol, and the diagram
form is expanded (the Gaussian covariance is then ``C`` itself, accurate even when tiny); then
the placeholders and the remaining vertices get the family's expressions
(:meth:`ResummedGaussianFamily.covariance`, :meth:`~ResummedGaussianFamily.mean_derivative`,
:meth:`~ResummedGaussianFamily.power_moment`, :meth:`~ResummedGaussianFamily.joint_moment`), not expanded: a
joint vertex of powers other than (1, 1), expanded in :math:`\mu` and :math:`\Sigma`, lost all accuracy near
:math:`|\rho| = 1` (docs/theory.md section 11.2).

:func:`gaussian_function` makes the SymPy functions those expressions are built of: a named
function equal to a closed form (which SymPy differentiates), printed in kernels as a call to
a robust runtime routine (zero variances, :math:`|\rho| = 1`, large means).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from symcorr.derivation.activation import ActivationFamily
from symcorr.derivation.families.gaussian_functions import _print_call
from symcorr.notation.symbols import cumulant_symbol, parse_joint_vertex_symbol, parse_vertex_symbol, vertex_symbol


class ResummedGaussianFamily(ActivationFamily):
    r"""A family with closed-form (or numerically exact) pair vertices (module docstring).

    Subclasses implement :meth:`mean_derivative`, :meth:`power_moment`, :meth:`covariance`
    (and :meth:`joint_moment` for joint vertices other than powers (1, 1)) and set the
    attributes below.
    """

    reference = "auto"
    #: Cap on the factors that are input cumulants of order >= 3 (an asymptotic, Edgeworth-like
    #: series in the non-Gaussianity: 2 keeps kappa_3, kappa_4, kappa_3^2, kappa_3 kappa_4, kappa_4^2).
    non_gaussian_order = 2
    #: Series order (perturbation factors) for output orders whose patterns have no joint vertices
    #: (independent reference: the off-diagonal covariances are perturbations, the Price series;
    #: truncation error ~ r^(S+1)), for closure <= 3 and for closure >= 4.
    independent_series_order = 6
    independent_series_order_high_closure = 3
    #: :func:`symcorr.numeric.pointwise.pointwise` warns when the estimated truncation error
    #: r^(S+1) of the Price series exceeds this.
    truncation_warning_level = 1e-2
    #: The highest output order whose every pattern has joint vertices for Gaussian input
    #: (closure 2), i.e. is exact without a series.
    gaussian_exact_order = 2
    #: Name stem of the covariance placeholders of stage one.
    placeholder_prefix = "Cov"
    #: The sentence :meth:`~symcorr.derivation.families.resummed.ResummedGaussianFamily.accuracy` gives for a derivation without series truncation.
    exact_accuracy = ("Exact for Gaussian input: the Gaussian part is resummed in closed form "
                      "(joint Gaussian vertices).")

    def default_closure(self, activation, order):
        """2: the formulas for Gaussian input, exact there (the Gaussian part is resummed)."""
        return 2

    # -- hooks ---------------------------------------------------------------------------------

    def mean_derivative(self, activation, n: int, mu, v) -> sp.Expr:
        r""":math:`g^{(n)}_1 = \partial^n_\mu E_{N(\mu, v)}[\phi(z)]`."""
        raise NotImplementedError

    def power_moment(self, activation, p: int, n: int, mu, v) -> sp.Expr:
        r""":math:`g^{(n)}_p = \partial^n_\mu E_{N(\mu, v)}[\phi(z)^p]` for :math:`p \ge 2`."""
        raise NotImplementedError

    def covariance(self, activation, n: int, m: int, mu_a, mu_b, v_a, v_b, c) -> sp.Expr:
        r""":math:`\partial^n_{\mu_a}\partial^m_{\mu_b}\mathrm{Cov}(\phi(z_a), \phi(z_b))` of the pair Gaussian."""
        raise NotImplementedError

    def joint_moment(self, activation, labels: str, powers, derivatives) -> sp.Expr:
        """A joint vertex other than powers (1, 1) (only those :meth:`joint_supported` admits)."""
        raise ValueError(f"{self.name} has no joint vertex for powers {tuple(powers)} with derivatives "
                         f"{tuple(derivatives)}")

    def effective_correlation(self, activation, cov) -> float:
        r"""The largest correlation that sets the Price series' convergence (:meth:`truncation_warning`);
        by default :math:`\max_{a \ne b} |\Sigma_{ab}|/\sqrt{\Sigma_{aa}\Sigma_{bb}}`."""
        cov = np.asarray(cov, dtype=np.float64)
        scale = np.sqrt(np.diag(cov))
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = np.where(np.outer(scale, scale) > 0, np.abs(cov) / np.outer(scale, scale), 0.0)
        np.fill_diagonal(rho, 0.0)
        return float(np.max(rho, initial=0.0))

    # -- the ActivationFamily answers ----------------------------------------------------------

    def joint_supported(self, activation, powers, closure):
        """Closed-form pair vertices (with derivatives) for powers (1, 1)."""
        return tuple(powers) == (1, 1)

    def default_series_order(self, activation, order, closure):
        if closure <= 2 and order <= self.gaussian_exact_order:
            return None
        if order <= 2:
            return self.non_gaussian_order
        return self.independent_series_order if closure <= 3 else self.independent_series_order_high_closure

    def carried_closure(self, activation, closure, nonzero):
        # identically zero input cumulants would only bring truncated terms that vanish; the lowest
        # closure holding every non-zero one is as exact as that one (closure 2, a Gaussian: exact
        # wherever the Gaussian part is resummed)
        return max([min(closure, 2)] + [n for n in range(3, closure + 1) if nonzero(n)])

    def uses_price_series(self, order: int, closure: int) -> bool:
        """Whether output orders above 2 come from the Price series (independent reference)."""
        return order > 2 and not (closure <= 2 and order <= self.gaussian_exact_order)

    def gaussian_truncation(self, activation, order, closure, series_order):
        """Orders above :attr:`gaussian_exact_order` of a Gaussian come from the truncated Price series."""
        if series_order is None or not self.uses_price_series(order, closure):
            return None
        return (f"{activation.name}'s order {order} is the Price series truncated at order {series_order}, for any "
                f"input (docs/theory.md section 6.8; a larger series_order reduces the error, ~r^(S+1))")

    def truncation_estimate(self, activation, order, closure, series_order, cov):
        r""":math:`r^{S+1}`, :math:`r` the largest :meth:`effective_correlation`, where output orders >= 3
        come from the Price series (the size of its first dropped terms)."""
        if series_order is None or not self.uses_price_series(order, closure):
            return None
        return self.effective_correlation(activation, cov) ** (series_order + 1)

    def truncation_warning(self, activation, order, closure, series_order, cov, estimate=None):
        r"""A warning when output orders >= 3 come from the Price series at a correlation where its
        truncation is not small: the terms dropped scale like :math:`r^{S+1}` (:meth:`truncation_estimate`, computed
        here unless given as ``estimate``). ``None`` when nothing is truncated."""
        if estimate is None:
            estimate = self.truncation_estimate(activation, order, closure, series_order, cov)
        if estimate is None or estimate <= self.truncation_warning_level:
            return None
        r = estimate ** (1 / (series_order + 1))
        return (f"{activation.name} output orders 3..{order} at closure {closure} come from the Price series to "
                f"order {series_order} ({self.theory_sections}); at the largest effective correlation r = {r:.2f} "
                f"its truncation error may reach ~{estimate:.0e} of the cumulants' scale (r^(S+1)). "
                + ("Gaussian input (closure 2) is exact; " if self.gaussian_exact_order >= order else "")
                + "a larger series_order reduces the error")

    def accuracy(self, derivation):
        if derivation.series_order is None:
            return self.exact_accuracy
        return super().accuracy(derivation)

    def command_spec(self, activation):
        return activation.name

    # -- the two-stage substitution --------------------------------------------------------------

    def placeholder(self, labels: str, n: int, m: int) -> sp.Symbol:
        """The covariance placeholder of stage one, e.g. ``Cov1x0_ij``."""
        return sp.Symbol(f"{self.placeholder_prefix}{n}x{m}_{labels}", real=True)

    def _stage_one_single(self, label: str, power: int, derivative: int):
        if power != 2 or derivative != 0:
            return None          # derivatives of E[phi^2] have their own expressions (power_moment)
        return self.placeholder(label + label, 0, 0) + vertex_symbol(label, 1, 0) ** 2

    def _stage_one_joint(self, activation, labels: str, powers, derivatives):
        if tuple(powers) == (1, 1):
            (n, m), (a, b) = derivatives, labels
            return self.placeholder(labels, n, m) + vertex_symbol(a, 1, n) * vertex_symbol(b, 1, m)
        return None             # its own expression, in stage two: not expanded with the diagram form

    def _stage_two(self, activation, symbol: sp.Symbol):
        name = symbol.name
        if name.startswith(self.placeholder_prefix):
            head, _, labels = name.partition("_")
            n, m = (int(t) for t in head[len(self.placeholder_prefix):].split("x"))
            a, b = labels
            return self.covariance(activation, n, m, cumulant_symbol(a), cumulant_symbol(b), cumulant_symbol(a + a),
                                   cumulant_symbol(b + b), cumulant_symbol(a + b))
        parsed = parse_vertex_symbol(symbol)
        if parsed is not None:
            label, power, derivative = parsed
            return self.single_vertex(activation, power, derivative, cumulant_symbol(label),
                                      cumulant_symbol(label + label))
        joint = parse_joint_vertex_symbol(symbol)
        if joint is not None:
            return self.joint_moment(activation, *joint)
        return None

    def single_vertex(self, activation, power: int, n: int, mu, v) -> sp.Expr:
        r""":math:`g^{(n)}_p(\mu, v)`: :meth:`mean_derivative` for p = 1, :meth:`power_moment` above."""
        if power < 1 or n < 0:
            raise ValueError(f"{self.name} vertex needs p >= 1, n >= 0, got p={power}, n={n}")
        if power == 1:
            return self.mean_derivative(activation, n, mu, v)
        return self.power_moment(activation, power, n, mu, v)

    def substitute_vertices(self, activation, expression):
        """Replace every vertex symbol of ``expression`` (two stages, see the module docstring)."""
        stage_one = {}
        for symbol in expression.free_symbols:
            single = parse_vertex_symbol(symbol)
            if single is not None:
                value = self._stage_one_single(*single)
                if value is not None:
                    stage_one[symbol] = value
                continue
            joint = parse_joint_vertex_symbol(symbol)
            if joint is not None:
                value = self._stage_one_joint(activation, *joint)
                if value is not None:
                    stage_one[symbol] = value
        expression = sp.expand(expression.xreplace(stage_one)) if stage_one else expression
        stage_two = {}
        for symbol in expression.free_symbols:
            value = self._stage_two(activation, symbol)
            if value is not None:
                stage_two[symbol] = value
        return expression.xreplace(stage_two)


# ---------------------------------------------------------------------------
# named Gaussian functions: a closed form, printed as a call to a runtime routine
# ---------------------------------------------------------------------------

def gaussian_function(class_name: str, closed_form, runtime: str, latex: str, nargs: int,
                      runtime_arguments=None, docstring: str = ""):
    r"""A SymPy function class equal to ``closed_form(*args)``.

    ``closed_form`` maps the ``nargs`` arguments to a SymPy expression; the class differentiates
    through it (so mean-derivatives of any order are closed forms), evaluates numerically through
    it (``evalf``, mpmath), and prints in kernels as ``_support.<runtime>(*runtime_arguments(args))``
    (default: the arguments themselves), a routine that handles the limits the closed form does not
    (zero variance, :math:`|\rho| = 1`). ``latex`` is the function's LaTeX name, e.g.
    ``C_{\mathrm{relu}}``.
    """

    def fdiff(self, argindex=1):
        if not 1 <= argindex <= nargs:
            raise sp.ArgumentIndexError(self, argindex)
        return sp.diff(self.closed_form(), self.args[argindex - 1])

    def closed_form_of(self):
        """The function's closed form (what it equals)."""
        return closed_form(*self.args)

    def evalf_(self, prec):
        values = [arg.evalf(prec) for arg in self.args]
        if not all(v.is_Number for v in values):
            return None
        return closed_form(*values).evalf(prec)

    def pythoncode(self, printer, **kwargs):
        arguments = self.args if runtime_arguments is None else runtime_arguments(*self.args)
        return _print_call(printer, f"_support.{runtime}", arguments)

    def latex_(self, printer, exp=None):
        body = r"%s\left(%s\right)" % (latex, ", ".join(printer._print(a) for a in self.args))
        return body if exp is None else r"%s^{%s}" % (body, exp)

    namespace = {"nargs": nargs, "fdiff": fdiff, "closed_form": closed_form_of, "_eval_evalf": evalf_,
                 "_pythoncode": pythoncode, "_numpycode": pythoncode, "_scipycode": pythoncode,
                 "_latex": latex_, "runtime": runtime,
                 "__doc__": docstring or f"``{class_name}``: a closed form printed as ``_support.{runtime}``.",
                 "__module__": __name__}
    return type(class_name, (sp.Function,), namespace)
