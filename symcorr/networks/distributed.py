r"""Monte Carlo on a Dask cluster: the client, the shards on the workers, the merge in order.

Monte Carlo ground truth is the expensive half of a validation (docs/theory.md section 7):
the standard error of a k-statistic falls as :math:`1/\sqrt{n}`, so each further digit
costs 100 times the samples. The power sums behind the k-statistics add over disjoint
samples, so a run splits into shards (:class:`~symcorr.networks.montecarlo.ShardLayout`)
that workers compute independently (:func:`~symcorr.networks.montecarlo.run_shard`) and
the client merges in shard order (:func:`map_in_order`): the result is bit-identical to
running the same shards one after the other in one process.

Cost of a run of :math:`n` samples over :math:`S` shards: each shard streams
:math:`n/S` samples (the forward pass plus :math:`\sum_l \sum_{r \le K_l} N_l^r` products
per sample for the power sums of layer widths :math:`N_l`, orders :math:`K_l`), then
sends its estimators, about :math:`4 \sum_l \sum_{r \le K_l} N_l^r` float64 numbers
(total and open-group power sums, batch-means mean and spread), to the client, which
merges them in :math:`O(S \sum_l \sum_r N_l^r)`. The merge is the cost of a handful
of samples per shard, so the speed-up is linear in the workers until :math:`n/S` is no
longer large against the model and data shipped to each worker once (scattered).

Dask is optional (``pip install 'symcorr[distributed]'``); nothing here is imported
unless a client, ``--scheduler`` or ``--workers`` asks for it.
"""
from __future__ import annotations

import argparse
import contextlib
import logging

INSTALL_HINT = "pip install 'symcorr[distributed]' (Dask's distributed scheduler)"

#: Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which fixes glibc's mmap threshold:
#: every batch's arrays are then mapped and unmapped afresh, 13x the system time of one process
#: (benchmarks/distributed_montecarlo.py). The local cluster leaves it unset; start the workers
#: of a cluster of your own with the same setting.
MALLOC_TRIM_SETTING = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


def require_distributed():
    """The ``distributed`` package, or an ImportError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise ImportError(f"distributed Monte Carlo needs Dask: {INSTALL_HINT}; without it, "
                          "leave out client/--scheduler/--workers to run in one process") from None
    return distributed


@contextlib.contextmanager
def dask_client(client=None, *, scheduler: str | None = None, workers: int | None = None):
    """A ``distributed.Client`` for the duration of a ``with`` block, or ``None`` for one process.

    ``client``: used as given (not closed). ``scheduler``: the address of a running
    Dask scheduler (``tcp://host:8786``). ``workers``: a ``LocalCluster`` of that many
    single-threaded worker processes on this machine (processes, not threads: torch's
    thread count is per process, and the models and estimators then travel pickled, as
    on a real cluster), with glibc's malloc at its defaults (:data:`MALLOC_TRIM_SETTING`),
    shut down on exit; its log shows errors only (a worker that has imported torch takes
    a few seconds to stop, which Dask reports as a warning). At most one of the three.
    """
    if sum(value is not None for value in (client, scheduler, workers)) > 1:
        raise ValueError("pass at most one of a Dask client, a scheduler address and a number of workers")
    if client is not None:
        yield client
        return
    if scheduler is None and workers is None:
        yield None
        return
    distributed = require_distributed()
    if scheduler is not None:
        with distributed.Client(scheduler) as connected:
            yield connected
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    import dask

    with dask.config.set({MALLOC_TRIM_SETTING: None}):
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address=None, silence_logs=logging.ERROR)
    with cluster, distributed.Client(cluster) as local:
        yield local


def map_in_order(client, function, shared, arguments, options):
    """Yield ``function(*shared, *arguments[k], **options)`` for ``k = 0, 1, ...`` in that order,
    computed on the workers of ``client``.

    ``shared`` (e.g. the model and the sampler) is sent to every worker once. Results are
    yielded as soon as every earlier one has been, so a caller merging them holds only
    the ones that finished early; remaining tasks are cancelled if the caller stops or a
    task fails (its exception is raised here).
    """
    distributed = require_distributed()
    # unique keys (hash=False): data scattered under a content hash that an earlier run has just
    # released may be deleted on the workers while this run's tasks wait for it
    shared_futures = client.scatter(list(shared), broadcast=True, hash=False)
    futures = [client.submit(function, *shared_futures, *args, pure=False, **options) for args in arguments]
    index = {future.key: k for k, future in enumerate(futures)}
    done, next_index = {}, 0
    try:
        for future in distributed.as_completed(futures):
            done[index[future.key]] = future.result()
            future.release()
            while next_index in done:
                yield done.pop(next_index)
                next_index += 1
    finally:
        client.cancel([f for f in futures if not f.done()])
        for future in shared_futures:
            future.release()


def _needs_dask(convert):
    """An argparse ``type`` that converts with ``convert`` once Dask is found (else: a usage error with the hint)."""
    def checked(text):
        try:
            require_distributed()
        except ImportError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return convert(text)

    return checked


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def add_arguments(parser) -> None:
    """``--scheduler ADDRESS | --workers N`` and ``--shards S`` for a command's argparse parser;
    without Dask, ``--scheduler`` and ``--workers`` are usage errors naming the install command."""
    group = parser.add_argument_group("distributed Monte Carlo (needs symcorr[distributed])")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--scheduler", type=_needs_dask(str), metavar="ADDRESS", default=None,
                       help="run the Monte Carlo on the Dask cluster whose scheduler listens at ADDRESS "
                            "(e.g. tcp://10.0.0.5:8786)")
    where.add_argument("--workers", type=_needs_dask(_positive), metavar="N", default=None,
                       help="run it on a local cluster of N worker processes on this machine")
    group.add_argument("--shards", type=_positive, metavar="S", default=None,
                       help="split each Monte Carlo run into S shards (default: 1 in one process, one per "
                            "worker thread on a cluster); the same --seed and --shards give bit-identical "
                            "results in one process and on any cluster")


def client_from_arguments(args):
    """:func:`dask_client` for the options of :func:`add_arguments`."""
    return dask_client(scheduler=args.scheduler, workers=args.workers)


__all__ = ["dask_client", "map_in_order", "require_distributed", "add_arguments", "client_from_arguments",
           "INSTALL_HINT", "MALLOC_TRIM_SETTING"]
