r"""``symcorr validate``: :func:`symcorr.propagate` against Monte Carlo of sampled torch networks.

For a set of random networks (activations quadratic, cubic and erf; depth 1..3;
widths up to 64; Gaussian and Gaussian-mixture inputs; and those of
:mod:`symcorr.networks.validation_networks`: every other activation family
through torch's own modules, and convolutional networks) the theory
(``propagate(..., trace=True)``) is compared with Monte Carlo estimates
(:func:`symcorr.networks.montecarlo.monte_carlo`) layer by layer and order by order
(docs/theory.md section 7): for every entry the z-score

.. math:: z = \frac{\kappa_\text{theory} - k_\text{MC}}{\mathrm{se}_\text{MC}}

follows a Student t law with ``groups - 1`` degrees of freedom when the theory
is right. The run passes when :math:`\max |z|` over all :math:`m` tested
(unique) entries stays below the Bonferroni bound
:math:`t^{-1}_{G-1}(1 - \alpha / (2m))` (family-wise error rate
:math:`\alpha`, default 0.001).

Only entries that the theory gives *exactly* are tested. The closure ``K``
drops input cumulants above ``K``, so whether a layer's order-``m`` output is
exact follows from the inputs it needs (docs/theory.md section 5): a polynomial of
degree ``d`` needs input orders ``1..m d``, each either carried exactly
(order <= K) or truly zero (above ``K`` for a Gaussian); linear layers keep
exactness order by order; erf of a Gaussian is exact at every order (closed
forms and numerical joint moments, docs/theory.md section 6) and an approximation
otherwise. Rows that
are approximations are printed (marked ``~``) with their z-scores and
relative errors but do not decide the outcome: there the z-scores measure the
closure error, not a bug.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from argparse import SUPPRESS
from dataclasses import dataclass

import numpy as np

from symcorr.arguments import SEED, CommandParser, DeprecatedOption, integer, real
from symcorr.networks.validation_networks import FAMILY_FACTORIES, family_networks, missing_families
from symcorr.numeric.exactness import ApproximationWarning

INFINITY = math.inf


# ---------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------

#: activation modules of the validation networks (parameters fixed, not learnable)
ACTIVATION_FACTORIES = {
    "quadratic": lambda: _snn().Quadratic(0.5, learnable=False),
    "cubic": lambda: _snn().Polynomial([0.0, 1.0, 0.2, 0.1], learnable=False),
    "erf": lambda: _snn().Erf(),
}
ACTIVATION_FACTORIES.update(FAMILY_FACTORIES)  # torch's activations and the other families


#: weight gains of the validation networks: the cubic one smaller, since a depth-3 cubic
#: network is a polynomial of degree 27 whose tails otherwise dominate every estimate
GAINS = {"quadratic": 1.0, "cubic": 0.4, "erf": 1.5}


def _snn():
    from symcorr.networks import modules as snn

    return snn


@dataclass(frozen=True)
class NetworkSpec:
    """A random validation network: ``Linear(d_in, width) -> act -> ... (depth activations) -> Linear(width, 2)``.

    Weights :math:`N(0, g^2 / n_\\mathrm{in})`, biases :math:`N(0, 0.1^2)`,
    seeded; ``inputs`` is ``'gaussian'`` (3-D, random mean and covariance)
    or ``'mixture'`` (the 2-D XOR class "+1" of width 0.3,
    :func:`symcorr.numeric.distributions.xor_class_mixture`); ``order`` is the
    closure K given to :func:`symcorr.propagate`.
    """

    activation: str
    depth: int
    width: int
    inputs: str
    order: int
    seed: int = 0
    gain: float = 1.0

    @property
    def name(self) -> str:
        return f"{self.activation}-d{self.depth}-w{self.width}-{self.inputs}-K{self.order}"

    def build(self, dtype=None):
        """``(model, sampler, input cumulants)``; ``model`` in float64 unless ``dtype`` is given."""
        from symcorr.networks.modules import mlp
        from symcorr.numeric.distributions import Gaussian, GaussianMixture, xor_class_mixture

        if self.activation not in ACTIVATION_FACTORIES:
            raise ValueError(f"unknown activation {self.activation!r}; known: {sorted(ACTIVATION_FACTORIES)}")
        rng = np.random.default_rng(1000 + self.seed)
        if self.inputs == "gaussian":
            d_in = 3
            A = rng.normal(size=(d_in, d_in)) / math.sqrt(d_in)
            source = Gaussian(0.5 * rng.normal(size=d_in), A @ A.T + 0.2 * np.eye(d_in))
            cumulants = source.cumulants(2)
        elif self.inputs == "mixture":
            d_in = 2
            source = GaussianMixture(*xor_class_mixture(1, 0.3))
            cumulants = source.cumulants(max(2, min(self.order, 4)))
        else:
            raise ValueError(f"inputs must be 'gaussian' or 'mixture', got {self.inputs!r}")
        model = mlp([d_in] + [self.width] * self.depth + [2], ACTIVATION_FACTORIES[self.activation],
                    init_gain=self.gain, bias_std=0.1, seed=1000 + self.seed)
        if dtype is not None:
            model = model.to(dtype)
        return model, source, cumulants


def default_networks(quick: bool = False) -> list[NetworkSpec]:
    """The validation suite; ``quick=True`` is the small version the test suite runs."""
    if quick:
        specs = [
            NetworkSpec("quadratic", 2, 6, "gaussian", 4, seed=1),
            NetworkSpec("quadratic", 1, 5, "mixture", 4, seed=2),
            NetworkSpec("cubic", 1, 16, "gaussian", 2, seed=3, gain=GAINS["cubic"]),
            NetworkSpec("erf", 1, 16, "gaussian", 2, seed=4, gain=GAINS["erf"]),
            NetworkSpec("erf", 1, 6, "gaussian", 4, seed=5, gain=GAINS["erf"]),
        ]
    else:
        specs = []
        for activation in ("quadratic", "cubic", "erf"):
            for depth, width in ((1, 64), (2, 16), (3, 8)):
                order = 4 if activation == "quadratic" and width <= 16 else 2
                specs.append(NetworkSpec(activation, depth, width, "gaussian", order, seed=10 * depth,
                                         gain=GAINS[activation]))
            if activation == "erf":     # orders 3..4 of erf are exact for a Gaussian: one layer deep
                specs.append(NetworkSpec("erf", 1, 8, "gaussian", 4, seed=13, gain=GAINS["erf"]))
            for depth, width in ((1, 16), (2, 8), (3, 8)):
                order = 4 if activation == "quadratic" else 2
                specs.append(NetworkSpec(activation, depth, width, "mixture", order, seed=10 * depth + 1,
                                         gain=GAINS[activation]))
    specs += family_networks(quick)
    return specs


# ---------------------------------------------------------------------------
# which layers and orders the theory gives exactly
# ---------------------------------------------------------------------------

def exact_orders(model, order: int, input_nonzero: float) -> list[set[int]]:
    """For each layer of :func:`symcorr.networks.propagation.layers`, the output orders (``1..order``) that
    ``propagate(model, ..., order=order)`` gives exactly (or to numerical tolerance); see the module
    docstring. ``input_nonzero`` is the highest order in which the input may have non-zero
    cumulants (2 for a Gaussian, ``math.inf`` for a mixture or data); the input cumulants up to
    ``order`` are assumed exact. The rule is :func:`symcorr.networks.exactness.status_walk`, the
    one that sets the statuses of ``propagate``'s results.
    """
    from symcorr.networks.exactness import exact_orders as walk_exact_orders

    return walk_exact_orders(model, order, input_nonzero)


# ---------------------------------------------------------------------------
# the comparison
# ---------------------------------------------------------------------------

@dataclass
class Row:
    """One line of the table: a network, a layer, an order."""

    network: str
    layer: str
    order: int
    entries: int          # unique entries of the symmetric tensor
    max_z: float
    rel_error: float      # ||theory - MC||_F / ||theory||_F (nan when theory is 0)
    exact: bool           # tested (True) or an approximation shown for information
    samples: int
    seconds_theory: float
    seconds_mc: float


@dataclass
class Report:
    rows: list[Row]
    alpha: float
    dof: int
    tests: int = 0
    bound: float = INFINITY

    def __post_init__(self):
        from scipy import stats

        self.tests = sum(r.entries for r in self.rows if r.exact)
        if self.tests:
            self.bound = float(stats.t.isf(self.alpha / (2 * self.tests), self.dof))

    @property
    def max_z(self) -> float:
        return max((r.max_z for r in self.rows if r.exact), default=0.0)

    @property
    def passed(self) -> bool:
        return self.tests > 0 and self.max_z < self.bound

    @property
    def failures(self) -> list[Row]:
        return [r for r in self.rows if r.exact and not r.max_z < self.bound]

    def table(self) -> str:
        header = ("network", "layer", "order", "max|z|", "rel.err", "samples", "time theory/MC")
        lines = []
        for r in self.rows:
            mark = "" if r.exact else "~"
            flag = " FAIL" if r.exact and not r.max_z < self.bound else ""
            rel = "-" if not np.isfinite(r.rel_error) else f"{r.rel_error:.2e}"
            lines.append((r.network, r.layer, str(r.order), f"{mark}{r.max_z:.2f}{flag}", rel,
                          f"{r.samples}", f"{r.seconds_theory:.3f}s/{r.seconds_mc:.1f}s"))
        widths = [max(len(h), *(len(line[c]) for line in lines)) if lines else len(h) for c, h in enumerate(header)]
        fmt = "  ".join(f"{{:<{w}}}" if c < 2 else f"{{:>{w}}}" for c, w in enumerate(widths))
        out = [fmt.format(*header), "  ".join("-" * w for w in widths)]
        out += [fmt.format(*line) for line in lines]
        out.append("")
        out.append(f"tested entries m = {self.tests} (exact rows); Bonferroni bound on max|z|: "
                   f"t_{self.dof}^-1(1 - {self.alpha:g}/(2m)) = {self.bound:.2f}; "
                   f"observed max|z| = {self.max_z:.2f} -> {'PASS' if self.passed else 'FAIL'}")
        out.append("~ marks approximations (closure K drops input cumulants the layer needs): "
                   "shown, not tested.")
        return "\n".join(out)


def _unique_entries(dim: int, order: int) -> int:
    return math.comb(dim + order - 1, order)


def compare_network(spec: NetworkSpec, n_samples: int, *, groups: int = 64, seed: int = 0,
                    batch_size: int = 8192, max_width_higher: int = 8, model=None, source=None,
                    cumulants=None, client=None, shards: int | None = None) -> list[Row]:
    """Rows for one network: propagate vs Monte Carlo at every layer and order.

    Orders 3 and 4 are compared only on layers of width <= ``max_width_higher``
    (their estimation costs :math:`N^4` per sample). ``model``, ``source`` and
    ``cumulants`` override :meth:`NetworkSpec.build`. ``client`` (a Dask client) and
    ``shards`` go to :func:`symcorr.networks.montecarlo.monte_carlo`.
    """
    from symcorr.networks.montecarlo import monte_carlo
    from symcorr.networks.propagation import layer_label, layers, propagate

    built = spec.build()
    model = built[0] if model is None else model
    source = built[1] if source is None else source
    cumulants = built[2] if cumulants is None else cumulants
    K = spec.order
    start = time.perf_counter()
    input_shape = getattr(spec, "input_shape", None)
    with warnings.catch_warnings():   # the table marks the approximate rows itself
        warnings.simplefilter("ignore", ApproximationWarning)
        theory = propagate(model, cumulants, order=K, trace=True, input_shape=input_shape)
    seconds_theory = time.perf_counter() - start

    entries = layers(model)
    orders = [min(K, 4) if t.dim <= max_width_higher else 2 for t in theory]
    mc = monte_carlo(model, source, n_samples, orders, groups=groups, seed=seed, batch_size=batch_size,
                     input_shape=input_shape, client=client, shards=shards)
    # the statuses propagate attaches (symcorr.numeric.exactness) decide which rows are tested
    exact = [{n for n in range(1, K + 1) if th.status(n).kind in ("exact", "numerical")} for th in theory]

    rows = []
    for l, ((name, module), th) in enumerate(zip(entries, theory)):
        estimate = mc[l]
        for n in range(1, orders[l] + 1):
            z = np.abs(estimate.z_scores(th, n))
            t_tensor = th.kappa(n)
            norm = float(np.linalg.norm(t_tensor))
            diff = float(np.linalg.norm(t_tensor - estimate.kappa(n)))
            rows.append(Row(spec.name, layer_label(name, module), n, _unique_entries(th.dim, n),
                            float(z.max()), diff / norm if norm > 0 else math.nan, n in exact[l],
                            estimate.n_samples, seconds_theory, mc.seconds))
    return rows


def validate(networks=None, *, quick: bool = False, n_samples: int | None = None, alpha: float = 1e-3,
             groups: int = 64, seed: int = 0, stream=None, client=None, shards: int | None = None) -> Report:
    """Run the comparison for ``networks`` (default :func:`default_networks`) and return the :class:`Report`.

    ``n_samples`` defaults to 2**16 (quick) or 2**20. With ``stream`` (e.g.
    ``sys.stdout``) progress and the table are printed there. With ``client`` (a Dask
    client) the Monte Carlo runs in ``shards`` shards on its workers
    (:mod:`symcorr.networks.distributed`).
    """
    specs = default_networks(quick) if networks is None else list(networks)
    if not specs:
        raise ValueError("no networks to validate")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha (the family-wise error rate) must lie in (0, 1), got {alpha}")
    n_samples = (2**16 if quick else 2**20) if n_samples is None else int(n_samples)
    rows = []
    for spec in specs:
        start = time.perf_counter()
        rows += compare_network(spec, n_samples, groups=groups, seed=seed, client=client, shards=shards)
        if stream is not None:
            print(f"  {spec.name}: {time.perf_counter() - start:.1f}s", file=stream, flush=True)
    report = Report(rows, alpha, groups - 1)
    if stream is not None:
        print(report.table(), file=stream, flush=True)
    return report


#: the argument types of ``symcorr validate``: each refusal names the limit and the value given
SAMPLES, GROUPS = integer(1), integer(2, note="the standard errors have groups - 1 degrees of freedom")
ERROR_RATE = real(above=0, below=1, note="at 0 the Bonferroni bound is infinite and every run passes")


def main(argv=None) -> int:
    """``symcorr validate [--quick] [--samples N] [--error-rate A] [--groups G] [--seed S] [--only TEXT]
    [--scheduler ADDRESS | --workers N] [--shards S]``."""
    from symcorr.networks.distributed import add_arguments, client_from_arguments

    parser = CommandParser(prog="symcorr validate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small suite the test suite runs")
    parser.add_argument("--samples", type=SAMPLES, default=None,
                        help="Monte Carlo samples per network (default 2^16 with --quick, else 2^20)")
    parser.add_argument("--error-rate", type=ERROR_RATE, default=1e-3,
                        help="family-wise error rate: the chance that a correct theory fails the run "
                             "(0 < rate < 1; default 0.001)")
    parser.add_argument("--alpha", dest="error_rate", type=ERROR_RATE, action=DeprecatedOption,
                        replacement="--error-rate",
                        reason="in the other commands --alpha is the activation's coefficient", help=SUPPRESS)
    parser.add_argument("--groups", type=GROUPS, default=64,
                        help="batch-means groups for the standard errors (>= 2; default 64)")
    parser.add_argument("--seed", type=SEED, default=0, help="Monte Carlo seed (0 .. 2^32-1; default 0)")
    parser.add_argument("--only", default=None, help="only networks whose name contains this text")
    add_arguments(parser)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    specs = default_networks(args.quick)
    if args.only:
        specs = [s for s in specs if args.only in s.name]
        if not specs:
            print(f"symcorr validate: no network name contains {args.only!r}", file=sys.stderr)
            return 2
    samples = args.samples or (2**16 if args.quick else 2**20)
    top = max(min(spec.order, 4) for spec in specs)     # the highest order compare_network estimates
    if samples < args.groups * (2 * top + 2):
        parser.error(f"argument --samples: {samples} samples in {args.groups} groups are too few for order-{top} "
                     f"k-statistics: need at least {args.groups * (2 * top + 2)} ({2 * top + 2} per group); "
                     "raise --samples or lower --groups")
    with client_from_arguments(args) as client:
        report = validate(specs, quick=args.quick, n_samples=samples, alpha=args.error_rate, groups=args.groups,
                          seed=args.seed, stream=sys.stdout, client=client, shards=args.shards)
    if missing_families():
        print(f"note: networks of the activation families {', '.join(missing_families())} skipped "
              "(not available in this symcorr)")
    return 0 if report.passed else 1


__all__ = ["validate", "main", "NetworkSpec", "default_networks", "exact_orders", "compare_network",
           "Report", "Row"]
