r"""Formulas in SymPy (Python) syntax: ``2*alpha**2*Sigma_ij**2 + (1 + 2*alpha*mu_i)*mu_j``.

The text is read by a tokenizer and a recursive-descent parser written here for the small grammar
a formula needs (no ``eval``, no ``sympify``, no :mod:`ast`, whose recursion limit refuses a plain
sum of a few thousand terms)::

    formula    := [anything '='] expression          (``lhs = rhs`` is read as ``rhs``)
    expression := term (('+' | '-') term)*           (built in one call: linear in its length)
    term       := unary (('*' | '/') unary)*
    unary      := ('+' | '-')* power
    power      := atom [('**' | '^') unary]          (right-associative, binds tighter than unary minus,
                                                      as in Python; ``^`` is read as ``**``)
    atom       := number | name | function '(' expression ')' | '(' expression ')'

Numbers are exact (``0.1`` is 1/10), names and functions are those of
:mod:`symcorr.notation.vocabulary`. Everything else a Python expression could hold -- strings,
attribute access, subscripts, keywords (``lambda``, ``import``), comparisons, other operators,
several statements -- is refused with :class:`~symcorr.notation.limits.UnsafeExpressionError`
naming it and its position, before anything is built. Line breaks are spaces and ``#`` starts a
comment, so a formula may be spread over the lines of a file.
"""
from __future__ import annotations

import keyword
import re

import sympy as sp

from symcorr.notation.limits import (
    ExpressionError,
    UnsafeExpressionError,
    check_text,
)
from symcorr.notation.vocabulary import (
    FUNCTIONS,
    TokenParser,
    call,
    make_number,
    power,
    product_of,
    reciprocal,
    resolve_name,
    sum_of,
)

_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[jJ]?)"
    r"|(?P<string>[rRbBuUfF]{0,2}(?:'(?:[^'\\]|\\.)*'?|\"(?:[^\"\\]|\\.)*\"?))"
    r"|(?P<name>[^\W\d]\w*)"
    r"|(?P<op>\*\*|//|==|!=|<=|>=|:=|<<|>>|->|\.\.\.|[-+*/^(),.\[\]{}<>=;:%@&|~!])"
    r"|(?P<other>.)",
    re.DOTALL,
)

_REFUSED_OPERATORS = {
    ".": "attribute access", "...": "Ellipsis", "[": "subscripts or lists", "]": "subscripts or lists",
    "{": "sets or dicts", "}": "sets or dicts", ";": "several statements", ":=": "assignment expressions",
    ":": "slices, lambdas or annotations", "==": "comparisons", "!=": "comparisons", "<": "comparisons",
    ">": "comparisons", "<=": "comparisons", ">=": "comparisons", "//": "operator //", "%": "operator %",
    "@": "operator @", "<<": "operator <<", ">>": "operator >>", "&": "operator &", "|": "operator |",
    "~": "operator ~", "!": "operator !", "->": "annotations",
}


_PRIORITY = {"attribute access": 0, "keyword": 1, "literal": 2}  # which refusal to name first


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    """``(kind, text, position)`` tokens (``^`` already read as ``**``); an unknown character is a
    syntax error."""
    tokens = []
    for match in _TOKEN.finditer(text):
        kind, value, where = match.lastgroup, match.group(), match.start()
        if kind == "space":
            continue
        if kind == "other":
            hint = " (this looks like LaTeX: use the LaTeX syntax)" if value == "\\" else ""
            raise ExpressionError(f"syntax error in formula: unexpected character {value!r} at position {where}{hint}")
        tokens.append((kind, "**" if value == "^" else value, where))
    return tokens


def _right_hand_side(tokens):
    """The tokens after the one ``=`` outside brackets (all of them when there is none)."""
    depth, equals = 0, []
    for t, (kind, value, _) in enumerate(tokens):
        if kind == "op" and value in ("(", "[", "{"):
            depth += 1
        elif kind == "op" and value in (")", "]", "}"):
            depth -= 1
        elif kind == "op" and value == "=" and depth == 0:
            equals.append(t)
        elif kind == "op" and value == ";":
            raise UnsafeExpressionError(
                f"refused: several statements (';' at position {tokens[t][2]}); a formula is one expression")
    if len(equals) > 1:
        raise ExpressionError("a formula may contain at most one '=' (read as 'lhs = rhs')")
    return tokens[equals[0] + 1:] if equals else tokens


