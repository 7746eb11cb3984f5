r"""Formulas in LaTeX: ``2 \alpha^{2} \Sigma_{ij}^{2} + \frac{1}{2}\kappa_{iij}``.

A small recursive-descent parser written here (no dependency, nothing evaluated): ``\frac``,
``\sqrt``, ``\cdot``, ``\times``, implicit multiplication, ``^``/``_`` with or without braces,
``\left(``/``\right)``, ``\operatorname{erf}``, ``e^{x}``; math delimiters, ``&``, ``\\`` and
``\begin{align*}`` are ignored, so a line of a formula sheet parses as is. Names are those of
:mod:`symcorr.notation.vocabulary` in LaTeX spelling (``\mu_{i}``, ``\Sigma_{ji}``,
``\kappa_{i,i,j}``, ``a_{2}``, ``g^{(2)}_{1,i}``, ``e``). Sums and products are built in one call
(linear in their length) and the result is checked against the cost limits of
:mod:`symcorr.notation.limits`.
"""
from __future__ import annotations

import re

import sympy as sp

from symcorr.notation.limits import (
    ExpressionError,
    UnsafeExpressionError,
    check_text,
)
from symcorr.notation.vocabulary import (
    TokenParser,
    call,
    make_number,
    power,
    product_of,
    reciprocal,
    resolve_name,
    sum_of,
)

_GREEK = {"alpha": "alpha", "mu": "mu", "Sigma": "Sigma", "kappa": "kappa", "pi": "pi"}
_LATEX_FUNCTIONS = {"exp": "exp", "erf": "erf", "erfc": "erfc", "log": "log", "ln": "log",
                    "arcsin": "asin", "asin": "asin", "sqrt": "sqrt",
                    "sin": "sin", "cos": "cos"}
_IGNORED_COMMANDS = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr",
                     "biggl", "biggr", "Biggl", "Biggr", "quad", "qquad", "nonumber", "notag",
                     "displaystyle", "limits"}
_ENVIRONMENTS = {"equation", "equation*", "align", "align*", "aligned", "split", "multline",
                 "multline*", "gather", "gather*", "displaymath", "math", "dmath", "dmath*"}
_TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<cmd>\\[A-Za-z]+)|(?P<escape>\\[^A-Za-z])|(?P<number>\d+(?:\.\d*)?|\.\d+)"
    r"|(?P<word>[A-Za-z]+)|(?P<op>[-+*/^_{}()\[\]=,&$])|(?P<other>.)",
    re.DOTALL,
)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        kind = match.lastgroup
        value = match.group()
        start = position
        position = match.end()
        if kind == "space":
            continue
        if kind == "escape":
            if value in ("\\{", "\\}"):
                tokens.append(("op", "(" if value == "\\{" else ")", start))
            # \, \; \! \: \  spacing; \\ line break; \[ \] \( \) math delimiters
            elif value in ("\\,", "\\;", "\\!", "\\:", "\\ ", "\\\\", "\\[", "\\]", "\\(", "\\)", "\\>"):
                continue
            else:
                raise ExpressionError(f"LaTeX: unexpected {value!r} at position {start}")
            continue
        if kind == "cmd":
            name = value[1:]
            if name in _IGNORED_COMMANDS:
                continue
            if name in ("begin", "end"):
                environment = re.match(r"\s*\{([A-Za-z*]+)\}", text[position:])
                if not environment or environment.group(1) not in _ENVIRONMENTS:
                    raise ExpressionError(
                        f"LaTeX: \\{name} at position {start} needs a math environment "
                        f"({', '.join(sorted(_ENVIRONMENTS))})"
                    )
                position += environment.end()
                continue
            tokens.append(("cmd", name, start))
            continue
        if kind == "op" and value in ("&", "$"):
            continue
        if kind == "other":
            raise ExpressionError(f"LaTeX: unexpected character {value!r} at position {start}")
        tokens.append((kind, value, start))
    return tokens


