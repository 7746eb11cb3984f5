"""Progress bars for long operations (orders >= 3, Monte Carlo, data in): tqdm on standard error,
off when standard error is not a terminal (tqdm's ``disable=None``) unless asked for."""
from __future__ import annotations


def progress_bar(total: int, description: str, show: bool | None = None, unit: str = "it"):
    """A tqdm bar of ``total`` steps (a context manager with ``update(n)`` and ``set_postfix_str``):
    ``show=None`` shows it only on a terminal, ``True`` always, ``False`` never."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit=unit, disable=None if show is None else not show,
                leave=False, dynamic_ncols=True)


__all__ = ["progress_bar"]
