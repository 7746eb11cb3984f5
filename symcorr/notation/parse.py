r"""Safe parsing of hand-written formulas, in SymPy (Python) or LaTeX syntax.

A string given to symcorr (an activation ``--activation "z + z**2/2"``, a
formula to :func:`symcorr.theory.check`) never reaches ``eval`` or
``sympy.sympify`` (which calls ``eval``). Instead

* SymPy syntax is parsed by Python's :mod:`ast` into a syntax tree that is
  walked against a whitelist: numbers, names of symcorr's symbols,
  ``+ - * / **`` (``^`` is read as ``**``), unary signs and calls of the
  functions in :data:`FUNCTIONS`. Anything else -- attribute access,
  subscripts, strings, lambdas, keyword arguments, ``__import__`` -- is
  refused with :class:`UnsafeExpressionError`.
* LaTeX is read by a small recursive-descent parser written here (no
  dependency): ``\frac``, ``\sqrt``, ``\cdot``, ``\times``, implicit
  multiplication, ``^``/``_`` with or without braces, ``\left(``/``\right)``,
  ``\operatorname{erf}``, ``e^{x}``; math delimiters, ``&``, ``\\`` and
  ``\begin{align*}`` are ignored, so a line of a formula sheet parses as is.

The SymPy objects are built by this module only, never evaluated from text.

Names (both syntaxes) map to the symbols of MATH.md sections 1-5 as
:func:`symcorr.derivation.algebra.cumulant_symbol` spells them, whatever the
index order: ``mu_i`` / ``\mu_{i}`` -> :math:`\mu_i`; ``Sigma_ji`` /
``\Sigma_{ji}`` -> :math:`\Sigma_{ij}`; ``v_i`` -> :math:`\Sigma_{ii}`
(MATH.md section 4 writes :math:`v_a = \Sigma_{aa}`); ``kappa_jii`` /
``\kappa_{jii}`` -> :math:`\kappa_{iij}`; ``alpha``, ``a0``, ``a1``, ... (the
activation parameters), ``z`` (the activation's argument), ``pi``, ``E`` (in
LaTeX ``e``), and the vertex functions ``g1d2_i`` / ``g^{(2)}_{1,i}`` of
:func:`symcorr.derivation.engine.vertex_symbol`. A formula ``lhs = rhs`` is read as
its right-hand side.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize

import sympy as sp

from symcorr.notation.symbols import ALPHA, Z
from symcorr.notation.symbols import NEURON_LABELS, cumulant_symbol

MAX_LENGTH = 200_000
"""Longest accepted input (characters)."""
MAX_EXPONENT = 10_000
"""Largest accepted integer exponent of a number (guards against ``10**10**10``)."""
MAX_SYMBOLIC_EXPONENT = 100
"""Largest accepted integer exponent of a symbolic base (``(mu_i + mu_j)**100``), so that
expanding a formula stays feasible."""
MAX_DIGITS = 1_000
"""Most digits accepted in one number literal."""
MAX_DEPTH = 200
"""Deepest accepted nesting of sub-expressions."""

FUNCTIONS = {
    "erf": (sp.erf, 1),
    "erfc": (sp.erfc, 1),
    "exp": (sp.exp, 1),
    "sqrt": (sp.sqrt, 1),
    "log": (sp.log, 1),
    "asin": (sp.asin, 1),
    "arcsin": (sp.asin, 1),
}
"""Functions a formula may call: name -> (SymPy function, number of arguments)."""


class ExpressionError(ValueError):
    """A formula that could not be parsed (syntax error, unknown name)."""


class UnsafeExpressionError(ExpressionError):
    """A formula that uses a construct outside the whitelist (e.g. ``__import__``)."""


_LABELS = set(NEURON_LABELS)
_VERTEX = re.compile(r"g(\d+)d(\d+)_([a-z])")


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
    if re.fullmatch(r"a\d+", name):
        return sp.Symbol(name, real=True)
    vertex = _VERTEX.fullmatch(name)
    if vertex:
        from symcorr.notation.symbols import vertex_symbol

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
    raise ExpressionError(
        f"unknown name {name!r}; known names: mu_i, Sigma_ij, v_i, kappa_iij (any neuron labels "
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


def _number(text: str) -> sp.Expr:
    digits = sum(c.isdigit() for c in text)
    if digits > MAX_DIGITS:
        raise UnsafeExpressionError(f"refused: number literal with {digits} digits (at most {MAX_DIGITS})")
    return sp.Rational(text)


def _power(base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
    if exponent.is_Integer and abs(int(exponent)) > MAX_EXPONENT:
        raise UnsafeExpressionError(f"refused: integer exponent {exponent} exceeds {MAX_EXPONENT}")
    if exponent.is_Integer and base.free_symbols and abs(int(exponent)) > MAX_SYMBOLIC_EXPONENT:
        raise UnsafeExpressionError(
            f"refused: exponent {exponent} of a symbolic base exceeds {MAX_SYMBOLIC_EXPONENT}")
    if base.is_Rational and exponent.is_Rational and base != 0:
        size = max(abs(base.p), base.q)
        if abs(exponent) * (size.bit_length() + 1) > 4 * MAX_DIGITS * MAX_EXPONENT // 100:
            raise UnsafeExpressionError(
                f"refused: a {size.bit_length()}-bit number to the power {exponent} is too large"
            )
    if exponent.is_Rational and not exponent.is_Integer and abs(exponent.p) > MAX_EXPONENT:
        raise UnsafeExpressionError(f"refused: exponent {exponent} exceeds {MAX_EXPONENT}")
    return sp.Pow(base, exponent)


def _divide(numerator: sp.Expr, denominator: sp.Expr) -> sp.Expr:
    if denominator == 0:
        raise ExpressionError("division by zero")
    return numerator / denominator


def _call(name: str, arguments: list[sp.Expr]) -> sp.Expr:
    if name not in FUNCTIONS:
        raise UnsafeExpressionError(
            f"refused: call of {name!r} is not allowed; allowed functions: {', '.join(sorted(FUNCTIONS))}"
        )
    function, arity = FUNCTIONS[name]
    if len(arguments) != arity:
        raise ExpressionError(f"{name} takes {arity} argument(s), got {len(arguments)}")
    return function(*arguments)


# ---------------------------------------------------------------------------
# SymPy / Python syntax: a whitelist walk over the ast
# ---------------------------------------------------------------------------

_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: _divide,
    ast.Pow: _power,
    ast.BitXor: _power,  # 'x^2' as in sympify's convert_xor
}


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access", ast.Subscript: "subscripts", ast.Lambda: "lambda",
        ast.ListComp: "comprehensions", ast.GeneratorExp: "comprehensions", ast.SetComp: "comprehensions",
        ast.DictComp: "comprehensions", ast.Compare: "comparisons", ast.BoolOp: "boolean operators",
        ast.IfExp: "conditional expressions", ast.List: "lists", ast.Tuple: "tuples", ast.Dict: "dicts",
        ast.Set: "sets", ast.NamedExpr: "assignment expressions", ast.Starred: "starred arguments",
        ast.JoinedStr: "f-strings", ast.Await: "await", ast.Yield: "yield",
    }
    kind = names.get(type(node), type(node).__name__)
    try:
        snippet = ast.unparse(node)
    except Exception:  # pragma: no cover - unparse handles every parsed node
        snippet = ""
    if len(snippet) > 60:
        snippet = snippet[:57] + "..."
    return f"{kind} ({snippet})" if snippet else kind


def _walk(node: ast.AST, depth: int = 0) -> sp.Expr:
    if depth > MAX_DEPTH:
        raise UnsafeExpressionError(f"refused: expression nested deeper than {MAX_DEPTH}")
    if isinstance(node, ast.Expression):
        return _walk(node.body, depth + 1)
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UnsafeExpressionError(f"refused: literal {value!r} is not a number")
        return _number(repr(value)) if isinstance(value, float) else _number(str(value))
    if isinstance(node, ast.Name):
        return resolve_name(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _walk(node.operand, depth + 1)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_walk(node.left, depth + 1), _walk(node.right, depth + 1))
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise UnsafeExpressionError(f"refused: {_describe(node.func)} is not allowed")
        if node.keywords:
            raise UnsafeExpressionError(f"refused: keyword arguments in call of {node.func.id!r}")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise UnsafeExpressionError(f"refused: starred arguments in call of {node.func.id!r}")
        if node.func.id not in FUNCTIONS:
            return _call(node.func.id, [])  # raises, naming the function
        return _call(node.func.id, [_walk(a, depth + 1) for a in node.args])
    if isinstance(node, ast.BinOp):
        raise UnsafeExpressionError(f"refused: operator {type(node.op).__name__} is not allowed")
    if isinstance(node, ast.UnaryOp):
        raise UnsafeExpressionError(f"refused: unary operator {type(node.op).__name__} is not allowed")
    raise UnsafeExpressionError(f"refused: {_describe(node)} is not allowed")


def _xor_to_power(text: str) -> str:
    """Read ``^`` as ``**`` (as ``sympify`` does), at the token level so precedence is that of ``**``."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return text  # ast.parse reports the syntax error
    if not any(t.type == tokenize.OP and t.string == "^" for t in tokens):
        return text
    return tokenize.untokenize(
        (t.type, "**" if t.type == tokenize.OP and t.string == "^" else t.string) for t in tokens
    )


