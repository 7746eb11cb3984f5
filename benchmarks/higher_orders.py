r"""Benchmark: higher output orders and sample statistics, new against old, each case in its own process.

    PYTHONPATH=. python benchmarks/higher_orders.py [--old-limit-gb 8] [--skip-old] [--only NAME]

Cases (the issue "higher orders a user can trust"):

* ``pointwise`` of a quadratic :math:`z + 0.5 z^2`, output order 4 from closure 4, at
  N = 64, 128 (non-Gaussian input: rank-3 third and fourth cumulants);
* ``pointwise`` of erf, output order 4 from a Gaussian (closure 2), at N = 32, 64;
* ``pointwise`` of the quadratic, order 3 from closure 3, at N = 256, 512;
* ``from_samples(X, 4)`` on scikit-learn's digits (1797 x 64).

Each case runs in a fresh subprocess, which reports wall and CPU time (all threads), the
resident memory before the call and its peak during the call (``VmHWM`` after resetting it
through ``/proc/self/clear_refs``; Linux), the size of the result and, for kernels, the
``peak_bytes(n)`` the kernel states beforehand. The old implementation runs in the same way
where it fits: the kernels of the branch point (``git show BASE:symcorr/codegen/generated/...``,
called like ``pointwise`` calls them) and its ``symcorr/numeric/kstatistics.py``, under an
address-space limit (``--old-limit-gb``) so that a case that needs more fails with
MemoryError instead of taking the machine's memory. Small sizes of the old kernels are run
for same-run ratios. The machine's load average is printed: on a shared machine wall
times vary with it, CPU times much less.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from process_cases import cpu_seconds, memory_field, run_case_process  # noqa: E402

#: The commit before the tuple kernels and packed k-statistics (the old implementation).
BASE = "d14713d"

CASES = [
    # (name, kind, n, implementation)
    ("quadratic order 4", "quadratic4", 32, "old"),
    ("quadratic order 4", "quadratic4", 32, "new"),
    ("quadratic order 4", "quadratic4", 64, "old"),
    ("quadratic order 4", "quadratic4", 64, "new"),
    ("quadratic order 4", "quadratic4", 128, "new"),
    ("erf order 4", "erf4", 16, "old"),
    ("erf order 4", "erf4", 16, "new"),
    ("erf order 4", "erf4", 32, "old"),
    ("erf order 4", "erf4", 32, "new"),
    ("erf order 4", "erf4", 64, "new"),
    ("quadratic order 3", "quadratic3", 256, "old"),
    ("quadratic order 3", "quadratic3", 256, "new"),
    ("quadratic order 3", "quadratic3", 512, "old"),
    ("quadratic order 3", "quadratic3", 512, "new"),
    ("from_samples digits", "samples", 64, "old"),
    ("from_samples digits", "samples", 64, "new"),
]
KERNELS = {"quadratic4": ("quadratic_order4_closure4", 4, 4), "erf4": ("erf_order4_closure2", 4, 2),
           "quadratic3": ("quadratic_order3_closure3", 3, 3)}


def _old_module(path: str, name: str):
    """The file ``path`` as it was at :data:`BASE`, executed as a module."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{BASE}:{path}"], check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType(name)
    exec(compile(source, f"{BASE}:{path}", "exec"), module.__dict__)
    return module


def _low_rank(n: int, order: int, rank: int = 3, scale: float = 0.05):
    """A symmetric tensor sum_r w_r v_r^(x order), built slab by slab (no temporary of its size)."""
    import numpy as np

    rng = np.random.default_rng(order)
    v, w = rng.normal(size=(rank, n)) / np.sqrt(n) * 2, scale * rng.uniform(0.5, 1.5, size=rank)
    out = np.empty((n,) * order)
    letters = "jklm"[:order - 1]
    subscripts = ",".join(["r", *("r" + c for c in letters)]) + "->" + letters
    for i in range(n):
        out[i] = np.einsum(subscripts, w * v[:, i], *([v] * (order - 1)))
    return out


def _inputs(kind: str, n: int):
    import numpy as np

    from symcorr import Cumulants

    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, n)) / np.sqrt(n)
    mean, cov = 0.3 * rng.normal(size=n), 0.5 * (a @ a.T) + 0.1 * np.eye(n)
    closure = KERNELS[kind][2]
    return Cumulants(mean, cov, *(_low_rank(n, r) for r in range(3, closure + 1)), check=False)


