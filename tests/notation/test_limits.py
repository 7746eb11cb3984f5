"""The cost model of user formulas (symcorr.notation.limits): every refusal names its limit, nothing
hangs, nothing is silently changed, and the shipped formulas stay far inside the limits.

Adversarial inputs run under `hostile.no_hang`.
"""
import io
import re
import signal
import threading
import time
from pathlib import Path

import pytest
import sympy as sp

import symcorr.codegen.generated
from hostile import ISSUE_CASES, no_hang
from symcorr.notation import limits
from symcorr.notation.limits import (
    BudgetExceededError,
    ExpressionError,
    UnsafeExpressionError,
    expression_cost,
    read_expression_file,
    within_budget,
)
from symcorr.notation.parse import parse_expression, parse_latex, parse_sympy

R = dict(real=True)
mu_i, mu_j, S_ij = sp.Symbol("mu_i", **R), sp.Symbol("mu_j", **R), sp.Symbol("Sigma_ij", **R)
z = sp.Symbol("z", **R)


@pytest.mark.parametrize("text, message", ISSUE_CASES)
def test_issue_inputs_are_refused_by_the_parser_naming_the_limit(text, message):
    with no_hang():
        with pytest.raises(UnsafeExpressionError, match="refused: .*" + message):
            parse_expression(text)


@pytest.mark.parametrize("text, message", [
    ("mu_i**101", "degree 101 as a polynomial (at most 100"),
    ("exp(1000*mu_i)", "degree 1000 as a polynomial"),
    ("2**(1000*mu_i)", "degree 1000 as a polynomial"),
    ("(mu_i + 1e300*mu_j)**2", "coefficients of up to"),
    ("mu_i**10001", "exponent 10001 exceeds 10000 (symcorr.notation.limits.MAX_EXPONENT)"),
    ("2**2000", "more than 400 digits"),
    ("1" * 401, "number literal with 401 digits (at most 400"),
    ("1e99999999999", "exceeds float64's largest"),
    ("exp(101)", "exp(101) has degree 101 as a polynomial"),  # SymPy's polynomials: E**101
    ("exp(exp(7))", "binary exponent may reach +-1582"),  # e**(e**7) ~ 2**1582 > 1.8e308
    ("*".join(["9**99"] * 1000), "exceeds float64's largest finite number"),
    ("(" * 101 + "mu_i" + ")" * 101, "nested deeper than 100 levels (symcorr.notation.limits.MAX_DEPTH)"),
    ("mu_i" + "**mu_i" * 101, "nested deeper than 100 levels"),
    ("\\sqrt" * 120 + "{2}", "nested deeper than 100 levels"),
    ("x" * (limits.MAX_LENGTH + 1), "formula of 200001 characters (at most 200000"),
])
def test_limits_are_named(text, message):
    with no_hang(), pytest.raises(UnsafeExpressionError, match=re.escape(message)):
        parse_expression(text)


def test_inputs_just_inside_the_limits_are_exact():
    assert parse_sympy("mu_i**100") == mu_i**100
    assert parse_sympy("exp(100) + exp(exp(6))") == sp.exp(100) + sp.exp(sp.exp(6))
    assert parse_sympy("1.5e308") == sp.Integer(15) * sp.Integer(10) ** 307
    assert parse_sympy("2.5e-307") == sp.Rational(25, 10**308)
    assert parse_sympy("1e-3*mu_i") == mu_i / 1000
    assert parse_sympy("0x10 + 1_000") == 1016
    assert parse_sympy("(" * 99 + "mu_i" + ")" * 99) == mu_i
    assert parse_sympy("-" * 10_001 + "mu_i") == -mu_i  # signs are counted, not nested


