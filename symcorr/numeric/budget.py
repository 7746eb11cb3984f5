r"""Memory stated up front: estimates before any allocation of order >= 3 tensors, and a budget.

An order-:math:`n` cumulant of :math:`N` neurons is :math:`8 N^n` bytes (order 4 at
:math:`N = 256` is 34 GB), and a kernel evaluating it keeps several such
temporaries alive. Every operation that builds tensors of order >= 3
(:func:`symcorr.pointwise`, :func:`symcorr.linear`, :func:`symcorr.propagate`,
data in) first estimates its peak memory with the functions here and calls
:func:`check_memory`, which raises :class:`MemoryBudgetError` (a
:class:`MemoryError`) naming the bytes needed, the budget and the remedy when
the estimate exceeds the budget: nothing is allocated, nothing is killed.

The budget (:func:`memory_budget`) is, in this order of precedence, the
``budget`` argument of the operation (bytes, or a string such as ``'8G'``),
the budget of an enclosing :func:`budget_scope` (how :func:`symcorr.propagate`
hands its ``memory_budget`` to every layer), the environment variable ``SYMCORR_MEMORY_BUDGET`` (same forms), or
:data:`DEFAULT_FRACTION` of the available memory: the smaller of the free
physical memory (``MemAvailable``, via psutil) and the address space left under
``ulimit -v`` (``RLIMIT_AS`` minus the process's current virtual size), read at most every
:data:`AVAILABLE_FRESH` seconds.

Kernel estimates (:func:`kernel_peak_bytes`): a kernel module's own
``peak_bytes(n)`` when it has one (with the input slices it reads, :func:`input_slice_bytes`, when its inputs
are held in another form); otherwise, per output order :math:`m`, the
outputs already built plus the temporaries of the finest pattern's function
(``_pattern_ijkl`` for :math:`m = 4`): every name it assigns counts
:math:`8 N^d` bytes with :math:`d` the number of grid labels the name depends on
(read from the function's source with :mod:`ast`), plus the arrays alive
while its returned expression is evaluated left to right (at least three
full-grid ones), times ``KERNEL_MARGIN``, plus ``FIXED_OVERHEAD``. Slices of dense inputs are views
and cost nothing; slices of the factored or sampled tensors of
:mod:`symcorr.numeric.cumulant_tensors` are counted.
"""
from __future__ import annotations

import ast
import contextlib
import contextvars
import functools
import inspect
import math
import os
import re
import textwrap
import time

#: Default budget as a fraction of the available memory.
DEFAULT_FRACTION = 0.5
#: The environment variable that sets the budget (bytes, or e.g. ``'8G'``, ``'500M'``).
ENVIRONMENT_VARIABLE = "SYMCORR_MEMORY_BUDGET"
#: Seconds for which :func:`memory_budget` takes its last reading of :func:`available_bytes` again (a reading costs
#: 60 microseconds, and the contractions of a factored tensor's terms check the budget thousands of times a second:
#: 1 s of the 8.8 s of erf's order-4 cumulant of width 32 made dense, read afresh each time).
AVAILABLE_FRESH = 0.25
#: Bytes per float64 entry.
FLOAT = 8
#: Full-grid temporaries assumed for a kernel pattern whose source cannot be read.
UNKNOWN_PATTERN_TEMPORARIES = 40
#: Full-grid arrays a runtime routine called by a kernel (``_support.erf_...``) may allocate inside
#: (measured: erf's Gaussian covariance, 16 at N = 256).
RUNTIME_CALL_ARRAYS = 20
#: Bytes every kernel call may use whatever the width (small arrays, quadrature tables: erf's
#: numerical moments use ~16 MiB at width 8).
FIXED_OVERHEAD = 32 << 20
#: Margin on the kernel estimates from their source (peaks measured with tracemalloc are 0.75..0.8 of
#: the unscaled count for quadratic orders 3..4 and erf orders 2..4 at N = 14..64, and below it
#: elsewhere; tests/numeric/test_budget.py checks estimate >= peak).
KERNEL_MARGIN = 1.25

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
          "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30, "T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40}


