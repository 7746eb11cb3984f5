r"""symcorr: exact transfer of cumulants through feed-forward neural networks.

A network maps probability distributions; symcorr maps their cumulants
:math:`\kappa^{(1)}, \kappa^{(2)}, \dots` layer by layer (Fischer et al.,
Phys. Rev. Research 4, 043143 (2022); notation in MATH.md):

* :func:`linear` -- :math:`z = W y + b`, exact at every order (MATH.md section 3);
* :func:`pointwise` -- :math:`y = \phi(z)` through generated NumPy kernels
  (MATH.md sections 4-6);
* :func:`derive` -- the SymPy derivation behind the kernels;
* :func:`propagate` -- a whole ``torch.nn.Sequential`` of ``nn.Linear`` and
  :mod:`symcorr.nn` activations (needs torch; imported on use);
* :mod:`symcorr.activations` -- ``quadratic``, ``polynomial``, ``cubic``, ``erf``.

Importing symcorr needs only NumPy, SciPy, SymPy and mpmath; torch is
imported by :mod:`symcorr.nn` and :func:`propagate` when they are used.
"""
from . import activations
from .cumulants import Cumulants, linear
from .expansion import derive
from .pointwise import pointwise

__version__ = "0.1.0"

#: Attributes that need torch, imported on first use: name -> (module, attribute or None for the module).
_TORCH_ATTRIBUTES = {"propagate": ("symcorr.propagation", "propagate"), "nn": ("symcorr.nn", None)}


def __getattr__(name):
    if name in _TORCH_ATTRIBUTES:
        import importlib

        module_name, attribute = _TORCH_ATTRIBUTES[name]
        module = importlib.import_module(module_name)
        return module if attribute is None else getattr(module, attribute)
    raise AttributeError(f"module 'symcorr' has no attribute {name!r}")


__all__ = ["Cumulants", "linear", "pointwise", "derive", "propagate", "nn", "activations"]
