r"""The paper's MNIST analysis on MNIST-like data: ``symcorr reproduce mnist --data ...``.

Data (:mod:`symcorr.experiments.datasets`): scikit-learn's 8x8 digits (``--data digits``,
the quick default), Fashion-MNIST from Debian's ``dataset-fashion-mnist``
(``--data fashion``) or any directory of MNIST-style IDX files (original
MNIST wherever a user has it), checked by :func:`symcorr.experiments.mnist_data.check_data`.
Pixels in [0, 1] are preprocessed by an affine map
(:class:`symcorr.experiments.mnist_data.Preprocessing`),
:math:`x' = (x - \bar x) / s` with :math:`\bar x` the per-pixel training
mean and :math:`s` the root mean per-pixel training variance (one scalar, so
near-constant border pixels are not blown up); the network sees :math:`x'`
and all statistics are taken of :math:`x'`.

Network: an MLP ``Linear -> act -> Linear -> act -> Linear`` (hidden widths
``hidden``) with :math:`\phi(z) = z + \alpha z^2` (``alpha`` fixed, small, so
the quadratic terms neither dominate nor blow up in training) and, as a
variant, :math:`\phi(z) = \operatorname{erf}(z)`. Trained with Adam on
cross-entropy, fixed seed.

Measurements, per activation:

* accuracy on the real test data;
* accuracy on *Gaussian surrogate* data: for each class :math:`c`,
  ``n_surrogate`` samples from :math:`N(\mu_c, \Sigma_c)` with the
  class-conditional training mean and covariance of :math:`x'`; the per-class
  accuracies are weighted with the test set's class frequencies;
* accuracy *predicted* by propagating those Gaussians through the network
  with ``order=2`` (the paper's Gaussian approximation) and evaluating
  :math:`P(\arg\max = c)` for a Gaussian output
  (:func:`symcorr.experiments.class_statistics.predicted_accuracy`); also from the
  propagation started after layer 1, and from the empirical output mean and
  covariance (what the Gaussian output shape alone costs);
* per layer (the input and the output of every module), the relative errors
  :math:`\lVert\mu_\mathrm{prop} - \mu_\mathrm{emp}\rVert / \lVert\mu_\mathrm{emp}\rVert`
  and :math:`\lVert\Sigma_\mathrm{prop} - \Sigma_\mathrm{emp}\rVert_F / \lVert\Sigma_\mathrm{emp}\rVert_F`,
  averaged over classes, of the propagated class-conditional statistics
  against the empirical ones (k-statistics from :func:`symcorr.networks.montecarlo.monte_carlo`
  over the rows of each class), for three propagations:

  - ``from input``: starting from the input mean and covariance, compared
    with the real training data pushed through the network (errors after
    the first nonlinearity come from the data's higher cumulants and from
    the closure in every later layer);
  - ``from layer 1``: starting from the empirical mean and covariance after
    the first hidden layer (Linear + activation), compared with the real
    data: the internal layers alone;
  - ``surrogate``: the ``from input`` propagation against the same
    Gaussian surrogate samples pushed through the network (no data
    non-Gaussianity: the closure's error plus sampling noise, whose size
    :math:`\lVert\mathrm{se}\rVert/\lVert E\rVert` is reported, and max ``|z|``);

* quadratic networks: the first activation recomputed from the data's own
  cumulants up to order 2, 3 and 4 of the pre-activations
  (:func:`first_layer_closures`), on the neurons of largest variance;
* the documented relations of
  :func:`symcorr.experiments.mnist_relations.check_relations` (bounds as
  module constants there), printed, written to the report
  (:mod:`symcorr.experiments.mnist_report`) and asserted by the tests.

Statistics of real data use the training set (the same samples whose input
statistics start the propagation), so the comparison is not blurred by a
train/test difference.
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from symcorr.arguments import SEED, CommandParser, choice_list, integer, integer_list, real
from symcorr.experiments.class_statistics import class_separation, max_abs_z, predicted_accuracy, relative_error
from symcorr.experiments.mnist_data import (CLASS_GROUPS, MIN_IMAGES_PER_CLASS, DataError, PreparedData, Preprocessing,
                                           check_data)
from symcorr.experiments.mnist_relations import check_relations
from symcorr.experiments.mnist_report import summary_table, write_outputs
from symcorr.experiments.reporting import jsonable, write_json
from symcorr.experiments.training import accuracy, layer_names, predict, progress, train_classifier

ACTIVATION_CHOICES = ("quadratic", "erf")


@dataclass
class MnistConfig:
    """Parameters of one run. ``hidden=None`` picks (128, 64) for 784 pixels and (32, 32) for digits."""

    data: str = "digits"
    activations: tuple[str, ...] = ACTIVATION_CHOICES
    hidden: tuple[int, ...] | None = None
    alpha: float = 0.1
    epochs: int | None = None
    batch_size: int = 128
    lr: float = 1e-3
    n_train: int | None = None
    n_test: int | None = None
    n_surrogate: int = 10_000
    seed: int = 0
    threads: int | None = 1
    closure_neurons: int = 16

    def resolved(self, dataset) -> "MnistConfig":
        """Fill ``hidden`` and ``epochs`` from the data set's size."""
        values = asdict(self)
        small = dataset.dim <= 100
        if values["hidden"] is None:
            values["hidden"] = (32, 32) if small else (128, 64)
        if values["epochs"] is None:
            values["epochs"] = 40 if small else 10
        values["hidden"] = tuple(values["hidden"])
        values["activations"] = tuple(values["activations"])
        return MnistConfig(**values)

    @classmethod
    def quick(cls, **overrides) -> "MnistConfig":
        """A run for tests: digits, small hidden layers."""
        values = dict(data="digits", hidden=(16, 16), epochs=25)
        values.update(overrides)
        return cls(**values)


