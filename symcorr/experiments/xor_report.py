"""The outputs of ``symcorr reproduce xor``: the printed table, the Markdown report, ``results.json``
and the figures (:func:`symcorr.experiments.figures.xor_figures`), from the results of
:func:`symcorr.experiments.xor.run`."""
from __future__ import annotations

from pathlib import Path

from symcorr.experiments.reporting import (RELATION_HEADER, markdown_table, percent, relation_rows, text_table,
                                          write_json)
from symcorr.experiments.training import progress
from symcorr.experiments.xor_data import CLASS_NAMES

PREDICTION_LABELS = {
    "order2": "order=2 propagation of each class (mixture cumulants), output taken as Gaussian",
    "order4": "order=4 propagation of each class (mixture cumulants), output taken as Gaussian",
    "order2_clusters": "order=2 propagation of each cluster, output a mixture of Gaussians",
    "order4_clusters": "order=4 propagation of each cluster, output a mixture of Gaussians",
    "order4_clusters_edgeworth": "order=4 propagation of each cluster, Edgeworth with output cumulants 1..4",
    "mc_gaussian": "diagnostic: Gaussian output with the Monte Carlo mean and covariance",
    "mc_edgeworth": "diagnostic: Edgeworth with the Monte Carlo output cumulants 1..4",
}


def _prediction_label(key: str) -> str:
    return PREDICTION_LABELS.get(key, key)


def _separation_rows(results: dict) -> list[list[str]]:
    rows = []
    for l, name in enumerate(results["layers"]):
        cells = [name]
        for s in results["separation"].values():
            cells += [f"{s[l]['mean']:.3f}", f"{s[l]['cov']:.3f}", percent(s[l]["mean_fraction"])]
        rows.append(cells)
    return rows


def _separation_header(results: dict) -> list[str]:
    header = ["layer"]
    for key in results["separation"]:
        header += [f"{key} D_mean", f"{key} D_cov", f"{key} in mean"]
    return header


def _theory_rows(results: dict) -> list[list[str]]:
    rows = []
    for order_key, entries in results["theory_vs_mc"].items():
        for r in entries:
            rows.append([order_key.replace("order", "order="), CLASS_NAMES[r["class"]], r["layer"],
                         f"{r['max_z_mean']:.2f}", f"{r['max_z_cov']:.2f}", f"{r['cov_rel_error']:.2e}"])
    return rows


THEORY_HEADER = ["propagation", "class", "layer", "max|z| mean", "max|z| cov", "rel. error cov"]


def _margin_rows(results: dict) -> list[list[str]]:
    rows = []
    for cls, record in results["output_margin_cumulants"].items():
        for source, values in record.items():
            if source.endswith("_approximate"):
                continue
            marks = record.get(f"{source}_approximate", [False] * 4)
            rows.append([cls, source] + [("~" if mark else "") + f"{v:.4g}" for v, mark in zip(values[:4], marks)]
                        + [""] * (4 - len(values[:4])))
    return rows


#: The note under the margin table.
MARGIN_NOTE = ("~ marks an approximate order (its status: the closure drops input cumulants the formula needs; "
               "symcorr.numeric.exactness), not a test of the theory")


MARGIN_HEADER = ["class", "source", "kappa1", "kappa2", "kappa3", "kappa4"]


def summary_table(results: dict) -> str:
    """The printed table: accuracies, separation per layer, theory against Monte Carlo."""
    cfg = results["config"]
    lines = [f"XOR: width {cfg['width']}, network {' -> '.join(results['layers'][1:])}, "
             f"phi = z + {cfg['alpha']} z^2; runtime {results['runtime_seconds']:.1f} s", ""]
    rows = [["network on test samples", f"{results['network_accuracy']:.4f}"],
            ["Bayes optimum sign(x1 x2)", f"{results['bayes_accuracy']:.4f}"]]
    rows += [[f"predicted: {_prediction_label(k)}", f"{v:.4f}"] for k, v in results["predicted_accuracy"].items()]
    lines += text_table(["accuracy", ""], rows)
    lines += ["", "  class separation per layer (Bhattacharyya distance = D_mean + D_cov; 'in mean' = D_mean / total):"]
    lines += text_table(_separation_header(results), _separation_rows(results))
    lines += ["", "  theory against Monte Carlo (z = (theory - MC) / standard error, over all mean / covariance entries):"]
    lines += text_table(THEORY_HEADER, _theory_rows(results))
    lines += ["", "  cumulants of the output margin d = y_c - y_other:"]
    lines += text_table(MARGIN_HEADER, _margin_rows(results))
    lines += [f"  {MARGIN_NOTE}"]
    lines += ["", "  documented relations:"]
    lines += text_table(RELATION_HEADER, relation_rows(results["relations"]))
    return "\n".join(lines)


