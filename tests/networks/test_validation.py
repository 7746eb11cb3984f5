"""symcorr validate: propagate against Monte Carlo, and a wrong kernel is caught."""
import importlib
import math
import types

import numpy as np
import pytest
import sympy as sp
from command_line import run_main
from torch import nn

from symcorr import cli
from symcorr.codegen import printer as codegen
from symcorr.derivation import activations
from symcorr.derivation.engine import PatternDerivation, derive
from symcorr.networks import modules as snn
from symcorr.networks.validation import (
    NetworkSpec,
    Report,
    Row,
    default_networks,
    exact_orders,
    main,
    validate,
)
from symcorr.notation.symbols import cumulant_symbol


def test_quick_validation_passes_with_fixed_seeds():
    report = validate(quick=True, seed=0)  # 2**16 samples per network
    assert report.passed, report.table()
    assert report.tests > 500
    table = report.table()
    for column in ("network", "layer", "order", "max|z|", "rel.err", "samples", "time theory/MC"):
        assert column in table
    # every network contributes tested rows at every layer
    for spec in default_networks(quick=True):
        assert any(r.network == spec.name and r.exact for r in report.rows)
    # the convolutional network's spatial layers are tested in mean and covariance
    for kind in ("Conv2d", "BatchNorm2d", "AvgPool2d"):
        assert {r.order for r in report.rows if f":{kind}(" in r.layer and r.exact} == {1, 2}


def test_exact_orders_follow_the_degree_rule():
    quadratic = nn.Sequential(nn.Linear(3, 4), snn.Quadratic(), nn.Linear(4, 4), snn.Quadratic(), nn.Linear(4, 2))
    # Gaussian input, K = 4: the first quadratic layer is exact at every order, the second for
    # mean and covariance only (its orders 3, 4 need hidden cumulants of orders 5..8)
    assert exact_orders(quadratic, 4, input_nonzero=2) == [{1, 2, 3, 4}] * 3 + [{1, 2}] * 2
    # K = 2: the first layer is still exact (Gaussian), the second only in the mean
    assert exact_orders(quadratic, 2, input_nonzero=2) == [{1, 2}] * 3 + [{1}] * 2
    # a mixture input with K = 4: the first layer is exact for mean and covariance
    assert exact_orders(quadratic, 4, input_nonzero=math.inf)[:3] == [{1, 2, 3, 4}, {1, 2}, {1, 2}]
    erf = nn.Sequential(nn.Linear(3, 4), snn.Erf(), nn.Linear(4, 4), snn.Erf())
    assert exact_orders(erf, 2, input_nonzero=2) == [{1, 2}, {1, 2}, {1, 2}, set()]


def test_bonferroni_bound_and_failure_rows():
    rows = [Row("net", "0:Linear", 2, 10, 3.0, 0.01, True, 1000, 0.1, 1.0),
            Row("net", "1:Quadratic", 2, 10, 9.0, 0.5, False, 1000, 0.1, 1.0)]
    report = Report(rows, alpha=1e-3, dof=63)
    assert report.tests == 10 and report.passed and 4.0 < report.bound < 5.5
    rows[0].max_z = 6.0
    report = Report(rows, alpha=1e-3, dof=63)
    assert not report.passed and report.failures == [rows[0]]
    assert "FAIL" in report.table()


pointwise_module = importlib.import_module("symcorr.numeric.pointwise")  # the package attribute is the function


def _wrong_kernel_module(tmp_path, monkeypatch):
    """The quadratic kernel (orders 1..2, closure 2) with the term 2 alpha^2 Sigma_ij^2 dropped
    from the off-diagonal covariance, compiled by the code printer."""
    derivation = derive(activations.quadratic(), 2, 2)
    formula = sp.expand(derivation.formula("ij"))
    alpha, sigma_ij = sp.Symbol("alpha", real=True), cumulant_symbol("ij")
    dropped = 2 * alpha**2 * sigma_ij**2
    assert dropped in sp.Add.make_args(formula)
    derivation.patterns["ij"] = PatternDerivation("ij", derivation.diagram_form("ij"), formula - dropped)
    namespace = {}
    exec(compile(codegen.kernel_module_source(derivation, "deliberately wrong"), "<wrong kernel>", "exec"), namespace)
    return types.SimpleNamespace(**namespace)


