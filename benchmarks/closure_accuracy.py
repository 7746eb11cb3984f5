r"""Benchmark: how accurate closures 2, 3, 4 are against Monte Carlo, and what that accuracy would cost by sampling.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/closure_accuracy.py [--quick] [--out FILE]
        [--timeout 45] [--mc-timeout 900] [--samples-scale 1.0] [--only quadratic] [--depths 2 3] [--widths 64 128]
        [--tolerance 0.2] [--gain 0.7]

Cases (issue 14, "accuracy that pays for it"): depth-D networks ``mlp([N] * (D + 2))`` (D pointwise
layers of width N between D + 1 linear layers, weights :math:`N(0, 0.7^2/N)`, no bias, seed 0) of a
standard Gaussian input :math:`x \sim N(0, I_N)`, activations the quadratic :math:`z + z^2`, the cubic
:math:`z + z^3` and :math:`\operatorname{erf}(z)` (``--only relu``: ReLU), widths N = 64 .. 1024, depths D = 2, 3,
4. Each network's
output mean :math:`m_K` and covariance :math:`C_K` from
``propagate(model, inputs, order=2, closure=K)`` for K = 2, 3, 4, and for K = 3 with ``pair_mean=True`` (the mean
pair entry of :math:`\kappa^{(4)}` kept with its diagonal, docs/theory.md section 9.5), are compared with a Monte
Carlo estimate
(``monte_carlo``, ``S`` samples, seed 1, batch-means standard errors from 64 groups):

* relative errors :math:`\lVert m_K - m_\mathrm{MC}\rVert / \lVert m_\mathrm{MC}\rVert` and
  :math:`\lVert C_K - C_\mathrm{MC}\rVert_F / \lVert C_\mathrm{MC}\rVert_F`, next to the Monte Carlo noise floor
  of that comparison, :math:`\sqrt{\sum \mathrm{se}^2} / \lVert\cdot\rVert` (the expected size of the Monte Carlo
  error itself). An error below ``RESOLVED`` (2) times the floor is not resolved: shown as ``<2fl``, never as a
  number (the measured error then says as much about the sampling as about the closure);
* the ratio of the closure-2 covariance error to closure K's (how much K = 3, 4 improve; a bound ``>r`` when
  closure K is not resolved);
* the Monte Carlo time for the same accuracy as each closure, an *extrapolation*: the relative standard error
  scales like :math:`1/\sqrt{S}`, so the samples needed are :math:`S^* = S\,(\mathrm{floor}/\mathrm{err})^2`
  and the time :math:`S^*` times the time per sample measured in this run (a lower bound ``>=`` when the
  closure's error is not resolved: :math:`S^* \ge S/4`), next to the closure's own ``propagate`` time.

Representation: dense where it fits (closure 2 always; closure 3 to N = 256, closure 4 to N = 64), else
``representation='factored'`` with ``tolerance`` (the largest estimated size of the dropped cyclic terms, from the
result's exactness status, is shown: docs/theory.md section 12.3). erf's first layer, of a Gaussian, is then
dense (exact joint moments) where those fit the memory budget, else the Price series of the closure asked for, its
input's orders 3..4 entering as zeros; its status states the truncation, :math:`r^{S+1}`, shown like the dropped
terms. Its later layers are factored with erf's vertex functions (docs/theory.md section 12.2). A refusal is shown
(the call is made and its error message kept). Every closure runs in a
forked process with a time limit (``--timeout``; over it the row says so) after an untimed warm-up of the same
kernels in the parent; once a closure times out at width N, its wider cases of the same activation, depth and representation
are listed as skipped for that reason. Monte Carlo runs the same way (``--mc-timeout``).

Threads: torch and BLAS run on one thread (``torch.set_num_threads(1)``, ``threads=1`` for Monte Carlo; set
``OMP_NUM_THREADS=1`` in the environment too), so the times are single-core times. The markdown table is
printed and written to ``--out``. ``--quick``: N = 64, D = 2, 2^14 samples (a smoke run, well under a minute).
"""
from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ACTIVATIONS = ("quadratic", "cubic", "erf")
#: Run with ``--only`` (not by default): ReLU, whose patterns on two neurons are joint vertex functions and on
#: three or more the Price series (docs/theory.md sections 11.3, 12.2).
OPTIONAL = ("relu",)
WIDTHS = (64, 128, 256, 512, 1024)
DEPTHS = (2, 3, 4)
#: The cases of each network: (closure, pair_mean); closure 3 with and without the pair mean of kappa4
#: (docs/theory.md section 9.5).
CASES = ((2, False), (3, False), (3, True), (4, False))
#: The widest dense case of each closure (wider: factored, or refused for erf).
DENSE_UP_TO = {2: 1 << 30, 3: 256, 4: 64}
#: Monte Carlo samples by width (halved per doubling above 128: the cost per sample grows like N^2).
SAMPLES = {64: 1 << 20, 128: 1 << 20, 256: 1 << 19, 512: 1 << 18, 1024: 1 << 18}
#: Odd activations: with a symmetric input the output mean is 0 (its relative error is pure noise).
ODD = ("cubic", "erf")
INIT_GAIN = 0.7
TOLERANCE = 0.2
#: An error is resolved when it exceeds this many noise floors.
RESOLVED = 2.0


