r"""docs/theory.md stays honest: its sections are where citations point, its formulas are the derived ones.

* Citations. Code, generated files, benchmarks, tests and the README cite the document as
  "docs/theory.md section N" (older text: "MATH.md section N", also "sections 4 and 6",
  "sections 3-5", "sections 4 (...) and 5 (...)"); every cited number, subsections such as 4.6
  included, must be a heading of docs/theory.md. Sections 1-10 keep their numbers and titles.
* Formulas. Every display formula preceded by ``<!-- check: NAME -->`` is parsed by symcorr's
  whitelist LaTeX parser (:func:`symcorr.notation.parse.parse_expression`, the parser of
  ``symcorr check``, which maps ``\mu_{i}``, ``\Sigma_{ij}``, ``v_i``, ``\kappa_{iij}``,
  ``\alpha`` to the derivation's own symbols) and compared with :func:`symcorr.derive`. The set
  of marked formulas is fixed here, so deleting a marker fails as well.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symcorr
from symcorr.notation.parse import parse_expression
from symcorr.notation.symbols import cumulant_symbol, symbol_labels

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "theory.md"

#: The top-level sections: number -> the start of its title (1-8 as in the design note MATH.md).
SECTIONS = {
    "1": "Objects and notation",
    "2": "Moments and cumulants",
    "3": "Linear layers",
    "4": "Pointwise nonlinearities: the cumulant expansion",
    "5": "Polynomial activations",
    "6": "erf",
    "7": 'What "validated against torch" means',
    "8": "The paper's two experiments",
    "9": "Order, closure, series order and exactness",
    "10": "The package's layers",
    "11": "Activation families",
    "12": "Factored cumulant tensors",
}

_NUMBER = r"\d+(?:\.\d+)*"                 # "4", "4.6"; a sentence's full stop ("section 4.") is not taken
_REMARK = r"(?:\s*\([^()]*\))?"            # "sections 4 (cumulant expansion) and 5 (...)"
CITATION = re.compile(
    rf"(?:MATH\.md|docs/theory\.md)[\s#]*sections?\s+"
    rf"(?P<numbers>{_NUMBER}{_REMARK}(?:\s*(?:,|and|-|–|to)\s*{_NUMBER}{_REMARK})*)")
HEADING = re.compile(rf"^#{{1,6}}\s+(?P<number>{_NUMBER})\.?\s+(?P<title>.*\S)\s*$")
CHECKED_FORMULA = re.compile(r"<!-- check: (?P<name>[^>]+?) -->\s*\n\$\$\n(?P<body>.*?)\n\$\$", re.DOTALL)


def _document_text() -> str:
    return DOCUMENT.read_text(encoding="utf-8")


def _headings(text: str) -> list[tuple[str, str]]:
    """(number, title) of every numbered heading outside fenced code blocks, in order."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            out.append((match["number"], match["title"]))
    return out


def _cited_numbers(numbers: str) -> set[str]:
    """``'4 (x) and 6'`` -> {'4', '6'}; ``'3-5'`` -> {'3', '4', '5'}."""
    numbers = re.sub(r"\([^()]*\)", " ", numbers)
    tokens = re.findall(rf"{_NUMBER}|-|–|to", numbers)
    cited, previous, in_range = set(), None, False
    for token in tokens:
        if token in ("-", "–", "to"):
            in_range = True
            continue
        if in_range and previous is not None and "." not in previous and "." not in token:
            cited.update(str(n) for n in range(int(previous), int(token) + 1))
        cited.add(token)
        previous, in_range = token, False
    return cited


def _citations() -> dict[str, list[str]]:
    """Cited section number -> the files citing it, over everything that may cite the document."""
    files = [ROOT / "README.md"]
    for folder in ("symcorr", "derivations", "benchmarks", "tests"):
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".tex")]
    cited: dict[str, list[str]] = {}
    for path in files:
        if not path.is_file() or path.resolve() == Path(__file__).resolve():
            continue
        for match in CITATION.finditer(path.read_text(encoding="utf-8")):
            for number in _cited_numbers(match["numbers"]):
                cited.setdefault(number, []).append(str(path.relative_to(ROOT)))
    return cited


def test_citation_pattern_reads_the_forms_in_use():
    found = [_cited_numbers(m["numbers"]) for m in CITATION.finditer(
        "MATH.md section 4.\nthe closure of MATH.md\n    section 2, docs/theory.md sections 3-5; "
        "MATH.md sections 4 (cumulant expansion) and 6 (erf); docs/theory.md section 4.6 and more; "
        "# MATH.md\n# sections 1, 3")]
    assert found == [{"4"}, {"2"}, {"3", "4", "5"}, {"4", "6"}, {"4.6"}, {"1", "3"}]


def test_sections_keep_their_numbers_and_titles():
    top = [(number, title) for number, title in _headings(_document_text()) if "." not in number]
    assert [number for number, _ in top] == list(SECTIONS)
    for number, title in top:
        assert title.startswith(SECTIONS[number]), f"section {number} is titled {title!r}"


