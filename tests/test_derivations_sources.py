"""The record of what generated/ was derived from (derivations/sources.py): ``--check`` answers from it
only when every recorded source, library version and generated file is as recorded."""
import json
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


def test_a_record_from_other_library_versions_lists_the_same_derivation(tree, monkeypatch):
    root, generated = tree
    files = {"kernel.py": "def kernel(): return 1\n", "formulas.md": "# sheet\n"}
    monkeypatch.setattr(sources, "environment", lambda: {"python": "3.99", "libraries": {}})
    here = sources.record_text(root, {"pkg/formula.py"}, files)
    assert json.loads(here)["environment"] != json.loads((generated / sources.RECORD).read_text())["environment"]
    assert sources.same_derivation(here, generated / sources.RECORD)
    edited = sources.record_text(root, {"pkg/formula.py"}, {**files, "kernel.py": "def kernel(): return 2\n"})
    assert not sources.same_derivation(edited, generated / sources.RECORD)


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
