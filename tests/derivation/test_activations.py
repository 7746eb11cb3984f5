"""Activations by name and from expressions: families answer, strings are parsed, never evaluated."""
import warnings

import pytest
import sympy as sp

import symcorr
from symcorr.derivation import activations
from symcorr.derivation.activation import ActivationFamily
from symcorr.derivation.families import FAMILY_MODULES
from symcorr.notation.parse import UnsafeExpressionError
from symcorr.notation.symbols import Z


def test_from_expression_refuses_code_and_runs_nothing(tmp_path):
    target = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {target}') or z**2"
    with pytest.raises(UnsafeExpressionError):
        activations.from_expression(payload)
    assert not target.exists()


@pytest.mark.parametrize("text, message", [
    ("z + 1e-400*z**2", "smaller in magnitude than float64's smallest normal number"),  # was silently z
    ("1e999*z", "exceeds float64's largest finite number"),  # was a TypeError traceback
])
def test_numbers_outside_float64_are_refused_not_rounded(text, message):
    with pytest.raises(ValueError, match=message):
        activations.from_expression(text)


def test_from_expression_recognises_each_family():
    cubic = activations.from_expression("z - z**3/3")
    assert cubic.family.name == "polynomial" and cubic.expression == Z - Z**3 / 3
    assert activations.from_expression(r"\operatorname{erf}(z)") == activations.erf()
    assert activations.from_expression(sp.erf(sp.Symbol("z"))) == activations.erf()
    with pytest.raises(ValueError, match="may only contain z"):
        activations.from_expression("z + alpha*z**2")
    with pytest.raises(TypeError, match="string or a SymPy expression"):
        activations.from_expression(3)


def test_every_family_module_registers_its_constructors_and_a_recogniser():
    for module in FAMILY_MODULES:
        assert module.CONSTRUCTORS and callable(module.recognize)
        for name, constructor in module.CONSTRUCTORS.items():
            assert activations.ACTIVATIONS[name] is constructor
    families = {activations.get(name).family for name in ("quadratic", "cubic", "erf")}
    assert all(isinstance(f, ActivationFamily) for f in families) and len(families) == 2


def test_old_spellings_work_once_more_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="order"):
        old = symcorr.derive(activations.quadratic(), out_order=2, closure=4)
    new = symcorr.derive(activations.quadratic(), 2, 4)
    assert old.key == new.key and sp.expand(old.formula("ij") - new.formula("ij")) == 0
    with pytest.warns(DeprecationWarning, match="Derivation.order"):
        assert new.out_order == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert new.order == 2


def test_printing_and_checking_moved_to_the_theory_layer():
    derivation = symcorr.derive(activations.quadratic(), 1, 2)
    for name in ("latex", "terms", "check"):
        with pytest.raises(AttributeError, match=f"symcorr.theory.{name}"):
            getattr(derivation, name)


@pytest.mark.parametrize("series_order", [-5, 1.5, True])
def test_a_series_order_that_is_not_a_count_is_refused(series_order):
    with pytest.raises(ValueError, match="series_order"):
        symcorr.derive(activations.erf(), 2, 2, series_order=series_order)
