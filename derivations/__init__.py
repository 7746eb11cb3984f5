"""Generator scripts for symcorr's shipped kernels (kept apart from runtime code).

``python -m derivations`` re-derives every job of :mod:`derivations.jobs` and
writes the kernel modules into ``generated/``; ``python -m derivations
--check`` exits non-zero, naming the stale files, when ``generated/`` differs
from what the derivations produce now (answering from ``generated/SOURCES.json`` when the
sources it records are unchanged, :mod:`derivations.sources`; ``--rederive`` always derives).
"""
