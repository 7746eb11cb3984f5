"""Generated kernels: what they import, their header, and the on-demand compilation cache."""
import ast
import importlib
import sys
from pathlib import Path

import numpy as np
from builders import random_gaussian, random_mixture

import symcorr.codegen.generated
from symcorr import Cumulants
from symcorr.codegen.loader import _compiled, _shipped, load_kernel
from symcorr.codegen.printer import module_name
from symcorr.derivation import activations
from symcorr.derivation.engine import derivation_key, derive
from symcorr.numeric.quadrature import quadrature_cumulants

GENERATED = Path(symcorr.codegen.generated.__file__).parent


ALLOWED_IMPORTS = {"numpy", "scipy"} | set(sys.stdlib_module_names)


def test_generated_modules_import_only_numpy_scipy_the_standard_library_and_the_runtime():
    for path in GENERATED.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] in ALLOWED_IMPORTS for a in node.names), path.name
            elif isinstance(node, ast.ImportFrom):
                assert node.module == "symcorr.codegen" and [a.name for a in node.names] == ["runtime"], path.name


def test_generated_modules_open_with_the_header_constant():
    for path in GENERATED.glob("*.py"):
        first = ast.parse(path.read_text()).body[0]
        assert isinstance(first, ast.Assign) and first.targets[0].id == "HEADER", path.name
        assert "do not edit" in first.value.value and "python -m derivations" in first.value.value


def test_the_paper_kernels_ship():
    for name in ("quadratic_order4_closure4", "cubic_order2_closure6"):
        importlib.import_module(f"symcorr.codegen.generated.{name}")


def test_a_kernel_compiled_on_demand_gives_the_shipped_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMCORR_CACHE", str(tmp_path))
    act = activations.quadratic(0.3)
    key = derivation_key(act, 3, 3, None)
    shipped = _shipped(module_name(act.name, 3, 3), key)
    compiled = _compiled(act, 3, 3, None, key)
    assert shipped is not None and compiled is not shipped
    mean, cov = random_gaussian(3, seed=2)
    kappa = (mean, cov, np.zeros((3,) * 3))
    for a, b in zip(shipped.CUMULANTS, compiled.CUMULANTS):
        np.testing.assert_array_equal(a(kappa, 0.3), b(kappa, 0.3))
    assert list(tmp_path.rglob(f"{module_name(act.name, 3, 3)}_*.py"))