def run_case(kind: str, n: int, implementation: str) -> dict:
    """One case, in this process: its numbers as a dict."""
    import numpy as np

    report = {}
    if kind == "samples":
        from sklearn.datasets import load_digits

        X = load_digits().data.astype(np.float64)
        if implementation == "old":
            old = _old_module("symcorr/numeric/kstatistics.py", "old_kstatistics")
            task = lambda: old.from_samples(X, 4)                                    # noqa: E731
        else:
            from symcorr.numeric.kstatistics import from_samples

            task = lambda: from_samples(X, 4, progress=False)                        # noqa: E731
    else:
        name, order, closure = KERNELS[kind]
        inputs = _inputs(kind, n)
        if implementation == "old":
            kernel = _old_module(f"symcorr/codegen/generated/{name}.py", f"old_{name}")
            kappa = tuple(inputs.kappa(r) for r in range(1, closure + 1))
            parameters = [0.5] * len(kernel.PARAMETERS)
            task = lambda: [cumulant(kappa, *parameters) for cumulant in kernel.CUMULANTS]  # noqa: E731
        else:
            import importlib

            from symcorr import pointwise
            from symcorr.derivation import activations

            kernel = importlib.import_module(f"symcorr.codegen.generated.{name}")
            report["stated"] = kernel.peak_bytes(n)
            activation = activations.erf() if kind == "erf4" else activations.quadratic(0.5)
            task = lambda: pointwise(inputs, activation, order=order, closure=closure)   # noqa: E731
    before = memory_field("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")          # the peak (VmHWM) starts again from now
    wall, cpu = time.perf_counter(), cpu_seconds()
    try:
        result = task()
    except MemoryError:
        report["status"] = "MemoryError"
        return report
    report.update(status="ok", wall=time.perf_counter() - wall, cpu=cpu_seconds() - cpu, before=before,
                  peak=memory_field("VmHWM"))
    tensors = result.held if hasattr(result, "held") else result    # as held: a kept diagonal stays factored
    report["result"] = sum(t.nbytes for t in tensors)
    if hasattr(result, "stderr"):
        report["result"] += sum(np.asarray(t).nbytes for t in result.stderr)
    return report


def _megabytes(value) -> str:
    return "" if value is None else f"{value / 2**20:,.0f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--old-limit-gb", type=float, default=8.0,
                        help="address-space limit of the old implementation's processes (GiB)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per case")
    parser.add_argument("--skip-old", action="store_true", help="run the new implementation only")
    parser.add_argument("--only", help="run the cases whose name contains this")
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(*json.loads(args.case))), flush=True)
        return 0
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    header = (f"{'case':22s} {'N':>4s} {'impl':4s} {'wall s':>8s} {'CPU s':>8s} {'peak MB':>9s} "
              f"{'above MB':>9s} {'result MB':>10s} {'stated MB':>10s} {'above/result':>12s}  status")
    print(header)
    print("-" * len(header))
    rows = []
    for name, kind, n, implementation in CASES:
        if (args.skip_old and implementation == "old") or (args.only and args.only not in name):
            continue
        limit = args.old_limit_gb if implementation == "old" else None
        report = run_case_process(__file__, [kind, n, implementation], limit, args.timeout)
        rows.append((name, n, implementation, report))
        above = report["peak"] - report["before"] if "peak" in report else None
        ratio = f"{above / report['result']:.2f}" if above is not None and report.get("result") else ""
        status = report["status"] if report["status"] != "MemoryError" or not limit else \
            f"MemoryError under a {limit:g} GiB limit"
        print(f"{name:22s} {n:4d} {implementation:4s} {report.get('wall', float('nan')):8.2f} "
              f"{report.get('cpu', float('nan')):8.2f} {_megabytes(report.get('peak')):>9s} "
              f"{_megabytes(above):>9s} {_megabytes(report.get('result')):>10s} "
              f"{_megabytes(report.get('stated')):>10s} {ratio:>12s}  {status}", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print("\nsame-run ratios old/new (wall, CPU):")
    by_key = {(name, n, implementation): report for name, n, implementation, report in rows}
    for (name, n, implementation), old in by_key.items():
        new = by_key.get((name, n, "new"))
        if implementation == "old" and new and old.get("status") == new.get("status") == "ok":
            print(f"  {name} N={n}: {old['wall'] / new['wall']:.1f}x wall, {old['cpu'] / new['cpu']:.1f}x CPU, "
                  f"peak above baseline {(old['peak'] - old['before']) / max(1, new['peak'] - new['before']):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
