"""Slices of data cumulants (symcorr.numeric.data_cumulants): equal to the dense k-statistics to rounding,
unbiased against the exact cumulants of a mixture (z-scores with their own standard errors)."""
import numpy as np
import pytest

from symcorr.numeric.cumulant_tensors import dense_slice
from symcorr.numeric.data_cumulants import DataCumulants, SampleSlices, kstatistic_slice
from symcorr.numeric.distributions import GaussianMixture
from symcorr.numeric.kstatistics import from_samples

PATTERNS = {3: ("iii", "iij", "ijj", "ijk", "kji"), 4: ("iiii", "iiij", "ijjj", "iijj", "ijij", "iijk", "ijkk", "ijkl")}


def test_slices_equal_the_dense_k_statistics():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(640, 4)) ** 2 @ rng.normal(size=(4, 4)) + 3.0     # 8 groups of 80 rows
    dense = from_samples(X, 4, groups=8)
    data = DataCumulants(X, 4, groups=8)
    assert np.allclose(data.mean, dense.mean, rtol=1e-13) and np.allclose(data.cov, dense.cov, rtol=1e-12)
    for n, patterns in PATTERNS.items():
        reference = dense.kappa(n)
        scale = np.max(np.abs(reference))
        for labels in patterns:
            assert np.max(np.abs(data.tensor(n).slice(labels) - dense_slice(reference, labels))) < 1e-12 * scale
    # same groups as from_samples (seeded permutation): the same standard errors
    assert np.allclose(data.standard_error(2), dense.stderr[1], rtol=1e-10)
    assert np.allclose(data.standard_error(4, "iijj"), dense_slice(dense.stderr[3], "iijj"), rtol=1e-10)
    assert [data.status(n).kind for n in (1, 2, 3, 4)] == ["estimated"] * 4
    assert data.status(5).kind == "approximate"


def test_chunked_power_sums_do_not_depend_on_the_chunk(monkeypatch):
    import symcorr.numeric.data_cumulants as module

    rng = np.random.default_rng(1)
    C = rng.normal(size=(301, 5))
    C -= C.mean(axis=0)
    whole = kstatistic_slice(C, "iijk")
    monkeypatch.setattr(module, "CHUNK_FLOATS", 7)      # chunks of a single row
    assert np.allclose(kstatistic_slice(C, "iijk"), whole, rtol=1e-12)


def test_slices_are_unbiased_for_a_mixture():
    """k-statistics of 2^17 mixture samples against the mixture's exact cumulants: every z-score of the
    tested slices below 5 (a wrong formula, e.g. a missing pairing term, gives z in the hundreds)."""
    weights, means = [0.3, 0.7], [[1.0, -0.5, 0.2], [-0.4, 0.3, -0.1]]
    covs = [np.diag([0.3, 0.5, 0.2]), np.array([[0.4, 0.1, 0.0], [0.1, 0.3, 0.05], [0.0, 0.05, 0.2]])]
    mixture = GaussianMixture(weights, means, covs)
    exact = mixture.cumulants(4)
    X = mixture.sample(1 << 17, np.random.default_rng(7))
    data = DataCumulants(X, 4, groups=32)
    worst = 0.0
    for n, patterns in PATTERNS.items():
        for labels in patterns:
            estimate = data.tensor(n).slice(labels)
            z = (estimate - dense_slice(exact.kappa(n), labels)) / data.tensor(n).standard_error(labels)
            worst = max(worst, float(np.max(np.abs(z))))
    assert worst < 5.0
    assert np.max(np.abs(exact.kappa(4))) > 0.05          # a non-Gaussian test case


def test_linear_maps_the_samples_and_to_dense_estimates_memory_first():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 3)) ** 2
    W = rng.normal(size=(2, 3))
    mapped = SampleSlices(X, 4).linear(W)
    direct = SampleSlices(X @ W.T, 4)
    assert np.allclose(mapped.slice("iijj"), direct.slice("iijj"), rtol=1e-12)
    from symcorr.numeric.budget import MemoryBudgetError

    with pytest.raises(MemoryBudgetError, match="use its slices"):
        mapped.to_dense(budget=10)
    assert mapped.to_dense().shape == (2, 2, 2, 2)
