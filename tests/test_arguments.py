"""argparse range types (symcorr.arguments): each bad value of the issue's item 7 is a usage error."""
import argparse

import pytest

from symcorr.arguments import (
    finite_float,
    nonnegative_int,
    open_unit_interval,
    positive_float,
    positive_int,
    width_list,
)


def parse(kind, text):
    parser = argparse.ArgumentParser(prog="symcorr test", exit_on_error=False)
    parser.add_argument("--value", type=kind)
    return parser.parse_args(["--value", text]).value


@pytest.mark.parametrize("kind, text, message", [
    (open_unit_interval, "0", "0.0 is not strictly between 0 and 1"),  # validate --alpha 0: infinite bound
    (open_unit_interval, "nan", "'nan' is not a finite number"),       # validate --alpha nan: fails everything
    (positive_int, "0", "0 is not a positive integer"),                 # --samples 0, --n-train 0
    (nonnegative_int, "-1", "-1 is negative"),                          # --seed -1
    (width_list, "0", "0 is not a positive integer"),                   # --hidden 0
    (width_list, "-4", "-4 is not a positive integer"),                 # --hidden -4
    (width_list, "abc", "'abc' is not an integer"),                     # --hidden abc
    (width_list, "128,", "is not a comma-separated list of widths"),
    (positive_int, "-1", "-1 is not a positive integer"),               # --epochs -1
    (positive_float, "-0.5", "-0.5 is not positive"),
    (finite_float, "inf", "'inf' is not a finite number"),
])
def test_bad_values_are_usage_errors_naming_the_range(kind, text, message, capsys):
    with pytest.raises((argparse.ArgumentError, SystemExit)) as caught:
        parse(kind, text)
    shown = str(caught.value) + capsys.readouterr().err
    assert message in shown


def test_good_values_pass():
    assert parse(open_unit_interval, "1e-3") == 1e-3
    assert parse(positive_int, "7") == 7 and parse(nonnegative_int, "0") == 0
    assert parse(width_list, "128, 64") == (128, 64)
    assert parse(finite_float, "-2.5") == -2.5 and parse(positive_float, "0.5") == 0.5