def make_activation(name: str, alpha: float):
    """A factory of the torch activation module ``name`` (``quadratic`` with fixed ``alpha``, or ``erf``)."""
    from symcorr.networks.modules import Erf, Quadratic

    if name == "quadratic":
        return lambda: Quadratic(alpha, learnable=False)
    if name == "erf":
        return Erf
    raise ValueError(f"unknown activation {name!r}; choose from {ACTIVATION_CHOICES}")


def class_statistics(model, data: PreparedData, order: int = 2, groups: int = CLASS_GROUPS):
    """Per class ``c``, ``[input, layer 1, ...]``: the input's mean and covariance
    (:func:`symcorr.experiments.mnist_data.input_statistics`) and the k-statistics (orders 1..``order``, with
    batch-means standard errors) of every layer from :func:`symcorr.networks.montecarlo.monte_carlo`
    over all training rows of class ``c`` (each row once).
    """
    from symcorr.networks.montecarlo import monte_carlo

    out = []
    for c in range(data.n_classes):
        rows = data.X_train[data.y_train == c]
        result = monte_carlo(model, rows, order=order, groups=groups, seed=c)
        out.append([data.input_stats[c], *result.layers])
    return out


def first_layer_closures(model, data: PreparedData, max_neurons: int = 16, closures=(2, 3, 4)) -> dict:
    r"""How much of the first activation's statistics the data's higher cumulants carry.

    The first activation acts neuron by neuron, so the mean and covariance of
    any subset of its outputs depend only on the cumulants of the same subset
    of its inputs (the first linear layer's outputs). For the ``max_neurons``
    neurons of largest pre-activation variance (summed over classes) this
    takes, per class, the empirical k-statistics :math:`\kappa^{(1..4)}` of the
    pre-activations on the real training data, pushes them through the
    activation with ``pointwise(..., order=2, closure=K)`` for each ``K`` in
    ``closures`` (``K = 2`` is the Gaussian approximation; ``K = 4`` is exact for
    a quadratic activation) and compares with the empirical mean and
    covariance after the activation. Returns the relative errors (mean over
    classes) per ``K`` and the neurons used. Run for quadratic networks only:
    the erf kernels with closure above 2 are not shipped, and deriving them
    takes far longer than the experiment.
    """
    from symcorr.numeric.kstatistics import from_samples
    from symcorr.numeric.pointwise import pointwise

    activation = model[1]
    pre = [layer_outputs_upto(model, data.X_train[data.y_train == c], 1) for c in range(data.n_classes)]
    variance = sum(h.var(axis=0) for h in pre)
    neurons = np.sort(np.argsort(-variance)[:max_neurons])
    errors = {K: {"mean": [], "cov": []} for K in closures}
    for h in pre:
        z = h[:, neurons]
        stats = from_samples(z, order=max(closures), groups=8, check=False)
        after = from_samples(activation(torch_tensor(z)).numpy(), order=2, groups=8, check=False)
        for K in closures:
            y = pointwise(stats.truncated(K), activation.activation, order=2, closure=K)
            errors[K]["mean"].append(relative_error(y.mean, after.mean))
            errors[K]["cov"].append(relative_error(y.cov, after.cov))
    return {"neurons": neurons.tolist(),
            "errors": {str(K): {key: float(np.mean(v)) for key, v in e.items()} for K, e in errors.items()}}


