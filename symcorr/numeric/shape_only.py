r"""Arrays of shapes only: what a memory estimate makes networks with (docs/theory.md section 12.5).

A :class:`ShapeOnly` has the shape, size and bytes of a float64 array and none of its values. NumPy's functions
and ufuncs dispatch to it (NEP 18's ``__array_function__``, ``__array_ufunc__``), so code written for arrays --
:func:`~symcorr.numeric.tensor_networks.simplified`, :func:`~symcorr.numeric.tensor_networks.split_diagonals`,
:func:`~symcorr.numeric.tensor_networks.merged` -- runs on it unchanged, takes the same steps, and shares them
alike (its caches key arrays by identity), in time independent of the sizes. Every array an operation makes is
recorded in the :class:`Ledger` of its operands; views (transposes, reshapes, diagonals) and operations in place
make none. A question about values (``np.any``) is answered ``True``: the work that follows is counted, as if the
values were not zero.
"""
from __future__ import annotations

import math

import numpy as np

from symcorr.numeric.budget import FLOAT


class Ledger:
    """The arrays made from one set of stand-ins: their count and bytes."""

    def __init__(self):
        self.count, self.bytes = 0, 0
        self._stand_ins: dict[int, tuple] = {}

    def stand_in(self, array) -> ShapeOnly:
        """The stand-in of ``array`` (the same one for the same array, so that steps keyed by identity are shared
        as they are on the arrays; not counted as made); a stand-in is its own."""
        if isinstance(array, ShapeOnly):
            return array
        if id(array) not in self._stand_ins:
            self._stand_ins[id(array)] = (ShapeOnly(np.shape(array), self, made=False), array)   # array kept: its id
        return self._stand_ins[id(array)][0]

    def made(self, shape) -> ShapeOnly:
        """A new array of ``shape``, recorded."""
        return ShapeOnly(shape, self)


class ShapeOnly:
    """A float64 array's shape without its values (module docstring)."""

    __array_priority__ = 1000

    def __init__(self, shape, ledger: Ledger, made: bool = True):
        self.shape, self.ledger = tuple(int(n) for n in shape), ledger
        if made:
            ledger.count += 1
            ledger.bytes += self.nbytes

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: math.prod(self.shape))
    nbytes = property(lambda self: FLOAT * self.size)
    T = property(lambda self: self._view(self.shape[::-1]))

    def __repr__(self) -> str:
        return f"ShapeOnly{self.shape}"

    def _view(self, shape) -> ShapeOnly:
        return ShapeOnly(shape, self.ledger, made=False)

    def _like(self, array: np.ndarray) -> ShapeOnly:
        """A view of the shape of ``array`` (a zero-stride template that a NumPy view function was applied to)."""
        return self._view(array.shape)

    def _template(self) -> np.ndarray:
        return np.broadcast_to(np.empty(()), self.shape)

    def reshape(self, *shape) -> ShapeOnly:
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return self._like(self._template().reshape(shape))

    def copy(self) -> ShapeOnly:
        return self.ledger.made(self.shape)

    def sum(self, axis=None) -> ShapeOnly:
        axes = range(self.ndim) if axis is None else np.atleast_1d(axis) % max(self.ndim, 1)
        return self.ledger.made(tuple(n for a, n in enumerate(self.shape) if a not in set(axes)))

    def __float__(self) -> float:
        return 1.0

    def __mul__(self, other):
        return np.multiply(self, other)

    __rmul__ = __mul__

    def __imul__(self, other):
        return np.multiply(self, other, out=(self,))

    def __iadd__(self, other):
        return np.add(self, other, out=(self,))

    def __add__(self, other):
        return np.add(self, other)

    __radd__ = __add__

    def __matmul__(self, other):
        return np.matmul(self, other)

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if method != "__call__":
            return NotImplemented
        if ufunc is np.matmul:
            a, b = (_shape(x) for x in inputs)
            shape = np.broadcast_shapes(a[:-2], b[:-2]) + (a[-2], b[-1])
        else:
            shape = np.broadcast_shapes(*(_shape(x) for x in inputs))
        if out is not None:                  # in place: nothing made
            return out[0]
        return self.ledger.made(shape)

    def __array_function__(self, func, types, args, kwargs):
        if func not in _FUNCTIONS:
            raise TypeError(f"ShapeOnly does not stand in for arrays in numpy.{func.__name__}")
        return _FUNCTIONS[func](*args, **kwargs)


def _shape(x) -> tuple:
    return x.shape if isinstance(x, ShapeOnly) else np.shape(x)


def _ledger(*arrays) -> Ledger:
    return next(a.ledger for a in arrays if isinstance(a, ShapeOnly))


def _einsum(subscripts: str, *operands, **_):
    inputs, output = subscripts.replace(" ", "").split("->")
    sizes = {c: n for ix, operand in zip(inputs.split(","), operands) for c, n in zip(ix, _shape(operand))}
    return _ledger(*operands).made(tuple(sizes[c] for c in output))


def _tensordot(a, b, axes=2):
    if isinstance(axes, int):
        axes = (list(range(len(_shape(a)) - axes, len(_shape(a)))), list(range(axes)))
    summed_a, summed_b = ([x] if isinstance(x, int) else list(x) for x in axes)
    shape = ([n for k, n in enumerate(_shape(a)) if k not in summed_a]
             + [n for k, n in enumerate(_shape(b)) if k not in summed_b])
    return _ledger(a, b).made(shape)


def _view(function):
    """A NumPy function that returns a view: applied to a zero-stride template of the stand-in's shape."""
    return lambda array, *args, **kwargs: array._like(function(array._template(), *args, **kwargs))


_FUNCTIONS = {
    np.shape: _shape,
    np.ndim: lambda array: array.ndim,
    np.einsum: _einsum,
    np.tensordot: _tensordot,
    np.transpose: _view(np.transpose),
    np.moveaxis: _view(np.moveaxis),
    np.swapaxes: _view(np.swapaxes),
    np.diagonal: _view(np.diagonal),
    np.fill_diagonal: lambda array, value, wrap=False: None,        # in place
    np.any: lambda array, *args, **kwargs: True,                   # counted as if not zero
}

__all__ = ["Ledger", "ShapeOnly"]
