r"""The XOR data of ``symcorr reproduce xor`` (docs/theory.md section 8).

Two classes in :math:`\mathbb{R}^2`, each an equal mixture of two Gaussian
clusters of width :math:`\sigma` (``width``),
:func:`symcorr.numeric.distributions.xor_class_mixture`:

* class 1 ("+1", :math:`x_1 x_2 > 0`): clusters at :math:`(1, 1)` and :math:`(-1, -1)`;
* class 0 ("-1", :math:`x_1 x_2 < 0`): clusters at :math:`(1, -1)` and :math:`(-1, 1)`.

With :math:`m = (1, \pm 1)` the class-conditional cumulants are exact:
:math:`\kappa^{(1)} = 0`, :math:`\kappa^{(2)} = m m^\top + \sigma^2 I`,
:math:`\kappa^{(3)} = 0`, :math:`\kappa^{(4)} = -2\, m^{\otimes 4}` (a symmetric
two-point mixture plus independent Gaussian noise). Both classes share the
mean; they differ in the sign of the off-diagonal covariance and of
:math:`\kappa^{(4)}_{1112}`. The Bayes-optimal rule is
:math:`\operatorname{sign}(x_1 x_2)`, with accuracy :math:`p^2 + (1-p)^2`,
:math:`p = \Phi(1/\sigma)`.
"""
from __future__ import annotations

import math

import numpy as np

from symcorr.numeric.distributions import xor_class_mixture

#: names of the classes 0 and 1
CLASS_NAMES = ("-1 (x1*x2<0)", "+1 (x1*x2>0)")


def xor_cumulants(label: int, width: float):
    r"""Exact cumulants of class ``label`` up to order 4 (closed form of the module docstring).

    Returns the tuple :math:`(\kappa^{(1)}, \dots, \kappa^{(4)})`.
    """
    m = xor_class_mixture(label, width)[1][0]
    k2 = np.outer(m, m) + width**2 * np.eye(2)
    k4 = -2.0 * np.einsum("i,j,k,l->ijkl", m, m, m, m)
    return np.zeros(2), k2, np.zeros((2, 2, 2)), k4


def sample_xor(n: int, width: float, rng: np.random.Generator, label: int | None = None):
    """``n`` samples ``(X, y)``: labels balanced at random (or all ``label``), cluster picked at random."""
    y = rng.integers(0, 2, n) if label is None else np.full(n, int(label))
    sign = rng.choice([-1.0, 1.0], n)
    centres = np.stack([sign, np.where(y == 1, sign, -sign)], axis=1)
    return centres + width * rng.standard_normal((n, 2)), y


def bayes_accuracy(width: float) -> float:
    """Accuracy of ``sign(x1 x2)``: :math:`p^2 + (1-p)^2`, :math:`p = \\Phi(1/\\sigma)`."""
    p = 0.5 * (1.0 + math.erf(1.0 / (width * math.sqrt(2.0))))
    return p * p + (1 - p) * (1 - p)
