r"""The diagrams behind each derived formula (docs/theory.md section 4); pictures of them: :mod:`symcorr.theory.drawing`.

docs/theory.md section 4 writes a moment of the output as

.. math::

    E\Big[\prod_a \phi(z_a)^{p_a}\Big] = e^{D} \prod_a g_{p_a}(\mu_a, \Sigma_{aa}),
    \qquad
    D = \sum_M \kappa_M \prod_a \frac{\partial_{\mu_a}^{m_a}}{m_a!},

and the output cumulant follows by the Moebius formula over its slots
(docs/theory.md section 2). :meth:`symcorr.derivation.engine.Derivation.diagram_form` keeps
the vertex functions

.. math:: g^{(n)}_{p,a} = \partial^n_{\mu} E_{z\sim N(\mu_a, \Sigma_{aa})}[\phi(z)^p]

as symbols ``g{p}d{n}_a``, so every monomial of it is one **diagram**:

* its **vertices** are the vertex-function factors: neuron :math:`a`, carrying
  :math:`p` output slots (the slots of the pattern that sit on :math:`a`) and
  :math:`n` cumulant legs (the derivative order);
* its **hyperedges** are the input-cumulant factors :math:`\kappa_M`
  (:math:`\Sigma_{ab}` for :math:`a \ne b` is an ordinary edge), each leg
  attached to a vertex of a neuron in :math:`M`; a power
  :math:`\kappa_M^{r}` is :math:`r` parallel copies;
* its **coefficient** is :math:`\prod_M 1/(r_M! \prod_a m_a!^{r_M})` times the
  Moebius weight, e.g. :math:`1/2` for :math:`\Sigma_{ij}^2` (two parallel
  edges).

Several vertices on one neuron occur only in the Moebius subtraction of
products of lower moments (e.g. :math:`-g_{1,i}^2` in the variance); these
are listed with ``kind = 'subtraction'``.

A derivation with the **joint** reference (erf: output orders 1..2, and 3..4
at closure 2; docs/theory.md section 6) resums the block's whole Gaussian part: its vertex is the joint
function

.. math:: G^{(n,m)}_{pq,ab} = \partial^n_{\mu_a}\partial^m_{\mu_b}
    E_{(z_a, z_b)\sim N(\mu, \Sigma)}[\phi(z_a)^p \phi(z_b)^q]

(symbol ``G{p}x{q}d{n}x{m}_ab``; three or four neurons: ``G1x1x1d0x0x0_ijk``),
listed as one part per neuron, each naming the others as ``partner``; the
block's covariances sit inside it, so only cumulants of order >= 3 are
hyperedges, and the term without any is the ``'reference'`` diagram. The **contribution** of a diagram is
its term with the vertex functions evaluated (docs/theory.md section 5 for
polynomials); the contributions add up to :meth:`~symcorr.derivation.engine.Derivation.formula`.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symcorr.derivation.activations import Activation
from symcorr.derivation import algebra
from symcorr.notation.partitions import normalize_pattern
from symcorr.notation.symbols import (
    cumulant_symbol,
    joint_vertex_symbol,
    parse_joint_vertex_symbol,
    parse_vertex_symbol,
    symbol_labels,
    vertex_symbol,
)
from symcorr.theory.printers import expression_latex, expression_text


@dataclass(frozen=True)
class Vertex:
    r"""A vertex :math:`g^{(n)}_{p,a}`: neuron ``neuron``, ``power`` = p output slots
    (``slots``, numbered from 1 in the pattern), ``derivative`` = n cumulant legs.

    ``joint`` (``(labels, powers, derivatives)`` of a joint vertex
    :math:`G^{(n,m)}_{pq,ab}`, else ``None``) marks one part of a joint vertex;
    ``partner`` is then the other neuron(s)."""

    neuron: str
    power: int
    derivative: int
    slots: tuple[int, ...]
    joint: tuple | None = None

    @property
    def partner(self) -> str | None:
        return None if self.joint is None else self.joint[0].replace(self.neuron, "", 1)

    @property
    def symbol(self) -> sp.Symbol:
        if self.joint is not None:
            return joint_vertex_symbol(*self.joint)
        return vertex_symbol(self.neuron, self.power, self.derivative)

    @property
    def latex(self) -> str:
        r"""``g^{(n)}_{p,a}``, or ``G^{(n,m)}_{pq,ab}`` for a joint vertex."""
        return expression_latex(self.symbol)

    def describe(self) -> str:
        slots = ", ".join(map(str, self.slots))
        where = f"output slot{'s' if len(self.slots) > 1 else ''} {slots} (phi^{self.power}), " \
                f"derivative order {self.derivative}"
        name = expression_text(self.symbol)
        if self.joint is None:
            return f"vertex {name} at neuron {self.neuron}: {where}"
        inside = (expression_text(cumulant_symbol(self.joint[0])) if len(self.joint[0]) == 2 else
                  f"the covariances of {', '.join(self.joint[0])}")
        return (f"joint vertex {name} at neuron {self.neuron} (with {', '.join(self.partner)}; "
                f"{inside} resummed inside): {where}")


@dataclass(frozen=True)
class Edge:
    r"""A hyperedge: the input cumulant over neurons ``labels`` (e.g. ``'iij'``),
    ``multiplicity`` parallel copies (its power in the term)."""

    labels: str
    multiplicity: int

    @property
    def symbol(self) -> sp.Symbol:
        return cumulant_symbol(self.labels)

    @property
    def latex(self) -> str:
        return expression_latex(self.symbol)

    def legs(self) -> dict[str, int]:
        """Number of legs at each neuron of one copy: ``'iij'`` -> ``{'i': 2, 'j': 1}``."""
        return {a: self.labels.count(a) for a in sorted(set(self.labels))}

    def describe(self) -> str:
        legs = self.legs()
        where = ", ".join(f"{n} leg{'s' if n > 1 else ''} at {a}" for a, n in legs.items())
        copies = f"^{self.multiplicity} ({self.multiplicity} parallel copies)" if self.multiplicity > 1 else ""
        name = expression_text(self.symbol)
        if len(self.labels) == 2 and len(legs) == 2:
            return f"{name}{copies}: edge {self.labels[0]}-{self.labels[1]}"
        return f"{name}{copies}: hyperedge with {where}"


@dataclass(frozen=True)
class Diagram:
    """One term of a formula's diagram expansion (see the module docstring)."""

    index: int
    pattern: str
    coefficient: sp.Expr
    edges: tuple[Edge, ...]
    vertices: tuple[Vertex, ...]
    term: sp.Expr
    contribution: sp.Expr | None
    kind: str

    @property
    def order(self) -> int:
        """Number of perturbation factors (the series order of the term)."""
        return sum(e.multiplicity for e in self.edges)

    @property
    def shown_contribution(self) -> sp.Expr | None:
        """The contribution as printed: factored when it is a polynomial (factoring erf's
        Owen's-T and Gaussian-exponential forms only makes them longer)."""
        if self.contribution is None or self.contribution == 0 or not self.contribution.is_polynomial():
            return self.contribution
        return algebra.factor(self.contribution)

    @property
    def latex(self) -> str:
        """The term in LaTeX, vertex functions written :math:`g^{(n)}_{p,a}`."""
        return expression_latex(self.term)

    def describe(self) -> str:
        """Several lines of text: term, coefficient, hyperedges, vertices, contribution."""
        lines = [f"[{self.index}] {expression_text(self.term)}   ({self.kind}, {self.order} cumulant factor"
                 f"{'' if self.order == 1 else 's'})"]
        lines.append(f"    coefficient: {expression_text(self.coefficient)}")
        if self.edges:
            for edge in self.edges:
                lines.append(f"    cumulant {edge.describe()}")
        else:
            reference = "joint" if any(v.joint for v in self.vertices) else "independent"
            lines.append(f"    cumulants: none ({reference}-Gaussian reference term)")
        for v in self.vertices:
            lines.append(f"    {v.describe()}")
        if self.contribution is not None:
            contribution = expression_text(self.shown_contribution)
            if len(contribution) > _LONGEST_PRINTED:
                contribution = (f"{contribution[:_LONGEST_PRINTED]} ... ({len(contribution)} characters; "
                                "the whole term: Diagram.contribution)")
            lines.append(f"    contributes: {contribution}")
        return "\n".join(lines)


