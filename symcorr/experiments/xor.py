r"""The paper's XOR analysis (docs/theory.md section 8): ``symcorr reproduce xor``.

Data (:mod:`symcorr.experiments.xor_data`). Two classes in :math:`\mathbb{R}^2`,
each an equal mixture of two Gaussian clusters of width :math:`\sigma`
(``width``), at :math:`(1, 1), (-1, -1)` (class "+1") and :math:`(1, -1), (-1, 1)`
(class "-1"): the same mean, covariances that differ in the sign of the
off-diagonal entry.

Network. ``Linear(2, H) -> Quadratic(alpha) -> Linear(H, 2)`` (more hidden
layers with ``hidden``), :math:`\phi(z) = z + \alpha z^2` with :math:`\alpha`
fixed, trained in torch with a fixed seed on cross-entropy of the two logits.

Analysis, per layer (input, then every module) and class:

* theory: the exact input cumulants (orders 1..4) propagated with
  ``order=2`` (Gaussian closure: the input's :math:`\kappa^{(4)}` is dropped)
  and ``order=4``; for one hidden layer ``order=4`` is exact for mean and
  covariance at every layer (a quadratic layer's mean and covariance need
  input cumulants up to order 4, docs/theory.md section 5), while ``order=2`` is
  exact for the means only;
* Monte Carlo: the network applied to ``n_mc`` samples per class, per-layer
  k-statistics with batch-means standard errors; theory against Monte Carlo
  as z-scores and relative errors;
* separation: the Bhattacharyya distance of the two classes split into a mean
  part and a covariance part (:mod:`symcorr.experiments.class_statistics`), from the theory
  and from Monte Carlo, showing the transfer from covariance (input, first
  linear layer: the means coincide, :math:`D_\mu = 0`) to mean (after the
  quadratic nonlinearity);
* accuracy: the network on ``n_test`` fresh samples against the accuracy
  predicted from the propagated output distributions (Gaussian with the
  propagated mean and covariance, and, at ``order=4``, the Edgeworth
  correction with the output's third and fourth cumulants).

The documented relations every run checks are in
:mod:`symcorr.experiments.xor_relations`; the printed table, the report and
the figures in :mod:`symcorr.experiments.xor_report`.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from symcorr.arguments import SEED, CommandParser, integer, integer_list, real
from symcorr.experiments.class_statistics import (bhattacharyya_split, correct_class_probability, max_abs_z,
                                                  predicted_accuracy, projected_cumulants, relative_error)
from symcorr.experiments.reporting import jsonable
from symcorr.experiments.training import accuracy, layer_names, progress, train_classifier
from symcorr.experiments.xor_data import CLASS_NAMES, bayes_accuracy, sample_xor, xor_cumulants
from symcorr.experiments.xor_relations import check_relations
from symcorr.experiments.xor_report import summary_table, write_outputs
from symcorr.numeric.distributions import GaussianMixture, gaussian_mixture, xor_class_mixture


# -- configuration -------------------------------------------------------------------

@dataclass
class XorConfig:
    """Parameters of the XOR run (defaults: the full run; :meth:`quick` for tests)."""

    width: float = 0.5
    hidden: tuple[int, ...] = (8,)
    alpha: float = 0.5
    n_train: int = 4000
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-2
    n_test: int = 200_000
    n_mc: int = 1_000_000
    orders: tuple[int, ...] = (2, 4)
    seed: int = 0
    threads: int | None = 1

    @classmethod
    def quick(cls, **overrides) -> "XorConfig":
        """A small run for tests (a few seconds)."""
        values = dict(hidden=(4,), n_train=2000, epochs=15, n_test=50_000, n_mc=200_000)
        values.update(overrides)
        return cls(**values)


# -- the analysis ----------------------------------------------------------------

def build_network(config: XorConfig):
    """The XOR network with fixed ``alpha`` (see module docstring), float64."""
    from symcorr.networks.modules import Quadratic, mlp

    return mlp([2, *config.hidden, 2], lambda: Quadratic(config.alpha, learnable=False),
               init_gain=1.0, seed=config.seed)


def train_network(config: XorConfig):
    rng = np.random.default_rng(config.seed)
    X, y = sample_xor(config.n_train, config.width, rng)
    X_val, y_val = sample_xor(5000, config.width, rng)
    model = build_network(config)
    progress(f"[xor] training {model_summary(model)} on {config.n_train} samples (width {config.width})")
    history = train_classifier(model, X, y, epochs=config.epochs, batch_size=config.batch_size,
                               lr=config.lr, seed=config.seed, label="xor", X_val=X_val, y_val=y_val)
    return model, history


def model_summary(model) -> str:
    return " -> ".join(layer_names(model)[1:])


def _input_cumulants(label: int, width: float):
    """The exact input cumulants of class ``label`` from :func:`symcorr.numeric.distributions.gaussian_mixture`,
    checked against the closed form :func:`symcorr.experiments.xor_data.xor_cumulants`."""
    cumulants = gaussian_mixture(*xor_class_mixture(label, width), order=4)
    for n, tensor in enumerate(xor_cumulants(label, width), start=1):
        if not np.allclose(cumulants.kappa(n), tensor, atol=1e-12):
            raise AssertionError(f"mixture cumulant of order {n} disagrees with the XOR closed form")
    return cumulants


def run(config: XorConfig, out_dir: Path | None = None, figures: bool = True) -> dict:
    """Train, propagate, sample, compare; returns the results (JSON-serialisable).

    With ``out_dir``: writes ``results.json``, ``report.md`` and (``figures``)
    the PNG figures there.
    """
    from symcorr.networks.montecarlo import torch_threads

    with torch_threads(config.threads):
        return _run(config, out_dir, figures)


def _run(config: XorConfig, out_dir, figures: bool) -> dict:
    from symcorr.networks.montecarlo import monte_carlo
    from symcorr.networks.propagation import propagate
    from symcorr.numeric.cumulants import Cumulants

    start = time.perf_counter()
    model, history = train_network(config)
    names = layer_names(model)
    rng = np.random.default_rng(config.seed + 1)

    X_test, y_test = sample_xor(config.n_test, config.width, rng)
    network_accuracy = accuracy(model, X_test, y_test)
    progress(f"[xor] network accuracy on {config.n_test} test samples: {network_accuracy:.4f} "
             f"(Bayes {bayes_accuracy(config.width):.4f})")

    inputs = [_input_cumulants(c, config.width) for c in (0, 1)]
    theory, clusters = {}, {}
    for order in config.orders:
        t0 = time.perf_counter()
        theory[order] = [[inputs[c].truncated(order), *propagate(model, inputs[c], order=order, trace=True)]
                         for c in (0, 1)]
        clusters[order] = [[propagate(model, Cumulants(mean, cov), order=order)
                            for mean, cov in zip(*xor_class_mixture(c, config.width)[1:])] for c in (0, 1)]
        progress(f"[xor] propagated order={order} ({time.perf_counter() - t0:.2f}s)")

    mc = []
    for c in (0, 1):
        source = GaussianMixture(*xor_class_mixture(c, config.width))
        result = monte_carlo(model, source, config.n_mc, order=4, input_order=4, seed=config.seed + 10 + c)
        mc.append([result.input, *result.layers])
        progress(f"[xor] Monte Carlo class {CLASS_NAMES[c]}: {config.n_mc} samples, order 4 "
                 f"({result.seconds:.1f}s)")

    results = {
        "config": asdict(config),
        "layers": names,
        "bayes_accuracy": bayes_accuracy(config.width),
        "network_accuracy": network_accuracy,
        "training": history,
        "predicted_accuracy": _accuracy_predictions(theory, clusters, mc),
        "separation": _separations(theory, mc, names),
        "theory_vs_mc": _theory_vs_mc(theory, mc, names),
        "output_margin_cumulants": _margin_cumulants(theory, mc),
    }
    results["runtime_seconds"] = time.perf_counter() - start
    results = jsonable(results)
    results["relations"] = check_relations(results)
    if out_dir is not None:
        write_outputs(results, model, theory, mc, config, Path(out_dir), figures=figures, clusters=clusters)
    return results


def _margin_cumulants(theory, mc) -> dict:
    """Cumulants 1..4 of the margin d = y_c - y_other of each class's output: theory vs Monte Carlo."""
    out = {}
    for c in (0, 1):
        record = {"mc": projected_cumulants(mc[c][-1], c, 1 - c)}
        for order, per_class in theory.items():
            record[f"order{order}"] = projected_cumulants(per_class[c][-1], c, 1 - c)
            # each order's status (symcorr.numeric.exactness): the table marks approximations with ~
            record[f"order{order}_approximate"] = [per_class[c][-1].status(n).kind == "approximate"
                                                   for n in range(1, 5)]
        out[CLASS_NAMES[c]] = record
    return out


