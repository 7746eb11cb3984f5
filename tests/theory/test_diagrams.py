"""Terms grouped by diagram, and their pictures (symcorr.theory.diagrams).

The expected diagrams of the quadratic covariance are worked out by hand from
MATH.md section 4: with D = Sigma_ij d_i d_j + kappa_iij d_i^2 d_j / 2! +
kappa_ijj d_i d_j^2 / 2! + kappa_iijj d_i^2 d_j^2 / (2! 2!) + ..., and
phi(z) = z + alpha z^2, the vertex functions are g1d1 = 1 + 2 alpha mu,
g1d2 = 2 alpha, g1d3 = 0; so exp(D) g_i g_j - g_i g_j keeps exactly five terms,
whose values regroup MATH.md section 5 term by term.
"""
import pytest
import sympy as sp

from symcorr.derivation.activations import cubic, erf, quadratic
from symcorr.derivation.engine import derive
from symcorr.theory.diagrams import (
    diagram_terms,
    draw_diagrams,
)

R = dict(real=True)
mu_i, mu_j = sp.Symbol("mu_i", **R), sp.Symbol("mu_j", **R)
S_ii, S_ij = sp.Symbol("Sigma_ii", **R), sp.Symbol("Sigma_ij", **R)
k_iij, k_ijj, k_iijj = sp.Symbol("kappa_iij", **R), sp.Symbol("kappa_ijj", **R), sp.Symbol("kappa_iijj", **R)
alpha = sp.Symbol("alpha", **R)


@pytest.fixture(scope="module")
def quadratic_k4():
    return derive(quadratic(), 2, 4)


def test_quadratic_covariance_diagrams_by_hand(quadratic_k4):
    diagrams = diagram_terms(quadratic_k4, "ij")
    found = {
        (tuple((e.labels, e.multiplicity) for e in d.edges),
         tuple((v.neuron, v.power, v.derivative, v.slots) for v in d.vertices)): (d.coefficient, d.contribution)
        for d in diagrams
    }
    expected = {
        ((("ij", 1),), (("i", 1, 1, (1,)), ("j", 1, 1, (2,)))):
            (1, (1 + 2 * alpha * mu_i) * (1 + 2 * alpha * mu_j) * S_ij),
        ((("iij", 1),), (("i", 1, 2, (1,)), ("j", 1, 1, (2,)))):
            (sp.Rational(1, 2), alpha * k_iij * (1 + 2 * alpha * mu_j)),
        ((("ijj", 1),), (("i", 1, 1, (1,)), ("j", 1, 2, (2,)))):
            (sp.Rational(1, 2), alpha * k_ijj * (1 + 2 * alpha * mu_i)),
        ((("iijj", 1),), (("i", 1, 2, (1,)), ("j", 1, 2, (2,)))):
            (sp.Rational(1, 4), alpha**2 * k_iijj),
        ((("ij", 2),), (("i", 1, 2, (1,)), ("j", 1, 2, (2,)))):
            (sp.Rational(1, 2), 2 * alpha**2 * S_ij**2),
    }
    assert set(found) == set(expected)
    for key, (coefficient, contribution) in expected.items():
        assert found[key][0] == coefficient
        assert sp.expand(found[key][1] - contribution) == 0
    assert all(d.kind == "connected" for d in diagrams)
    assert [d.index for d in diagrams] == [1, 2, 3, 4, 5]
    assert diagrams[0].order == 1 and diagrams[-1].order == 2  # sorted by number of cumulant factors


def test_variance_has_reference_and_subtraction_terms(quadratic_k4):
    kinds = {d.kind: d for d in diagram_terms(quadratic_k4, "ii")}
    # g2d0_i - g1d0_i^2 = Var of phi under N(mu_i, Sigma_ii): two vertices on neuron i in the subtraction
    assert set(kinds) == {"reference", "subtraction", "connected"}
    subtraction = kinds["subtraction"]
    assert subtraction.coefficient == -1
    assert [(v.neuron, v.power, v.slots) for v in subtraction.vertices] == [("i", 1, (1,)), ("i", 1, (2,))]
    assert [(v.power, v.slots) for v in kinds["reference"].vertices] == [(2, (1, 2))]


