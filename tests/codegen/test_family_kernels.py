"""The shipped kernels of the activation families (docs/theory.md section 11): under the key ``pointwise`` asks
for, importing only NumPy, SciPy and the runtime, equal to the runtime routines they call."""
import ast
import importlib
from pathlib import Path

import numpy as np
import pytest
from builders import random_gaussian

import symcorr.codegen.generated
from symcorr.codegen.loader import default_series_order
from symcorr.derivation import activations
from symcorr.derivation.engine import derivation_key

GENERATED = Path(symcorr.codegen.generated.__file__).parent
FAMILY_NAMES = ("relu", "leaky_relu", "abs", "heaviside", "probit", "gelu", "sin", "cos")
SHIPPED = sorted(p for p in GENERATED.glob("*.py") if p.stem.rsplit("_order", 1)[0] in FAMILY_NAMES)


def test_every_family_ships_mean_and_covariance_at_closures_2_and_4():
    names = {p.stem for p in SHIPPED}
    assert {f"{name}_order2_closure{k}" for name in FAMILY_NAMES for k in (2, 4)} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_family_kernels_ship_under_the_pointwise_key_and_import_only_the_runtime(path):
    module = importlib.import_module(f"symcorr.codegen.generated.{path.stem}")
    activation = activations.get(module.FAMILY)
    series = default_series_order(activation, module.OUT_ORDER, module.CLOSURE)
    assert module.SERIES_ORDER == series
    assert module.DERIVATION_KEY == derivation_key(activation, module.OUT_ORDER, module.CLOSURE, series)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            assert all(a.name.split(".")[0] in ("numpy", "scipy") for a in node.names), path.name
        elif isinstance(node, ast.ImportFrom):
            assert (node.module, [a.name for a in node.names]) == ("symcorr.codegen", ["runtime"]), path.name


def test_closure_4_kernels_equal_closure_2_on_a_gaussian():
    # identically zero kappa_3, kappa_4: the corrections vanish (a check of the printed closure-4 formulas' terms)
    mean, cov = random_gaussian(5, seed=3)
    kappa = (mean, cov, np.zeros((5,) * 3), np.zeros((5,) * 4))
    for name in FAMILY_NAMES:
        two = importlib.import_module(f"symcorr.codegen.generated.{name}_order2_closure2")
        four = importlib.import_module(f"symcorr.codegen.generated.{name}_order2_closure4")
        parameters = [0.1] * len(two.PARAMETERS)
        with np.errstate(divide="ignore", invalid="ignore"):    # the ij formula on the grid's diagonal (rho = 1)
            for n in (1, 2):
                np.testing.assert_allclose(four.CUMULANTS[n - 1](kappa, *parameters),
                                           two.CUMULANTS[n - 1](kappa[:2], *parameters), rtol=0, atol=1e-15)
