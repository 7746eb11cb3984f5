r"""symcorr: exact transfer of cumulants through feed-forward neural networks.

A network maps probability distributions; symcorr maps their cumulants
:math:`\kappa^{(1)}, \kappa^{(2)}, \dots` layer by layer (Fischer et al.,
Phys. Rev. Research 4, 043143 (2022); the mathematics in docs/theory.md):

* :func:`linear` -- :math:`z = W y + b`, exact at every order (docs/theory.md section 3);
* :func:`pointwise` -- :math:`y = \phi(z)` through generated NumPy kernels
  (docs/theory.md sections 4-6);
* :func:`derive` -- the SymPy derivation behind the kernels;
* :func:`propagate` -- a whole torch network (needs torch; imported on use);
* :func:`from_samples`, :func:`gaussian_mixture` -- cumulants of data and of mixtures;
* :mod:`symcorr.activations` -- ``quadratic``, ``polynomial``, ``cubic``, ``erf``, ...;
* :mod:`symcorr.nn` -- torch modules of symcorr's activations (needs torch).

The package is layered, imports flowing one way (enforced by the
import-linter contract in ``pyproject.toml``): :mod:`~symcorr.notation` ->
:mod:`~symcorr.derivation` -> :mod:`~symcorr.codegen` -> :mod:`~symcorr.numeric`
-> :mod:`~symcorr.networks` -> :mod:`~symcorr.theory` -> :mod:`~symcorr.experiments`.
Importing symcorr needs only NumPy, SciPy, SymPy and mpmath.
"""
import sys as _sys

from symcorr.derivation import activations
from symcorr.derivation.engine import derive
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.distributions import gaussian_mixture
from symcorr.numeric.kstatistics import from_samples
from symcorr.numeric.linear import linear
from symcorr.numeric.pointwise import pointwise

__version__ = "0.1.0"

# ``import symcorr.activations`` and ``from symcorr.activations import relu`` name the constructors'
# module itself (symcorr.derivation.activations), as ``symcorr.activations.relu()`` does
_sys.modules.setdefault(f"{__name__}.activations", activations)

#: Attributes that need torch, imported on first use: name -> (module, attribute or None for the module).
_TORCH_ATTRIBUTES = {"propagate": ("symcorr.networks.propagation", "propagate"),
                     "nn": ("symcorr.networks.modules", None)}


def __getattr__(name):
    if name in _TORCH_ATTRIBUTES:
        import importlib

        module_name, attribute = _TORCH_ATTRIBUTES[name]
        module = importlib.import_module(module_name)
        return module if attribute is None else getattr(module, attribute)
    raise AttributeError(f"module 'symcorr' has no attribute {name!r}")


__all__ = ["Cumulants", "linear", "pointwise", "derive", "propagate", "from_samples", "gaussian_mixture",
           "activations", "nn"]
