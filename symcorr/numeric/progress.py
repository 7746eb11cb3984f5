"""Progress bars for long operations (orders >= 3, Monte Carlo, data in): tqdm on standard error,
off when standard error is not a terminal (tqdm's ``disable=None``) unless asked for; and reports of the work
inside one step of a bar (:func:`report`: a factored pointwise layer's networks, which can take minutes)."""
from __future__ import annotations

import contextlib
import contextvars
import time

#: Seconds between two reports shown (:func:`report`): the bar's text is redrawn at most this often.
REPORT_INTERVAL = 0.5
_REPORTER: contextvars.ContextVar = contextvars.ContextVar("symcorr_step_reporter", default=None)


def progress_bar(total: int, description: str, show: bool | None = None, unit: str = "it"):
    """A tqdm bar of ``total`` steps (a context manager with ``update(n)`` and ``set_postfix_str``):
    ``show=None`` shows it only on a terminal, ``True`` always, ``False`` never."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit=unit, disable=None if show is None else not show,
                leave=False, dynamic_ncols=True)


@contextlib.contextmanager
def reporting_to(bar, label: str):
    """Within this context :func:`report` shows its text after ``label`` in ``bar``'s text (``set_postfix_str``);
    ``label`` alone again after it."""
    last = [-float("inf")]

    def show(text: str, often: bool) -> None:
        now = time.monotonic()
        if not often or now - last[0] >= REPORT_INTERVAL:
            last[0] = now
            bar.set_postfix_str(f"{label}: {text}")

    token = _REPORTER.set(show)
    try:
        yield
    finally:
        _REPORTER.reset(token)
        bar.set_postfix_str(label)


def report(text: str, often: bool = False) -> None:
    """Tell the bar of the step under way (:func:`reporting_to`) what is being done in it; nothing outside one.
    ``often``: a report made many times a second (one per network made), shown at most every
    :data:`REPORT_INTERVAL` seconds; the others are shown as they come."""
    show = _REPORTER.get()
    if show is not None:
        show(text, often)


__all__ = ["progress_bar", "reporting_to", "report", "REPORT_INTERVAL"]
