r"""Torch networks: symcorr's activation modules, propagation, Monte Carlo and validation.

:mod:`~symcorr.networks.modules` (torch activations tied to symcorr's,
public as ``symcorr.nn``), :mod:`~symcorr.networks.layers` (one rule per kind of
torch layer), :mod:`~symcorr.networks.propagation` (``propagate``),
:mod:`~symcorr.networks.montecarlo` (streaming Monte Carlo estimates per layer)
and :mod:`~symcorr.networks.validation` (``symcorr validate``, docs/theory.md
section 7). torch is imported by these modules, never by the layers below.

torch is an optional dependency (``pip install 'symcorr[torch]'``): :func:`require_torch` imports it
or raises the one message every entry point gives, and :func:`missing_torch_message` recognises a
missing torch in any ImportError, for the command line to print without a traceback.
"""
from __future__ import annotations

TORCH_HINT = "needs torch: pip install 'symcorr[torch]'"
"""How every entry point says that torch is missing."""


def require_torch(what: str):
    """The ``torch`` module, or ``ImportError("<what> needs torch: pip install 'symcorr[torch]'")``."""
    try:
        import torch
    except ImportError as error:
        raise ImportError(f"{what} {TORCH_HINT}", name="torch") from error
    return torch


def missing_torch_message(error: BaseException, what: str) -> str | None:
    """``"<what> needs torch: ..."`` when ``error`` (or an exception it was raised from) says that
    torch cannot be imported, None otherwise."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ImportError) and (error.name or "").split(".")[0] == "torch":
            return f"{what} {TORCH_HINT}"
        error = error.__cause__ or error.__context__
    return None


__all__ = ["TORCH_HINT", "require_torch", "missing_torch_message"]
