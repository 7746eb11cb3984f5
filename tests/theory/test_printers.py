"""The printers of symcorr's notation (symcorr.theory.printers).

Every expected string is typed in from the notation of docs/theory.md sections 1 and 4
(and the vertex notation of symcorr.theory.diagrams), not copied from the printer.
"""
import pytest
import sympy as sp
from math_section5 import MATH5_COV, same

from symcorr import theory
from symcorr.derivation.activations import cubic, quadratic
from symcorr.derivation.engine import derive
from symcorr.derivation.families.erf_functions import ErfGaussianCovariance
from symcorr.derivation.families.gaussian_functions import OwensT
from symcorr.notation.parse import parse_expression
from symcorr.notation.symbols import (
    ALPHA,
    Z,
    coefficient_symbols,
    cumulant_symbol,
    joint_vertex_symbol,
    vertex_symbol,
)
from symcorr.theory.printers import (
    PHI,
    FormulaLatexPrinter,
    FormulaStrPrinter,
    activation_equation,
    closure_equation,
    expression_latex,
    expression_text,
    output_symbol,
    parameter_equation,
    parse_output_symbol,
)


@pytest.mark.parametrize("labels, latex", [
    ("i", r"\mu_{i}"), ("ji", r"\Sigma_{ij}"), ("jj", r"\Sigma_{jj}"), ("iji", r"\kappa_{iij}"),
    ("lkji", r"\kappa_{ijkl}"),
])
def test_input_cumulants(labels, latex):
    assert expression_latex(cumulant_symbol(labels)) == latex
    assert expression_text(cumulant_symbol(labels)) == cumulant_symbol(labels).name


@pytest.mark.parametrize("symbol, latex", [
    (vertex_symbol("i", 1, 2), r"g^{(2)}_{1,i}"),
    (vertex_symbol("j", 2, 0), r"g^{(0)}_{2,j}"),
    (vertex_symbol("k", 3, 11), r"g^{(11)}_{3,k}"),
    (joint_vertex_symbol("ij", (1, 1), (3, 1)), r"G^{(3,1)}_{11,ij}"),
    (joint_vertex_symbol("ijk", (2, 1, 1), (0, 0, 0)), r"G^{(0,0,0)}_{211,ijk}"),
])
def test_vertices(symbol, latex):
    assert expression_latex(symbol) == latex
    assert expression_text(symbol) == symbol.name
    # a power of a vertex keeps its superscript apart
    assert expression_latex(symbol**2) == rf"\left({latex}\right)^{{2}}"


@pytest.mark.parametrize("pattern, latex, text", [
    ("i", r"\mu_{y,i}", "mu_y[i]"), ("ii", r"\Sigma_{y,ii}", "Sigma_y[ii]"), ("ij", r"\Sigma_{y,ij}", "Sigma_y[ij]"),
    ("iij", r"\kappa_{y,iij}", "kappa_y[iij]"), ("ijkl", r"\kappa_{y,ijkl}", "kappa_y[ijkl]"),
])
def test_output_cumulants(pattern, latex, text):
    symbol = output_symbol(pattern)
    assert expression_latex(symbol) == latex and expression_text(symbol) == text
    assert parse_output_symbol(symbol) == ({1: "mu", 2: "Sigma"}.get(len(pattern), "kappa"), pattern)


def test_only_output_cumulants_parse_as_such():
    for name in ("Sigma_ij", "mu_y", "kappa_y_ij", "Sigma_y_i", "mu_y_iJ", "g1d2_i"):
        assert parse_output_symbol(sp.Symbol(name)) is None


