r"""Benchmark: closures 3 (with and without the diagonal of kappa4) and 4 -- validity and accuracy.

Run ``PYTHONPATH=. python benchmarks/closures.py [--quick] [--budget 8G]``.

1. Validity sweep (like the issue's 36 networks): "square" networks
   :math:`\phi = z + z^2/2` (the paper's activation) with weight gain 0.8 and
   "cube" networks :math:`\phi = z + 0.2 z^2 + 0.1 z^3` (``symcorr validate``'s
   cubic) with gain 0.6, widths 8, 32, 128, depths 2, 4, 8, two seeds
   (:math:`2 \cdot 3 \cdot 3 \cdot 2 = 36`), Gaussian input of dimension 8 with a
   random covariance, weights :math:`N(0, g^2/n)`, biases :math:`N(0, 0.1^2)`.
   (Pure powers :math:`z^2, z^3` at depth >= 4 make the output a polynomial of
   degree >= 16 in the input whose covariance is dominated by extreme tails: every
   closure then has relative error ~1; ``--pure`` runs them.) Each network is
   propagated with ``order=K, closure=K`` for ``K = 3`` without and with the
   diagonal of :math:`\kappa^{(4)}` (``keep_next_diagonal``) and ``K = 4``. Per
   closure: how many results are flagged invalid (``problems`` on the output,
   counted apart: covariance not positive semi-definite or a negative variance,
   and Pearson's inequality on the carried diagonals of orders 3, 4), how many overflowed, how many were refused by the memory budget
   before allocating, and -- the check that matters -- how many results an
   independent test finds invalid *without* a flag (must be 0): every layer's
   covariance's eigenvalues (``numpy.linalg.eigvalsh``) and, at ``K = 4``,
   Pearson's inequality on the returned diagonals.
2. Accuracy against exact references: depth-4 (square) and depth-3 (cube)
   networks of widths 8, 32, 128 fed a 2-D Gaussian, whose exact output mean and
   covariance come from Gauss-Hermite quadrature over the input (the network is a
   polynomial of degree :math:`2^4` or :math:`3^3` in the input, integrated
   exactly by 20 or 30 nodes per dimension). Relative errors
   :math:`\lVert\mu - \mu_\mathrm{exact}\rVert/\lVert\mu_\mathrm{exact}\rVert` and the same in
   Frobenius norm for the covariance, for closures 2, 3, 3 + diagonal, 4.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from symcorr.networks import modules as snn  # noqa: E402
from symcorr.networks.propagation import propagate  # noqa: E402
from symcorr.numeric.budget import MemoryBudgetError, format_bytes, memory_budget  # noqa: E402
from symcorr.numeric.cumulants import Cumulants  # noqa: E402
from symcorr.numeric.quadrature import quadrature_cumulants  # noqa: E402
from symcorr.numeric.validity import TOLERANCE  # noqa: E402

ACTIVATIONS = {"square": ([0.0, 1.0, 0.5], 0.8), "cube": ([0.0, 1.0, 0.2, 0.1], 0.6)}
#: pure powers, with the gain that keeps a unit variance at its fixed point (``--pure``)
PURE_ACTIVATIONS = {"square": ([0.0, 0.0, 1.0], 1 / math.sqrt(3)), "cube": ([0.0, 0.0, 0.0, 1.0], 1 / math.sqrt(15))}
CLOSURES = (("3", 3, False), ("3+diag", 3, True), ("4", 4, None))


def network(d_in: int, width: int, depth: int, activation: str, seed: int, d_out: int | None = None):
    coeffs, gain = ACTIVATIONS[activation]
    generator = torch.Generator().manual_seed(seed)
    widths = [d_in] + [width] * depth + [d_out or width]
    modules = []
    for k, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layer = nn.Linear(n_in, n_out, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(torch.randn(n_out, n_in, generator=generator, dtype=torch.float64) * gain / math.sqrt(n_in))
            layer.bias.copy_(0.1 * torch.randn(n_out, generator=generator, dtype=torch.float64))
        modules.append(layer)
        if k < depth:
            modules.append(snn.Polynomial(coeffs, learnable=False).double())
    return nn.Sequential(*modules)


def gaussian_input(dim: int, seed: int) -> Cumulants:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(dim, dim)) / math.sqrt(dim)
    return Cumulants(0.3 * rng.normal(size=dim), A @ A.T + 0.2 * np.eye(dim))


def independently_invalid(entry) -> bool:
    """The validity test of symcorr.numeric.validity done again from scratch on a returned entry."""
    cov = entry.cov
    scale = float(np.max(np.abs(cov)))
    eigenvalues = np.linalg.eigvalsh(cov)
    if np.min(np.diag(cov)) < -TOLERANCE * scale or eigenvalues[0] < -TOLERANCE * max(scale, eigenvalues[-1]):
        return True
    if entry.order >= 4:
        v, k3, k4 = np.diag(cov), np.einsum("iii->i", entry.kappa(3)), np.einsum("iiii->i", entry.kappa(4))
        slack = k4 * v - k3**2 + 2 * v**3
        bound = np.maximum.reduce([np.abs(k4 * v), k3**2, 2 * np.abs(v) ** 3]) + 1e-300
        return bool(np.any(slack < -TOLERANCE * bound))
    return False


def validity_sweep(widths, depths, seeds, budget, stream=sys.stdout) -> dict:
    counts = {name: dict(runs=0, flagged=0, covariance=0, pearson=0, unflagged_invalid=0, overflow=0, refused=0,
                         seconds=0.0) for name, _, _ in CLOSURES}
    refusals = {}
    for activation in ACTIVATIONS:
        for width in widths:
            for depth in depths:
                for seed in seeds:
                    model = network(8, width, depth, activation, seed)
                    inputs = gaussian_input(8, seed)
                    cells = []
                    for name, K, keep in CLOSURES:
                        c = counts[name]
                        c["runs"] += 1
                        start = time.perf_counter()
                        try:
                            with warnings.catch_warnings():
                                warnings.simplefilter("ignore")
                                trace = propagate(model, inputs, order=K, closure=K, keep_next_diagonal=keep,
                                                  trace=True, memory_budget=budget)
                        except MemoryBudgetError as error:
                            c["refused"] += 1
                            refusals[name, width] = error.needed
                            cells.append(f"{name}: refused ({format_bytes(error.needed)})")
                            continue
                        except FloatingPointError:
                            c["overflow"] += 1
                            cells.append(f"{name}: overflow")
                            continue
                        finally:
                            c["seconds"] += time.perf_counter() - start
                        problems = trace[-1].problems
                        flagged = bool(problems)
                        c["flagged"] += flagged
                        c["covariance"] += any("Pearson" not in p.text for p in problems)
                        c["pearson"] += any("Pearson" in p.text for p in problems)
                        hidden = sum(independently_invalid(e) and not e.problems for e in trace)
                        c["unflagged_invalid"] += hidden
                        kinds = sorted({"Pearson" if "Pearson" in p.text else "cov" for p in problems})
                        cells.append(f"{name}: {'INVALID (' + '+'.join(kinds) + ')' if flagged else 'valid'}"
                                     + (f" ({hidden} UNFLAGGED)" if hidden else ""))
                    print(f"  {activation:6s} w{width:<3d} d{depth} s{seed}: " + "; ".join(cells), file=stream,
                          flush=True)
    return {"counts": counts, "refusals": {f"{k[0]} w{k[1]}": v for k, v in refusals.items()}}


def _function(model):
    def function(points):
        with torch.no_grad():
            return model(torch.from_numpy(points)).numpy()
    return function


def accuracy_table(widths, seeds, budget, stream=sys.stdout) -> list[dict]:
    rows = []
    for activation, depth, nodes in (("square", 4, 20), ("cube", 3, 30)):
        for width in widths:
            for seed in seeds:
                model = network(2, width, depth, activation, seed, d_out=4)
                inputs = gaussian_input(2, seed)
                reference = quadrature_cumulants(_function(model), [1.0], [inputs.mean], [inputs.cov], order=2,
                                                 n_nodes=nodes)
                row = dict(activation=activation, depth=depth, width=width, seed=seed)
                for name, K, keep in (("2", 2, None),) + CLOSURES:
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            out = propagate(model, inputs, order=2, closure=K, keep_next_diagonal=keep,
                                            memory_budget=budget)
                        row[name] = (float(np.linalg.norm(out.mean - reference.mean) / np.linalg.norm(reference.mean)),
                                     float(np.linalg.norm(out.cov - reference.cov) / np.linalg.norm(reference.cov)),
                                     out.valid)
                    except MemoryBudgetError as error:
                        row[name] = ("refused", format_bytes(error.needed))
                    except FloatingPointError:
                        row[name] = ("overflow",)
                rows.append(row)
                print("  " + format_row(row), file=stream, flush=True)
    return rows


def format_row(row) -> str:
    cells = []
    for name in ("2", "3", "3+diag", "4"):
        value = row.get(name)
        if value is None:
            continue
        if isinstance(value[0], str):
            cells.append(f"K{name}: {' '.join(value)}")
        else:
            cells.append(f"K{name}: {value[0]:.1e}/{value[1]:.1e}{'' if value[2] else '!'}")
    return f"{row['activation']:6s} d{row['depth']} w{row['width']:<3d} s{row['seed']}  " + "  ".join(cells)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="widths 8, 16 and depths 2, 4 only")
    parser.add_argument("--budget", default=None, help="memory budget (default: half the available memory)")
    parser.add_argument("--part", choices=("validity", "accuracy", "both"), default="both")
    parser.add_argument("--pure", action="store_true", help="pure powers z^2, z^3 instead")
    parser.add_argument("--gain-factor", type=float, default=1.0,
                        help="multiply every weight gain (below 1: milder networks, where closures converge)")
    args = parser.parse_args(argv)
    if args.pure:
        ACTIVATIONS.update(PURE_ACTIVATIONS)
    for name, (coeffs, gain) in list(ACTIVATIONS.items()):
        ACTIVATIONS[name] = (coeffs, gain * args.gain_factor)
    widths = (8, 16) if args.quick else (8, 32, 128)
    depths = (2, 4) if args.quick else (2, 4, 8)
    print(f"memory budget {format_bytes(memory_budget(args.budget))}")
    if args.part in ("validity", "both"):
        print("1. validity sweep (order = closure = K; per network: the output's flag)")
        sweep = validity_sweep(widths, depths, (0, 1), args.budget)
        print(f"{'closure':8s} {'runs':>5s} {'flagged':>8s} {'cov/var':>8s} {'Pearson':>8s} {'overflow':>9s} "
              f"{'refused':>8s} {'UNFLAGGED invalid':>18s} {'time':>8s}")
        for name, c in sweep["counts"].items():
            print(f"{name:8s} {c['runs']:5d} {c['flagged']:8d} {c['covariance']:8d} {c['pearson']:8d} {c['overflow']:9d} "
                  f"{c['refused']:8d} {c['unflagged_invalid']:18d} {c['seconds']:7.1f}s")
        for key, needed in sweep["refusals"].items():
            print(f"  refused before allocating: closure {key}: estimated {format_bytes(needed)}")
    if args.part in ("accuracy", "both"):
        print("2. accuracy against Gauss-Hermite quadrature (relative error mean/cov, '!' = flagged invalid)")
        accuracy_table((8, 16) if args.quick else (8, 32, 128), (0, 1, 2), args.budget)
    return 0


if __name__ == "__main__":
    sys.exit(main())
