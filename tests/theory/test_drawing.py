"""Pictures of the diagrams (symcorr.theory.drawing)."""
import pytest

from symcorr import theory
from symcorr.theory.diagrams import terms
from symcorr.theory.drawing import draw_diagrams, draw_terms


def test_draw_erf_joint_vertices(erf_k4, tmp_path):
    pytest.importorskip("matplotlib")
    (svg,) = draw_diagrams(terms(erf_k4, "ij")[:6], tmp_path / "erf.svg")
    assert "grey band: joint vertex" in svg.read_text()


def test_draw_png_and_svg(quadratic_k4, tmp_path):
    pytest.importorskip("matplotlib")
    paths = draw_diagrams(terms(quadratic_k4, "ij"), [tmp_path / "ij.png", tmp_path / "ij.svg"],
                          title="covariance")
    png, svg = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    with pytest.raises(ValueError, match="no diagrams"):
        draw_diagrams([], tmp_path / "empty.png")


def test_draw_terms_titles_the_figure(quadratic_k4, tmp_path):
    pytest.importorskip("matplotlib")
    (svg,) = draw_terms(quadratic_k4, "ji", tmp_path / "ij.svg")
    text = svg.read_text()
    assert len(theory.terms(quadratic_k4, "ij")) == 5
    # matplotlib writes the title's text into the SVG as a comment
    assert "quadratic: covariance" in text and "sum of 5 diagrams" in text
