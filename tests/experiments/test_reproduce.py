"""The quick versions of ``symcorr reproduce xor`` and ``symcorr reproduce mnist`` (issue 6).

Each run checks its documented relations (``check_relations`` in
symcorr/experiments/xor_relations.py and symcorr/experiments/mnist_relations.py,
bounds stated there and in the reports); these tests assert that they all hold, and that a
slightly wrong propagation (the quadratic kernel fed ``alpha`` 5% too large)
breaks them.
"""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from symcorr.cli import main as cli_main
from symcorr.experiments import mnist as mnist_experiment
from symcorr.experiments import mnist_report, xor_data, xor_report
from symcorr.experiments import xor as xor_experiment
from symcorr.experiments.class_statistics import (
    bhattacharyya_split,
    class_separation,
    correct_class_probability,
    predicted_accuracy,
)
from symcorr.experiments.datasets import write_idx


def _failed(relations):
    return [r for r in relations if r["holds"] is False]


# -- the measures ---------------------------------------------------------------------

def test_separation_of_the_xor_input_is_all_covariance():
    s2 = 0.25
    a = (np.zeros(2), s2 * np.eye(2) + np.array([[1.0, 1.0], [1.0, 1.0]]))
    b = (np.zeros(2), s2 * np.eye(2) + np.array([[1.0, -1.0], [-1.0, 1.0]]))
    sep = bhattacharyya_split(a, b)
    assert sep.mean == 0.0
    assert sep.cov == pytest.approx(0.5 * np.log((1 + s2) ** 2 / (s2 * (s2 + 2))), rel=1e-6)
    # on a singular (rank 2) embedding the value is the same
    W = np.random.default_rng(0).normal(size=(6, 2))
    embedded = bhattacharyya_split((W @ a[0], W @ a[1] @ W.T), (W @ b[0], W @ b[1] @ W.T))
    assert embedded.cov == pytest.approx(sep.cov, rel=1e-5) and embedded.mean == pytest.approx(0.0, abs=1e-9)


def test_separation_of_shifted_gaussians_is_all_mean():
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    delta = np.array([1.0, -0.5])
    sep = class_separation([(delta, cov), (np.zeros(2), cov)])
    assert sep.cov == pytest.approx(0.0, abs=1e-8)
    assert sep.mean == pytest.approx(delta @ np.linalg.solve(cov, delta) / 8, rel=1e-6)
    assert sep.mean_fraction == pytest.approx(1.0)


def test_predicted_accuracy_closed_form_and_monte_carlo():
    from scipy.stats import norm

    two = [(np.array([1.0, 0.0]), np.eye(2)), (np.array([0.0, 1.0]), np.eye(2))]
    assert predicted_accuracy(two).accuracy == pytest.approx(norm.cdf(1 / np.sqrt(2)), rel=1e-12)
    # three classes: the Monte Carlo estimate agrees with the two-class reduction when one logit is -inf-like
    outs = [(np.array([1.0, 0.0, -50.0]), np.eye(3)), (np.array([0.0, 1.0, -50.0]), np.eye(3)),
            (np.array([0.0, 0.0, 50.0]), np.eye(3))]
    p = predicted_accuracy(outs, n_samples=200_000)
    assert p.per_class[2] == 1.0
    assert p.per_class[0] == pytest.approx(norm.cdf(1 / np.sqrt(2)), abs=5 * p.stderr * np.sqrt(3) + 1e-3)
    # Edgeworth without skewness and excess kurtosis is the Gaussian value
    from symcorr.numeric.cumulants import Cumulants

    gauss = Cumulants(np.array([1.0, 0.0]), np.eye(2), np.zeros((2,) * 3), np.zeros((2,) * 4))
    assert correct_class_probability(gauss, 0, "edgeworth")[0] == pytest.approx(norm.cdf(1 / np.sqrt(2)))


