r"""Evidence: the factored representation against the dense one, every returned order, each case in its own process.

    PYTHONPATH=. python benchmarks/factored_agreement.py [--widths 16 32 64] [--depths 2 3 4] [--timeout 600]
                                                         [--tolerance 0] [--pair-mean]

For random networks ``mlp([N] * (depth + 2))`` (``depth`` pointwise layers of width N, weights
:math:`N(0, 0.7^2/N)`, no bias) of a Gaussian input (mean 0.5, covariance the identity), activations the
quadratic :math:`z + z^2`, the cubic :math:`z + z^3` and erf (``--only relu``: ReLU), closures 3 and 4: ``propagate(model, inputs, order=K, closure=K)`` once with
``representation='dense'`` and once with ``representation='factored'`` and no tolerance (nothing dropped:
docs/theory.md section 12), and every returned order compared entry by entry -- the mean, the covariance and
the factored cumulants of order 3 and 4 made dense (``to_dense``): the largest difference over the largest
entry of the dense result, per order. The issue's target is 1e-10 where nothing is truncated. erf's first layer,
of a Gaussian, is exact joint moments (closure 2, carried) in both forms where the dense layer fits the memory
budget, as at these widths; above it the factored one takes the Price series of the closure asked for, a
truncation whose estimated size the factored result's status states and the dense one's does not: such rows show
it (``stated``) and are left out of the 1e-10 target, their differences to be read against it (a truncation both
forms make, as ReLU's Price series on three neurons, is no difference between them). The layers after it are factored, their terms
in erf's vertex functions with corrections on the diagonals (docs/theory.md section 12.2).
``--tolerance 0`` runs the factored
form through its truncation machinery instead -- cyclic terms split at their diagonals (docs/theory.md section
12.3), every candidate kept -- which must agree as well. ``--pair-mean``: closure 3 keeps the mean pair entry
of :math:`\kappa^{(4)}` with its diagonal (``pair_mean=True``, docs/theory.md section 9.5), in both forms.

A case that does not finish within ``--timeout`` seconds, or is refused (a memory estimate above the budget,
more diagram networks than a factored layer may hold), is listed with its reason.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from process_cases import activation_layer, run_case_process  # noqa: E402
ACTIVATIONS = ("quadratic", "cubic", "erf")
#: Run with ``--only`` (not by default): ReLU (torch's module), whose patterns on two neurons are blocks of the
#: pair's joint vertex functions (docs/theory.md section 12.2).
OPTIONAL = ("relu",)


def run_case(name: str, n: int, depth: int, closure: int, tolerance: float | None = None,
             pair_mean: bool = False) -> dict:
    """Dense and factored on one network, in this process: per order the relative difference, and both times."""
    import warnings

    import numpy as np

    from symcorr import Cumulants, propagate
    from symcorr.numeric.cumulant_tensors import is_cumulant_tensor
    from symcorr.networks.modules import mlp

    model = mlp([n] * (depth + 2), activation_layer(name), init_gain=0.7, seed=depth)
    inputs = Cumulants(np.full(n, 0.5), np.eye(n))
    results, seconds = {}, {}
    for form in ("dense", "factored"):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                results[form] = propagate(model, inputs, order=closure, closure=closure, representation=form,
                                          tolerance=tolerance if form == "factored" else None,
                                          pair_mean=pair_mean and closure == 3, progress=False)
            except Exception as error:          # a refusal is a row of the table, with its reason
                return {"status": f"{form}: {type(error).__name__}: {str(error)[:160]}"}
        seconds[form] = time.perf_counter() - start
    differences = {}
    for order, (a, b) in enumerate(zip(results["factored"].held, results["dense"].held), start=1):
        a = a.to_dense() if is_cumulant_tensor(a) else np.asarray(a)
        b = b.to_dense() if is_cumulant_tensor(b) else np.asarray(b)
        differences[order] = float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))
    factored, dense = results["factored"], results["dense"]
    # a truncation the factored form made and the dense one did not (the Price series of erf's first layer): one
    # both made (ReLU's on three neurons) is not a difference between them
    stated = max((c.size for n in range(1, factored.order + 1) for c in factored.status(n).causes
                  if c.size is not None and str(c) not in {str(d) for d in dense.status(n).causes}), default=None)
    return {"status": "ok", "differences": differences, "seconds": seconds, "stated": stated}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--depths", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--closures", type=int, nargs="+", default=[3, 4])
    parser.add_argument("--only", choices=ACTIVATIONS + OPTIONAL, help="run the activation of this name only")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per case (dense and factored)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="the factored form's tolerance (0: split at the diagonals, nothing dropped)")
    parser.add_argument("--pair-mean", action="store_true",
                        help="closure 3 keeps the mean pair entry of kappa4 with its diagonal (pair_mean=True)")
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(*json.loads(args.case))), flush=True)
        return 0
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; factored tolerance "
          f"{args.tolerance}{'; closure 3 keeps the pair mean' if args.pair_mean else ''}")
    print("| activation | K | N | depth | mean | cov | order 3 | order 4 | dense s | factored s | stated | status |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for closure in args.closures:
        for name in [args.only] if args.only else ACTIVATIONS:
            for n in args.widths:
                for depth in args.depths:
                    report = run_case_process(__file__, [name, n, depth, closure, args.tolerance, args.pair_mean], None,
                                              args.timeout)
                    if report["status"] != "ok":
                        reason = f"{report['status']} {report.get('stderr', '')[-200:]!r}" if "stderr" in report else report["status"]
                        print(f"| {name} | {closure} | {n} | {depth} | | | | | | | | {reason} |", flush=True)
                        continue
                    d = {int(k): v for k, v in report["differences"].items()}
                    stated = report["stated"]
                    if stated is None:
                        worst = max(worst, *d.values())
                    cells = " | ".join(f"{d[m]:.1e}" if m in d else "" for m in (1, 2, 3, 4))
                    print(f"| {name} | {closure} | {n} | {depth} | {cells} | {report['seconds']['dense']:.2f} | "
                          f"{report['seconds']['factored']:.2f} | {'' if stated is None else f'{stated:.1e}'} | ok |",
                          flush=True)
    print(f"\nlargest relative difference over every case and order without a stated truncation: {worst:.1e} "
          "(target 1e-10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