class _LatexParser(TokenParser):
    """Recursive descent over the token list; builds SymPy objects directly."""

    def expect(self, value: str):
        kind, got, where = self.take()
        if got != value or kind != "op":
            found = "the end" if kind is None else repr(got)
            raise ExpressionError(f"LaTeX: expected {value!r} at position {where}, found {found}")

    # -- grammar ------------------------------------------------------------
    def parse(self) -> sp.Expr:
        result = self.expression()
        kind, value, where = self.peek()
        if kind is not None:
            raise ExpressionError(f"LaTeX: unexpected {value!r} at position {where}")
        return result

    def signs(self) -> bool:
        """Whether the run of ``+``/``-`` signs at the current token (possibly empty) is negative."""
        negative = False
        while self.peek()[:2] in (("op", "+"), ("op", "-")):
            negative ^= self.take()[1] == "-"
        return negative

    def signed(self, negative: bool, value: sp.Expr) -> sp.Expr:
        return product_of([sp.Integer(-1), value]) if negative else value

    def expression(self) -> sp.Expr:
        self.enter()
        terms = [self.signed(self.signs(), self.term())]
        while self.peek()[:2] in (("op", "+"), ("op", "-")):
            terms.append(self.signed(self.signs(), self.term()))
        self.depth -= 1
        return terms[0] if len(terms) == 1 else sum_of(terms)

    def starts_factor(self) -> bool:
        kind, value, _ = self.peek()
        if kind in ("number", "word"):
            return True
        if kind == "op":
            return value in ("(", "[", "{")
        if kind == "cmd":
            return value not in ("cdot", "times")
        return False

    def term(self) -> sp.Expr:
        factors = [self.factor()]
        while True:
            kind, value, _ = self.peek()
            if (kind == "op" and value == "*") or (kind == "cmd" and value in ("cdot", "times")):
                self.take()
                factors.append(self.factor())
            elif kind == "op" and value == "/":
                self.take()
                factors.append(reciprocal(self.factor()))
            elif self.starts_factor():
                factors.append(self.factor())
            else:
                return factors[0] if len(factors) == 1 else product_of(factors)

    def factor(self) -> sp.Expr:
        negative = self.signs()
        base = self.atom()
        if self.peek()[:2] == ("op", "^"):
            self.take()
            base = power(base, self.exponent())
            if self.peek()[:2] == ("op", "^"):
                raise ExpressionError(f"LaTeX: double superscript at position {self.peek()[2]}")
        return self.signed(negative, base)

    def exponent(self) -> sp.Expr:
        negative = self.signs()
        kind, value, where = self.peek()
        if kind == "op" and value == "{":
            return self.signed(negative, self.group())
        if kind == "number":  # x^23 is x^2 * 3 in LaTeX
            return self.signed(negative, self.take_digit())
        return self.signed(negative, self.atom())

    def take_digit(self) -> sp.Expr:
        """One digit of a number token (``^23``, ``\\frac12``), leaving the rest as a token."""
        kind, value, where = self.peek()
        if len(value) > 1:
            self.tokens[self.position] = ("number", value[1:], where + 1)
        else:
            self.position += 1
        return make_number(value[0])

    def group(self) -> sp.Expr:
        self.expect("{")
        result = self.expression()
        self.expect("}")
        return result

    def raw_group(self) -> str:
        """The text of a ``{...}`` group of words, digits and commas (subscripts, names)."""
        kind, value, where = self.peek()
        if kind in ("word", "number"):
            self.take()
            return value
        self.expect("{")
        parts = []
        while self.peek()[:2] != ("op", "}"):
            kind, value, where = self.take()
            if kind is None:
                raise ExpressionError("LaTeX: unclosed '{'")
            if kind in ("word", "number") or (kind == "op" and value == ","):
                parts.append(value)
            else:
                raise ExpressionError(f"LaTeX: unexpected {value!r} in a subscript or name at position {where}")
        self.take()
        return "".join(parts)

    def atom(self) -> sp.Expr:
        kind, value, where = self.take()
        nested = kind in ("cmd", "word")  # a group counts its level in expression()
        if nested:
            self.enter()
        try:
            if kind is None:
                raise ExpressionError("LaTeX: formula ends where a term was expected")
            if kind == "number":
                return make_number(value)
            if kind == "op" and value in ("(", "["):
                closing = ")" if value == "(" else "]"
                result = self.expression()
                self.expect(closing)
                return result
            if kind == "op" and value == "{":
                result = self.expression()
                self.expect("}")
                return result
            if kind == "cmd":
                return self.command(value, where)
            if kind == "word":
                return self.word(value, where)
            raise ExpressionError(f"LaTeX: unexpected {value!r} at position {where}")
        finally:
            if nested:
                self.depth -= 1

    def command(self, name: str, where: int) -> sp.Expr:
        if name in ("frac", "dfrac", "tfrac"):
            numerator = self.group_or_token()
            return product_of([numerator, reciprocal(self.group_or_token())])
        if name == "sqrt":
            index = None
            if self.peek()[:2] == ("op", "["):
                self.take()
                index = self.expression()
                self.expect("]")
            radicand = self.group_or_token()
            return call("sqrt", [radicand]) if index is None else power(radicand, reciprocal(index))
        if name in ("operatorname", "mathrm", "text", "textrm", "mathit"):
            word = self.raw_group()
            if word == "e":
                return sp.E
            if word in _LATEX_FUNCTIONS:
                return self.function(_LATEX_FUNCTIONS[word])
            return self.name(word, where)
        if name in _LATEX_FUNCTIONS:
            return self.function(_LATEX_FUNCTIONS[name])
        if name in _GREEK:
            return self.name(_GREEK[name], where)
        raise UnsafeExpressionError(
            f"refused: LaTeX command \\{name} at position {where} is not supported; supported: "
            "\\frac \\sqrt \\cdot \\times \\left \\right \\exp \\sin \\cos \\operatorname{erf} "
            + " ".join(f"\\{g}" for g in _GREEK)
        )

    def group_or_token(self) -> sp.Expr:
        kind, value, where = self.peek()
        if kind == "op" and value == "{":
            return self.group()
        if kind == "number":  # \frac12 = 1/2
            return self.take_digit()
        return self.atom()

    def function(self, name: str) -> sp.Expr:
        exponent = None
        if self.peek()[:2] == ("op", "^"):  # \exp^2(x)
            self.take()
            exponent = self.exponent()
        kind, value, _ = self.peek()
        if kind == "op" and value in ("(", "{", "["):
            argument = self.atom()
        else:
            argument = self.factor()
        result = call(name, [argument])
        return result if exponent is None else power(result, exponent)

    def word(self, word: str, where: int) -> sp.Expr:
        if word == "e":
            return sp.E
        if word in _LATEX_FUNCTIONS:
            return self.function(_LATEX_FUNCTIONS[word])
        return self.name(word, where)

    def name(self, stem: str, where: int) -> sp.Expr:
        # vertex function g^{(n)}_{p,a}
        if stem == "g" and self.peek()[:2] == ("op", "^"):
            saved = self.position
            self.take()
            if self.peek()[:2] == ("op", "{") and self.peek(1)[:2] == ("op", "(") \
                    and self.peek(2)[0] == "number" and self.peek(3)[:2] == ("op", ")") \
                    and self.peek(4)[:2] == ("op", "}") and self.peek(5)[:2] == ("op", "_"):
                derivative = self.peek(2)[1]
                self.position += 6
                subscript = self.raw_group().split(",")
                if len(subscript) != 2:
                    raise ExpressionError(f"LaTeX: vertex function at position {where} needs g^{{(n)}}_{{p,a}}")
                return resolve_name(f"g{subscript[0]}d{derivative}_{subscript[1]}")
            self.position = saved
        if self.peek()[:2] == ("op", "_"):
            self.take()
            subscript = self.raw_group().replace(",", "")
            return resolve_name(f"{stem}{subscript}" if stem == "a" else f"{stem}_{subscript}")
        return resolve_name(stem)


def parse_latex(text: str) -> sp.Expr:
    r"""Parse a LaTeX formula (``2 \alpha^{2} \Sigma_{ij}^{2} + \frac{1}{2}\kappa_{iij}``) safely;
    ``lhs = rhs`` is read as ``rhs``. The result is checked against the cost limits of
    :mod:`symcorr.notation.limits`."""
    text = check_text(text)
    tokens = _tokenize(text)
    equals = [t for t, token in enumerate(tokens) if token[:2] == ("op", "=")]
    if len(equals) > 1:
        raise ExpressionError("a formula may contain at most one '=' (read as 'lhs = rhs')")
    if equals:
        tokens = tokens[equals[0] + 1:]
    # empty groups such as '={}&' in align environments carry nothing
    cleaned = []
    for token in tokens:
        if token[:2] == ("op", "}") and cleaned and cleaned[-1][:2] == ("op", "{"):
            cleaned.pop()
        else:
            cleaned.append(token)
    tokens = cleaned
    return _LatexParser.parse_tokens(tokens)


__all__ = ["parse_latex"]


