"""Checking a hand-written formula against the derivation (symcorr.theory.checking, issue 5).

Expected formulas are docs/theory.md section 5 typed in by hand (math_section5.py).
"""
import re

import pytest
import sympy as sp
from math_section5 import (
    MATH5_COV,
    MATH5_COV_LATEX,
    MATH5_COV_TEXT,
    R,
    alpha,
    k_iij,
    k_iijj,
    k_ijj,
    mu_i,
    mu_j,
    same,
)

from symcorr import theory
from symcorr.derivation.activations import quadratic
from symcorr.derivation.engine import derive
from symcorr.notation.parse import ExpressionError


def test_check_equal_for_math_section_5(quadratic_k4):
    for text in (MATH5_COV_TEXT, MATH5_COV_LATEX, "Sigma_y_ij = " + MATH5_COV_TEXT, MATH5_COV):
        result = theory.check(quadratic_k4, "ij", text)
        assert result and result.equal and result.difference == 0
    assert theory.check(quadratic_k4, "i", "mu_i + alpha*(mu_i**2 + Sigma_ii)")


def test_check_takes_the_syntax(quadratic_k4):
    assert theory.check(quadratic_k4, "ij", MATH5_COV_LATEX, syntax="latex")
    with pytest.raises(ExpressionError, match="looks like LaTeX"):
        theory.check(quadratic_k4, "ij", MATH5_COV_LATEX, syntax="sympy")


def test_check_relabels_the_pattern():
    # kappa_y[jji] is kappa_y[iij] with i and j exchanged: swap the labels in the text by hand
    derivation = derive(quadratic(), 3, 3)
    text = sp.sstr(derivation.formula("iij"))
    swapped = re.sub(r"_([a-z]+)", lambda m: "_" + m.group(1).translate(str.maketrans("ij", "ji")), text)
    assert swapped != text
    assert theory.check(derivation, "jji", swapped)
    assert not theory.check(derivation, "iij", swapped)
    assert theory.check(derivation, "iij", text)


def test_check_names_the_dropped_term(quadratic_k4):
    dropped = MATH5_COV_TEXT.replace(" + alpha**2*kappa_iijj", "")
    result = theory.check(quadratic_k4, "ij", dropped)
    assert not result
    assert result.missing == [alpha**2 * k_iijj] and not result.extra and not result.wrong_coefficient
    assert same(result.difference, -alpha**2 * k_iijj)
    report = result.report()
    assert "NOT EQUAL" in report and "alpha**2*kappa_iijj" in report
    assert "diagram" in report and "g1d2_i*g1d2_j*kappa_iijj/4" in report  # the diagram it comes from


def test_check_reports_extra_and_wrong_coefficients(quadratic_k4):
    text = MATH5_COV_LATEX.replace(r"2\alpha^2(\mu_i", r"\alpha^2(\mu_i") + r" + \mu_k"
    result = theory.check(quadratic_k4, "ij", text)
    assert not result
    assert result.extra == [sp.Symbol("mu_k", **R)]
    assert len(result.wrong_coefficient) == 2  # alpha^2 mu_i kappa_ijj and alpha^2 mu_j kappa_iij halved
    given = {g for g, _ in result.wrong_coefficient}
    assert given == {alpha**2 * mu_i * k_ijj, alpha**2 * mu_j * k_iij}
    assert result.foreign_symbols == [sp.Symbol("mu_k", **R)]
    assert "symbols the derived formula does not contain: mu_k" in result.report()


# -- the families' named Gaussian functions are compared through their elementary forms --------------

#: Textbook Gaussian expectations typed by hand, z ~ N(mu_i, Sigma_ii): E[max(0, z)], E[H(z)],
#: E[z Phi(z)] (Phi(z) = P(w <= z), w ~ N(0, 1) independent: E = P(w - z <= 0) terms), E[sin z] and the
#: covariance of cos through E[e^{i(z_a \pm z_b)}].
HAND_FORMULAS = [
    ("relu", "i", "mu_i*(1 + erf(mu_i/sqrt(2*Sigma_ii)))/2 + sqrt(Sigma_ii/(2*pi))*exp(-mu_i**2/(2*Sigma_ii))"),
    ("heaviside", "i", "(1 + erf(mu_i/sqrt(2*Sigma_ii)))/2"),
    ("probit", "i", "(1 + erf(mu_i/sqrt(2*(1 + Sigma_ii))))/2"),
    ("gelu", "i", "mu_i*(1 + erf(mu_i/sqrt(2*(1 + Sigma_ii))))/2"
                  " + Sigma_ii/sqrt(2*pi*(1 + Sigma_ii))*exp(-mu_i**2/(2*(1 + Sigma_ii)))"),
    ("sin", "i", "sin(mu_i)*exp(-Sigma_ii/2)"),
    ("cos", "ij", "exp(-(Sigma_ii + Sigma_jj)/2)*((exp(Sigma_ij) + exp(-Sigma_ij))/2 - 1)*cos(mu_i)*cos(mu_j)"
                  " + exp(-(Sigma_ii + Sigma_jj)/2)*(exp(Sigma_ij) - exp(-Sigma_ij))/2*sin(mu_i)*sin(mu_j)"),
]


@pytest.mark.parametrize("name, pattern, formula", HAND_FORMULAS, ids=[h[0] for h in HAND_FORMULAS])
def test_hand_formulas_of_the_families_check_equal_and_a_wrong_factor_does_not(name, pattern, formula):
    from symcorr.derivation import activations

    derivation = derive(activations.get(name), 2, 2)
    assert theory.check(derivation, pattern, formula).equal
    wrong = f"({formula})*(1 + Sigma_ii/1000)"
    assert not theory.check(derivation, pattern, wrong).equal