def test_a_long_sum_parses_in_both_syntaxes():
    # the ast-based parser refused a sum of more than ~250 terms ("nested deeper than 200")
    n = 1000
    powers = [(k % 30, k // 30 % 30, k // 900) for k in range(1, n)]  # distinct monomials
    expected = sp.Add(*(k * mu_i**a * mu_j**b * S_ij**c for k, (a, b, c) in enumerate(powers, 1)))
    with no_hang():
        sympy_text = " + ".join(f"{k}*mu_i**{a}*mu_j**{b}*Sigma_ij**{c}" for k, (a, b, c) in enumerate(powers, 1))
        assert parse_sympy(sympy_text) == expected
        latex_text = " + ".join(f"{k} \\mu_i^{{{a}}} \\mu_j^{{{b}}} \\Sigma_{{ij}}^{{{c}}}"
                                for k, (a, b, c) in enumerate(powers, 1))
        assert parse_latex(latex_text) == expected


def test_growing_sums_and_products_of_numbers_stop_at_the_digit_limit():
    primes = list(sp.primerange(2, 10**4))  # the product of the first 300 primes has > 700 digits
    with no_hang():
        with pytest.raises(UnsafeExpressionError, match="has 401 digits"):  # the lcm of the denominators
            parse_sympy(" + ".join(f"mu_i/{p}" for p in primes[:300]))
        with pytest.raises(UnsafeExpressionError, match="float64's smallest normal number"):
            parse_latex(" ".join(f"\\frac{{1}}{{{p}}}" for p in primes[:300]))


def test_every_shipped_formula_is_far_inside_the_limits():
    sheet = (Path(symcorr.codegen.generated.__file__).parent / "formulas.md").read_text()
    # the polynomial families' formulas: the others name functions (erf, relu, ...) the parser does not take
    polynomial = "".join(part for part in re.split(r"^(?=## )", sheet, flags=re.M)
                         if part.startswith(("## quadratic", "## cubic")))
    blocks = re.findall(r"\$\$(.*?)\$\$", polynomial, re.DOTALL)
    assert len(blocks) >= 30
    costs = [expression_cost(parse_latex(block)) for block in blocks]
    assert max(c.terms for c in costs) == 583 and max(c.degree for c in costs) == 9
    assert max(c.work for c in costs) * 30 < limits.MAX_TERMS
    assert max(c.degree for c in costs) * 10 < limits.MAX_DEGREE


def test_cost_bounds_hold_on_expansions():
    """The bounds are upper bounds: compare with SymPy's own expansion on small cases."""
    for text in ["(mu_i + mu_j + Sigma_ij)**4", "(mu_i + 2*mu_j)**3*(Sigma_ij - 1)**2", "exp(2*mu_i + mu_j)**3",
                 "(mu_i/3 + mu_j/5)**6 + mu_i*mu_j/7", "1/(mu_i + mu_j)**3 + sqrt(mu_i + 1)"]:
        expression = parse_sympy(text)
        cost = expression_cost(expression)
        expanded = sp.expand(expression)
        assert len(sp.Add.make_args(expanded)) <= cost.terms <= cost.work, text
        coefficients = [term.as_coeff_Mul()[0] for term in sp.Add.make_args(expanded)]
        assert max(max(int(c.p).bit_length(), int(c.q).bit_length()) for c in coefficients) <= cost.bits, text
        generators = sp.Poly(sp.expand(expression), *sorted(expanded.atoms(sp.Symbol), key=str)).gens \
            if expanded.is_polynomial() else None
        if generators:
            assert sp.Poly(expanded, *generators).total_degree() <= cost.degree, text


def test_sympy_objects_passed_in_are_priced_too():
    with pytest.raises(UnsafeExpressionError, match="MAX_TERMS"):
        limits.check_expression_cost((mu_i + mu_j + S_ij + z + 1) ** 1000)
    with pytest.raises(UnsafeExpressionError, match="not a finite number"):
        limits.check_expression_cost(mu_i + sp.oo)
    deep = mu_i
    for _ in range(5000):  # deeper than Python's recursion limit: the walk is iterative
        deep = sp.erf(deep, evaluate=False)
    assert expression_cost(deep).degree == 1
    assert limits.check_expression_cost(sp.Float(0.5) * z**2) == sp.Float(0.5) * z**2


# -- reading a formula file -----------------------------------------------------

def test_dev_zero_is_refused_after_reading_at_most_the_limit():
    with no_hang():
        with pytest.raises(UnsafeExpressionError, match="refused: /dev/zero holds more than 200000 characters"):
            read_expression_file("/dev/zero")


def test_a_large_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "huge.txt"
    with open(path, "wb") as stream:
        stream.truncate(10**10)  # sparse: 10 GB claimed, nothing written
    with pytest.raises(UnsafeExpressionError, match="holds 10000000000 bytes, more than a formula of at most"):
        read_expression_file(path)


def test_formula_files_read_as_text(tmp_path):
    path = tmp_path / "formula.txt"
    path.write_text("# the covariance\nSigma_ij +\n  mu_i  # a comment\n")
    assert parse_sympy(read_expression_file(path)) == S_ij + mu_i
    assert read_expression_file("-", stdin=io.StringIO("mu_i")) == "mu_i"
    with pytest.raises(UnsafeExpressionError, match="standard input holds more than 3"):
        read_expression_file("-", limit=3, stdin=io.StringIO("mu_i"))
    path.write_bytes(b"mu_i + \xff\xfe")
    with pytest.raises(ExpressionError, match="is not UTF-8 text"):
        read_expression_file(path)
    with pytest.raises(OSError):
        read_expression_file(tmp_path / "missing.txt")


# -- the work budget ------------------------------------------------------------

def test_a_simplification_over_budget_is_refused_naming_the_budget():
    slow = sp.expand((mu_i + 2 * mu_j + 3 * S_ij) ** 40) - 1  # factor takes seconds
    handler = signal.getsignal(signal.SIGALRM)
    start = time.monotonic()
    with pytest.raises(BudgetExceededError, match=r"refused: factoring did not finish within its work budget "
                                                  r"of 0.2 s \(symcorr.notation.limits.SIMPLIFY_SECONDS\)"):
        within_budget(sp.factor, slow, seconds=0.2, what="factoring")
    assert time.monotonic() - start < 30
    assert signal.getsignal(signal.SIGALRM) is handler and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    assert within_budget(sp.factor, mu_i**2 - mu_j**2) == (mu_i - mu_j) * (mu_i + mu_j)


def test_a_result_computed_while_the_alarm_was_swallowed_is_discarded():
    def stubborn():
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            try:
                time.sleep(0.01)
            except BaseException:  # noqa: BLE001 - the point of the test
                pass
        return 42

    with pytest.raises(BudgetExceededError):
        within_budget(stubborn, seconds=0.1)


def test_outside_the_main_thread_the_budget_does_not_apply_but_the_size_limits_do():
    results = []
    thread = threading.Thread(target=lambda: results.append(within_budget(sp.factor, mu_i**2 - 1, seconds=0.001)))
    thread.start()
    thread.join()
    assert results == [(mu_i - 1) * (mu_i + 1)]


def test_a_callers_own_alarm_is_kept():
    with pytest.raises(AssertionError, match="did not finish within 1 s"), no_hang(1):
        within_budget(time.sleep, 5, seconds=10)  # the caller's alarm falls due first
    with pytest.raises(AssertionError, match="did not finish within 1 s"), no_hang(1):
        within_budget(lambda: None, seconds=10)
        time.sleep(5)  # re-armed on exit for the time it had left
    with no_hang(30), pytest.raises(BudgetExceededError):
        within_budget(time.sleep, 5, seconds=0.1)  # the budget falls due first