def parse_sympy(text: str) -> sp.Expr:
    """Parse ``text`` in SymPy/Python syntax (``2*alpha**2*Sigma_ij**2 + ...``) safely.

    Line breaks are spaces and ``#`` starts a comment, so a formula may be
    spread over the lines of a file; ``lhs = rhs`` is read as ``rhs`` (the
    left-hand side is not evaluated).
    """
    text = _check_text(text)
    body = " ".join(line.split("#", 1)[0] for line in text.splitlines()).strip()
    if not body:
        raise ExpressionError("empty formula")
    try:
        tree = ast.parse(_xor_to_power(body), mode="exec")
    except SyntaxError as error:
        hint = " (this looks like LaTeX: use the LaTeX syntax)" if "\\" in body else ""
        raise ExpressionError(
            f"syntax error in formula: {error.msg}{hint}; SymPy syntax needs explicit '*', e.g. 2*alpha*mu_i"
        ) from None
    except (RecursionError, MemoryError):
        raise UnsafeExpressionError("refused: formula nested too deeply") from None
    if len(tree.body) != 1:
        raise UnsafeExpressionError("refused: a formula is a single expression, not several statements")
    statement = tree.body[0]
    if isinstance(statement, ast.Expr):
        node = statement.value
    elif isinstance(statement, ast.Assign):
        if len(statement.targets) != 1:
            raise ExpressionError("a formula may contain at most one '=' (read as 'lhs = rhs')")
        node = statement.value
    else:
        raise UnsafeExpressionError(f"refused: statement {type(statement).__name__} is not allowed")
    try:
        return _walk(node)
    except RecursionError:
        raise UnsafeExpressionError("refused: formula nested too deeply") from None