#: Longest contribution :meth:`Diagram.describe` prints in full (erf's joint vertices
#: with derivatives are pages long).
_LONGEST_PRINTED = 600


# ---------------------------------------------------------------------------
# vertex functions
# ---------------------------------------------------------------------------

def evaluate_vertices(activation: Activation, expression: sp.Expr) -> sp.Expr:
    """``expression`` with every vertex symbol replaced by its vertex function (the activation's family)."""
    return activation.family.substitute_vertices(activation, expression)


# ---------------------------------------------------------------------------
# diagrams from the diagram form
# ---------------------------------------------------------------------------

def _classify(symbol: sp.Symbol):
    if parse_vertex_symbol(symbol) is not None:
        return "vertex"
    if parse_joint_vertex_symbol(symbol) is not None:
        return "joint vertex"
    try:
        symbol_labels(symbol)
    except ValueError:
        return "other"
    return "cumulant"


def _kind(vertices: tuple[Vertex, ...], edges: tuple[Edge, ...]) -> str:
    neurons = [v.neuron for v in vertices]
    if len(set(neurons)) < len(neurons):
        return "subtraction"
    # union-find over neurons joined by hyperedges (and by joint vertices)
    parent = {a: a for a in neurons}

    def root(a):
        while parent[a] != a:
            a = parent[a]
        return a

    links = [sorted(set(edge.labels)) for edge in edges] + [sorted(v.joint[0]) for v in vertices if v.joint]
    for first, *rest in links:
        for a in rest:
            parent[root(a)] = root(first)
    joined = len({root(a) for a in neurons}) == 1
    if not edges:
        return "reference" if joined else "disconnected"
    return "connected" if joined else "disconnected"


