"""What ``generated/`` was derived from: the record ``generated/SOURCES.json``.

``python -m derivations`` writes, beside the kernels and formula sheets, the SHA-256 of
every source file the derivation loaded (the modules of this repository that it and its
worker processes imported), the Python and library versions it ran on, and the SHA-256
of every file it wrote. The text of ``generated/`` is a function of exactly these (the
hash seed and SymPy's factoring points are fixed, see ``derivations/__main__.py``), so
``--check`` can answer without deriving: when every recorded source, version and file
is as recorded, ``generated/`` is what the derivations make now. When anything differs
(a source edited, a library upgraded, a generated file edited, added or removed), it
derives everything and compares, as ``--check --rederive`` always does. The record decides
nothing else: when only it differs (sources edited without changing any generated file, or
other library versions), the check passes with a note, and keeps deriving until
``python -m derivations`` rewrites it.
"""
from __future__ import annotations

import hashlib
import json
import sys
from importlib import metadata
from pathlib import Path

#: The record's file name in ``generated/``.
RECORD = "SOURCES.json"

#: The libraries whose versions the generated text may depend on.
LIBRARIES = ("mpmath", "numpy", "scipy", "sympy")

#: The suffixes of the files ``python -m derivations`` writes.
GENERATED_SUFFIXES = (".py", ".md", ".tex", ".json")


def digest(data: bytes) -> str:
    """The SHA-256 of ``data`` in hexadecimal."""
    return hashlib.sha256(data).hexdigest()


def environment() -> dict:
    """The Python version (major.minor) and the versions of :data:`LIBRARIES` (read without importing them)."""
    return {"python": f"{sys.version_info.major}.{sys.version_info.minor}",
            "libraries": {name: metadata.version(name) for name in LIBRARIES}}


def loaded_sources(root: Path, generated: Path) -> set[str]:
    """The source files under ``root`` (not under ``generated``) of the modules imported in this process,
    as POSIX paths relative to ``root``."""
    sources = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path or not path.endswith(".py"):
            continue
        path = Path(path).resolve()
        if path.is_relative_to(root) and not path.is_relative_to(generated):
            sources.add(path.relative_to(root).as_posix())
    return sources


def record_text(root: Path, sources, files: dict[str, str]) -> str:
    """The record of a derivation that loaded ``sources`` (paths relative to ``root``) and made ``files``
    (name -> text, the record itself not among them): deterministic JSON."""
    record = {"environment": environment(),
              "sources": {path: digest((root / path).read_bytes()) for path in sorted(sources)},
              "generated": {name: digest(text.encode("utf-8")) for name, text in sorted(files.items())}}
    return json.dumps(record, indent=1, sort_keys=True) + "\n"


def generated_names(generated: Path) -> set[str]:
    """The names of the files in ``generated`` that ``python -m derivations`` writes or removes."""
    return {p.name for p in generated.glob("*") if p.is_file() and p.suffix in GENERATED_SUFFIXES}


def unchanged(root: Path, generated: Path) -> tuple[int, int] | None:
    """``(generated files, sources)`` counted when the record shows that ``generated`` holds what the derivations
    make from the sources as they are now; ``None`` when anything differs or the record is missing or unreadable
    (then only deriving can tell)."""
    try:
        record = json.loads((generated / RECORD).read_text())
        if record["environment"] != environment():
            return None
        for path, expected in record["sources"].items():
            source = root / path
            if not source.is_file() or digest(source.read_bytes()) != expected:
                return None
        if generated_names(generated) != set(record["generated"]) | {RECORD}:
            return None
        for name, expected in record["generated"].items():
            if digest((generated / name).read_bytes()) != expected:
                return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, metadata.PackageNotFoundError):
        return None
    return len(record["generated"]) + 1, len(record["sources"])


__all__ = ["RECORD", "LIBRARIES", "GENERATED_SUFFIXES", "digest", "environment", "loaded_sources", "record_text",
           "generated_names", "unchanged"]
