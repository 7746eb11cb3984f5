"""Derivations shared by the tests of symcorr.theory (derived once per session)."""
import pytest

from symcorr.derivation.activations import erf, quadratic
from symcorr.derivation.engine import derive


@pytest.fixture(scope="session")
def quadratic_k4():
    """phi = z + alpha z^2, output orders 1..2, closure 4: docs/theory.md section 5 exactly."""
    return derive(quadratic(), 2, 4)


@pytest.fixture(scope="session")
def erf_k4():
    """erf, output orders 1..2, closure 4, series order 2 (docs/theory.md section 6)."""
    return derive(erf(), 2, 4, series_order=2)