def write_outputs(results, model, theory, mc, config, out_dir: Path, figures: bool = True, clusters=None) -> None:
    """``results.json``, ``report.md`` and (``figures``) the PNG figures in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "results.json", results)
    figure_files = []
    if figures:
        from symcorr.experiments.figures import xor_figures

        figure_files = xor_figures(results, model, theory, mc, config, out_dir, clusters)
    (out_dir / "report.md").write_text(markdown_report(results, figure_files))
    progress(f"[xor] wrote {out_dir / 'report.md'}, results.json and {len(figure_files)} figures")


def markdown_report(results: dict, figure_files=()) -> str:
    """The Markdown report of one run (numbers of :func:`summary_table` plus the figures)."""
    cfg = results["config"]
    lines = [
        "# XOR: the class information moves from the covariance to the mean",
        "",
        f"Generated by `symcorr reproduce xor` (runtime {results['runtime_seconds']:.1f} s).",
        "",
        "## Setup",
        "",
        f"- data: two classes, each an equal mixture of two Gaussian clusters of width {cfg['width']}: "
        "class +1 at (1, 1) and (-1, -1), class -1 at (1, -1) and (-1, 1). Both classes have mean 0; "
        "their covariances differ in the sign of the off-diagonal entry",
        f"- network: {' -> '.join(results['layers'][1:])}, phi(z) = z + {cfg['alpha']} z^2 (alpha fixed), "
        f"trained {cfg['epochs']} epochs on {cfg['n_train']} samples (Adam, lr {cfg['lr']}, seed {cfg['seed']})",
        "- theory: the exact class-conditional input cumulants (orders 1..4 of the Gaussian mixture) propagated with "
        + " and ".join(f"`order={k}`" for k in cfg["orders"]),
        f"- Monte Carlo: {cfg['n_mc']} samples per class through the torch network; k-statistics with batch-means "
        "standard errors",
        "",
        "## Accuracy",
        "",
    ]
    rows = [[f"network on {cfg['n_test']} test samples", f"{results['network_accuracy']:.4f}"],
            ["Bayes optimum sign(x1 x2)", f"{results['bayes_accuracy']:.4f}"]]
    rows += [[f"predicted: {_prediction_label(k)}", f"{v:.4f}"] for k, v in results["predicted_accuracy"].items()]
    lines += markdown_table(["", "accuracy"], rows)
    lines += [
        "",
        "## Separation in the mean and in the covariance",
        "",
        "Bhattacharyya distance of the two classes' Gaussian approximations, split exactly into",
        "`D_mean = (1/8) dmu^T Sbar^-1 dmu` and `D_cov = (1/2) ln(det Sbar / sqrt(det S_a det S_b))`,",
        "`Sbar = (S_a + S_b)/2` (computed on the support of Sbar); 'in mean' is `D_mean / (D_mean + D_cov)`.",
        "`mc`: from the Monte Carlo statistics; `orderK`: from the propagated statistics.",
        "",
    ]
    lines += markdown_table(_separation_header(results), _separation_rows(results))
    lines += [
        "",
        "## Theory against Monte Carlo",
        "",
        "max |z| over the entries of mean and covariance, z = (theory - MC) / standard error "
        "(batch means, 63 degrees of freedom), and the relative Frobenius error of the covariance.",
        "",
    ]
    lines += markdown_table(THEORY_HEADER, _theory_rows(results))
    lines += [
        "",
        "## Output margin",
        "",
        "Cumulants of d = y_c - y_other (positive d: correct decision) for each class.",
        "",
    ]
    lines += markdown_table(MARGIN_HEADER, _margin_rows(results))
    lines += ["", MARGIN_NOTE + "."]
    lines += ["", "## Documented relations", "",
              "Checked on every run (and asserted by tests/experiments/test_reproduce.py on the quick run).", ""]
    lines += markdown_table(RELATION_HEADER, relation_rows(results["relations"]))
    if figure_files:
        lines += ["", "## Figures", ""]
        lines += [f"![{Path(f).stem}]({Path(f).name})" for f in figure_files]
    return "\n".join(lines) + "\n"
