"""symcorr's notation: symbols, index patterns and the whitelist parser (the bottom layer; SymPy only).

:mod:`~symcorr.notation.symbols` names input cumulants and vertex functions,
:mod:`~symcorr.notation.partitions` enumerates set partitions and index
patterns, :mod:`~symcorr.notation.parse` turns user strings (SymPy or LaTeX
syntax, :mod:`~symcorr.notation.sympy_syntax`, :mod:`~symcorr.notation.latex_syntax`,
names from :mod:`~symcorr.notation.vocabulary`) into expressions without
evaluating them, within the cost limits of :mod:`~symcorr.notation.limits`.
"""
