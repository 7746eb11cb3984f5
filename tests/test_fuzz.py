"""Property-based fuzzing of the public API and the formula parser (issue "hostile and careless input").

Hypothesis draws random shapes, dtypes, NaN/inf placements, corruptions, expression trees and strings.
The properties: valid input gives the right numbers (checked against closed forms written here, not
against symcorr); invalid input raises ValueError (ExpressionError for the parser) naming the problem;
nothing else escapes (no TypeError, IndexError, RecursionError, OverflowError...) and nothing hangs.

Bounded and reproducible: ``derandomize=True`` (the same cases every run, no database), a fixed
number of examples per test (:data:`EXAMPLES`, 2600 cases in all, about 15 s on one core), and `hostile.no_hang` around each
test as a guard. Run ``pytest tests/test_fuzz.py --hypothesis-show-statistics`` for counts and times.
"""
import math
import os

import numpy as np
import pytest
import sympy as sp
from hostile import no_hang
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.special import erf as scipy_erf

from symcorr import Cumulants, activations, from_samples, linear, pointwise
from symcorr.notation.limits import ExpressionError, UnsafeExpressionError
from symcorr.notation.parse import parse_expression

EXAMPLES = {"cumulants": 500, "linear": 200, "pointwise": 200, "from_samples": 200, "trees": 500, "strings": 1000}
SCALE = int(os.environ.get("SYMCORR_FUZZ_SCALE", "1"))
"""``SYMCORR_FUZZ_SCALE=20`` runs 20 times the cases, randomized, to look for new failures by hand."""


def fuzz(name):
    return settings(max_examples=EXAMPLES[name] * SCALE, derandomize=SCALE == 1, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def symmetric(rng, n, order):
    from symcorr.numeric.tensors import symmetrized

    return symmetrized(rng.standard_normal((n,) * order))


@st.composite
def valid_tensors(draw, max_dim=4, max_order=4):
    """Cumulant tensors of some distribution: a PSD covariance (possibly singular), symmetric higher tensors."""
    n = draw(st.integers(0, max_dim))
    order = draw(st.integers(2, max_order))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = 10.0 ** draw(st.integers(-6, 6))
    rank = draw(st.integers(0, n))
    A = rng.standard_normal((n, rank)) * scale
    tensors = [rng.standard_normal(n) * scale, A @ A.T]
    tensors += [symmetric(rng, n, k) * scale**k for k in range(3, order + 1)]
    return tensors


CORRUPTIONS = ["none", "nan", "inf", "negative variance", "asymmetry", "wrong shape"]


@fuzz("cumulants")
@given(valid_tensors(), st.sampled_from(CORRUPTIONS), st.sampled_from(["float64", "float32", "float16", "int64", "list"]),
       st.integers(0, 2**16))
def test_cumulants_accept_valid_and_name_every_defect(tensors, corruption, dtype, where):
    n = tensors[0].shape[0]
    tensors = [t.copy() for t in tensors]
    target = where % len(tensors)
    expect_error = corruption != "none"
    if corruption in ("nan", "inf"):
        if tensors[target].size == 0:
            expect_error = False
        else:
            tensors[target].flat[where % tensors[target].size] = np.nan if corruption == "nan" else -np.inf
    elif corruption == "negative variance":
        if n == 0:
            expect_error = False
        else:
            tensors[1][where % n, where % n] = -abs(tensors[1][where % n, where % n]) - 1e-3
    elif corruption == "asymmetry":
        order = 2 + where % (len(tensors) - 1)
        if n < 2:
            expect_error = False
        else:
            tensors[order - 1][(0, 1) + (0,) * (order - 2)] += 1.0 + np.abs(tensors[order - 1]).max()
    elif corruption == "wrong shape":
        tensors[target] = tensors[target][..., None]
    if dtype == "list":
        assume(n > 0)  # nested lists cannot spell an empty (0, 0) matrix
        given_tensors = [t.tolist() for t in tensors]
    else:
        with np.errstate(all="ignore"):
            given_tensors = [t.astype(dtype) for t in tensors]
    lossy = dtype in ("float16", "int64")  # rounding may create or remove a defect (int64 cannot hold NaN)
    with no_hang(60):
        try:
            x = Cumulants(*given_tensors)
        except ValueError as error:
            assert expect_error or lossy, f"valid {dtype} input refused: {error}"
            return
    assert not expect_error or lossy, f"{corruption} was accepted"
    assert all(t.dtype == np.float64 for t in x.tensors) and x.dim == n
    for got, want in zip(x.tensors, given_tensors):
        np.testing.assert_array_equal(got, np.asarray(want, dtype=np.float64))
    assert all(np.isfinite(t).all() for t in x.tensors) and np.all(np.diag(x.cov) >= 0)


@fuzz("linear")
@given(valid_tensors(max_dim=3, max_order=3), st.integers(0, 3), st.integers(-1, 1),
       st.sampled_from(["finite", "nan", "inf"]), st.sampled_from(["float64", "float32", "int64"]),
       st.integers(0, 2**32 - 1))
def test_linear_is_exact_or_refuses(tensors, n_out, shape_error, defect, dtype, seed):
    x = Cumulants(*tensors)
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_out, max(x.dim + shape_error, 0))) * 3
    shape_error = W.shape[1] - x.dim
    b = rng.standard_normal(n_out)
    if defect != "finite" and W.size:
        W.flat[seed % W.size] = np.nan if defect == "nan" else np.inf
    W = W.astype(dtype) if dtype != "int64" else np.round(np.nan_to_num(W, nan=0, posinf=0)).astype(dtype)
    broken = shape_error != 0 or (defect != "finite" and W.size and dtype != "int64")
    with no_hang(60):
        try:
            z = linear(x, W, b)
        except ValueError:
            assert broken
            return
    assert not broken
    Wf = W.astype(np.float64)
    np.testing.assert_allclose(z.mean, Wf @ x.mean + b, rtol=1e-12, atol=1e-12 * (1 + np.abs(Wf).sum() * np.abs(x.mean).max(initial=0)))
    expected = Wf @ x.cov @ Wf.T
    np.testing.assert_allclose(z.cov, expected, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(expected).max(initial=0)))
    if x.order >= 3:
        want = np.einsum("ai,bj,ck,ijk->abc", Wf, Wf, Wf, x.kappa(3))
        np.testing.assert_allclose(z.kappa(3), want, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(want).max(initial=0)))


