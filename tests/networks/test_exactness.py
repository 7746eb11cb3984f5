"""Exactness per order on every result (symcorr.numeric.exactness, symcorr.networks.exactness):
flags checked against quadrature, so an 'exact' that is wrong or an 'approximate' that is not both fail."""
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import symcorr
from symcorr.networks import modules as snn
from symcorr.networks.exactness import exact_orders, gaussian_profile, status_walk
from symcorr.networks.propagation import InvalidStatisticsError, propagate
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.distributions import gaussian_mixture
from symcorr.numeric.exactness import ApproximationWarning
from symcorr.numeric.quadrature import quadrature_cumulants
from symcorr.numeric.validity import InvalidStatisticsWarning


def _function(model):
    def function(points):
        with torch.no_grad():
            return model(torch.from_numpy(points)).numpy()
    return function


def _readme_model():
    """The README's "Whole networks" example (float64, seeded)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 8), snn.Quadratic(0.5), nn.Linear(8, 2)).double()


README_MIXTURE = ([0.5, 0.5], [[1.0, 1.0], [-1.0, -1.0]], 0.25 * np.eye(2))


def _relative(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_gaussian_through_one_quadratic_layer_is_exact_at_orders_1_to_4():
    """Exact flags, no warning, and the numbers equal Gauss-Hermite quadrature (orders 1..4)."""
    model = nn.Sequential(nn.Linear(2, 3), snn.Quadratic(0.7)).double()
    mean, cov = np.array([0.2, -0.4]), np.array([[1.0, 0.3], [0.3, 0.6]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = propagate(model, Cumulants(mean, cov), order=4)
    assert [result.status(n).kind for n in range(1, 5)] == ["exact"] * 4
    assert "approximate" not in repr(result)
    reference = quadrature_cumulants(_function(model), [1.0], [mean], [cov], order=4, n_nodes=14)
    for n in range(1, 5):
        assert np.max(np.abs(result.kappa(n) - reference.kappa(n))) < 1e-9 * max(1.0, np.max(np.abs(reference.kappa(n))))


def test_readme_mixture_example_flags_orders_3_and_4_naming_the_layer_and_dropped_orders():
    model = _readme_model()
    x = gaussian_mixture(*README_MIXTURE, order=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = symcorr.propagate(model, x, order=4)
    approximations = [w for w in caught if issubclass(w.category, ApproximationWarning)]
    assert len(approximations) == 1                     # one warning per call, not one per layer
    message = str(approximations[0].message)
    assert "1:Quadratic(alpha=0.5)" in message and "5..6" in message and "closure 6" in message
    assert [y.status(n).kind for n in (1, 2)] == ["exact", "exact"]
    for n, dropped in ((3, (5, 6)), (4, (5, 6, 7, 8))):
        status = y.status(n)
        assert status.kind == "approximate"
        (cause,) = status.causes
        assert cause.layer == "1:Quadratic(alpha=0.5)" and cause.dropped == dropped
    # the flags are right: orders 1..2 equal quadrature of the mixture, order 3 does not
    reference = quadrature_cumulants(_function(model), *README_MIXTURE[:2], [README_MIXTURE[2]] * 2, order=4,
                                     n_nodes=16)
    assert _relative(y.mean, reference.mean) < 1e-10 and _relative(y.cov, reference.cov) < 1e-10
    assert _relative(y.kappa(3), reference.kappa(3)) > 0.05
    assert _relative(y.kappa(4), reference.kappa(4)) > 0.05


def test_trace_entries_are_named_and_carry_the_statuses():
    model = _readme_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace = propagate(model, gaussian_mixture(*README_MIXTURE, order=4), order=4, trace=True)
    assert trace.names == ["0", "1", "2"]
    assert trace.labels[1] == "1:Quadratic(alpha=0.5)"
    assert trace["0"].exactness.summary() == "exact 1..4"
    assert trace["1"].status(3).kind == "approximate"
    assert "1:Quadratic(alpha=0.5)" in trace.table().splitlines()[1]
    with pytest.raises(KeyError, match="no layer named"):
        trace["9"]


def test_status_walk_agrees_with_the_statuses_propagate_attaches():
    """The walk on statuses alone (validate's source) and the numeric propagation agree, layer by layer."""
    model = nn.Sequential(nn.Linear(2, 4), snn.Quadratic(0.5), nn.Linear(4, 4), snn.Quadratic(0.5),
                          nn.Linear(4, 2)).double()
    for cumulants, order, closure in ((Cumulants(np.zeros(2), np.eye(2)), 4, 4),
                                      (Cumulants(np.zeros(2), np.eye(2)), 2, 4),
                                      (gaussian_mixture(*README_MIXTURE, order=4), 4, 4)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trace = propagate(model, cumulants, order=order, closure=closure, trace=True)
        walk = status_walk(model, cumulants.exactness, order, closure)
        for entry, profile in zip(trace, walk):
            assert [entry.status(n) for n in range(1, order + 1)] == [profile.status(n) for n in range(1, order + 1)]
    # depth-2 quadratic, Gaussian input, order=2 closure=4: mean and covariance exact everywhere
    assert exact_orders(model, 4, 2)[-1] == {1, 2}
    assert [p.status(2).kind for p in status_walk(model, gaussian_profile(2), 2, 4)] == ["exact"] * 5


@pytest.mark.parametrize("affine", [lambda: nn.BatchNorm1d(3).eval(), lambda: nn.Dropout(0.3).eval(),
                                    lambda: nn.Linear(3, 3)], ids=["batchnorm", "dropout", "linear"])
def test_affine_layers_carry_the_input_status_into_the_next_nonlinearity(affine):
    """A mixture's unknown higher orders stay unknown through every affine layer, so the ReLU after it is an
    approximation at closure 2 (a batch norm once reset the status to 'exact (zero)': validate then tested
    a mixture network's approximate ReLU rows as exact and failed)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), affine(), nn.ReLU(), nn.Linear(3, 2)).double()
    mixture = gaussian_mixture(*README_MIXTURE, order=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace = propagate(model, mixture, order=2, trace=True)
    assert [entry.status(3).kind for entry in trace[:2]] == ["approximate"] * 2
    assert trace[2].status(1).kind == trace[2].status(2).kind == "approximate"
    walk = status_walk(model, mixture.exactness, 2, 2)
    assert [entry.status(2) for entry in trace] == [profile.status(2) for profile in walk]


def test_erf_of_a_gaussian_is_exact_and_of_a_mixture_approximate():
    model = nn.Sequential(nn.Linear(2, 3), snn.Erf()).double()
    gaussian = status_walk(model, gaussian_profile(2), 2, 2)[-1]
    assert gaussian.status(2).kind in ("exact", "numerical")
    mixture = gaussian_mixture(*README_MIXTURE, order=4)
    walk = status_walk(model, mixture.exactness, 2, 4)[-1]
    assert walk.status(1).kind == "approximate" and "Gaussian input only" in walk.status(1).reason


@pytest.mark.parametrize("activation", [nn.Tanh, nn.GELU])
def test_orders_from_the_truncated_price_series_are_approximate_even_for_a_gaussian(activation):
    """tanh's and GELU's order 3 of a Gaussian is the Price series truncated at order S = 6 (docs/theory.md
    section 6.8): approximate, its size estimated as r^(S+1) with r the largest correlation entering the
    layer, while erf's joint moments are exact there. Both flags checked against quadrature (they were reported
    exact, or numerical, before: tanh's order 3 then disagreed with torch sampling at |z| = 10)."""
    mean, cov = np.array([0.2, -0.4]), np.array([[1.0, 0.3], [0.3, 0.6]])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), activation()).double()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = propagate(model, Cumulants(mean, cov), order=3)
    status = result.status(3)
    assert status.kind == "approximate" and "Price series truncated at order 6" in status.reason
    assert result.status(2).kind != "approximate"
    weight = model[0].weight.detach().numpy()
    entering = weight @ cov @ weight.T
    scale = np.sqrt(np.diag(entering))
    correlation = np.abs(entering) / np.outer(scale, scale) - np.eye(3)
    assert [c.size for c in status.causes if c.size is not None] == [pytest.approx(correlation.max() ** 7, rel=1e-12)]
    assert any(issubclass(w.category, ApproximationWarning) and "order 3" in str(w.message) for w in caught)
    assert [p.status(3) for p in status_walk(model, gaussian_profile(3), 3, 3)][-1].kind == "approximate"
    reference = quadrature_cumulants(_function(model), [1.0], [mean], [cov], order=3, n_nodes=60)
    assert _relative(result.cov, reference.cov) < 1e-10
    assert _relative(result.kappa(3), reference.kappa(3)) > 1e-8      # measured 1e-5 (tanh), 1.5e-7 (GELU)


