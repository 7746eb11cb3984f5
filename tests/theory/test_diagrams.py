"""Terms grouped by diagram (symcorr.theory.diagrams; pictures: test_drawing.py).

The expected diagrams of the quadratic covariance are worked out by hand from
docs/theory.md section 4: with D = Sigma_ij d_i d_j + kappa_iij d_i^2 d_j / 2! +
kappa_ijj d_i d_j^2 / 2! + kappa_iijj d_i^2 d_j^2 / (2! 2!) + ..., and
phi(z) = z + alpha z^2, the vertex functions are g1d1 = 1 + 2 alpha mu,
g1d2 = 2 alpha, g1d3 = 0; so exp(D) g_i g_j - g_i g_j keeps exactly five terms,
whose values regroup docs/theory.md section 5 term by term.
"""
import pytest
import sympy as sp
from math_section5 import MATH5_COV, S_ij, alpha, k_iij, k_iijj, k_ijj, mu_i, mu_j

from symcorr.derivation.activations import cubic, erf, quadratic
from symcorr.derivation.engine import derive
from symcorr.theory.diagrams import (
    diagram_caption_latex,
    terms,
)


def test_quadratic_covariance_diagrams_by_hand(quadratic_k4):
    diagrams = terms(quadratic_k4, "ij")
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
    kinds = {d.kind: d for d in terms(quadratic_k4, "ii")}
    # g2d0_i - g1d0_i^2 = Var of phi under N(mu_i, Sigma_ii): two vertices on neuron i in the subtraction
    assert set(kinds) == {"reference", "subtraction", "connected"}
    subtraction = kinds["subtraction"]
    assert subtraction.coefficient == -1
    assert [(v.neuron, v.power, v.slots) for v in subtraction.vertices] == [("i", 1, (1,)), ("i", 1, (2,))]
    assert [(v.power, v.slots) for v in kinds["reference"].vertices] == [(2, (1, 2))]


@pytest.mark.parametrize("activation, order, closure, pattern", [
    (quadratic(), 2, 4, "ii"), (quadratic(), 3, 3, "iij"), (quadratic(), 3, 3, "ijk"), (cubic(), 2, 4, "ii"),
    (cubic(), 2, 4, "ij"),
])
def test_contributions_add_up_to_the_formula(activation, order, closure, pattern):
    derivation = derive(activation, order, closure)
    diagrams = terms(derivation, pattern)
    total = sp.Add(*[d.contribution for d in diagrams])
    assert sp.expand(total - derivation.formula(pattern)) == 0
    # every diagram's legs match its vertices' derivative orders (docs/theory.md section 4: n_a = sum_M r_M m_a)
    for d in diagrams:
        for neuron in set(pattern):
            legs = sum(e.labels.count(neuron) * e.multiplicity for e in d.edges)
            assert legs == sum(v.derivative for v in d.vertices if v.neuron == neuron)
            assert sum(v.power for v in d.vertices if v.neuron == neuron) == pattern.count(neuron)


def test_erf_covariance_diagrams_by_hand(erf_k4):
    # joint reference (docs/theory.md section 6): exp(D) acts on the joint vertex G_ij, D holding only the
    # cumulants of order 3 and 4, so to first order the connected diagrams are kappa_M / prod_a m_a!
    # on G^(m_i, m_j); the Moebius subtraction -g_i g_j gives the disconnected ones, one leg set per neuron
    diagrams = terms(erf_k4, "ij")
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


def test_terms_add_up_to_math_section_5(quadratic_k4):
    diagrams = terms(quadratic_k4, "ij")
    assert len(diagrams) == 5
    assert sp.expand(sp.Add(*[t.contribution for t in diagrams]) - MATH5_COV) == 0


def test_diagram_latex_in_the_vertex_notation(quadratic_k4):
    # the diagram of kappa_iijj: 1/4 kappa_iijj g^(2)_{1,i} g^(2)_{1,j}, its coefficient inline in the caption
    diagrams = terms(quadratic_k4, "ij")
    (diagram,) = [d for d in diagrams if [e.labels for e in d.edges] == ["iijj"]]
    assert diagram_caption_latex(diagram) == r"1/4\,\kappa_{iijj}\,g^{(2)}_{1,i}\,g^{(2)}_{1,j}"
    assert diagram.latex == r"\frac{g^{(2)}_{1,i} g^{(2)}_{1,j} \kappa_{iijj}}{4}"
    (double,) = [d for d in diagrams if d.edges[0].multiplicity == 2]
    assert diagram_caption_latex(double) == r"1/2\,\Sigma_{ij}^{2}\,g^{(2)}_{1,i}\,g^{(2)}_{1,j}"


def test_caption_shows_repeated_vertices_as_powers(quadratic_k4):
    # Var phi = g_{2,i} - g_{1,i}^2 (docs/theory.md section 2): the subtraction diagram is -g_{1,i} squared
    variance = {d.kind: d for d in terms(quadratic_k4, "ii")}
    assert diagram_caption_latex(variance["subtraction"]) == r"-\left(g^{(0)}_{1,i}\right)^{2}"
    assert diagram_caption_latex(variance["reference"]) == r"g^{(0)}_{2,i}"
    # kappa_iij = E[phi_i^2 phi_j] - E[phi_i^2] E[phi_j] - 2 E[phi_i phi_j] E[phi_i] + 2 E[phi_i]^2 E[phi_j];
    # erf at closure 2 resums the Gaussian part, E[phi_i phi_j] being the joint vertex (its two parts one factor)
    captions = [diagram_caption_latex(d) for d in terms(derive(erf(), 3, 2), "iij")]
    assert captions == [r"G^{(0,0)}_{21,ij}", r"-g^{(0)}_{2,i}\,g^{(0)}_{1,j}", r"-2\,G^{(0,0)}_{11,ij}\,g^{(0)}_{1,i}",
                        r"2\,\left(g^{(0)}_{1,i}\right)^{2}\,g^{(0)}_{1,j}"]
