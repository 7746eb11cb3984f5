"""erf end to end (issue 3, item 4): generated kernels and ``symcorr.numeric.pointwise``.

The erf kernels meet the polynomial kernels' standards: shipped in
``generated/`` under the key ``pointwise`` asks for, importing only NumPy,
SciPy and their support module, and equal (to rounding) to the standalone
exact transfer and to quadrature.
"""
import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy.special import erf

import symcorr.codegen.generated
from symcorr import Cumulants, linear, pointwise
from symcorr.derivation import activations
from symcorr.derivation.engine import derivation_key
from symcorr.codegen.loader import default_series_order
from symcorr.numeric.erf_gaussian import erf_gaussian_transfer
from symcorr.numeric.quadrature import quadrature_cumulants

GENERATED = Path(symcorr.codegen.generated.__file__).parent
SHIPPED = sorted(GENERATED.glob("erf_*.py"))


@pytest.fixture(autouse=True)
def kernel_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMCORR_CACHE", str(tmp_path))


def _load(path):
    """A shipped kernel module, imported as the installed package has it."""
    return importlib.import_module(f"symcorr.codegen.generated.{path.stem}")


def test_erf_kernels_ship_under_the_key_pointwise_asks_for():
    names = {p.stem for p in SHIPPED}
    assert {"erf_order2_closure2", "erf_order2_closure4"} <= names
    erf_activation = activations.erf()
    for path in SHIPPED:
        module = _load(path)
        assert module.FAMILY == "erf"
        series = default_series_order(erf_activation, module.OUT_ORDER, module.CLOSURE)
        assert module.SERIES_ORDER == series
        assert module.DERIVATION_KEY == derivation_key(erf_activation, module.OUT_ORDER, module.CLOSURE, series)


def test_erf_kernels_import_only_numpy_scipy_and_the_runtime():
    for path in SHIPPED:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] in ("numpy", "scipy") for a in node.names), path.name
            elif isinstance(node, ast.ImportFrom):
                assert (node.module, [a.name for a in node.names]) == ("symcorr.codegen", ["runtime"]), path.name
    source = (GENERATED / "erf_order2_closure2.py").read_text()
    assert "_support.erf_gaussian_covariance(" in source and "scipy.special.erf(" in source


def test_shipped_exact_kernel_equals_the_standalone_transfer():
    rng = np.random.default_rng(2)
    n = 40
    a = rng.normal(size=(n, n)) / np.sqrt(n)
    cov = a @ a.T * 3 + 0.05 * np.eye(n)
    cov = np.triu(cov) + np.triu(cov, 1).T
    mean = rng.normal(size=n)
    mean[:4] = 0.0
    module = _load(GENERATED / "erf_order2_closure2.py")
    m, c = erf_gaussian_transfer(mean, cov)
    # the same routine on the same inputs: equal to rounding
    np.testing.assert_allclose(module.cumulant_1((mean, cov)), m, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(module.cumulant_2((mean, cov)), c, rtol=1e-14, atol=1e-15)


def test_pointwise_erf_order_2_end_to_end():
    # a linear layer, then erf: pointwise against the standalone function and 2-D Gauss-Hermite quadrature
    mean = np.array([0.4, -0.3])
    cov = np.array([[0.5, 0.2], [0.2, 0.3]])
    W = np.array([[1.0, 0.5], [-0.7, 1.2], [0.3, 0.3]])
    b = np.array([0.1, 0.0, -0.2])
    z = linear(Cumulants(mean, cov), W, b)
    y = pointwise(z, activations.erf(), order=2)
    m, c = erf_gaussian_transfer(z.mean, np.triu(z.cov) + np.triu(z.cov, 1).T)
    assert np.max(np.abs(y.mean - m)) < 1e-15 and np.max(np.abs(y.cov - c)) < 1e-15
    truth = quadrature_cumulants(lambda x: erf(x @ W.T + b), [1.0], mean[None], cov[None], order=2, n_nodes=100)
    assert np.max(np.abs(y.mean - truth.mean)) < 1e-13 and np.max(np.abs(y.cov - truth.cov)) < 1e-13


def test_pointwise_erf_at_the_edges():
    # zero means, opposite signs, variances 1e-12 and 1e4, a near-degenerate pair: finite and exact
    mean = np.array([0.0, 0.0, 1.5, -2.5, 0.3])
    sd = np.sqrt(np.array([1e-12, 1e4, 1e4, 1.0, 0.3]))
    corr = np.eye(5)
    corr[1, 2] = corr[2, 1] = 0.999999
    corr[3, 4] = corr[4, 3] = -0.6
    cov = corr * np.outer(sd, sd)
    y = pointwise(Cumulants(mean, cov), activations.erf(), order=2)
    m, c = erf_gaussian_transfer(mean, cov)
    assert np.all(np.isfinite(y.cov))
    assert np.max(np.abs(y.mean - m)) < 1e-15 and np.max(np.abs(y.cov - c)) < 1e-15
    assert abs(y.cov[0, 0] - 2 / np.pi * np.arcsin(2e-12 / (1 + 2e-12))) < 1e-20


def test_pointwise_erf_closure_4_uses_the_higher_cumulants():
    weights, means = [0.3, 0.7], np.array([[0.29, -0.19], [-0.06, 0.16]])       # nearby components
    covs = np.array([[[0.4, 0.1], [0.1, 0.3]], [[0.3, -0.05], [-0.05, 0.5]]])
    inputs = quadrature_cumulants(lambda x: x, weights, means, covs, order=4, n_nodes=12)
    truth = quadrature_cumulants(erf, weights, means, covs, order=2, n_nodes=120)
    gaussian = pointwise(inputs, activations.erf(), order=2, closure=2)
    corrected = pointwise(inputs, activations.erf(), order=2, closure=4)
    assert np.max(np.abs(corrected.cov - truth.cov)) < np.max(np.abs(gaussian.cov - truth.cov)) / 4
    assert np.max(np.abs(corrected.mean - truth.mean)) < np.max(np.abs(gaussian.mean - truth.mean)) / 4
