r"""Numbers on NumPy arrays (no torch): cumulants, layers, references and sample statistics.

:mod:`~symcorr.numeric.cumulants` (``Cumulants``), :mod:`~symcorr.numeric.linear`
(exact linear layers, docs/theory.md section 3), :mod:`~symcorr.numeric.pointwise`
(nonlinearities through the generated kernels, section 4),
:mod:`~symcorr.numeric.tensors` (symmetric tensors, section 2),
:mod:`~symcorr.numeric.quadrature` and :mod:`~symcorr.numeric.distributions`
(deterministic references and exact mixture cumulants, samplers; section 7),
:mod:`~symcorr.numeric.erf_gaussian` (the exact Gaussian erf transfer, section 6),
:mod:`~symcorr.numeric.kstatistics` (unbiased k-statistics with standard errors).
"""
