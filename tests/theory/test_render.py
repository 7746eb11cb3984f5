"""Formulas as text, Markdown and LaTeX (symcorr.theory.render, issue 5).

Expected formulas are docs/theory.md section 5 typed in by hand (math_section5.py).
"""
import pytest
import sympy as sp
from math_section5 import MATH5_COV, MATH5_MEAN, MATH5_VAR, alpha, k_iij, mu_i, same

from symcorr import theory
from symcorr.derivation.activations import quadratic
from symcorr.derivation.engine import derive
from symcorr.notation.parse import parse_latex, parse_sympy
from symcorr.theory.render import (
    formula_text,
    latex_lines,
    ordered_terms,
    render_derivation,
    render_terms,
)


def test_derivation_reproduces_math_section_5(quadratic_k4):
    assert same(quadratic_k4.formula("i"), MATH5_MEAN)
    assert same(quadratic_k4.formula("ij"), MATH5_COV)
    assert same(quadratic_k4.formula("ii"), MATH5_VAR)


def test_quadratic_covariance_latex_parses_back(quadratic_k4):
    latex = theory.latex(quadratic_k4, "ij")
    assert latex.startswith(r"\Sigma_{y,ij} = ")
    assert r"\kappa_{iijj}" in latex and r"\alpha^{2}" in latex
    assert same(parse_latex(latex), MATH5_COV)
    everything = theory.latex(quadratic_k4)
    assert everything.startswith(r"\begin{align*}") and r"\mu_{y,i} &=" in everything


def test_terms_ordered_by_degree_in_the_parameters():
    # z + alpha z^2 style: the parameter-free part first, then order alpha, then alpha^2
    expression = alpha**2 * k_iij + 3 * alpha * mu_i + mu_i + 1
    ordered = ordered_terms(expression, [alpha])
    assert [sp.degree(t, alpha) for t in ordered] == [0, 0, 1, 2]
    assert ordered_terms(sp.Integer(0)) == [sp.Integer(0)]


def test_latex_lines_break_long_sums_with_the_sign_first():
    terms = [sp.Symbol(f"kappa_{'i' * n}", real=True) * (-1) ** n for n in range(3, 13)]
    lines = latex_lines(terms, width=40)
    assert len(lines) > 1
    assert lines[0].startswith("- \\kappa_{iii}")                  # a negative first term keeps its sign
    assert all(line[0] in "+-" for line in lines[1:])
    assert " ".join(lines) == latex_lines(terms)[0]                # breaking only splits the one line


def test_text_puts_parameters_first_and_the_denominator_last(quadratic_k4):
    line = formula_text(quadratic_k4, "ij")
    assert line.startswith("Sigma_y[ij] = Sigma_ij + 2*alpha*Sigma_ij*mu_i")
    assert same(parse_sympy(line), MATH5_COV)
    # alpha = 1/2 put in: mu_i + (mu_i^2 + Sigma_ii)/2, each halved term written 'x/2'
    line = formula_text(derive(quadratic(0.5), 1, 2), "i", substitute=True)
    assert sorted(line.split(" = ")[1].split(" + ")) == ["Sigma_ii/2", "mu_i", "mu_i**2/2"]
    assert same(parse_sympy(line), MATH5_MEAN.subs(alpha, sp.Rational(1, 2)))


def test_unknown_format_is_refused(quadratic_k4):
    for render in (lambda f: render_derivation(quadratic_k4, f), lambda f: render_terms(quadratic_k4, "ij", f)):
        with pytest.raises(ValueError, match="format must be"):
            render("html")


def test_the_vertex_function_form_and_its_listed_values_give_back_the_formulas():
    """sin at closure 4 (joint vertices for ij): each g^{(n)}_{p,a} taken as the n-th mean-derivative of the listed
    g^{(0)}_{p,i} renamed to neuron a, each G^{(n,m)}_{11,ij} as the derivatives of the listed G^{(0,0)}_{11,ij}:
    the formulas in vertex functions become the derived formulas (at a point, to 1e-12)."""
    from symcorr.derivation.activations import sin
    from symcorr.notation.symbols import cumulant_symbol, parse_joint_vertex_symbol, parse_vertex_symbol
    from symcorr.theory.render import render_derivation, vertex_functions

    derivation = derive(sin(), 2, 4)
    listed = {symbol.name: value for symbol, value in vertex_functions(derivation).items()}
    assert set(listed) == {"g1d0_i", "g2d0_i", "G1x1d0x0_ij"}
    to_j = {cumulant_symbol("i"): cumulant_symbol("j"), cumulant_symbol("ii"): cumulant_symbol("jj")}
    point = {cumulant_symbol(labels): value for labels, value in (
        ("i", 0.3), ("j", -0.6), ("ii", 0.7), ("jj", 1.1), ("ij", 0.25), ("iii", 0.2), ("jjj", -0.3),
        ("iij", 0.1), ("ijj", -0.15), ("iiii", 0.4), ("jjjj", 0.5), ("iiij", 0.05), ("iijj", 0.12),
        ("ijjj", -0.07))}

    def vertex(symbol):
        single, joint = parse_vertex_symbol(symbol), parse_joint_vertex_symbol(symbol)
        if single is not None:
            label, power, n = single
            base = listed[f"g{power}d0_i"]
            base = base if label == "i" else base.xreplace(to_j)
            return sp.diff(base, cumulant_symbol(label), n) if n else base
        labels, powers, (n, m) = joint
        assert labels == "ij" and powers == (1, 1)
        return sp.diff(listed["G1x1d0x0_ij"], cumulant_symbol("i"), n, cumulant_symbol("j"), m)

    for pattern in derivation.patterns:
        form = derivation.diagram_form(pattern)
        rebuilt = form.xreplace({s: vertex(s) for s in form.free_symbols if parse_vertex_symbol(s)
                                 or parse_joint_vertex_symbol(s)})
        expected = float(derivation.formula(pattern).subs(point).evalf(30))
        assert float(rebuilt.subs(point).evalf(30)) == pytest.approx(expected, rel=1e-12, abs=1e-14), pattern
    # what symcorr derive --vertex-functions prints: the values, then the formulas in vertex functions
    text = render_derivation(derivation, "text", in_vertex_functions=True)
    assert "\nG1x1d0x0_ij = " in text and "\nSigma_y[ij] = G1x1d0x0_ij + " in text
    latex = render_derivation(derivation, "latex", in_vertex_functions=True)
    assert "G^{(0,0)}_{11,ij} ={}&" in latex and "\\Sigma_{y,ij} ={}& G^{(0,0)}_{11,ij}" in latex
