"""Derivation speed: the expansion engine against the brute-force expansion, in the same run.

    python benchmarks/derive.py

Jobs (issue 2): (quadratic, output order 4, closure 8) and (cubic, output order
3, closure 9); every pattern of orders 1..M, each derived both ways and checked
equal. Prints seconds and the ratio brute force / engine (target >= 20).
"""
import sys
import time

import sympy as sp

from symcorr.derivation import activations
from symcorr.derivation.brute_force import brute_force_formula
from symcorr.derivation.engine import derive

JOBS = [(activations.quadratic(), 4, 8), (activations.cubic(), 3, 9)]


def main() -> int:
    print(f"{'job':<28} {'engine [s]':>11} {'brute force [s]':>16} {'ratio':>8}")
    worst = float("inf")
    for activation, out_order, closure in JOBS:
        start = time.perf_counter()
        derivation = derive(activation, out_order, closure)
        engine = time.perf_counter() - start
        start = time.perf_counter()
        brute = {p: brute_force_formula(activation, p, closure) for p in derivation.patterns}
        brute_time = time.perf_counter() - start
        assert all(sp.expand(brute[p] - derivation.formula(p)) == 0 for p in brute), "engine != brute force"
        ratio = brute_time / engine
        worst = min(worst, ratio)
        print(f"{f'{activation.name} M={out_order} K={closure}':<28} {engine:>11.2f} {brute_time:>16.1f} {ratio:>7.0f}x",
              flush=True)
    print(f"worst ratio {worst:.0f}x (target >= 20x)")
    return 0 if worst >= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
