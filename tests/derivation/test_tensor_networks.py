"""The output cumulants of a pointwise layer as tensor-network terms (symcorr.derivation.tensor_networks;
docs/theory.md section 12.2). That the terms give the dense formulas' numbers is checked end to end in
tests/numeric/test_factored_pointwise.py; here, the counting and the choices the derivation makes."""
import itertools

import pytest
import sympy as sp

from symcorr import activations
from symcorr.derivation.engine import derive
from symcorr.derivation.tensor_networks import (NoFactoredForm, diagonal_correction, has_factored_form, network_terms,
                                                per_neuron_formula, placements, relabelled_symbol)
from symcorr.notation.partitions import set_partitions
from symcorr.notation.symbols import cumulant_symbol, vertex_symbol


@pytest.mark.parametrize("pattern", ["iij", "iii", "iijj", "iijk", "iiij", "iiii", "iijjk", "iiijj", "iijjkk"])
def test_placements_count_the_set_partitions_of_the_pattern_s_shape(pattern):
    shape = sorted(pattern.count(c) for c in set(pattern))
    counted = sum(sorted(len(block) for block in partition) == shape for partition in set_partitions(len(pattern)))
    assert placements(pattern) == counted


def test_relabelling_maps_cumulants_and_vertex_functions_and_keeps_parameters():
    mapping = {"k": "i"}
    assert relabelled_symbol(cumulant_symbol("jk"), mapping) == cumulant_symbol("ij")
    assert relabelled_symbol(vertex_symbol("k", 1, 3), mapping) == vertex_symbol("i", 1, 3)
    assert relabelled_symbol(sp.Symbol("alpha", real=True), mapping) == sp.Symbol("alpha", real=True)


def test_a_polynomial_s_terms_need_no_diagonal_corrections():
    terms = network_terms(derive(activations.quadratic(), order=3, closure=3), 3)
    assert terms and all(term.pattern is None for term in terms)


def test_erf_s_terms_carry_the_corrections_of_its_coarser_patterns():
    """In vertex functions erf's coarser patterns do not follow from the all-distinct formula (g2 is not g1^2):
    each gets its correction, one pair block on 'iij' and one vector on 'iii', weighted by its placements."""
    derivation = derive(activations.erf(), order=3, closure=3, series_order=3)
    terms = network_terms(derivation, 3)
    corrections = {term.pattern: term for term in terms if term.pattern is not None}
    assert sorted(corrections) == ["iii", "iij"]
    assert [b.labels for b in corrections["iij"].dense] == ["ij"]
    assert [b.labels for b in corrections["iii"].dense] == ["i"]
    # the correction is the pattern's formula less the all-distinct one on its diagonal (Moebius): at 'iii',
    # f_iii - 3 f_iij + 2 f_ijk with the neurons identified
    mapped = {c: "i" for c in "ijk"}
    relabel = lambda e, m: e.xreplace({s: relabelled_symbol(s, m) for s in e.free_symbols})  # noqa: E731
    expected = (per_neuron_formula(derivation, "iii") - 3 * relabel(per_neuron_formula(derivation, "iij"), mapped)
                + 2 * relabel(per_neuron_formula(derivation, "ijk"), mapped))
    assert sp.expand(diagonal_correction(derivation, "iii") - expected) == 0
    assert sp.expand(corrections["iii"].expression() - placements("iii") * expected) == 0


def test_formulas_in_joint_vertex_functions_have_no_factored_form():
    erf = activations.erf()
    assert not has_factored_form(erf, 3, 2) and has_factored_form(erf, 4, 3) and has_factored_form(erf, 4, 4)
    with pytest.raises(NoFactoredForm, match="joint Gaussian reference.*representation='dense'"):
        network_terms(derive(erf, order=3, closure=2), 3)


def test_symmetric_relabellings_of_a_correction_keep_its_multiplicities():
    from symcorr.derivation.tensor_networks import relabellings

    assert len(relabellings("ijk")) == 6
    assert [m for m in relabellings("ijk", "iijk")] == [dict(zip("ijk", p)) for p in ("ijk", "ikj")]
    assert len(relabellings("ij", "iijj")) == 2 and len(relabellings("ij", "iij")) == 1
    assert all(sorted(m.values()) == sorted(m) for m in relabellings("ijk", "iijk"))
    assert list(itertools.islice(relabellings("i", "iii"), 2)) == [{"i": "i"}]


def test_relu_s_two_neuron_patterns_are_one_block_zero_on_its_diagonal():
    """ReLU's patterns on two neurons are derived in the joint reference (docs/theory.md section 11.3), its others
    in the independent one: it has factored terms (sin's three-neuron patterns are joint: it has none). The 'iij'
    correction is one 'ij' block in joint vertex functions, marked zero where i = j (there the pair's covariance is
    singular); the 'iii' correction is then what the all-distinct network leaves of f_iii on the diagonal,
    f_iii - f_ijk with the neurons identified (not the Moebius f_iii - 3 f_iij + 2 f_ijk), free of joint vertices."""
    from symcorr.notation.symbols import parse_joint_vertex_symbol

    relu = activations.relu()
    assert has_factored_form(relu, 4, 3) and has_factored_form(relu, 4, 4)
    assert not has_factored_form(activations.sin(), 3, 3)
    derivation = derive(relu, order=3, closure=3, series_order=2)
    terms = network_terms(derivation, 3)
    assert sorted({t.pattern for t in terms if t.pattern is not None}) == ["iii", "iij"]
    (pair,) = [t for t in terms if t.pattern == "iij"]
    (block,) = pair.dense
    assert block.labels == "ij" and block.off_diagonal and not pair.cumulants
    joint = lambda e: any(parse_joint_vertex_symbol(s) is not None for s in e.free_symbols)  # noqa: E731
    assert joint(block.expression)
    assert sp.expand(block.expression - placements("iij") * diagonal_correction(derivation, "iij")) == 0
    single = sum(t.expression() for t in terms if t.pattern == "iii")
    assert not joint(single)
    mapped = {c: "i" for c in "ijk"}
    relabel = lambda e, m: e.xreplace({s: relabelled_symbol(s, m) for s in e.free_symbols})  # noqa: E731
    expected = per_neuron_formula(derivation, "iii") - relabel(per_neuron_formula(derivation, "ijk"), mapped)
    assert sp.expand(single - expected) == 0
    assert all(not b.off_diagonal for t in terms if t.pattern != "iij" for b in t.dense)
