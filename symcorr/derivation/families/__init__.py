"""Activation families, one module each (docs/theory.md sections 4-6 and 10).

A family module defines an :class:`~symcorr.derivation.activation.ActivationFamily`
(every family-specific answer: vertex functions, references, series defaults,
truncation warnings, exactness), its activation constructors in a dict
``CONSTRUCTORS`` (name -> function, the names the command line's ``-a``
takes), and ``recognize(expression)`` returning the activation an expression
in ``z`` is, or ``None``. Adding a family: add its module and one line to
:data:`FAMILY_MODULES`.
"""
from symcorr.derivation.families import erf, gaussian_cdf, piecewise_linear, polynomial, smooth, trigonometric

#: Every family module, in the order :func:`symcorr.activations.from_expression` asks them.
FAMILY_MODULES = (polynomial, erf, piecewise_linear, gaussian_cdf, trigonometric, smooth)
