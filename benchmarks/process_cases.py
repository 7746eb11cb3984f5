"""What the benchmarks share: each case in a fresh Python process, and that process's own measurements; the
activation layers they name (:func:`activation_layer`).

A benchmark script runs itself with ``--case JSON`` (:func:`run_case_process`); the case prints one JSON line,
which comes back as a dict, or a dict whose ``status`` says why there is none (over the time limit, a
``MemoryError`` under the address-space limit, another exit). Inside the case, :func:`memory_field` and
:func:`cpu_seconds` measure the process (``VmRSS``/``VmHWM`` of ``/proc/self/status``; Linux).
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def activation_layer(name: str):
    """A factory of the activation layer a benchmark names: symcorr's quadratic :math:`z + z^2`, cubic
    :math:`z + z^3` or erf (not learnable), or torch's ReLU, which ``propagate`` reads as symcorr's relu."""
    import torch

    from symcorr.derivation import activations
    from symcorr.networks.modules import from_activation

    if name == "relu":
        return torch.nn.ReLU
    activation = {"quadratic": lambda: activations.quadratic(1.0), "cubic": activations.cubic,
                  "erf": activations.erf}[name]()
    return lambda: from_activation(activation, learnable=False)


def memory_field(field: str) -> int:
    """A memory field of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def cpu_seconds() -> float:
    """CPU time of this process so far, all threads, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_case_process(script: str, arguments: list, limit_gb: float | None, timeout: float) -> dict:
    """``script --case JSON(arguments)`` in a fresh process (``PYTHONPATH`` starting at the repository, an
    address-space limit of ``limit_gb`` GiB if given): its last JSON line, or ``{"status": reason, "stderr": ...}``."""
    def limited():
        if limit_gb:
            resource.setrlimit(resource.RLIMIT_AS, (int(limit_gb * 2**30), int(limit_gb * 2**30)))

    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    command = [sys.executable, script, "--case", json.dumps(arguments)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, preexec_fn=limited,
                              timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"status": f"over {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        reason = "MemoryError" if "MemoryError" in done.stderr else f"exit {done.returncode}"
        return {"status": reason, "stderr": done.stderr[-400:]}
    return json.loads(lines[-1])
