"""propagate(..., representation='factored'): torch networks, factored against dense and Monte Carlo.

The dense representation is the deterministic reference (every returned entry of every order to
1e-10 relative to the order's largest entry); the factored output of a quadratic network of a
Gaussian is also checked, entry by entry, against torch Monte Carlo k-statistics with their
standard errors (fixed seed; |z| < 6 over all entries).
"""
import warnings

import numpy as np
import pytest
import torch

from symcorr.networks import modules as snn
from symcorr.networks.modules import mlp
from symcorr.networks.montecarlo import monte_carlo
from symcorr.networks.propagation import propagate
from symcorr.numeric.cumulant_tensors import is_cumulant_tensor
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.factored import FactoredTensor

from builders import random_gaussian


def dense_of(cumulants: Cumulants) -> Cumulants:
    return Cumulants(*[t.to_dense() if is_cumulant_tensor(t) else t for t in cumulants.held], check=False)


def max_relative(a: Cumulants, b: Cumulants) -> list[float]:
    return [float(np.max(np.abs(x - y)) / np.max(np.abs(y))) for x, y in zip(dense_of(a).held, dense_of(b).held)]


@pytest.mark.parametrize("widths,order,closure", [([12, 12, 12, 12], 3, 3), ([10, 10, 10, 6], 2, 4),
                                                   ([8, 8, 8, 8, 8], 4, 4)])
