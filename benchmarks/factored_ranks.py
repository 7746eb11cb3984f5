r"""Evidence: how far a factored order-3 cumulant could be compressed, by the spectra of its unfoldings.

    PYTHONPATH=. python benchmarks/factored_ranks.py [--widths 64 128 256] [--depth 4]

For random networks ``mlp([N] * (depth + 2))`` (weights :math:`N(0, 0.7^2/N)`, no bias) of a standard
Gaussian input and the quadratic :math:`z + z^2`, ``propagate(..., order=2, closure=3,
representation='factored', tolerance=0.2)``; after every pointwise layer the order-3 output is made dense and
its three unfoldings (:math:`N \times N^2`) decomposed (eigenvalues of :math:`U U^\top`). Printed per layer:
the summed rank of the terms (the widths of their internal indices: what a compression would shrink), and,
per relative Frobenius error :math:`\epsilon`, the least rank :math:`r` whose discarded singular values'
share stays within :math:`\epsilon^2` for every unfolding -- a lower bound on the rank of any representation
with that error, since a form of rank :math:`r` has unfoldings of rank at most :math:`r` -- and the rank
at which the truncated HOSVD (the sum of the three unfoldings' discarded shares) reaches it
(docs/theory.md section 12.3).
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np

ERRORS = (3e-1, 1e-1, 1e-2)


def layer_outputs(n: int, depth: int) -> list:
    """The factored order-3 outputs of every pointwise layer of the network of width ``n``."""
    import symcorr.numeric.pointwise as pointwise_module
    from symcorr import Cumulants, propagate
    from symcorr.derivation import activations
    from symcorr.networks.modules import from_activation, mlp

    activation = activations.quadratic(1.0)
    model = mlp([n] * (depth + 2), lambda: from_activation(activation, learnable=False), init_gain=0.7, seed=0)
    seen, layer = [], pointwise_module.factored_layer

    def recorded(*args, **kwargs):
        out = layer(*args, **kwargs)
        seen.extend(t for t in out if getattr(t, "order", None) == 3 and hasattr(t, "terms"))
        return out

    pointwise_module.factored_layer = recorded
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            propagate(model, Cumulants(np.zeros(n), np.eye(n)), order=2, closure=3, representation="factored",
                      tolerance=0.2, progress=False)
    finally:
        pointwise_module.factored_layer = layer
    return seen


def discarded_shares(dense: np.ndarray) -> list[np.ndarray]:
    """Per unfolding, the share of the squared Frobenius norm beyond rank r (index r - 1), r = 1..N."""
    n = dense.shape[0]
    total = float(np.sum(dense**2))
    out = []
    for mode in range(dense.ndim):
        unfolded = np.moveaxis(dense, mode, 0).reshape(n, -1)
        energies = np.sort(np.linalg.eigvalsh(unfolded @ unfolded.T))[::-1].clip(0)
        beyond = np.concatenate([np.cumsum(energies[::-1])[::-1][1:], [0.0]])
        out.append(beyond / total)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--depth", type=int, default=4)
    args = parser.parse_args(argv)
    print("| N | layer | terms | summed rank | " + " | ".join(f"r at {e:.0e}: bound (HOSVD)" for e in ERRORS) + " |")
    print("|---" * (4 + len(ERRORS)) + "|")
    for n in args.widths:
        for number, tensor in enumerate(layer_outputs(n, args.depth), start=1):
            shares = discarded_shares(tensor.to_dense())
            cells = []
            for error in ERRORS:
                bound = next(r for r in range(1, n + 1) if max(s[r - 1] for s in shares) <= error**2)
                hosvd = next(r for r in range(1, n + 1) if sum(s[r - 1] for s in shares) <= error**2)
                cells.append(f"{bound / n:.2f} N ({hosvd / n:.2f} N)")
            summary = tensor.summary()
            print(f"| {n} | {number} | {summary['terms']} | {summary['rank']} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
