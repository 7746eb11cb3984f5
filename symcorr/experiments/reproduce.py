"""``symcorr reproduce {xor,mnist} [options]``: the paper's two analyses, one command each.

* ``xor`` (:mod:`symcorr.experiments.xor`): the class information of the XOR
  problem sits in the input covariance; the quadratic nonlinearity moves it
  into the output mean.
* ``mnist`` (:mod:`symcorr.experiments.mnist`): on MNIST-like data
  (``--data digits|fashion|DIR``) the propagated class-conditional mean and
  covariance describe the internal layers; the first layer also uses the
  data's higher-order statistics.

Each prints a table, writes ``report.md``, ``results.json`` and PNG figures to
``--out`` (default ``reports/<name>``) and reports progress on stderr.
"""
from __future__ import annotations

import importlib
import sys

from symcorr.networks import missing_torch_message

EXPERIMENTS = {
    "xor": ("symcorr.experiments.xor", "XOR: class information moves from covariance to mean"),
    "mnist": ("symcorr.experiments.mnist", "MNIST-like data: Gaussian statistics through the layers"),
    "mnist-relu": ("symcorr.experiments.mnist_relu", "a ReLU MLP trained the usual way, propagated per class"),
}


def _usage() -> str:
    rows = "\n".join(f"  {name:<10} {help_}" for name, (_, help_) in EXPERIMENTS.items())
    return (f"usage: symcorr reproduce {{{','.join(EXPERIMENTS)}}} [options]\n\n{rows}\n\n"
            "'symcorr reproduce NAME --help' lists the options; --quick runs the small version the tests use.\n")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in EXPERIMENTS:
        print(f"symcorr reproduce: unknown analysis {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(EXPERIMENTS[name][0])
        return int(module.main(rest) or 0)
    except ImportError as error:
        print(missing_torch_message(error, f"symcorr reproduce {name}") or f"symcorr reproduce {name}: {error}",
              file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
