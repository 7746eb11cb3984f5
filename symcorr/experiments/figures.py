"""PNG figures of the reproductions (``symcorr reproduce xor`` / ``mnist``). Needs matplotlib (``figures`` extra).

Each function takes the results of :mod:`symcorr.experiments.xor` or
:mod:`symcorr.experiments.mnist` (it is called by their report modules),
draws with the non-interactive Agg backend and returns the list of files
written. Conventions: legends sit outside the data (below the panels, one per
figure when the panels share it); bar charts start at 0; a log axis has a stated
floor (:data:`LOG_FLOOR`) and points below it are drawn on it with their own
marker; a density that can turn negative (Edgeworth) is clipped at 0 and the
clipped stretch shaded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from symcorr.experiments.class_statistics import edgeworth_density, projected_cumulants
from symcorr.experiments.training import predict
from symcorr.experiments.xor_data import CLASS_NAMES, sample_xor
from symcorr.numeric.distributions import xor_class_mixture


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("figures need matplotlib: pip install 'symcorr[figures]' or pass --no-figures") from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def _figure_legend(fig, axes, ncol: int, extra=(), **options):
    """One legend below all panels: the labelled artists of ``axes`` (each label once) and ``extra`` handles;
    ``options`` go to :meth:`matplotlib.figure.Figure.legend`."""
    handles, labels = [], []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    for handle in extra:
        handles.append(handle)
        labels.append(handle.get_label())
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=8, frameon=False, **options)


COLORS = {"mc": "0.25", "order2": "tab:orange", "order4": "tab:blue", "empirical": "0.3", "from_input": "tab:orange"}
SOURCE_LABELS = {"mc": "Monte Carlo", "order2": "theory, order=2", "order4": "theory, order=4"}

#: floor of the log axes of relative errors: smaller values (exact layers, ~1e-16) are drawn on it
LOG_FLOOR = 1e-6


# -- XOR -------------------------------------------------------------------------

def xor_figures(results, model, theory, mc, config, out_dir: Path, clusters=None) -> list[Path]:
    plt = _pyplot()
    out_dir = Path(out_dir)
    files = []
    names = results["layers"]

    # 1. data and decision function
    fig, ax = plt.subplots(figsize=(5.2, 5.0), layout="constrained")
    rng = np.random.default_rng(config.seed + 7)
    X, y = sample_xor(1500, config.width, rng)
    lim = 1.0 + 3.5 * config.width
    grid = np.linspace(-lim, lim, 241)
    gx, gy = np.meshgrid(grid, grid)
    logits = predict(model, np.stack([gx.ravel(), gy.ravel()], axis=1))
    margin = (logits[:, 1] - logits[:, 0]).reshape(gx.shape)
    bound = np.percentile(np.abs(margin), 95)
    ax.contourf(gx, gy, margin, levels=np.linspace(-bound, bound, 21), cmap="RdBu_r", alpha=0.35, extend="both")
    ax.contour(gx, gy, margin, levels=[0.0], colors="k", linewidths=1.2)
    for c, marker, color in ((0, "o", "tab:blue"), (1, "s", "tab:red")):
        ax.scatter(*X[y == c].T, s=5, marker=marker, color=color, alpha=0.6, label=f"class {CLASS_NAMES[c]}")
    ax.set(xlabel="x1", ylabel="x2", aspect="equal", xlim=(-lim, lim), ylim=(-lim, lim),
           title=f"XOR data (width {config.width}) and network margin y+ - y-\n"
                 f"test accuracy {results['network_accuracy']:.3f}")
    _figure_legend(fig, [ax], ncol=2, markerscale=2)
    files.append(_save(fig, out_dir / "xor_data.png"))

    # 2. separation: mean part and covariance part per layer
    from matplotlib.patches import Patch

    sources = list(results["separation"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
    x = np.arange(len(names))
    width = 0.8 / len(sources)
    for k, source in enumerate(sources):
        sep = results["separation"][source]
        offset = (k - (len(sources) - 1) / 2) * width
        color = COLORS.get(source, None)
        axes[0].bar(x + offset, [s["mean"] for s in sep], width, color=color)
        axes[0].bar(x + offset, [s["cov"] for s in sep], width, bottom=[s["mean"] for s in sep], color=color,
                    alpha=0.35, hatch="//", edgecolor="white")
        share = [100 * s["mean_fraction"] for s in sep]
        if source == "mc":  # large open rings on top, so a theory line under them stays visible
            axes[1].plot(x, share, "o", ms=11, mfc="none", mew=1.6, color=color, zorder=3,
                         label=SOURCE_LABELS.get(source, source))
        else:
            axes[1].plot(x, share, "o-", ms=4, color=color, label=SOURCE_LABELS.get(source, source))
    axes[0].set(xticks=x, xticklabels=names, ylabel="Bhattacharyya distance", ylim=(0, None),
                title="class separation: D_mean (solid) + D_cov (hatched)")
    axes[1].set(xticks=x, xticklabels=names, ylabel="D_mean / (D_mean + D_cov)  [%]", ylim=(-5, 105),
                title="share of the separation in the mean")
    _figure_legend(fig, axes[1:], ncol=len(sources) + 2, extra=(
        Patch(facecolor="0.5", label="D_mean (solid)"),
        Patch(facecolor="0.8", hatch="///", edgecolor="0.45", label="D_cov (hatched)")))
    files.append(_save(fig, out_dir / "xor_separation.png"))

    # 3. theory against Monte Carlo: covariance entries per layer
    orders = sorted(theory)
    fig, axes = plt.subplots(1, len(names) - 1, figsize=(3.3 * (len(names) - 1), 3.9), layout="constrained")
    axes = np.atleast_1d(axes)
    for l in range(1, len(names)):
        ax = axes[l - 1]
        for c, marker in ((0, "o"), (1, "s")):
            empirical = mc[c][l].cov.ravel()
            for order in orders:
                ax.scatter(empirical, theory[order][c][l].cov.ravel(), s=12, marker=marker,
                           color=COLORS.get(f"order{order}"), alpha=0.7,
                           label=f"theory order={order}, class {CLASS_NAMES[c]}")
        lo = min(ax.get_xlim()[0], ax.get_ylim()[0])
        hi = max(ax.get_xlim()[1], ax.get_ylim()[1])
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="equality")
        ax.set(title=f"{names[l]}: covariance entries", xlabel="Monte Carlo", ylabel="theory")
    _figure_legend(fig, axes, ncol=3, markerscale=1.5)
    files.append(_save(fig, out_dir / "xor_theory_vs_mc.png"))

    # 4. output margin: histogram against the predicted Gaussians
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    rng = np.random.default_rng(config.seed + 8)
    for c in (0, 1):
        ax = axes[c]
        Xc, _ = sample_xor(200_000, config.width, rng, label=c)
        out = predict(model, Xc)
        d = out[:, c] - out[:, 1 - c]
        lo, hi = np.percentile(d, [0.2, 99.8])
        bins = np.linspace(lo, hi, 120)
        ax.hist(d, bins=bins, density=True, color="0.75", label="network (samples)")
        grid = np.linspace(lo, hi, 400)
        for order in orders:
            k1, k2 = projected_cumulants(theory[order][c][-1], c, 1 - c)[:2]
            ax.plot(grid, np.exp(-0.5 * (grid - k1) ** 2 / k2) / np.sqrt(2 * np.pi * k2),
                    color=COLORS.get(f"order{order}"), label=f"Gaussian, order={order}")
        if clusters and 4 in clusters:
            weights = xor_class_mixture(c, config.width)[0]
            density = sum(w * edgeworth_density(projected_cumulants(out, c, 1 - c), grid)
                          for w, out in zip(weights, clusters[4][c]))
            ax.plot(grid, np.maximum(density, 0.0), "--", color="tab:green", label="Edgeworth per cluster, order=4")
            _shade_negative(ax, grid, density)
        ax.axvline(0.0, color="k", lw=0.8)
        ax.set(title=f"class {CLASS_NAMES[c]}: margin d = y_c - y_other", xlabel="d", ylabel="density")
    _figure_legend(fig, axes, ncol=5)
    files.append(_save(fig, out_dir / "xor_output_margin.png"))

    # 5. accuracies
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    labels = ["network", "Bayes", *results["predicted_accuracy"]]
    values = [results["network_accuracy"], results["bayes_accuracy"], *results["predicted_accuracy"].values()]
    colors = ["0.2", "0.5"] + [COLORS.get(k.split("_")[0], "tab:green") for k in results["predicted_accuracy"]]
    ax.barh(labels, values, color=colors)
    for k, v in enumerate(values):
        ax.text(v + 0.003, k, f"{v:.3f}", va="center", fontsize=8)
    ax.set(xlim=(min(0.5, min(values) - 0.05), 1.02), xlabel="accuracy", title="XOR accuracy: network and predictions")
    ax.invert_yaxis()
    files.append(_save(fig, out_dir / "xor_accuracy.png"))
    return files


def _shade_negative(ax, grid, density) -> None:
    """Shade where an (Edgeworth) ``density`` on ``grid`` is negative: it is drawn clipped at 0 there."""
    negative = density < 0
    if not negative.any():
        return
    edges = np.flatnonzero(np.diff(np.concatenate([[0], negative.astype(int), [0]])))
    label = f"Edgeworth < 0 (min {density.min():.1e}): clipped to 0"
    for begin, end in zip(edges[::2], edges[1::2]):
        ax.axvspan(grid[begin], grid[end - 1], color="tab:green", alpha=0.15, lw=0, label=label)
        label = None


# -- MNIST-like -------------------------------------------------------------------------

def mnist_figures(results, arrays, dataset, out_dir: Path) -> list[Path]:
    plt = _pyplot()
    out_dir = Path(out_dir)
    files = []
    networks = results["networks"]

    # 1. accuracies
    keys = [("accuracy_real_test", "real test data"), ("accuracy_surrogate", "Gaussian surrogate data"),
            ("accuracy_predicted", "predicted (from input)"),
            ("accuracy_predicted_from_layer1", "predicted (from layer 1)")]
    fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
    x = np.arange(len(networks))
    width = 0.8 / len(keys)
    for k, (key, label) in enumerate(keys):
        values = [net[key] for net in networks.values()]
        bars = ax.bar(x + (k - (len(keys) - 1) / 2) * width, values, width, label=label)
        for bar, v in zip(bars, values):
            ax.text(bar.get_x() + bar.get_width() / 2, v + 0.01, f"{v:.3f}", ha="center", va="bottom", fontsize=7,
                    rotation=90)
    chance = 1 / results["dataset"]["n_classes"]
    ax.axhline(chance, color="0.4", ls=":", lw=1, label=f"chance ({chance:.2f})")
    ax.set(xticks=x, xticklabels=list(networks), ylabel="accuracy", ylim=(0, 1.12),
           yticks=np.linspace(0, 1, 6), title=f"{results['dataset']['name']}: accuracy")
    _figure_legend(fig, [ax], ncol=3)
    files.append(_save(fig, out_dir / "mnist_accuracy.png"))

    # 2. relative errors per layer, on a log axis with a floor (LOG_FLOOR)
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, len(networks), figsize=(5.2 * len(networks), 4.6), squeeze=False,
                             layout="constrained")
    styles = {"from_input": ("tab:orange", "from input"), "from_layer1": ("tab:blue", "from layer 1"),
              "surrogate": ("tab:green", "surrogate (from input)")}
    below_floor = []
    for ax, (name, net) in zip(axes[0], networks.items()):
        layers = net["layers"]
        for key, (color, label) in styles.items():
            rows = net["errors"][key]
            idx = np.array([l for l, r in enumerate(rows) if r is not None])
            for part, style, alpha in (("cov", "o-", 1.0), ("mean", "s--", 0.7)):
                values = np.array([rows[l][part] for l in idx])
                ax.semilogy(idx, np.maximum(values, LOG_FLOOR), style, color=color, alpha=alpha,
                            label=f"{label}: {part}")
                low = values < LOG_FLOOR
                ax.plot(idx[low], np.full(low.sum(), LOG_FLOOR), "v", ms=10, mfc="white", mew=1.4, color=color)
                below_floor.extend(values[low])
            if key == "surrogate":
                ax.semilogy(idx, [rows[l]["noise_cov"] for l in idx], ":", color=color,
                            label="sampling noise of surrogate cov")
        ax.axhline(LOG_FLOOR, color="0.5", lw=0.8, ls=(0, (1, 3)))
        ax.set_ylim(bottom=LOG_FLOOR / 4)
        ax.set(xticks=range(len(layers)), xticklabels=layers, ylabel="relative error (mean over classes)",
               title=f"{name}: propagated vs empirical statistics")
        ax.tick_params(axis="x", rotation=30)
    extra = []
    if below_floor:
        exact = "exact up to rounding, " if max(below_floor) < 1e-12 else ""
        extra.append(Line2D([], [], ls="none", marker="v", ms=8, mfc="white", color="0.3",
                            label=f"below the floor {LOG_FLOOR:g} ({exact}largest {max(below_floor):.0e}): drawn on it"))
    _figure_legend(fig, axes[0], ncol=4, extra=extra)
    files.append(_save(fig, out_dir / "mnist_layer_errors.png"))

    # 3. covariance entries of one class at every layer after the input, first network
    name, net = next(iter(networks.items()))
    data = arrays[name]
    layers = net["layers"]
    fig, axes = plt.subplots(1, len(layers) - 1, figsize=(3.3 * (len(layers) - 1), 3.9), layout="constrained")
    c = 0
    for l in range(1, len(layers)):
        ax = axes[l - 1]
        emp = data["empirical"][c][l].cov
        rng = np.random.default_rng(l)
        pick = rng.choice(emp.size, size=min(emp.size, 4000), replace=False)
        ax.scatter(emp.ravel()[pick], data["from_input"][c][l].cov.ravel()[pick], s=7, color="tab:orange",
                   alpha=0.5, label="propagated from the input")
        if l > 2 and data["from_first"][c][l] is not None:  # index 2 is where that propagation starts
            ax.scatter(emp.ravel()[pick], data["from_first"][c][l].cov.ravel()[pick], s=7, color="tab:blue",
                       alpha=0.5, label=f"propagated from layer 1 (after {layers[2]})")
        lo, hi = float(np.min(emp)), float(np.max(emp))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.7, label="equality")
        ax.set(title=f"{layers[l]}", xlabel="empirical cov", ylabel="propagated cov" if l == 1 else None)
        ax.tick_params(labelsize=8)
    fig.suptitle(f"{name}, class {results['dataset']['class_names'][c]}: covariance entries", fontsize=10)
    _figure_legend(fig, axes, ncol=3, markerscale=2)
    files.append(_save(fig, out_dir / "mnist_covariance_scatter.png"))

    # 4. real images, class means and Gaussian surrogate images
    shape = tuple(results["dataset"]["image_shape"])
    n_classes = results["dataset"]["n_classes"]
    fig, axes = plt.subplots(3, n_classes, figsize=(1.1 * n_classes, 3.6))
    surrogate = data["surrogate_images"]
    for c in range(n_classes):
        real = dataset.X_train[dataset.y_train == c][0]
        mean = dataset.X_train[dataset.y_train == c].mean(axis=0)
        for row, image in enumerate((real, mean, surrogate[c])):
            ax = axes[row, c]
            ax.imshow(np.clip(image, 0, 1).reshape(shape), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, c].set_title(str(results["dataset"]["class_names"][c])[:9], fontsize=7)
    for row, label in enumerate(("real", "class mean", "surrogate")):
        axes[row, 0].set_ylabel(label, fontsize=7)
    files.append(_save(fig, out_dir / "mnist_surrogate_samples.png"))
    return files
