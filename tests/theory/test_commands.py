"""The command lines symcorr derive / check / terms (symcorr.theory.commands, issue 5).

Expected formulas are docs/theory.md section 5 typed in by hand (math_section5.py).
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp
from command_line import run_main
from math_section5 import (
    MATH5_COV,
    MATH5_COV_LATEX,
    MATH5_COV_TEXT,
    MATH5_MEAN,
    MATH5_VAR,
    S_ii,
    alpha,
    mu_i,
    same,
)

from symcorr import cli
from symcorr.notation.parse import parse_latex, parse_sympy
from symcorr.theory import commands

ROOT = Path(__file__).resolve().parents[2]
MALICIOUS = "__import__('os').system('touch {target}')"


def test_the_cli_registry_names_these_commands():
    for name in ("derive", "check", "terms"):
        assert cli.SUBCOMMANDS[name][0] == f"symcorr.theory.commands:{name}_main"


# -- symcorr derive ------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["latex", "markdown"])
def test_derive_cli_latex_and_markdown_parse_back(fmt, capsys):
    assert commands.derive_main(["--activation", "quadratic", "--out-order", "2", "--closure", "4",
                                 "--format", fmt]) == 0
    out = capsys.readouterr().out
    pattern = r"\\begin\{align\*\}.*?\\end\{align\*\}" if fmt == "latex" else r"\$\$\n(.*?)\n\$\$"
    blocks = re.findall(pattern, out, re.S)
    assert len(blocks) == 3  # i, ii, ij
    assert same(parse_latex(blocks[0]), MATH5_MEAN)
    assert same(parse_latex(blocks[1]), MATH5_VAR)
    assert same(parse_latex(blocks[2]), MATH5_COV)
    assert "docs/theory.md sections 4" in out


def test_derive_cli_text_parses_back(capsys):
    assert commands.derive_main(["-a", "quadratic", "-K", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("# quadratic")
    covariance = next(line for line in lines if line.startswith("Sigma_y[ij] = "))
    assert same(parse_sympy(covariance), MATH5_COV)


def test_derive_cli_activation_as_expression_and_substitution(capsys):
    # phi = z + z^2/2: mean mu + (mu^2 + Sigma_ii)/2, exact with the default closure
    assert commands.derive_main(["-a", "z + z**2/2", "-M", "1"]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert same(parse_sympy(line), mu_i + (mu_i**2 + S_ii) / 2)
    assert commands.derive_main(["-a", "quadratic", "--alpha", "0.5", "-M", "1", "--substitute"]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert same(parse_sympy(line), MATH5_MEAN.subs(alpha, sp.Rational(1, 2)))
    assert commands.derive_main(["-a", "polynomial", "--coeffs", "0", "1", "0.5", "-M", "1", "--substitute"]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert same(parse_sympy(line), mu_i + (mu_i**2 + S_ii) / 2)


def test_derive_cli_heading_names_the_parameter_values(capsys):
    assert commands.derive_main(["-a", "quadratic", "--alpha", "0.5", "-M", "1", "-f", "markdown"]) == 0
    assert r"Kernel parameter values: $\alpha = 0.5$." in capsys.readouterr().out
    assert commands.derive_main(["-a", "cubic", "-M", "1"]) == 0
    heading = capsys.readouterr().out.splitlines()[0]
    assert heading.startswith("# cubic: phi(z) = a0 + a1*z + a2*z**2 + a3*z**3 (a0 = 0, a1 = 1, a2 = 0, a3 = 1); ")


@pytest.mark.parametrize("argv, message", [
    (["-a", "polynomial"], "--coeffs"),
    (["-a", "cosh(z)"], "not allowed"),
    (["-a", "leaky_relu(0.2, 3)"], "too many positional arguments; leaky_relu takes \\(slope\\)"),
    (["-a", "softplus(beta=1e999)"], "not a finite number"),
    (["-a", "elu(alpha=__import__)"], "is not a number"),
    (["-a", "softplus(gamma=2)"], "unexpected keyword argument 'gamma'"),
    (["-a", "z + alpha"], "unknown name|only contain z"),
    (["-a", "quadratic", "--coeffs", "1", "2"], "--alpha"),
])
def test_derive_cli_errors(argv, message, capsys):
    assert commands.derive_main(argv) == 2
    assert re.search(message, capsys.readouterr().err)


def test_derive_cli_named_activations_with_numbers_and_the_gaussian_default_closure(capsys):
    from symcorr.derivation import activations

    assert commands.activation_from_spec("leaky_relu(0.2)") == activations.leaky_relu(0.2)
    assert commands.activation_from_spec("softplus(beta=2)") == activations.softplus(beta=2.0)
    assert commands.activation_from_spec(" elu( alpha = 0.5 ) ") == activations.elu(alpha=0.5)
    assert commands.activation_from_spec("tanh(z)") == activations.tanh()
    assert commands.activation_from_spec("sin(z)") == activations.sin()
    # a family whose expansion does not terminate: closure 2 (Gaussian input, exact there), said on stderr
    assert commands.derive_main(["-a", "relu", "-M", "2"]) == 0
    captured = capsys.readouterr()
    assert "note: closure 2 (the formulas for Gaussian input, exact there)" in captured.err
    assert "Sigma_y[ij] = ReluGaussianCovariance(mu_i, mu_j, Sigma_ii, Sigma_jj, Sigma_ij)" in captured.out
    assert commands.derive_main(["-a", "erf", "-p", "i"]) == 0
    assert "closure K = 2)" in capsys.readouterr().out
    # an exact closure exists for polynomials: no note
    assert commands.derive_main(["-a", "quadratic", "-p", "i"]) == 0
    assert capsys.readouterr().err == ""


def test_malicious_activation_is_refused(tmp_path, capsys):
    target = tmp_path / "pwned"
    assert commands.derive_main(["--activation", MALICIOUS.format(target=target)]) == 2
    assert "refused" in capsys.readouterr().err
    assert not target.exists()


def test_derive_cli_erf_takes_the_documented_series_order(capsys):
    # closure 2: exact (Gaussian part resummed), no series order; closure 4: the default series order 2
    assert commands.derive_main(["-a", "erf", "-K", "2", "-p", "ij"]) == 0
    out = capsys.readouterr().out
    assert "closure K = 2)" in out and "series order" not in out
    assert "Sigma_y[ij] = ErfGaussianCovariance(mu_i, mu_j, Sigma_ii, Sigma_jj, Sigma_ij)" in out
    assert commands.derive_main(["-a", "erf", "-K", "4", "-p", "i"]) == 0
    assert "closure K = 4, series order 2" in capsys.readouterr().out


# -- symcorr check -------------------------------------------------------------

def test_check_cli_exit_status(tmp_path, capsys):
    assert commands.check_main(["-a", "quadratic", "-p", "ij", MATH5_COV_TEXT]) == 0
    assert "EQUAL" in capsys.readouterr().out
    formula = tmp_path / "cov.tex"
    formula.write_text(MATH5_COV_LATEX.replace(r" + \alpha^2\kappa_{iijj}", "") + "\n")
    assert commands.check_main(["-a", "quadratic", "-p", "ij", "--file", str(formula)]) == 1
    out = capsys.readouterr().out
    assert "NOT EQUAL" in out and "missing terms (1" in out and "alpha**2*kappa_iijj" in out
    # the variance: docs/theory.md says the covariance formula holds for i = j
    assert commands.check_main(["-a", "quadratic", "-p", "ii", "--syntax", "sympy", sp.sstr(MATH5_VAR)]) == 0
    capsys.readouterr()
    assert commands.check_main(["-a", "quadratic", "-p", "ij"]) == 2  # no formula
    assert commands.check_main(["-a", "quadratic", "-p", "ij", "mu_i +"]) == 2
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


# -- symcorr terms -------------------------------------------------------------

def test_terms_cli_lists_diagrams(capsys):
    assert commands.terms_main(["-a", "quadratic", "-K", "4", "-p", "ij"]) == 0
    out = capsys.readouterr().out
    assert "5 diagrams" in out and "kappa_iijj: hyperedge with 2 legs at i, 2 legs at j" in out
    assert "Sigma_ij^2 (2 parallel copies): edge i-j" in out
    assert "the contributions add up to the formula" in out
    for fmt in ("markdown", "latex"):
        assert commands.terms_main(["-a", "quadratic", "-p", "ii", "-f", fmt]) == 0
        assert "subtraction" in capsys.readouterr().out


def test_terms_cli_draws_png_and_svg(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert commands.terms_main(["-a", "quadratic", "-p", "ij", "--draw", str(tmp_path / "ij.png"),
                                "--draw", str(tmp_path / "ij.svg")]) == 0
    assert (tmp_path / "ij.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in (tmp_path / "ij.svg").read_text()
    assert "wrote" in capsys.readouterr().err


def test_terms_cli_lists_erf_joint_vertices(capsys):
    assert commands.terms_main(["-a", "erf", "-K", "4", "-p", "ij"]) == 0
    out = capsys.readouterr().out
    assert "joint vertex G{p}x{q}d{n}x{m}_ab" in out
    assert "[1] G1x1d0x0_ij   (reference, 0 cumulant factors)" in out
    assert "joint vertex G1x1d0x0_ij at neuron j (with i; Sigma_ij resummed inside)" in out
    assert "the contributions add up to the formula" in out


def test_order_is_the_option_and_out_order_still_works_once_more(capsys):
    from symcorr.theory.commands import derive_main

    assert derive_main(["-a", "quadratic", "--order", "1", "-K", "2"]) == 0
    new = capsys.readouterr()
    assert derive_main(["-a", "quadratic", "--out-order", "1", "-K", "2"]) == 0
    old = capsys.readouterr()
    assert old.out == new.out and "--out-order is deprecated, use --order" in old.err


# -- refused arguments: each refusal names the argument, the limit and the value given ---------

REFUSED_ARGUMENTS = [
    ("derive", ["-a", "quadratic", "-M", "0"], "argument --order/-M: must be an integer >= 1, got 0"),
    ("derive", ["-a", "quadratic", "-M", "two"], "argument --order/-M: must be an integer >= 1, got 'two'"),
    ("derive", ["-a", "quadratic", "--out-order", "0"], "argument --out-order: must be an integer >= 1, got 0"),
    ("derive", ["-a", "quadratic", "-K", "0"], "argument --closure/-K: must be an integer >= 1, got 0"),
    ("derive", ["-a", "erf", "-K", "2", "-S", "-1"], "argument --series-order/-S: must be an integer >= 0, got -1"),
    ("derive", ["-a", "quadratic", "--alpha", "nan"], "argument --alpha: must be a finite number, got nan"),
    ("derive", ["-a", "polynomial", "--coeffs", "1", "inf"], "argument --coeffs: must be a finite number, got inf"),
    ("derive", ["-a", "cubic", "--coeffs", "1", "2"], "cubic takes 4 coefficients a0 a1 a2 a3, got 2"),
    ("derive", ["-a", "quadratic", "-p", ""], "argument --pattern/-p: an index pattern is a non-empty string"),
    ("check", ["-a", "quadratic", "-p", "", "mu_i"], "argument --pattern/-p: an index pattern is a non-empty string"),
    ("check", ["-a", "quadratic", "-p", "i", "-K", "-1", "mu_i"],
     "argument --closure/-K: must be an integer >= 1, got -1"),
    ("check", ["-a", "quadratic", "-p", "i", "--alpha", "inf", "mu_i"],
     "argument --alpha: must be a finite number, got inf"),
    ("terms", ["-a", "quadratic", "-M", "0"], "argument --order/-M: must be an integer >= 1, got 0"),
    ("terms", ["-a", "quadratic", "-M", "1", "-S", "x"], "argument --series-order/-S: must be an integer >= 0, got 'x'"),
]


@pytest.mark.parametrize("command, argv, message", REFUSED_ARGUMENTS,
                         ids=[f"{c} {' '.join(a)}" for c, a, _ in REFUSED_ARGUMENTS])
def test_refused_arguments(command, argv, message, capsys):
    status, out, err = run_main(getattr(commands, f"{command}_main"), argv, capsys)
    assert status == 2 and out == ""
    assert f"symcorr {command}: error: {message}" in err
    assert "Traceback" not in err
