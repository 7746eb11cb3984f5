r"""What a formula given as text may cost: limits checked before any expensive step.

A user's string (``symcorr check``, ``--activation``, :func:`symcorr.notation.parse.parse_expression`)
is parsed, never evaluated (:mod:`symcorr.notation.parse`), and it is also *priced* before SymPy
expands or simplifies it. Every refusal names the limit and the sub-expression that crossed it:

* :data:`MAX_LENGTH` characters, checked before a file is read to its end
  (:func:`read_expression_file`);
* :data:`MAX_DEPTH` levels of nesting (parentheses, exponents, function arguments);
* :data:`MAX_DIGITS` digits in the numerator or denominator of an exact number, typed or computed
  while parsing, and (an upper bound) in any coefficient of the expanded formula;
* numbers inside float64's range: a non-zero exact number :math:`x` needs
  :math:`2^{-1022} \le |x| \le 1.8 \cdot 10^{308}`, and a constant such as ``exp(700)`` an upper
  bound :math:`|\log_2 |x|| \le` :data:`MAX_LOG2_MAGNITUDE`. The kernels compute in float64, where
  ``1e-400`` would be 0 and ``1e999`` infinite, and SymPy cannot even order terms holding
  ``exp(exp(10000))``;
* :data:`MAX_TERMS` terms in the expansion of any sub-expression (an upper bound: a sum of
  :math:`t` terms to the power :math:`k` expands to at most :math:`\binom{t+k-1}{k}` terms, a
  product to at most the product of its factors' counts);
* :data:`MAX_DEGREE`, the total degree of the expanded formula as a polynomial in its symbols,
  ``E``, ``pi`` and function calls (``E**1000`` and ``exp(1000*mu_i)`` have degree 1000 for SymPy's
  polynomial algorithms, which is what makes ``factor`` slow); degrees multiply through nested
  powers, so ``((x**100)**100)**100`` has degree :math:`10^6`;
* a work budget of :data:`~symcorr.notation.limits.SIMPLIFY_SECONDS` seconds for simplification
  (:func:`within_budget`), since no size bound predicts the running time of ``factor`` or
  ``simplify``.

The shipped formula sheets stay far inside these limits (the largest formula has 583 terms of
degree 9); the tests parse every one of them.
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
import stat
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

MAX_LENGTH = 200_000
"""Longest accepted formula (characters), checked before a file is read to its end."""
MAX_DEPTH = 100
"""Deepest accepted nesting (parentheses, exponents, function arguments)."""
MAX_DIGITS = 400
"""Most decimal digits in the numerator or denominator of an exact number (typed, computed while
parsing, or bounding a coefficient of the expanded formula)."""
MAX_EXPONENT = 10_000
"""Largest accepted integer exponent as typed (``x**10001`` is refused before SymPy builds it)."""
MAX_TERMS = 20_000
"""Most terms the expansion of any sub-expression may have (an upper bound is checked)."""
MAX_DEGREE = 100
"""Highest total degree of the expanded formula (symbols, ``E``, ``pi`` and function calls count as
variables)."""
MAX_LOG2_MAGNITUDE = 1024.0
r"""Largest accepted bound on :math:`|\log_2 |c||` of a constant :math:`c` (float64's exponent range)."""
SIMPLIFY_SECONDS = 10.0
"""Work budget of one simplification (``factor``, ``simplify``) of a user's formula, in seconds."""

FLOAT64_MAX = sys.float_info.max
FLOAT64_SMALLEST_NORMAL = sys.float_info.min  # 2**-1022
_FLOAT64_MAX_INTEGER = int(FLOAT64_MAX)
_LOG2_10 = math.log2(10)
_CAP = 10**18  # counts above every limit are kept at this value (no astronomically large integers)


class ExpressionError(ValueError):
    """A formula that could not be parsed (syntax error, unknown name)."""


class UnsafeExpressionError(ExpressionError):
    """A formula refused by the whitelist (e.g. ``__import__``) or by a limit of this module."""


class BudgetExceededError(UnsafeExpressionError):
    """A simplification that did not finish within its work budget (:func:`within_budget`)."""


def _limit_name(name: str) -> str:
    return f"symcorr.notation.limits.{name}"


def _snippet(expression: sp.Basic, width: int = 80) -> str:
    """A short text of ``expression`` without sorting its terms (sorting evaluates constants)."""
    try:
        text = sp.sstr(expression, order="none")
    except Exception:  # pragma: no cover - printing a parsed expression does not fail
        text = type(expression).__name__
    return text if len(text) <= width else text[: width - 3] + "..."


# ---------------------------------------------------------------------------
# the text itself
# ---------------------------------------------------------------------------

def check_text(text, limit: int = MAX_LENGTH) -> str:
    """``text`` if it is a string of at most ``limit`` characters without NUL, else the error naming why."""
    if not isinstance(text, str):
        raise TypeError(f"a formula is a string, got {type(text).__name__}")
    if len(text) > limit:
        raise UnsafeExpressionError(
            f"refused: formula of {len(text)} characters (at most {limit}, {_limit_name('MAX_LENGTH')})")
    if "\x00" in text:
        raise UnsafeExpressionError("refused: formula contains a NUL character")
    return text


def read_expression_file(path, limit: int = MAX_LENGTH, stdin=None) -> str:
    """The text of the formula file ``path`` (``'-'``: standard input), reading at most ``limit + 1``
    characters: a longer file (``/dev/zero``, a log) is refused without being read to its end.

    Raises :class:`UnsafeExpressionError` for a file over the limit, :class:`ExpressionError` for
    one that is not UTF-8 text, :class:`OSError` (naming the path) when it cannot be opened.
    """
    name = "standard input" if str(path) == "-" else str(path)
    try:
        if str(path) == "-":
            text = (stdin or sys.stdin).read(limit + 1)
        else:
            path = Path(path)
            with open(path, encoding="utf-8") as stream:
                status = os.fstat(stream.fileno())
                if stat.S_ISREG(status.st_mode) and status.st_size > 4 * limit:  # UTF-8: <= 4 bytes a character
                    raise UnsafeExpressionError(
                        f"refused: {name} holds {status.st_size} bytes, more than a formula of at most "
                        f"{limit} characters ({_limit_name('MAX_LENGTH')})")
                text = stream.read(limit + 1)
    except UnicodeDecodeError as error:
        raise ExpressionError(f"{name} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    if len(text) > limit:
        raise UnsafeExpressionError(
            f"refused: {name} holds more than {limit} characters ({_limit_name('MAX_LENGTH')}); "
            "a formula file holds one formula")
    return text


# ---------------------------------------------------------------------------
# exact numbers
# ---------------------------------------------------------------------------

def _log2_abs(n: int) -> float:
    """:math:`\\log_2 |n|` for a non-zero integer of any size."""
    n = abs(n)
    bits = n.bit_length()
    if bits <= 1000:
        return math.log2(n)
    return bits - 1000 + math.log2(n >> (bits - 1000))


def check_number(value: sp.Rational, text: str | None = None) -> sp.Rational:
    """``value`` if its numerator and denominator have at most :data:`MAX_DIGITS` digits and it is 0 or
    within float64's normal range; else :class:`UnsafeExpressionError` naming the limit."""
    if value == 0:
        return value
    shown = text or _snippet(value, 40)
    p, q = abs(int(value.p)), int(value.q)
    if p > _FLOAT64_MAX_INTEGER * q:
        raise UnsafeExpressionError(
            f"refused: number {shown} exceeds float64's largest finite number {FLOAT64_MAX:.4g} "
            "(the kernels compute in float64, where it would be infinite)")
    if p << 1022 < q:
        raise UnsafeExpressionError(
            f"refused: number {shown} is smaller in magnitude than float64's smallest normal number "
            f"{FLOAT64_SMALLEST_NORMAL:.4g} (the kernels compute in float64, where it would be 0)")
    digits = max(_digits(p), _digits(q))
    if digits > MAX_DIGITS:
        raise UnsafeExpressionError(
            f"refused: number {shown} has {digits} digits (at most {MAX_DIGITS}, {_limit_name('MAX_DIGITS')})")
    return value


def _digits(n: int) -> int:
    n = abs(n)
    return len(str(n)) if n.bit_length() < 4000 else int(n.bit_length() / _LOG2_10) + 1


def number_power_allowed(base: sp.Rational, exponent: int) -> None:
    """Refuse ``base**exponent`` (exact numbers) before computing it when the result would exceed
    :data:`MAX_DIGITS` digits."""
    if base == 0 or abs(base) == 1:
        return
    bits = max(int(base.p).bit_length(), int(base.q).bit_length())
    if abs(exponent) * (bits - 1) > MAX_DIGITS * _LOG2_10 + 64:
        raise UnsafeExpressionError(
            f"refused: {_snippet(base, 40)}**{exponent} has more than {MAX_DIGITS} digits "
            f"({_limit_name('MAX_DIGITS')})")


# ---------------------------------------------------------------------------
# the cost of expanding an expression
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ExpressionCost:
    """Upper bounds on what expanding an expression produces (see the module docstring).

    ``terms``: terms of its expansion; ``degree``: total degree; ``bits``: bits of the numerator or
    denominator of any coefficient; ``work``: the most terms any of its sub-expressions expands to
    (denominators and function arguments included); ``magnitude``: for a constant :math:`c`, a bound
    on :math:`|\\log_2|c||` (``None`` for an expression with symbols); ``upper``: for a constant, a
    bound on :math:`\\log_2|c|` (which may be negative).
    """

    terms: int
    degree: int
    bits: int
    work: int
    magnitude: float | None = None
    upper: float | None = None

    @property
    def digits(self) -> int:
        return math.ceil(self.bits / _LOG2_10)


def _capped(n) -> int:
    return int(min(n, _CAP))


def _multinomial_terms(terms: int, power: int) -> int:
    """Most terms of a sum of ``terms`` terms to the power ``power``: :math:`\\binom{t+k-1}{k}`."""
    if power == 0 or terms <= 1:
        return 1
    small = min(power, terms - 1)
    if small > 64:
        return _CAP
    return _capped(math.comb(terms + power - 1, small))


def _exp2(x: float) -> float:
    return math.inf if x > 1000 else 2.0**x


def _coefficient_numerators(exponent: sp.Expr) -> tuple[sp.Rational, int]:
    """The rational constant of an exponent and the sum of |numerators| of its symbolic terms'
    coefficients (SymPy's polynomial code writes ``exp(1000*x)`` as ``exp(x)**1000``)."""
    constant, rest = exponent.as_coeff_Add()
    symbolic = 0
    if not constant.is_Rational:
        constant, symbolic = sp.Integer(0), 1
    for term in sp.Add.make_args(rest):
        if term == 0:
            continue
        coefficient = term.as_coeff_Mul()[0]
        symbolic += abs(int(coefficient.p)) if coefficient.is_Rational else 1
    return constant, symbolic


def _node_cost(node: sp.Basic, children: list[ExpressionCost]) -> ExpressionCost:
    work = max((c.work for c in children), default=1)
    constant = bool(children) and all(c.magnitude is not None for c in children)
    if node.is_Rational:
        if node == 0:
            return ExpressionCost(1, 0, 1, 1, 0.0, -math.inf)
        upper = _log2_abs(int(node.p)) - _log2_abs(int(node.q))
        bits = max(int(node.p).bit_length(), int(node.q).bit_length())
        return ExpressionCost(1, 0, bits, 1, abs(upper), upper)
    if node.is_Float:  # from a SymPy object passed in by hand
        if not node.is_finite:
            raise UnsafeExpressionError(f"refused: {node} is not a finite number")
        _, mantissa, exponent, bit_count = node._mpf_
        upper = -math.inf if mantissa == 0 else float(exponent + bit_count)
        return ExpressionCost(1, 0, 64, 1, abs(upper) if mantissa else 0.0, upper)
    if node.is_Number:  # infinities and nan
        raise UnsafeExpressionError(f"refused: {node} is not a finite number")
    if isinstance(node, sp.NumberSymbol) or node is sp.I:
        return ExpressionCost(1, 1, 1, 1, 2.0, 2.0)
    if node.is_Atom:
        return ExpressionCost(1, 1, 1, 1)
    if node.is_Add:
        terms = _capped(sum(c.terms for c in children))
        bits = max(c.bits for c in children) + math.ceil(math.log2(len(children)))
        magnitude = upper = None
        if constant:
            magnitude = max(c.magnitude for c in children) + math.log2(len(children))
            upper = max(c.upper for c in children) + math.log2(len(children))
        return ExpressionCost(terms, max(c.degree for c in children), bits, max(work, terms), magnitude, upper)
    if node.is_Mul:
        terms = _capped(math.prod(c.terms for c in children))
        bits = _capped(sum(c.bits for c in children) + math.ceil(math.log2(max(terms, 1))))
        magnitude = sum(c.magnitude for c in children) if constant else None
        upper = sum(c.upper for c in children) if constant else None
        return ExpressionCost(terms, _capped(sum(c.degree for c in children)), bits, max(work, terms),
                              magnitude, upper)
    if node.is_Pow or isinstance(node, sp.exp):
        if isinstance(node, sp.exp):
            base, exponent = ExpressionCost(1, 1, 1, 1, 1.4427, 1.4427), node.args[0]  # E, log2(e) < 1.4427
            exponent_cost = children[0]
        else:
            (base, exponent_cost), exponent = children, node.exp
        rational, symbolic = _coefficient_numerators(exponent)
        whole = int(abs(rational.p) // rational.q)
        expanded = _multinomial_terms(base.terms, whole)
        terms = expanded if rational >= 0 else 1
        if base.degree == 0 and exponent.is_Rational:  # a number such as sqrt(2)
            degree = 0 if node.is_Rational else 1
        else:  # 2**(1000*x) is a polynomial of degree 1000 in 2**x for SymPy
            degree = _capped(max(base.degree, 1) * (abs(int(rational.p)) + symbolic))
        bits = _capped(whole * (base.bits + math.ceil(math.log2(max(base.terms, 1)))) + 1)
        magnitude = upper = None
        if constant:
            if exponent.is_Rational:
                magnitude = abs(float(exponent)) * base.magnitude
                upper = float(exponent) * base.upper if exponent >= 0 else magnitude
            else:  # |b**e| = 2**(e log2 b) with |e| <= 2**upper(e)
                magnitude = upper = _exp2(exponent_cost.upper) * base.magnitude
        return ExpressionCost(terms, degree, bits, max(work, expanded), magnitude, upper)
    # a function call: a variable for the polynomial algorithms; constants get a bound on their size
    magnitude = upper = None
    if constant:
        argument = children[0]
        name = type(node).__name__
        if name == "erfc":  # erfc(x) ~ exp(-x**2) for large x
            magnitude, upper = 1.4427 * _exp2(2 * argument.upper) + 1, 1.0
        elif name == "log":
            magnitude = upper = math.log2(0.6932 * argument.magnitude + 1) + 1
        elif name in ("erf", "asin", "sin", "cos"):
            magnitude, upper = argument.magnitude + 1, 1.0
        else:
            magnitude = upper = argument.magnitude + 1
    return ExpressionCost(1, 1, 1, work, magnitude, upper)


def _check_cost(node: sp.Basic, cost: ExpressionCost) -> None:
    if cost.magnitude is not None and not cost.magnitude <= MAX_LOG2_MAGNITUDE:
        shown = "more than 10**300" if cost.magnitude > 1e300 else f"{cost.magnitude:.0f}"
        raise UnsafeExpressionError(
            f"refused: the constant {_snippet(node)} may lie outside float64's range: its binary exponent "
            f"may reach +-{shown} (at most +-{MAX_LOG2_MAGNITUDE:.0f}, {_limit_name('MAX_LOG2_MAGNITUDE')})")
    if cost.work > MAX_TERMS:
        shown = "more than 10**18" if cost.work >= _CAP else str(cost.work)
        raise UnsafeExpressionError(
            f"refused: expanding {_snippet(node)} gives up to {shown} terms "
            f"(at most {MAX_TERMS}, {_limit_name('MAX_TERMS')})")
    if cost.degree > MAX_DEGREE:
        shown = "more than 10**18" if cost.degree >= _CAP else str(cost.degree)
        raise UnsafeExpressionError(
            f"refused: {_snippet(node)} has degree {shown} as a polynomial "
            f"(at most {MAX_DEGREE}, {_limit_name('MAX_DEGREE')})")
    if cost.digits > MAX_DIGITS:
        raise UnsafeExpressionError(
            f"refused: expanding {_snippet(node)} gives coefficients of up to {cost.digits} digits "
            f"(at most {MAX_DIGITS}, {_limit_name('MAX_DIGITS')})")


def expression_cost(expression: sp.Basic, check: bool = True) -> ExpressionCost:
    """The :class:`ExpressionCost` of ``expression``; with ``check`` (default), the first (innermost)
    sub-expression over a limit of this module raises :class:`UnsafeExpressionError` naming it.

    Iterative (any nesting depth); every exact number is checked with :func:`check_number`.
    """
    if not isinstance(expression, sp.Basic):
        raise TypeError(f"expected a SymPy expression, got {type(expression).__name__}")
    costs: dict[sp.Basic, ExpressionCost] = {}
    stack = [(expression, False)]
    while stack:
        node, expanded = stack.pop()
        if node in costs:
            continue
        if not expanded and node.args:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in costs)
            continue
        if check and node.is_Rational:
            check_number(node)
        cost = _node_cost(node, [costs[a] for a in node.args])
        if check:
            _check_cost(node, cost)
        costs[node] = cost
    return costs[expression]


def check_expression_cost(expression: sp.Basic) -> sp.Basic:
    """``expression`` if it is within every limit of this module (see :func:`~symcorr.notation.limits.expression_cost`)."""
    expression_cost(expression, check=True)
    return expression


# ---------------------------------------------------------------------------
# a time budget for simplification
# ---------------------------------------------------------------------------

class _Expired(BaseException):
    """Raised by the alarm; a BaseException so that SymPy's ``except Exception`` cannot swallow it."""


@contextlib.contextmanager
def _alarm(seconds: float):
    """Raise :class:`_Expired` in this thread after ``seconds`` (and every 0.05 s after, in case code
    under the budget swallows it); yields a list that holds True once the alarm has fired.

    An alarm already set by the caller (``ITIMER_REAL``) is kept: when it falls due first, its own
    handler runs, and on exit it is re-armed for the time it had left.
    """
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield None
        return
    fired, active = [False], [True]
    start = time.monotonic()
    outer_remaining, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    outer_deadline = start + outer_remaining if outer_remaining > 0 else math.inf

    def handler(signum, frame):
        if not active[0]:
            return
        if time.monotonic() >= outer_deadline - 1e-3 and callable(previous):
            previous(signum, frame)  # the caller's alarm is due: its handler decides (e.g. raises)
            return
        fired[0] = True
        raise _Expired

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, outer_remaining or seconds), 0.05)
    try:
        yield fired
    finally:
        try:
            active[0] = False
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if outer_remaining > 0:
                signal.setitimer(signal.ITIMER_REAL, max(outer_deadline - time.monotonic(), 1e-3), outer_interval)


