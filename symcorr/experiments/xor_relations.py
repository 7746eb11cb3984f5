r"""The documented relations of ``symcorr reproduce xor`` (docs/theory.md sections 5 and 8), with their bounds.

:func:`check_relations` reads the results of :func:`symcorr.experiments.xor.run`
and states each relation as ``{name, holds, value, bound, description}``
(:func:`symcorr.experiments.reporting.relation`); every run checks them, the
reports print them and tests/experiments/test_reproduce.py asserts them on the
quick run (and that a slightly wrong propagation breaks them).
"""
from __future__ import annotations

from symcorr.experiments.reporting import relation

#: max ``|z|`` a correct exact propagation stays below (Student t with 63 degrees of
#: freedom over ~10^2 entries: exceeded with probability ~1e-3)
Z_BOUND = 5.0
#: the Gaussian closure's covariance after the quadratic layer is off by at least this many standard errors
Z_MISS = 20.0
#: ``|order=4 per-cluster Edgeworth prediction - network accuracy|``
ACCURACY_DISTANCE = 0.03
#: ``|order=4 Gaussian prediction - Gaussian prediction from the Monte Carlo output statistics|``
GAUSSIAN_PREDICTION_DISTANCE = 0.005
#: relative tolerance of the separation parts, theory (order=4) against Monte Carlo
SEPARATION_TOLERANCE = 0.05


def check_relations(results: dict) -> list[dict]:
    """The documented relations of an XOR run, each ``{name, holds, value, bound, description}``.

    The exactness relations (1-3, 6) assume one hidden layer: then ``order=4``
    gives the exact mean and covariance at every layer (docs/theory.md section 5);
    with more hidden layers they are reported as not applicable (``holds=None``).
    """
    relations = []

    def add(*record):
        relations.append(relation(*record))

    one_hidden = len(results["config"]["hidden"]) == 1
    names = results["layers"]
    tvm = results["theory_vs_mc"]
    if "order4" in tvm:
        worst = max(max(r["max_z_mean"], r["max_z_cov"]) for r in tvm["order4"])
        add("order4_matches_mc", worst <= Z_BOUND if one_hidden else None, worst, Z_BOUND,
            "order=4: max |z| of mean and covariance, every layer and class (exact for one hidden layer)")
    if "order2" in tvm:
        worst = max(r["max_z_mean"] for r in tvm["order2"])
        add("order2_means_match_mc", worst <= Z_BOUND if one_hidden else None, worst, Z_BOUND,
            "order=2: max |z| of the means (a quadratic layer's mean needs input cumulants up to order 2 only)")
        first_act = next(i for i, n in enumerate(names) if n.startswith("quadratic"))
        miss = min(r["max_z_cov"] for r in tvm["order2"] if r["layer"] == names[first_act])
        add("order2_misses_kappa4", miss >= Z_MISS, miss, Z_MISS,
            f"order=2: max |z| of the covariance after {names[first_act]} (the dropped input kappa4 matters)")
    sep = results["separation"]
    before = [l for l, n in enumerate(names) if not n.startswith("quadratic")][:2]  # input, linear1
    theory_key = "order4" if "order4" in sep else "order2"
    value = max(sep[theory_key][l]["mean"] for l in before)
    add("no_mean_separation_at_input", value <= 1e-9, value, 1e-9,
        "theory: D_mean at the input and after the first linear layer (both classes have mean 0)")
    value = sep["mc"][-1]["mean_fraction"]
    add("separation_moves_to_mean", value >= 0.5, value, 0.5,
        "Monte Carlo: share of the separation in the mean at the output (0 at the input)")
    if "order4" in sep:
        worst = max(abs(sep["order4"][l][part] - sep["mc"][l][part]) / max(sep["mc"][l]["mean"] + sep["mc"][l]["cov"], 1e-12)
                    for l in range(len(names)) for part in ("mean", "cov"))
        add("separation_theory_matches_mc", worst <= SEPARATION_TOLERANCE if one_hidden else None, worst,
            SEPARATION_TOLERANCE, "order=4 against Monte Carlo: |D_part difference| / D_total, worst layer and part")
    acc = results["predicted_accuracy"]
    if "order4_clusters_edgeworth" in acc:
        value = abs(acc["order4_clusters_edgeworth"] - results["network_accuracy"])
        add("predicted_accuracy_close", value <= ACCURACY_DISTANCE if one_hidden else None, value,
            ACCURACY_DISTANCE, "|predicted (order=4 per cluster, Edgeworth) - network accuracy|")
    if "order4" in acc:
        value = abs(acc["order4"] - acc["mc_gaussian"])
        add("gaussian_prediction_matches_mc", value <= GAUSSIAN_PREDICTION_DISTANCE if one_hidden else None, value,
            GAUSSIAN_PREDICTION_DISTANCE, "|Gaussian prediction from order=4 - from the Monte Carlo output mean and cov|")
    return relations