def _check_text(text) -> str:
    if not isinstance(text, str):
        raise TypeError(f"a formula is a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise UnsafeExpressionError(f"refused: formula of {len(text)} characters (at most {MAX_LENGTH})")
    if "\x00" in text:
        raise UnsafeExpressionError("refused: formula contains a NUL character")
    return text


# ---------------------------------------------------------------------------
# LaTeX: tokenizer and recursive-descent parser
# ---------------------------------------------------------------------------

_GREEK = {"alpha": "alpha", "mu": "mu", "Sigma": "Sigma", "kappa": "kappa", "pi": "pi"}
_LATEX_FUNCTIONS = {"exp": "exp", "erf": "erf", "erfc": "erfc", "log": "log", "ln": "log",
                    "arcsin": "asin", "asin": "asin", "sqrt": "sqrt"}
_IGNORED_COMMANDS = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr",
                     "biggl", "biggr", "Biggl", "Biggr", "quad", "qquad", "nonumber", "notag",
                     "displaystyle", "limits"}
_ENVIRONMENTS = {"equation", "equation*", "align", "align*", "aligned", "split", "multline",
                 "multline*", "gather", "gather*", "displaymath", "math", "dmath", "dmath*"}
_TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<cmd>\\[A-Za-z]+)|(?P<escape>\\[^A-Za-z])|(?P<number>\d+(?:\.\d*)?|\.\d+)"
    r"|(?P<word>[A-Za-z]+)|(?P<op>[-+*/^_{}()\[\]=,&$])|(?P<other>.)",
    re.S,
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


