"""For theorists: print, check and picture the derived formulas (symcorr.theory.formulas, issue 5).

Expected formulas are MATH.md section 5 typed in by hand, never copied from
the code under test.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

from symcorr.derivation.activations import cubic, quadratic
from symcorr.derivation.engine import derive
from symcorr.notation.parse import parse_latex, parse_sympy
from symcorr.theory import formulas as theory
from symcorr.theory.formulas import check_formula, derivation_latex, derivation_terms

ROOT = Path(__file__).resolve().parents[2]
R = dict(real=True)
mu_i, mu_j = sp.Symbol("mu_i", **R), sp.Symbol("mu_j", **R)
S_ii, S_ij = sp.Symbol("Sigma_ii", **R), sp.Symbol("Sigma_ij", **R)
k_iii, k_iiii = sp.Symbol("kappa_iii", **R), sp.Symbol("kappa_iiii", **R)
k_iij, k_ijj, k_iijj = sp.Symbol("kappa_iij", **R), sp.Symbol("kappa_ijj", **R), sp.Symbol("kappa_iijj", **R)
alpha = sp.Symbol("alpha", **R)

# MATH.md section 5 (phi = z + alpha z^2), written out by hand
MATH5_MEAN = mu_i + alpha * (mu_i**2 + S_ii)
MATH5_COV = ((1 + 2 * alpha * mu_i) * (1 + 2 * alpha * mu_j) * S_ij + 2 * alpha**2 * S_ij**2
             + alpha * (k_iij + k_ijj) + 2 * alpha**2 * (mu_i * k_ijj + mu_j * k_iij) + alpha**2 * k_iijj)
# "valid for i = j too": j -> i
MATH5_VAR = ((1 + 2 * alpha * mu_i)**2 * S_ii + 2 * alpha**2 * S_ii**2 + 2 * alpha * k_iii
             + 4 * alpha**2 * mu_i * k_iii + alpha**2 * k_iiii)
MATH5_COV_TEXT = ("(1 + 2*alpha*mu_i)*(1 + 2*alpha*mu_j)*Sigma_ij + 2*alpha**2*Sigma_ij**2"
                  " + alpha*(kappa_iij + kappa_ijj) + 2*alpha**2*(mu_i*kappa_ijj + mu_j*kappa_iij)"
                  " + alpha**2*kappa_iijj")
MATH5_COV_LATEX = (r"(1 + 2\alpha\mu_i)(1 + 2\alpha\mu_j)\Sigma_{ij} + 2\alpha^2\Sigma_{ij}^2"
                   r" + \alpha(\kappa_{iij} + \kappa_{ijj}) + 2\alpha^2(\mu_i\kappa_{ijj} + \mu_j\kappa_{iij})"
                   r" + \alpha^2\kappa_{iijj}")
MALICIOUS = "__import__('os').system('touch {target}')"


@pytest.fixture(scope="module")
def quadratic_k4():
    return derive(quadratic(), 2, 4)


def same(a, b):
    return sp.expand(a - b) == 0


# -- the derivation against MATH.md section 5 ---------------------------------

def test_derivation_reproduces_math_section_5(quadratic_k4):
    assert same(quadratic_k4.formula("i"), MATH5_MEAN)
    assert same(quadratic_k4.formula("ij"), MATH5_COV)
    assert same(quadratic_k4.formula("ii"), MATH5_VAR)


# -- 1. printing ---------------------------------------------------------------

def test_quadratic_covariance_latex_parses_back(quadratic_k4):
    latex = derivation_latex(quadratic_k4, "ij")
    assert latex.startswith(r"\Sigma_{y,ij} = ")
    assert r"\kappa_{iijj}" in latex and r"\alpha^{2}" in latex
    assert same(parse_latex(latex), MATH5_COV)
    everything = derivation_latex(quadratic_k4)
    assert everything.startswith(r"\begin{align*}") and r"\mu_{y,i} &=" in everything


@pytest.mark.parametrize("fmt", ["latex", "markdown"])
def test_derive_cli_latex_and_markdown_parse_back(fmt, capsys):
    assert theory.derive_main(["--activation", "quadratic", "--out-order", "2", "--closure", "4",
                               "--format", fmt]) == 0
    out = capsys.readouterr().out
    pattern = r"\\begin\{align\*\}.*?\\end\{align\*\}" if fmt == "latex" else r"\$\$\n(.*?)\n\$\$"
    blocks = re.findall(pattern, out, re.S)
    assert len(blocks) == 3  # i, ii, ij
    assert same(parse_latex(blocks[0]), MATH5_MEAN)
    assert same(parse_latex(blocks[1]), MATH5_VAR)
    assert same(parse_latex(blocks[2]), MATH5_COV)
    assert "MATH.md sections 4" in out


def test_derive_cli_text_parses_back(capsys):
    assert theory.derive_main(["-a", "quadratic", "-K", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("# quadratic")
    covariance = next(line for line in lines if line.startswith("Sigma_y[ij] = "))
    assert same(parse_sympy(covariance), MATH5_COV)


def test_derive_cli_activation_as_expression_and_substitution(capsys):
    # phi = z + z^2/2: mean mu + (mu^2 + Sigma_ii)/2, exact with the default closure
    assert theory.derive_main(["-a", "z + z**2/2", "-M", "1"]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert same(parse_sympy(line), mu_i + (mu_i**2 + S_ii) / 2)
    assert theory.derive_main(["-a", "quadratic", "--alpha", "0.5", "-M", "1", "--substitute"]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert same(parse_sympy(line), MATH5_MEAN.subs(alpha, sp.Rational(1, 2)))
    assert theory.derive_main(["-a", "polynomial", "--coeffs", "0", "1", "0.5", "-M", "1", "--substitute"]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert same(parse_sympy(line), mu_i + (mu_i**2 + S_ii) / 2)


@pytest.mark.parametrize("argv, message", [
    (["-a", "erf"], "--closure K"),
    (["-a", "polynomial"], "--coeffs"),
    (["-a", "sin(z)"], "not allowed"),
    (["-a", "z + alpha"], "unknown name|only contain z"),
    (["-a", "quadratic", "--coeffs", "1", "2"], "--alpha"),
])
def test_derive_cli_errors(argv, message, capsys):
    assert theory.derive_main(argv) == 2
    assert re.search(message, capsys.readouterr().err)


def test_malicious_activation_is_refused(tmp_path, capsys):
    target = tmp_path / "pwned"
    assert theory.derive_main(["--activation", MALICIOUS.format(target=target)]) == 2
    assert "refused" in capsys.readouterr().err
    assert not target.exists()


# -- 2. checking ---------------------------------------------------------------

def test_check_equal_for_math_section_5(quadratic_k4):
    for text in (MATH5_COV_TEXT, MATH5_COV_LATEX, "Sigma_y_ij = " + MATH5_COV_TEXT, MATH5_COV):
        result = check_formula(quadratic_k4, "ij", text)
        assert result and result.equal and result.difference == 0
    assert check_formula(quadratic_k4, "i", "mu_i + alpha*(mu_i**2 + Sigma_ii)")


def test_check_relabels_the_pattern():
    # kappa_y[jji] is kappa_y[iij] with i and j exchanged: swap the labels in the text by hand
    derivation = derive(quadratic(), 3, 3)
    text = sp.sstr(derivation.formula("iij"))
    swapped = re.sub(r"_([a-z]+)", lambda m: "_" + m.group(1).translate(str.maketrans("ij", "ji")), text)
    assert swapped != text
    assert check_formula(derivation, "jji", swapped)
    assert not check_formula(derivation, "iij", swapped)
    assert check_formula(derivation, "iij", text)


def test_check_names_the_dropped_term(quadratic_k4):
    dropped = MATH5_COV_TEXT.replace(" + alpha**2*kappa_iijj", "")
    result = check_formula(quadratic_k4, "ij", dropped)
    assert not result
    assert result.missing == [alpha**2 * k_iijj] and not result.extra and not result.wrong_coefficient
    assert same(result.difference, -alpha**2 * k_iijj)
    report = result.report()
    assert "NOT EQUAL" in report and "alpha**2*kappa_iijj" in report
    assert "diagram" in report and "g1d2_i*g1d2_j*kappa_iijj/4" in report  # the diagram it comes from


def test_check_reports_extra_and_wrong_coefficients(quadratic_k4):
    text = MATH5_COV_LATEX.replace(r"2\alpha^2(\mu_i", r"\alpha^2(\mu_i") + r" + \mu_k"
    result = check_formula(quadratic_k4, "ij", text)
    assert not result
    assert result.extra == [sp.Symbol("mu_k", **R)]
    assert len(result.wrong_coefficient) == 2  # alpha^2 mu_i kappa_ijj and alpha^2 mu_j kappa_iij halved
    given = {g for g, _ in result.wrong_coefficient}
    assert given == {alpha**2 * mu_i * k_ijj, alpha**2 * mu_j * k_iij}
    assert result.foreign_symbols == [sp.Symbol("mu_k", **R)]


def test_check_cli_exit_status(tmp_path, capsys):
    assert theory.check_main(["-a", "quadratic", "-p", "ij", MATH5_COV_TEXT]) == 0
    assert "EQUAL" in capsys.readouterr().out
    formula = tmp_path / "cov.tex"
    formula.write_text(MATH5_COV_LATEX.replace(r" + \alpha^2\kappa_{iijj}", "") + "\n")
    assert theory.check_main(["-a", "quadratic", "-p", "ij", "--file", str(formula)]) == 1
    out = capsys.readouterr().out
    assert "NOT EQUAL" in out and "missing terms (1" in out and "alpha**2*kappa_iijj" in out
    # the variance: MATH.md says the covariance formula holds for i = j
    assert theory.check_main(["-a", "quadratic", "-p", "ii", "--syntax", "sympy", sp.sstr(MATH5_VAR)]) == 0
    capsys.readouterr()
    assert theory.check_main(["-a", "quadratic", "-p", "ij"]) == 2  # no formula
    assert theory.check_main(["-a", "quadratic", "-p", "ij", "mu_i +"]) == 2
    assert "syntax error" in capsys.readouterr().err


def test_check_cli_refuses_malicious_string_end_to_end(tmp_path):
    target = tmp_path / "pwned"
    run = subprocess.run(
        [sys.executable, "-m", "symcorr.cli", "check", "-a", "quadratic", "-p", "ij",
         MALICIOUS.format(target=target)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 2, run.stderr
    assert "refused" in run.stderr and "attribute access" in run.stderr
    assert not target.exists()


# -- 3. terms and diagrams -----------------------------------------------------

def test_terms_cli_lists_diagrams(capsys):
    assert theory.terms_main(["-a", "quadratic", "-K", "4", "-p", "ij"]) == 0
    out = capsys.readouterr().out
    assert "5 diagrams" in out and "kappa_iijj: hyperedge with 2 legs at i, 2 legs at j" in out
    assert "Sigma_ij^2 (2 parallel copies): edge i-j" in out
    assert "the contributions add up to the formula" in out
    for fmt in ("markdown", "latex"):
        assert theory.terms_main(["-a", "quadratic", "-p", "ii", "-f", fmt]) == 0
        assert "subtraction" in capsys.readouterr().out


def test_terms_cli_draws_png_and_svg(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert theory.terms_main(["-a", "quadratic", "-p", "ij", "--draw", str(tmp_path / "ij.png"),
                              "--draw", str(tmp_path / "ij.svg")]) == 0
    assert (tmp_path / "ij.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in (tmp_path / "ij.svg").read_text()
    assert "wrote" in capsys.readouterr().err


def test_derive_cli_erf_takes_the_documented_series_order(capsys):
    # closure 2: exact (Gaussian part resummed), no series order; closure 4: the default series order 2
    assert theory.derive_main(["-a", "erf", "-K", "2", "-p", "ij"]) == 0
    out = capsys.readouterr().out
    assert "closure K = 2)" in out and "series order" not in out
    assert "Sigma_y[ij] = ErfGaussianCovariance(mu_i, mu_j, Sigma_ii, Sigma_jj, Sigma_ij)" in out
    assert theory.derive_main(["-a", "erf", "-K", "4", "-p", "i"]) == 0
    assert "closure K = 4, series order 2" in capsys.readouterr().out


def test_terms_cli_lists_erf_joint_vertices(capsys):
    assert theory.terms_main(["-a", "erf", "-K", "4", "-p", "ij"]) == 0
    out = capsys.readouterr().out
    assert "joint vertex G{p}x{q}d{n}x{m}_ab" in out
    assert "[1] G1x1d0x0_ij   (reference, 0 cumulant factors)" in out
    assert "joint vertex G1x1d0x0_ij at neuron j (with i; Sigma_ij resummed inside)" in out
    assert "the contributions add up to the formula" in out


def test_terms_method_matches_formula(quadratic_k4):
    terms = derivation_terms(quadratic_k4, "ij")
    assert len(terms) == 5
    assert same(sp.Add(*[t.contribution for t in terms]), MATH5_COV)


# -- 4. formula sheets -----------------------------------------------------------

@pytest.fixture(scope="module")
def sheet_derivations(quadratic_k4):
    return [quadratic_k4, derive(cubic(), 2, 3)]


def _blocks(text, environment):
    return re.findall(rf"\\begin\{{{environment}\}}.*?\\end\{{{environment}\}}", text, re.S)


def test_formula_sheets_are_deterministic_and_complete(sheet_derivations):
    markdown = theory.formula_sheet_markdown(sheet_derivations, header="HEADER")
    latex = theory.formula_sheet_latex(sheet_derivations, header="HEADER")
    assert markdown == theory.formula_sheet_markdown(sheet_derivations, header="HEADER")
    assert latex == theory.formula_sheet_latex(sheet_derivations, header="HEADER")
    assert markdown.startswith("<!-- HEADER -->") and latex.startswith("% HEADER")
    for text in (markdown, latex):
        assert "MATH.md sections 4 (cumulant expansion) and 5" in text
    # every formula in both documents parses back to the derivation; the quadratic ones to MATH.md section 5
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
