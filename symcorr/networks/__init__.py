r"""Torch networks: symcorr's activation modules, propagation, Monte Carlo and validation.

:mod:`~symcorr.networks.modules` (torch activations tied to symcorr's,
public as ``symcorr.nn``), :mod:`~symcorr.networks.layers` (one rule per kind of
torch layer), :mod:`~symcorr.networks.propagation` (``propagate``),
:mod:`~symcorr.networks.montecarlo` (streaming Monte Carlo estimates per layer)
and :mod:`~symcorr.networks.validation` (``symcorr validate``, docs/theory.md
section 7). torch is imported by these modules, never by the layers below.
"""
