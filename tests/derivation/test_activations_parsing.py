"""Activations from strings are parsed by the whitelist parser, never evaluated (issue "hostile and
careless input", items 1 and 5).

``activations.from_expression`` handed its string to ``sympy.sympify`` (which calls ``eval``): the
payload below ran ``touch``. These tests are marked xfail(strict) until the lead routes
``from_expression`` through :func:`symcorr.notation.parse.parse_expression` (then remove the marks).
"""
import uuid

import pytest

from symcorr.derivation import activations

NEEDS_PARSER = pytest.mark.xfail(strict=True, reason="needs the lead's from_expression change")


@NEEDS_PARSER
def test_the_code_execution_payload_is_refused_and_runs_nothing(tmp_path):
    target = tmp_path / f"pwned_{uuid.uuid4().hex}"
    with pytest.raises(ValueError, match="refused"):
        activations.from_expression(f"__import__('os').system('touch {target}') or z**2")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


@NEEDS_PARSER
@pytest.mark.parametrize("text, message", [
    ("z + 1e-400*z**2", "smaller in magnitude than float64's smallest normal number"),  # was silently z
    ("1e999*z", "exceeds float64's largest finite number"),  # was a TypeError traceback
])
def test_numbers_outside_float64_are_refused_not_rounded(text, message):
    with pytest.raises(ValueError, match=message):
        activations.from_expression(text)


@pytest.mark.xfail(strict=True, reason="needs the lead's derive change: refuse series_order < 0")
def test_a_negative_series_order_is_refused():
    # `symcorr derive -a erf -M 2 -K 2 -S -5` printed all-zero formulas
    from symcorr.derivation.engine import derive

    with pytest.raises(ValueError, match="series_order"):
        derive(activations.erf(), 2, 2, series_order=-5)
