"""``symcorr check`` on hostile and careless input: each refusal exits 2 with the reason, no traceback,
nothing hangs (the limits themselves are tested in tests/notation/test_limits.py)."""
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

from symcorr.derivation import activations
from symcorr.derivation.engine import derive
from symcorr.theory.checking import check as check_formula
from symcorr.theory.commands import check_main
from hostile import ISSUE_CASES, no_hang

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text, message", [c for c in ISSUE_CASES if "z" not in c[0]])
def test_issue_inputs_make_symcorr_check_exit_2_with_the_reason(text, message, capsys):
    with no_hang():
        assert check_main(["-a", "quadratic", "-p", "ij", text]) == 2
    error = capsys.readouterr().err
    assert re.search("symcorr check: error: refused: .*" + message, error), error
    assert "Traceback" not in error


def test_check_file_dev_zero_is_refused_without_reading_it_whole():
    def one_gigabyte_of_memory():  # before the change the read ends in a MemoryError, quickly
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))

    run = subprocess.run(
        [sys.executable, "-m", "symcorr.cli", "check", "-a", "quadratic", "-p", "ij", "--file", "/dev/zero"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, preexec_fn=one_gigabyte_of_memory,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"},
    )
    assert run.returncode == 2
    assert "refused: /dev/zero holds more than 200000 characters" in run.stderr, run.stderr


def test_check_formula_prices_sympy_objects_and_budgets_simplification(monkeypatch):
    from symcorr.notation import limits

    derivation = derive(activations.quadratic(1.0), 2, 4)
    mu_i = sp.Symbol("mu_i", real=True)
    with no_hang(3), pytest.raises(limits.UnsafeExpressionError, match="MAX_TERMS"):
        check_formula(derivation, "ij", (mu_i + sp.Symbol("mu_j", real=True) + 1) ** 1000)
    monkeypatch.setattr(limits, "SIMPLIFY_SECONDS", 0.05)
    slow = sp.erf(mu_i) * sp.expand((mu_i + 2 * sp.Symbol("Sigma_ij", real=True) + 3) ** 40)
    with no_hang(3), pytest.raises(limits.BudgetExceededError, match="SIMPLIFY_SECONDS"):
        check_formula(derivation, "ij", slow)
