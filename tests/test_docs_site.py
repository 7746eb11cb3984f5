"""The documentation site's API reference (docs/_ext/api_pages.py): every module has its page,
and a public name points at the object's own documentation or at nothing.

The site itself is built by .ci/run (``sphinx-build -n -W``), which fails on any unresolved
reference; these tests pin the two pieces of logic that build relies on without running Sphinx.
"""
from __future__ import annotations

import importlib.util
import pkgutil
from pathlib import Path

import symcorr

ROOT = Path(__file__).resolve().parent.parent


def _api_pages():
    spec = importlib.util.spec_from_file_location("api_pages", ROOT / "docs" / "_ext" / "api_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


api_pages = _api_pages()


def test_layer_pages_follow_the_import_contract():
    assert api_pages.layers(ROOT / "pyproject.toml") == [
        "symcorr.arguments", "symcorr.notation", "symcorr.derivation", "symcorr.codegen", "symcorr.numeric",
        "symcorr.networks", "symcorr.theory", "symcorr.experiments"]


def test_every_module_is_documented_once_and_generated_kernels_are_not():
    pages = "\n".join(api_pages.layer_page(layer) for layer in api_pages.layers(ROOT / "pyproject.toml"))
    documented = [line.split("::", 1)[1].strip() for line in pages.splitlines() if line.startswith(".. automodule::")]
    modules = [info.name for info in pkgutil.walk_packages(symcorr.__path__, prefix="symcorr.")
               if info.name != "symcorr.cli" and not info.name.rsplit(".", 1)[-1].startswith("_")]
    kernels = [name for name in modules if name.startswith("symcorr.codegen.generated.")]
    assert kernels, "the walk must see the shipped kernels (else this test passes vacuously)"
    assert sorted(documented) == sorted(set(modules) - set(kernels))
    assert "symcorr.codegen.generated" in documented


def test_public_names_resolve_to_where_they_are_defined():
    own = api_pages._own_name
    assert own("symcorr.propagate") == "symcorr.networks.propagation.propagate"
    assert own("symcorr.Cumulants") == "symcorr.numeric.cumulants.Cumulants"
    assert own("symcorr.activations.get") == "symcorr.derivation.activations.get"
    assert own("symcorr.activations.ACTIVATIONS") == "symcorr.derivation.activations.ACTIVATIONS"
    assert own("symcorr.theory.latex") == "symcorr.theory.render.latex"
    assert own("symcorr.nn") == "symcorr.networks.modules"
    assert own("symcorr.nn.mlp") == "symcorr.networks.modules.mlp"


def test_names_that_do_not_exist_stay_unresolved():
    own = api_pages._own_name
    assert own("symcorr.no_such_function") is None
    assert own("symcorr.theory.formulas.check_formula") is None  # the name before a rename
    assert own("no_such_package.f") is None
