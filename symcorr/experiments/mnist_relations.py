r"""The documented relations of ``symcorr reproduce mnist``, with their bounds.

:func:`check_relations` reads the results of :func:`symcorr.experiments.mnist.run`
and states, per network, each relation as ``{name, holds, value, bound,
description}`` (:func:`symcorr.experiments.reporting.relation`); every run
checks them, the reports print them and tests/experiments/test_reproduce.py
asserts them on the quick run (and that a slightly wrong propagation breaks them).
"""
from __future__ import annotations

from symcorr.experiments.reporting import relation

#: relative error of a linear layer right after the start of a propagation (exact up to rounding)
LINEAR_EXACT = 1e-10
#: max ``|z|`` of the first activation's mean and covariance for Gaussian input (exact there);
#: Student t with 63 degrees of freedom over ~10^4 entries (exceeded with probability ~1e-2)
Z_BOUND = 5.5
#: erf networks: relative error of the first activation's mean and covariance for Gaussian input over
#: the sampling noise (the standard errors of pairs of saturated erf units come from rare joint
#: excursions, which 10^4 samples do not resolve, so entrywise z-scores are not used there)
NOISE_FACTOR = 2.0
#: quadratic networks: relative error of the means propagated from layer 1 (exact but for the
#: n/(n-1) of the unbiased covariance)
QUADRATIC_MEAN_EXACT = 5e-3
#: relative covariance error of the internal layers propagated from layer 1 (Gaussian closure)
INTERNAL_COV_BOUND = 0.5
#: real-data covariance error at the first activation over the surrogate's (closure exact there)
HIGHER_ORDER_FACTOR = 3.0
#: quadratic: first-activation covariance error with the data's cumulants up to 4 over that up to 2
CLOSURE_RATIO = 0.1
#: ``|accuracy on Gaussian surrogate data - accuracy on real data|``
SURROGATE_DISTANCE = 0.05
#: ``|predicted accuracy - accuracy on real data|`` and ``|predicted - surrogate|``
PREDICTION_DISTANCE = 0.08


def check_relations(results: dict) -> dict:
    """Per network, the documented relations ``[{name, holds, value, bound, description}]``."""
    out = {}
    for name, net in results["networks"].items():
        relations = []

        def add(*record):
            relations.append(relation(*record))

        layers = net["layers"]
        err = net["errors"]
        first_act, second_linear = 2, 3
        value = max(err["from_input"][1]["mean"], err["from_input"][1]["cov"],
                    err["from_layer1"][second_linear]["mean"], err["from_layer1"][second_linear]["cov"])
        add("linear_layers_exact", value <= LINEAR_EXACT, value, LINEAR_EXACT,
            f"relative error at {layers[1]} (from input) and {layers[second_linear]} (from layer 1)")
        row = err["surrogate"][first_act]
        if name == "quadratic":
            value = max(row["max_z_mean"], row["max_z_cov"])
            add("first_activation_exact_for_gaussian_input", value <= Z_BOUND, value, Z_BOUND,
                f"Gaussian surrogate input: max |z| of mean and covariance at {layers[first_act]}")
        else:
            value = max(row["mean"] / row["noise_mean"], row["cov"] / row["noise_cov"])
            add("first_activation_exact_for_gaussian_input", value <= NOISE_FACTOR, value, NOISE_FACTOR,
                f"Gaussian surrogate input: relative error / sampling noise of mean and covariance at "
                f"{layers[first_act]} (entrywise z-scores are unreliable for saturated erf units)")
        if name == "quadratic":
            value = max(r["mean"] for r in err["from_layer1"] if r is not None)
            add("quadratic_means_exact_from_layer1", value <= QUADRATIC_MEAN_EXACT, value, QUADRATIC_MEAN_EXACT,
                "relative error of the means propagated from layer 1, every later layer")
        value = max(r["cov"] for r in err["from_layer1"] if r is not None)
        add("internal_layers_described", value <= INTERNAL_COV_BOUND, value, INTERNAL_COV_BOUND,
            "relative covariance error propagated from layer 1 (Gaussian approximation), worst later layer")
        ratio = err["from_input"][first_act]["cov"] / max(err["surrogate"][first_act]["cov"], 1e-300)
        add("first_layer_uses_higher_order_statistics", ratio >= HIGHER_ORDER_FACTOR, ratio, HIGHER_ORDER_FACTOR,
            f"covariance error at {layers[first_act]}: real data / Gaussian surrogate")
        closures = net.get("first_layer_closures", {}).get("errors")
        if closures:
            ratio = closures["4"]["cov"] / max(closures["2"]["cov"], 1e-300)
            add("data_cumulants_3_4_explain_first_layer", ratio <= CLOSURE_RATIO, ratio, CLOSURE_RATIO,
                f"covariance error at {layers[first_act]} with the data's cumulants up to 4 / up to 2 "
                f"({len(net['first_layer_closures']['neurons'])} neurons)")
        value = abs(net["accuracy_surrogate"] - net["accuracy_real_test"])
        add("surrogate_accuracy_close_to_real", value <= SURROGATE_DISTANCE, value, SURROGATE_DISTANCE,
            "|accuracy on Gaussian surrogate data - on real test data|")
        value = max(abs(net["accuracy_predicted"] - net["accuracy_real_test"]),
                    abs(net["accuracy_predicted"] - net["accuracy_surrogate"]))
        add("predicted_accuracy_close", value <= PREDICTION_DISTANCE, value, PREDICTION_DISTANCE,
            "|predicted accuracy - accuracy on real data| and on surrogate data, the larger")
        out[name] = relations
    return out
