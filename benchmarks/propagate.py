r"""Benchmark: ``propagate(order=2)`` through a wide quadratic network, against its baselines.

Run ``PYTHONPATH=. python benchmarks/propagate.py [--width 1024] [--depth 3]``.

Network: ``depth`` blocks ``Linear(N, N) -> Quadratic(alpha)`` (weights
:math:`N(0, 1/N)`, small biases), Gaussian input of dimension ``N`` with a
random covariance. Two comparisons, each against a baseline measured in the
same run (ratios, not absolute times, are the result):

1. ``propagate(model, inputs, order=2)`` against the ``depth`` products
   ``W @ Sigma @ W.T`` it cannot avoid (float64 NumPy on the same matrices;
   target: at most 1.5x). Reported for a float32 and a float64 model (the
   float32 weights are converted to float64 inside ``propagate``).
2. Monte Carlo to the same covariance accuracy: a pilot run of
   :func:`symcorr.networks.montecarlo.monte_carlo` gives the standard error of every
   output covariance entry, hence the expected relative Frobenius error
   :math:`\epsilon(n) = \sqrt{\sum_{ij}\mathrm{se}_{ij}^2}/\lVert\hat\Sigma\rVert_F`;
   since :math:`\epsilon \propto n^{-1/2}` (checked on two pilot sizes), the
   samples and time to reach :math:`\epsilon = 10^{-3}` follow by
   extrapolation (running them is out of reach: that is the point). Target:
   ``propagate`` at least 100x faster. The Gaussian closure error of
   ``order=2`` in this network (theory vs the pilot estimate) is printed too:
   ``order=2`` is exact for the first block only.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from symcorr.networks import modules as snn
from symcorr.networks.modules import mlp
from symcorr.numeric.cumulants import Cumulants
from symcorr.networks.montecarlo import monte_carlo
from symcorr.networks.propagation import propagate
from symcorr.numeric.distributions import Gaussian


def build(width: int, depth: int, alpha: float, seed: int, dtype):
    """``depth`` blocks ``Linear(width, width) -> Quadratic(alpha)`` in ``dtype``."""
    def quadratic():
        return snn.Quadratic(alpha, learnable=False).to(dtype)

    model = mlp([width] * (depth + 1), quadratic, bias_std=0.1, seed=seed, dtype=dtype)
    return model.append(quadratic())


def best_of(function, repeats: int) -> tuple[float, float]:
    """(best, median) wall time of ``function`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def interleaved(first, second, repeats: int):
    """(best, median) of two functions timed alternately, so that load changes hit both alike."""
    a, b = [], []
    for _ in range(repeats):
        for function, times in ((first, a), (second, b)):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
    return (min(a), statistics.median(a)), (min(b), statistics.median(b))


def relative_error(estimate) -> float:
    return float(np.sqrt(np.sum(estimate.stderr[1] ** 2)) / np.linalg.norm(estimate.cov))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--alpha", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--mc-samples", type=int, default=2**14, help="larger pilot Monte Carlo run")
    parser.add_argument("--target", type=float, default=1e-3, help="relative covariance error to reach")
    args = parser.parse_args(argv)
    N, depth = args.width, args.depth
    rng = np.random.default_rng(0)
    A = rng.normal(size=(N, N)) / math.sqrt(N)
    inputs = Cumulants(0.1 * rng.normal(size=N), 0.5 * A @ A.T + 0.5 * np.eye(N))
    print(f"network: {depth} x [Linear({N}, {N}) -> Quadratic(alpha={args.alpha})], Gaussian input, "
          f"torch threads {torch.get_num_threads()}")

    # 1. propagate vs the depth products W Sigma W^T ------------------------------------------
    print("\n1. propagate(order=2) vs the W @ Sigma @ W.T products it cannot avoid")
    for dtype in (torch.float32, torch.float64):
        model = build(N, depth, args.alpha, 1, dtype)
        trace = propagate(model, inputs, order=2, trace=True)   # warm-up (kernel import)
        weights = [m.weight.detach().to(torch.float64).numpy() for m in model if isinstance(m, nn.Linear)]
        sigmas = [inputs.cov] + [trace[2 * k + 1].cov for k in range(depth - 1)]

        def baseline():
            for W, S in zip(weights, sigmas):
                W @ S @ W.T

        (base_best, base_median), (prop_best, prop_median) = interleaved(
            baseline, lambda: propagate(model, inputs, order=2), args.repeats)
        print(f"   {str(dtype).replace('torch.', ''):>7} model: {depth} products {base_best * 1e3:7.1f} ms "
              f"(median {base_median * 1e3:.1f}), propagate {prop_best * 1e3:7.1f} ms (median {prop_median * 1e3:.1f})"
              f"  ->  ratio {prop_best / base_best:.2f} (median {prop_median / base_median:.2f}; target <= 1.5)")

    # 2. Monte Carlo to the same accuracy --------------------------------------------------------
    print(f"\n2. Monte Carlo samples and time to a relative covariance error of {args.target:g}")
    model = build(N, depth, args.alpha, 1, torch.float32)
    theory = propagate(model, inputs, order=2)
    prop_best, _ = best_of(lambda: propagate(model, inputs, order=2), args.repeats)
    orders = [0] * (2 * depth - 1) + [2]
    source = Gaussian(inputs.mean, inputs.cov)
    pilots = []
    for n in (args.mc_samples // 4, args.mc_samples):
        result = monte_carlo(model, source, n, orders, batch_size=2048, groups=64, seed=n, dtype="model")
        estimate = result.output
        pilots.append((n, relative_error(estimate), result.seconds))
        print(f"   pilot n = {n:>7}: relative error {pilots[-1][1]:.3e}, {result.seconds:.2f} s "
              f"({result.seconds / n * 1e6:.1f} us/sample)")
    (n1, e1, _), (n2, e2, t2) = pilots
    print(f"   error ratio between the pilots {e1 / e2:.2f} (n^-1/2 predicts {math.sqrt(n2 / n1):.2f})")
    needed = n2 * (e2 / args.target) ** 2
    seconds = t2 / n2 * needed
    closure = np.linalg.norm(theory.cov - estimate.cov) / np.linalg.norm(estimate.cov)
    print(f"   Monte Carlo needs ~{needed:.3g} samples, ~{seconds:.3g} s ({seconds / 3600:.2g} h); "
          f"propagate {prop_best * 1e3:.1f} ms  ->  propagate {seconds / prop_best:.3g}x faster (target >= 100)")
    print(f"   (Gaussian closure error of order=2 vs the pilot estimate: {closure:.2e} relative, "
          f"pilot statistical error {e2:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
