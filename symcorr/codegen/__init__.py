"""Code generation: derivations become NumPy kernel modules.

:mod:`~symcorr.codegen.printer` writes a :class:`~symcorr.derivation.engine.Derivation`
as Python source; :mod:`~symcorr.codegen.loader` finds the kernel of a
derivation (shipped in :mod:`symcorr.codegen.generated`, cached on disk, or
compiled now); :mod:`~symcorr.codegen.runtime` is what generated kernels
import.
"""
