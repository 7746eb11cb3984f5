r"""The working memory of a generated pattern function, read off its code.

A pattern function is a straight sequence of assignments ending in a ``return``.
Read as Python evaluates it (:mod:`ast`), each statement says which float arrays
exist while it runs: those assigned earlier and still used later (dead ones are
deleted: the printer writes the ``del`` lines :meth:`FunctionMemory.analyse`
names), plus the operands and results of the operation under way -- for
``a*b + c*d``, ``a*b`` is kept while ``c*d`` is computed, then both while their
sum is. A runtime function adds its own workspace
(:data:`symcorr.codegen.runtime.tuples.RUNTIME_WORKSPACE`) at the moment it runs.

The result is a list of *moments* ``(arrays, call)``: ``arrays[c]`` float arrays
of size class ``c`` alive at once while ``call`` (a function name and the size
class of its elements, or ``None``) runs; a moment dominated by another is
dropped. Size classes: on a neuron grid (output orders 1, 2) the number of grid
axes an array spans (:math:`N^c` floats); on neuron tuples a single class, one
block. NumPy's temporary elision (operations done in place on temporaries) only
lowers the true peak: the moments are upper bounds.
"""
from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Value:
    """An evaluated expression: the neuron letters it spans, the fresh arrays it hands on
    (its result, or a tuple's elements) and the moments passed through on the way."""

    letters: frozenset = frozenset()
    held: Counter = field(default_factory=Counter)
    moments: list = field(default_factory=list)


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def prune(moments) -> list[tuple[Counter, object]]:
    """The moments not dominated by another (no more arrays of any class, same call or none)."""
    unique = list(dict.fromkeys((frozenset((c, k) for c, k in arrays.items() if k), call)
                                for arrays, call in moments))
    kept = []
    for index, (arrays, call) in enumerate(unique):
        mine = Counter(dict(arrays))
        if not any(other != index and (call is None or call == other_call)
                   and all(count <= dict(other_arrays).get(c, 0) for c, count in mine.items())
                   for other, (other_arrays, other_call) in enumerate(unique)):
            kept.append((mine, call))
    return kept


class FunctionMemory:
    """Liveness and working memory of one generated function (module docstring).

    ``statements``: ``(target, source)`` pairs, target ``None`` for the final ``return``.
    ``views``: the names known on entry that are arrays, with the letters they span
    (other free names are scalars). ``size_class(letters)``: the size class of an array
    spanning ``letters``. ``gathers``: calls that read an input at the neuron letters of
    their second argument, mapped to whether the result is a fresh array (``at(kappa[1],
    'ij')``, True) or a view (``_support.grid_view``, False).
    """

    def __init__(self, statements, views: dict[str, frozenset], size_class: Callable[[frozenset], int | None],
                 gathers: dict[str, bool]):
        self.statements = [(target, ast.parse(source, mode="eval").body) for target, source in statements]
        self.size_class = size_class
        self.gathers = gathers
        self.letters = dict(views)

    def _fresh(self, letters) -> Counter:
        size = self.size_class(letters) if letters else None
        return Counter() if size is None else Counter({size: 1})

    def _evaluate(self, node: ast.expr) -> _Value:
        if isinstance(node, ast.Name):
            return _Value(self.letters.get(node.id, frozenset()))
        if isinstance(node, (ast.Constant, ast.Attribute, ast.Subscript)):   # scalars, kappa[1]
            return _Value()
        if isinstance(node, ast.UnaryOp):
            operand = self._evaluate(node.operand)
            result = self._fresh(operand.letters)
            return _Value(operand.letters, result, operand.moments + [(operand.held + result, None)])
        if isinstance(node, ast.BinOp):
            return self._sequence([node.left, node.right], None)
        if isinstance(node, ast.Tuple):
            return self._sequence(node.elts, "tuple")
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in self.gathers:
                letters = frozenset(node.args[1].value)
                fresh = self._fresh(letters) if self.gathers[name] else Counter()
                return _Value(letters, fresh, [(fresh, None)])
            return self._sequence(node.args, name)
        raise ValueError(f"unexpected syntax in a generated function: {ast.unparse(node)}")

    def _sequence(self, operands, call) -> _Value:
        """Operands evaluated in order, each result held while the next is computed, then
        combined by ``call`` (``None``: a binary operation; ``"tuple"``: kept as they are)."""
        held, moments, letters = Counter(), [], frozenset()
        for operand in operands:
            value = self._evaluate(operand)
            moments += [(held + arrays, inner) for arrays, inner in value.moments]
            held += value.held
            letters |= value.letters
        if call == "tuple":
            return _Value(letters, held, moments)
        result = self._fresh(letters)
        running = None if call is None else (call, self.size_class(letters) if letters else None)
        moments.append((held + result, running))
        return _Value(letters, result, prune(moments))

    def analyse(self) -> tuple[list[list[str]], list[tuple[dict, object]]]:
        """``(deletions, moments)``: the arrays that die after each statement (to ``del``)
        and the moments of the whole function."""
        last_read = {}
        for index, (_, node) in enumerate(self.statements):
            for child in ast.walk(node):
                if isinstance(child, ast.Name):
                    last_read[child.id] = index
        owned: dict[str, frozenset] = {}           # fresh arrays alive, in order of assignment
        deletions, moments = [], []
        for index, (target, node) in enumerate(self.statements):
            value = self._evaluate(node)
            alive = sum((self._fresh(letters) for letters in owned.values()), Counter())
            moments += [(alive + arrays, call) for arrays, call in value.moments]
            if target is not None:
                owned.pop(target, None)
                self.letters[target] = value.letters
                if value.held:
                    owned[target] = value.letters
            dead = [name for name in owned if last_read.get(name, -1) <= index]
            for name in dead:
                del owned[name]
            deletions.append(dead)
        return deletions, prune(moments)
