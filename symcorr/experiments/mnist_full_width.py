r"""The paper's MNIST analysis at full width: the first layer from the data's own cumulants up to order 4.

``symcorr reproduce mnist --full-width [--data fashion] [--hidden 128,64] ...``

The paper says the input layer extracts the data's higher-order statistics,
but an order-4 input tensor of 784 pixels is 3 TB. Here every class's
training images are fed to :func:`symcorr.propagate` as data
(``propagate(model, data=X_c, order=2, closure=K)``, :mod:`symcorr.networks.data_in`):
the pixels are pushed through the first ``Linear(784, H)`` and the
cumulants of the first pre-activation are formed from the samples, orders 3
and 4 only as the two-label slices the first nonlinearity's mean and
covariance read (:class:`~symcorr.numeric.data_cumulants.DataCumulants`,
:math:`O(P H^2)` each). For the quadratic :math:`\phi(z) = z + \alpha z^2` the
first activation's class mean and covariance are then exact transfers of the
data's unbiased k-statistics at closure 4 (status ``estimated``), against the
Gaussian approximation at closure 2 (status ``approximate``: the data's orders
3..4 dropped).

Measured per closure, over the classes: wall time and peak NumPy memory
(tracemalloc) of the first layer, and the relative Frobenius error of the
first activation's class covariance (and mean) against the real network (the
same images pushed through the trained model, ``numpy.cov``); for every layer
the status of orders 1..2 (:meth:`symcorr.networks.propagation.Trace.table`)
and the errors of the whole propagation against the real network.
"""
from __future__ import annotations

import sys
import time
import tracemalloc
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from symcorr.arguments import SEED, CommandParser, integer, integer_list, real
from symcorr.experiments.reporting import (
    jsonable,
    markdown_table,
    text_table,
    write_json,
)
from symcorr.experiments.training import layer_names, progress, train_classifier


@dataclass
class FullWidthConfig:
    """One run: data set, network (``784 -> hidden -> classes``, quadratic ``alpha``), training, closures."""

    data: str = "fashion"
    hidden: tuple[int, ...] = (128, 64)
    alpha: float = 0.1
    epochs: int = 3
    batch_size: int = 128
    lr: float = 1e-3
    n_train: int | None = None
    seed: int = 0
    closures: tuple[int, ...] = (2, 4)
    groups: int = 16
    threads: int | None = 2


