"""What generated kernels import (as ``_support``): NumPy/SciPy helpers, no SymPy, no torch.

A generated kernel module runs ``from symcorr.codegen import runtime as _support``
and calls :mod:`~symcorr.codegen.runtime.grid` (neuron grids of index
patterns) and the numerics of the families (:mod:`~symcorr.codegen.runtime.erf`,
:mod:`~symcorr.codegen.runtime.bivariate`, :mod:`~symcorr.codegen.runtime.piecewise`,
:mod:`~symcorr.codegen.runtime.gaussian_cdf`, :mod:`~symcorr.codegen.runtime.smooth`) through this one namespace.
"""
from symcorr.codegen.runtime.erf import (erf_covariance_matrix, erf_derivatives, erf_gaussian_covariance,
                                         erf_gaussian_moment, erf_power_derivative, erf_power_moment)
from symcorr.codegen.runtime.bivariate import bivariate_normal_cdf, orthant_integrals
from symcorr.codegen.runtime.gaussian_cdf import (gelu_gaussian_covariance, gelu_gaussian_mean,
                                                  probit_gaussian_covariance, probit_gaussian_mean)
from symcorr.codegen.runtime.grid import fill_pattern, grid_view, output_tensor
from symcorr.codegen.runtime.smooth import smooth_covariance, smooth_vertex
from symcorr.codegen.runtime.piecewise import (ramp_gaussian_covariance, ramp_gaussian_mean, relu_gaussian_mean,
                                               step_gaussian_covariance, step_gaussian_mean)

__all__ = ["grid_view", "fill_pattern", "output_tensor", "erf_gaussian_covariance", "erf_covariance_matrix",
           "erf_gaussian_moment", "erf_power_moment", "erf_power_derivative", "erf_derivatives",
           "bivariate_normal_cdf", "orthant_integrals", "ramp_gaussian_mean", "ramp_gaussian_covariance",
           "relu_gaussian_mean", "step_gaussian_mean", "step_gaussian_covariance", "gelu_gaussian_mean",
           "gelu_gaussian_covariance", "probit_gaussian_mean", "probit_gaussian_covariance", "smooth_vertex",
           "smooth_covariance"]
