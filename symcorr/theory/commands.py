r"""The theorists' command lines: ``symcorr derive``, ``symcorr check``, ``symcorr terms``.

Each ``*_main(argv)`` parses its arguments (:mod:`argparse`), derives the formulas
(:func:`symcorr.derivation.engine.derive`) and prints them through
:mod:`symcorr.theory.render`, :mod:`symcorr.theory.checking` or
:mod:`symcorr.theory.drawing`; it returns the exit status (2 on an error, named on
stderr). ``symcorr.cli`` dispatches to them.
"""
from __future__ import annotations

import inspect
import math
import re
import sys
from argparse import SUPPRESS, ArgumentTypeError
from pathlib import Path

from symcorr.arguments import CommandParser, DeprecatedOption, integer, real
from symcorr.derivation import activations
from symcorr.derivation.activations import Activation
from symcorr.derivation.engine import derive
from symcorr.notation.parse import ExpressionError, parse_expression, read_expression_file
from symcorr.notation.partitions import normalize_pattern
from symcorr.theory.checking import check
from symcorr.theory.diagrams import terms
from symcorr.theory.drawing import draw_terms
from symcorr.theory.render import FORMATS, render_derivation, render_terms


#: ``name(arguments)`` on the command line: a constructor of ACTIVATIONS and its numbers
_CALL = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*\((?P<arguments>[^()]*)\)$")
_KEYWORD = re.compile(r"^(?P<key>[A-Za-z_]\w*)\s*=\s*(?P<value>.+)$")


