"""The formula sheets generated/formulas.md and formulas.tex (symcorr.theory.sheets, issue 5).

Expected formulas are docs/theory.md section 5 typed in by hand (math_section5.py).
"""
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from math_section5 import MATH5_COV, same

from symcorr import theory
from symcorr.derivation.activations import cubic, from_expression, quadratic
from symcorr.derivation.engine import derive
from symcorr.notation.parse import parse_latex
from symcorr.notation.symbols import Z

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sheet_derivations():
    return [derive(quadratic(), 2, 4), derive(cubic(), 2, 3)]


def _blocks(text, environment):
    return re.findall(rf"\\begin\{{{environment}\}}.*?\\end\{{{environment}\}}", text, re.S)


def test_formula_sheets_are_deterministic_and_complete(sheet_derivations):
    markdown = theory.formula_sheet_markdown(sheet_derivations, header="HEADER")
    latex = theory.formula_sheet_latex(sheet_derivations, header="HEADER")
    assert markdown == theory.formula_sheet_markdown(sheet_derivations, header="HEADER")
    assert latex == theory.formula_sheet_latex(sheet_derivations, header="HEADER")
    assert markdown.startswith("<!-- HEADER -->") and latex.startswith("% HEADER")
    for text in (markdown, latex):
        assert "docs/theory.md sections 4 (cumulant expansion) and 5" in text
    # every formula in both documents parses back to the derivation; the quadratic ones to docs/theory.md section 5
    for text, environment in ((markdown, "aligned"), (latex, r"align\*")):
        blocks = _blocks(text, environment)
        expected = [d.formula(p) for d in sheet_derivations for p in d.patterns]
        assert len(blocks) == len(expected) == 6
        for block, formula in zip(blocks, expected):
            assert same(parse_latex(block), formula)
        assert same(parse_latex(blocks[2]), MATH5_COV)


def _compile(tex_path: Path):
    for _ in range(2):  # the table of contents needs a second run
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex_path.name],
                             cwd=tex_path.parent, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout[-3000:]
    log = tex_path.with_suffix(".log").read_text(errors="replace")
    assert tex_path.with_suffix(".pdf").stat().st_size > 1000
    return log


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (texlive-latex-base)")
def test_latex_sheet_compiles(sheet_derivations, tmp_path):
    tex = tmp_path / "formulas.tex"
    tex.write_text(theory.formula_sheet_latex(sheet_derivations, header="test"))
    log = _compile(tex)
    assert "Overfull \\hbox" not in log  # long formulas are broken over lines


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (texlive-latex-base)")
def test_shipped_latex_sheet_compiles(tmp_path):
    shipped = ROOT / "symcorr" / "codegen" / "generated" / "formulas.tex"
    if not shipped.exists():
        pytest.skip("generated/formulas.tex not generated yet (python -m derivations)")
    tex = tmp_path / "formulas.tex"
    tex.write_text(shipped.read_text())
    _compile(tex)


def test_latex_sheet_escapes_the_family_name():
    # an activation given as an expression is its own activation, named polynomial_<hash>
    derivation = derive(from_expression(Z + Z**2 / 2), 1, 2)
    assert derivation.activation.name.startswith("polynomial_")
    latex = theory.formula_sheet_latex([derivation])
    escaped = derivation.activation.name.replace("_", r"\_")
    assert f"\\section{{{escaped}: $\\phi(z) = \\frac{{z^{{2}}}}{{2}} + z$, orders 1..1, closure $K = 2$}}" in latex
    markdown = theory.formula_sheet_markdown([derivation])
    assert f"1. {derivation.activation.name}: $\\phi(z) = " in markdown


def test_a_closed_form_familys_section_is_written_in_its_vertex_functions_with_their_values():
    """sin at closure 4: the formulas in g^{(n)}_{p,a} and G^{(n,m)}_{pq,ab} (short), and the values at n = 0 that
    the section lists equal E[sin(z)^p] and E[sin(z_i) sin(z_j)] by Gauss-Hermite quadrature."""
    import numpy as np

    from symcorr.derivation.activations import sin
    from symcorr.notation.symbols import cumulant_symbol
    from symcorr.theory.render import vertex_functions

    derivation = derive(sin(), 2, 4)
    markdown = theory.formula_sheet_markdown([derivation])
    assert "Written in the vertex functions" in markdown and len(markdown) < 20_000
    assert "G^{(0,0)}_{11,ij} ={}&" in markdown and "\\Sigma_{y,ij} ={}& G^{(0,0)}_{11,ij}" in markdown
    assert "\\operatorname{expm}" not in markdown.split("### Mean")[1]  # the formulas themselves are not written out
    values = {symbol.name: value for symbol, value in vertex_functions(derivation).items()}
    assert set(values) == {"g1d0_i", "g2d0_i", "G1x1d0x0_ij"}
    mu_i, mu_j, s_ii, s_jj, s_ij = 0.3, -0.7, 0.8, 1.3, 0.4
    at = {cumulant_symbol("i"): mu_i, cumulant_symbol("j"): mu_j, cumulant_symbol("ii"): s_ii,
          cumulant_symbol("jj"): s_jj, cumulant_symbol("ij"): s_ij}
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)
    weights = weights / weights.sum()
    z = mu_i + np.sqrt(s_ii) * nodes
    for name, expected in (("g1d0_i", weights @ np.sin(z)), ("g2d0_i", weights @ np.sin(z) ** 2)):
        assert float(values[name].subs(at)) == pytest.approx(expected, rel=1e-12, abs=1e-14)
    # (z_i, z_j) = mu + L xi with the Cholesky factor L of the pair's covariance
    factor = np.linalg.cholesky([[s_ii, s_ij], [s_ij, s_jj]])
    xi_a, xi_b = np.meshgrid(nodes, nodes, indexing="ij")
    pair = np.einsum("ab,bmn->amn", factor, np.stack([xi_a, xi_b]))
    expected = np.einsum("m,n,mn->", weights, weights, np.sin(mu_i + pair[0]) * np.sin(mu_j + pair[1]))
    assert float(values["G1x1d0x0_ij"].subs(at)) == pytest.approx(expected, rel=1e-12)
