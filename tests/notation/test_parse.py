"""Safe parsing of hand-written formulas (symcorr.notation.parse).

Expected expressions are built here from SymPy symbols by hand, never by the
parser under test.
"""
import builtins

import pytest
import sympy as sp

from symcorr.notation.parse import (
    ExpressionError,
    UnsafeExpressionError,
    parse_expression,
    parse_latex,
    parse_sympy,
)

R = dict(real=True)
mu_i, mu_j = sp.Symbol("mu_i", **R), sp.Symbol("mu_j", **R)
S_ii, S_ij = sp.Symbol("Sigma_ii", **R), sp.Symbol("Sigma_ij", **R)
k_iij, k_ijj, k_iijj = sp.Symbol("kappa_iij", **R), sp.Symbol("kappa_ijj", **R), sp.Symbol("kappa_iijj", **R)
alpha, z = sp.Symbol("alpha", **R), sp.Symbol("z", **R)

# docs/theory.md section 5, the quadratic covariance, typed in by hand
MATH5_SYMPY = ("(1 + 2*alpha*mu_i)*(1 + 2*alpha*mu_j)*Sigma_ij + 2*alpha**2*Sigma_ij**2"
               " + alpha*(kappa_iij + kappa_ijj) + 2*alpha**2*(mu_i*kappa_ijj + mu_j*kappa_iij)"
               " + alpha**2*kappa_iijj")
MATH5_LATEX = (r"\Sigma_{y,ij} = (1 + 2\alpha\mu_i)(1 + 2\alpha\mu_j)\Sigma_{ij} + 2\alpha^2\Sigma_{ij}^2"
               r" + \alpha(\kappa_{iij} + \kappa_{ijj}) + 2\alpha^{2}\left(\mu_i\kappa_{ijj} + \mu_j \kappa_{iij}\right)"
               r" + \alpha^2 \kappa_{iijj}")
MATH5 = ((1 + 2 * alpha * mu_i) * (1 + 2 * alpha * mu_j) * S_ij + 2 * alpha**2 * S_ij**2
         + alpha * (k_iij + k_ijj) + 2 * alpha**2 * (mu_i * k_ijj + mu_j * k_iij) + alpha**2 * k_iijj)


def same(a, b):
    return sp.expand(a - b) == 0


def test_sympy_syntax_maps_names_to_symcorr_symbols():
    assert same(parse_sympy(MATH5_SYMPY), MATH5)
    # any index order, v_i for the variance, ^ as a power with the precedence of **
    assert same(parse_sympy("Sigma_ji + kappa_jii + kappa_jij + v_i"), S_ij + k_iij + k_ijj + S_ii)
    assert same(parse_sympy("alpha^2*v_i + 0.25"), alpha**2 * S_ii + sp.Rational(1, 4))
    assert same(parse_sympy("-mu_i^2"), -mu_i**2)
    # decimals are exact; 1/2 is a rational, not a float
    assert parse_sympy("1/2*mu_i") == mu_i / 2
    assert parse_sympy("0.1") == sp.Rational(1, 10)


def test_latex_syntax_gives_the_same_expression():
    assert same(parse_latex(MATH5_LATEX), MATH5)
    assert same(parse_latex(r"\frac{1}{2} \Sigma_{ji}^{2} \alpha^{2}"), alpha**2 * S_ij**2 / 2)
    assert same(parse_latex(r"\frac12 \mu_i"), mu_i / 2)
    assert same(parse_latex(r"z^23"), 3 * z**2)  # LaTeX: one digit per bare superscript
    assert same(parse_latex(r"\kappa_{i,i,j} \cdot 2 \times \mu_{j}"), 2 * k_iij * mu_j)
    assert same(parse_latex(r"\operatorname{erf}{\left(\frac{\mu_{i}}{\sqrt{2 \Sigma_{ii} + 1}} \right)}"),
                sp.erf(mu_i / sp.sqrt(2 * S_ii + 1)))
    assert same(parse_latex(r"e^{-\mu_i^2} + \exp(\mu_j)"), sp.exp(-mu_i**2) + sp.exp(mu_j))
    assert same(parse_latex(r"a_{2} a_3 z"), sp.Symbol("a2", **R) * sp.Symbol("a3", **R) * z)
    assert same(parse_latex(r"g^{(2)}_{1,i} \kappa_{iij}"), sp.Symbol("g1d2_i", **R) * k_iij)
    # a display block of a formula sheet: environment, alignment, line breaks, empty groups
    block = "\\begin{align*}\n\\Sigma_{y,ij} ={}& \\Sigma_{ij} + \\alpha \\kappa_{iij} \\\\\n&- \\mu_i\n\\end{align*}"
    assert same(parse_latex(block), S_ij + alpha * k_iij - mu_i)
    assert same(parse_latex(r"$$ -\,-\mu_i $$"), mu_i)


def test_auto_syntax_detection():
    assert same(parse_expression(MATH5_SYMPY), MATH5)
    assert same(parse_expression(MATH5_LATEX), MATH5)
    with pytest.raises(ValueError, match="syntax"):
        parse_expression("mu_i", syntax="python")


def test_parsing_never_calls_eval(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec/sympify was called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(sp, "sympify", forbidden)
    assert same(parse_expression(MATH5_SYMPY), MATH5)
    assert same(parse_expression(MATH5_LATEX), MATH5)


@pytest.mark.parametrize("text", [
    "__import__('os').system('touch /tmp/symcorr_pwned')",
    "__import__('os')",
    "mu_i.__class__.__mro__",
    "(lambda: 1)()",
    "[c for c in ()]",
    "mu_i[0]",
    "'abc'",
    "open('/etc/passwd')",
    "erf(x=mu_i)",
    "exec('1')",
    "2**10**10",
    "import os",
    "x = 1; y = 2",
    "(2**10000)**10000",
    "(mu_i + mu_j + alpha)**5000",
    "(1).real",
    "mu_i if alpha else 0",
    r"\input{/etc/passwd}",
    r"\immediate\write18{touch /tmp/symcorr_pwned}",
])
def test_malicious_strings_are_refused(text, tmp_path):
    with pytest.raises(UnsafeExpressionError, match="refused"):
        parse_expression(text)


def test_malicious_string_has_no_side_effect(tmp_path):
    target = tmp_path / "pwned"
    with pytest.raises(UnsafeExpressionError, match="attribute access"):
        parse_expression(f"__import__('os').system('touch {target}')")
    assert not target.exists()


@pytest.mark.parametrize("text, message", [
    ("foo + mu_i", "unknown name 'foo'"),
    ("Sigma_i", "Sigma takes 2"),
    ("mu_ij", "mu takes 1"),
    ("mu_i +", "syntax error"),
    ("2 alpha", "syntax error"),
    ("1/0", "division by zero"),
    ("mu_i = mu_j = 1", "at most one '='"),
    (r"\mu_i +", "ends where a term was expected"),
    (r"\frac{1}{2", "expected '}'"),
    (r"\alpha^2^3", "double superscript"),
    (r"\nu_i", r"\\nu"),
    ("", "empty formula"),
])
def test_errors_name_the_problem(text, message):
    with pytest.raises(ExpressionError, match=message):
        parse_expression(text)
