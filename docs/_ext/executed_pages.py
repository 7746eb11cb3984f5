"""Run a page's examples and commands while the page is read, so the files they write exist.

``sphinx-build -b doctest`` checks the printed output of every ``{doctest}`` block; this
extension makes the same code (and the page's ``{command-output}`` commands, from
sphinxcontrib-programoutput) run during every build, in the page's own folder
``docs/_generated/<page>/``, before Sphinx looks for the images the page shows. A page's figures
are therefore written by the code printed on it. The commands run first, then the examples in
page order in one namespace (as the doctest builder's default group); an example that raises
when its expected output is not a traceback is reported as a warning at the page and line (an
error under ``-W``), and the page's later examples are not run; examples marked ``+SKIP`` are
skipped.
"""
from __future__ import annotations

import contextlib
import doctest
import io
import os
from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinxcontrib.programoutput import run_programs

EXECUTED = ("testsetup", "doctest", "testcode", "testcleanup")
logger = logging.getLogger(__name__)


def page_folder(app, docname: str) -> Path:
    """Where a page's examples and commands run (and write their files): docs/_generated/<page>/."""
    return Path(app.srcdir) / "_generated" / docname


def _examples(node) -> list[doctest.Example]:
    """The examples of a doctest block; a testcode/testsetup block is one example."""
    if node["testnodetype"] == "doctest":
        return doctest.DocTestParser().get_examples(node.get("test", node.astext()))
    return [doctest.Example(node.astext(), "")]


def run_page(app, doctree) -> None:
    docname = app.env.docname
    elements = list(doctree.findall(nodes.Element))
    blocks = [node for node in elements if node.get("testnodetype") in EXECUTED]
    commands = [node for node in elements if "working_directory" in node.attributes]
    if not blocks and not commands:
        return
    folder = page_folder(app, docname)
    folder.mkdir(parents=True, exist_ok=True)
    for node in commands:
        node["working_directory"] = str(folder)
    run_programs(app, doctree)  # sphinxcontrib-programoutput, now rather than after the images are read
    namespace = {"__name__": f"docs.{docname}"}
    previous = os.getcwd()
    exec(app.config.doctest_global_setup, namespace)  # noqa: S102 (the docs' own code, as doctest runs it)
    os.chdir(folder)
    try:
        for node in blocks:
            for example in _examples(node):
                if example.options.get(doctest.SKIP):
                    continue
                try:
                    with contextlib.redirect_stdout(io.StringIO()):
                        exec(compile(example.source, f"{docname}:{node.line}", "exec"), namespace)  # noqa: S102
                except Exception as error:  # noqa: BLE001 (any error of an example is reported)
                    if example.exc_msg is None:
                        logger.warning("the example\n%sraised %s: %s (the page's later examples were not run)",
                                       example.source, type(error).__name__, error, location=node)
                        return
    finally:
        exec(app.config.doctest_global_cleanup, namespace)  # noqa: S102
        os.chdir(previous)


def setup(app):
    # before the image collector (priority 500) checks that the page's figures exist
    app.connect("doctree-read", run_page, priority=100)
    return {"parallel_read_safe": False, "version": "1"}
