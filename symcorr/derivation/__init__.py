r"""The mathematics in SymPy: cumulant algebra, activations and their families, the expansion engine.

:mod:`~symcorr.derivation.algebra` (moments <-> cumulants, Gaussian moments;
docs/theory.md sections 2 and 5), :mod:`~symcorr.derivation.activation` (an
activation and the interface its family answers) and
:mod:`~symcorr.derivation.activations` (the activations by name, public as
``symcorr.activations``), :mod:`~symcorr.derivation.families` (one module per
family), :mod:`~symcorr.derivation.engine` (``derive``: the cumulant expansion of
docs/theory.md section 4) and :mod:`~symcorr.derivation.brute_force` (its
independent reference). Imports only :mod:`symcorr.notation`, SymPy and mpmath.
"""
