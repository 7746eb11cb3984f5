"""Benchmark: the exact Gaussian erf step against one ``W @ Sigma @ W.T`` of the same size.

    python benchmarks/erf.py [--width 1024] [--repeats 7]

Times, in this run and interleaved (so that load from other processes hits
both alike), best of ``--repeats``:

* ``pointwise(c, erf(), order=2)``: mean and full covariance of erf(z) for a
  Gaussian z through the generated kernel (Owen's T / angle integral, docs/theory.md
  section 6), with its input checks and the fill of the output tensor;
* ``erf_gaussian_transfer(mean, cov)``: the same numbers from the standalone
  function (:mod:`symcorr.numeric.erf_gaussian`);
* ``W @ Sigma @ W.T``: the matrix product a linear layer of the same width
  cannot avoid (multithreaded BLAS).

Prints both ratios; target: <= 1 (the erf step no slower than the linear one).
"""
import argparse
import time

import numpy as np

from symcorr import Cumulants
from symcorr.derivation import activations
from symcorr import pointwise
from symcorr.numeric.erf_gaussian import erf_gaussian_transfer


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    n = args.width
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, n)) / np.sqrt(n)
    cov, mean, W = a @ a.T + 0.1 * np.eye(n), rng.normal(size=n), rng.normal(size=(n, n)) / np.sqrt(n)
    inputs, erf = Cumulants(mean, cov), activations.erf()
    kernel = pointwise(inputs, erf, order=2)          # load (or compile) the kernel once
    standalone = erf_gaussian_transfer(mean, cov)
    difference = max(np.max(np.abs(kernel.mean - standalone[0])), np.max(np.abs(kernel.cov - standalone[1])))

    tasks = {"pointwise": lambda: pointwise(inputs, erf, order=2),
             "standalone": lambda: erf_gaussian_transfer(mean, cov),
             "matmul": lambda: W @ cov @ W.T}
    best = {name: np.inf for name in tasks}
    for _ in range(args.repeats):
        for name, task in tasks.items():
            start = time.perf_counter()
            task()
            best[name] = min(best[name], time.perf_counter() - start)
    print(f"N={n}: W @ Sigma @ W.T {best['matmul'] * 1e3:.1f} ms; exact Gaussian erf step: "
          f"pointwise {best['pointwise'] * 1e3:.1f} ms (ratio {best['pointwise'] / best['matmul']:.2f}), "
          f"erf_gaussian_transfer {best['standalone'] * 1e3:.1f} ms "
          f"(ratio {best['standalone'] / best['matmul']:.2f}); target ratio <= 1; "
          f"kernel vs standalone max difference {difference:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
