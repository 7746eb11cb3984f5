r"""The paper's MNIST analysis on MNIST-like data: ``symcorr reproduce mnist --data ...``.

Data (:mod:`symcorr.experiments.datasets`): scikit-learn's 8x8 digits (``--data digits``,
the quick default), Fashion-MNIST from Debian's ``dataset-fashion-mnist``
(``--data fashion``) or any directory of MNIST-style IDX files (original
MNIST wherever a user has it). Pixels in [0, 1] are preprocessed by an affine
map, :math:`x' = (x - \bar x) / s` with :math:`\bar x` the per-pixel training
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
    :math:`\lVert\mathrm{se}\rVert/\lVert E\rVert` is reported, and max |z|);

* quadratic networks: the first activation recomputed from the data's own
  cumulants up to order 2, 3 and 4 of the pre-activations
  (:func:`first_layer_closures`), on the neurons of largest variance;
* the documented relations of :func:`check_relations` (bounds as module
  constants), printed, written to the report and asserted by the tests.

Statistics of real data use the training set (the same samples whose input
statistics start the propagation), so the comparison is not blurred by a
train/test difference.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from symcorr.experiments.class_statistics import class_separation, max_abs_z, predicted_accuracy, relative_error
from symcorr.experiments.reporting import jsonable, markdown_table, percent, text_table, write_json
from symcorr.experiments.training import accuracy, layer_names, mlp, predict, progress, torch_threads, train_classifier

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


@dataclass
class Preprocessing:
    r""":math:`x' = (x - \bar x)/s` (module docstring)."""

    mean: np.ndarray
    scale: float

    @classmethod
    def fit(cls, X) -> "Preprocessing":
        mean = X.mean(axis=0)
        scale = float(np.sqrt(np.mean(X.var(axis=0))))
        if not scale > 0:
            raise ValueError("the training images are constant: cannot scale them")
        return cls(mean, scale)

    def __call__(self, X) -> np.ndarray:
        return (np.asarray(X, np.float64) - self.mean) / self.scale


def make_activation(name: str, alpha: float):
    """A factory of the torch activation module ``name`` (``quadratic`` with fixed ``alpha``, or ``erf``)."""
    from symcorr.networks.modules import Erf, Quadratic

    if name == "quadratic":
        return lambda: Quadratic(alpha, learnable=False)
    if name == "erf":
        return Erf
    raise ValueError(f"unknown activation {name!r}; choose from {ACTIVATION_CHOICES}")


def input_statistics(X):
    r"""Mean and unbiased covariance of the rows of ``X`` (the k-statistics of orders 1 and 2),
    as :class:`~symcorr.numeric.cumulants.Cumulants` with ``stderr = None``.

    Computed directly with NumPy: the streaming estimator's per-group
    standard errors are not needed for the input and cost :math:`O(N^2)` work
    per group for the 784 pixels.
    """
    from symcorr.numeric.cumulants import Cumulants

    X = np.asarray(X, np.float64)
    mean = X.mean(axis=0)
    centred = X - mean
    cov = centred.T @ centred / (X.shape[0] - 1)
    return Cumulants(mean, 0.5 * (cov + cov.T), check=False)


class PreparedData:
    """The preprocessed data and what every network shares: the class-conditional input
    statistics (:func:`input_statistics` of the training rows of each class) and the
    Gaussian surrogate samplers built from them."""

    def __init__(self, dataset, prep: Preprocessing):
        self.dataset = dataset
        self.prep = prep
        self.n_classes = dataset.n_classes
        self.X_train, self.y_train = prep(dataset.X_train), dataset.y_train
        self.X_test, self.y_test = prep(dataset.X_test), dataset.y_test
        self.test_counts = np.bincount(self.y_test, minlength=self.n_classes)
        self.train_counts = np.bincount(self.y_train, minlength=self.n_classes)
        self.input_stats = [input_statistics(self.X_train[self.y_train == c]) for c in range(self.n_classes)]
        self._sources = None
        self._samples = {}

    @property
    def priors(self) -> np.ndarray:
        """Class frequencies of the test set (the weights of every accuracy)."""
        return self.test_counts / self.test_counts.sum()

    def surrogate_samples(self, c: int, n: int, seed: int) -> np.ndarray:
        """``n`` draws from class ``c``'s Gaussian (seeded by ``seed`` and ``c``; drawn once, kept for
        the next network)."""
        key = (c, n, seed)
        if key not in self._samples:
            self._samples[key] = self.sources[c].sample(n, np.random.default_rng(seed + 100 + c))
        return self._samples[key]

    @property
    def sources(self):
        r"""One :class:`symcorr.numeric.distributions.Gaussian` per class: :math:`N(\mu_c, \Sigma_c)` of the input."""
        if self._sources is None:
            from symcorr.numeric.distributions import Gaussian

            self._sources = [Gaussian(s.mean, s.cov) for s in self.input_stats]
        return self._sources


def class_statistics(model, data: PreparedData, order: int = 2, groups: int = 16):
    """Per class ``c``, ``[input, layer 1, ...]``: the input's mean and covariance
    (:func:`input_statistics`) and the k-statistics (orders 1..``order``, with
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
        return model[:n_modules](torch.as_tensor(np.asarray(X, np.float64))).numpy()


def torch_tensor(X):
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
    with torch_threads(config.threads):
        return _run(config, out_dir, figures, dataset)


def _run(config, out_dir, figures, dataset):
    from symcorr.experiments.datasets import load_dataset

    start = time.perf_counter()
    dataset = dataset if dataset is not None else load_dataset(config.data)
    dataset = dataset.subset(config.n_train, config.n_test, seed=config.seed)
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


# -- outputs -----------------------------------------------------------------------

def _fmt(x, spec=".3f"):
    return "-" if x is None else format(x, spec)


def summary_table(results: dict) -> str:
    ds = results["dataset"]
    lines = [f"{ds['name']}: {ds['n_train']} train / {ds['n_test']} test, {ds['dim']} inputs, "
             f"{ds['n_classes']} classes; runtime {results['runtime_seconds']:.1f} s", ""]
    rows = []
    for name, net in results["networks"].items():
        rows.append([name, _fmt(net["accuracy_real_test"], ".4f"), _fmt(net["accuracy_surrogate"], ".4f"),
                     _fmt(net["accuracy_predicted"], ".4f"), _fmt(net["accuracy_predicted_from_layer1"], ".4f"),
                     _fmt(net["accuracy_gaussian_empirical_output"], ".4f")])
    lines += text_table(["network", "real test", "surrogate", "predicted", "pred. from layer 1",
                         "Gaussian(emp. output)"], rows)
    for name, net in results["networks"].items():
        lines += ["", f"  {name}: relative errors of propagated class-conditional mean / covariance per layer"]
        rows = []
        for l, layer in enumerate(net["layers"]):
            cells = [layer]
            for key in ("from_input", "from_layer1", "surrogate"):
                e = net["errors"][key][l]
                cells += ["-", "-"] if e is None else [_fmt(e["mean"], ".2e"), _fmt(e["cov"], ".2e")]
            sep = net["separation"]["empirical"][l]
            cells.append("-" if sep is None else percent(sep["mean_fraction"]))
            rows.append(cells)
        lines += text_table(["layer", "input:mean", "input:cov", "layer1:mean", "layer1:cov",
                             "surr:mean", "surr:cov", "sep. in mean"], rows)
        closures = net.get("first_layer_closures", {}).get("errors")
        if closures:
            lines += ["", f"  {name}: first activation from the data's cumulants up to order K "
                          f"({len(net['first_layer_closures']['neurons'])} neurons of largest variance)"]
            lines += text_table(["K", "rel. error mean", "rel. error cov"],
                                [[K, f"{e['mean']:.2e}", f"{e['cov']:.2e}"] for K, e in closures.items()])
        lines += ["", f"  {name}: documented relations"]
        lines += text_table(["relation", "holds", "value", "bound", "what"], relation_rows(results["relations"][name]))
    return "\n".join(lines)


def markdown_report(results: dict, figure_files=()) -> str:
    ds, cfg = results["dataset"], results["config"]
    lines = [
        f"# {ds['name']}: mean and covariance through the layers",
        "",
        f"Generated by `symcorr reproduce mnist --data {cfg['data']}` (runtime {results['runtime_seconds']:.1f} s).",
        "",
        "## Setup",
        "",
        f"- data: {ds['name']}, {ds['n_train']} training and {ds['n_test']} test images of {ds['dim']} pixels, "
        f"{ds['n_classes']} classes; pixels scaled to [0, 1], centred per pixel and divided by "
        f"s = {results['preprocessing_scale']:.4f} (root mean pixel variance)",
        f"- networks: {' -> '.join(['input', *map(str, cfg['hidden']), str(ds['n_classes'])])} with "
        + ", ".join(f"phi = z + {cfg['alpha']} z^2" if a == "quadratic" else "phi = erf(z)" for a in cfg["activations"])
        + f"; Adam, {cfg['epochs']} epochs, batch {cfg['batch_size']}, lr {cfg['lr']}, seed {cfg['seed']}",
        "- propagation: `propagate(model, N(mu_c, Sigma_c), order=2)` (Gaussian approximation) per class c",
        "- predicted accuracy: sum_c p_c P(argmax of the output = c), output Gaussian with the propagated "
        "mean and covariance (Monte Carlo over that Gaussian)",
        "",
        "## Accuracy",
        "",
    ]
    rows = []
    for name, net in results["networks"].items():
        rows.append([name, f"{net['accuracy_real_test']:.4f}", f"{net['accuracy_surrogate']:.4f}",
                     f"{net['accuracy_predicted']:.4f} ± {net['accuracy_predicted_stderr']:.4f}",
                     f"{net['accuracy_predicted_from_layer1']:.4f}", f"{net['accuracy_gaussian_empirical_output']:.4f}"])
    lines += markdown_table(["network", "real test data", "Gaussian surrogate data",
                             "predicted (propagated from input)", "predicted (propagated from layer 1)",
                             "Gaussian with empirical output statistics"], rows)
    lines += [
        "",
        "## Relative errors per layer",
        "",
        "||mu_prop - mu_emp|| / ||mu_emp|| and ||Sigma_prop - Sigma_emp||_F / ||Sigma_emp||_F, mean over classes "
        "(max over classes in parentheses). *from input*: propagated from the input mean and covariance, "
        "compared with real data; *from layer 1*: propagated from the empirical mean and covariance after the "
        "first hidden layer, compared with real data; *surrogate*: propagated from the input, compared with the "
        "Gaussian surrogate data pushed through the network.",
        "",
    ]
    for name, net in results["networks"].items():
        lines += [f"### {name}", ""]
        rows = []
        for l, layer in enumerate(net["layers"]):
            cells = [layer]
            for key in ("from_input", "from_layer1", "surrogate"):
                e = net["errors"][key][l]
                cells += ["-", "-"] if e is None else [f"{e['mean']:.3g} ({e['mean_max']:.3g})",
                                                       f"{e['cov']:.3g} ({e['cov_max']:.3g})"]
            sep = net["separation"]["empirical"][l]
            cells.append("-" if sep is None else
                         f"{sep['mean']:.3g} / {sep['cov']:.3g} ({percent(sep['mean_fraction'])})")
            rows.append(cells)
        lines += markdown_table(["layer", "from input: mean", "from input: cov", "from layer 1: mean",
                                 "from layer 1: cov", "surrogate: mean", "surrogate: cov",
                                 "separation D_mean / D_cov (mean fraction), real data"], rows)
        closures = net.get("first_layer_closures", {}).get("errors")
        if closures:
            lines += ["", f"First activation from the data's own cumulants up to order K (K = 2: Gaussian; "
                          f"K = 4: exact for the quadratic), on the {len(net['first_layer_closures']['neurons'])} "
                          "neurons of largest pre-activation variance, mean over classes:", ""]
            lines += markdown_table(["K", "rel. error mean", "rel. error cov"],
                                    [[K, f"{e['mean']:.3g}", f"{e['cov']:.3g}"] for K, e in closures.items()])
        lines += ["", f"Documented relations ({name}; asserted by tests/test_reproduce.py on the quick run):", ""]
        lines += markdown_table(["relation", "holds", "value", "bound", "what"], relation_rows(results["relations"][name]))
        lines.append("")
    if figure_files:
        lines += ["## Figures", ""]
        lines += [f"![{Path(f).stem}]({Path(f).name})" for f in figure_files]
    return "\n".join(lines) + "\n"


def write_outputs(results, arrays, dataset, out_dir: Path, figures: bool = True) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "results.json", results)
    figure_files = []
    if figures:
        from symcorr.experiments.figures import mnist_figures

        figure_files = mnist_figures(results, arrays, dataset, out_dir)
    (out_dir / "report.md").write_text(markdown_report(results, figure_files))
    progress(f"[mnist] wrote {out_dir}/report.md, results.json and {len(figure_files)} figures")