def test_a_new_polynomial_is_derived_cached_and_correct(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMCORR_CACHE", str(tmp_path))
    act = activations.from_expression("z/2 - z**2/5 + z**3/7")
    weights, means, covs = random_mixture(2, seed=9)
    x = quadrature_cumulants(lambda p: p, weights, means, covs, order=6)
    first = load_kernel(act, 2, 6)
    assert load_kernel(act, 2, 6) is first  # cached in memory
    reference = quadrature_cumulants(act, weights, means, covs, order=2)
    from symcorr import pointwise

    out = pointwise(x, act, order=2, closure=6)
    np.testing.assert_allclose(out.cov, reference.cov, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(out.mean, reference.mean, rtol=1e-10, atol=1e-13)
    assert Cumulants  # the public container is what pointwise returns
    assert isinstance(out, Cumulants)


def test_long_formulas_are_replaced_by_the_command_that_prints_them(capsys):
    import re
    import shlex

    from symcorr.codegen.printer import LONGEST_DOCSTRING_LATEX
    from symcorr.theory import commands as theory

    commands = {}
    for path in GENERATED.glob("*_order*_closure*.py"):
        for function in ast.parse(path.read_text()).body:
            if isinstance(function, ast.FunctionDef) and function.name.startswith("_pattern_"):
                doc = ast.get_docstring(function)
                if ".. math::" in doc:
                    assert len(doc.split(".. math::")[1].strip()) <= LONGEST_DOCSTRING_LATEX
                else:
                    length, command = re.search(r"LaTeX \(over (\d+) characters\).*``(symcorr derive [^`]+)``",
                                                doc, re.S).groups()
                    assert int(length) == LONGEST_DOCSTRING_LATEX
                    commands[(path.stem, function.name)] = command
    erf_covariance = commands[("erf_order2_closure4", "_pattern_ij")]
    # the closed-form families' formulas in their vertex functions, as the formula sheets print them
    assert erf_covariance == "symcorr derive -a erf -K 4 -S 2 -M 2 -p ij -f latex --vertex-functions"
    assert commands[("quadratic_order4_closure4", "_pattern_ijkl")].endswith("-p ijkl -f latex")
    # the commands run and print the formulas
    assert theory.derive_main(shlex.split(erf_covariance)[2:]) == 0
    out = capsys.readouterr().out
    assert "\\begin{align*}" in out and "\\kappa_{iiij}" in out and "G^{(0,0)}_{11,ij} ={}&" in out
    assert theory.derive_main(shlex.split(commands[("quadratic_order4_closure4", "_pattern_ijkl")])[2:]) == 0
    assert len(capsys.readouterr().out) > LONGEST_DOCSTRING_LATEX


def test_a_formula_is_sized_without_printing_only_when_its_latex_is_surely_longer():
    """The kernels' docstrings decide "too long" by counting the symbols a formula surely prints
    (symcorr.codegen.printer._printed_symbols_exceed): a lower bound of the LaTeX length, never above it."""
    import sympy as sp

    from symcorr.codegen.printer import _printed_symbols_exceed

    derivation = derive(activations.quadratic(), 4, 4)
    for pattern in derivation.patterns:
        formula = derivation.formula(pattern)
        length = len(sp.latex(formula))
        symbols = sum(1 for node in sp.preorder_traversal(formula) if node.is_Symbol)
        for limit in (0, 10, 100, 1000, 4000, 30000):
            if _printed_symbols_exceed(formula, limit):
                assert length > limit, (pattern, limit)
        # the bound is the number of symbols printed: exceeded just below it, not at it
        assert _printed_symbols_exceed(formula, symbols - 1) and not _printed_symbols_exceed(formula, symbols)
    x, y = sp.symbols("x y")
    assert not _printed_symbols_exceed(sp.erf(x + y) * sp.exp(x * y), 1)  # inside functions: not counted


def test_output_tensor_reuses_fresh_results_and_copies_views():
    from symcorr.codegen.runtime import output_tensor

    fresh = np.arange(9.0).reshape(3, 3) * 1.0          # the result of arithmetic: owns its data
    assert output_tensor(fresh, ((0, 1),), 3, 2) is fresh
    view = fresh.T
    copied = output_tensor(view, ((0, 1),), 3, 2)
    assert copied is not view and not np.shares_memory(copied, fresh)
    np.testing.assert_array_equal(copied, view)
    broadcast = output_tensor(np.arange(3.0)[:, None], ((0, 1),), 3, 2)    # depends on i only
    np.testing.assert_array_equal(broadcast, np.repeat(np.arange(3.0)[:, None], 3, axis=1))


def test_kernel_output_never_aliases_its_input():
    # phi(z) = z: the covariance kernel's ij formula is the input's Sigma_ij itself
    from symcorr import pointwise

    mean, cov = random_gaussian(4, seed=3)
    before = cov.copy()
    out = pointwise(Cumulants(mean, cov), activations.from_expression("z"), order=2)
    assert not np.shares_memory(out.cov, cov) and not np.shares_memory(out.mean, mean)
    np.testing.assert_array_equal(out.cov, before)
    np.testing.assert_array_equal(cov, before)


def test_written_files_keep_the_permissions_a_plain_write_gives(tmp_path):
    import os
    import stat

    from symcorr.codegen.loader import write_atomically

    mask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.py"
        write_atomically(fresh, "x = 1\n")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644  # not the temporary file's 0o600
        assert fresh.read_text() == "x = 1\n"
        fresh.chmod(0o664)
        write_atomically(fresh, "x = 2\n")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o664 and fresh.read_text() == "x = 2\n"
    finally:
        os.umask(mask)
    assert not list(tmp_path.glob("*.tmp"))