class MemoryBudgetError(MemoryError):
    """An operation would need more memory than the budget (module docstring); ``needed`` and
    ``budget`` are in bytes."""

    def __init__(self, message: str, needed: int, budget: int):
        super().__init__(message)
        self.needed = int(needed)
        self.budget = int(budget)


def parse_bytes(value) -> int:
    """``value`` in bytes: an integer, or a string such as ``'8G'``, ``'1.5 GB'``, ``'500M'``, ``'123456'``."""
    if isinstance(value, bool):
        raise ValueError(f"a memory budget must be a number of bytes or a string like '8G', got {value!r}")
    if isinstance(value, (int, float)):
        if not value > 0:
            raise ValueError(f"a memory budget must be positive, got {value!r}")
        return int(value)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(value))
    if not match or match.group(2).upper() not in _UNITS:
        raise ValueError(f"cannot read the memory budget {value!r}: give bytes or a number with a unit "
                         "(K, M, G, T), e.g. '8G'")
    return parse_bytes(float(match.group(1)) * _UNITS[match.group(2).upper()])


def format_bytes(n: float) -> str:
    """``3.4e10`` -> ``'31.7 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def available_bytes() -> int:
    """The smaller of the free physical memory and the address space left under ``ulimit -v``."""
    import psutil

    available = psutil.virtual_memory().available
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            available = min(available, soft - psutil.Process().memory_info().vms)
    except (ImportError, ValueError, OSError):  # no RLIMIT_AS on this platform
        pass
    return max(int(available), 0)


_SCOPE = contextvars.ContextVar("symcorr_memory_budget", default=None)


@contextlib.contextmanager
def budget_scope(budget):
    """Within this block operations without a budget argument use ``budget`` (``None``: no change)."""
    token = _SCOPE.set(parse_bytes(budget) if budget is not None else _SCOPE.get())
    try:
        yield
    finally:
        _SCOPE.reset(token)


def memory_budget(budget=None) -> int:
    """The budget in bytes (module docstring: argument, then an enclosing :func:`budget_scope`, then
    ``SYMCORR_MEMORY_BUDGET``, then :data:`DEFAULT_FRACTION` of :func:`available_bytes`)."""
    if budget is not None:
        return parse_bytes(budget)
    if _SCOPE.get() is not None:
        return _SCOPE.get()
    if os.environ.get(ENVIRONMENT_VARIABLE):
        try:
            return parse_bytes(os.environ[ENVIRONMENT_VARIABLE])
        except ValueError as error:
            raise ValueError(f"{ENVIRONMENT_VARIABLE}: {error}") from None
    return int(DEFAULT_FRACTION * _available_recently())


_READING = [-math.inf, 0]       # when available_bytes() was last read (time.monotonic()), and what it read


def _available_recently() -> int:
    """:func:`available_bytes`, read again when the last reading is older than :data:`AVAILABLE_FRESH` seconds."""
    now = time.monotonic()
    if now - _READING[0] > AVAILABLE_FRESH:
        _READING[:] = [now, available_bytes()]
    return _READING[1]


def check_memory(needed: int, what: str, remedy: str, budget=None, growing: bool = False) -> None:
    """Raise :class:`MemoryBudgetError` if ``needed`` bytes exceed the budget (before allocating; ``growing``: of
    work that counts what it holds as it grows, which stops there and frees it)."""
    limit = memory_budget(budget)
    if needed > limit:
        source = ("the memory_budget argument" if budget is not None or _SCOPE.get() is not None
                  else ENVIRONMENT_VARIABLE if os.environ.get(ENVIRONMENT_VARIABLE)
                  else f"{DEFAULT_FRACTION:g} of the available memory")
        done = ("it stops here and frees what it made so far" if growing else "nothing was allocated")
        enough = budget_covering(needed)
        raise MemoryBudgetError(
            f"{what} needs an estimated {format_bytes(needed)} at its peak, above the memory budget of "
            f"{format_bytes(limit)} ({source}); {done}. Remedy: {remedy}, or raise the budget to the estimate "
            f"(memory_budget='{enough}' or the environment variable {ENVIRONMENT_VARIABLE}={enough}) if the memory "
            f"is there (available now: {format_bytes(available_bytes())}).",
            needed, limit)


def budget_covering(needed: int) -> str:
    """The shortest budget string in whole units that :func:`parse_bytes` reads as at least ``needed`` bytes
    (``2.3e10`` -> ``'22G'``): what a refusal offers as the remedy."""
    for unit in ("T", "G", "M", "K"):
        if needed >= _UNITS[unit]:
            return f"{math.ceil(needed / _UNITS[unit])}{unit}"
    return str(int(needed))


# ---------------------------------------------------------------------------
# estimates
# ---------------------------------------------------------------------------

def dense_linear_peak_bytes(n_in: int, n_out: int, order: int) -> int:
    r"""Peak bytes of mapping one dense order-``order`` tensor through :math:`W` (``n_out x n_in``) one
    mode at a time: the largest step holds its input :math:`N_\mathrm{out}^k N_\mathrm{in}^{n-k}`, a
    transposed copy of it and its output, and the result stays."""
    sizes = [n_out**k * n_in ** (order - k) for k in range(order + 1)]
    return FLOAT * max(2 * sizes[k] + sizes[k + 1] for k in range(order))


def linear_peak_bytes(tensors, n_out: int) -> int:
    """Peak bytes of :func:`symcorr.linear` on held ``tensors`` (orders 1..K, dense arrays or
    :mod:`symcorr.numeric.cumulant_tensors` objects) with ``n_out`` outputs."""
    total, peak = 0, 0
    for n, tensor in enumerate(tensors, start=1):
        if hasattr(tensor, "linear_nbytes"):
            step = tensor.linear_nbytes(n_out)
            result = step
        elif n <= 2:
            step = result = FLOAT * n_out**n
        else:
            step, result = dense_linear_peak_bytes(tensor.shape[0], n_out, n), FLOAT * n_out**n
        peak = max(peak, total + step)
        total += result
    return max(peak, total)


def _labels_of(name: str) -> set[str]:
    """The grid labels a kernel slice name depends on: ``kappa_iijk`` -> {i, j, k}; ``mu_i`` -> {i}."""
    head, _, tail = name.rpartition("_")
    return set(tail) if head in ("mu", "Sigma", "kappa") and tail.isalpha() else set()


def _live_arrays(node) -> tuple[int, int]:
    """``(peak, result)``: the most new arrays alive while evaluating expression ``node`` left to right
    (NumPy's binary operations allocate their result; names and constants allocate nothing; a runtime
    routine :data:`RUNTIME_CALL_ARRAYS`), and whether its result is a new array (1) or not (0)."""
    if isinstance(node, (ast.Name, ast.Constant)):
        return 0, 0
    if isinstance(node, ast.UnaryOp):
        peak, result = _live_arrays(node.operand)
        return max(peak, result + 1), 1
    if isinstance(node, ast.Call) and "_support." in ast.unparse(node.func) and "grid_view" not in ast.unparse(node.func):
        peak, held = 0, 0
        for operand in node.args:
            operand_peak, operand_result = _live_arrays(operand)
            peak, held = max(peak, held + operand_peak), held + operand_result
        return max(peak, held + RUNTIME_CALL_ARRAYS), 1
    operands = ([node.left, node.right] if isinstance(node, ast.BinOp) else
                list(node.args) if isinstance(node, ast.Call) else list(ast.iter_child_nodes(node)))
    peak, held = 0, 0
    for operand in operands:
        operand_peak, operand_result = _live_arrays(operand)
        peak = max(peak, held + operand_peak)
        held += operand_result
    return max(peak, held + 1), 1


@functools.lru_cache(maxsize=256)
def _pattern_temporaries(function) -> tuple[tuple[tuple[int, bool], ...], int] | None:
    """Per name assigned in a kernel pattern function: (number of grid labels it depends on, whether it
    is a slice of an input); and the most arrays alive while one of its statements is evaluated.
    ``None`` if the source cannot be read."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return None
    labels: dict[str, set[str]] = {}
    out, returned = [], 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            is_slice = bool(_labels_of(name)) and "grid_view" in ast.unparse(node.value)
            depends = _labels_of(name) if is_slice else set().union(
                *(labels.get(n.id, _labels_of(n.id)) for n in ast.walk(node.value) if isinstance(n, ast.Name)))
            labels[name] = depends
            out.append((len(depends), is_slice))
            if not is_slice:
                returned = max(returned, _live_arrays(node.value)[0])
        elif isinstance(node, ast.Return) and node.value is not None:
            returned = max(returned, _live_arrays(node.value)[0])
    return tuple(out), returned