@fuzz("pointwise")
@given(st.integers(1, 3), st.sampled_from(["quadratic", "erf"]), st.floats(-3, 3), st.integers(0, 2**32 - 1),
       st.sampled_from(["finite", "nan"]))
def test_pointwise_matches_the_gaussian_closed_forms(n, family, alpha, seed, defect):
    rng = np.random.default_rng(seed)
    mean = rng.standard_normal(n) * 2
    A = rng.standard_normal((n, n))
    cov = A @ A.T / n + 1e-3 * np.eye(n)
    if defect == "nan":
        mean[seed % n] = np.nan
        with pytest.raises(ValueError, match="mean has a non-finite entry"):
            Cumulants(mean, cov)
        return
    x = Cumulants(mean, cov)
    var = np.diag(cov)
    with no_hang(120):
        if family == "quadratic":
            y = pointwise(x, activations.quadratic(alpha), order=2)
            # docs/theory.md section 5 for Gaussian input: E[z + a z^2], Var[z + a z^2]
            np.testing.assert_allclose(y.mean, mean + alpha * (mean**2 + var), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(np.diag(y.cov), (1 + 2 * alpha * mean) ** 2 * var + 2 * alpha**2 * var**2,
                                       rtol=1e-11, atol=1e-12)
        else:
            y = pointwise(x, activations.erf(), order=2)
            # E[erf(z)] = erf(mu / sqrt(1 + 2 sigma^2)) for z ~ N(mu, sigma^2)
            np.testing.assert_allclose(y.mean, scipy_erf(mean / np.sqrt(1 + 2 * var)), rtol=1e-12, atol=1e-14)
            assert np.all(np.diag(y.cov) >= -1e-14) and np.all(np.diag(y.cov) <= 1.0)
    assert all(np.isfinite(t).all() for t in y.tensors)


@fuzz("from_samples")
@given(st.integers(0, 40), st.integers(1, 3), st.integers(2, 4), st.sampled_from(["float64", "float32", "int64"]),
       st.sampled_from(["finite", "nan", "inf", "constant column"]), st.integers(0, 2**32 - 1))
def test_from_samples_estimates_or_refuses(n_samples, n, order, dtype, defect, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n)) * 5 + 1
    if defect == "constant column":
        X[:, seed % n] = 3.0
    elif defect != "finite" and X.size:
        X.flat[seed % X.size] = np.nan if defect == "nan" else np.inf
    X = X.astype(dtype) if dtype != "int64" else np.round(np.nan_to_num(X, nan=0, posinf=0)).astype(dtype)
    with no_hang(60):
        try:
            estimate = from_samples(X, order=order)
        except ValueError as error:
            too_few = n_samples < 2 * (2 * order + 2)
            non_finite = defect in ("nan", "inf") and X.size and dtype != "int64"
            assert too_few or non_finite, f"refused: {error}"
            return
    Xf = X.astype(np.float64)
    np.testing.assert_allclose(estimate.mean, Xf.mean(axis=0), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(estimate.cov, np.cov(Xf, rowvar=False).reshape(n, n), rtol=1e-8, atol=1e-9)


# -- the parser -----------------------------------------------------------------------------------

R = {"real": True}
LEAVES = {  # name in SymPy syntax, in LaTeX, and the object it stands for (docs/theory.md sections 1-5)
    "mu_i": (r"\mu_{i}", sp.Symbol("mu_i", **R)), "mu_j": (r"\mu_j", sp.Symbol("mu_j", **R)),
    "Sigma_ji": (r"\Sigma_{ji}", sp.Symbol("Sigma_ij", **R)), "v_i": (r"v_{i}", sp.Symbol("Sigma_ii", **R)),
    "kappa_jii": (r"\kappa_{j,i,i}", sp.Symbol("kappa_iij", **R)), "alpha": (r"\alpha", sp.Symbol("alpha", **R)),
    "z": ("z", sp.Symbol("z", **R)), "a1": ("a_{1}", sp.Symbol("a1", **R)), "pi": (r"\pi", sp.pi), "E": ("e", sp.E),
}
FUNCTIONS = {"exp": (r"\exp", sp.exp), "erf": (r"\operatorname{erf}", sp.erf), "log": (r"\log", sp.log),
             "sqrt": (r"\sqrt", sp.sqrt), "asin": (r"\arcsin", sp.asin)}


UNDEFINED = (sp.zoo, sp.nan, sp.oo, -sp.oo)


def leaf():
    names = st.sampled_from(sorted(LEAVES)).map(lambda name: (name, LEAVES[name][0], LEAVES[name][1], False))
    integers = st.integers(0, 12).map(lambda k: (str(k), str(k), sp.Integer(k), False))
    decimals = st.sampled_from(["0.5", "0.25", "1.75", "2.5"]).map(lambda d: (d, d, sp.Rational(d), False))
    return st.one_of(names, integers, decimals)


def node(sympy_text, latex_text, value, *children):
    """A tree node; its flag says whether some step divided by zero (even if SymPy's 1/0**0 hides it)."""
    return sympy_text, latex_text, value, any(c[3] for c in children) or value.has(*UNDEFINED)


def extend(children):
    """(SymPy text, LaTeX text, the expression built here with SymPy, undefined?) of one more operation."""
    def binary(pair, op):
        (s1, l1, e1, _), (s2, l2, e2, _) = pair
        if op == "+":
            return node(f"({s1} + {s2})", rf"\left({l1} + {l2}\right)", e1 + e2, *pair)
        if op == "-":
            return node(f"({s1} - {s2})", rf"\left({l1} - {l2}\right)", e1 - e2, *pair)
        if op == "*":
            return node(f"({s1}*{s2})", rf"{{{l1}}} \cdot {{{l2}}}", e1 * e2, *pair)
        return node(f"({s1}/{s2})", rf"\frac{{{l1}}}{{{l2}}}", e1 / e2, *pair)

    def power(child, k):
        s, l, e, _ = child
        return node(f"({s})**({k})", rf"\left({l}\right)^{{{k}}}", e**k, child)

    def function(child, name):
        s, l, e, _ = child
        latex = rf"\sqrt{{{l}}}" if name == "sqrt" else rf"{FUNCTIONS[name][0]}\left({l}\right)"
        return node(f"{name}({s})", latex, FUNCTIONS[name][1](e), child)

    def negative(child):
        s, l, e, _ = child
        return node(f"(-{s})", rf"\left(-{l}\right)", -e, child)

    return st.one_of(
        st.builds(binary, st.tuples(children, children), st.sampled_from("+-*/")),
        st.builds(power, children, st.integers(-3, 3)),
        st.builds(function, children, st.sampled_from(sorted(FUNCTIONS))),
        st.builds(negative, children),
    )


def trees():
    return st.recursive(leaf(), extend, max_leaves=10)


def equal(parsed, expected):
    if sp.expand(parsed - expected) == 0:
        return True
    symbols = sorted(expected.free_symbols | parsed.free_symbols, key=str)
    for point in ([0.3 + 0.1 * k for k in range(len(symbols))], [1.7 - 0.2 * k for k in range(len(symbols))]):
        values = dict(zip(symbols, point))
        a, b = complex(parsed.evalf(30, subs=values)), complex(expected.evalf(30, subs=values))
        if not (math.isfinite(abs(a)) and math.isfinite(abs(b))):
            continue
        if abs(a - b) > 1e-9 * max(1.0, abs(b)):
            return False
    return True


refusals = {"limit": 0, "cases": 0}


@fuzz("trees")
@given(trees(), st.sampled_from(["sympy", "latex"]))
def test_random_expression_trees_parse_to_what_they_say(tree, syntax):
    sympy_text, latex_text, expected, undefined = tree
    text = sympy_text if syntax == "sympy" else latex_text
    refusals["cases"] += 1
    with no_hang(60):
        if undefined:  # a division by zero somewhere, e.g. 1/(2 - 2)
            with pytest.raises(ExpressionError):
                parse_expression(text, syntax)
            return
        try:
            parsed = parse_expression(text, syntax)
        except UnsafeExpressionError as error:  # only a named limit may refuse a grammatical formula
            assert "symcorr.notation.limits." in str(error), str(error)
            refusals["limit"] += 1
            assert refusals["limit"] <= 0.1 * refusals["cases"] + 3
            return
        assert equal(parsed, expected), (text, parsed, expected)


FRAGMENTS = ["mu_i", "Sigma_ij", "kappa_iij", "alpha", "z", "E", "pi", "0", "7", "1e308", "1e-400", "0.5", "9" * 40,
             "+", "-", "*", "/", "**", "^", "(", ")", "[", "]", "{", "}", ",", "=", ".", " ", "\n", "#", ";", ":",
             "'", '"', "exp(", "erf(", "sqrt(", "__import__", "os", "lambda", "import", "\\frac", "\\left(",
             "\\right)", "\\mu_{i}", "\\alpha", "\\sqrt", "_", "&", "$", "\\\\", "\\begin{align*}", "\\end{align*}",
             "\x00", "é", "1_0", "0x1F", "1j", "**10000", "**-1", "!"]


@fuzz("strings")
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join) | st.text(max_size=60),
       st.sampled_from(["auto", "sympy", "latex"]))
def test_random_strings_parse_or_are_refused_with_an_expression_error(text, syntax):
    with no_hang(60):
        try:
            result = parse_expression(text, syntax)
        except ExpressionError:
            return
    assert isinstance(result, sp.Expr)
    assert not result.has(*UNDEFINED)
