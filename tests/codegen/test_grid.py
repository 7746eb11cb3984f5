"""The grid runtime (symcorr.codegen.runtime.grid): a kernel's pattern on two neurons made a window of rows at a time
gives the values of one evaluation on the whole grid, within the working memory its peak_bytes states."""
import tracemalloc

import numpy as np
import pytest
from builders import random_gaussian, random_symmetric

from symcorr.codegen.loader import load_kernel
from symcorr.codegen.runtime import tuples
from symcorr.derivation import activations
from symcorr.numeric.cumulant_tensors import RankOneSum


def _relu_inputs(n: int):
    """Orders 1..4 of ``n`` neurons as the last layer of a closure-3 network holds them: orders 1..3 dense (order 3
    small against the covariance), order 4 its kept diagonal (a tensor held in another form, sliced by the kernel)."""
    mean, cov = random_gaussian(n, 4)
    rng = np.random.default_rng(5)
    return (mean, cov, 0.02 * random_symmetric(n, 3, 6), RankOneSum.diagonal(4, 0.1 * rng.normal(size=n)))


def _cumulant_2(kernel, kappa, window_bytes, monkeypatch):
    monkeypatch.setattr(tuples, "ROW_WINDOW_BYTES", window_bytes)
    with np.errstate(divide="ignore", invalid="ignore"):    # the grid's diagonal (rho = 1), overwritten by 'ii'
        return kernel.CUMULANTS[1](kappa)


def test_order_2_pattern_in_row_windows_equals_the_whole_grid(monkeypatch):
    # ReLU at closure 4 (161 working arrays of the grid's size): whole at the default window, a window of 3 rows
    # (the last one shorter) and one row; the same values to rounding (NumPy's vectorized exp rounds an element by
    # where it falls in a vector: 1 ulp here and there)
    kernel, n = load_kernel(activations.relu(), 2, 4), 20
    kappa = _relu_inputs(n)
    per_entry = tuples.grid_entry_bytes(kernel.GRID_MEMORY[2][1])
    assert per_entry >= 8 * 100 and tuples.window_rows(n, per_entry) == n
    whole = _cumulant_2(kernel, kappa, tuples.ROW_WINDOW_BYTES, monkeypatch)
    for window_bytes, rows in ((3 * n * per_entry, 3), (1, 1)):
        assert tuples.window_rows(n, per_entry) == n
        monkeypatch.setattr(tuples, "ROW_WINDOW_BYTES", window_bytes)
        assert tuples.window_rows(n, per_entry) == rows
        np.testing.assert_allclose(_cumulant_2(kernel, kappa, window_bytes, monkeypatch), whole, rtol=4e-15,
                                   atol=4e-16 * np.max(np.abs(whole)))
        monkeypatch.undo()
    assert np.all(np.isfinite(whole))


@pytest.mark.parametrize("window_bytes", [1 << 20, 1 << 22])
def test_order_2_peak_in_row_windows_is_within_its_estimate(monkeypatch, window_bytes):
    # at N = 160 ReLU's 'ij' pattern whole holds 161 arrays of 200 kB (33 MB and its runtime call's workspace); in
    # windows of 1 MB or 4 MB the peak tracemalloc measures stays within peak_bytes, which is a few windows above
    # the result (not 33 MB)
    kernel, n = load_kernel(activations.relu(), 2, 4), 160
    kappa = _relu_inputs(n)
    _cumulant_2(kernel, _relu_inputs(4), window_bytes, monkeypatch)          # imports and first calls, untraced
    estimate = kernel.peak_bytes(n)
    tracemalloc.start()
    try:
        _cumulant_2(kernel, kappa, window_bytes, monkeypatch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole = 161 * 8 * n * n
    assert peak <= estimate < 8 * n * n * 2 + 4 * window_bytes + tuples.OVERHEAD_BYTES < whole
