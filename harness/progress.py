"""Progress bars with ETA (rich), quiet when stderr is not a terminal unless NFBENCH_PROGRESS=1."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)


@contextmanager
def progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """`with progress("generate", total=n) as advance: ... advance(k)`."""
    show = sys.stderr.isatty() or os.environ.get("NFBENCH_PROGRESS") == "1"
    bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                   disable=not show, transient=False)
    with bar:
        task = bar.add_task(label, total=total)
        yield lambda k: bar.advance(task, k)