# -- command line ----------------------------------------------------------------------

def main(argv) -> int:
    if "--full-width" in argv:   # the first layer at full width from the data's cumulants up to order 4
        from symcorr.experiments.mnist_full_width import main as full_width_main

        return full_width_main([a for a in argv if a != "--full-width"])
    parser = argparse.ArgumentParser(
        prog="symcorr reproduce mnist",
        description="Train MLPs with quadratic / erf activations on MNIST-like data and compare the "
                    "propagated class-conditional Gaussians with the data, layer by layer.")
    parser.add_argument("--data", default="digits",
                        help="'digits' (scikit-learn 8x8, default), 'fashion' (Debian's dataset-fashion-mnist in "
                             "/usr/share/datasets/fashion-mnist) or a directory of MNIST-style IDX files")
    parser.add_argument("--activations", default=",".join(ACTIVATION_CHOICES),
                        help="comma separated subset of quadratic,erf (default both)")
    parser.add_argument("--hidden", default=None, help="hidden widths, comma separated (default 128,64 for "
                                                         "28x28 images, 32,32 for digits)")
    parser.add_argument("--alpha", type=float, default=MnistConfig.alpha, help="quadratic phi = z + alpha z^2")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--n-train", type=int, default=None, help="stratified subset of the training set")
    parser.add_argument("--n-test", type=int, default=None, help="stratified subset of the test set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: fastest for these small networks)")
    parser.add_argument("--quick", action="store_true", help="the small run the tests use")
    parser.add_argument("--out", default=None, help="output folder (default reports/mnist-<data name>)")
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--full-width", action="store_true", help="instead: the first layer at full width from the "
                        "data's cumulants up to order 4 (symcorr.experiments.mnist_full_width; its own options)")
    args = parser.parse_args(argv)
    overrides = {"data": args.data, "alpha": args.alpha, "seed": args.seed, "threads": args.threads,
                 "activations": tuple(a.strip() for a in args.activations.split(",") if a.strip())}
    for a in overrides["activations"]:
        if a not in ACTIVATION_CHOICES:
            parser.error(f"unknown activation {a!r}; choose from {', '.join(ACTIVATION_CHOICES)}")
    if args.hidden:
        overrides["hidden"] = tuple(int(h) for h in args.hidden.split(","))
    for key in ("epochs", "n_train", "n_test"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    config = MnistConfig.quick(**overrides) if args.quick else MnistConfig(**overrides)
    from symcorr.experiments.datasets import load_dataset

    try:
        dataset = load_dataset(config.data)
    except (FileNotFoundError, ValueError) as error:
        print(f"symcorr reproduce mnist: {error}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("reports") / f"mnist-{dataset.name}"
    results = run(config, out, figures=not args.no_figures, dataset=dataset)
    print(summary_table(results))
    print(f"\nreport: {out / 'report.md'}")
    return 0


# -- documented relations ------------------------------------------------------------

#: relative error of a linear layer right after the start of a propagation (exact up to rounding)
LINEAR_EXACT = 1e-10
#: max |z| of the first activation's mean and covariance for Gaussian input (exact there);
#: Student t with 63 degrees of freedom over ~10^4 entries (exceeded with probability ~1e-2)
Z_BOUND = 5.5
#: erf networks: relative error of the first activation's mean and covariance for Gaussian input over
#: the sampling noise (the standard errors of pairs of saturated erf units come from rare joint
#: excursions, which 10^4 samples do not resolve, so entrywise z-scores are not used there)
NOISE_FACTOR = 2.0
#: quadratic networks: relative error of the means propagated from layer 1 (exact but for the
#: n/(n-1) of the unbiased covariance)
QUADRATIC_MEAN_EXACT = 5e-3
#: relative covariance error of the internal layers propagated from layer 1 (Gaussian closure)
INTERNAL_COV_BOUND = 0.5
#: real-data covariance error at the first activation over the surrogate's (closure exact there)
HIGHER_ORDER_FACTOR = 3.0
#: quadratic: first-activation covariance error with the data's cumulants up to 4 over that up to 2
CLOSURE_RATIO = 0.1
#: |accuracy on Gaussian surrogate data - accuracy on real data|
SURROGATE_DISTANCE = 0.05
#: |predicted accuracy - accuracy on real data| and |predicted - surrogate|
PREDICTION_DISTANCE = 0.08


def check_relations(results: dict) -> dict:
    """Per network, the documented relations ``[{name, holds, value, bound, description}]``."""
    out = {}
    for name, net in results["networks"].items():
        relations = []

        def add(key, holds, value, bound, description):
            relations.append({"name": key, "holds": bool(holds), "value": float(value), "bound": bound,
                              "description": description})

        layers = net["layers"]
        err = net["errors"]
        first_act, second_linear = 2, 3
        value = max(err["from_input"][1]["mean"], err["from_input"][1]["cov"],
                    err["from_layer1"][second_linear]["mean"], err["from_layer1"][second_linear]["cov"])
        add("linear_layers_exact", value <= LINEAR_EXACT, value, LINEAR_EXACT,
            f"relative error at {layers[1]} (from input) and {layers[second_linear]} (from layer 1)")
        row = err["surrogate"][first_act]
        if name == "quadratic":
            value = max(row["max_z_mean"], row["max_z_cov"])
            add("first_activation_exact_for_gaussian_input", value <= Z_BOUND, value, Z_BOUND,
                f"Gaussian surrogate input: max |z| of mean and covariance at {layers[first_act]}")
        else:
            value = max(row["mean"] / row["noise_mean"], row["cov"] / row["noise_cov"])
            add("first_activation_exact_for_gaussian_input", value <= NOISE_FACTOR, value, NOISE_FACTOR,
                f"Gaussian surrogate input: relative error / sampling noise of mean and covariance at "
                f"{layers[first_act]} (entrywise z-scores are unreliable for saturated erf units)")
        if name == "quadratic":
            value = max(r["mean"] for r in err["from_layer1"] if r is not None)
            add("quadratic_means_exact_from_layer1", value <= QUADRATIC_MEAN_EXACT, value, QUADRATIC_MEAN_EXACT,
                "relative error of the means propagated from layer 1, every later layer")
        value = max(r["cov"] for r in err["from_layer1"] if r is not None)
        add("internal_layers_described", value <= INTERNAL_COV_BOUND, value, INTERNAL_COV_BOUND,
            "relative covariance error propagated from layer 1 (Gaussian approximation), worst later layer")
        ratio = err["from_input"][first_act]["cov"] / max(err["surrogate"][first_act]["cov"], 1e-300)
        add("first_layer_uses_higher_order_statistics", ratio >= HIGHER_ORDER_FACTOR, ratio, HIGHER_ORDER_FACTOR,
            f"covariance error at {layers[first_act]}: real data / Gaussian surrogate")
        closures = net.get("first_layer_closures", {}).get("errors")
        if closures:
            ratio = closures["4"]["cov"] / max(closures["2"]["cov"], 1e-300)
            add("data_cumulants_3_4_explain_first_layer", ratio <= CLOSURE_RATIO, ratio, CLOSURE_RATIO,
                f"covariance error at {layers[first_act]} with the data's cumulants up to 4 / up to 2 "
                f"({len(net['first_layer_closures']['neurons'])} neurons)")
        value = abs(net["accuracy_surrogate"] - net["accuracy_real_test"])
        add("surrogate_accuracy_close_to_real", value <= SURROGATE_DISTANCE, value, SURROGATE_DISTANCE,
            "|accuracy on Gaussian surrogate data - on real test data|")
        value = max(abs(net["accuracy_predicted"] - net["accuracy_real_test"]),
                    abs(net["accuracy_predicted"] - net["accuracy_surrogate"]))
        add("predicted_accuracy_close", value <= PREDICTION_DISTANCE, value, PREDICTION_DISTANCE,
            "|predicted accuracy - accuracy on real data| and on surrogate data, the larger")
        out[name] = relations
    return out


def relation_rows(relations) -> list[list[str]]:
    return [[r["name"], "yes" if r["holds"] else "NO", f"{r['value']:.4g}", f"{r['bound']:.4g}", r["description"]]
            for r in relations]
