"""Training and evaluating the small torch classifiers of the reproductions (issue 6).

Networks are ``nn.Sequential`` stacks of ``nn.Linear`` and the activations of
:mod:`symcorr.networks.modules` (built by :func:`symcorr.networks.modules.mlp`),
the form :func:`symcorr.networks.propagation.propagate` walks. They are
trained in float64 (the statistics are float64 anyway and the networks are
small) with Adam on the cross-entropy of the logits, with a fixed seed and
gradient-norm clipping (quadratic activations can otherwise blow up).
Progress goes to stderr, one line per training run (:class:`ProgressLine`).
"""
from __future__ import annotations

import sys
import time

import numpy as np


def progress(message: str, *, stream=None) -> None:
    """One line of progress on stderr (flushed)."""
    print(message, file=stream or sys.stderr, flush=True)


class ProgressLine:
    """One line of progress for a loop: on a terminal it is rewritten in place at every
    :meth:`update`; elsewhere (a log file, a pipe) only :meth:`finish` writes it, once."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._width = 0

    def update(self, message: str) -> None:
        if self.interactive:
            self.stream.write("\r" + message.ljust(self._width))
            self.stream.flush()
            self._width = max(self._width, len(message))

    def finish(self, message: str) -> None:
        self.stream.write(("\r" + message.ljust(self._width) if self.interactive else message) + "\n")
        self.stream.flush()


def train_classifier(model, X, y, *, epochs: int, batch_size: int = 128, lr: float = 1e-3,
                     weight_decay: float = 0.0, clip: float = 5.0, seed: int = 0,
                     label: str = "train", X_val=None, y_val=None) -> list[dict]:
    """Train ``model`` (logits out) on ``(X, y)`` with Adam and cross-entropy; returns the history.

    Each epoch reshuffles with a generator seeded from ``seed``. Progress is one
    line on stderr (:class:`ProgressLine`): the epoch, the mean loss and the
    validation accuracy (when given), updated in place on a terminal; the final
    line gives the first and last epoch's loss. Raises ``ValueError`` for
    ``epochs < 1`` (the network would stay untrained) and ``FloatingPointError``
    if the loss becomes non-finite, naming the epoch (lower the learning rate,
    ``alpha`` or the init gain).
    """
    import torch
    from torch import nn

    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"{label}: epochs must be an integer >= 1 (the network would stay untrained), got {epochs!r}")
    X = torch.as_tensor(np.asarray(X, np.float64))
    y = torch.as_tensor(np.asarray(y, np.int64))
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    history = []
    line = ProgressLine()
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(y), generator=generator)
        total, count = 0.0, 0
        for begin in range(0, len(y), batch_size):
            index = order[begin:begin + batch_size]
            optimiser.zero_grad()
            loss = loss_fn(model(X[index]), y[index])
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"{label}: loss became {loss.item()} in epoch {epoch}; lower the learning rate, "
                    "the activation's alpha or the init gain"
                )
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimiser.step()
            total += loss.item() * len(index)
            count += len(index)
        record = {"epoch": epoch, "loss": total / count}
        if X_val is not None:
            record["val_accuracy"] = accuracy(model, X_val, y_val)
        history.append(record)
        line.update(_epoch_message(label, history, epochs, time.perf_counter() - start))
    line.finish(_epoch_message(label, history, epochs, time.perf_counter() - start))
    model.eval()
    return history


def _epoch_message(label: str, history: list[dict], epochs: int, seconds: float) -> str:
    """``[label] epoch 3/25  loss 2.4409 -> 1.6595  val acc 0.5367  (0.1s)``."""
    last = history[-1]
    message = f"[{label}] epoch {last['epoch']}/{epochs}  loss {history[0]['loss']:.4f} -> {last['loss']:.4f}"
    if "val_accuracy" in last:
        message += f"  val acc {last['val_accuracy']:.4f}"
    return message + f"  ({seconds:.1f}s)"


def predict(model, X, batch_size: int = 8192) -> np.ndarray:
    """Logits of ``model`` on ``X`` (float64 NumPy, batched, no gradients)."""
    import torch

    outputs = []
    with torch.no_grad():
        for begin in range(0, len(X), batch_size):
            batch = torch.as_tensor(np.asarray(X[begin:begin + batch_size], np.float64))
            outputs.append(model(batch).numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, 0))


def accuracy(model, X, y) -> float:
    """Fraction of ``argmax`` logits equal to ``y``."""
    return float(np.mean(np.argmax(predict(model, X), axis=1) == np.asarray(y)))


def layer_names(model) -> list[str]:
    """``['input', 'linear1', 'quadratic1', ...]``: the input, then one name per module of a Sequential
    (the layers of ``propagate(..., trace=True)`` with the input prepended)."""
    names, counts = ["input"], {}
    for module in model:
        kind = type(module).__name__.lower()
        counts[kind] = counts.get(kind, 0) + 1
        names.append(f"{kind}{counts[kind]}")
    return names
