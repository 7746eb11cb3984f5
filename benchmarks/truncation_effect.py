r"""Benchmark: what a factored layer's truncation (``tolerance``) costs in accuracy, against the exact closure.

    PYTHONPATH=. python benchmarks/truncation_effect.py [--widths 32 64] [--closure 4] [--gain 0.7]
                                                        [--tolerances 0.2 0.5 0.99] [--only cubic]
                                                        [--split-networks 0] [--pairs-as-candidates]

A depth-3 network ``mlp([N] * 5)`` (weights :math:`N(0, g^2/N)`, no bias, seed 0) of a standard Gaussian input,
``propagate(model, inputs, order=2, closure=K)``: the output covariance exactly (``representation='dense'``) is
the reference; printed are the relative Frobenius distances to it of closures 2 and ``K - 1`` (dense) and of
closure ``K`` in factored form at each tolerance (docs/theory.md section 12.3), with the times of each run.
A truncation that keeps what closure ``K`` adds stays well below the distance of closure ``K - 1``.
``--split-networks`` sets ``symcorr.numeric.factored_pointwise.SPLIT_NETWORKS`` (0: every cyclic term taken whole).
``--pairs-as-candidates``: every factored layer acts as one whose memory estimate is above its budget (the budget
it compares against is set to 0; the memory checks keep the real one), so that the parts of its terms taken whole on
one pair of neurons are candidates for dropping, as at the cubic's second layer of width 1024.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from symcorr import Cumulants, propagate
from symcorr.derivation import activations
from symcorr.networks.modules import from_activation, mlp
from symcorr.numeric import factored_pointwise
from symcorr.numeric import pointwise as pointwise_module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--closure", type=int, default=4, choices=[3, 4])
    parser.add_argument("--gain", type=float, default=0.7)
    parser.add_argument("--tolerances", type=float, nargs="+", default=[0.2, 0.5, 0.99])
    parser.add_argument("--only", choices=["quadratic", "cubic"], default=None)
    parser.add_argument("--split-networks", type=int, default=None)
    parser.add_argument("--pairs-as-candidates", action="store_true")
    args = parser.parse_args()
    if args.split_networks is not None:
        factored_pointwise.SPLIT_NETWORKS = args.split_networks
    if args.pairs_as_candidates:
        pointwise_module.memory_budget = lambda budget: 0
    warnings.simplefilter("ignore")
    print("| act | N | run | s | cov distance to exact closure |\n|---|---|---|---|---|")
    for name in [args.only] if args.only else ["quadratic", "cubic"]:
        activation = activations.quadratic(1.0) if name == "quadratic" else activations.cubic()
        for n in args.widths:
            model = mlp([n] * 5, lambda: from_activation(activation, learnable=False), init_gain=args.gain, seed=0)
            inputs = Cumulants(np.zeros(n), np.eye(n))

            def run(**kwargs):
                start = time.perf_counter()
                out = propagate(model, inputs, order=2, progress=False, **kwargs)
                return out.cov, time.perf_counter() - start

            exact, seconds = run(closure=args.closure, representation="dense")
            print(f"| {name} | {n} | closure {args.closure}, dense (reference) | {seconds:.1f} | 0 |")
            cases = [("closure 2", dict(closure=2)),
                     (f"closure {args.closure - 1}, dense", dict(closure=args.closure - 1, representation="dense"))]
            cases += [(f"closure {args.closure}, factored, tolerance {t}",
                       dict(closure=args.closure, representation="factored", tolerance=t)) for t in args.tolerances]
            for label, kwargs in cases:
                cov, seconds = run(**kwargs)
                distance = np.linalg.norm(cov - exact) / np.linalg.norm(exact)
                print(f"| {name} | {n} | {label} | {seconds:.1f} | {distance:.3g} |", flush=True)


if __name__ == "__main__":
    main()
