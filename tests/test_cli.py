"""The ``symcorr`` dispatcher: ``--version`` and one message when torch is missing (issue "hostile and
careless input", item 7). torch is hidden by ``sys.modules['torch'] = None``, which makes every
``import torch`` fail as it does where torch is not installed."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symcorr
from symcorr.cli import main

ROOT = Path(__file__).resolve().parents[1]
HINT = "needs torch: pip install 'symcorr[torch]'"


def run_without_torch(*argv):
    code = "import sys; sys.modules['torch'] = None\nfrom symcorr.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_version(capsys):
    assert main(["--version"]) == 0  # was "unrecognized arguments"
    assert capsys.readouterr().out == f"symcorr {symcorr.__version__}\n"


def test_validate_without_torch_says_how_to_install_it_without_a_traceback():
    run = run_without_torch("validate", "--quick")  # was a ModuleNotFoundError traceback
    assert run.returncode == 2
    assert run.stderr == f"symcorr validate {HINT}\n"


def test_reproduce_without_torch_gives_the_same_message():
    run = run_without_torch("reproduce", "xor", "--quick")  # says "No module named 'torch'" (or halted)
    assert run.returncode == 2
    assert run.stderr == f"symcorr reproduce xor {HINT}\n"


def test_the_python_api_names_the_same_remedy(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"^symcorr\.(propagate|nn) needs torch: pip install 'symcorr\[torch\]'$"):
        symcorr.propagate(object(), symcorr.Cumulants(np.zeros(1), np.eye(1)))


def test_other_import_errors_are_not_disguised(monkeypatch):
    from symcorr import cli

    monkeypatch.setitem(cli.SUBCOMMANDS, "broken", ("symcorr.no_such_module:main", "test"))
    with pytest.raises(ModuleNotFoundError, match="symcorr.no_such_module"):
        main(["broken"])