def name_of(model) -> str:
    """``'quadratic'`` or ``'erf'``: the family of the first activation of ``model``."""
    return model[1].activation.name


def layer_outputs_upto(model, X, n_modules: int) -> np.ndarray:
    """The output of the first ``n_modules`` modules of ``model`` on ``X`` (float64 NumPy)."""
    import torch

    with torch.no_grad():
        return model[:n_modules](torch_tensor(X)).numpy()


def torch_tensor(X):
    """``X`` as a float64 torch tensor (no copy when it already is float64)."""
    import torch

    return torch.as_tensor(np.asarray(X, np.float64))


def _errors(propagated, empirical, start: int) -> list[dict]:
    r"""Relative errors per layer (from ``start`` on): mean and max over classes.

    ``noise_mean`` / ``noise_cov`` are the sampling-noise floor of the
    empirical side, :math:`\lVert \mathrm{se}\rVert / \lVert E\rVert` (mean over classes),
    from the standard errors of the estimates.
    """
    n_layers = len(empirical[0])
    rows = []
    for l in range(n_layers):
        if l < start:
            rows.append(None)
            continue
        row = {}
        for key, n in (("mean", 1), ("cov", 2)):
            errors = [relative_error(propagated[c][l].kappa(n), empirical[c][l].kappa(n)) for c in range(len(empirical))]
            noise = [float(np.linalg.norm(empirical[c][l].stderr[n - 1]) / np.linalg.norm(empirical[c][l].kappa(n)))
                     for c in range(len(empirical))]
            row.update({key: float(np.mean(errors)), f"{key}_max": float(np.max(errors)),
                        f"noise_{key}": float(np.mean(noise))})
            if getattr(empirical[0][l], "stderr", None) is not None:
                row[f"max_z_{key}"] = max(max_abs_z(empirical[c][l], propagated[c][l], n)
                                          for c in range(len(empirical)))
        rows.append(row)
    return rows


def analyse(model, data: PreparedData, config: MnistConfig, label: str) -> dict:
    """All measurements of one trained network (see the module docstring)."""
    from symcorr.numeric.cumulants import Cumulants
    from symcorr.networks.montecarlo import monte_carlo
    from symcorr.networks.propagation import propagate

    n_classes = data.n_classes
    names = layer_names(model)
    out = {"layers": names}

    t0 = time.perf_counter()
    out["accuracy_real_test"] = accuracy(model, data.X_test, data.y_test)
    out["accuracy_real_train"] = accuracy(model, data.X_train, data.y_train)

    # empirical class-conditional statistics of real (training) data at every layer
    empirical = class_statistics(model, data)
    progress(f"[{label}] empirical class statistics at {len(names)} layers ({time.perf_counter() - t0:.1f}s)")

    # Gaussian surrogate data from the class-conditional input statistics
    surrogate_correct, surrogate_stats, surrogate_images = [], [], []
    for c in range(n_classes):
        samples = data.surrogate_samples(c, config.n_surrogate, config.seed)
        surrogate_correct.append(float(np.mean(np.argmax(predict(model, samples), axis=1) == c)))
        surrogate_images.append(samples[0] * data.prep.scale + data.prep.mean)
        result = monte_carlo(model, samples, order=2, groups=64, seed=config.seed + 200 + c)
        surrogate_stats.append([None, *result.layers])
    # per-class accuracies weighted by the test set's class frequencies, like the real accuracy
    out["accuracy_surrogate"] = float(np.dot(surrogate_correct, data.priors))
    out["accuracy_surrogate_per_class"] = surrogate_correct
    progress(f"[{label}] Gaussian surrogate: {config.n_surrogate} samples per class "
             f"({time.perf_counter() - t0:.1f}s)")

    # propagation from the input statistics (order 2: the Gaussian approximation)
    priors = data.priors
    from_input = []
    for c in range(n_classes):
        start = Cumulants(empirical[c][0].mean, empirical[c][0].cov, check=False)
        from_input.append([start, *propagate(model, start, order=2, trace=True)])
    prediction = predicted_accuracy([layers[-1] for layers in from_input], priors=priors, seed=config.seed)
    out["accuracy_predicted"] = prediction.accuracy
    out["accuracy_predicted_stderr"] = prediction.stderr
    out["accuracy_predicted_per_class"] = list(prediction.per_class)

    # propagation from the empirical statistics after the first hidden layer (Linear + activation)
    first = 2
    from_first = []
    for c in range(n_classes):
        start = Cumulants(empirical[c][first].mean, empirical[c][first].cov, check=False)
        from_first.append([None] * first + [start, *propagate(model[first:], start, order=2, trace=True)])
    out["accuracy_predicted_from_layer1"] = predicted_accuracy(
        [layers[-1] for layers in from_first], priors=priors, seed=config.seed).accuracy
    # Gaussian output with the empirical output statistics: how much the Gaussian output shape costs
    out["accuracy_gaussian_empirical_output"] = predicted_accuracy(
        [layers[-1] for layers in empirical], priors=priors, seed=config.seed).accuracy
    progress(f"[{label}] propagated {n_classes} classes ({time.perf_counter() - t0:.1f}s)")

    out["errors"] = {
        "from_input": _errors(from_input, empirical, 1),
        "from_layer1": _errors(from_first, empirical, first + 1),
        "surrogate": _errors(from_input, surrogate_stats, 1),
    }
    out["separation"] = {
        "empirical": [_sep(layers) for layers in zip(*empirical)],
        "from_input": [_sep(layers) for layers in zip(*from_input)],
    }
    if config.closure_neurons and name_of(model) == "quadratic":
        try:
            out["first_layer_closures"] = first_layer_closures(model, data, config.closure_neurons)
        except (ValueError, NotImplementedError, ImportError) as error:  # e.g. no closure-4 kernel for erf
            out["first_layer_closures"] = {"error": str(error)}
        progress(f"[{label}] first layer with the data's cumulants 3 and 4 ({time.perf_counter() - t0:.1f}s)")
    out["samples_per_class_train"] = data.train_counts.tolist()
    out["analysis_seconds"] = time.perf_counter() - t0
    out["_arrays"] = {  # for the figures, not written to JSON
        "empirical": empirical, "from_input": from_input, "from_first": from_first,
        "surrogate_images": surrogate_images,
    }
    return out


