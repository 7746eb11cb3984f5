r"""Whether each cumulant order of a result is exact, and why not (docs/theory.md sections 5 and 9).

Every :class:`~symcorr.numeric.cumulants.Cumulants` carries a
:class:`StatusProfile`: one :class:`OrderStatus` per order it holds and one,
``tail``, for the orders above (taken as zero). A status is one of

* ``'exact'`` -- exact for the given input (up to floating-point rounding);
* ``'numerical'`` -- exact up to a numerical integration whose tolerance is the ``bound``;
* ``'estimated'`` -- unbiased k-statistics of samples, transferred exactly (statistical error only;
  the standard errors travel with :class:`~symcorr.numeric.kstatistics.SampleCumulants` and
  :class:`~symcorr.numeric.data_cumulants.DataCumulants`);
* ``'approximate'`` -- a closure dropped input cumulants the formula needs, a series was
  truncated, or only part of a tensor was kept,

in this order of severity. A non-exact status lists its :class:`Cause` s: what was dropped or
truncated, at which layer, and an estimated size where one is known. The rule for a pointwise
layer (:func:`pointwise_statuses`, docs/theory.md section 9): an output order :math:`m` of a
polynomial of degree :math:`d` needs the input orders :math:`1..md`; it is exact when every
one of them is either used exactly (order :math:`\le K`, the closure) or dropped but exactly
zero (orders above 2 of a Gaussian). A family whose expansion does not terminate (erf) is
exact for exactly Gaussian input only, and there only for the orders it does not take from a
truncated series (GELU's, tanh's orders :math:`\ge 3`: the Price series, docs/theory.md section 6.8).
Linear layers keep every status (docs/theory.md section 3).

The same rule runs on statuses alone (no tensors) in
:func:`symcorr.networks.exactness.status_walk`, which ``symcorr validate`` and the remedies of
the warnings use: one source of truth for which orders are exact.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, replace

#: Status kinds, least severe first.
KINDS = ("exact", "numerical", "estimated", "approximate")


class ApproximationWarning(UserWarning):
    """A returned cumulant order is an approximation (the message names why and the remedy)."""


@dataclass(frozen=True)
class Cause:
    """Why an order is not exact: ``text`` (what happened), ``layer`` (where: a layer label,
    ``'input'``, or ``None`` while the layer is not yet named), ``dropped`` (input orders a
    closure dropped there), ``size`` (estimated relative size, if known; ``size_in_text``: the text
    states it already, with its standard error, and it is not repeated)."""

    text: str
    layer: str | None = None
    dropped: tuple[int, ...] = ()
    size: float | None = None
    size_in_text: bool = False

    def __str__(self) -> str:
        where = "" if self.layer is None else (" (input)" if self.layer == "input" else f" at layer {self.layer}")
        size = "" if self.size is None or self.size_in_text else f" (estimated size ~{self.size:.1e})"
        return f"{self.text}{where}{size}"


@dataclass(frozen=True)
class OrderStatus:
    """The exactness of one cumulant order (module docstring). ``known_zero``: exactly zero
    (orders >= 3 of a Gaussian); ``bound``: a bound on the error when known."""

    kind: str = "exact"
    causes: tuple[Cause, ...] = ()
    known_zero: bool = False
    bound: float | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"status kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def exact(self) -> bool:
        return self.kind == "exact"

    @property
    def reason(self) -> str:
        """The causes, ``'; '``-joined (empty when exact)."""
        return "; ".join(str(c) for c in self.causes)

    def __str__(self) -> str:
        if self.exact:
            return "exact (zero)" if self.known_zero else "exact"
        bound = "" if self.bound is None else f", bound {self.bound:.1e}"
        return f"{self.kind}{bound}: {self.reason}" if self.causes else self.kind

    def named(self, layer: str) -> "OrderStatus":
        """The same status with every unnamed cause placed at ``layer``."""
        if all(c.layer is not None for c in self.causes):
            return self
        return replace(self, causes=tuple(c if c.layer is not None else replace(c, layer=layer)
                                          for c in self.causes))


EXACT = OrderStatus()
EXACT_ZERO = OrderStatus(known_zero=True)


def approximate(text: str, layer: str | None = None, dropped=(), size: float | None = None) -> OrderStatus:
    """An approximate status with one cause."""
    return OrderStatus("approximate", (Cause(text, layer, tuple(dropped), size),))


def worst(statuses, extra_causes=()) -> OrderStatus:
    """The combined status of a result that depends on ``statuses`` (the most severe kind; the
    causes of every non-exact one, without repeats) and on ``extra_causes`` (approximate)."""
    statuses = list(statuses)
    kinds = [s.kind for s in statuses] + ["approximate"] * bool(extra_causes)
    kind = max(kinds, key=KINDS.index, default="exact")
    if kind == "exact":
        return EXACT
    causes = list(extra_causes)
    for s in statuses:
        causes += [c for c in s.causes if c not in causes]
    bounds = [s.bound for s in statuses if s.bound is not None and s.kind == "numerical"]
    return OrderStatus(kind, tuple(causes), bound=max(bounds) if kind == "numerical" and bounds else None)


def orders_text(orders) -> str:
    """``[5, 6]`` -> ``'5..6'``, ``[3]`` -> ``'3'``, ``[3, 5]`` -> ``'3, 5'``."""
    orders = sorted(orders)
    if len(orders) > 1 and orders == list(range(orders[0], orders[-1] + 1)):
        return f"{orders[0]}..{orders[-1]}"
    return ", ".join(str(n) for n in orders)


@dataclass(frozen=True)
class StatusProfile:
    """One :class:`OrderStatus` per held order (``held[n-1]``) and ``tail`` for the orders above."""

    held: tuple[OrderStatus, ...]
    tail: OrderStatus = EXACT_ZERO

    @classmethod
    def given(cls, order: int) -> "StatusProfile":
        """Cumulants as given by a caller: exact, orders above ``order`` exactly zero."""
        return cls((EXACT,) * order, EXACT_ZERO)

    @property
    def order(self) -> int:
        return len(self.held)

    def status(self, n: int) -> OrderStatus:
        return self.held[n - 1] if n <= len(self.held) else self.tail

    def __getitem__(self, n: int) -> OrderStatus:
        if not isinstance(n, int) or n < 1:
            raise KeyError(f"cumulant orders start at 1, got {n!r}")
        return self.status(n)

    def truncated(self, order: int) -> "StatusProfile":
        """The profile of the same cumulants cut (or zero-padded) to ``order``: held orders
        above it that are not exactly zero make the tail approximate."""
        if order >= len(self.held):
            return StatusProfile(self.held + (self.tail,) * (order - len(self.held)), self.tail)
        above = [s for s in self.held[order:] if not s.known_zero] + [self.tail]
        if all(s.known_zero for s in above):
            tail = self.tail
        else:
            tail = worst(above, [Cause(f"orders above {order} held but not returned")])
        return StatusProfile(self.held[:order], tail)

    def named(self, layer: str) -> "StatusProfile":
        return StatusProfile(tuple(s.named(layer) for s in self.held), self.tail.named(layer))

    def with_zero(self, zero) -> "StatusProfile":
        """Exact held orders ``n`` for which ``zero(n)`` is true marked ``known_zero``."""
        held = tuple(replace(s, known_zero=True) if s.exact and not s.known_zero and zero(n) else s
                     for n, s in enumerate(self.held, start=1))
        return StatusProfile(held, self.tail)

    def approximate_orders(self, upto: int | None = None) -> list[int]:
        upto = len(self.held) if upto is None else upto
        return [n for n in range(1, upto + 1) if self.status(n).kind == "approximate"]

    def summary(self, upto: int | None = None) -> str:
        """``'exact 1..2, approximate 3..4'``."""
        upto = len(self.held) if upto is None else upto
        groups: dict[str, list[int]] = {}
        for n in range(1, upto + 1):
            groups.setdefault(self.status(n).kind, []).append(n)
        return ", ".join(f"{kind} {orders_text(groups[kind])}" for kind in KINDS if kind in groups)

    def describe(self, upto: int | None = None) -> str:
        """One line per order: its status and causes."""
        upto = len(self.held) if upto is None else upto
        lines = [f"  order {n}: {self.status(n)}" for n in range(1, upto + 1)]
        lines.append(f"  orders > {upto}: " + ("zero (exact)" if self.tail.known_zero and self.tail.exact
                                               else str(self.tail)))
        return "\n".join(lines)


def estimated_profile(order: int, n_samples: int, what: str = "samples") -> StatusProfile:
    """The statuses of k-statistics of orders ``1..order`` from ``n_samples`` samples: estimated,
    and the orders above not estimated (non-zero in general)."""
    cause = Cause(f"unbiased k-statistics of {n_samples} {what} (statistical error only, see their standard errors)",
                  "input")
    tail = approximate(f"cumulants of the {what} above order {order} are not estimated", layer="input")
    return StatusProfile((OrderStatus("estimated", (cause,)),) * order, tail)


# ---------------------------------------------------------------------------
# the rule of a pointwise layer
# ---------------------------------------------------------------------------

def _gaussian(profile: StatusProfile) -> bool:
    """Whether the input is exactly Gaussian: every order >= 3 (held and above) exactly zero."""
    return all(profile.status(n).known_zero for n in range(3, profile.order + 1)) and profile.tail.known_zero


def kept_of_next_order(order: int, closure: int, pair_mean: bool = False) -> str:
    """What an odd ``closure`` keeps of the next ``order`` (docs/theory.md sections 9.4-9.5): a status cause."""
    kept = "the diagonal and the mean of the pair entries" if pair_mean else "the diagonal"
    return f"only {kept} of order {order} {'are' if pair_mean else 'is'} kept (odd closure {closure})"


def pointwise_statuses(profile: StatusProfile, activation, order: int, closure: int,
                       series_order: int | None = None, truncation_message: str | None = None,
                       partial_next: bool = False, requested: int | None = None,
                       pair_mean: bool = False, truncation_size: float | None = None) -> StatusProfile:
    r"""The statuses of ``pointwise(..., order, closure)`` on an input with statuses ``profile``.

    ``closure`` is the highest input order the kernel uses (after the family's
    ``carried_closure``); ``series_order`` the kernel's series truncation (``None``: none);
    ``truncation_message`` the family's warning about it for the actual input, if any, and
    ``truncation_size`` its estimated size (``truncation_estimate``), if known;
    ``partial_next``: the output also holds order ``order + 1`` as its diagonal only
    (an odd closure done soundly), with ``pair_mean`` also the mean of its pair entries; ``requested``: the
    closure the user asked for, named in the causes where the odd closure ``requested`` runs as
    ``closure = requested + 1``. See the module docstring for the rule.
    """
    family = activation.family
    tolerance = getattr(family, "numerical_tolerance", None)
    numerical = OrderStatus("numerical", (Cause(f"{activation} by numerical integration (tolerance {tolerance:.0e})"),),
                            bound=tolerance) if tolerance is not None else EXACT
    held = []
    for m in range(1, order + 1):
        needed = family.input_orders_needed(activation, m)
        if needed is None:
            held.append(_series_status(profile, activation, m, closure, series_order, truncation_message, numerical,
                                       truncation_size))
            continue
        given = min(needed, closure, profile.order)
        used = [profile.status(n) for n in range(1, given + 1)]
        missing = [n for n in range(given + 1, min(needed, closure) + 1) if not profile.status(n).known_zero]
        dropped = [n for n in range(closure + 1, needed + 1) if not profile.status(n).known_zero]
        causes = []
        if missing:
            causes.append(Cause(f"input order{'s' * (len(missing) > 1)} {orders_text(missing)} not held (taken as "
                                f"zero; order {m} needs 1..{needed})", dropped=tuple(missing)))
        if dropped:
            # an odd closure K runs as K + 1 where the kept diagonal of order K + 1 enters (docs/theory.md section 9)
            name = (f"closure {requested} (run as {closure}: the kept diagonal of order {closure} enters)"
                    if requested is not None and closure == requested + 1 else f"closure {closure}")
            causes.append(Cause(f"{name} drops input order{'s' * (len(dropped) > 1)} "
                                f"{orders_text(dropped)} (order {m} needs 1..{needed})", dropped=tuple(dropped)))
        if series_order is not None:
            causes.append(Cause(f"series truncated at order {series_order}"))
        held.append(worst(used + [numerical], causes))
    if partial_next:
        held.append(approximate(kept_of_next_order(order + 1, order, pair_mean)))
    if family.preserves_gaussianity(activation):
        tail = profile.truncated(len(held)).tail
    else:
        tail = approximate(f"orders above {len(held)} are non-zero after {activation} and not carried")
    return StatusProfile(tuple(held), tail)


def _series_status(profile, activation, m, closure, series_order, truncation_message, numerical,
                   truncation_size=None) -> OrderStatus:
    """An activation whose expansion does not end: exact (or numerical) for exactly Gaussian input only, and
    there only where the family's formula for order ``m`` is not a truncated series (``gaussian_truncation``)."""
    if _gaussian(profile):
        truncation = activation.family.gaussian_truncation(activation, m, closure, series_order)
        return worst([profile.status(1), profile.status(2), numerical],
                     [] if truncation is None else [Cause(truncation, size=truncation_size)])
    causes = [Cause(f"{activation}'s expansion does not terminate: exact for Gaussian input only, and the "
                    f"input has non-zero cumulants of order >= 3"
                    + ("" if series_order is None else f"; series truncated at order {series_order}"))]
    dropped = [n for n in range(closure + 1, closure + 3) if not profile.status(n).known_zero]
    if dropped:
        causes.append(Cause(f"closure {closure} drops input orders above {closure}", dropped=(closure + 1,)))
    if truncation_message:
        causes.append(Cause(truncation_message))
    return worst([profile.status(n) for n in range(1, closure + 1)], causes)


