"""Progress display for long stages; library functions accept it as an optional callable."""

from __future__ import annotations

import sys
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def make_progress(quiet: bool = False):
    """A `progress(iterable, total, label)` wrapper: a tqdm bar on stderr, or nothing when quiet."""

    def progress(items: Iterable[T], total: int | None = None, label: str = "") -> Iterable[T]:
        if quiet:
            return items
        return tqdm(items, total=total, desc=label, unit="frame", file=sys.stderr, leave=False,
                    dynamic_ncols=True, mininterval=0.5)

    return progress


def make_counter(quiet: bool = False):
    """A `counter(label)` factory of `(done, total)` callbacks, for stages that report counts."""

    def counter(label: str):
        bar = None

        def update(done: int, total: int) -> None:
            nonlocal bar
            if quiet:
                return
            if bar is None:
                bar = tqdm(total=total, desc=label, unit="frame", file=sys.stderr, leave=False,
                           dynamic_ncols=True, mininterval=0.5)
            bar.n = done
            bar.refresh()
            if done >= total:
                bar.close()

        return update

    return counter