def network(name: str, width: int, depth: int, seed: int = 0):
    """The depth-``depth`` network of activation ``name`` and width ``width`` (module docstring)."""
    from process_cases import activation_layer

    from symcorr.networks.modules import mlp

    return mlp([width] * (depth + 2), activation_layer(name), init_gain=INIT_GAIN, seed=seed)


def _inputs(width: int):
    from symcorr import Cumulants

    return Cumulants(np.zeros(width), np.eye(width))


def representation(name: str, width: int, closure: int) -> tuple[str, float | None]:
    """The representation (and tolerance) this benchmark uses for ``closure`` at ``width``."""
    if width <= DENSE_UP_TO[closure]:
        return "dense", None
    return "factored", TOLERANCE


def case_label(closure: int, pair_mean: bool) -> str:
    return f"{closure} + pair mean" if pair_mean else str(closure)


def run_closure(name: str, width: int, depth: int, closure: int, pair_mean: bool = False) -> dict:
    """``propagate`` of one network with one closure (at closure 3 with or without ``pair_mean``), in this process:
    mean, covariance, time, truncation."""
    from symcorr import propagate

    model, inputs = network(name, width, depth), _inputs(width)
    form, tolerance = representation(name, width, closure)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = propagate(model, inputs, order=2, closure=closure, representation=form, tolerance=tolerance,
                               pair_mean=pair_mean, progress=False)
    except (ValueError, MemoryError) as error:  # refusals (memory budget, too many networks) name their reason
        return {"status": f"refused: {type(error).__name__}: {error}", "form": form, "tolerance": tolerance}
    seconds = time.perf_counter() - start
    sizes = [cause.size for order in (1, 2) for cause in result.status(order).causes if cause.size is not None]
    return {"status": "ok", "form": form, "tolerance": tolerance, "seconds": seconds, "mean": result.mean,
            "cov": result.cov, "dropped": max(sizes, default=None)}


def run_monte_carlo(name: str, width: int, depth: int, samples: int) -> dict:
    """Monte Carlo estimate of the output mean and covariance with their standard errors, one thread."""
    from symcorr.networks.montecarlo import monte_carlo
    from symcorr.networks.propagation import layers

    model = network(name, width, depth)
    orders = [0] * (len(layers(model)) - 1) + [2]          # only the output is estimated
    result = monte_carlo(model, _inputs(width), samples, order=orders, seed=1, threads=1, progress=False)
    out = result.output
    return {"status": "ok", "seconds": result.seconds, "samples": result.n_samples, "mean": out.kappa(1),
            "cov": out.kappa(2), "se_mean": out.stderr[0], "se_cov": out.stderr[1]}


