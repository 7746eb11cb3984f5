"""Sharded Monte Carlo: the shard layout, one process against a Dask cluster (bit for bit).

The Dask tests need the ``distributed`` extra and are skipped without it; they start one
LocalCluster of 2 worker *processes* (the model, the sampler and the estimators then
travel pickled, as on a real cluster, and each worker has its own torch thread setting).
"""
import sys

import numpy as np
import pytest
import torch
from torch import nn

from symcorr.networks import modules as snn
from symcorr.networks import validation
from symcorr.networks.distributed import dask_client
from symcorr.networks.montecarlo import ShardLayout, monte_carlo, shard_generator
from symcorr.numeric.distributions import Gaussian, GaussianMixture
from symcorr.numeric.kstatistics import PowerSums


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), snn.Quadratic(0.5, learnable=False), nn.Linear(5, 2)).double()


SOURCE = Gaussian([0.1, -0.2, 0.3], [[1.0, 0.3, 0.0], [0.3, 0.5, 0.1], [0.0, 0.1, 0.8]])


def _state(result) -> list[np.ndarray]:
    """Every number a result's estimators hold: power sums, the open group's rows, batch-means moments, counts."""
    arrays = []
    for estimator in [*result._estimators, result._input]:
        if estimator is None:
            continue
        arrays += [*estimator.total.sums, *(np.asarray(rows) for rows in estimator._group), *estimator._stats.mean,
                   *estimator._stats.m2, estimator.total.shift,
                   np.array([estimator.total.count, estimator._group_count, estimator._stats.count,
                             estimator._stats.weight])]
    return arrays


def test_shard_layout_splits_whole_groups_in_order():
    layout = ShardLayout(10_007, 157, 5)
    assert layout.n_groups == 64
    bounds = [layout.bounds(k) for k in range(5)]
    assert bounds[0][0] == 0 and bounds[-1][1] == 10_007
    assert all(stop == start for (_, stop), (start, _) in zip(bounds, bounds[1:]))
    assert all(start % 157 == 0 for start, _ in bounds)
    assert sorted(stop - start for start, stop in bounds[:-1]) in ([12 * 157] * 2 + [13 * 157] * 2,
                                                                    [12 * 157] + [13 * 157] * 3)
    with pytest.raises(ValueError, match="use fewer shards or more groups"):
        ShardLayout(100, 10, 11)
    with pytest.raises(ValueError, match="shard must lie in 0..4"):
        layout.bounds(5)


def test_shards_are_independent_streams_and_their_merge_is_the_union_of_their_samples():
    identity = nn.Sequential(nn.Identity())
    n, batch = 6_000, 700
    result = monte_carlo(identity, SOURCE, n, order=3, shards=3, batch_size=batch, seed=11)
    layout = result.layout
    assert (layout.shards, result.n_samples) == (3, n)
    samples = []
    for k in range(3):
        start, stop = layout.bounds(k)
        rng = shard_generator(11, k)
        samples += [SOURCE.sample(min(batch, stop - s), rng) for s in range(start, stop, batch)]
    X = np.concatenate(samples)
    assert X.shape == (n, 3) and not np.allclose(samples[0][:5], SOURCE.sample(5, shard_generator(11, 1)))
    reference = PowerSums(3, 3, X.mean(0)).update(X).kstatistics()
    for estimate, expected in zip(result[0].tensors, reference):
        np.testing.assert_allclose(estimate, expected, rtol=1e-11, atol=1e-13)
    one = monte_carlo(identity, SOURCE, n, order=3, batch_size=batch, seed=11)
    assert one.layout.shards == 1 and not np.allclose(one[0].mean, result[0].mean, rtol=0, atol=1e-12)


def test_sharded_data_visits_every_row_once():
    X = np.random.default_rng(4).normal(size=(2_000, 2))
    identity = nn.Sequential(nn.Identity())
    expected = PowerSums(2, 4, X.mean(0)).update(X).kstatistics()
    for shards in (1, 4):
        result = monte_carlo(identity, X, order=4, shards=shards, groups=16, batch_size=300)
        assert result.n_samples == 2_000
        for estimate, reference in zip(result[0].tensors, expected):
            np.testing.assert_allclose(estimate, reference, rtol=1e-10, atol=1e-13)


def test_without_dask_the_options_say_how_to_install_it(monkeypatch, capsys):
    with dask_client() as client:
        assert client is None
    with pytest.raises(ValueError, match="at most one"):
        with dask_client(scheduler="tcp://127.0.0.1:1", workers=2):
            pass
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now fails
    with pytest.raises(ImportError, match=r"symcorr\[distributed\]"):
        with dask_client(workers=2):
            pass
    with pytest.raises(SystemExit) as exit_:
        validation.main(["--quick", "--workers", "2"])
    assert exit_.value.code == 2 and "pip install 'symcorr[distributed]'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed")
    with dask_client(workers=2) as connected:
        yield connected


def test_two_workers_give_bit_identical_power_sums(client):
    model = _model()
    mixture = GaussianMixture([0.3, 0.7], [[1.0, 0.0, -1.0], [-0.5, 0.5, 0.0]], 0.2 * np.eye(3))
    X = mixture.sample(9_000, np.random.default_rng(8)).reshape(9_000, 3, 1)
    flat = nn.Sequential(nn.Flatten(), *_model())
    for net, source, n in ((model, SOURCE, 20_000), (model, mixture, 15_001), (flat, X, 9_000)):
        options = dict(order=[4, 3, 2] if net is model else [2, 4, 3, 2], input_order=2, shards=4, seed=7,
                       batch_size=2_500)
        local = monte_carlo(net, source, n, **options)
        remote = monte_carlo(net, source, n, client=client, **options)
        assert remote.layout == local.layout and remote.n_samples == n
        mine, theirs = _state(local), _state(remote)
        assert len(mine) == len(theirs) and all(np.array_equal(a, b) for a, b in zip(mine, theirs))
        for a, b in zip([local.input, *local], [remote.input, *remote]):
            assert all(np.array_equal(x, y) for x, y in zip(a.tensors + a.stderr, b.tensors + b.stderr))


def test_worker_errors_reach_the_caller_and_validate_runs_on_a_scheduler(client, capsys):
    blow_up = nn.Sequential(nn.Linear(3, 2), snn.Quadratic(1.0)).double()
    with torch.no_grad():
        blow_up[0].weight.fill_(1e200)
    with pytest.raises(FloatingPointError, match=r"layer 0 \(Linear\): power sums of order 2 overflowed"):
        monte_carlo(blow_up, SOURCE, 10_000, client=client, shards=2)
    assert monte_carlo(_model(), SOURCE, 10_000, client=client).layout.shards == 2  # one per worker thread
    status = validation.main(["--quick", "--only", "quadratic-d1-w5-mixture", "--scheduler",
                              client.scheduler.address, "--shards", "3"])
    assert status == 0 and "PASS" in capsys.readouterr().out
