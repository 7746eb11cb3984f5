"""Benchmark: the exact Gaussian ReLU and GELU steps against one ``W @ Sigma @ W.T`` of the same size.

    python benchmarks/activations.py [--width 1024] [--repeats 7] [--activations relu gelu]

Times, in this run and interleaved (so that load from other processes hits all alike), best of
``--repeats``:

* ``pointwise(c, act, order=2)`` for each activation: mean and full covariance of act(z) for a Gaussian
  z through the shipped kernel (closed forms, docs/theory.md section 11; the pair integrals K, J of
  symcorr.codegen.runtime.bivariate on the upper triangle), with its input checks and the fill of the
  output tensor;
* ``W @ Sigma @ W.T``: the matrix product a linear layer of the same width cannot avoid
  (multithreaded BLAS).

Prints each ratio (target <= 1: the activation step no slower than the linear one) and the peak
memory each step allocates (tracemalloc, NumPy's allocations included), next to the 8 N^2 bytes of one
output matrix.
"""
import argparse
import time
import tracemalloc

import numpy as np

from symcorr import Cumulants, pointwise
from symcorr.derivation import activations


def peak_megabytes(task) -> float:
    """Peak memory (MB) allocated while ``task`` runs."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    task()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--activations", nargs="+", default=["relu", "gelu"])
    args = parser.parse_args(argv)
    n = args.width
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, n)) / np.sqrt(n)
    cov, mean, W = a @ a.T + 0.1 * np.eye(n), rng.normal(size=n), rng.normal(size=(n, n)) / np.sqrt(n)
    inputs = Cumulants(mean, cov)
    tasks = {"matmul": lambda: W @ cov @ W.T}
    for name in args.activations:
        activation = activations.get(name)
        pointwise(inputs, activation, order=2)                 # load (or compile) the kernel once
        tasks[name] = lambda activation=activation: pointwise(inputs, activation, order=2)
    best = {name: np.inf for name in tasks}
    for _ in range(args.repeats):
        for name, task in tasks.items():
            start = time.perf_counter()
            task()
            best[name] = min(best[name], time.perf_counter() - start)
    memory = {name: peak_megabytes(task) for name, task in tasks.items()}
    print(f"N={n}: W @ Sigma @ W.T {best['matmul'] * 1e3:.1f} ms (peak {memory['matmul']:.0f} MB); "
          f"one N x N float64 matrix is {8 * n * n / 1e6:.0f} MB")
    for name in args.activations:
        print(f"  exact Gaussian {name} step: {best[name] * 1e3:.1f} ms, ratio {best[name] / best['matmul']:.2f} "
              f"(target <= 1), peak {memory[name]:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
