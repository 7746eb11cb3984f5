"""The ``symcorr`` command line: a registry of subcommands, each owned by its module.

Every entry maps a subcommand to ``"module:function"``; the function takes the
remaining arguments (a list of strings) and returns the exit status. Modules
are imported only when their subcommand runs, and no library module imports
this one.
"""
from __future__ import annotations

import importlib
import sys

SUBCOMMANDS = {
    "demo": ("symcorr.experiments.demo:main", "derive the paper's quadratic formulas and check them numerically (default)"),
    "derive": ("symcorr.theory.commands:derive_main", "print the formula of every index pattern"),
    "check": ("symcorr.theory.commands:check_main", "check a hand-written formula against the derivation"),
    "terms": ("symcorr.theory.commands:terms_main", "list a formula's terms by diagram, optionally draw them"),
    "validate": ("symcorr.networks.validation:main", "compare propagate() with Monte Carlo of torch networks"),
    "compare": ("symcorr.experiments.compare_command:main", "propagate vs Monte Carlo for your own saved model and data"),
    "reproduce": ("symcorr.experiments.reproduce:main", "reproduce the paper's XOR and MNIST analyses"),
}


def _usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {help_}" for name, (_, help_) in SUBCOMMANDS.items())
    return f"usage: symcorr [SUBCOMMAND] [ARGS...]\n\nsubcommands (default: demo):\n{rows}\n"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name = argv.pop(0) if argv and not argv[0].startswith("-") else "demo"
    if name not in SUBCOMMANDS:
        print(f"symcorr: unknown subcommand {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, _, function_name = SUBCOMMANDS[name][0].partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    return int(function(argv) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