def _refuse_outside_grammar(tokens) -> None:
    """Refuse every token the grammar has no place for, naming the most telling one first (attribute
    access, then keywords, then string literals, then the leftmost)."""
    refusals = []
    for kind, value, where in tokens:
        shown = value if len(value) <= 30 else value[:27] + "..."
        if kind == "string":
            refusals.append((_PRIORITY["literal"], where, f"literal {shown} at position {where} is not a number"))
        elif kind == "name" and keyword.iskeyword(value):
            refusals.append((_PRIORITY["keyword"], where, f"Python keyword {value!r} at position {where} is not allowed"))
        elif kind == "op" and value in _REFUSED_OPERATORS:
            what = _REFUSED_OPERATORS[value]
            refusals.append((_PRIORITY.get(what, 3), where, f"{what} ({shown!r} at position {where}) is not allowed"))
        elif kind == "op" and value == "=":
            refusals.append((3, where, f"keyword arguments or assignments inside parentheses ('=' at position {where})"))
    if refusals:
        raise UnsafeExpressionError("refused: " + min(refusals)[2])


class _Parser(TokenParser):
    """Recursive descent over the tokens (grammar in the module docstring); builds SymPy objects."""

    def at(self, *values: str) -> bool:
        kind, value, _ = self.peek()
        return kind == "op" and value in values

    def parse(self) -> sp.Expr:
        result = self.expression()
        kind, value, where = self.peek()
        if kind is not None:
            if value == ")":
                raise ExpressionError(f"syntax error in formula: unmatched ')' at position {where}")
            if value == ",":
                raise UnsafeExpressionError(f"refused: tuples (',' at position {where}) are not allowed")
            raise ExpressionError(
                f"syntax error in formula: unexpected {value!r} at position {where}; SymPy syntax needs "
                "explicit '*', e.g. 2*alpha*mu_i")
        return result

    def expression(self) -> sp.Expr:
        self.enter()
        terms = [self.term()]
        while self.at("+", "-"):
            negative = self.take()[1] == "-"
            term = self.term()
            terms.append(-term if negative else term)
        self.depth -= 1
        return terms[0] if len(terms) == 1 else sum_of(terms)

    def term(self) -> sp.Expr:
        factors = [self.unary()]
        while self.at("*", "/"):
            divide = self.take()[1] == "/"
            factor = self.unary()
            factors.append(reciprocal(factor) if divide else factor)
        return factors[0] if len(factors) == 1 else product_of(factors)

    def unary(self) -> sp.Expr:
        negative = False
        while self.at("+", "-"):
            negative ^= self.take()[1] == "-"
        value = self.power()
        return product_of([sp.Integer(-1), value]) if negative else value

    def power(self) -> sp.Expr:
        base = self.atom()
        if not self.at("**"):
            return base
        self.take()
        self.enter()
        exponent = self.unary()
        self.depth -= 1
        return power(base, exponent)

    def atom(self) -> sp.Expr:
        kind, value, where = self.take()
        if kind is None:
            raise ExpressionError("syntax error in formula: it ends where a term was expected")
        if kind == "number":
            return make_number(value)
        if kind == "name":
            if not self.at("("):
                return resolve_name(value)
            if value not in FUNCTIONS:
                return call(value, [])  # raises, naming the function
            self.take()
            arguments = [] if self.at(")") else [self.expression()]
            while self.at(","):
                self.take()
                arguments.append(self.expression())
            self.close(where)
            return call(value, arguments)
        if kind == "op" and value == "(":
            result = self.expression()
            if self.at(","):
                raise UnsafeExpressionError(f"refused: tuples (',' at position {self.peek()[2]}) are not allowed")
            self.close(where)
            return result
        if kind == "op" and value == "**":
            raise ExpressionError(f"syntax error in formula: '**' at position {where} needs a base")
        raise ExpressionError(f"syntax error in formula: unexpected {value!r} at position {where}")

    def close(self, opened: int):
        kind, value, _ = self.take()
        if kind != "op" or value != ")":
            found = "the end" if kind is None else repr(value)
            raise ExpressionError(
                f"syntax error in formula: '(' at position {opened} is never closed (found {found})")


def parse_sympy(text: str) -> sp.Expr:
    """Parse ``text`` in SymPy/Python syntax (``2*alpha**2*Sigma_ij**2 + ...``) safely.

    Line breaks are spaces and ``#`` starts a comment; ``lhs = rhs`` is read as ``rhs`` (the
    left-hand side is only tokenized, never interpreted). The result is checked against the cost
    limits of :mod:`symcorr.notation.limits` (:func:`~symcorr.notation.limits.check_expression_cost`).
    """
    text = check_text(text)
    body = " ".join(line.split("#", 1)[0] for line in text.splitlines())
    tokens = _right_hand_side(_tokenize(body))
    _refuse_outside_grammar(tokens)
    return _Parser.parse_tokens(tokens)


__all__ = ["parse_sympy"]
