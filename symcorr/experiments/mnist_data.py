r"""The data of the MNIST-like analysis (:mod:`symcorr.experiments.mnist`), checked and prepared.

:func:`check_data` refuses what the analysis cannot use, naming the problem: non-finite
pixels, fewer than two classes, a class without training images, too few images in a class.
:class:`Preprocessing` is the affine map the network sees, :math:`x' = (x - \bar x) / s`
with :math:`\bar x` the per-pixel training mean and :math:`s` the root mean per-pixel
training variance (one scalar, so near-constant border pixels are not blown up);
:class:`PreparedData` holds the preprocessed data with the class-conditional input
statistics and Gaussian surrogate samplers every network shares.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: batch-means groups of the class-conditional statistics at every layer
#: (:func:`symcorr.experiments.mnist.class_statistics`), and
#: the training images each class needs for them: ``monte_carlo`` takes 2 * 2 + 2 per group at order 2
CLASS_GROUPS = 16
MIN_IMAGES_PER_CLASS = CLASS_GROUPS * (2 * 2 + 2)


class DataError(ValueError):
    """Data the analysis cannot use (the message says what is wrong and what to change)."""


def check_data(dataset, full=None) -> None:
    """Refuse, with a :class:`DataError`, data the analysis cannot use: non-finite pixels, fewer than
    two classes, a class without training images (labels must be ``0..n-1``) or fewer than
    ``MIN_IMAGES_PER_CLASS`` training images in a class. ``full``: the data set ``dataset``
    was drawn from by ``--n-train``, for the advice how many to draw."""
    for part, X in (("training", dataset.X_train), ("test", dataset.X_test)):
        bad = ~np.isfinite(X)
        if bad.any():
            image, pixel = np.argwhere(bad)[0]
            raise DataError(f"{dataset.name}: the {part} images hold {int(bad.sum())} non-finite pixel value(s) "
                            f"(NaN or infinity), the first in image {image} at pixel {pixel}: the data are corrupt")
    after = f" after --n-train {len(dataset.y_train)}" if full is not None else ""
    counts = np.bincount(dataset.y_train, minlength=dataset.n_classes)
    present = np.flatnonzero(counts)
    if present.size < 2:
        raise DataError(f"{dataset.name}: the training labels{after} hold one class only ({present.tolist()}); "
                        "a classifier needs at least 2 classes")
    if present.size < counts.size:
        raise DataError(f"{dataset.name}: class(es) {np.flatnonzero(counts == 0).tolist()} have no training "
                        f"images{after} (labels present: {present.tolist()}); the labels must be 0..n-1 with every "
                        "class present")
    if counts.min() < MIN_IMAGES_PER_CLASS:
        advice = ""
        if full is not None:    # stratified: class c gets at least floor(n * count_c / total) images
            whole = np.bincount(full.y_train, minlength=full.n_classes)
            enough = int(np.ceil(MIN_IMAGES_PER_CLASS * whole.sum() / whole.min()))
            advice = f"; --n-train {enough} gives every class enough"
        raise DataError(f"{dataset.name}: class {int(counts.argmin())} has {int(counts.min())} training images{after}; "
                        f"the class statistics need at least {MIN_IMAGES_PER_CLASS} per class ({CLASS_GROUPS} "
                        f"batch-means groups of {MIN_IMAGES_PER_CLASS // CLASS_GROUPS}){advice}")


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