#: layers wider than this get no separation measure (eigendecompositions of N x N
#: matrices for every pair of classes; and for the near-singular pixel
#: covariances the log-determinant part depends on the ridge more than on the data)
SEPARATION_MAX_DIM = 256


def _sep(per_class) -> dict | None:
    if per_class[0].dim > SEPARATION_MAX_DIM:
        return None
    s = class_separation(per_class)
    return {"mean": s.mean, "cov": s.cov, "mean_fraction": s.mean_fraction}


def run(config: MnistConfig, out_dir: Path | None = None, figures: bool = True, dataset=None) -> dict:
    """Load, train each activation variant, analyse; returns the results (JSON-serialisable part)."""
    from symcorr.networks.montecarlo import torch_threads

    with torch_threads(config.threads):
        return _run(config, out_dir, figures, dataset)


def _run(config, out_dir, figures, dataset):
    from symcorr.experiments.datasets import load_dataset
    from symcorr.networks.modules import mlp

    start = time.perf_counter()
    full = dataset if dataset is not None else load_dataset(config.data)
    dataset = full.subset(config.n_train, config.n_test, seed=config.seed)
    check_data(dataset, full if config.n_train is not None and config.n_train < len(full.y_train) else None)
    config = config.resolved(dataset)
    progress(f"[mnist] {dataset!r}")
    prep = Preprocessing.fit(dataset.X_train)
    data = PreparedData(dataset, prep)

    results = {"config": asdict(config), "dataset": {
        "name": dataset.name, "n_train": int(len(dataset.y_train)), "n_test": int(len(dataset.y_test)),
        "dim": dataset.dim, "n_classes": dataset.n_classes, "class_names": list(dataset.class_names),
        "image_shape": list(dataset.image_shape)}, "preprocessing_scale": prep.scale, "networks": {}}
    arrays = {}
    for name in config.activations:
        label = f"mnist/{name}"
        model = mlp([dataset.dim, *config.hidden, dataset.n_classes], make_activation(name, config.alpha),
                    init_gain=1.0, seed=config.seed)
        progress(f"[{label}] training {' -> '.join(layer_names(model)[1:])} for {config.epochs} epochs")
        t0 = time.perf_counter()
        history = train_classifier(model, data.X_train, data.y_train, epochs=config.epochs,
                                   batch_size=config.batch_size, lr=config.lr, seed=config.seed, label=label,
                                   X_val=data.X_test, y_val=data.y_test)
        train_seconds = time.perf_counter() - t0
        analysis = analyse(model, data, config, label)
        arrays[name] = analysis.pop("_arrays")
        analysis["training"] = history
        analysis["train_seconds"] = train_seconds
        results["networks"][name] = analysis
    results["runtime_seconds"] = time.perf_counter() - start
    results = jsonable(results)
    results["relations"] = check_relations(results)
    if out_dir is not None:
        write_outputs(results, arrays, dataset, Path(out_dir), figures=figures)
    return results


