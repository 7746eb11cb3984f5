r"""An activation :math:`\phi` and the interface its family answers (docs/theory.md sections 4 and 9).

An :class:`Activation` is a SymPy expression :math:`\phi(z)` in the symbol
:data:`~symcorr.notation.symbols.Z` (with parameter symbols such as
:math:`\alpha` free), the numbers of those parameters, a ``name`` that keys
its kernels (every activation of one name shares one derivation; the
parameters become runtime arguments of the kernel) and its ``family``.

An :class:`ActivationFamily` answers every question whose answer depends on
what kind of function :math:`\phi` is: its vertex functions
:math:`g^{(n)}_p(\mu, v) = \partial^n_\mu E_{N(\mu, v)}[\phi^p]`, whether the
expansion terminates, which Gaussian references it resums, its default series
order, its truncation warning and its exactness rule. The engine, the
printer, the loader, :func:`~symcorr.numeric.pointwise.pointwise` and the
theory tools ask the family; nothing else switches on the kind of activation.
The families live in :mod:`symcorr.derivation.families`, one module each.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from symcorr.notation.symbols import Z


class ActivationFamily:
    r"""What one kind of activation answers (docs/theory.md sections 4-6 and 9).

    Subclasses set :attr:`name`, :attr:`reference`, :attr:`non_gaussian_order`,
    :attr:`theory_sections` and implement the methods that raise
    :class:`NotImplementedError` here; the defaults describe an activation whose
    expansion does not terminate and which has no joint Gaussian references.
    """

    #: The family's name (``'polynomial'``, ``'erf'``, ...).
    name: str = ""
    #: The expansion's default reference: ``'independent'`` Gaussians per neuron, or ``'auto'``
    #: (the joint Gaussian of a block of neurons wherever :meth:`joint_supported`).
    reference: str = "independent"
    #: Default cap on the factors that are input cumulants of order >= 3 (``None``: no cap).
    non_gaussian_order: int | None = None
    #: The sections of docs/theory.md that derive the family's formulas.
    theory_sections: str = "docs/theory.md section 4"
    #: How accurate the family's vertex functions are: ``None`` for closed forms (accurate to rounding),
    #: otherwise the stated bound on the error of the numerically integrated ones, relative to the
    #: scale of the function (docs/theory.md section 11). Exactness reports say "numerical (tol ...)".
    numerical_tolerance: float | None = None
    #: Whether the formula sheets show the formulas in the vertex functions :math:`g^{(n)}_{p,a}`,
    #: :math:`G^{(n,m)}_{pq,ab}` (``Derivation.diagram_form``, the values at :math:`n = 0` written out once)
    #: instead of with every vertex function substituted. True unless the substituted formulas stay short:
    #: each mean-derivative of a closed form (GELU's, say) is a longer closed form, and substituting them gave
    #: GELU's closure-4 section 2.7 MB of LaTeX that no one could check by hand.
    sheet_in_vertex_functions: bool = True
    #: Whether the formulas, every vertex function substituted, are polynomials in the input cumulants and the
    #: parameters with rational coefficients, so that every coarser index pattern's formula is the all-distinct
    #: one with its neurons identified (docs/theory.md section 12.2). The factored terms are then derived from
    #: those formulas and need no diagonal corrections; otherwise from the diagram form, the vertex functions
    #: :math:`g^{(n)}_{p,a}` taken as per-neuron quantities, with a correction term on every coarser pattern.
    formulas_are_polynomials: bool = False
    #: Whether the formulas beyond the Gaussian covariance (closure >= 3, output orders >= 3) hold only for
    #: neurons of positive variance that are not copies of each other (:math:`|\rho| < 1`): the piecewise-linear
    #: family's joint vertex functions hold :math:`E[\delta(z_a)\delta(z_b)]`, infinite there.
    #: :func:`~symcorr.numeric.pointwise.pointwise` then takes a constant neuron and a copy out before the layer and
    #: puts them back after it, exactly (docs/theory.md section 11.3).
    needs_distinct_random_neurons: bool = False

    def derivative_bound(self, activation: "Activation", power: int) -> int | None:
        r"""Highest :math:`n` with :math:`g^{(n)}_p \ne 0` (``None``: unbounded, the series does not end)."""
        return None

    def default_series_order(self, activation: "Activation", order: int, closure: int) -> int | None:
        """The series order used when none is given (``None``: no truncation)."""
        return None

    def joint_supported(self, activation: "Activation", powers: tuple[int, ...], closure: int) -> bool:
        """Whether a block of neurons with these ``powers`` has a joint Gaussian vertex at ``closure``."""
        return False

    def formula(self, activation: "Activation", diagram_form, ring, vertex_keys, joint_keys) -> sp.Expr:
        r"""The formula: ``diagram_form`` (an element of ``ring``, polynomial in input cumulants and
        vertex symbols) with every vertex symbol replaced by its expression.

        ``vertex_keys`` are the ``(label, power, derivative)`` of the single-neuron vertices
        (:func:`~symcorr.notation.symbols.vertex_symbol`), ``joint_keys`` the ``(labels, powers,
        derivatives)`` of the joint ones (:func:`~symcorr.notation.symbols.joint_vertex_symbol`).
        By default :meth:`substitute_vertices` on the expression.
        """
        return self.substitute_vertices(activation, diagram_form.as_expr())

    def substitute_vertices(self, activation: "Activation", expression: sp.Expr) -> sp.Expr:
        r"""``expression`` with every vertex symbol replaced by its vertex function
        :math:`g^{(n)}_p(\mu_a, \Sigma_{aa})` (or joint vertex) as a SymPy expression."""
        raise NotImplementedError(f"the {self.name or type(self).__name__} family defines no vertex functions")

    def carried_closure(self, activation: "Activation", closure: int, nonzero) -> int:
        """The closure a kernel is evaluated at, given ``nonzero(n)``: whether the input cumulant of
        order ``n`` is non-zero. Families whose expansion terminates carry every order up to
        ``closure``; a series family drops identically zero orders (they would only add truncated
        terms that vanish)."""
        return closure

    def truncation_warning(self, activation: "Activation", order: int, closure: int, series_order: int | None,
                           cov, estimate: float | None = None) -> str | None:
        """A warning when the kernel's series truncation is not small for input covariance ``cov``
        (``estimate``: its :meth:`truncation_estimate`, when the caller has it already)."""
        return None

    def gaussian_truncation(self, activation: "Activation", order: int, closure: int,
                            series_order: int | None) -> str | None:
        """Why output cumulant ``order`` of an exactly Gaussian input, at ``closure`` (as carried) and
        ``series_order``, is approximate all the same -- a series truncated whatever the input -- as a status
        cause; ``None`` when it is exact (or numerical) there."""
        return None

    def truncation_estimate(self, activation: "Activation", order: int, closure: int, series_order: int | None,
                            cov) -> float | None:
        """The estimated relative size of the series truncation of output orders up to ``order`` for input
        covariance ``cov`` (``None``: nothing truncated, or no estimate)."""
        return None

    def input_orders_needed(self, activation: "Activation", order: int) -> int | None:
        """The highest input cumulant order an output cumulant of ``order`` depends on (``None``: all of
        them; such a family is exact only for Gaussian input)."""
        return None

    def default_closure(self, activation: "Activation", order: int) -> int | None:
        """The closure the command line uses when none is given: :meth:`input_orders_needed` (exact), or
        ``None`` when the family has no natural one (the command then asks for ``--closure``)."""
        return self.input_orders_needed(activation, order)

    def preserves_gaussianity(self, activation: "Activation") -> bool:
        """Whether a Gaussian stays Gaussian through the activation (affine activations only)."""
        return False

    def accuracy(self, derivation) -> str:
        """One sentence (Markdown and LaTeX alike) on what ``derivation``'s formulas neglect."""
        if derivation.series_order is None:
            return "Exact for the given input cumulants of orders $1..K$ (higher ones taken as zero)."
        if {p.reference for p in derivation.patterns.values()} == {"joint"}:
            return ("The Gaussian part is resummed in closed form (joint Gaussian vertices); the series order is "
                    "the number of non-Gaussian cumulant factors (orders $\\ge 3$) kept in $e^D$.")
        return "Truncated: the series order is the number of perturbation cumulant factors kept in $e^D$."

    def command_spec(self, activation: "Activation") -> str:
        """The ``-a`` argument of ``symcorr derive`` that names ``activation``."""
        return f"'{sp.sstr(activation.expression)}'"

    def __repr__(self) -> str:
        return f"<activation family {self.name}>"


