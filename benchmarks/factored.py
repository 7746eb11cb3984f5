r"""Benchmark: propagate in the factored representation at large widths, each case in its own process.

    PYTHONPATH=. python benchmarks/factored.py [--tolerance 0.2] [--dense-limit-gb 8] [--timeout 600]
                                               [--only quadratic] [--closure 3] [--skip-dense] [--max-n 4096]
                                               [--cold] [--input-mean 0.0] [--pair-mean] [--again]

Cases (the issue "higher orders at width 1024"): a depth-3 network ``mlp([N] * 5)`` (three hidden
layers of width N, weights :math:`N(0, 0.7^2/N)`, no bias) of a standard Gaussian input (mean
``--input-mean``: with mean 0 the cubic's odd cumulants, order 3 among them, vanish at every layer), activations
the quadratic :math:`z + z^2` and the cubic :math:`z + z^3` (``--only relu``: ReLU, the same cases),
``propagate(model, inputs, order=2, closure=K)``: closure 3 at N = 256, 512, 1024, 2048, 4096, closure 4 at
N = 64, 128, 256, 512, 1024,
``representation='factored'`` with ``tolerance`` (cyclic diagram terms whose estimated relative size is
within it are dropped, and so are the off-diagonal parts of the cycles that the next layer's slices close; the
sizes stated in the result's exactness status: docs/theory.md section 12.3).
The dense representation runs as the baseline in the same run where it fits (``--dense-limit-gb``:
an address-space limit, so a case that needs more fails with MemoryError instead of taking the
machine's memory), and the factored mean and covariance are compared with it.

Each case runs in a fresh subprocess (after one untimed warm-up process per activation and closure
that derives or caches the generated modules). In it, one untimed ``propagate`` of the same kind at width 8
first loads the generated modules and warms the imports (0.3 s measured on this machine, once per process;
``--cold`` times it with the case instead), and the case's network is made (torch's initialization of its
weights, 2.2 s at N = 4096, is not propagation and not timed; the times of earlier sessions in
docs/theory.md include it); the process then reports wall and CPU time (all threads) of making the input ``Cumulants`` (its
checks) and the ``propagate`` call, the resident memory before it and its peak during it (``VmHWM`` after resetting
it through ``/proc/self/clear_refs``; Linux), the largest truncation stated in the exactness
statuses, and writes the returned mean and covariance for the comparison. The machine's load average
is printed: on a shared machine wall times vary with it, CPU times much less. ``--pair-mean``: closure 3 keeps the
mean pair entry of :math:`\kappa^{(4)}` with its diagonal (``pair_mean=True``, docs/theory.md section 9.5), in the
dense baseline too. ``--again``: the process then times the same ``propagate`` once more (column ``again s``): the
difference is what the first call pays for touching memory that the process did not hold yet (page faults; on a
virtual machine with transparent huge pages, compaction stalls that vary from run to run).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from process_cases import activation_layer, cpu_seconds, memory_field, run_case_process  # noqa: E402

WIDTHS = {3: (256, 512, 1024, 2048, 4096), 4: (64, 128, 256, 512, 1024)}
#: Dense baselines (closure: widths); wider ones need more than the default limit.
DENSE = {3: (256, 512), 4: (32, 64)}
ACTIVATIONS = ("quadratic", "cubic")
#: Run with ``--only`` (not by default): ReLU, whose patterns on two neurons are joint vertex functions, one
#: N x N block each (docs/theory.md section 12.2).
OPTIONAL = ("relu",)
INIT_GAIN = 0.7


def run_case(name: str, n: int, closure: int, representation: str, tolerance: float | None, out: str,
             cold: bool = False, input_mean: float = 0.0, pair_mean: bool = False, again: bool = False) -> dict:
    """One case, in this process: its numbers as a dict; mean and covariance saved to ``out``."""
    import warnings

    import numpy as np

    from symcorr import Cumulants, propagate
    from symcorr.networks.modules import mlp

    def network(width: int):
        return mlp([width] * 5, activation_layer(name), init_gain=INIT_GAIN, seed=0)

    def run(model, width: int, mean: float):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return propagate(model, Cumulants(np.full(width, mean), np.eye(width)), order=2, closure=closure,
                             representation=representation, tolerance=tolerance, pair_mean=pair_mean, progress=False)

    if not cold:                  # the generated modules loaded, the imports warm: not part of the case
        run(network(8), 8, 0.0)
    model = network(n)            # torch's initialization of the weights (2.2 s at N = 4096) is not the case's
    before = memory_field("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")          # the peak (VmHWM) starts again from now
    wall, cpu = time.perf_counter(), cpu_seconds()
    try:
        result = run(model, n, input_mean)
    except MemoryError as error:
        return {"status": "MemoryError", "message": str(error)[:300]}
    report = {"status": "ok", "wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu, "before": before,
              "peak": memory_field("VmHWM")}
    sizes = [cause.size for n_ in (1, 2) for cause in result.status(n_).causes
             if cause.size is not None and "dropped" in cause.text]
    report["truncation"] = max(sizes, default=0.0)
    if again:                     # the same call once more: the memory the first one touched is the process's now
        wall = time.perf_counter()
        run(model, n, input_mean)
        report["again"] = time.perf_counter() - wall
    np.savez(out, mean=result.mean, cov=result.cov)
    return report


def _relative(a, b) -> float:
    import numpy as np

    scale = float(np.max(np.abs(b)))
    return float(np.max(np.abs(a - b))) / scale if scale > 0 else float(np.max(np.abs(a)))    # e.g. a zero mean


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--tolerance", type=float, default=0.2,
                        help="largest estimated relative size of the cyclic terms a factored layer may drop")
    parser.add_argument("--dense-limit-gb", type=float, default=8.0,
                        help="address-space limit of the dense baseline's processes (GiB)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per case")
    parser.add_argument("--only", choices=ACTIVATIONS + OPTIONAL, help="run the activation of this name only")
    parser.add_argument("--closure", type=int, choices=(3, 4), help="run this closure only")
    parser.add_argument("--max-n", type=int, default=4096, help="skip wider cases")
    parser.add_argument("--skip-dense", action="store_true", help="no dense baseline")
    parser.add_argument("--cold", action="store_true",
                        help="time the first propagate of the process (module loading and imports included)")
    parser.add_argument("--input-mean", type=float, default=0.0,
                        help="the mean of every input neuron (0: the cubic's odd cumulants vanish at every layer)")
    parser.add_argument("--pair-mean", action="store_true",
                        help="closure 3 keeps the mean pair entry of kappa4 with its diagonal (pair_mean=True)")
    parser.add_argument("--again", action="store_true",
                        help="time a second propagate of the same case in the same process too (column 'again s')")
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(*json.loads(args.case))), flush=True)
        return 0
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; tolerance {args.tolerance}; "
          f"{'cold (module loading timed)' if args.cold else 'warm (module loading not timed)'}; "
          f"input mean {args.input_mean}"
          f"{'; closure 3 keeps the pair mean' if args.pair_mean else ''}",
          flush=True)
    print(f"{'activation':10s} {'K':>2s} {'N':>5s} {'form':8s} {'wall s':>8s} {'CPU s':>8s} {'peak MB':>9s} "
          f"{'above MB':>9s} {'dropped':>8s} {'vs dense':>9s}{' again s' if args.again else ''}  status")
    scratch = Path(tempfile.mkdtemp(prefix="symcorr-factored-"))
    for closure in (3, 4):
        if args.closure and closure != args.closure:
            continue
        for name in [args.only] if args.only else ACTIVATIONS:
            pair_mean = args.pair_mean and closure == 3
            run_case_process(__file__, [name, 8, closure, "factored", args.tolerance, str(scratch / "warmup.npz"),
                                        False, 0.0, pair_mean], None, 3600)
            cases = [(n, "dense") for n in DENSE[closure] if not args.skip_dense]
            cases += [(n, "factored") for n in WIDTHS[closure]]
            for n, form in sorted(cases, key=lambda case: (case[0], case[1] != "dense")):
                if n > args.max_n:
                    continue
                out = scratch / f"{name}-{closure}-{n}-{form}.npz"
                report = run_case_process(__file__, [name, n, closure, form, args.tolerance if form == "factored" else None, str(out),
                                                     args.cold, args.input_mean, pair_mean, args.again],
                                args.dense_limit_gb if form == "dense" else None, args.timeout)
                versus = ""
                dense = scratch / f"{name}-{closure}-{n}-dense.npz"
                if form == "factored" and report["status"] == "ok" and dense.exists():
                    import numpy as np

                    a, b = np.load(out), np.load(dense)
                    versus = f"{max(_relative(a['mean'], b['mean']), _relative(a['cov'], b['cov'])):.1e}"
                if report["status"] == "ok":
                    print(f"{name:10s} {closure:2d} {n:5d} {form:8s} {report['wall']:8.2f} {report['cpu']:8.2f} "
                          f"{report['peak'] / 2**20:9,.0f} {(report['peak'] - report['before']) / 2**20:9,.0f} "
                          f"{report.get('truncation', 0.0):8.1e} {versus:>9s}"
                          f"{format(report['again'], '8.2f') if args.again else ''}  ok", flush=True)
                else:
                    print(f"{name:10s} {closure:2d} {n:5d} {form:8s} {'':8s} {'':8s} {'':9s} {'':9s} {'':8s} "
                          f"{'':9s}  {report['status']} {report.get('message', report.get('stderr', ''))[-160:]!r}",
                          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
