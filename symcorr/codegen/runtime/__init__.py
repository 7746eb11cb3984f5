"""What generated kernels import (as ``_support``): NumPy/SciPy helpers, no SymPy, no torch.

A generated kernel module runs ``from symcorr.codegen import runtime as _support``
and calls, through this one namespace, :mod:`~symcorr.codegen.runtime.grid`
(neuron grids of index patterns, output orders 1 and 2),
:mod:`~symcorr.codegen.runtime.tuples` (sorted neuron tuples, output orders >= 3,
and the memory bound ``peak_bytes``) and the numerics of the erf family:
:mod:`~symcorr.codegen.runtime.erf_covariance` (the Gaussian covariance of two
erf neurons), :mod:`~symcorr.codegen.runtime.erf_power` (powers of one erf
neuron and their mean-derivatives) and :mod:`~symcorr.codegen.runtime.erf_moments`
(joint moments of up to four). :mod:`~symcorr.codegen.runtime.arrays` holds
what those share; :mod:`~symcorr.codegen.runtime.factored` the term records of factored modules.
"""
from symcorr.codegen.runtime.erf_covariance import erf_covariance_matrix, erf_gaussian_covariance
from symcorr.codegen.runtime.erf_moments import erf_gaussian_moment
from symcorr.codegen.runtime.erf_power import erf_derivatives, erf_power_derivative, erf_power_moment
from symcorr.codegen.runtime.factored import FactoredTerm
from symcorr.codegen.runtime.grid import fill_pattern, grid_view, output_tensor
from symcorr.codegen.runtime.tuples import SharedTable, TuplePattern, peak_bytes, symmetric_tensor

__all__ = ["FactoredTerm", "grid_view", "fill_pattern", "output_tensor", "TuplePattern", "SharedTable", "symmetric_tensor",
           "peak_bytes", "erf_gaussian_covariance", "erf_covariance_matrix", "erf_gaussian_moment",
           "erf_power_moment", "erf_power_derivative", "erf_derivatives"]
