"""A network trained the usual way, propagated from its data's statistics (symcorr.experiments.mnist_relu)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from symcorr.derivation import activations
from symcorr.experiments.mnist_relu import (
    ReluMnistConfig,
    bonferroni_bound,
    layer_errors,
    markdown_section,
    run,
    summary,
)
from symcorr.networks import modules as snn


def _non_gaussian_classes(n_per_class=4000, dim=5, n_classes=3, seed=0):
    """Classes of skewed, heavy-tailed data (exponential and Student-t mixed linearly)."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for c in range(n_classes):
        raw = np.concatenate([rng.exponential(size=(n_per_class, 2)), rng.standard_t(5, size=(n_per_class, dim - 2))], 1)
        X.append(raw @ rng.normal(size=(dim, dim)) / np.sqrt(dim) + rng.normal(size=dim))
        y.append(np.full(n_per_class, c))
    return np.concatenate(X), np.concatenate(y)


def test_layer_errors_separate_the_exact_gaussian_part_from_the_data_non_gaussianity():
    X, y = _non_gaussian_classes()
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(5, 6), snn.Quadratic(0.4, learnable=False), torch.nn.Linear(6, 3))
    model = model.double()
    errors = layer_errors(model, X, y, 3, n_surrogate=2**15, groups=64)
    first, activation, _ = errors["layers"]
    # the data's own statistics through a linear layer: exact up to rounding
    assert first["data_mean"] < 1e-12 and first["data_cov"] < 1e-12
    # behind the quadratic layer the data's higher cumulants matter (the Gaussian picture misses them) ...
    assert activation["data_cov"] > 10 * activation["surrogate_cov_noise"]
    # ... while for the Gaussian surrogate the propagation is exact: z-scores under the Bonferroni bound
    results = {"errors": errors, "n_classes": 3, "config": {"groups": 64}}
    bound = bonferroni_bound(results)
    assert 4.0 < bound < 7.0
    for row in errors["layers"]:
        assert row["exact_for_gaussian"] == [1, 2]
        assert row["surrogate_mean_max_z"] < bound and row["surrogate_cov_max_z"] < bound


@pytest.mark.skipif("relu" not in activations.ACTIVATIONS, reason="needs the activation families")
def test_a_relu_network_trained_on_digits_propagated_per_class():
    pytest.importorskip("sklearn")
    results = run(ReluMnistConfig.quick())
    assert results["widths"] == [64, 128, 64, 10] and results["test_accuracy"] > 0.9
    rows = results["errors"]["layers"]
    assert [row["layer"].split(":")[1][:4] for row in rows] == ["Line", "ReLU", "Line", "ReLU", "Line"]
    assert rows[0]["data_cov"] < 1e-12
    # the first ReLU of a Gaussian is exact: the surrogate agrees within its noise
    for row in rows[:3]:
        assert row["surrogate_mean_max_z"] < results["bound"] and row["surrogate_cov_max_z"] < results["bound"]
    assert "surrogate max|z|" in summary(results) and markdown_section(results).startswith("## ReLU network")