def test_parameters_and_the_activation():
    assert expression_latex(ALPHA) == r"\alpha"
    assert [expression_latex(a) for a in coefficient_symbols(11)[::5]] == ["a_{0}", "a_{5}", "a_{10}"]
    assert expression_latex(activation_equation(quadratic())) == r"\phi(z) = \alpha z^{2} + z"
    assert expression_text(activation_equation(quadratic())) == "phi(z) = alpha*z**2 + z"
    assert expression_latex(PHI(Z)**2) == r"\left(\phi(z)\right)^{2}"
    assert expression_latex(closure_equation(4)) == "K = 4"
    assert expression_latex(parameter_equation("alpha", 1.0)) == r"\alpha = 1"
    assert expression_latex(parameter_equation("a2", 0.5)) == "a_{2} = 0.5"
    assert expression_text(parameter_equation("alpha", 1 / 3), full_prec=False) == "alpha = 0.333333"


def test_custom_functions_print_through_their_own_latex_method():
    mu_i, mu_j, s_ii, s_jj, s_ij = (cumulant_symbol(k) for k in ("i", "j", "ii", "jj", "ij"))
    covariance = ErfGaussianCovariance(mu_i, mu_j, s_ii, s_jj, s_ij)
    assert expression_latex(covariance) == \
        r"C_{\mathrm{erf}}\left(\mu_{i}, \mu_{j}, \Sigma_{ii}, \Sigma_{jj}, \Sigma_{ij}\right)"
    # the function's _latex calls back into this printer for its arguments
    assert expression_latex(OwensT(vertex_symbol("i", 1, 2), ALPHA)) == r"T\left(g^{(2)}_{1,i}, \alpha\right)"


def test_anything_else_prints_as_sympy_prints_it():
    x, gamma = sp.Symbol("x_1"), sp.Symbol("Gamma_ij")
    for expression in (x**2 / 3 + sp.sqrt(gamma), sp.erf(x) * sp.exp(-x), sp.Rational(-3, 4), sp.pi * x):
        assert expression_latex(expression) == sp.latex(expression)
        assert expression_text(expression) == sp.sstr(expression)


def test_a_term_leads_with_number_then_parameters():
    mu_i, s_ij = cumulant_symbol("i"), cumulant_symbol("ij")
    term = 4 * ALPHA**2 * s_ij * mu_i
    assert FormulaLatexPrinter({"leading": (ALPHA,)}).term(term) == r"4 \alpha^{2} \Sigma_{ij} \mu_{i}"
    assert FormulaStrPrinter({"leading": (ALPHA,)}).term(term) == "4*alpha**2*Sigma_ij*mu_i"
    assert FormulaStrPrinter({"leading": (ALPHA,)}).term(term / 3) == "4*alpha**2*Sigma_ij*mu_i/3"
    assert FormulaLatexPrinter().term(term / 3) == r"\frac{4}{3} \Sigma_{ij} \alpha^{2} \mu_{i}"
    assert FormulaLatexPrinter().term(sp.Integer(1)) == "1"
    assert expression_latex(sp.Rational(1, 2) * mu_i, inline_fractions=True) == r"\frac{\mu_{i}}{2}"
    assert expression_latex(sp.Rational(-1, 36), inline_fractions=True) == "-1/36"


@pytest.mark.parametrize("activation, closure", [(quadratic(), 4), (cubic(), 4)])
def test_formula_latex_parses_back(activation, closure):
    derivation = derive(activation, 2, closure)
    for pattern in derivation.patterns:
        text = theory.latex(derivation, pattern)
        assert text.startswith(expression_latex(output_symbol(pattern)) + " = ")
        assert same(parse_expression(text, syntax="latex"), derivation.formula(pattern))
    if activation.name == "quadratic":
        assert same(parse_expression(theory.latex(derivation, "ij"), syntax="latex"), MATH5_COV)


def test_vertex_terms_parse_back():
    # the diagram form keeps the vertex functions as symbols; its LaTeX reads back to the same expression
    derivation = derive(quadratic(), 3, 3)
    for diagram in theory.terms(derivation, "iij"):
        assert parse_expression(diagram.latex, syntax="latex") == diagram.term
