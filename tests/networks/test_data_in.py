"""propagate(model, data=X): samples pushed through the leading affine layers, the first pre-activation's
cumulants as slices; against dense k-statistics of the same samples (equal to rounding)."""
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from symcorr.networks import modules as snn
from symcorr.networks.propagation import propagate
from symcorr.numeric.budget import MemoryBudgetError
from symcorr.numeric.kstatistics import from_samples


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 6), snn.Quadratic(0.5, learnable=False), nn.Linear(6, 5),
                         snn.Quadratic(0.3, learnable=False), nn.Linear(5, 3)).double()


def _images(n=4000, seed=1):
    return np.random.default_rng(seed).normal(size=(n, 3, 4)) ** 2          # skewed, non-Gaussian "images"


def _quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return propagate(*args, **kwargs)


@pytest.mark.parametrize("closure", [2, 3, 4])
def test_data_in_equals_dense_k_statistics_of_the_pushed_samples(closure):
    model, X = _model(), _images()
    with torch.no_grad():
        Z = model[:2](torch.from_numpy(X)).numpy()
    dense = from_samples(Z, 4, groups=8)
    # odd closures read the data's own order closure + 1 (cheap slices): compare with the dense k-statistics
    # carried to closure + 1 and used in full (keep_next_diagonal=False at closure + 1 for the reference)
    reference_closure = 4 if closure == 3 else closure
    reference = _quiet(model[2:], dense, order=2, closure=reference_closure)
    out = _quiet(model, data=X, order=2, closure=closure)
    assert np.max(np.abs(out.mean - reference.mean)) < 1e-12 * np.max(np.abs(reference.mean))
    if closure == 3:       # the first layer sees kappa4 in full, later layers only its diagonal: differs
        first = _quiet(model[:3], data=X, order=2, closure=3)
        assert np.allclose(first.cov, _quiet(model[2:3], dense, order=2, closure=4).cov, rtol=1e-11)
    else:
        assert np.max(np.abs(out.cov - reference.cov)) < 1e-11 * np.max(np.abs(reference.cov))


def test_statuses_say_estimated_or_name_the_dropped_data_orders():
    model, X = _model()[:3], _images()
    out = _quiet(model, data=X, order=2, closure=4)
    assert [out.status(n).kind for n in (1, 2)] == ["estimated", "estimated"]
    assert "4000 samples" in out.status(2).reason
    with pytest.warns(UserWarning, match=r"closure 2 drops input orders 3..4"):
        gaussian = propagate(model, data=X, order=2, closure=2)
    assert gaussian.status(2).kind == "approximate"


def test_dataloader_and_tensor_give_the_array_result():
    model, X = _model(), _images(2000)
    expected = _quiet(model, data=X, order=2, closure=4)
    loader = DataLoader(TensorDataset(torch.from_numpy(X), torch.zeros(len(X))), batch_size=300)
    for data in (torch.from_numpy(X).float().double(), loader):
        got = _quiet(model, data=data, order=2, closure=4, batch_size=512)
        assert np.allclose(got.mean, expected.mean, rtol=1e-12) and np.allclose(got.cov, expected.cov, rtol=1e-12)


def test_trace_and_a_model_without_nonlinearity():
    model, X = _model(), _images(2000)
    trace = _quiet(model, data=X, order=2, closure=4, trace=True)
    assert len(trace) == 6 and trace.labels[1] == "1:Linear(12->6)"
    with torch.no_grad():
        Z = model[:2](torch.from_numpy(X)).numpy()
    assert np.allclose(trace[1].cov, np.cov(Z, rowvar=False), rtol=1e-12)
    affine = _quiet(model[:2], data=X, order=2)
    assert np.allclose(affine.cov, np.cov(Z, rowvar=False), rtol=1e-12)


def test_data_in_refuses_before_pushing_when_the_samples_do_not_fit():
    with pytest.raises(MemoryBudgetError, match="4000 rows"):
        _quiet(_model(), data=_images(), order=2, closure=4, memory_budget="100K")


def test_either_cumulants_or_data():
    with pytest.raises(TypeError, match="one of the two"):
        propagate(_model())