class _LatexParser:
    """Recursive descent over the token list; builds SymPy objects directly."""

    def __init__(self, tokens):
        self.tokens = tokens
        self.position = 0
        self.depth = 0

    # -- helpers ------------------------------------------------------------
    def peek(self, offset: int = 0):
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else (None, None, -1)

    def take(self):
        token = self.peek()
        self.position += 1
        return token

    def expect(self, value: str):
        kind, got, where = self.take()
        if got != value or kind != "op":
            found = "the end" if kind is None else repr(got)
            raise ExpressionError(f"LaTeX: expected {value!r} at position {where}, found {found}")

    def enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise UnsafeExpressionError(f"refused: formula nested deeper than {MAX_DEPTH}")

    # -- grammar ------------------------------------------------------------
    def parse(self) -> sp.Expr:
        result = self.expression()
        kind, value, where = self.peek()
        if kind is not None:
            raise ExpressionError(f"LaTeX: unexpected {value!r} at position {where}")
        return result

    def expression(self) -> sp.Expr:
        self.enter()
        sign = 1
        while self.peek()[:2] in (("op", "+"), ("op", "-")):
            if self.take()[1] == "-":
                sign = -sign
        total = sign * self.term()
        while self.peek()[:2] in (("op", "+"), ("op", "-")):
            operator = self.take()[1]
            sign = 1 if operator == "+" else -1
            while self.peek()[:2] in (("op", "+"), ("op", "-")):
                if self.take()[1] == "-":
                    sign = -sign
            total = total + sign * self.term()
        self.depth -= 1
        return total

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
        result = self.factor()
        while True:
            kind, value, _ = self.peek()
            if (kind == "op" and value == "*") or (kind == "cmd" and value in ("cdot", "times")):
                self.take()
                result = result * self.factor()
            elif kind == "op" and value == "/":
                self.take()
                result = _divide(result, self.factor())
            elif self.starts_factor():
                result = result * self.factor()
            else:
                return result

    def factor(self) -> sp.Expr:
        kind, value, _ = self.peek()
        if kind == "op" and value in ("-", "+"):
            self.take()
            operand = self.factor()
            return -operand if value == "-" else operand
        base = self.atom()
        if self.peek()[:2] == ("op", "^"):
            self.take()
            base = _power(base, self.exponent())
            if self.peek()[:2] == ("op", "^"):
                raise ExpressionError(f"LaTeX: double superscript at position {self.peek()[2]}")
        return base

    def exponent(self) -> sp.Expr:
        kind, value, where = self.peek()
        if kind == "op" and value == "{":
            return self.group()
        if kind == "op" and value in ("-", "+"):
            self.take()
            operand = self.exponent()
            return -operand if value == "-" else operand
        if kind == "number":  # x^23 is x^2 * 3 in LaTeX
            return self.take_digit()
        return self.atom()

    def take_digit(self) -> sp.Expr:
        """One digit of a number token (``^23``, ``\\frac12``), leaving the rest as a token."""
        kind, value, where = self.peek()
        if len(value) > 1:
            self.tokens[self.position] = ("number", value[1:], where + 1)
        else:
            self.position += 1
        return _number(value[0])

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
        self.enter()
        kind, value, where = self.take()
        try:
            if kind is None:
                raise ExpressionError("LaTeX: formula ends where a term was expected")
            if kind == "number":
                return _number(value)
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
            self.depth -= 1

    def command(self, name: str, where: int) -> sp.Expr:
        if name in ("frac", "dfrac", "tfrac"):
            numerator = self.group_or_token()
            return _divide(numerator, self.group_or_token())
        if name == "sqrt":
            index = None
            if self.peek()[:2] == ("op", "["):
                self.take()
                index = self.expression()
                self.expect("]")
            radicand = self.group_or_token()
            return sp.sqrt(radicand) if index is None else _power(radicand, 1 / index)
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
            "\\frac \\sqrt \\cdot \\times \\left \\right \\exp \\operatorname{erf} "
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
        power = None
        if self.peek()[:2] == ("op", "^"):  # \exp^2(x)
            self.take()
            power = self.exponent()
        kind, value, _ = self.peek()
        if kind == "op" and value in ("(", "{", "["):
            argument = self.atom()
        else:
            argument = self.factor()
        result = _call(name, [argument])
        return result if power is None else _power(result, power)

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
    r"""Parse a LaTeX formula (``2 \alpha^{2} \Sigma_{ij}^{2} + \frac{1}{2}\kappa_{iij}``) safely."""
    text = _check_text(text)
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
    if not tokens:
        raise ExpressionError("empty formula")
    try:
        return _LatexParser(tokens).parse()
    except RecursionError:
        raise UnsafeExpressionError("refused: formula nested too deeply") from None


def parse_expression(text: str, syntax: str = "auto") -> sp.Expr:
    """Parse a hand-written formula safely; ``syntax`` is ``'sympy'``, ``'latex'`` or ``'auto'``.

    ``'auto'`` reads the text as LaTeX when it contains a backslash, ``{`` or
    ``$``, as SymPy syntax otherwise. Raises :class:`UnsafeExpressionError`
    for constructs outside the whitelist and :class:`ExpressionError` for
    other problems, each naming it.
    """
    if syntax == "auto":
        syntax = "latex" if isinstance(text, str) and any(c in text for c in "\\{$") else "sympy"
    if syntax == "sympy":
        return parse_sympy(text)
    if syntax == "latex":
        return parse_latex(text)
    raise ValueError(f"syntax must be 'auto', 'sympy' or 'latex', got {syntax!r}")


__all__ = ["ExpressionError", "UnsafeExpressionError", "FUNCTIONS", "resolve_name", "normalize_symbols",
           "parse_sympy", "parse_latex", "parse_expression"]
