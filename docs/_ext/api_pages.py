"""The API reference: one page per layer of symcorr, written at the start of every build.

The layers and their order are those of the import-linter contract in ``pyproject.toml``
(``notation`` first); every module of a layer is found by walking the package, so a new module
appears without editing the docs. ``docs/api/<layer>.rst`` holds, in this order, the package's
docstring and its own definitions, then one section per module with its public members
(``__all__`` where the module has one). Re-exports are documented once, where they are defined;
:func:`resolve_public_name` points a reference to a public, re-exported name such as
``symcorr.propagate`` there. The machine-written kernels of ``symcorr.codegen.generated`` are represented by
their package docstring only.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: tomli, which import-linter (the test extra) installs there
    import tomli as tomllib

#: Packages documented by their docstring alone (their modules are machine-written).
DOCSTRING_ONLY = ("symcorr.codegen.generated",)


def layers(pyproject: Path) -> list[str]:
    """The layer packages of the import-linter contract, lowest first (``symcorr.cli`` excluded)."""
    config = tomllib.loads(pyproject.read_text())["tool"]["importlinter"]["contracts"]
    contract = next(c for c in config if c.get("type") == "layers")
    return [name for name in reversed(contract["layers"]) if name != "symcorr.cli"]


def modules_of(package_name: str) -> list[tuple[str, bool]]:
    """``(name, is_package)`` for ``package_name`` and everything below it, sorted by name."""
    package = importlib.import_module(package_name)
    if not hasattr(package, "__path__"):            # a layer that is one module
        return [(package_name, False)]
    found = [(package_name, True)]
    for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
        if info.name.rsplit(".", 1)[-1].startswith("_") or info.name.startswith(
                tuple(p + "." for p in DOCSTRING_ONLY)):
            continue
        found.append((info.name, info.ispkg))
    return sorted(found)


def automodule(name: str, is_package: bool) -> list[str]:
    if name in DOCSTRING_ONLY:
        return [f".. automodule:: {name}", ""]
    # a package's __all__ lists re-exports documented in their own modules: its own definitions only
    options = ["members", "undoc-members", "show-inheritance"] + (["ignore-module-all"] if is_package else [])
    return [f".. automodule:: {name}", *(f"   :{option}:" for option in options), ""]


def layer_page(package_name: str) -> str:
    title = f"``{package_name}``"
    lines = [".. Written by docs/_ext/api_pages.py at every build; do not edit.", "",
             title, "=" * len(title), ""]
    for name, is_package in modules_of(package_name):
        if name != package_name:
            heading = f"``{name}``"
            lines += [heading, "-" * len(heading), ""]
        lines += automodule(name, is_package)
    return "\n".join(lines)


def write_pages(app) -> None:
    destination = Path(app.srcdir) / "api"
    destination.mkdir(exist_ok=True)
    for package_name in layers(Path(app.confdir).parent / "pyproject.toml"):
        page = destination / f"{package_name.rsplit('.', 1)[-1]}.rst"
        text = layer_page(package_name)
        if not page.exists() or page.read_text() != text:  # unchanged pages keep their timestamps
            page.write_text(text)


def _own_name(dotted: str) -> str | None:
    """Where the object ``dotted`` names is documented (``symcorr.activations.get`` ->
    ``symcorr.derivation.activations.get``), or None if there is no such object."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        path = obj.__name__
        for attribute in parts[split:]:
            obj = getattr(obj, attribute, None)
            if obj is None:
                return None
            if inspect.ismodule(obj):
                path = obj.__name__
            elif inspect.isclass(obj) or inspect.isroutine(obj):
                path = f"{obj.__module__}.{obj.__qualname__}"
            else:  # data: documented in the module (or class) that holds it
                path = f"{path}.{attribute}"
        return path
    return None


def resolve_public_name(app, env, node, contnode):
    """Resolve a Python reference to a re-exported name (``symcorr.propagate``,
    ``symcorr.activations.get``, ``latex`` inside ``symcorr.theory``) to the object's own
    documentation. Anything else stays unresolved, and ``-n`` reports it."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    candidates = [target]
    if node.get("py:module"):
        candidates.append(f"{node['py:module']}.{target}")
    for candidate in candidates:
        real = _own_name(candidate)
        if real is None or real == target:
            continue
        resolved = env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, node["reftype"], real,
                                                     node, contnode)
        if resolved is not None:
            return resolved
    return None


def readable_signature(app, what, name, obj, options, signature, return_annotation):
    """A dataclass field with a ``default_factory`` shows its default as ``<factory>``, which is not
    Python and makes Sphinx misread the whole signature: show ``...`` instead."""
    if signature and "<factory>" in signature:
        return signature.replace("<factory>", "..."), return_annotation
    return None


def setup(app):
    app.connect("autodoc-process-signature", readable_signature)
    app.connect("builder-inited", write_pages)
    app.connect("missing-reference", resolve_public_name)
    return {"parallel_read_safe": True, "version": "1"}
