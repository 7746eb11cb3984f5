r"""What every ``symcorr`` subcommand shares on its command line: checked argument types, a
deprecated-spelling action and help text in plain text.

* :func:`integer`, :func:`real`, :func:`integer_list`, :func:`choice_list` and :data:`SEED`
  are ``type=`` functions for :mod:`argparse`: each parses one argument and refuses a value
  outside its range with a message naming the limit and the value given (argparse adds the
  argument's name: ``argument --samples: must be an integer >= 1, got 0``). Numbers are
  always finite: ``nan`` and ``inf`` are refused.
* :class:`DeprecatedOption`: an old option spelling that still works and says what replaced it.
* :class:`CommandParser`: an :class:`argparse.ArgumentParser` whose ``--help`` is plain text
  (:func:`plain_text`), so a description taken from a docstring shows no reST markup.

Where it lives: the subcommands sit in three layers (:mod:`symcorr.theory.commands`,
:mod:`symcorr.networks.validation`, :mod:`symcorr.experiments`), and the import-linter
contract in ``pyproject.toml`` lets a layer import only the layers below it. This module
imports nothing but the standard library and is listed there as the lowest layer, below
:mod:`symcorr.notation` (which is about notation, not command lines), so every command may
import it and it can never pull a heavier layer in.
"""
from __future__ import annotations

import argparse
import math
import re
import sys

# -- argument types -------------------------------------------------------------------

def _checked(convert, kind: str, note: str, minimum=None, maximum=None, above=None, below=None):
    """A ``type=`` function: ``convert(text)`` (a ``ValueError`` refused), finite, within the bounds
    given (closed: ``minimum``, ``maximum``; open: ``above``, ``below``); the refusal says
    ``must be <kind> <bounds> (<note>), got <text>``."""
    limits = ((">=", minimum), (">", above), ("<=", maximum), ("<", below))
    bounds = " and ".join(f"{sign} {value if isinstance(value, int) else f'{value:g}'}"
                          for sign, value in limits if value is not None)
    wanted = f"{kind} {bounds}".rstrip() + (f" ({note})" if note else "")

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}") from None
        finite = not isinstance(value, float) or math.isfinite(value)    # a Python int is always finite
        if not (finite and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
                and (above is None or value > above) and (below is None or value < below)):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
        return value

    parse.__name__ = kind.split()[-1]
    return parse


def integer(minimum: int | None = None, maximum: int | None = None, *, note: str = ""):
    """A ``type=`` function: an integer in ``[minimum, maximum]`` (either end open when ``None``);
    ``note`` is added to the refusal (why the limit is there)."""
    return _checked(int, "an integer", note, minimum, maximum)


def real(minimum: float | None = None, maximum: float | None = None, *, above: float | None = None,
         below: float | None = None, note: str = ""):
    """A ``type=`` function: a finite float with optional closed (``minimum``, ``maximum``) and open
    (``above``, ``below``) bounds; ``note`` is added to the refusal."""
    return _checked(float, "a finite number", note, minimum, maximum, above, below)


def integer_list(minimum: int | None = None, *, example: str = "8,4"):
    """A ``type=`` function: comma-separated integers, each ``>= minimum``, as a tuple (e.g. ``--hidden 8,4``)."""
    wanted = f"comma-separated integers >= {minimum} such as {example}" if minimum is not None else \
        f"comma-separated integers such as {example}"

    def parse(text: str) -> tuple[int, ...]:
        items = [item.strip() for item in text.split(",")]
        try:
            values = tuple(int(item) for item in items)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}") from None
        if minimum is not None and any(v < minimum for v in values):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}")
        return values

    parse.__name__ = "integer list"
    return parse


def choice_list(choices):
    """A ``type=`` function: a non-empty comma-separated subset of ``choices``, as a tuple in the order given."""
    choices = tuple(choices)
    wanted = f"a comma-separated subset of {','.join(choices)}"

    def parse(text: str) -> tuple[str, ...]:
        values = tuple(item.strip() for item in text.split(",") if item.strip())
        unknown = [v for v in values if v not in choices]
        if not values or unknown:
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}")
        return values

    parse.__name__ = "choice list"
    return parse