def pattern_peak_bytes(kernel, order: int, n: int, sliced: bool = False) -> int:
    """Peak bytes of evaluating the finest pattern of output order ``order`` on ``n`` neurons
    (module docstring); ``sliced``: the inputs are not all dense, so their slices allocate."""
    function = getattr(kernel, "_pattern_" + "ijklmnopqrstuvwxyz"[:order], None)
    analysis = None if function is None else _pattern_temporaries(function)
    if analysis is None:
        return FLOAT * UNKNOWN_PATTERN_TEMPORARIES * n**order
    temporaries, returned = analysis
    named = sum(n**d for d, is_slice in temporaries if sliced or not is_slice)
    return FLOAT * (named + max(returned, 3) * n**order)


#: How a generated kernel reads an input slice: ``grid_view(kappa[m], 'iij', ...)`` (grid orders) or
#: ``at(kappa[m], 'iij')`` (tuple orders).
_INPUT_SLICE = re.compile(r"(?:grid_view|at)\(kappa\[(\d+)\], '([a-z]+)'")


def input_slice_bytes(kernel, n: int) -> int:
    """An upper bound on the bytes of the input slices ``kernel`` makes on ``n`` neurons when its inputs are held in
    another form (each distinct ``(order, labels)`` its source reads, once per call:
    :class:`~symcorr.codegen.runtime.tuples.HeldSlices`), :math:`8 N^d` each for :math:`d` distinct letters."""
    letters = _input_slice_letters(kernel)
    if letters is None:
        return FLOAT * UNKNOWN_PATTERN_TEMPORARIES * n ** 2
    return FLOAT * sum(n ** d for d in letters)