def test_every_cited_section_exists():
    cited = _citations()
    # the scan must see the citations that exist today (a broken pattern would pass vacuously)
    assert {"4", "6"} <= set(cited) and sum(map(len, cited.values())) > 50
    headings = {number for number, _ in _headings(_document_text())}
    missing = {number: sorted(set(paths)) for number, paths in cited.items() if number not in headings}
    assert not missing, f"cited sections that docs/theory.md does not have: {missing}"


def test_every_section_the_document_refers_to_exists():
    text = _document_text()
    referred = set()
    for match in re.finditer(rf"\b[Ss]ections?\s+(?P<numbers>{_NUMBER}(?:\s*(?:,|and|-|–|to)\s*{_NUMBER})*)", text):
        referred |= _cited_numbers(match["numbers"])
    assert {"4.3", "9.4"} <= referred
    headings = {number for number, _ in _headings(text)}
    assert referred <= headings, f"docs/theory.md refers to missing sections {sorted(referred - headings)}"


def test_display_math_is_balanced():
    # MyST's dollarmath: a "$$" left open swallows the rest of the page
    assert len(re.findall(r"\$\$", _document_text())) % 2 == 0


# ---------------------------------------------------------------------------
# the marked formulas against the derivation
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def formulas() -> dict[str, sp.Expr]:
    """Marker name -> the formula below it, parsed (``lhs = rhs`` is read as ``rhs``)."""
    blocks = {m["name"]: m["body"] for m in CHECKED_FORMULA.finditer(_document_text())}
    return {name: parse_expression(body, syntax="latex") for name, body in blocks.items()}


@pytest.fixture(scope="module")
def quadratic():
    return symcorr.derive(symcorr.activations.quadratic(), 2, 4)


@pytest.fixture(scope="module")
def erf_mean():
    return symcorr.derive(symcorr.activations.erf(), 1, 2).formula("i")


def _relabel(expression: sp.Expr, old: str, new: str) -> sp.Expr:
    """Neuron ``old`` becomes ``new`` in every cumulant symbol (``kappa_ijj`` -> ``kappa_iii``)."""
    mapping = {}
    for symbol in expression.free_symbols:
        try:
            labels = symbol_labels(symbol)
        except ValueError:
            continue
        mapping[symbol] = cumulant_symbol(labels.replace(old, new))
    return expression.xreplace(mapping)


MU_I, MU_J = cumulant_symbol("i"), cumulant_symbol("j")
V_I, V_J, C_IJ = cumulant_symbol("ii"), cumulant_symbol("jj"), cumulant_symbol("ij")

CHECKED = {
    "gaussian moment 4", "quadratic mean, closure 4", "quadratic covariance, closure 4 (also for i = j)",
    "erf mean", "erf mean derivative 1", "erf arcsin kernel (zero means)",
}


def test_every_marked_formula_is_checked(formulas):
    assert set(formulas) == CHECKED


def test_gaussian_moment(formulas):
    # E[z^4] of a Gaussian is the mean of phi(z) = z^4 at closure 2
    fourth_power = symcorr.activations.from_expression(sp.Symbol("z") ** 4)
    derived = symcorr.derive(fourth_power, 1, 2).formula("i")
    assert sp.expand(formulas["gaussian moment 4"] - derived) == 0


def test_quadratic_mean(formulas, quadratic):
    assert sp.expand(formulas["quadratic mean, closure 4"] - quadratic.formula("i")) == 0


def test_quadratic_covariance_for_distinct_and_equal_neurons(formulas, quadratic):
    written = formulas["quadratic covariance, closure 4 (also for i = j)"]
    assert sp.expand(written - quadratic.formula("ij")) == 0
    # the document says the same expression is the variance when j = i
    assert sp.expand(_relabel(written, "j", "i") - quadratic.formula("ii")) == 0


def test_erf_mean(formulas, erf_mean):
    assert sp.simplify(formulas["erf mean"] - erf_mean) == 0


def test_erf_mean_derivative(formulas, erf_mean):
    # g^(1) = d/dmu of the derived Gaussian mean
    assert sp.simplify(formulas["erf mean derivative 1"] - sp.diff(erf_mean, MU_I)) == 0


def test_erf_arcsin_kernel(formulas):
    from symcorr.numeric.erf_gaussian import erf_gaussian_transfer

    written = formulas["erf arcsin kernel (zero means)"]
    derived = symcorr.derive(symcorr.activations.erf(), 2, 2).formula("ij").xreplace({MU_I: 0, MU_J: 0})
    for v_i, v_j, correlation in ((0.3, 2.0, 0.4), (1.0, 1.0, -0.9), (50.0, 0.01, 0.999), (0.7, 0.2, 0.0)):
        c = correlation * np.sqrt(v_i * v_j)
        point = {V_I: sp.Float(v_i, 30), V_J: sp.Float(v_j, 30), C_IJ: sp.Float(c, 30)}
        value = float(written.xreplace(point).evalf(30))
        assert abs(value - float(derived.xreplace(point).evalf(30))) < 1e-15
        # and the runtime's numerics (Gauss-Legendre / Owen's T), a route of its own
        _, cov = erf_gaussian_transfer(np.zeros(2), np.array([[v_i, c], [c, v_j]]))
        assert abs(value - cov[0, 1]) < 1e-14