#: seeds: unsigned 32-bit integers (NumPy and torch generators take them; the experiments add small offsets)
SEED = integer(0, 2**32 - 1)


class DeprecatedOption(argparse.Action):
    """An old option spelling that still works and says what replaced it:
    ``parser.add_argument("--alpha", dest="error_rate", action=DeprecatedOption, replacement="--error-rate",
    help=argparse.SUPPRESS)``; ``reason`` (optional) says why it changed."""

    def __init__(self, option_strings, dest, *, replacement: str, reason: str = "", **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.replacement = replacement
        self.reason = reason

    def __call__(self, parser, namespace, values, option_string=None):
        reason = f" ({self.reason})" if self.reason else ""
        print(f"{parser.prog}: warning: {option_string} is deprecated{reason}, use {self.replacement}",
              file=sys.stderr)
        setattr(namespace, self.dest, values)


# -- help text --------------------------------------------------------------------------

_LATEX_SYMBOLS = {r"\lVert": "||", r"\rVert": "||", r"\left": "", r"\right": "", r"\,": " ", r"\;": " ",
                  r"\cdot": "*", r"\times": "x", r"\leq": "<=", r"\le": "<=", r"\geq": ">=", r"\ge": ">=",
                  r"\neq": "!=", r"\ne": "!=", r"\to": "->", r"\rightarrow": "->", r"\ldots": "...",
                  r"\dots": "...", r"\infty": "inf"}


def latex_to_plain(tex: str) -> str:
    r"""Inline LaTeX as plain text: ``\frac{a}{b}`` -> ``(a)/(b)``, ``\mathrm{se}`` -> ``se``,
    ``\alpha`` -> ``alpha``, ``\lVert`` -> ``||``; braces dropped."""
    for command, text in sorted(_LATEX_SYMBOLS.items(), key=lambda item: -len(item[0])):
        tex = re.sub(re.escape(command) + r"(?![A-Za-z])", lambda _, t=text: t, tex)
    while True:
        simpler = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", tex)
        simpler = re.sub(r"\\(?:text|mathrm|mathbf|mathbb|operatorname|mathcal)\{([^{}]*)\}", r"\1", simpler)
        if simpler == tex:
            break
        tex = simpler
    tex = re.sub(r"\\([A-Za-z]+)", r"\1", tex)
    return tex.replace("{", "").replace("}", "")


def plain_text(text: str) -> str:
    r"""reST as a terminal shows it best: ``:func:`a.b``` -> ``a.b()``, ``:mod:`~a.b``` -> ``b``,
    ``:math:`\alpha``` -> ``alpha`` (:func:`latex_to_plain`), ````x```` -> ``x``, and a
    ``.. math::`` directive becomes its indented formula."""
    text = re.sub(r"\.\. math::[ \t]*(.*)", lambda match: "    " + latex_to_plain(match.group(1)), text)

    def role(match):
        kind, body = match.group(1), match.group(2)
        if kind == "math":
            return latex_to_plain(body)
        titled = re.fullmatch(r"(.*?)\s*<([^>]*)>", body, re.DOTALL)
        if titled:
            return titled.group(1)
        if body.startswith("~"):
            body = body.rsplit(".", 1)[-1]
        return body + "()" if kind in ("func", "meth") else body

    text = re.sub(r":(?:py:)?([a-z]+):`([^`]*)`", role, text)
    return re.sub(r"``(.*?)``", r"\1", text, flags=re.DOTALL)


class CommandParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` for a ``symcorr`` subcommand: ``description`` and ``epilog``
    (often a docstring) and the whole ``--help`` pass through :func:`plain_text`. ``raw=True``
    keeps the description's line breaks (lists)."""

    def __init__(self, prog: str, description: str | None = None, *, raw: bool = False, **kwargs):
        if raw:
            kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        if kwargs.get("epilog"):
            kwargs["epilog"] = plain_text(kwargs["epilog"])
        super().__init__(prog=prog, description=plain_text(description) if description else None, **kwargs)

    def format_help(self) -> str:
        return plain_text(super().format_help())


__all__ = [
    "SEED",
    "CommandParser",
    "DeprecatedOption",
    "choice_list",
    "integer",
    "integer_list",
    "latex_to_plain",
    "plain_text",
    "real",
]