# ---------------------------------------------------------------------------
# one warning per call
# ---------------------------------------------------------------------------

_QUIET = contextvars.ContextVar("symcorr_quiet_approximations", default=False)


@contextlib.contextmanager
def quiet():
    """Within this block :func:`symcorr.pointwise` does not warn about approximate orders
    (:func:`symcorr.propagate` warns once for the whole network instead)."""
    token = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(token)


def warnings_enabled() -> bool:
    return not _QUIET.get()


def approximation_message(what: str, profile: StatusProfile, upto: int, remedy: str = "") -> str | None:
    """The warning text for the approximate orders ``1..upto`` of ``profile`` (``None`` if none)."""
    bad = profile.approximate_orders(upto)
    if not bad:
        return None
    plural = len(bad) > 1
    sentences = [(f"{what}: order{'s' * plural} {orders_text(bad)} of the result {'are' if plural else 'is'} "
                  f"approximate; order {bad[0]}: {profile.status(bad[0]).reason}")]
    kinds: dict[str, list[int]] = {}
    for n in range(1, upto + 1):
        if n not in bad:
            kinds.setdefault(profile.status(n).kind, []).append(n)
    sentences += [f"Order{'s' * (len(orders) > 1)} {orders_text(orders)} {'are' if len(orders) > 1 else 'is'} {kind}"
                  for kind, orders in kinds.items()]
    if remedy:
        sentences.append(remedy)
    sentences.append("Each order's status: result.status(n) (or print(result))")
    return " ".join(s if s.endswith(".") else s + "." for s in sentences)


__all__ = ["KINDS", "Cause", "OrderStatus", "StatusProfile", "EXACT", "EXACT_ZERO", "approximate", "worst",
           "pointwise_statuses", "estimated_profile", "ApproximationWarning", "quiet", "warnings_enabled", "approximation_message",
           "orders_text", "kept_of_next_order"]
