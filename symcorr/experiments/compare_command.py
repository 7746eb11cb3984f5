"""``symcorr compare MODEL --data ...``: does propagate work for your model? (docs/theory.md section 7)

The command line of :func:`symcorr.networks.compare.compare`: it reads a saved torch model
and its inputs from files, prints the table of propagated versus Monte Carlo cumulants per
layer and order (progress on stderr) and draws the figure.

It lives here, in the top layer, because it reads data the way the experiments do: IDX
files and folders and scikit-learn's digits through :mod:`symcorr.experiments.datasets`,
which the networks layer must not import; the comparison itself is in
:mod:`symcorr.networks.compare`, usable from Python without any file format.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from symcorr.arguments import SEED, CommandParser, integer, integer_list, real

#: keys tried, in order, for the samples in an .npz file with several arrays
NPZ_KEYS = ("X", "x", "data", "samples", "inputs")

_SECURITY = ("MODEL runs code when loaded: a file is read with torch.load(MODEL, weights_only=False), which "
             "unpickles it (a pickle can execute anything), and module:function imports that module and calls "
             "the function. Load only files you trust.")


def _read_array(path: Path, key: str | None = None) -> np.ndarray:
    """An array from .npy, .npz (one array, ``key``, or one of :data:`NPZ_KEYS`), .csv/.txt (numbers,
    an optional header line) or an IDX file (gzipped or not; integers scaled to [0, 1] by their type's
    largest value, as :func:`symcorr.experiments.datasets.load_idx_directory` does)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if key is not None:
                if key not in names:
                    raise KeyError(f"{path} has no array {key!r}; it holds {', '.join(names)}")
                return archive[key]
            if len(names) == 1:
                return archive[names[0]]
            for name in NPZ_KEYS:
                if name in names:
                    return archive[name]
        raise ValueError(f"{path} holds several arrays ({', '.join(names)}): choose one with --data-key")
    if suffix in (".csv", ".txt"):
        delimiter = "," if suffix == ".csv" else None
        try:
            return np.loadtxt(path, delimiter=delimiter, ndmin=2)
        except ValueError:  # a header line
            return np.loadtxt(path, delimiter=delimiter, ndmin=2, skiprows=1)
    from symcorr.experiments.datasets import read_idx

    array = read_idx(path)
    if array.dtype.kind in "iu":
        return array.astype(np.float64) / float(np.iinfo(array.dtype).max)
    return array


def load_data(spec: str, key: str | None = None, split: str = "all") -> np.ndarray:
    """The samples named by ``--data``: ``digits`` (scikit-learn's 8x8 digits, pixels in [0, 1]),
    ``fashion`` (Debian's Fashion-MNIST), a folder of MNIST-style IDX files (``split``: ``train``,
    ``test`` or ``all`` rows), or one file (``_read_array``). Rows are samples."""
    from symcorr.experiments.datasets import load_dataset

    path = Path(spec)
    if spec.lower() in ("digits", "fashion", "fashion-mnist", "fashion_mnist") or path.is_dir():
        dataset = load_dataset(spec)
        parts = {"train": [dataset.X_train], "test": [dataset.X_test], "all": [dataset.X_train, dataset.X_test]}
        return np.concatenate(parts[split])
    return _read_array(path, key)


