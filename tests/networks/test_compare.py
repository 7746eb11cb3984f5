"""symcorr compare: propagate and Monte Carlo side by side for a user's model (fixed seeds)."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from builders import random_gaussian
from symcorr import cli
from symcorr.networks import compare as compare_module
from symcorr.networks import modules as snn
from symcorr.networks import propagation
from symcorr.networks.compare import compare, load_model
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.distributions import Gaussian, GaussianMixture


def _quadratic_net(d_in=2, width=4, d_out=2, alpha=0.5, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, width), snn.Quadratic(alpha, learnable=False), nn.Linear(width, d_out)).double()


XOR = GaussianMixture([0.5, 0.5], [[1.0, 1.0], [-1.0, -1.0]], 0.25 * np.eye(2))


def _status(report, layer, order):
    return next(r.status for r in report.rows if r.layer == layer and r.order == order)


def test_gaussian_input_exact_rows_pass_and_the_second_activation_is_approximate():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 4), snn.Quadratic(0.4, learnable=False), nn.Linear(4, 3),
                          snn.Quadratic(0.4, learnable=False)).double()
    report = compare(model, Gaussian(*random_gaussian(3, seed=1)), order=2, n_samples=2**15)
    assert [(r.layer, r.order) for r in report.rows] == [(l, n) for l in range(4) for n in (1, 2)]
    # a quadratic of a Gaussian is exact at closure 2 (input orders 3, 4 are zero), its output is not Gaussian
    assert [_status(report, l, 2) for l in range(4)] == ["exact", "exact", "exact", "approximate"]
    assert _status(report, 3, 1) == "exact"           # a mean needs input orders 1..2 only
    assert report.passed and report.tests == (4 + 10) * 2 + (3 + 6) + 3 and report.max_z < report.bound
    approximate = next(r for r in report.rows if r.layer == 3 and r.order == 2)
    assert approximate.max_z > report.bound           # the closure error is visible, and not tested
    table = report.table()
    assert "CONSISTENT" in table and "approximate" in table and "3:Quadratic(alpha=0.4)" in table


def test_a_wrong_propagation_is_caught(monkeypatch):
    model = _quadratic_net()
    right = propagation.propagate

    def off_by_two_percent(*args, **kwargs):
        trace = right(*args, **kwargs)
        last = trace[-1]
        trace[-1] = Cumulants(last.mean, 1.02 * last.cov, *last.tensors[2:])
        return trace

    monkeypatch.setattr(propagation, "propagate", off_by_two_percent)
    report = compare(model, XOR, order=2, closure=4, n_samples=2**16)
    assert not report.passed and report.verdict == "INCONSISTENT"
    assert [(r.layer, r.order) for r in report.failures] == [(2, 2)]
    assert "FAIL" in report.table()


def test_mixture_input_statuses_follow_the_degree_rule():
    model = _quadratic_net()
    report = compare(model, XOR, order=4, closure=4, n_samples=2**16)
    # the quadratic layer: order m needs input orders 1..2m, carried exactly up to the closure 4
    assert [_status(report, 1, n) for n in range(1, 5)] == ["exact", "exact", "approximate", "approximate"]
    assert [_status(report, 0, n) for n in range(1, 5)] == ["exact"] * 4
    assert report.passed
    cheap = compare(model, XOR, order=2, closure=2, n_samples=2**14)
    assert [_status(cheap, 1, n) for n in (1, 2)] == ["exact", "approximate"]


def test_data_input_uses_the_k_statistics_of_the_pushed_rows():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(4000, 1, 3)) ** 2            # skewed data, image-like trailing shape
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3, 3), snn.Quadratic(0.3, learnable=False)).double()
    report = compare(model, X, order=2, closure=4)
    assert report.n_samples == 4000 and "4000 samples of shape 1x3" in report.inputs
    assert {r.status for r in report.rows} == {"estimated"}
    # k-statistics commute with affine maps: the linear layers agree to rounding
    for r in report.rows:
        if r.layer < 2:
            assert r.rel_error < 1e-12 and r.max_z < 1e-6
    # a quadratic of the estimated input: O(1/n) from the non-linearity of the k-statistics
    assert 0 < max(r.rel_error for r in report.rows if r.layer == 2) < 5 / 4000
    assert report.passed
    approximate = compare(model, X, order=2, closure=2, n_samples=3000)
    assert _status(approximate, 2, 2) == "approximate" and approximate.n_samples == 3000
    with pytest.raises(ValueError, match="up to order 4"):
        compare(model, X, order=2, closure=5)
    with pytest.raises(ValueError, match="exceeds the 4000 rows"):
        compare(model, X, n_samples=5000)


def test_memory_estimate_lowers_monte_carlo_orders_of_wide_layers_then_refuses():
    widths = [40, 40, 3]
    budget = compare_module.estimated_bytes(40, 4, 4) * 3 + compare_module.estimated_bytes(3, 4, 4) \
        + 2 * compare_module.estimated_bytes(40, 2, 6) + compare_module.estimated_bytes(3, 4, 6)
    orders, notes = compare_module._monte_carlo_orders(widths, 40, 4, 4, "gaussian", budget)
    assert orders == [2, 2, 4] and len(notes) == 2 and "layer 0 (width 40)" in notes[0]
    with pytest.raises(MemoryError, match="lower the order or closure"):
        compare_module._monte_carlo_orders(widths, 40, 4, 4, "gaussian", budget / 2)


def test_load_model_from_a_saved_module_a_factory_file_and_errors(tmp_path):
    model = _quadratic_net()
    torch.save(model, tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt")
    assert not loaded.training and torch.equal(loaded[0].weight, model[0].weight)
    factory = tmp_path / "factory.py"
    factory.write_text("import torch\ndef build():\n    return torch.nn.Sequential(torch.nn.Linear(2, 3))\n")
    assert isinstance(load_model(f"{factory}:build")[0], nn.Linear)
    with pytest.raises(ImportError, match="no function missing"):
        load_model(f"{factory}:missing")
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(TypeError, match="state_dict"):
        load_model(tmp_path / "weights.pt")
    with pytest.raises(FileNotFoundError, match="not of the form module:function"):
        load_model(tmp_path / "nothing.pt")


def test_command_line_with_data_files_gaussian_and_mixture(tmp_path, capsys):
    from symcorr.experiments.datasets import write_idx

    model = _quadratic_net()
    torch.save(model, tmp_path / "model.pt")
    X = np.random.default_rng(2).normal(size=(3000, 2))
    np.save(tmp_path / "x.npy", X)
    np.savetxt(tmp_path / "x.csv", X, delimiter=",", header="a,b", comments="")
    np.savez(tmp_path / "x.npz", labels=np.zeros(3000), X=X)
    images = np.random.default_rng(3).integers(0, 256, size=(3000, 1, 2), dtype=np.uint8)
    write_idx(tmp_path / "images-idx3-ubyte.gz", images)
    model_file = str(tmp_path / "model.pt")

    assert cli.main(["compare", model_file, "--data", str(tmp_path / "x.npy"), "--figure",
                     str(tmp_path / "f.svg"), "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "on data (3000 samples of shape 2)" in table and "CONSISTENT" in table
    assert (tmp_path / "f.svg").read_text().lstrip().startswith("<?xml")
    for data in ("x.csv", "x.npz"):
        assert cli.main(["compare", model_file, "--data", str(tmp_path / data), "--quiet"]) == 0
        assert table.split("\n\n")[1] == capsys.readouterr().out.split("\n\n")[1]  # the same rows
    assert cli.main(["compare", model_file, "--data", str(tmp_path / "images-idx3-ubyte.gz"),
                     "--shape", "2", "--quiet"]) == 0
    assert "3000 samples of shape 2" in capsys.readouterr().out

    mean, cov = random_gaussian(2, seed=4)
    np.save(tmp_path / "m.npy", mean)
    np.save(tmp_path / "c.npy", cov)
    assert cli.main(["compare", model_file, "--mean", str(tmp_path / "m.npy"), "--cov", str(tmp_path / "c.npy"),
                     "--samples", "20000", "--figure", str(tmp_path / "f.png")]) == 0
    captured = capsys.readouterr()
    assert "Gaussian (dim 2)" in captured.out and "compare: Monte Carlo done" in captured.err
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    np.savez(tmp_path / "mix.npz", weights=XOR.weights, means=XOR.means, covs=XOR.covs)
    assert cli.main(["compare", model_file, "--mixture", str(tmp_path / "mix.npz"), "-M", "3", "-K", "4",
                     "--samples", "30000", "--quiet"]) == 0
    assert "order 3, closure 4" in capsys.readouterr().out

    assert cli.main(["compare", str(tmp_path / "absent.pt"), "--data", str(tmp_path / "x.npy")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert cli.main(["compare", model_file, "--data", str(tmp_path / "x.npy"), "--figure", "f.gif", "--quiet"]) == 2
    assert "must end in one of" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["compare", model_file, "--mean", str(tmp_path / "m.npy")])
    assert "--mean needs --cov" in capsys.readouterr().err


def test_order_one_and_the_order_argument():
    with pytest.raises(ValueError, match="order must be an integer in 1..4"):
        compare(_quadratic_net(), XOR, order=5)
    # a mixture through two quadratics at closure 2: the second one's mean needs the approximate covariance
    deep = nn.Sequential(*_quadratic_net(), snn.Quadratic(0.5, learnable=False)).double()
    report = compare(deep, XOR, order=1, closure=2, n_samples=2**14)
    assert [r.order for r in report.rows] == [1, 1, 1, 1]
    assert [r.status for r in report.rows] == ["exact", "exact", "exact", "approximate"]
    assert report.passed and math.isfinite(report.bound)


def test_the_pair_mean_reaches_propagate_and_the_table(tmp_path, capsys):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 4), snn.Quadratic(0.4, learnable=False), nn.Linear(4, 3),
                          snn.Quadratic(0.4, learnable=False), nn.Linear(3, 2)).double()
    mean, cov = random_gaussian(3, seed=1)
    report = compare(model, Gaussian(mean, cov), order=2, closure=3, pair_mean=True, n_samples=2**14)
    assert "the mean of the pair entries of order 4" in report.theory[-1].status(2).reason
    assert "closure 3 with the pair mean" in report.table()
    torch.save(model, tmp_path / "model.pt")
    np.save(tmp_path / "m.npy", mean)
    np.save(tmp_path / "c.npy", cov)
    cli.main(["compare", str(tmp_path / "model.pt"), "--mean", str(tmp_path / "m.npy"), "--cov",
              str(tmp_path / "c.npy"), "-K", "3", "--pair-mean", "--samples", "16384", "--quiet"])
    assert "closure 3 with the pair mean" in capsys.readouterr().out
