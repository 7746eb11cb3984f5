"""Array helpers of the runtime: checked float64 arguments, evaluation in cache-sized blocks,
and Gauss-Legendre rules on [0, 1] (shared by the erf numerics; NumPy only)."""
import numpy as np


def legendre_unit(n):
    """Nodes and weights of the n-point Gauss-Legendre rule on [0, 1]."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return (nodes + 1.0) / 2.0, weights / 2.0


def float_arrays(names, values):
    """``values`` as float64 arrays, broadcast together; a non-finite entry is refused, naming its argument."""
    arrays = []
    for name, value in zip(names, values):
        array = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} has a non-finite entry (NaN or inf)")
        arrays.append(array)
    return np.broadcast_arrays(*arrays)


def blockwise(function, arrays, size):
    """``function`` on consecutive blocks of ``size`` elements of equal-length 1-D ``arrays``
    (temporaries stay in cache), the results joined."""
    out = np.empty(arrays[0].size)
    for start in range(0, out.size, size):
        block = slice(start, start + size)
        out[block] = function(*(a[block] for a in arrays))
    return out


def symmetric_grid(mu_a, mu_b, v_a, v_b, c):
    """(mean, variance, cov) if the arguments have the shape of a kernel's symmetric neuron
    grid (mu_i, mu_j, Sigma_ii, Sigma_jj, Sigma_ij views of one Gaussian), else None."""
    if c.ndim != 2 or c.shape[0] != c.shape[1] or 0 in c.strides:
        return None
    n = c.shape[0]
    column, row = (n, 1), (1, n)
    if not all(np.shape(t) == s for t, s in ((mu_a, column), (mu_b, row), (v_a, column), (v_b, row))):
        return None
    mean, variance = np.ravel(mu_a), np.ravel(v_a)
    if not (np.array_equal(mean, np.ravel(mu_b)) and np.array_equal(variance, np.ravel(v_b))
            and np.array_equal(variance, np.diagonal(c))):
        return None
    return mean, variance, c