def test_a_wrong_kernel_is_caught(tmp_path, monkeypatch):
    spec = NetworkSpec("quadratic", 1, 8, "gaussian", 2, seed=7)
    right = validate([spec], n_samples=2**16)
    assert right.passed, right.table()

    wrong = _wrong_kernel_module(tmp_path, monkeypatch)
    original = pointwise_module.load_kernel

    def load_kernel(activation, out_order, closure, series_order=None):
        if activation.name == "quadratic" and (out_order, closure) == (2, 2):
            return wrong
        return original(activation, out_order, closure, series_order)

    monkeypatch.setattr(pointwise_module, "load_kernel", load_kernel)
    report = validate([spec], n_samples=2**16)
    assert not report.passed
    failing = {(r.layer.split(":")[1].split("(")[0], r.order) for r in report.failures}
    # the covariance behind the quadratic layer and after the readout; means and the first
    # linear layer are untouched
    assert failing == {("Quadratic", 2), ("Linear", 2)}
    assert all(r.layer.startswith(("1:", "2:")) for r in report.failures)
    assert max(r.max_z for r in report.failures) > 2 * report.bound


def test_command_line(capsys):
    assert main(["--quick", "--only", "cubic", "--samples", "20000"]) == 0
    out = capsys.readouterr().out
    assert "cubic-d1" in out and "PASS" in out
    assert main(["--only", "no-such-network"]) == 2
    assert cli.main(["validate", "--quick", "--only", "quadratic-d1", "--samples", "20000"]) == 0


@pytest.mark.slow
def test_full_validation_passes():
    """The whole suite of ``symcorr validate`` (several minutes)."""
    report = validate()
    assert report.passed, report.table()


def _wrong_relu_covariance(pointwise):
    r"""``pointwise`` with the ReLU covariance replaced off the diagonal by its linear response
    :math:`\Phi(\mu_i/\sigma_i)\Phi(\mu_j/\sigma_j)\Sigma_{ij}` (the arc-cosine terms of order
    :math:`\rho^2` and higher dropped): right means and variances, wrong correlations."""
    from scipy.special import ndtr

    from symcorr.numeric.cumulants import Cumulants

    def wrong(cumulants, activation, **options):
        right = pointwise(cumulants, activation, **options)
        if activation.name != "relu":
            return right
        slope = ndtr(cumulants.mean / np.sqrt(np.diag(cumulants.cov)))
        cov = np.outer(slope, slope) * cumulants.cov
        np.fill_diagonal(cov, np.diag(right.cov))
        return Cumulants(right.mean, cov, *right.tensors[2:], check=False)

    return wrong


@pytest.mark.skipif("relu" not in activations.ACTIVATIONS, reason="needs the activation families")
def test_a_wrong_relu_formula_is_caught(monkeypatch):
    spec = NetworkSpec("relu", 1, 8, "gaussian", 2, seed=7)
    right = validate([spec], n_samples=2**16)
    assert right.passed, right.table()

    monkeypatch.setattr(pointwise_module, "pointwise", _wrong_relu_covariance(pointwise_module.pointwise))
    report = validate([spec], n_samples=2**16)
    assert not report.passed
    failing = {(r.layer.split(":")[1].split("(")[0], r.order) for r in report.failures}
    assert failing == {("ReLU", 2), ("Linear", 2)}
    assert all(r.layer.startswith(("1:", "2:")) for r in report.failures)
    assert max(r.max_z for r in report.failures) > 2 * report.bound


