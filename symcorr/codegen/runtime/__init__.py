"""What generated kernels import (as ``_support``): NumPy/SciPy helpers, no SymPy, no torch.

A generated kernel module runs ``from symcorr.codegen import runtime as _support``
and calls, through this one namespace, :mod:`~symcorr.codegen.runtime.grid`
(neuron grids of index patterns, output orders 1 and 2),
:mod:`~symcorr.codegen.runtime.tuples` (sorted neuron tuples, output orders >= 3,
and the memory bound ``peak_bytes``) and the numerics of the families: erf's
:mod:`~symcorr.codegen.runtime.erf_covariance` (the Gaussian covariance of two
erf neurons), :mod:`~symcorr.codegen.runtime.erf_power` (powers of one erf
neuron and their mean-derivatives) and :mod:`~symcorr.codegen.runtime.erf_moments`
(joint moments of up to four); :mod:`~symcorr.codegen.runtime.bivariate` (orthant
integrals of a pair of Gaussians) with :mod:`~symcorr.codegen.runtime.piecewise`
(ReLU, leaky ReLU, abs, Heaviside) and :mod:`~symcorr.codegen.runtime.gaussian_cdf`
(probit, GELU); :mod:`~symcorr.codegen.runtime.smooth` (numerical vertex functions
of tanh, sigmoid, SiLU, softplus, ELU, GELU-tanh). :mod:`~symcorr.codegen.runtime.arrays`
holds what those share; :mod:`~symcorr.codegen.runtime.factored` the term records of factored modules.
"""
from symcorr.codegen.runtime.bivariate import bivariate_normal_cdf, orthant_integrals
from symcorr.codegen.runtime.erf_covariance import erf_covariance_matrix, erf_gaussian_covariance
from symcorr.codegen.runtime.erf_moments import erf_gaussian_moment
from symcorr.codegen.runtime.erf_power import erf_derivatives, erf_power_derivative, erf_power_moment
from symcorr.codegen.runtime.factored import FactoredTerm
from symcorr.codegen.runtime.gaussian_cdf import (gelu_gaussian_covariance, gelu_gaussian_mean,
                                                  probit_gaussian_covariance, probit_gaussian_mean)
from symcorr.codegen.runtime.grid import (OnDiagonal, RowWindow, fill_pattern, grid_pattern, grid_view, in_row_windows,
                                          off_diagonal, output_tensor)
from symcorr.codegen.runtime.piecewise import (ramp_gaussian_covariance, ramp_gaussian_mean, relu_gaussian_mean,
                                               step_gaussian_covariance, step_gaussian_mean)
from symcorr.codegen.runtime.smooth import smooth_covariance, smooth_vertex
from symcorr.codegen.runtime.tuples import SharedTable, TuplePattern, peak_bytes, symmetric_tensor

__all__ = ["FactoredTerm", "OnDiagonal", "RowWindow", "grid_view", "grid_pattern", "in_row_windows", "off_diagonal",
           "fill_pattern", "output_tensor",
           "TuplePattern", "SharedTable",
           "symmetric_tensor",
           "peak_bytes", "erf_gaussian_covariance", "erf_covariance_matrix", "erf_gaussian_moment",
           "erf_power_moment", "erf_power_derivative", "erf_derivatives",
           "bivariate_normal_cdf", "orthant_integrals", "ramp_gaussian_mean", "ramp_gaussian_covariance",
           "relu_gaussian_mean", "step_gaussian_mean", "step_gaussian_covariance", "gelu_gaussian_mean",
           "gelu_gaussian_covariance", "probit_gaussian_mean", "probit_gaussian_covariance", "smooth_vertex",
           "smooth_covariance"]
