"""Arrays of shapes only (symcorr.numeric.shape_only): the operations the networks' simplification uses give the
shapes NumPy gives on arrays, and the ledger counts the arrays they make, not views or work in place."""
import numpy as np
import pytest

from symcorr.numeric import tensor_networks
from symcorr.numeric.shape_only import Ledger, ShapeOnly

rng = np.random.default_rng(0)
A, B, v = rng.normal(size=(5, 3)), rng.normal(size=(3, 4)), rng.normal(size=3)
C = rng.normal(size=(3, 3, 4))

# (operation on arrays, whether it makes an array)
OPERATIONS = [
    (lambda a, b, c, v: np.einsum("iij->ij", c), True),
    (lambda a, b, c, v: np.tensordot(a, c, axes=([1], [0])), True),
    (lambda a, b, c, v: np.moveaxis(c, 0, 2), False),
    (lambda a, b, c, v: np.transpose(c, [2, 0, 1]), False),
    (lambda a, b, c, v: a.T, False),
    (lambda a, b, c, v: np.diagonal(c, axis1=0, axis2=1), False),
    (lambda a, b, c, v: a * v.reshape((1, 3)), True),
    (lambda a, b, c, v: 2.0 * a, True),
    (lambda a, b, c, v: np.multiply(c, v.reshape((3, 1, 1))), True),
    (lambda a, b, c, v: a @ b, True),
    (lambda a, b, c, v: c.sum(axis=(0, 2)), True),
    (lambda a, b, c, v: c.reshape(9, 4), False),
    (lambda a, b, c, v: b.copy(), True),
]


@pytest.mark.parametrize("number", range(len(OPERATIONS)))
def test_an_operation_gives_numpys_shape_and_counts_what_it_makes(number):
    operation, makes = OPERATIONS[number]
    ledger = Ledger()
    stand_ins = [ledger.stand_in(x) for x in (A, B, C, v)]
    expected = operation(A, B, C, v)
    result = operation(*stand_ins)
    assert isinstance(result, ShapeOnly) and result.shape == expected.shape
    assert ledger.bytes == (expected.nbytes if makes else 0)
    assert ledger.stand_in(A) is stand_ins[0]                # one stand-in per array: steps keyed by identity shared


def test_work_in_place_makes_nothing_and_questions_of_values_are_answered_yes():
    ledger = Ledger()
    a = ledger.stand_in(np.zeros((4, 4)))
    a *= ledger.stand_in(np.ones(4)).reshape((1, 4))
    a += ledger.stand_in(np.ones((4, 4)))
    np.fill_diagonal(a, 0.0)
    assert ledger.bytes == 0 and np.any(a) and float(ledger.stand_in(np.zeros(()))) == 1.0
    with pytest.raises(TypeError, match="numpy.linalg.svd|numpy.svd|svd"):
        np.linalg.svd(a)


def test_a_simplified_network_of_stand_ins_takes_the_arrays_steps_and_counts_what_they_make():
    """A star of three matrices with vectors on its slots and a chain through an internal index: simplified on
    arrays and on their stand-ins gives the same network (indices, legs, shapes), and the ledger counts at least the
    bytes of the arrays the simplification made (those of the result that are not among its operands)."""
    rng = np.random.default_rng(1)
    n = 6
    F, G, H, u, w = (rng.normal(size=s) for s in ((n, n), (n, n), (n, 5), (n,), (n,)))
    term = tensor_networks.Term(0.5, [F, G, H, u, w], [(0, 3), (3, 1), (3, 4), (0,), (1,)],
                                [(0, None), (1, None), (4, None)])
    real = tensor_networks.simplified(term, {})
    ledger = Ledger()
    shapes = tensor_networks.simplified(
        tensor_networks.Term(term.weight, [ledger.stand_in(f) for f in term.factors], term.indices, term.legs), {})
    assert real.indices == shapes.indices and real.legs == shapes.legs
    assert [f.shape for f in real.factors] == [f.shape for f in shapes.factors]
    made = [f for f in real.factors if not any(f is g for g in term.factors)]
    assert made and ledger.bytes >= sum(f.nbytes for f in made)
