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