def within_budget(function, *args, seconds: float | None = None, what: str = "simplification", **kwargs):
    """``function(*args, **kwargs)``, refused with :class:`BudgetExceededError` after ``seconds``
    (default :data:`~symcorr.notation.limits.SIMPLIFY_SECONDS`).

    The budget is a real-time alarm (``SIGALRM``), so it applies in the main thread of a POSIX
    process; elsewhere ``function`` runs without a time limit and only the size limits of
    :func:`~symcorr.notation.limits.expression_cost` protect it. A caller's own alarm is kept (see ``_alarm``). A result
    computed while the alarm was being swallowed is discarded, never returned.
    """
    seconds = SIMPLIFY_SECONDS if seconds is None else float(seconds)
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    expired = BudgetExceededError(
        f"refused: {what} did not finish within its work budget of {seconds:g} s "
        f"({_limit_name('SIMPLIFY_SECONDS')})")
    try:
        with _alarm(seconds) as fired:
            result = function(*args, **kwargs)
            if fired and fired[0]:
                raise _Expired
    except _Expired:
        raise expired from None
    return result


__all__ = [
    "MAX_DEGREE",
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "MAX_LOG2_MAGNITUDE",
    "MAX_TERMS",
    "SIMPLIFY_SECONDS",
    "BudgetExceededError",
    "ExpressionCost",
    "ExpressionError",
    "UnsafeExpressionError",
    "check_expression_cost",
    "check_number",
    "check_text",
    "expression_cost",
    "number_power_allowed",
    "read_expression_file",
    "within_budget",
]