@functools.lru_cache(maxsize=256)
def _input_slice_letters(kernel) -> tuple[int, ...] | None:
    """The number of distinct letters of each distinct input slice ``kernel``'s source reads (read once per kernel);
    ``None`` if the source cannot be read."""
    try:
        source = inspect.getsource(kernel)
    except (OSError, TypeError):
        return None
    return tuple(len(set(labels)) for _, labels in sorted(set(_INPUT_SLICE.findall(source))))


def kernel_peak_bytes(kernel, n: int, orders: int | None = None, sliced: bool = False) -> int:
    """Peak bytes of evaluating output orders ``1..orders`` (default all) of ``kernel`` on ``n`` neurons:
    ``kernel.peak_bytes(n)`` when the kernel has it and every order is evaluated (and with ``sliced`` inputs,
    :func:`input_slice_bytes`), else the estimate of the module docstring."""
    count = len(kernel.CUMULANTS) if orders is None else orders
    own = getattr(kernel, "peak_bytes", None)
    if own is not None and count == len(kernel.CUMULANTS):
        return int(own(n)) + (input_slice_bytes(kernel, n) if sliced else 0)
    total, peak = 0, 0
    for m in range(1, count + 1):
        peak = max(peak, total + pattern_peak_bytes(kernel, m, n, sliced))
        total += FLOAT * n**m
    return int(KERNEL_MARGIN * max(peak, total)) + FIXED_OVERHEAD


__all__ = ["MemoryBudgetError", "memory_budget", "budget_scope", "check_memory", "available_bytes", "parse_bytes", "format_bytes",
           "budget_covering",
           "kernel_peak_bytes", "pattern_peak_bytes", "input_slice_bytes", "linear_peak_bytes",
           "dense_linear_peak_bytes",
           "DEFAULT_FRACTION", "ENVIRONMENT_VARIABLE", "AVAILABLE_FRESH"]
