r"""Linear layers :math:`z = W y + b`, exact at every cumulant order (docs/theory.md section 3)."""
from __future__ import annotations

import numpy as np

from symcorr.numeric.budget import check_memory, linear_peak_bytes
from symcorr.numeric.cumulant_tensors import is_cumulant_tensor
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.tensors import symmetric_product


def congruence(W: np.ndarray, S: np.ndarray) -> np.ndarray:
    r""":math:`W S W^\top` for a symmetric :math:`S` (the covariance of docs/theory.md section 3): :math:`W S`, then
    its product with :math:`W^\top` by :func:`~symcorr.numeric.tensors.symmetric_product` (5/8 of a matrix
    product), symmetric bitwise. (A covariance of a :class:`~symcorr.numeric.cumulants.Cumulants` is symmetric to
    rounding: checked when one is made from arrays.)"""
    return symmetric_product(W @ S, W)


def linear(cumulants: Cumulants, W, b=None, *, memory_budget=None) -> Cumulants:
    r"""Cumulants of :math:`z = W y + b` (docs/theory.md section 3), exact at every order.

    .. math::

        \kappa_z^{(1)} = W \kappa_y^{(1)} + b, \qquad
        \kappa_z^{(n)}_{i_1..i_n} = \sum_j W_{i_1 j_1}\cdots W_{i_n j_n}\, \kappa_y^{(n)}_{j_1..j_n}.

    Each order-n tensor is contracted one mode at a time (cost
    :math:`n N_\mathrm{out} N^{n}` instead of :math:`N^{2n}`). Every order keeps
    its exactness status and the validity problems are carried along
    (:mod:`symcorr.numeric.exactness`). Orders >= 3 are preceded by a memory
    estimate (:func:`symcorr.numeric.budget.linear_peak_bytes`) checked against
    ``memory_budget`` (:func:`symcorr.numeric.budget.check_memory`). Tensors held
    in another form (:mod:`symcorr.numeric.cumulant_tensors`) map themselves.
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[1] != cumulants.dim:
        raise ValueError(f"W must have shape (N_out, {cumulants.dim}) to act on {cumulants.dim} neurons, got {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError("W has a non-finite entry (NaN or inf)")
    if cumulants.order >= 3:
        check_memory(linear_peak_bytes(cumulants.held, W.shape[0]),
                     f"a linear layer {cumulants.dim} -> {W.shape[0]} on cumulants of order {cumulants.order}",
                     "a lower order or closure, or a narrower layer", memory_budget)
    mean = W @ cumulants.mean
    if b is not None:
        b = np.asarray(b, dtype=np.float64)
        if b.shape != (W.shape[0],):
            raise ValueError(f"b must have shape ({W.shape[0]},), got {b.shape}")
        if not np.all(np.isfinite(b)):
            raise ValueError("b has a non-finite entry (NaN or inf)")
        mean = mean + b
    out = [mean, congruence(W, cumulants.cov)]
    for tensor in cumulants.held[2:]:
        if is_cumulant_tensor(tensor):      # held in another form: it maps itself (or says why not)
            out.append(tensor.linear(W))
            continue
        for _ in range(tensor.ndim):
            # contract the leading mode, append the new one at the end: after n
            # steps every mode is transformed and the axis order is restored
            tensor = np.tensordot(tensor, W, axes=([0], [1]))
        out.append(tensor)
    return Cumulants(*out, check=False, exactness=cumulants.exactness, problems=cumulants.problems)
