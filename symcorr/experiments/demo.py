r"""The main job, ``symcorr`` with no arguments: the paper's quadratic network, derived and checked.

1. Derive the mean and covariance of :math:`\phi(z) = z + \alpha z^2` from
   input cumulants of orders 1..4 and show them (docs/theory.md section 5), with a
   symbolic comparison against the closed form printed there.
2. Propagate a 2-D Gaussian through the depth-2 quadratic network
   ``Linear(2,3) -> phi -> Linear(3,2) -> phi`` with ``order=4`` (exact for the
   output mean and covariance) and compare with Gauss-Hermite quadrature.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from symcorr.arguments import SEED, CommandParser, real
from symcorr.derivation import activations
from symcorr.notation.symbols import ALPHA, cumulant_symbol
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.linear import linear
from symcorr.derivation.engine import derive
from symcorr.numeric.pointwise import pointwise
from symcorr.numeric.quadrature import quadrature_cumulants


def section_5_closed_form():
    """docs/theory.md section 5: mean and covariance of z + alpha z^2, as printed there."""
    alpha = ALPHA
    mu_i, mu_j, s_ij = cumulant_symbol("i"), cumulant_symbol("j"), cumulant_symbol("ij")
    k_iij, k_ijj, k_iijj = cumulant_symbol("iij"), cumulant_symbol("ijj"), cumulant_symbol("iijj")
    mean = mu_i + alpha * (mu_i**2 + cumulant_symbol("ii"))
    cov = ((1 + 2 * alpha * mu_i) * (1 + 2 * alpha * mu_j) * s_ij + 2 * alpha**2 * s_ij**2
           + alpha * (k_iij + k_ijj) + 2 * alpha**2 * (mu_i * k_ijj + mu_j * k_iij) + alpha**2 * k_iijj)
    return mean, cov


def main(argv=None) -> int:
    parser = CommandParser(prog="symcorr demo", description=__doc__, raw=True)
    parser.add_argument("--alpha", type=real(), default=0.5, help="the quadratic coefficient (default 0.5)")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the network's weights (default 0)")
    args = parser.parse_args(argv)

    print("symcorr: the paper's quadratic activation phi(z) = z + alpha z^2\n")
    derivation = derive(activations.quadratic(args.alpha), order=2, closure=4)
    mean, cov = section_5_closed_form()
    for pattern, closed_form in (("i", mean), ("ij", cov)):
        formula = derivation.formula(pattern)
        verdict = "equals" if sp.expand(formula - closed_form) == 0 else "DIFFERS FROM"
        print(f"kappa_y[{pattern}] =\n    {sp.factor_terms(sp.collect(formula, ALPHA))}")
        print(f"    ({verdict} docs/theory.md section 5)\n")

    rng = np.random.default_rng(args.seed)
    mean_x = np.array([0.3, -0.2])
    a = rng.normal(size=(2, 2))
    cov_x = a @ a.T / 2 + 0.2 * np.eye(2)
    W1, b1 = rng.normal(size=(3, 2)) / np.sqrt(2), rng.normal(size=3) * 0.3
    W2, b2 = rng.normal(size=(2, 3)) / np.sqrt(3), rng.normal(size=2) * 0.3
    phi = activations.quadratic(args.alpha)
    hidden = pointwise(linear(Cumulants(mean_x, cov_x), W1, b1), phi, order=4)
    output = pointwise(linear(hidden, W2, b2), phi, order=2, closure=4)
    reference = quadrature_cumulants(lambda x: phi(phi(x @ W1.T + b1) @ W2.T + b2),
                                     [1.0], [mean_x], [cov_x], order=2, n_nodes=20)
    print("Depth-2 quadratic network, 2-D Gaussian input, order 4 then order 2 "
          "at closure 4 (exact for mean and covariance):")
    failed = False
    for n, name in ((1, "mean"), (2, "covariance")):
        error = np.max(np.abs(output.kappa(n) - reference.kappa(n))) / np.max(np.abs(reference.kappa(n)))
        failed |= not error < 1e-10
        print(f"  {name:<10}  symcorr    {np.array2string(output.kappa(n).ravel(), precision=6)}")
        print(f"  {'':<10}  quadrature {np.array2string(reference.kappa(n).ravel(), precision=6)}"
              f"  max relative error {error:.1e}")
    print("\nOK: symcorr agrees with quadrature to 1e-10" if not failed
          else "\nFAILED: symcorr disagrees with quadrature")
    return 1 if failed else 0
