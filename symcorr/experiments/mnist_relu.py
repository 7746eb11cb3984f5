r"""A ReLU network trained the usual way, propagated from its data's statistics.

``symcorr reproduce mnist-relu --data digits|fashion|DIR``. The network is the
practitioner's MLP ``Linear -> nn.ReLU -> Linear -> nn.ReLU -> Linear``
(hidden widths 128 and 64: 784-128-64-10 on Fashion-MNIST or MNIST, 64-128-64-10
on scikit-learn's digits), torch's default initialisation, Adam on
cross-entropy with a fixed seed, in float64, on the inputs preprocessed as in
:mod:`symcorr.experiments.mnist` (:math:`x' = (x - \bar x)/s`).

For every class :math:`c` the input mean and covariance of the class's
training rows are propagated through the trained network with
``propagate(model, ..., order=2, trace=True)`` (the Gaussian closure of the
paper: every ReLU layer sees a Gaussian with the propagated mean and
covariance) and compared, layer by layer, with

* **data**: the real training rows of class :math:`c` pushed through the
  network (k-statistics over every row,
  :func:`symcorr.networks.montecarlo.monte_carlo`). The error measures what the
  Gaussian picture of the data costs: the data's higher cumulants entering at
  the first ReLU and the closure at every later one;
* **surrogate**: samples of the Gaussian :math:`N(\mu_c, \Sigma_c)` with the
  same input statistics pushed through the network. Up to and including the
  first ReLU the propagation is exact for this input (the ReLU's Gaussian
  mean and covariance are closed forms), so there the error is sampling
  noise only and :math:`\max|z|` is reported (tested against the Bonferroni
  bound in ``tests/experiments``); behind it the error is the closure's.

For each layer the table gives the relative errors
:math:`\lVert\mu_\mathrm{prop} - \mu_\mathrm{emp}\rVert / \lVert\mu_\mathrm{emp}\rVert`
and :math:`\lVert\Sigma_\mathrm{prop} - \Sigma_\mathrm{emp}\rVert_F / \lVert\Sigma_\mathrm{emp}\rVert_F`
averaged (and maximised) over the classes, with the sampling-noise floor
:math:`\lVert\mathrm{se}\rVert / \lVert E\rVert` of the surrogate's estimates (the data's
statistics are those of the very rows whose input statistics start the
propagation, so the data columns carry no sampling noise: at the first
linear layer they agree to rounding).

Hook for the MNIST report: :func:`run` returns a JSON-able dict and
:func:`markdown_section` the Markdown section for it.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from symcorr.arguments import SEED, CommandParser, integer
from symcorr.experiments.class_statistics import max_abs_z, relative_error
from symcorr.experiments.mnist_data import Preprocessing, input_statistics
from symcorr.experiments.reporting import markdown_table, text_table, write_json
from symcorr.experiments.training import accuracy, progress, train_classifier
from symcorr.networks.montecarlo import torch_threads
from symcorr.numeric.exactness import ApproximationWarning


@dataclass
class ReluMnistConfig:
    """One run: data set, hidden widths, training (``epochs=None``: 40 for digits, 8 otherwise), the
    training rows used (``n_train``, ``None``: all), surrogate samples per class and their batch-means
    groups (the standard errors of the surrogate's estimates)."""

    data: str = "digits"
    hidden: tuple[int, ...] = (128, 64)
    epochs: int | None = None
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    n_train: int | None = None
    n_surrogate: int = 2**16
    groups: int = 64
    threads: int | None = 1

    @classmethod
    def quick(cls, **overrides) -> "ReluMnistConfig":
        """A run for tests (``symcorr reproduce mnist --quick --relu``): digits, 6 epochs, :math:`2^{14}` surrogate
        samples per class."""
        values = dict(data="digits", epochs=6, n_surrogate=2**14)
        values.update(overrides)
        return cls(**values)


def relu_mlp(widths, seed: int = 0):
    """``nn.Sequential(Linear, ReLU, ..., Linear)`` in float64 with torch's default initialisation (seeded)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    modules = []
    for k, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        modules.append(nn.Linear(n_in, n_out, dtype=torch.float64))
        if k < len(widths) - 2:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def layer_errors(model, X, y, n_classes: int, n_surrogate: int, groups: int = 64, seed: int = 0) -> dict:
    """Per layer of the trained ``model``: propagated class statistics against the data and the
    Gaussian surrogate (module docstring). The data's statistics are those of the rows themselves
    (the same rows whose input statistics start the propagation), so their difference from the
    propagation is the Gaussian picture's error, not sampling noise; ``groups`` batch-means groups
    give the surrogate's standard errors."""
    from symcorr.networks.montecarlo import monte_carlo
    from symcorr.networks.propagation import layer_label, layers, propagate
    from symcorr.networks.validation import exact_orders
    from symcorr.numeric.distributions import Gaussian

    entries = layers(model)
    exact = exact_orders(model, 2, input_nonzero=2)  # for the Gaussian surrogate
    per_class = []
    seconds = {"propagate": 0.0, "data": 0.0, "surrogate": 0.0}
    print("[relu] note: the data's cumulants above order 2 are unknown, so from the first ReLU on the propagated "
          "statistics are the Gaussian closure's approximation (docs/theory.md section 9); the data columns "
          "measure its error", file=sys.stderr)
    for c in range(n_classes):
        rows = X[y == c]
        stats = input_statistics(rows)
        start = time.perf_counter()
        with warnings.catch_warnings():  # expected for data: said once below, and measured by the table
            warnings.simplefilter("ignore", ApproximationWarning)
            theory = propagate(model, stats, order=2, trace=True)
        seconds["propagate"] += time.perf_counter() - start
        data = monte_carlo(model, rows, order=2, groups=8, seed=seed + c)
        surrogate = monte_carlo(model, Gaussian(stats.mean, stats.cov), n_surrogate, order=2, groups=groups,
                                seed=seed + 100 + c)
        seconds["data"] += data.seconds
        seconds["surrogate"] += surrogate.seconds
        per_class.append((theory, data, surrogate))

    out = []
    for l, (name, module) in enumerate(entries):
        row = {"layer": layer_label(name, module), "width": per_class[0][0][l].dim,
               "exact_for_gaussian": sorted(exact[l])}
        for source, index in (("data", 1), ("surrogate", 2)):
            for key, n in (("mean", 1), ("cov", 2)):
                errors, noise = [], []
                for record in per_class:
                    theory, estimate = record[0][l], record[index][l]
                    errors.append(relative_error(theory.kappa(n), estimate.kappa(n)))
                    noise.append(float(np.linalg.norm(estimate.stderr[n - 1]) / np.linalg.norm(estimate.kappa(n))))
                row[f"{source}_{key}"] = float(np.mean(errors))
                row[f"{source}_{key}_max"] = float(np.max(errors))
                row[f"{source}_{key}_noise"] = float(np.mean(noise))
                if source == "surrogate" and n in exact[l]:
                    row[f"surrogate_{key}_max_z"] = max(max_abs_z(record[2][l], record[0][l], n) for record in per_class)
        out.append(row)
    return {"layers": out, "seconds": seconds}


def bonferroni_bound(results: dict, alpha: float = 1e-3) -> float:
    """The bound on the surrogate's :math:`\\max|z|` over the exact layers' unique entries
    (:math:`t^{-1}_{G-1}(1 - \\alpha/(2m))`, as ``symcorr validate``)."""
    from scipy import stats

    m = 0
    for row in results["errors"]["layers"]:
        for n in row["exact_for_gaussian"]:
            m += results["n_classes"] * math.comb(row["width"] + n - 1, n)
    return float(stats.t.isf(alpha / (2 * m), results["config"]["groups"] - 1))


def run(config: ReluMnistConfig, dataset=None) -> dict:
    """Train the network and measure (module docstring); ``dataset`` overrides ``config.data``."""
    from symcorr.experiments.datasets import load_dataset

    start = time.perf_counter()
    dataset = load_dataset(config.data) if dataset is None else dataset
    if config.n_train is not None:
        dataset = dataset.subset(n_train=config.n_train, seed=config.seed)
    prep = Preprocessing.fit(dataset.X_train)
    X_train, X_test = prep(dataset.X_train), prep(dataset.X_test)
    epochs = config.epochs if config.epochs is not None else (40 if dataset.dim <= 64 else 8)
    widths = [dataset.dim, *config.hidden, dataset.n_classes]
    with torch_threads(config.threads):
        model = relu_mlp(widths, seed=config.seed)
        history = train_classifier(model, X_train, dataset.y_train, epochs=epochs, batch_size=config.batch_size,
                                   lr=config.lr, seed=config.seed, label=f"relu {dataset.name}")
        model.eval()
        progress("[relu] propagating class statistics and sampling every layer")
        errors = layer_errors(model, X_train, dataset.y_train, dataset.n_classes, config.n_surrogate,
                              groups=config.groups, seed=config.seed)
    results = {"config": {**asdict(config), "epochs": epochs}, "dataset": dataset.name, "widths": widths,
               "n_classes": dataset.n_classes, "train_rows": len(dataset.y_train),
               "final_loss": history[-1]["loss"], "train_accuracy": accuracy(model, X_train, dataset.y_train),
               "test_accuracy": accuracy(model, X_test, dataset.y_test), "errors": errors}
    results["bound"] = bonferroni_bound(results)
    results["seconds"] = time.perf_counter() - start
    return results


def _rows(results: dict) -> list[list[str]]:
    rows = []
    for row in results["errors"]["layers"]:
        z = [row.get(f"surrogate_{key}_max_z") for key in ("mean", "cov")]
        rows.append([row["layer"], f"{row['data_mean']:.2e}", f"{row['data_cov']:.2e}",
                     f"{row['surrogate_mean']:.2e}", f"{row['surrogate_cov']:.2e}",
                     f"{row['surrogate_cov_noise']:.1e}",
                     "/".join("-" if v is None else f"{v:.2f}" for v in z)])
    return rows


HEADER = ("layer", "data: mean", "data: cov", "surrogate: mean", "surrogate: cov", "surrogate cov noise",
          "surrogate max|z| mean/cov")


def summary(results: dict) -> str:
    lines = [(f"{results['dataset']}: {'-'.join(map(str, results['widths']))} ReLU MLP, "
              f"test accuracy {results['test_accuracy']:.3f} (train {results['train_accuracy']:.3f}); relative "
              "errors of the propagated class means and covariances (mean over classes):")]
    lines += text_table(HEADER, _rows(results))
    lines.append(f"  max|z| on the layers exact for the Gaussian surrogate (up to the first ReLU); Bonferroni "
                 f"bound {results['bound']:.2f}")
    return "\n".join(lines)


def markdown_section(results: dict) -> str:
    """The Markdown section of the MNIST report for ``results`` (module docstring for the columns)."""
    text = (f"`{'-'.join(map(str, results['widths']))}` MLP with `nn.ReLU`, torch's default initialisation, "
            f"{results['config']['epochs']} epochs of Adam: test accuracy {results['test_accuracy']:.3f}. Each "
            "class's input mean and covariance propagated with `symcorr.propagate(order=2)` (Gaussian closure), "
            "against the class's real training rows (*data*) and against Gaussian samples with the same input "
            "statistics (*surrogate*). Relative errors averaged over the classes; *noise* is the sampling noise "
            "of the surrogate's covariance estimate (the data's statistics are those of the very rows whose input "
            "statistics start the propagation: no sampling noise). Up to the first ReLU the propagation is exact "
            f"for the surrogate: max|z| there, Bonferroni bound {results['bound']:.2f}.")
    lines = [f"## ReLU network trained the usual way ({results['dataset']})", "", text, ""]
    lines += markdown_table(HEADER, _rows(results))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """``symcorr reproduce mnist-relu [--data digits|fashion|DIR] [--epochs E] [--n-train N] [--out DIR]``."""
    parser = CommandParser(prog="symcorr reproduce mnist-relu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="digits", help="digits (default), fashion, or a directory of IDX files")
    parser.add_argument("--epochs", type=integer(1, note="0 would analyse an untrained network"), default=None,
                        help="training epochs (default 40 for digits, 8 otherwise)")
    parser.add_argument("--n-train", type=integer(1), default=None, help="use a stratified subset of the training rows")
    parser.add_argument("--surrogate", type=integer(2), default=2**16, help="Gaussian surrogate samples per class")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of subsets, weights and sampling (default 0)")
    parser.add_argument("--out", type=Path, default=None, help="write results.json and report.md here")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    config = ReluMnistConfig(data=args.data, epochs=args.epochs, n_train=args.n_train, n_surrogate=args.surrogate,
                             seed=args.seed)
    results = run(config)
    print(summary(results))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_json(args.out / "results.json", results)
        (args.out / "report.md").write_text(markdown_section(results))
    return 0


__all__ = ["ReluMnistConfig", "relu_mlp", "layer_errors", "run", "summary", "markdown_section", "main"]
