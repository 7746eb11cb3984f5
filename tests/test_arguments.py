"""symcorr.arguments: the checked argparse types, the deprecated-option action and plain-text help,
and that every subcommand's --help is plain text."""
import argparse
import re

import pytest
from command_line import run_main

from symcorr import cli
from symcorr.arguments import (
    SEED,
    CommandParser,
    DeprecatedOption,
    choice_list,
    integer,
    integer_list,
    latex_to_plain,
    plain_text,
    real,
)

ACCEPTED = [
    (integer(1), "3", 3),
    (integer(0, 5), "5", 5),
    (SEED, "4294967295", 2**32 - 1),
    (real(), "-2.5", -2.5),
    (real(above=0, below=1), "1e-3", 1e-3),
    (integer_list(1), "8, 4", (8, 4)),
    (choice_list(("quadratic", "erf")), "erf,quadratic", ("erf", "quadratic")),
]

REFUSED = [  # (type, text, the whole refusal)
    (integer(1), "0", "must be an integer >= 1, got 0"),
    (integer(1), "abc", "must be an integer >= 1, got 'abc'"),
    (integer(1), "2.5", "must be an integer >= 1, got '2.5'"),
    (integer(0, 5), "6", "must be an integer >= 0 and <= 5, got 6"),
    (integer(2, note="why"), "1", "must be an integer >= 2 (why), got 1"),
    (SEED, "-1", "must be an integer >= 0 and <= 4294967295, got -1"),
    (SEED, "1" + "0" * 400, "must be an integer >= 0 and <= 4294967295, got 1" + "0" * 400),
    (real(maximum=1), "1e400", "must be a finite number <= 1, got 1e400"),
    (real(), "nan", "must be a finite number, got nan"),
    (real(), "inf", "must be a finite number, got inf"),
    (real(), "x", "must be a finite number, got 'x'"),
    (real(above=0, below=1), "0", "must be a finite number > 0 and < 1, got 0"),
    (real(above=0, below=1), "1", "must be a finite number > 0 and < 1, got 1"),
    (real(minimum=0.5), "0.25", "must be a finite number >= 0.5, got 0.25"),
    (integer_list(1), "0", "must be comma-separated integers >= 1 such as 8,4, got '0'"),
    (integer_list(1), "8,-4", "must be comma-separated integers >= 1 such as 8,4, got '8,-4'"),
    (integer_list(1), "8,", "must be comma-separated integers >= 1 such as 8,4, got '8,'"),
    (integer_list(1), "abc", "must be comma-separated integers >= 1 such as 8,4, got 'abc'"),
    (choice_list(("quadratic", "erf")), "relu", "must be a comma-separated subset of quadratic,erf, got 'relu'"),
    (choice_list(("quadratic", "erf")), ",", "must be a comma-separated subset of quadratic,erf, got ','"),
]


@pytest.mark.parametrize("parse, text, value", ACCEPTED)
def test_accepted_values(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize("parse, text, message", REFUSED)
def test_refusals_name_the_limit_and_the_value(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as refusal:
        parse(text)
    assert str(refusal.value) == message


def test_argparse_names_the_argument(capsys):
    parser = CommandParser("symcorr example")
    parser.add_argument("--samples", type=integer(1))
    status, _, err = run_main(parser.parse_args, ["--samples", "0"], capsys)
    assert status == 2
    assert "symcorr example: error: argument --samples: must be an integer >= 1, got 0" in err


def test_deprecated_option_still_works_and_says_what_replaced_it(capsys):
    parser = CommandParser("symcorr example")
    parser.add_argument("--error-rate", type=real(above=0, below=1), default=0.5)
    parser.add_argument("--alpha", dest="error_rate", type=real(above=0, below=1), action=DeprecatedOption,
                        replacement="--error-rate", reason="a reason", help=argparse.SUPPRESS)
    assert parser.parse_args(["--alpha", "0.01"]).error_rate == 0.01
    assert capsys.readouterr().err == ("symcorr example: warning: --alpha is deprecated (a reason), "
                                       "use --error-rate\n")
    assert parser.parse_args(["--error-rate", "0.02"]).error_rate == 0.02
    assert capsys.readouterr().err == ""
    assert "--alpha" not in parser.format_help()


PLAIN = [
    ("``symcorr validate``: :func:`symcorr.propagate` against",
     "symcorr validate: symcorr.propagate() against"),
    (":mod:`~symcorr.experiments.xor_data` and :class:`the data <symcorr.Dataset>`",
     "xor_data and the data"),
    (r":math:`\phi(z) = z + \alpha z^2`", "phi(z) = z + alpha z^2"),
    (r":math:`\lVert\mu\rVert / \mathrm{se}_\text{MC}`", "||mu|| / se_MC"),
    (r".. math:: z = \frac{\kappa_\text{theory} - k}{\mathrm{se}}", "    z = (kappa_theory - k)/(se)"),
    ("plain text, 2 * 3 and a\\b path", "plain text, 2 * 3 and a\\b path"),
]


@pytest.mark.parametrize("rest, plain", PLAIN)
def test_plain_text(rest, plain):
    assert plain_text(rest) == plain


def test_latex_to_plain_nested_fractions():
    assert latex_to_plain(r"\frac{1}{\frac{a}{b}} \le \infty") == "(1)/((a)/(b)) <= inf"


MARKUP = re.compile(r":(func|math|mod|class|meth|data|attr):|``|\\[A-Za-z]")


def _help_commands():
    commands = [[name] for name in cli.SUBCOMMANDS]
    from symcorr.experiments.reproduce import EXPERIMENTS

    return [[], *commands, *(["reproduce", name] for name in EXPERIMENTS)]


@pytest.mark.parametrize("command", _help_commands(), ids=lambda c: " ".join(c) or "symcorr")
def test_every_help_is_plain_text(command, capsys):
    pytest.importorskip("torch")
    status, out, err = run_main(cli.main, [*command, "--help"], capsys)
    assert status == 0, err
    assert "usage:" in out
    assert not MARKUP.search(out), f"reST/LaTeX markup in 'symcorr {' '.join(command)} --help': " \
                                   f"{MARKUP.search(out).group(0)!r}\n{out}"