def _parse_term(pattern: str, term: sp.Expr):
    coefficient, factors = term.as_coeff_mul()
    coefficient = sp.Integer(1) * coefficient
    vertex_keys, edges = [], []
    for factor in factors:
        base, exponent = factor.as_base_exp()
        kind = _classify(base) if isinstance(base, sp.Symbol) else "other"
        if kind != "other" and not (exponent.is_Integer and exponent > 0):
            kind = "other"
        if kind == "vertex":
            vertex_keys.extend([(*parse_vertex_symbol(base), None)] * int(exponent))
        elif kind == "joint vertex":
            joint = parse_joint_vertex_symbol(base)
            vertex_keys.extend([(a, p, n, joint) for a, p, n in zip(*joint)] * int(exponent))
        elif kind == "cumulant":
            edges.append(Edge(symbol_labels(base), int(exponent)))
        else:
            coefficient = coefficient * factor
    # assign the pattern's slots to the vertices of each neuron, larger powers first
    free_slots = {}
    for slot, neuron in enumerate(pattern, start=1):
        free_slots.setdefault(neuron, []).append(slot)
    vertices = []
    for neuron, power, derivative, joint in sorted(vertex_keys, key=lambda k: (k[0], -k[1], -k[2])):
        slots = free_slots.get(neuron, [])
        vertices.append(Vertex(neuron, power, derivative, tuple(slots[:power]), joint))
        free_slots[neuron] = slots[power:]
    edges.sort(key=lambda e: (len(e.labels), e.labels))
    return coefficient, tuple(edges), tuple(vertices)


def terms(derivation, pattern: str) -> list[Diagram]:
    """The terms of ``derivation.formula(pattern)`` grouped by diagram (see the module docstring).

    Sorted by number of cumulant factors, then by the cumulants and vertices.
    Each diagram's ``contribution`` (vertex functions evaluated) is ``None``
    when the activation's vertex functions are not available.
    """
    pattern = normalize_pattern(pattern)
    form = sp.expand(derivation.diagram_form(pattern))
    parsed = []
    for term in sp.Add.make_args(form):
        if term == 0:
            continue
        coefficient, edges, vertices = _parse_term(pattern, term)
        parsed.append((term, coefficient, edges, vertices))

    def key(item):
        term, coefficient, edges, vertices = item
        return (sum(e.multiplicity for e in edges), [(len(e.labels), e.labels, e.multiplicity) for e in edges],
                [(v.neuron, -v.power, v.derivative) for v in vertices], sp.default_sort_key(term))

    parsed.sort(key=key)
    out = []
    for index, (term, coefficient, edges, vertices) in enumerate(parsed, start=1):
        contribution = evaluate_vertices(derivation.activation, term)
        out.append(Diagram(index, pattern, coefficient, edges, vertices, term, contribution,
                           _kind(vertices, edges)))
    return out


def diagram_caption_latex(diagram: Diagram) -> str:
    r"""Coefficient, cumulants, vertices: ``\frac{1}{2}\,\Sigma_{ij}^{2}\,g^{(2)}_{1,i}\,g^{(2)}_{1,j}``
    written inline (``1/2``) so that it stays legible in a figure."""
    coefficient = diagram.coefficient
    parts = []
    if coefficient == -1:
        sign, coefficient = "-", sp.Integer(1)
    elif coefficient.is_Number and coefficient < 0:
        sign, coefficient = "-", -coefficient
    else:
        sign = ""
    if coefficient != 1:
        # a number inline (1/2, legible in a figure); anything else as SymPy prints it
        parts.append(expression_latex(coefficient, inline_fractions=coefficient.is_Rational))
    for edge in diagram.edges:
        parts.append(expression_latex(edge.symbol ** edge.multiplicity))
    # one factor per vertex, a repeated one as a power; a joint vertex is listed once per neuron it
    # joins, those parts together one factor
    listed, size = {}, {}
    for v in diagram.vertices:
        listed[v.symbol] = listed.get(v.symbol, 0) + 1
        size[v.symbol] = 1 if v.joint is None else len(v.joint[0])
    for symbol, count in listed.items():
        parts.append(expression_latex(symbol ** (count // size[symbol])))
    return sign + r"\,".join(parts)


__all__ = ["Vertex", "Edge", "Diagram", "terms", "evaluate_vertices",
           "diagram_caption_latex"]
