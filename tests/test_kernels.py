"""Generated kernels: what they import, their header, and the on-demand compilation cache."""
import ast
import importlib
import sys
from pathlib import Path

import numpy as np
from builders import random_gaussian, random_mixture

import symcorr.generated
from symcorr import Cumulants, activations
from symcorr.codegen import module_name
from symcorr.kernels import _compiled, _shipped, load_kernel
from symcorr.expansion import derivation_key
from symcorr.quadrature import quadrature_cumulants

GENERATED = Path(symcorr.generated.__file__).parent


ALLOWED_IMPORTS = {"numpy", "scipy"} | set(sys.stdlib_module_names)


def test_generated_modules_import_only_numpy_scipy_and_the_standard_library():
    for path in GENERATED.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] in ALLOWED_IMPORTS for a in node.names), path.name
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 1 or node.module.split(".")[0] in ALLOWED_IMPORTS, path.name


def test_generated_modules_open_with_the_header_constant():
    for path in GENERATED.glob("*.py"):
        first = ast.parse(path.read_text()).body[0]
        assert isinstance(first, ast.Assign) and first.targets[0].id == "HEADER", path.name
        assert "do not edit" in first.value.value and "python -m derivations" in first.value.value


def test_the_paper_kernels_ship():
    for name in ("quadratic_order4_closure4", "cubic_order2_closure6"):
        importlib.import_module(f"symcorr.generated.{name}")


def test_a_kernel_compiled_on_demand_gives_the_shipped_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMCORR_CACHE", str(tmp_path))
    act = activations.quadratic(0.3)
    key = derivation_key(act, 3, 3, None)
    shipped = _shipped(module_name(act.family, 3, 3), key)
    compiled = _compiled(act, 3, 3, None, key)
    assert shipped is not None and compiled is not shipped
    mean, cov = random_gaussian(3, seed=2)
    kappa = (mean, cov, np.zeros((3,) * 3))
    for a, b in zip(shipped.CUMULANTS, compiled.CUMULANTS):
        np.testing.assert_array_equal(a(kappa, 0.3), b(kappa, 0.3))
    assert list(tmp_path.rglob(f"{module_name(act.family, 3, 3)}_*.py"))


def test_a_new_polynomial_is_derived_cached_and_correct(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMCORR_CACHE", str(tmp_path))
    act = activations.from_expression("z/2 - z**2/5 + z**3/7")
    weights, means, covs = random_mixture(2, seed=9)
    x = quadrature_cumulants(lambda p: p, weights, means, covs, order=6)
    first = load_kernel(act, 2, 6)
    assert load_kernel(act, 2, 6) is first  # cached in memory
    reference = quadrature_cumulants(act, weights, means, covs, order=2)
    from symcorr import pointwise

    out = pointwise(x, act, order=2, closure=6)
    np.testing.assert_allclose(out.cov, reference.cov, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(out.mean, reference.mean, rtol=1e-10, atol=1e-13)
    assert Cumulants  # the public container is what pointwise returns
    assert isinstance(out, Cumulants)