def _accuracy_predictions(theory, clusters, mc) -> dict:
    """Predicted accuracies (see :func:`symcorr.experiments.class_statistics.predicted_accuracy`).

    ``order{K}``: each class's propagated output taken as Gaussian;
    ``order{K}_clusters``: each class a mixture of its clusters, each cluster
    propagated on its own and its output taken as Gaussian (the class
    probability is the weighted mean over clusters); ``order4_clusters_edgeworth``:
    the same with the Edgeworth correction from each cluster's output
    cumulants 3 and 4 (exact for one hidden layer: a cluster is Gaussian, so
    no input cumulant is dropped); ``mc_gaussian`` /
    ``mc_edgeworth``: diagnostics from the Monte Carlo output cumulants
    (Gaussian, and Edgeworth with the estimated third and fourth cumulants).
    """
    predictions = {}
    for order, per_class in theory.items():
        predictions[f"order{order}"] = predicted_accuracy([layers[-1] for layers in per_class]).accuracy
    for order, per_class in clusters.items():
        for method in ("gaussian", "edgeworth") if order >= 4 else ("gaussian",):
            probabilities = [
                sum(w * correct_class_probability(out, c, method)[0]
                    for w, out in zip(xor_class_mixture(c, 1.0)[0], per_class[c]))
                for c in (0, 1)]
            suffix = "" if method == "gaussian" else "_edgeworth"
            predictions[f"order{order}_clusters{suffix}"] = float(np.mean(probabilities))
    mc_outputs = [layers[-1] for layers in mc]
    predictions["mc_gaussian"] = predicted_accuracy(mc_outputs, method="gaussian").accuracy
    predictions["mc_edgeworth"] = predicted_accuracy(mc_outputs, method="edgeworth").accuracy
    return predictions


