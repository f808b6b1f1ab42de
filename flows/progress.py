"""Progress of long loops on stderr: done/total, rate and ETA, throttled to a line a second."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


def format_seconds(seconds: float) -> str:
    """``75.2 -> '1m15s'``; ``3725 -> '1h02m'``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass
class Progress:
    """Report ``label: done/total (pct) elapsed ETA [detail]`` on stderr.

    The first and last updates are always printed; others at most every ``min_interval_s``.
    """

    label: str
    total: int
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    min_interval_s: float = 1.0
    _start: float = field(default_factory=time.perf_counter, init=False)
    _last_print: float = field(default=-float("inf"), init=False)

    def update(self, done: int, detail: str = "") -> None:
        now = time.perf_counter()
        final = done >= self.total
        if not final and done > 1 and now - self._last_print < self.min_interval_s:
            return
        self._last_print = now
        elapsed = now - self._start
        eta = elapsed / done * (self.total - done) if done else float("nan")
        eta_text = "done" if final else ("ETA ?" if done == 0 else f"ETA {format_seconds(eta)}")
        pct = 100.0 * done / self.total if self.total else 100.0
        line = (
            f"{self.label}: {done}/{self.total} ({pct:.0f}%) "
            f"elapsed {format_seconds(elapsed)} {eta_text}"
        )
        if detail:
            line += f" | {detail}"
        print(line, file=self.stream, flush=True)
