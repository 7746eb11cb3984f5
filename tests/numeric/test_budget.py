"""Memory stated up front (symcorr.numeric.budget): estimates against measured peaks, refusals before
allocating (tiny overridden budgets; no big array is ever allocated here)."""
import tracemalloc

import numpy as np
import pytest

from symcorr.codegen.loader import load_kernel
from symcorr.numeric import budget
from symcorr.derivation import activations
from symcorr.numeric.budget import ENVIRONMENT_VARIABLE, FIXED_OVERHEAD, MemoryBudgetError, budget_scope, \
    kernel_peak_bytes, linear_peak_bytes, memory_budget, parse_bytes
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.distributions import gaussian_mixture
from symcorr.numeric.linear import linear
from symcorr.numeric.pointwise import pointwise


def _hidden(width, order=4, seed=0):
    rng = np.random.default_rng(seed)
    x = gaussian_mixture([0.5, 0.5], [[1.0, 1.0], [-1.0, -1.0]], 0.25 * np.eye(2), order=order)
    return linear(x, rng.normal(size=(width, 2)), rng.normal(size=width))


def test_parse_bytes():
    assert parse_bytes("8G") == 8 << 30
    assert parse_bytes("1.5 MB") == 3 << 19
    assert parse_bytes(12345) == 12345
    for bad in ("lots", "-1G", 0, True):
        with pytest.raises(ValueError):
            parse_bytes(bad)


def test_budget_precedence(monkeypatch):
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "3M")
    assert memory_budget() == 3 << 20
    with budget_scope("2M"):
        assert memory_budget() == 2 << 20
        assert memory_budget("1K") == 1024
    monkeypatch.delenv(ENVIRONMENT_VARIABLE)
    assert memory_budget() > 0


def test_the_default_budget_reads_the_available_memory_again_after_AVAILABLE_FRESH_seconds(monkeypatch):
    readings = iter([1000, 2000, 3000])
    clock = [100.0]
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setattr(budget, "available_bytes", lambda: next(readings))
    monkeypatch.setattr(budget.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(budget, "_READING", [-float("inf"), 0])
    assert memory_budget() == int(budget.DEFAULT_FRACTION * 1000)
    clock[0] += budget.AVAILABLE_FRESH / 2           # read recently: the same reading
    assert memory_budget() == int(budget.DEFAULT_FRACTION * 1000)
    clock[0] += budget.AVAILABLE_FRESH               # older than AVAILABLE_FRESH: read again
    assert memory_budget() == int(budget.DEFAULT_FRACTION * 2000)
    assert memory_budget("1K") == 1024               # an explicit budget reads nothing
    assert memory_budget() == int(budget.DEFAULT_FRACTION * 2000)


@pytest.mark.parametrize("activation, order, closure", [(activations.quadratic(0.5), 4, 4),
                                                         (activations.quadratic(0.5), 3, 3),
                                                         (activations.cubic(), 2, 4),
                                                         (activations.erf(), 2, 4)])
def test_kernel_estimate_bounds_the_measured_peak(activation, order, closure):
    """The estimate is above the peak tracemalloc measures (NumPy reports its allocations) and not
    wildly above it (a useless estimate would refuse what fits)."""
    kernel = load_kernel(activation, order, closure)
    width = 14
    kappa = tuple(_hidden(width).kappa(n) for n in range(1, closure + 1))
    parameters = [value for _, value in activation.parameters]
    # once untraced: the first call imports what the progress display needs (tqdm, asyncio: 2.7 MB of Python
    # objects that tracemalloc counts too), which made this test fail when it ran alone
    [cumulant(kappa, *parameters) for cumulant in kernel.CUMULANTS]
    tracemalloc.start()
    try:
        outputs = [cumulant(kappa, *parameters) for cumulant in kernel.CUMULANTS]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(outputs) == order
    estimate = kernel_peak_bytes(kernel, width)
    assert peak <= estimate <= 2 * peak + FIXED_OVERHEAD


def test_pointwise_refuses_above_the_budget_before_allocating():
    hidden = _hidden(12)
    # the kernel loaded first (run alone, its import's allocations were traced: 6 MB)
    pointwise(_hidden(2), activations.quadratic(0.5), order=4, representation="dense")
    tracemalloc.start()
    try:
        with pytest.raises(MemoryBudgetError, match=r"needs an estimated .* above the memory budget of 1.0 MiB") as info:
            pointwise(hidden, activations.quadratic(0.5), order=4, memory_budget="1M", representation="dense")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(info.value, MemoryError)
    assert info.value.needed > 12**4 * 8 and info.value.budget == 1 << 20
    assert "lower order" in str(info.value)
    assert peak < 12**4 * 8          # not even one order-4 tensor was allocated


def test_linear_refuses_above_the_budget(monkeypatch):
    hidden = _hidden(8)
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "10K")
    assert linear_peak_bytes(hidden.tensors, 16) > 16**4 * 8
    with pytest.raises(MemoryBudgetError, match=ENVIRONMENT_VARIABLE):
        linear(hidden, np.ones((16, 8)))
    linear(Cumulants(np.zeros(8), np.eye(8)), np.ones((16, 8)))   # orders 1..2 are not checked


def test_propagate_refuses_up_front_naming_the_layer():
    torch = pytest.importorskip("torch")
    from torch import nn

    from symcorr.networks import modules as snn
    from symcorr.networks.propagation import propagate

    model = nn.Sequential(nn.Linear(2, 10), snn.Quadratic(0.5), nn.Linear(10, 2)).to(torch.float64)
    with pytest.raises(MemoryBudgetError, match=r"layer 1:Quadratic\(alpha=0.5\) \(width 10\)"):
        propagate(model, Cumulants(np.zeros(2), np.eye(2)), order=4, memory_budget="1M")
    result = propagate(model, Cumulants(np.zeros(2), np.eye(2)), order=4, memory_budget="1G")
    assert result.order == 4


def test_a_refusal_offers_a_budget_that_covers_its_estimate():
    """The remedy names a budget in whole units that holds the estimate (not a fixed example), with the memory
    available now; given that budget, the same call runs."""
    import re
    import warnings

    from symcorr.numeric.budget import budget_covering, parse_bytes

    hidden = _hidden(12)
    with pytest.raises(MemoryBudgetError) as info:
        pointwise(hidden, activations.quadratic(0.5), order=4, memory_budget="1M", representation="dense")
    message = str(info.value)
    offered = re.search(r"memory_budget='([^']+)'", message).group(1)
    assert parse_bytes(offered) >= info.value.needed
    assert f"{ENVIRONMENT_VARIABLE}={offered}" in message and "available now: " in message
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # the closure's approximation and validity: not what is tested
        pointwise(hidden, activations.quadratic(0.5), order=4, memory_budget=offered, representation="dense")
    sizes = (1, 1023, 1024, 1025, 3 << 30, (3 << 30) + 1, 1 << 40)
    assert [budget_covering(n) for n in sizes] == ["1", "1023", "1K", "2K", "3G", "4G", "1T"]