def test_erf_order_3_of_a_gaussian_stays_exact():
    """erf's orders 3..4 of a Gaussian are joint moments, not a series: exact (against quadrature)."""
    mean, cov = np.array([0.2, -0.4]), np.array([[1.0, 0.3], [0.3, 0.6]])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), snn.Erf()).double()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = propagate(model, Cumulants(mean, cov), order=3, closure=2)
    assert result.status(3).kind in ("exact", "numerical")
    assert status_walk(model, gaussian_profile(3), 3, 2)[-1].status(3).kind in ("exact", "numerical")
    reference = quadrature_cumulants(_function(model), [1.0], [mean], [cov], order=3, n_nodes=60)
    assert _relative(result.kappa(3), reference.kappa(3)) < 1e-10


def test_pointwise_warns_once_and_names_the_remedy():
    x = gaussian_mixture(*README_MIXTURE, order=2)
    with pytest.warns(ApproximationWarning, match=r"closure 2 drops input orders 3..4.*closure >= 4"):
        symcorr.pointwise(x, symcorr.activations.quadratic(0.5), order=2)


def test_sample_cumulants_are_estimated_with_an_unknown_tail():
    X = np.random.default_rng(0).normal(size=(400, 2))
    estimate = symcorr.from_samples(X, order=2, groups=8)
    assert estimate.status(2).kind == "estimated" and "400" in estimate.status(2).reason
    assert estimate.status(3).kind == "approximate"


