"""The ``symcorr`` command line: a registry of subcommands, each owned by its module.

Every entry maps a subcommand to ``"module:function"``; the function takes the
remaining arguments (a list of strings) and returns the exit status. Modules
are imported only when their subcommand runs, and no library module imports
this one. ``symcorr --version`` prints the version; a subcommand that needs
torch when it is not installed prints one line saying so
(:data:`symcorr.networks.TORCH_HINT`) and exits 2, without a traceback.
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
    return (f"usage: symcorr [--version] [SUBCOMMAND] [ARGS...]\n\nsubcommands (default: demo):\n{rows}\n\n"
            "'symcorr SUBCOMMAND --help' lists a subcommand's options.\n")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv and argv[0] == "--version":
        from symcorr import __version__

        print(f"symcorr {__version__}")
        return 0
    name = argv.pop(0) if argv and not argv[0].startswith("-") else "demo"
    if name not in SUBCOMMANDS:
        print(f"symcorr: unknown subcommand {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, _, function_name = SUBCOMMANDS[name][0].partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
        return int(function(argv) or 0)
    except ImportError as error:
        from symcorr.networks import missing_torch_message

        message = missing_torch_message(error, f"symcorr {name}")
        if message is None:
            raise
        print(message, file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