def _separation_record(pair) -> dict:
    s = bhattacharyya_split(*pair)
    return {"mean": s.mean, "cov": s.cov, "mean_fraction": s.mean_fraction}


def _separations(theory, mc, names) -> dict:
    out = {"mc": [_separation_record((mc[0][l], mc[1][l])) for l in range(len(names))]}
    for order, per_class in theory.items():
        out[f"order{order}"] = [_separation_record((per_class[0][l], per_class[1][l])) for l in range(len(names))]
    return out


def _theory_vs_mc(theory, mc, names) -> dict:
    """Per order, class and layer: max |z| of mean and covariance entries, relative errors."""
    out = {}
    for order, per_class in theory.items():
        rows = []
        for c in (0, 1):
            for l, name in enumerate(names):
                t, e = per_class[c][l], mc[c][l]
                rows.append({
                    "class": c, "layer": name,
                    "max_z_mean": max_abs_z(e, t, 1), "max_z_cov": max_abs_z(e, t, 2),
                    "mean_abs_error": float(np.max(np.abs(t.mean - e.mean))),
                    "mean_scale": float(np.sqrt(np.max(np.diag(e.cov)))),
                    "cov_rel_error": relative_error(t.cov, e.cov),
                    "n_entries": int(t.mean.size + t.cov.size),
                })
        out[f"order{order}"] = rows
    return out


# -- command line ----------------------------------------------------------------------

#: Monte Carlo samples per class at least: order-4 k-statistics in monte_carlo's 64 batch-means groups
#: need 2 * 4 + 2 samples per group
MIN_MC_SAMPLES = 64 * (2 * 4 + 2)


def main(argv) -> int:
    parser = CommandParser(prog="symcorr reproduce xor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=real(above=0), default=XorConfig.width,
                        help="cluster width sigma (> 0; default 0.5)")
    parser.add_argument("--hidden", type=integer_list(1), default=None,
                        help="hidden widths, comma separated (each >= 1; default 8)")
    parser.add_argument("--alpha", type=real(), default=XorConfig.alpha, help="phi(z) = z + alpha z^2 (default 0.5)")
    parser.add_argument("--epochs", type=integer(1), default=None, help="training epochs (>= 1; default 30)")
    parser.add_argument("--n-mc", type=integer(MIN_MC_SAMPLES, note="order-4 k-statistics in 64 groups"),
                        default=None, help=f"Monte Carlo samples per class (>= {MIN_MC_SAMPLES})")
    parser.add_argument("--n-test", type=integer(1), default=None, help="test samples for the network's accuracy")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of data, weights and sampling (default 0)")
    parser.add_argument("--threads", type=integer(1), default=1,
                        help="torch threads (default 1: fastest for these small networks)")
    parser.add_argument("--quick", action="store_true", help="the small run the tests use")
    parser.add_argument("--out", default="reports/xor", help="output folder (default reports/xor)")
    parser.add_argument("--no-figures", action="store_true")
    args = parser.parse_args(argv)
    overrides = {"width": args.width, "alpha": args.alpha, "seed": args.seed, "threads": args.threads}
    for key in ("hidden", "epochs", "n_mc", "n_test"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    config = XorConfig.quick(**overrides) if args.quick else XorConfig(**overrides)
    results = run(config, Path(args.out), figures=not args.no_figures)
    print(summary_table(results))
    print(f"\nreport: {Path(args.out) / 'report.md'}")
    return 0