@pytest.mark.parametrize("activation, out_order, closure, pattern", [
    (quadratic(), 2, 4, "ii"), (quadratic(), 3, 3, "iij"), (quadratic(), 3, 3, "ijk"), (cubic(), 2, 4, "ii"),
    (cubic(), 2, 4, "ij"),
])
def test_contributions_add_up_to_the_formula(activation, out_order, closure, pattern):
    derivation = derive(activation, out_order, closure)
    diagrams = diagram_terms(derivation, pattern)
    total = sp.Add(*[d.contribution for d in diagrams])
    assert sp.expand(total - derivation.formula(pattern)) == 0
    # every diagram's legs match its vertices' derivative orders (MATH.md section 4: n_a = sum_M r_M m_a)
    for d in diagrams:
        for neuron in set(pattern):
            legs = sum(e.labels.count(neuron) * e.multiplicity for e in d.edges)
            assert legs == sum(v.derivative for v in d.vertices if v.neuron == neuron)
            assert sum(v.power for v in d.vertices if v.neuron == neuron) == pattern.count(neuron)


@pytest.fixture(scope="module")
def erf_k4():
    return derive(erf(), 2, 4, series_order=2)


def test_erf_covariance_diagrams_by_hand(erf_k4):
    # joint reference (MATH.md section 6): exp(D) acts on the joint vertex G_ij, D holding only the
    # cumulants of order 3 and 4, so to first order the connected diagrams are kappa_M / prod_a m_a!
    # on G^(m_i, m_j); the Moebius subtraction -g_i g_j gives the disconnected ones, one leg set per neuron
    diagrams = diagram_terms(erf_k4, "ij")
    reference, subtraction = diagrams[0], diagrams[1]
    assert (reference.kind, reference.coefficient, reference.edges) == ("reference", 1, ())
    assert [(v.neuron, v.partner, v.slots, v.derivative) for v in reference.vertices] == \
        [("i", "j", (1,), 0), ("j", "i", (2,), 0)]
    assert reference.vertices[0].symbol == reference.vertices[1].symbol == sp.Symbol("G1x1d0x0_ij", real=True)
    assert (subtraction.kind, subtraction.coefficient) == ("disconnected", -1)
    assert all(v.joint is None for v in subtraction.vertices)
    first_order = [d for d in diagrams if d.order == 1]
    joint = {d.edges[0].labels: d for d in first_order if d.vertices[0].joint}
    expected = {"iii": sp.Rational(1, 6), "iij": sp.Rational(1, 2), "ijj": sp.Rational(1, 2),
                "jjj": sp.Rational(1, 6), "iiii": sp.Rational(1, 24), "iiij": sp.Rational(1, 6),
                "iijj": sp.Rational(1, 4), "ijjj": sp.Rational(1, 6), "jjjj": sp.Rational(1, 24)}
    assert {labels: d.coefficient for labels, d in joint.items()} == expected
    for labels, d in joint.items():
        assert d.kind == "connected"
        assert [v.derivative for v in d.vertices] == [labels.count("i"), labels.count("j")]
    disconnected = {d.edges[0].labels: d.coefficient for d in first_order if not d.vertices[0].joint}
    assert disconnected == {"iii": -sp.Rational(1, 6), "jjj": -sp.Rational(1, 6),
                            "iiii": -sp.Rational(1, 24), "jjjj": -sp.Rational(1, 24)}
    assert max(d.order for d in diagrams) == 2          # the series order
    total = sp.Add(*[d.contribution for d in diagrams])
    assert sp.expand(total - erf_k4.formula("ij")) == 0
    assert "joint vertex G1x1d0x0_ij at neuron i (with j" in reference.describe()


def test_draw_erf_joint_vertices(erf_k4, tmp_path):
    pytest.importorskip("matplotlib")
    (svg,) = draw_diagrams(diagram_terms(erf_k4, "ij")[:6], tmp_path / "erf.svg")
    assert "grey band: joint vertex" in svg.read_text()


def test_draw_png_and_svg(quadratic_k4, tmp_path):
    pytest.importorskip("matplotlib")
    paths = draw_diagrams(diagram_terms(quadratic_k4, "ij"), [tmp_path / "ij.png", tmp_path / "ij.svg"],
                          title="covariance")
    png, svg = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    with pytest.raises(ValueError, match="no diagrams"):
        draw_diagrams([], tmp_path / "empty.png")
