r"""For theorists: read, check and picture every derived formula (docs/theory.md sections 4-6).

The public API, for a :class:`~symcorr.derivation.engine.Derivation` ``d``
(``d = symcorr.derive(symcorr.activations.quadratic(), 2, 4)``):

* :func:`latex` -- ``latex(d, "ij")`` is ``\Sigma_{y,ij} = ...`` on one line, ``latex(d)``
  every pattern in an ``align*`` environment;
* :func:`terms` -- ``terms(d, "ij")``, the formula's terms grouped by :class:`Diagram`;
* :func:`check` -- ``check(d, "ij", "Sigma_ij + ...")``, a hand-written formula
  (SymPy or LaTeX syntax, parsed safely) against the derivation, a :class:`CheckResult`;
* :func:`formula_sheet_markdown`, :func:`formula_sheet_latex` -- every formula of
  several derivations in one document (``python -m derivations``).

The modules, one job each:

* :mod:`~symcorr.theory.printers` -- SymPy printers (LaTeX and text) that know
  symcorr's notation; every piece of mathematics shown is printed by them;
* :mod:`~symcorr.theory.render` -- formulas and their terms laid out as text,
  Markdown or LaTeX;
* :mod:`~symcorr.theory.diagrams` -- the diagrams behind each formula;
* :mod:`~symcorr.theory.drawing` -- pictures of them (matplotlib);
* :mod:`~symcorr.theory.checking` -- the check of a hand-written formula;
* :mod:`~symcorr.theory.sheets` -- the formula sheets;
* :mod:`~symcorr.theory.commands` -- ``symcorr derive``, ``symcorr check``, ``symcorr terms``.
"""
from symcorr.theory.checking import CheckResult, check
from symcorr.theory.diagrams import Diagram, terms
from symcorr.theory.render import latex
from symcorr.theory.sheets import formula_sheet_latex, formula_sheet_markdown

__all__ = ["latex", "terms", "check", "CheckResult", "Diagram", "formula_sheet_markdown", "formula_sheet_latex"]