def test_families_this_symcorr_lacks_are_skipped_with_a_note(monkeypatch, capsys):
    from symcorr.networks import validation_networks

    known = {name: activations.ACTIVATIONS[name] for name in ("quadratic", "cubic", "polynomial", "erf")}
    monkeypatch.setattr(activations, "ACTIVATIONS", known)
    assert validation_networks.missing_families() == list(validation_networks.FAMILY_FACTORIES)
    assert {type(spec).__name__ for spec in validation_networks.family_networks()} == {"ConvNetworkSpec"}
    assert main(["--quick", "--only", "quadratic-d1", "--samples", "20000"]) == 0
    assert "note: networks of the activation families relu, leaky_relu, gelu, gelu_tanh" in capsys.readouterr().out


def test_a_family_without_a_torch_module_is_evaluated_through_its_own_function():
    import torch

    from symcorr.networks.layers import rule_for
    from symcorr.networks.validation_networks import FamilyActivation

    module = FamilyActivation(activations.quadratic(0.5))
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)
    torch.testing.assert_close(module(x), snn.Quadratic(0.5, learnable=False).double()(x), rtol=1e-15, atol=1e-15)
    assert rule_for(module).activation(module) == activations.quadratic(0.5)


# -- the command line: refused arguments, and --alpha renamed --error-rate -----------------------

REFUSED_ARGUMENTS = [
    (["--error-rate", "0"], "argument --error-rate: must be a finite number > 0 and < 1 (at 0 the Bonferroni "
                            "bound is infinite and every run passes), got 0"),
    (["--error-rate", "1"], "argument --error-rate: must be a finite number > 0 and < 1"),
    (["--alpha", "0"], "argument --alpha: must be a finite number > 0 and < 1"),
    (["--alpha", "nan"], "argument --alpha: must be a finite number > 0 and < 1 (at 0 the Bonferroni bound is "
                         "infinite and every run passes), got nan"),
    (["--samples", "0"], "argument --samples: must be an integer >= 1, got 0"),
    (["--samples", "1e5"], "argument --samples: must be an integer >= 1, got '1e5'"),
    (["--seed", "-1"], "argument --seed: must be an integer >= 0 and <= 4294967295, got -1"),
    (["--groups", "1"], "argument --groups: must be an integer >= 2 (the standard errors have groups - 1 "
                        "degrees of freedom), got 1"),
    (["--quick", "--samples", "100"], "argument --samples: 100 samples in 64 groups are too few for order-4 "
                                      "k-statistics: need at least 640 (10 per group); raise --samples or lower "
                                      "--groups"),
    (["--quick", "--only", "cubic", "--groups", "20000"], "argument --samples: 65536 samples in 20000 groups are "
                                                          "too few for order-2 k-statistics: need at least 120000"),
]


@pytest.mark.parametrize("argv, message", REFUSED_ARGUMENTS, ids=[" ".join(a) for a, _ in REFUSED_ARGUMENTS])
def test_refused_arguments(argv, message, capsys):
    status, out, err = run_main(main, argv, capsys)
    assert status == 2 and out == ""
    assert f"symcorr validate: error: {message}" in err


def test_alpha_is_now_error_rate_and_the_old_spelling_still_works(capsys):
    argv = ["--quick", "--only", "cubic", "--samples", "20000"]
    assert main([*argv, "--alpha", "0.01"]) == 0
    old = capsys.readouterr()
    assert ("symcorr validate: warning: --alpha is deprecated (in the other commands --alpha is the "
            "activation's coefficient), use --error-rate") in old.err
    assert main([*argv, "--error-rate", "0.01"]) == 0
    new = capsys.readouterr()
    assert new.err == ""
    bound = "t_63^-1(1 - 0.01/(2m))"
    assert bound in old.out and bound in new.out


@pytest.mark.parametrize("alpha", [0.0, 1.0, math.nan])
def test_validate_refuses_an_error_rate_outside_0_1(alpha):
    with pytest.raises(ValueError, match="family-wise error rate"):
        validate([NetworkSpec("quadratic", 1, 2, "gaussian", 2)], n_samples=1000, alpha=alpha)