def _forked(timeout: float, function, *arguments) -> dict:
    """``function(*arguments)`` in a forked child (it inherits the warmed-up kernels), killed after ``timeout`` s."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)

    def child():
        try:
            sender.send(function(*arguments))
        except BaseException as error:  # noqa: BLE001 -- the parent reports whatever ended the case
            sender.send({"status": f"failed: {type(error).__name__}: {error}"})

    process = context.Process(target=child, daemon=True)
    process.start()
    sender.close()
    try:
        if receiver.poll(timeout):
            report = receiver.recv()
        else:
            report = {"status": f"over the {timeout:.0f} s time limit"}
    except EOFError:
        report = {"status": f"failed: the process ended (exit code {process.exitcode}; out of memory?)"}
    if process.is_alive():
        process.kill()
    process.join()
    receiver.close()
    return report


def _warm_up(names) -> None:
    """Derive or load every kernel the cases use (width 8, depth 2, untimed; the kernels depend on the activation,
    closure and representation, not on the depth), so the children time the arithmetic only."""
    from symcorr import propagate

    for name in names:
        for closure, pair_mean in CASES:
            run_closure(name, 8, 2, closure, pair_mean)
            if closure >= 3:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        propagate(network(name, 8, 2), _inputs(8), order=2, closure=closure,
                                  representation="factored", tolerance=TOLERANCE, pair_mean=pair_mean, progress=False)
                    except ValueError:      # refused (ReLU's pair mean): the case shows the refusal
                        pass


def relative_error(estimate, reference, se) -> tuple[float, float]:
    """Relative error of ``estimate`` against the Monte Carlo ``reference`` and the noise floor of that comparison."""
    norm = float(np.linalg.norm(reference))
    return float(np.linalg.norm(estimate - reference)) / norm, float(np.sqrt(np.sum(se**2))) / norm


def resolved(error: float, floor: float) -> bool:
    """Whether a measured error exceeds the Monte Carlo noise (``RESOLVED`` floors)."""
    return error > RESOLVED * floor


def format_error(error: float, floor: float) -> str:
    """The error as a number when resolved, else ``<2fl`` (below twice the floor)."""
    return f"{error:.2e}" if resolved(error, floor) else f"<{RESOLVED:g}fl"


def improvement(error2: float, error: float, floor: float) -> str:
    """The ratio closure-2 error / closure-K error, a bound when either is not resolved."""
    if not resolved(error2, floor):
        return "n/r"
    if not resolved(error, floor):
        return f">{error2 / (RESOLVED * floor):.1f}"
    return f"{error2 / error:.1f}"


def equal_accuracy_time(error: float, floor: float, samples: int, per_sample: float) -> str:
    r"""Monte Carlo time to reach ``error`` (extrapolated: :math:`S^* = S (\mathrm{floor}/\mathrm{err})^2`)."""
    if not resolved(error, floor):
        return f">={samples / RESOLVED**2 * per_sample:.3g}"
    return f"{samples * (floor / error) ** 2 * per_sample:.3g}"


HEADER = ("| act | D | N | MC S | MC us/sample | K | representation | propagate s | err mean | floor mean "
          "| err cov | floor cov | cov err K=2 / K | MC s for same cov err (extrap.) | note |")


def rows_for_network(name, width, depth, monte, closures) -> list[str]:
    """The table rows of one network: one per case (:data:`CASES`)."""
    rows = []
    base = f"| {name} | {depth} | {width} "
    if monte["status"] != "ok":
        return [base + f"| - | - | all | - | - | - | - | - | - | - | - | Monte Carlo {monte['status']} |"]
    per_sample = monte["seconds"] / monte["samples"]
    base += f"| 2^{round(math.log2(monte['samples']))} | {per_sample * 1e6:.1f} "
    cov_error2 = None
    for closure, pair_mean in CASES:
        report = closures[closure, pair_mean]
        label = case_label(closure, pair_mean)
        form = report.get("form", "-")
        if form == "factored":
            form = f"factored tol {report['tolerance']:g}"
        if report["status"] != "ok":
            rows.append(base + f"| {label} | {form} | - | - | - | - | - | - | - | {report['status'][:160]} |")
            continue
        if report.get("dropped") is not None:
            form += f", truncation ~{report['dropped']:.1e}"
        mean_error, mean_floor = relative_error(report["mean"], monte["mean"], monte["se_mean"])
        cov_error, cov_floor = relative_error(report["cov"], monte["cov"], monte["se_cov"])
        if closure == 2:
            cov_error2 = cov_error
        ratio = "-" if closure == 2 or cov_error2 is None else improvement(cov_error2, cov_error, cov_floor)
        note = "odd network, symmetric input: mean 0" if name in ODD else ""
        rows.append(base + f"| {label} | {form} | {report['seconds']:.3g} | {format_error(mean_error, mean_floor)} "
                    f"| {mean_floor:.1e} | {format_error(cov_error, cov_floor)} | {cov_floor:.1e} | {ratio} "
                    f"| {equal_accuracy_time(cov_error, cov_floor, monte['samples'], per_sample)} | {note} |")
    return rows


def main(argv=None) -> int:
    global INIT_GAIN, TOLERANCE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: N = 64, D = 2, 2^14 samples")
    parser.add_argument("--out", help="also write the markdown table to this file")
    parser.add_argument("--timeout", type=float, help="seconds per closure case (default 45, --quick 20)")
    parser.add_argument("--mc-timeout", type=float, default=900.0, help="seconds per Monte Carlo run")
    parser.add_argument("--samples-scale", type=float, default=1.0, help="multiply the Monte Carlo sample counts")
    parser.add_argument("--only", choices=ACTIVATIONS + OPTIONAL, help="run this activation only")
    parser.add_argument("--widths", type=int, nargs="+", help="run these widths only")
    parser.add_argument("--depths", type=int, nargs="+", help="run these depths only")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE,
                        help="of the factored layers: the largest estimated size of the cyclic terms they may drop")
    parser.add_argument("--gain", type=float, default=INIT_GAIN,
                        help="weights N(0, gain^2/N) (the cubic's variance explodes with depth at 0.7; 0.5 keeps it)")
    args = parser.parse_args(argv)
    INIT_GAIN = args.gain                    # read by network() here and in the forked cases
    TOLERANCE = args.tolerance               # read by representation() here and in the forked cases

    import torch

    torch.set_num_threads(1)
    names = [args.only] if args.only else list(ACTIVATIONS)
    depths = [2] if args.quick else (args.depths or list(DEPTHS))
    widths = [64] if args.quick else (args.widths or list(WIDTHS))
    timeout = args.timeout or (20.0 if args.quick else 45.0)
    samples = {n: (1 << 14) if args.quick else int(SAMPLES.get(n, 1 << 18) * args.samples_scale) for n in widths}

    header = [
        f"# Closure accuracy against Monte Carlo ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        (f"Networks mlp([N] * (D + 2)), weights N(0, {INIT_GAIN}^2/N), no bias, seed 0; input N(0, I_N); "
         f"Monte Carlo seed 1, 64 batch-means groups. One thread (torch.set_num_threads(1), Monte Carlo threads=1, "
         f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}); load average at start "
         f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores. Closure time limit {timeout:g} s."),
        f"Monte Carlo samples by width: {', '.join(f'N={n}: 2^{round(math.log2(s))}' for n, s in samples.items())}.",
        (f"'<{RESOLVED:g}fl': the error is below {RESOLVED:g}x the Monte Carlo noise floor (not resolved: it could be "
         "the sampling's). 'MC s for same cov err' is an extrapolation S* = S (floor/err)^2 times the measured time "
         "per sample ('>=' when the closure's error is not resolved). 'truncation': the largest estimated relative "
         "size the result's exactness status states: of the cyclic terms a factored layer dropped, or of a Price "
         "series (r^(S+1): erf's first layer above the budget, ReLU's patterns on three neurons)."),
        "",
        HEADER,
        "|" + "---|" * (HEADER.count("|") - 1),
    ]
    print("\n".join(header), flush=True)
    lines = list(header)
    _warm_up(names)
    started = time.perf_counter()
    for name in names:
        for depth in depths:
            timed_out = {}
            for width in widths:
                monte = _forked(args.mc_timeout, run_monte_carlo, name, width, depth, samples[width])
                closures = {}
                for case in CASES:
                    closure = case[0]
                    form, tolerance = representation(name, width, closure)
                    if (case, form) in timed_out:
                        closures[case] = {"status": f"skipped: {form} was over the time limit at "
                                                    f"N = {timed_out[case, form]}",
                                          "form": form, "tolerance": tolerance}
                        continue
                    closures[case] = {"form": form, "tolerance": tolerance,
                                      **_forked(timeout, run_closure, name, width, depth, *case)}
                    if closures[case]["status"].startswith("over"):
                        timed_out[case, form] = width
                for row in rows_for_network(name, width, depth, monte, closures):
                    print(row, flush=True)
                    lines.append(row)
    footer = f"\nTotal time {time.perf_counter() - started:.0f} s (after the warm-up)."
    print(footer)
    lines.append(footer)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