def test_xor_closed_form_cumulants_match_the_mixture_formula():
    from symcorr.numeric.distributions import gaussian_mixture, xor_class_mixture

    for label in (0, 1):
        exact = gaussian_mixture(*xor_class_mixture(label, 0.3), order=4)
        for n, tensor in enumerate(xor_data.xor_cumulants(label, 0.3), start=1):
            np.testing.assert_allclose(exact.kappa(n), tensor, atol=1e-12)
    X, y = xor_data.sample_xor(20000, 0.3, np.random.default_rng(0))
    assert np.mean(np.sign(X[:, 0] * X[:, 1]) == 2 * y - 1) == pytest.approx(xor_data.bayes_accuracy(0.3), abs=0.01)


# -- XOR ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def xor_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("xor")
    return xor_experiment.run(xor_experiment.XorConfig.quick(), out), out


def test_xor_documented_relations_hold(xor_run):
    results, _ = xor_run
    assert len(results["relations"]) == 8
    assert not _failed(results["relations"]), _failed(results["relations"])
    assert all(r["holds"] for r in results["relations"])


def test_xor_class_information_moves_from_covariance_to_mean(xor_run):
    results, _ = xor_run
    mc = results["separation"]["mc"]
    names = results["layers"]
    assert names == ["input", "linear1", "quadratic1", "linear2"]
    assert mc[0]["mean_fraction"] < 0.01 and mc[1]["mean_fraction"] < 0.01
    assert mc[2]["mean_fraction"] > 0.3 and mc[3]["mean_fraction"] > 0.5
    # the network is close to the Bayes optimum
    assert results["network_accuracy"] > results["bayes_accuracy"] - 0.01


def test_xor_outputs(xor_run):
    results, out = xor_run
    assert json.loads((out / "results.json").read_text())["network_accuracy"] == results["network_accuracy"]
    report = (out / "report.md").read_text()
    assert "## Documented relations" in report and "xor_separation.png" in report
    for name in ("xor_data", "xor_separation", "xor_theory_vs_mc", "xor_output_margin", "xor_accuracy"):
        assert (out / f"{name}.png").stat().st_size > 10_000
    assert "separation_moves_to_mean" in xor_report.summary_table(results)


def _wrong_alpha(monkeypatch, factor=1.05):
    """Make every quadratic pointwise layer use alpha * factor: a subtly broken propagation."""
    import importlib

    from symcorr.derivation.activations import quadratic

    pointwise_module = importlib.import_module("symcorr.numeric.pointwise")  # the package exports a function of that name

    original = pointwise_module.pointwise

    def broken(cumulants, activation, *args, **kwargs):
        if activation.name == "quadratic":
            activation = quadratic(activation.parameter_values["alpha"] * factor)
        return original(cumulants, activation, *args, **kwargs)

    monkeypatch.setattr(pointwise_module, "pointwise", broken)


def test_xor_relations_catch_a_broken_propagation(monkeypatch):
    _wrong_alpha(monkeypatch)
    results = xor_experiment.run(xor_experiment.XorConfig.quick(epochs=5, n_test=10_000), None)
    failed = {r["name"] for r in _failed(results["relations"])}
    assert {"order4_matches_mc", "order2_means_match_mc"} <= failed


# -- MNIST-like -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mnist")
    return mnist_experiment.run(mnist_experiment.MnistConfig.quick(), out), out


def test_mnist_documented_relations_hold(mnist_run):
    results, _ = mnist_run
    assert set(results["relations"]) == {"quadratic", "erf"}
    for name, relations in results["relations"].items():
        assert len(relations) >= 6
        assert not _failed(relations), (name, _failed(relations))


def test_mnist_numbers(mnist_run):
    results, _ = mnist_run
    for name, net in results["networks"].items():
        assert net["layers"] == ["input", "linear1", name + "1", "linear2", name + "2", "linear3"]
        assert net["accuracy_real_test"] > 0.9
        errors = net["errors"]
        assert errors["from_input"][0] is None and errors["from_layer1"][2] is None
        # the Gaussian input reaches the first activation exactly: only sampling noise remains
        first = errors["surrogate"][2]
        assert first["cov"] < 3 * first["noise_cov"]