@dataclass(frozen=True)
class Activation:
    r"""A pointwise nonlinearity :math:`\phi` (module docstring).

    ``name`` keys the kernels; ``expression`` is :math:`\phi(z)` with the
    parameter symbols free; ``parameters`` maps parameter names to numbers (in
    the order the kernels take them); ``family`` answers the family-specific
    questions (:class:`ActivationFamily`).
    """

    name: str
    expression: sp.Expr
    family: ActivationFamily
    parameters: tuple[tuple[str, float], ...] = ()
    _numeric: object = field(default=None, compare=False, repr=False, hash=False)

    @property
    def parameter_symbols(self) -> tuple[sp.Symbol, ...]:
        return tuple(sp.Symbol(name, real=True) for name, _ in self.parameters)

    @property
    def parameter_values(self) -> dict[str, float]:
        return dict(self.parameters)

    @property
    def numeric_expression(self) -> sp.Expr:
        r""":math:`\phi(z)` with the numeric parameters substituted."""
        return self.expression.xreplace(
            {sp.Symbol(n, real=True): sp.Float(v, 17) for n, v in self.parameters}
        )

    def __call__(self, x):
        r"""Evaluate :math:`\phi` elementwise on a NumPy array (float64)."""
        fn = self._numeric
        if fn is None:
            fn = sp.lambdify(Z, self.numeric_expression, modules=["scipy", "numpy"])
            object.__setattr__(self, "_numeric", fn)
        x = np.asarray(x, dtype=np.float64)
        return np.broadcast_to(fn(x), x.shape).astype(np.float64)

    def derivative_bound(self, power: int) -> int | None:
        r"""Highest mean-derivative of :math:`E[\phi(z)^p]` that can be non-zero (``None``: unbounded)."""
        return self.family.derivative_bound(self, power)

    def __str__(self) -> str:
        values = ", ".join(f"{n}={v:g}" for n, v in self.parameters)
        return f"{self.name}({values})" if values else self.name


def finite_parameter(name: str, value) -> float:
    """``value`` as a float, refused (naming ``name``) unless finite."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"activation parameter {name} must be a number, got {value!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"activation parameter {name} must be finite, got {value}")
    return value