def _parser() -> CommandParser:
    from symcorr.networks.distributed import add_arguments

    parser = CommandParser(
        prog="symcorr compare",
        description="Propagate cumulants through your torch model and compare them with Monte Carlo, layer by "
                    "layer and order by order: relative errors, max |z|, exactness, a table and a figure.",
        epilog=_SECURITY + " Exit status: 0 when every exactly propagated order agrees with Monte Carlo, "
                           "1 when one does not, 2 on a usage error.")
    parser.add_argument("model", metavar="MODEL",
                        help="a file written by torch.save(model, path), or module:function / file.py:function "
                             "returning the model (see the security note below)")
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--data", metavar="DATA",
                        help="samples: an .npy/.npz/.csv file or an IDX file (rows are samples), a folder of "
                             "MNIST-style IDX files, 'digits' (scikit-learn) or 'fashion' (Debian)")
    inputs.add_argument("--mean", metavar="MEAN", help="a Gaussian input: its mean (.npy/.csv); needs --cov")
    inputs.add_argument("--mixture", metavar="FILE.npz",
                        help="a Gaussian-mixture input: arrays weights (C,), means (C, N), covs (C, N, N) or (N, N)")
    parser.add_argument("--cov", metavar="COV", help="the Gaussian's covariance (.npy/.csv), with --mean")
    parser.add_argument("--data-key", metavar="NAME", help="the array of an .npz --data file holding several")
    parser.add_argument("--split", choices=("train", "test", "all"), default="all",
                        help="rows of a data set with a train/test split (default: all)")
    parser.add_argument("--shape", type=integer_list(1, example="1,28,28"), metavar="C,H,W", help="reshape every sample (e.g. 1,28,28)")
    parser.add_argument("--order", "-M", type=integer(1, 4), default=2,
                        help="highest cumulant order compared, 1..4 (default 2)")
    parser.add_argument("--closure", "-K", type=integer(1), default=None,
                        help="highest input order every pointwise layer uses (default: the order)")
    parser.add_argument("--pair-mean", action="store_true",
                        help="at closure 3, also keep the mean pair entry of the fourth cumulant "
                             "(docs/theory.md section 9.5)")
    parser.add_argument("--series-order", "-S", type=integer(0), default=None,
                        help="series order of non-polynomial activations (erf)")
    parser.add_argument("--samples", type=integer(1), default=None,
                        help="Monte Carlo samples (default: every row of --data, 2**20 for a distribution)")
    parser.add_argument("--groups", type=integer(2, note="the standard errors have groups - 1 degrees of freedom"),
                        default=64, help="batch-means groups for the standard errors")
    parser.add_argument("--seed", type=SEED, default=0, help="Monte Carlo seed")
    parser.add_argument("--batch-size", type=integer(1), default=8192, help="samples per Monte Carlo batch")
    parser.add_argument("--error-rate", type=real(above=0, below=1), default=1e-3,
                        help="family-wise error rate of the test (default 0.001)")
    parser.add_argument("--max-memory", type=real(above=0), default=4.0, metavar="GIB",
                        help="memory bound of the theory and the estimators in GiB (default 4)")
    parser.add_argument("--figure", metavar="PATH", help="write the figure to PATH (.png, .svg or .pdf)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_arguments(parser)
    return parser


def _inputs(args, parser):
    from symcorr.numeric.distributions import Gaussian, GaussianMixture

    if args.mean is not None:
        if args.cov is None:
            parser.error("--mean needs --cov")
        return Gaussian(_read_array(Path(args.mean)).reshape(-1), _read_array(Path(args.cov)))
    if args.cov is not None:
        parser.error("--cov goes with --mean")
    if args.mixture is not None:
        arrays = {name: _read_array(Path(args.mixture), name) for name in ("weights", "means", "covs")}
        return GaussianMixture(arrays["weights"], arrays["means"], arrays["covs"])
    X = load_data(args.data, args.data_key, args.split)
    if args.shape is not None:
        X = X.reshape(X.shape[0], *args.shape)
    return X


def main(argv=None) -> int:
    """``symcorr compare MODEL (--data DATA | --mean M --cov C | --mixture F) [options]``; see ``--help``."""
    from symcorr.networks.compare import compare
    from symcorr.networks.compare_figure import FORMATS
    from symcorr.networks.distributed import client_from_arguments

    parser = _parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    progress = None if args.quiet else sys.stderr
    if args.figure and Path(args.figure).suffix.lower() not in FORMATS:
        print(f"symcorr compare: figure file {args.figure} must end in one of {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    try:
        inputs = _inputs(args, parser)
        with client_from_arguments(args) as client:
            report = compare(args.model, inputs, args.order, closure=args.closure, series_order=args.series_order,
                             n_samples=args.samples, groups=args.groups, seed=args.seed, batch_size=args.batch_size,
                             alpha=args.error_rate, client=client, shards=args.shards,
                             max_memory=args.max_memory * 2**30, progress=progress, pair_mean=args.pair_mean)
        print(report.table())
        if args.figure:
            path = report.figure(args.figure)
            if progress is not None:
                print(f"compare: figure written to {path}", file=progress)
    except (FileNotFoundError, KeyError, ValueError, TypeError, ImportError, MemoryError) as error:
        print(f"symcorr compare: {error}", file=sys.stderr)
        return 2
    return 0 if not report.failures else 1


__all__ = ["main", "load_data", "NPZ_KEYS"]
