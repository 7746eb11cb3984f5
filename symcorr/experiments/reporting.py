"""Small helpers shared by the reproductions' printed tables and Markdown reports, and the
record of a documented relation (:func:`relation`) with its table rows (:func:`relation_rows`)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


def jsonable(value):
    """``value`` with NumPy scalars/arrays and tuples turned into plain JSON types (NaN/inf kept as floats)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: Path, value) -> None:
    Path(path).write_text(json.dumps(jsonable(value), indent=2))


def percent(fraction: float, digits: int = 0) -> str:
    """``0.5 -> '50%'``; ``'n/a'`` for NaN."""
    if fraction is None or not math.isfinite(fraction):
        return "n/a"
    return f"{100 * fraction:.{digits}f}%"


def markdown_table(header, rows) -> list[str]:
    """Lines of a Markdown table."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return lines


def text_table(header, rows, indent: str = "  ") -> list[str]:
    """Lines of a plain-text table with right-aligned columns (first column left-aligned)."""
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(row[k]) for row in cells) for k in range(len(header))]
    lines = []
    numeric = [k == 0 or all(_is_number(row[k]) for row in cells[1:]) for k in range(len(header))]
    for i, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) if numeric[k] else c.ljust(w)
                                             for k, (c, w) in enumerate(zip(row[1:], widths[1:]), start=1)]
        lines.append((indent + "  ".join(parts)).rstrip())
        if i == 0:
            lines.append(indent + "  ".join("-" * w for w in widths))
    return lines


def _is_number(text: str) -> bool:
    text = text.strip().rstrip("%")
    if text in ("", "-", "n/a", "yes", "NO"):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


#: the columns of a table of documented relations
RELATION_HEADER = ["relation", "holds", "value", "bound", "what"]


def relation(name: str, holds, value: float, bound: float, description: str) -> dict:
    """One documented relation of a run: ``holds`` is True, False or None (not applicable)."""
    return {"name": name, "holds": None if holds is None else bool(holds), "value": float(value), "bound": bound,
            "description": description}


def relation_rows(relations) -> list[list[str]]:
    """The rows of :data:`RELATION_HEADER` for a list of :func:`relation` records."""
    marks = {True: "yes", False: "NO", None: "n/a"}
    return [[r["name"], marks[r["holds"]], f"{r['value']:.4g}", f"{r['bound']:.4g}", r["description"]]
            for r in relations]