def _number(text: str, spec: str) -> float:
    """A finite real number of a ``name(arguments)`` spec."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{spec!r}: {text!r} is not a number (arguments of named activations are numbers, "
                         "e.g. leaky_relu(0.2) or softplus(beta=2))") from None
    if not math.isfinite(value):
        raise ValueError(f"{spec!r}: {text!r} is not a finite number")
    return value


def _named_call(spec: str) -> Activation | None:
    """``leaky_relu(0.2)``, ``softplus(beta=2)``, ``elu(alpha=0.5)``, ``tanh(z)``: a constructor of
    :data:`~symcorr.derivation.activations.ACTIVATIONS` called with numbers (parsed, never evaluated);
    ``None`` if ``spec`` is not of that form."""
    match = _CALL.match(spec)
    if match is None or match["name"] not in activations.ACTIVATIONS:
        return None
    constructor = activations.ACTIVATIONS[match["name"]]
    if match["arguments"].strip() == "z":  # tanh(z): the activation itself, with its default parameters
        return constructor()
    positional, keywords = [], {}
    for part in filter(str.strip, match["arguments"].split(",")):
        keyword = _KEYWORD.match(part.strip())
        if keyword:
            keywords[keyword["key"]] = _number(keyword["value"], spec)
        elif keywords:
            raise ValueError(f"{spec!r}: a positional argument follows a keyword argument")
        else:
            positional.append(_number(part, spec))
    signature = inspect.signature(constructor)
    try:
        signature.bind(*positional, **keywords)
    except TypeError as error:
        raise ValueError(f"{spec!r}: {error}; {match['name']} takes ({', '.join(signature.parameters)})") from None
    return constructor(*positional, **keywords)


def activation_from_spec(spec: str, alpha: float | None = None, coefficients=None) -> Activation:
    """An activation from the command line: a name in :data:`symcorr.derivation.activations.ACTIVATIONS`
    (``quadratic`` with ``alpha``, ``cubic``/``polynomial`` with ``coefficients``, the others with their
    defaults), a name called with numbers (``leaky_relu(0.2)``, ``softplus(beta=2)``) or a SymPy
    expression in ``z`` (parsed safely, e.g. ``"z + z**2/2"``)."""
    name = spec.strip()
    if name in activations.ACTIVATIONS:
        if name == "quadratic":
            if coefficients:
                raise ValueError("quadratic takes --alpha, not --coeffs (use polynomial for general coefficients)")
            return activations.quadratic(1.0 if alpha is None else alpha)
        if alpha is not None:
            raise ValueError(f"--alpha applies to quadratic only, not {name}")
        if name == "cubic":
            if coefficients and len(coefficients) != 4:
                raise ValueError(f"cubic takes 4 coefficients a0 a1 a2 a3, got {len(coefficients)}")
            return activations.cubic(*coefficients) if coefficients else activations.cubic()
        if name == "polynomial":
            if not coefficients:
                raise ValueError("polynomial needs its coefficients: --coeffs a0 a1 ... ad")
            return activations.polynomial(coefficients)
        if coefficients:
            raise ValueError(f"{name} takes no coefficients")
        return activations.get(name)
    if alpha is not None or coefficients:
        raise ValueError("--alpha and --coeffs apply to named activations, not to an expression in z")
    called = _named_call(name)
    if called is not None:
        return called
    expression = parse_expression(name, "sympy" if "\\" not in name else "latex")
    return activations.from_expression(expression)


#: the argument types of the derivation's sizes: each refusal names the limit
ORDER, CLOSURE, SERIES_ORDER = integer(1), integer(1), integer(0)


def _pattern(text: str) -> str:
    """``--pattern``: an index pattern such as ``iij`` (checked with
    :func:`~symcorr.notation.partitions.normalize_pattern`, returned as given)."""
    try:
        normalize_pattern(text)
    except ValueError as error:
        raise ArgumentTypeError(str(error)) from None
    return text


def _add_order_argument(parser):
    parser.add_argument("--order", "-M", type=ORDER, default=2,
                        help="highest output cumulant order returned (default 2; docs/theory.md section 9)")
    parser.add_argument("--out-order", dest="order", type=ORDER, action=DeprecatedOption, replacement="--order",
                        help=SUPPRESS)


def _add_activation_arguments(parser, closure_required: bool = False):
    parser.add_argument("--activation", "-a", required=True,
                        help=f"{' | '.join(sorted(activations.ACTIVATIONS))}; with numbers such as 'leaky_relu(0.2)' "
                             "or 'softplus(beta=2)'; or an expression in z such as 'z + z**2/2'")
    parser.add_argument("--alpha", type=real(), help="alpha of quadratic z + alpha z^2 (default 1)")
    parser.add_argument("--coeffs", type=real(), nargs="+", metavar="A",
                        help="coefficients a0 a1 ... of polynomial (or cubic)")
    parser.add_argument("--closure", "-K", type=CLOSURE,
                        help="highest input cumulant order kept (default for polynomials: order x degree, "
                             "which is exact; docs/theory.md section 9)")
    parser.add_argument("--series-order", "-S", type=SERIES_ORDER,
                        help="perturbation factors kept in exp(D) (docs/theory.md section 6); default: the "
                             "activation family's (erf: exact at closure 2, else its documented default)")


def _derive_from_args(args, order: int):
    activation = activation_from_spec(args.activation, args.alpha, args.coeffs)
    closure = args.closure
    if closure is None:
        closure = activation.family.default_closure(activation, order)
        if closure is None:
            raise ValueError(f"the expansion of {activation.name} does not terminate: give --closure K (the input "
                             "cumulant orders to keep)")
        if activation.family.input_orders_needed(activation, order) is None:
            print(f"note: closure {closure} (the formulas for Gaussian input, exact there); the expansion of "
                  f"{activation.name} does not terminate: give --closure K to keep input cumulants up to order K",
                  file=sys.stderr)
    series_order = args.series_order
    if series_order is None:
        series_order = activation.family.default_series_order(activation, order, closure)
    return derive(activation, order, closure, series_order=series_order)


def _fail(prog: str, error: Exception) -> int:
    print(f"{prog}: error: {error}", file=sys.stderr)
    return 2


def derive_main(argv) -> int:
    """``symcorr derive``: print the formula of every index pattern (exit 0, or 2 on an error)."""
    parser = CommandParser(
        prog="symcorr derive",
        description="Print the derived formula of every output-cumulant index pattern (docs/theory.md sections 4-6).")
    _add_activation_arguments(parser)
    _add_order_argument(parser)
    parser.add_argument("--format", "-f", choices=FORMATS, default="text")
    parser.add_argument("--pattern", "-p", type=_pattern, action="append",
                        help="only this index pattern (repeatable)")
    parser.add_argument("--substitute", action="store_true",
                        help="put the activation's parameter values (alpha, coefficients) into the formulas")
    parser.add_argument("--vertex-functions", action="store_true",
                        help="write the formulas in the vertex functions g{p}d{n}_a, G{p}x{q}d{n}x{m}_ab "
                             "(docs/theory.md sections 4.3, 4.7), after their values without derivatives, as the "
                             "formula sheets "
                             "do for every family but the polynomials (written out, GELU's at closure 4 run to "
                             "megabytes)")
    args = parser.parse_args(argv)
    try:
        order = args.order
        if args.pattern:
            order = max(order, *(len(p) for p in args.pattern))
        derivation = _derive_from_args(args, order)
        patterns = [normalize_pattern(p) for p in args.pattern] if args.pattern else None
        sys.stdout.write(render_derivation(derivation, args.format, patterns, args.substitute,
                                           args.vertex_functions))
    except (ValueError, KeyError, ExpressionError) as error:
        return _fail("symcorr derive", error)
    return 0


def check_main(argv) -> int:
    """``symcorr check``: exit 0 when the hand-written formula equals the derived one,
    1 when it does not (printing the difference and the missing/extra terms), 2 on an error."""
    parser = CommandParser(
        prog="symcorr check",
        description="Check a hand-written formula for one output-cumulant pattern against the derivation. "
                    "Exit status: 0 equal, 1 not equal, 2 error.")
    _add_activation_arguments(parser)
    parser.add_argument("--pattern", "-p", type=_pattern, required=True,
                        help="index pattern, e.g. ij, ii, iij (any labels)")
    parser.add_argument("--syntax", choices=("auto", "sympy", "latex"), default="auto",
                        help="syntax of the formula (auto: LaTeX if it contains a backslash, '{' or '$')")
    parser.add_argument("expression", nargs="?", help="the formula (or use --file); 'lhs = rhs' reads rhs")
    parser.add_argument("--file", type=Path, help="read the formula from this file ('-' for stdin)")
    args = parser.parse_args(argv)
    if (args.expression is None) == (args.file is None):
        return _fail("symcorr check", ValueError("give the formula either as an argument or with --file"))
    try:
        if args.file is not None:
            text = read_expression_file(args.file)
        else:
            text = args.expression
        derivation = _derive_from_args(args, len(args.pattern))
        result = check(derivation, args.pattern, text, args.syntax)
    except (ValueError, KeyError, OSError, ExpressionError) as error:
        return _fail("symcorr check", error)
    sys.stdout.write(result.report())
    return 0 if result.equal else 1


def terms_main(argv) -> int:
    """``symcorr terms``: list a formula's terms by diagram; ``--draw`` saves the diagrams as pictures."""
    parser = CommandParser(
        prog="symcorr terms",
        description="List each formula's terms grouped by diagram (docs/theory.md section 4) and draw them.")
    _add_activation_arguments(parser)
    parser.add_argument("--pattern", "-p", type=_pattern, action="append",
                        help="index pattern (repeatable; default: all patterns up to --order)")
    _add_order_argument(parser)
    parser.add_argument("--format", "-f", choices=FORMATS, default="text")
    parser.add_argument("--draw", action="append", type=Path, metavar="FILE",
                        help="save a picture of the diagrams (.png, .svg or .pdf; repeatable); with several "
                             "patterns the pattern is appended to the file name")
    args = parser.parse_args(argv)
    try:
        patterns = [normalize_pattern(p) for p in args.pattern] if args.pattern else None
        order = max(len(p) for p in patterns) if patterns else args.order
        derivation = _derive_from_args(args, order)
        patterns = patterns or list(derivation.patterns)
        for pattern in patterns:
            diagrams = terms(derivation, pattern)
            sys.stdout.write(render_terms(derivation, pattern, args.format, diagrams))
            if args.draw:
                paths = [p if len(patterns) == 1 else p.with_name(f"{p.stem}_{pattern}{p.suffix}")
                         for p in args.draw]
                for path in draw_terms(derivation, pattern, paths, diagrams):
                    print(f"wrote {path}", file=sys.stderr)
    except (ValueError, KeyError, ImportError, ExpressionError) as error:
        return _fail("symcorr terms", error)
    return 0


__all__ = ["activation_from_spec", "derive_main", "check_main", "terms_main"]