def test_invalid_statistics_are_flagged_and_never_returned_unflagged():
    """The README mixture at closure 4 gives kappa_iiii below Pearson's bound: flagged, warned once,
    refused with invalid='raise', projected (and marked approximate) with invalid='project'."""
    model = _readme_model()
    x = gaussian_mixture(*README_MIXTURE, order=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = propagate(model, x, order=4)
    assert not y.valid and "Pearson" in y.problems[0].text and y.problems[0].layer == "1:Quadratic(alpha=0.5)"
    assert sum(issubclass(w.category, InvalidStatisticsWarning) for w in caught) == 1
    with pytest.raises(InvalidStatisticsError, match="layer 1:Quadratic"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            propagate(model, x, order=4, invalid="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        projected = propagate(model, x, order=4, invalid="project", trace=True)
    hidden = projected[1]
    assert hidden.valid
    assert "Pearson's bound" in hidden.status(4).reason
    assert hidden.status(2).kind == "exact"            # the covariance needed no projection


def test_validity_checks_and_nearest_valid():
    from symcorr.numeric.validity import covariance_problem, nearest_valid, problems_of

    cov = np.array([[1.0, 2.0], [2.0, 1.0]])             # eigenvalues 3 and -1
    assert "negative eigenvalue" in covariance_problem(cov)
    assert covariance_problem(np.diag([1.0, 0.0])) is None      # singular but PSD
    assert "negative variance" in covariance_problem(np.diag([1.0, -1e-3]))
    bad = Cumulants(np.zeros(2), cov, check=False)
    (problem,) = problems_of(bad)
    fixed = nearest_valid(bad.with_status(problems=(problem,)))
    assert fixed.valid and np.min(np.linalg.eigvalsh(fixed.cov)) > -1e-12
    assert np.allclose(fixed.cov, [[1.5, 1.5], [1.5, 1.5]])     # eigenvalue -1 removed: Frobenius-nearest
    assert fixed.status(2).kind == "approximate" and fixed.status(2).causes[0].size == pytest.approx(
        1 / math.sqrt(10))                                      # ||v v^T||_F / ||cov||_F
