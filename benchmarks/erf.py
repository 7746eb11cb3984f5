"""Benchmark: the exact Gaussian erf step against one ``W @ Sigma @ W.T`` of the same size.

    python benchmarks/erf.py [--width 1024]

``pointwise(c, erf(), order=2)`` (mean and full covariance of erf(z) for a
Gaussian z, through Owen's T; MATH.md section 6) against the matrix product a
linear layer cannot avoid, both timed in this run (best of 7). Target: ratio <= 1.
"""
import argparse
import time

import numpy as np

from symcorr import Cumulants, activations, pointwise


def best_of(function, repeats=7):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1024)
    n = parser.parse_args().width
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, n)) / np.sqrt(n)
    cov, mean, W = a @ a.T + 0.1 * np.eye(n), rng.normal(size=n), rng.normal(size=(n, n)) / np.sqrt(n)
    inputs, erf = Cumulants(mean, cov), activations.erf()
    pointwise(inputs, erf, order=2)  # load the kernel once
    step = best_of(lambda: pointwise(inputs, erf, order=2))
    product = best_of(lambda: W @ cov @ W.T)
    print(f"N={n}: erf Gaussian step {step * 1e3:.1f} ms, W @ Sigma @ W.T {product * 1e3:.1f} ms, "
          f"ratio {step / product:.2f} (target <= 1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
