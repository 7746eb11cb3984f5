r"""Neuron-grid helpers that generated kernels call (imports only NumPy).

Index conventions (docs/theory.md section 4): an index pattern such as ``'iij'``
names which output slots share a neuron; a kernel evaluates the pattern's
formula on the grid of its distinct neurons (axes ``'ij'``) and
:func:`fill_pattern` writes it into every position of the symmetric output
tensor that realises the pattern.
"""
import numpy as np

from symcorr.codegen.runtime.tuples import HeldSlices, grid_entry_bytes, window_rows

_LETTERS = "ijklmnopqrstuvwxyz"


class OnDiagonal:
    r"""An input cumulant seen on its diagonal only, :math:`\kappa_{i \dots i}` (``values``, one per neuron).

    :func:`grid_view` puts it on the first axis of any grid, every other axis of length 1, so a grid
    function (elementwise in its grid, as every block of a factored module is) evaluated on such inputs
    returns its values on the diagonal of its grid -- every grid axis on the same neuron -- at the cost
    of vectors instead of :math:`N^d` grids.
    """

    __slots__ = ("values",)

    def __init__(self, values):
        self.values = values


class RowWindow:
    r"""An input cumulant seen on the rows ``start:stop`` of the first grid axis: :func:`grid_view` gives its view
    on those rows only, so a grid function (elementwise in its grid, as every block of a factored module is)
    evaluated on such inputs returns those rows of its values, with the working arrays of a chunk instead of the
    whole grid."""

    __slots__ = ("tensor", "start", "stop")

    def __init__(self, tensor, start: int, stop: int):
        self.tensor, self.start, self.stop = tensor, start, stop


def grid_view(tensor, labels, grid):
    r"""The input cumulant :math:`\kappa_{labels}` broadcast on the neuron grid ``grid``.

    ``grid_view(k3, 'iij', 'ijk')[a, b, 0] = k3[a, a, b]``: diagonal slots
    are extracted (a view, no copy) and grid axes the cumulant does not
    depend on get length 1. A tensor held in another form (with a method
    ``slice(labels)``, :mod:`symcorr.numeric.cumulant_tensors`) gives its slice itself;
    an :class:`OnDiagonal` input gives its diagonal on the first grid axis, a :class:`RowWindow` its rows.
    """
    if isinstance(tensor, OnDiagonal):
        return tensor.values.reshape((-1,) + (1,) * (len(grid) - 1))
    if isinstance(tensor, RowWindow):
        values = grid_view(tensor.tensor, labels, grid)
        return values[tensor.start:tensor.stop] if grid[0] in labels else values
    present = "".join(sorted(set(labels)))
    values = tensor.slice(labels) if hasattr(tensor, "slice") else np.einsum(f"{labels}->{present}", tensor)
    return values.reshape(tuple(values.shape[0] if g in present else 1 for g in grid))


def in_row_windows(function, kappa, parameters, n: int, rows: int) -> np.ndarray:
    r"""The values of ``function(kappa, *parameters)``, a function elementwise on the grid ``'ij'`` of two neurons
    (every grid pattern and block function: their inputs broadcast by :func:`grid_view`), as an ``n x n`` array
    made ``rows`` rows at a time: each window's working arrays are ``rows x n`` (:class:`RowWindow` inputs), and
    the same values as one evaluation on the whole grid to rounding (NumPy's vectorized ``exp`` rounds an element by
    where it falls in a vector: 1 ulp here and there). An input held in another form is sliced once
    (:class:`~symcorr.codegen.runtime.tuples.HeldSlices`), not once per window."""
    if rows >= n:
        return np.ascontiguousarray(np.broadcast_to(np.asarray(function(kappa, *parameters), dtype=np.float64),
                                                    (n, n)))
    kappa = tuple(HeldSlices(t) if hasattr(t, "slice") else t for t in kappa)
    out = np.empty((n, n))
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        window = tuple(RowWindow(tensor, start, stop) for tensor in kappa)
        out[start:stop] = np.broadcast_to(np.asarray(function(window, *parameters), dtype=np.float64),
                                          (stop - start, n))
    return out


def grid_pattern(function, kappa, parameters, statements) -> np.ndarray:
    r"""A generated kernel's pattern on two neurons (``'ij'``) over the ``n x n`` grid, ``n`` the input's width,
    made a window of rows at a time within :data:`~symcorr.codegen.runtime.tuples.ROW_WINDOW_BYTES` of working
    arrays (``statements``: its ``GRID_MEMORY`` entry; :func:`in_row_windows`)."""
    n = np.shape(kappa[0])[0]
    return in_row_windows(function, kappa, parameters, n, window_rows(n, grid_entry_bytes(statements)))


def off_diagonal(values, covariance):
    r"""A block's ``values`` on the neuron grid ``'ij'`` with zeros where the two neurons coincide (a factored
    module's correction of a two-neuron pattern in joint vertex functions, whose values there are those of a
    singular covariance; docs/theory.md section 12.2). ``covariance``: the input's ``kappa[1]``, which gives the
    width, a :class:`RowWindow` of it (the rows evaluated), or an :class:`OnDiagonal`, on which the block is
    evaluated on its diagonal only: zeros."""
    values = np.asarray(values, dtype=np.float64)
    if isinstance(covariance, OnDiagonal):
        return np.zeros(values.shape)
    start, stop = 0, None
    if isinstance(covariance, RowWindow):
        start, stop, covariance = covariance.start, covariance.stop, covariance.tensor
    n = covariance.shape[0]
    stop = n if stop is None else stop
    out = np.array(np.broadcast_to(values, (stop - start, n)))
    rows = np.arange(stop - start)
    out[rows, start + rows] = 0.0
    return out


def fill_pattern(out, values, assignments):
    r"""Write the pattern values (grid axes) into ``out`` at every slot ``assignment``.

    Each assignment maps output slot ``s`` to grid axis ``assignment[s]``;
    e.g. ``(0, 0, 1)`` writes ``out[a, a, b] = values[a, b]``.
    """
    n_axes = max(assignments[0]) + 1
    values = np.broadcast_to(values, (out.shape[0],) * n_axes)
    for assignment in assignments:
        subscripts = "".join(_LETTERS[g] for g in assignment)
        view = np.einsum(f"{subscripts}->{_LETTERS[:n_axes]}", out)
        view[...] = values
    return out


def output_tensor(values, assignments, n, order):
    r"""The order-``order`` output tensor over ``n`` neurons, filled with the finest pattern's values.

    When the finest pattern has ``order`` distinct neurons (one identity
    assignment) and ``values`` is a fresh ``(n,) * order`` float64 array (not
    a view of an input), ``values`` itself becomes the output (no copy of an
    :math:`N^{order}` tensor); otherwise a new tensor is filled with
    :func:`fill_pattern`.
    """
    if (len(assignments) == 1 and assignments[0] == tuple(range(order)) and isinstance(values, np.ndarray)
            and values.shape == (n,) * order and values.dtype == np.float64 and values.flags.owndata
            and values.flags.writeable):
        return values
    return fill_pattern(np.empty((n,) * order), values, assignments)
