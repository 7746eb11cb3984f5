"""The shipped kernels: one job per (activation, output orders, closure).

A theorist adding an activation or an order adds a line here and runs
``python -m derivations``. A job without a series order takes its family's default
(``activation.family.default_series_order``: none for polynomials, which are exact).
"""
from dataclasses import dataclass

from symcorr.derivation import activations
from symcorr.derivation.activation import Activation


@dataclass(frozen=True)
class KernelJob:
    activation: Activation
    order: int
    closure: int
    series_order: int | None = None


KERNEL_JOBS = (
    # the paper's z + alpha z^2: orders 1..M from closure K = M (K = 4 is exact
    # for mean and covariance behind a quadratic layer)
    *(KernelJob(activations.quadratic(), m, m) for m in (2, 3, 4)),
    # the general cubic a0 + a1 z + a2 z^2 + a3 z^3: mean and covariance, closure 2..6
    *(KernelJob(activations.cubic(), 2, k) for k in range(2, 7)),
    # erf (docs/theory.md section 6): the Gaussian part resummed exactly (Owen's T for orders 1..2,
    # numerical joint moments for 3..4), the non-Gaussian corrections of kappa_3, kappa_4 to the
    # default series order
    *(KernelJob(activations.erf(), m, k) for m, k in ((2, 2), (2, 4), (4, 2))),
    # the piecewise-linear family (docs/theory.md section 11): mean and covariance, the Gaussian part resummed in
    # closed form (normal and bivariate normal distribution functions); closure 4 adds kappa_3, kappa_4
    *(KernelJob(constructor(), 2, k) for constructor in (activations.relu, activations.leaky_relu,
                                                         activations.abs, activations.heaviside) for k in (2, 4)),
    # the Gaussian CDF and GELU (docs/theory.md section 11): the same, through the bivariate normal of w = z - xi
    *(KernelJob(constructor(), 2, k) for constructor in (activations.probit, activations.gelu) for k in (2, 4)),
    # sine and cosine (docs/theory.md section 11): every joint Gaussian vertex in closed form, exact at every order
    *(KernelJob(constructor(), m, k) for constructor in (activations.sin, activations.cos)
      for m, k in ((2, 2), (2, 4), (4, 2))),
)

#: The shipped factored modules (docs/theory.md section 12): output orders 3..M as tensor-network terms of the
#: diagrams, from closure K. A pointwise layer of odd closure K that keeps the diagonal of order K + 1 carries
#: closure K + 1 and reads the module (K + 1, K + 1) (closure 3 with the diagonal kept reads (4, 4)); output order
#: 4 from closure 3 without it reads (4, 3); a layer of order 3 that reads the diagonal of order 4 its input keeps
#: (keep_next_diagonal='input') reads (3, 4). The general cubic ships its orders 3 only: its (4, 3) and (4, 4)
#: take 11 s and 31 s to derive and print on 2 cores (0.5 MB for (4, 4)), which would double the drift check;
#: they are derived on first use and cached (symcorr.codegen.loader).
FACTORED_JOBS = (tuple(KernelJob(activations.quadratic(), m, k) for m, k in ((3, 3), (3, 4), (4, 3), (4, 4)))
                 + tuple(KernelJob(activations.cubic(), m, k) for m, k in ((3, 3), (3, 4))))
