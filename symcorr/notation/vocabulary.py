r"""The whitelist both formula syntaxes share: names, numbers, functions, and the checked builders.

Names map to the symbols of docs/theory.md sections 1-5 as
:func:`symcorr.notation.symbols.cumulant_symbol` spells them, whatever the index order: ``mu_i`` ->
:math:`\mu_i`; ``Sigma_ji`` -> :math:`\Sigma_{ij}`; ``v_i`` -> :math:`\Sigma_{ii}` (docs/theory.md
section 4 writes :math:`v_a = \Sigma_{aa}`); ``kappa_jii`` -> :math:`\kappa_{iij}`; ``alpha``,
``a0``, ``a1``, ... (the activation parameters), ``z`` (the activation's argument), ``pi``, ``E``,
and the vertex functions ``g1d2_i`` of :func:`symcorr.notation.symbols.vertex_symbol`.

The parsers (:mod:`~symcorr.notation.sympy_syntax`, :mod:`~symcorr.notation.latex_syntax`) build
every SymPy object through the functions here, which check the limits of
:mod:`symcorr.notation.limits` *before* SymPy computes anything large: a number literal's digits
and range before it is converted, a power of numbers before it is evaluated, sums and products of
numbers after every step (so ``9**99*9**99*...`` stops at the first product over the limit), and
whole sums and products built in one call (linear in their length).
"""
from __future__ import annotations

import re

import sympy as sp

from symcorr.notation.limits import (
    MAX_DEPTH,
    MAX_DIGITS,
    MAX_EXPONENT,
    ExpressionError,
    UnsafeExpressionError,
    check_expression_cost,
    check_number,
    number_power_allowed,
)
from symcorr.notation.symbols import (
    ALPHA,
    NEURON_LABELS,
    Z,
    cumulant_symbol,
    vertex_symbol,
)

FUNCTIONS = {
    "erf": (sp.erf, 1),
    "erfc": (sp.erfc, 1),
    "exp": (sp.exp, 1),
    "sqrt": (sp.sqrt, 1),
    "log": (sp.log, 1),
    "asin": (sp.asin, 1),
    "arcsin": (sp.asin, 1),
    "sin": (sp.sin, 1),
    "cos": (sp.cos, 1),
}
"""Functions a formula may call: name -> (SymPy function, number of arguments)."""

_LABELS = set(NEURON_LABELS)
_VERTEX = re.compile(r"g(\d{1,3})d(\d{1,3})_([a-z])")
_DECIMAL = re.compile(r"(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")


def _labels(stem: str, key: str, name: str, orders: range) -> str:
    if not key or not set(key) <= _LABELS:
        raise ExpressionError(
            f"unknown name {name!r}: {stem}_ needs neuron labels from {NEURON_LABELS!r} (e.g. {stem}_ij)"
        )
    if len(key) not in orders:
        raise ExpressionError(
            f"unknown name {name!r}: {stem} takes {orders.start}"
            + (f"..{orders.stop - 1}" if len(orders) > 1 else "")
            + f" neuron label(s), got {len(key)}"
        )
    return key


def resolve_name(name: str) -> sp.Expr:
    """The SymPy object a name stands for (see the module docstring).

    Raises :class:`ExpressionError` naming the problem for any other name.
    """
    if name == "z":
        return Z
    if name == "alpha":
        return ALPHA
    if name == "pi":
        return sp.pi
    if name == "E":
        return sp.E
    if re.fullmatch(r"a\d{1,6}", name):
        return sp.Symbol(name, real=True)
    vertex = _VERTEX.fullmatch(name)
    if vertex:
        power, derivative, label = vertex.groups()
        return vertex_symbol(label, int(power), int(derivative))
    stem, underscore, key = name.partition("_")
    if underscore:
        if stem == "mu":
            return cumulant_symbol(_labels(stem, key, name, range(1, 2)))
        if stem == "Sigma":
            return cumulant_symbol(_labels(stem, key, name, range(2, 3)))
        if stem == "v":
            return cumulant_symbol(_labels(stem, key, name, range(1, 2)) * 2)
        if stem == "kappa":
            return cumulant_symbol(_labels(stem, key, name, range(1, 100)))
    shown = name if len(name) <= 40 else name[:37] + "..."
    raise ExpressionError(
        f"unknown name {shown!r}; known names: mu_i, Sigma_ij, v_i, kappa_iij (any neuron labels "
        f"from {NEURON_LABELS!r}), alpha, a0, a1, ..., z, pi, E, vertex functions g1d2_i, "
        f"and the functions {', '.join(sorted(FUNCTIONS))}"
    )


