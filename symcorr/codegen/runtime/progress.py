"""Progress bars for long evaluations (tqdm): on a terminal only, and only once a run is long.

``progress=None`` (the default everywhere) shows a bar on standard error when it is a
terminal and the run has lasted :data:`PROGRESS_DELAY` seconds; ``True`` shows it at once
whatever the output is; ``False`` never. Tests and pipes therefore see no output.
"""
from __future__ import annotations

import contextlib
import sys

#: Seconds before a bar appears (with ``progress=None``): short runs stay silent.
PROGRESS_DELAY = 2.0


class _Silent:
    """Stands in for a bar when none is shown."""

    def update(self, count=1):
        pass


@contextlib.contextmanager
def progress_bar(total: int, progress: bool | None, description: str, unit: str = "it"):
    """A context giving an object with ``update(count)``: a tqdm bar over ``total`` items, or nothing."""
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be None (a bar on a terminal, for long runs), True or False, "
                        f"got {progress!r}")
    if progress is False:
        yield _Silent()
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=description, unit=unit, unit_scale=True, file=sys.stderr, leave=False,
               disable=None if progress is None else False, delay=PROGRESS_DELAY if progress is None else 0.0)
    try:
        yield bar
    finally:
        bar.close()
