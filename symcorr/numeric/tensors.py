r"""Symmetric cumulant tensors as NumPy arrays (docs/theory.md section 2).

Numeric moments <-> cumulants over set partitions, the symmetry test used by
:class:`~symcorr.numeric.cumulants.Cumulants`, exact symmetrization, and the
square root of a covariance (for sampling and quadrature), and matrix products known to be symmetric.
"""
from __future__ import annotations

import numpy as np

from symcorr.notation.partitions import mobius_weight, set_partitions
from symcorr.notation.symbols import NEURON_LABELS


def outer_over_blocks(tensors, partition, n_slots: int) -> np.ndarray:
    r""":math:`\prod_{B \in \pi} T^{(|B|)}_{i_B}`: the outer product over the blocks of the set partition
    ``partition`` of slots ``0..n_slots-1``, ``tensors[r - 1]`` the order-r tensor :math:`T^{(r)}`;
    axis ``s`` of the result is slot ``s``. (Plain ``np.einsum``: its ``optimize`` path search
    was measured slower here, for k-statistics and for Gaussian moments up to order 8.)"""
    letters = NEURON_LABELS[:n_slots]
    operands = [tensors[len(block) - 1] for block in partition]
    subscripts = ["".join(letters[s] for s in block) for block in partition]
    return np.einsum(",".join(subscripts) + "->" + letters, *operands)


def moments_from_cumulants(cumulant_tensors):
    """Raw moment tensors ``E[x_i1 ... x_in]`` for n = 1..K from cumulant tensors.

    ``cumulant_tensors[n-1]`` is the symmetric order-n cumulant tensor.
    """
    return [
        sum(outer_over_blocks(cumulant_tensors, p, n) for p in set_partitions(n))
        for n in range(1, len(cumulant_tensors) + 1)
    ]


def cumulants_from_moments(moment_tensors):
    """Cumulant tensors of order 1..K from raw moment tensors (Moebius formula)."""
    return [
        sum(mobius_weight(len(p)) * outer_over_blocks(moment_tensors, p, n) for p in set_partitions(n))
        for n in range(1, len(moment_tensors) + 1)
    ]


#: Row blocks of :func:`symmetric_product` (4: 0.70 s against 1.17 s for the whole product at N = 4096; more
#: blocks gain nothing there).
SYMMETRIC_PRODUCT_BLOCKS = 4


def symmetric_product(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    r""":math:`A B^\top` where it is known to be symmetric (:math:`W S W^\top` with :math:`A = W S`, or
    :math:`V D V^\top` with :math:`A = V D`): only the blocks on and above the diagonal of
    :data:`SYMMETRIC_PRODUCT_BLOCKS` row blocks are multiplied (5/8 of the product for 4 blocks), those below are
    their transposes, and the diagonal blocks are made symmetric (the mean of a block and its transpose). It
    equals ``A @ B.T`` to rounding where that is symmetric to rounding, and is symmetric bitwise."""
    n = A.shape[0]
    edges = [n * b // SYMMETRIC_PRODUCT_BLOCKS for b in range(SYMMETRIC_PRODUCT_BLOCKS + 1)]
    out = np.empty((n, n))
    for start, stop in zip(edges[:-1], edges[1:]):
        np.matmul(A[start:stop], B[start:].T, out=out[start:stop, start:])
        diagonal = out[start:stop, start:stop]
        diagonal[...] = 0.5 * (diagonal + diagonal.T)
        out[start:stop, :start] = out[:start, start:stop].T
    return out


def is_symmetric(tensor: np.ndarray, rtol: float = 1e-10, scale: float | None = None) -> bool:
    """Whether ``tensor`` is invariant under every permutation of its axes, up to ``rtol * scale``.

    ``scale`` defaults to the tensor's largest absolute entry; :class:`~symcorr.numeric.cumulants.Cumulants`
    passes the natural scale of the order instead (a tensor that is zero up to rounding is then
    symmetric, since its noise is measured against the size it could have).
    """
    if scale is None:
        scale = float(np.max(np.abs(tensor), initial=0.0))
    tolerance = rtol * max(scale, 1e-300)
    for k in range(tensor.ndim - 1):
        axes = list(range(tensor.ndim))
        axes[k], axes[k + 1] = axes[k + 1], axes[k]
        if np.max(np.abs(tensor - tensor.transpose(axes)), initial=0.0) > tolerance:
            return False
    return True


def nearest_psd(matrix) -> tuple[np.ndarray, float]:
    r"""The positive semi-definite matrix nearest to ``matrix`` in the Frobenius norm, and that distance.

    Higham (1988): with :math:`\tfrac12(M + M^T) = V \Lambda V^T`, the nearest PSD matrix is
    :math:`V \max(\Lambda, 0) V^T`. For an indefinite covariance estimate that should have been
    PSD (pairwise-deleted data, a float32 accumulation): ``cov, distance = nearest_psd(cov)``;
    ``distance`` states how much the covariance was changed.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"nearest_psd needs a square matrix, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("nearest_psd needs a finite matrix")
    eigenvalues, vectors = np.linalg.eigh(0.5 * (matrix + matrix.T))
    projected = (vectors * np.maximum(eigenvalues, 0.0)) @ vectors.T
    projected = 0.5 * (projected + projected.T)
    np.fill_diagonal(projected, np.maximum(np.diag(projected), 0.0))
    return projected, float(np.linalg.norm(projected - matrix))


def symmetrized(tensor: np.ndarray) -> np.ndarray:
    """Exactly symmetric copy: every entry takes the value at its sorted index tuple.

    Sums over set partitions are symmetric only up to rounding, which matters
    for tensors that are zero or tiny (rounding noise is then all there is).
    """
    if tensor.ndim < 2:
        return tensor
    indices = np.sort(np.indices(tensor.shape).reshape(tensor.ndim, -1), axis=0)
    return tensor.reshape(-1)[np.ravel_multi_index(tuple(indices), tensor.shape)].reshape(tensor.shape)


def psd_root(cov: np.ndarray, name: str = "cov") -> np.ndarray:
    r"""A matrix :math:`L` with :math:`L L^\top = C` for a positive semi-definite ``cov`` :math:`C`.

    From the eigendecomposition :math:`C = V \Lambda V^\top`, :math:`L = V \Lambda^{1/2}`, so a
    singular ``cov`` is fine; eigenvalues below zero by at most :math:`10^{-10}` of the largest
    (rounding) count as zero, a more negative one is refused, naming ``name``.
    """
    eigenvalues, vectors = np.linalg.eigh(cov)
    tolerance = 1e-10 * max(float(np.max(np.abs(eigenvalues), initial=0.0)), 1e-300)
    if eigenvalues.size and eigenvalues[0] < -tolerance:
        raise ValueError(f"{name} is not positive semi-definite: smallest eigenvalue {eigenvalues[0]:.3e}")
    return vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
