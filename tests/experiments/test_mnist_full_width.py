"""symcorr reproduce mnist --full-width on scikit-learn's digits (the small run): the first layer from the
data's cumulants up to order 4 against the real network, closure 4 against closure 2."""
import json

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("torch")


def test_full_width_first_layer_closure_4_beats_the_gaussian_closure(tmp_path, capsys):
    from symcorr.experiments.mnist import main

    out = tmp_path / "report"
    assert main(["--full-width", "--data", "digits", "--hidden", "16,8", "--epochs", "3", "--n-train", "600",
                 "--threads", "1", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    first = results["first_layer"]
    # the data's orders 3..4 make the quadratic's covariance exact (up to the O(1/P) bias of products of
    # unbiased estimators); dropping them (closure 2) leaves the non-Gaussianity of the data
    assert first["4"]["status"] == ["estimated", "estimated"]
    assert first["2"]["status"] == ["estimated", "approximate"]
    assert first["4"]["cov_error_max"] < 0.2 * first["2"]["cov_error_mean"]
    assert first["4"]["cov_error_max"] < 0.02
    assert "1:Quadratic(alpha=0.1)  estimated 1..2" in results["status_tables"]["4"]
    assert "3:Quadratic(alpha=0.1)  estimated 1, approximate 2" in results["status_tables"]["4"]
    report = (out / "report.md").read_text()
    assert "First layer at full width" in report and "Which orders are exact" in report
    assert "status mean/cov" in capsys.readouterr().out