def test_factored_propagation_equals_dense(widths, order, closure):
    model = mlp(widths, lambda: snn.Quadratic(0.5), seed=3, bias_std=0.3)
    inputs = Cumulants(*random_gaussian(widths[0], 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = propagate(model, inputs, order=order, closure=closure, representation="dense", trace=True)
        factored = propagate(model, inputs, order=order, closure=closure, representation="factored", trace=True)
    if order >= 3:
        assert any(isinstance(t, FactoredTensor) for layer in factored for t in layer.held)
    for ours, reference in zip(factored, dense):
        assert max(max_relative(ours, reference)) < 1e-10
        assert ours.exactness == reference.exactness


def test_factored_propagation_agrees_with_monte_carlo():
    torch.manual_seed(0)
    model = mlp([5, 5, 4], lambda: snn.Quadratic(0.7), seed=1, bias_std=0.3)
    inputs = Cumulants(*random_gaussian(5, 2, scale=0.4))
    theory = propagate(model, inputs, order=3, representation="factored")
    assert isinstance(theory.tensor(3), FactoredTensor) and theory.status(3).kind == "exact"
    sampled = monte_carlo(model, inputs, 200_000, order=3, seed=4)[-1]
    for n in (1, 2, 3):
        assert np.max(np.abs(sampled.z_scores(dense_of(theory), n))) < 6.0, n


def test_a_factored_gelu_network_agrees_with_monte_carlo():
    """GELU's factored terms are in its vertex functions, with corrections on the diagonals (docs/theory.md section
    12.2): its order 3 from a Gaussian against torch sampling (measured max |z| 0.6, 1.8, 2.7 for orders 1..3)."""
    model = mlp([5, 5, 4], torch.nn.GELU, seed=1, bias_std=0.3)
    inputs = Cumulants(*random_gaussian(5, 2, scale=0.4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # the Price series' truncation warning (r^7 here)
        theory = propagate(model, inputs, order=3, representation="factored")
    assert isinstance(theory.tensor(3), FactoredTensor)
    sampled = monte_carlo(model, inputs, 200_000, order=3, seed=4)[-1]
    for n in (1, 2, 3):
        assert np.max(np.abs(sampled.z_scores(dense_of(theory), n))) < 6.0, n


def test_a_factored_erf_network_of_a_gaussian_above_the_budget_names_the_dense_form_as_the_remedy():
    """Where the dense erf layer of a Gaussian does not fit the budget, the factored one takes the Price series
    (numeric test: tests/numeric/test_factored_pointwise.py): order 3 is approximate where the status walk (the
    dense form's rule) says exact, and the warning names the dense form, with a budget that holds it, as the
    remedy."""
    from symcorr.codegen.loader import load_kernel
    from symcorr.derivation import activations
    from symcorr.networks.exactness import gaussian_profile, status_walk
    from symcorr.numeric.budget import kernel_peak_bytes
    from symcorr.numeric.exactness import ApproximationWarning

    model = mlp([5, 5, 4], snn.Erf, seed=1, bias_std=0.3)
    inputs = Cumulants(*random_gaussian(5, 2, scale=0.4))
    below_dense = kernel_peak_bytes(load_kernel(activations.erf(), 3, 2, 3), 5, 3, False) - 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = propagate(model, inputs, order=3, closure=3, keep_next_diagonal=False, series_order=3,
                           representation="factored", memory_budget=below_dense)
    assert isinstance(result.tensor(3), FactoredTensor) and result.status(3).kind == "approximate"
    assert "Price series truncated at order 3" in result.status(3).reason
    assert status_walk(model, gaussian_profile(3), 3, 3, 3, False)[-1].status(3).kind != "approximate"
    (message,) = [str(w.message) for w in caught if issubclass(w.category, ApproximationWarning)]
    assert "representation='dense' with a memory_budget that holds it" in message


def test_a_factored_erf_network_of_a_gaussian_above_the_budget_against_monte_carlo():
    """The Price series a factored erf layer of a Gaussian takes above the budget, against torch sampling (200,000
    samples): at the default series order (6) every entry of order 3 is within the stated size r^7 of the largest
    entry plus 6 standard errors (measured: 0.47% of the largest entry against the stated 0.59%; the dense layer's
    exact joint moments agree at max |z| 1.4). r^(S+1) is an estimate, not a bound: at series order 3 the same
    network errs by 8.4% against the stated 5.3%."""
    from symcorr.codegen.loader import load_kernel
    from symcorr.derivation import activations
    from symcorr.numeric.budget import kernel_peak_bytes

    model = mlp([5, 5, 4], snn.Erf, seed=1, bias_std=0.3)
    inputs = Cumulants(*random_gaussian(5, 2, scale=0.4))
    below_dense = kernel_peak_bytes(load_kernel(activations.erf(), 3, 2, 6), 5, 3, False) - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theory = propagate(model, inputs, order=3, closure=3, keep_next_diagonal=False, representation="factored",
                           memory_budget=below_dense)
    assert isinstance(theory.tensor(3), FactoredTensor)
    (size,) = [c.size for c in theory.status(3).causes if c.size is not None]
    sampled = monte_carlo(model, inputs, 200_000, order=3, seed=4)[-1]
    for n in (1, 2):
        assert np.max(np.abs(sampled.z_scores(dense_of(theory), n))) < 6.0, n
    reference, se = sampled.kappa(3), sampled.stderr[2]
    assert np.all(np.abs(theory.tensor(3).to_dense() - reference) <= size * np.max(np.abs(reference)) + 6 * se)


def test_a_factored_relu_network_against_monte_carlo_and_the_dense_form():
    """A ReLU network (two ReLU layers, widths 5-6-6-4) of a Gaussian, factored: its patterns on two neurons are joint
    vertex functions (exact), those on three the Price series (approximate, the size stated), docs/theory.md section
    12.2. Against the dense form, every entry of every order to 1e-10; against torch sampling (200,000 samples), one
    ReLU layer's mean, covariance and the entries of order 3 on one or two neurons (exact: the pair's joint
    vertex functions, and the corrections that carry them) within 6 standard errors, and the entries on three
    neurons within the stated size r^7 of the largest entry plus 6 standard errors (measured: max |z| 1.8, 1.7 and
    1.1 over all entries of orders 1, 2, 3; the stated size, 0.39, is loose here)."""
    model = mlp([5, 6, 4], torch.nn.ReLU, seed=1, bias_std=0.3)
    inputs = Cumulants(*random_gaussian(5, 2, scale=0.4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theory = propagate(model, inputs, order=3, closure=3, keep_next_diagonal=False, representation="factored")
        dense = propagate(model, inputs, order=3, closure=3, keep_next_diagonal=False, representation="dense")
        deep = mlp([5, 6, 6, 4], torch.nn.ReLU, seed=1, bias_std=0.3)
        deep_factored = propagate(deep, inputs, order=3, closure=3, keep_next_diagonal=False,
                                  representation="factored", series_order=2)
        deep_dense = propagate(deep, inputs, order=3, closure=3, keep_next_diagonal=False, representation="dense",
                               series_order=2)
    assert isinstance(theory.tensor(3), FactoredTensor) and isinstance(deep_factored.tensor(3), FactoredTensor)
    assert max(max_relative(theory, dense)) < 1e-10 and max(max_relative(deep_factored, deep_dense)) < 1e-10
    assert theory.exactness == dense.exactness and deep_factored.exactness == deep_dense.exactness
    (size,) = [c.size for c in theory.status(3).causes if c.size is not None]
    sampled = monte_carlo(model, inputs, 200_000, order=3, seed=4)[-1]
    for n in (1, 2):
        assert np.max(np.abs(sampled.z_scores(dense_of(theory), n))) < 6.0, n
    reference, se = sampled.kappa(3), sampled.stderr[2]
    z = sampled.z_scores(dense_of(theory), 3)
    coincident = np.array([[[len({i, j, k}) < 3 for k in range(4)] for j in range(4)] for i in range(4)])
    assert np.max(np.abs(z[coincident])) < 6.0
    error = np.abs(theory.tensor(3).to_dense() - reference)
    assert np.all(error <= size * np.max(np.abs(reference)) + 6 * se)


def test_propagate_rejects_bad_representation_and_tolerance():
    model = mlp([4, 4, 4], lambda: snn.Quadratic(), seed=0)
    inputs = Cumulants(*random_gaussian(4, 0))
    with pytest.raises(ValueError, match="representation must be one of"):
        propagate(model, inputs, order=3, representation="low-rank")
    with pytest.raises(ValueError, match="tolerance"):
        propagate(model, inputs, order=3, tolerance=-0.1)


def test_a_factored_layer_above_the_budget_is_refused_by_name():
    """The memory of a factored layer is estimated as the layer runs (its terms are known then): the refusal names
    the layer, like the plan's refusals before the propagation starts."""
    from symcorr.numeric.budget import MemoryBudgetError

    n = 64
    model = mlp([n] * 4, lambda: snn.Quadratic(1.0), seed=0)
    with pytest.raises(MemoryBudgetError, match=r"^layer 1 \(Quadratic\): the factored pointwise layer of 64 neurons"):
        propagate(model, Cumulants(np.zeros(n), np.eye(n)), order=2, closure=3, representation="factored",
                  memory_budget="40M", progress=False)


def test_a_factored_layer_tells_the_bar_what_it_is_doing(monkeypatch):
    """A factored pointwise layer can take minutes (erf's third layer at closure 4); inside it the bar of ``propagate``
    says which order it is at and how many networks it has made, after the layer's name, and the name alone
    after the layer."""
    import symcorr.networks.propagation as propagation
    import symcorr.numeric.progress as progress

    texts = []

    class Recorder:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def set_postfix_str(self, text):
            texts.append(text)

        def update(self, n=1):
            pass

    monkeypatch.setattr(propagation, "progress_bar", Recorder)
    monkeypatch.setattr(progress, "REPORT_INTERVAL", 0.0)
    n = 6
    model = mlp([n] * 4, lambda: snn.Quadratic(1.0), seed=0)
    propagate(model, Cumulants(np.zeros(n), np.eye(n)), order=3, representation="factored")
    layer = "3:Quadratic(alpha=1)"
    inside = [t for t in texts if t.startswith(layer + ": ")]
    made = [int(t.rsplit(" ", 1)[1]) for t in inside if t.startswith(layer + ": order 3, networks made: ")]
    assert len(made) > 1 and made == list(range(1, len(made) + 1))     # each network told as it is made
    assert texts[texts.index(inside[-1]) + 1] == layer
    assert not any(t.startswith("0:Linear") and ": " in t for t in texts)
    assert progress._REPORTER.get() is None         # nothing reported to outside the propagation
