r"""The formula sheets: every shipped formula in one Markdown and one LaTeX document.

``python -m derivations`` writes them to ``symcorr/codegen/generated/formulas.md`` and
``formulas.tex`` (and ``--check`` compares them byte for byte), one section per
derivation with the docs/theory.md sections it follows and what it neglects
(:func:`symcorr.theory.render.accuracy_text`); every formula is laid out by
:mod:`symcorr.theory.render`.
"""
from __future__ import annotations

from dataclasses import dataclass

from sympy.printing.latex import latex_escape

from symcorr.theory.render import (
    VERTEX_FUNCTIONS_TEXT,
    align_block,
    broken_lines,
    derivation_summary,
    derivation_title,
    formula_pieces,
    markdown_section,
    output_latex,
    pattern_title,
    vertex_function_block,
    vertex_function_pieces,
)

#: The notation paragraph that opens both sheets (Markdown; LaTeX after ``_markdown_to_latex``).
NOTATION = (
    "Output cumulants of a pointwise layer $y_i = \\phi(z_i)$ in terms of the cumulants of its input $z$ "
    "(docs/theory.md section 1): mean $\\mu_i$, covariance $\\Sigma_{ij}$ ($\\Sigma_{ii}$ the variance), "
    "higher cumulants $\\kappa_{iij}, \\kappa_{iijj}, \\dots$. An output cumulant depends only on which of "
    "its slots share a neuron, its index pattern (docs/theory.md section 4): $\\mu_{y,i}$, $\\Sigma_{y,ii}$, "
    "$\\Sigma_{y,ij}$, $\\kappa_{y,iij}$, ... with $i, j, k, l$ distinct neurons. Every formula is derived "
    "by the cumulant expansion around independent Gaussians $N(\\mu_a, \\Sigma_{aa})$ (docs/theory.md section 4) "
    "and the Moebius formula over the output slots (docs/theory.md section 2); input cumulants above the closure "
    "order $K$ are taken as zero. For erf (docs/theory.md section 6) the Gaussian part is resummed instead: "
    "$C_{\\mathrm{erf}}(\\mu_a, \\mu_b, \\Sigma_{aa}, \\Sigma_{bb}, \\Sigma_{ab}) = "
    "\\mathrm{Cov}(\\operatorname{erf} z_a, \\operatorname{erf} z_b)$ (Owen's T) and "
    "$E_{\\mathrm{erf}}^{(p_a, p_b, \\dots)}(\\mu_a, \\mu_b, \\dots) = "
    "E[\\operatorname{erf}(z_a)^{p_a} \\operatorname{erf}(z_b)^{p_b} \\cdots]$ for $z$ Gaussian with the "
    "means and covariances of those neurons (evaluated numerically). The other closed-form families "
    "(docs/theory.md section 11) name theirs alike, e.g. $E_{\\mathrm{gelu}}(\\mu_a, \\Sigma_{aa}) = E[\\phi(z_a)]$ "
    "and $C_{\\mathrm{gelu}}(\\mu_a, \\mu_b, \\Sigma_{aa}, \\Sigma_{bb}, \\Sigma_{ab}) = "
    "\\mathrm{Cov}(\\phi(z_a), \\phi(z_b))$. The formulas of polynomials are written out in the input "
    "cumulants; those of every other family in its vertex functions (docs/theory.md section 4.3), whose "
    "values each section gives: written out, each mean-derivative of a closed form is a longer closed form "
    "(GELU's closure-4 formulas would take 2.7 MB of LaTeX). Regenerate with "
    "`python -m derivations`; list the terms of a formula by diagram with `symcorr terms`."
)


def printed_formulas(derivation) -> dict[str, list[str]]:
    """``derivation``'s formulas in LaTeX, pattern -> :func:`~symcorr.theory.render.formula_pieces`
    (the slow part of a sheet: both sheets break the same pieces into lines of their own widths); in the
    vertex functions where the family says so (``sheet_in_vertex_functions``)."""
    in_vertex_functions = derivation.activation.family.sheet_in_vertex_functions
    return {p: formula_pieces(derivation, p, in_vertex_functions=in_vertex_functions) for p in derivation.patterns}


