r"""Pictures of a formula's diagrams (:mod:`symcorr.theory.diagrams`, docs/theory.md section 4), drawn with
matplotlib (:func:`draw_diagrams`, :func:`draw_terms`; ``symcorr terms --draw``).

Labels are LaTeX from :mod:`symcorr.theory.printers`, set by matplotlib's mathtext;
matplotlib is imported only when drawing.
"""
from __future__ import annotations

from pathlib import Path

from symcorr.notation.partitions import normalize_pattern
from symcorr.notation.symbols import joint_vertex_symbol
from symcorr.theory.diagrams import Diagram, diagram_caption_latex, terms
from symcorr.theory.printers import closure_equation, expression_latex
from symcorr.theory.render import output_latex, pattern_title


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
    from matplotlib.path import Path as CurvePath

    path = CurvePath([start, control, end], [CurvePath.MOVETO, CurvePath.CURVE3, CurvePath.CURVE3])
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
        ax.text((first + last) / 2, -0.12, f"${expression_latex(joint_vertex_symbol(*joint))}$", ha="center", va="top",
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
            text = expression_latex(diagram.shown_contribution)
            if len(text) < 90:
                ax.text(0, lowest + 0.05, f"$= {text}$", ha="center", va="top", fontsize=10, color="#333333")


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


def draw_terms(derivation, pattern: str, paths, diagrams: list[Diagram] | None = None):
    """Draw ``pattern``'s diagrams to ``paths`` (PNG/SVG/PDF by suffix); see :func:`draw_diagrams`."""
    pattern = normalize_pattern(pattern)
    diagrams = terms(derivation, pattern) if diagrams is None else diagrams
    title = (f"{derivation.activation.name}: {pattern_title(pattern).lower()} ${output_latex(pattern)}$ "
             f"(pattern {pattern}, ${expression_latex(closure_equation(derivation.closure))}$) = sum of "
             f"{len(diagrams)} diagrams")
    return draw_diagrams(diagrams, paths, title=title)


__all__ = ["draw_diagrams", "draw_terms"]
