"""The record of what generated/ was derived from (derivations/sources.py): ``--check`` answers from it
only when every recorded source, library version and generated file is as recorded."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from derivations import sources  # noqa: E402


@pytest.fixture
def tree(tmp_path):
    """A repository with one source file and a generated/ written with its record."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "formula.py").write_text("X = 1\n")
    generated = tmp_path / "generated"
    generated.mkdir()
    files = {"kernel.py": "def kernel(): return 1\n", "formulas.md": "# sheet\n"}
    for name, text in files.items():
        (generated / name).write_text(text)
    (generated / sources.RECORD).write_text(sources.record_text(tmp_path, {"pkg/formula.py"}, files))
    return tmp_path, generated


def test_an_unchanged_tree_is_current_without_deriving(tree):
    root, generated = tree
    assert sources.unchanged(root, generated) == (3, 1)


@pytest.mark.parametrize("change", ["source edited", "source removed", "kernel edited", "kernel added",
                                    "kernel removed", "record unreadable", "record missing", "library upgraded"])
def test_any_change_sends_the_check_to_derive(tree, change, monkeypatch):
    root, generated = tree
    if change == "source edited":
        (root / "pkg" / "formula.py").write_text("X = 2\n")
    elif change == "source removed":
        (root / "pkg" / "formula.py").unlink()
    elif change == "kernel edited":
        (generated / "kernel.py").write_text("def kernel(): return 2\n")
    elif change == "kernel added":
        (generated / "other_kernel.py").write_text("")
    elif change == "kernel removed":
        (generated / "formulas.md").unlink()
    elif change == "record unreadable":
        (generated / sources.RECORD).write_text("{not json")
    elif change == "record missing":
        (generated / sources.RECORD).unlink()
    else:
        recorded = sources.environment()
        monkeypatch.setattr(sources, "environment", lambda: {**recorded, "libraries": {
            **recorded["libraries"], "sympy": "99.0"}})
    assert sources.unchanged(root, generated) is None


def test_the_loaded_sources_are_this_repositorys_modules_outside_generated():
    import symcorr.codegen.generated.quadratic_order2_closure2  # noqa: F401
    import symcorr.notation.symbols

    loaded = sources.loaded_sources(ROOT, ROOT / "symcorr" / "codegen" / "generated")
    assert "derivations/sources.py" in loaded
    # symcorr counts where it is imported from this checkout (python -m derivations runs from its root)
    here = Path(symcorr.notation.symbols.__file__).resolve().is_relative_to(ROOT)
    assert ("symcorr/notation/symbols.py" in loaded) == here
    assert not any(path.startswith("symcorr/codegen/generated/") for path in loaded)
    assert not any(path.startswith(("/", "..")) for path in loaded)


def test_the_shipped_record_lists_what_a_derivation_loads():
    record = json.loads((ROOT / "symcorr" / "codegen" / "generated" / sources.RECORD).read_text())
    for path in ("derivations/jobs.py", "symcorr/derivation/engine.py", "symcorr/codegen/printer.py",
                 "symcorr/theory/sheets.py", "symcorr/derivation/families/piecewise_linear.py"):
        assert path in record["sources"]
    assert set(record["generated"]) | {sources.RECORD} == sources.generated_names(
        ROOT / "symcorr" / "codegen" / "generated")


def _copy_of_the_repository(tmp_path) -> Path:
    copy = tmp_path / "repository"
    for part in ("derivations", "symcorr"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _check(copy: Path, *arguments):
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHASHSEED")}
    return subprocess.run([sys.executable, "-m", "derivations", "--check", *arguments], cwd=copy, env=env,
                          capture_output=True, text=True, timeout=900)


def test_the_check_of_an_unchanged_checkout_answers_from_the_record(tmp_path):
    copy = _copy_of_the_repository(tmp_path)
    run = _check(copy)
    assert run.returncode == 0, run.stderr
    assert "as generated/SOURCES.json records them" in run.stderr and "derived and printed" not in run.stderr


@pytest.mark.slow
def test_the_check_derives_when_a_generated_file_was_edited_and_names_it(tmp_path):
    copy = _copy_of_the_repository(tmp_path)
    kernel = copy / "symcorr" / "codegen" / "generated" / "quadratic_order2_closure2.py"
    kernel.write_text(kernel.read_text().replace("def ", "def  ", 1))
    run = _check(copy)
    assert run.returncode == 1
    assert "deriving everything" in run.stderr and "derived and printed 33 derivations" in run.stderr
    assert "stale: generated/quadratic_order2_closure2.py" in run.stderr


@pytest.mark.slow
def test_a_source_edited_without_changing_any_generated_file_passes_with_a_note(tmp_path):
    copy = _copy_of_the_repository(tmp_path)
    source = copy / "symcorr" / "notation" / "symbols.py"
    source.write_text(source.read_text() + "\n# a comment\n")
    run = _check(copy)
    assert run.returncode == 0, run.stderr
    assert "deriving everything" in run.stderr and "note: generated/SOURCES.json records other sources" in run.stderr