def normalize_symbols(expression: sp.Expr) -> sp.Expr:
    """Replace symbols by symcorr's own (real) ones by name: ``Symbol('Sigma_ji')`` -> ``Sigma_ij``.

    For SymPy objects built by hand; names that :func:`resolve_name` does not
    know are left alone.
    """
    replacements = {}
    for symbol in expression.free_symbols:
        try:
            replacements[symbol] = resolve_name(symbol.name)
        except ExpressionError:
            pass
    return expression.xreplace(replacements)


def make_number(text: str) -> sp.Rational:
    """The exact number a literal stands for (``0.1`` is 1/10, ``1e-3`` is 1/1000), refused before
    conversion when it has more than :data:`~symcorr.notation.limits.MAX_DIGITS` digits or lies
    outside float64's range."""
    clean = text.replace("_", "")
    if clean[-1:] in ("j", "J"):
        raise UnsafeExpressionError(f"refused: literal {text} is not a real number")
    if clean[:2].lower() in ("0x", "0o", "0b"):
        if len(clean) > MAX_DIGITS + 2:
            raise UnsafeExpressionError(f"refused: number literal with {len(clean) - 2} digits (at most {MAX_DIGITS})")
        try:
            return check_number(sp.Integer(int(clean, 0)), text)
        except ValueError:
            raise ExpressionError(f"malformed number {text!r}") from None
    match = _DECIMAL.fullmatch(clean)
    if not match or not (match.group(1) or match.group(2)):
        raise ExpressionError(f"malformed number {text!r}")
    whole, fraction, exponent = match.group(1), match.group(2) or "", match.group(3)
    digits = len(whole) + len(fraction)
    if digits > MAX_DIGITS:
        raise UnsafeExpressionError(
            f"refused: number literal with {digits} digits (at most {MAX_DIGITS}, "
            "symcorr.notation.limits.MAX_DIGITS)")
    shift = 0
    if exponent is not None:
        if len(exponent.lstrip("+-").lstrip("0")) > 6:
            shift = 10**7 if not exponent.startswith("-") else -(10**7)
        else:
            shift = int(exponent)
    significant = (whole + fraction).lstrip("0")
    if not significant:
        return sp.Integer(0)
    # decimal exponent of the leading digit; outside float64's range: refuse without computing 10**shift
    leading = shift + len(whole.lstrip("0")) - 1 if whole.lstrip("0") else \
        shift - (len(fraction) - len(fraction.lstrip("0"))) - 1
    if leading > 309:
        return check_number(sp.Integer(10) ** 310, text)  # raises, naming the literal
    if leading < -309:
        return check_number(sp.Rational(1, 10**310), text)
    mantissa = int(whole + fraction)
    shift -= len(fraction)
    value = sp.Integer(mantissa) * sp.Integer(10) ** shift if shift >= 0 else sp.Rational(mantissa, 10**-shift)
    return check_number(value, text)


