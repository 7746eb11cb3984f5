r"""The figure of a :class:`~symcorr.networks.compare.ComparisonReport` (``symcorr compare --figure``).

Three panels: (a) the relative error of every layer and order with the Monte Carlo noise
level beside it, (b) :math:`\max|z|` with the Bonferroni bound, (c) the output layer's
propagated mean and covariance entries against their Monte Carlo estimates with
:math:`\pm 2\,\mathrm{se}` bars. Filled markers are tested orders (exact, numerical,
estimated), open ones approximations. Needs matplotlib (``pip install 'symcorr[figures]'``),
imported only here; drawn with the non-interactive Agg backend.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

#: file formats by suffix
FORMATS = (".png", ".svg", ".pdf")


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("the comparison figure needs matplotlib: pip install 'symcorr[figures]'") from error
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def draw_comparison(report, path) -> Path:
    """Draw ``report`` (a :class:`~symcorr.networks.compare.ComparisonReport`) to ``path``; returns the path."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"figure file {path} must end in one of {', '.join(FORMATS)}")
    plt = _pyplot()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    figure, (errors, scores, output) = plt.subplots(1, 3, figsize=(16, 4.8))
    positions = np.arange(len(report.labels))
    bound = report.bound
    for n in sorted({r.order for r in report.rows}):
        rows = [r for r in report.rows if r.order == n]
        color = colors[(n - 1) % len(colors)]
        x = np.array([r.layer for r in rows])
        for axis, values in ((errors, [r.rel_error for r in rows]), (scores, [max(r.max_z, 1e-3) for r in rows])):
            axis.plot(x, values, color=color, lw=0.8, alpha=0.5)
            for xi, value, row in zip(x, values, rows):
                axis.plot(xi, value, "o", color=color, markerfacecolor=color if row.tested else "white", ms=7)
        errors.plot(x, [r.noise for r in rows], ":", color=color, lw=1.2)
        errors.plot([], [], "o-", color=color, label=f"order {n}")
    errors.plot([], [], "k:", label="Monte Carlo noise")
    errors.plot([], [], "o", color="gray", markerfacecolor="white", label="approximate (not tested)")
    errors.set(yscale="log", ylabel=r"$\|\kappa_{theory}-k_{MC}\|_F\,/\,\|\kappa_{theory}\|_F$",
               title="(a) relative error per layer")
    if np.isfinite(bound):
        scores.axhline(bound, color="black", ls="--", lw=1, label=f"Bonferroni bound {bound:.2f}")
        scores.legend(loc="best", fontsize=8)
    scores.set(yscale="log", ylabel=r"$\max |z|$ (below $10^{-3}$ drawn at $10^{-3}$)",
               title=f"(b) max |z| ({report.dof} dof)")
    for axis in (errors, scores):
        axis.set_xticks(positions, report.labels, rotation=30, ha="right", fontsize=8)
    errors.legend(loc="best", fontsize=8)
    _draw_output(output, report, colors)
    figure.suptitle(f"{report.model} on {report.inputs}: order {report.order}, closure {report.closure}, "
                    f"{report.n_samples} samples -> {report.verdict}", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=130)
    plt.close(figure)
    return path


def _draw_output(axis, report, colors) -> None:
    """Theory against Monte Carlo for the unique mean and covariance entries of the last layer."""
    theory, estimate = report.theory[-1], report.estimates[-1]
    row = {r.order: r for r in report.rows if r.layer == len(report.labels) - 1}
    for n, name in ((1, "mean"), (2, "covariance")):
        if n not in row:
            continue
        entries = np.triu_indices(theory.dim) if n == 2 else (np.arange(theory.dim),)
        x, y, se = theory.kappa(n)[entries], estimate.kappa(n)[entries], estimate.stderr[n - 1][entries]
        axis.errorbar(x, y, yerr=2 * se, fmt="o", ms=4, color=colors[n - 1],
                      markerfacecolor=colors[n - 1] if row[n].tested else "white",
                      label=f"{name} ({row[n].status})")
    low, high = axis.get_xlim()
    axis.plot([low, high], [low, high], color="gray", lw=0.8)
    axis.set(xlabel="propagated", ylabel=r"Monte Carlo ($\pm 2$ se)", title=f"(c) output {report.labels[-1]}")
    axis.legend(loc="best", fontsize=8)


__all__ = ["draw_comparison", "FORMATS"]
