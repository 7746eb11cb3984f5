r"""The diagrams behind each derived formula: listing and drawing (MATH.md section 4).

MATH.md section 4 writes a moment of the output as

.. math::

    E\Big[\prod_a \phi(z_a)^{p_a}\Big] = e^{D} \prod_a g_{p_a}(\mu_a, \Sigma_{aa}),
    \qquad
    D = \sum_M \kappa_M \prod_a \frac{\partial_{\mu_a}^{m_a}}{m_a!},

and the output cumulant follows by the Moebius formula over its slots
(MATH.md section 2). :meth:`symcorr.derivation.engine.Derivation.diagram_form` keeps
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
at closure 2; MATH.md section 6) resums the block's whole Gaussian part: its vertex is the joint
function

.. math:: G^{(n,m)}_{pq,ab} = \partial^n_{\mu_a}\partial^m_{\mu_b}
    E_{(z_a, z_b)\sim N(\mu, \Sigma)}[\phi(z_a)^p \phi(z_b)^q]

(symbol ``G{p}x{q}d{n}x{m}_ab``; three or four neurons: ``G1x1x1d0x0x0_ijk``),
listed as one part per neuron, each naming the others as ``partner``; the
block's covariances sit inside it, so only cumulants of order >= 3 are
hyperedges, and the term without any is the ``'reference'`` diagram. The **contribution** of a diagram is
its term with the vertex functions evaluated (MATH.md section 5 for
polynomials); the contributions add up to :meth:`Derivation.formula`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from symcorr.derivation.activations import Activation
from symcorr.notation.symbols import Z
from symcorr.notation.symbols import cumulant_symbol, symbol_labels
from symcorr.derivation.algebra import gaussian_moment
from symcorr.notation.symbols import joint_vertex_symbol, parse_joint_vertex_symbol, parse_vertex_symbol, vertex_symbol
from symcorr.notation.partitions import normalize_pattern


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
        if self.joint is not None:
            return joint_vertex_latex(*self.joint)
        return vertex_latex(self.neuron, self.power, self.derivative)

    def describe(self) -> str:
        slots = ", ".join(map(str, self.slots))
        where = f"output slot{'s' if len(self.slots) > 1 else ''} {slots} (phi^{self.power}), " \
                f"derivative order {self.derivative}"
        if self.joint is None:
            return f"vertex {self.symbol} at neuron {self.neuron}: {where}"
        inside = (f"Sigma_{''.join(sorted(self.joint[0]))}" if len(self.joint[0]) == 2 else
                  f"the covariances of {', '.join(self.joint[0])}")
        return (f"joint vertex {self.symbol} at neuron {self.neuron} (with {', '.join(self.partner)}; "
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
        return sp.latex(self.symbol)

    def legs(self) -> dict[str, int]:
        """Number of legs at each neuron of one copy: ``'iij'`` -> ``{'i': 2, 'j': 1}``."""
        return {a: self.labels.count(a) for a in sorted(set(self.labels))}

    def describe(self) -> str:
        legs = self.legs()
        where = ", ".join(f"{n} leg{'s' if n > 1 else ''} at {a}" for a, n in legs.items())
        copies = f"^{self.multiplicity} ({self.multiplicity} parallel copies)" if self.multiplicity > 1 else ""
        if len(self.labels) == 2 and len(legs) == 2:
            return f"{self.symbol}{copies}: edge {self.labels[0]}-{self.labels[1]}"
        return f"{self.symbol}{copies}: hyperedge with {where}"


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
        return sp.factor(self.contribution)

    @property
    def latex(self) -> str:
        """The term in LaTeX, vertex functions written :math:`g^{(n)}_{p,a}`."""
        return term_latex(self.term)

    def describe(self) -> str:
        """Several lines of text: term, coefficient, hyperedges, vertices, contribution."""
        lines = [f"[{self.index}] {self.term}   ({self.kind}, {self.order} cumulant factor"
                 f"{'' if self.order == 1 else 's'})"]
        lines.append(f"    coefficient: {self.coefficient}")
        if self.edges:
            for edge in self.edges:
                lines.append(f"    cumulant {edge.describe()}")
        else:
            reference = "joint" if any(v.joint for v in self.vertices) else "independent"
            lines.append(f"    cumulants: none ({reference}-Gaussian reference term)")
        for v in self.vertices:
            lines.append(f"    {v.describe()}")
        if self.contribution is not None:
            contribution = str(self.shown_contribution)
            if len(contribution) > _LONGEST_PRINTED:
                contribution = (f"{contribution[:_LONGEST_PRINTED]} ... ({len(contribution)} characters; "
                                "the whole term: Diagram.contribution)")
            lines.append(f"    contributes: {contribution}")
        return "\n".join(lines)


#: Longest contribution :meth:`Diagram.describe` prints in full (erf's joint vertices
#: with derivatives are pages long).
_LONGEST_PRINTED = 600


def vertex_latex(neuron: str, power: int, derivative: int) -> str:
    r"""``g^{(n)}_{p,a}``: the LaTeX name of the vertex function ``g{p}d{n}_a``."""
    return f"g^{{({derivative})}}_{{{power},{neuron}}}"


def joint_vertex_latex(labels: str, powers: tuple[int, ...], derivatives: tuple[int, ...]) -> str:
    r"""``G^{(n,m)}_{pq,ab}``: the LaTeX name of the joint vertex function ``G{p}x{q}d{n}x{m}_ab``."""
    return f"G^{{({','.join(map(str, derivatives))})}}_{{{''.join(map(str, powers))},{labels}}}"


def vertex_symbol_names(expression: sp.Expr) -> dict[sp.Symbol, str]:
    """``symbol_names`` for :func:`sympy.latex` that print vertex symbols as :func:`vertex_latex`
    (joint ones as :func:`joint_vertex_latex`)."""
    names = {}
    for symbol in expression.free_symbols:
        parsed = parse_vertex_symbol(symbol)
        if parsed is not None:
            names[symbol] = vertex_latex(*parsed)
        joint = parse_joint_vertex_symbol(symbol)
        if joint is not None:
            names[symbol] = joint_vertex_latex(*joint)
    return names


def term_latex(expression: sp.Expr) -> str:
    """LaTeX of an expression with vertex symbols printed as :math:`g^{(n)}_{p,a}`."""
    return sp.latex(expression, symbol_names=vertex_symbol_names(expression))


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


def diagram_terms(derivation, pattern: str) -> list[Diagram]:
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


# ---------------------------------------------------------------------------
# drawing
# ---------------------------------------------------------------------------

def _leg_assignment(diagram: Diagram):
    """Attach every leg of every hyperedge copy to a vertex of its neuron (greedy, valid)."""
    capacity = [v.derivative for v in diagram.vertices]
    copies = []
    for edge in diagram.edges:
        for copy in range(edge.multiplicity):
            attached = []
            for neuron, legs in edge.legs().items():
                for _ in range(legs):
                    candidates = [t for t, v in enumerate(diagram.vertices) if v.neuron == neuron]
                    # prefer a vertex this copy already uses, then any with capacity left
                    preferred = [t for t in candidates if t in attached and capacity[t] > 0]
                    free = [t for t in candidates if capacity[t] > 0]
                    target = (preferred or free or candidates or [None])[0]
                    if target is not None and capacity[target] > 0:
                        capacity[target] -= 1
                    attached.append(target)
            copies.append((edge, copy, attached))
    return copies


def _bezier(ax, start, control, end, **style):
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    path = Path([start, control, end], [Path.MOVETO, Path.CURVE3, Path.CURVE3])
    ax.add_patch(PathPatch(path, fill=False, **style))


def _draw_panel(ax, diagram: Diagram, caption: bool = True):
    from matplotlib.patches import Circle, Rectangle

    spacing = 2.0
    count = len(diagram.vertices)
    xs = [spacing * (t - (count - 1) / 2) for t in range(count)]
    radius = 0.32
    edge_color, leg_color = "#1f4e9c", "#b03a2e"
    lowest = -0.6

    # hyperedges below the vertices; hyperedge nodes on the same vertices share a level, side by side
    copies = _leg_assignment(diagram)
    node_groups = {}
    for number, (edge, copy, attached) in enumerate(copies):
        targets = tuple(sorted(set(t for t in attached if t is not None)))
        if not (len(attached) == 2 and len(targets) == 2):
            node_groups.setdefault(targets, []).append(number)
    node_place = {}
    for level, members in enumerate(node_groups.values()):
        for rank, number in enumerate(members):
            node_place[number] = (level, (rank - (len(members) - 1) / 2) * 1.3)
    pair_count = {}
    for number, (edge, copy, attached) in enumerate(copies):
        label = f"${edge.latex}$"
        targets = [t for t in attached if t is not None]
        distinct = sorted(set(targets))
        if len(targets) == 2 and len(distinct) == 2:
            a, b = distinct
            pair = (a, b)
            k = pair_count.get(pair, 0)
            pair_count[pair] = k + 1
            depth = 0.9 + 0.7 * k
            (xa, xb) = xs[a], xs[b]
            start, end = (xa, -radius * 0.9), (xb, -radius * 0.9)
            control = ((xa + xb) / 2, -radius - 2 * depth)
            _bezier(ax, start, control, end, color=edge_color, lw=2.0)
            mid_y = -radius - depth
            ax.text((xa + xb) / 2, mid_y - 0.12, label, ha="center", va="top", fontsize=11, color=edge_color)
            lowest = min(lowest, mid_y - 0.75)
            continue
        # a hyperedge node with one leg per neuron occurrence
        level, shift = node_place[number]
        y_node = -1.5 - 1.1 * level
        x_node = (sum(xs[t] for t in targets) / len(targets) if targets else 0.0) + shift
        ax.add_patch(Circle((x_node, y_node), 0.11, color=edge_color, zorder=3))
        per_vertex = {}
        for t in targets:
            per_vertex[t] = per_vertex.get(t, 0) + 1
        for t, legs in per_vertex.items():
            for leg in range(legs):
                bend = (leg - (legs - 1) / 2) * 0.9
                start = (x_node, y_node)
                end = (xs[t], -radius)
                control = ((start[0] + end[0]) / 2 + bend, (start[1] + end[1]) / 2)
                _bezier(ax, start, control, end, color=edge_color, lw=2.0)
        ax.text(x_node + 0.22, y_node - 0.05, label, ha="left", va="center", fontsize=11, color=edge_color)
        lowest = min(lowest, y_node - 0.5)

    # the parts of a joint vertex: a band through them (their Gaussian, resummed)
    for joint in dict.fromkeys(v.joint for v in diagram.vertices if v.joint is not None):
        members = [t for t, v in enumerate(diagram.vertices) if v.joint == joint]
        first, last = min(xs[t] for t in members), max(xs[t] for t in members)
        ax.plot([first, last], [0, 0], color="#888888", lw=7, alpha=0.45, solid_capstyle="round", zorder=1)
        ax.text((first + last) / 2, -0.12, f"${joint_vertex_latex(*joint)}$", ha="center", va="top",
                fontsize=9, color="#555555")

    # vertices and their output slots
    for t, vertex in enumerate(diagram.vertices):
        x = xs[t]
        ax.add_patch(Circle((x, 0), radius, facecolor="white", edgecolor="black", lw=1.6, zorder=4))
        ax.text(x, 0, f"${vertex.neuron}$", ha="center", va="center", fontsize=14, zorder=5)
        if vertex.joint is None:
            ax.text(x + radius + 0.08, 0.22, f"${vertex.latex}$", ha="left", va="bottom", fontsize=10)
        slots = vertex.slots
        for s, slot in enumerate(slots):
            sx = x + (s - (len(slots) - 1) / 2) * 0.7
            ax.plot([x, sx], [radius, 1.25], color=leg_color, lw=1.4, zorder=2)
            ax.add_patch(Rectangle((sx - 0.22, 1.25), 0.44, 0.44, facecolor="#fbeee6", edgecolor=leg_color,
                                   lw=1.4, zorder=3))
            ax.text(sx, 1.47, f"{slot}", ha="center", va="center", fontsize=10, color=leg_color, zorder=4)

    half_width = max(spacing * (count - 1) / 2, 0) + 1.6
    ax.set_xlim(-half_width, half_width)
    ax.set_ylim(lowest - 0.7, 2.0)
    ax.set_aspect("equal")
    ax.axis("off")
    if caption:
        kind = "" if diagram.kind == "connected" else f"  ({diagram.kind})"
        ax.set_title(f"[{diagram.index}]  ${diagram_caption_latex(diagram)}$" + kind, fontsize=12)
        if diagram.contribution is not None:
            text = sp.latex(diagram.shown_contribution)
            if len(text) < 90:
                ax.text(0, lowest + 0.05, f"$= {text}$", ha="center", va="top", fontsize=10, color="#333333")


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
        parts.append(str(coefficient) if coefficient.is_Rational else sp.latex(coefficient))
    for edge in diagram.edges:
        parts.append(edge.latex + (f"^{{{edge.multiplicity}}}" if edge.multiplicity > 1 else ""))
    for v in diagram.vertices:
        if v.latex not in parts:          # the two halves of a joint vertex: one factor
            parts.append(v.latex)
    return sign + r"\,".join(parts)


def draw_diagrams(diagrams: list[Diagram], paths, title: str | None = None, columns: int | None = None):
    """Draw ``diagrams`` (one panel each) and save the figure to every path in ``paths``.

    The format follows each suffix (``.png``, ``.svg``, ``.pdf``). Vertices are
    circles (neuron label, vertex function :math:`g^{(n)}_{p,a}`) with their
    output slots as numbered squares above; cumulants are drawn below: an
    edge for :math:`\\Sigma_{ab}`, a dot with one leg per index for the
    others. Needs matplotlib (``pip install symcorr[figures]``). Returns the
    list of written paths.
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("drawing diagrams needs matplotlib: pip install 'symcorr[figures]'") from None
    from pathlib import Path

    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not diagrams:
        raise ValueError("no diagrams to draw")
    count = len(diagrams)
    columns = columns or min(count, 3)
    rows = -(-count // columns)
    widest = max(len(d.vertices) for d in diagrams)
    panel_width = 1.6 + 1.3 * widest
    with plt.rc_context({"svg.hashsalt": "symcorr", "font.size": 10}):
        figure, axes = plt.subplots(rows, columns, figsize=(panel_width * columns, 3.9 * rows), squeeze=False)
        for ax in axes.flat[count:]:
            ax.axis("off")
        for ax, diagram in zip(axes.flat, diagrams):
            _draw_panel(ax, diagram)
        if title:
            figure.suptitle(title, fontsize=13)
        legend = ("circles: vertices (neuron, vertex function $g^{(n)}_{p,a}$ = "
                  r"$\partial^n_\mu E[\phi^p]$); squares: output slots; blue: input cumulants")
        if any(v.joint for d in diagrams for v in d.vertices):
            legend += r"; grey band: joint vertex $G^{(n,m)}_{pq,ab}$ (the pair's Gaussian resummed)"
        figure.text(0.5, 0.005, legend, ha="center", va="bottom", fontsize=9, color="#444444")
        figure.tight_layout(rect=(0, 0.03, 1, 0.95 if title else 1))
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            metadata = {"Date": None} if path.suffix.lower() in (".svg", ".pdf") else {}
            figure.savefig(path, dpi=150, metadata=metadata or None)
        plt.close(figure)
    return paths


__all__ = ["Vertex", "Edge", "Diagram", "diagram_terms", "draw_diagrams", "evaluate_vertices",
           "vertex_latex", "term_latex", "vertex_symbol_names", "diagram_caption_latex"]