def power(base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
    """``base**exponent``, refusing integer exponents over :data:`~symcorr.notation.limits.MAX_EXPONENT`
    and powers of numbers that would exceed the digit limit, before SymPy evaluates them."""
    if exponent.is_Rational:
        if abs(exponent.p) > MAX_EXPONENT:
            raise UnsafeExpressionError(
                f"refused: exponent {exponent} exceeds {MAX_EXPONENT} (symcorr.notation.limits.MAX_EXPONENT)")
        if base.is_Rational:
            number_power_allowed(base, int(exponent.p) // int(exponent.q) if exponent.q > 1 else int(exponent.p))
    if base == 0 and exponent.is_number and exponent.is_negative:
        raise ExpressionError(f"0**{exponent} is a division by zero")
    result = sp.Pow(base, exponent)
    if result.is_Rational:
        check_number(result)
    if result.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise ExpressionError(f"{base}**{exponent} is not a finite number")
    return result


def reciprocal(denominator: sp.Expr) -> sp.Expr:
    """``1/denominator``, refusing a denominator that is zero."""
    if denominator == 0:
        raise ExpressionError("division by zero")
    return power(denominator, sp.Integer(-1))


def call(name: str, arguments: list[sp.Expr]) -> sp.Expr:
    """``name(*arguments)`` for a function of :data:`FUNCTIONS`; anything else is refused."""
    if name not in FUNCTIONS:
        shown = name if len(name) <= 40 else name[:37] + "..."
        raise UnsafeExpressionError(
            f"refused: call of {shown!r} is not allowed; allowed functions: {', '.join(sorted(FUNCTIONS))}"
        )
    function, arity = FUNCTIONS[name]
    if len(arguments) != arity:
        raise ExpressionError(f"{name} takes {arity} argument(s), got {len(arguments)}")
    result = function(*arguments)
    if result.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise ExpressionError(f"{name}({', '.join(map(str, arguments))}) is not a finite number")
    return result


def sum_of(terms: list[sp.Expr]) -> sp.Expr:
    """The sum of ``terms`` built in one call; the coefficients of like terms are added here, each
    addition checked (a sum of ``mu_i/p`` over many primes would otherwise grow its denominator
    without bound inside SymPy)."""
    like: dict[sp.Expr, list] = {}  # rest -> [coefficient, the term itself while it has no like term]
    others = []
    for term in terms:
        for part in sp.Add.make_args(term):
            coefficient, rest = part.as_coeff_Mul()
            if not coefficient.is_Rational:
                others.append(part)
            elif rest in like:
                entry = like[rest]
                entry[0], entry[1] = check_number(entry[0] + coefficient), None
            else:
                like[rest] = [coefficient, part]
    parts = [part if part is not None else c * rest for rest, (c, part) in like.items() if c != 0]
    return sp.Add(*parts, *others)


def product_of(factors: list[sp.Expr]) -> sp.Expr:
    """The product of ``factors`` built in one call, its numeric coefficient multiplied here with a
    check after every step."""
    coefficient = sp.Integer(1)
    others = []
    for factor in factors:
        number, rest = factor.as_coeff_Mul()
        if number.is_Rational:
            coefficient = check_number(coefficient * number)
            if rest != 1:
                others.append(rest)
        else:
            others.append(factor)
    if coefficient == 0:
        return sp.Integer(0)
    return sp.Mul(coefficient, *others)


class TokenParser:
    """What both recursive-descent parsers share: a cursor over ``(kind, text, position)`` tokens and
    the nesting count checked against :data:`~symcorr.notation.limits.MAX_DEPTH`."""

    def __init__(self, tokens):
        self.tokens = tokens
        self.position = 0
        self.depth = 0

    def peek(self, offset: int = 0) -> tuple[str | None, str | None, int]:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else (None, None, -1)

    def take(self):
        token = self.peek()
        self.position += 1
        return token

    def parse(self) -> sp.Expr:  # pragma: no cover - each syntax defines its grammar
        raise NotImplementedError

    @classmethod
    def parse_tokens(cls, tokens) -> sp.Expr:
        """The expression ``tokens`` spell, checked against the cost limits
        (:func:`~symcorr.notation.limits.check_expression_cost`)."""
        if not tokens:
            raise ExpressionError("empty formula")
        try:
            expression = cls(tokens).parse()
        except RecursionError:
            raise UnsafeExpressionError(
                f"refused: formula nested too deeply for Python's recursion limit (at most {MAX_DEPTH} levels)"
            ) from None
        return check_expression_cost(expression)

    def enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise UnsafeExpressionError(
                f"refused: formula nested deeper than {MAX_DEPTH} levels (symcorr.notation.limits.MAX_DEPTH)")


__all__ = [
    "FUNCTIONS",
    "TokenParser",
    "call",
    "make_number",
    "normalize_symbols",
    "power",
    "product_of",
    "reciprocal",
    "resolve_name",
    "sum_of",
]
