"""Distributed Monte Carlo: one process against a Dask LocalCluster, the same job, in the same run.

    python benchmarks/distributed_montecarlo.py [--width 256] [--samples 1048576] [--workers 2] [--shards 8]

The job: ``Linear(16, W) - Quadratic - Linear(W, W) - Quadratic - Linear(W, 16)``, Gaussian
input, the covariance (order 2) of every layer, ``threads=1`` everywhere (the results are
bit-identical for the same seed, shard layout and thread count). Prints the wall times, the
samples/s per worker and per CPU second (what a worker with a core of its own would do; on a
machine shared with other work the wall times say little), whether every power sum, moment and count is identical
(``np.array_equal``), and the merge cost: the bytes one shard sends back and the seconds to
merge one shard. Needs the ``distributed`` extra. Exit status 1 if anything differs.
"""
import argparse
import copy
import os
import pickle
import time

import numpy as np
import torch
from torch import nn

from symcorr.networks import modules as snn
from symcorr.networks.distributed import dask_client
from symcorr.networks.montecarlo import monte_carlo
from symcorr.numeric.distributions import Gaussian


def model(width: int):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, width), snn.Quadratic(0.1, learnable=False), nn.Linear(width, width),
                         snn.Quadratic(0.1, learnable=False), nn.Linear(width, 16)).double()


def state(result) -> list[np.ndarray]:
    arrays = []
    for e in result._estimators:
        arrays += [*e.total.sums, *e._group.sums, *e._stats.mean, *e._stats.m2, e.total.shift,
                   np.array([e.total.count, e._group.count, e._stats.count, e._stats.weight])]
    return arrays


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--samples", type=int, default=2**20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shards", type=int, default=8)
    args = parser.parse_args()
    net = model(args.width)
    source = Gaussian(np.zeros(16), np.eye(16))
    options = dict(order=2, shards=args.shards, seed=1, threads=1)
    print(f"job: widths 16-{args.width}-{args.width}-16, order 2 on every layer, {args.samples} samples, "
          f"{args.shards} shards; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)

    start, cpu = time.perf_counter(), time.process_time()
    local = monte_carlo(net, source, args.samples, **options)
    one, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"1 process:              {one:8.2f} s  {args.samples / one:12,.0f} samples/s  "
          f"({args.samples / cpu:,.0f} per CPU second)", flush=True)

    start = time.perf_counter()
    with dask_client(workers=args.workers) as client:
        started = time.perf_counter() - start
        monte_carlo(net, source, 64 * 8, order=2, client=client, threads=1)  # workers import torch once
        start, cpu = time.perf_counter(), client.run(time.process_time)
        remote = monte_carlo(net, source, args.samples, client=client, **options)
        many = time.perf_counter() - start
        cpu = sum(client.run(time.process_time).values()) - sum(cpu.values())
    print(f"{args.workers}-worker LocalCluster:  {many:8.2f} s  {args.samples / many:12,.0f} samples/s "
          f"({args.samples / many / args.workers:,.0f} per worker, {args.samples / cpu:,.0f} per worker CPU second; "
          f"cluster start {started:.1f} s, not counted)")

    identical = all(np.array_equal(a, b) for a, b in zip(state(local), state(remote)))
    print(f"power sums, moments and counts identical: {identical} ({len(state(local))} arrays)")

    shard = monte_carlo(net, source, args.samples // args.shards, order=2, seed=2, threads=1)
    payload = len(pickle.dumps(shard))
    target = copy.deepcopy(shard)
    start = time.perf_counter()
    target.merge(shard)
    merge = time.perf_counter() - start
    per_sample = one / args.samples
    print(f"merge cost per shard: {payload / 2**20:.2f} MiB sent, {merge * 1e3:.1f} ms to merge "
          f"= the time of {merge / per_sample:,.0f} samples in one process")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
