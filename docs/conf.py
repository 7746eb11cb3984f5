"""Sphinx configuration of symcorr's documentation site.

Build (what .ci/run does; warnings are errors, every Python cross-reference must resolve):

    sphinx-build -n -W --keep-going -b html    -d docs/_build/doctrees docs docs/_build/html
    sphinx-build -n -W --keep-going -b doctest -d docs/_build/doctrees docs docs/_build/doctest

Docstrings are reST with Sphinx roles and LaTeX math (``:math:``); pages are MyST Markdown
with ``$...$`` math, so docs/theory.md is included as it is.
"""
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
# the symcorr of this checkout, before any installed one: for autodoc, the examples, and the
# commands the pages run (`symcorr ...` subprocesses inherit PYTHONPATH)
sys.path.insert(0, str(DOCS.parent))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(DOCS.parent), os.environ.get("PYTHONPATH")]))
sys.path.insert(0, str(DOCS / "_ext"))

project = "symcorr"
author = "the symcorr authors"
copyright = "2022-2026, the symcorr authors"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "sphinxcontrib.programoutput",
    "api_pages",  # docs/_ext: the API reference, one page per layer
    "executed_pages",  # docs/_ext: a page's examples and commands run while it is read
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated"]
root_doc = "index"

# Every Python reference must resolve (sphinx-build -n); the libraries symcorr builds on are
# not documented here (no intersphinx: the build runs offline), so their names are not links.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(np|numpy|sp|sympy|scipy|mpmath|torch|nn|matplotlib|pathlib|collections|typing|os|fractions)\..*"),
    (r"py:mod", r"(ast|argparse)"),
    (r"py:class", r"(argparse|types)\..*"),
    # torch's docstrings, inherited by the forward() of symcorr's modules, name torch classes
    (r"py:class", r"Module"),
    # private classes (leading underscore) are not documented; annotations naming them stay text
    (r"py:class", r"symcorr\..*\._\w+"),
]

myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"

# The doctest build runs the examples in a scratch folder, throwing away the files they write (the
# html build runs them in docs/_generated/<page>/: docs/_ext/executed_pages.py); NumPy is imported.
doctest_global_setup = """
import os, tempfile
import numpy as np
_docs_scratch, _docs_previous_cwd = tempfile.TemporaryDirectory(prefix="symcorr-docs-"), os.getcwd()
os.chdir(_docs_scratch.name)
"""
doctest_global_cleanup = "os.chdir(_docs_previous_cwd); _docs_scratch.cleanup()"

html_theme = "alabaster"
html_title = "symcorr"
html_theme_options = {"description": "exact cumulants through neural networks", "fixed_sidebar": True}