def _relative(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _layer_outputs(model, X) -> list[np.ndarray]:
    """The real network: every layer's output on ``X`` (float64)."""
    import torch

    outputs, x = [], torch.as_tensor(X)
    with torch.no_grad():
        for module in model:
            x = module(x)
            outputs.append(x.reshape(x.shape[0], -1).numpy())
    return outputs


def status_table(model, n_samples: int, closure: int) -> str:
    """Per layer, the statuses of orders 1..2 that ``propagate(model, data=..., order=2, closure=closure)`` attaches
    (:func:`symcorr.networks.exactness.status_walk` on the data's statuses; no tensor is formed)."""
    from symcorr.networks.exactness import status_walk
    from symcorr.networks.propagation import layer_label, layers
    from symcorr.numeric.exactness import estimated_profile

    walk = status_walk(model, estimated_profile(min(closure + closure % 2, 4), n_samples), 2, closure)
    labels = [layer_label(name, module) for name, module in layers(model)]
    width = max(map(len, labels))
    return "\n".join(f"{label:<{width}}  {profile.summary(2)}" for label, profile in zip(labels, walk))


def analyse(model, X, y, config: FullWidthConfig) -> dict:
    """The measurements of the module docstring for a trained ``model`` on preprocessed rows ``X``, labels ``y``."""
    from symcorr.networks.propagation import propagate
    from symcorr.numeric.budget import MemoryBudgetError, format_bytes

    classes = np.unique(y)
    first = {K: {"seconds": [], "peak_bytes": [], "cov": [], "mean": [], "status": None} for K in config.closures}
    layers = {K: {"cov": [], "mean": [], "refused": None} for K in config.closures}
    for c in classes:
        rows = X[y == c]
        real = _layer_outputs(model, rows)
        real_stats = [(o.mean(axis=0), np.cov(o, rowvar=False)) for o in real]
        for K in config.closures:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tracemalloc.start()
                start = time.perf_counter()
                hidden = propagate(model[:2], data=rows, order=2, closure=K, groups=config.groups)
                seconds = time.perf_counter() - start
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                try:
                    trace = propagate(model, data=rows, order=2, closure=K, trace=True, groups=config.groups)
                except MemoryBudgetError as error:
                    trace = None
                    layers[K]["refused"] = f"refused before allocating: {format_bytes(error.needed)} estimated"
            record = first[K]
            record["seconds"].append(seconds)
            record["peak_bytes"].append(peak)
            record["mean"].append(_relative(hidden.mean, real_stats[1][0]))
            record["cov"].append(_relative(hidden.cov, real_stats[1][1]))
            record["status"] = [hidden.status(n).kind for n in (1, 2)]
            if trace is not None:
                layers[K]["mean"].append([_relative(e.mean, m) for e, (m, _) in zip(trace, real_stats)])
                layers[K]["cov"].append([_relative(e.cov, s) for e, (_, s) in zip(trace, real_stats)])
        progress(f"[mnist full width] class {c}: " + ", ".join(
            f"closure {K}: cov error {first[K]['cov'][-1]:.2e} ({first[K]['seconds'][-1]:.2f}s)" for K in config.closures))
    return {
        "first_layer": {str(K): {"seconds_mean": float(np.mean(r["seconds"])), "seconds_max": float(np.max(r["seconds"])),
                                 "peak_mib_max": float(np.max(r["peak_bytes"]) / 2**20),
                                 "cov_error_mean": float(np.mean(r["cov"])), "cov_error_max": float(np.max(r["cov"])),
                                 "mean_error_mean": float(np.mean(r["mean"])), "status": r["status"]}
                        for K, r in first.items()},
        "layers": {str(K): {"cov_error_mean": np.mean(v["cov"], axis=0).tolist() if v["cov"] else None,
                            "mean_error_mean": np.mean(v["mean"], axis=0).tolist() if v["mean"] else None,
                            "refused": v["refused"]} for K, v in layers.items()},
        "status_tables": {str(K): status_table(model, int(np.min(np.bincount(y))), K) for K in config.closures},
        "layer_names": layer_names(model),
        "samples_per_class": [int(np.sum(y == c)) for c in classes],
    }


def run(config: FullWidthConfig, dataset=None) -> dict:
    """Load, train a quadratic MLP, :func:`analyse`; returns the results (JSON-serialisable)."""
    from symcorr.experiments.datasets import load_dataset
    from symcorr.experiments.mnist import make_activation
    from symcorr.experiments.mnist_data import Preprocessing
    from symcorr.networks.modules import mlp
    from symcorr.networks.montecarlo import torch_threads

    with torch_threads(config.threads):
        start = time.perf_counter()
        dataset = dataset if dataset is not None else load_dataset(config.data)
        dataset = dataset.subset(config.n_train, None, seed=config.seed)
        prep = Preprocessing.fit(dataset.X_train)
        X, y = prep(dataset.X_train), dataset.y_train
        model = mlp([dataset.dim, *config.hidden, dataset.n_classes], make_activation("quadratic", config.alpha),
                    seed=config.seed)
        progress(f"[mnist full width] {dataset!r}: training {' -> '.join(layer_names(model)[1:])}")
        history = train_classifier(model, X, y, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
                                   seed=config.seed, label="mnist full width")
        results = {"config": asdict(config), "dataset": {"name": dataset.name, "dim": dataset.dim,
                                                         "n_train": int(len(y))},
                   "training": history, **analyse(model, X, y, config)}
        results["runtime_seconds"] = time.perf_counter() - start
    return jsonable(results)


def summary_rows(results: dict) -> list[list[str]]:
    rows = []
    for K, r in results["first_layer"].items():
        rows.append([K, "/".join(r["status"]), f"{r['cov_error_mean']:.2e}", f"{r['cov_error_max']:.2e}",
                     f"{r['mean_error_mean']:.2e}", f"{r['seconds_mean']:.2f}", f"{r['peak_mib_max']:.0f}"])
    return rows


SUMMARY_HEADER = ["closure", "status mean/cov", "cov error (mean over classes)", "cov error (worst class)",
                  "mean error", "seconds per class", "peak MiB (NumPy)"]


def markdown_report(results: dict) -> str:
    dim, hidden = results["dataset"]["dim"], results["config"]["hidden"]
    lines = [f"# First layer at full width: {results['dataset']['name']}, {dim} -> {hidden[0]}", "",
             f"Quadratic network {' -> '.join(results['layer_names'][1:])}, {results['dataset']['n_train']} training "
             f"images; per class, `propagate(model[:2], data=X_c, order=2, closure=K)` against the real network "
             "(relative Frobenius error of the first activation's class covariance).", ""]
    lines += markdown_table(SUMMARY_HEADER, summary_rows(results))
    lines += ["", "## Which orders are exact at each layer (whole network, order=2)", ""]
    for K, table in results["status_tables"].items():
        lines += [f"closure {K}:", "", "```", table, "```", ""]
    lines += ["## Whole-network errors per layer (mean over classes)", ""]
    done = {K: v for K, v in results["layers"].items() if v["cov_error_mean"] is not None}
    header = ["layer"] + [f"closure {K} cov" for K in done] + [f"closure {K} mean" for K in done]
    rows = [[name] + [f"{v['cov_error_mean'][l]:.2e}" for v in done.values()]
            + [f"{v['mean_error_mean'][l]:.2e}" for v in done.values()]
            for l, name in enumerate(results["layer_names"][1:])]
    lines += markdown_table(header, rows)
    lines += [f"closure {K}, whole network: {v['refused']}" for K, v in results["layers"].items() if v["refused"]]
    lines += ["", f"Runtime {results['runtime_seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """``symcorr reproduce mnist --full-width [--data D] [--hidden H1,H2] [--epochs E] [--n-train N] [--out DIR]``."""
    parser = CommandParser(prog="symcorr reproduce mnist --full-width", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="fashion", help="'fashion' (default), 'digits' or a folder of IDX files")
    parser.add_argument("--hidden", type=integer_list(1, example="128,64"), default=(128, 64),
                        help="hidden widths (the first is the full-width layer)")
    parser.add_argument("--alpha", type=real(), default=FullWidthConfig.alpha, help="phi(z) = z + alpha z^2")
    parser.add_argument("--epochs", type=integer(1, note="0 would analyse an untrained network"),
                        default=FullWidthConfig.epochs)
    parser.add_argument("--n-train", type=integer(1), default=None, help="stratified subset of the training set")
    parser.add_argument("--closures", type=integer_list(2, example="2,4"), default=(2, 4),
                        help="closures compared at the first nonlinearity (each 2..4)")
    parser.add_argument("--seed", type=SEED, default=0)
    parser.add_argument("--threads", type=integer(1), default=2)
    parser.add_argument("--out", default=None, help="output folder (default reports/mnist-full-width-<data>)")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if max(args.closures) > 4:
        parser.error(f"argument --closures: the data's cumulants are estimated up to order 4, got {args.closures}")
    config = FullWidthConfig(data=args.data, hidden=tuple(args.hidden), alpha=args.alpha, epochs=args.epochs,
                             n_train=args.n_train, seed=args.seed, threads=args.threads, closures=tuple(args.closures))
    results = run(config)
    print("\n".join(text_table(SUMMARY_HEADER, summary_rows(results))))
    for K, table in results["status_tables"].items():
        print(f"\nstatus per layer, closure {K}:\n{table}")
    out = Path(args.out) if args.out else Path("reports") / f"mnist-full-width-{results['dataset']['name']}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(markdown_report(results))
    write_json(out / "results.json", results)
    print(f"\nreport: {out / 'report.md'}")
    return 0


__all__ = ["FullWidthConfig", "run", "analyse", "main", "markdown_report"]