# -- command line ----------------------------------------------------------------------

def main(argv) -> int:
    if "--full-width" in argv:   # the first layer at full width from the data's cumulants up to order 4
        from symcorr.experiments.mnist_full_width import main as full_width_main

        return full_width_main([a for a in argv if a != "--full-width"])
    parser = CommandParser(
        prog="symcorr reproduce mnist",
        description="Train MLPs with quadratic / erf activations on MNIST-like data and compare the "
                    "propagated class-conditional Gaussians with the data, layer by layer.")
    parser.add_argument("--data", default="digits",
                        help="'digits' (scikit-learn 8x8, default), 'fashion' (Debian's dataset-fashion-mnist in "
                             "/usr/share/datasets/fashion-mnist) or a directory of MNIST-style IDX files")
    parser.add_argument("--activations", type=choice_list(ACTIVATION_CHOICES), default=ACTIVATION_CHOICES,
                        help="comma separated subset of quadratic,erf (default both)")
    parser.add_argument("--hidden", type=integer_list(1, example="128,64"), default=None,
                        help="hidden widths, comma separated, each >= 1 (default 128,64 for 28x28 images, "
                             "32,32 for digits)")
    parser.add_argument("--alpha", type=real(), default=MnistConfig.alpha, help="quadratic phi = z + alpha z^2")
    parser.add_argument("--epochs", type=integer(1, note="0 would analyse an untrained network"), default=None,
                        help="training epochs (>= 1; default 40 for digits, 10 for 28x28 images)")
    parser.add_argument("--n-train", type=integer(1), default=None,
                        help=f"stratified subset of the training set (each class needs {MIN_IMAGES_PER_CLASS})")
    parser.add_argument("--n-test", type=integer(1), default=None, help="stratified subset of the test set")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of subsets, weights and sampling (default 0)")
    parser.add_argument("--threads", type=integer(1), default=1,
                        help="torch threads (default 1: fastest for these small networks)")
    parser.add_argument("--quick", action="store_true", help="the small run the tests use (with --relu: a short "
                        "training and fewer surrogate samples for that network too)")
    parser.add_argument("--out", default=None, help="output folder (default reports/mnist-<data name>)")
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--relu", action="store_true", help="also: a 784-128-64-10 ReLU MLP trained the usual way, "
                        "propagated per class (symcorr.experiments.mnist_relu), as a section of the report")
    parser.add_argument("--full-width", action="store_true", help="instead: the first layer at full width from the "
                        "data's cumulants up to order 4 (symcorr.experiments.mnist_full_width; its own options)")
    args = parser.parse_args(argv)
    overrides = {"data": args.data, "alpha": args.alpha, "seed": args.seed, "threads": args.threads,
                 "activations": args.activations}
    for key in ("hidden", "epochs", "n_train", "n_test"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    config = MnistConfig.quick(**overrides) if args.quick else MnistConfig(**overrides)
    from symcorr.experiments.datasets import load_dataset

    try:
        dataset = load_dataset(config.data)
    except (FileNotFoundError, ValueError) as error:
        print(f"symcorr reproduce mnist: error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("reports") / f"mnist-{dataset.name}"
    try:
        results = run(config, out, figures=not args.no_figures, dataset=dataset)
    except DataError as error:
        print(f"symcorr reproduce mnist: error: {error}", file=sys.stderr)
        return 2
    print(summary_table(results))
    if args.relu:
        from symcorr.experiments import mnist_relu

        relu_options = dict(data=config.data, seed=config.seed, threads=config.threads, n_train=config.n_train)
        relu_config = (mnist_relu.ReluMnistConfig.quick if args.quick else mnist_relu.ReluMnistConfig)(**relu_options)
        relu_results = mnist_relu.run(relu_config, dataset=dataset)
        print(mnist_relu.summary(relu_results))
        write_json(out / "relu.json", relu_results)
        with open(out / "report.md", "a") as report:
            report.write("\n" + mnist_relu.markdown_section(relu_results))
    print(f"\nreport: {out / 'report.md'}")
    return 0
