r"""Class-conditional statistics for the reproductions (issue 6): separation and accuracy.

Three measures, all on float64 NumPy arrays or :class:`~symcorr.numeric.cumulants.Cumulants`.

**Separation in the mean and in the covariance.** For two classes with
Gaussian approximations :math:`N(\mu_a, \Sigma_a)` and :math:`N(\mu_b, \Sigma_b)`
the Bhattacharyya distance splits exactly into a mean part and a covariance part,

.. math::

    D_B = \underbrace{\tfrac18\, \Delta\mu^\top \bar\Sigma^{-1} \Delta\mu}_{D_\mu}
        + \underbrace{\tfrac12 \ln \frac{\det \bar\Sigma}{\sqrt{\det\Sigma_a \det\Sigma_b}}}_{D_\Sigma},
    \qquad \Delta\mu = \mu_a - \mu_b, \quad \bar\Sigma = \tfrac12(\Sigma_a + \Sigma_b).

Both parts are non-negative (:math:`\ln\det` is concave), :math:`D_\mu` vanishes
iff the means agree (on the support of :math:`\bar\Sigma`) and :math:`D_\Sigma` iff the
covariances agree; :math:`D_B` bounds the Bayes error of the pair,
:math:`P_\mathrm{err} \le \sqrt{p_a p_b}\, e^{-D_B}`. The *mean fraction*
:math:`D_\mu / (D_\mu + D_\Sigma)` says how much of the (Gaussian-visible)
class separation sits in the mean; for more than two classes the parts are
averaged over all pairs. Only first and second cumulants enter: information in
higher cumulants (e.g. the fourth cumulant of the XOR mixture) is not counted.
Singular covariances (a layer wider than the rank of its input) are handled
on the support of :math:`\bar\Sigma`: everything is projected onto the
eigenvectors of :math:`\bar\Sigma` with eigenvalue above ``rtol`` times the
largest, and a ridge of ``ridge`` times the largest eigenvalue is added to all
three covariances there.

**Accuracy predicted from output distributions.** With the output (logits)
of class :math:`c` distributed with cumulants :math:`\kappa_c`, the predicted
accuracy is :math:`\sum_c p_c\, P_c(\arg\max_k y_k = c)`. For two classes the
event is :math:`d = y_c - y_{c'} > 0`, a linear projection whose cumulants are
:math:`\kappa_n(d) = \kappa^{(n)}_c[e, \dots, e]`, :math:`e = e_c - e_{c'}`; then

* ``gaussian``: :math:`P = \Phi(\kappa_1 / \sigma)`, :math:`\sigma^2 = \kappa_2(d)`;
* ``edgeworth`` (needs :math:`\kappa^{(3)}, \kappa^{(4)}`): with
  :math:`t = -\kappa_1/\sigma`, :math:`\gamma_1 = \kappa_3/\sigma^3`, :math:`\gamma_2 = \kappa_4/\sigma^4`,
  :math:`P = 1 - \Phi(t) + \varphi(t)\,[\gamma_1 He_2(t)/6 + \gamma_2 He_3(t)/24 + \gamma_1^2 He_5(t)/72]`
  (clipped to [0, 1]).

For more than two classes the Gaussian probability is estimated by Monte
Carlo over :math:`N(\mu_c, \Sigma_c)` with a fixed seed (standard error
:math:`\sqrt{P(1-P)/n}` reported).

**Relative error** of a propagated tensor :math:`T` against an empirical one
:math:`E`: :math:`\lVert T - E\rVert_F / \lVert E \rVert_F`.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr


def _mean_cov(stats):
    """``(mean, cov)`` from a Cumulants-like object or a ``(mean, cov)`` pair."""
    if hasattr(stats, "mean") and hasattr(stats, "cov"):
        return np.asarray(stats.mean, np.float64), np.asarray(stats.cov, np.float64)
    mean, cov = stats
    return np.asarray(mean, np.float64), np.asarray(cov, np.float64)


@dataclass(frozen=True)
class Separation:
    """Bhattacharyya distance split into its mean and covariance parts (see module docstring)."""

    mean: float
    cov: float

    @property
    def total(self) -> float:
        return self.mean + self.cov

    @property
    def mean_fraction(self) -> float:
        """:math:`D_\\mu / (D_\\mu + D_\\Sigma)`; NaN when both vanish or one is undefined."""
        return self.mean / self.total if self.total > 0 else float("nan")


def bhattacharyya_split(a, b, rtol: float = 1e-9, ridge: float = 1e-9) -> Separation:
    r"""Mean and covariance parts of the Bhattacharyya distance of two Gaussians.

    ``a`` and ``b`` are Cumulants (only mean and cov are used) or ``(mean, cov)``.
    """
    mu_a, cov_a = _mean_cov(a)
    mu_b, cov_b = _mean_cov(b)
    if mu_a.shape != mu_b.shape or cov_a.shape != cov_b.shape or cov_a.shape != mu_a.shape * 2:
        raise ValueError(f"class statistics differ in shape: {mu_a.shape}/{cov_a.shape} vs {mu_b.shape}/{cov_b.shape}")
    cov_a = 0.5 * (cov_a + cov_a.T)
    cov_b = 0.5 * (cov_b + cov_b.T)
    avg = 0.5 * (cov_a + cov_b)
    eigenvalues, vectors = np.linalg.eigh(avg)
    top = float(eigenvalues[-1]) if eigenvalues.size else 0.0
    if top <= 0:
        return Separation(0.0, 0.0)
    support = vectors[:, eigenvalues > rtol * top]
    eps = ridge * top
    eye = np.eye(support.shape[1])

    def project(cov):
        return support.T @ cov @ support + eps * eye

    p_avg, p_a, p_b = project(avg), project(cov_a), project(cov_b)
    delta = support.T @ (mu_a - mu_b)
    d_mean = 0.125 * float(delta @ np.linalg.solve(p_avg, delta))

    def logdet(m):
        sign, value = np.linalg.slogdet(m)
        return value if sign > 0 else np.nan

    d_cov = 0.5 * (logdet(p_avg) - 0.5 * logdet(p_a) - 0.5 * logdet(p_b))
    # NaN when a covariance is not positive definite on the support (e.g. a truncated
    # propagation that produced an invalid covariance): the distance is undefined then
    return Separation(max(d_mean, 0.0), float(d_cov) if np.isnan(d_cov) else max(float(d_cov), 0.0))


def class_separation(per_class, rtol: float = 1e-9, ridge: float = 1e-9) -> Separation:
    """Bhattacharyya parts averaged over all pairs of classes (``per_class``: list of stats)."""
    pairs = [bhattacharyya_split(a, b, rtol, ridge) for a, b in itertools.combinations(per_class, 2)]
    if not pairs:
        raise ValueError("class separation needs at least two classes")
    return Separation(float(np.mean([p.mean for p in pairs])), float(np.mean([p.cov for p in pairs])))


def relative_error(theory, empirical) -> float:
    r""":math:`\lVert T - E\rVert_F / \lVert E\rVert_F` (inf if :math:`E = 0 \ne T`)."""
    theory = np.asarray(theory, np.float64)
    empirical = np.asarray(empirical, np.float64)
    norm = float(np.linalg.norm(empirical))
    diff = float(np.linalg.norm(theory - empirical))
    if norm == 0:
        return 0.0 if diff == 0 else float("inf")
    return diff / norm


def _contract(tensor, e):
    for _ in range(tensor.ndim):
        tensor = np.tensordot(tensor, e, axes=([0], [0])) if tensor.ndim else tensor
    return float(tensor)


def _output_dim(stats) -> int:
    return _mean_cov(stats)[0].shape[0]


def correct_class_probability(stats, correct: int, method: str = "gaussian", n_samples: int = 50_000,
                              rng: np.random.Generator | None = None) -> tuple[float, float]:
    r""":math:`P(\arg\max_k y_k = c)` for logits ``y`` with cumulants ``stats``; returns ``(P, stderr)``.

    Two outputs: closed form (``gaussian``) or Edgeworth (``edgeworth``), stderr 0.
    More outputs: Monte Carlo over the Gaussian with ``n_samples`` draws from ``rng``.
    """
    dim = _output_dim(stats)
    if not 0 <= correct < dim:
        raise ValueError(f"class {correct} has no output unit among {dim}")
    if dim == 2:
        return _two_class_probability(stats, correct, 1 - correct, method), 0.0
    if method != "gaussian":
        raise ValueError(f"method {method!r} is only available for two classes; use 'gaussian'")
    rng = np.random.default_rng(0) if rng is None else rng
    mean, cov = _mean_cov(stats)
    eigenvalues, vectors = np.linalg.eigh(0.5 * (cov + cov.T))
    root = vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
    samples = mean + rng.standard_normal((n_samples, dim)) @ root.T
    p = float(np.mean(np.argmax(samples, axis=1) == correct))
    return p, math.sqrt(p * (1 - p) / n_samples)


def _two_class_probability(stats, correct: int, other: int, method: str) -> float:
    tensors = stats.tensors if hasattr(stats, "tensors") else _mean_cov(stats)
    dim = tensors[0].shape[0]
    e = np.zeros(dim)
    e[correct], e[other] = 1.0, -1.0
    k1 = float(e @ tensors[0])
    k2 = float(e @ tensors[1] @ e)
    if k2 <= 0:
        return 1.0 if k1 > 0 else (0.5 if k1 == 0 else 0.0)
    sigma = math.sqrt(k2)
    if method == "gaussian":
        return float(ndtr(k1 / sigma))
    if method != "edgeworth":
        raise ValueError(f"unknown method {method!r}: use 'gaussian' or 'edgeworth'")
    if len(tensors) < 4:
        raise ValueError("the Edgeworth prediction needs output cumulants up to order 4 (propagate with order=4)")
    g1 = _contract(tensors[2], e) / sigma**3
    g2 = _contract(tensors[3], e) / sigma**4
    t = -k1 / sigma
    he2, he3, he5 = t**2 - 1, t**3 - 3 * t, t**5 - 10 * t**3 + 15 * t
    density = math.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
    cdf = float(ndtr(t)) - density * (g1 * he2 / 6 + g2 * he3 / 24 + g1 * g1 * he5 / 72)
    return float(min(max(1.0 - cdf, 0.0), 1.0))


def projected_cumulants(stats, correct: int, other: int) -> list[float]:
    r"""Cumulants :math:`\kappa_n(d)` of :math:`d = y_c - y_{c'}` for every order ``stats`` holds."""
    tensors = stats.tensors if hasattr(stats, "tensors") else _mean_cov(stats)
    e = np.zeros(tensors[0].shape[0])
    e[correct], e[other] = 1.0, -1.0
    return [_contract(t, e) for t in tensors]


@dataclass(frozen=True)
class PredictedAccuracy:
    """Predicted accuracy, its per-class parts and the Monte Carlo standard error (0 if closed form)."""

    accuracy: float
    per_class: tuple[float, ...]
    stderr: float
    method: str


def predicted_accuracy(outputs, priors=None, method: str = "gaussian", n_samples: int = 50_000,
                       seed: int = 0) -> PredictedAccuracy:
    r"""Accuracy of ``argmax`` over output units predicted from per-class output statistics.

    ``outputs[c]`` are the output cumulants of class ``c`` (logits, one unit
    per class); ``priors`` the class probabilities (uniform by default). See
    the module docstring for the formulas.
    """
    n_classes = len(outputs)
    if n_classes < 2:
        raise ValueError("predicted accuracy needs at least two classes")
    for c, stats in enumerate(outputs):
        if _output_dim(stats) != n_classes:
            raise ValueError(f"{n_classes} classes need {n_classes} output units (logits), "
                             f"class {c} has {_output_dim(stats)}")
    priors = np.full(n_classes, 1.0 / n_classes) if priors is None else np.asarray(priors, np.float64)
    priors = priors / priors.sum()
    rng = np.random.default_rng(seed)
    parts = [correct_class_probability(stats, c, method, n_samples, rng) for c, stats in enumerate(outputs)]
    per_class = np.array([p for p, _ in parts])
    stderr = math.sqrt(float(np.sum(priors**2 * np.array([s for _, s in parts]) ** 2)))
    return PredictedAccuracy(float(priors @ per_class), tuple(per_class.tolist()), stderr, method)


def max_abs_z(estimate, theory, n: int, floor: float = 1e-4) -> float:
    r"""Largest :math:`|\kappa^{(n)}_\mathrm{theory} - k^{(n)}| / \max(\mathrm{se}, f)` over all entries.

    ``estimate`` is a :class:`~symcorr.numeric.kstatistics.SampleCumulants` (with
    ``stderr``). The standard error is floored at ``f = floor`` times the
    largest absolute entry of :math:`k^{(n)}`: for a saturated unit (e.g.
    ``erf`` of a pre-activation many standard deviations from 0) the
    fluctuations are rare events that a finite sample misses, so its estimated
    standard error can be orders of magnitude too small while the absolute
    discrepancy is negligible.
    """
    diff = np.abs(np.asarray(theory.kappa(n)) - estimate.kappa(n))
    scale = floor * max(float(np.max(np.abs(estimate.kappa(n)))), 1e-300)
    se = np.maximum(estimate.stderr[n - 1], scale)
    return float(np.max(diff / se))


def edgeworth_density(k, x) -> np.ndarray:
    r"""Edgeworth density of a scalar with cumulants ``k = (k1, k2[, k3, k4])`` at ``x``.

    :math:`f(x) = \varphi(t)/\sigma\,[1 + \gamma_1 He_3(t)/6 + \gamma_2 He_4(t)/24 + \gamma_1^2 He_6(t)/72]`,
    :math:`t = (x - k_1)/\sigma` (the density matching the CDF used by
    :func:`correct_class_probability`); a Gaussian if only two cumulants are given.
    """
    x = np.asarray(x, np.float64)
    sigma = math.sqrt(k[1])
    t = (x - k[0]) / sigma
    g1 = k[2] / sigma**3 if len(k) > 2 else 0.0
    g2 = k[3] / sigma**4 if len(k) > 3 else 0.0
    he3 = t**3 - 3 * t
    he4 = t**4 - 6 * t**2 + 3
    he6 = t**6 - 15 * t**4 + 45 * t**2 - 15
    base = np.exp(-0.5 * t * t) / (math.sqrt(2 * math.pi) * sigma)
    return base * (1 + g1 * he3 / 6 + g2 * he4 / 24 + g1 * g1 * he6 / 72)