@dataclass(frozen=True)
class SheetSection:
    """One derivation's part of both formula sheets: text only, so that worker processes can make it
    (``python -m derivations``). ``title`` is its line in the contents, ``markdown`` its Markdown section,
    ``latex`` its LaTeX lines."""

    title: str
    markdown: str
    latex: tuple[str, ...]


def sheet_section(derivation) -> SheetSection:
    """``derivation``'s :class:`SheetSection` (its formulas printed once, :func:`printed_formulas`, for both sheets)."""
    pieces = printed_formulas(derivation)
    d = derivation
    vertex_pieces = vertex_function_pieces(d) if d.activation.family.sheet_in_vertex_functions else None
    latex = ["", f"\\section{{{derivation_title(d, latex_escape(d.activation.name))}}}", "", derivation_summary(d)]
    if vertex_pieces:
        latex += ["", VERTEX_FUNCTIONS_TEXT, vertex_function_block(vertex_pieces, 68)]
    for p in d.patterns:
        latex += ["", f"\\subsection*{{{pattern_title(p)}: ${output_latex(p)}$ (pattern {p})}}",
                  align_block(output_latex(p), broken_lines(pieces[p], 68))]
    markdown = markdown_section(d, list(d.patterns), False, level=2, pieces=pieces, vertex_pieces=vertex_pieces)
    return SheetSection(derivation_title(d), markdown, tuple(latex))


def markdown_sheet(sections, header: str | None = None) -> str:
    """The Markdown formula sheet of ``sections`` (:class:`SheetSection`, in order)."""
    parts = []
    if header:
        parts += [f"<!-- {header} -->", ""]
    parts += ["# symcorr formula sheet", "", NOTATION, "", "## Contents", ""]
    parts += [f"{number}. {section.title}" for number, section in enumerate(sections, start=1)]
    for section in sections:
        parts += ["", section.markdown]
    return "\n".join(parts) + "\n"


def latex_sheet(sections, header: str | None = None) -> str:
    """The LaTeX formula sheet of ``sections`` (:class:`SheetSection`, in order)."""
    lines = []
    if header:
        lines.append(f"% {header}")
    lines += [
        "\\documentclass[10pt]{article}",
        "\\usepackage[a4paper,margin=2cm]{geometry}",
        "\\usepackage{amsmath}",
        "\\allowdisplaybreaks",
        "\\setlength{\\parindent}{0pt}",
        "\\title{symcorr formula sheet}",
        "\\date{}",
        "\\begin{document}",
        "\\maketitle",
        "",
        _markdown_to_latex(NOTATION),
        "",
        "\\tableofcontents",
    ]
    for section in sections:
        lines += section.latex
    lines += ["", "\\end{document}"]
    return "\n".join(lines) + "\n"


def formula_sheet_markdown(derivations, header: str | None = None) -> str:
    """A Markdown document of every formula of ``derivations`` (deterministic output).

    One section per derivation, in the given order (activation, output orders, closure), naming
    the docs/theory.md sections it follows; each formula in LaTeX math (``$$``
    blocks with ``aligned`` line breaks).
    """
    return markdown_sheet([sheet_section(d) for d in derivations], header)


def _markdown_to_latex(text: str) -> str:
    return (text.replace("`python -m derivations`", "\\texttt{python -m derivations}")
                .replace("`symcorr terms`", "\\texttt{symcorr terms}"))


def formula_sheet_latex(derivations, header: str | None = None) -> str:
    """A standalone LaTeX document (article, amsmath, geometry) of every formula of ``derivations``.

    Deterministic output; long formulas are broken over lines and pages
    (``align*`` with ``\\allowdisplaybreaks``). Compiles with ``pdflatex``
    from ``texlive-latex-base``.
    """
    return latex_sheet([sheet_section(d) for d in derivations], header)


def formula_sheets(derivations, header: str | None = None) -> tuple[str, str]:
    """``(formula_sheet_markdown(...), formula_sheet_latex(...))``, every formula printed once."""
    sections = [sheet_section(d) for d in derivations]
    return markdown_sheet(sections, header), latex_sheet(sections, header)


__all__ = ["formula_sheets", "printed_formulas", "formula_sheet_markdown", "formula_sheet_latex", "NOTATION",
           "SheetSection", "sheet_section", "markdown_sheet", "latex_sheet"]