def test_mnist_outputs(mnist_run):
    results, out = mnist_run
    saved = json.loads((out / "results.json").read_text())
    assert saved["networks"]["quadratic"]["accuracy_real_test"] == results["networks"]["quadratic"]["accuracy_real_test"]
    report = (out / "report.md").read_text()
    assert "Gaussian surrogate data" in report and "Documented relations (erf" in report
    for name in ("mnist_accuracy", "mnist_layer_errors", "mnist_covariance_scatter", "mnist_surrogate_samples"):
        assert (out / f"{name}.png").stat().st_size > 10_000
    assert "first_layer_uses_higher_order_statistics" in mnist_report.summary_table(results)


def test_mnist_relations_catch_a_broken_propagation(monkeypatch):
    _wrong_alpha(monkeypatch)
    config = mnist_experiment.MnistConfig.quick(activations=("quadratic",))
    results = mnist_experiment.run(config, None)
    failed = {r["name"] for r in _failed(results["relations"]["quadratic"])}
    assert {"first_activation_exact_for_gaussian_input", "quadratic_means_exact_from_layer1"} <= failed


# -- command line --------------------------------------------------------------------------

def test_cli_usage_and_errors(capsys, tmp_path):
    assert cli_main(["reproduce"]) == 2
    assert "usage: symcorr reproduce" in capsys.readouterr().out
    assert cli_main(["reproduce", "nonsense"]) == 2
    assert "unknown analysis 'nonsense'" in capsys.readouterr().err
    assert cli_main(["reproduce", "mnist", "--data", str(tmp_path / "absent")]) == 2
    assert "does not exist; pass --data" in capsys.readouterr().err


def test_cli_runs_on_a_small_idx_directory(tmp_path, capsys):
    """The IDX path end to end: three classes of 6x6 images with class-dependent structure."""
    rng = np.random.default_rng(0)

    def images(n_per_class):
        X, y = [], []
        for c in range(3):
            base = np.zeros((6, 6))
            base[c * 2:(c + 1) * 2, :] = 200
            X.append(np.clip(base + rng.normal(0, 40, size=(n_per_class, 6, 6)), 0, 255).astype(np.uint8))
            y.append(np.full(n_per_class, c, dtype=np.uint8))
        return np.concatenate(X), np.concatenate(y)

    data = tmp_path / "tiny-mnist"
    data.mkdir()
    for part, n in (("train", 120), ("t10k", 40)):
        X, y = images(n)
        write_idx(data / f"{part}-images-idx3-ubyte.gz", X)
        write_idx(data / f"{part}-labels-idx1-ubyte.gz", y)
    out = tmp_path / "out"
    status = cli_main(["reproduce", "mnist", "--data", str(data), "--hidden", "6,5", "--epochs", "3",
                       "--activations", "quadratic", "--out", str(out), "--no-figures"])
    assert status == 0
    printed = capsys.readouterr()
    assert "tiny-mnist: 360 train / 120 test, 36 inputs, 3 classes" in printed.out
    assert "[mnist/quadratic] epoch 3/3" in printed.err
    results = json.loads((out / "results.json").read_text())
    assert results["networks"]["quadratic"]["layers"][1] == "linear1"
    assert (out / "report.md").is_file()


def test_mnist_report_gets_the_relu_section(tmp_path, capsys):
    """``reproduce mnist --relu``: the ReLU MLP trained the usual way is a section of the same report, its
    layers exact for the Gaussian surrogate (up to the first ReLU and the linear layer behind it) within
    the Bonferroni bound."""
    assert mnist_experiment.main(["--quick", "--relu", "--no-figures", "--out", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "## ReLU network trained the usual way (digits)" in report
    relu = json.loads((tmp_path / "relu.json").read_text())
    assert relu["widths"] == [64, 128, 64, 10]
    exact = [layer for layer in relu["errors"]["layers"] if layer["exact_for_gaussian"] == [1, 2]]
    assert [layer["layer"] for layer in exact] == ["0:Linear(64->128)", "1:ReLU", "2:Linear(128->64)"]
    assert max(max(layer["surrogate_mean_max_z"], layer["surrogate_cov_max_z"]) for layer in exact) < relu["bound"]
    assert "Linear(64->10)" in capsys.readouterr().out
